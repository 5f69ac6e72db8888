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

use super::{Statistic, StatisticLayout, kernels};
use crate::buffers::Buf;
use crate::fft::{Planned, SpectralMap, fft_planes};
use crate::host::{HostValues, dims, on_host};
use crate::signal::{expand_map, shrink_map};
use crate::steerable::HostMasks;

/// The two precisions the statistics are computed in: the tensor's own.
pub(crate) trait Real: Planned + Float + kernels::Lanes {
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
    /// For `k = 1..=n`: plenoptic's `shrink` by `2^k` from the full size, and its transpose.
    shrink: Vec<[SpectralMap; 2]>,
    /// For `s = 1..n−1`: `expand` by 2 from scale `s` to scale `s − 1`, and its transpose.
    expand: Vec<[SpectralMap; 2]>,
    offsets: Offsets,
}

#[derive(Debug)]
struct ScalePlan {
    size: [usize; 2],
    /// `anglemask_b · himask` per orientation.
    filters: Vec<Vec<f64>>,
    /// `himask² · Σ_b anglemask_b · anglemask_recon_b`: what the bands of this scale add to
    /// a reconstruction, per frequency of the scale's low-pass spectrum.
    recon_gain: Vec<f64>,
    /// The next scale's low-pass mask, at the next scale's size.
    lomask: Vec<f64>,
    /// Rows and columns of this scale's spectrum the next scale keeps.
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
                let filters = scale
                    .anglemasks
                    .iter()
                    .map(|a| a.iter().zip(&scale.himask).map(|(a, h)| a * h).collect())
                    .collect();
                let recon_gain = (0..scale.himask.len())
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
                    size: scale.size,
                    filters,
                    recon_gain,
                    lomask: scale.lomask,
                    rows,
                    columns,
                }
            })
            .collect();
        let with_transpose = |map: std::sync::Arc<SpectralMap>| {
            let transposed = map.transposed();
            [(*map).clone(), transposed]
        };
        let shrink = (1..=n)
            .map(|k| with_transpose(shrink_map(1 << k, shape)))
            .collect();
        let expand = (1..n)
            .map(|s| with_transpose(expand_map(2.0, scales[s].size, scales[s - 1].size)))
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
            lo0mask: masks.lo0mask,
            hi0mask: masks.hi0mask,
            scales,
            shrink,
            expand,
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

/// Correlations `cov(a_i, b_j) / sqrt(var a_i · var b_j)`, with the variances used.
#[derive(Debug)]
struct Cross {
    out: Vec<f64>,
    a_variance: Vec<f64>,
    b_variance: Vec<f64>,
}

// ---- small numerical helpers -------------------------------------------------------------

fn sum<T: Real>(a: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = a.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|x| x.wide()).sum();
    for x in chunks {
        for i in 0..8 {
            lanes[i] += x[i].wide();
        }
    }
    lanes.iter().sum::<f64>() + tail
}

fn mean<T: Real>(a: &[T]) -> f64 {
    sum(a) / a.len() as f64
}

fn subtract_mean<T: Real>(a: &mut [T]) {
    let m = T::narrow(mean(a));
    a.iter_mut().for_each(|v| *v = *v - m);
}

fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    kernels::dot(a, b)
}

fn to_complex<T: Real>(x: &[T]) -> Plane<T> {
    x.iter().map(|v| Complex::new(*v, T::zero())).collect()
}

fn real_part<T: Real>(x: &[Complex<T>], scale: f64) -> Buf<T> {
    let scale = T::narrow(scale);
    x.iter().map(|v| v.re * scale).collect()
}

fn fft<T: Real>(plane: &mut [Complex<T>], [h, w]: [usize; 2]) {
    fft_planes(plane, h, w, false);
}

fn ifft<T: Real>(plane: &mut [Complex<T>], [h, w]: [usize; 2]) {
    fft_planes(plane, h, w, true);
}

/// The unnormalised transform of a real plane.
fn fft_real<T: Real>(x: &[T], size: [usize; 2]) -> Plane<T> {
    let mut plane = to_complex(x);
    fft(&mut plane, size);
    plane
}

/// `Re(ifft(x)) · scale` with the unnormalised inverse.
fn ifft_real<T: Real>(mut x: Plane<T>, size: [usize; 2], scale: f64) -> Buf<T> {
    ifft(&mut x, size);
    real_part(&x, scale)
}

fn scaled<T: Real>(x: &[Complex<T>], mask: &[f64]) -> Plane<T> {
    x.iter()
        .zip(mask)
        .map(|(v, m)| *v * T::narrow(*m))
        .collect()
}

/// `x · mask · phase`.
fn filtered<T: Real>(x: &[Complex<T>], mask: &[f64], phase: Complex<f64>) -> Plane<T> {
    let phase = Complex::new(T::narrow(phase.re), T::narrow(phase.im));
    x.iter()
        .zip(mask)
        .map(|(x, m)| *x * phase * T::narrow(*m))
        .collect()
}

/// `y += x · mask · phase`.
fn add_filtered<T: Real>(
    y: &mut [Complex<T>],
    x: &[Complex<T>],
    mask: &[f64],
    phase: Complex<f64>,
) {
    let phase = Complex::new(T::narrow(phase.re), T::narrow(phase.im));
    for ((y, x), m) in y.iter_mut().zip(x).zip(mask) {
        *y = *y + *x * phase * T::narrow(*m);
    }
}

fn crop<T: Real>(x: &[Complex<T>], width: usize, rows: &[usize], columns: &[usize]) -> Plane<T> {
    let kept_width = columns.len();
    (0..rows.len() * kept_width)
        .map(|i| x[rows[i / kept_width] * width + columns[i % kept_width]])
        .collect()
}

