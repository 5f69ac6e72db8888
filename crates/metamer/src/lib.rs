//! Model metamers in Rust: images that a differentiable visual model cannot tell apart from a
//! target image, synthesized on any Burn backend.
//!
//! ```no_run
//! use metamer::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! set_seed(0);
//! let image = metamer::io::einstein(true)?.to_tensor(&Default::default())?;
//! let model = Gaussian::new(30, &Default::default())?;
//! let mut met = Metamer::<metamer::backend::NdArray>::new(image, model)?;
//! met.synthesize(SynthesizeOptions { max_iter: 110, ..Default::default() })?;
//! println!("{:?}", met.losses()?);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs, clippy::missing_errors_doc)]

pub use metamer_core::{
    Adam, AdamConfig, BurnModel, CoarseToFine, CoarseToFineState, CtfSynthesizeOptions,
    EpochSchedule, EpochScheduler, Evaluation, Inner, IterationInfo, IterationSelection, Lbfgs,
    LbfgsConfig, LineSearch, LoadOptions, Loss, LrScheduler, Metamer, MetamerCtf, MetamerError,
    MetamerOptions, Model, Penalty, PixelOptimizer, PlateauConfig, PlateauMode, Progress,
    ReduceLrOnPlateau, Representation, Setup, Sgd, SgdConfig, Snapshot, Synthesis, SynthesisReport,
    SynthesizeOptions, ThresholdMode, Warning, set_seed,
};
pub use metamer_io::SaveLoad;

/// Visual models and their building blocks.
pub mod models {
    pub use metamer_models::*;
}

/// torchvision's deep networks as models (plenoptic's `DeepNetFeatures`).
pub mod nets {
    pub use metamer_nets::*;
}

/// Images, `.npy` files and the built-in images.
pub mod io {
    pub use metamer_io::*;
}

/// Figures of a synthesis.
pub mod plot {
    pub use metamer_plot::*;
}

pub mod study;
pub mod synthesis;

/// Autodiff backends selected by this crate's features.
pub mod backend {
    /// Burn's Flex CPU backend (feature `flex`, on by default).
    #[cfg(feature = "flex")]
    pub type Flex = burn::backend::Autodiff<burn::backend::Flex>;
    /// The ndarray CPU backend in float32 (feature `ndarray`, on by default): the fastest here
    /// for metamer synthesis, see the README's Speed section.
    #[cfg(feature = "ndarray")]
    pub type NdArray = burn::backend::Autodiff<burn::backend::NdArray<f32>>;
    /// The portable CPU backend in float64 (feature `ndarray`).
    #[cfg(feature = "ndarray")]
    pub type NdArray64 = burn::backend::Autodiff<burn::backend::NdArray<f64>>;
    /// GPUs through WebGPU/Vulkan (feature `wgpu`).
    #[cfg(feature = "wgpu")]
    pub type Wgpu = burn::backend::Autodiff<burn::backend::Wgpu>;
    /// libtorch (feature `tch`).
    #[cfg(feature = "tch")]
    pub type LibTorch = burn::backend::Autodiff<burn::backend::LibTorch>;
}

/// The names most programs need.
pub mod prelude {
    pub use crate::models::{
        CenterSurround, FrontEnd, FrontEndConfig, FrontEndKind, Gaussian, GaussianConfig, Identity,
        LaplacianPyramid, Linear, Padding, PortillaSimoncelli, PortillaSimoncelliConfig,
    };
    pub use crate::{
        CoarseToFine, CtfSynthesizeOptions, IterationSelection, LoadOptions, Loss, Metamer,
        MetamerCtf, MetamerOptions, Model, Penalty, Representation, SaveLoad, Setup, Synthesis,
        SynthesizeOptions, set_seed,
    };
}
