//! Draws the README's figures from a real synthesis of the built-in test scene:
//! `cargo run --release -p metamer --example readme_figures -- docs/figures`.
//!
//! The layout is plenoptic's documentation example: the target image in the first of four
//! panels, then `synthesis_status` in the other three.

use metamer::plot::{
    AnimateOptions, ImshowOptions, PlotName, StatusOptions, Titles, imshow, synthesis_animate,
    synthesis_status,
};
use metamer::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let folder = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("docs/figures".into()));
    std::fs::create_dir_all(&folder)?;
    let device = Default::default();
    set_seed(0);
    let image = metamer::io::default_image(256).to_tensor(&device)?;
    let model = Gaussian::new(30, &device)?;
    let mut met = Metamer::<metamer::backend::NdArray>::new(image.clone(), model)?;
    met.synthesize(SynthesizeOptions {
        max_iter: 200,
        store_progress: 20,
        ..Default::default()
    })?;

    let layout = StatusOptions {
        panels: Some(4),
        axes_idx: vec![(PlotName::Misc, 0)],
        ..Default::default()
    };
    let mut figure = synthesis_status(&met, &layout)?;
    let target = ImshowOptions {
        title: Titles::Same("Target image".into()),
        ..Default::default()
    };
    figure.place(0, imshow([image], &target)?)?;
    figure.save(folder.join("status.png"))?;

    let histogram = StatusOptions {
        included_plots: vec![PlotName::SynthesisImshow, PlotName::SynthesisHistogram],
        ..Default::default()
    };
    synthesis_status(&met, &histogram)?.save(folder.join("histogram.png"))?;

    let animation = AnimateOptions {
        framerate: 4,
        ..Default::default()
    };
    synthesis_animate(&met, &animation)?.save(folder.join("animation.gif"))?;
    Ok(())
}