/// The adjoint of [`crop`]: adds `x` at the kept rows and columns of `y`.
fn add_uncropped<T: Real>(
    y: &mut [Complex<T>],
    width: usize,
    rows: &[usize],
    columns: &[usize],
    x: &[Complex<T>],
) {
    let kept_width = columns.len();
    for (i, r) in rows.iter().enumerate() {
        for (j, c) in columns.iter().enumerate() {
            y[r * width + c] = y[r * width + c] + x[i * kept_width + j];
        }
    }
}

/// `to[dst] += coef · from[src]` over the map's entries.
fn apply_map<T: Real>(map: &SpectralMap, from: &[Complex<T>], scale: f64) -> Plane<T> {
    let [h, w] = map.to;
    let mut to = Buf::filled(Complex::new(T::zero(), T::zero()), h * w);
    for &(dst, src, coef) in &map.entries {
        to[dst] = to[dst] + from[src] * T::narrow(coef * scale);
    }
    to
}

/// Index of frequency `−k` in an FFT-ordered `h × w` plane.
fn negated(index: usize, [h, w]: [usize; 2]) -> usize {
    let (r, c) = (index / w, index % w);
    ((h - r) % h) * w + (w - c) % w
}

/// `(1/N) Σ_z x(z) · x(z + d)` (circular) at the `width × width` lags around zero, lag
/// `−width/2` first: plenoptic's cropped autocorrelation. The symmetry `d ↔ −d` halves the
/// sums.
fn autocorrelation<T: Real>(x: &[T], [h, w]: [usize; 2], width: usize) -> Vec<f64> {
    let half = width / 2;
    let lag = |at: usize| {
        (
            (at / width) as isize - half as isize,
            (at % width) as isize - half as isize,
        )
    };
    // The index of `−d`, when it is in the window and comes first.
    let mirror = |at: usize| {
        let (my, mx) = (2 * half - at / width, 2 * half - at % width);
        (my < width && mx < width && my * width + mx < at).then_some(my * width + mx)
    };
    let lags: Vec<(isize, isize)> = (0..width * width)
        .filter(|at| mirror(*at).is_none())
        .map(lag)
        .collect();
    let padded = kernels::pad_rows(x, w, half);
    let mut sums = kernels::lag_sums(x, &padded, [h, w], half, &lags).into_iter();
    let mut out = vec![0.0; width * width];
    for at in 0..width * width {
        out[at] = match mirror(at) {
            Some(m) => out[m],
            None => sums.next().expect("a sum per lag") / (h * w) as f64,
        };
    }
    out
}

/// The adjoint of [`autocorrelation`]: `out(z) += (1/N) Σ_d g[d] (x(z + d) + x(z − d))`,
/// i.e. one correlation of `x` with the symmetrised lag weights.
fn add_autocorrelation_adjoint<T: Real>(
    out: &mut [T],
    x: &[T],
    [h, w]: [usize; 2],
    width: usize,
    lag_grad: &[f64],
) {
    let half = width / 2;
    let span = 2 * half + 1;
    let n = (h * w) as f64;
    let mut weights = vec![0.0; span * span];
    for (i, g) in lag_grad.iter().enumerate() {
        let (ly, lx) = (i / width, i % width);
        weights[ly * span + lx] += g / n;
        weights[(2 * half - ly) * span + (2 * half - lx)] += g / n;
    }
    let taps: Vec<(isize, isize, f64)> = weights
        .iter()
        .enumerate()
        .filter(|(_, weight)| **weight != 0.0)
        .map(|(i, weight)| {
            let (ly, lx) = (i / span, i % span);
            (
                ly as isize - half as isize,
                lx as isize - half as isize,
                *weight,
            )
        })
        .collect();
    let padded = kernels::pad_rows(x, w, half);
    kernels::correlate_taps(out, &padded, [h, w], half, &taps);
}

/// Normalised lags `ac / ac(0)`.
fn normalised(lags: &[f64], width: usize) -> impl Iterator<Item = f64> + '_ {
    let centre = lags[(width / 2) * width + width / 2];
    lags.iter().map(move |v| v / centre)
}

/// The adjoint of [`normalised`], plus a gradient on the centre (the variance) itself.
fn normalised_adjoint(lags: &[f64], width: usize, grad: &[f64], variance_grad: f64) -> Vec<f64> {
    let at = (width / 2) * width + width / 2;
    let centre = lags[at];
    let mut out: Vec<f64> = grad.iter().map(|g| g / centre).collect();
    let through_centre: f64 = grad.iter().zip(lags).map(|(g, v)| g * v).sum::<f64>();
    out[at] += variance_grad - through_centre / (centre * centre);
    out
}

/// With `b` the very planes of `a` (the cross-orientation correlations) the matrix is
/// symmetric and each product is summed once.
fn cross<T: Real>(a: &[&[T]], b: &[&[T]], a_variance: Option<Vec<f64>>) -> Cross {
    let n = a[0].len() as f64;
    let symmetric = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y));
    let a_variance = a_variance.unwrap_or_else(|| a.iter().map(|a| dot(a, a) / n).collect());
    let b_variance: Vec<f64> = b.iter().map(|b| dot(b, b) / n).collect();
    let columns = b.len();
    let mut covariance = vec![0.0; a.len() * columns];
    for i in 0..a.len() {
        for j in 0..columns {
            covariance[i * columns + j] = if symmetric && j < i {
                covariance[j * columns + i]
            } else {
                dot(a[i], b[j]) / n
            };
        }
    }
    let out = covariance
        .iter()
        .enumerate()
        .map(|(ij, c)| c / (a_variance[ij / columns] * b_variance[ij % columns]).sqrt())
        .collect();
    Cross {
        out,
        a_variance,
        b_variance,
    }
}

