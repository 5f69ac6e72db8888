//! Milliseconds per Gaussian(30) metamer iteration, and per forward-plus-backward pass of each
//! model, on 256x256 images (and 128 and 512 for some, and a batch of 16), per compiled
//! backend, with the peak memory each case adds. Run through `cargo xtask bench`, which pins
//! one thread and interleaves rounds of this with plenoptic's. Prints `case backend ms=X
//! peak_mb=Y` lines; arguments, when given, keep only the cases whose names contain one.

use std::time::Instant;

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer::models::HostBackend;
use metamer::models::fft::{Complex, Norm, fft2, ifft2};
use metamer::models::{
    Band, CenterSurroundConfig, FrontEndConfig, FrontEndKind, LaplacianPyramid, LinearConfig,
    PortillaSimoncelli, PortillaSimoncelliConfig, SteerablePyramid, SteerablePyramidConfig,
};
use metamer::nets::{Architecture, DeepNetFeatures, Normalize, Weights};
use metamer::prelude::*;

/// The median of five timed runs of `repeats` calls, after a warm-up, in milliseconds per call;
/// a case whose first call takes over 10 s (ndarray's generic convolutions) is that call's time,
/// where a warm-up is lost in the noise.
fn median_ms(repeats: usize, mut work: impl FnMut()) -> f64 {
    let start = Instant::now();
    work();
    let first = start.elapsed().as_secs_f64() * 1000.0;
    if first > 10_000.0 {
        return first;
    }
    work();
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

/// Peak resident memory, read the same way for plenoptic: Linux lets a process reset its
/// high-water mark (`/proc/self/clear_refs`), so each case's peak is measured from its start.
mod memory {
    fn status_mb(field: &str) -> Option<f64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: f64 = line[field.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }

    /// Resets the high-water mark; returns the resident memory now, in MB.
    pub fn reset_peak() -> Option<f64> {
        std::fs::write("/proc/self/clear_refs", "5").ok()?;
        status_mb("VmRSS:")
    }

    /// How far resident memory rose above `baseline` since the last reset, in MB.
    pub fn peak_above(baseline: Option<f64>) -> Option<f64> {
        Some(status_mb("VmHWM:")? - baseline?)
    }
}

/// Which cases to run, from the command line (cargo passes `--bench`, skipped).
struct Selection(Vec<String>);

impl Selection {
    fn from_args() -> Self {
        Selection(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect(),
        )
    }

    fn wants(&self, case: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|f| case.contains(f.as_str()))
    }

    /// Times `work`, `steps` units of `case`, and prints its line, when selected.
    fn measure(&self, case: &str, backend: &str, repeats: usize, steps: usize, work: impl FnMut()) {
        if !self.wants(case) {
            return;
        }
        let baseline = memory::reset_peak();
        let ms = median_ms(repeats, work) / steps as f64;
        let peak = memory::peak_above(baseline).map_or("?".to_string(), |mb| format!("{mb:.1}"));
        println!("{case} {backend} ms={ms:.3} peak_mb={peak}");
    }
}

/// A random float32 image batch, the same as plenoptic's bench draws (`torch.rand`, seed 0).
fn random_image<B: AutodiffBackend + HostBackend>(batch: usize, size: usize) -> Tensor<B, 4> {
    set_seed(0);
    metamer_core::rng::rand([batch, 1, size, size], DType::F32, &Default::default())
}

/// Milliseconds per iteration of a Gaussian(30) metamer (10 iterations per call).
fn gaussian_metamer<B: AutodiffBackend + HostBackend>(
    select: &Selection,
    case: &str,
    backend: &str,
    batch: usize,
    size: usize,
) {
    if !select.wants(case) {
        return;
    }
    let image = random_image::<B>(batch, size).inner();
    let model = Gaussian::new(30, &Default::default()).expect("valid");
    let mut met = Metamer::<B>::new(image, model).expect("valid");
    select.measure(case, backend, 1, 10, || {
        met.synthesize(SynthesizeOptions {
            max_iter: 10,
            stop_criterion: 0.0,
            ..Default::default()
        })
        .expect("synthesis runs");
    });
}

