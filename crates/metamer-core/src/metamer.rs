//! The synthesis loop: plenoptic's `Metamer`, generic over any autodiff backend.

use std::{fmt, ops::ControlFlow};

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};

use crate::{
    Loss, MetamerError, Model, Penalty, Representation, Result, Warning,
    optim::{Adam, AdamConfig, PixelOptimizer, State},
    progress::{IterationSelection, Progress},
    rng,
    schedule::LrScheduler,
    tensor::{rescale, scalar, to_f64},
    validate::{guarded, validate_input, validate_model, validate_penalty},
    warning::raise,
};

mod ctf;
mod host_objective;
mod run;
mod snapshot;

pub use ctf::{ALL_SCALES, CoarseToFine, CoarseToFineState, CtfSynthesizeOptions, MetamerCtf};
pub use snapshot::{Behaviour, LoadOptions, SNAPSHOT_VERSION, SavedDtype, Snapshot};

/// plenoptic's rule for `setup` after a load: the given object must be of the saved type.
fn check_same_type(what: &'static str, saved: &str, given: &str) -> Result<()> {
    if saved == given {
        Ok(())
    } else {
        Err(MetamerError::LoadedTypeMismatch {
            what,
            saved: saved.to_string(),
            given: given.to_string(),
        })
    }
}

/// What every kind of synthesis offers besides synthesizing: its [`Metamer`] to read, and a
/// snapshot to save that holds any state of its own (a [`MetamerCtf`]'s scales).
pub trait Synthesis<B: AutodiffBackend, const D: usize = 4> {
    /// The plain synthesis: images, histories and settings.
    fn as_metamer(&self) -> &Metamer<B, D>;

    /// The synthesis as plain values, for saving.
    ///
    /// # Errors
    /// When the model, loss or penalty fails on the saved image.
    fn snapshot(&self) -> Result<Snapshot>;

    /// Where a coarse-to-fine synthesis stands; `None` for a plain one.
    fn coarse_to_fine_state(&self) -> Option<&CoarseToFineState> {
        None
    }
}

impl<B: AutodiffBackend, const D: usize> Synthesis<B, D> for Metamer<B, D> {
    fn as_metamer(&self) -> &Metamer<B, D> {
        self
    }

    fn snapshot(&self) -> Result<Snapshot> {
        Metamer::snapshot(self)
    }
}

/// The plain (non-autodiff) backend under `B`, where pixels and histories live.
pub type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// How the objective is built: `loss(model(metamer), target) + penalty_lambda · penalty(metamer)`.
pub struct MetamerOptions<B: AutodiffBackend, const D: usize = 4> {
    /// Compares the representations; plenoptic's default is the mean squared error.
    pub loss: Loss<B>,
    /// Keeps pixels in range; plenoptic's default penalises values outside [0, 1].
    pub penalty: Penalty<B, D>,
    /// Weight of the penalty; must be non-negative.
    pub penalty_lambda: f64,
}

impl<B: AutodiffBackend, const D: usize> Default for MetamerOptions<B, D> {
    fn default() -> Self {
        Self {
            loss: Loss::mse(),
            penalty: Penalty::range(0.0, 1.0),
            penalty_lambda: 0.1,
        }
    }
}

/// What `setup` starts from; every field defaults to plenoptic's choice.
pub struct Setup<B: AutodiffBackend, const D: usize = 4> {
    /// The starting pixels; `None` draws uniform noise from the global generator, rescaled to [0,
    /// 1].
    pub initial_image: Option<Tensor<Inner<B>, D>>,
    /// `None` uses Adam(lr 0.01, AMSGrad).
    pub optimizer: Option<Box<dyn PixelOptimizer<Inner<B>, D>>>,
    /// `None` keeps the learning rate fixed.
    pub scheduler: Option<Box<dyn LrScheduler>>,
}