/// The adjoint of [`cross`] as coefficients: `∂a_i = Σ_j on_a[i][j]·b_j + a_self[i]·a_i`
/// and `∂b_j = Σ_i on_b[j][i]·a_i + b_self[j]·b_j`, and the gradient of given `a`
/// variances (computed ones are differentiated through `a`, in `a_self`).
struct CrossAdjoint {
    on_a: Vec<Vec<f64>>,
    a_self: Vec<f64>,
    on_b: Vec<Vec<f64>>,
    b_self: Vec<f64>,
    a_variance_grad: Vec<f64>,
}

fn cross_adjoint(
    cross: &Cross,
    grad: impl Fn(usize, usize) -> f64,
    n: usize,
    given_a_variance: bool,
) -> CrossAdjoint {
    let n = n as f64;
    let (rows, columns) = (cross.a_variance.len(), cross.b_variance.len());
    let mut on_a = vec![vec![0.0; columns]; rows];
    let mut on_b = vec![vec![0.0; rows]; columns];
    let mut a_variance_grad = vec![0.0; rows];
    let mut b_variance_grad = vec![0.0; columns];
    for i in 0..rows {
        for j in 0..columns {
            let (g, out) = (grad(i, j), cross.out[i * columns + j]);
            let covariance_grad = g / (cross.a_variance[i] * cross.b_variance[j]).sqrt() / n;
            on_a[i][j] = covariance_grad;
            on_b[j][i] = covariance_grad;
            a_variance_grad[i] -= 0.5 * g * out / cross.a_variance[i];
            b_variance_grad[j] -= 0.5 * g * out / cross.b_variance[j];
        }
    }
    let a_self = if given_a_variance {
        vec![0.0; rows]
    } else {
        a_variance_grad.iter().map(|g| 2.0 * g / n).collect()
    };
    CrossAdjoint {
        on_a,
        a_self,
        on_b,
        b_self: b_variance_grad.iter().map(|g| 2.0 * g / n).collect(),
        a_variance_grad,
    }
}

/// `(Σ x³, Σ x⁴)`.
fn third_and_fourth<T: Real>(x: &[T]) -> [f64; 2] {
    let mut lanes = [[0.0f64; 8]; 2];
    let chunks = x.chunks_exact(8);
    let mut tail = [0.0; 2];
    for v in chunks.remainder() {
        let (v, s) = (v.wide(), v.wide() * v.wide());
        tail[0] += s * v;
        tail[1] += s * s;
    }
    for c in chunks {
        for i in 0..8 {
            let (v, s) = (c[i].wide(), c[i].wide() * c[i].wide());
            lanes[0][i] += s * v;
            lanes[1][i] += s * s;
        }
    }
    [
        lanes[0].iter().sum::<f64>() + tail[0],
        lanes[1].iter().sum::<f64>() + tail[1],
    ]
}

fn gather<T: Real>(planes: &[Buf<T>]) -> Vec<&[T]> {
    planes.iter().map(|p| &p[..]).collect()
}

// ---- forward -----------------------------------------------------------------------------

