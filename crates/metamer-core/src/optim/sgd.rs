use burn::tensor::{DType, Tensor, backend::Backend};

use super::{Objective, PixelOptimizer, State, convert, non_negative};
use crate::{MetamerError, Result};

/// SGD's hyper-parameters: torch's defaults with plenoptic's learning rate.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor; 0 is plain gradient descent.
    pub momentum: f64,
    /// Dampening of the momentum.
    pub dampening: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs momentum and no dampening).
    pub nesterov: bool,
    /// Ascend instead of descend.
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    /// Checks the hyper-parameters as torch's `SGD` does, with torch's messages (a NaN
    /// learning rate, which torch lets through, is refused too).
    ///
    /// # Errors
    /// [`MetamerError::Hyperparameter`] for a negative or NaN learning rate, momentum or
    /// weight decay, or Nesterov momentum without momentum or with dampening.
    pub fn check(&self) -> Result<()> {
        non_negative(self.lr, "learning rate")?;
        non_negative(self.momentum, "momentum value")?;
        non_negative(self.weight_decay, "weight_decay value")?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(MetamerError::Hyperparameter(
                "Nesterov momentum requires a momentum and zero dampening".to_string(),
            ));
        }
        Ok(())
    }
}

/// torch's SGD with momentum, dampening, Nesterov and weight decay.
#[derive(Clone, Debug)]
pub struct Sgd<B: Backend, const D: usize> {
    config: SgdConfig,
    momentum_buffer: Option<Tensor<B, D>>,
}

impl<B: Backend, const D: usize> Sgd<B, D> {
    /// An optimizer with no steps taken.
    pub fn new(config: SgdConfig) -> Self {
        Self {
            config,
            momentum_buffer: None,
        }
    }

    /// The options it was made with.
    pub fn config(&self) -> &SgdConfig {
        &self.config
    }

    /// The momentum buffer; `None` before the first step or without momentum.
    pub fn momentum_buffer(&self) -> Option<&Tensor<B, D>> {
        self.momentum_buffer.as_ref()
    }

    /// Applies one update with a known gradient.
    pub fn update(&mut self, pixels: Tensor<B, D>, gradient: Tensor<B, D>) -> Tensor<B, D> {
        let SgdConfig {
            lr,
            momentum,
            dampening,
            weight_decay,
            nesterov,
            maximize,
        } = self.config;
        let mut gradient = if maximize { gradient.neg() } else { gradient };
        if weight_decay != 0.0 {
            gradient = gradient.add(pixels.clone().mul_scalar(weight_decay));
        }
        if momentum != 0.0 {
            let buffer = match self.momentum_buffer.take() {
                None => gradient.clone(),
                Some(buffer) => buffer
                    .mul_scalar(momentum)
                    .add(gradient.clone().mul_scalar(1.0 - dampening)),
            };
            self.momentum_buffer = Some(buffer.clone());
            gradient = if nesterov {
                gradient.add(buffer.mul_scalar(momentum))
            } else {
                buffer
            };
        }
        pixels.sub(gradient.mul_scalar(lr))
    }
}

impl<B: Backend, const D: usize> PixelOptimizer<B, D> for Sgd<B, D> {
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
        "SGD"
    }

    fn state(&self) -> State {
        let c = &self.config;
        State::new(self.name())
            .scalar("lr", c.lr)
            .scalar("momentum", c.momentum)
            .scalar("dampening", c.dampening)
            .scalar("weight_decay", c.weight_decay)
            .flag("nesterov", c.nesterov)
            .flag("maximize", c.maximize)
            .tensor("momentum_buffer", self.momentum_buffer.as_ref())
    }

    fn load_state(&mut self, state: &State, device: &B::Device, dtype: DType) -> Result<()> {
        state.expect_name(self.name())?;
        self.config = SgdConfig {
            lr: state.get_scalar("lr")?,
            momentum: state.get_scalar("momentum")?,
            dampening: state.get_scalar("dampening")?,
            weight_decay: state.get_scalar("weight_decay")?,
            nesterov: state.get_flag("nesterov")?,
            maximize: state.get_flag("maximize")?,
        };
        self.momentum_buffer = state.get_tensor("momentum_buffer", device, dtype)?;
        Ok(())
    }

    fn to(&mut self, device: &B::Device, dtype: DType) {
        if let Some(buffer) = self.momentum_buffer.as_mut() {
            convert(buffer, device, dtype);
        }
    }
}