/// Milliseconds per metamer iteration of `layer` of a torchvision network (random weights) on a
/// 224×224 colour image, with the ImageNet normalisation (2 iterations per call).
fn deep_net_metamer<B: AutodiffBackend + HostBackend>(
    select: &Selection,
    case: &str,
    backend: &str,
    architecture: Architecture,
    layer: &str,
) {
    if !select.wants(case) {
        return;
    }
    set_seed(0);
    let image: Tensor<B::InnerBackend, 4> =
        metamer_core::rng::rand([1, 3, 224, 224], DType::F32, &Default::default());
    let model = DeepNetFeatures::<B, _>::torchvision(
        architecture,
        &Weights::random(0),
        &[layer.to_string()],
        Some(Normalize::imagenet()),
        DType::F32,
        &Default::default(),
    )
    .expect("valid");
    let mut met = Metamer::<B>::new(image, model).expect("valid");
    select.measure(case, backend, 1, 2, || {
        met.synthesize(SynthesizeOptions {
            max_iter: 2,
            stop_criterion: 0.0,
            ..Default::default()
        })
        .expect("synthesis runs");
    });
}

/// Peak memory of 100- and 1,000-iteration syntheses (64x64, Gaussian(9)): a leak per
/// iteration shows as the second outgrowing the first.
fn memory_growth<B: AutodiffBackend + HostBackend>(select: &Selection, backend: &str) {
    if !select.wants("memory_growth") {
        return;
    }
    let peaks: Vec<String> = [100, 1000]
        .iter()
        .map(|&iterations| {
            let image = random_image::<B>(1, 64).inner();
            let model = Gaussian::new(9, &Default::default()).expect("valid");
            let mut met = Metamer::<B>::new(image, model).expect("valid");
            let baseline = memory::reset_peak();
            met.synthesize(SynthesizeOptions {
                max_iter: iterations,
                stop_criterion: 0.0,
                ..Default::default()
            })
            .expect("synthesis runs");
            memory::peak_above(baseline).map_or("?".to_string(), |mb| format!("{mb:.2}"))
        })
        .collect();
    println!(
        "memory_growth {backend} peak100_mb={} peak1000_mb={}",
        peaks[0], peaks[1]
    );
}

/// A front end with plenoptic's published parameters, as a metamer model.
fn pretrained<B: AutodiffBackend + HostBackend>(kind: FrontEndKind) -> Box<dyn Model<B>> {
    let model = FrontEndConfig::new(kind, [31, 31])
        .with_pretrained(true)
        .with_cache_filt(true)
        .init::<B>(&Default::default())
        .expect("valid");
    Box::new(model)
}

/// The models benchmarked, as plenoptic builds them for a metamer (pretrained where it can be).
fn models<B: AutodiffBackend + HostBackend>() -> Vec<(&'static str, Box<dyn Model<B>>)> {
    let device = Default::default();
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
            pretrained::<B>(FrontEndKind::LinearNonlinear),
        ),
        (
            "luminance_gain_control",
            pretrained::<B>(FrontEndKind::LuminanceGainControl),
        ),
        (
            "luminance_contrast_gain_control",
            pretrained::<B>(FrontEndKind::LuminanceContrastGainControl),
        ),
        ("on_off", pretrained::<B>(FrontEndKind::OnOff)),
        (
            "laplacian_pyramid",
            Box::new(LaplacianPyramid::new(5, false).expect("valid")),
        ),
    ]
}

/// The model's output and the gradient of its sum of squares with respect to the image.
fn forward_backward<B: AutodiffBackend + HostBackend>(
    select: &Selection,
    case: &str,
    backend: &str,
    model: &dyn Model<B>,
    image: Tensor<B, 4>,
) {
    let repeats = if image.shape().num_elements() > 256 * 256 {
        1
    } else {
        5
    };
    select.measure(case, backend, repeats, 1, || {
        let tracked = image.clone().require_grad();
        let grads = model
            .forward(tracked.clone())
            .flat()
            .clone()
            .powi_scalar(2)
            .sum()
            .backward();
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    });
}

