//! "Same"-size correlation with fixed weights, as plain loops on the host.
//!
//! For kernels of a few taps, im2col (what Burn's `conv2d` does on CPUs) spends far more time
//! arranging data than multiplying; a padded plane and one multiply-add per tap and pixel is
//! several times faster than torch's convolution. Weights are fixed (a metamer's frozen
//! model), so the backward step needs only the input gradient.

use std::sync::Arc;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};
use rustfft::FftNum;

use crate::HostBackend;
use crate::host::{HostValues, dims, host_f64, on_host};
use crate::padding::{Padding, padded_source, same_padding_amounts};

/// Weights `[out, in, kh, kw]` and the padding that keeps the image size.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedCorrelation {
    weights: Vec<f64>,
    shape: [usize; 4],
    pad_mode: Padding,
}

impl FixedCorrelation {
    /// # Panics
    /// When `weights` does not hold `shape`'s element count.
    pub fn new(weights: Vec<f64>, shape: [usize; 4], pad_mode: Padding) -> Self {
        assert_eq!(
            weights.len(),
            shape.iter().product::<usize>(),
            "weights must fill {shape:?}"
        );
        Self {
            weights,
            shape,
            pad_mode,
        }
    }

    /// `[batch, out, h, w]` from `[batch, in, h, w]`, on the host.
    pub(crate) fn apply_on_host<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        let [batch, _, h, w] = dims::<B, 4>(&x);
        on_host::<B, 4>(x, [batch, self.shape[0], h, w], |values| match values {
            HostValues::F32(v) => HostValues::F32(self.forward(&v, batch, [h, w])),
            HostValues::F64(v) => HostValues::F64(self.forward(&v, batch, [h, w])),
        })
    }

    /// The input gradient `[batch, in, h, w]` for an output gradient, on the host.
    pub(crate) fn adjoint_on_host<B: Backend>(
        &self,
        grad: FloatTensor<B>,
        input_shape: [usize; 4],
    ) -> FloatTensor<B> {
        let [batch, _, h, w] = input_shape;
        on_host::<B, 4>(grad, input_shape, |values| match values {
            HostValues::F32(v) => HostValues::F32(self.adjoint(&v, batch, [h, w])),
            HostValues::F64(v) => HostValues::F64(self.adjoint(&v, batch, [h, w])),
        })
    }

    /// Where each padded row and column reads from (`None`: a zero).
    fn sources(&self, [h, w]: [usize; 2]) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
        let [_, _, kh, kw] = self.shape;
        let axis = |n: usize, k: usize| {
            let (before, after) = same_padding_amounts(k);
            (0..n + before + after)
                .map(|p| padded_source(p, n, before, self.pad_mode))
                .collect()
        };
        (axis(h, kh), axis(w, kw))
    }

    fn weights<T: FftNum>(&self) -> Vec<T> {
        self.weights
            .iter()
            .map(|&v| T::from_f64(v).expect("a float"))
            .collect()
    }

    fn forward<T: FftNum>(&self, x: &[T], batch: usize, [h, w]: [usize; 2]) -> Vec<T> {
        let [outs, ins, kh, kw] = self.shape;
        let weights = self.weights::<T>();
        let (rows, columns) = self.sources([h, w]);
        let pw = columns.len();
        let mut padded = vec![T::zero(); rows.len() * pw];
        let mut out = vec![T::zero(); batch * outs * h * w];
        for b in 0..batch {
            for c in 0..ins {
                let plane = &x[(b * ins + c) * h * w..][..h * w];
                for (row, source) in padded.chunks_exact_mut(pw).zip(&rows) {
                    for (value, column) in row.iter_mut().zip(&columns) {
                        *value = match (source, column) {
                            (Some(r), Some(q)) => plane[r * w + q],
                            _ => T::zero(),
                        };
                    }
                }
                for o in 0..outs {
                    let target = &mut out[(b * outs + o) * h * w..][..h * w];
                    let taps = &weights[(o * ins + c) * kh * kw..][..kh * kw];
                    for (tap, &weight) in taps.iter().enumerate() {
                        let (di, dj) = (tap / kw, tap % kw);
                        for (i, row) in target.chunks_exact_mut(w).enumerate() {
                            let source = &padded[(i + di) * pw + dj..][..w];
                            for (value, &s) in row.iter_mut().zip(source) {
                                *value = *value + weight * s;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn adjoint<T: FftNum>(&self, grad: &[T], batch: usize, [h, w]: [usize; 2]) -> Vec<T> {
        let [outs, ins, kh, kw] = self.shape;
        let weights = self.weights::<T>();
        let (rows, columns) = self.sources([h, w]);
        let pw = columns.len();
        let mut padded = vec![T::zero(); rows.len() * pw];
        let mut out = vec![T::zero(); batch * ins * h * w];
        for b in 0..batch {
            for c in 0..ins {
                padded.fill(T::zero());
                for o in 0..outs {
                    let plane = &grad[(b * outs + o) * h * w..][..h * w];
                    let taps = &weights[(o * ins + c) * kh * kw..][..kh * kw];
                    for (tap, &weight) in taps.iter().enumerate() {
                        let (di, dj) = (tap / kw, tap % kw);
                        for (i, row) in plane.chunks_exact(w).enumerate() {
                            let target = &mut padded[(i + di) * pw + dj..][..w];
                            for (value, &g) in target.iter_mut().zip(row) {
                                *value = *value + weight * g;
                            }
                        }
                    }
                }
                let target = &mut out[(b * ins + c) * h * w..][..h * w];
                for (row, source) in padded.chunks_exact(pw).zip(&rows) {
                    let Some(r) = source else { continue };
                    for (&value, column) in row.iter().zip(&columns) {
                        if let Some(q) = column {
                            target[r * w + q] = target[r * w + q] + value;
                        }
                    }
                }
            }
        }
        out
    }
}

/// Correlates `[batch, in, h, w]` with `filter`'s fixed weights: `[batch, out, h, w]`.
///
/// # Panics
/// When the input's channel count differs from the filter's, or a reflect or circular pad
/// would be as long as the image.
pub fn correlate_fixed<B: HostBackend>(
    x: Tensor<B, 4>,
    filter: Arc<FixedCorrelation>,
) -> Tensor<B, 4> {
    let [_, channels, h, w] = x.dims();
    let [_, ins, kh, kw] = filter.shape;
    assert_eq!(
        channels, ins,
        "the filters take {ins}-channel images, got {channels} channels"
    );
    crate::padding::assert_fits(h, same_padding_amounts(kh), filter.pad_mode);
    crate::padding::assert_fits(w, same_padding_amounts(kw), filter.pad_mode);
    let x = x.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::correlate_fixed(x, filter)))
}

/// Inner products of every row of `a` (`[p, m, n]`) with every row of `b` (`[p, k, n]`):
/// `[p, m, k]`, differentiable in both.
pub fn gram<B: HostBackend>(a: Tensor<B, 3>, b: Tensor<B, 3>) -> Tensor<B, 3> {
    let (a, b) = (a.into_primitive().tensor(), b.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(B::gram_packed(a, b)))
}

/// `[p, m, k]` inner products of the rows of `a` (`[p, m, n]`) and `b` (`[p, k, n]`), summed in
/// float64 whatever the precision.
pub(crate) fn host_gram<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> FloatTensor<B> {
    let [p, m, n] = dims::<B, 3>(&a);
    let k = dims::<B, 3>(&b)[1];
    let rows = host_f64::<B>(b);
    on_host::<B, 3>(a, [p, m, k], |values| {
        map_values(values, |a: &[f64]| {
            let mut out = vec![0.0; p * m * k];
            for q in 0..p {
                for i in 0..m {
                    let x = &a[(q * m + i) * n..][..n];
                    for j in 0..k {
                        let y = &rows[(q * k + j) * n..][..n];
                        out[(q * m + i) * k + j] = x.iter().zip(y).map(|(x, y)| x * y).sum();
                    }
                }
            }
            out
        })
    })
}

/// The Gram product's gradient for one operand: `g · other` (`[p, m, n]`, with `g` `[p, m,
/// k]` and `other` `[p, k, n]`), or `gᵀ · other` when `transposed` (`other` then `[p, m, n]`).
pub(crate) fn host_gram_grad<B: Backend>(
    grad: FloatTensor<B>,
    other: FloatTensor<B>,
    transposed: bool,
) -> FloatTensor<B> {
    let [p, gm, gk] = dims::<B, 3>(&grad);
    let n = dims::<B, 3>(&other)[2];
    let g = host_f64::<B>(grad);
    let (rows, inner) = if transposed { (gk, gm) } else { (gm, gk) };
    on_host::<B, 3>(other, [p, rows, n], |values| {
        map_values(values, |other: &[f64]| {
            let mut out = vec![0.0; p * rows * n];
            for q in 0..p {
                for r in 0..rows {
                    let target = &mut out[(q * rows + r) * n..][..n];
                    for s in 0..inner {
                        let weight = if transposed {
                            g[(q * gm + s) * gk + r]
                        } else {
                            g[(q * gm + r) * gk + s]
                        };
                        let source = &other[(q * inner + s) * n..][..n];
                        for (t, v) in target.iter_mut().zip(source) {
                            *t += weight * v;
                        }
                    }
                }
            }
            out
        })
    })
}

/// Runs an `f64` computation on values of either precision, rounding back to float32 ones.
fn map_values(values: HostValues, op: impl FnOnce(&[f64]) -> Vec<f64>) -> HostValues {
    match values {
        HostValues::F64(v) => HostValues::F64(op(&v)),
        HostValues::F32(v) => {
            let wide: Vec<f64> = v.into_iter().map(f64::from).collect();
            HostValues::F32(op(&wide).into_iter().map(|x| x as f32).collect())
        }
    }
}
