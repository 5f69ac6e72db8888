//! The synthesis loop: plenoptic's `Metamer`, generic over any autodiff backend.

use std::{fmt, ops::ControlFlow};

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};

use crate::{
    Loss, MetamerError, Model, Penalty, Representation, Result, Warning,
    optim::{Adam, AdamConfig, Evaluation, PixelOptimizer, State},
    progress::{IterationSelection, Progress},
    rng,
    schedule::LrScheduler,
    tensor::{l2_norm_all, rescale, scalar, to_f64},
    validate::{guarded, validate_input, validate_model, validate_penalty},
    warning::raise,
};

mod ctf;
mod snapshot;

use ctf::CtfRun;
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

/// The plain (non-autodiff) backend under `B`, where pixels and histories live.
pub type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// How the objective is built: `loss(model(metamer), target) + penalty_lambda · penalty(metamer)`.
pub struct MetamerOptions<B: AutodiffBackend, const D: usize = 4> {
    pub loss: Loss<B>,
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
    /// The starting pixels; `None` draws uniform noise from the global generator, rescaled to [0, 1].
    pub initial_image: Option<Tensor<Inner<B>, D>>,
    /// `None` uses Adam(lr 0.01, AMSGrad).
    pub optimizer: Option<Box<dyn PixelOptimizer<Inner<B>, D>>>,
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
    pub max_iter: usize,
    /// Save the metamer every this many iterations; 0 saves nothing (plenoptic's `False`),
    /// 1 saves every iteration (`True`). Must stay the same across calls.
    pub store_progress: usize,
    /// Stop when the loss changed less than this over `stop_iters_to_check` iterations.
    pub stop_criterion: f64,
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
    pub loss: f64,
    /// The learning rate this iteration's step used.
    pub learning_rate: f64,
    pub penalty: f64,
    pub gradient_norm: f64,
    pub pixel_change_norm: f64,
    /// Coarse-to-fine only: the scale optimised and the loss on its statistics.
    pub scale: Option<(String, f64)>,
}

/// How a `synthesize` call ended.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthesisReport {
    pub iterations: usize,
    pub converged: bool,
    /// The observer asked to stop early (e.g. on Ctrl-C).
    pub interrupted: bool,
    pub warnings: Vec<Warning>,
}

