//! The `synth` subcommand: load or generate an image, synthesize, write the results.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use burn::tensor::{
    DType, Tensor,
    backend::{AutodiffBackend, Backend},
};
use clap::{Args, Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use metamer::models::HostBackend;
use metamer::models::portilla_simoncelli::{groupwise_relative_l2_norm, portilla_simoncelli_loss};
use metamer::{
    CoarseToFine, CtfSynthesizeOptions, IterationInfo, LoadOptions, Loss, Metamer, MetamerCtf,
    MetamerError, MetamerOptions, Penalty, Setup, Snapshot, SynthesisReport, SynthesizeOptions,
    Warning,
    io::{self, Array, IoError},
};
use serde_json::json;

use crate::{
    model_spec::{BuiltModel, ModelSpec},
    training::{self, OptimizerChoice, SchedulerChoice},
};

/// Size of the generated default image.
const DEFAULT_IMAGE_SIZE: usize = 256;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Target image: a PNG, JPEG, PGM/PPM or .npy file, a built-in name (einstein, curie,
    /// reptile_skin, parrot, color_wheel), or one generated in code: scene (the default, a
    /// test scene) or texture (irregular scales, for texture models).
    #[arg(long)]
    image: Option<String>,
    /// Model: `NAME` or `NAME:key=value,...`, e.g. `on_off:pretrained=true,cache_filt=true`;
    /// `metamer models` lists every model and its options.
    #[arg(long, default_value = "gaussian:kernel_size=30,std=3.0")]
    model: ModelSpec,
    /// Initial image (.npy of the target's size), used as is; default: seeded uniform noise.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Seed of the torch-compatible generator (plenoptic's `po.set_seed`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 100)]
    max_iter: usize,
    /// Save the metamer every N iterations (0: never).
    #[arg(long, default_value_t = 0)]
    store_progress: usize,
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    stop_criterion: f64,
    #[arg(long, default_value_t = 50)]
    stop_iters_to_check: usize,
    /// The learning rate of any optimizer (plenoptic's default, 0.01, also for L-BFGS).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    lr: f64,
    /// Optimizer; default: plenoptic's Adam with AMSGrad. A named one starts from torch's defaults.
    #[arg(long, value_enum)]
    optimizer: Option<OptimizerChoice>,
    /// Optimizer options with torch's names, e.g. `momentum=0.9` or
    /// `history_size=10,max_iter=4,line_search_fn=strong_wolfe` (lists use ':', e.g. `betas=0.9:0.999`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    optimizer_opt: String,
    /// Learning-rate scheduler, stepped after every iteration.
    #[arg(long, value_enum)]
    scheduler: Option<SchedulerChoice>,
    /// Scheduler options with torch's names, e.g. `step_size=4,gamma=0.5` or
    /// `factor=0.5,patience=1,threshold=0.2` (lists use ':', e.g. `milestones=3:7`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    scheduler_opt: String,
    /// `ps` and `groupwise`: plenoptic's texture losses, for `--model portilla_simoncelli`.
    #[arg(long, value_enum, default_value_t = LossChoice::Mse)]
    loss: LossChoice,
    /// Coarse-to-fine synthesis (models with scales, e.g. portilla_simoncelli): `together`
    /// keeps finished scales in the objective, `separate` drops them.
    #[arg(long, value_enum)]
    coarse_to_fine: Option<CtfChoice>,
    /// Move to the next scale once its loss changed less than F over `--ctf-iters-to-check`
    /// iterations; `none` moves after that many iterations.
    #[arg(long, default_value = "0.01", value_parser = parse_criterion, value_name = "F|none")]
    change_scale_criterion: ScaleCriterion,
    /// Iterations each scale runs at least, coarse to fine.
    #[arg(long, default_value_t = 50)]
    ctf_iters_to_check: usize,
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    penalty_lambda: f64,
    /// Allowed pixel range of the range penalty, as MIN,MAX.
    #[arg(long, default_value = "0,1", value_parser = parse_range, allow_hyphen_values = true)]
    range: (f64, f64),
    /// CPU backends: ndarray (measured fastest for this workload, see the README) or flex.
    #[arg(long, value_enum, default_value_t = BackendChoice::Ndarray)]
    pub(crate) backend: BackendChoice,
    #[arg(long, value_enum, default_value_t = DtypeChoice::F32)]
    pub(crate) dtype: DtypeChoice,
    /// Results folder; the synthesis itself goes to `synthesis.safetensors` there.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Continue the synthesis saved in FILE (a `synthesis.safetensors`) for `--max-iter` more
    /// iterations; the file holds the image, the model and every setting.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "image", "model", "init", "seed", "lr", "optimizer", "optimizer_opt", "scheduler",
        "scheduler_opt", "loss", "penalty_lambda", "range", "backend", "dtype", "store_progress",
        "stop_criterion", "stop_iters_to_check", "coarse_to_fine", "change_scale_criterion",
        "ctf_iters_to_check",
    ])]
    resume: Option<PathBuf>,
    /// Hide the progress bar and summary.
    #[arg(long)]
    quiet: bool,
    /// Write `synthesis.safetensors` every N iterations (0: only at the end).
    #[arg(long, default_value_t = 0, value_name = "N")]
    checkpoint_every: usize,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum LossChoice {
    Mse,
    L2,
    RelativeSse,
    /// plenoptic's `portilla_simoncelli_loss_factory`.
    Ps,
    /// plenoptic's `groupwise_relative_l2_norm_factory`.
    Groupwise,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum CtfChoice {
    Together,
    Separate,
}

/// `--change-scale-criterion`: a number, or `none` (plenoptic's `None`).
#[derive(Clone, Copy, Debug, PartialEq)]
struct ScaleCriterion(Option<f64>);

fn parse_criterion(text: &str) -> Result<ScaleCriterion, String> {
    if text == "none" {
        return Ok(ScaleCriterion(None));
    }
    text.parse::<f64>()
        .map(|f| ScaleCriterion(Some(f)))
        .map_err(|_| format!("expected a number or none, got {text:?}"))
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum BackendChoice {
    Ndarray,
    Flex,
    Wgpu,
    Tch,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum DtypeChoice {
    F32,
    F64,
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))
    };
    let (min, max) = text
        .split_once(',')
        .ok_or_else(|| format!("range must be MIN,MAX, got {text:?}"))?;
    let (min, max) = (parse(min)?, parse(max)?);
    if min < max {
        Ok((min, max))
    } else {
        Err(format!(
            "range minimum {min} must be below its maximum {max}"
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Metamer(#[from] MetamerError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Plot(#[from] metamer::plot::PlotError),
    #[error("{0}")]
    Usage(String),
    #[error(
        "interrupted after {iterations} iterations; continue with `metamer synth --resume {}`",
        file.display()
    )]
    Interrupted { iterations: usize, file: PathBuf },
}

/// The settings a resumed synthesis replays: `synth`'s own arguments, saved in its file.
#[derive(Parser)]
#[command(name = "synth")]
struct Replay {
    #[command(flatten)]
    args: SynthArgs,
}

/// Metadata key of the replayable arguments in `synthesis.safetensors`.
const SETTINGS_KEY: &str = "cli.arguments";

/// For `--resume`: the saved settings (with this call's `--max-iter`, `--out` and `--quiet`)
/// and the saved synthesis.
fn resolve(args: SynthArgs) -> Result<(SynthArgs, Option<Snapshot>), CliError> {
    let Some(path) = args.resume.clone() else {
        return Ok((args, None));
    };
    let mut tokens = vec![
        "--max-iter".to_string(),
        args.max_iter.to_string(),
        "--out".to_string(),
        args.out.display().to_string(),
        "--checkpoint-every".to_string(),
        args.checkpoint_every.to_string(),
    ];
    if args.quiet {
        tokens.push("--quiet".to_string());
    }
    let (mut replayed, snapshot) = replay(&path, tokens)?;
    replayed.resume = Some(path);
    Ok((replayed, Some(snapshot)))
}

/// The synthesis saved in `path` and the settings it was made with, followed by `overrides`.
pub fn replay(path: &Path, overrides: Vec<String>) -> Result<(SynthArgs, Snapshot), CliError> {
    let (snapshot, extra) = io::load_synthesis(path)?;
    let saved: Vec<String> = extra
        .get(SETTINGS_KEY)
        .and_then(|text| serde_json::from_str(text).ok())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{} was not written by `metamer synth` (no saved settings)",
                path.display()
            ))
        })?;
    let tokens = ["synth".to_string()]
        .into_iter()
        .chain(saved)
        .chain(overrides);
    let replayed = Replay::try_parse_from(tokens)
        .map_err(|e| CliError::Usage(format!("cannot replay the saved settings: {e}")))?
        .args;
    Ok((replayed, snapshot))
}

