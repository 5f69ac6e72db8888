//! The inner loops of the texture statistics: autocorrelation lags, their adjoint, and dot
//! products and linear combinations of planes, which take most of a texture iteration
//! outside the FFTs.
//!
//! Each loop is written with its lanes spelled out (`host/lanes.rs`), so the compiler
//! vectorises it and the summation order does not depend on the vector width. The
//! lag loops walk the plane row by row over all lags at once, so the few rows involved stay
//! in cache instead of whole planes streaming once per lag.

use crate::host::lanes::{Lanes, accumulate_lanes, assign_lanes, dispatch};
use crate::host::{Buf, Pooled};

/// `x` (rows of `w`) with each row extended circularly by `half < w` columns on both sides.
pub(crate) fn pad_rows<T: Pooled>(x: &[T], w: usize, half: usize) -> Buf<T> {
    let mut padded = Buf::with_capacity(x.len() / w * (w + 2 * half));
    for row in x.chunks_exact(w) {
        padded.extend_from_slice(&row[w - half..]);
        padded.extend_from_slice(row);
        padded.extend_from_slice(&row[..half]);
    }
    padded
}

/// `Σ_z x(z) · x(z + d)` (circular) for each lag `d = (dy, dx)`, `|dx| ≤ half`; `padded` is
/// [`pad_rows`] of `x`.
#[inline(always)]
fn lag_sums_body<T: Lanes>(
    x: &[T],
    padded: &[T],
    [h, w]: [usize; 2],
    half: usize,
    lags: &[(isize, isize)],
) -> Vec<f64> {
    let stride = w + 2 * half;
    let mut sums = vec![0.0; lags.len()];
    for (y, row) in x.chunks_exact(w).enumerate() {
        for ((dy, dx), sum) in lags.iter().zip(sums.iter_mut()) {
            let other = (y as isize + dy).rem_euclid(h as isize) as usize;
            let start = other * stride + (half as isize + dx) as usize;
            *sum += T::dot_lanes(row, &padded[start..start + w]);
        }
    }
    sums
}

/// `out(z) += Σ weight · x(z + d)` over the taps `(dy, dx, weight)`, `|dx| ≤ half`;
/// `padded` is [`pad_rows`] of `x`.
#[inline(always)]
fn correlate_taps_body<T: Lanes>(
    out: &mut [T],
    padded: &[T],
    [h, w]: [usize; 2],
    half: usize,
    taps: &[(isize, isize, f64)],
) {
    let stride = w + 2 * half;
    let mut terms = Vec::with_capacity(taps.len());
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        terms.clear();
        terms.extend(taps.iter().map(|(dy, dx, weight)| {
            let other = (y as isize + dy).rem_euclid(h as isize) as usize;
            let start = other * stride + (half as isize + dx) as usize;
            (T::from_f64(*weight), &padded[start..start + w])
        }));
        accumulate_lanes(row, &terms, 0);
    }
}

/// One output of [`combine_all`]: `out = Σ c·x` over `terms`, added in their order to zero
/// (`out`'s values are not read).
pub(crate) struct Combination<'a, T> {
    pub(crate) out: &'a mut [T],
    pub(crate) terms: Vec<(f64, &'a [T])>,
}

/// Values of each output per step of [`combine_all`]: the stretches of a scale's inputs
/// (twenty planes at most) stay in cache while every output that uses them reads them.
const STRETCH: usize = 1024;

/// A stretch of one output, with that output's terms and the stretch's first index.
type Stretch<'a, T> = (&'a mut [T], &'a [(T, &'a [T])], usize);

/// Every combination at once, a stretch of all outputs at a time on rayon's threads. Done
/// one output at a time, each input plane was read from memory once per output using it;
/// each output's sum is the same either way.
pub(crate) fn combine_all<T: Lanes>(combinations: Vec<Combination<'_, T>>) {
    use rayon::prelude::*;
    // Each output's terms in its precision, zero ones left out, once for all its stretches.
    let mut prepared: Vec<_> = combinations
        .into_iter()
        .map(|Combination { out, terms }| {
            let terms: Vec<(T, &[T])> = terms
                .into_iter()
                .filter(|(c, _)| *c != 0.0)
                .map(|(c, x)| (T::from_f64(c), x))
                .collect();
            (out, terms)
        })
        .collect();
    let mut steps: Vec<Vec<Stretch<'_, T>>> = Vec::new();
    for (out, terms) in prepared.iter_mut() {
        let terms = &terms[..];
        for (k, out) in out.chunks_mut(STRETCH).enumerate() {
            if steps.len() <= k {
                steps.push(Vec::new());
            }
            steps[k].push((out, terms, k * STRETCH));
        }
    }
    steps.into_par_iter().for_each(|step| {
        for (out, terms, start) in step {
            combine_stretch(out, terms, start);
        }
    });
}

