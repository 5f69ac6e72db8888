//! A study's folder: each job's results, its claim and its recorded end.
//!
//! ```text
//! DIR/jobs/<id>/           what `metamer synth --out` writes
//! DIR/state/<id>/claim     locked while a process runs the job
//! DIR/state/<id>/result.json   done or failed, with iterations, loss, seconds, error
//! DIR/state/<id>/settings.json the settings a job's process runs it with
//! DIR/summary.csv, DIR/contact_sheet.png, DIR/study.sbatch
//! ```
//!
//! A claim is an advisory lock (`flock`) on the claim file: taking it is atomic, and the kernel
//! releases it when the holder dies, however it dies, so a dead process's jobs are taken over
//! by the next one that asks. On NFS, Linux maps these locks onto the server's byte-range
//! locks, which the server releases when a client's lease runs out.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::StudyError;
use crate::io::write_atomically;

/// The folder of a study.
#[derive(Clone, Debug)]
pub struct StudyDir {
    root: PathBuf,
}

/// How a job ended, as `result.json` records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    /// How it ended.
    pub status: Status,
    /// Iterations run; `None` when it failed before running.
    pub iterations: Option<usize>,
    /// The loss at its final metamer, when known.
    pub loss: Option<f64>,
    /// Wall-clock seconds it took.
    pub seconds: f64,
    /// Why it failed, in one line.
    pub error: Option<String>,
}

/// A job's state in `summary.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Finished.
    Done,
    /// Ended with an error.
    Failed,
    /// Claimed by a runner that is still alive.
    Running,
    /// Not started, or claimed by a runner that died.
    Pending,
}

impl Status {
    /// The name `summary.csv` uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Running => "running",
            Self::Pending => "pending",
        }
    }
}

/// A job this process runs; dropping it releases the claim.
#[derive(Debug)]
pub struct Claim {
    file: File,
}

impl Claim {
    /// The locked file, for a child process to inherit so the claim outlives this process
    /// while the child runs.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Another prober's lock lasts microseconds; a runner's lasts a whole job.
const CLAIM_TRIES: usize = 3;
const CLAIM_RETRY: Duration = Duration::from_millis(10);

impl StudyDir {
    /// The study folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The study folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the job's results go.
    pub fn job(&self, id: &str) -> PathBuf {
        self.root.join("jobs").join(id)
    }

    fn state(&self, id: &str) -> PathBuf {
        self.root.join("state").join(id)
    }

    /// The settings a job's process runs it with.
    pub(crate) fn job_settings(&self, id: &str) -> PathBuf {
        self.state(id).join("settings.json")
    }

    /// The table of every job's state and result.
    pub fn summary(&self) -> PathBuf {
        self.root.join("summary.csv")
    }

    /// The figure of every finished job's metamer.
    pub fn contact_sheet(&self) -> PathBuf {
        self.root.join("contact_sheet.png")
    }

    /// The recorded end of a job, if it has one.
    pub fn result(&self, id: &str) -> Option<JobResult> {
        let text = std::fs::read_to_string(self.state(id).join("result.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records how a job ended.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn record(&self, id: &str, result: &JobResult) -> Result<(), StudyError> {
        let text = serde_json::to_string_pretty(result).expect("results serialize");
        Ok(write_atomically(
            &self.state(id).join("result.json"),
            text.as_bytes(),
        )?)
    }

    /// Forgets a failed job's end, so it runs again.
    ///
    /// # Errors
    /// The file exists but cannot be removed.
    pub fn forget(&self, id: &str) -> Result<(), StudyError> {
        let path = self.state(id).join("result.json");
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StudyError::File { path, source }),
        }
    }

    /// Claims a job for this process; `None` when another process holds it.
    ///
    /// # Errors
    /// The claim file cannot be created or locked for another reason than contention.
    pub fn try_claim(&self, id: &str) -> Result<Option<Claim>, StudyError> {
        let folder = self.state(id);
        let path = folder.join("claim");
        let file_error = |source| StudyError::File {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(file_error)?;
        // Never deleted: a process waiting on an unlinked file would hold a claim nobody sees.
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(file_error)?;
        for attempt in 0..CLAIM_TRIES {
            match file.try_lock() {
                Ok(()) => {
                    let holder = format!("{} {}\n", hostname(), std::process::id());
                    file.set_len(0).map_err(file_error)?;
                    file.write_all(holder.as_bytes()).map_err(file_error)?;
                    return Ok(Some(Claim { file }));
                }
                Err(TryLockError::WouldBlock) if attempt + 1 < CLAIM_TRIES => {
                    std::thread::sleep(CLAIM_RETRY);
                }
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(source)) => return Err(file_error(source)),
            }
        }
        Ok(None)
    }

    /// Whether some process holds the job's claim now.
    pub fn is_claimed(&self, id: &str) -> bool {
        let Ok(file) = File::open(self.state(id).join("claim")) else {
            return false;
        };
        match file.try_lock_shared() {
            Ok(()) => false,
            Err(TryLockError::WouldBlock) => true,
            Err(TryLockError::Error(_)) => false,
        }
    }

    /// A job's state: its recorded end, else running while claimed, else pending.
    pub fn status(&self, id: &str) -> (Status, Option<JobResult>) {
        match self.result(id) {
            Some(result) => (result.status, Some(result)),
            None if self.is_claimed(id) => (Status::Running, None),
            None => (Status::Pending, None),
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_exclusive_and_released_on_drop() {
        let root = std::env::temp_dir().join(format!("metamer-claims-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = StudyDir::new(&root);
        assert_eq!(dir.status("a").0, Status::Pending);
        let claim = dir.try_claim("a").unwrap().expect("free");
        assert!(dir.try_claim("a").unwrap().is_none());
        assert_eq!(dir.status("a").0, Status::Running);
        drop(claim);
        assert_eq!(dir.status("a").0, Status::Pending);
        let result = JobResult {
            status: Status::Failed,
            iterations: Some(3),
            loss: None,
            seconds: 0.5,
            error: Some("boom".to_string()),
        };
        dir.record("a", &result).unwrap();
        assert_eq!(dir.status("a"), (Status::Failed, Some(result)));
        dir.forget("a").unwrap();
        assert_eq!(dir.status("a").0, Status::Pending);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
