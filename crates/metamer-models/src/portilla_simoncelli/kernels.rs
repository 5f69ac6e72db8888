//! The inner loops of the texture statistics: dot products and scaled additions over long
//! planes, which take most of a texture iteration outside the FFTs.
//!
//! Each loop is written with its lanes spelled out, so the compiler vectorises it and the
//! summation order does not depend on the vector width; on x86-64 processors with AVX2
//! (detected at run time) the same loops run compiled for it, with identical results.

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

/// `y += alpha · x`, element by element.
#[inline(always)]
fn axpy_lanes<T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>>(
    y: &mut [T],
    alpha: T,
    x: &[T],
) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = *y + alpha * *x;
    }
}

/// Runs `$body` compiled for AVX2 when the processor has it, and as it is otherwise.
macro_rules! dispatch {
    ($name:ident, $avx2:ident, ($($arg:ident: $ty:ty),*) -> $out:ty, $body:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2($($arg: $ty),*) -> $out {
            $body
        }

        pub(crate) fn $name($($arg: $ty),*) -> $out {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2, checked just above.
                return unsafe { $avx2($($arg),*) };
            }
            $body
        }
    };
}

dispatch!(dot_f32, dot_f32_avx2, (a: &[f32], b: &[f32]) -> f64, dot_f32_lanes(a, b));
dispatch!(dot_f64, dot_f64_avx2, (a: &[f64], b: &[f64]) -> f64, dot_f64_lanes(a, b));
dispatch!(axpy_f32, axpy_f32_avx2, (y: &mut [f32], alpha: f32, x: &[f32]) -> (), axpy_lanes(y, alpha, x));
dispatch!(axpy_f64, axpy_f64_avx2, (y: &mut [f64], alpha: f64, x: &[f64]) -> (), axpy_lanes(y, alpha, x));

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
        assert!((dot_f32(&a, &b) - exact).abs() < 1e-7 * scale);
        assert_eq!(dot_f32(&a, &b), dot_f32_lanes(&a, &b));
        let (a64, b64): (Vec<f64>, Vec<f64>) = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (f64::from(*x), f64::from(*y)))
            .unzip();
        assert!((dot_f64(&a64, &b64) - exact).abs() < 1e-12);
        let mut y = vec![1.0f32; 3];
        axpy_f32(&mut y, 2.0, &[1.0, 2.0, 3.0]);
        assert_eq!(y, [3.0, 5.0, 7.0]);
    }
}
