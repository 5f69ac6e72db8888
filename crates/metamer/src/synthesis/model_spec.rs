//! `--model` specifications: `name` or `name:key=value,key=value`, and `metamer models`.

use crate::Model;
use crate::models::HostBackend;
use crate::models::{
    Activation, CenterSurroundConfig, FrontEndConfig, FrontEndKind, GaussianConfig, Identity,
    LaplacianPyramid, LinearConfig, ModelWarning, Padding, PortillaSimoncelli,
    PortillaSimoncelliConfig,
};
use burn::tensor::backend::AutodiffBackend;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::options::KeyValues;

/// A model chosen on the command line, before it is built on a device.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    Identity,
    Gaussian(GaussianConfig),
    CenterSurround(CenterSurroundConfig),
    Linear(LinearConfig),
    FrontEnd(FrontEndConfig),
    LaplacianPyramid {
        n_scales: usize,
        scale_filter: bool,
    },
    /// Built for the target image's size.
    PortillaSimoncelli {
        n_scales: usize,
        n_orientations: usize,
        spatial_corr_width: usize,
    },
}

/// A built model; texture models stay concrete so texture losses can be built from them.
pub enum BuiltModel<B: AutodiffBackend + HostBackend> {
    Texture(PortillaSimoncelli<B>),
    Other(Box<dyn Model<B>>),
}

impl<B: AutodiffBackend + HostBackend> BuiltModel<B> {
    pub fn boxed(self) -> Box<dyn Model<B>> {
        match self {
            Self::Texture(model) => Box::new(model),
            Self::Other(model) => model,
        }
    }
}

/// A model `--model` accepts: its name, what it is, and its options with their defaults.
type ModelInfo = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// Every model `--model` accepts.
pub const MODELS: &[ModelInfo] = &[
    ("identity", "the image itself", &[]),
    (
        "gaussian",
        "Gaussian blur, one output channel per std",
        &[
            ("kernel_size", "30 (N or HxW)"),
            ("std", "3 (one value, or several as a:b)"),
            ("pad_mode", "reflect (reflect|circular|constant|replicate)"),
            ("out_channels", "number of stds"),
            ("cache_filt", "false"),
        ],
    ),
    (
        "center_surround",
        "difference of Gaussians",
        &[
            ("kernel_size", "31"),
            ("on_center", "true (or a list such as true:false)"),
            ("amplitude_ratio", "1.25"),
            ("center_std", "1"),
            ("surround_std", "4"),
            ("out_channels", "inferred"),
            ("pad_mode", "reflect"),
            ("cache_filt", "false"),
        ],
    ),
    (
        "linear",
        "two convolution filters (low-pass and band-pass)",
        &[
            ("kernel_size", "3"),
            ("pad_mode", "circular"),
            ("default_filters", "true (false: random, seeded by --seed)"),
        ],
    ),
    (
        "linear_nonlinear",
        "center-surround then softplus",
        FRONT_END,
    ),
    (
        "luminance_gain_control",
        "center-surround divided by local luminance",
        FRONT_END,
    ),
    (
        "luminance_contrast_gain_control",
        "luminance, then contrast gain control",
        FRONT_END,
    ),
    (
        "on_off",
        "on- and off-center luminance and contrast gain control",
        &[
            ("kernel_size", "31"),
            ("amplitude_ratio", "1.25"),
            ("pad_mode", "reflect"),
            ("pretrained", "false (true needs kernel_size=31)"),
            ("activation", "softplus (softplus|relu|identity)"),
            ("apply_mask", "false"),
            ("cache_filt", "false"),
        ],
    ),
    (
        "laplacian_pyramid",
        "Laplacian pyramid, all levels concatenated",
        &[("n_scales", "5"), ("scale_filter", "false")],
    ),
    (
        "portilla_simoncelli",
        "Portilla-Simoncelli texture statistics (710 at the defaults)",
        &[
            ("n_scales", "4"),
            ("n_orientations", "4"),
            ("spatial_corr_width", "7"),
        ],
    ),
];

const FRONT_END: &[(&str, &str)] = &[
    ("kernel_size", "31"),
    ("on_center", "true"),
    ("amplitude_ratio", "1.25"),
    ("pad_mode", "reflect"),
    ("pretrained", "false (true needs kernel_size=31)"),
    ("activation", "softplus (softplus|relu|identity)"),
    ("cache_filt", "false"),
];