impl<B: AutodiffBackend, const D: usize> Default for Setup<B, D> {
    fn default() -> Self {
        Self {
            initial_image: None,
            optimizer: None,
            scheduler: None,
        }
    }
}

/// Arguments of [`Metamer::synthesize`], with plenoptic's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesizeOptions {
    /// Iterations to run in this call.
    pub max_iter: usize,
    /// Save the metamer every this many iterations; 0 saves nothing (plenoptic's `False`),
    /// 1 saves every iteration (`True`). Must stay the same across calls.
    pub store_progress: usize,
    /// Stop when the loss changed less than this over `stop_iters_to_check` iterations.
    pub stop_criterion: f64,
    /// Iterations over which `stop_criterion` is checked.
    pub stop_iters_to_check: usize,
}

impl Default for SynthesizeOptions {
    fn default() -> Self {
        Self {
            max_iter: 100,
            store_progress: 0,
            stop_criterion: 1e-4,
            stop_iters_to_check: 50,
        }
    }
}

/// One finished iteration, as shown by a progress display.
#[derive(Clone, Debug, PartialEq)]
pub struct IterationInfo {
    /// Global iteration number (0-based) across `synthesize` calls.
    pub iteration: usize,
    /// The objective (loss plus weighted penalty) before this iteration's step.
    pub loss: f64,
    /// The learning rate this iteration's step used.
    pub learning_rate: f64,
    /// The penalty before this iteration's step.
    pub penalty: f64,
    /// L2 norm of the objective's gradient with respect to the pixels.
    pub gradient_norm: f64,
    /// L2 norm of the change this iteration's step made to the pixels.
    pub pixel_change_norm: f64,
    /// Coarse-to-fine only: the scale optimised and the loss on its statistics.
    pub scale: Option<(String, f64)>,
}

/// How a `synthesize` call ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesisReport {
    /// Iterations this call ran.
    pub iterations: usize,
    /// Whether it stopped because the loss stopped changing.
    pub converged: bool,
    /// The observer asked to stop early (e.g. on Ctrl-C).
    pub interrupted: bool,
    /// Warnings raised during the call (also kept in [`Metamer::warnings`]).
    pub warnings: Vec<Warning>,
}

