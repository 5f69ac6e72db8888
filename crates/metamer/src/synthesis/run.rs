//! Settings → metamer → checkpoints → outputs.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::tensor::{
    DType, Tensor,
    backend::{AutodiffBackend, Backend},
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::backend::{BackendJob, backend_in_use, on_backend};
use super::figures::Figures;
use super::model_spec::BuiltModel;
use super::polling::while_polling;
use super::settings::{
    BackendChoice, CtfChoice, DtypeChoice, LossChoice, Settings, needs_texture_model, value_name,
};
use super::target::load_target;
use super::{SynthesisError, training};
use crate::io::{self, Array, IoError};
use crate::models::HostBackend;
use crate::models::portilla_simoncelli::{groupwise_relative_l2_norm, portilla_simoncelli_loss};
use crate::{
    CoarseToFine, CoarseToFineState, CtfSynthesizeOptions, IterationInfo, LoadOptions, Loss,
    Metamer, MetamerCtf, MetamerError, MetamerOptions, Penalty, Setup, Snapshot, Synthesis,
    SynthesisReport, SynthesizeOptions,
};

/// The name of the saved synthesis in the output folder.
pub const SYNTHESIS_FILE: &str = "synthesis.safetensors";
/// Metadata keys of a saved synthesis: its [`Settings`] as JSON, and whether it had finished
/// by converging (so continuing it runs no further iteration).
const SETTINGS_KEY: &str = "synth.settings";
const CONVERGED_KEY: &str = "synth.converged";

/// How a synthesis runs, as opposed to what it computes.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Results folder.
    pub out: PathBuf,
    /// No progress bar, warnings or summary on stderr.
    pub quiet: bool,
    /// The file a continued synthesis came from, recorded in `history.json`.
    pub resumed_from: Option<PathBuf>,
    /// Also checkpoint whenever this long has passed since the last one.
    pub checkpoint_interval: Option<Duration>,
    /// Set (e.g. by a signal handler) to stop after the current iteration; the synthesis and
    /// outputs are written and [`SynthesisError::Interrupted`] returned.
    pub stop: Option<Arc<AtomicBool>>,
    /// On the ndarray backend, keep rayon's other threads polling for work while the loop
    /// runs instead of sleeping between its splits (much faster on several threads, at the
    /// cost of those threads' cores): for a process running one synthesis at a time, as
    /// `metamer synth` does.
    pub poll_workers: bool,
}

impl RunOptions {
    /// Results in `out`, nothing on stderr.
    pub fn quiet(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            quiet: true,
            ..Default::default()
        }
    }
}

/// What a finished synthesis reached.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// Iterations run, over every call.
    pub iterations: usize,
    /// The loss at the final metamer (`None` when it cannot be computed, e.g. after a NaN).
    pub loss: Option<f64>,
    /// Whether it stopped because the loss stopped changing.
    pub converged: bool,
}

/// A saved synthesis: its settings, its state, and whether it had converged.
pub struct Checkpoint {
    /// The settings it was run with.
    pub settings: Settings,
    /// Its state.
    pub snapshot: Snapshot,
    /// Whether it had converged.
    pub converged: bool,
}

impl Checkpoint {
    /// Iterations run so far.
    pub fn iterations(&self) -> usize {
        self.snapshot.gradient_norm.len()
    }
}

/// Reads a synthesis saved by [`run`].
///
/// # Errors
/// The file is unreadable or damaged, or was not written by [`run`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, SynthesisError> {
    let (snapshot, extra) = io::load_synthesis(path)?;
    let text = extra.get(SETTINGS_KEY).ok_or_else(|| {
        SynthesisError::Settings(format!(
            "{} was not written by `metamer synth` (no saved settings)",
            path.display()
        ))
    })?;
    let settings = serde_json::from_str(text).map_err(|e| {
        SynthesisError::Settings(format!(
            "{}: its saved settings cannot be read: {e}",
            path.display()
        ))
    })?;
    Ok(Checkpoint {
        settings,
        snapshot,
        converged: extra.get(CONVERGED_KEY).is_some_and(|v| v == "true"),
    })
}

/// Runs the synthesis `settings` describe, or continues `resume` (saved with these settings)
/// up to `settings.max_iter` iterations in all, writing results to `options.out`.
///
/// # Errors
/// Bad settings or inputs, a failing synthesis (its history and metamer are still written), or
/// an interruption.
pub fn run(
    settings: &Settings,
    resume: Option<&Checkpoint>,
    options: &RunOptions,
) -> Result<Outcome, SynthesisError> {
    on_backend(
        backend_in_use(settings),
        settings.dtype,
        Synthesize {
            settings,
            resume,
            options,
        },
    )
}

