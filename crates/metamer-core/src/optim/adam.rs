use burn::tensor::{DType, Tensor, backend::Backend};

use super::{Objective, PixelOptimizer, State, convert, non_negative, python_float};
use crate::{MetamerError, Result};

/// Adam's and AdamW's hyper-parameters. `Default` is torch's, with plenoptic's learning rate
/// (0.01, which plenoptic injects whenever none is given).
#[derive(Clone, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rates of the first and second moment averages.
    pub betas: (f64, f64),
    /// Added to the denominator for numerical stability.
    pub eps: f64,
    /// L2 penalty (Adam) or decoupled weight decay (AdamW).
    pub weight_decay: f64,
    /// Divide by the largest second moment seen (AMSGrad; plenoptic's default).
    pub amsgrad: bool,
    /// Ascend instead of descend.
    pub maximize: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
            maximize: false,
        }
    }
}

impl AdamConfig {
    /// plenoptic's optimizer when none is chosen: Adam(lr 0.01, amsgrad).
    pub fn plenoptic() -> Self {
        Self {
            amsgrad: true,
            ..Self::default()
        }
    }

    /// Checks the hyper-parameters as torch's `Adam` and `AdamW` do, with torch's messages.
    ///
    /// # Errors
    /// [`MetamerError::Hyperparameter`] for a negative or NaN learning rate, epsilon or
    /// weight decay, or a beta outside `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        non_negative(self.lr, "learning rate")?;
        non_negative(self.eps, "epsilon value")?;
        for (index, beta) in [self.betas.0, self.betas.1].into_iter().enumerate() {
            if !(0.0..1.0).contains(&beta) {
                return Err(MetamerError::Hyperparameter(format!(
                    "Invalid beta parameter at index {index}: {}",
                    python_float(beta)
                )));
            }
        }
        non_negative(self.weight_decay, "weight_decay value")
    }

    /// torch's AdamW defaults (weight decay 0.01) with plenoptic's learning rate.
    pub fn adamw() -> Self {
        Self {
            weight_decay: 0.01,
            ..Self::default()
        }
    }
}

/// torch's Adam, or AdamW with decoupled weight decay, following torch's single-tensor update
/// order step for step.
#[derive(Clone, Debug)]
pub struct Adam<B: Backend, const D: usize> {
    config: AdamConfig,
    decoupled_weight_decay: bool,
    state: Option<AdamState<B, D>>,
}

/// Adam's per-pixel moments and step count.
#[derive(Clone, Debug)]
pub struct AdamState<B: Backend, const D: usize> {
    /// Steps taken.
    pub step: u64,
    /// Running average of the gradient.
    pub exp_avg: Tensor<B, D>,
    /// Running average of the squared gradient.
    pub exp_avg_sq: Tensor<B, D>,
    /// Largest `exp_avg_sq` seen, with AMSGrad.
    pub max_exp_avg_sq: Option<Tensor<B, D>>,
}

impl<B: Backend, const D: usize> Adam<B, D> {
    /// An optimizer with no steps taken.
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            decoupled_weight_decay: false,
            state: None,
        }
    }

    /// AdamW: weight decay shrinks the pixels directly instead of entering the gradient.
    pub fn adamw(config: AdamConfig) -> Self {
        Self {
            decoupled_weight_decay: true,
            ..Self::new(config)
        }
    }

    /// The options it was made with.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// The moments; `None` before the first step.
    pub fn state(&self) -> Option<&AdamState<B, D>> {
        self.state.as_ref()
    }

    /// Applies one update with a known gradient.
    pub fn update(&mut self, pixels: Tensor<B, D>, gradient: Tensor<B, D>) -> Tensor<B, D> {
        if let Some(host) = crate::host::Precision::of(&pixels) {
            return super::adam_host::update(
                host,
                &self.config,
                self.decoupled_weight_decay,
                &mut self.state,
                pixels,
                gradient,
            );
        }
        let AdamConfig {
            lr,
            betas: (beta1, beta2),
            eps,
            weight_decay,
            amsgrad,
            maximize,
        } = self.config;
        let mut gradient = if maximize { gradient.neg() } else { gradient };
        let mut pixels = pixels;
        if weight_decay != 0.0 {
            if self.decoupled_weight_decay {
                pixels = pixels.mul_scalar(1.0 - lr * weight_decay);
            } else {
                gradient = gradient.add(pixels.clone().mul_scalar(weight_decay));
            }
        }
        let state = self.state.get_or_insert_with(|| AdamState {
            step: 0,
            exp_avg: gradient.zeros_like(),
            exp_avg_sq: gradient.zeros_like(),
            max_exp_avg_sq: amsgrad.then(|| gradient.zeros_like()),
        });
        state.step += 1;
        // torch: exp_avg.lerp_(grad, 1 - beta1);
        //        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
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
        if self.decoupled_weight_decay {
            "AdamW"
        } else {
            "Adam"
        }
    }

    fn state(&self) -> State {
        let c = &self.config;
        let moments = self.state.as_ref();
        State::new(self.name())
            .scalar("lr", c.lr)
            .scalar("beta1", c.betas.0)
            .scalar("beta2", c.betas.1)
            .scalar("eps", c.eps)
            .scalar("weight_decay", c.weight_decay)
            .flag("amsgrad", c.amsgrad)
            .flag("maximize", c.maximize)
            .scalar("step", moments.map_or(0.0, |m| m.step as f64))
            .tensor("exp_avg", moments.map(|m| &m.exp_avg))
            .tensor("exp_avg_sq", moments.map(|m| &m.exp_avg_sq))
            .tensor(
                "max_exp_avg_sq",
                moments.and_then(|m| m.max_exp_avg_sq.as_ref()),
            )
    }

    fn load_state(&mut self, state: &State, device: &B::Device, dtype: DType) -> Result<()> {
        state.expect_name(self.name())?;
        self.config = AdamConfig {
            lr: state.get_scalar("lr")?,
            betas: (state.get_scalar("beta1")?, state.get_scalar("beta2")?),
            eps: state.get_scalar("eps")?,
            weight_decay: state.get_scalar("weight_decay")?,
            amsgrad: state.get_flag("amsgrad")?,
            maximize: state.get_flag("maximize")?,
        };
        let step = state.get_scalar("step")? as u64;
        let exp_avg = state.get_tensor::<B, D>("exp_avg", device, dtype)?;
        let exp_avg_sq = state.get_tensor::<B, D>("exp_avg_sq", device, dtype)?;
        self.state = match (exp_avg, exp_avg_sq) {
            (Some(exp_avg), Some(exp_avg_sq)) if step > 0 => Some(AdamState {
                step,
                exp_avg,
                exp_avg_sq,
                max_exp_avg_sq: state.get_tensor("max_exp_avg_sq", device, dtype)?,
            }),
            _ => None,
        };
        Ok(())
    }

    fn to(&mut self, device: &B::Device, dtype: DType) {
        if let Some(state) = self.state.as_mut() {
            convert(&mut state.exp_avg, device, dtype);
            convert(&mut state.exp_avg_sq, device, dtype);
            if let Some(max) = state.max_exp_avg_sq.as_mut() {
                convert(max, device, dtype);
            }
        }
    }
}
