//! plenoptic's steerable pyramid (`SteerablePyramidFreq`): coefficients, their input gradient
//! and reconstructions against plenoptic, in float32 and float64; plus the properties its
//! tests check (test_steerable_pyr.py).

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer_core::{rng, set_seed, tensor::to_f64};
use metamer_models::HostBackend;
use metamer_models::{Band, Level, Pyramid, SteerablePyramid, SteerablePyramidConfig};
use metamer_tests::{
    NdArray64, Value, assert_scaled_close, floats, json, npy, relative_l2, test_on_backends,
};

fn config(case: &Value, shape: [usize; 2]) -> SteerablePyramidConfig {
    let options = &case["options"];
    let mut config = SteerablePyramidConfig::new(shape);
    if let Some(height) = options["height"].as_u64() {
        config = config.with_height(height as usize);
    }
    if let Some(order) = options["order"].as_u64() {
        config = config.with_order(order as usize);
    }
    if let Some(twidth) = options["twidth"].as_f64() {
        config = config.with_twidth(twidth);
    }
    let flag = |name: &str, default: bool| options[name].as_bool().unwrap_or(default);
    config
        .with_complex(flag("is_complex", false))
        .with_downsample(flag("downsample", true))
        .with_tight_frame(flag("tight_frame", false))
}

/// The coefficients in plenoptic's key order, complex bands as real then imaginary parts.
fn flatten<B: burn::tensor::backend::Backend>(pyramid: &Pyramid<B>) -> Tensor<B, 1> {
    let mut parts = vec![pyramid.residual_highpass.clone().reshape([-1])];
    for band in &pyramid.bands {
        match band {
            Band::Real(re) => parts.push(re.clone().reshape([-1])),
            Band::Complex(c) => {
                parts.push(c.re.clone().reshape([-1]));
                parts.push(c.im.clone().reshape([-1]));
            }
        }
    }
    parts.push(pyramid.residual_lowpass.clone().reshape([-1]));
    Tensor::cat(parts, 0)
}

fn against_plenoptic<B: AutodiffBackend + HostBackend>(dtype: DType, rtol: f64, elementwise: f64) {
    let suffix = if dtype == DType::F64 { "f64" } else { "f32" };
    for case in json("steerable_pyramids")["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let shape: Vec<usize> = floats(&case["input_shape"])
            .iter()
            .map(|v| *v as usize)
            .collect();
        let pyramid: SteerablePyramid<B> = config(case, [shape[2], shape[3]])
            .init(&Default::default())
            .unwrap();
        assert_eq!(
            pyramid.num_scales(),
            case["num_scales"].as_u64().unwrap() as usize
        );
        set_seed(case["seed"].as_u64().unwrap());
        let input: Tensor<B, 4> = rng::rand(
            shape.clone().try_into().unwrap(),
            DType::F32,
            &Default::default(),
        );
        let input = input.cast(dtype).require_grad();
        let coefficients = pyramid.forward(input.clone()).unwrap();
        let flat = flatten(&coefficients);
        assert_eq!(flat.dtype(), dtype);
        let grads = flat.clone().powi_scalar(2).sum().backward();
        let what = format!("{name} {suffix}");
        let expected = npy(&format!("spyr_{name}_{suffix}")).values;
        assert_scaled_close(&what, &to_f64(flat.inner()), &expected, rtol, elementwise);
        let gradient = to_f64(input.grad(&grads).unwrap());
        let expected = npy(&format!("spyr_{name}_grad_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} gradient"),
            &gradient,
            &expected,
            rtol,
            elementwise,
        );

        let recon = pyramid.recon_pyr(&coefficients, None, None).unwrap();
        let expected = npy(&format!("spyr_{name}_recon_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} recon"),
            &to_f64(recon.inner()),
            &expected,
            rtol,
            elementwise,
        );
        let bands: Vec<usize> = floats(&case["subset_bands"])
            .iter()
            .map(|v| *v as usize)
            .collect();
        let levels = [Level::Scale(0), Level::ResidualLowpass];
        let subset = pyramid
            .recon_pyr(&coefficients, Some(&levels), Some(&bands))
            .unwrap();
        let expected = npy(&format!("spyr_{name}_recon_subset_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} recon of scale 0 and the lowpass, bands {bands:?}"),
            &to_f64(subset.inner()),
            &expected,
            rtol,
            elementwise,
        );
    }
}

test_on_backends!(float32_matches_plenoptic => against_plenoptic(DType::F32, 1e-5, 1e-4));

