//! plenoptic's Portilla–Simoncelli texture model (spec MOD13–MOD15): marginal pixel
//! statistics and the auto- and cross-correlations of a complex steerable pyramid's
//! magnitudes, real parts and partial reconstructions, 710 numbers per image at the
//! defaults.

mod layout;
mod loss;

use std::{fmt, str::FromStr};

use burn::tensor::{
    DType, Int, Tensor, TensorData,
    backend::{AutodiffBackend, Backend},
};
use metamer_core::{Model, Representation};

pub use layout::{Statistic, StatisticLayout, autocorrelation_mask};
pub use loss::{groupwise_relative_l2_norm, portilla_simoncelli_loss};

use crate::HostBackend;
use crate::correlation::gram;
use crate::fft::Complex;
use crate::signal::{autocorrelation_crop, center_crop, expand};
use crate::{Level, ModelError, Result, SteerablePyramid, SteerablePyramidConfig};

/// What a statistic describes, for coarse-to-fine synthesis (plenoptic's scale labels:
/// strings and pyramid scale numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scale {
    PixelStatistics,
    ResidualLowpass,
    /// A pyramid scale, 0 the finest.
    Band(usize),
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
    pub n_scales: usize,
    pub n_orientations: usize,
    /// Width of the central window of each autocorrelation kept.
    pub spatial_corr_width: usize,
}

impl PortillaSimoncelliConfig {
    pub fn new(image_shape: [usize; 2]) -> Self {
        Self {
            image_shape,
            n_scales: 4,
            n_orientations: 4,
            spatial_corr_width: 7,
        }
    }

    pub fn with_n_scales(self, n_scales: usize) -> Self {
        Self { n_scales, ..self }
    }

    pub fn with_n_orientations(self, n_orientations: usize) -> Self {
        Self {
            n_orientations,
            ..self
        }
    }

    pub fn with_spatial_corr_width(self, spatial_corr_width: usize) -> Self {
        Self {
            spatial_corr_width,
            ..self
        }
    }

    pub fn layout(&self) -> StatisticLayout {
        StatisticLayout {
            n_scales: self.n_scales,
            n_orientations: self.n_orientations,
            spatial_corr_width: self.spatial_corr_width,
        }
    }

