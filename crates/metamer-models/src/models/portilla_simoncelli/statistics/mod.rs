//! The texture statistics of one image plane computed on the host in one pass, with a
//! hand-written backward step.
//!
//! As a chain of Burn operations the model spent its time in hundreds of small element-wise
//! steps and their backward twins, and in reconstructions that ran the whole pyramid at full
//! size once per level. Here the pyramid stays in the Fourier domain: a band's share of a
//! reconstruction is its low-pass spectrum times a fixed gain (the forward and
//! reconstruction filters multiplied out), the partial reconstructions are shrunk straight
//! from their spectra, and the autocorrelations and correlations are direct sums over the
//! few lags and pairs kept. Every step's adjoint is written out beside it.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rustfft::num_complex::Complex;
use rustfft::num_traits::Float;

mod backward;
mod forward;
mod numeric;

use std::sync::Arc;

use super::{Statistic, StatisticLayout, kernels};
use crate::host::{Buf, HostOp, HostValues, by_chunks, dims, in_pool, on_host};
use crate::signal::fft::{
    Planned, SpectralMap, fft_real_transposed, fft_transposed_rows, ifft_real_transposed,
    ifft_transposed, transposed_plane,
};
use crate::signal::steerable::HostMasks;
use crate::signal::{expand_map, shrink_map};
use backward::backward;
use forward::forward;
use numeric::Cross;

/// The two precisions the statistics are computed in: the tensor's own.
pub(crate) trait Real: Planned + Float + crate::host::lanes::Lanes {
    fn wide(self) -> f64;
    fn narrow(value: f64) -> Self;
    /// plenoptic builds the reconstructions' spectra in a complex64 grid whatever the dtype
    /// (docs/plenoptic-quirks.md#complex64-reconstruction), so float64 values, and their
    /// gradients, are rounded to float32 there.
    fn through_complex64(self) -> Self;
}

impl Real for f32 {
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn narrow(value: f64) -> Self {
        value as f32
    }
    fn through_complex64(self) -> Self {
        self
    }
}

impl Real for f64 {
    fn wide(self) -> f64 {
        self
    }
    fn narrow(value: f64) -> Self {
        value
    }
    fn through_complex64(self) -> Self {
        f64::from(self as f32)
    }
}

type Plane<T> = Buf<Complex<T>>;

/// Real planes, one per orientation (or part).
type Planes<T> = Vec<Buf<T>>;

/// Everything about a texture model's sizes that its statistics need (masks, crops,
/// resampling maps, where each group goes), built once per model.
///
/// Spectra are kept transposed, as [`fft_transposed_rows`] leaves them (an `h × w` plane's
/// spectrum is stored `w × h`), so masks, crops and maps are too: a transform into the
/// Fourier domain and back then transposes twice, not four times.
#[derive(Debug)]
pub struct TexturePlan {
    shape: [usize; 2],
    n_scales: usize,
    n_orientations: usize,
    width: usize,
    /// `(−i)^order`, the bands' phase factor.
    phase: Complex<f64>,
    lo0mask: Vec<f64>,
    hi0mask: Vec<f64>,
    scales: Vec<ScalePlan>,
    /// For `k = 1..=n`: plenoptic's `shrink` by `2^k` from the full size and its transpose,
    /// as entries in the central quarter of the full spectrum, where the coarser
    /// reconstruction levels lie.
    shrink_terms: Vec<[Vec<ShrinkTerm>; 2]>,
    /// For `s = 1..n−1`: `expand` by 2 from scale `s` to scale `s − 1`, and its transpose.
    expand: Vec<[SpectralMap; 2]>,
    /// For each `expand`: the rows of its larger (transposed) spectrum that its transpose
    /// reads.
    expand_rows: Vec<Vec<bool>>,
    offsets: Offsets,
}

#[derive(Debug)]
struct ScalePlan {
    size: [usize; 2],
    /// `anglemask_b · himask` per orientation.
    filters: Vec<Vec<f64>>,
    /// Per orientation, the rows of the (transposed) spectrum where its filter is not zero.
    filter_rows: Vec<Vec<bool>>,
    /// `himask² · Σ_b anglemask_b · anglemask_recon_b`: what the bands of this scale add to
    /// a reconstruction, per frequency of the scale's low-pass spectrum.
    recon_gain: Vec<f64>,
    /// The next scale's low-pass mask, at the next scale's size.
    lomask: Vec<f64>,
    crop: Crop,
}

