//! The inner loops of the texture statistics: autocorrelation lags, their adjoint, and dot
//! products and linear combinations of planes, which take most of a texture iteration
//! outside the FFTs.
//!
//! Each loop is written with its lanes spelled out (`host/lanes.rs`), so the compiler
//! vectorises it and the summation order does not depend on the vector width. The
//! lag loops walk the plane row by row over all lags at once, so the few rows involved stay
//! in cache instead of whole planes streaming once per lag.

use crate::host::lanes::{Lanes, accumulate_lanes, assign_lanes, dispatch};

/// The rows `y − half ..= y + half` (circularly) of an `h × w` plane, each extended
/// circularly by `half < w` columns on both sides, for one row `y` at a time: each row is
/// padded once, into a few rows that stay in cache, where a padded copy of the whole plane
/// went through memory.
struct PaddedWindow<'a, T> {
    x: &'a [T],
    size: [usize; 2],
    half: usize,
    rows: Vec<T>,
    /// The slot of row `y − half`.
    first: usize,
    y: usize,
}

impl<'a, T: Lanes> PaddedWindow<'a, T> {
    /// The window around row 0.
    #[inline(always)]
    fn new(x: &'a [T], size: [usize; 2], half: usize) -> Self {
        let span = 2 * half + 1;
        let mut window = Self {
            x,
            size,
            half,
            rows: vec![T::from_f64(0.0); span * (size[1] + 2 * half)],
            first: 0,
            y: 0,
        };
        for slot in 0..span {
            window.pad(slot, slot as isize - half as isize);
        }
        window
    }

    #[inline(always)]
    fn pad(&mut self, slot: usize, row: isize) {
        let ([h, w], half) = (self.size, self.half);
        let source = &self.x[row.rem_euclid(h as isize) as usize * w..][..w];
        let padded = &mut self.rows[slot * (w + 2 * half)..][..w + 2 * half];
        padded[..half].copy_from_slice(&source[w - half..]);
        padded[half..half + w].copy_from_slice(source);
        padded[half + w..].copy_from_slice(&source[..half]);
    }

    /// Moves the window on to the next row.
    #[inline(always)]
    fn advance(&mut self) {
        let slot = self.first;
        self.first = (self.first + 1) % (2 * self.half + 1);
        self.y += 1;
        self.pad(slot, (self.y + self.half) as isize);
    }

    /// The `w` values of row `y + dy` from column `dx` on, circularly (`|dy|, |dx| ≤ half`).
    #[inline(always)]
    fn shifted(&self, dy: isize, dx: isize) -> &[T] {
        let (w, half) = (self.size[1], self.half as isize);
        let slot = (self.first + (half + dy) as usize) % (2 * self.half + 1);
        &self.rows[slot * (w + 2 * self.half) + (half + dx) as usize..][..w]
    }
}

/// `Σ_z x(z) · x(z + d)` (circular) for each lag `d = (dy, dx)`, `|dy|, |dx| ≤ half`.
#[inline(always)]
fn lag_sums_body<T: Lanes>(
    x: &[T],
    [h, w]: [usize; 2],
    half: usize,
    lags: &[(isize, isize)],
) -> Vec<f64> {
    let mut window = PaddedWindow::new(x, [h, w], half);
    let mut sums = vec![0.0; lags.len()];
    for (y, row) in x.chunks_exact(w).enumerate() {
        if y > 0 {
            window.advance();
        }
        for ((dy, dx), sum) in lags.iter().zip(sums.iter_mut()) {
            *sum += T::dot_lanes(row, window.shifted(*dy, *dx));
        }
    }
    sums
}

