//! Coarse-to-fine synthesis (plenoptic's `MetamerCTF`): the optimizer first
//! sees only the coarsest statistics, then each finer scale in turn, then all of them, while
//! the recorded loss is always the full objective.

use std::{fmt, ops::ControlFlow, str::FromStr};

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use serde::{Deserialize, Serialize};

use super::run::{self, Driver, Restriction};
use super::{
    Inner, IterationInfo, LoadOptions, Metamer, MetamerOptions, Setup, Snapshot, Synthesis,
    SynthesisReport,
};
use crate::{
    MetamerError, Model, Representation, Result, SynthesizeOptions, Warning, validate::guarded,
};

/// The scale name of the last stage, where every statistic is optimised.
pub const ALL_SCALES: &str = "all";

/// Whether finished scales stay in the objective (`Together`) or drop out (`Separate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoarseToFine {
    /// Every scale so far stays in the objective (plenoptic's default).
    Together,
    /// Only the current scale is in the objective.
    Separate,
}

impl fmt::Display for CoarseToFine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CoarseToFine::Together => "together",
            CoarseToFine::Separate => "separate",
        })
    }
}

impl FromStr for CoarseToFine {
    type Err = MetamerError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "together" => Ok(CoarseToFine::Together),
            "separate" => Ok(CoarseToFine::Separate),
            other => Err(MetamerError::CoarseToFineMode(other.to_string())),
        }
    }
}

/// Where a coarse-to-fine synthesis stands (saved with it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoarseToFineState {
    /// Whether finished scales stay in the objective.
    pub mode: CoarseToFine,
    /// Scales not finished yet, the current one first; the last is always `"all"`.
    pub scales: Vec<String>,
    /// Finished scales, in the order they finished.
    pub scales_finished: Vec<String>,
    /// The loss on the current scales' statistics, per iteration.
    pub scales_loss: Vec<f64>,
    /// For each scale, coarse to fine: the iteration it started and the one it finished.
    pub scales_timing: Vec<(String, Vec<usize>)>,
    /// The learning rate every scale change restores.
    pub initial_lr: Option<f64>,
}

impl CoarseToFineState {
    /// plenoptic's scale list: the model's scales, the finest left out when `Together`
    /// (it is only ever optimised with all the others), then `"all"`.
    fn new(model_scales: &[String], mode: CoarseToFine) -> Self {
        let kept = match mode {
            CoarseToFine::Together => &model_scales[..model_scales.len().saturating_sub(1)],
            CoarseToFine::Separate => model_scales,
        };
        let scales: Vec<String> = kept
            .iter()
            .cloned()
            .chain([ALL_SCALES.to_string()])
            .collect();
        let scales_timing = scales
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), if i == 0 { vec![0] } else { Vec::new() }))
            .collect();
        Self {
            mode,
            scales,
            scales_finished: Vec::new(),
            scales_loss: Vec::new(),
            scales_timing,
            initial_lr: None,
        }
    }

    /// The start and end iterations recorded for `scale` (empty for scales not reached).
    pub fn timing(&self, scale: &str) -> &[usize] {
        self.scales_timing
            .iter()
            .find(|(s, _)| s == scale)
            .map(|(_, t)| t.as_slice())
            .unwrap_or(&[])
    }

    fn timing_mut(&mut self, scale: &str) -> &mut Vec<usize> {
        &mut self
            .scales_timing
            .iter_mut()
            .find(|(s, _)| s == scale)
            .expect("every scale has a timing entry")
            .1
    }

    /// Whether a loaded state can continue where `fresh` (this model's new state) starts:
    /// the same scales in the same order, each with a timing entry, the current one started.
    pub(super) fn consistent_with(&self, fresh: &CoarseToFineState) -> bool {
        let order: Vec<&String> = self.scales_finished.iter().chain(&self.scales).collect();
        let timed: Vec<&String> = self.scales_timing.iter().map(|(s, _)| s).collect();
        let expected: Vec<&String> = fresh.scales.iter().collect();
        order == expected
            && timed == expected
            && !self.scales.is_empty()
            && !self.timing(&self.scales[0]).is_empty()
    }

    /// The scale being optimised.
    pub fn current_scale(&self) -> &str {
        &self.scales[0]
    }
}

/// Arguments of [`MetamerCtf::synthesize`], with plenoptic's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CtfSynthesizeOptions {
    /// The options of a plain synthesis.
    pub synthesize: SynthesizeOptions,
    /// Move to the next scale once the scale loss changed less than this over
    /// `ctf_iters_to_check` iterations; `None` moves after `ctf_iters_to_check` iterations.
    pub change_scale_criterion: Option<f64>,
    /// Iterations each scale runs at least (and that "all" runs before convergence counts).
    pub ctf_iters_to_check: usize,
}

