//! `metamer models`: the models `--model` accepts, or one network's node names.

use std::io::Write;

use super::CliError;

#[derive(clap::Args)]
pub struct ModelsArgs {
    /// A network (alexnet, vgg16, vgg19, resnet18, resnet50) whose node names to list, in
    /// execution order, as torchvision's `get_graph_node_names` gives them.
    network: Option<String>,
}

pub fn run(args: ModelsArgs) -> Result<(), CliError> {
    use metamer::synthesis::model_spec::{listing, node_names};
    match args.network {
        None => print!("{}", listing()),
        Some(name) => {
            let names = node_names(&name).ok_or_else(|| {
                CliError::Usage(format!(
                    "{name:?} is not a network; node names are listed for alexnet, vgg16, \
                     vgg19, resnet18 and resnet50"
                ))
            })?;
            // A closed pipe (`| head`) ends the listing quietly.
            let mut out = std::io::stdout().lock();
            for name in names {
                if writeln!(out, "{name}").is_err() {
                    break;
                }
            }
        }
    }
    Ok(())
}
