use super::registry::{LaplacianPyramidOptions, ModelConfig};
use super::*;
use crate::models::{FrontEndKind, GaussianConfig};

#[test]
fn parses_names_and_options() {
    assert!(matches!(
        "identity".parse::<ModelSpec>().unwrap().config,
        ModelConfig::Identity(_)
    ));
    let ModelConfig::Gaussian(g) =
        "gaussian:kernel_size=5x8,std=1.5,pad_mode=circular,out_channels=2,cache_filt=true"
            .parse::<ModelSpec>()
            .unwrap()
            .config
    else {
        panic!("expected a gaussian");
    };
    assert_eq!(g.kernel_size, [5, 8]);
    assert_eq!(g.std, [1.5]);
    assert_eq!(g.out_channels, Some(2));
    assert!(g.cache_filt);
    assert_eq!(g.pad_mode, Padding::Circular);
    let default: ModelSpec = "gaussian".parse().unwrap();
    let ModelConfig::Gaussian(default) = default.config else {
        panic!("expected a gaussian");
    };
    assert_eq!(default, GaussianConfig::new([30, 30]));
    let ModelConfig::FrontEnd(on_off) = "on_off:pretrained=true,apply_mask=true,cache_filt=true"
        .parse::<ModelSpec>()
        .unwrap()
        .config
    else {
        panic!("expected a front end");
    };
    assert_eq!(on_off.kind, FrontEndKind::OnOff);
    assert!(on_off.pretrained && on_off.apply_mask && on_off.cache_filt);
    let ModelConfig::CenterSurround(cs) = "center_surround:on_center=true:false,kernel_size=7"
        .parse::<ModelSpec>()
        .unwrap()
        .config
    else {
        panic!("expected a center-surround");
    };
    assert_eq!(cs.on_center, [true, false]);
    let ModelConfig::LaplacianPyramid(pyramid) = "laplacian_pyramid:n_scales=3"
        .parse::<ModelSpec>()
        .unwrap()
        .config
    else {
        panic!("expected a Laplacian pyramid");
    };
    assert_eq!(
        pyramid,
        LaplacianPyramidOptions {
            n_scales: 3,
            scale_filter: false
        }
    );
    // Every listed model parses with its defaults and describes itself back.
    for name in MODELS.iter().map(|entry| entry.name()) {
        let spec: ModelSpec = name.parse().unwrap();
        assert_eq!(
            spec.describe().parse::<ModelSpec>().unwrap(),
            spec,
            "{name}"
        );
    }
}

#[test]
fn errors_list_what_is_accepted() {
    let err = "vgg11".parse::<ModelSpec>().unwrap_err();
    assert!(err.contains("identity, gaussian, center_surround"), "{err}");
    assert!(
        err.contains("alexnet, vgg16, vgg19, resnet18, resnet50"),
        "{err}"
    );
    let err = "gaussian:size=3".parse::<ModelSpec>().unwrap_err();
    assert!(
        err.contains("kernel_size, std, pad_mode, out_channels"),
        "{err}"
    );
    let err = "gaussian:pad_mode=mirror".parse::<ModelSpec>().unwrap_err();
    assert!(
        err.contains("reflect, circular, constant, replicate"),
        "{err}"
    );
    assert!("gaussian:kernel_size=x".parse::<ModelSpec>().is_err());
    assert!(
        "gaussian:kernel_size"
            .parse::<ModelSpec>()
            .unwrap_err()
            .contains("key=value")
    );
    assert!("identity:x=1".parse::<ModelSpec>().is_err());
    let build = |spec: &str| {
        spec.parse::<ModelSpec>().and_then(|s| {
            s.build::<crate::backend::NdArray>([64, 64], &Default::default(), DType::F32)
                .map(|_| ())
        })
    };
    assert!(
        build("gaussian:std=-1")
            .unwrap_err()
            .contains("std must be positive")
    );
    let err = build("on_off:pretrained=true,kernel_size=7").unwrap_err();
    assert!(
        err.contains("pretrained model has kernel_size (31, 31)"),
        "{err}"
    );
    let err = "on_off:on_center=false".parse::<ModelSpec>().unwrap_err();
    assert!(err.contains("unknown on_off option \"on_center\""), "{err}");
    let err = build("center_surround:amplitude_ratio=0.5").unwrap_err();
    assert!(err.contains("amplitude_ratio must at least be 1"), "{err}");
    let err = build("portilla_simoncelli:n_scales=7").unwrap_err();
    assert!(err.contains("divided by 2 `n_scales` times"), "{err}");
    let err = build("portilla_simoncelli:spatial_corr_width=9").unwrap_err();
    assert!(err.contains("spatial_corr_width"), "{err}");
    let err = "linear_nonlinear:activation=tanh"
        .parse::<ModelSpec>()
        .unwrap_err();
    assert!(err.contains("softplus, relu, identity"), "{err}");
}

/// A single kernel size means a square kernel, with identical outputs.
#[test]
fn square_kernel_sizes_are_one_number() {
    type B = crate::backend::NdArray;
    let image = crate::io::default_image(48)
        .to_tensor::<B, 4>(&Default::default())
        .unwrap();
    let output = |spec: &str| {
        let model = spec
            .parse::<ModelSpec>()
            .unwrap()
            .build::<B>([48, 48], &Default::default(), DType::F32)
            .unwrap()
            .boxed();
        metamer_core::tensor::to_f64(model.forward(image.clone()).flat().clone())
    };
    for (one, two) in [
        ("linear:kernel_size=10", "linear:kernel_size=10x10"),
        (
            "gaussian:kernel_size=10,std=1",
            "gaussian:kernel_size=10x10,std=1",
        ),
        (
            "center_surround:kernel_size=10",
            "center_surround:kernel_size=10x10",
        ),
        (
            "on_off:kernel_size=31,pretrained=true,cache_filt=true",
            "on_off:kernel_size=31x31,pretrained=true,cache_filt=true",
        ),
    ] {
        let (a, b) = (output(one), output(two));
        assert!(a.iter().any(|v| *v != 0.0), "{one}");
        assert_eq!(a, b, "{one} vs {two}");
    }
}
