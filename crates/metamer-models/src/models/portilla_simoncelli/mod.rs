//! plenoptic's Portilla–Simoncelli texture model (`plenoptic.simulate.PortillaSimoncelli`):
//! marginal pixel
//! statistics and the auto- and cross-correlations of a complex steerable pyramid's
//! magnitudes, real parts and partial reconstructions, 710 numbers per image at the
//! defaults.

mod kernels;
mod layout;
mod loss;
pub(crate) mod statistics;

use std::{fmt, str::FromStr, sync::Arc};

use burn::tensor::{
    Int, Tensor, TensorData, TensorPrimitive,
    backend::{AutodiffBackend, Backend},
};
use metamer_core::{Model, Representation};

pub use layout::{Statistic, StatisticLayout, autocorrelation_mask};
pub use loss::{groupwise_relative_l2_norm, portilla_simoncelli_loss};

use statistics::{TexturePlan, TextureStatistics};

use crate::HostBackend;
use crate::{ModelError, Result, SteerablePyramidConfig};

/// What a statistic describes, for coarse-to-fine synthesis (plenoptic's scale labels:
/// strings and pyramid scale numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    /// Statistics of the pixels.
    PixelStatistics,
    /// Statistics of the low-pass residual.
    ResidualLowpass,
    /// A pyramid scale, 0 the finest.
    Band(usize),
    /// Statistics of the high-pass residual.
    ResidualHighpass,
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scale::PixelStatistics => f.write_str("pixel_statistics"),
            Scale::ResidualLowpass => f.write_str("residual_lowpass"),
            Scale::Band(s) => write!(f, "{s}"),
            Scale::ResidualHighpass => f.write_str("residual_highpass"),
        }
    }
}

impl FromStr for Scale {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pixel_statistics" => Ok(Scale::PixelStatistics),
            "residual_lowpass" => Ok(Scale::ResidualLowpass),
            "residual_highpass" => Ok(Scale::ResidualHighpass),
            _ => s.parse().map(Scale::Band).map_err(|_| {
                ModelError::Texture(format!(
                    "unknown scale {s:?}; expected pixel_statistics, residual_lowpass, \
                     residual_highpass or a scale number"
                ))
            }),
        }
    }
}

/// The sizes of a Portilla–Simoncelli model, with plenoptic's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortillaSimoncelliConfig {
    /// `[height, width]` of the images the model takes.
    pub image_shape: [usize; 2],
    /// Pyramid scales (plenoptic's default 4).
    pub n_scales: usize,
    /// Orientations per scale (plenoptic's default 4).
    pub n_orientations: usize,
    /// Width of the central window of each autocorrelation kept.
    pub spatial_corr_width: usize,
}

impl PortillaSimoncelliConfig {
    /// plenoptic's defaults for images of `image_shape`.
    pub fn new(image_shape: [usize; 2]) -> Self {
        Self {
            image_shape,
            n_scales: 4,
            n_orientations: 4,
            spatial_corr_width: 7,
        }
    }

    /// With `n_scales` pyramid scales.
    pub fn with_n_scales(self, n_scales: usize) -> Self {
        Self { n_scales, ..self }
    }

    /// With `n_orientations` orientations per scale.
    pub fn with_n_orientations(self, n_orientations: usize) -> Self {
        Self {
            n_orientations,
            ..self
        }
    }

    /// With autocorrelation windows `spatial_corr_width` wide.
    pub fn with_spatial_corr_width(self, spatial_corr_width: usize) -> Self {
        Self {
            spatial_corr_width,
            ..self
        }
    }

    /// The sizes the statistics' layout depends on.
    pub fn layout(&self) -> StatisticLayout {
        StatisticLayout {
            n_scales: self.n_scales,
            n_orientations: self.n_orientations,
            spatial_corr_width: self.spatial_corr_width,
        }
    }