/// The text of `metamer models`.
pub fn listing() -> String {
    let mut text = String::from("Models for --model NAME or NAME:key=value,...\n");
    for (name, about, options) in MODELS {
        text.push_str(&format!("\n{name}: {about}\n"));
        for (key, default) in options.iter() {
            text.push_str(&format!("    {key:<16} default {default}\n"));
        }
    }
    text
}

fn accepted(name: &str) -> String {
    let options = MODELS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, _, options)| options.iter().map(|(k, _)| *k).collect::<Vec<_>>())
        .unwrap_or_default();
    if options.is_empty() {
        "none".to_string()
    } else {
        options.join(", ")
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let name = name.trim();
        let mut options = KeyValues::parse(name, rest)?;
        let front_end = |kind| (kind, name);
        let parsed = match name {
            "identity" => Self::Identity,
            "gaussian" => {
                let mut config = GaussianConfig::new(kernel_size(&mut options, 30)?);
                if let Some(std) = options.list("std", "numbers")? {
                    config.std = std;
                }
                config.pad_mode = pad_mode(&mut options)?.unwrap_or(config.pad_mode);
                config.out_channels = options.count("out_channels")?;
                config.cache_filt = options.flag("cache_filt")?.unwrap_or(config.cache_filt);
                Self::Gaussian(config)
            }
            "center_surround" => {
                let mut config = CenterSurroundConfig::new(kernel_size(&mut options, 31)?);
                if let Some(on_center) = options.list("on_center", "true or false")? {
                    config.on_center = on_center;
                }
                if let Some(ratio) = options.float("amplitude_ratio")? {
                    config.amplitude_ratio = ratio;
                }
                if let Some(std) = options.list("center_std", "numbers")? {
                    config.center_std = std;
                }
                if let Some(std) = options.list("surround_std", "numbers")? {
                    config.surround_std = std;
                }
                config.out_channels = options.count("out_channels")?;
                config.pad_mode = pad_mode(&mut options)?.unwrap_or(config.pad_mode);
                config.cache_filt = options.flag("cache_filt")?.unwrap_or(config.cache_filt);
                Self::CenterSurround(config)
            }
            "linear" => {
                let mut config = LinearConfig::new();
                config.kernel_size = kernel_size(&mut options, 3)?;
                config.pad_mode = pad_mode(&mut options)?.unwrap_or(config.pad_mode);
                if let Some(default_filters) = options.flag("default_filters")? {
                    config.default_filters = default_filters;
                }
                Self::Linear(config)
            }
            "linear_nonlinear" => {
                front_end_spec(front_end(FrontEndKind::LinearNonlinear), &mut options)?
            }
            "luminance_gain_control" => {
                front_end_spec(front_end(FrontEndKind::LuminanceGainControl), &mut options)?
            }
            "luminance_contrast_gain_control" => front_end_spec(
                front_end(FrontEndKind::LuminanceContrastGainControl),
                &mut options,
            )?,
            "on_off" => front_end_spec(front_end(FrontEndKind::OnOff), &mut options)?,
            "laplacian_pyramid" => Self::LaplacianPyramid {
                n_scales: options.count("n_scales")?.unwrap_or(5),
                scale_filter: options.flag("scale_filter")?.unwrap_or(false),
            },
            "portilla_simoncelli" => Self::PortillaSimoncelli {
                n_scales: options.count("n_scales")?.unwrap_or(4),
                n_orientations: options.count("n_orientations")?.unwrap_or(4),
                spatial_corr_width: options.count("spatial_corr_width")?.unwrap_or(7),
            },
            other => {
                let names: Vec<&str> = MODELS.iter().map(|(n, _, _)| *n).collect();
                return Err(format!(
                    "unknown model {other:?}; expected one of: {}",
                    names.join(", ")
                ));
            }
        };
        options.finish(&accepted(name))?;
        Ok(parsed)
    }
}

