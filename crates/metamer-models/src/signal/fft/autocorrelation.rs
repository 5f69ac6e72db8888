//! Windowed circular autocorrelations as a host operation.

use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rustfft::num_complex::Complex as FftComplex;

use super::planes::{PlaneOp, Planned, fft_planes, float, on_planes};
use crate::host::{HostOp, host_f64};

/// The circular autocorrelation of each plane of a real `[1, n, h, w]` tensor, divided by
/// `h·w`, at the `width × width` lags around zero (lag `−width/2` first): `[1, n, width,
/// width]`.
#[derive(Debug)]
pub(crate) struct Autocorrelation {
    pub width: usize,
}

impl HostOp for Autocorrelation {
    /// The input.
    type Saved<B: Backend> = FloatTensor<B>;

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, FloatTensor<B>) {
        (window::<B>(x.clone(), self.width), x)
    }

    fn forward<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        window::<B>(x, self.width)
    }

    /// `∂ac[d]/∂x(z) = (x(z+d) + x(z−d)) / N`: the gradient is `x` filtered by the
    /// symmetrised lag weights, `ifft(X · 2 Re(G)) / N²`.
    fn backward<B: Backend>(&self, input: FloatTensor<B>, grad: FloatTensor<B>) -> FloatTensor<B> {
        window_grad::<B>(input, grad, self.width)
    }
}

/// Plane indices of the `width × width` lags around zero, lag `−width/2` first.
fn lag_indices(width: usize, [h, w]: [usize; 2]) -> impl Iterator<Item = (usize, usize)> {
    let half = width / 2;
    (0..width * width).map(move |i| {
        let (a1, a2) = (i / width, i % width);
        let row = (a1 + h - half % h) % h;
        let column = (a2 + w - half % w) % w;
        (i, row * w + column)
    })
}

/// The autocorrelation window: `ifft(|fft(x)|²) / N²` at the lags around zero.
struct WindowPlanes {
    width: usize,
}

impl PlaneOp for WindowPlanes {
    fn apply<T: Planned>(
        &self,
        mut planes: Vec<FftComplex<T>>,
        [h, w]: [usize; 2],
    ) -> Vec<FftComplex<T>> {
        fft_planes(&mut planes, h, w, false);
        for value in planes.iter_mut() {
            *value = FftComplex::new(value.norm_sqr(), T::zero());
        }
        fft_planes(&mut planes, h, w, true);
        let scale = float::<T>(1.0 / ((h * w) as f64).powi(2));
        let mut out = Vec::with_capacity(planes.len() / (h * w) * self.width * self.width);
        for plane in planes.chunks_exact(h * w) {
            out.extend(
                lag_indices(self.width, [h, w])
                    .map(|(_, at)| FftComplex::new(plane[at].re * scale, T::zero())),
            );
        }
        out
    }
}

fn window<B: Backend>(x: FloatTensor<B>, width: usize) -> FloatTensor<B> {
    on_planes::<B>(x, [width, width], true, &WindowPlanes { width })
}

/// The window's backward step for the given lag gradients (one `width × width` block per
/// plane): `ifft(X · 2 Re(fft(G))) / N²`, with `G` the lag gradients placed in a plane.
struct WindowGradPlanes {
    lags: Vec<f64>,
    width: usize,
}

impl PlaneOp for WindowGradPlanes {
    fn apply<T: Planned>(
        &self,
        mut input: Vec<FftComplex<T>>,
        [h, w]: [usize; 2],
    ) -> Vec<FftComplex<T>> {
        fft_planes(&mut input, h, w, false);
        let zero = FftComplex::new(T::zero(), T::zero());
        let mut out = vec![zero; input.len()];
        for (plane, weights) in out
            .chunks_exact_mut(h * w)
            .zip(self.lags.chunks_exact(self.width * self.width))
        {
            for (i, at) in lag_indices(self.width, [h, w]) {
                plane[at].re = plane[at].re + float::<T>(weights[i]);
            }
        }
        fft_planes(&mut out, h, w, false);
        let scale = float::<T>(2.0 / ((h * w) as f64).powi(2));
        for (value, x) in out.iter_mut().zip(&input) {
            *value = *x * (value.re * scale);
        }
        fft_planes(&mut out, h, w, true);
        out
    }
}

fn window_grad<B: Backend>(
    input: FloatTensor<B>,
    grad: FloatTensor<B>,
    width: usize,
) -> FloatTensor<B> {
    let shape = input.shape();
    let lags = host_f64::<B>(grad);
    on_planes::<B>(
        input,
        [shape[2], shape[3]],
        true,
        &WindowGradPlanes { lags, width },
    )
}