/// The full statistics vector of one plane (redundant entries included), and what its
/// backward step needs.
pub(crate) fn forward<T: Real>(plan: &TexturePlan, x: &[T]) -> (Vec<f64>, Record<T>) {
    let (n, o, width) = (plan.n_scales, plan.n_orientations, plan.width);
    let full = plan.shape;
    let pixels = (full[0] * full[1]) as f64;
    let spectrum = fft_real(x, full);
    let highpass = ifft_real(scaled(&spectrum, &plan.hi0mask), full, 1.0 / pixels);
    let mut lows = vec![scaled(&spectrum, &plan.lo0mask)];
    let mut bands = Vec::with_capacity(n);
    for scale in &plan.scales {
        let low = lows.last().expect("the full-size low-pass");
        let cells = (scale.size[0] * scale.size[1]) as f64;
        bands.push(
            scale
                .filters
                .iter()
                .map(|filter| {
                    let mut band = filtered(low, filter, plan.phase);
                    ifft(&mut band, scale.size);
                    let scale = T::narrow(1.0 / cells);
                    band.iter_mut().for_each(|v| *v = *v * scale);
                    band
                })
                .collect::<Vec<_>>(),
        );
        let kept = crop(low, scale.size[1], &scale.rows, &scale.columns);
        lows.push(scaled(&kept, &scale.lomask));
    }
    let coarsest = plan.size(n);
    let mut lowpass = ifft_real(
        lows[n].clone(),
        coarsest,
        1.0 / (coarsest[0] * coarsest[1]) as f64,
    );
    subtract_mean(&mut lowpass);

    let magnitudes: Vec<Planes<T>> = bands
        .iter()
        .map(|scale| {
            scale
                .iter()
                .map(|band| band.iter().map(|v| v.norm_sqr().sqrt()).collect())
                .collect()
        })
        .collect();
    let centred_magnitudes: Vec<Planes<T>> = magnitudes
        .iter()
        .map(|scale| {
            scale
                .iter()
                .map(|m| {
                    let mut m = m.clone();
                    subtract_mean(&mut m);
                    m
                })
                .collect()
        })
        .collect();
    let recon = reconstructions(plan, &lows, &lowpass);
    let doubled: Vec<Doubled<T>> = (1..n).map(|s| double_phase(plan, &lows[s], s)).collect();

    let mut stats = vec![0.0; plan.len()];
    let at = &plan.offsets;
    let pixel = pixel_moments(x);
    stats[..6].copy_from_slice(&[
        pixel.mean,
        pixel.variance,
        pixel.third / pixel.variance.powf(1.5),
        pixel.fourth / (pixel.variance * pixel.variance),
        pixel.min,
        pixel.max,
    ]);
    let magnitude_lags: Vec<Vec<Vec<f64>>> = centred_magnitudes
        .iter()
        .enumerate()
        .map(|(s, scale)| {
            scale
                .iter()
                .map(|m| autocorrelation(m, plan.size(s), width))
                .collect()
        })
        .collect();
    let centre = (width / 2) * width + width / 2;
    let magnitude_variance: Vec<Vec<f64>> = magnitude_lags
        .iter()
        .map(|scale| scale.iter().map(|lags| lags[centre]).collect())
        .collect();
    for (s, scale) in magnitude_lags.iter().enumerate() {
        for (b, lags) in scale.iter().enumerate() {
            for (lag, value) in normalised(lags, width).enumerate() {
                stats[at.magnitude_autocorrelation + (lag * o + b) * n + s] = value;
            }
        }
    }
    let recon_lags: Vec<Vec<f64>> = recon
        .iter()
        .enumerate()
        .map(|(k, r)| autocorrelation(r, plan.size(k), width))
        .collect();
    let resolution = if std::mem::size_of::<T>() == 8 {
        1e-15
    } else {
        1e-6
    };
    let mut recon_moments = Vec::with_capacity(n + 1);
    for (k, (r, lags)) in recon.iter().zip(&recon_lags).enumerate() {
        let variance = lags[centre];
        let [third, fourth] = third_and_fourth(r).map(|v| v / r.len() as f64);
        // As in plenoptic, a NaN ratio does not count as unstable.
        let unstable = variance / pixel.variance < resolution;
        let stable = !unstable;
        stats[at.skew + k] = if stable {
            third / variance.powf(1.5)
        } else {
            0.0
        };
        stats[at.kurtosis + k] = if stable {
            fourth / (variance * variance)
        } else {
            3.0
        };
        stats[at.recon_std + k] = variance.sqrt();
        for (lag, value) in normalised(lags, width).enumerate() {
            stats[at.recon_autocorrelation + lag * (n + 1) + k] = value;
        }
        recon_moments.push(([third, fourth], stable));
    }
    let cross_orientation: Vec<Cross> = (0..n)
        .map(|s| {
            let m = gather(&centred_magnitudes[s]);
            cross(&m, &m, Some(magnitude_variance[s].clone()))
        })
        .collect();
    for (s, c) in cross_orientation.iter().enumerate() {
        for (ij, value) in c.out.iter().enumerate() {
            stats[at.cross_orientation + ij * n + s] = *value;
        }
        for (b, v) in magnitude_variance[s].iter().enumerate() {
            stats[at.magnitude_std + b * n + s] = v.sqrt();
        }
    }
    let reals: Vec<Planes<T>> = bands
        .iter()
        .map(|scale| {
            scale
                .iter()
                .map(|band| band.iter().map(|v| v.re).collect())
                .collect()
        })
        .collect();
    let mut cross_scale_magnitude = Vec::with_capacity(n.saturating_sub(1));
    let mut cross_scale_real = Vec::with_capacity(n.saturating_sub(1));
    for s in 0..n.saturating_sub(1) {
        let coarser = &doubled[s];
        let magnitude = cross(
            &gather(&centred_magnitudes[s]),
            &gather(&coarser.centred),
            Some(magnitude_variance[s].clone()),
        );
        let real = cross(&gather(&reals[s]), &gather(&coarser.parts), None);
        for (ij, value) in magnitude.out.iter().enumerate() {
            stats[at.cross_scale_magnitude + ij * (n - 1) + s] = *value;
        }
        for (ij, value) in real.out.iter().enumerate() {
            stats[at.cross_scale_real + ij * (n - 1) + s] = *value;
        }
        cross_scale_magnitude.push(magnitude);
        cross_scale_real.push(real);
    }
    stats[at.highpass_variance] = dot(&highpass, &highpass) / pixels;
    let record = Record {
        highpass,
        bands,
        reals,
        magnitudes,
        centred_magnitudes,
        doubled,
        recon,
        magnitude_lags,
        recon_lags,
        recon_moments,
        pixel,
        x: Buf::from_slice(x),
        cross_orientation,
        cross_scale_magnitude,
        cross_scale_real,
    };
    (stats, record)
}

fn pixel_moments<T: Real>(x: &[T]) -> PixelMoments {
    let n = x.len() as f64;
    let mean = mean(x);
    let centred: Buf<f64> = x.iter().map(|v| v.wide() - mean).collect();
    let variance = dot(&centred, &centred) / (n - 1.0);
    let [third, fourth] = third_and_fourth(&centred).map(|v| v / n);
    let (min, max) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v.wide()), hi.max(v.wide()))
        });
    PixelMoments {
        mean,
        variance,
        third,
        fourth,
        min,
        max,
    }
}

/// The reconstruction spectrum a level adds at full size: `start` (at scale `level`'s size)
/// carried up through the finer scales' low-pass masks, through plenoptic's complex64 grid.
fn carried_up<T: Real>(plan: &TexturePlan, mut spectrum: Plane<T>, level: usize) -> Plane<T> {
    for s in (0..level).rev() {
        let scale = &plan.scales[s];
        let [h, w] = scale.size;
        let masked: Plane<T> = spectrum
            .iter()
            .zip(&scale.lomask)
            .map(|(v, m)| {
                let v = *v * T::narrow(*m);
                Complex::new(v.re.through_complex64(), v.im.through_complex64())
            })
            .collect();
        spectrum = Buf::filled(Complex::new(T::zero(), T::zero()), h * w);
        add_uncropped(&mut spectrum, w, &scale.rows, &scale.columns, &masked);
    }
    spectrum
}

