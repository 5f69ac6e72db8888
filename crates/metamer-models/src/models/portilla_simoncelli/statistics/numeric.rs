//! The sums, products and transforms the statistics and their adjoints are made of.

use rustfft::num_complex::Complex;

use super::*;

/// Values per rayon task in the full-size element-wise passes.
const CHUNK: usize = 1 << 14;

/// `work(start, stretch)` over consecutive stretches of `y` (`start` is the stretch's first
/// index), on rayon's threads when `y` is more than one stretch.
pub(super) fn by_stretches<X: Send>(y: &mut [X], work: impl Fn(usize, &mut [X]) + Sync) {
    by_chunks(y, CHUNK, y.len() > CHUNK, |c, y| work(c * CHUNK, y));
}

/// Correlations `cov(a_i, b_j) / sqrt(var a_i · var b_j)`, with the variances used.
#[derive(Debug)]
pub(super) struct Cross {
    pub(super) out: Vec<f64>,
    pub(super) a_variance: Vec<f64>,
    pub(super) b_variance: Vec<f64>,
}

pub(super) fn sum<T: Real>(a: &[T]) -> f64 {
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

pub(super) fn mean<T: Real>(a: &[T]) -> f64 {
    sum(a) / a.len() as f64
}

pub(super) fn subtract_mean<T: Real>(a: &mut [T]) {
    let m = T::narrow(mean(a));
    a.iter_mut().for_each(|v| *v = *v - m);
}

pub(super) fn dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    kernels::dot(a, b)
}

/// The unnormalised transform of a `size` plane, transposed (see [`TexturePlan`]); only the
/// `wanted` rows of the transposed spectrum when given (the others zero).
pub(super) fn fft<T: Real>(
    mut plane: Plane<T>,
    size: [usize; 2],
    wanted: Option<&[bool]>,
) -> Plane<T> {
    let mut spectrum = Buf::scratch(plane.len(), Complex::new(T::zero(), T::zero()));
    fft_transposed_rows(&mut plane, &mut spectrum, size, wanted);
    spectrum
}

/// The unnormalised inverse transform of a transposed spectrum, as a `size` plane.
pub(super) fn ifft<T: Real>(mut spectrum: Plane<T>, size: [usize; 2]) -> Plane<T> {
    let mut plane = Buf::scratch(spectrum.len(), Complex::new(T::zero(), T::zero()));
    ifft_transposed(&mut spectrum, &mut plane, size);
    plane
}

/// The unnormalised transform of a real plane, transposed.
pub(super) fn fft_real<T: Real>(x: &[T], size: [usize; 2]) -> Plane<T> {
    let mut spectrum = Buf::scratch(x.len(), Complex::new(T::zero(), T::zero()));
    fft_real_transposed(x, &mut spectrum, size);
    spectrum
}

/// `Re(ifft(x)) · scale` with the unnormalised inverse, of a transposed spectrum.
pub(super) fn ifft_real<T: Real>(x: Plane<T>, size: [usize; 2], scale: f64) -> Buf<T> {
    let mut plane = Buf::scratch(x.len(), T::zero());
    ifft_real_transposed(&x, &mut plane, size, T::narrow(scale));
    plane
}

pub(super) fn scaled<T: Real>(x: &[Complex<T>], mask: &[f64]) -> Plane<T> {
    x.iter()
        .zip(mask)
        .map(|(v, m)| *v * T::narrow(*m))
        .collect()
}

/// `x · mask · phase`, the mask times `scale` (a power of two, for a band's inverse
/// transform to come out scaled exactly as scaling it afterwards would).
pub(super) fn filtered<T: Real>(
    x: &[Complex<T>],
    mask: &[f64],
    phase: Complex<f64>,
    scale: f64,
) -> Plane<T> {
    let phase = Complex::new(T::narrow(phase.re), T::narrow(phase.im));
    x.iter()
        .zip(mask)
        .map(|(x, m)| *x * phase * T::narrow(m * scale))
        .collect()
}

