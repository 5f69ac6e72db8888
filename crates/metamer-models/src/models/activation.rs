//! The front ends' final non-linearity: the built-in ones, and the trait a user's own
//! implements.

use burn::tensor::{Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

/// The final non-linearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// torch's `softplus`: `log(1 + eˣ)`, and `x` itself above 20.
    #[default]
    Softplus,
    /// `max(x, 0)`.
    Relu,
    /// No non-linearity.
    Identity,
}

impl Activation {
    /// The non-linearity applied to `x`, element by element.
    pub fn apply<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Self::Softplus => {
                let linear = x.clone().greater_elem(20.0);
                let smooth = x.clone().clamp_max(20.0).exp().log1p();
                smooth.mask_where(linear, x)
            }
            Self::Relu => burn::tensor::activation::relu(x),
            Self::Identity => x,
        }
    }

    /// The name plenoptic's descriptions use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Softplus => "softplus",
            Self::Relu => "relu",
            Self::Identity => "identity",
        }
    }
}

/// A final non-linearity: [`Activation`]'s, or any function of the response written for
/// every backend (plenoptic accepts any callable), e.g.
///
/// ```
/// use burn::tensor::{Tensor, backend::Backend};
/// #[derive(Clone, Debug)]
/// struct Tanh;
/// impl metamer_models::Activate for Tanh {
///     fn apply<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
///         x.tanh()
///     }
///     fn name(&self) -> String {
///         "tanh".into()
///     }
/// }
/// ```
pub trait Activate: Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The non-linearity applied to `x`, element by element.
    fn apply<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>;
    /// How the model's description names it.
    fn name(&self) -> String;

    /// The built-in non-linearity this is, if it is one: the front ends then fuse it with
    /// the rest of their host computation.
    fn builtin(&self) -> Option<Activation> {
        None
    }
}

impl Activate for Activation {
    fn apply<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        Activation::apply(*self, x)
    }

    fn name(&self) -> String {
        Activation::name(*self).to_string()
    }

    fn builtin(&self) -> Option<Activation> {
        Some(*self)
    }
}