/// Synthesizes a model metamer: an image whose representation matches the target image's.
///
/// # Example
/// A model that sees only the mean of each row: a metamer matches the row means of the
/// target image, whatever it does within each row.
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::Tensor;
/// use metamer_core::{Metamer, Representation, SynthesizeOptions, set_seed};
///
/// # fn main() -> metamer_core::Result<()> {
/// set_seed(0);
/// let values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// let device = Default::default();
/// let image = Tensor::<NdArray, 1>::from_floats(values, &device).reshape([1, 1, 2, 3]);
/// let row_means = |x: Tensor<Autodiff<NdArray>, 4>| Representation::from(x.mean_dim(3));
/// let mut met = Metamer::<Autodiff<NdArray>>::new(image, row_means)?;
/// let report = met.synthesize(SynthesizeOptions { max_iter: 300, ..Default::default() })?;
/// let losses = met.losses()?;
/// assert_eq!(report.iterations + 1, losses.len());
/// assert!(losses[losses.len() - 1] < losses[0] / 10.0);
/// # Ok(())
/// # }
/// ```
pub struct Metamer<B: AutodiffBackend, const D: usize = 4> {
    image: Tensor<Inner<B>, D>,
    model: Box<dyn Model<B, D>>,
    loss: Loss<B>,
    penalty: Penalty<B, D>,
    penalty_lambda: f64,
    target: Representation<B>,
    metamer: Option<Tensor<Inner<B>, D>>,
    optimizer: Option<Box<dyn PixelOptimizer<Inner<B>, D>>>,
    scheduler: Option<Box<dyn LrScheduler>>,
    losses: Vec<f64>,
    penalties: Vec<f64>,
    gradient_norm: Vec<f64>,
    pixel_change_norm: Vec<f64>,
    learning_rate: Vec<f64>,
    saved: Vec<Tensor<Inner<B>, D>>,
    store_progress: Option<usize>,
    current: Option<(f64, f64)>,
    warnings: Vec<Warning>,
    /// Set by a load: `setup` may then only replace the optimizer or scheduler.
    loaded: bool,
    /// Loaded optimizer and scheduler states with no built-in owner, for `setup` to hand over.
    pending: (Option<State>, Option<State>),
}

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    /// A synthesis with plenoptic's defaults: MSE loss, range penalty, `penalty_lambda` 0.1.
    ///
    /// # Errors
    /// As [`Metamer::with_options`].
    pub fn new(image: Tensor<Inner<B>, D>, model: impl Model<B, D> + 'static) -> Result<Self> {
        Self::with_options(image, model, MetamerOptions::default())
    }

    /// Validates the image, model and penalty (drawing one noise image from the global
    /// generator, as plenoptic does), then computes the target representation.
    ///
    /// # Errors
    /// When the image is empty or not finite, the model cannot run on it, or the model, loss or
    /// penalty fails plenoptic's checks (see [`MetamerError`]).
    pub fn with_options(
        image: Tensor<Inner<B>, D>,
        model: impl Model<B, D> + 'static,
        options: MetamerOptions<B, D>,
    ) -> Result<Self> {
        let MetamerOptions {
            loss,
            penalty,
            penalty_lambda,
        } = options;
        if penalty_lambda.is_nan() || penalty_lambda < 0.0 {
            return Err(MetamerError::NegativePenaltyLambda(penalty_lambda));
        }
        let warnings = validate_input(&image, "image")?;
        let (shape, dtype, device) = (image.dims(), image.dtype(), image.device());
        if let Some(message) = model.check_input(&shape) {
            return Err(MetamerError::ModelInput {
                model: model.name(),
                shape: shape.to_vec(),
                message,
            });
        }
        validate_model::<B, D>(&model, shape, dtype, &device)?;
        validate_penalty::<B, D>(&penalty, shape, dtype, &device)?;
        let target = guarded("model", &shape, || {
            model.forward(Tensor::from_inner(image.clone()))
        })?;
        if to_f64(target.flat().clone().inner())
            .iter()
            .any(|v| !v.is_finite())
        {
            return Err(MetamerError::NonFinite {
                what: "target representation",
            });
        }
        let self_check = guarded("loss_function", target.shape(), || {
            loss.compute(&target, &target)
        })?;
        if self_check.dims()[0] != 1 {
            return Err(MetamerError::LossNotScalar(self_check.dims().to_vec()));
        }
        Ok(Self {
            image,
            model: Box::new(model),
            loss,
            penalty,
            penalty_lambda,
            target,
            metamer: None,
            optimizer: None,
            scheduler: None,
            losses: Vec::new(),
            penalties: Vec::new(),
            gradient_norm: Vec::new(),
            pixel_change_norm: Vec::new(),
            learning_rate: Vec::new(),
            saved: Vec::new(),
            store_progress: None,
            current: None,
            warnings,
            loaded: false,
            pending: (None, None),
        })
    }

    /// Sets the initial metamer, optimizer and scheduler; once only, before `synthesize`.
    ///
    /// After a load, `setup` may give a fresh optimizer or scheduler of the saved type: it
    /// receives the saved state (plenoptic's rule); an initial image is refused.
    ///
    /// # Errors
    /// When called twice or after `synthesize`, when the initial image does not fit the target
    /// image, or after a load with an optimizer or scheduler of another kind than was saved.
    pub fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        if self.loaded && self.metamer.is_some() {
            return self.setup_after_load(setup);
        }
        if self.metamer.is_some() {
            return Err(MetamerError::SetupTwice);
        }
        let mut warnings = Vec::new();
        let metamer = match setup.initial_image {
            None => {
                let noise = rng::rand::<Inner<B>, D>(
                    self.image.dims(),
                    self.image.dtype(),
                    &self.image.device(),
                );
                rescale(noise, 0.0, 1.0)
            }
            Some(initial) => {
                warnings.extend(validate_input(&initial, "initial_image")?);
                let (initial_shape, shape) = (initial.dims(), self.image.dims());
                if initial_shape != shape {
                    let (got, expected) = (
                        initial_shape.iter().product::<usize>(),
                        shape.iter().product::<usize>(),
                    );
                    if got != expected {
                        return Err(MetamerError::InitialImageSize { got, expected });
                    }
                    warnings.push(raise(Warning::InitialImageShape {
                        initial: initial_shape.to_vec(),
                        image: shape.to_vec(),
                    }));
                }
                initial
                    .reshape(shape)
                    .cast(self.image.dtype())
                    .to_device(&self.image.device())
            }
        };
        self.metamer = Some(metamer);
        self.optimizer = Some(
            setup
                .optimizer
                .unwrap_or_else(|| Box::new(Adam::new(AdamConfig::plenoptic()))),
        );
        self.scheduler = setup.scheduler;
        self.warnings.extend(warnings.iter().cloned());
        Ok(warnings)
    }

    fn setup_after_load(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        if setup.initial_image.is_some() {
            return Err(MetamerError::InitialImageAfterLoad);
        }
        let (device, dtype) = (self.image.device(), self.image.dtype());
        if let Some(mut optimizer) = setup.optimizer {
            let saved = match self.pending.0.take() {
                Some(pending) => Some(pending),
                None => self.optimizer.as_ref().map(|o| o.state()),
            };
            if let Some(saved) = saved {
                check_same_type("optimizer", &saved.name, optimizer.name())?;
                optimizer.load_state(&saved, &device, dtype)?;
            }
            self.optimizer = Some(optimizer);
        }
        if let Some(mut scheduler) = setup.scheduler {
            let saved = match self.pending.1.take() {
                Some(pending) => Some(pending),
                None => self.scheduler.as_ref().map(|s| s.state()),
            };
            if let Some(saved) = saved {
                check_same_type("scheduler", &saved.name, scheduler.name())?;
                scheduler.load_state(&saved)?;
            }
            self.scheduler = Some(scheduler);
        }
        Ok(Vec::new())
    }

    /// Runs up to `max_iter` iterations, continuing any earlier synthesis.
    ///
    /// # Errors
    /// As [`Metamer::synthesize_with`].
    pub fn synthesize(&mut self, options: SynthesizeOptions) -> Result<SynthesisReport> {
        self.synthesize_with(options, |_, _| ControlFlow::Continue(()))
    }

    /// As [`Metamer::synthesize`], calling `observe` with the synthesis after every iteration
    /// (for progress bars and checkpoints); `ControlFlow::Break` stops after that iteration,
    /// leaving a synthesis that continues exactly where it stopped.
    ///
    /// # Errors
    /// When `store_progress` differs from an earlier call's, a loaded state was not handed to a
    /// new optimizer or scheduler, the objective fails, or the loss becomes NaN or infinite
    /// ([`MetamerError::NanLoss`]).
    pub fn synthesize_with(
        &mut self,
        options: SynthesizeOptions,
        observe: impl FnMut(&Self, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport> {
        run::run(self, options, observe)
    }

    /// The objective and penalty (with their graph) at `pixels` against `target`.
    fn evaluate(
        &self,
        pixels: Tensor<B, D>,
        target: &Representation<B>,
        scales: Option<&[String]>,
    ) -> Result<(Tensor<B, 1>, Tensor<B, 1>)> {
        let shape = pixels.dims();
        let representation = self.represent(pixels.clone(), target, scales)?;
        let loss = guarded("loss_function", representation.shape(), || {
            self.loss.compute(&representation, target)
        })?;
        let penalty = guarded("penalty_function", &shape, || {
            self.penalty.compute(pixels.clone())
        })?;
        let (loss, penalty) =
            self.with_host_values(&representation, target, &pixels, loss, penalty);
        let objective = loss.add(penalty.clone().mul_scalar(self.penalty_lambda));
        Ok((objective, penalty))
    }

    /// The model's representation of `pixels` (at `scales`, when given), checked against the
    /// target's size.
    fn represent(
        &self,
        pixels: Tensor<B, D>,
        target: &Representation<B>,
        scales: Option<&[String]>,
    ) -> Result<Representation<B>> {
        let representation = guarded("model", &pixels.dims(), || match scales {
            Some(scales) => self.model.forward_scales(pixels.clone(), scales),
            None => self.model.forward(pixels.clone()),
        })?;
        if representation.num_elements() != target.num_elements() {
            return Err(MetamerError::RepresentationMismatch {
                synth: representation.shape().to_vec(),
                target: target.shape().to_vec(),
            });
        }
        Ok(representation)
    }

    /// `loss(model(metamer), target) + λ·penalty(metamer)` with its graph, for the current metamer
    /// or the one given; `None` before setup when no metamer is given.
    ///
    /// # Errors
    /// When the model, loss or penalty fails on the metamer.
    pub fn objective_function(
        &self,
        metamer: Option<Tensor<Inner<B>, D>>,
        target: Option<&Representation<B>>,
    ) -> Result<Option<Tensor<B, 1>>> {
        let Some(pixels) = metamer.or_else(|| self.metamer.clone()) else {
            return Ok(None);
        };
        let target = target.unwrap_or(&self.target);
        let (objective, _) = self.evaluate(Tensor::from_inner(pixels), target, None)?;
        Ok(Some(objective))
    }

    /// Moves and casts the image, target, metamer, saved metamers and optimizer state (plenoptic's
    /// `to`), so synthesis can continue in another precision or on another device of the same
    /// backend. Models are expected to follow their input's dtype and device, as ours do.
    pub fn to(&mut self, device: &burn::tensor::Device<Inner<B>>, dtype: DType) {
        let convert = |t: Tensor<Inner<B>, D>| t.cast(dtype).to_device(device);
        self.image = self.image.clone().cast(dtype).to_device(device);
        self.metamer = self.metamer.take().map(convert);
        self.saved = self.saved.drain(..).map(convert).collect();
        let autodiff_device = Tensor::<B, D>::from_inner(self.image.clone()).device();
        self.target = self
            .target
            .clone()
            .map(|t| t.cast(dtype).to_device(&autodiff_device));
        if let Some(optimizer) = self.optimizer.as_mut() {
            optimizer.to(device, dtype);
        }
        self.current = None;
    }

    /// The current objective and penalty: cached after `synthesize`, else computed now.
    fn current_values(&self) -> Result<Option<(f64, f64)>> {
        if let Some(current) = self.current {
            return Ok(Some(current));
        }
        let Some(pixels) = self.metamer.clone() else {
            return Ok(None);
        };
        let (objective, penalty) = self.evaluate(Tensor::from_inner(pixels), &self.target, None)?;
        Ok(Some((scalar(objective.inner()), scalar(penalty.inner()))))
    }

    /// Objective before each iteration, then at the current metamer (length iterations + 1).
    ///
    /// # Errors
    /// When the objective at the current metamer cannot be computed.
    pub fn losses(&self) -> Result<Vec<f64>> {
        Ok(match self.current_values()? {
            Some((loss, _)) => self.losses.iter().copied().chain([loss]).collect(),
            None => Vec::new(),
        })
    }

    /// Penalty before each iteration, then at the current metamer (length iterations + 1).
    ///
    /// # Errors
    /// When the objective at the current metamer cannot be computed.
    pub fn penalties(&self) -> Result<Vec<f64>> {
        Ok(match self.current_values()? {
            Some((_, penalty)) => self.penalties.iter().copied().chain([penalty]).collect(),
            None => Vec::new(),
        })
    }

    /// ‖∇objective‖₂ at the state before each iteration.
    pub fn gradient_norm(&self) -> &[f64] {
        &self.gradient_norm
    }

    /// ‖state k+1 − state k‖₂ for each iteration k.
    pub fn pixel_change_norm(&self) -> &[f64] {
        &self.pixel_change_norm
    }

    /// The learning rate each iteration's step used (schedulers change it after the step).
    pub fn learning_rate(&self) -> &[f64] {
        &self.learning_rate
    }

    /// Saved metamers (every `store_progress` iterations) followed by the current one; empty
    /// before setup.
    pub fn saved_metamer(&self) -> Vec<Tensor<Inner<B>, D>> {
        match &self.metamer {
            Some(current) => self
                .saved
                .iter()
                .cloned()
                .chain([current.clone()])
                .collect(),
            None => Vec::new(),
        }
    }

    /// Losses, penalties, norms and (with `store_progress`) the saved metamer at `iteration`
    /// (`None` is the current state, negative values count from the end).
    ///
    /// # Errors
    /// When `iteration` is outside the history ([`MetamerError::IterationOutOfBounds`]).
    pub fn get_progress(
        &self,
        iteration: Option<i64>,
        selection: IterationSelection,
    ) -> Result<Progress<Inner<B>, D>> {
        let losses = self.losses()?;
        let penalties = self.penalties()?;
        Progress::select(
            iteration,
            selection,
            &losses,
            &penalties,
            &self.gradient_norm,
            &self.pixel_change_norm,
            self.store_progress.unwrap_or(0),
            &self.saved_metamer(),
        )
    }

    /// The target image.
    pub fn image(&self) -> &Tensor<Inner<B>, D> {
        &self.image
    }

    /// The model whose representation the metamer matches.
    pub fn model(&self) -> &dyn Model<B, D> {
        self.model.as_ref()
    }

    /// The loss between representations.
    pub fn loss_function(&self) -> &Loss<B> {
        &self.loss
    }

    /// The penalty on the metamer's pixels.
    pub fn penalty_function(&self) -> &Penalty<B, D> {
        &self.penalty
    }

    /// The model's representation of the target image.
    pub fn target_representation(&self) -> &Representation<B> {
        &self.target
    }

    /// Replaces the target representation (e.g. to study a perturbed target).
    pub fn set_target_representation(&mut self, target: Representation<B>) {
        self.target = target;
    }

    /// The metamer being optimised; `None` before setup.
    pub fn metamer(&self) -> Option<&Tensor<Inner<B>, D>> {
        self.metamer.as_ref()
    }

    /// Weight of the penalty in the objective.
    pub fn penalty_lambda(&self) -> f64 {
        self.penalty_lambda
    }

    /// `store_progress` of the first `synthesize` call; `None` before it.
    pub fn store_progress(&self) -> Option<usize> {
        self.store_progress
    }

    /// The optimizer; `None` before setup.
    pub fn optimizer(&self) -> Option<&dyn PixelOptimizer<Inner<B>, D>> {
        self.optimizer.as_deref()
    }

    /// Every warning raised so far, oldest first.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The dtype of the image, metamer and histories.
    pub fn dtype(&self) -> DType {
        self.image.dtype()
    }
}

impl<B: AutodiffBackend, const D: usize> fmt::Display for Metamer<B, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Metamer(")?;
        writeln!(
            f,
            "  image = {:?} ({:?}),",
            self.image.dims(),
            self.image.dtype()
        )?;
        writeln!(f, "  model = {},", self.model.name())?;
        writeln!(f, "  loss_function = {},", self.loss.name())?;
        writeln!(f, "  penalty_function = {},", self.penalty.name())?;
        writeln!(f, "  penalty_lambda = {:?},", self.penalty_lambda)?;
        write!(f, ")")
    }
}
