//! Draws the README's figures from real syntheses of the built-in images:
//! `cargo run --release -p metamer --example readme_figures -- docs/figures`.
//!
//! The Gaussian metamer's layout is plenoptic's documentation example: the target image in
//! the first of four panels, then `synthesis_status` in the other three. The texture metamer
//! (a few minutes) is plenoptic's Portilla–Simoncelli recipe: its loss and L-BFGS with a strong
//! Wolfe line search.

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
    texture(&folder)
}

fn texture(folder: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    type B = metamer::backend::NdArray;
    let device = Default::default();
    set_seed(0);
    let image: burn::tensor::Tensor<metamer::Inner<B>, 4> =
        metamer::io::default_texture(256).to_tensor(&device)?;
    let model: PortillaSimoncelli<B> = PortillaSimoncelliConfig::new([256, 256]).init(&device)?;
    let loss = metamer::models::portilla_simoncelli::portilla_simoncelli_loss(
        &model,
        burn::tensor::Tensor::from_inner(image.clone()),
        &[],
    )?;
    let options = MetamerOptions {
        loss,
        ..Default::default()
    };
    let mut met = Metamer::<B>::with_options(image.clone(), model, options)?;
    let lbfgs = metamer::Lbfgs::new(metamer::LbfgsConfig {
        lr: 1.0,
        max_iter: 10,
        history_size: 100,
        line_search: metamer::LineSearch::StrongWolfe,
        ..Default::default()
    });
    met.setup(Setup {
        optimizer: Some(Box::new(lbfgs)),
        ..Default::default()
    })?;
    met.synthesize(SynthesizeOptions {
        max_iter: 40,
        ..Default::default()
    })?;
    let losses = met.losses()?;
    println!(
        "texture metamer: loss {:.4e} -> {:.4e}",
        losses[0],
        losses[losses.len() - 1]
    );
    let pair = ImshowOptions {
        title: Titles::Each(vec!["Target texture".into(), "Texture metamer".into()]),
        ..Default::default()
    };
    let metamer = met.metamer().expect("synthesized").clone();
    imshow([image, metamer], &pair)?.save(folder.join("texture.png"))?;
    Ok(())
}