/// Synthesizes a model metamer: an image whose representation matches the target image's.
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
    /// Coarse-to-fine bookkeeping, for a [`MetamerCtf`].
    ctf: Option<CoarseToFineState>,
    /// The target's statistics at the current scales, once computed.
    ctf_target: Option<Representation<B>>,
}

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    /// A synthesis with plenoptic's defaults: MSE loss, range penalty, `penalty_lambda` 0.1.
    pub fn new(image: Tensor<Inner<B>, D>, model: impl Model<B, D> + 'static) -> Result<Self> {
        Self::with_options(image, model, MetamerOptions::default())
    }

    /// Validates the image, model and penalty (drawing one noise image from the global
    /// generator, as plenoptic does), then computes the target representation.
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
            ctf: None,
            ctf_target: None,
        })
    }

    /// Sets the initial metamer, optimizer and scheduler; once only, before `synthesize`.
    ///
    /// After a load, `setup` may give a fresh optimizer or scheduler of the saved type: it
    /// receives the saved state (plenoptic's rule); an initial image is refused.
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
        if let (Some(state), Some(optimizer)) = (self.ctf.as_mut(), self.optimizer.as_ref()) {
            state.initial_lr = Some(optimizer.learning_rate());
        }
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
    pub fn synthesize(&mut self, options: SynthesizeOptions) -> Result<SynthesisReport> {
        self.synthesize_with(options, |_, _| ControlFlow::Continue(()))
    }

    /// As [`Metamer::synthesize`], calling `observe` with the synthesis after every iteration
    /// (for progress bars and checkpoints); `ControlFlow::Break` stops after that iteration,
    /// leaving a synthesis that continues exactly where it stopped.
    pub fn synthesize_with(
        &mut self,
        options: SynthesizeOptions,
        observe: impl FnMut(&Self, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport> {
        self.run(options, None, observe)
    }

    /// The synthesis loop; `ctf` carries a coarse-to-fine call's own arguments.
    fn run(
        &mut self,
        options: SynthesizeOptions,
        ctf: Option<CtfRun>,
        mut observe: impl FnMut(&Self, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport> {
        if self.metamer.is_none() {
            self.setup(Setup::default())?;
        }
        for (what, pending) in [
            ("optimizer", &self.pending.0),
            ("scheduler", &self.pending.1),
        ] {
            if let Some(state) = pending {
                return Err(MetamerError::UnrestoredState {
                    what,
                    name: state.name.clone(),
                });
            }
        }
        self.current = None;
        if let Some(old) = self.store_progress
            && old != options.store_progress
        {
            return Err(MetamerError::StoreProgressChanged {
                new: options.store_progress,
                old,
            });
        }
        self.store_progress = Some(options.store_progress);
        let mut report = SynthesisReport {
            iterations: 0,
            converged: false,
            interrupted: false,
            warnings: Vec::new(),
        };
        for call_iteration in 0..options.max_iter {
            let iteration = self.losses.len();
            self.store(iteration);
            let info = self.optimizer_step(ctf.as_ref())?;
            report.iterations += 1;
            if !info.loss.is_finite() {
                return Err(MetamerError::NanLoss {
                    iteration,
                    loss: info.loss,
                });
            }
            if observe(self, &info).is_break() {
                report.interrupted = true;
                break;
            }
            if self.converged(options.stop_criterion, options.stop_iters_to_check)
                && ctf
                    .as_ref()
                    .is_none_or(|run| self.ctf_long_enough(call_iteration, run))
            {
                report.converged = true;
                report
                    .warnings
                    .push(raise(Warning::Converged { iteration }));
                break;
            }
        }
        let pixels = self.metamer.clone().expect("set up above");
        let (objective, penalty) = self.evaluate(Tensor::from_inner(pixels), &self.target, None)?;
        let loss = scalar(objective.inner());
        self.current = Some((loss, scalar(penalty.inner())));
        self.warnings.extend(report.warnings.iter().cloned());
        // The last step's result is checked like every other: a run must not end in NaN quietly.
        if !loss.is_finite() {
            return Err(MetamerError::NanLoss {
                iteration: self.losses.len(),
                loss,
            });
        }
        Ok(report)
    }

    fn store(&mut self, iteration: usize) {
        if let (Some(every), Some(pixels)) = (self.store_progress, &self.metamer)
            && every > 0
            && iteration.is_multiple_of(every)
        {
            self.saved.push(pixels.clone());
        }
    }

    fn optimizer_step(&mut self, ctf: Option<&CtfRun>) -> Result<IterationInfo> {
        let previous = self.metamer.clone().expect("set up before stepping");
        let scales = match ctf {
            Some(run) => {
                self.switch_scale(run);
                self.current_scales()
            }
            None => None,
        };
        // Coarse-to-fine records the full objective, evaluated before the step, while the
        // optimizer sees only the current scales.
        let (target, overall) = match &scales {
            None => (self.target.clone(), None),
            Some(scales) => {
                let target = match &self.ctf_target {
                    Some(target) => target.clone(),
                    None => {
                        let image = Tensor::<B, D>::from_inner(self.image.clone());
                        let target = guarded("model", &self.image.dims(), || {
                            self.model.forward_scales(image, scales)
                        })?;
                        self.ctf_target = Some(target.clone());
                        target
                    }
                };
                let (objective, _) =
                    self.evaluate(Tensor::from_inner(previous.clone()), &self.target, None)?;
                (target, Some(scalar(objective.inner())))
            }
        };
        let mut optimizer = self.optimizer.take().expect("set up before stepping");
        let learning_rate = optimizer.learning_rate();
        let mut first: Option<(f64, f64)> = None;
        let mut last_gradient = None;
        let stepped = {
            let mut objective = |pixels: Tensor<Inner<B>, D>| -> Result<Evaluation<Inner<B>, D>> {
                let tracked = Tensor::<B, D>::from_inner(pixels).require_grad();
                let (objective, penalty) =
                    self.evaluate(tracked.clone(), &target, scales.as_deref())?;
                let gradients = objective.backward();
                let gradient = tracked
                    .grad(&gradients)
                    .unwrap_or_else(|| tracked.clone().inner().zeros_like());
                let values = to_f64(Tensor::cat(vec![objective.inner(), penalty.inner()], 0));
                let evaluation = Evaluation {
                    objective: values[0],
                    penalty: values[1],
                    gradient: gradient.clone(),
                };
                first.get_or_insert((values[0], values[1]));
                last_gradient = Some(gradient);
                Ok(evaluation)
            };
            optimizer.step(previous.clone(), &mut objective)
        };
        self.optimizer = Some(optimizer);
        let pixels = stepped?;
        let (loss, penalty) = first.expect("optimizers evaluate the objective at least once");
        let gradient = last_gradient.expect("evaluated at least once");
        let norms = to_f64(Tensor::cat(
            vec![
                l2_norm_all(gradient),
                l2_norm_all(pixels.clone().sub(previous)),
            ],
            0,
        ));
        self.metamer = Some(pixels);
        let optimizer = self.optimizer.as_mut().expect("restored above");
        if let Some(scheduler) = self.scheduler.as_mut() {
            let lr = scheduler.step(optimizer.learning_rate(), loss);
            optimizer.set_learning_rate(lr);
        }
        let overall = overall.unwrap_or(loss);
        let scale = match (ctf, self.ctf.as_mut()) {
            (Some(_), Some(state)) => {
                state.scales_loss.push(loss);
                Some((state.scales[0].clone(), loss))
            }
            _ => None,
        };
        self.losses.push(overall);
        self.penalties.push(penalty);
        self.gradient_norm.push(norms[0]);
        self.pixel_change_norm.push(norms[1]);
        self.learning_rate.push(learning_rate);
        Ok(IterationInfo {
            iteration: self.losses.len() - 1,
            loss: overall,
            learning_rate,
            penalty,
            gradient_norm: norms[0],
            pixel_change_norm: norms[1],
            scale,
        })
    }

    /// plenoptic's rule: the loss `k − 1` iterations ago and the latest differ by less than the
    /// criterion (with `k = 0`, Python's `losses[-0]` is the first loss).
    fn converged(&self, stop_criterion: f64, k: usize) -> bool {
        let h = &self.losses;
        if h.len() <= k {
            return false;
        }
        let earlier = if k == 0 { 0 } else { h.len() - k };
        (h[earlier] - h[h.len() - 1]).abs() < stop_criterion
    }

    /// The objective and penalty (with their graph) at `pixels` against `target`.
    fn evaluate(
        &self,
        pixels: Tensor<B, D>,
        target: &Representation<B>,
        scales: Option<&[String]>,
    ) -> Result<(Tensor<B, 1>, Tensor<B, 1>)> {
        let shape = pixels.dims();
        let representation = guarded("model", &shape, || match scales {
            Some(scales) => self.model.forward_scales(pixels.clone(), scales),
            None => self.model.forward(pixels.clone()),
        })?;
        if representation.num_elements() != target.num_elements() {
            return Err(MetamerError::RepresentationMismatch {
                synth: representation.shape().to_vec(),
                target: target.shape().to_vec(),
            });
        }
        let loss = guarded("loss_function", representation.shape(), || {
            self.loss.compute(&representation, target)
        })?;
        let penalty = guarded("penalty_function", &shape, || self.penalty.compute(pixels))?;
        let objective = loss.add(penalty.clone().mul_scalar(self.penalty_lambda));
        Ok((objective, penalty))
    }

    /// `loss(model(metamer), target) + λ·penalty(metamer)` with its graph, for the current metamer
    /// or the one given; `None` before setup when no metamer is given.
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
        self.ctf_target = None;
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
    pub fn losses(&self) -> Result<Vec<f64>> {
        Ok(match self.current_values()? {
            Some((loss, _)) => self.losses.iter().copied().chain([loss]).collect(),
            None => Vec::new(),
        })
    }

    /// Penalty before each iteration, then at the current metamer (length iterations + 1).
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

    pub fn image(&self) -> &Tensor<Inner<B>, D> {
        &self.image
    }

    pub fn model(&self) -> &dyn Model<B, D> {
        self.model.as_ref()
    }

    pub fn loss_function(&self) -> &Loss<B> {
        &self.loss
    }

    pub fn penalty_function(&self) -> &Penalty<B, D> {
        &self.penalty
    }

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

    pub fn penalty_lambda(&self) -> f64 {
        self.penalty_lambda
    }

    /// `store_progress` of the first `synthesize` call; `None` before it.
    pub fn store_progress(&self) -> Option<usize> {
        self.store_progress
    }

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
