//! Visual models for metamer synthesis and the signal processing they are built from.

mod error;
mod gaussian;
mod identity;
pub mod padding;

pub use error::{ModelError, Result};
pub use gaussian::Gaussian;
pub use identity::Identity;
pub use padding::Padding;