dispatch!(dot, dot_avx2, (a: &[T], b: &[T]) -> f64, T::dot_lanes(a, b));
dispatch!(
    lag_sums,
    lag_sums_avx2,
    (x: &[T], padded: &[T], size: [usize; 2], half: usize, lags: &[(isize, isize)]) -> Vec<f64>,
    lag_sums_body(x, padded, size, half, lags)
);
dispatch!(
    correlate_taps,
    correlate_taps_avx2,
    (out: &mut [T], padded: &[T], size: [usize; 2], half: usize, taps: &[(isize, isize, f64)]) -> (),
    correlate_taps_body(out, padded, size, half, taps)
);
// `out = Σ c·x[start..]` over the terms.
dispatch!(
    combine_stretch,
    combine_stretch_avx2,
    (out: &mut [T], terms: &[(T, &[T])], start: usize) -> (),
    assign_lanes(out, terms, start)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_products_keep_float64_accuracy() {
        let a: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.37).sin()).collect();
        let b: Vec<f32> = (0..1000).map(|i| ((i as f32) * 0.11).cos()).collect();
        let exact: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let scale: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(x * y).abs()).sum();
        // Only the float32 products round: no error grows with the length.
        assert!((dot(&a, &b) - exact).abs() < 1e-7 * scale);
        assert_eq!(dot(&a, &b), f32::dot_lanes(&a, &b));
        let (a64, b64): (Vec<f64>, Vec<f64>) = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (f64::from(*x), f64::from(*y)))
            .unzip();
        assert!((dot(&a64, &b64) - exact).abs() < 1e-12);
    }

    /// Outputs longer than a stretch, of different lengths, sharing inputs: each is the sum
    /// of its own terms, whatever it held before (one with no terms left is zero).
    #[test]
    fn combinations_sum_their_own_terms() {
        let long = 2 * STRETCH + 5;
        let a: Vec<f32> = (0..long).map(|i| (i % 13) as f32 - 6.0).collect();
        let b: Vec<f32> = (0..long).map(|i| (i % 7) as f32 * 0.5).collect();
        let mut y = vec![f32::NAN; long];
        let mut z = vec![7.0f32; 3];
        let mut zero = vec![f32::NAN; 70];
        combine_all(vec![
            Combination {
                out: &mut y,
                terms: vec![(2.0, &a), (0.0, &b), (-1.0, &b)],
            },
            Combination {
                out: &mut z,
                terms: vec![(1.0, &b[..3]), (3.0, &a[..3])],
            },
            Combination {
                out: &mut zero,
                terms: vec![(0.0, &a[..70])],
            },
        ]);
        for i in 0..long {
            assert_eq!(y[i], 2.0 * a[i] - b[i], "at {i}");
        }
        assert_eq!(z, [-18.0, -14.5, -11.0]);
        assert_eq!(zero, vec![0.0; 70]);
    }

    /// The lag sums and tap correlations agree with their definitions on a small plane,
    /// lags reaching across the edges.
    #[test]
    fn lags_wrap_around_the_plane() {
        let [h, w] = [5, 6];
        let x: Vec<f64> = (0..h * w).map(|i| ((i * 7 % 11) as f64) - 5.0).collect();
        let at = |y: isize, c: isize| {
            x[y.rem_euclid(h as isize) as usize * w + c.rem_euclid(w as isize) as usize]
        };
        let padded = pad_rows(&x, w, 2);
        let lags = [(0, 0), (1, -2), (-2, 2), (4, 1)];
        let sums = lag_sums(&x, &padded, [h, w], 2, &lags);
        for ((dy, dx), sum) in lags.iter().zip(&sums) {
            let expected: f64 = (0..h as isize)
                .flat_map(|y| (0..w as isize).map(move |c| (y, c)))
                .map(|(y, c)| at(y, c) * at(y + dy, c + dx))
                .sum();
            assert_eq!(*sum, expected, "lag ({dy}, {dx})");
        }
        let taps = [(1, -2, 0.5), (-1, 1, 2.0)];
        let mut out = vec![0.0; h * w];
        correlate_taps(&mut out, &padded, [h, w], 2, &taps);
        for (i, value) in out.iter().enumerate() {
            let (y, c) = ((i / w) as isize, (i % w) as isize);
            let expected: f64 = taps.iter().map(|(dy, dx, g)| g * at(y + dy, c + dx)).sum();
            assert_eq!(*value, expected);
        }
    }
}