    /// Checks the sizes with plenoptic's rules, and refuses at construction what plenoptic
    /// only refuses (or silently miscomputes) on the first forward pass.
    ///
    /// # Errors
    /// When the image is too small for the scales, or a size is one plenoptic refuses.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<PortillaSimoncelli<B>> {
        let [h, w] = self.image_shape;
        let (n, o, width) = (self.n_scales, self.n_orientations, self.spatial_corr_width);
        if n == 0 {
            return Err(ModelError::Scales);
        }
        if o == 0 {
            return Err(ModelError::Texture(
                "n_orientations must be positive".to_string(),
            ));
        }
        let factor = 1usize.checked_shl(n as u32).unwrap_or(usize::MAX);
        if h % factor != 0 || w % factor != 0 {
            return Err(ModelError::Texture(
                "Because of how the Portilla-Simoncelli model handles multiscale \
                 representations, it only works with images whose shape can be divided by 2 \
                 `n_scales` times."
                    .to_string(),
            ));
        }
        let masks = SteerablePyramidConfig::new(self.image_shape)
            .with_height(n)
            .with_order(o - 1)
            .with_complex(true)
            .host_masks()?;
        let (coarsest_h, coarsest_w) = (h / factor, w / factor);
        if width == 0 || width > coarsest_h.min(coarsest_w) {
            return Err(ModelError::Texture(format!(
                "spatial_corr_width must lie between 1 and the coarsest scale's size \
                 ({coarsest_h}x{coarsest_w} for these {n} scales), got {width}"
            )));
        }
        if coarsest_w % 2 != 0 {
            // plenoptic's autocorrelation of an odd-width lowpass is not circular
            // (docs/plenoptic-quirks.md#odd-autocorrelation).
            return Err(ModelError::Texture(format!(
                "the lowpass residual is {coarsest_h}x{coarsest_w}; its autocorrelation needs an \
                 even width: use an image width divisible by 2^{}",
                n + 1
            )));
        }
        let layout = self.layout();
        let mut kept = Vec::new();
        let mut labels = Vec::new();
        let mut offset = 0;
        for statistic in Statistic::ALL {
            let mask = layout.kept(statistic);
            let group_labels = layout.scale_labels(statistic);
            for (i, keep) in mask.iter().enumerate() {
                if *keep {
                    kept.push((offset + i) as i64);
                    labels.push(group_labels[i]);
                }
            }
            offset += mask.len();
        }
        let plan = TexturePlan::new(masks, &layout);
        Ok(PortillaSimoncelli {
            config: self.clone(),
            plan: Arc::new(plan),
            kept_positions: kept.iter().map(|k| *k as usize).collect(),
            kept: Tensor::from_data(TensorData::new(kept, [labels.len()]), device),
            labels,
            full_len: offset,
        })
    }
}

/// One statistic group of a representation, with NaN where redundant entries were dropped
/// (plenoptic's `convert_to_dict` values).
#[derive(Clone, Debug)]
pub struct StatisticValues<B: Backend> {
    /// Which group.
    pub statistic: Statistic,
    /// The group's shape per batch element and channel.
    pub shape: Vec<usize>,
    /// `[batch, channel, product of shape]`, row-major.
    pub values: Tensor<B, 3>,
}

/// The Portilla–Simoncelli texture statistics of images of one size.
#[derive(Clone, Debug)]
pub struct PortillaSimoncelli<B: Backend> {
    config: PortillaSimoncelliConfig,
    plan: Arc<TexturePlan>,
    /// Positions of the kept statistics in the full concatenation.
    kept: Tensor<B, 1, Int>,
    kept_positions: Vec<usize>,
    /// The scale of each kept statistic.
    labels: Vec<Scale>,
    full_len: usize,
}

impl<B: Backend> PortillaSimoncelli<B> {
    /// The sizes it was built with.
    pub fn config(&self) -> &PortillaSimoncelliConfig {
        &self.config
    }

    /// The number of statistics per batch element and channel.
    pub fn n_stats(&self) -> usize {
        self.labels.len()
    }

    /// The scales coarse-to-fine synthesis steps through, coarse to fine (plenoptic's
    /// `scales`).
    pub fn scales(&self) -> Vec<Scale> {
        let n = self.config.n_scales;
        [Scale::PixelStatistics, Scale::ResidualLowpass]
            .into_iter()
            .chain((0..n).rev().map(Scale::Band))
            .chain([Scale::ResidualHighpass])
            .collect()
    }

    /// The scale of each statistic, in representation order.
    pub fn representation_scales(&self) -> &[Scale] {
        &self.labels
    }

    /// The statistics of `representation` (`[batch, channel, n_stats]`) that belong to
    /// `scales`, in representation order.
    ///
    /// # Errors
    /// When `representation` does not have this model's number of statistics.
    pub fn remove_scales(
        &self,
        representation: Tensor<B, 3>,
        scales: &[Scale],
    ) -> Result<Tensor<B, 3>> {
        self.check_length(&representation)?;
        let positions: Vec<i64> = self
            .labels
            .iter()
            .enumerate()
            .filter(|(_, label)| scales.contains(label))
            .map(|(i, _)| i as i64)
            .collect();
        let device = representation.device();
        let count = positions.len();
        Ok(representation.select(
            2,
            Tensor::from_data(TensorData::new(positions, [count]), &device),
        ))
    }

    fn check_length(&self, representation: &Tensor<B, 3>) -> Result<()> {
        let got = representation.dims()[2];
        if got != self.n_stats() {
            return Err(ModelError::Texture(format!(
                "representation tensor is the wrong length (expected {} but got {got})! Did \
                 you remove some of the scales? (i.e., by setting scales in the forward pass)? \
                 convert_to_dict does not support such tensors.",
                self.n_stats()
            )));
        }
        Ok(())
    }

