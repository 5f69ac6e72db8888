//! Running a study's jobs: claims, workers, results, progress.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::plan::{Job, Plan};
use super::state::{Claim, JobResult, Status, StudyDir};
use super::{StudyError, one_line, sheet, summary};
use metamer_core::validate::panic_message;

use crate::synthesis::{
    self, Outcome, RunOptions, SYNTHESIS_FILE, Settings, SynthesisError, load_checkpoint,
};

/// Jobs checkpoint at least this often, whatever their `checkpoint-every`.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Which share of a plan's jobs a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// From 0.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// `I/N`, with `I` from 0 to `N - 1`.
    ///
    /// # Errors
    /// Not of that form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("--shard must be I/N with 0 <= I < N, or slurm; got {text:?}");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = index.trim().parse().map_err(|_| bad())?;
        let count: usize = count.trim().parse().map_err(|_| bad())?;
        if index < count {
            Ok(Self { index, count })
        } else {
            Err(bad())
        }
    }

    /// This Slurm array task's shard: its offset in the array and the array's size.
    ///
    /// # Errors
    /// Not inside a Slurm job array.
    pub fn from_slurm() -> Result<Self, String> {
        let read = |name: &str| -> Result<usize, String> {
            let value = std::env::var(name).map_err(|_| {
                format!("--shard slurm needs {name}: run it as a task of a Slurm job array")
            })?;
            value
                .parse()
                .map_err(|_| format!("{name} is {value:?}, not a number"))
        };
        let task = read("SLURM_ARRAY_TASK_ID")?;
        let count = read("SLURM_ARRAY_TASK_COUNT")?;
        let first = read("SLURM_ARRAY_TASK_MIN").unwrap_or(0);
        let index = task
            .checked_sub(first)
            .filter(|&index| index < count)
            .ok_or_else(|| format!("array task {task} is outside the array of {count} tasks"))?;
        Ok(Self { index, count })
    }

    /// The jobs of this shard: every `count`-th job in the order of their ids.
    pub fn select<'a>(&self, jobs: &'a [Job]) -> Vec<&'a Job> {
        let mut sorted: Vec<&Job> = jobs.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        sorted
            .into_iter()
            .enumerate()
            .filter(|(position, _)| position % self.count == self.index)
            .map(|(_, job)| job)
            .collect()
    }
}

/// Where a job's synthesis runs.
#[derive(Clone, Debug)]
pub enum Worker {
    /// On a thread of this process: no start-up cost, but a job that aborts the process takes
    /// the study with it, and the thread shares the process's thread pools.
    InProcess,
    /// In a child process, `PROGRAM study job DIR ID` (a `metamer` binary), on one thread: a
    /// crash is that job's failure only.
    Process(PathBuf),
}

/// What the progress display shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Nothing.
    Quiet,
    /// One line per finished job (for logs).
    Lines,
    /// A live bar with counts and the time left (for terminals).
    Bar,
}

/// How `run` goes through a plan.
#[derive(Clone, Debug)]
pub struct StudyOptions {
    /// Jobs run at once, one thread each.
    pub jobs: usize,
    /// Run only this shard's jobs (one task of a job array).
    pub shard: Option<Shard>,
    /// Run failed jobs again (they continue from their checkpoints).
    pub retry_failed: bool,
    /// What the progress display shows.
    pub display: Display,
    /// Where each job's synthesis runs.
    pub worker: Worker,
    /// Set (e.g. by a signal handler) to finish: running jobs checkpoint and stop, no new
    /// job starts.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for StudyOptions {
    fn default() -> Self {
        Self {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            shard: None,
            retry_failed: false,
            display: Display::Quiet,
            worker: Worker::InProcess,
            stop: None,
        }
    }
}

/// What one `run` did with its share of the jobs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StudyReport {
    /// Jobs of this share.
    pub total: usize,
    /// Finished now or before.
    pub done: usize,
    /// Failed now, or before and not retried.
    pub failed: usize,
    /// Held by another process.
    pub elsewhere: usize,
    /// Not run: interrupted or never started.
    pub pending: usize,
}

/// How one attempt at a job ended.
enum JobEnd {
    Done(Outcome),
    Failed(String),
    Interrupted,
}

