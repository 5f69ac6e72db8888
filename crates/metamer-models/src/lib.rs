//! Visual models for metamer synthesis and the signal processing they are built from.
//!
//! Models whose parameters plenoptic learns are Burn modules with those parameters as
//! [`Param`](burn::module::Param)s: their inherent `forward` differentiates with respect to
//! them, so they can be fitted in Burn; as a metamer [`Model`](metamer_core::Model) they run
//! with their parameters frozen.

#![warn(missing_docs, clippy::missing_errors_doc)]

mod error;
mod host;
mod models;
pub mod signal;

pub use models::portilla_simoncelli;
pub use signal::{fft, filters, padding};

use burn::{
    module::Param,
    tensor::{Tensor, backend::Backend},
};

pub use error::{ModelError, Result};
pub use host::{HostBackend, HostOp, HostSplitOp};
pub use models::activation::{Activate, Activation};
pub use models::center_surround::{CenterSurround, CenterSurroundConfig};
pub use models::frontend::{FrontEnd, FrontEndConfig, FrontEndKind, ModelWarning, disk};
pub use models::gaussian::{Gaussian, GaussianConfig};
pub use models::identity::Identity;
pub use models::linear::{Linear, LinearConfig};
pub use models::portilla_simoncelli::{PortillaSimoncelli, PortillaSimoncelliConfig};
pub use padding::Padding;
pub use signal::laplacian::{LaplacianPyramid, blur_downsample, upsample_blur};
pub use signal::steerable::{Band, Level, Pyramid, SteerablePyramid, SteerablePyramidConfig};
pub use signal::{FixedCorrelation, correlate_fixed};

/// A parameter's value cut from the graph: what metamer synthesis uses.
fn frozen<B: Backend, const D: usize>(param: &Param<Tensor<B, D>>) -> Tensor<B, D> {
    param.val().detach()
}
