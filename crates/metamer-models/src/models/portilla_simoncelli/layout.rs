//! The layout of Portilla–Simoncelli texture statistics (plenoptic's
//! `PortillaSimoncelli.convert_to_dict`): the statistic groups in
//! representation order, their shapes, and which entries are kept once redundant
//! (point-symmetric) autocorrelation values are dropped.

use super::Scale;

/// The statistic groups, in the order the representation concatenates them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Statistic {
    /// Mean, variance, skew, kurtosis, minimum and maximum of the pixels.
    PixelStatistics,
    /// Autocorrelation of each band's magnitude.
    AutoCorrelationMagnitude,
    /// Skew of each scale's low-pass reconstruction.
    SkewReconstructed,
    /// Kurtosis of each scale's low-pass reconstruction.
    KurtosisReconstructed,
    /// Autocorrelation of each scale's low-pass reconstruction.
    AutoCorrelationReconstructed,
    /// Standard deviation of each scale's low-pass reconstruction.
    StdReconstructed,
    /// Correlations between the orientations' magnitudes at each scale.
    CrossOrientationCorrelationMagnitude,
    /// Standard deviation of each band's magnitude.
    MagnitudeStd,
    /// Correlations between magnitudes at neighbouring scales.
    CrossScaleCorrelationMagnitude,
    /// Correlations between real parts at neighbouring scales.
    CrossScaleCorrelationReal,
    /// Variance of the high-pass residual.
    VarHighpassResidual,
}

/// The sizes a Portilla–Simoncelli model is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatisticLayout {
    /// Pyramid scales.
    pub n_scales: usize,
    /// Orientations per scale.
    pub n_orientations: usize,
    /// Width of the central window of each autocorrelation kept.
    pub spatial_corr_width: usize,
}

impl Statistic {
    /// Every group, in representation order.
    pub const ALL: [Statistic; 11] = [
        Statistic::PixelStatistics,
        Statistic::AutoCorrelationMagnitude,
        Statistic::SkewReconstructed,
        Statistic::KurtosisReconstructed,
        Statistic::AutoCorrelationReconstructed,
        Statistic::StdReconstructed,
        Statistic::CrossOrientationCorrelationMagnitude,
        Statistic::MagnitudeStd,
        Statistic::CrossScaleCorrelationMagnitude,
        Statistic::CrossScaleCorrelationReal,
        Statistic::VarHighpassResidual,
    ];

    /// plenoptic's key for the group.
    pub fn name(self) -> &'static str {
        match self {
            Statistic::PixelStatistics => "pixel_statistics",
            Statistic::AutoCorrelationMagnitude => "auto_correlation_magnitude",
            Statistic::SkewReconstructed => "skew_reconstructed",
            Statistic::KurtosisReconstructed => "kurtosis_reconstructed",
            Statistic::AutoCorrelationReconstructed => "auto_correlation_reconstructed",
            Statistic::StdReconstructed => "std_reconstructed",
            Statistic::CrossOrientationCorrelationMagnitude => {
                "cross_orientation_correlation_magnitude"
            }
            Statistic::MagnitudeStd => "magnitude_std",
            Statistic::CrossScaleCorrelationMagnitude => "cross_scale_correlation_magnitude",
            Statistic::CrossScaleCorrelationReal => "cross_scale_correlation_real",
            Statistic::VarHighpassResidual => "var_highpass_residual",
        }
    }
}

impl StatisticLayout {
    /// The full shape of a group per batch element and channel, before redundant entries go.
    pub fn shape(&self, statistic: Statistic) -> Vec<usize> {
        let (n, o, w) = (self.n_scales, self.n_orientations, self.spatial_corr_width);
        match statistic {
            Statistic::PixelStatistics => vec![6],
            Statistic::AutoCorrelationMagnitude => vec![w, w, o, n],
            Statistic::SkewReconstructed
            | Statistic::KurtosisReconstructed
            | Statistic::StdReconstructed => vec![n + 1],
            Statistic::AutoCorrelationReconstructed => vec![w, w, n + 1],
            Statistic::CrossOrientationCorrelationMagnitude => vec![o, o, n],
            Statistic::MagnitudeStd => vec![o, n],
            Statistic::CrossScaleCorrelationMagnitude => vec![o, o, n.saturating_sub(1)],
            Statistic::CrossScaleCorrelationReal => vec![o, 2 * o, n.saturating_sub(1)],
            Statistic::VarHighpassResidual => vec![1],
        }
    }