/// Runs the plan's jobs (this shard's, if any) into `dir`, skipping finished ones, continuing
/// interrupted ones from their checkpoints.
///
/// # Errors
/// The study folder cannot be written, or the run was interrupted
/// ([`StudyError::Interrupted`], after every running job checkpointed).
pub fn run(plan: &Plan, dir: &StudyDir, options: &StudyOptions) -> Result<StudyReport, StudyError> {
    let share: Vec<&Job> = match options.shard {
        Some(shard) => shard.select(&plan.jobs),
        None => plan.jobs.iter().collect(),
    };
    std::fs::create_dir_all(dir.root()).map_err(|source| StudyError::File {
        path: dir.root().to_path_buf(),
        source,
    })?;
    let stop = options.stop.clone().unwrap_or_default();
    let mut report = StudyReport {
        total: share.len(),
        ..Default::default()
    };
    let mut queue = VecDeque::new();
    for job in share {
        match dir.result(&job.id).map(|r| r.status) {
            Some(Status::Done) => report.done += 1,
            Some(Status::Failed) if !options.retry_failed => report.failed += 1,
            _ => queue.push_back(job),
        }
    }
    let progress = Progress::new(options.display, &report, queue.len(), plan);
    let children = Arc::new(Mutex::new(Vec::<u32>::new()));
    let (sender, receiver) = mpsc::channel();
    let mut active = 0;
    let mut forwarded = false;
    loop {
        while active < options.jobs.max(1) && !stop.load(Ordering::SeqCst) {
            let Some(job) = queue.pop_front() else { break };
            let Some(claim) = dir.try_claim(&job.id)? else {
                report.elsewhere += 1;
                continue;
            };
            // Another process may have finished it between the first look and the claim.
            match dir.result(&job.id).map(|r| r.status) {
                Some(Status::Done) => {
                    report.done += 1;
                    continue;
                }
                Some(Status::Failed) if !options.retry_failed => {
                    report.failed += 1;
                    continue;
                }
                Some(Status::Failed) => dir.forget(&job.id)?,
                _ => {}
            }
            write_job_settings(dir, job)?;
            let sender = sender.clone();
            let context = Attempt {
                dir: dir.clone(),
                job: job.clone(),
                worker: options.worker.clone(),
                stop: Arc::clone(&stop),
                children: Arc::clone(&children),
            };
            active += 1;
            std::thread::spawn(move || {
                let started = Instant::now();
                let end = context.run(&claim);
                let _ = sender.send((context.job, end, started.elapsed(), claim));
            });
        }
        if active == 0 {
            break;
        }
        let (job, end, elapsed, claim) = match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(message) => message,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::SeqCst) && !forwarded {
                    forwarded = true;
                    forward_stop(&children);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        active -= 1;
        let result = match &end {
            JobEnd::Done(outcome) => Some(JobResult {
                status: Status::Done,
                iterations: Some(outcome.iterations),
                loss: outcome.loss,
                seconds: elapsed.as_secs_f64(),
                error: None,
            }),
            JobEnd::Failed(error) => Some(JobResult {
                status: Status::Failed,
                iterations: None,
                loss: None,
                seconds: elapsed.as_secs_f64(),
                error: Some(error.clone()),
            }),
            JobEnd::Interrupted => None,
        };
        if let Some(result) = &result {
            dir.record(&job.id, result)?;
        }
        // The claim ends once the result is on disk.
        drop(claim);
        match &end {
            JobEnd::Done(_) => report.done += 1,
            JobEnd::Failed(_) => report.failed += 1,
            JobEnd::Interrupted => report.pending += 1,
        }
        summary::write(plan, dir)?;
        progress.finished(&job, &end, elapsed, &report, plan);
    }
    report.pending += queue.len();
    progress.close();
    summary::write(plan, dir)?;
    if let Err(error) = sheet::write(plan, dir)
        && options.display != Display::Quiet
    {
        eprintln!("warning: contact sheet not written: {error}");
    }
    if stop.load(Ordering::SeqCst) {
        return Err(StudyError::Interrupted {
            pending: report.pending,
        });
    }
    Ok(report)
}