/// The partial reconstructions (the low-pass residual plus the bands from scale `k` down,
/// at scale `k`'s size) for `k = 0..=n`, as plenoptic's `recon_pyr` and `shrink` give them.
fn reconstructions<T: Real>(plan: &TexturePlan, lows: &[Plane<T>], lowpass: &[T]) -> Planes<T> {
    let n = plan.n_scales;
    let full = plan.shape;
    let mut images = Vec::with_capacity(n + 1);
    let mut total = carried_up(plan, fft_real(lowpass, plan.size(n)), n);
    for k in (0..=n).rev() {
        if k < n {
            let start = scaled(&lows[k], &plan.scales[k].recon_gain);
            let level = carried_up(plan, start, k);
            total.iter_mut().zip(&level).for_each(|(t, l)| *t = *t + *l);
        }
        let spectrum = scaled(&total, &plan.lo0mask);
        images.push(if k == 0 {
            ifft_real(spectrum, full, 1.0 / (full[0] * full[1]) as f64)
        } else {
            // The image is real: its spectrum is the Hermitian part of `spectrum`.
            let map = &plan.shrink[k - 1][0];
            let mut small = Buf::filled(Complex::new(T::zero(), T::zero()), map.to[0] * map.to[1]);
            let half = T::narrow(0.5);
            for &(dst, src, coef) in &map.entries {
                let hermitian = (spectrum[src] + spectrum[negated(src, full)].conj()) * half;
                small[dst] = small[dst] + hermitian * T::narrow(coef);
            }
            let factor = (1usize << k) as f64;
            ifft_real(small, map.to, factor * factor)
        });
    }
    images.reverse();
    images
}

/// plenoptic's `expand(band, 2) / 4` with its phase doubled, for each orientation of scale
/// `s`, from that scale's low-pass spectrum.
fn double_phase<T: Real>(plan: &TexturePlan, low: &[Complex<T>], s: usize) -> Doubled<T> {
    let scale = &plan.scales[s];
    let map = &plan.expand[s - 1][0];
    let mut doubled = Doubled {
        up: Vec::new(),
        magnitude: Vec::new(),
        centred: Vec::new(),
        parts: Vec::new(),
    };
    let mut imaginary_parts = Vec::new();
    for filter in &scale.filters {
        let band = filtered(low, filter, plan.phase);
        let mut up = apply_map(map, &band, 0.25);
        ifft(&mut up, map.to);
        let magnitude: Buf<T> = up.iter().map(|v| v.norm_sqr().sqrt()).collect();
        // |u|·e^{2i·arg u} = u² / |u|, with 0 where u is 0.
        let doubled_phase = |part: fn(Complex<T>) -> T| -> Buf<T> {
            up.iter()
                .zip(&magnitude)
                .map(|(u, m)| {
                    let safe = if *m == T::zero() { T::one() } else { *m };
                    part(*u * *u) / safe
                })
                .collect()
        };
        let (re, im) = (doubled_phase(|z| z.re), doubled_phase(|z| z.im));
        let mut centred = magnitude.clone();
        subtract_mean(&mut centred);
        doubled.parts.push(re);
        imaginary_parts.push(im);
        doubled.up.push(up);
        doubled.magnitude.push(magnitude);
        doubled.centred.push(centred);
    }
    doubled.parts.extend(imaginary_parts);
    doubled
}

// ---- backward ----------------------------------------------------------------------------

/// The gradients of the planes the statistics are sums over.
struct PlaneGrads<T: Real> {
    magnitudes: Vec<Planes<T>>,
    reals: Vec<Planes<T>>,
    recon: Planes<T>,
    /// For scales 1 to n − 1, at index `s − 1`: the phase-doubled band's centred magnitudes
    /// and parts.
    doubled: Vec<(Planes<T>, Planes<T>)>,
}

/// The image gradient of `Σ grad · statistics` for one plane: the statistics' adjoints
/// give the planes' gradients, which go back through the bands and the reconstructions to
/// the low-pass spectra, down the low-pass chain to the image's spectrum, and to the image.
pub(crate) fn backward<T: Real>(plan: &TexturePlan, record: &Record<T>, grad: &[f64]) -> Buf<T> {
    let (n, full) = (plan.n_scales, plan.shape);
    let pixels = (full[0] * full[1]) as f64;
    let planes = statistics_adjoint(plan, record, grad);
    let mut lows_grad: Vec<Plane<T>> = (0..=n)
        .map(|s| {
            let [h, w] = plan.size(s);
            Buf::filled(Complex::new(T::zero(), T::zero()), h * w)
        })
        .collect();
    add_bands_adjoint(plan, record, &planes, &mut lows_grad);
    add_reconstructions_adjoint(plan, &planes.recon, &mut lows_grad);
    // Down the low-pass chain to the image's spectrum.
    for s in (0..n).rev() {
        let scale = &plan.scales[s];
        let masked = scaled(&lows_grad[s + 1], &scale.lomask);
        add_uncropped(
            &mut lows_grad[s],
            scale.size[1],
            &scale.rows,
            &scale.columns,
            &masked,
        );
    }
    let highpass_grad: Buf<T> = {
        let g = 2.0 * grad[plan.offsets.highpass_variance] / pixels;
        record.highpass.iter().map(|v| *v * T::narrow(g)).collect()
    };
    let highpass_spectrum = fft_real(&highpass_grad, full);
    let mut spectrum_grad = scaled(&lows_grad[0], &plan.lo0mask);
    let inv = 1.0 / pixels;
    for ((g, h), m) in spectrum_grad
        .iter_mut()
        .zip(&highpass_spectrum)
        .zip(&plan.hi0mask)
    {
        *g = *g + *h * T::narrow(m * inv);
    }
    let mut image_grad = ifft_real(spectrum_grad, full, 1.0);
    add_pixel_adjoint(&mut image_grad, &record.x, &record.pixel, &grad[..6]);
    image_grad
}

