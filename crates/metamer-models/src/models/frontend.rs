//! The early-vision models of Berardino et al. (2017), as in plenoptic: a center-surround stage,
//! optionally divided by local luminance and local contrast, then a rectifying activation.

use burn::{
    config::Config,
    module::{Module, Param},
    tensor::{Tensor, backend::Backend},
};
use metamer_core::{
    Model, Representation,
    rng::rand_values,
    tensor::{from_f64, to_f64},
};
use serde::{Deserialize, Serialize};

use crate::{
    CenterSurroundConfig, Gaussian, GaussianConfig, HostBackend, ModelError, Padding, Result,
    frozen,
    host::weighted_root,
    models::activation::{Activate, Activation},
    models::center_surround::CenterSurround,
    models::front_end_host::{FrontEndSpec, GainStage, front_end_on_host},
    signal::filters::{Stds, blur_bank, blur_grouped, param_tensor},
};

/// Which of plenoptic's front-end models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrontEndKind {
    /// `activation(CS(x))`.
    LinearNonlinear,
    /// `activation(CS(x) / (1 + a·G_lum(x)))`.
    LuminanceGainControl,
    /// Luminance gain control, then division by `1 + b·sqrt(G_con(y²))`.
    LuminanceContrastGainControl,
    /// Luminance and contrast gain control with an on- and an off-center channel.
    OnOff,
}

impl FrontEndKind {
    /// plenoptic's class name.
    pub fn name(self) -> &'static str {
        match self {
            Self::LinearNonlinear => "LinearNonlinear",
            Self::LuminanceGainControl => "LuminanceGainControl",
            Self::LuminanceContrastGainControl => "LuminanceContrastGainControl",
            Self::OnOff => "OnOff",
        }
    }

    fn channels(self) -> usize {
        if self == Self::OnOff { 2 } else { 1 }
    }

    fn has_luminance(self) -> bool {
        self != Self::LinearNonlinear
    }

    fn has_contrast(self) -> bool {
        matches!(self, Self::LuminanceContrastGainControl | Self::OnOff)
    }
}

/// Something plenoptic warns about when building a front-end model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelWarning {
    /// Pretrained parameters without caching the filters built from them.
    #[error(
        "pretrained is True but cache_filt is False. Set cache_filt to True for efficiency unless you are fine-tuning."
    )]
    PretrainedWithoutCache,
    /// Pretrained parameters (fitted on-centre) with an off-centre model.
    #[error("pretrained model had on_center=True, so on_center=False might not make sense")]
    PretrainedOffCenter,
    /// A Laplacian pyramid on an image of odd size.
    #[error("Reconstruction will not be perfect with odd-sized images")]
    OddPyramidSize,
}

/// Options of the front-end models, with plenoptic's defaults.
#[derive(Config, Debug, PartialEq)]
pub struct FrontEndConfig {
    /// Which front-end model.
    pub kind: FrontEndKind,
    /// `[height, width]` of the filters.
    pub kernel_size: [usize; 2],
    /// Not used by [`FrontEndKind::OnOff`], which has one channel of each.
    #[config(default = true)]
    pub on_center: bool,
    /// Ratio of centre to surround amplitude; at least 1.
    #[config(default = 1.25)]
    pub amplitude_ratio: f64,
    /// How the image is padded before filtering.
    #[config(default = "Padding::Reflect")]
    pub pad_mode: Padding,
    /// Load the parameters fitted by Berardino et al. (kernel size must be 31).
    #[config(default = false)]
    pub pretrained: bool,
    /// The final non-linearity.
    #[config(default = "Activation::Softplus")]
    pub activation: Activation,
    /// [`FrontEndKind::OnOff`] only: multiply the output by a raised-cosine disk.
    #[config(default = false)]
    pub apply_mask: bool,
    /// Build the filters on the first call and reuse them (plenoptic's `cache_filt`); leave
    /// it off to fit the parameters.
    #[config(default = false)]
    pub cache_filt: bool,
}

/// Parameters fitted by Berardino et al. 2017, as published in plenoptic.
struct Pretrained {
    center_std: &'static [f64],
    surround_std: &'static [f64],
    luminance_std: &'static [f64],
    contrast_std: &'static [f64],
    luminance_scalar: &'static [f64],
    contrast_scalar: &'static [f64],
}

