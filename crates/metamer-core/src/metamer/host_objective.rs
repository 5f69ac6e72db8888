//! The objective's value and gradient on host backends with a range penalty (plenoptic's
//! default), and with the mean squared error when that is the loss.
//!
//! Through the backend's graph the loss and penalty are some twenty element-wise passes
//! (forward and backward), each allocating a plane, on one thread: at 512×512 they took half of
//! a Gaussian iteration and kept a second thread idle. Here the penalty and its gradient are one
//! pass over the pixels after the model's backward step, and the mean squared error one pass
//! over the representation whose result seeds that backward step directly. Each value goes
//! through the operations the graph's backward steps apply, in the same order and precision, so
//! gradients match the graph's; sums accumulate in float64. The graph's own evaluation
//! (`objective_function`, the value after a run) reports these passes' values too, so a loss
//! recorded during synthesis equals the objective recomputed at the same pixels, exactly.

use burn::tensor::{Tensor, backend::AutodiffBackend};

use super::{Inner, Metamer};
use crate::{
    Representation, Result,
    host::{self, Precision, Real},
    optim::Evaluation,
    tensor::{from_f64, scalar},
    validate::guarded,
};

/// An evaluation with its gradient's norm, taken in the same pass.
pub(super) struct HostEvaluation<B: AutodiffBackend, const D: usize> {
    pub evaluation: Evaluation<Inner<B>, D>,
    pub gradient_norm: f64,
}

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    /// The objective and its gradient at `pixels` through the host passes; `None` where they do
    /// not apply (a user's penalty, a device backend), for the graph to compute instead.
    pub(super) fn evaluate_on_host(
        &self,
        pixels: &Tensor<Inner<B>, D>,
        target: &Representation<B>,
        scales: Option<&[String]>,
    ) -> Option<Result<HostEvaluation<B, D>>> {
        let range = self.penalty.allowed_range()?;
        Some(match Precision::of(pixels)? {
            Precision::F32 => self.host_evaluation::<f32>(pixels.clone(), target, scales, range),
            Precision::F64 => self.host_evaluation::<f64>(pixels.clone(), target, scales, range),
        })
    }

    /// The graph's `loss` and `penalty` at `pixels`, with the values the host passes give for
    /// them where those apply, so both ways of evaluating report the same numbers.
    pub(super) fn with_host_values(
        &self,
        representation: &Representation<B>,
        target: &Representation<B>,
        pixels: &Tensor<B, D>,
        loss: Tensor<B, 1>,
        penalty: Tensor<B, 1>,
    ) -> (Tensor<B, 1>, Tensor<B, 1>) {
        let Some(range) = self.penalty.allowed_range() else {
            return (loss, penalty);
        };
        let mean_squared = self.loss.is_mean_squared();
        let (loss_value, penalty_value) = match Precision::of(&pixels.clone().inner()) {
            None => return (loss, penalty),
            Some(Precision::F32) => host_values::<f32, B, D>(
                mean_squared.then_some((representation, target)),
                pixels,
                range,
            ),
            Some(Precision::F64) => host_values::<f64, B, D>(
                mean_squared.then_some((representation, target)),
                pixels,
                range,
            ),
        };
        let loss = match loss_value {
            Some(value) => with_value(loss, value),
            None => loss,
        };
        (loss, with_value(penalty, penalty_value))
    }

    fn host_evaluation<T: Real>(
        &self,
        pixels: Tensor<Inner<B>, D>,
        target: &Representation<B>,
        scales: Option<&[String]>,
        (min, max): (f64, f64),
    ) -> Result<HostEvaluation<B, D>> {
        let (shape, device, dtype) = (pixels.dims(), pixels.device(), pixels.dtype());
        let tracked = Tensor::<B, D>::from_inner(pixels.clone()).require_grad();
        let representation = self.represent(tracked.clone(), target, scales)?;
        let (loss, gradients) = if self.loss.is_mean_squared() {
            let (mut seed, wanted): (Vec<T>, Vec<T>) =
                host::both(|| representation.values(), || target.values());
            let loss = mean_squared_error(&mut seed, &wanted, true);
            // Backward from a tensor starts from ones, so the gradient of the representation
            // weighted by the seed is the seed: the loss's gradient.
            (loss, representation.backward_weighted(seed, dtype))
        } else {
            let loss = guarded("loss_function", representation.shape(), || {
                self.loss.compute(&representation, target)
            })?;
            (T::of(scalar(loss.clone().inner())), loss.backward())
        };
        let (mut gradient, x): (Vec<T>, Vec<T>) = match tracked.grad(&gradients) {
            Some(gradient) => host::values_of_both(gradient, pixels),
            None => (
                vec![T::of(0.0); pixels.shape().num_elements()],
                host::values(pixels),
            ),
        };
        let lambda = T::of(self.penalty_lambda);
        let (min, max) = (T::of(min), T::of(max));
        let [penalty, gradient_sq] = host::sum_zip(&mut gradient, &x, |g, x| {
            let distance = outside(x, min, max);
            // The penalty's backward steps add this; inside the range it is zero.
            *g = *g + lambda * (distance * T::of(2.0));
            [(distance * distance).wide(), (*g * *g).wide()]
        });
        let penalty = T::of(penalty);
        let gradient = host::tensor::<Inner<B>, D, T>(gradient, shape, &device, dtype);
        Ok(HostEvaluation {
            evaluation: Evaluation {
                objective: (loss + penalty * lambda).wide(),
                penalty: penalty.wide(),
                gradient,
            },
            gradient_norm: T::of(gradient_sq.sqrt()).wide(),
        })
    }
}

