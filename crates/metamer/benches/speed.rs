//! Milliseconds per Gaussian(30) metamer iteration, and per forward-plus-backward pass of each
//! model, on 256x256 images, per CPU backend. Run through `cargo xtask bench`, which pins one
//! thread and compares with plenoptic in the same run. Prints `case backend ms=X` lines.

use std::time::Instant;

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer::models::{
    CenterSurroundConfig, FrontEndConfig, FrontEndKind, LaplacianPyramid, LinearConfig,
};
use metamer::prelude::*;

/// The median of five timed runs of `repeats` calls, after a warm-up, in milliseconds per call.
fn median_ms(repeats: usize, mut work: impl FnMut()) -> f64 {
    for _ in 0..2 {
        work();
    }
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..repeats {
                work();
            }
            start.elapsed().as_secs_f64() * 1000.0 / repeats as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn gaussian_metamer<B: AutodiffBackend>() -> f64 {
    let image = metamer::io::default_image(256)
        .to_tensor(&Default::default())
        .expect("a 4-D image");
    set_seed(0);
    let model = Gaussian::new(30, &Default::default()).expect("valid");
    let mut met = Metamer::<B>::new(image, model).expect("valid");
    median_ms(1, || {
        met.synthesize(SynthesizeOptions {
            max_iter: 10,
            stop_criterion: 0.0,
            ..Default::default()
        })
        .expect("synthesis runs");
    }) / 10.0
}

/// The models benchmarked, as plenoptic builds them for a metamer (pretrained where it can be).
fn models<B: AutodiffBackend>() -> Vec<(&'static str, Box<dyn Model<B>>)> {
    let device = Default::default();
    let pretrained = |kind| {
        let model = FrontEndConfig::new(kind, [31, 31])
            .with_pretrained(true)
            .with_cache_filt(true)
            .init::<B>(&device)
            .expect("valid");
        Box::new(model) as Box<dyn Model<B>>
    };
    vec![
        (
            "gaussian30",
            Box::new(Gaussian::new(30, &device).expect("valid")),
        ),
        (
            "linear",
            Box::new(LinearConfig::new().init::<B>(&device).expect("valid")),
        ),
        (
            "center_surround31",
            Box::new(
                CenterSurroundConfig::new([31, 31])
                    .init::<B>(&device)
                    .expect("valid"),
            ),
        ),
        (
            "linear_nonlinear",
            pretrained(FrontEndKind::LinearNonlinear),
        ),
        (
            "luminance_gain_control",
            pretrained(FrontEndKind::LuminanceGainControl),
        ),
        (
            "luminance_contrast_gain_control",
            pretrained(FrontEndKind::LuminanceContrastGainControl),
        ),
        ("on_off", pretrained(FrontEndKind::OnOff)),
        (
            "laplacian_pyramid",
            Box::new(LaplacianPyramid::new(5, false).expect("valid")),
        ),
    ]
}

/// The model's output and the gradient of its sum of squares with respect to the image.
fn forward_backward<B: AutodiffBackend>(model: &dyn Model<B>) -> f64 {
    set_seed(0);
    let image: Tensor<B, 4> =
        metamer_core::rng::rand([1, 1, 256, 256], DType::F32, &Default::default());
    median_ms(5, || {
        let tracked = image.clone().require_grad();
        let grads = model
            .forward(tracked.clone())
            .flat()
            .clone()
            .powi_scalar(2)
            .sum()
            .backward();
        let _ = tracked.grad(&grads).expect("a gradient").into_data();
    })
}

fn run<B: AutodiffBackend>(backend: &str) {
    println!(
        "metamer_gaussian30 {backend} ms={:.3}",
        gaussian_metamer::<B>()
    );
    for (name, model) in models::<B>() {
        println!(
            "{name} {backend} ms={:.3}",
            forward_backward::<B>(model.as_ref())
        );
    }
}

fn main() {
    run::<metamer::backend::Flex>("flex");
    run::<metamer::backend::NdArray>("ndarray");
}
