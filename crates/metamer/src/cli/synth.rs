//! `metamer synth`: one synthesis from the command line.

use std::path::PathBuf;

use clap::Args;
use metamer::synthesis::{self, RunOptions, Settings, load_checkpoint};

use super::{CliError, interruption_flag};

#[derive(Args, Debug)]
pub struct SynthArgs {
    #[command(flatten)]
    settings: Settings,
    /// Results folder; the synthesis itself goes to `synthesis.safetensors` there.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Continue the synthesis saved in FILE (a `synthesis.safetensors`) for `--max-iter` more
    /// iterations; the file holds the image, the model and every setting.
    #[arg(long, value_name = "FILE", conflicts_with_all = [
        "image", "model", "init", "seed", "lr", "optimizer", "optimizer_opt", "scheduler",
        "scheduler_opt", "loss", "penalty_lambda", "range", "backend", "dtype", "store_progress",
        "stop_criterion", "stop_iters_to_check", "coarse_to_fine", "change_scale_criterion",
        "ctf_iters_to_check",
    ])]
    resume: Option<PathBuf>,
    /// Hide the progress bar and summary.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: SynthArgs) -> Result<(), CliError> {
    let (settings, checkpoint) = match &args.resume {
        None => (args.settings, None),
        Some(path) => {
            let mut checkpoint = load_checkpoint(path)?;
            // `--max-iter` more iterations, even after a synthesis that had converged.
            checkpoint.converged = false;
            let settings = Settings {
                max_iter: checkpoint.iterations() + args.settings.max_iter,
                checkpoint_every: args.settings.checkpoint_every,
                ..checkpoint.settings.clone()
            };
            (settings, Some(checkpoint))
        }
    };
    let options = RunOptions {
        out: args.out,
        quiet: args.quiet,
        resumed_from: args.resume,
        checkpoint_interval: None,
        stop: Some(interruption_flag()),
        poll_workers: true,
    };
    synthesis::run(&settings, checkpoint.as_ref(), &options)?;
    Ok(())
}