/// One entry of a `shrink` of a Hermitian part, `small[i] += coef · (S[k] + conj S[−k]) / 2`
/// with `S = total · lo0mask`, where `total` is kept at scale 1's size (the central quarter
/// of the full spectrum): `i`, the positions there of `k` and `−k` (`None` outside, where
/// `total` is zero) and the mask's values at them.
#[derive(Debug)]
struct ShrinkTerm {
    small: usize,
    at: Option<usize>,
    at_mask: f64,
    negated: Option<usize>,
    negated_mask: f64,
    coef: f64,
}

/// Where the next scale's spectrum lies in this scale's: the rows and columns of this
/// scale's (transposed) spectrum, `width` wide, that it keeps.
#[derive(Debug)]
struct Crop {
    width: usize,
    rows: Vec<usize>,
    columns: Vec<usize>,
}

/// Where each statistic group starts in the full vector ([`super::Statistic::ALL`] order).
#[derive(Debug)]
struct Offsets {
    magnitude_autocorrelation: usize,
    skew: usize,
    kurtosis: usize,
    recon_autocorrelation: usize,
    recon_std: usize,
    cross_orientation: usize,
    magnitude_std: usize,
    cross_scale_magnitude: usize,
    cross_scale_real: usize,
    highpass_variance: usize,
    len: usize,
}