    /// The representation split into its statistic groups, NaN at the redundant positions
    /// (plenoptic's `convert_to_dict`).
    ///
    /// # Errors
    /// When `representation` does not have this model's number of statistics.
    pub fn convert_to_dict(&self, representation: Tensor<B, 3>) -> Result<Vec<StatisticValues<B>>> {
        self.check_length(&representation)?;
        let [batch, channel, _] = representation.dims();
        let device = representation.device();
        let dtype = representation.dtype();
        let full = Tensor::<B, 3>::zeros([batch, channel, self.full_len], (&device, dtype))
            .select_assign(
                2,
                self.kept.clone(),
                representation,
                burn::tensor::IndexingUpdateOp::Add,
            );
        let layout = self.config.layout();
        let mut offset = 0;
        let mut groups = Vec::with_capacity(Statistic::ALL.len());
        for statistic in Statistic::ALL {
            let kept = layout.kept(statistic);
            let size = kept.len();
            if size == 0 {
                // The cross-scale groups of a one-scale model.
                groups.push(StatisticValues {
                    statistic,
                    shape: layout.shape(statistic),
                    values: Tensor::zeros([batch, channel, 0], (&device, dtype)),
                });
                continue;
            }
            let dropped: Vec<bool> = kept.iter().map(|k| !k).collect();
            let dropped = Tensor::<B, 1, burn::tensor::Bool>::from_data(
                TensorData::new(dropped, [size]),
                &device,
            )
            .reshape([1, 1, size])
            .expand([batch, channel, size]);
            let values = full
                .clone()
                .narrow(2, offset, size)
                .mask_fill(dropped, f64::NAN);
            groups.push(StatisticValues {
                statistic,
                shape: layout.shape(statistic),
                values,
            });
            offset += size;
        }
        Ok(groups)
    }

    /// The representation tensor of statistic groups in [`Statistic::ALL`] order (the exact
    /// inverse of [`PortillaSimoncelli::convert_to_dict`]).
    ///
    /// # Errors
    /// When the groups are not this model's, in order and with their shapes.
    pub fn convert_to_tensor(&self, groups: &[StatisticValues<B>]) -> Result<Tensor<B, 3>> {
        let layout = self.config.layout();
        let order: Vec<Statistic> = groups.iter().map(|g| g.statistic).collect();
        if order != Statistic::ALL {
            return Err(ModelError::Texture(format!(
                "convert_to_tensor needs every statistic group once, in representation order; \
                 got {:?}",
                order.iter().map(|s| s.name()).collect::<Vec<_>>()
            )));
        }
        for group in groups {
            let expected = layout.shape(group.statistic);
            let size: usize = expected.iter().product();
            if group.shape != expected || group.values.dims()[2] != size {
                return Err(ModelError::Texture(format!(
                    "{} has shape {:?} with {} values, expected {expected:?}",
                    group.statistic.name(),
                    group.shape,
                    group.values.dims()[2]
                )));
            }
        }
        let parts = groups
            .iter()
            .filter(|g| g.values.dims()[2] > 0)
            .map(|g| g.values.clone())
            .collect();
        let full = Tensor::cat(parts, 2);
        Ok(full.select(2, self.kept.clone()))
    }

    /// plenoptic's `plot_representation` summary of one item's statistics (or their error):
    /// pixel statistics with the highpass variance, the reconstructed images' standard
    /// deviations, skewness and kurtosis, the magnitudes' standard deviations, and for each
    /// correlation group the root sum of squares over its two spatial or orientation axes.
    pub fn plot_groups(&self, values: &[f64]) -> Vec<(String, Vec<f64>)> {
        let layout = self.config.layout();
        let mut full = vec![f64::NAN; self.full_len];
        for (position, value) in self.kept_positions.iter().zip(values) {
            full[*position] = *value;
        }
        let mut groups = std::collections::HashMap::new();
        let mut offset = 0;
        for statistic in Statistic::ALL {
            let size = layout.kept(statistic).len();
            groups.insert(statistic, &full[offset..offset + size]);
            offset += size;
        }
        let joined = |parts: &[Statistic]| -> Vec<f64> {
            parts
                .iter()
                .flat_map(|s| groups[s].iter().copied())
                .collect()
        };
        let mut panels = vec![
            (
                "pixels+var_highpass".to_string(),
                joined(&[Statistic::PixelStatistics, Statistic::VarHighpassResidual]),
            ),
            (
                "std+skew+kurtosis recon".to_string(),
                joined(&[
                    Statistic::StdReconstructed,
                    Statistic::SkewReconstructed,
                    Statistic::KurtosisReconstructed,
                ]),
            ),
            (
                "magnitude_std".to_string(),
                joined(&[Statistic::MagnitudeStd]),
            ),
        ];
        for statistic in [
            Statistic::AutoCorrelationReconstructed,
            Statistic::AutoCorrelationMagnitude,
            Statistic::CrossOrientationCorrelationMagnitude,
            Statistic::CrossScaleCorrelationMagnitude,
            Statistic::CrossScaleCorrelationReal,
        ] {
            let shape = layout.shape(statistic);
            let (leading, trailing) = (shape[0] * shape[1], shape[2..].iter().product::<usize>());
            if trailing == 0 {
                continue;
            }
            let values = groups[&statistic];
            let norms = (0..trailing)
                .map(|t| {
                    (0..leading)
                        .map(|l| values[l * trailing + t])
                        .filter(|v| !v.is_nan())
                        .map(|v| v * v)
                        .sum::<f64>()
                        .sqrt()
                })
                .collect();
            panels.push((statistic.name().to_string(), norms));
        }
        panels
    }