impl Default for CtfSynthesizeOptions {
    fn default() -> Self {
        Self {
            synthesize: SynthesizeOptions::default(),
            change_scale_criterion: Some(1e-2),
            ctf_iters_to_check: 50,
        }
    }
}

/// A coarse-to-fine call's own arguments.
#[derive(Clone, Copy, Debug)]
struct CtfRun {
    change_scale_criterion: Option<f64>,
    ctf_iters_to_check: usize,
}

/// Synthesizes a model metamer coarse to fine (plenoptic's `MetamerCTF`), for models whose
/// representation splits into scales ([`Model::scales`]): a [`Metamer`] (read it through
/// [`MetamerCtf::as_metamer`]) and the coarse-to-fine state that decides which scales each
/// step optimises.
///
/// # Example
/// A model with two scales, the row means (coarse) and the column means (fine):
/// ```
/// use burn::backend::{Autodiff, NdArray};
/// use burn::tensor::{Tensor, backend::Backend};
/// use metamer_core::{
///     CoarseToFine, CtfSynthesizeOptions, MetamerCtf, Model, Representation, SynthesizeOptions,
/// };
///
/// struct RowsThenColumns;
///
/// impl<B: Backend> Model<B> for RowsThenColumns {
///     fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
///         self.forward_scales(image, &["rows".into(), "columns".into()])
///     }
///
///     fn scales(&self) -> Option<Vec<String>> {
///         Some(vec!["rows".into(), "columns".into()])
///     }
///
///     fn forward_scales(&self, image: Tensor<B, 4>, scales: &[String]) -> Representation<B> {
///         let means = scales.iter().map(|scale| {
///             let axis = if scale == "rows" { 3 } else { 2 };
///             image.clone().mean_dim(axis).flatten::<1>(0, 3)
///         });
///         Representation::from(Tensor::cat(means.collect(), 0))
///     }
/// }
///
/// # fn main() -> metamer_core::Result<()> {
/// metamer_core::set_seed(0);
/// let values = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];
/// let device = Default::default();
/// let image = Tensor::<NdArray, 1>::from_floats(values, &device).reshape([1, 1, 2, 3]);
/// let mut met =
///     MetamerCtf::<Autodiff<NdArray>>::new(image, RowsThenColumns, CoarseToFine::Together)?;
/// met.synthesize(CtfSynthesizeOptions {
///     synthesize: SynthesizeOptions { max_iter: 30, ..Default::default() },
///     change_scale_criterion: None,
///     ctf_iters_to_check: 10,
/// })?;
/// // The rows ran alone for 10 iterations; the finest scale, in `Together` mode, only ever
/// // runs with all the others ("all"), as in plenoptic.
/// assert_eq!(met.scales_finished(), ["rows"]);
/// assert_eq!(met.scales(), ["all"]);
/// assert_eq!(met.scales_timing()[0], ("rows".to_string(), vec![0, 9]));
/// # Ok(())
/// # }
/// ```
pub struct MetamerCtf<B: AutodiffBackend, const D: usize = 4> {
    inner: Metamer<B, D>,
    state: CoarseToFineState,
    /// The target's representation at the current scales, once computed.
    target: Option<Representation<B>>,
    /// The running `synthesize` call's arguments.
    call: CtfRun,
}

impl<B: AutodiffBackend, const D: usize> MetamerCtf<B, D> {
    /// With plenoptic's defaults: MSE loss, range penalty, `penalty_lambda` 0.1.
    ///
    /// # Errors
    /// As [`MetamerCtf::with_options`].
    pub fn new(
        image: Tensor<Inner<B>, D>,
        model: impl Model<B, D> + 'static,
        mode: CoarseToFine,
    ) -> Result<Self> {
        Self::with_options(image, model, MetamerOptions::default(), mode)
    }

    /// Validates as [`Metamer::with_options`] does, then checks that restricting the model
    /// to each of its scales changes its output (drawing one noise image, as plenoptic does).
    ///
    /// # Errors
    /// Whatever [`Metamer::with_options`] refuses, and a model without scales or one that
    /// ignores them ([`MetamerError::CoarseToFineModel`]).
    pub fn with_options(
        image: Tensor<Inner<B>, D>,
        model: impl Model<B, D> + 'static,
        options: MetamerOptions<B, D>,
        mode: CoarseToFine,
    ) -> Result<Self> {
        let inner = Metamer::with_options(image, model, options)?;
        let scales = validate_coarse_to_fine(inner.model.as_ref(), &inner.image)?;
        let defaults = CtfSynthesizeOptions::default();
        Ok(Self {
            inner,
            state: CoarseToFineState::new(&scales, mode),
            target: None,
            call: CtfRun {
                change_scale_criterion: defaults.change_scale_criterion,
                ctf_iters_to_check: defaults.ctf_iters_to_check,
            },
        })
    }