/// The adjoints of the statistics: the gradients of the planes they are sums over.
fn statistics_adjoint<T: Real>(
    plan: &TexturePlan,
    record: &Record<T>,
    grad: &[f64],
) -> PlaneGrads<T> {
    let (n, o, width) = (plan.n_scales, plan.n_orientations, plan.width);
    let at = &plan.offsets;
    let zeros = |s: usize| Buf::filled(T::zero(), plan.size(s)[0] * plan.size(s)[1]);
    let centre = (width / 2) * width + width / 2;

    // Gradients of the variances (autocorrelation centres) from the statistics that use them.
    let mut magnitude_variance_grad = vec![vec![0.0; o]; n];
    let mut recon_variance_grad = vec![0.0; n + 1];
    let mut magnitude_grad: Vec<Planes<T>> = (0..n).map(|s| vec![zeros(s); o]).collect();
    let mut real_grad: Vec<Planes<T>> = (0..n).map(|s| vec![zeros(s); o]).collect();
    let mut recon_grad: Planes<T> = (0..=n).map(zeros).collect();

    for s in 0..n {
        for b in 0..o {
            let variance = record.magnitude_lags[s][b][centre];
            magnitude_variance_grad[s][b] +=
                grad[at.magnitude_std + b * n + s] / (2.0 * variance.sqrt());
        }
    }
    for k in 0..=n {
        let variance = record.recon_lags[k][centre];
        recon_variance_grad[k] += grad[at.recon_std + k] / (2.0 * variance.sqrt());
        let ([third, fourth], stable) = record.recon_moments[k];
        if !stable {
            continue;
        }
        let (skew_grad, kurtosis_grad) = (grad[at.skew + k], grad[at.kurtosis + k]);
        let r = &record.recon[k];
        let count = r.len() as f64;
        let a = T::narrow(3.0 * skew_grad / (count * variance.powf(1.5)));
        let c = T::narrow(4.0 * kurtosis_grad / (count * variance * variance));
        for (g, v) in recon_grad[k].iter_mut().zip(r) {
            let square = *v * *v;
            *g = *g + a * square + c * square * *v;
        }
        recon_variance_grad[k] += -1.5 * skew_grad * third / variance.powf(2.5)
            - 2.0 * kurtosis_grad * fourth / variance.powi(3);
    }
    let mut doubled_grad: Vec<(Planes<T>, Planes<T>)> = (1..n)
        .map(|s| (vec![zeros(s - 1); o], vec![zeros(s - 1); 2 * o]))
        .collect();
    for s in 0..n {
        let size = plan.size(s);
        let pixels_s = size[0] * size[1];
        let m = gather(&record.centred_magnitudes[s]);
        // The cross-orientation correlations have the same magnitudes on both sides, so
        // both sides' gradients land on them.
        let orientation = cross_adjoint(
            &record.cross_orientation[s],
            |i, j| grad[at.cross_orientation + (i * o + j) * n + s],
            pixels_s,
            true,
        );
        let coarser = (s + 1 < n).then(|| {
            (
                &record.doubled[s],
                cross_adjoint(
                    &record.cross_scale_magnitude[s],
                    |i, j| grad[at.cross_scale_magnitude + (i * o + j) * (n - 1) + s],
                    pixels_s,
                    true,
                ),
            )
        });
        for k in 0..o {
            let mut terms: Vec<(f64, &[T])> = (0..o)
                .map(|j| {
                    let mut c = orientation.on_a[k][j] + orientation.on_b[k][j];
                    if j == k {
                        c += orientation.a_self[k] + orientation.b_self[k];
                    }
                    (c, m[j])
                })
                .collect();
            magnitude_variance_grad[s][k] += orientation.a_variance_grad[k];
            if let Some((doubled, magnitude)) = &coarser {
                terms.extend((0..o).map(|j| (magnitude.on_a[k][j], &doubled.centred[j][..])));
                magnitude_variance_grad[s][k] += magnitude.a_variance_grad[k];
            }
            kernels::combine(&mut magnitude_grad[s][k], &terms);
        }
        let Some((doubled, magnitude)) = &coarser else {
            continue;
        };
        let (centred_grad, parts_grad) = &mut doubled_grad[s];
        for (j, g) in centred_grad.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> =
                (0..o).map(|i| (magnitude.on_b[j][i], m[i])).collect();
            terms.push((magnitude.b_self[j], &doubled.centred[j]));
            kernels::combine(g, &terms);
        }
        let reals = &record.reals[s];
        let real = cross_adjoint(
            &record.cross_scale_real[s],
            |i, j| grad[at.cross_scale_real + (i * 2 * o + j) * (n - 1) + s],
            pixels_s,
            false,
        );
        for (i, g) in real_grad[s].iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> = (0..2 * o)
                .map(|j| (real.on_a[i][j], &doubled.parts[j][..]))
                .collect();
            terms.push((real.a_self[i], &reals[i]));
            kernels::combine(g, &terms);
        }
        for (j, g) in parts_grad.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> =
                (0..o).map(|i| (real.on_b[j][i], &reals[i][..])).collect();
            terms.push((real.b_self[j], &doubled.parts[j]));
            kernels::combine(g, &terms);
        }
    }
    for s in 0..n {
        for b in 0..o {
            let lag_grad: Vec<f64> = (0..width * width)
                .map(|lag| grad[at.magnitude_autocorrelation + (lag * o + b) * n + s])
                .collect();
            let lags = &record.magnitude_lags[s][b];
            let lag_grad =
                normalised_adjoint(lags, width, &lag_grad, magnitude_variance_grad[s][b]);
            add_autocorrelation_adjoint(
                &mut magnitude_grad[s][b],
                &record.centred_magnitudes[s][b],
                plan.size(s),
                width,
                &lag_grad,
            );
        }
    }
    for k in 0..=n {
        let lag_grad: Vec<f64> = (0..width * width)
            .map(|lag| grad[at.recon_autocorrelation + lag * (n + 1) + k])
            .collect();
        let lags = &record.recon_lags[k];
        let lag_grad = normalised_adjoint(lags, width, &lag_grad, recon_variance_grad[k]);
        add_autocorrelation_adjoint(
            &mut recon_grad[k],
            &record.recon[k],
            plan.size(k),
            width,
            &lag_grad,
        );
    }
    PlaneGrads {
        magnitudes: magnitude_grad,
        reals: real_grad,
        recon: recon_grad,
        doubled: doubled_grad,
    }
}