struct Synthesize<'a> {
    settings: &'a Settings,
    resume: Option<&'a Checkpoint>,
    options: &'a RunOptions,
}

impl BackendJob for Synthesize<'_> {
    type Output = Outcome;

    fn run<B: AutodiffBackend + HostBackend>(self) -> Result<Outcome, SynthesisError> {
        synthesize::<B>(self.settings, self.resume, self.options)
    }
}

/// A plain or coarse-to-fine synthesis, as the settings chose.
pub enum BuiltSynthesis<B: AutodiffBackend> {
    /// Optimises the whole objective.
    Plain(Metamer<B>),
    /// Optimises scale by scale.
    CoarseToFine(MetamerCtf<B>),
}

impl<B: AutodiffBackend> Synthesis<B> for BuiltSynthesis<B> {
    fn as_metamer(&self) -> &Metamer<B> {
        match self {
            Self::Plain(met) => met,
            Self::CoarseToFine(met) => met.as_metamer(),
        }
    }

    fn snapshot(&self) -> Result<Snapshot, MetamerError> {
        match self {
            Self::Plain(met) => met.snapshot(),
            Self::CoarseToFine(met) => met.snapshot(),
        }
    }

    fn coarse_to_fine_state(&self) -> Option<&CoarseToFineState> {
        match self {
            Self::Plain(_) => None,
            Self::CoarseToFine(met) => Some(met.state()),
        }
    }
}