/// `y += Σ x · mask · phase` over `terms` `(x, mask)`, each term added in turn as one
/// `y += x · mask · phase` would add it. Large planes split among rayon's threads: at
/// 512×512 the finest scale's sum over orientations had run on one thread.
pub(super) fn add_filtered<T: Real>(
    y: &mut [Complex<T>],
    terms: &[(&[Complex<T>], &[f64])],
    phase: Complex<f64>,
) {
    let phase = Complex::new(T::narrow(phase.re), T::narrow(phase.im));
    by_stretches(y, |start, y| {
        for (x, mask) in terms {
            let stretch = start..start + y.len();
            for ((y, x), m) in y.iter_mut().zip(&x[stretch.clone()]).zip(&mask[stretch]) {
                *y = *y + *x * phase * T::narrow(*m);
            }
        }
    });
}

/// The values of `x` at the kept rows and columns, row by row (of known length, so [`Buf`]
/// collects them into a recycled buffer).
pub(super) fn cropped<'a, T: Real>(
    x: &'a [Complex<T>],
    crop: &'a Crop,
) -> impl ExactSizeIterator<Item = Complex<T>> + 'a {
    let Crop {
        width,
        rows,
        columns,
    } = crop;
    let kept_width = columns.len();
    (0..rows.len() * kept_width)
        .map(move |i| x[rows[i / kept_width] * width + columns[i % kept_width]])
}

/// The adjoint of [`cropped`]: adds `x` at the kept rows and columns of `y`.
pub(super) fn add_uncropped<T: Real>(y: &mut [Complex<T>], crop: &Crop, x: &[Complex<T>]) {
    let kept_width = crop.columns.len();
    for (i, r) in crop.rows.iter().enumerate() {
        for (j, c) in crop.columns.iter().enumerate() {
            let at = r * crop.width + c;
            y[at] = y[at] + x[i * kept_width + j];
        }
    }
}

/// `to[dst] += coef · from[src]` over the map's entries.
pub(super) fn apply_map<T: Real>(map: &SpectralMap, from: &[Complex<T>], scale: f64) -> Plane<T> {
    let [h, w] = map.to;
    let mut to = Buf::filled(Complex::new(T::zero(), T::zero()), h * w);
    for &(dst, src, coef) in &map.entries {
        to[dst] = to[dst] + from[src] * T::narrow(coef * scale);
    }
    to
}

/// Index of frequency `−k` in a row-major `h × w` spectrum (a transposed spectrum's `h` and
/// `w` are its plane's width and height).
pub(super) fn negated(index: usize, [h, w]: [usize; 2]) -> usize {
    let (r, c) = (index / w, index % w);
    ((h - r) % h) * w + (w - c) % w
}

/// `(1/N) Σ_z x(z) · x(z + d)` (circular) at the `width × width` lags around zero, lag
/// `−width/2` first: plenoptic's cropped autocorrelation. The symmetry `d ↔ −d` halves the
/// sums.
pub(super) fn autocorrelation<T: Real>(x: &[T], [h, w]: [usize; 2], width: usize) -> Vec<f64> {
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
    let mut sums = kernels::lag_sums(x, [h, w], half, &lags).into_iter();
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
pub(super) fn add_autocorrelation_adjoint<T: Real>(
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
    kernels::correlate_taps(out, x, [h, w], half, &taps);
}

/// Normalised lags `ac / ac(0)`.
pub(super) fn normalised(lags: &[f64], width: usize) -> impl Iterator<Item = f64> + '_ {
    let centre = lags[(width / 2) * width + width / 2];
    lags.iter().map(move |v| v / centre)
}