impl FrontEndKind {
    fn pretrained(self) -> Pretrained {
        match self {
            Self::LinearNonlinear => Pretrained {
                center_std: &[0.5339],
                surround_std: &[6.148],
                luminance_std: &[],
                contrast_std: &[],
                luminance_scalar: &[],
                contrast_scalar: &[],
            },
            Self::LuminanceGainControl => Pretrained {
                center_std: &[1.962],
                surround_std: &[4.235],
                luminance_std: &[4.235],
                contrast_std: &[],
                luminance_scalar: &[14.95],
                contrast_scalar: &[],
            },
            Self::LuminanceContrastGainControl => Pretrained {
                center_std: &[0.7363],
                surround_std: &[48.37],
                luminance_std: &[170.99],
                contrast_std: &[2.658],
                luminance_scalar: &[2.94],
                contrast_scalar: &[34.03],
            },
            Self::OnOff => Pretrained {
                center_std: &[1.237, 0.3233],
                surround_std: &[30.12, 2.184],
                luminance_std: &[76.4, 2.184],
                contrast_std: &[7.49, 2.43],
                luminance_scalar: &[3.2637, 14.3961],
                contrast_scalar: &[7.3405, 16.7423],
            },
        }
    }
}

impl FrontEndConfig {
    /// What plenoptic would warn about for these options.
    pub fn warnings(&self) -> Vec<ModelWarning> {
        let mut warnings = Vec::new();
        if self.pretrained && !self.cache_filt {
            warnings.push(ModelWarning::PretrainedWithoutCache);
        }
        if self.pretrained && !self.on_center && self.kind != FrontEndKind::OnOff {
            warnings.push(ModelWarning::PretrainedOffCenter);
        }
        warnings
    }

    /// Validates the options and creates the model, drawing the gain scalars from the global
    /// generator as plenoptic does (also when pretrained, so later draws line up). Warnings are
    /// logged; [`Self::warnings`] returns them.
    ///
    /// # Errors
    /// When an option is one plenoptic refuses, with its message.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<FrontEnd<B>> {
        if self.pretrained && self.kernel_size != [31, 31] {
            return Err(ModelError::PretrainedKernelSize(self.kernel_size));
        }
        if self.apply_mask && self.kind != FrontEndKind::OnOff {
            return Err(ModelError::MaskNeedsOnOff);
        }
        for warning in self.warnings() {
            log::warn!("{warning}");
        }
        let kind = self.kind;
        let channels = kind.channels();
        let on_center = if kind == FrontEndKind::OnOff {
            vec![true, false]
        } else {
            vec![self.on_center]
        };
        let mut center_surround = CenterSurroundConfig::new(self.kernel_size)
            .with_on_center(on_center)
            .with_amplitude_ratio(self.amplitude_ratio)
            .with_pad_mode(self.pad_mode)
            .with_cache_filt(self.cache_filt);
        let gaussian = GaussianConfig::new(self.kernel_size)
            .with_out_channels(Some(channels))
            .with_pad_mode(self.pad_mode)
            .with_cache_filt(self.cache_filt);
        let (mut luminance, mut contrast) = (gaussian.clone(), gaussian);
        let mut luminance_scalar = scaled_draws(kind.has_luminance(), channels);
        let mut contrast_scalar = scaled_draws(kind.has_contrast(), channels);
        if self.pretrained {
            let fitted = kind.pretrained();
            center_surround = center_surround
                .with_center_std(fitted.center_std.to_vec())
                .with_surround_std(fitted.surround_std.to_vec())
                .with_amplitude_ratio(1.25);
            luminance = luminance.with_std(fitted.luminance_std.to_vec());
            contrast = contrast.with_std(fitted.contrast_std.to_vec());
            luminance_scalar = fitted.luminance_scalar.to_vec();
            contrast_scalar = fitted.contrast_scalar.to_vec();
        }
        let scalar = |values: Vec<f64>| {
            (!values.is_empty())
                .then(|| Param::from_tensor(param_tensor(&values, [values.len()], device)))
        };
        Ok(FrontEnd {
            center_surround: center_surround.init(device)?,
            luminance: kind
                .has_luminance()
                .then(|| luminance.init(device))
                .transpose()?,
            luminance_scalar: scalar(luminance_scalar),
            contrast: kind
                .has_contrast()
                .then(|| contrast.init(device))
                .transpose()?,
            contrast_scalar: scalar(contrast_scalar),
            kind,
            activation: self.activation,
            apply_mask: self.apply_mask,
        })
    }
}