impl<B: AutodiffBackend> BuiltSynthesis<B> {
    fn synthesize_with(
        &mut self,
        settings: &Settings,
        max_iter: usize,
        mut observe: impl FnMut(&dyn Synthesis<B>, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport, MetamerError> {
        let options = SynthesizeOptions {
            max_iter,
            store_progress: settings.store_progress,
            stop_criterion: settings.stop_criterion,
            stop_iters_to_check: settings.stop_iters_to_check,
        };
        match self {
            Self::Plain(met) => met.synthesize_with(options, |met, info| observe(met, info)),
            Self::CoarseToFine(met) => met.synthesize_with(
                CtfSynthesizeOptions {
                    synthesize: options,
                    change_scale_criterion: settings.change_scale_criterion.0,
                    ctf_iters_to_check: settings.ctf_iters_to_check,
                },
                |met, info| observe(met, info),
            ),
        }
    }
}

/// The loss `settings` ask for; the texture losses need the texture model and the target.
fn build_loss<B: AutodiffBackend + HostBackend>(
    settings: &Settings,
    model: &BuiltModel<B>,
    image: &Tensor<B::InnerBackend, 4>,
) -> Result<Loss<B>, SynthesisError> {
    let target = || Tensor::<B, 4>::from_inner(image.clone());
    let model_error = |e: crate::models::ModelError| SynthesisError::Settings(e.to_string());
    let texture = match model {
        BuiltModel::Texture(texture) => Some(texture),
        BuiltModel::Other(_) => None,
    };
    Ok(match (settings.loss, texture) {
        (LossChoice::Mse, _) => Loss::mse(),
        (LossChoice::L2, _) => Loss::l2_norm(),
        (LossChoice::RelativeSse, _) => Loss::relative_sse(),
        (LossChoice::Ps, Some(texture)) => {
            portilla_simoncelli_loss(texture, target(), &[]).map_err(model_error)?
        }
        (LossChoice::Groupwise, Some(texture)) => {
            groupwise_relative_l2_norm(texture, target(), &[]).map_err(model_error)?
        }
        (loss @ (LossChoice::Ps | LossChoice::Groupwise), None) => {
            return Err(SynthesisError::Settings(needs_texture_model(loss)));
        }
    })
}

/// Refuses a dtype the device cannot compute in (float64 on many GPUs) before anything runs,
/// rather than failing inside a kernel.
pub(crate) fn check_dtype<B: Backend>(
    device: &B::Device,
    dtype: DType,
) -> Result<(), SynthesisError> {
    if B::supports_dtype(device, dtype) {
        Ok(())
    } else {
        Err(SynthesisError::Settings(format!(
            "the {} device does not support {dtype:?}; use --dtype f32 or another --backend",
            B::name(device)
        )))
    }
}

/// The synthesis `settings` describe, set up afresh or restored from `resumed`.
///
/// # Errors
/// Bad settings or inputs, or a snapshot that does not fit them.
pub fn build_metamer<B: AutodiffBackend + HostBackend>(
    settings: &Settings,
    resumed: Option<&Snapshot>,
    quiet: bool,
) -> Result<BuiltSynthesis<B>, SynthesisError> {
    settings
        .check()
        .map_err(|error| SynthesisError::Settings(error.message))?;
    let device = Default::default();
    let dtype = match settings.dtype {
        DtypeChoice::F32 => DType::F32,
        DtypeChoice::F64 => DType::F64,
    };
    check_dtype::<B>(&device, dtype)?;
    let target = match resumed {
        Some(snapshot) => Array {
            shape: snapshot.image.shape.clone(),
            values: snapshot.image.values.clone(),
            precision: io::Precision::F64,
        },
        None => load_target(settings)?,
    };
    let image: Tensor<B::InnerBackend, 4> = target.to_tensor_as(dtype, &device)?;
    let [_, _, height, width] = image.dims();
    // Models draw their random parameters after seeding, as in a plenoptic script.
    crate::set_seed(settings.seed);
    let model = settings
        .model
        .build::<B>([height, width], &device, dtype)
        .map_err(SynthesisError::Settings)?;
    for warning in settings.model.warnings() {
        warn(&warning, quiet);
    }
    let initial_image = match &settings.init {
        Some(path) => {
            let array = io::read_npy(path)?;
            if array.values.len() != target.values.len() {
                return Err(SynthesisError::Settings(format!(
                    "--init {} has shape {:?} but the image has shape {:?}",
                    path.display(),
                    array.shape,
                    target.shape
                )));
            }
            let reshaped = Array {
                shape: target.shape.clone(),
                ..array
            };
            Some(reshaped.to_tensor_as(dtype, &device)?)
        }
        None => None,
    };

    let options = MetamerOptions {
        loss: build_loss(settings, &model, &image)?,
        penalty: Penalty::range(settings.range.0, settings.range.1),
        penalty_lambda: settings.penalty_lambda,
    };
    let optimizer = training::optimizer(settings.optimizer, &settings.optimizer_opt, settings.lr)
        .map_err(SynthesisError::Settings)?
        .build();
    let scheduler = training::scheduler(settings.scheduler, &settings.scheduler_opt)
        .map_err(SynthesisError::Settings)?;
    let setup = Setup {
        initial_image,
        optimizer: Some(optimizer),
        scheduler,
    };
    let model = model.boxed();
    let met = match settings.coarse_to_fine {
        None => {
            let mut met = Metamer::<B>::with_options(image, model, options)?;
            match resumed {
                Some(snapshot) => met.load_snapshot(snapshot, &LoadOptions::default())?,
                None => met.setup(setup)?,
            };
            BuiltSynthesis::Plain(met)
        }
        Some(choice) => {
            let mode = match choice {
                CtfChoice::Together => CoarseToFine::Together,
                CtfChoice::Separate => CoarseToFine::Separate,
            };
            let mut met = MetamerCtf::<B>::with_options(image, model, options, mode)?;
            match resumed {
                Some(snapshot) => met.load_snapshot(snapshot, &LoadOptions::default())?,
                None => met.setup(setup)?,
            };
            BuiltSynthesis::CoarseToFine(met)
        }
    };
    for warning in met.as_metamer().warnings() {
        warn(&warning.to_string(), quiet);
    }
    Ok(met)
}

fn synthesize<B: AutodiffBackend + HostBackend>(
    settings: &Settings,
    resume: Option<&Checkpoint>,
    options: &RunOptions,
) -> Result<Outcome, SynthesisError> {
    let mut met = build_metamer::<B>(settings, resume.map(|c| &c.snapshot), options.quiet)?;
    let done = resume.map_or(0, Checkpoint::iterations);
    let already_converged = resume.is_some_and(|c| c.converged);
    let remaining = if already_converged {
        0
    } else {
        settings.max_iter.saturating_sub(done)
    };
    let bar = if options.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(remaining as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
            .expect("valid template"),
    );
    let mut checkpoint_error = None;
    let mut last_checkpoint = Instant::now();
    let outcome = if remaining == 0 {
        Ok(SynthesisReport {
            iterations: 0,
            converged: already_converged,
            interrupted: false,
            warnings: Vec::new(),
        })
    } else {
        let observe = |met: &dyn Synthesis<B>, info: &IterationInfo| {
            let due = checkpoint_due(
                met.as_metamer().gradient_norm().len(),
                settings.checkpoint_every,
                last_checkpoint.elapsed(),
                options.checkpoint_interval,
            );
            if due {
                if let Err(error) = write_synthesis(met, settings, &options.out, false) {
                    checkpoint_error = Some(error);
                    return ControlFlow::Break(());
                }
                last_checkpoint = Instant::now();
            }
            if options
                .stop
                .as_ref()
                .is_some_and(|stop| stop.load(Ordering::SeqCst))
            {
                return ControlFlow::Break(());
            }
            bar.set_position(info.iteration as u64 + 1);
            let scale = info
                .scale
                .as_ref()
                .map(|(name, loss)| format!(" current_scale={name} current_scale_loss={loss:.4e}"))
                .unwrap_or_default();
            bar.set_message(format!(
                "loss={:.4e} lr={} penalty={:.4e} gradient_norm={:.4e} pixel_change_norm={:.4e}{scale}",
                info.loss,
                info.learning_rate,
                info.penalty,
                info.gradient_norm,
                info.pixel_change_norm
            ));
            ControlFlow::Continue(())
        };
        // Measured on ndarray; libtorch has threads of its own, which a polling thread would
        // take a core from, and the GPU backends leave the host's threads idle anyway.
        let poll = options.poll_workers && backend_in_use(settings) == BackendChoice::Ndarray;
        while_polling(poll, || met.synthesize_with(settings, remaining, observe))
    };
    bar.finish_and_clear();
    if let Some(error) = checkpoint_error {
        return Err(error);
    }

    // Whatever happened, keep what was computed.
    let converged = outcome.as_ref().map(|r| r.converged).unwrap_or(false);
    write_outputs(&met, settings, options, converged)?;
    let report = outcome?;
    for warning in &report.warnings {
        warn(&warning.to_string(), options.quiet);
    }
    let iterations = met.as_metamer().gradient_norm().len();
    if report.interrupted {
        return Err(SynthesisError::Interrupted {
            iterations,
            file: options.out.join(SYNTHESIS_FILE),
        });
    }
    let losses = met.as_metamer().losses()?;
    if !options.quiet {
        eprintln!(
            "{iterations} iterations, loss {:.4e} -> {:.4e}; results in {}",
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN),
            options.out.display()
        );
    }
    Ok(Outcome {
        iterations,
        loss: losses.last().copied(),
        converged,
    })
}

/// Whether a checkpoint is due after `iterations`: every `every` iterations (0: never by
/// count), and whenever `interval` has passed since the last one.
fn checkpoint_due(
    iterations: usize,
    every: usize,
    since_last: Duration,
    interval: Option<Duration>,
) -> bool {
    let by_count = every > 0 && iterations.is_multiple_of(every);
    by_count || interval.is_some_and(|interval| since_last >= interval)
}

/// Prints a warning on stderr unless `quiet`.
pub(crate) fn warn(warning: &str, quiet: bool) {
    if !quiet {
        eprintln!("warning: {warning}");
    }
}

fn write_outputs<B: AutodiffBackend>(
    synthesis: &dyn Synthesis<B>,
    settings: &Settings,
    options: &RunOptions,
    converged: bool,
) -> Result<(), SynthesisError> {
    let met = synthesis.as_metamer();
    let out = &options.out;
    create_folder(out)?;
    let Some(metamer) = met.metamer() else {
        return Ok(());
    };
    let array = Array::from_tensor(metamer.clone());
    io::write_npy(out.join("metamer.npy"), &array)?;
    io::write_png(out.join("metamer.png"), &array)?;
    let saved = met.saved_metamer();
    if settings.store_progress > 0 && saved.len() > 1 {
        let arrays: Vec<Array> = saved.into_iter().map(Array::from_tensor).collect();
        let stacked = Array {
            shape: [vec![arrays.len()], array.shape.clone()].concat(),
            values: arrays
                .iter()
                .flat_map(|a| a.values.iter().copied())
                .collect(),
            precision: array.precision,
        };
        io::write_npy(out.join("saved_metamer.npy"), &stacked)?;
    }
    // The loss at the current metamer cannot be computed when the synthesis blew up.
    let losses = met.losses().unwrap_or_default();
    let penalties = met.penalties().unwrap_or_default();
    let mut history = json!({
        "losses": losses,
        "penalties": penalties,
        "gradient_norm": met.gradient_norm(),
        "pixel_change_norm": met.pixel_change_norm(),
        "learning_rate": met.learning_rate(),
        "iterations": met.gradient_norm().len(),
        "converged": converged,
        "settings": {
            "image": settings.image.clone().unwrap_or_else(|| "default".to_string()),
            "resumed_from": options.resumed_from.as_ref().map(|p| p.display().to_string()),
            "model": settings.model.describe(),
            "init": settings.init.as_ref().map(|p| p.display().to_string()),
            "seed": settings.seed,
            "max_iter": settings.max_iter,
            "store_progress": settings.store_progress,
            "stop_criterion": settings.stop_criterion,
            "stop_iters_to_check": settings.stop_iters_to_check,
            "lr": settings.lr,
            "optimizer": met.optimizer().map(|o| o.name()),
            "optimizer_opt": settings.optimizer_opt,
            "scheduler": settings.scheduler.map(value_name),
            "scheduler_opt": settings.scheduler_opt,
            "loss": met.loss_function().name(),
            "penalty_lambda": settings.penalty_lambda,
            "range": [settings.range.0, settings.range.1],
            "backend": value_name(backend_in_use(settings)),
            "dtype": value_name(settings.dtype),
            "coarse_to_fine": settings.coarse_to_fine.map(value_name),
            "change_scale_criterion": settings.change_scale_criterion.0,
            "ctf_iters_to_check": settings.ctf_iters_to_check,
        },
    });
    if let Some(state) = synthesis.coarse_to_fine_state() {
        let timing: serde_json::Map<String, serde_json::Value> = state
            .scales_timing
            .iter()
            .map(|(scale, t)| (scale.clone(), json!(t)))
            .collect();
        history["scales_loss"] = json!(state.scales_loss);
        history["scales_timing"] = json!(timing);
        history["scales_finished"] = json!(state.scales_finished);
        history["scales"] = json!(state.scales);
    }
    let text = serde_json::to_string_pretty(&history).expect("JSON values serialize");
    io::write_atomically(&out.join("history.json"), text.as_bytes())?;
    write_synthesis(synthesis, settings, out, converged)?;
    // Figures come last: the results above are safe whatever happens to them.
    let figures = Figures {
        status: Some(out.join("status.png")),
        animation: (settings.store_progress > 0).then(|| out.join("animation.gif")),
    };
    match figures.write(met, &Default::default()) {
        Ok(warnings) => {
            for warning in warnings {
                warn(&warning.to_string(), options.quiet);
            }
        }
        Err(error) => warn(&format!("figures not written: {error}"), options.quiet),
    }
    Ok(())
}

fn create_folder(folder: &Path) -> Result<(), SynthesisError> {
    std::fs::create_dir_all(folder).map_err(|source| {
        IoError::Write {
            path: folder.to_path_buf(),
            source,
        }
        .into()
    })
}

/// Saves the synthesis with its settings to `OUT/synthesis.safetensors`.
fn write_synthesis<B: AutodiffBackend>(
    synthesis: &dyn Synthesis<B>,
    settings: &Settings,
    out: &Path,
    converged: bool,
) -> Result<(), SynthesisError> {
    create_folder(out)?;
    let extra: BTreeMap<String, String> = [
        (
            SETTINGS_KEY.to_string(),
            serde_json::to_string(settings).expect("settings serialize"),
        ),
        (CONVERGED_KEY.to_string(), converged.to_string()),
    ]
    .into_iter()
    .collect();
    io::save_synthesis(&out.join(SYNTHESIS_FILE), &synthesis.snapshot()?, &extra)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_come_by_count_and_by_time() {
        let minute = Some(Duration::from_secs(60));
        let seconds = Duration::from_secs;
        assert!(checkpoint_due(10, 5, seconds(0), None));
        assert!(!checkpoint_due(11, 5, seconds(0), None));
        assert!(!checkpoint_due(11, 0, seconds(3600), None));
        assert!(checkpoint_due(11, 5, seconds(60), minute));
        assert!(!checkpoint_due(11, 0, seconds(59), minute));
        assert!(checkpoint_due(11, 0, seconds(61), minute));
    }

    #[test]
    fn dtypes_the_device_lacks_are_refused_in_one_line() {
        type Cpu = burn::backend::NdArray<f64>;
        assert!(check_dtype::<Cpu>(&Default::default(), DType::F64).is_ok());
        // ndarray lacks float16 as many GPUs lack float64: the same refusal.
        let error = check_dtype::<Cpu>(&Default::default(), DType::F16).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("does not support F16"), "{message}");
        assert!(message.contains("--dtype f32"), "{message}");
        assert_eq!(message.lines().count(), 1);
    }
}