/// Adds to the low-pass spectra's gradients what comes through the bands and their
/// phase-doubled copies.
fn add_bands_adjoint<T: Real>(
    plan: &TexturePlan,
    record: &Record<T>,
    planes: &PlaneGrads<T>,
    lows_grad: &mut [Plane<T>],
) {
    let o = plan.n_orientations;
    let conjugate_phase = plan.phase.conj();
    for (s, low_grad) in lows_grad.iter_mut().enumerate().take(plan.n_scales) {
        let size = plan.size(s);
        let cells = (size[0] * size[1]) as f64;
        for b in 0..o {
            let band = &record.bands[s][b];
            let mut centred = planes.magnitudes[s][b].clone();
            subtract_mean(&mut centred);
            let mut band_grad: Plane<T> = band
                .iter()
                .zip(&record.magnitudes[s][b])
                .zip(centred.iter().zip(&planes.reals[s][b]))
                .map(|((v, m), (g, r))| {
                    if *m == T::zero() {
                        Complex::new(*r, T::zero())
                    } else {
                        Complex::new(*g * v.re / *m + *r, *g * v.im / *m)
                    }
                })
                .collect();
            fft(&mut band_grad, size);
            let inv = T::narrow(1.0 / cells);
            band_grad.iter_mut().for_each(|v| *v = *v * inv);
            if s >= 1 {
                let (centred_grad, parts_grad) = &planes.doubled[s - 1];
                let up_grad = double_phase_adjoint(
                    &record.doubled[s - 1],
                    b,
                    o,
                    &centred_grad[b],
                    parts_grad,
                );
                let [map, transposed] = &plan.expand[s - 1];
                let mut up_grad = up_grad;
                fft(&mut up_grad, map.to);
                let back = apply_map(transposed, &up_grad, 0.25);
                band_grad
                    .iter_mut()
                    .zip(&back)
                    .for_each(|(g, v)| *g = *g + *v);
            }
            add_filtered(
                low_grad,
                &band_grad,
                &plan.scales[s].filters[b],
                conjugate_phase,
            );
        }
    }
}

/// Adds to the low-pass spectra's gradients what comes through the partial
/// reconstructions: each level's spectrum feeds every reconstruction from its scale down, so
/// a level's gradient is the running sum of theirs.
fn add_reconstructions_adjoint<T: Real>(
    plan: &TexturePlan,
    recon_grad: &[Buf<T>],
    lows_grad: &mut [Plane<T>],
) {
    let (n, full) = (plan.n_scales, plan.shape);
    let pixels = (full[0] * full[1]) as f64;
    let mut running = Buf::filled(Complex::new(T::zero(), T::zero()), full[0] * full[1]);
    let mut lowpass_grad = None;
    for k in 0..=n {
        let image_grad = &recon_grad[k];
        let size = plan.size(k);
        if k == 0 {
            let spectrum = fft_real(image_grad, size);
            let scale = T::narrow(1.0 / pixels);
            for ((r, g), m) in running.iter_mut().zip(&spectrum).zip(&plan.lo0mask) {
                *r = *r + *g * scale * T::narrow(*m);
            }
        } else {
            let [_, transposed] = &plan.shrink[k - 1];
            let factor = (1usize << k) as f64;
            let small = fft_real(image_grad, size);
            let half = T::narrow(0.5 * factor * factor);
            for &(dst, src, coef) in &transposed.entries {
                // `transposed` maps the small spectrum (src) onto the full one (dst).
                let value = small[src] * T::narrow(coef) * half;
                let negative = negated(dst, full);
                running[dst] = running[dst] + value * T::narrow(plan.lo0mask[dst]);
                running[negative] =
                    running[negative] + value.conj() * T::narrow(plan.lo0mask[negative]);
            }
        }
        let level_grad = carried_down(plan, running.clone(), k);
        if k < n {
            add_filtered(
                &mut lows_grad[k],
                &level_grad,
                &plan.scales[k].recon_gain,
                Complex::new(1.0, 0.0),
            );
        } else {
            lowpass_grad = Some(ifft_real(level_grad, size, 1.0));
        }
    }
    let mut lowpass_grad = lowpass_grad.expect("the low-pass level comes last");
    subtract_mean(&mut lowpass_grad);
    let coarsest = plan.size(n);
    let spectrum = fft_real(&lowpass_grad, coarsest);
    let scale = T::narrow(1.0 / (coarsest[0] * coarsest[1]) as f64);
    lows_grad[n]
        .iter_mut()
        .zip(&spectrum)
        .for_each(|(g, v)| *g = *g + *v * scale);
}

/// The adjoint of [`carried_up`]: from a full-size gradient down to scale `level`'s size.
fn carried_down<T: Real>(plan: &TexturePlan, mut grad: Plane<T>, level: usize) -> Plane<T> {
    for scale in &plan.scales[..level] {
        grad = crop(&grad, scale.size[1], &scale.rows, &scale.columns)
            .iter()
            .zip(&scale.lomask)
            .map(|(v, m)| {
                Complex::new(v.re.through_complex64(), v.im.through_complex64()) * T::narrow(*m)
            })
            .collect();
    }
    grad
}

