//! Inner loops written with their lanes spelled out, so the compiler vectorises them and the
//! summation order does not depend on the vector width; on x86-64 processors with AVX2
//! (detected at run time, [`dispatch`]) the same loops run compiled for it, with identical
//! results.

/// Sums of float32 products: eight float32 lanes over blocks of 64 elements, each block
/// folded into float64 lanes, so long planes keep float64 accuracy at float32 speed.
/// `a` and `b` are whole blocks; `wide` carries the float64 lanes from one call to the next.
#[inline(always)]
fn dot_f32_blocks(a: &[f32], b: &[f32], wide: &mut [f64; 8]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { dot_f32_blocks_avx2(a, b, wide) };
    }
    for (block_a, block_b) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
        let mut lanes = [0.0f32; 8];
        for (x, y) in block_a.chunks_exact(8).zip(block_b.chunks_exact(8)) {
            for i in 0..8 {
                lanes[i] += x[i] * y[i];
            }
        }
        for i in 0..8 {
            wide[i] += f64::from(lanes[i]);
        }
    }
}

/// [`dot_f32_blocks`] in AVX2 registers, each operation the same: left to itself the
/// compiler kept the eight float32 lanes in two halves, to widen them, and ran every
/// product and sum twice.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn dot_f32_blocks_avx2(a: &[f32], b: &[f32], wide: &mut [f64; 8]) {
    use std::arch::x86_64::*;
    // SAFETY: `wide` holds eight values.
    let (mut low, mut high) = unsafe {
        (
            _mm256_loadu_pd(wide.as_ptr()),
            _mm256_loadu_pd(wide.as_ptr().add(4)),
        )
    };
    for (block_a, block_b) in a.chunks_exact(64).zip(b.chunks_exact(64)) {
        let mut lanes = _mm256_setzero_ps();
        for (x, y) in block_a.chunks_exact(8).zip(block_b.chunks_exact(8)) {
            // SAFETY: each chunk holds eight values.
            let (x, y) = unsafe { (_mm256_loadu_ps(x.as_ptr()), _mm256_loadu_ps(y.as_ptr())) };
            lanes = _mm256_add_ps(lanes, _mm256_mul_ps(x, y));
        }
        low = _mm256_add_pd(low, _mm256_cvtps_pd(_mm256_castps256_ps128(lanes)));
        high = _mm256_add_pd(high, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(lanes)));
    }
    // SAFETY: `wide` holds eight values.
    unsafe {
        _mm256_storeu_pd(wide.as_mut_ptr(), low);
        _mm256_storeu_pd(wide.as_mut_ptr().add(4), high);
    }
}

/// Float64 products in eight lanes; `a` and `b` are whole blocks of eight.
#[inline(always)]
fn dot_f64_blocks(a: &[f64], b: &[f64], lanes: &mut [f64; 8]) {
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
}

/// `y += Σ c·x[offset..]` over `terms` (each `x` reaching `offset + y.len()`), added in their
/// order, as one `y += c·x` pass per term would add them. A block of `y` stays in registers
/// across the terms: a term costs one load per value, not also a load and a store of `y`.
/// Blocks of eight vector registers (64 float32 or 32 float64 values) keep eight additions
/// in flight: with four, each term waited on the previous term's additions.
#[inline(always)]
pub(crate) fn accumulate_lanes<T: Lanes>(y: &mut [T], terms: &[(T, &[T])], offset: usize) {
    combine_lanes::<T, true>(y, terms, offset);
}

/// [`accumulate_lanes`] on a `y` of zeros, without reading `y`: it need not be cleared first.
#[inline(always)]
pub(crate) fn assign_lanes<T: Lanes>(y: &mut [T], terms: &[(T, &[T])], offset: usize) {
    combine_lanes::<T, false>(y, terms, offset);
}

