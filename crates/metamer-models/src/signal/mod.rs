//! The signal processing the models are built from: padding, Gaussian and other filters, the
//! Fourier transform and plenoptic's Fourier-domain helpers (centre crops, autocorrelations,
//! up- and down-sampling), fixed-weight correlations, and the Laplacian and steerable
//! pyramids.

mod correlation;
pub mod fft;
pub mod filters;
pub(crate) mod laplacian;
pub mod padding;
pub(crate) mod separable;
mod spectral;
pub(crate) mod steerable;

pub use correlation::{FixedCorrelation, correlate_fixed};
pub use spectral::{
    autocorrelation, autocorrelation_crop, center_crop, expand, shrink, shrink_real,
};
pub(crate) use spectral::{expand_map, shrink_map};