fn front_end_spec(
    (kind, _name): (FrontEndKind, &str),
    options: &mut KeyValues,
) -> Result<ModelSpec, String> {
    let mut config = FrontEndConfig::new(kind, kernel_size(options, 31)?);
    if kind != FrontEndKind::OnOff
        && let Some(on_center) = options.flag("on_center")?
    {
        config.on_center = on_center;
    }
    if let Some(ratio) = options.float("amplitude_ratio")? {
        config.amplitude_ratio = ratio;
    }
    config.pad_mode = pad_mode(options)?.unwrap_or(config.pad_mode);
    if let Some(pretrained) = options.flag("pretrained")? {
        config.pretrained = pretrained;
    }
    if let Some(name) = options.text("activation") {
        config.activation = match name.as_str() {
            "softplus" => Activation::Softplus,
            "relu" => Activation::Relu,
            "identity" => Activation::Identity,
            other => {
                return Err(format!(
                    "unknown activation {other:?}; expected one of: softplus, relu, identity"
                ));
            }
        };
    }
    if kind == FrontEndKind::OnOff
        && let Some(apply_mask) = options.flag("apply_mask")?
    {
        config.apply_mask = apply_mask;
    }
    if let Some(cache_filt) = options.flag("cache_filt")? {
        config.cache_filt = cache_filt;
    }
    Ok(ModelSpec::FrontEnd(config))
}

fn kernel_size(options: &mut KeyValues, default: usize) -> Result<[usize; 2], String> {
    let Some(text) = options.text("kernel_size") else {
        return Ok([default; 2]);
    };
    let parse = |s: &str| {
        s.parse::<usize>()
            .map_err(|_| format!("kernel_size must be a positive integer or HxW, got {text:?}"))
    };
    Ok(match text.split_once('x') {
        Some((h, w)) => [parse(h)?, parse(w)?],
        None => [parse(&text)?; 2],
    })
}

fn pad_mode(options: &mut KeyValues) -> Result<Option<Padding>, String> {
    options
        .text("pad_mode")
        .map(|text| text.parse::<Padding>().map_err(|e| e.to_string()))
        .transpose()
}

impl ModelSpec {
    /// Builds the model for images of `image_shape` (drawing from the global generator where
    /// plenoptic does).
    pub fn build<B: AutodiffBackend + HostBackend>(
        &self,
        image_shape: [usize; 2],
        device: &B::Device,
    ) -> Result<BuiltModel<B>, String> {
        if let Self::PortillaSimoncelli {
            n_scales,
            n_orientations,
            spatial_corr_width,
        } = *self
        {
            let model = PortillaSimoncelliConfig::new(image_shape)
                .with_n_scales(n_scales)
                .with_n_orientations(n_orientations)
                .with_spatial_corr_width(spatial_corr_width)
                .init(device)
                .map_err(text)?;
            return Ok(BuiltModel::Texture(model));
        }
        let built: Box<dyn Model<B>> = match self {
            Self::Identity => Box::new(Identity),
            Self::Gaussian(config) => Box::new(config.init::<B>(device).map_err(text)?),
            Self::CenterSurround(config) => Box::new(config.init::<B>(device).map_err(text)?),
            Self::Linear(config) => Box::new(config.init::<B>(device).map_err(text)?),
            Self::FrontEnd(config) => Box::new(config.init::<B>(device).map_err(text)?),
            Self::LaplacianPyramid {
                n_scales,
                scale_filter,
            } => Box::new(LaplacianPyramid::new(*n_scales, *scale_filter).map_err(text)?),
            Self::PortillaSimoncelli { .. } => unreachable!("built above"),
        };
        Ok(BuiltModel::Other(built))
    }

    /// What plenoptic would warn about for this model.
    pub fn warnings(&self) -> Vec<ModelWarning> {
        match self {
            Self::FrontEnd(config) => config.warnings(),
            _ => Vec::new(),
        }
    }

