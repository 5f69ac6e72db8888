//! Milliseconds per metamer iteration for Gaussian(30) on a 256x256 image, per CPU backend.
//! Run through `cargo xtask bench`, which pins one thread and compares with plenoptic.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use metamer::prelude::*;

fn ms_per_iteration<B: AutodiffBackend>() -> f64 {
    let image = metamer::io::default_image(256)
        .to_tensor(&Default::default())
        .expect("a 4-D image");
    set_seed(0);
    let mut met = Metamer::<B>::new(
        image,
        Gaussian::new(30, &Default::default()).expect("valid"),
    )
    .expect("valid");
    let run = |met: &mut Metamer<B>, max_iter| {
        met.synthesize(SynthesizeOptions {
            max_iter,
            stop_criterion: 0.0,
            ..Default::default()
        })
        .expect("synthesis runs")
    };
    run(&mut met, 3);
    let mut runs: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            run(&mut met, 10);
            start.elapsed().as_secs_f64() * 1000.0 / 10.0
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn main() {
    println!(
        "flex ms_per_iteration={:.3}",
        ms_per_iteration::<metamer::backend::Flex>()
    );
    println!(
        "ndarray ms_per_iteration={:.3}",
        ms_per_iteration::<metamer::backend::NdArray>()
    );
}