/// `out(z) += Σ weight · x(z + d)` over the taps `(dy, dx, weight)`, `|dy|, |dx| ≤ half`.
#[inline(always)]
fn correlate_taps_body<T: Lanes>(
    out: &mut [T],
    x: &[T],
    [h, w]: [usize; 2],
    half: usize,
    taps: &[(isize, isize, f64)],
) {
    let mut window = PaddedWindow::new(x, [h, w], half);
    let weights: Vec<T> = taps.iter().map(|(_, _, g)| T::from_f64(*g)).collect();
    for (y, row) in out.chunks_exact_mut(w).enumerate() {
        if y > 0 {
            window.advance();
        }
        let terms: Vec<(T, &[T])> = taps
            .iter()
            .zip(&weights)
            .map(|((dy, dx, _), weight)| (*weight, window.shifted(*dy, *dx)))
            .collect();
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

/// Values per step of [`dots`] (whole blocks of either precision's dot products).
const DOT_STRETCH: usize = 8192;

/// `Σ a·b` of each pair, each the sum [`dot`] gives alone, a stretch of every pair at a
/// time on each of rayon's threads: a plane in many pairs is read from memory once per
/// thread, not once per pair (the texture statistics' correlations had read some 37 MB per
/// iteration at 256×256).
pub(crate) fn dots<T: Lanes>(pairs: &[(&[T], &[T])]) -> Vec<f64> {
    use rayon::prelude::*;
    // Consecutive pairs in groups of about equal length, one per thread.
    let total: usize = pairs.iter().map(|(a, _)| a.len()).sum();
    let share = total.div_ceil(rayon::current_num_threads()).max(1);
    let mut groups = Vec::new();
    let (mut start, mut length) = (0, 0);
    for (i, (a, _)) in pairs.iter().enumerate() {
        length += a.len();
        if length >= share || i + 1 == pairs.len() {
            groups.push(&pairs[start..=i]);
            (start, length) = (i + 1, 0);
        }
    }
    groups
        .into_par_iter()
        .map(stretched_dots)
        .collect::<Vec<_>>()
        .concat()
}

#[inline(always)]
fn stretched_dots_body<T: Lanes>(pairs: &[(&[T], &[T])]) -> Vec<f64> {
    let whole = |a: &[T]| a.len() - a.len() % T::BLOCK;
    let mut wide = vec![[0.0; 8]; pairs.len()];
    let longest = pairs.iter().map(|(a, _)| whole(a)).max().unwrap_or(0);
    for start in (0..longest).step_by(DOT_STRETCH) {
        for ((a, b), wide) in pairs.iter().zip(&mut wide) {
            let end = (start + DOT_STRETCH).min(whole(a));
            if start < end {
                T::dot_blocks(&a[start..end], &b[start..end], wide);
            }
        }
    }
    pairs
        .iter()
        .zip(&wide)
        .map(|((a, b), wide)| T::dot_finish(wide, &a[whole(a)..], &b[whole(a)..]))
        .collect()
}

dispatch!(dot, dot_avx2, (a: &[T], b: &[T]) -> f64, T::dot_lanes(a, b));
dispatch!(
    stretched_dots,
    stretched_dots_avx2,
    (pairs: &[(&[T], &[T])]) -> Vec<f64>,
    stretched_dots_body(pairs)
);
dispatch!(
    lag_sums,
    lag_sums_avx2,
    (x: &[T], size: [usize; 2], half: usize, lags: &[(isize, isize)]) -> Vec<f64>,
    lag_sums_body(x, size, half, lags)
);
dispatch!(
    correlate_taps,
    correlate_taps_avx2,
    (out: &mut [T], x: &[T], size: [usize; 2], half: usize, taps: &[(isize, isize, f64)]) -> (),
    correlate_taps_body(out, x, size, half, taps)
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

    /// Pairs of different lengths, longer and shorter than a stretch, sharing planes: each
    /// product is the one [`dot`] gives alone.
    #[test]
    fn stretched_dots_equal_single_ones() {
        let planes: Vec<Vec<f32>> = [2 * DOT_STRETCH + 70, 2 * DOT_STRETCH + 70, 130, 130, 5]
            .iter()
            .enumerate()
            .map(|(k, len)| {
                (0..*len)
                    .map(|i| ((i * (k + 3)) as f32 * 0.13).sin())
                    .collect()
            })
            .collect();
        let pairs: Vec<(&[f32], &[f32])> = [(0, 1), (2, 3), (1, 1), (4, 4), (3, 2)]
            .iter()
            .map(|&(i, j)| (&planes[i][..], &planes[j][..]))
            .collect();
        let products = dots(&pairs);
        assert_eq!(products.len(), pairs.len());
        for ((a, b), product) in pairs.iter().zip(products) {
            assert_eq!(product, dot(a, b));
        }
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
        let lags = [(0, 0), (1, -2), (-2, 2), (-2, -1), (2, 1), (2, 2), (-1, 0)];
        let sums = lag_sums(&x, [h, w], 2, &lags);
        for ((dy, dx), sum) in lags.iter().zip(&sums) {
            let expected: f64 = (0..h as isize)
                .flat_map(|y| (0..w as isize).map(move |c| (y, c)))
                .map(|(y, c)| at(y, c) * at(y + dy, c + dx))
                .sum();
            assert_eq!(*sum, expected, "lag ({dy}, {dx})");
        }
        let taps = [(1, -2, 0.5), (-1, 1, 2.0)];
        let mut out = vec![0.0; h * w];
        correlate_taps(&mut out, &x, [h, w], 2, &taps);
        for (i, value) in out.iter().enumerate() {
            let (y, c) = ((i / w) as isize, (i % w) as isize);
            let expected: f64 = taps.iter().map(|(dy, dx, g)| g * at(y + dy, c + dx)).sum();
            assert_eq!(*value, expected);
        }
    }
}