/// Runs one job in this process: continues its checkpoint if it has one, else starts it.
/// This is what a [`Worker::Process`] child runs.
///
/// # Errors
/// The job failed or was interrupted; its results so far are written.
pub fn run_job(
    dir: &StudyDir,
    id: &str,
    settings: &Settings,
    stop: Option<Arc<AtomicBool>>,
) -> Result<Outcome, SynthesisError> {
    let out = dir.job(id);
    let file = out.join(SYNTHESIS_FILE);
    let checkpoint = if file.exists() {
        let checkpoint = load_checkpoint(&file)?;
        // Paths may differ between machines; the image itself is checked on loading.
        let comparable = |s: &Settings| Settings {
            image: None,
            init: None,
            checkpoint_every: 0,
            ..s.clone()
        };
        if comparable(&checkpoint.settings) != comparable(settings) {
            return Err(SynthesisError::Settings(format!(
                "{} was saved with other settings; remove {} to start the job over",
                file.display(),
                out.display()
            )));
        }
        Some(checkpoint)
    } else {
        None
    };
    let options = RunOptions {
        out,
        quiet: true,
        resumed_from: None,
        checkpoint_interval: Some(CHECKPOINT_INTERVAL),
        stop,
        // Jobs run side by side in one pool: a job's polling threads would hold up the others.
        poll_workers: false,
    };
    synthesis::run(settings, checkpoint.as_ref(), &options)
}

fn write_job_settings(dir: &StudyDir, job: &Job) -> Result<(), StudyError> {
    let text = serde_json::to_string_pretty(&job.settings).expect("settings serialize");
    Ok(crate::io::write_atomically(
        &dir.job_settings(&job.id),
        text.as_bytes(),
    )?)
}

/// Reads the settings `run` wrote for job `id`: the child's side of [`Worker::Process`].
///
/// # Errors
/// Missing or unreadable.
pub fn read_job_settings(dir: &StudyDir, id: &str) -> Result<Settings, StudyError> {
    let path = dir.job_settings(id);
    let text = std::fs::read_to_string(&path).map_err(|source| StudyError::File {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| StudyError::Plan {
        path,
        message: e.to_string(),
    })
}

/// One attempt at a job, on a worker thread.
struct Attempt {
    dir: StudyDir,
    job: Job,
    worker: Worker,
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<u32>>>,
}

impl Attempt {
    fn run(&self, claim: &Claim) -> JobEnd {
        match &self.worker {
            Worker::InProcess => {
                let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_job(
                        &self.dir,
                        &self.job.id,
                        &self.job.settings,
                        Some(Arc::clone(&self.stop)),
                    )
                }));
                match attempt {
                    Ok(Ok(outcome)) => JobEnd::Done(outcome),
                    Ok(Err(SynthesisError::Interrupted { .. })) => JobEnd::Interrupted,
                    Ok(Err(error)) => JobEnd::Failed(one_line(&error.to_string())),
                    Err(panic) => JobEnd::Failed(format!(
                        "the job panicked: {}",
                        panic_message(&*panic).unwrap_or_else(|| "no message".to_string())
                    )),
                }
            }
            Worker::Process(program) => self.run_child(program, claim),
        }
    }

    fn run_child(&self, program: &Path, claim: &Claim) -> JobEnd {
        let mut command = std::process::Command::new(program);
        command
            .args(["study", "job"])
            .arg(self.dir.root())
            .arg(&self.job.id)
            .env("RAYON_NUM_THREADS", "1")
            .env("OMP_NUM_THREADS", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        child_setup::inherit_claim_and_parent_death(&mut command, claim);
        let child = match command.spawn() {
            Ok(child) => child,
            Err(error) => {
                return JobEnd::Failed(format!("cannot start {}: {error}", program.display()));
            }
        };
        let pid = child.id();
        lock(&self.children).push(pid);
        let output = child.wait_with_output();
        lock(&self.children).retain(|&p| p != pid);
        let output = match output {
            Ok(output) => output,
            Err(error) => return JobEnd::Failed(format!("lost the job's process: {error}")),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last_error = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .map(|line| line.trim_start_matches("error: ").to_string());
        match output.status.code() {
            Some(0) => match stdout
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
            {
                Some(outcome) => JobEnd::Done(outcome),
                None => JobEnd::Failed("the job's process reported no outcome".to_string()),
            },
            Some(INTERRUPTED) => JobEnd::Interrupted,
            Some(code) => JobEnd::Failed(
                last_error
                    .unwrap_or_else(|| format!("the job's process exited with status {code}")),
            ),
            None if self.stop.load(Ordering::SeqCst) => JobEnd::Interrupted,
            None => JobEnd::Failed(format!(
                "the job's process died ({}){}",
                signal_text(&output.status),
                last_error.map(|e| format!(": {e}")).unwrap_or_default()
            )),
        }
    }
}

/// The exit status of `metamer` after an interruption.
const INTERRUPTED: i32 = 130;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn signal_text(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("signal {signal}");
        }
    }
    status.to_string()
}

