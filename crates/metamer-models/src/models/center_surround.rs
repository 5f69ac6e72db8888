use burn::{
    config::Config,
    module::{Module, Param},
    tensor::{Tensor, backend::Backend},
};
use metamer_core::{Model, Representation, tensor::from_f64};

use crate::{
    HostBackend, ModelError, Padding, Result,
    host::weighted_root,
    models::activation::Activation,
    models::front_end_host::{FrontEndSpec, front_end_on_host},
    signal::filters::{FilterCache, Stds, blur_bank, param_tensor, validate_filter_args},
};

/// Options of [`CenterSurround`], with plenoptic's defaults.
#[derive(Config, Debug, PartialEq)]
pub struct CenterSurroundConfig {
    /// `[height, width]` of the filters.
    pub kernel_size: [usize; 2],
    /// One value for every channel, or one per output channel.
    #[config(default = "vec![true]")]
    pub on_center: Vec<bool>,
    /// Ratio of center to surround amplitude; at least 1.
    #[config(default = 1.25)]
    pub amplitude_ratio: f64,
    /// Standard deviation of the centre Gaussian, one or one per output channel.
    #[config(default = "vec![1.0]")]
    pub center_std: Vec<f64>,
    /// Standard deviation of the surround Gaussian, one or one per output channel.
    #[config(default = "vec![4.0]")]
    pub surround_std: Vec<f64>,
    /// Defaults to the number of `on_center` values when there are several, else to the
    /// number of center stds.
    #[config(default = "None")]
    pub out_channels: Option<usize>,
    /// How the image is padded before filtering.
    #[config(default = "Padding::Reflect")]
    pub pad_mode: Padding,
    /// Build the filters on the first call and reuse them (plenoptic's `cache_filt`).
    #[config(default = false)]
    pub cache_filt: bool,
}

impl CenterSurroundConfig {
    /// Validates the options in plenoptic's order and creates the model with learnable stds.
    ///
    /// # Errors
    /// When an option is one plenoptic refuses, with its message.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<CenterSurround<B>> {
        let out_channels = self
            .out_channels
            .or((self.on_center.len() > 1).then_some(self.on_center.len()));
        let center = validate_filter_args(
            self.kernel_size,
            &self.center_std,
            out_channels,
            "center_std",
            "out_channels",
        )?;
        let surround = validate_filter_args(
            self.kernel_size,
            &self.surround_std,
            Some(center.len()),
            "surround_std",
            "len(center_std)",
        )?;
        let channels = center.len();
        let on_center = match self.on_center.len() {
            1 => vec![self.on_center[0]; channels],
            n if n == channels => self.on_center.clone(),
            _ => return Err(ModelError::OnCenterLength),
        };
        if !self.amplitude_ratio.is_finite() || self.amplitude_ratio < 1.0 {
            return Err(ModelError::AmplitudeRatio(self.amplitude_ratio));
        }
        Ok(CenterSurround {
            center_std: Param::from_tensor(param_tensor(&center, [channels], device)),
            surround_std: Param::from_tensor(param_tensor(&surround, [channels], device)),
            amplitude_ratio: param_tensor(&[self.amplitude_ratio], [1], device),
            on_center,
            kernel_size: self.kernel_size,
            pad_mode: self.pad_mode,
            cache: FilterCache::new(self.cache_filt),
        })
    }
}

/// Difference-of-Gaussians filters, on-center/off-surround or the reverse (plenoptic's
/// `CenterSurround`): `amplitude_ratio · sign · (G_center − G_surround)`, each filter summing to
/// zero (no further normalisation, as in plenoptic's code).
#[derive(Module, Debug)]
pub struct CenterSurround<B: Backend> {
    /// Standard deviation of each channel's centre Gaussian.
    pub center_std: Param<Tensor<B, 1>>,
    /// Standard deviation of each channel's surround Gaussian.
    pub surround_std: Param<Tensor<B, 1>>,
    /// A constant (plenoptic's buffer), not learned.
    pub amplitude_ratio: Tensor<B, 1>,
    #[module(skip)]
    on_center: Vec<bool>,
    #[module(skip)]
    kernel_size: [usize; 2],
    #[module(skip)]
    pad_mode: Padding,
    #[module(skip)]
    cache: FilterCache,
}

