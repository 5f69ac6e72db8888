//! A differentiable 2-D discrete Fourier transform for any image size.
//!
//! Burn 0.21 has no FFT usable here (power-of-two lengths only, no autodiff, missing on
//! ndarray). The transform runs on the host with `rustfft` (mixed radix, any length, in the
//! tensor's precision) inside a Burn autodiff operation whose backward step
//! is the adjoint transform, itself an FFT. Measured against the alternative, a DFT as
//! products with cosine and sine matrices written in Burn ops (exact, differentiable, good on
//! GPUs), this is O(n log n) instead of O(n²) per axis: see the README's Speed section.
//!
//! The operation needs an autodiff backend ([`HostBackend`] is implemented for every
//! `Autodiff<B>`), which is what metamer synthesis runs on; wrap a plain backend in
//! `Autodiff` to call it outside a synthesis.

mod autocorrelation;
mod planes;
mod resample;
#[cfg(test)]
mod tests;
mod transform;

use std::sync::Arc;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};

use crate::HostBackend;
use autocorrelation::Autocorrelation;
pub(crate) use planes::{
    Planned, fft_real_transposed, fft_transposed, fft_transposed_rows, float, ifft_real_transposed,
    ifft_transposed, transposed_index, transposed_plane,
};
use resample::Resample;
pub use resample::SpectralMap;
use transform::Fft2;

/// A complex tensor as its real and imaginary parts.
#[derive(Clone, Debug)]
pub struct Complex<B: Backend, const D: usize> {
    /// The real part.
    pub re: Tensor<B, D>,
    /// The imaginary part.
    pub im: Tensor<B, D>,
}

/// Scaling of the transform pair, as in `torch.fft` and numpy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// Forward unscaled, inverse divided by `height · width`.
    Backward,
    /// Both divided by `√(height · width)` (unitary).
    Ortho,
}

impl<B: Backend, const D: usize> Complex<B, D> {
    /// A real tensor with zero imaginary part.
    pub fn from_real(re: Tensor<B, D>) -> Self {
        let im = re.zeros_like();
        Self { re, im }
    }

    /// Both parts multiplied by a real `factor`.
    pub fn mul_real(self, factor: Tensor<B, D>) -> Self {
        Self {
            re: self.re * factor.clone(),
            im: self.im * factor,
        }
    }

    /// Both parts multiplied by `factor`.
    pub fn mul_scalar(self, factor: f64) -> Self {
        Self {
            re: self.re.mul_scalar(factor),
            im: self.im.mul_scalar(factor),
        }
    }

    /// Multiplies by `i^k`.
    pub fn mul_i_pow(self, k: i64) -> Self {
        match k.rem_euclid(4) {
            0 => self,
            1 => Self {
                re: self.im.neg(),
                im: self.re,
            },
            2 => Self {
                re: self.re.neg(),
                im: self.im.neg(),
            },
            _ => Self {
                re: self.im,
                im: self.re.neg(),
            },
        }
    }

    /// `|z|`.
    pub fn abs(self) -> Tensor<B, D> {
        (self.re.square() + self.im.square()).sqrt()
    }

    /// Applies `f` to both parts (reshapes, slices, linear maps).
    pub fn map<const E: usize>(self, f: impl Fn(Tensor<B, D>) -> Tensor<B, E>) -> Complex<B, E> {
        Complex {
            re: f(self.re),
            im: f(self.im),
        }
    }
}

impl<B: Backend, const D: usize> std::ops::Add for Complex<B, D> {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            re: self.re + other.re,
            im: self.im + other.im,
        }
    }
}

/// The 2-D DFT over the last two axes (`torch.fft.fft2`).
pub fn fft2<B: HostBackend, const D: usize>(x: Complex<B, D>, norm: Norm) -> Complex<B, D> {
    let dims = x.re.dims();
    split(transform(vec![x.re, x.im], false, false, norm), dims)
}

/// The 2-D DFT of a real tensor (`torch.fft.fft2` on real input), without an imaginary part
/// to carry in.
pub fn fft2_real<B: HostBackend, const D: usize>(x: Tensor<B, D>, norm: Norm) -> Complex<B, D> {
    let dims = x.dims();
    split(transform(vec![x], false, false, norm), dims)
}

/// The inverse 2-D DFT over the last two axes (`torch.fft.ifft2`).
pub fn ifft2<B: HostBackend, const D: usize>(x: Complex<B, D>, norm: Norm) -> Complex<B, D> {
    let dims = x.re.dims();
    split(transform(vec![x.re, x.im], true, false, norm), dims)
}

/// The real part of the inverse 2-D DFT (`torch.fft.ifft2(x).real`), computed without the
/// imaginary part.
pub fn ifft2_real<B: HostBackend, const D: usize>(x: Complex<B, D>, norm: Norm) -> Tensor<B, D> {
    let dims = x.re.dims();
    transform(vec![x.re, x.im], true, true, norm).reshape(dims)
}

