//! Every model `--model` accepts, one entry each. A model whose config type is already here
//! (another front end, say) is one more [`Family`]; a new config type also gets a line in
//! [`model_configs!`] and a [`BuildModel`] implementation.

use burn::tensor::{DType, backend::AutodiffBackend};

use super::deep_nets::{self, DeepNetOptions};
use super::{BuildModel, BuiltModel, Entry, Family, Setting};
use crate::models::{
    Activation, CenterSurroundConfig, FrontEndConfig, FrontEndKind, GaussianConfig, HostBackend,
    Identity, LaplacianPyramid, LinearConfig, PortillaSimoncelliConfig,
};
use metamer_nets::Architecture;

/// Every model `--model` accepts, in the order `metamer models` lists them.
pub(super) static MODELS: &[&dyn Entry] = &[
    &IDENTITY,
    &GAUSSIAN,
    &CENTER_SURROUND,
    &LINEAR,
    &LINEAR_NONLINEAR,
    &LUMINANCE_GAIN_CONTROL,
    &LUMINANCE_CONTRAST_GAIN_CONTROL,
    &ON_OFF,
    &LAPLACIAN_PYRAMID,
    &PORTILLA_SIMONCELLI,
    &ALEXNET,
    &VGG16,
    &VGG19,
    &RESNET18,
    &RESNET50,
];

/// The config types of the command line's models, one variant each, and the dispatch to
/// their [`BuildModel`] implementations.
macro_rules! model_configs {
    ($($variant:ident($config:ty)),* $(,)?) => {
        /// A model's config, whichever model it is.
        #[derive(Clone, Debug)]
        pub(super) enum ModelConfig {
            $($variant($config)),*
        }

        impl ModelConfig {
            pub(super) fn build<B: AutodiffBackend + HostBackend>(
                &self,
                image_shape: [usize; 2],
                device: &B::Device,
                dtype: DType,
            ) -> Result<BuiltModel<B>, String> {
                match self {
                    $(Self::$variant(config) => config.build::<B>(image_shape, device, dtype)),*
                }
            }

            pub(super) fn warnings(&self) -> Vec<String> {
                match self {
                    $(Self::$variant(config) => BuildModel::warnings(config)),*
                }
            }
        }
    };
}

model_configs! {
    Identity(IdentityOptions),
    Gaussian(GaussianConfig),
    CenterSurround(CenterSurroundConfig),
    Linear(LinearConfig),
    FrontEnd(FrontEndConfig),
    LaplacianPyramid(LaplacianPyramidOptions),
    PortillaSimoncelli(TextureOptions),
    DeepNet(DeepNetOptions),
}

impl ModelConfig {
    pub(super) fn is_texture(&self) -> bool {
        matches!(self, Self::PortillaSimoncelli(_))
    }

    pub(super) fn is_deep_net(&self) -> bool {
        matches!(self, Self::DeepNet(_))
    }

    /// The same options with relative file paths (a network's weights) read from `folder`.
    pub(super) fn with_files_in(self, folder: &std::path::Path) -> Self {
        match self {
            Self::DeepNet(options) => Self::DeepNet(options.with_files_in(folder)),
            other => other,
        }
    }

    /// The files the model reads when built.
    pub(super) fn files(&self) -> Vec<&std::path::Path> {
        match self {
            Self::DeepNet(options) => options.files(),
            _ => Vec::new(),
        }
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

fn boxed<B: AutodiffBackend + HostBackend>(model: impl crate::Model<B> + 'static) -> BuiltModel<B> {
    BuiltModel::Other(Box::new(model))
}

fn size([h, w]: [usize; 2]) -> String {
    format!("{h}x{w}")
}

fn list<T: ToString>(values: &[T]) -> String {
    values
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(":")
}

/// `key=true` in the description only when it is on.
fn when_on(on: bool) -> Option<String> {
    on.then(|| "true".to_string())
}

// ---- identity ------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(super) struct IdentityOptions;

impl BuildModel for IdentityOptions {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        _: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(Identity))
    }
}

static IDENTITY: Family<IdentityOptions> = Family {
    name: "identity",
    about: "the image itself",
    new: || IdentityOptions,
    settings: &[],
    wrap: ModelConfig::Identity,
    unwrap: |config| match config {
        ModelConfig::Identity(c) => Some(c),
        _ => None,
    },
};

// ---- Gaussian ------------------------------------------------------------------------------

impl BuildModel for GaussianConfig {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        device: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(self.init::<B>(device).map_err(text)?))
    }
}

