//! Optimizers that step the metamer's pixel tensor, with torch's exact update rules.
//!
//! An optimizer sees only plain (non-autodiff) tensors and a closure that evaluates the
//! objective and its gradient, so multi-evaluation methods such as L-BFGS fit the same seam as
//! Adam and SGD, and users can bring their own by implementing [`PixelOptimizer`].

mod adam;
mod adam_host;
mod lbfgs;
mod sgd;
mod state;

pub use adam::{Adam, AdamConfig, AdamState};
pub use lbfgs::{Lbfgs, LbfgsConfig, LineSearch};
pub use sgd::{Sgd, SgdConfig};
pub use state::{State, StateTensor};

use burn::tensor::{DType, Tensor, backend::Backend};

use crate::{MetamerError, Result};

/// A float as Python prints it (`-1.0`, `nan`, `inf`), for torch's messages.
fn python_float(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{value:?}")
    }
}

/// torch's `if not 0.0 <= value: raise ValueError(f"Invalid {what}: {value}")`, which also
/// refuses NaN.
fn non_negative(value: f64, what: &str) -> Result<()> {
    if value >= 0.0 {
        Ok(())
    } else {
        Err(MetamerError::Hyperparameter(format!(
            "Invalid {what}: {}",
            python_float(value)
        )))
    }
}

/// The objective and its gradient at one pixel state.
#[derive(Clone, Debug)]
pub struct Evaluation<B: Backend, const D: usize> {
    /// Loss plus weighted penalty.
    pub objective: f64,
    /// The penalty alone.
    pub penalty: f64,
    /// The objective's gradient with respect to the pixels.
    pub gradient: Tensor<B, D>,
}

/// Evaluates the objective (loss + λ·penalty) and its gradient at the given pixels.
pub type Objective<'a, B, const D: usize> =
    dyn FnMut(Tensor<B, D>) -> Result<Evaluation<B, D>> + 'a;

/// Updates the pixels from objective evaluations.
///
/// The synthesis loop records the first evaluation's objective and penalty as the iteration's
/// loss and penalty (plenoptic ≥ 2.1.1), and the last evaluation's gradient as its gradient.
pub trait PixelOptimizer<B: Backend, const D: usize> {
    /// One optimisation step from `pixels`; returns the new pixels.
    ///
    /// # Errors
    /// When the objective fails on the pixels or the step meets a value torch would refuse.
    fn step(
        &mut self,
        pixels: Tensor<B, D>,
        objective: &mut Objective<'_, B, D>,
    ) -> Result<Tensor<B, D>>;

    /// The learning rate of the next step.
    fn learning_rate(&self) -> f64;

    /// Sets the learning rate of the next step (a scheduler's decision).
    fn set_learning_rate(&mut self, learning_rate: f64);

    /// The name shown in summaries and checked on load (e.g. `Adam`).
    fn name(&self) -> &'static str;

    /// Moves and casts any state, so synthesis continues after [`crate::Metamer::to`].
    fn to(&mut self, device: &B::Device, dtype: DType);

    /// Hyper-parameters and buffers, for saving a synthesis. The default records only the name.
    fn state(&self) -> State {
        State::new(self.name())
    }

    /// Restores what [`PixelOptimizer::state`] returned, on `device` in `dtype`, like torch's
    /// `load_state_dict` (hyper-parameters included). The default refuses, for optimizers that
    /// do not record their state.
    ///
    /// # Errors
    /// When the state is another optimizer's or lacks a value this one records.
    fn load_state(&mut self, state: &State, _device: &B::Device, _dtype: DType) -> Result<()> {
        Err(crate::MetamerError::StateMismatch {
            expected: format!("an optimizer that can restore {} state", state.name),
            found: format!("{}, which keeps no state", self.name()),
        })
    }
}

/// Moves and casts one state tensor in place.
fn convert<B: Backend, const D: usize>(
    tensor: &mut Tensor<B, D>,
    device: &B::Device,
    dtype: DType,
) {
    *tensor = tensor.clone().cast(dtype).to_device(device);
}