/// `synth`'s settings as arguments, so `--resume` can rebuild the same synthesis.
fn replay_arguments(args: &SynthArgs) -> Vec<String> {
    fn name(value: impl ValueEnum) -> String {
        value
            .to_possible_value()
            .expect("no skipped variants")
            .get_name()
            .to_string()
    }
    let mut tokens = vec![
        "--model".to_string(),
        args.model.describe(),
        "--seed".to_string(),
        args.seed.to_string(),
        "--lr".to_string(),
        args.lr.to_string(),
        "--loss".to_string(),
        name(args.loss),
        "--penalty-lambda".to_string(),
        args.penalty_lambda.to_string(),
        "--range".to_string(),
        format!("{},{}", args.range.0, args.range.1),
        "--backend".to_string(),
        name(args.backend),
        "--dtype".to_string(),
        name(args.dtype),
        "--store-progress".to_string(),
        args.store_progress.to_string(),
        "--stop-criterion".to_string(),
        args.stop_criterion.to_string(),
        "--stop-iters-to-check".to_string(),
        args.stop_iters_to_check.to_string(),
        "--optimizer-opt".to_string(),
        args.optimizer_opt.clone(),
        "--scheduler-opt".to_string(),
        args.scheduler_opt.clone(),
    ];
    if let Some(optimizer) = args.optimizer {
        tokens.extend(["--optimizer".to_string(), name(optimizer)]);
    }
    if let Some(scheduler) = args.scheduler {
        tokens.extend(["--scheduler".to_string(), name(scheduler)]);
    }
    if let Some(mode) = args.coarse_to_fine {
        tokens.extend([
            "--coarse-to-fine".to_string(),
            name(mode),
            "--change-scale-criterion".to_string(),
            args.change_scale_criterion
                .0
                .map_or("none".to_string(), |f| f.to_string()),
            "--ctf-iters-to-check".to_string(),
            args.ctf_iters_to_check.to_string(),
        ]);
    }
    tokens
}