    /// Checks the sizes with plenoptic's rules, and refuses at construction what plenoptic
    /// only refuses (or silently miscomputes) on the first forward pass.
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
        let pyramid = SteerablePyramidConfig::new(self.image_shape)
            .with_height(n)
            .with_order(o - 1)
            .with_complex(true)
            .init(device)?;
        let (coarsest_h, coarsest_w) = (h / factor, w / factor);
        if width == 0 || width > coarsest_h.min(coarsest_w) {
            return Err(ModelError::Texture(format!(
                "spatial_corr_width must lie between 1 and the coarsest scale's size \
                 ({coarsest_h}x{coarsest_w} for these {n} scales), got {width}"
            )));
        }
        if coarsest_w % 2 != 0 {
            // plenoptic's autocorrelation of an odd-width lowpass is not circular (spec §14 Q9).
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
        Ok(PortillaSimoncelli {
            config: self.clone(),
            pyramid,
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
    pyramid: SteerablePyramid<B>,
    /// Positions of the kept statistics in the full concatenation.
    kept: Tensor<B, 1, Int>,
    kept_positions: Vec<usize>,
    /// The scale of each kept statistic.
    labels: Vec<Scale>,
    full_len: usize,
}

impl<B: Backend> PortillaSimoncelli<B> {
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

/// One `[batch, channel, orientation, height, width]` tensor per scale.
type Bands<B> = Vec<Tensor<B, 5>>;

/// Mean over the last two axes, keeping them.
fn spatial_mean<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    t.mean_dims(&[D - 2, D - 1])
}

/// `[batch, channel, …, 1, 1]` to `[batch, channel, n]`.
fn flat_stats<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, 3> {
    let dims = t.dims();
    t.reshape([dims[0] as i32, dims[1] as i32, -1])
}

/// Autocorrelations of each tensor `[batch, channel, o, h, w]` cropped to `width × width`,
/// normalised by their centre: `([batch, channel, width, width, o, scales], centres
/// [batch, channel, o, scales])`.
fn autocorrelations<B: HostBackend>(
    coefficients: &[Tensor<B, 5>],
    width: usize,
) -> Result<(Tensor<B, 6>, Tensor<B, 4>)> {
    let crops = coefficients
        .iter()
        .map(|c| autocorrelation_crop(c.clone(), width))
        .collect::<Result<Vec<_>>>()?;
    // Scales stacked after orientations, so the variances need no transpose: on libtorch and
    // wgpu, a transposed view of the centre lag, used beside the division, gave wrong gradients.
    let stacked: Tensor<B, 6> = Tensor::stack(crops, 3);
    let centre = center_crop(stacked.clone(), 1)?;
    let normalised = stacked / centre.clone();
    let [b, c, o, s, _, _] = centre.dims();
    let variance = centre.reshape([b, c, o, s]);
    Ok((normalised.permute([0, 1, 4, 5, 2, 3]), variance))
}

/// `mean(a_i · b_j) / sqrt(var a_i · var b_j)` over space for each pair of orientations `i`,
/// `j` and each scale: `[batch, channel, o_a, o_b, scales]`. Variances not given are the
/// mean squares.
fn cross_correlations<B: HostBackend>(
    a: &[Tensor<B, 5>],
    b: &[Tensor<B, 5>],
    a_variance: Option<Tensor<B, 4>>,
) -> Tensor<B, 5> {
    let pairs = a
        .iter()
        .zip(b)
        .enumerate()
        .map(|(scale, (a, b))| {
            let [batch, channel, oa, h, w] = a.dims();
            let ob = b.dims()[2];
            let n = (h * w) as f64;
            let rows = a.clone().reshape([batch * channel, oa, h * w]);
            let columns = b.clone().reshape([batch * channel, ob, h * w]);
            let covariance = gram(rows.clone(), columns.clone())
                .mul_scalar(1.0 / n)
                .reshape([batch, channel, oa, ob]);
            let a_var = match &a_variance {
                Some(v) => v.clone().narrow(3, scale, 1).reshape([batch, channel, oa]),
                None => rows
                    .square()
                    .sum_dim(2)
                    .mul_scalar(1.0 / n)
                    .reshape([batch, channel, oa]),
            };
            let b_var = columns
                .square()
                .sum_dim(2)
                .mul_scalar(1.0 / n)
                .reshape([batch, channel, ob]);
            let outer = a_var.unsqueeze_dim::<4>(3) * b_var.unsqueeze_dim::<4>(2);
            covariance / outer.sqrt()
        })
        .collect::<Vec<_>>();
    Tensor::stack(pairs, 4)
}

impl<B: HostBackend> PortillaSimoncelli<B> {
    /// The statistics of `image` (`[batch, channel, height, width]`): `[batch, channel,
    /// n_stats]`.
    pub fn forward(&self, image: Tensor<B, 4>) -> Result<Tensor<B, 3>> {
        let full = self.all_statistics(image)?;
        Ok(full.select(2, self.kept.clone()))
    }

    /// The statistics of `image` that belong to `scales` (plenoptic's `forward(image,
    /// scales)`), in representation order.
    pub fn forward_scales(&self, image: Tensor<B, 4>, scales: &[Scale]) -> Result<Tensor<B, 3>> {
        let representation = self.forward(image)?;
        self.remove_scales(representation, scales)
    }

    /// Every statistic group, flattened and concatenated, redundant entries included.
    fn all_statistics(&self, image: Tensor<B, 4>) -> Result<Tensor<B, 3>> {
        let n = self.config.n_scales;
        let width = self.config.spatial_corr_width;
        let mut pyramid = self.pyramid.forward(image.clone())?;
        pyramid.residual_lowpass =
            pyramid.residual_lowpass.clone() - spatial_mean(pyramid.residual_lowpass.clone());
        let bands: Vec<Complex<B, 5>> = pyramid
            .bands
            .iter()
            .map(|band| match band {
                crate::Band::Complex(c) => c.clone(),
                crate::Band::Real(_) => unreachable!("the texture pyramid is complex"),
            })
            .collect();
        let magnitudes: Vec<Tensor<B, 5>> = bands
            .iter()
            .map(|c| {
                let m = c.clone().abs();
                m.clone() - spatial_mean(m)
            })
            .collect();
        let reals: Vec<Tensor<B, 5>> = bands.iter().map(|c| c.re.clone()).collect();
        let reconstructed = self.reconstructed_images(&pyramid)?;

        let pixel = pixel_statistics(image);
        let (autocorr_magnitude, magnitude_variance) = autocorrelations(&magnitudes, width)?;
        let (autocorr_recon, recon_variance) = autocorrelations(&reconstructed, width)?;
        let recon_variance: Tensor<B, 3> = recon_variance.squeeze_dim(2);
        let (skew, kurtosis) =
            skew_kurtosis_reconstructed(&reconstructed, recon_variance.clone(), &pixel);
        let cross_orientation =
            cross_correlations(&magnitudes, &magnitudes, Some(magnitude_variance.clone()));
        let [b, c, _, _] = magnitude_variance.dims();
        let mut stats = vec![
            flat_stats(pixel),
            flat_stats(autocorr_magnitude),
            skew,
            kurtosis,
            flat_stats(autocorr_recon.squeeze_dim::<5>(4)),
            recon_variance.sqrt(),
            flat_stats(cross_orientation),
            flat_stats(magnitude_variance.clone().sqrt()),
        ];
        if n > 1 {
            let (doubled_magnitudes, doubled_parts) = double_phase(&bands[1..])?;
            let cross_scale_magnitude = cross_correlations(
                &magnitudes[..n - 1],
                &doubled_magnitudes,
                Some(magnitude_variance.narrow(3, 0, n - 1)),
            );
            let cross_scale_real = cross_correlations(&reals[..n - 1], &doubled_parts, None);
            stats.push(flat_stats(cross_scale_magnitude));
            stats.push(flat_stats(cross_scale_real));
        }
        let highpass = pyramid.residual_highpass;
        stats.push(flat_stats(spatial_mean(highpass.square())));
        let full = Tensor::cat(stats, 2);
        debug_assert_eq!(full.dims(), [b, c, self.full_len]);
        Ok(full)
    }

    /// The lowpass residual plus the bands from each scale down, at that scale's size, fine
    /// to coarse (the lowpass residual alone last), each `[batch, channel, 1, h, w]`.
    fn reconstructed_images(&self, pyramid: &crate::Pyramid<B>) -> Result<Vec<Tensor<B, 5>>> {
        let n = self.config.n_scales;
        let mut partial = self
            .pyramid
            .recon_pyr(pyramid, Some(&[Level::ResidualLowpass]), None)?;
        let mut images = vec![shrink_real(partial.clone(), 1 << n)?];
        for scale in (0..n).rev() {
            partial = partial
                + self
                    .pyramid
                    .recon_pyr(pyramid, Some(&[Level::Scale(scale)]), None)?;
            images.push(if scale == 0 {
                partial.clone()
            } else {
                shrink_real(partial.clone(), 1 << scale)?
            });
        }
        images.reverse();
        Ok(images.into_iter().map(|t| t.unsqueeze_dim(2)).collect())
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

/// plenoptic's Fourier down-sampling of a real image by `factor`, times `factor²`.
fn shrink_real<B: HostBackend>(image: Tensor<B, 4>, factor: usize) -> Result<Tensor<B, 4>> {
    Ok(crate::signal::shrink_real(image, factor)?.mul_scalar((factor * factor) as f64))
}

/// Mean, unbiased variance, skewness, kurtosis, minimum and maximum of each image:
/// `[batch, channel, 6, 1]`.
fn pixel_statistics<B: Backend>(image: Tensor<B, 4>) -> Tensor<B, 4> {
    let [_, _, h, w] = image.dims();
    let mean = spatial_mean(image.clone());
    let centred = image.clone() - mean.clone();
    let variance = centred
        .clone()
        .square()
        .sum_dims(&[2, 3])
        .mul_scalar(1.0 / (h * w - 1) as f64);
    let skew = spatial_mean(centred.clone().square() * centred.clone())
        / variance.clone().powf_scalar(1.5);
    let kurtosis = spatial_mean(centred.square().square()) / variance.clone().square();
    let min = image.clone().min_dim(3).min_dim(2);
    let max = image.max_dim(3).max_dim(2);
    Tensor::cat(vec![mean, variance, skew, kurtosis, min, max], 2)
}

/// Skewness and kurtosis of the zero-mean reconstructed images, `[batch, channel, n + 1]`
/// each; 0 and 3 where an image's variance is negligible next to the pixel variance.
fn skew_kurtosis_reconstructed<B: Backend>(
    images: &[Tensor<B, 5>],
    variance: Tensor<B, 3>,
    pixel: &Tensor<B, 4>,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let moment = |power: fn(Tensor<B, 5>) -> Tensor<B, 5>| {
        let moments: Vec<Tensor<B, 3>> = images
            .iter()
            .map(|im| flat_stats(spatial_mean(power(im.clone()))))
            .collect();
        Tensor::cat(moments, 2)
    };
    let skew = moment(|x| x.clone().square() * x) / variance.clone().powf_scalar(1.5);
    let kurtosis = moment(|x| x.square().square()) / variance.clone().square();
    let [b, c, _, _] = pixel.dims();
    let pixel_variance = pixel.clone().narrow(2, 1, 1).reshape([b, c, 1]);
    let resolution = if variance.dtype() == DType::F64 {
        1e-15
    } else {
        1e-6
    };
    let unstable = (variance / pixel_variance).lower_elem(resolution);
    (
        skew.mask_fill(unstable.clone(), 0.0),
        kurtosis.mask_fill(unstable, 3.0),
    )
}

/// Coarser bands up-sampled to the next finer scale with their phase doubled (plenoptic's
/// `expand(·, 2) / 4` and `modulate_phase(·, 2)`): the demeaned magnitudes, and the real
/// parts followed by the imaginary parts along the orientation axis.
fn double_phase<B: HostBackend>(bands: &[Complex<B, 5>]) -> Result<(Bands<B>, Bands<B>)> {
    let mut magnitudes = Vec::with_capacity(bands.len());
    let mut parts = Vec::with_capacity(bands.len());
    for band in bands {
        let up = expand(band.clone(), 2.0)?.mul_scalar(0.25);
        let magnitude = up.clone().abs();
        // |u|·e^{2i·arg u} = u² / |u|, with 0 where u is 0.
        let safe = magnitude
            .clone()
            .mask_fill(magnitude.clone().equal_elem(0.0), 1.0);
        let re = (up.re.clone().square() - up.im.clone().square()) / safe.clone();
        let im = (up.re * up.im).mul_scalar(2.0) / safe;
        magnitudes.push(magnitude.clone() - spatial_mean(magnitude));
        parts.push(Tensor::cat(vec![re, im], 2));
    }
    Ok((magnitudes, parts))
}
