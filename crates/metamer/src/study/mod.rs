//! Studies: many metamers from one plan, run on this machine or as a Slurm job array, safely
//! resumable and shareable between processes.
//!
//! ```no_run
//! use metamer::study::{Plan, StudyDir, StudyOptions, run};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let plan = Plan::load("plan.toml".as_ref())?;
//! let report = run(&plan, &StudyDir::new("study"), &StudyOptions::default())?;
//! println!("{} of {} jobs done", report.done, report.total);
//! # Ok(())
//! # }
//! ```

mod plan;
mod runner;
mod sheet;
mod slurm;
mod state;
mod summary;

use std::path::PathBuf;

pub use plan::{Job, Plan, job_id};
pub use runner::{
    CHECKPOINT_INTERVAL, Display, Shard, StudyOptions, StudyReport, Worker, read_job_settings, run,
    run_job,
};
pub use sheet::write as write_contact_sheet;
pub use slurm::{SlurmOptions, script as slurm_script};
pub use state::{JobResult, Status, StudyDir};
pub use summary::{status_report, table as summary_table};

use crate::io::IoError;
use crate::plot::PlotError;
use crate::synthesis::SynthesisError;

/// A message on one line (job errors and plan errors go into one-line fields and displays).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why a study could not be planned or run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The plan is malformed or one of its jobs cannot run; nothing was written.
    #[error("{}: {message}", path.display())]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file of the study folder could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the study could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The contact sheet could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// A job could not run.
    #[error(transparent)]
    Synthesis(#[from] SynthesisError),
    /// Stopped by a signal; running jobs wrote their checkpoints.
    #[error("interrupted with {pending} jobs left; run the same command again to continue")]
    Interrupted {
        /// Jobs not finished.
        pending: usize,
    },
}
