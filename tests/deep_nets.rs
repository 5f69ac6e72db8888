//! torchvision's networks in Burn against plenoptic's `DeepNetFeatures` (fixtures from
//! `xtask/fixtures/deep_nets.py`), on weights torchvision initialised and saved
//! (`xtask/fixtures/torchvision_weights.py`, kept in a cache that `cargo xtask test` fills).

use std::path::PathBuf;

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer_core::{Metamer, Model, SynthesizeOptions, rng, set_seed, tensor::to_f64};
use metamer_nets::{Architecture, DeepNetFeatures, NetError, Normalize, Weights};
use metamer_tests::{
    Flex, NdArray64, Value, assert_history, assert_scaled_close, floats, json, npy,
};

/// The seeded torchvision weights, or `None` (with the reason printed) where they were not made.
fn weights_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("METAMER_TEST_WEIGHTS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/metamer-weights"))
        })?;
    if dir.join("complete").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: no seeded torchvision weights in {} (`cargo xtask test` makes them)",
            dir.display()
        );
        None
    }
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// Reads `arch`'s cached weights, checking they fit and are the ones the fixtures came from
/// (the first parameter's sum, as torch computed it in float64).
fn weights(dir: &std::path::Path, arch: &str) -> Weights {
    let weights = Weights::from_file(dir.join(format!("{arch}.pth"))).expect("cached weights");
    let expected = &json("deep_nets")["weights"][arch];
    let architecture: Architecture = arch.parse().unwrap();
    weights.check(architecture).expect("the cached weights fit");
    let first = architecture.parameters().into_iter().next().unwrap();
    assert_eq!(first.name, expected["first"].as_str().unwrap());
    let values = weights.values(&first).expect("readable").convert::<f64>();
    let sum: f64 = values.to_vec::<f64>().unwrap().iter().sum();
    let want = expected["sum"].as_f64().unwrap();
    assert!(
        (sum - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{arch}: the cached weights are not the ones the fixtures came from ({sum} vs {want}); \
         `cargo xtask fixtures` remakes both"
    );
    weights
}

#[test]
fn node_names_are_torchvisions() {
    let fixture = json("deep_nets");
    for architecture in Architecture::ALL {
        let expected = strings(&fixture["node_names"][architecture.name()]);
        assert_eq!(
            architecture.graph().node_names(),
            expected,
            "{architecture}"
        );
        let parameters = fixture["weights"][architecture.name()]["parameters"]
            .as_u64()
            .unwrap();
        assert_eq!(
            architecture.parameters().len() as u64,
            parameters,
            "{architecture}"
        );
    }
}

fn case_model<B: AutodiffBackend>(
    dir: &std::path::Path,
    case: &Value,
    dtype: DType,
) -> DeepNetFeatures<B, metamer_nets::Network<B>> {
    let arch = case["arch"].as_str().unwrap();
    let normalize = case["normalize"]
        .as_bool()
        .unwrap()
        .then(Normalize::imagenet);
    DeepNetFeatures::torchvision(
        arch.parse().unwrap(),
        &weights(dir, arch),
        &strings(&case["layers"]),
        normalize,
        dtype,
        &Default::default(),
    )
    .unwrap()
}

/// Every case's activations and the gradient of their sum of squares, as plenoptic gives them.
fn outputs_and_gradients<B: AutodiffBackend>(dtype: DType, tolerance: f64) {
    let Some(dir) = weights_dir() else { return };
    let suffix = if dtype == DType::F64 { "f64" } else { "f32" };
    for case in json("deep_nets")["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let size = case["size"].as_u64().unwrap() as usize;
        set_seed(case["seed"].as_u64().unwrap());
        let input: Tensor<B, 4> = rng::rand([1, 3, size, size], DType::F32, &Default::default());
        let input = input.cast(dtype).require_grad();
        let model = case_model::<B>(&dir, case, dtype);
        assert_eq!(model.check_input(&[1, 3, size, size]), None, "{name}");
        let output = model.forward(input.clone());
        let expected_shape: Vec<usize> = floats(&case["output_shape"])
            .iter()
            .map(|&v| v as usize)
            .collect();
        assert_eq!(output.shape(), expected_shape, "{name}");
        let flat = output.flat().clone();
        let grads = flat.clone().powi_scalar(2).sum().backward();
        let gradient = to_f64(input.grad(&grads).expect("input gradient"));
        let what = format!("{name} {suffix}");
        let expected = npy(&format!("{name}_{suffix}")).values;
        assert_scaled_close(
            &what,
            &to_f64(flat.inner()),
            &expected,
            tolerance,
            tolerance,
        );
        let expected = npy(&format!("{name}_grad_{suffix}")).values;
        assert_scaled_close(
            &format!("{what} gradient"),
            &gradient,
            &expected,
            tolerance,
            tolerance,
        );
    }
}

metamer_tests::test_on_backends!(
    deep_net_outputs_f32 => outputs_and_gradients(DType::F32, 1e-4),
);

#[test]
fn deep_net_outputs_ndarray_f64() {
    outputs_and_gradients::<NdArray64>(DType::F64, 1e-10);
}

#[test]
fn deep_net_outputs_flex_f64() {
    outputs_and_gradients::<Flex>(DType::F64, 1e-10);
}

#[cfg(feature = "tch")]
#[test]
fn deep_net_outputs_f64_on_tch() {
    outputs_and_gradients::<metamer_tests::Tch>(DType::F64, 1e-10);
}

#[cfg(feature = "wgpu")]
#[test]
fn deep_net_outputs_f64_on_wgpu() {
    outputs_and_gradients::<metamer_tests::Wgpu>(DType::F64, 1e-10);
}

/// 10 iterations of plenoptic's default synthesis in float64: histories and metamer within 1e-6.
fn deep_net_metamers<B: AutodiffBackend>() {
    let Some(dir) = weights_dir() else { return };
    for case in json("deep_nets")["metamers"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let arch = case["arch"].as_str().unwrap();
        let size = case["size"].as_u64().unwrap() as usize;
        set_seed(case["seed"].as_u64().unwrap());
        let target: Tensor<B::InnerBackend, 4> =
            rng::rand([1, 3, size, size], DType::F64, &Default::default());
        let model = DeepNetFeatures::torchvision(
            arch.parse().unwrap(),
            &weights(&dir, arch),
            &strings(&case["layers"]),
            Some(Normalize::imagenet()),
            DType::F64,
            &Default::default(),
        )
        .unwrap();
        let mut met = Metamer::<B>::new(target, model).unwrap();
        met.synthesize(SynthesizeOptions {
            max_iter: 10,
            ..Default::default()
        })
        .unwrap();
        assert_history(name, &met, case, 1e-6);
        let expected = npy(name).values;
        assert_scaled_close(
            name,
            &to_f64(met.metamer().unwrap().clone()),
            &expected,
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn deep_net_metamers_ndarray_f64() {
    deep_net_metamers::<NdArray64>();
}

#[test]
fn deep_net_metamers_flex_f64() {
    deep_net_metamers::<Flex>();
}

/// The same weights as `.safetensors` give the same network as the `.pth`.
#[test]
fn safetensors_weights_load_like_pth() {
    let Some(dir) = weights_dir() else { return };
    type B = burn::backend::NdArray<f32>;
    let layers = ["layer2".to_string()];
    let image: Tensor<B, 4> = rng::rand([1, 3, 32, 32], DType::F32, &Default::default());
    let run = |file: &str| {
        let weights = Weights::from_file(dir.join(file)).unwrap();
        let model = DeepNetFeatures::<B, _>::torchvision(
            Architecture::ResNet18,
            &weights,
            &layers,
            None,
            DType::F32,
            &Default::default(),
        )
        .unwrap();
        to_f64(model.forward(image.clone()).flat().clone())
    };
    assert_eq!(run("resnet18.safetensors"), run("resnet18.pth"));
}

/// A file of another architecture is refused with the first parameter that does not fit.
#[test]
fn mismatched_weights_name_the_first_misfit() {
    let Some(dir) = weights_dir() else { return };
    let weights = Weights::from_file(dir.join("resnet50.pth")).unwrap();
    let error = weights.check(Architecture::ResNet18).unwrap_err();
    assert!(
        matches!(&error, NetError::Mismatch { name, expected, .. }
        if name == "layer1.0.conv1.weight" && expected == &vec![64, 64, 3, 3]),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("layer1.0.conv1.weight has shape [64, 64, 1, 1]"),
        "{error}"
    );
    let weights = Weights::from_file(dir.join("vgg16.pth")).unwrap();
    let error = weights.check(Architecture::Vgg19).unwrap_err();
    assert!(
        error.to_string().contains("features.16.weight is missing"),
        "{error}"
    );
    let error = Weights::from_file(dir.join("vgg19.pth"))
        .unwrap()
        .check(Architecture::Vgg16)
        .unwrap_err();
    assert!(
        matches!(&error, NetError::Mismatch { name, .. } if name == "features.17.weight"),
        "{error}"
    );
}
