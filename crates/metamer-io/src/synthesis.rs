//! A synthesis in one safetensors file: tensors and histories as tensors (so Python's
//! `safetensors` package reads the metamer and histories directly), everything else as JSON in
//! the metadata, all under the file's checksum.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use std::ops::ControlFlow;

use metamer_core::{
    CtfSynthesizeOptions, IterationInfo, LoadOptions, Metamer, MetamerCtf, SavedDtype, Snapshot,
    StateTensor, Synthesis, SynthesisReport, SynthesizeOptions, Warning,
};

use crate::{Array, IoError, Precision, Result, SafeTensors, read_safetensors, write_safetensors};

/// Metadata key holding the snapshot (with tensor values moved to the tensors).
const SNAPSHOT_KEY: &str = "metamer.snapshot";
/// Metadata key saying what wrote the file.
const WRITER_KEY: &str = "metamer.writer";

/// Every tensor of a snapshot with its name in the file, and whether it is a history (always
/// float64) rather than an image-precision tensor.
fn tensors_of(snapshot: &mut Snapshot) -> Vec<(String, &mut StateTensor)> {
    let mut named: Vec<(String, &mut StateTensor)> = vec![
        ("image".to_string(), &mut snapshot.image),
        (
            "target_representation".to_string(),
            &mut snapshot.target_representation,
        ),
        ("check.loss".to_string(), &mut snapshot.loss.output),
        ("check.penalty".to_string(), &mut snapshot.penalty.output),
        ("check.model".to_string(), &mut snapshot.model.output),
    ];
    if let Some(metamer) = snapshot.metamer.as_mut() {
        named.push(("metamer".to_string(), metamer));
    }
    for (i, saved) in snapshot.saved_metamer.iter_mut().enumerate() {
        named.push((format!("saved_metamer.{i:06}"), saved));
    }
    for (owner, state) in [
        ("optimizer", snapshot.optimizer.as_mut()),
        ("scheduler", snapshot.scheduler.as_mut()),
    ] {
        if let Some(state) = state {
            for (key, tensor) in state.tensors.iter_mut() {
                named.push((format!("{owner}.{key}"), tensor));
            }
        }
    }
    named
}