impl TexturePlan {
    pub(crate) fn new(masks: HostMasks, layout: &StatisticLayout) -> Self {
        let (n_orientations, width) = (layout.n_orientations, layout.spatial_corr_width);
        let shape = masks.shape;
        let n = masks.scales.len();
        let o = n_orientations;
        let phase = match (n_orientations - 1) % 4 {
            0 => Complex::new(1.0, 0.0),
            1 => Complex::new(0.0, -1.0),
            2 => Complex::new(-1.0, 0.0),
            _ => Complex::new(0.0, 1.0),
        };
        let scales: Vec<ScalePlan> = masks
            .scales
            .into_iter()
            .map(|scale| {
                let size = scale.size;
                let filters: Vec<Vec<f64>> = scale
                    .anglemasks
                    .iter()
                    .map(|a| {
                        let filter: Vec<f64> =
                            a.iter().zip(&scale.himask).map(|(a, h)| a * h).collect();
                        transposed_plane(&filter, size)
                    })
                    .collect();
                let filter_rows = filters
                    .iter()
                    .map(|filter| {
                        filter
                            .chunks_exact(size[0])
                            .map(|row| row.iter().any(|m| *m != 0.0))
                            .collect()
                    })
                    .collect();
                let recon_gain: Vec<f64> = (0..scale.himask.len())
                    .map(|i| {
                        let angular: f64 = scale
                            .anglemasks
                            .iter()
                            .zip(&scale.anglemasks_recon)
                            .map(|(a, r)| a[i] * r[i])
                            .sum();
                        scale.himask[i] * scale.himask[i] * angular
                    })
                    .collect();
                let [rows, columns] = scale.crop.expect("the texture pyramid downsamples");
                ScalePlan {
                    size,
                    filters,
                    filter_rows,
                    recon_gain: transposed_plane(&recon_gain, size),
                    lomask: transposed_plane(&scale.lomask, [rows.len(), columns.len()]),
                    // The transposed spectrum's rows are the plane's columns.
                    crop: Crop {
                        width: size[0],
                        rows: columns,
                        columns: rows,
                    },
                }
            })
            .collect();
        let with_transpose = |map: std::sync::Arc<SpectralMap>| {
            let map = map.on_transposed_spectra();
            let transposed = map.transposed();
            [map, transposed]
        };
        let lo0mask = transposed_plane(&masks.lo0mask, shape);
        // Where each row and column of the full (transposed) spectrum is kept at scale 1.
        let central = &scales[0].crop;
        let kept_at = |kept: &[usize], len: usize| {
            let mut at = vec![None; len];
            kept.iter().enumerate().for_each(|(i, k)| at[*k] = Some(i));
            at
        };
        let (row_at, column_at) = (
            kept_at(&central.rows, shape[1]),
            kept_at(&central.columns, shape[0]),
        );
        let position = |at: usize| {
            let row = row_at[at / central.width]?;
            let column = column_at[at % central.width]?;
            Some(row * central.columns.len() + column)
        };
        let spectrum_size = [shape[1], shape[0]];
        let term = |small: usize, full: usize, coef: f64| {
            let negated = numeric::negated(full, spectrum_size);
            ShrinkTerm {
                small,
                at: position(full),
                at_mask: lo0mask[full],
                negated: position(negated),
                negated_mask: lo0mask[negated],
                coef,
            }
        };
        let shrink_terms = (1..=n)
            .map(|k| {
                let [map, transposed] = with_transpose(shrink_map(1 << k, shape));
                [
                    map.entries
                        .iter()
                        .map(|&(dst, src, coef)| term(dst, src, coef))
                        .collect(),
                    transposed
                        .entries
                        .iter()
                        .map(|&(dst, src, coef)| term(src, dst, coef))
                        .collect(),
                ]
            })
            .collect();
        let expand: Vec<[SpectralMap; 2]> = (1..n)
            .map(|s| with_transpose(expand_map(2.0, scales[s].size, scales[s - 1].size)))
            .collect();
        let expand_rows = expand
            .iter()
            .map(|[map, transposed]| {
                // The transposed spectrum's rows are `map.to[0]` long.
                let mut read = vec![false; map.to[1]];
                for &(_, src, _) in &transposed.entries {
                    read[src / map.to[0]] = true;
                }
                read
            })
            .collect();
        // Each group's start: the sizes of the groups before it, in representation order.
        let mut starts = Vec::with_capacity(Statistic::ALL.len() + 1);
        let mut at = 0;
        for statistic in Statistic::ALL {
            starts.push(at);
            at += layout.shape(statistic).iter().product::<usize>();
        }
        let start = |statistic: Statistic| {
            starts[Statistic::ALL
                .iter()
                .position(|s| *s == statistic)
                .expect("a group")]
        };
        let offsets = Offsets {
            magnitude_autocorrelation: start(Statistic::AutoCorrelationMagnitude),
            skew: start(Statistic::SkewReconstructed),
            kurtosis: start(Statistic::KurtosisReconstructed),
            recon_autocorrelation: start(Statistic::AutoCorrelationReconstructed),
            recon_std: start(Statistic::StdReconstructed),
            cross_orientation: start(Statistic::CrossOrientationCorrelationMagnitude),
            magnitude_std: start(Statistic::MagnitudeStd),
            cross_scale_magnitude: start(Statistic::CrossScaleCorrelationMagnitude),
            cross_scale_real: start(Statistic::CrossScaleCorrelationReal),
            highpass_variance: start(Statistic::VarHighpassResidual),
            len: at,
        };
        Self {
            shape,
            n_scales: n,
            n_orientations: o,
            width,
            phase,
            lo0mask,
            hi0mask: transposed_plane(&masks.hi0mask, shape),
            scales,
            shrink_terms,
            expand,
            expand_rows,
            offsets,
        }
    }

    /// The number of statistics per plane, redundant ones included.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len
    }

    /// The size of scale `s`; `s = n` is the low-pass residual's.
    fn size(&self, s: usize) -> [usize; 2] {
        match self.scales.get(s) {
            Some(scale) => scale.size,
            None => {
                let [h, w] = self.scales[s - 1].size;
                [h / 2, w / 2]
            }
        }
    }
}

/// What the backward step needs from the forward pass of one plane.
#[derive(Debug)]
pub(crate) struct Record<T: Real> {
    highpass: Buf<T>,
    /// `[scale][orientation]` complex bands.
    bands: Vec<Vec<Plane<T>>>,
    /// The bands' real parts.
    reals: Vec<Planes<T>>,
    magnitudes: Vec<Planes<T>>,
    centred_magnitudes: Vec<Planes<T>>,
    /// For scales 1 to n − 1, at index `s − 1`: the band brought to scale `s − 1`.
    doubled: Vec<Doubled<T>>,
    /// The partial reconstructions, fine to coarse (the low-pass residual's last).
    recon: Planes<T>,
    magnitude_lags: Vec<Vec<Vec<f64>>>,
    recon_lags: Vec<Vec<f64>>,
    /// `mean(r³)`, `mean(r⁴)` and whether the variance is large enough for both to count.
    recon_moments: Vec<([f64; 2], bool)>,
    pixel: PixelMoments,
    x: Buf<T>,
    cross_orientation: Vec<Cross>,
    cross_scale_magnitude: Vec<Cross>,
    cross_scale_real: Vec<Cross>,
}