impl<B: Backend> CenterSurround<B> {
    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.on_center.len()
    }

    /// Whether each channel's centre is positive.
    pub fn on_center(&self) -> &[bool] {
        &self.on_center
    }

    /// `[height, width]` of the filters.
    pub fn kernel_size(&self) -> [usize; 2] {
        self.kernel_size
    }

    /// How the image is padded before filtering.
    pub fn pad_mode(&self) -> Padding {
        self.pad_mode
    }

    /// Center stds, then surround stds: the blurs [`Self::combine`] expects (the cached ones
    /// once cached).
    pub(crate) fn stds(&self, learnable: bool) -> Stds<B> {
        self.cache.stds(|| {
            Stds::cat(vec![
                Stds::of(&self.center_std, learnable),
                Stds::of(&self.surround_std, learnable),
            ])
        })
    }

    /// `[batch, c · 2 · out, h, w]` blurs (centers then surrounds per input channel) into the
    /// center-surround responses `[batch, c · out, h, w]`.
    pub(crate) fn combine(&self, blurred: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, planes, height, width] = blurred.dims();
        let out = self.out_channels();
        let channels = planes / (2 * out);
        let pairs = blurred.reshape([batch, channels, 2, out, height, width]);
        let center = pairs.clone().narrow(2, 0, 1);
        let surround = pairs.narrow(2, 1, 1);
        let dtype = center.dtype();
        let signs = from_f64::<B, 6>(self.signs(), [1, 1, 1, out, 1, 1], dtype, &center.device());
        let gain = self
            .amplitude_ratio
            .clone()
            .cast(dtype)
            .reshape([1, 1, 1, 1, 1, 1]);
        center
            .sub(surround)
            .mul(signs.mul(gain))
            .reshape([batch, channels * out, height, width])
    }

    /// The frozen response as the front ends' host operation computes it, which the front
    /// ends extend with their later stages.
    pub(crate) fn host_spec(&self) -> FrontEndSpec {
        let mut center = self.stds(false).values();
        let surround = center.split_off(self.out_channels());
        let ratio = metamer_core::tensor::to_f64(self.amplitude_ratio.clone())[0];
        FrontEndSpec {
            kernel: self.kernel_size,
            pad_mode: self.pad_mode,
            center,
            surround,
            scale: self.signs().into_iter().map(|s| s * ratio).collect(),
            luminance: None,
            contrast: None,
            activation: Activation::Identity,
            mask: None,
        }
    }

    /// +1 for on-center channels, −1 for off-center ones.
    fn signs(&self) -> Vec<f64> {
        self.on_center
            .iter()
            .map(|&on| if on { 1.0 } else { -1.0 })
            .collect()
    }

    /// plenoptic's 2-D filters, `[out_channels, 1, kh, kw]`: the cached ones once cached.
    pub fn filters(&self) -> Tensor<B, 4> {
        self.cached_filters()
            .unwrap_or_else(|| self.filters_of(self.center_std.val(), self.surround_std.val()))
    }

    /// The filters cached by the first call when `cache_filt` is set (plenoptic's `_filt`),
    /// `None` before that call or without caching.
    pub fn cached_filters(&self) -> Option<Tensor<B, 4>> {
        let stds = self.cache.cached()?;
        let out = self.out_channels();
        let dtype = self.center_std.val().dtype();
        let device = self.center_std.device();
        let std = |part: &[f64]| from_f64(part.to_vec(), [out], dtype, &device);
        Some(self.filters_of(std(&stds[..out]), std(&stds[out..])))
    }

    fn filters_of(&self, center_std: Tensor<B, 1>, surround_std: Tensor<B, 1>) -> Tensor<B, 4> {
        let center = crate::signal::filters::gaussian_2d(center_std, self.kernel_size);
        let surround = crate::signal::filters::gaussian_2d(surround_std, self.kernel_size);
        let out = self.out_channels();
        let signs = from_f64::<B, 4>(
            self.signs(),
            [out, 1, 1, 1],
            center.dtype(),
            &center.device(),
        );
        center
            .sub(surround)
            .mul(signs)
            .mul(self.amplitude_ratio.clone().reshape([1, 1, 1, 1]))
    }
}

impl<B: HostBackend> CenterSurround<B> {
    /// `[batch, c, h, w]` → `[batch, c · out_channels, h, w]`; gradients reach the stds.
    pub fn forward(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        self.respond(image, true)
    }

    fn respond(&self, image: Tensor<B, 4>, learnable: bool) -> Tensor<B, 4> {
        if !learnable && B::runs_on_host(&image.device()) {
            return front_end_on_host(image, self.host_spec());
        }
        let blurred = blur_bank(image, self.stds(learnable), self.kernel_size, self.pad_mode);
        self.combine(blurred)
    }
}

impl<B: HostBackend> Model<B, 4> for CenterSurround<B> {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        Representation::from(self.respond(image, false)).with_weighted_root(weighted_root())
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        crate::signal::padding::padding_problem(self.kernel_size, shape, self.pad_mode)
    }

    fn name(&self) -> String {
        format!(
            "CenterSurround(kernel_size={:?}, on_center={:?}, pad_mode={})",
            self.kernel_size,
            self.on_center,
            self.pad_mode.name()
        )
    }
}
