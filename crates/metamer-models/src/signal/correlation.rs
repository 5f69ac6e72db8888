//! "Same"-size correlation with fixed weights, as plain loops on the host.
//!
//! For kernels of a few taps, im2col (what Burn's `conv2d` does on CPUs) spends far more time
//! arranging data than multiplying; a padded plane and one multiply-add per tap and pixel is
//! several times faster than torch's convolution. Weights are fixed (a metamer's frozen
//! model), so the backward step needs only the input gradient.

use std::sync::Arc;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive, backend::Backend};
use rustfft::FftNum;

use super::padding::{Padding, padded_source, same_padding_amounts};
use crate::HostBackend;
use crate::host::{HostOp, HostValues, dims, on_host};

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
    fn apply_on_host<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        let [batch, _, h, w] = dims::<B, 4>(&x);
        on_host::<B, 4>(x, [batch, self.shape[0], h, w], |values| match values {
            HostValues::F32(v) => HostValues::F32(self.forward(&v, batch, [h, w])),
            HostValues::F64(v) => HostValues::F64(self.forward(&v, batch, [h, w])),
        })
    }

    /// The input gradient `[batch, in, h, w]` for an output gradient, on the host.
    fn adjoint_on_host<B: Backend>(
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
    crate::signal::padding::assert_fits(h, same_padding_amounts(kh), filter.pad_mode);
    crate::signal::padding::assert_fits(w, same_padding_amounts(kw), filter.pad_mode);
    let x = x.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::host_op(x, Correlate(filter))))
}

/// A "same"-size correlation with fixed weights: small kernels run far faster as plain loops
/// than through im2col.
#[derive(Debug)]
struct Correlate(Arc<FixedCorrelation>);

impl HostOp for Correlate {
    /// The input's shape.
    type Saved<B: Backend> = [usize; 4];

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, [usize; 4]) {
        let shape = x.shape();
        let input_shape = [shape[0], shape[1], shape[2], shape[3]];
        (self.0.apply_on_host::<B>(x), input_shape)
    }

    /// The adjoint scatters each output gradient back through the same weights and padding.
    fn backward<B: Backend>(
        &self,
        input_shape: [usize; 4],
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        self.0.adjoint_on_host::<B>(grad, input_shape)
    }
}