pub fn run(args: SynthArgs) -> Result<(), CliError> {
    let (args, resumed) = resolve(args)?;
    on_backend(
        args.backend,
        args.dtype,
        Synthesize {
            args: &args,
            resumed: resumed.as_ref(),
        },
    )
}

/// Work generic over the backend, run on the one chosen at run time.
pub trait BackendJob {
    fn run<B: AutodiffBackend + HostBackend>(self) -> Result<(), CliError>;
}

/// Runs `job` on the compiled-in backend named by `backend` and `dtype`.
pub fn on_backend(
    backend: BackendChoice,
    dtype: DtypeChoice,
    job: impl BackendJob,
) -> Result<(), CliError> {
    let unavailable = |feature: &str| {
        CliError::Usage(format!(
            "the {feature} backend is not compiled in; rebuild with `--features {feature}`"
        ))
    };
    match (backend, dtype) {
        #[cfg(feature = "flex")]
        (BackendChoice::Flex, _) => job.run::<metamer::backend::Flex>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F32) => job.run::<metamer::backend::NdArray>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F64) => job.run::<metamer::backend::NdArray64>(),
        #[cfg(feature = "wgpu")]
        (BackendChoice::Wgpu, _) => job.run::<metamer::backend::Wgpu>(),
        #[cfg(feature = "tch")]
        (BackendChoice::Tch, _) => job.run::<metamer::backend::LibTorch>(),
        #[allow(unreachable_patterns)]
        (choice, _) => Err(unavailable(match choice {
            BackendChoice::Ndarray => "ndarray",
            BackendChoice::Flex => "flex",
            BackendChoice::Wgpu => "wgpu",
            BackendChoice::Tch => "tch",
        })),
    }
}

struct Synthesize<'a> {
    args: &'a SynthArgs,
    resumed: Option<&'a Snapshot>,
}