/// The pyramid is linear, so a loss weighing one level by fixed values `r` equals
/// `<x, gradient>`: checks each level's share of the backward step on its own, the other
/// levels then receiving no gradient.
fn single_level_gradients<B: AutodiffBackend + HostBackend>() {
    let device = Default::default();
    for is_complex in [false, true] {
        let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([32, 24])
            .with_height(2)
            .with_complex(is_complex)
            .init(&device)
            .unwrap();
        set_seed(11);
        let x: Tensor<B, 4> = rng::rand([2, 1, 32, 24], DType::F32, &device);
        let levels = |x: Tensor<B, 4>| {
            let p = pyramid.forward(x).unwrap();
            let mut levels = vec![p.residual_highpass.reshape([-1])];
            for band in p.bands {
                match band {
                    Band::Real(re) => levels.push(re.reshape([-1])),
                    Band::Complex(c) => levels.extend([c.re.reshape([-1]), c.im.reshape([-1])]),
                }
            }
            levels.push(p.residual_lowpass.reshape([-1]));
            levels
        };
        let count = levels(x.clone()).len();
        for k in 0..count {
            let x = x.clone().require_grad();
            let level = levels(x.clone()).swap_remove(k);
            let r: Tensor<B, 1> = rng::rand([level.dims()[0]], DType::F32, &device);
            let loss = (level * r).sum();
            let gradient = x.grad(&loss.backward()).expect("a gradient");
            let value = to_f64(loss.inner())[0];
            let dot = to_f64((x.inner() * gradient).sum())[0];
            assert!(
                (value - dot).abs() <= 1e-5 * value.abs().max(1.0),
                "complex {is_complex}, level {k}: {value} vs <x, grad> {dot}"
            );
        }
    }
}

test_on_backends!(single_levels_have_their_adjoint => single_level_gradients());

#[test]
fn float64_matches_plenoptic() {
    against_plenoptic::<NdArray64>(DType::F64, 1e-10, 1e-9);
}

type B = NdArray64;

fn image(shape: [usize; 4]) -> Tensor<B, 4> {
    set_seed(7);
    rng::rand(shape, DType::F64, &Default::default())
}

fn energy(pyramid: &Pyramid<B>) -> f64 {
    let square = |t: Tensor<B, 5>| to_f64(t.powi_scalar(2).sum())[0];
    let mut total = to_f64(pyramid.residual_highpass.clone().powi_scalar(2).sum())[0]
        + to_f64(pyramid.residual_lowpass.clone().powi_scalar(2).sum())[0];
    for band in &pyramid.bands {
        total += match band {
            Band::Real(re) => square(re.clone()),
            Band::Complex(c) => square(c.re.clone()) + square(c.im.clone()),
        };
    }
    total
}

/// Every flag combination with even sizes reconstructs the image (plenoptic's
/// `test_complete_recon`, `test_complete_recon_multi`).
#[test]
fn reconstruction_is_complete() {
    for (shape, height) in [
        ([1, 1, 64, 64], None),
        ([1, 3, 32, 48], Some(2)),
        ([2, 1, 40, 40], Some(1)),
    ] {
        let x = image(shape);
        for order in [0, 1, 3] {
            for is_complex in [false, true] {
                if order == 0 && is_complex {
                    continue;
                }
                for downsample in [false, true] {
                    for tight_frame in [false, true] {
                        let mut config = SteerablePyramidConfig::new([shape[2], shape[3]])
                            .with_order(order)
                            .with_complex(is_complex)
                            .with_downsample(downsample)
                            .with_tight_frame(tight_frame);
                        if let Some(h) = height {
                            config = config.with_height(h);
                        }
                        let pyramid: SteerablePyramid<B> =
                            config.init(&Default::default()).unwrap();
                        let coefficients = pyramid.forward(x.clone()).unwrap();
                        let recon = pyramid.recon_pyr(&coefficients, None, None).unwrap();
                        let error = relative_l2(&to_f64(recon), &to_f64(x.clone()));
                        assert!(error < 1e-4, "{config:?}: relative error {error:e}");
                    }
                }
            }
        }
    }
}