/// The adjoint of [`normalised`], plus a gradient on the centre (the variance) itself.
pub(super) fn normalised_adjoint(
    lags: &[f64],
    width: usize,
    grad: &[f64],
    variance_grad: f64,
) -> Vec<f64> {
    let at = (width / 2) * width + width / 2;
    let centre = lags[at];
    let mut out: Vec<f64> = grad.iter().map(|g| g / centre).collect();
    let through_centre: f64 = grad.iter().zip(lags).map(|(g, v)| g * v).sum::<f64>();
    out[at] += variance_grad - through_centre / (centre * centre);
    out
}

/// A correlation matrix to compute: between planes `a` and `b`, with `a`'s variances when
/// they are known.
pub(super) struct CrossPlanes<'a, T> {
    pub(super) a: Vec<&'a [T]>,
    pub(super) b: Vec<&'a [T]>,
    pub(super) a_variance: Option<Vec<f64>>,
}

/// The correlation matrices, all their dot products taken in one pass
/// ([`kernels::dots`]). With `b` the very planes of `a` (the cross-orientation
/// correlations) a matrix is symmetric and each product is summed once.
pub(super) fn crosses<T: Real>(requests: Vec<CrossPlanes<'_, T>>) -> Vec<Cross> {
    struct Layout {
        pairs: Vec<(usize, usize)>,
        symmetric: bool,
    }
    let mut products: Vec<(&[T], &[T])> = Vec::new();
    let layouts: Vec<Layout> = requests
        .iter()
        .map(|CrossPlanes { a, b, a_variance }| {
            let symmetric =
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y));
            if a_variance.is_none() {
                products.extend(a.iter().map(|a| (*a, *a)));
            }
            products.extend(b.iter().map(|b| (*b, *b)));
            // A symmetric matrix's lower triangle is copied from its upper one below.
            let pairs: Vec<(usize, usize)> = (0..a.len())
                .flat_map(|i| (0..b.len()).map(move |j| (i, j)))
                .filter(|&(i, j)| !(symmetric && j < i))
                .collect();
            products.extend(pairs.iter().map(|&(i, j)| (a[i], b[j])));
            Layout { pairs, symmetric }
        })
        .collect();
    let mut values = kernels::dots(&products).into_iter();
    requests
        .into_iter()
        .zip(layouts)
        .map(|(CrossPlanes { a, b, a_variance }, layout)| {
            let n = a[0].len() as f64;
            let mut next = || values.next().expect("a product per pair") / n;
            let a_variance = a_variance.unwrap_or_else(|| a.iter().map(|_| next()).collect());
            let b_variance: Vec<f64> = b.iter().map(|_| next()).collect();
            let columns = b.len();
            let mut covariance = vec![0.0; a.len() * columns];
            for &(i, j) in &layout.pairs {
                covariance[i * columns + j] = next();
            }
            if layout.symmetric {
                for i in 0..a.len() {
                    for j in 0..i {
                        covariance[i * columns + j] = covariance[j * columns + i];
                    }
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
        })
        .collect()
}

/// The adjoint of a [`Cross`] as coefficients: `∂a_i = Σ_j on_a[i][j]·b_j + a_self[i]·a_i`
/// and `∂b_j = Σ_i on_b[j][i]·a_i + b_self[j]·b_j`, and the gradient of given `a`
/// variances (computed ones are differentiated through `a`, in `a_self`).
pub(super) struct CrossAdjoint {
    pub(super) on_a: Vec<Vec<f64>>,
    pub(super) a_self: Vec<f64>,
    pub(super) on_b: Vec<Vec<f64>>,
    pub(super) b_self: Vec<f64>,
    pub(super) a_variance_grad: Vec<f64>,
}

pub(super) fn cross_adjoint(
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
pub(super) fn third_and_fourth<T: Real>(x: &[T]) -> [f64; 2] {
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

pub(super) fn gather<T: Real>(planes: &[Buf<T>]) -> Vec<&[T]> {
    planes.iter().map(|p| &p[..]).collect()
}