    /// As [`Metamer::setup`]; the optimizer's learning rate becomes the one each scale
    /// change restores.
    ///
    /// # Errors
    /// As [`Metamer::setup`].
    pub fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        let after_load = self.inner.loaded && self.inner.metamer.is_some();
        let warnings = self.inner.setup(setup)?;
        if !after_load && let Some(optimizer) = self.inner.optimizer.as_ref() {
            self.state.initial_lr = Some(optimizer.learning_rate());
        }
        Ok(warnings)
    }

    /// Runs up to `max_iter` iterations coarse to fine, continuing any earlier synthesis.
    ///
    /// # Errors
    /// As [`MetamerCtf::synthesize_with`].
    pub fn synthesize(&mut self, options: CtfSynthesizeOptions) -> Result<SynthesisReport> {
        self.synthesize_with(options, |_, _| ControlFlow::Continue(()))
    }

    /// As [`Metamer::synthesize_with`], coarse to fine.
    ///
    /// # Errors
    /// A stop criterion not below the scale-change criterion, `ctf_iters_to_check` of 0, and
    /// whatever [`Metamer::synthesize_with`] reports.
    pub fn synthesize_with(
        &mut self,
        options: CtfSynthesizeOptions,
        observe: impl FnMut(&Self, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport> {
        if let Some(change) = options.change_scale_criterion
            && options.synthesize.stop_criterion >= change
        {
            return Err(MetamerError::StopCriterionNotBelowScaleCriterion);
        }
        if options.ctf_iters_to_check == 0 {
            return Err(MetamerError::CtfItersToCheck);
        }
        self.call = CtfRun {
            change_scale_criterion: options.change_scale_criterion,
            ctf_iters_to_check: options.ctf_iters_to_check,
        };
        run::run(self, options.synthesize, observe)
    }

    /// The synthesis and its coarse-to-fine state as plain values.
    ///
    /// # Errors
    /// As [`Metamer::snapshot`].
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.inner.snapshot_with(Some(&self.state))
    }

    /// Continues a saved coarse-to-fine synthesis (see [`Metamer::load_snapshot`]); the
    /// saved mode must be this one's, and its scales this model's.
    ///
    /// # Errors
    /// As [`Metamer::load_snapshot`], and a saved state that does not fit.
    pub fn load_snapshot(
        &mut self,
        snapshot: &Snapshot,
        options: &LoadOptions,
    ) -> Result<Vec<Warning>> {
        let warnings = self
            .inner
            .load_snapshot_with(snapshot, options, Some(&self.state))?;
        if let Some(saved) = &snapshot.coarse_to_fine {
            self.state = saved.clone();
        }
        self.target = None;
        Ok(warnings)
    }

    /// As [`Metamer::to`].
    pub fn to(&mut self, device: &burn::tensor::Device<Inner<B>>, dtype: DType) {
        self.inner.to(device, dtype);
        self.target = None;
    }

    /// Whether finished scales stay in the objective.
    pub fn coarse_to_fine(&self) -> CoarseToFine {
        self.state.mode
    }

    /// Scales not finished yet, the current one first.
    pub fn scales(&self) -> &[String] {
        &self.state.scales
    }

    /// Finished scales, in the order they finished.
    pub fn scales_finished(&self) -> &[String] {
        &self.state.scales_finished
    }

    /// The loss on the current scales' statistics, per iteration.
    pub fn scales_loss(&self) -> &[f64] {
        &self.state.scales_loss
    }

    /// Each scale and the iterations at which it started and finished.
    pub fn scales_timing(&self) -> &[(String, Vec<usize>)] {
        &self.state.scales_timing
    }

    /// Where the synthesis stands, as saved with it.
    pub fn state(&self) -> &CoarseToFineState {
        &self.state
    }

    /// The synthesis's images, histories and settings.
    pub fn as_metamer(&self) -> &Metamer<B, D> {
        &self.inner
    }

    /// The plain synthesis, without its coarse-to-fine state.
    pub fn into_inner(self) -> Metamer<B, D> {
        self.inner
    }

    /// plenoptic's scale change, tested before each step: the current scale ran at least
    /// `k` iterations and its loss changed less than the criterion over the last `k`.
    fn switch_scale(&mut self) {
        let k = self.call.ctf_iters_to_check;
        let iterations = self.inner.losses.len();
        let state = &mut self.state;
        let history = &state.scales_loss;
        let settled = match self.call.change_scale_criterion {
            None => true,
            Some(criterion) => {
                history.len() >= k
                    && (history[history.len() - 1] - history[history.len() - k]).abs() < criterion
            }
        };
        let current = state.scales[0].clone();
        if state.scales.len() > 1
            && history.len() >= k
            && settled
            && iterations.saturating_sub(state.timing(&current)[0]) >= k
        {
            state.timing_mut(&current).push(iterations - 1);
            let finished = state.scales.remove(0);
            state.scales_finished.push(finished);
            let next = state.scales[0].clone();
            state.timing_mut(&next).push(iterations);
            if let (Some(lr), Some(optimizer)) = (state.initial_lr, self.inner.optimizer.as_mut()) {
                optimizer.set_learning_rate(lr);
            }
            self.target = None;
        }
    }

    /// The scales the model is restricted to now; `None` once at "all".
    fn current_scales(&self) -> Option<Vec<String>> {
        let current = &self.state.scales[0];
        if current == ALL_SCALES {
            return None;
        }
        let mut scales = vec![current.clone()];
        if self.state.mode == CoarseToFine::Together {
            scales.extend(self.state.scales_finished.iter().cloned());
        }
        Some(scales)
    }
}