impl BackendJob for Synthesize<'_> {
    fn run<B: AutodiffBackend + HostBackend>(self) -> Result<(), CliError> {
        synthesize::<B>(self.args, self.resumed)
    }
}

fn load_target(image: Option<&str>) -> Result<Array, CliError> {
    let Some(source) = image else {
        return Ok(io::default_image(DEFAULT_IMAGE_SIZE));
    };
    match source {
        "scene" => return Ok(io::default_image(DEFAULT_IMAGE_SIZE)),
        "texture" => return Ok(io::default_texture(DEFAULT_IMAGE_SIZE)),
        _ => {}
    }
    let path = Path::new(source);
    if !path.exists()
        && let Some(builtin) = io::builtin(source)
    {
        return Ok(builtin?);
    }
    let array = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        io::read_npy(path)?
    } else {
        io::load_image(path, true)?
    };
    match array.shape.len() {
        4 => Ok(array),
        2 => Ok(Array {
            shape: [vec![1, 1], array.shape].concat(),
            ..array
        }),
        _ => Err(CliError::Usage(format!(
            "{source} has shape {:?}; expected [height, width] or [batch, channel, height, width]",
            array.shape
        ))),
    }
}

/// A plain or coarse-to-fine synthesis; everything but synthesizing reads the [`Metamer`].
pub enum Synthesis<B: AutodiffBackend> {
    Plain(Metamer<B>),
    CoarseToFine(MetamerCtf<B>),
}

impl<B: AutodiffBackend> std::ops::Deref for Synthesis<B> {
    type Target = Metamer<B>;

    fn deref(&self) -> &Metamer<B> {
        match self {
            Self::Plain(met) => met,
            Self::CoarseToFine(met) => met,
        }
    }
}

impl<B: AutodiffBackend> Synthesis<B> {
    fn synthesize_with(
        &mut self,
        args: &SynthArgs,
        observe: impl FnMut(&Metamer<B>, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport, MetamerError> {
        let options = SynthesizeOptions {
            max_iter: args.max_iter,
            store_progress: args.store_progress,
            stop_criterion: args.stop_criterion,
            stop_iters_to_check: args.stop_iters_to_check,
        };
        match self {
            Self::Plain(met) => met.synthesize_with(options, observe),
            Self::CoarseToFine(met) => met.synthesize_with(
                CtfSynthesizeOptions {
                    synthesize: options,
                    change_scale_criterion: args.change_scale_criterion.0,
                    ctf_iters_to_check: args.ctf_iters_to_check,
                },
                observe,
            ),
        }
    }
}

/// The loss `args` ask for; the texture losses need the texture model and the target.
fn build_loss<B: AutodiffBackend + HostBackend>(
    args: &SynthArgs,
    model: &BuiltModel<B>,
    image: &Tensor<B::InnerBackend, 4>,
) -> Result<Loss<B>, CliError> {
    let texture = |name: &str| match model {
        BuiltModel::Texture(texture) => Ok(texture),
        BuiltModel::Other(_) => Err(CliError::Usage(format!(
            "--loss {name} weighs Portilla-Simoncelli statistics: it needs --model portilla_simoncelli"
        ))),
    };
    let target = || Tensor::<B, 4>::from_inner(image.clone());
    let model_error = |e: metamer::models::ModelError| CliError::Usage(e.to_string());
    Ok(match args.loss {
        LossChoice::Mse => Loss::mse(),
        LossChoice::L2 => Loss::l2_norm(),
        LossChoice::RelativeSse => Loss::relative_sse(),
        LossChoice::Ps | LossChoice::Groupwise if args.coarse_to_fine.is_some() => {
            return Err(CliError::Usage(
                "the texture losses weigh every statistic, so they cannot follow coarse-to-fine \
                 synthesis (plenoptic's neither); use --loss l2 as plenoptic's documentation does"
                    .to_string(),
            ));
        }
        LossChoice::Ps => {
            portilla_simoncelli_loss(texture("ps")?, target(), &[]).map_err(model_error)?
        }
        LossChoice::Groupwise => {
            groupwise_relative_l2_norm(texture("groupwise")?, target(), &[]).map_err(model_error)?
        }
    })
}

/// Refuses a dtype the device cannot compute in (float64 on many GPUs) before anything runs,
/// rather than failing inside a kernel.
fn check_dtype<B: Backend>(device: &B::Device, dtype: DType) -> Result<(), CliError> {
    if B::supports_dtype(device, dtype) {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "the {} device does not support {dtype:?}; use --dtype f32 or another --backend",
            B::name(device)
        )))
    }
}

