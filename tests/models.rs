//! The visual models against plenoptic: outputs, input gradients, random initialisation and
//! 10-iteration metamers, in float32 and float64 on every CPU backend; plus plenoptic's model
//! tests (test_models.py) that apply.

use burn::{
    module::Module,
    tensor::{DType, Tensor, backend::AutodiffBackend, backend::Backend},
};
use metamer_core::{Metamer, Model, rng, set_seed, tensor::to_f64};
use metamer_models::{
    CenterSurroundConfig, FrontEndConfig, FrontEndKind, GaussianConfig, HostBackend,
    LaplacianPyramid, LinearConfig, ModelError, ModelWarning, Padding, disk,
};
use metamer_tests::{
    Flex, NdArray, NdArray64, assert_history, assert_scaled_close, floats, json, npy, relative_l2,
};

/// Builds the model of a fixture case, drawing from the global generator like plenoptic.
fn build<B: HostBackend>(name: &str) -> Box<dyn Model<B>> {
    let device = Default::default();
    let front_end = |kind, k: usize| FrontEndConfig::new(kind, [k, k]);
    let pretrained = |kind| {
        front_end(kind, 31)
            .with_pretrained(true)
            .with_cache_filt(true)
    };
    match name {
        "linear_default" | "linear" => Box::new(LinearConfig::new().init::<B>(&device).unwrap()),
        "linear_reflect" => Box::new(
            LinearConfig::new()
                .with_kernel_size([5, 4])
                .with_pad_mode(Padding::Reflect)
                .init::<B>(&device)
                .unwrap(),
        ),
        "linear_random" => Box::new(
            LinearConfig::new()
                .with_kernel_size([4, 4])
                .with_default_filters(false)
                .init::<B>(&device)
                .unwrap(),
        ),
        "center_surround" => Box::new(
            CenterSurroundConfig::new([7, 7])
                .init::<B>(&device)
                .unwrap(),
        ),
        "center_surround_multi" => Box::new(
            CenterSurroundConfig::new([7, 9])
                .with_on_center(vec![true, false])
                .with_center_std(vec![1.0, 2.0])
                .with_surround_std(vec![3.0, 5.0])
                .with_amplitude_ratio(2.0)
                .with_pad_mode(Padding::Circular)
                .init::<B>(&device)
                .unwrap(),
        ),
        "linear_nonlinear_pretrained" | "linear_nonlinear" => Box::new(
            pretrained(FrontEndKind::LinearNonlinear)
                .init::<B>(&device)
                .unwrap(),
        ),
        "linear_nonlinear_off_relu" => Box::new(
            front_end(FrontEndKind::LinearNonlinear, 9)
                .with_on_center(false)
                .with_activation(metamer_models::Activation::Relu)
                .init::<B>(&device)
                .unwrap(),
        ),
        "luminance_gain_control" => Box::new(
            front_end(FrontEndKind::LuminanceGainControl, 9)
                .init::<B>(&device)
                .unwrap(),
        ),
        "luminance_gain_control_pretrained" => Box::new(
            pretrained(FrontEndKind::LuminanceGainControl)
                .init::<B>(&device)
                .unwrap(),
        ),
        "luminance_contrast_gain_control" => Box::new(
            front_end(FrontEndKind::LuminanceContrastGainControl, 11)
                .with_pad_mode(Padding::Replicate)
                .init::<B>(&device)
                .unwrap(),
        ),
        "luminance_contrast_gain_control_pretrained" => Box::new(
            pretrained(FrontEndKind::LuminanceContrastGainControl)
                .init::<B>(&device)
                .unwrap(),
        ),
        "on_off" => Box::new(
            front_end(FrontEndKind::OnOff, 7)
                .init::<B>(&device)
                .unwrap(),
        ),
        "on_off_pretrained_mask" => Box::new(
            pretrained(FrontEndKind::OnOff)
                .with_apply_mask(true)
                .init::<B>(&device)
                .unwrap(),
        ),
        "laplacian_pyramid" => Box::new(LaplacianPyramid::new(3, false).unwrap()),
        "laplacian_pyramid_scaled" => Box::new(LaplacianPyramid::new(4, true).unwrap()),
        other => panic!("no model for fixture case {other}"),
    }
}