#[inline(always)]
fn combine_lanes<T: Lanes, const ADD: bool>(y: &mut [T], terms: &[(T, &[T])], offset: usize) {
    let done = if size_of::<T>() == 4 {
        combine_blocks::<T, 64, ADD>(y, terms, offset)
    } else {
        combine_blocks::<T, 32, ADD>(y, terms, offset)
    };
    let tail = &mut y[done..];
    if !ADD {
        tail.fill(T::from_f64(0.0));
    }
    for (c, x) in terms {
        for (y, x) in tail.iter_mut().zip(&x[offset + done..]) {
            *y = *y + *c * *x;
        }
    }
}

/// [`combine_lanes`] over the whole blocks of `N` values of `y`; returns where they end.
#[inline(always)]
fn combine_blocks<T: Lanes, const N: usize, const ADD: bool>(
    y: &mut [T],
    terms: &[(T, &[T])],
    offset: usize,
) -> usize {
    let whole = y.len() - y.len() % N;
    for (b, block) in y[..whole].chunks_exact_mut(N).enumerate() {
        let at = offset + b * N;
        let mut sums = [T::from_f64(0.0); N];
        if ADD {
            sums.copy_from_slice(block);
        }
        for (c, x) in terms {
            for (sum, x) in sums.iter_mut().zip(&x[at..at + N]) {
                *sum = *sum + *c * *x;
            }
        }
        block.copy_from_slice(&sums);
    }
    whole
}

/// The two precisions' inner loops, for the kernels below to inline.
pub(crate) trait Lanes:
    Copy + Send + Sync + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self>
{
    /// The values per block of [`Lanes::dot_blocks`].
    const BLOCK: usize;
    /// The running float64 lanes of `Σ a·b` over whole blocks of `a` and `b`, carried in
    /// `wide` from one call to the next.
    fn dot_blocks(a: &[Self], b: &[Self], wide: &mut [f64; 8]);
    /// `Σ a·b`, in float64.
    #[inline(always)]
    fn dot_lanes(a: &[Self], b: &[Self]) -> f64 {
        let whole = a.len() - a.len() % Self::BLOCK;
        let mut wide = [0.0; 8];
        Self::dot_blocks(&a[..whole], &b[..whole], &mut wide);
        Self::dot_finish(&wide, &a[whole..], &b[whole..])
    }
    /// The sum of [`Lanes::dot_blocks`]' lanes and the products of the values after the
    /// last whole block.
    #[inline(always)]
    fn dot_finish(wide: &[f64; 8], a: &[Self], b: &[Self]) -> f64 {
        let tail: f64 = a
            .iter()
            .zip(b)
            .map(|(x, y)| Self::to_f64(*x) * Self::to_f64(*y))
            .sum();
        wide.iter().sum::<f64>() + tail
    }
    /// The value in float64.
    fn to_f64(self) -> f64;
    /// The nearest value of this precision.
    fn from_f64(value: f64) -> Self;
}

impl Lanes for f32 {
    const BLOCK: usize = 64;
    #[inline(always)]
    fn dot_blocks(a: &[f32], b: &[f32], wide: &mut [f64; 8]) {
        dot_f32_blocks(a, b, wide)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Lanes for f64 {
    const BLOCK: usize = 8;
    #[inline(always)]
    fn dot_blocks(a: &[f64], b: &[f64], wide: &mut [f64; 8]) {
        dot_f64_blocks(a, b, wide)
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }
}

/// Runs `$body` compiled for AVX2 when the processor has it, and as it is otherwise.
macro_rules! dispatch {
    ($name:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) -> $out:ty, $body:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2<T: $crate::host::lanes::Lanes>($($arg: $ty),*) -> $out {
            $body
        }

        pub(crate) fn $name<T: $crate::host::lanes::Lanes>($($arg: $ty),*) -> $out {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2, checked just above.
                return unsafe { $avx2::<T>($($arg),*) };
            }
            $body
        }
    };
}

pub(crate) use dispatch;