/// `torch.rand(n) * 10` from the global generator, in float32 like plenoptic's parameters.
fn scaled_draws(wanted: bool, n: usize) -> Vec<f64> {
    if !wanted {
        return Vec::new();
    }
    rand_values(n, burn::tensor::DType::F32)
        .into_iter()
        .map(|u| f64::from((u * 10.0) as f32))
        .collect()
}

/// A front-end model: [`FrontEndKind`] says which. Its parameters are learnable through
/// [`FrontEnd::forward`]; as a metamer [`Model`] it runs with them frozen.
#[derive(Module, Debug)]
pub struct FrontEnd<B: Backend, A: Activate = Activation> {
    /// The linear centre–surround stage.
    pub center_surround: CenterSurround<B>,
    /// The luminance-pooling filter, for models with luminance gain control.
    pub luminance: Option<Gaussian<B>>,
    /// The luminance gain, for models with luminance gain control.
    pub luminance_scalar: Option<Param<Tensor<B, 1>>>,
    /// The contrast-pooling filter, for models with contrast gain control.
    pub contrast: Option<Gaussian<B>>,
    /// The contrast gain, for models with contrast gain control.
    pub contrast_scalar: Option<Param<Tensor<B, 1>>>,
    #[module(skip)]
    kind: FrontEndKind,
    #[module(skip)]
    activation: A,
    #[module(skip)]
    apply_mask: bool,
}

impl<B: Backend, A: Activate> FrontEnd<B, A> {
    /// Which front-end model this is.
    pub fn kind(&self) -> FrontEndKind {
        self.kind
    }

    /// Every filter, `[n, 1, kh, kw]`: the center-surround filters, then the luminance and
    /// the contrast filters (what plenoptic's `display_filters` shows; pass it to
    /// `metamer_plot::imshow` with [`Self::filter_titles`]).
    pub fn filters(&self) -> Tensor<B, 4> {
        let mut filters = vec![self.center_surround.filters()];
        filters.extend(self.luminance.iter().map(Gaussian::filters));
        filters.extend(self.contrast.iter().map(Gaussian::filters));
        Tensor::cat(filters, 0)
    }

    /// plenoptic's panel titles for [`Self::filters`].
    pub fn filter_titles(&self) -> Vec<String> {
        let stages = ["linear filt", "luminance filt", "contrast filt"];
        let count =
            1 + usize::from(self.kind.has_luminance()) + usize::from(self.kind.has_contrast());
        stages[..count]
            .iter()
            .flat_map(|stage| {
                if self.kind == FrontEndKind::OnOff {
                    vec![format!("{stage} on"), format!("{stage} off")]
                } else {
                    vec![stage.to_string()]
                }
            })
            .collect()
    }

    /// The same model with another final non-linearity.
    pub fn with_activation<N: Activate>(self, activation: N) -> FrontEnd<B, N> {
        FrontEnd {
            center_surround: self.center_surround,
            luminance: self.luminance,
            luminance_scalar: self.luminance_scalar,
            contrast: self.contrast,
            contrast_scalar: self.contrast_scalar,
            kind: self.kind,
            activation,
            apply_mask: self.apply_mask,
        }
    }
}

impl<B: HostBackend, A: Activate> FrontEnd<B, A> {
    /// `[batch, 1, h, w]` → `[batch, 1, h, w]` (`[batch, 2, h, w]` for OnOff); gradients reach
    /// the parameters.
    pub fn forward(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        self.respond(image, true)
    }

