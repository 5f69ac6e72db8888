//! The inner loops of the texture statistics: autocorrelation lags, their adjoint, and dot
//! products and linear combinations of planes, which take most of a texture iteration
//! outside the FFTs.
//!
//! Each loop is written with its lanes spelled out (`host/lanes.rs`), so the compiler
//! vectorises it and the summation order does not depend on the vector width. The
//! lag loops walk the plane row by row over all lags at once, so the few rows involved stay
//! in cache instead of whole planes streaming once per lag.

use crate::host::lanes::{Lanes, axpy_lanes, dispatch};
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
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        for (dy, dx, weight) in taps {
            let other = (y as isize + dy).rem_euclid(h as isize) as usize;
            let start = other * stride + (half as isize + dx) as usize;
            axpy_lanes(row, T::from_f64(*weight), &padded[start..start + w]);
        }
    }
}

/// `out += Σ c·x` over the terms, a cache-sized stretch of `out` at a time.
#[inline(always)]
fn combine_body<T: Lanes>(out: &mut [T], terms: &[(f64, &[T])]) {
    const STRETCH: usize = 1024;
    for start in (0..out.len()).step_by(STRETCH) {
        let end = (start + STRETCH).min(out.len());
        for (c, x) in terms {
            if *c != 0.0 {
                axpy_lanes(&mut out[start..end], T::from_f64(*c), &x[start..end]);
            }
        }
    }
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
dispatch!(
    combine,
    combine_avx2,
    (out: &mut [T], terms: &[(f64, &[T])]) -> (),
    combine_body(out, terms)
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
        let mut y = vec![1.0f32; 3];
        combine(&mut y, &[(2.0, &[1.0, 2.0, 3.0]), (1.0, &[0.5, 0.0, 0.0])]);
        assert_eq!(y, [3.5, 5.0, 7.0]);
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