fn histories(snapshot: &Snapshot) -> [(&'static str, &Vec<f64>); 5] {
    [
        ("losses", &snapshot.losses),
        ("penalties", &snapshot.penalties),
        ("gradient_norm", &snapshot.gradient_norm),
        ("pixel_change_norm", &snapshot.pixel_change_norm),
        ("learning_rate", &snapshot.learning_rate),
    ]
}

/// The file content for a snapshot, with the caller's own metadata (e.g. how to rebuild the
/// model; keys must not start with `metamer.`).
pub fn encode_synthesis(snapshot: &Snapshot, extra: &BTreeMap<String, String>) -> SafeTensors {
    let precision = match snapshot.dtype {
        SavedDtype::F32 => Precision::F32,
        SavedDtype::F64 => Precision::F64,
    };
    let mut stripped = snapshot.clone();
    let mut content = SafeTensors {
        metadata: extra.clone(),
        ..Default::default()
    };
    for (name, tensor) in tensors_of(&mut stripped) {
        let values = std::mem::take(&mut tensor.values);
        content.tensors.insert(
            name,
            Array {
                shape: tensor.shape.clone(),
                values,
                precision,
            },
        );
    }
    for (name, history) in histories(snapshot) {
        content.tensors.insert(
            format!("history.{name}"),
            Array {
                shape: vec![history.len()],
                values: history.clone(),
                precision: Precision::F64,
            },
        );
    }
    content.metadata.insert(
        SNAPSHOT_KEY.to_string(),
        serde_json::to_string(&stripped).expect("a snapshot serializes"),
    );
    content.metadata.insert(
        WRITER_KEY.to_string(),
        format!("metamer {} on burn 0.21", env!("CARGO_PKG_VERSION")),
    );
    content
}

/// The snapshot in a file's content (every tensor present with the recorded shape), and the
/// metadata [`encode_synthesis`] was given.
///
/// # Errors
/// When a tensor or a metadata entry of the snapshot is missing or has another shape than
/// recorded.
pub fn decode_synthesis(
    mut content: SafeTensors,
) -> std::result::Result<(Snapshot, BTreeMap<String, String>), String> {
    let json = content
        .metadata
        .get(SNAPSHOT_KEY)
        .ok_or("no synthesis in this file (missing metamer.snapshot metadata)")?;
    let mut snapshot: Snapshot =
        serde_json::from_str(json).map_err(|e| format!("unreadable synthesis metadata: {e}"))?;
    let expected = match snapshot.dtype {
        SavedDtype::F32 => Precision::F32,
        SavedDtype::F64 => Precision::F64,
    };
    let mut take = |name: &str, shape: &[usize], precision: Precision| {
        let array = content
            .tensors
            .remove(name)
            .ok_or_else(|| format!("tensor {name} is missing"))?;
        if array.shape != shape || array.precision != precision {
            return Err(format!(
                "tensor {name} has shape {:?} and {:?} but the synthesis records shape {shape:?} and {precision:?}",
                array.shape, array.precision
            ));
        }
        Ok(array.values)
    };
    for (name, tensor) in tensors_of(&mut snapshot) {
        tensor.values = take(&name, &tensor.shape, expected)?;
    }
    let lengths: BTreeMap<&str, usize> = histories(&snapshot)
        .iter()
        .map(|(name, h)| (*name, h.len()))
        .collect();
    for (name, history) in [
        ("losses", &mut snapshot.losses),
        ("penalties", &mut snapshot.penalties),
        ("gradient_norm", &mut snapshot.gradient_norm),
        ("pixel_change_norm", &mut snapshot.pixel_change_norm),
        ("learning_rate", &mut snapshot.learning_rate),
    ] {
        let values = take(&format!("history.{name}"), &[lengths[name]], Precision::F64)?;
        *history = values;
    }
    let extra = content
        .metadata
        .into_iter()
        .filter(|(key, _)| !key.starts_with("metamer."))
        .collect();
    Ok((snapshot, extra))
}

/// Writes a snapshot and extra metadata atomically to `path` (a safetensors file).
///
/// # Errors
/// When the file cannot be written.
pub fn save_synthesis(
    path: &Path,
    snapshot: &Snapshot,
    extra: &BTreeMap<String, String>,
) -> Result<()> {
    write_safetensors(path, &encode_synthesis(snapshot, extra))
}

/// Reads and checks a synthesis file: the snapshot and the extra metadata saved with it.
///
/// # Errors
/// When the file cannot be read, is corrupted, or does not hold a synthesis.
pub fn load_synthesis(path: &Path) -> Result<(Snapshot, BTreeMap<String, String>)> {
    let content = read_safetensors(path)?;
    decode_synthesis(content).map_err(|message| IoError::Synthesis {
        path: path.to_path_buf(),
        message,
    })
}

/// `save` and `load` on a [`Metamer`] or [`MetamerCtf`], as plenoptic has them.
pub trait SaveLoad {
    /// What `synthesize` takes.
    type Options;

    /// Writes the synthesis to `path` (one safetensors file, written atomically).
    ///
    /// # Errors
    /// When the snapshot cannot be taken or the file cannot be written.
    fn save(&self, path: impl AsRef<Path>) -> Result<()>;

    /// Continues the synthesis saved at `path` in this just-constructed object, after
    /// plenoptic's checks; returns the warnings of `raise_on_checks = false`.
    ///
    /// # Errors
    /// When the file cannot be read or holds a synthesis that does not fit this one (see
    /// [`Metamer::load_snapshot`](metamer_core::Metamer::load_snapshot)).
    fn load(&mut self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<Vec<Warning>>;

    /// `synthesize`, saving to `path` every `every` iterations and at the end.
    ///
    /// # Errors
    /// When synthesis fails or a checkpoint cannot be written.
    fn synthesize_checkpointed(
        &mut self,
        options: Self::Options,
        path: impl AsRef<Path>,
        every: usize,
    ) -> Result<SynthesisReport>;
}

/// Runs `synthesize` with an observer that saves to `path` after every `every`-th iteration;
/// a failed save stops the synthesis and is returned.
fn checkpointed<B: AutodiffBackend, const D: usize, S: Synthesis<B, D>>(
    path: &Path,
    every: usize,
    synthesize: impl FnOnce(
        &mut dyn FnMut(&S, &IterationInfo) -> ControlFlow<()>,
    ) -> std::result::Result<SynthesisReport, metamer_core::MetamerError>,
) -> Result<SynthesisReport> {
    let mut failure = None;
    let report = synthesize(&mut |synthesis, _| {
        let done = synthesis.as_metamer().gradient_norm().len();
        if every > 0
            && done.is_multiple_of(every)
            && let Err(error) = synthesis
                .snapshot()
                .map_err(Into::into)
                .and_then(|snapshot| save_synthesis(path, &snapshot, &BTreeMap::new()))
        {
            failure = Some(error);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    match failure {
        Some(error) => Err(error),
        None => Ok(report?),
    }
}

impl<B: AutodiffBackend, const D: usize> SaveLoad for Metamer<B, D> {
    type Options = SynthesizeOptions;

    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_synthesis(path.as_ref(), &self.snapshot()?, &BTreeMap::new())
    }

    fn load(&mut self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<Vec<Warning>> {
        let (snapshot, _) = load_synthesis(path.as_ref())?;
        Ok(self.load_snapshot(&snapshot, options)?)
    }

    fn synthesize_checkpointed(
        &mut self,
        options: SynthesizeOptions,
        path: impl AsRef<Path>,
        every: usize,
    ) -> Result<SynthesisReport> {
        let path = path.as_ref();
        let report = checkpointed(path, every, |observe| {
            self.synthesize_with(options, observe)
        })?;
        self.save(path)?;
        Ok(report)
    }
}

impl<B: AutodiffBackend, const D: usize> SaveLoad for MetamerCtf<B, D> {
    type Options = CtfSynthesizeOptions;

    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_synthesis(path.as_ref(), &self.snapshot()?, &BTreeMap::new())
    }

    fn load(&mut self, path: impl AsRef<Path>, options: &LoadOptions) -> Result<Vec<Warning>> {
        let (snapshot, _) = load_synthesis(path.as_ref())?;
        Ok(self.load_snapshot(&snapshot, options)?)
    }

    fn synthesize_checkpointed(
        &mut self,
        options: CtfSynthesizeOptions,
        path: impl AsRef<Path>,
        every: usize,
    ) -> Result<SynthesisReport> {
        let path = path.as_ref();
        let report = checkpointed(path, every, |observe| {
            self.synthesize_with(options, observe)
        })?;
        self.save(path)?;
        Ok(report)
    }
}

/// A readable summary of a saved synthesis (plenoptic's `examine_saved_synthesis`): format
/// version and writer, synthesis type, dtype, iterations, settings saved with it, and every
/// tensor's shape and precision.
///
/// # Errors
/// When the file cannot be read or is not a synthesis file.
pub fn examine_saved_synthesis(path: &Path) -> Result<String> {
    let content = read_safetensors(path)?;
    let writer = content
        .metadata
        .get(WRITER_KEY)
        .cloned()
        .unwrap_or_else(|| "unknown".to_string());
    let tensors: Vec<(String, Vec<usize>, Precision)> = content
        .tensors
        .iter()
        .map(|(name, array)| (name.clone(), array.shape.clone(), array.precision))
        .collect();
    let (snapshot, extra) = decode_synthesis(content).map_err(|message| IoError::Synthesis {
        path: path.to_path_buf(),
        message,
    })?;
    let mut report = format!(
        "{}\n  format version   {}\n  written by       {writer}\n  synthesis        {}\n  \
         dtype            {:?}\n  iterations       {}\n  model            {}\n  loss             {}\n  \
         penalty          {} (lambda {})\n  optimizer        {}\n  scheduler        {}\n",
        path.display(),
        snapshot.version,
        snapshot.synthesis,
        snapshot.dtype,
        snapshot.gradient_norm.len(),
        snapshot.model.name,
        snapshot.loss.name,
        snapshot.penalty.name,
        snapshot.penalty_lambda,
        snapshot
            .optimizer
            .as_ref()
            .map_or("none", |s| s.name.as_str()),
        snapshot
            .scheduler
            .as_ref()
            .map_or("none", |s| s.name.as_str()),
    );
    for (key, value) in &extra {
        report.push_str(&format!("  {key:<16} {value}\n"));
    }
    report.push_str("  tensors\n");
    for (name, shape, precision) in tensors {
        report.push_str(&format!("    {name:<32} {precision:?} {shape:?}\n"));
    }
    Ok(report)
}