static GAUSSIAN: Family<GaussianConfig> = Family {
    name: "gaussian",
    about: "Gaussian blur, one output channel per std",
    new: || GaussianConfig::new([30, 30]),
    settings: &[
        Setting {
            key: "kernel_size",
            default: "30 (N or HxW)",
            read: |c, v| v.kernel_size(&mut c.kernel_size),
            show: |c| Some(size(c.kernel_size)),
        },
        Setting {
            key: "std",
            default: "3 (one value, or several as a:b)",
            read: |c, v| v.list("numbers", &mut c.std),
            show: |c| Some(list(&c.std)),
        },
        Setting {
            key: "pad_mode",
            default: "reflect (reflect|circular|constant|replicate)",
            read: |c, v| v.pad_mode(&mut c.pad_mode),
            show: |c| Some(c.pad_mode.name().to_string()),
        },
        Setting {
            key: "out_channels",
            default: "number of stds",
            read: |c, v| v.count_some(&mut c.out_channels),
            show: |c| c.out_channels.map(|n| n.to_string()),
        },
        Setting {
            key: "cache_filt",
            default: "false",
            read: |c, v| v.flag(&mut c.cache_filt),
            show: |c| when_on(c.cache_filt),
        },
    ],
    wrap: ModelConfig::Gaussian,
    unwrap: |config| match config {
        ModelConfig::Gaussian(c) => Some(c),
        _ => None,
    },
};

// ---- center-surround -----------------------------------------------------------------------

impl BuildModel for CenterSurroundConfig {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        device: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(self.init::<B>(device).map_err(text)?))
    }
}

static CENTER_SURROUND: Family<CenterSurroundConfig> = Family {
    name: "center_surround",
    about: "difference of Gaussians",
    new: || CenterSurroundConfig::new([31, 31]),
    settings: &[
        Setting {
            key: "kernel_size",
            default: "31",
            read: |c, v| v.kernel_size(&mut c.kernel_size),
            show: |c| Some(size(c.kernel_size)),
        },
        Setting {
            key: "on_center",
            default: "true (or a list such as true:false)",
            read: |c, v| v.list("true or false", &mut c.on_center),
            show: |c| Some(list(&c.on_center)),
        },
        Setting {
            key: "amplitude_ratio",
            default: "1.25",
            read: |c, v| v.float(&mut c.amplitude_ratio),
            show: |c| Some(c.amplitude_ratio.to_string()),
        },
        Setting {
            key: "center_std",
            default: "1",
            read: |c, v| v.list("numbers", &mut c.center_std),
            show: |c| Some(list(&c.center_std)),
        },
        Setting {
            key: "surround_std",
            default: "4",
            read: |c, v| v.list("numbers", &mut c.surround_std),
            show: |c| Some(list(&c.surround_std)),
        },
        Setting {
            key: "out_channels",
            default: "inferred",
            read: |c, v| v.count_some(&mut c.out_channels),
            show: |c| c.out_channels.map(|n| n.to_string()),
        },
        Setting {
            key: "pad_mode",
            default: "reflect",
            read: |c, v| v.pad_mode(&mut c.pad_mode),
            show: |c| Some(c.pad_mode.name().to_string()),
        },
        Setting {
            key: "cache_filt",
            default: "false",
            read: |c, v| v.flag(&mut c.cache_filt),
            show: |c| when_on(c.cache_filt),
        },
    ],
    wrap: ModelConfig::CenterSurround,
    unwrap: |config| match config {
        ModelConfig::CenterSurround(c) => Some(c),
        _ => None,
    },
};

// ---- linear --------------------------------------------------------------------------------

impl BuildModel for LinearConfig {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        device: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(self.init::<B>(device).map_err(text)?))
    }
}

static LINEAR: Family<LinearConfig> = Family {
    name: "linear",
    about: "two convolution filters (low-pass and band-pass)",
    new: LinearConfig::new,
    settings: &[
        Setting {
            key: "kernel_size",
            default: "3",
            read: |c, v| v.kernel_size(&mut c.kernel_size),
            show: |c| Some(size(c.kernel_size)),
        },
        Setting {
            key: "pad_mode",
            default: "circular",
            read: |c, v| v.pad_mode(&mut c.pad_mode),
            show: |c| Some(c.pad_mode.name().to_string()),
        },
        Setting {
            key: "default_filters",
            default: "true (false: random, seeded by --seed)",
            read: |c, v| v.flag(&mut c.default_filters),
            show: |c| Some(c.default_filters.to_string()),
        },
    ],
    wrap: ModelConfig::Linear,
    unwrap: |config| match config {
        ModelConfig::Linear(c) => Some(c),
        _ => None,
    },
};

