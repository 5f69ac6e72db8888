//! The synthesis loop every kind of synthesis shares. A plain [`Metamer`] optimises the whole
//! objective; a [`super::MetamerCtf`] restricts it to the current scales through the
//! [`Driver`] hooks, so the loop itself knows nothing of coarse-to-fine.

use std::ops::ControlFlow;

use burn::tensor::{Tensor, backend::AutodiffBackend};

use super::{
    Inner, IterationInfo, Metamer, Setup, SynthesisReport, SynthesizeOptions,
    host_objective::HostEvaluation,
};
use crate::{
    MetamerError, Representation, Result, Warning,
    host::distance,
    optim::Evaluation,
    tensor::{l2_norm_all, scalar, to_f64},
    warning::raise,
};

/// The objective a step optimises when it is not the whole one: the model restricted to
/// `scales`, against the target's representation at those scales.
pub(super) struct Restriction<B: AutodiffBackend> {
    pub scales: Vec<String>,
    pub target: Representation<B>,
}

/// The last evaluated gradient's norm, or the gradient to take it from.
enum GradientNorm<B: AutodiffBackend, const D: usize> {
    Known(f64),
    Of(Tensor<Inner<B>, D>),
}

/// What a kind of synthesis decides around each step of the shared loop.
pub(super) trait Driver<B: AutodiffBackend, const D: usize> {
    fn metamer(&self) -> &Metamer<B, D>;
    fn metamer_mut(&mut self) -> &mut Metamer<B, D>;
    /// Sets up with the defaults when `synthesize` comes first.
    fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>>;
    /// The objective of the coming step; `None` for the whole one.
    fn restrict(&mut self) -> Result<Option<Restriction<B>>> {
        Ok(None)
    }
    /// Records the loss the step's optimizer saw; returns what the iteration reports of it.
    fn record(&mut self, _step_loss: f64) -> Option<(String, f64)> {
        None
    }
    /// Whether convergence may end this call now, at its `call_iteration`.
    fn may_stop(&self, _call_iteration: usize) -> bool {
        true
    }
}

impl<B: AutodiffBackend, const D: usize> Driver<B, D> for Metamer<B, D> {
    fn metamer(&self) -> &Metamer<B, D> {
        self
    }

    fn metamer_mut(&mut self) -> &mut Metamer<B, D> {
        self
    }

    fn setup(&mut self, setup: Setup<B, D>) -> Result<Vec<Warning>> {
        Metamer::setup(self, setup)
    }
}