/// Runs the operation on the parts (real, then imaginary if given) packed as
/// `[parts, planes, height, width]`, and applies the norm's scaling.
fn transform<B: HostBackend, const D: usize>(
    parts: Vec<Tensor<B, D>>,
    inverse: bool,
    real_output: bool,
    norm: Norm,
) -> Tensor<B, 4> {
    let dims = parts[0].dims();
    let (height, width) = (dims[D - 2], dims[D - 1]);
    let out = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::host_op(
        pack(parts),
        Fft2 {
            inverse,
            real_output,
        },
    )));
    let n = (height * width) as f64;
    match (norm, inverse) {
        (Norm::Backward, false) => out,
        (Norm::Backward, true) => out.mul_scalar(1.0 / n),
        (Norm::Ortho, _) => out.mul_scalar(1.0 / n.sqrt()),
    }
}

/// `ifft2(M · fft2(x))` (unnormalised) over the last two axes of the parts (real, then
/// imaginary if given); `[1 or 2, planes, H, W]` out.
pub(crate) fn resample_parts<B: HostBackend, const D: usize>(
    parts: Vec<Tensor<B, D>>,
    map: Arc<SpectralMap>,
    real_output: bool,
) -> Tensor<B, 4> {
    Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::host_op(
        pack(parts),
        Resample { map, real_output },
    )))
}

/// The parts (real, then imaginary if given) of tensors of any rank as the `[parts, planes,
/// height, width]` primitive the host operations take.
fn pack<B: Backend, const D: usize>(parts: Vec<Tensor<B, D>>) -> FloatTensor<B> {
    let dims = parts[0].dims();
    let shape = [
        1,
        dims[..D - 2].iter().product::<usize>(),
        dims[D - 2],
        dims[D - 1],
    ];
    let mut parts: Vec<Tensor<B, 4>> = parts.into_iter().map(|p| p.reshape(shape)).collect();
    let packed = if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Tensor::cat(parts, 0)
    };
    packed.into_primitive().tensor()
}

/// The real part of a resampled `[1 or 2, …]` result with the leading axes of `dims`.
pub(crate) fn unpack_real<B: Backend, const D: usize>(
    out: Tensor<B, 4>,
    mut dims: [usize; D],
    size: [usize; 2],
) -> Tensor<B, D> {
    dims[D - 2] = size[0];
    dims[D - 1] = size[1];
    out.narrow(0, 0, 1).reshape(dims)
}

/// Both parts of a resampled `[2, …]` result with the leading axes of `dims`.
pub(crate) fn unpack_complex<B: Backend, const D: usize>(
    out: Tensor<B, 4>,
    mut dims: [usize; D],
    size: [usize; 2],
) -> Complex<B, D> {
    dims[D - 2] = size[0];
    dims[D - 1] = size[1];
    split(out, dims)
}

/// The circular autocorrelation of each real plane over the last two axes, divided by the
/// plane's size, at the `width × width` lags around zero.
pub(crate) fn autocorrelation_window<B: HostBackend, const D: usize>(
    x: Tensor<B, D>,
    width: usize,
) -> Tensor<B, D> {
    let mut dims = x.dims();
    let out = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::host_op(
        pack(vec![x]),
        Autocorrelation { width },
    )));
    dims[D - 2] = width;
    dims[D - 1] = width;
    out.reshape(dims)
}

/// Real and imaginary parts of a `[2, …]` result.
fn split<B: Backend, const D: usize>(out: Tensor<B, 4>, dims: [usize; D]) -> Complex<B, D> {
    Complex {
        re: out.clone().narrow(0, 0, 1).reshape(dims),
        im: out.narrow(0, 1, 1).reshape(dims),
    }
}

/// Moves the zero frequency to the centre of the last two axes (`torch.fft.fftshift`).
pub fn fftshift<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    let x = roll(x, D - 2, dims[D - 2] / 2);
    roll(x, D - 1, dims[D - 1] / 2)
}

/// Undoes [`fftshift`] (`torch.fft.ifftshift`).
pub fn ifftshift<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let dims = x.dims();
    let x = roll(x, D - 2, dims[D - 2].div_ceil(2));
    roll(x, D - 1, dims[D - 1].div_ceil(2))
}

/// Shifts by `shift` along `axis`, wrapping around (`torch.roll`).
pub fn roll<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    axis: usize,
    shift: usize,
) -> Tensor<B, D> {
    let size = x.dims()[axis];
    let shift = shift % size.max(1);
    if shift == 0 {
        return x;
    }
    let tail = x.clone().narrow(axis, size - shift, shift);
    let head = x.narrow(axis, 0, size - shift);
    Tensor::cat(vec![tail, head], axis)
}

impl<B: Backend, const D: usize> Complex<B, D> {
    /// Both parts shifted as numpy's `fftshift` (zero frequency to the centre).
    pub fn fftshift(self) -> Self {
        self.map(fftshift)
    }

    /// Both parts shifted as numpy's `ifftshift` (undoes `fftshift`).
    pub fn ifftshift(self) -> Self {
        self.map(ifftshift)
    }
}