    /// `(name, range)` of each statistic group in the representation.
    pub fn group_ranges(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let layout = self.config.layout();
        let mut start = 0;
        Statistic::ALL
            .iter()
            .map(|s| {
                let count = layout.kept(*s).iter().filter(|k| **k).count();
                let range = start..start + count;
                start += count;
                (s.name().to_string(), range)
            })
            .filter(|(_, range)| !range.is_empty())
            .collect()
    }
}

impl<B: HostBackend> PortillaSimoncelli<B> {
    /// The statistics of `image` (`[batch, channel, height, width]`): `[batch, channel,
    /// n_stats]`.
    ///
    /// # Errors
    /// When the image is not of the size the model was built for.
    pub fn forward(&self, image: Tensor<B, 4>) -> Result<Tensor<B, 3>> {
        let full = self.all_statistics(image)?;
        Ok(full.select(2, self.kept.clone()))
    }

    /// The statistics of `image` that belong to `scales` (plenoptic's `forward(image,
    /// scales)`), in representation order.
    ///
    /// # Errors
    /// When the image is not of the size the model was built for.
    pub fn forward_scales(&self, image: Tensor<B, 4>, scales: &[Scale]) -> Result<Tensor<B, 3>> {
        let representation = self.forward(image)?;
        self.remove_scales(representation, scales)
    }

    /// Every statistic group, flattened and concatenated, redundant entries included.
    fn all_statistics(&self, image: Tensor<B, 4>) -> Result<Tensor<B, 3>> {
        let [batch, channel, height, width] = image.dims();
        if [height, width] != self.config.image_shape {
            return Err(ModelError::Pyramid(format!(
                "Input tensor height/width ({height}, {width}) does not match image_shape set \
                 at initialization {:?}. Either resize the input or re-initialize this model.",
                self.config.image_shape
            )));
        }
        let planes = image.reshape([batch * channel, height, width]);
        let statistics = B::host_op(
            planes.into_primitive().tensor(),
            TextureStatistics(self.plan.clone()),
        );
        Ok(
            Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(statistics)).reshape([
                batch,
                channel,
                self.full_len,
            ]),
        )
    }
}

/// As a metamer model the statistics are `[batch, channel, n_stats]`. Panics (which the
/// synthesis reports as errors) only on an image of another size than the model's.
impl<B: AutodiffBackend + HostBackend> Model<B> for PortillaSimoncelli<B> {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        PortillaSimoncelli::forward(self, image)
            .unwrap_or_else(|e| panic!("{e}"))
            .into()
    }

    fn name(&self) -> String {
        let c = &self.config;
        format!(
            "PortillaSimoncelli(image_shape={:?}, n_scales={}, n_orientations={}, \
             spatial_corr_width={})",
            c.image_shape, c.n_scales, c.n_orientations, c.spatial_corr_width
        )
    }

    fn representation_panels(&self, values: &[f64]) -> Option<Vec<(String, Vec<f64>)>> {
        (values.len() == self.n_stats()).then(|| self.plot_groups(values))
    }

    fn scales(&self) -> Option<Vec<String>> {
        Some(
            PortillaSimoncelli::scales(self)
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }

    fn forward_scales(&self, image: Tensor<B, 4>, scales: &[String]) -> Representation<B> {
        let scales: Vec<Scale> = scales
            .iter()
            .map(|s| s.parse().unwrap_or_else(|e| panic!("{e}")))
            .collect();
        PortillaSimoncelli::forward_scales(self, image, &scales)
            .unwrap_or_else(|e| panic!("{e}"))
            .into()
    }
}
