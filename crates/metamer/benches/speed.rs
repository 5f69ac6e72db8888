//! Milliseconds per Gaussian(30) metamer iteration, and per forward-plus-backward pass of each
//! model, on 256x256 images, per CPU backend. Run through `cargo xtask bench`, which pins one
//! thread and compares with plenoptic in the same run. Prints `case backend ms=X` lines.

use std::time::Instant;

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer::models::HostBackend;
use metamer::models::fft::{Complex, Norm, fft2, ifft2};
use metamer::models::{
    Band, CenterSurroundConfig, FrontEndConfig, FrontEndKind, LaplacianPyramid, LinearConfig,
    PortillaSimoncelli, PortillaSimoncelliConfig, SteerablePyramid, SteerablePyramidConfig,
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
fn models<B: AutodiffBackend + HostBackend>() -> Vec<(&'static str, Box<dyn Model<B>>)> {
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
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    })
}

fn random_image<B: AutodiffBackend>() -> Tensor<B, 4> {
    set_seed(0);
    metamer_core::rng::rand([1, 1, 256, 256], DType::F32, &Default::default())
}

/// The pyramid Portilla–Simoncelli uses (complex, 4 scales, 4 orientations): every
/// coefficient's squared magnitude summed, and its gradient.
fn steerable_pyramid<B: AutodiffBackend + HostBackend>() -> f64 {
    let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([256, 256])
        .with_height(4)
        .with_complex(true)
        .init(&Default::default())
        .expect("valid");
    let image = random_image::<B>();
    median_ms(5, || {
        let tracked = image.clone().require_grad();
        let coefficients = pyramid.forward(tracked.clone()).expect("the image fits");
        let mut total = coefficients.residual_highpass.powi_scalar(2).sum()
            + coefficients.residual_lowpass.powi_scalar(2).sum();
        for band in coefficients.bands {
            if let Band::Complex(c) = band {
                total = total + c.re.powi_scalar(2).sum() + c.im.powi_scalar(2).sum();
            }
        }
        let grads = total.backward();
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    })
}

/// A 2-D FFT and its inverse with a mask between, forward and backward: our FFT operation,
/// and the alternative it was chosen over, the DFT as products with cosine and sine
/// matrices in Burn operations.
fn fourier<B: AutodiffBackend + HostBackend>(backend: &str) {
    let image = random_image::<B>();
    let mask = image.clone().mul_scalar(0.5).add_scalar(0.75);
    let fast = median_ms(5, || {
        let tracked = image.clone().require_grad();
        let spectrum = fft2(Complex::from_real(tracked.clone()), Norm::Backward);
        let back = ifft2(spectrum.mul_real(mask.clone()), Norm::Backward);
        let grads = back.re.powi_scalar(2).sum().backward();
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    });
    println!("fft2_256 {backend} ms={fast:.3}");
    let n = 256;
    let angle = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / n as f64;
    let matrix = |f: fn(f64) -> f64| -> Tensor<B, 2> {
        let values: Vec<f32> = (0..n * n)
            .map(|i| f(angle((i / n) * (i % n))) as f32)
            .collect();
        Tensor::from_data(
            burn::tensor::TensorData::new(values, [n, n]),
            &Default::default(),
        )
    };
    let (cos, sin) = (matrix(f64::cos), matrix(f64::sin));
    // (C − iS) X (C − iS) for the forward transform, (C + iS) … / n² for the inverse.
    let dft = |re: Tensor<B, 2>, im: Tensor<B, 2>, sign: f32| {
        let (a, b) = (
            re.clone().matmul(cos.clone()) + im.clone().matmul(sin.clone()).mul_scalar(sign),
            im.matmul(cos.clone()) - re.matmul(sin.clone()).mul_scalar(sign),
        );
        (
            cos.clone().matmul(a.clone()) + sin.clone().matmul(b.clone()).mul_scalar(sign),
            cos.clone().matmul(b) - sin.clone().matmul(a).mul_scalar(sign),
        )
    };
    let dense = median_ms(5, || {
        let tracked = image.clone().require_grad();
        let x = tracked.clone().reshape([n, n]);
        let (re, im) = dft(x.clone(), x.zeros_like(), 1.0);
        let mask = mask.clone().reshape([n, n]);
        let (re, _) = dft(re * mask.clone(), im * mask, -1.0);
        let grads = re
            .div_scalar((n * n) as f32)
            .powi_scalar(2)
            .sum()
            .backward();
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    });
    println!("dft_matmul_256 {backend} ms={dense:.3}");
}

fn run<B: AutodiffBackend + HostBackend>(backend: &str) {
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
    println!(
        "steerable_pyramid {backend} ms={:.3}",
        steerable_pyramid::<B>()
    );
    let texture: PortillaSimoncelli<B> = PortillaSimoncelliConfig::new([256, 256])
        .init(&Default::default())
        .expect("valid");
    println!(
        "portilla_simoncelli {backend} ms={:.3}",
        forward_backward::<B>(&texture)
    );
    fourier::<B>(backend);
}

fn main() {
    run::<metamer::backend::Flex>("flex");
    run::<metamer::backend::NdArray>("ndarray");
}
