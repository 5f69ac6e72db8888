//! torchvision's networks on the command line: `ARCH:weights=PATH,layers=A:B,normalize=...`.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, backend::AutodiffBackend};
use metamer_nets::{Architecture, DeepNetFeatures, Normalize, Weights};

use super::{BuildModel, BuiltModel, Setting};
use crate::models::HostBackend;

/// A deep network's options.
#[derive(Clone, Debug)]
pub(super) struct DeepNetOptions {
    architecture: Architecture,
    /// A torchvision state dict; `None` draws torchvision's initialisation.
    weights: Option<PathBuf>,
    /// Node names (or module names) whose outputs form the representation.
    layers: Vec<String>,
    /// Whether to apply the ImageNet normalisation first.
    normalize: bool,
}

impl DeepNetOptions {
    /// The options with `layer` selected, no weights file and the ImageNet normalisation.
    pub(super) fn new(architecture: Architecture, layer: &str) -> Self {
        Self {
            architecture,
            weights: None,
            layers: vec![layer.to_string()],
            normalize: true,
        }
    }

    /// With a relative weights path taken as relative to `folder` (a study plan's).
    pub(super) fn with_files_in(self, folder: &Path) -> Self {
        Self {
            weights: self.weights.map(|path| folder.join(path)),
            ..self
        }
    }

    pub(super) fn files(&self) -> Vec<&Path> {
        self.weights.as_deref().into_iter().collect()
    }
}

impl BuildModel for DeepNetOptions {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        device: &B::Device,
        dtype: DType,
    ) -> Result<BuiltModel<B>, String> {
        let weights = match &self.weights {
            Some(path) => Weights::from_file(path).map_err(|e| e.to_string())?,
            None => Weights::random(seed_from_generator()),
        };
        let normalize = self.normalize.then(Normalize::imagenet);
        let model = DeepNetFeatures::<B, _>::torchvision(
            self.architecture,
            &weights,
            &self.layers,
            normalize,
            dtype,
            device,
        )
        .map_err(|e| e.to_string())?;
        Ok(BuiltModel::Other(Box::new(model)))
    }

    fn warnings(&self) -> Vec<String> {
        match self.weights {
            Some(_) => Vec::new(),
            None => vec![format!(
                "{} has no weights=PATH: it runs with torchvision's random initialisation, \
                 drawn from --seed (a random-network control)",
                self.architecture
            )],
        }
    }
}

/// A seed for random weights from the global generator, so `--seed` decides them.
fn seed_from_generator() -> u64 {
    let draws = metamer_core::rng::rand_values(1, DType::F64);
    (draws[0] * 9_007_199_254_740_992.0) as u64
}

pub(super) const SETTINGS: &[Setting<DeepNetOptions>] = &[
    Setting {
        key: "weights",
        default: "none (torchvision's random initialisation)",
        read: |c, v| {
            if let Some(path) = v.text() {
                c.weights = Some(PathBuf::from(path));
            }
            Ok(())
        },
        show: |c| c.weights.as_ref().map(|p| p.display().to_string()),
    },
    Setting {
        key: "layers",
        default: "layer2 (resnets), features.5 (alexnet), features.16 (vgg16), features.18 (vgg19); several as a:b",
        read: |c, v| {
            v.list("node names", &mut c.layers)?;
            let graph = c.architecture.graph();
            graph
                .select(c.architecture.name(), &c.layers)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
        show: |c| Some(c.layers.join(":")),
    },
    Setting {
        key: "normalize",
        default: "imagenet (or none)",
        read: |c, v| {
            match v.text().as_deref() {
                None => {}
                Some("imagenet") => c.normalize = true,
                Some("none") => c.normalize = false,
                Some(other) => {
                    return Err(format!("normalize must be imagenet or none, got {other:?}"));
                }
            }
            Ok(())
        },
        show: |c| Some(if c.normalize { "imagenet" } else { "none" }.to_string()),
    },
];

/// The node names of a network `--model` accepts by name (`metamer models resnet50`), as
/// torchvision's `get_graph_node_names` lists them; `None` for other names.
pub fn node_names(name: &str) -> Option<Vec<String>> {
    let architecture: Architecture = name.parse().ok()?;
    Some(architecture.graph().node_names())
}
