//! `metamer models`: the models `--model` accepts.

use super::CliError;

pub fn run() -> Result<(), CliError> {
    print!("{}", metamer::synthesis::model_spec::listing());
    Ok(())
}
