//! The subcommands, one file each, and what they share: the error type and the signal flag.

pub mod examine;
pub mod models;
pub mod plot;
pub mod study;
pub mod synth;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use metamer::io::IoError;
use metamer::plot::PlotError;
use metamer::study::StudyError;
use metamer::synthesis::SynthesisError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Synthesis(#[from] SynthesisError),
    #[error(transparent)]
    Study(#[from] StudyError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// Stopped by a signal after saving what it had: exit status 130, not a failure.
    pub fn is_interruption(&self) -> bool {
        matches!(
            self,
            Self::Synthesis(SynthesisError::Interrupted { .. })
                | Self::Study(StudyError::Interrupted { .. })
        )
    }
}

/// Set by Ctrl-C (SIGINT) or SIGTERM: work stops after the current iteration.
pub fn interruption_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    // One command runs per process, so one handler is installed.
    let _ = ctrlc::set_handler(move || raised.store(true, Ordering::SeqCst));
    flag
}
