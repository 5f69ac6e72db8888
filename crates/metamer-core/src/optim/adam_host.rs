//! Adam's update as one pass over the pixels, for tensors in host memory.
//!
//! Through the backend's operations an update is some fourteen passes, each allocating a
//! plane, and on the CPU backends none of them uses a second thread; here it is one pass, split
//! among rayon's threads. Each value goes through the same operations, in the same order and
//! precision, as [`super::Adam::update`]'s backend path, so both give the same numbers.

use burn::tensor::{Tensor, backend::Backend};
use rayon::prelude::*;

use super::{AdamConfig, AdamState};
use crate::host::{CHUNK, Precision, Real, tensor, values, values_of_both};

/// One update of `pixels` with `gradient`, moving `state` on.
pub(super) fn update<B: Backend, const D: usize>(
    precision: Precision,
    config: &AdamConfig,
    decoupled_weight_decay: bool,
    state: &mut Option<AdamState<B, D>>,
    pixels: Tensor<B, D>,
    gradient: Tensor<B, D>,
) -> Tensor<B, D> {
    match precision {
        Precision::F32 => {
            typed::<B, D, f32>(config, decoupled_weight_decay, state, pixels, gradient)
        }
        Precision::F64 => {
            typed::<B, D, f64>(config, decoupled_weight_decay, state, pixels, gradient)
        }
    }
}

/// The update's scalars, in the tensor's precision.
struct Coefficients<T> {
    maximize: bool,
    /// `1 − lr · weight_decay` for AdamW, else `None`.
    decay: Option<T>,
    /// `weight_decay` for Adam's L2 penalty, else `None`.
    l2: Option<T>,
    one_minus_beta1: T,
    beta2: T,
    one_minus_beta2: T,
    bias_correction2_sqrt: T,
    eps: T,
    step_size: T,
}

fn typed<B: Backend, const D: usize, T: Real>(
    config: &AdamConfig,
    decoupled_weight_decay: bool,
    state: &mut Option<AdamState<B, D>>,
    pixels: Tensor<B, D>,
    gradient: Tensor<B, D>,
) -> Tensor<B, D> {
    let (shape, device, dtype) = (pixels.dims(), pixels.device(), pixels.dtype());
    let tensor = |v: Vec<T>| tensor::<B, D, T>(v, shape, &device, dtype);
    let len = pixels.shape().num_elements();
    let (step, mut exp_avg, mut exp_avg_sq, mut max_exp_avg_sq) = match state.take() {
        Some(s) => {
            let (exp_avg, exp_avg_sq) = values_of_both(s.exp_avg, s.exp_avg_sq);
            (s.step, exp_avg, exp_avg_sq, s.max_exp_avg_sq.map(values))
        }
        None => (
            0,
            vec![T::of(0.0); len],
            vec![T::of(0.0); len],
            config.amsgrad.then(|| vec![T::of(0.0); len]),
        ),
    };
    let step = step + 1;
    let (beta1, beta2) = config.betas;
    let power = step as i32;
    let weight_decay = (config.weight_decay != 0.0).then_some(config.weight_decay);
    let c = Coefficients {
        maximize: config.maximize,
        decay: weight_decay
            .filter(|_| decoupled_weight_decay)
            .map(|wd| T::of(1.0 - config.lr * wd)),
        l2: weight_decay.filter(|_| !decoupled_weight_decay).map(T::of),
        one_minus_beta1: T::of(1.0 - beta1),
        beta2: T::of(beta2),
        one_minus_beta2: T::of(1.0 - beta2),
        bias_correction2_sqrt: T::of((1.0 - beta2.powi(power)).sqrt()),
        eps: T::of(config.eps),
        step_size: T::of(config.lr / (1.0 - beta1.powi(power))),
    };
    let (mut pixels, gradient) = values_of_both(pixels, gradient);
    let chunks = len.div_ceil(CHUNK);
    let max_chunks: Vec<Option<&mut [T]>> = match max_exp_avg_sq.as_mut() {
        Some(max) => max.chunks_mut(CHUNK).map(Some).collect(),
        None => (0..chunks).map(|_| None).collect(),
    };
    let work: Vec<Stretch<T>> = pixels
        .chunks_mut(CHUNK)
        .zip(exp_avg.chunks_mut(CHUNK))
        .zip(exp_avg_sq.chunks_mut(CHUNK))
        .zip(gradient.chunks(CHUNK))
        .zip(max_chunks)
        .map(
            |((((pixels, exp_avg), exp_avg_sq), gradient), max_exp_avg_sq)| Stretch {
                pixels,
                exp_avg,
                exp_avg_sq,
                gradient,
                max_exp_avg_sq,
            },
        )
        .collect();
    if chunks > 1 && rayon::current_num_threads() > 1 {
        work.into_par_iter().for_each(|stretch| stretch.step(&c));
    } else {
        work.into_iter().for_each(|stretch| stretch.step(&c));
    }
    *state = Some(AdamState {
        step,
        exp_avg: tensor(exp_avg),
        exp_avg_sq: tensor(exp_avg_sq),
        max_exp_avg_sq: max_exp_avg_sq.map(tensor),
    });
    tensor(pixels)
}

/// One stretch of the pixels, their moments and gradient.
struct Stretch<'a, T> {
    pixels: &'a mut [T],
    exp_avg: &'a mut [T],
    exp_avg_sq: &'a mut [T],
    gradient: &'a [T],
    max_exp_avg_sq: Option<&'a mut [T]>,
}

impl<T: Real> Stretch<'_, T> {
    fn step(mut self, c: &Coefficients<T>) {
        for i in 0..self.pixels.len() {
            let mut g = if c.maximize {
                -self.gradient[i]
            } else {
                self.gradient[i]
            };
            let mut p = self.pixels[i];
            if let Some(decay) = c.decay {
                p = p * decay;
            }
            if let Some(l2) = c.l2 {
                g = g + p * l2;
            }
            // torch: exp_avg.lerp_(grad, 1 − β1); exp_avg_sq.mul_(β2).addcmul_(grad, grad, 1 − β2)
            let m = self.exp_avg[i] + (g - self.exp_avg[i]) * c.one_minus_beta1;
            let v = self.exp_avg_sq[i] * c.beta2 + g * g * c.one_minus_beta2;
            self.exp_avg[i] = m;
            self.exp_avg_sq[i] = v;
            let second = match self.max_exp_avg_sq.as_deref_mut() {
                Some(max) => {
                    if v > max[i] {
                        max[i] = v;
                    }
                    max[i]
                }
                None => v,
            };
            let denom = second.sqrt() / c.bias_correction2_sqrt + c.eps;
            self.pixels[i] = p - m / denom * c.step_size;
        }
    }
}