fn outputs_and_gradients<B: AutodiffBackend + HostBackend>(
    dtype: DType,
    rtol: f64,
    elementwise: f64,
) {
    let fixture = json("models");
    let suffix = if dtype == DType::F64 { "f64" } else { "f32" };
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        set_seed(case["seed"].as_u64().unwrap());
        let model = build::<B>(name);
        let shape: Vec<usize> = floats(&case["input_shape"])
            .iter()
            .map(|&v| v as usize)
            .collect();
        let input: Tensor<B, 4> =
            rng::rand(shape.try_into().unwrap(), DType::F32, &Default::default());
        let input = input.cast(dtype).require_grad();
        let output = model.forward(input.clone());
        let expected_shape: Vec<usize> = floats(&case["output_shape"])
            .iter()
            .map(|&v| v as usize)
            .collect();
        assert_eq!(output.shape(), expected_shape, "{name} shape");
        let flat = output.flat().clone();
        assert_eq!(flat.dtype(), dtype, "{name} dtype");
        let grads = flat.clone().powi_scalar(2).sum().backward();
        let gradient = to_f64(input.grad(&grads).expect("input gradient"));
        let what = format!("{name} {suffix}");
        let expected = npy(&format!("model_{name}_{suffix}")).values;
        assert_scaled_close(&what, &to_f64(flat.inner()), &expected, rtol, elementwise);
        let expected = npy(&format!("model_{name}_grad_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} gradient"),
            &gradient,
            &expected,
            rtol,
            elementwise,
        );
    }
}

metamer_tests::test_on_backends!(
    outputs_and_gradients_f32 => outputs_and_gradients(DType::F32, 1e-5, 1e-4),
);

#[test]
fn ndarray_f64() {
    outputs_and_gradients::<NdArray64>(DType::F64, 1e-10, 1e-10);
}

#[test]
fn flex_f64() {
    outputs_and_gradients::<Flex>(DType::F64, 1e-10, 1e-10);
}

