//! Coarse-to-fine synthesis (plenoptic's `MetamerCTF`): the optimizer first
//! sees only the coarsest statistics, then each finer scale in turn, then all of them, while
//! the recorded loss is always the full objective.

use std::{
    fmt,
    ops::{ControlFlow, Deref},
    str::FromStr,
};

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use serde::{Deserialize, Serialize};

use super::{Inner, IterationInfo, Metamer, MetamerOptions, Setup, SynthesisReport};
use crate::{MetamerError, Model, Result, SynthesizeOptions, Warning, validate::guarded};

/// The scale name of the last stage, where every statistic is optimised.
pub const ALL_SCALES: &str = "all";

/// Whether finished scales stay in the objective (`Together`) or drop out (`Separate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CoarseToFine {
    Together,
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

    pub fn current_scale(&self) -> &str {
        &self.scales[0]
    }
}

/// Arguments of [`MetamerCtf::synthesize`], with plenoptic's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct CtfSynthesizeOptions {
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

/// A coarse-to-fine call's own arguments, for the shared loop.
pub(super) struct CtfRun {
    change_scale_criterion: Option<f64>,
    ctf_iters_to_check: usize,
}

/// Synthesizes a model metamer coarse to fine (plenoptic's `MetamerCTF`), for models whose
/// representation splits into scales ([`Model::scales`]). Everything a [`Metamer`] offers
/// for reading is available through `Deref`.
pub struct MetamerCtf<B: AutodiffBackend, const D: usize = 4> {
    inner: Metamer<B, D>,
}

impl<B: AutodiffBackend, const D: usize> MetamerCtf<B, D> {
    /// With plenoptic's defaults: MSE loss, range penalty, `penalty_lambda` 0.1.
    pub fn new(
        image: Tensor<Inner<B>, D>,
        model: impl Model<B, D> + 'static,
        mode: CoarseToFine,
    ) -> Result<Self> {
        Self::with_options(image, model, MetamerOptions::default(), mode)
    }

    /// Validates as [`Metamer::with_options`] does, then checks that restricting the model
    /// to each of its scales changes its output (drawing one noise image, as plenoptic does).
    pub fn with_options(
        image: Tensor<Inner<B>, D>,
        model: impl Model<B, D> + 'static,
        options: MetamerOptions<B, D>,
        mode: CoarseToFine,
    ) -> Result<Self> {
        let mut inner = Metamer::with_options(image, model, options)?;
        let scales = validate_coarse_to_fine(inner.model.as_ref(), &inner.image)?;
        inner.ctf = Some(CoarseToFineState::new(&scales, mode));
        Ok(Self { inner })
    }

    /// As [`Metamer::setup`]; the optimizer's learning rate becomes the one each scale
    /// change restores.
    pub fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        self.inner.setup(setup)
    }

    pub fn synthesize(&mut self, options: CtfSynthesizeOptions) -> Result<SynthesisReport> {
        self.synthesize_with(options, |_, _| ControlFlow::Continue(()))
    }

    /// As [`Metamer::synthesize_with`], coarse to fine.
    pub fn synthesize_with(
        &mut self,
        options: CtfSynthesizeOptions,
        observe: impl FnMut(&Metamer<B, D>, &IterationInfo) -> ControlFlow<()>,
    ) -> Result<SynthesisReport> {
        if let Some(change) = options.change_scale_criterion
            && options.synthesize.stop_criterion >= change
        {
            return Err(MetamerError::StopCriterionNotBelowScaleCriterion);
        }
        if options.ctf_iters_to_check == 0 {
            return Err(MetamerError::CtfItersToCheck);
        }
        let run = CtfRun {
            change_scale_criterion: options.change_scale_criterion,
            ctf_iters_to_check: options.ctf_iters_to_check,
        };
        self.inner.run(options.synthesize, Some(run), observe)
    }

    /// Continues a saved coarse-to-fine synthesis (see [`Metamer::load_snapshot`]); the
    /// saved mode must be this one's.
    pub fn load_snapshot(
        &mut self,
        snapshot: &super::Snapshot,
        options: &super::LoadOptions,
    ) -> Result<Vec<Warning>> {
        self.inner.load_snapshot(snapshot, options)
    }

    /// As [`Metamer::to`].
    pub fn to(&mut self, device: &burn::tensor::Device<Inner<B>>, dtype: DType) {
        self.inner.to(device, dtype)
    }

    pub fn coarse_to_fine(&self) -> CoarseToFine {
        self.state().mode
    }

    /// Scales not finished yet, the current one first.
    pub fn scales(&self) -> &[String] {
        &self.state().scales
    }

    pub fn scales_finished(&self) -> &[String] {
        &self.state().scales_finished
    }

    pub fn scales_loss(&self) -> &[f64] {
        &self.state().scales_loss
    }

    pub fn scales_timing(&self) -> &[(String, Vec<usize>)] {
        &self.state().scales_timing
    }

    pub fn state(&self) -> &CoarseToFineState {
        self.inner.ctf.as_ref().expect("set at construction")
    }

    pub fn into_inner(self) -> Metamer<B, D> {
        self.inner
    }
}

impl<B: AutodiffBackend, const D: usize> Deref for MetamerCtf<B, D> {
    type Target = Metamer<B, D>;

    fn deref(&self) -> &Metamer<B, D> {
        &self.inner
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

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    /// The coarse-to-fine state of a [`MetamerCtf`]'s synthesis.
    pub fn coarse_to_fine_state(&self) -> Option<&CoarseToFineState> {
        self.ctf.as_ref()
    }

    /// plenoptic's scale change, tested before each step: the current scale ran at least
    /// `k` iterations and its loss changed less than the criterion over the last `k`.
    pub(super) fn switch_scale(&mut self, run: &CtfRun) {
        let k = run.ctf_iters_to_check;
        let iterations = self.losses.len();
        let Some(state) = self.ctf.as_mut() else {
            return;
        };
        let history = &state.scales_loss;
        let settled = match run.change_scale_criterion {
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
            if let (Some(lr), Some(optimizer)) = (state.initial_lr, self.optimizer.as_mut()) {
                optimizer.set_learning_rate(lr);
            }
            self.ctf_target = None;
        }
    }

    /// The scales the model is restricted to now; `None` once at "all".
    pub(super) fn current_scales(&self) -> Option<Vec<String>> {
        let state = self.ctf.as_ref()?;
        let current = &state.scales[0];
        if current == ALL_SCALES {
            return None;
        }
        let mut scales = vec![current.clone()];
        if state.mode == CoarseToFine::Together {
            scales.extend(state.scales_finished.iter().cloned());
        }
        Some(scales)
    }

    /// plenoptic's extra convergence condition: "all" reached and run for more than
    /// `ctf_iters_to_check` iterations, counted from this call's loop index
    /// (docs/plenoptic-quirks.md#ctf-loop-index).
    pub(super) fn ctf_long_enough(&self, call_iteration: usize, run: &CtfRun) -> bool {
        let Some(state) = self.ctf.as_ref() else {
            return true;
        };
        match state.timing(ALL_SCALES).first() {
            Some(start) if state.scales[0] == ALL_SCALES => {
                call_iteration as i64 - *start as i64 > run.ctf_iters_to_check as i64
            }
            _ => false,
        }
    }
}