/// The synthesis `args` describe, set up afresh or restored from `resumed`.
pub fn build_metamer<B: AutodiffBackend + HostBackend>(
    args: &SynthArgs,
    resumed: Option<&Snapshot>,
) -> Result<Synthesis<B>, CliError> {
    let device = Default::default();
    let dtype = match args.dtype {
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
        None => load_target(args.image.as_deref())?,
    };
    let image: Tensor<B::InnerBackend, 4> = target.to_tensor_as(dtype, &device)?;
    let [_, _, height, width] = image.dims();
    // Models draw their random parameters after seeding, as in a plenoptic script.
    metamer::set_seed(args.seed);
    let model = args
        .model
        .build::<B>([height, width], &device)
        .map_err(CliError::Usage)?;
    if !args.quiet {
        for warning in args.model.warnings() {
            eprintln!("warning: {warning}");
        }
    }
    let initial_image = match &args.init {
        Some(path) => {
            let array = io::read_npy(path)?;
            if array.values.len() != target.values.len() {
                return Err(CliError::Usage(format!(
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
        loss: build_loss(args, &model, &image)?,
        penalty: Penalty::range(args.range.0, args.range.1),
        penalty_lambda: args.penalty_lambda,
    };
    let optimizer = training::optimizer(args.optimizer, &args.optimizer_opt, args.lr)
        .map_err(CliError::Usage)?;
    let scheduler =
        training::scheduler(args.scheduler, &args.scheduler_opt).map_err(CliError::Usage)?;
    let setup = Setup {
        initial_image,
        optimizer: Some(optimizer),
        scheduler,
    };
    let model = model.boxed();
    let met = match args.coarse_to_fine {
        None => {
            let mut met = Metamer::<B>::with_options(image, model, options)?;
            match resumed {
                Some(snapshot) => met.load_snapshot(snapshot, &LoadOptions::default())?,
                None => met.setup(setup)?,
            };
            Synthesis::Plain(met)
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
            Synthesis::CoarseToFine(met)
        }
    };
    for warning in met.warnings() {
        print_warning(warning, args.quiet);
    }
    Ok(met)
}

fn synthesize<B: AutodiffBackend + HostBackend>(
    args: &SynthArgs,
    resumed: Option<&Snapshot>,
) -> Result<(), CliError> {
    let mut met = build_metamer::<B>(args, resumed)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.max_iter as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
            .expect("valid template"),
    );
    let stop = interruption_flag();
    let mut checkpoint_error = None;
    let outcome = met.synthesize_with(args, |met, info| {
        let done = met.gradient_norm().len();
        if args.checkpoint_every > 0
            && done.is_multiple_of(args.checkpoint_every)
            && let Err(error) = write_synthesis(met, args)
        {
            checkpoint_error = Some(error);
            return ControlFlow::Break(());
        }
        if stop.load(Ordering::SeqCst) {
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
            info.loss, info.learning_rate, info.penalty, info.gradient_norm, info.pixel_change_norm
        ));
        ControlFlow::Continue(())
    });
    bar.finish_and_clear();
    if let Some(error) = checkpoint_error {
        return Err(error);
    }

    // Whatever happened, keep what was computed.
    let converged = outcome.as_ref().map(|r| r.converged).unwrap_or(false);
    write_outputs(&met, args, converged)?;
    let report = outcome?;
    for warning in &report.warnings {
        print_warning(warning, args.quiet);
    }
    if report.interrupted {
        return Err(CliError::Interrupted {
            iterations: met.gradient_norm().len(),
            file: args.out.join(SYNTHESIS_FILE),
        });
    }
    if !args.quiet {
        let losses = met.losses()?;
        eprintln!(
            "{} iterations, loss {:.4e} -> {:.4e}; results in {}",
            met.gradient_norm().len(),
            losses.first().copied().unwrap_or(f64::NAN),
            losses.last().copied().unwrap_or(f64::NAN),
            args.out.display()
        );
    }
    Ok(())
}

fn print_warning(warning: &Warning, quiet: bool) {
    print_warning_line(&warning.to_string(), quiet);
}

pub fn print_warning_line(warning: &str, quiet: bool) {
    if !quiet {
        eprintln!("warning: {warning}");
    }
}

fn write_outputs<B: AutodiffBackend>(
    met: &Metamer<B>,
    args: &SynthArgs,
    converged: bool,
) -> Result<(), CliError> {
    let out = &args.out;
    std::fs::create_dir_all(out).map_err(|source| IoError::Write {
        path: out.clone(),
        source,
    })?;
    let Some(metamer) = met.metamer() else {
        return Ok(());
    };
    let array = Array::from_tensor(metamer.clone());
    io::write_npy(out.join("metamer.npy"), &array)?;
    io::write_png(out.join("metamer.png"), &array)?;
    let saved = met.saved_metamer();
    if args.store_progress > 0 && saved.len() > 1 {
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
            "image": args.image.clone().unwrap_or_else(|| "default".to_string()),
            "resumed_from": args.resume.as_ref().map(|p| p.display().to_string()),
            "model": args.model.describe(),
            "init": args.init.as_ref().map(|p| p.display().to_string()),
            "seed": args.seed,
            "max_iter": args.max_iter,
            "store_progress": args.store_progress,
            "stop_criterion": args.stop_criterion,
            "stop_iters_to_check": args.stop_iters_to_check,
            "lr": args.lr,
            "optimizer": met.optimizer().map(|o| o.name()),
            "optimizer_opt": args.optimizer_opt,
            "scheduler": args.scheduler.map(|s| format!("{s:?}").to_lowercase()),
            "scheduler_opt": args.scheduler_opt,
            "loss": met.loss_function().name(),
            "penalty_lambda": args.penalty_lambda,
            "range": [args.range.0, args.range.1],
            "backend": format!("{:?}", args.backend).to_lowercase(),
            "dtype": format!("{:?}", args.dtype).to_lowercase(),
            "coarse_to_fine": args.coarse_to_fine.map(|c| format!("{c:?}").to_lowercase()),
            "change_scale_criterion": args.change_scale_criterion.0,
            "ctf_iters_to_check": args.ctf_iters_to_check,
        },
    });
    if let Some(state) = met.coarse_to_fine_state() {
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
    write_synthesis(met, args)?;
    // Figures come last: the results above are safe whatever happens to them.
    let figures = crate::plot::Figures {
        status: Some(out.join("status.png")),
        animation: (args.store_progress > 0).then(|| out.join("animation.gif")),
    };
    match figures.write(met, &Default::default()) {
        Ok(warnings) => {
            for warning in warnings {
                print_warning_line(&warning.to_string(), args.quiet);
            }
        }
        Err(error) => print_warning_line(&format!("figures not written: {error}"), args.quiet),
    }
    Ok(())
}

/// The name of the saved synthesis in the output folder.
const SYNTHESIS_FILE: &str = "synthesis.safetensors";

/// Saves the synthesis with its replayable settings to `OUT/synthesis.safetensors`.
fn write_synthesis<B: AutodiffBackend>(met: &Metamer<B>, args: &SynthArgs) -> Result<(), CliError> {
    std::fs::create_dir_all(&args.out).map_err(|source| IoError::Write {
        path: args.out.clone(),
        source,
    })?;
    let settings = serde_json::to_string(&replay_arguments(args)).expect("strings serialize");
    let extra = [(SETTINGS_KEY.to_string(), settings)].into_iter().collect();
    io::save_synthesis(&args.out.join(SYNTHESIS_FILE), &met.snapshot()?, &extra)?;
    Ok(())
}

/// Set by Ctrl-C (SIGINT) or SIGTERM: the synthesis stops after the current iteration.
fn interruption_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    // Only the first synthesis of a process installs the handler; there is only one.
    let _ = ctrlc::set_handler(move || raised.store(true, Ordering::SeqCst));
    flag
}

#[cfg(test)]
mod tests {
    use super::*;

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