/// Runs up to `options.max_iter` iterations of `synthesis`, calling `observe` after each.
pub(super) fn run<B: AutodiffBackend, const D: usize, S: Driver<B, D>>(
    synthesis: &mut S,
    options: SynthesizeOptions,
    mut observe: impl FnMut(&S, &IterationInfo) -> ControlFlow<()>,
) -> Result<SynthesisReport> {
    if synthesis.metamer().metamer.is_none() {
        synthesis.setup(Setup::default())?;
    }
    let met = synthesis.metamer_mut();
    for (what, pending) in [("optimizer", &met.pending.0), ("scheduler", &met.pending.1)] {
        if let Some(state) = pending {
            return Err(MetamerError::UnrestoredState {
                what,
                name: state.name.clone(),
            });
        }
    }
    met.current = None;
    if let Some(old) = met.store_progress
        && old != options.store_progress
    {
        return Err(MetamerError::StoreProgressChanged {
            new: options.store_progress,
            old,
        });
    }
    met.store_progress = Some(options.store_progress);
    let mut report = SynthesisReport {
        iterations: 0,
        converged: false,
        interrupted: false,
        warnings: Vec::new(),
    };
    for call_iteration in 0..options.max_iter {
        let iteration = synthesis.metamer().losses.len();
        synthesis.metamer_mut().store(iteration);
        let restriction = synthesis.restrict()?;
        let (mut info, step_loss) = synthesis.metamer_mut().optimizer_step(restriction)?;
        info.scale = synthesis.record(step_loss);
        report.iterations += 1;
        if !info.loss.is_finite() {
            return Err(MetamerError::NanLoss {
                iteration,
                loss: info.loss,
            });
        }
        if observe(synthesis, &info).is_break() {
            report.interrupted = true;
            break;
        }
        if synthesis
            .metamer()
            .converged(options.stop_criterion, options.stop_iters_to_check)
            && synthesis.may_stop(call_iteration)
        {
            report.converged = true;
            report
                .warnings
                .push(raise(Warning::Converged { iteration }));
            break;
        }
    }
    let met = synthesis.metamer_mut();
    let pixels = met.metamer.clone().expect("set up above");
    let (objective, penalty) = met.evaluate(Tensor::from_inner(pixels), &met.target, None)?;
    let loss = scalar(objective.inner());
    met.current = Some((loss, scalar(penalty.inner())));
    met.warnings.extend(report.warnings.iter().cloned());
    // The last step's result is checked like every other: a run must not end in NaN quietly.
    if !loss.is_finite() {
        return Err(MetamerError::NanLoss {
            iteration: met.losses.len(),
            loss,
        });
    }
    Ok(report)
}

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    fn store(&mut self, iteration: usize) {
        if let (Some(every), Some(pixels)) = (self.store_progress, &self.metamer)
            && every > 0
            && iteration.is_multiple_of(every)
        {
            self.saved.push(pixels.clone());
        }
    }

    /// One optimizer step on the whole objective or on a restriction of it; returns the
    /// iteration's record and the loss the optimizer saw.
    fn optimizer_step(
        &mut self,
        restriction: Option<Restriction<B>>,
    ) -> Result<(IterationInfo, f64)> {
        let previous = self.metamer.clone().expect("set up before stepping");
        // A restricted step records the full objective, evaluated before the step, while the
        // optimizer sees only the restriction.
        let (target, scales, overall) = match restriction {
            None => (self.target.clone(), None, None),
            Some(Restriction { scales, target }) => {
                let (objective, _) =
                    self.evaluate(Tensor::from_inner(previous.clone()), &self.target, None)?;
                (target, Some(scales), Some(scalar(objective.inner())))
            }
        };
        let mut optimizer = self.optimizer.take().expect("set up before stepping");
        let learning_rate = optimizer.learning_rate();
        let mut first: Option<(f64, f64)> = None;
        let mut last_gradient: Option<GradientNorm<B, D>> = None;
        let stepped = {
            let mut objective = |pixels: Tensor<Inner<B>, D>| -> Result<Evaluation<Inner<B>, D>> {
                if let Some(host) = self.evaluate_on_host(&pixels, &target, scales.as_deref()) {
                    let HostEvaluation {
                        evaluation,
                        gradient_norm,
                    } = host?;
                    first.get_or_insert((evaluation.objective, evaluation.penalty));
                    last_gradient = Some(GradientNorm::Known(gradient_norm));
                    return Ok(evaluation);
                }
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
                last_gradient = Some(GradientNorm::Of(gradient));
                Ok(evaluation)
            };
            optimizer.step(previous.clone(), &mut objective)
        };
        self.optimizer = Some(optimizer);
        let pixels = stepped?;
        let (loss, penalty) = first.expect("optimizers evaluate the objective at least once");
        let norms = match last_gradient.expect("evaluated at least once") {
            GradientNorm::Known(norm) => [norm, distance(pixels.clone(), previous)],
            // Both norms in one read, which on a device backend is one wait for the device.
            GradientNorm::Of(gradient) => {
                let norms = to_f64(Tensor::cat(
                    vec![
                        l2_norm_all(gradient),
                        l2_norm_all(pixels.clone().sub(previous)),
                    ],
                    0,
                ));
                [norms[0], norms[1]]
            }
        };
        self.metamer = Some(pixels);
        let optimizer = self.optimizer.as_mut().expect("restored above");
        if let Some(scheduler) = self.scheduler.as_mut() {
            let lr = scheduler.step(optimizer.learning_rate(), loss);
            optimizer.set_learning_rate(lr);
        }
        let overall = overall.unwrap_or(loss);
        self.losses.push(overall);
        self.penalties.push(penalty);
        self.gradient_norm.push(norms[0]);
        self.pixel_change_norm.push(norms[1]);
        self.learning_rate.push(learning_rate);
        let info = IterationInfo {
            iteration: self.losses.len() - 1,
            loss: overall,
            learning_rate,
            penalty,
            gradient_norm: norms[0],
            pixel_change_norm: norms[1],
            scale: None,
        };
        Ok((info, loss))
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
}