/// The pyramid Portilla–Simoncelli uses (complex, 4 scales, 4 orientations): every
/// coefficient's squared magnitude summed, and its gradient.
fn steerable_pyramid<B: AutodiffBackend + HostBackend>(select: &Selection, backend: &str) {
    let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([256, 256])
        .with_height(4)
        .with_complex(true)
        .init(&Default::default())
        .expect("valid");
    let image = random_image::<B>(1, 256);
    select.measure("steerable_pyramid", backend, 5, 1, || {
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
    });
}

/// A 2-D FFT and its inverse with a mask between, forward and backward: our FFT operation,
/// and the alternative it was chosen over, the DFT as products with cosine and sine
/// matrices in Burn operations.
fn fourier<B: AutodiffBackend + HostBackend>(select: &Selection, backend: &str) {
    let image = random_image::<B>(1, 256);
    let mask = image.clone().mul_scalar(0.5).add_scalar(0.75);
    select.measure("fft2_256", backend, 5, 1, || {
        let tracked = image.clone().require_grad();
        let spectrum = fft2(Complex::from_real(tracked.clone()), Norm::Backward);
        let back = ifft2(spectrum.mul_real(mask.clone()), Norm::Backward);
        let grads = back.re.powi_scalar(2).sum().backward();
        let _ = metamer_core::tensor::flat_data(tracked.grad(&grads).expect("a gradient"));
    });
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
    select.measure("dft_matmul_256", backend, 5, 1, || {
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
}

fn texture_model<B: AutodiffBackend + HostBackend>(size: usize) -> PortillaSimoncelli<B> {
    PortillaSimoncelliConfig::new([size, size])
        .init(&Default::default())
        .expect("valid")
}

fn run<B: AutodiffBackend + HostBackend>(select: &Selection, backend: &str) {
    gaussian_metamer::<B>(select, "metamer_gaussian30", backend, 1, 256);
    gaussian_metamer::<B>(select, "metamer_gaussian30_batch16", backend, 16, 256);
    for (name, model) in models::<B>() {
        let image = random_image::<B>(1, 256);
        forward_backward(select, name, backend, model.as_ref(), image);
    }
    steerable_pyramid::<B>(select, backend);
    let texture = texture_model::<B>(256);
    let image = random_image::<B>(1, 256);
    forward_backward(select, "portilla_simoncelli", backend, &texture, image);
    fourier::<B>(select, backend);
    // How time grows with the image's size.
    for size in [128, 512] {
        gaussian_metamer::<B>(
            select,
            &format!("metamer_gaussian30_{size}"),
            backend,
            1,
            size,
        );
        let on_off = pretrained::<B>(FrontEndKind::OnOff);
        let case = format!("on_off_{size}");
        forward_backward(
            select,
            &case,
            backend,
            on_off.as_ref(),
            random_image(1, size),
        );
        let texture = texture_model::<B>(size);
        let case = format!("portilla_simoncelli_{size}");
        forward_backward(select, &case, backend, &texture, random_image::<B>(1, size));
    }
    memory_growth::<B>(select, backend);
    deep_net_metamer::<B>(
        select,
        "metamer_resnet18_layer2_224",
        backend,
        Architecture::ResNet18,
        "layer2",
    );
    deep_net_metamer::<B>(
        select,
        "metamer_resnet50_layer3_224",
        backend,
        Architecture::ResNet50,
        "layer3",
    );
}

fn main() {
    let select = Selection::from_args();
    run::<metamer::backend::Flex>(&select, "flex");
    run::<metamer::backend::NdArray>(&select, "ndarray");
    #[cfg(feature = "wgpu")]
    run::<metamer::backend::Wgpu>(&select, "wgpu");
    #[cfg(feature = "tch")]
    run::<metamer::backend::LibTorch>(&select, "tch");
}
