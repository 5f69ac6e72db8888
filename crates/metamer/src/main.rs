//! The `metamer` command: one file per subcommand in `cli/`, over the library's synthesis and
//! study code.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "metamer", version, about = "Synthesize model metamers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Synthesize a metamer and write it, its history and figures to an output folder.
    Synth(Box<cli::synth::SynthArgs>),
    /// List the models `--model` accepts, with their options and defaults; with a network's
    /// name (`metamer models resnet50`), its node names for `layers=`.
    Models(cli::models::ModelsArgs),
    /// Draw a saved synthesis: its status at an iteration (PNG or SVG) or its animation.
    Plot(cli::plot::PlotArgs),
    /// Describe a saved synthesis: versions, type, dtype, iterations, settings, tensor shapes.
    Examine(cli::examine::ExamineArgs),
    /// Run many syntheses from one plan, on this machine or a Slurm cluster.
    #[command(subcommand)]
    Study(cli::study::StudyCommand),
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            // One line, like every other failure: clap's first paragraph (which may list
            // missing arguments on lines of their own) joined; `--help` has the rest.
            let rendered = error.to_string();
            let first: Vec<&str> = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect();
            eprintln!("{}", first.join(" "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        // The synthesis runs on one of rayon's threads, where the host operations' splits
        // are handed out without a wake-up, and the pool's other threads poll for them while
        // the loop runs (`synthesis/polling.rs`).
        Command::Synth(args) => rayon::scope(|_| cli::synth::run(*args)),
        Command::Models(args) => cli::models::run(args),
        Command::Plot(args) => cli::plot::run(args),
        Command::Examine(args) => cli::examine::run(args),
        Command::Study(command) => cli::study::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_interruption() => {
            eprintln!("{error}");
            // The shell convention for a process stopped by SIGINT.
            ExitCode::from(INTERRUPTED)
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status after Ctrl-C or SIGTERM, once the checkpoint and outputs are written.
const INTERRUPTED: u8 = 130;

/// Keeps freed memory in the process for the next allocation. Each iteration allocates and
/// frees planes of the same few sizes; glibc would map each large one afresh, or trim the
/// heap, and fault its pages in again every iteration.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: `mallopt` only sets the allocator's parameters; no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}