impl<B: AutodiffBackend, const D: usize> Driver<B, D> for MetamerCtf<B, D> {
    fn metamer(&self) -> &Metamer<B, D> {
        &self.inner
    }

    fn metamer_mut(&mut self) -> &mut Metamer<B, D> {
        &mut self.inner
    }

    fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        MetamerCtf::setup(self, setup)
    }

    fn restrict(&mut self) -> Result<Option<Restriction<B>>> {
        self.switch_scale();
        let Some(scales) = self.current_scales() else {
            return Ok(None);
        };
        let target = match &self.target {
            Some(target) => target.clone(),
            None => {
                let met = &self.inner;
                let image = Tensor::<B, D>::from_inner(met.image.clone());
                let target = guarded("model", &met.image.dims(), || {
                    met.model.forward_scales(image, &scales)
                })?;
                self.target = Some(target.clone());
                target
            }
        };
        Ok(Some(Restriction { scales, target }))
    }

    fn record(&mut self, step_loss: f64) -> Option<(String, f64)> {
        self.state.scales_loss.push(step_loss);
        Some((self.state.scales[0].clone(), step_loss))
    }

    /// plenoptic's extra convergence condition: "all" reached and run for more than
    /// `ctf_iters_to_check` iterations, counted from this call's loop index
    /// (docs/plenoptic-quirks.md#ctf-loop-index).
    fn may_stop(&self, call_iteration: usize) -> bool {
        match self.state.timing(ALL_SCALES).first() {
            Some(start) if self.state.scales[0] == ALL_SCALES => {
                call_iteration as i64 - *start as i64 > self.call.ctf_iters_to_check as i64
            }
            _ => false,
        }
    }
}

impl<B: AutodiffBackend, const D: usize> Synthesis<B, D> for MetamerCtf<B, D> {
    fn as_metamer(&self) -> &Metamer<B, D> {
        MetamerCtf::as_metamer(self)
    }

    fn snapshot(&self) -> Result<Snapshot> {
        MetamerCtf::snapshot(self)
    }

    fn coarse_to_fine_state(&self) -> Option<&CoarseToFineState> {
        Some(&self.state)
    }
}

/// The model's scales, once restricting it to each of them is seen to change its output
/// (plenoptic's `validate_coarse_to_fine` tries every combination; one scale at a time finds
/// a model that ignores the argument as surely, at a fraction of the cost).
fn validate_coarse_to_fine<B: AutodiffBackend, const D: usize>(
    model: &dyn Model<B, D>,
    image: &Tensor<Inner<B>, D>,
) -> Result<Vec<String>> {
    let scales = model.scales().ok_or_else(|| {
        MetamerError::CoarseToFineModel("model has no scales attribute".to_string())
    })?;
    let shape = image.dims();
    let device = Tensor::<B, D>::from_inner(image.clone()).device();
    let noise: Tensor<B, D> = crate::rng::rand(shape, DType::F32, &device).cast(image.dtype());
    let full = guarded("model", &shape, || model.forward(noise.clone()))?;
    for scale in &scales {
        let part = guarded("model", &shape, || {
            model.forward_scales(noise.clone(), std::slice::from_ref(scale))
        })?;
        if part.shape() == full.shape() {
            return Err(MetamerError::CoarseToFineModel(format!(
                "Output of model forward method doesn't change shape when scales keyword arg is \
                 set to [{scale:?}]"
            )));
        }
    }
    Ok(scales)
}
