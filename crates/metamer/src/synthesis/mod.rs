//! The synthesis `metamer synth` performs, as a library: [`Settings`] in, a results folder out
//! (`metamer.npy`, `metamer.png`, `history.json`, figures and `synthesis.safetensors`), with
//! checkpoints, interruption and exact continuation. The `synth` command and the study runner
//! are thin callers of [`run`].
//!
//! ```no_run
//! use metamer::synthesis::{RunOptions, Settings, run};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = Settings { max_iter: 50, seed: 3, ..Default::default() };
//! let outcome = run(&settings, None, &RunOptions::quiet("out"))?;
//! println!("{} iterations, loss {:?}", outcome.iterations, outcome.loss);
//! # Ok(())
//! # }
//! ```

mod backend;
mod figures;
pub mod model_spec;
mod options;
mod polling;
mod run;
mod settings;
mod target;
pub mod training;

use std::path::PathBuf;

pub use backend::{BackendJob, backend_in_use, compiled_in, not_compiled_in, on_backend};
pub use figures::Figures;
pub use model_spec::{BuiltModel, ModelSpec};
pub use options::KeyValues;
pub use run::{
    BuiltSynthesis, Checkpoint, Outcome, RunOptions, SYNTHESIS_FILE, build_metamer,
    load_checkpoint, run,
};
pub use settings::{
    BackendChoice, CtfChoice, DtypeChoice, InvalidSetting, LossChoice, ScaleCriterion, Settings,
    value_name,
};
pub use target::load_target;

use crate::MetamerError;
use crate::io::IoError;
use crate::plot::PlotError;

/// Why a synthesis could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum SynthesisError {
    /// The synthesis failed or refused its inputs.
    #[error(transparent)]
    Metamer(#[from] MetamerError),
    /// An input or output file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A figure could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A setting, or a combination of settings, that cannot work.
    #[error("{0}")]
    Settings(String),
    /// Stopped by Ctrl-C or SIGTERM after writing the synthesis and its outputs.
    #[error(
        "interrupted after {iterations} iterations; continue with `metamer synth --resume {}`",
        file.display()
    )]
    Interrupted {
        /// Iterations run, over every call.
        iterations: usize,
        /// The synthesis file written.
        file: PathBuf,
    },
}
