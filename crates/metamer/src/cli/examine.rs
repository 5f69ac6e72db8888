//! `metamer examine`: describe a saved synthesis.

use std::path::PathBuf;

use clap::Args;

use super::CliError;

#[derive(Args, Debug)]
pub struct ExamineArgs {
    /// A `synthesis.safetensors` file.
    file: PathBuf,
}

pub fn run(args: ExamineArgs) -> Result<(), CliError> {
    let report = metamer::io::examine_saved_synthesis(&args.file)?;
    print!("{report}");
    Ok(())
}
