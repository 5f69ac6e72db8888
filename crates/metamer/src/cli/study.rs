//! `metamer study`: many syntheses from one plan, here or on a Slurm cluster.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use metamer::study::{
    self, Display, Plan, Shard, SlurmOptions, StudyDir, StudyError, StudyOptions, Worker,
};

use super::{CliError, interruption_flag};

#[derive(Subcommand, Debug)]
pub enum StudyCommand {
    /// Run a plan's jobs: skips finished ones, continues interrupted ones.
    Run(RunArgs),
    /// Count the jobs by status and list the failed ones' errors.
    Status(StatusArgs),
    /// Write DIR/study.sbatch, a Slurm job array running the plan; --submit submits it.
    Slurm(SlurmArgs),
    /// Run one job of a study; `study run` starts one such process per job.
    #[command(hide = true)]
    Job { dir: PathBuf, id: String },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The plan (TOML): [defaults], [grid] and [[job]] tables of `metamer synth` options.
    plan: PathBuf,
    /// The study's folder: jobs/<id>/ holds each job's results.
    #[arg(long)]
    out: PathBuf,
    /// Jobs at once, one thread each; default: the number of cores.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Run only share I of N (from 0) of the jobs, or `slurm` for this array task's share.
    #[arg(long, value_name = "I/N|slurm")]
    shard: Option<String>,
    /// Run failed jobs again.
    #[arg(long)]
    retry_failed: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    plan: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    plan: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Array tasks; default: one per job.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    tasks: Option<u64>,
    /// Time limit per task, in Slurm's format (e.g. 2:00:00).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Memory per task (e.g. 4G).
    #[arg(long, value_name = "M")]
    mem: Option<String>,
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// A further #SBATCH argument, e.g. --sbatch-arg=--account=lab (repeatable).
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    sbatch_args: Vec<String>,
    /// Submit the script with sbatch and print the job id on the last line.
    #[arg(long)]
    submit: bool,
}

pub fn run(command: StudyCommand) -> Result<(), CliError> {
    match command {
        StudyCommand::Run(args) => run_plan(args),
        StudyCommand::Status(args) => {
            let plan = Plan::load(&args.plan)?;
            print!("{}", study::status_report(&plan, &StudyDir::new(args.out)));
            Ok(())
        }
        StudyCommand::Slurm(args) => slurm(args),
        StudyCommand::Job { dir, id } => {
            let dir = StudyDir::new(dir);
            let settings = study::read_job_settings(&dir, &id)?;
            let outcome = study::run_job(&dir, &id, &settings, Some(interruption_flag()))?;
            println!(
                "{}",
                serde_json::to_string(&outcome).expect("outcomes serialize")
            );
            Ok(())
        }
    }
}

fn this_program() -> Result<PathBuf, CliError> {
    std::env::current_exe()
        .map_err(|e| CliError::Usage(format!("cannot find this program's path: {e}")))
}

fn run_plan(args: RunArgs) -> Result<(), CliError> {
    let plan = Plan::load(&args.plan)?;
    let shard = match args.shard.as_deref() {
        None => None,
        Some("slurm") => Some(Shard::from_slurm().map_err(CliError::Usage)?),
        Some(text) => Some(Shard::parse(text).map_err(CliError::Usage)?),
    };
    let display = if args.quiet {
        Display::Quiet
    } else if std::io::stderr().is_terminal() {
        Display::Bar
    } else {
        Display::Lines
    };
    let defaults = StudyOptions::default();
    let options = StudyOptions {
        jobs: args.jobs.map_or(defaults.jobs, |n| n as usize),
        shard,
        retry_failed: args.retry_failed,
        display,
        worker: Worker::Process(this_program()?),
        stop: Some(interruption_flag()),
    };
    let dir = StudyDir::new(&args.out);
    let report = study::run(&plan, &dir, &options)?;
    if !args.quiet {
        eprintln!(
            "{} jobs here: {} done, {} failed, {} running elsewhere; {}",
            report.total,
            report.done,
            report.failed,
            report.elsewhere,
            dir.summary().display()
        );
    }
    if report.failed > 0 {
        return Err(CliError::Usage(format!(
            "{} of {} jobs failed; `metamer study status {} --out {}` lists their errors",
            report.failed,
            report.total,
            args.plan.display(),
            args.out.display()
        )));
    }
    Ok(())
}

fn slurm(args: SlurmArgs) -> Result<(), CliError> {
    let plan = Plan::load(&args.plan)?;
    let absolute = |path: &Path| {
        std::path::absolute(path).map_err(|source| StudyError::File {
            path: path.to_path_buf(),
            source,
        })
    };
    let out = absolute(&args.out)?;
    let logs = out.join("slurm");
    std::fs::create_dir_all(&logs).map_err(|source| StudyError::File {
        path: logs.clone(),
        source,
    })?;
    let options = SlurmOptions {
        tasks: args.tasks.map(|n| n as usize),
        time: args.time,
        mem: args.mem,
        partition: args.partition,
        extra: args.sbatch_args,
    };
    let text = study::slurm_script(
        &this_program()?,
        &plan.path,
        &out,
        plan.jobs.len(),
        &options,
    );
    let script = out.join("study.sbatch");
    metamer::io::write_atomically(&script, text.as_bytes())?;
    println!("{}", script.display());
    if !args.submit {
        return Ok(());
    }
    let submitted = std::process::Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .map_err(|e| CliError::Usage(format!("cannot run sbatch: {e}; is Slurm installed?")))?;
    if !submitted.status.success() {
        let message = String::from_utf8_lossy(&submitted.stderr);
        return Err(CliError::Usage(format!(
            "sbatch refused {}: {}",
            script.display(),
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        )));
    }
    let answer = String::from_utf8_lossy(&submitted.stdout);
    let job_id = answer
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    println!("{job_id}");
    Ok(())
}
