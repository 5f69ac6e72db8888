//! Visual models for metamer synthesis and the signal processing they are built from.
//!
//! Models whose parameters plenoptic learns are Burn modules with those parameters as
//! [`Param`](burn::module::Param)s: their inherent `forward` differentiates with respect to
//! them, so they can be fitted in Burn; as a metamer [`Model`](metamer_core::Model) they run
//! with their parameters frozen.

mod buffers;
mod center_surround;
mod correlation;
mod error;
pub mod fft;
pub mod filters;
mod frontend;
mod gaussian;
mod host;
mod identity;
mod laplacian;
mod linear;
pub mod padding;
pub mod portilla_simoncelli;
pub mod signal;
mod steerable;

use burn::{
    module::Param,
    tensor::{Tensor, backend::Backend},
};

pub use center_surround::{CenterSurround, CenterSurroundConfig};
pub use correlation::{FixedCorrelation, correlate_fixed};
pub use error::{ModelError, Result};
pub use frontend::{
    Activate, Activation, FrontEnd, FrontEndConfig, FrontEndKind, ModelWarning, disk,
};
pub use gaussian::{Gaussian, GaussianConfig};
pub use host::HostBackend;
pub use identity::Identity;
pub use laplacian::{LaplacianPyramid, blur_downsample, upsample_blur};
pub use linear::{Linear, LinearConfig};
pub use padding::Padding;
pub use portilla_simoncelli::{PortillaSimoncelli, PortillaSimoncelliConfig};
pub use steerable::{Band, Level, Pyramid, SteerablePyramid, SteerablePyramidConfig};

/// A parameter's value cut from the graph: what metamer synthesis uses.
fn frozen<B: Backend, const D: usize>(param: &Param<Tensor<B, D>>) -> Tensor<B, D> {
    param.val().detach()
}