// ---- front ends ----------------------------------------------------------------------------

impl BuildModel for FrontEndConfig {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        device: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(self.init::<B>(device).map_err(text)?))
    }

    fn warnings(&self) -> Vec<String> {
        FrontEndConfig::warnings(self)
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}

/// A front end of kind `kind` with its options: `on_center` for the one-channel front ends,
/// `apply_mask` for on_off.
const fn front_end(
    name: &'static str,
    about: &'static str,
    new: fn() -> FrontEndConfig,
    settings: &'static [Setting<FrontEndConfig>],
) -> Family<FrontEndConfig> {
    Family {
        name,
        about,
        new,
        settings,
        wrap: ModelConfig::FrontEnd,
        unwrap: |config| match config {
            ModelConfig::FrontEnd(c) => Some(c),
            _ => None,
        },
    }
}

const FRONT_END_SIZE: Setting<FrontEndConfig> = Setting {
    key: "kernel_size",
    default: "31",
    read: |c, v| v.kernel_size(&mut c.kernel_size),
    show: |c| Some(size(c.kernel_size)),
};

/// The options every front end shares after its kind-specific one.
macro_rules! front_end_settings {
    ($kind_specific:expr) => {
        &[
            FRONT_END_SIZE,
            $kind_specific,
            Setting {
                key: "amplitude_ratio",
                default: "1.25",
                read: |c, v| v.float(&mut c.amplitude_ratio),
                show: |c| Some(c.amplitude_ratio.to_string()),
            },
            Setting {
                key: "pad_mode",
                default: "reflect",
                read: |c, v| v.pad_mode(&mut c.pad_mode),
                show: |c| Some(c.pad_mode.name().to_string()),
            },
            Setting {
                key: "pretrained",
                default: "false (true needs kernel_size=31)",
                read: |c, v| v.flag(&mut c.pretrained),
                show: |c| Some(c.pretrained.to_string()),
            },
            Setting {
                key: "activation",
                default: "softplus (softplus|relu|identity)",
                read: |c, v| {
                    if let Some(name) = v.text() {
                        c.activation = activation(&name)?;
                    }
                    Ok(())
                },
                show: |c| Some(c.activation.name().to_string()),
            },
            Setting {
                key: "cache_filt",
                default: "false",
                read: |c, v| v.flag(&mut c.cache_filt),
                show: |c| Some(c.cache_filt.to_string()),
            },
        ]
    };
}

const ON_CENTER: Setting<FrontEndConfig> = Setting {
    key: "on_center",
    default: "true",
    read: |c, v| v.flag(&mut c.on_center),
    show: |c| Some(c.on_center.to_string()),
};

fn activation(name: &str) -> Result<Activation, String> {
    match name {
        "softplus" => Ok(Activation::Softplus),
        "relu" => Ok(Activation::Relu),
        "identity" => Ok(Activation::Identity),
        other => Err(format!(
            "unknown activation {other:?}; expected one of: softplus, relu, identity"
        )),
    }
}

static LINEAR_NONLINEAR: Family<FrontEndConfig> = front_end(
    "linear_nonlinear",
    "center-surround then softplus",
    || FrontEndConfig::new(FrontEndKind::LinearNonlinear, [31, 31]),
    front_end_settings!(ON_CENTER),
);

static LUMINANCE_GAIN_CONTROL: Family<FrontEndConfig> = front_end(
    "luminance_gain_control",
    "center-surround divided by local luminance",
    || FrontEndConfig::new(FrontEndKind::LuminanceGainControl, [31, 31]),
    front_end_settings!(ON_CENTER),
);

static LUMINANCE_CONTRAST_GAIN_CONTROL: Family<FrontEndConfig> = front_end(
    "luminance_contrast_gain_control",
    "luminance, then contrast gain control",
    || FrontEndConfig::new(FrontEndKind::LuminanceContrastGainControl, [31, 31]),
    front_end_settings!(ON_CENTER),
);

static ON_OFF: Family<FrontEndConfig> = front_end(
    "on_off",
    "on- and off-center luminance and contrast gain control",
    || FrontEndConfig::new(FrontEndKind::OnOff, [31, 31]),
    front_end_settings!(Setting {
        key: "apply_mask",
        default: "false",
        read: |c, v| v.flag(&mut c.apply_mask),
        show: |c| Some(c.apply_mask.to_string()),
    }),
);

// ---- Laplacian pyramid ---------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
pub(super) struct LaplacianPyramidOptions {
    pub(super) n_scales: usize,
    pub(super) scale_filter: bool,
}

