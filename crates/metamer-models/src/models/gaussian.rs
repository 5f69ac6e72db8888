use burn::{
    config::Config,
    module::{Module, Param},
    tensor::{Tensor, backend::Backend},
};
use metamer_core::{Model, Representation, tensor::from_f64};

use crate::{
    HostBackend, Padding, Result,
    host::weighted_root,
    signal::filters::{FilterCache, Stds, blur_bank, param_tensor, validate_filter_args},
};

/// Options of [`Gaussian`], with plenoptic's defaults.
#[derive(Config, Debug, PartialEq)]
pub struct GaussianConfig {
    /// Kernel height and width.
    pub kernel_size: [usize; 2],
    /// One std, repeated to `out_channels`, or one per output channel.
    #[config(default = "vec![3.0]")]
    pub std: Vec<f64>,
    /// How the image is padded before filtering.
    #[config(default = "Padding::Reflect")]
    pub pad_mode: Padding,
    /// Defaults to the number of stds.
    #[config(default = "None")]
    pub out_channels: Option<usize>,
    /// Build the filter on the first call and reuse it (plenoptic's `cache_filt`).
    #[config(default = false)]
    pub cache_filt: bool,
}

impl GaussianConfig {
    /// Validates the options (plenoptic's errors) and creates the model with a learnable std.
    ///
    /// # Errors
    /// When an option is one plenoptic refuses, with its message.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Gaussian<B>> {
        let std = validate_filter_args(
            self.kernel_size,
            &self.std,
            self.out_channels,
            "std",
            "out_channels",
        )?;
        Ok(Gaussian {
            std: Param::from_tensor(param_tensor(&std, [std.len()], device)),
            kernel_size: self.kernel_size,
            pad_mode: self.pad_mode,
            cache: FilterCache::new(self.cache_filt),
        })
    }
}

/// Blurs each input channel with normalised Gaussians, one output channel per std
/// (plenoptic's `Gaussian`). Separable: rows, then columns.
#[derive(Module, Debug)]
pub struct Gaussian<B: Backend> {
    /// Learnable; its absolute value is used, as plenoptic keeps it positive.
    pub std: Param<Tensor<B, 1>>,
    #[module(skip)]
    kernel_size: [usize; 2],
    #[module(skip)]
    pad_mode: Padding,
    #[module(skip)]
    cache: FilterCache,
}

impl<B: Backend> Gaussian<B> {
    /// A `kernel_size`² Gaussian with std 3 and reflect padding (plenoptic's `Gaussian(k)`).
    ///
    /// # Errors
    /// When `kernel_size` is zero.
    pub fn new(kernel_size: usize, device: &B::Device) -> Result<Self> {
        GaussianConfig::new([kernel_size; 2]).init(device)
    }

    /// `[height, width]` of the filter.
    pub fn kernel_size(&self) -> [usize; 2] {
        self.kernel_size
    }

    /// How the image is padded before filtering.
    pub fn pad_mode(&self) -> Padding {
        self.pad_mode
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.std.dims()[0]
    }

    /// The stds the filters use: `|std|`, or the cached ones.
    pub(crate) fn stds(&self, learnable: bool) -> Stds<B> {
        self.cache.stds(|| Stds::of(&self.std, learnable).abs())
    }

    /// plenoptic's 2-D filters, `[out_channels, 1, kh, kw]`: the cached ones once cached.
    pub fn filters(&self) -> Tensor<B, 4> {
        self.cached_filters().unwrap_or_else(|| {
            crate::signal::filters::gaussian_2d(self.std.val().abs(), self.kernel_size)
        })
    }

    /// The filters cached by the first call when `cache_filt` is set (plenoptic's `_filt`),
    /// `None` before that call or without caching.
    pub fn cached_filters(&self) -> Option<Tensor<B, 4>> {
        let stds = self.cache.cached()?;
        let device = self.std.device();
        let std = from_f64(stds.to_vec(), [stds.len()], self.std.val().dtype(), &device);
        Some(crate::signal::filters::gaussian_2d(std, self.kernel_size))
    }
}

impl<B: HostBackend> Gaussian<B> {
    /// Blurs `[batch, channel, h, w]` into `[batch, channel · out_channels, h, w]`; gradients
    /// reach the std.
    pub fn forward(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        self.blur(image, true)
    }

    fn blur(&self, image: Tensor<B, 4>, learnable: bool) -> Tensor<B, 4> {
        blur_bank(image, self.stds(learnable), self.kernel_size, self.pad_mode)
    }
}

impl<B: HostBackend> Model<B, 4> for Gaussian<B> {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        Representation::from(self.blur(image, false)).with_weighted_root(weighted_root())
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        crate::signal::padding::padding_problem(self.kernel_size, shape, self.pad_mode)
    }

    fn name(&self) -> String {
        format!(
            "Gaussian(kernel_size={:?}, std={:?}, pad_mode={})",
            self.kernel_size,
            metamer_core::tensor::to_f64(self.std.val()),
            self.pad_mode.name()
        )
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

    use super::*;
    use crate::ModelError;

    #[test]
    fn rejects_invalid_arguments() {
        let device = Default::default();
        let init = |config: GaussianConfig| config.init::<NdArray>(&device).map(|_| ());
        assert!(matches!(
            init(GaussianConfig::new([0, 3])),
            Err(ModelError::KernelSize(_))
        ));
        assert!(matches!(
            init(GaussianConfig::new([3, 3]).with_std(vec![-1.0])),
            Err(ModelError::NonPositiveStd { .. })
        ));
        assert!(matches!(
            init(
                GaussianConfig::new([3, 3])
                    .with_std(vec![1.0, 2.0])
                    .with_out_channels(Some(3))
            ),
            Err(ModelError::StdLength { .. })
        ));
        assert!(matches!(
            init(GaussianConfig::new([3, 3]).with_out_channels(Some(0))),
            Err(ModelError::OutChannels("out_channels"))
        ));
        let g = GaussianConfig::new([3, 3])
            .with_std(vec![2.0])
            .with_out_channels(Some(3))
            .init::<NdArray>(&device)
            .unwrap();
        assert_eq!(metamer_core::tensor::to_f64(g.std.val()), [2.0, 2.0, 2.0]);
    }
}