    fn respond(&self, image: Tensor<B, 4>, learnable: bool) -> Tensor<B, 4> {
        let value = |p: &Param<Tensor<B, 1>>| if learnable { p.val() } else { frozen(p) };
        let channels = image.dims()[1];
        assert_eq!(
            channels,
            1,
            "{} takes one-channel images, got {channels} channels",
            self.kind.name()
        );
        if !learnable && B::runs_on_host(&image.device()) {
            return self.respond_on_host(image);
        }
        let cs = &self.center_surround;
        let out = cs.out_channels();
        let mut stds = vec![cs.stds(learnable)];
        if let Some(luminance) = &self.luminance {
            stds.push(luminance.stds(learnable));
        }
        let blurred = blur_bank(image, Stds::cat(stds), cs.kernel_size(), cs.pad_mode());
        let mut response = cs.combine(blurred.clone().narrow(1, 0, 2 * out));
        if let (Some(_), Some(scalar)) = (&self.luminance, &self.luminance_scalar) {
            let luminance = blurred.narrow(1, 2 * out, out);
            let gain = value(scalar).cast(response.dtype()).reshape([1, out, 1, 1]);
            response = response.div(luminance.mul(gain).add_scalar(1.0));
        }
        if let (Some(contrast), Some(scalar)) = (&self.contrast, &self.contrast_scalar) {
            let energy = blur_grouped(
                response.clone().square(),
                contrast.stds(learnable),
                contrast.kernel_size(),
                contrast.pad_mode(),
            );
            let local_contrast = energy.sqrt().add_scalar(1e-6);
            let gain = value(scalar).cast(response.dtype()).reshape([1, out, 1, 1]);
            response = response.div(local_contrast.mul(gain).add_scalar(1.0));
        }
        self.finish(response)
    }

    /// The non-linearity and the mask.
    fn finish(&self, response: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, height, width] = response.dims();
        let response = self.activation.apply(response);
        if self.apply_mask {
            let mask = from_f64(
                disk(height, width),
                [1, 1, height, width],
                response.dtype(),
                &response.device(),
            );
            response.mul(mask)
        } else {
            response
        }
    }

    /// The frozen response as one host operation (`front_end_host.rs`); a non-linearity of
    /// the user's own runs after it, through Burn.
    fn respond_on_host(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        let stage = |gaussian: &Option<Gaussian<B>>, gain: &Option<Param<Tensor<B, 1>>>| {
            Some(GainStage {
                stds: gaussian.as_ref()?.stds(false).values(),
                gains: to_f64(frozen(gain.as_ref()?)),
            })
        };
        let builtin = self.activation.builtin();
        let [_, _, height, width] = image.dims();
        let spec = FrontEndSpec {
            luminance: stage(&self.luminance, &self.luminance_scalar),
            contrast: stage(&self.contrast, &self.contrast_scalar),
            activation: builtin.unwrap_or(Activation::Identity),
            mask: (builtin.is_some() && self.apply_mask).then(|| disk(height, width)),
            ..self.center_surround.host_spec()
        };
        let response = front_end_on_host(image, spec);
        if builtin.is_some() {
            response
        } else {
            self.finish(response)
        }
    }
}

/// plenoptic's `disk`: 1 inside half the radius, a raised-cosine fall-off to 0 at
/// `(min(h, w) − 1) / 2` from the centre. float32 values, as plenoptic builds it.
pub fn disk(height: usize, width: usize) -> Vec<f64> {
    let outer = (height.min(width) as f64 - 1.0) / 2.0;
    let inner = outer / 2.0;
    let (ci, cj) = ((height as f64 - 1.0) / 2.0, (width as f64 - 1.0) / 2.0);
    (0..height * width)
        .map(|idx| {
            let (i, j) = ((idx / width) as f64, (idx % width) as f64);
            let r = ((i - ci).powi(2) + (j - cj).powi(2)).sqrt();
            let value = if r > outer {
                0.0
            } else if r < inner {
                1.0
            } else {
                (1.0 + (std::f64::consts::PI * (r - inner) / (outer - inner)).cos()) / 2.0
            };
            f64::from(value as f32)
        })
        .collect()
}

impl<B: HostBackend, A: Activate> Model<B, 4> for FrontEnd<B, A> {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        Representation::from(self.respond(image, false)).with_weighted_root(weighted_root())
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        let gaussians = self.luminance.iter().chain(&self.contrast);
        Model::<B, 4>::check_input(&self.center_surround, shape).or_else(|| {
            gaussians
                .filter_map(|gaussian| Model::<B, 4>::check_input(gaussian, shape))
                .next()
        })
    }

    fn name(&self) -> String {
        format!(
            "{}(kernel_size={:?}, on_center={:?}, pad_mode={}, activation={}, apply_mask={})",
            self.kind.name(),
            self.center_surround.kernel_size(),
            self.center_surround.on_center(),
            self.center_surround.pad_mode().name(),
            self.activation.name(),
            self.apply_mask
        )
    }
}