/// Tight frames preserve energy (plenoptic's `test_tight_frame`); downsampling keeps every band's
/// energy (plenoptic's `test_not_downsample`).
#[test]
fn tight_frames_preserve_energy_and_downsampling_keeps_band_energies() {
    let x = image([1, 1, 64, 64]);
    let image_energy = to_f64(x.clone().powi_scalar(2).sum())[0];
    for is_complex in [false, true] {
        for downsample in [false, true] {
            let config = SteerablePyramidConfig::new([64, 64])
                .with_complex(is_complex)
                .with_downsample(downsample)
                .with_tight_frame(true);
            let pyramid: SteerablePyramid<B> = config.init(&Default::default()).unwrap();
            let total = energy(&pyramid.forward(x.clone()).unwrap());
            assert!(
                (total - image_energy).abs() <= 1e-4 * image_energy,
                "{config:?}: {total} vs {image_energy}"
            );
        }
    }
    let band_energies = |downsample: bool| -> Vec<f64> {
        let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([64, 64])
            .with_downsample(downsample)
            .with_tight_frame(true)
            .init(&Default::default())
            .unwrap();
        let coefficients = pyramid.forward(x.clone()).unwrap();
        coefficients
            .bands
            .iter()
            .flat_map(|band| {
                let [_, _, o, _, _] = band.dims();
                (0..o)
                    .map(|i| to_f64(band.real().clone().narrow(2, i, 1).powi_scalar(2).sum())[0])
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let (down, full) = (band_energies(true), band_energies(false));
    for (d, f) in down.iter().zip(&full) {
        assert!(
            (d - f).abs() <= 1e-4 * f,
            "band energy {d} downsampled vs {f}"
        );
    }
}

#[test]
fn invalid_arguments_give_plenoptic_errors() {
    let error = |config: SteerablePyramidConfig| {
        config
            .init::<B>(&Default::default())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error(SteerablePyramidConfig::new([64, 64]).with_height(5)),
        "Cannot build pyramid higher than 4 levels."
    );
    assert_eq!(
        error(SteerablePyramidConfig::new([64, 64]).with_order(16)),
        "order must be an integer in the range [0, 15]."
    );
    assert!(
        error(
            SteerablePyramidConfig::new([64, 64])
                .with_order(0)
                .with_complex(true)
        )
        .starts_with("Complex pyramid cannot have order=0!")
    );
    assert_eq!(
        error(SteerablePyramidConfig::new([64, 64]).with_twidth(0.0)),
        "twidth must be positive."
    );
    for order in 0..=15 {
        let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([16, 16])
            .with_order(order)
            .init(&Default::default())
            .unwrap();
        assert_eq!(pyramid.num_orientations(), order + 1);
        assert_eq!(pyramid.num_scales(), 2);
    }
    let odd = SteerablePyramidConfig::new([33, 30]);
    assert_eq!(
        odd.warnings()[0].to_string(),
        "Reconstruction will not be perfect with odd-sized images"
    );
    let pyramid: SteerablePyramid<B> = odd.init(&Default::default()).unwrap();
    assert!(pyramid.forward(image([1, 1, 33, 30])).is_ok());
    let error = pyramid
        .forward(image([1, 1, 32, 30]))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("Input tensor height/width (32, 30) does not match image_shape"),
        "{error}"
    );
    let pyramid: SteerablePyramid<B> = SteerablePyramidConfig::new([32, 32])
        .init(&Default::default())
        .unwrap();
    let coefficients = pyramid.forward(image([1, 1, 32, 32])).unwrap();
    assert_eq!(
        pyramid
            .recon_pyr(&coefficients, None, Some(&[4]))
            .unwrap_err()
            .to_string(),
        "Error: band numbers must be in the range [0, 3]"
    );
}

/// plenoptic's Fourier helpers (autocorrelation with center_crop, expand, shrink) on real and
/// complex inputs: outputs and gradients.
fn signal_helpers<B: AutodiffBackend + HostBackend>(dtype: DType, rtol: f64, elementwise: f64) {
    use metamer_models::fft::Complex;
    use metamer_models::signal::{
        autocorrelation, autocorrelation_crop, center_crop, expand, shrink, shrink_real,
    };
    let suffix = if dtype == DType::F64 { "f64" } else { "f32" };
    let fixture = json("signal");
    let shape: [usize; 4] = floats(&fixture["shape"])
        .iter()
        .map(|v| *v as usize)
        .collect::<Vec<_>>()
        .try_into()
        .unwrap();
    set_seed(fixture["seed"].as_u64().unwrap());
    let re: Tensor<B, 4> = rng::rand(shape, DType::F32, &Default::default());
    let im: Tensor<B, 4> = rng::rand(shape, DType::F32, &Default::default());
    type Case<B> = fn(Complex<B, 4>) -> Complex<B, 4>;
    // (fixture, complex input, function): the fused operations against the same fixtures.
    let cases: [(&str, bool, Case<B>); 7] = [
        ("autocorrelation", false, |x| {
            Complex::from_real(center_crop(autocorrelation(x.re).unwrap(), 7).unwrap())
        }),
        ("autocorrelation", false, |x| {
            Complex::from_real(autocorrelation_crop(x.re, 7).unwrap())
        }),
        ("expand", false, |x| expand(x, 2.0).unwrap()),
        ("expand_complex", true, |x| expand(x, 2.0).unwrap()),
        ("shrink", false, |x| shrink(x, 2).unwrap()),
        ("shrink", false, |x| {
            Complex::from_real(shrink_real(x.re, 2).unwrap())
        }),
        ("shrink4_complex", true, |x| shrink(x, 4).unwrap()),
    ];
    for (name, complex, function) in cases {
        let (re, im) = (
            re.clone().cast(dtype).require_grad(),
            im.clone().cast(dtype).require_grad(),
        );
        let input = if complex {
            Complex {
                re: re.clone(),
                im: im.clone(),
            }
        } else {
            Complex::from_real(re.clone())
        };
        let out = function(input);
        // Real inputs give real outputs: plenoptic keeps only the real part.
        let flat = if complex {
            Tensor::cat(vec![out.re.reshape([-1]), out.im.reshape([-1])], 0)
        } else {
            out.re.reshape([-1])
        };
        let grads = flat.clone().powi_scalar(2).sum().backward();
        let what = format!("{name} {suffix}");
        let expected = npy(&format!("signal_{name}_{suffix}")).values;
        assert_scaled_close(&what, &to_f64(flat.inner()), &expected, rtol, elementwise);
        let mut gradient = to_f64(re.grad(&grads).unwrap());
        if complex {
            gradient.extend(to_f64(im.grad(&grads).unwrap()));
        }
        let expected = npy(&format!("signal_{name}_grad_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} gradient"),
            &gradient,
            &expected,
            rtol,
            elementwise,
        );
    }
}

#[test]
fn float64_fourier_helpers_match_plenoptic() {
    signal_helpers::<NdArray64>(DType::F64, 1e-10, 1e-9);
}

test_on_backends!(
    float32_fourier_helpers_match_plenoptic => signal_helpers(DType::F32, 1e-5, 1e-4),
);

#[test]
fn fourier_helpers_refuse_what_plenoptic_refuses() {
    use metamer_models::fft::Complex;
    use metamer_models::signal::{
        autocorrelation, autocorrelation_crop, center_crop, expand, shrink, shrink_real,
    };
    let x = image([1, 1, 8, 6]);
    let message = |e: metamer_models::ModelError| e.to_string();
    assert_eq!(
        message(center_crop(x.clone(), 7).unwrap_err()),
        "output_size is bigger than image height/width!"
    );
    assert_eq!(
        message(center_crop(x.clone(), 0).unwrap_err()),
        "output_size must be positive!"
    );
    assert_eq!(center_crop(x.clone(), 3).unwrap().dims(), [1, 1, 3, 3]);
    assert_eq!(
        message(expand(Complex::from_real(x.clone()), 1.0).unwrap_err()),
        "factor must be strictly greater than 1!"
    );
    assert_eq!(
        message(expand(Complex::from_real(x.clone()), 1.25).unwrap_err()),
        "factor * x.shape[-1] must be an integer but got 7.5 instead!"
    );
    assert!(shrink(Complex::from_real(x.clone()), 4).is_err());
    assert!(shrink_real(x.clone(), 4).is_err());
    assert!(autocorrelation(image([1, 1, 8, 7])).is_err());
    assert!(autocorrelation_crop(image([1, 1, 8, 7]), 3).is_err());
    assert_eq!(
        message(autocorrelation_crop(x.clone(), 7).unwrap_err()),
        "output_size is bigger than image height/width!"
    );
    // The fused crop's centre is the mean square too.
    let window = autocorrelation_crop(x.clone(), 3).unwrap();
    let centre = to_f64(window.narrow(2, 1, 1).narrow(3, 1, 1))[0];
    let mean_square = to_f64(x.clone().powi_scalar(2).mean())[0];
    assert!((centre - mean_square).abs() < 1e-12);
    // The centre of the autocorrelation is the mean square.
    let ac = autocorrelation(x.clone()).unwrap();
    let centre = to_f64(ac.narrow(2, 4, 1).narrow(3, 3, 1))[0];
    let mean_square = to_f64(x.powi_scalar(2).mean())[0];
    assert!((centre - mean_square).abs() < 1e-12);
}