    /// Display form for histories, e.g. `gaussian:kernel_size=30x30,std=3,pad_mode=reflect`.
    pub fn describe(&self) -> String {
        let cached = |on: bool| if on { ",cache_filt=true" } else { "" };
        let size = |[h, w]: [usize; 2]| format!("{h}x{w}");
        let list = |values: &[f64]| {
            values
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(":")
        };
        match self {
            Self::Identity => "identity".to_string(),
            Self::Gaussian(c) => format!(
                "gaussian:kernel_size={},std={},pad_mode={}{}{}",
                size(c.kernel_size),
                list(&c.std),
                c.pad_mode.name(),
                c.out_channels
                    .map(|n| format!(",out_channels={n}"))
                    .unwrap_or_default(),
                cached(c.cache_filt)
            ),
            Self::CenterSurround(c) => format!(
                "center_surround:kernel_size={},on_center={},amplitude_ratio={},center_std={},surround_std={},pad_mode={}{}",
                size(c.kernel_size),
                c.on_center
                    .iter()
                    .map(bool::to_string)
                    .collect::<Vec<_>>()
                    .join(":"),
                c.amplitude_ratio,
                list(&c.center_std),
                list(&c.surround_std),
                c.pad_mode.name(),
                cached(c.cache_filt)
            ),
            Self::Linear(c) => format!(
                "linear:kernel_size={},pad_mode={},default_filters={}",
                size(c.kernel_size),
                c.pad_mode.name(),
                c.default_filters
            ),
            Self::FrontEnd(c) => {
                let name = MODELS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .find(|n| front_end_kind(n) == Some(c.kind))
                    .unwrap_or("front_end");
                let kind_specific = if c.kind == FrontEndKind::OnOff {
                    format!("apply_mask={}", c.apply_mask)
                } else {
                    format!("on_center={}", c.on_center)
                };
                format!(
                    "{name}:kernel_size={},{kind_specific},amplitude_ratio={},pad_mode={},pretrained={},activation={},cache_filt={}",
                    size(c.kernel_size),
                    c.amplitude_ratio,
                    c.pad_mode.name(),
                    c.pretrained,
                    c.activation.name(),
                    c.cache_filt
                )
            }
            Self::LaplacianPyramid {
                n_scales,
                scale_filter,
            } => format!("laplacian_pyramid:n_scales={n_scales},scale_filter={scale_filter}"),
            Self::PortillaSimoncelli {
                n_scales,
                n_orientations,
                spatial_corr_width,
            } => format!(
                "portilla_simoncelli:n_scales={n_scales},n_orientations={n_orientations},spatial_corr_width={spatial_corr_width}"
            ),
        }
    }
}

/// Written as its description, so a saved synthesis or a study plan reads it back with `FromStr`.
impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.describe())
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn front_end_kind(name: &str) -> Option<FrontEndKind> {
    match name {
        "linear_nonlinear" => Some(FrontEndKind::LinearNonlinear),
        "luminance_gain_control" => Some(FrontEndKind::LuminanceGainControl),
        "luminance_contrast_gain_control" => Some(FrontEndKind::LuminanceContrastGainControl),
        "on_off" => Some(FrontEndKind::OnOff),
        _ => None,
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_options() {
        assert_eq!(
            "identity".parse::<ModelSpec>().unwrap(),
            ModelSpec::Identity
        );
        let ModelSpec::Gaussian(g) =
            "gaussian:kernel_size=5x8,std=1.5,pad_mode=circular,out_channels=2,cache_filt=true"
                .parse::<ModelSpec>()
                .unwrap()
        else {
            panic!("expected a gaussian");
        };
        assert_eq!(g.kernel_size, [5, 8]);
        assert_eq!(g.std, [1.5]);
        assert_eq!(g.out_channels, Some(2));
        assert!(g.cache_filt);
        assert_eq!(g.pad_mode, Padding::Circular);
        let default: ModelSpec = "gaussian".parse().unwrap();
        assert_eq!(default, ModelSpec::Gaussian(GaussianConfig::new([30, 30])));
        let ModelSpec::FrontEnd(on_off) = "on_off:pretrained=true,apply_mask=true,cache_filt=true"
            .parse::<ModelSpec>()
            .unwrap()
        else {
            panic!("expected a front end");
        };
        assert_eq!(on_off.kind, FrontEndKind::OnOff);
        assert!(on_off.pretrained && on_off.apply_mask && on_off.cache_filt);
        let ModelSpec::CenterSurround(cs) = "center_surround:on_center=true:false,kernel_size=7"
            .parse::<ModelSpec>()
            .unwrap()
        else {
            panic!("expected a center-surround");
        };
        assert_eq!(cs.on_center, [true, false]);
        assert_eq!(
            "laplacian_pyramid:n_scales=3".parse::<ModelSpec>().unwrap(),
            ModelSpec::LaplacianPyramid {
                n_scales: 3,
                scale_filter: false
            }
        );
        // Every listed model parses with its defaults and describes itself back.
        for (name, _, _) in MODELS {
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
        let err = "vgg16".parse::<ModelSpec>().unwrap_err();
        assert!(err.contains("identity, gaussian, center_surround"), "{err}");
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
                s.build::<crate::backend::NdArray>([64, 64], &Default::default())
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

    /// T-MD20, T-MD22: a single kernel size means a square kernel, with identical outputs.
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
                .build::<B>([48, 48], &Default::default())
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
}