/// Passes a stop on to the job processes (a terminal's Ctrl-C reaches them itself; a `kill` of
/// this process alone does not).
fn forward_stop(children: &Mutex<Vec<u32>>) {
    #[cfg(unix)]
    for &pid in lock(children).iter() {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) with a pid this process spawned and has not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = children;
}

/// Unix: the child keeps the claim's lock (the locked file stays open in it, so a job whose
/// runner died is not taken over while its process still writes), and on Linux it is asked to
/// stop (SIGTERM: checkpoint and exit) when the runner dies.
mod child_setup {
    use super::Claim;

    #[cfg(unix)]
    pub fn inherit_claim_and_parent_death(command: &mut std::process::Command, claim: &Claim) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fd = claim.file().as_raw_fd();
        // SAFETY: only async-signal-safe calls (fcntl, prctl) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags >= 0 {
                    libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                }
                #[cfg(target_os = "linux")]
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }

    #[cfg(not(unix))]
    pub fn inherit_claim_and_parent_death(_: &mut std::process::Command, _: &Claim) {}
}

/// The progress display.
struct Progress {
    display: Display,
    bar: ProgressBar,
    started: Instant,
    /// Jobs this run ended so far.
    ended: std::cell::Cell<usize>,
}

impl Progress {
    fn new(display: Display, report: &StudyReport, queued: usize, plan: &Plan) -> Self {
        let bar = if display == Display::Bar {
            ProgressBar::new(report.total as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} jobs [{elapsed_precise}] {msg}")
                .expect("valid template"),
        );
        bar.set_position((report.done + report.failed) as u64);
        let progress = Self {
            display,
            bar,
            started: Instant::now(),
            ended: std::cell::Cell::new(0),
        };
        progress.bar.set_message(format!(
            "{} done, {} failed, {} to run",
            report.done, report.failed, queued
        ));
        if display == Display::Lines {
            eprintln!(
                "{}: {} jobs here, {} done before, {} failed before, {queued} to run",
                plan.path.display(),
                report.total,
                report.done,
                report.failed
            );
        }
        progress
    }

    fn finished(
        &self,
        job: &Job,
        end: &JobEnd,
        elapsed: Duration,
        report: &StudyReport,
        plan: &Plan,
    ) {
        self.ended.set(self.ended.get() + 1);
        let remaining = report
            .total
            .saturating_sub(report.done + report.failed + report.elsewhere + report.pending);
        // Jobs run side by side, so the time per ended job already reflects the parallelism.
        let eta = self.started.elapsed().as_secs_f64() / self.ended.get() as f64 * remaining as f64;
        match self.display {
            Display::Quiet => {}
            Display::Bar => {
                self.bar.set_position((report.done + report.failed) as u64);
                self.bar.set_message(format!(
                    "{} done, {} failed, {remaining} remaining, about {} left",
                    report.done,
                    report.failed,
                    duration_text(eta)
                ));
            }
            Display::Lines => {
                let what = match end {
                    JobEnd::Done(outcome) => format!(
                        "done, {} iterations, loss {}",
                        outcome.iterations,
                        outcome
                            .loss
                            .map_or("nan".to_string(), |l| format!("{l:.4e}"))
                    ),
                    JobEnd::Failed(error) => format!("failed: {error}"),
                    JobEnd::Interrupted => "interrupted (continues on the next run)".to_string(),
                };
                eprintln!(
                    "[{} done, {} failed, {remaining} remaining, about {} left] {} ({}): {what} in {:.1} s",
                    report.done,
                    report.failed,
                    duration_text(eta),
                    job.id,
                    job.label(&plan.varying),
                    elapsed.as_secs_f64()
                );
            }
        }
    }

    fn close(&self) {
        self.bar.finish_and_clear();
    }
}

fn duration_text(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds.div_ceil(60)),
        _ => format!("{:.1} h", seconds as f64 / 3600.0),
    }
}