/// The gradient of one orientation's up-sampled band `u` from those of `|u| − mean|u|` and
/// of the phase-doubled parts `u² / |u|` (zero where `u` is zero).
fn double_phase_adjoint<T: Real>(
    doubled: &Doubled<T>,
    b: usize,
    o: usize,
    centred_grad: &[T],
    parts_grad: &[Buf<T>],
) -> Plane<T> {
    let mut magnitude_grad = Buf::from_slice(centred_grad);
    subtract_mean(&mut magnitude_grad);
    let two = T::narrow(2.0);
    doubled.up[b]
        .iter()
        .zip(&doubled.magnitude[b])
        .zip(
            magnitude_grad
                .iter()
                .zip(&parts_grad[b])
                .zip(&parts_grad[o + b]),
        )
        .map(|((u, m), ((gm, gre), gim))| {
            if *m == T::zero() {
                return Complex::new(T::zero(), T::zero());
            }
            let (x, y) = (u.re, u.im);
            let m3 = *m * *m * *m;
            let difference = x * x - y * y;
            let product = two * x * y;
            let dx = *gm * x / *m
                + *gre * (two * x / *m - difference * x / m3)
                + *gim * (two * y / *m - product * x / m3);
            let dy = *gm * y / *m
                + *gre * (-two * y / *m - difference * y / m3)
                + *gim * (two * x / *m - product * y / m3);
            Complex::new(dx, dy)
        })
        .collect()
}

/// Adds the gradient of the pixel statistics (mean, unbiased variance, skew, kurtosis,
/// minimum, maximum); the minimum's and maximum's are shared among tied pixels, as torch's
/// `amin` and `amax` share them.
fn add_pixel_adjoint<T: Real>(out: &mut [T], x: &[T], pixel: &PixelMoments, grad: &[f64]) {
    let n = x.len() as f64;
    let v = pixel.variance;
    let [
        mean_grad,
        variance_grad,
        skew_grad,
        kurtosis_grad,
        min_grad,
        max_grad,
    ] = grad.try_into().expect("six pixel statistics");
    // d/dc of each statistic, with c = x − mean.
    let linear = 2.0 / (n - 1.0)
        * (variance_grad
            - 1.5 * skew_grad * pixel.third / v.powf(2.5)
            - 2.0 * kurtosis_grad * pixel.fourth / v.powi(3));
    let square = 3.0 * skew_grad / (n * v.powf(1.5));
    let cube = 4.0 * kurtosis_grad / (n * v * v);
    let centred: Buf<f64> = x
        .iter()
        .map(|value| {
            let c = value.wide() - pixel.mean;
            linear * c + square * c * c + cube * c * c * c
        })
        .collect();
    let shift = mean_grad / n - centred.iter().sum::<f64>() / n;
    let ties = |target: f64| x.iter().filter(|v| v.wide() == target).count() as f64;
    let (min_share, max_share) = (min_grad / ties(pixel.min), max_grad / ties(pixel.max));
    for ((o, c), value) in out.iter_mut().zip(&centred).zip(x) {
        let mut g = c + shift;
        if value.wide() == pixel.min {
            g += min_share;
        }
        if value.wide() == pixel.max {
            g += max_share;
        }
        *o = *o + T::narrow(g);
    }
}

// ---- the host round trip -----------------------------------------------------------------

/// The forward records of every plane, in the tensor's precision.
#[derive(Debug)]
pub(crate) enum Records {
    F32(Vec<Record<f32>>),
    F64(Vec<Record<f64>>),
}

/// The statistics `[planes, len]` of `x` (`[planes, height, width]`), and with `keep` what
/// their backward step needs.
pub(crate) fn host_statistics<B: Backend>(
    x: FloatTensor<B>,
    plan: &TexturePlan,
    keep: bool,
) -> (FloatTensor<B>, Option<Records>) {
    let [planes, h, w] = dims::<B, 3>(&x);
    let mut records = None;
    fn run<T: Real>(
        plan: &TexturePlan,
        values: &[T],
        plane: usize,
        keep: bool,
    ) -> (Vec<T>, Vec<Record<T>>) {
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
    }
    let out = on_host::<B, 2>(x, [planes, plan.len()], |values| match values {
        HostValues::F32(v) => {
            let (stats, kept) = run(plan, &v, h * w, keep);
            records = keep.then_some(Records::F32(kept));
            HostValues::F32(stats)
        }
        HostValues::F64(v) => {
            let (stats, kept) = run(plan, &v, h * w, keep);
            records = keep.then_some(Records::F64(kept));
            HostValues::F64(stats)
        }
    });
    (out, records)
}

/// The image gradient `[planes, height, width]` for the statistics' gradient `grad`.
pub(crate) fn host_statistics_grad<B: Backend>(
    grad: FloatTensor<B>,
    plan: &TexturePlan,
    records: &Records,
) -> FloatTensor<B> {
    let [planes, _] = dims::<B, 2>(&grad);
    let [h, w] = plan.shape;
    fn run<T: Real>(plan: &TexturePlan, records: &[Record<T>], grad: &[f64]) -> Vec<T> {
        let [h, w] = plan.shape;
        let mut out = Vec::with_capacity(records.len() * h * w);
        for (record, grad) in records.iter().zip(grad.chunks_exact(plan.len())) {
            out.extend_from_slice(&backward(plan, record, grad));
        }
        out
    }
    on_host::<B, 3>(grad, [planes, h, w], |values| {
        let grad: Vec<f64> = match values {
            HostValues::F32(v) => v.into_iter().map(f64::from).collect(),
            HostValues::F64(v) => v,
        };
        match records {
            Records::F32(r) => HostValues::F32(run(plan, r, &grad)),
            Records::F64(r) => HostValues::F64(run(plan, r, &grad)),
        }
    })
}