#[derive(Debug)]
struct Doubled<T: Real> {
    up: Vec<Plane<T>>,
    magnitude: Planes<T>,
    centred: Planes<T>,
    /// Real parts of the phase-doubled bands, then imaginary parts.
    parts: Planes<T>,
}

#[derive(Debug)]
struct PixelMoments {
    mean: f64,
    variance: f64,
    third: f64,
    fourth: f64,
    min: f64,
    max: f64,
}

/// The Portilla–Simoncelli statistics `[planes, n]` of `[planes, height, width]` images,
/// redundant entries included, in one host pass.
#[derive(Debug)]
pub(crate) struct TextureStatistics(pub Arc<TexturePlan>);

impl HostOp for TextureStatistics {
    /// The forward pass's records of every plane.
    type Saved<B: Backend> = Arc<Records>;

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, Arc<Records>) {
        let (out, records) = statistics::<B>(x, &self.0, true);
        (out, Arc::new(records))
    }

    fn forward<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        statistics::<B>(x, &self.0, false).0
    }

    /// The adjoint of the whole statistics pass, from the forward pass's records.
    fn backward<B: Backend>(&self, records: Arc<Records>, grad: FloatTensor<B>) -> FloatTensor<B> {
        statistics_grad::<B>(grad, &self.0, &records)
    }
}

/// The forward records of every plane, in the tensor's precision.
#[derive(Debug)]
pub(crate) enum Records {
    F32(Vec<Record<f32>>),
    F64(Vec<Record<f64>>),
}

/// The statistics `[planes, len]` of `x` (`[planes, height, width]`), and with `keep` what
/// their backward step needs (nothing without).
fn statistics<B: Backend>(
    x: FloatTensor<B>,
    plan: &TexturePlan,
    keep: bool,
) -> (FloatTensor<B>, Records) {
    let [planes, h, w] = dims::<B, 3>(&x);
    let mut records = Records::F64(Vec::new());
    fn run<T: Real>(
        plan: &TexturePlan,
        values: &[T],
        plane: usize,
        keep: bool,
    ) -> (Vec<T>, Vec<Record<T>>) {
        in_pool(|| {
            let mut stats = Vec::with_capacity(values.len() / plane * plan.len());
            let mut records = Vec::new();
            for x in values.chunks_exact(plane) {
                let (values, record) = forward(plan, x);
                stats.extend(values.into_iter().map(T::narrow));
                if keep {
                    records.push(record);
                }
            }
            (stats, records)
        })
    }
    let out = on_host::<B, 2>(x, [planes, plan.len()], |values| match values {
        HostValues::F32(v) => {
            let (stats, kept) = run(plan, &v, h * w, keep);
            records = Records::F32(kept);
            HostValues::F32(stats)
        }
        HostValues::F64(v) => {
            let (stats, kept) = run(plan, &v, h * w, keep);
            records = Records::F64(kept);
            HostValues::F64(stats)
        }
    });
    (out, records)
}

/// The image gradient `[planes, height, width]` for the statistics' gradient `grad`.
fn statistics_grad<B: Backend>(
    grad: FloatTensor<B>,
    plan: &TexturePlan,
    records: &Records,
) -> FloatTensor<B> {
    let [planes, _] = dims::<B, 2>(&grad);
    let [h, w] = plan.shape;
    fn run<T: Real>(plan: &TexturePlan, records: &[Record<T>], grad: &[f64]) -> Vec<T> {
        let [h, w] = plan.shape;
        in_pool(|| {
            let mut out = Vec::with_capacity(records.len() * h * w);
            for (record, grad) in records.iter().zip(grad.chunks_exact(plan.len())) {
                out.extend_from_slice(&backward(plan, record, grad));
            }
            out
        })
    }
    on_host::<B, 3>(grad, [planes, h, w], |values| {
        let grad = values.into_f64();
        match records {
            Records::F32(r) => HostValues::F32(run(plan, r, &grad)),
            Records::F64(r) => HostValues::F64(run(plan, r, &grad)),
        }
    })
}
