//! Where a network's parameters come from: a state dict saved from torchvision (`.pth` by
//! `torch.save(model.state_dict(), path)`, or `.safetensors`), or torchvision's random
//! initialisation drawn from our seeded generator.

use std::collections::HashMap;
use std::panic::catch_unwind;
use std::path::Path;

use burn::tensor::{DType, TensorData};
use burn_store::TensorSnapshot;
use burn_store::pytorch::PytorchReader;
use metamer_core::rng::Mt19937;

use crate::architecture::Architecture;
use crate::graph::{Init, ParameterSpec};
use crate::{NetError, Result};

/// A network's parameters: a weights file, or a seeded random initialisation.
pub struct Weights {
    source: Source,
}

enum Source {
    Pytorch {
        path: String,
        tensors: HashMap<String, TensorSnapshot>,
    },
    Safetensors {
        path: String,
        bytes: Vec<u8>,
        shapes: HashMap<String, Vec<usize>>,
    },
    Random {
        seed: u64,
    },
}

impl Weights {
    /// Reads the names and shapes of a state dict (`.safetensors` by its extension, otherwise
    /// PyTorch's zip or legacy format); values are read when a network is built.
    ///
    /// # Errors
    /// The file cannot be read or is not a state dict ([`NetError::Unreadable`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let unreadable = |reason: String| NetError::Unreadable {
            path: shown.clone(),
            reason,
        };
        if !path.is_file() {
            return Err(unreadable("no such file".into()));
        }
        let is_safetensors = path.extension().is_some_and(|e| e == "safetensors");
        let source = if is_safetensors {
            let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
            let shapes = {
                let file = safetensors::SafeTensors::deserialize(&bytes)
                    .map_err(|e| unreadable(e.to_string()))?;
                file.tensors()
                    .into_iter()
                    .map(|(name, view)| (name, view.shape().to_vec()))
                    .collect()
            };
            Source::Safetensors {
                path: shown.clone(),
                bytes,
                shapes,
            }
        } else {
            let reader = catch_unwind(|| PytorchReader::new(path))
                .map_err(|_| unreadable("not a PyTorch file".into()))?
                .map_err(|e| unreadable(e.to_string()))?;
            Source::Pytorch {
                path: shown.clone(),
                tensors: reader.into_tensors(),
            }
        };
        Ok(Self { source })
    }

    /// torchvision's initialisation of each parameter (Kaiming-normal convolutions, PyTorch's
    /// default uniform layers, unit batch norms), drawn from our generator seeded by `seed`
    /// and the parameter's name, so a parameter's values do not depend on which others are
    /// built. The distributions are torchvision's; the values are not torch's draws.
    pub fn random(seed: u64) -> Self {
        Self {
            source: Source::Random { seed },
        }
    }

    /// Whether these are random weights rather than a file's.
    pub fn is_random(&self) -> bool {
        matches!(self.source, Source::Random { .. })
    }

    /// The file, or `random (seed N)`.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Pytorch { path, .. } | Source::Safetensors { path, .. } => path.clone(),
            Source::Random { seed } => format!("random (seed {seed})"),
        }
    }

    fn shape_of(&self, name: &str) -> Option<Vec<usize>> {
        match &self.source {
            Source::Pytorch { tensors, .. } => tensors.get(name).map(|t| t.shape.to_vec()),
            Source::Safetensors { shapes, .. } => shapes.get(name).cloned(),
            Source::Random { .. } => None,
        }
    }

    /// Checks that the file holds exactly `architecture`'s parameters with their shapes
    /// (batch norm's `num_batches_tracked` counters are allowed and ignored).
    ///
    /// # Errors
    /// [`NetError::Mismatch`] for the first parameter, in the architecture's order, that is
    /// missing or shaped otherwise; [`NetError::Unexpected`] for a name the architecture lacks.
    pub fn check(&self, architecture: Architecture) -> Result<()> {
        let (path, names): (&str, Vec<&String>) = match &self.source {
            Source::Random { .. } => return Ok(()),
            Source::Pytorch { path, tensors } => (path, tensors.keys().collect()),
            Source::Safetensors { path, shapes, .. } => (path, shapes.keys().collect()),
        };
        let specs = architecture.parameters();
        for spec in &specs {
            let found = self.shape_of(&spec.name);
            if found.as_ref() != Some(&spec.shape) {
                return Err(NetError::Mismatch {
                    path: path.to_string(),
                    network: architecture.to_string(),
                    name: spec.name.clone(),
                    found: found.map_or("is missing".into(), |s| format!("has shape {s:?}")),
                    expected: spec.shape.clone(),
                });
            }
        }
        let mut extra: Vec<&String> = names
            .into_iter()
            .filter(|n| {
                !n.ends_with(".num_batches_tracked") && !specs.iter().any(|s| s.name == **n)
            })
            .collect();
        extra.sort();
        if let Some(name) = extra.first() {
            return Err(NetError::Unexpected {
                path: path.to_string(),
                network: architecture.to_string(),
                name: name.to_string(),
                shape: self.shape_of(name).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The values of one of an architecture's parameters ([`Architecture::parameters`]), in
    /// the file's precision (float32 when drawn).
    ///
    /// # Errors
    /// When the file lacks the parameter or cannot be read.
    pub fn values(&self, spec: &ParameterSpec) -> Result<TensorData> {
        let unreadable = |path: &str, reason: String| NetError::Unreadable {
            path: path.to_string(),
            reason: format!("{}: {reason}", spec.name),
        };
        match &self.source {
            Source::Random { seed } => Ok(draw(*seed, spec)),
            Source::Pytorch { path, tensors } => {
                let snapshot = tensors
                    .get(&spec.name)
                    .ok_or_else(|| unreadable(path, "missing".into()))?;
                snapshot
                    .to_data()
                    .map_err(|e| unreadable(path, format!("{e:?}")))
            }
            Source::Safetensors { path, bytes, .. } => {
                let file = safetensors::SafeTensors::deserialize(bytes)
                    .map_err(|e| unreadable(path, e.to_string()))?;
                let view = file
                    .tensor(&spec.name)
                    .map_err(|e| unreadable(path, e.to_string()))?;
                let dtype = match view.dtype() {
                    safetensors::Dtype::F32 => DType::F32,
                    safetensors::Dtype::F64 => DType::F64,
                    safetensors::Dtype::F16 => DType::F16,
                    safetensors::Dtype::BF16 => DType::BF16,
                    other => {
                        return Err(unreadable(path, format!("{other:?} is not a float type")));
                    }
                };
                Ok(TensorData::from_bytes_vec(
                    view.data().to_vec(),
                    view.shape().to_vec(),
                    dtype,
                ))
            }
        }
    }
}

/// One parameter drawn as torchvision initialises it, in float32.
fn draw(seed: u64, spec: &ParameterSpec) -> TensorData {
    let len: usize = spec.shape.iter().product();
    let mut generator = Mt19937::new(seed ^ fnv1a(&spec.name));
    let (fan_in, fan_out) = spec.fans;
    let mut normal = |std: f64| -> Vec<f32> {
        let mut values = Vec::with_capacity(len + 1);
        while values.len() < len {
            // Box–Muller on two uniforms in (0, 1].
            let u1 = 1.0 - generator.next_f64();
            let u2 = generator.next_f64();
            let radius = (-2.0 * u1.ln()).sqrt() * std;
            let angle = std::f64::consts::TAU * u2;
            values.push((radius * angle.cos()) as f32);
            values.push((radius * angle.sin()) as f32);
        }
        values.truncate(len);
        values
    };
    let values = match spec.init {
        Init::Constant(value) => vec![value as f32; len],
        Init::Normal(std) => normal(std),
        Init::KaimingNormalFanOut => normal((2.0 / fan_out as f64).sqrt()),
        Init::DefaultUniform => {
            let bound = 1.0 / (fan_in as f64).sqrt();
            (0..len)
                .map(|_| ((2.0 * generator.next_f64() - 1.0) * bound) as f32)
                .collect()
        }
    };
    TensorData::new(values, spec.shape.clone())
}

/// A stable 64-bit hash of a parameter's name (FNV-1a).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(weights: &Weights, architecture: Architecture, name: &str) -> Vec<f32> {
        let spec = architecture
            .parameters()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        weights.values(&spec).unwrap().to_vec::<f32>().unwrap()
    }

    fn moments(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    /// Random weights follow torchvision's initialisation, and are the same for a seed
    /// whichever other parameters are drawn.
    #[test]
    fn random_weights_follow_torchvisions_initialisation() {
        let weights = Weights::random(7);
        // Kaiming normal, fan out: std √(2 / (64 · 7 · 7)).
        let conv = values(&weights, Architecture::ResNet18, "conv1.weight");
        let (mean, std) = moments(&conv);
        assert!(mean.abs() < 1e-3, "{mean}");
        assert!(
            (std / (2.0f64 / (64.0 * 49.0)).sqrt() - 1.0).abs() < 0.02,
            "{std}"
        );
        // PyTorch's default: uniform in ±1/√fan_in.
        let fc = values(&weights, Architecture::ResNet18, "fc.weight");
        let bound = 1.0 / 512f32.sqrt();
        assert!(fc.iter().all(|v| v.abs() <= bound));
        assert!(fc.iter().any(|v| v.abs() > 0.99 * bound));
        // VGG's linear layers: normal with std 0.01, zero biases.
        let (_, std) = moments(&values(
            &weights,
            Architecture::Vgg16,
            "classifier.6.weight",
        ));
        assert!((std / 0.01 - 1.0).abs() < 0.02, "{std}");
        assert!(
            values(&weights, Architecture::Vgg16, "classifier.6.bias")
                .iter()
                .all(|&v| v == 0.0)
        );
        assert!(
            values(&weights, Architecture::ResNet18, "bn1.running_var")
                .iter()
                .all(|&v| v == 1.0)
        );
        assert_eq!(
            conv,
            values(&Weights::random(7), Architecture::ResNet18, "conv1.weight")
        );
        assert_ne!(
            conv,
            values(&Weights::random(8), Architecture::ResNet18, "conv1.weight")
        );
        assert!(weights.check(Architecture::ResNet50).is_ok());
    }

    /// Files that are not state dicts are refused, without a panic.
    #[test]
    fn unreadable_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("metamer-nets-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in ["garbage.pth", "garbage.safetensors", "empty.pth"] {
            let path = dir.join(name);
            let content: &[u8] = if name.starts_with("empty") {
                b""
            } else {
                b"\x80\x02not a pickle at all"
            };
            std::fs::write(&path, content).unwrap();
            let error = Weights::from_file(&path).err().expect("refused");
            assert!(matches!(error, NetError::Unreadable { .. }), "{error}");
        }
        let error = Weights::from_file(dir.join("absent.pth"))
            .err()
            .expect("refused");
        assert!(error.to_string().contains("no such file"), "{error}");
    }
}
