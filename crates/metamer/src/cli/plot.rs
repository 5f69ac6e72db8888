//! `metamer plot`: figures of a saved synthesis.

use std::path::{Path, PathBuf};

use burn::tensor::backend::AutodiffBackend;
use clap::{Args, ValueEnum};
use metamer::models::HostBackend;
use metamer::plot::{
    AnimateOptions, LossPanel, PlotError, PlotName, Selection, StatusOptions, synthesis_animate,
    synthesis_status,
};
use metamer::synthesis::{
    BackendJob, Settings, SynthesisError, backend_in_use, build_metamer, load_checkpoint,
    on_backend,
};
use metamer::{Snapshot, Synthesis};

use super::CliError;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// The status figure as PNG.
    Png,
    /// The status figure as SVG.
    Svg,
    /// Every stored iteration, animated (needs `--store-progress` at synthesis).
    Gif,
    /// The animation as an animated PNG.
    Apng,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// A `synthesis.safetensors` written by `metamer synth`.
    file: PathBuf,
    /// Iteration to show (negative values count from the end); default: the last.
    #[arg(long, allow_negative_numbers = true)]
    iteration: Option<i64>,
    #[arg(long, value_enum, default_value_t = Format::Png)]
    format: Format,
    /// Output file; default: `status.png`/`.svg` or `animation.gif`/`.apng` beside FILE
    /// (`status-iteration-N.png` with `--iteration N`).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Plots to show, comma-separated: synthesis_imshow, synthesis_loss,
    /// metamer_representation_error, synthesis_histogram, misc.
    #[arg(long, value_delimiter = ',')]
    plots: Option<Vec<String>>,
    /// Integer magnification of the metamer; default: the largest that fits.
    #[arg(long)]
    zoom: Option<u32>,
    /// Frames per second of animations.
    #[arg(long, default_value_t = 10)]
    framerate: u32,
    /// Draw the penalty beside the loss.
    #[arg(long)]
    plot_penalties: bool,
    /// Which batch element to show.
    #[arg(long, default_value_t = 0)]
    batch_idx: usize,
    /// Which channel to show; default: all (as RGB when there are 3 or 4).
    #[arg(long)]
    channel_idx: Option<usize>,
}

pub fn run(args: PlotArgs) -> Result<(), CliError> {
    let animated = matches!(args.format, Format::Gif | Format::Apng);
    if animated && args.iteration.is_some() {
        return Err(CliError::Usage(
            "--iteration applies to png and svg figures; an animation shows every stored \
             iteration"
                .to_string(),
        ));
    }
    if args.zoom == Some(0) {
        return Err(CliError::Usage("zoom must be positive!".to_string()));
    }
    let included_plots = match &args.plots {
        Some(names) => PlotName::parse_list("included_plots", names)?,
        None => StatusOptions::default().included_plots,
    };
    let mut options = StatusOptions {
        selection: Selection {
            batch_idx: args.batch_idx,
            channel_idx: args.channel_idx,
            iteration: args.iteration,
        },
        included_plots,
        loss: LossPanel {
            plot_penalties: args.plot_penalties,
        },
        ..Default::default()
    };
    options.imshow.zoom = args.zoom;
    let checkpoint = load_checkpoint(&args.file)?;
    let output = args.output.clone().unwrap_or_else(|| default_output(&args));
    let warnings = on_backend(
        backend_in_use(&checkpoint.settings),
        checkpoint.settings.dtype,
        Draw {
            settings: &checkpoint.settings,
            snapshot: &checkpoint.snapshot,
            options,
            output: &output,
            format: args.format,
            framerate: args.framerate,
        },
    )?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    println!("{}", output.display());
    Ok(())
}

fn default_output(args: &PlotArgs) -> PathBuf {
    let folder = args.file.parent().unwrap_or(Path::new("."));
    let name = match (args.format, args.iteration) {
        (Format::Gif, _) => "animation.gif".to_string(),
        (Format::Apng, _) => "animation.png".to_string(),
        (format, None) => format!("status.{}", extension(format)),
        (format, Some(i)) => format!("status-iteration-{i}.{}", extension(format)),
    };
    folder.join(name)
}

fn extension(format: Format) -> &'static str {
    match format {
        Format::Png | Format::Apng => "png",
        Format::Svg => "svg",
        Format::Gif => "gif",
    }
}

struct Draw<'a> {
    settings: &'a Settings,
    snapshot: &'a Snapshot,
    options: StatusOptions,
    output: &'a Path,
    format: Format,
    framerate: u32,
}

impl BackendJob for Draw<'_> {
    /// The warnings the figure raised.
    type Output = Vec<String>;

    fn run<B: AutodiffBackend + HostBackend>(self) -> Result<Vec<String>, SynthesisError> {
        let met = build_metamer::<B>(self.settings, Some(self.snapshot), true)?;
        let warnings = match self.format {
            Format::Png | Format::Svg => {
                let figure = synthesis_status(met.as_metamer(), &self.options)?;
                let warnings = figure.warnings().to_vec();
                write_figure(self.output, self.format, |path| figure.save(path))?;
                warnings
            }
            Format::Gif | Format::Apng => {
                let animation = synthesis_animate(
                    met.as_metamer(),
                    &AnimateOptions {
                        framerate: self.framerate,
                        status: self.options,
                        ..Default::default()
                    },
                )?;
                let warnings = animation.warnings().to_vec();
                let mut bytes = Vec::new();
                if self.format == Format::Gif {
                    animation.write_gif(&mut bytes)?;
                } else {
                    animation.write_apng(&mut bytes)?;
                }
                metamer::io::write_atomically(self.output, &bytes)?;
                warnings
            }
        };
        Ok(warnings.iter().map(ToString::to_string).collect())
    }
}

/// Saves through `save` when the output's extension names the format, else writes the bytes
/// of that format under the name given.
fn write_figure(
    output: &Path,
    format: Format,
    save: impl FnOnce(&Path) -> Result<(), PlotError>,
) -> Result<(), SynthesisError> {
    let matches = output
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(extension(format)));
    if matches {
        return Ok(save(output)?);
    }
    Err(SynthesisError::Settings(format!(
        "--output {} must end in .{} for --format {}",
        output.display(),
        extension(format),
        format!("{format:?}").to_lowercase()
    )))
}