    /// Which entries of the group's full shape (row-major) the representation keeps.
    pub fn kept(&self, statistic: Statistic) -> Vec<bool> {
        let shape = self.shape(statistic);
        let size: usize = shape.iter().product();
        match statistic {
            Statistic::AutoCorrelationMagnitude | Statistic::AutoCorrelationReconstructed => {
                let mask = autocorrelation_mask(self.spatial_corr_width);
                let trailing: usize = shape[2..].iter().product();
                (0..size).map(|i| mask[i / trailing]).collect()
            }
            Statistic::CrossOrientationCorrelationMagnitude => {
                let (o, n) = (self.n_orientations, self.n_scales);
                (0..size)
                    .map(|i| {
                        let (o1, o2) = (i / (o * n), (i / n) % o);
                        o1 > o2
                    })
                    .collect()
            }
            _ => vec![true; size],
        }
    }

    /// The number of statistics per batch element and channel (710 for 4 scales, 4
    /// orientations and width 7).
    pub fn count(&self) -> usize {
        Statistic::ALL
            .iter()
            .map(|s| self.kept(*s).iter().filter(|k| **k).count())
            .sum()
    }

    /// The scale each entry of the group's full shape (row-major) belongs to: the last axis
    /// runs over scales, fine to coarse, with the lowpass residual last where it has one.
    pub fn scale_labels(&self, statistic: Statistic) -> Vec<Scale> {
        let shape = self.shape(statistic);
        let size: usize = shape.iter().product();
        let last = *shape.last().expect("every group has an axis");
        (0..size)
            .map(|i| match statistic {
                Statistic::PixelStatistics => Scale::PixelStatistics,
                Statistic::VarHighpassResidual => Scale::ResidualHighpass,
                _ if i % last == self.n_scales => Scale::ResidualLowpass,
                _ => Scale::Band(i % last),
            })
            .collect()
    }
}

/// The autocorrelation entries that are not point-symmetric duplicates of others, for a
/// `width × width` window: the lower triangle with its diagonal (and the whole first row when
/// `width` is even), without the diagonal from the centre on.
pub fn autocorrelation_mask(width: usize) -> Vec<bool> {
    let mut mask = vec![false; width * width];
    for a1 in 0..width {
        for a2 in 0..width {
            let lower = a1 >= a2 || (width.is_multiple_of(2) && a1 == 0);
            let duplicate_diagonal = a1 == a2 && a1 >= width / 2;
            mask[a1 * width + a2] = lower && !duplicate_diagonal;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(
        n_scales: usize,
        n_orientations: usize,
        spatial_corr_width: usize,
    ) -> StatisticLayout {
        StatisticLayout {
            n_scales,
            n_orientations,
            spatial_corr_width,
        }
    }

    #[test]
    fn mask_counts_follow_the_closed_forms() {
        for width in 1..12usize {
            let kept = autocorrelation_mask(width).iter().filter(|k| **k).count();
            let expected = if width % 2 == 1 {
                (width * width - 1) / 2
            } else {
                (width * width + 2 * width - 2) / 2
            };
            assert_eq!(kept, expected, "width {width}");
        }
        assert_eq!(autocorrelation_mask(7).iter().filter(|k| **k).count(), 24);
        assert_eq!(autocorrelation_mask(6).iter().filter(|k| **k).count(), 23);
    }

    #[test]
    fn counts_match_plenoptic() {
        // plenoptic's defaults (spatial_corr_width 7) give 710 statistics.
        assert_eq!(layout(4, 4, 7).count(), 710);
        // The closed form of the layout for other sizes, including one scale.
        for (n, o, w) in [(3, 4, 7), (1, 2, 5), (2, 3, 6), (4, 4, 9)] {
            let a = autocorrelation_mask(w).iter().filter(|k| **k).count();
            let expected = 6
                + a * o * n
                + 3 * (n + 1)
                + a * (n + 1)
                + n * o * (o - 1) / 2
                + o * n
                + 3 * o * o * (n - 1)
                + 1;
            assert_eq!(layout(n, o, w).count(), expected, "{n} {o} {w}");
        }
    }

    #[test]
    fn shapes_match_plenoptic_dictionaries() {
        // plenoptic's convert_to_dict shapes for n_scales=3 (from its documentation), per
        // batch and channel.
        let l = layout(3, 4, 7);
        let shapes: Vec<Vec<usize>> = Statistic::ALL.iter().map(|s| l.shape(*s)).collect();
        assert_eq!(
            shapes,
            vec![
                vec![6],
                vec![7, 7, 4, 3],
                vec![4],
                vec![4],
                vec![7, 7, 4],
                vec![4],
                vec![4, 4, 3],
                vec![4, 3],
                vec![4, 4, 2],
                vec![4, 8, 2],
                vec![1],
            ]
        );
        assert_eq!(
            Statistic::ALL[6].name(),
            "cross_orientation_correlation_magnitude"
        );
    }
}
