//! The metamer synthesis engine: [`Metamer`] over any Burn autodiff backend, with plenoptic's
//! losses, penalties, validation, optimizer and progress bookkeeping.

#![warn(missing_docs, clippy::missing_errors_doc)]

mod error;
mod host;
mod loss;
mod metamer;
mod model;
pub mod optim;
mod penalty;
mod progress;
mod representation;
pub mod rng;
pub mod schedule;
pub mod tensor;
pub mod validate;
mod warning;

pub use error::{MetamerError, Result};
pub use loss::Loss;
pub use metamer::{
    ALL_SCALES, Behaviour, CoarseToFine, CoarseToFineState, CtfSynthesizeOptions, Inner,
    IterationInfo, LoadOptions, Metamer, MetamerCtf, MetamerOptions, SNAPSHOT_VERSION, SavedDtype,
    Setup, Snapshot, Synthesis, SynthesisReport, SynthesizeOptions,
};
pub use model::{BurnModel, Model};
pub use optim::{
    Adam, AdamConfig, Evaluation, Lbfgs, LbfgsConfig, LineSearch, PixelOptimizer, Sgd, SgdConfig,
    State, StateTensor,
};
pub use penalty::Penalty;
pub use progress::{IterationSelection, Progress};
pub use representation::{Representation, WeightedRoot};
pub use rng::set_seed;
pub use schedule::{
    EpochSchedule, EpochScheduler, LrScheduler, PlateauConfig, PlateauMode, ReduceLrOnPlateau,
    ThresholdMode,
};
pub use warning::Warning;
