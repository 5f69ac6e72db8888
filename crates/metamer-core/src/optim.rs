//! Optimizers that step the metamer's pixel tensor.
//!
//! An optimizer sees only plain (non-autodiff) tensors and a closure that evaluates the
//! objective and its gradient, so multi-evaluation methods such as L-BFGS fit the same seam.

use burn::tensor::{DType, Tensor, backend::Backend};

use crate::Result;

/// The objective and its gradient at one pixel state.
#[derive(Clone, Debug)]
pub struct Evaluation<B: Backend, const D: usize> {
    pub objective: f64,
    pub penalty: f64,
    pub gradient: Tensor<B, D>,
}

/// Evaluates the objective (loss + λ·penalty) and its gradient at the given pixels.
pub type Objective<'a, B, const D: usize> =
    dyn FnMut(Tensor<B, D>) -> Result<Evaluation<B, D>> + 'a;

/// Updates the pixels from objective evaluations.
pub trait PixelOptimizer<B: Backend, const D: usize> {
    /// One optimisation step from `pixels`; returns the new pixels.
    fn step(
        &mut self,
        pixels: Tensor<B, D>,
        objective: &mut Objective<'_, B, D>,
    ) -> Result<Tensor<B, D>>;

    fn learning_rate(&self) -> f64;

    fn set_learning_rate(&mut self, learning_rate: f64);

    /// The name shown in summaries and checked on load (e.g. `Adam`).
    fn name(&self) -> &'static str;

    /// Moves and casts any state, so synthesis continues after [`crate::Metamer::to`].
    fn to(&mut self, device: &B::Device, dtype: DType);
}

/// Adam's hyper-parameters, with torch's defaults except plenoptic's learning rate and AMSGrad.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: true,
        }
    }
}

/// torch's Adam with its exact update order (single-tensor CPU path).
#[derive(Clone, Debug)]
pub struct Adam<B: Backend, const D: usize> {
    config: AdamConfig,
    state: Option<AdamState<B, D>>,
}

/// Adam's per-pixel moments and step count.
#[derive(Clone, Debug)]
pub struct AdamState<B: Backend, const D: usize> {
    pub step: u64,
    pub exp_avg: Tensor<B, D>,
    pub exp_avg_sq: Tensor<B, D>,
    pub max_exp_avg_sq: Option<Tensor<B, D>>,
}

impl<B: Backend, const D: usize> Adam<B, D> {
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            state: None,
        }
    }

    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    pub fn state(&self) -> Option<&AdamState<B, D>> {
        self.state.as_ref()
    }

    /// Applies one update with a known gradient.
    pub fn update(&mut self, pixels: Tensor<B, D>, gradient: Tensor<B, D>) -> Tensor<B, D> {
        let AdamConfig {
            lr,
            betas: (beta1, beta2),
            eps,
            weight_decay,
            amsgrad,
        } = self.config;
        let gradient = if weight_decay != 0.0 {
            gradient.add(pixels.clone().mul_scalar(weight_decay))
        } else {
            gradient
        };
        let state = self.state.get_or_insert_with(|| AdamState {
            step: 0,
            exp_avg: gradient.zeros_like(),
            exp_avg_sq: gradient.zeros_like(),
            max_exp_avg_sq: amsgrad.then(|| gradient.zeros_like()),
        });
        state.step += 1;
        // torch: exp_avg.lerp_(grad, 1 - beta1); exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        let exp_avg = state.exp_avg.clone();
        state.exp_avg = exp_avg
            .clone()
            .add(gradient.clone().sub(exp_avg).mul_scalar(1.0 - beta1));
        state.exp_avg_sq = state
            .exp_avg_sq
            .clone()
            .mul_scalar(beta2)
            .add(gradient.square().mul_scalar(1.0 - beta2));
        let step = state.step as i32;
        let bias_correction1 = 1.0 - beta1.powi(step);
        let bias_correction2_sqrt = (1.0 - beta2.powi(step)).sqrt();
        let step_size = lr / bias_correction1;
        let second_moment = match state.max_exp_avg_sq.as_mut() {
            Some(max) => {
                *max = max.clone().max_pair(state.exp_avg_sq.clone());
                max.clone()
            }
            None => state.exp_avg_sq.clone(),
        };
        let denom = second_moment
            .sqrt()
            .div_scalar(bias_correction2_sqrt)
            .add_scalar(eps);
        pixels.sub(state.exp_avg.clone().div(denom).mul_scalar(step_size))
    }
}

impl<B: Backend, const D: usize> PixelOptimizer<B, D> for Adam<B, D> {
    fn step(
        &mut self,
        pixels: Tensor<B, D>,
        objective: &mut Objective<'_, B, D>,
    ) -> Result<Tensor<B, D>> {
        let evaluation = objective(pixels.clone())?;
        Ok(self.update(pixels, evaluation.gradient))
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.config.lr = learning_rate;
    }

    fn name(&self) -> &'static str {
        "Adam"
    }

    fn to(&mut self, device: &B::Device, dtype: DType) {
        if let Some(state) = self.state.as_mut() {
            let convert = |t: &mut Tensor<B, D>| *t = t.clone().cast(dtype).to_device(device);
            convert(&mut state.exp_avg);
            convert(&mut state.exp_avg_sq);
            if let Some(max) = state.max_exp_avg_sq.as_mut() {
                convert(max);
            }
        }
    }
}
