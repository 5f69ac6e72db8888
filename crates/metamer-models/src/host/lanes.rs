//! Inner loops written with their lanes spelled out, so the compiler vectorises them and the
//! summation order does not depend on the vector width; on x86-64 processors with AVX2
//! (detected at run time, [`dispatch`]) the same loops run compiled for it, with identical
//! results.

/// Sums of float32 products: eight float32 lanes over blocks of 64 elements, each block
/// folded into float64 lanes, so long planes keep float64 accuracy at float32 speed.
#[inline(always)]
fn dot_f32_lanes(a: &[f32], b: &[f32]) -> f64 {
    const BLOCK: usize = 64;
    let mut wide = [0.0f64; 8];
    let (blocks_a, blocks_b) = (a.chunks_exact(BLOCK), b.chunks_exact(BLOCK));
    let (tail_a, tail_b) = (blocks_a.remainder(), blocks_b.remainder());
    for (block_a, block_b) in blocks_a.zip(blocks_b) {
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
    let tail: f64 = tail_a
        .iter()
        .zip(tail_b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    wide.iter().sum::<f64>() + tail
}

#[inline(always)]
fn dot_f64_lanes(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f64>() + tail
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
    /// `Σ a·b`, in float64.
    fn dot_lanes(a: &[Self], b: &[Self]) -> f64;
    /// The nearest value of this precision.
    fn from_f64(value: f64) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn dot_lanes(a: &[f32], b: &[f32]) -> f64 {
        dot_f32_lanes(a, b)
    }
    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Lanes for f64 {
    #[inline(always)]
    fn dot_lanes(a: &[f64], b: &[f64]) -> f64 {
        dot_f64_lanes(a, b)
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