/// The mean squared error (when the representations are given) and the range penalty at
/// `pixels`, summed as the gradient's passes sum them.
fn host_values<T: Real, B: AutodiffBackend, const D: usize>(
    representations: Option<(&Representation<B>, &Representation<B>)>,
    pixels: &Tensor<B, D>,
    (min, max): (f64, f64),
) -> (Option<f64>, f64) {
    let loss = representations.map(|(synth, target)| {
        let (mut synth, target): (Vec<T>, Vec<T>) =
            host::both(|| synth.values(), || target.values());
        mean_squared_error(&mut synth, &target, false).wide()
    });
    let x: Vec<T> = host::values(pixels.clone());
    let (min, max) = (T::of(min), T::of(max));
    // The same stretches and lanes as the gradient's pass, so the same sum.
    let [penalty] = host::sum_zip(&mut x.clone(), &x, |_, x| {
        let distance = outside(x, min, max);
        [(distance * distance).wide()]
    });
    (loss, T::of(penalty).wide())
}

/// `tensor`'s graph with `value` as its value: `(tensor − tensor) + value` is `value` exactly,
/// and its gradient is `tensor`'s.
fn with_value<B: AutodiffBackend>(tensor: Tensor<B, 1>, value: f64) -> Tensor<B, 1> {
    let value = from_f64(vec![value], [1], tensor.dtype(), &tensor.device());
    tensor.clone().sub(tensor.detach()).add(value)
}

/// `x − clamp(x, min, max)`: how far `x` lies outside the range, signed; the penalty's term.
fn outside<T: Real>(x: T, min: T, max: T) -> T {
    let inside = if x < min {
        min
    } else if x > max {
        max
    } else {
        x
    };
    x - inside
}

/// `mean((synth − target)²)`; with `seed`, `synth` becomes the loss's gradient with respect
/// to it, computed as the graph's backward steps do: `(1/n) · ((synth − target) · 2)`.
fn mean_squared_error<T: Real>(synth: &mut [T], target: &[T], seed: bool) -> T {
    let count = synth.len();
    let inverse = T::of(1.0 / count as f64);
    let [sum] = host::sum_zip(synth, target, |s, t| {
        let difference = *s - t;
        if seed {
            *s = inverse * (difference * T::of(2.0));
        }
        [(difference * difference).wide()]
    });
    T::of(sum / count as f64)
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::TensorData;

    use super::*;
    use crate::{Loss, MetamerOptions, Penalty};

    type B = Autodiff<NdArray<f64>>;

    fn plane(values: impl Fn(f64) -> f64) -> Tensor<NdArray<f64>, 4> {
        let values = (0..64).map(|i| values(f64::from(i))).collect::<Vec<_>>();
        Tensor::from_data(TensorData::new(values, [1, 1, 8, 8]), &Default::default())
    }

    fn model(x: Tensor<B, 4>) -> Representation<B> {
        x.clone().mul(x.clone()).mul_scalar(3.0).add(x).into()
    }

    /// The host passes against the graph they replace: the same gradient, the plain formulas'
    /// values, for pixels on both sides of the range and both kinds of loss.
    #[test]
    fn host_passes_match_the_graph() {
        let image = plane(|i| 0.5 + 0.4 * (0.7 * i).sin());
        let pixels = plane(|i| 0.5 + (1.3 * i).cos());
        let x = host::values::<NdArray<f64>, 4, f64>(pixels.clone());
        let penalty: f64 = x.iter().map(|&x| (x - x.clamp(0.0, 1.0)).powi(2)).sum();
        assert!(penalty > 0.1, "some pixels must be outside the range");
        for (loss, mean_squared) in [(Loss::mse(), true), (Loss::l2_norm(), false)] {
            let options = MetamerOptions {
                loss,
                penalty: Penalty::range(0.0, 1.0),
                penalty_lambda: 0.3,
            };
            let met = Metamer::<B>::with_options(image.clone(), model, options).unwrap();
            let host = met
                .evaluate_on_host(&pixels, &met.target, None)
                .unwrap()
                .unwrap();
            let tracked = Tensor::<B, 4>::from_inner(pixels.clone()).require_grad();
            let synth = host::values::<B, 1, f64>(model(tracked.clone()).flat().clone());
            let target = host::values::<B, 1, f64>(met.target.flat().clone());
            let squares = synth.iter().zip(&target).map(|(s, t)| (s - t).powi(2));
            let loss = if mean_squared {
                squares.sum::<f64>() / 64.0
            } else {
                squares.sum::<f64>().sqrt()
            };
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
            assert!(close(host.evaluation.penalty, penalty));
            assert!(close(host.evaluation.objective, loss + 0.3 * penalty));
            // The graph's own gradient: loss and penalty through Burn's operations.
            let graph_loss = met.loss.compute(&model(tracked.clone()), &met.target);
            let objective = graph_loss.add(met.penalty.compute(tracked.clone()).mul_scalar(0.3));
            let gradient = tracked.grad(&objective.backward()).unwrap();
            let expected = host::values::<NdArray<f64>, 4, f64>(gradient);
            let got = host::values::<NdArray<f64>, 4, f64>(host.evaluation.gradient);
            for (g, e) in got.iter().zip(&expected) {
                assert!(close(*g, *e), "{g} against {e}");
            }
            let norm = expected.iter().map(|g| g * g).sum::<f64>().sqrt();
            assert!(close(host.gradient_norm, norm));
        }
    }
}