impl BuildModel for LaplacianPyramidOptions {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        _: [usize; 2],
        _: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        Ok(boxed(
            LaplacianPyramid::new(self.n_scales, self.scale_filter).map_err(text)?,
        ))
    }
}

static LAPLACIAN_PYRAMID: Family<LaplacianPyramidOptions> = Family {
    name: "laplacian_pyramid",
    about: "Laplacian pyramid, all levels concatenated",
    new: || LaplacianPyramidOptions {
        n_scales: 5,
        scale_filter: false,
    },
    settings: &[
        Setting {
            key: "n_scales",
            default: "5",
            read: |c, v| v.count(&mut c.n_scales),
            show: |c| Some(c.n_scales.to_string()),
        },
        Setting {
            key: "scale_filter",
            default: "false",
            read: |c, v| v.flag(&mut c.scale_filter),
            show: |c| Some(c.scale_filter.to_string()),
        },
    ],
    wrap: ModelConfig::LaplacianPyramid,
    unwrap: |config| match config {
        ModelConfig::LaplacianPyramid(c) => Some(c),
        _ => None,
    },
};

// ---- Portilla–Simoncelli -------------------------------------------------------------------

/// Built for the target image's size.
#[derive(Clone, Debug)]
pub(super) struct TextureOptions {
    n_scales: usize,
    n_orientations: usize,
    spatial_corr_width: usize,
}

impl BuildModel for TextureOptions {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        image_shape: [usize; 2],
        device: &B::Device,
        _: DType,
    ) -> Result<BuiltModel<B>, String> {
        let model = PortillaSimoncelliConfig::new(image_shape)
            .with_n_scales(self.n_scales)
            .with_n_orientations(self.n_orientations)
            .with_spatial_corr_width(self.spatial_corr_width)
            .init(device)
            .map_err(text)?;
        Ok(BuiltModel::Texture(model))
    }
}

static PORTILLA_SIMONCELLI: Family<TextureOptions> = Family {
    name: "portilla_simoncelli",
    about: "Portilla-Simoncelli texture statistics (710 at the defaults)",
    new: || TextureOptions {
        n_scales: 4,
        n_orientations: 4,
        spatial_corr_width: 7,
    },
    settings: &[
        Setting {
            key: "n_scales",
            default: "4",
            read: |c, v| v.count(&mut c.n_scales),
            show: |c| Some(c.n_scales.to_string()),
        },
        Setting {
            key: "n_orientations",
            default: "4",
            read: |c, v| v.count(&mut c.n_orientations),
            show: |c| Some(c.n_orientations.to_string()),
        },
        Setting {
            key: "spatial_corr_width",
            default: "7",
            read: |c, v| v.count(&mut c.spatial_corr_width),
            show: |c| Some(c.spatial_corr_width.to_string()),
        },
    ],
    wrap: ModelConfig::PortillaSimoncelli,
    unwrap: |config| match config {
        ModelConfig::PortillaSimoncelli(c) => Some(c),
        _ => None,
    },
};

// ---- deep networks (their options and how they are built: deep_nets.rs) --------------------

const fn deep_net(
    name: &'static str,
    about: &'static str,
    new: fn() -> DeepNetOptions,
) -> Family<DeepNetOptions> {
    Family {
        name,
        about,
        new,
        settings: deep_nets::SETTINGS,
        wrap: ModelConfig::DeepNet,
        unwrap: |config| match config {
            ModelConfig::DeepNet(c) => Some(c),
            _ => None,
        },
    }
}

static ALEXNET: Family<DeepNetOptions> = deep_net(
    "alexnet",
    "torchvision's AlexNet, layers flattened and joined; colour images",
    || DeepNetOptions::new(Architecture::AlexNet, "features.5"),
);
static VGG16: Family<DeepNetOptions> = deep_net(
    "vgg16",
    "torchvision's VGG16, layers flattened and joined; colour images",
    || DeepNetOptions::new(Architecture::Vgg16, "features.16"),
);
static VGG19: Family<DeepNetOptions> = deep_net(
    "vgg19",
    "torchvision's VGG19, layers flattened and joined; colour images",
    || DeepNetOptions::new(Architecture::Vgg19, "features.18"),
);
static RESNET18: Family<DeepNetOptions> = deep_net(
    "resnet18",
    "torchvision's ResNet18, layers flattened and joined; colour images",
    || DeepNetOptions::new(Architecture::ResNet18, "layer2"),
);
static RESNET50: Family<DeepNetOptions> = deep_net(
    "resnet50",
    "torchvision's ResNet50, layers flattened and joined; colour images",
    || DeepNetOptions::new(Architecture::ResNet50, "layer2"),
);