/// Parameters drawn at construction equal plenoptic's for the same seed.
#[test]
fn random_initialisation_matches_torch() {
    type B = NdArray;
    let fixture = json("models");
    let device = Default::default();
    let case = |name: &str| {
        fixture["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()
            .clone()
    };
    let c = case("linear_random");
    set_seed(c["seed"].as_u64().unwrap());
    let linear = LinearConfig::new()
        .with_kernel_size([4, 4])
        .with_default_filters(false)
        .init::<B>(&device)
        .unwrap();
    assert_eq!(
        to_f64(linear.weight.val()),
        floats(&c["params"]["conv.weight"])
    );
    for (name, kind, k) in [
        (
            "luminance_contrast_gain_control",
            FrontEndKind::LuminanceContrastGainControl,
            11,
        ),
        ("on_off", FrontEndKind::OnOff, 7),
    ] {
        let c = case(name);
        set_seed(c["seed"].as_u64().unwrap());
        let model = FrontEndConfig::new(kind, [k, k])
            .init::<B>(&device)
            .unwrap();
        let params = &c["params"];
        assert_eq!(
            to_f64(model.luminance_scalar.as_ref().unwrap().val()),
            floats(&params["luminance_scalar"]),
            "{name}"
        );
        assert_eq!(
            to_f64(model.contrast_scalar.as_ref().unwrap().val()),
            floats(&params["contrast_scalar"]),
            "{name}"
        );
    }
    let c = case("on_off_pretrained_mask");
    let model = FrontEndConfig::new(FrontEndKind::OnOff, [31, 31])
        .with_pretrained(true)
        .init::<B>(&device)
        .unwrap();
    for (key, value) in [
        (
            "center_surround.center_std",
            model.center_surround.center_std.val(),
        ),
        (
            "center_surround.surround_std",
            model.center_surround.surround_std.val(),
        ),
        ("luminance.std", model.luminance.as_ref().unwrap().std.val()),
        ("contrast.std", model.contrast.as_ref().unwrap().std.val()),
    ] {
        assert_eq!(to_f64(value), floats(&c["params"][key]), "{key}");
    }
}

/// 10 iterations of plenoptic's default synthesis with each model, within 1e-3.
fn model_metamers<B: AutodiffBackend + HostBackend>() {
    let fixture = json("model_metamers");
    for (name, expected) in fixture.as_object().unwrap() {
        set_seed(expected["seed"].as_u64().unwrap());
        let target: Tensor<B::InnerBackend, 4> =
            rng::rand([1, 1, 40, 40], DType::F32, &Default::default());
        let model = build::<B>(name);
        let mut met = Metamer::<B>::new(target, model).unwrap();
        met.synthesize(metamer_core::SynthesizeOptions {
            max_iter: 10,
            ..Default::default()
        })
        .unwrap();
        assert_history(name, &met, expected, 1e-3);
    }
}

metamer_tests::test_on_backends!(model_metamers);

// --- plenoptic's test_models.py ------------------------------------------------------------------

fn all_models<B: HostBackend>() -> Vec<(&'static str, Box<dyn Model<B>>)> {
    [
        "linear_default",
        "center_surround",
        "linear_nonlinear_pretrained",
        "luminance_gain_control",
        "luminance_contrast_gain_control_pretrained",
        "on_off_pretrained_mask",
        "laplacian_pyramid",
    ]
    .into_iter()
    .map(|name| (name, build::<B>(name)))
    .chain([(
        "gaussian",
        Box::new(
            GaussianConfig::new([30, 30])
                .init::<B>(&Default::default())
                .unwrap(),
        ) as Box<dyn Model<B>>,
    )])
    .collect()
}

/// plenoptic's `test_validate_model`: every model passes the metamer's model validation at 256×256
/// (frozen parameters add no gradient of their own).
#[test]
fn models_pass_validation() {
    for (name, model) in all_models::<NdArray>() {
        metamer_core::validate::validate_model(
            model.as_ref(),
            [1, 1, 256, 256],
            DType::F32,
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// plenoptic's Laplacian-pyramid tests: gradients flow through the Laplacian pyramid, and it
/// reconstructs 253×234 images for 3 to 6 scales.
#[test]
fn laplacian_pyramid_reconstructs_and_differentiates() {
    type B = NdArray64;
    set_seed(0);
    let image: Tensor<B, 4> = rng::rand([1, 1, 253, 234], DType::F64, &Default::default());
    for n_scales in 3..=6 {
        let pyramid = LaplacianPyramid::new(n_scales, false).unwrap();
        let levels = pyramid.forward(image.clone());
        let recon = pyramid.recon_pyr(&levels);
        let error = relative_l2(&to_f64(recon), &to_f64(image.clone()));
        assert!(error < 1e-12, "{n_scales} scales: {error}");
    }
    let tracked = image.require_grad();
    let levels = LaplacianPyramid::new(3, false)
        .unwrap()
        .forward(tracked.clone());
    let total = levels
        .into_iter()
        .map(|l| l.powi_scalar(2).sum())
        .reduce(|a, b| a + b)
        .unwrap();
    let grads = total.backward();
    assert!(
        to_f64(tracked.grad(&grads).unwrap())
            .iter()
            .any(|g| *g != 0.0)
    );
    assert_eq!(LaplacianPyramid::new(0, false), Err(ModelError::Scales));
}

/// plenoptic's front-end shape and gradient tests: front ends keep the image shape, and their own
/// forward pass differentiates with respect to their parameters.
#[test]
fn learnable_parameters_get_gradients() {
    type B = NdArray;
    let device = Default::default();
    let ones = Tensor::<B, 4>::ones([1, 1, 100, 100], &device);
    for kind in [
        FrontEndKind::LinearNonlinear,
        FrontEndKind::LuminanceGainControl,
        FrontEndKind::LuminanceContrastGainControl,
    ] {
        let model = FrontEndConfig::new(kind, [31, 31])
            .init::<B>(&device)
            .unwrap();
        let out = model.forward(ones.clone());
        assert_eq!(out.dims(), [1, 1, 100, 100], "{kind:?}");
    }
    let noise: Tensor<B, 4> = rng::rand([1, 1, 40, 40], DType::F32, &device);
    let model = FrontEndConfig::new(FrontEndKind::OnOff, [7, 7])
        .init::<B>(&device)
        .unwrap();
    let grads = model.forward(noise.clone()).powi_scalar(2).sum().backward();
    let cs = &model.center_surround;
    for (what, grad) in [
        ("center_std", cs.center_std.grad(&grads)),
        ("surround_std", cs.surround_std.grad(&grads)),
        (
            "luminance.std",
            model.luminance.as_ref().unwrap().std.grad(&grads),
        ),
        (
            "contrast.std",
            model.contrast.as_ref().unwrap().std.grad(&grads),
        ),
        (
            "luminance_scalar",
            model.luminance_scalar.as_ref().unwrap().grad(&grads),
        ),
        (
            "contrast_scalar",
            model.contrast_scalar.as_ref().unwrap().grad(&grads),
        ),
    ] {
        let grad = to_f64(grad.unwrap_or_else(|| panic!("{what} has no gradient")));
        assert!(
            grad.iter().all(|g| g.is_finite()) && grad.iter().any(|g| *g != 0.0),
            "{what}"
        );
    }
    let linear = LinearConfig::new().init::<B>(&device).unwrap();
    let grads = linear.forward(noise.clone()).sum().backward();
    assert_eq!(linear.weight.grad(&grads).unwrap().dims(), [2, 1, 3, 3]);
    // As a metamer model the parameters are frozen: the output depends on the image only.
    let frozen = Model::<B, 4>::forward(&linear, noise.clone().require_grad());
    let grads = frozen.flat().clone().sum().backward();
    assert!(linear.weight.grad(&grads).is_none());
    // Burn's own freezing works too (plenoptic's remove_grad).
    let frozen_module = linear.no_grad();
    assert!(!frozen_module.weight.val().is_require_grad());
}

/// plenoptic's `OnOff` pretrained-kernel tests and plenoptic's warnings for pretrained models.
#[test]
fn pretrained_models_need_kernel_31() {
    let device = Default::default();
    FrontEndConfig::new(FrontEndKind::OnOff, [7, 7])
        .init::<NdArray>(&device)
        .unwrap();
    let config = FrontEndConfig::new(FrontEndKind::OnOff, [7, 7]).with_pretrained(true);
    let err = config.init::<NdArray>(&device).unwrap_err();
    assert_eq!(err, ModelError::PretrainedKernelSize([7, 7]));
    assert!(
        err.to_string()
            .contains("pretrained model has kernel_size (31, 31)")
    );
    let config = FrontEndConfig::new(FrontEndKind::LinearNonlinear, [31, 31])
        .with_pretrained(true)
        .with_on_center(false);
    assert_eq!(
        config.warnings(),
        [
            ModelWarning::PretrainedWithoutCache,
            ModelWarning::PretrainedOffCenter
        ]
    );
    assert!(
        config
            .with_cache_filt(true)
            .init::<NdArray>(&device)
            .is_ok()
    );
    let err = FrontEndConfig::new(FrontEndKind::LinearNonlinear, [7, 7])
        .with_apply_mask(true)
        .init::<NdArray>(&device)
        .unwrap_err();
    assert_eq!(err, ModelError::MaskNeedsOnOff);
}

/// plenoptic's CenterSurround tests: center-surround argument checks with plenoptic's messages.
#[test]
fn center_surround_arguments() {
    let device = Default::default();
    let message = |config: CenterSurroundConfig| {
        config
            .init::<NdArray>(&device)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let base = || CenterSurroundConfig::new([7, 7]);
    assert!(
        message(
            base()
                .with_center_std(vec![1.0, 2.0])
                .with_out_channels(Some(3))
        )
        .contains("If non-scalar, len(center_std) must equal out_channels")
    );
    assert!(message(base().with_amplitude_ratio(0.0)).contains("must at least be 1"));
    assert!(
        base()
            .with_amplitude_ratio(1.0)
            .init::<NdArray>(&device)
            .is_ok()
    );
    assert!(
        message(
            base()
                .with_on_center(vec![true, false])
                .with_out_channels(Some(3))
        )
        .contains("len(on_center) must equal out_channels")
    );
    assert!(
        message(
            base()
                .with_on_center(vec![true, false])
                .with_center_std(vec![1.0, 2.0, 3.0])
        )
        .contains("If non-scalar, len(center_std) must equal out_channels")
    );
    assert!(
        message(
            base()
                .with_center_std(vec![1.0, 2.0])
                .with_surround_std(vec![3.0, 4.0, 5.0])
        )
        .contains("If non-scalar, len(surround_std) must equal len(center_std)")
    );
    let two = base()
        .with_on_center(vec![true, false])
        .init::<NdArray>(&device)
        .unwrap();
    assert_eq!(two.out_channels(), 2);
    // Each filter is a zero-sum difference of Gaussians scaled by amplitude_ratio.
    let filters = to_f64(two.filters());
    for channel in filters.chunks(49) {
        assert!(channel.iter().sum::<f64>().abs() < 1e-6);
    }
    assert!(filters[24] > 0.0 && filters[49 + 24] < 0.0);
}

/// plenoptic's `circular_gaussian2d` tests: shapes, sums and argument checks, and grouped
/// filtering equal to filtering each channel on its own.
#[test]
fn circular_gaussian_filters() {
    use metamer_models::filters::{Stds, blur_grouped, circular_gaussian2d};
    type B = NdArray64;
    let device = Default::default();
    let filters = circular_gaussian2d::<B>([7, 5], &[2.0, 3.0, 4.0], None, &device).unwrap();
    assert_eq!(filters.dims(), [3, 1, 7, 5]);
    for channel in to_f64(filters).chunks(35) {
        assert!((channel.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    let one = circular_gaussian2d::<B>([4, 4], &[1.0], Some(2), &device).unwrap();
    assert_eq!(one.dims(), [2, 1, 4, 4]);
    let error = |kernel, std: &[f64], out| {
        circular_gaussian2d::<B>(kernel, std, out, &device)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    assert!(error([3, 3], &[0.0], None).contains("std must be positive"));
    assert!(error([3, 3], &[1.0, 2.0], Some(3)).contains("If non-scalar, len(std) must equal"));
    assert!(error([0, 3], &[1.0], None).contains("kernel_size must be positive"));
    assert!(error([3, 3], &[1.0], Some(0)).contains("out_channels must be positive integer"));

    set_seed(3);
    let image: Tensor<B, 4> = rng::rand([2, 3, 16, 18], DType::F64, &device);
    // An explicit dtype: NdArray<f32> and NdArray<f64> share one device, whose default float
    // dtype is whichever the first tensor created in the process fixed.
    let std = metamer_core::tensor::from_f64::<B, 1>(vec![1.0, 2.0, 3.5], [3], DType::F64, &device);
    let grouped = to_f64(blur_grouped(
        image.clone(),
        Stds::Learnable(std),
        [5, 7],
        Padding::Reflect,
    ));
    for (c, s) in [1.0, 2.0, 3.5].into_iter().enumerate() {
        let gaussian = GaussianConfig::new([5, 7])
            .with_std(vec![s])
            .init::<B>(&device)
            .unwrap();
        let alone = to_f64(gaussian.forward(image.clone().narrow(1, c, 1)));
        let plane = 16 * 18;
        for b in 0..2 {
            let got = &grouped[(b * 3 + c) * plane..(b * 3 + c + 1) * plane];
            let want = &alone[b * plane..(b + 1) * plane];
            assert!(relative_l2(got, want) < 1e-14, "channel {c} batch {b}");
        }
    }
}

/// plenoptic's `disk`: 1 in the middle, 0 in the corners, symmetric.
#[test]
fn disk_mask() {
    let mask = disk(9, 7);
    assert_eq!(mask.len(), 63);
    assert_eq!(mask[4 * 7 + 3], 1.0);
    assert_eq!(mask[0], 0.0);
    for i in 0..9 {
        for j in 0..7 {
            assert_eq!(mask[i * 7 + j], mask[(8 - i) * 7 + (6 - j)]);
        }
    }
}

/// The fixed-weight host correlation equals Burn's padded `conv2d` in value and input
/// gradient, for every padding mode, odd and even kernels, batches and several channels.
#[test]
fn fixed_correlation_matches_convolution() {
    use burn::tensor::{module::conv2d, ops::ConvOptions};
    use metamer_models::{FixedCorrelation, correlate_fixed, padding::same_pad};
    use std::sync::Arc;
    let modes = [
        Padding::Reflect,
        Padding::Circular,
        Padding::Constant,
        Padding::Replicate,
    ];
    for kernel in [[3, 3], [4, 5], [1, 2], [2, 1]] {
        for mode in modes {
            let [kh, kw] = kernel;
            let shape = [3, 2, kh, kw];
            let weights: Vec<f64> = (0..shape.iter().product::<usize>())
                .map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0)
                .collect();
            let weight = f64_tensor(weights.clone(), shape);
            let image = || {
                f64_tensor(
                    (0..2 * 2 * 9 * 7)
                        .map(|i| ((i * 53 % 29) as f64).sin())
                        .collect::<Vec<_>>(),
                    [2, 2, 9, 7],
                )
                .require_grad()
            };
            let probe = f64_tensor(
                (0..2 * 3 * 9 * 7)
                    .map(|i| ((i * 17 % 13) as f64).cos())
                    .collect::<Vec<_>>(),
                [2, 3, 9, 7],
            );
            let x = image();
            let expected = conv2d(
                same_pad(x.clone(), kernel, mode),
                weight.clone(),
                None,
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            let expected_grad = x.grad(&expected.clone().mul(probe.clone()).sum().backward());
            let y = image();
            let filter = Arc::new(FixedCorrelation::new(weights.clone(), shape, mode));
            let actual = correlate_fixed(y.clone(), filter);
            let actual_grad = y.grad(&actual.clone().mul(probe).sum().backward());
            let what = format!("{kernel:?} {}", mode.name());
            metamer_tests::assert_close(
                &what,
                &to_f64(actual.inner()),
                &to_f64(expected.inner()),
                1e-13,
                0.0,
            );
            metamer_tests::assert_close(
                &format!("{what} gradient"),
                &to_f64(actual_grad.unwrap()),
                &to_f64(expected_grad.unwrap()),
                1e-13,
                0.0,
            );
        }
    }
}

/// plenoptic's `cache_filt` test: `cache_filt` keeps the filters of the first call (plenoptic's
/// `_filt`) if and only if it is set; a cached model then ignores later changes to its parameters.
#[test]
fn cache_filt_keeps_the_first_filters() {
    use burn::module::Param;
    type B = NdArray64;
    let device = Default::default();
    let image = || {
        f64_tensor(
            (0..32 * 32)
                .map(|i| ((i * 7 % 31) as f64) / 31.0)
                .collect::<Vec<_>>(),
            [1, 1, 32, 32],
        )
    };
    for cache in [false, true] {
        let mut gaussian = GaussianConfig::new([7, 7])
            .with_cache_filt(cache)
            .init::<B>(&device)
            .unwrap();
        let mut center_surround = CenterSurroundConfig::new([7, 7])
            .with_on_center(vec![true, false])
            .with_cache_filt(cache)
            .init::<B>(&device)
            .unwrap();
        assert!(gaussian.cached_filters().is_none());
        assert!(center_surround.cached_filters().is_none());
        let first_gaussian = to_f64(Model::forward(&gaussian, image()).flat().clone());
        let first_cs = to_f64(Model::forward(&center_surround, image()).flat().clone());
        assert_eq!(gaussian.cached_filters().is_some(), cache);
        assert_eq!(center_surround.cached_filters().is_some(), cache);
        if cache {
            assert_eq!(
                to_f64(gaussian.cached_filters().unwrap()),
                to_f64(gaussian.filters())
            );
        }
        let before = to_f64(center_surround.filters());
        gaussian.std = Param::from_tensor(f64_tensor(vec![1.0], [1]));
        center_surround.center_std = Param::from_tensor(f64_tensor(vec![2.0, 0.5], [2]));
        let second_gaussian = to_f64(Model::forward(&gaussian, image()).flat().clone());
        let second_cs = to_f64(Model::forward(&center_surround, image()).flat().clone());
        assert_eq!(
            second_gaussian == first_gaussian,
            cache,
            "gaussian cache={cache}"
        );
        assert_eq!(
            second_cs == first_cs,
            cache,
            "center-surround cache={cache}"
        );
        assert_eq!(to_f64(center_surround.filters()) == before, cache);
    }
    // The front ends pass the option to their filters.
    let on_off = FrontEndConfig::new(FrontEndKind::OnOff, [31, 31])
        .with_pretrained(true)
        .with_cache_filt(true)
        .init::<B>(&device)
        .unwrap();
    let _ = Model::forward(&on_off, image());
    assert!(on_off.center_surround.cached_filters().is_some());
    assert!(
        on_off
            .luminance
            .as_ref()
            .unwrap()
            .cached_filters()
            .is_some()
    );
    assert!(on_off.contrast.as_ref().unwrap().cached_filters().is_some());
}

/// Any activation written for every backend can replace the built-in ones (plenoptic takes
/// any callable).
#[test]
fn front_ends_take_any_activation() {
    #[derive(Clone, Debug)]
    struct Tanh;
    impl metamer_models::Activate for Tanh {
        fn apply<B: Backend, const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
            x.tanh()
        }
        fn name(&self) -> String {
            "tanh".into()
        }
    }
    type B = NdArray64;
    let device = Default::default();
    let image = f64_tensor(
        (0..32 * 32)
            .map(|i| ((i * 5 % 17) as f64) / 4.0 - 2.0)
            .collect::<Vec<_>>(),
        [1, 1, 32, 32],
    );
    let identity = FrontEndConfig::new(FrontEndKind::LuminanceGainControl, [7, 7])
        .with_activation(metamer_models::Activation::Identity)
        .init::<B>(&device)
        .unwrap();
    let linear = to_f64(Model::forward(&identity, image.clone()).flat().clone());
    let tanh = identity.with_activation(Tanh);
    assert!(Model::<B, 4>::name(&tanh).contains("activation=tanh"));
    let actual = to_f64(Model::forward(&tanh, image.clone()).flat().clone());
    let expected: Vec<f64> = linear.iter().map(|v| v.tanh()).collect();
    metamer_tests::assert_close("tanh activation", &actual, &expected, 1e-15, 0.0);
    assert!(linear.iter().any(|v| v.abs() > 0.5), "a non-trivial test");
    // Learnable forward passes use it too.
    let learnable = to_f64(tanh.forward(image));
    metamer_tests::assert_close("tanh learnable", &learnable, &expected, 1e-15, 0.0);
}

fn f64_tensor<const D: usize>(values: Vec<f64>, shape: [usize; D]) -> Tensor<NdArray64, D> {
    metamer_core::tensor::from_f64(values, shape, DType::F64, &Default::default())
}
