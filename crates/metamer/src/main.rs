//! `metamer synth`: synthesize a model metamer from the command line.

mod model_spec;
mod options;
mod plot;
mod synth;
mod training;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::synth::SynthArgs;

#[derive(Parser)]
#[command(name = "metamer", version, about = "Synthesize model metamers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Synthesize a metamer and write it, its history and figures to an output folder.
    Synth(Box<SynthArgs>),
    /// List the models `--model` accepts, with their options and defaults.
    Models,
    /// Describe a saved synthesis: versions, type, dtype, iterations, settings, tensor shapes.
    /// Draw a saved synthesis: its status at an iteration (PNG or SVG) or its animation.
    Plot(plot::PlotArgs),
    Examine {
        /// A `synthesis.safetensors` file.
        file: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            // One line, like every other failure; `--help` has the details.
            let rendered = error.to_string();
            eprintln!(
                "{}",
                rendered
                    .lines()
                    .next()
                    .unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Synth(args) => synth::run(*args),
        Command::Models => {
            print!("{}", model_spec::listing());
            Ok(())
        }
        Command::Plot(args) => plot::run(args),
        Command::Examine { file } => metamer::io::examine_saved_synthesis(&file)
            .map(|report| print!("{report}"))
            .map_err(synth::CliError::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error @ synth::CliError::Interrupted { .. }) => {
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
