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

use std::cell::RefCell;
use std::sync::Arc;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive, backend::Backend};
use rustfft::{FftDirection, FftNum, FftPlanner, num_complex::Complex as FftComplex};

use crate::HostBackend;
use crate::buffers::{Buf, Pool, Pooled};
use crate::host::{HostValues, dims, host_f64, on_host};

/// A linear map between spectra in FFT order: `to[dst] += coef · from[src]` for each entry.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralMap {
    pub from: [usize; 2],
    pub to: [usize; 2],
    /// `(dst, src, coef)` with row-major plane indices.
    pub entries: Vec<(usize, usize, f64)>,
}

impl SpectralMap {
    pub fn transposed(&self) -> Self {
        Self {
            from: self.to,
            to: self.from,
            entries: self.entries.iter().map(|&(d, s, c)| (s, d, c)).collect(),
        }
    }
}

/// A computation on the host's complex planes, written once for both precisions.
trait PlaneOp {
    /// `planes`: consecutive `size` planes (real inputs with zero imaginary parts); returns the
    /// output planes, consecutive and of the operation's output size.
    fn apply<T: Planned>(&self, planes: Vec<FftComplex<T>>, size: [usize; 2])
    -> Vec<FftComplex<T>>;
}

/// Runs `op` on the planes of a `[parts, n, h, w]` tensor on the host, in the tensor's own
/// precision; the `[1 or 2, n, out_shape]` result keeps the input's dtype and device, and only
/// real parts when `real_output`.
fn on_planes<B: Backend>(
    x: FloatTensor<B>,
    out_shape: [usize; 2],
    real_output: bool,
    op: &impl PlaneOp,
) -> FloatTensor<B> {
    let [parts, n, height, width] = dims::<B, 4>(&x);
    debug_assert!(parts == 1 || parts == 2, "1 or 2 parts, got {parts}");
    let shape = [
        if real_output { 1 } else { 2 },
        n,
        out_shape[0],
        out_shape[1],
    ];
    fn run<T: Planned>(
        values: &[T],
        parts: usize,
        size: [usize; 2],
        real_output: bool,
        op: &impl PlaneOp,
    ) -> Vec<T> {
        from_complex(&op.apply(to_complex(values, parts), size), real_output)
    }
    let size = [height, width];
    on_host::<B, 4>(x, shape, |values| match values {
        HostValues::F64(v) => HostValues::F64(run(&v, parts, size, real_output, op)),
        HostValues::F32(v) => HostValues::F32(run(&v, parts, size, real_output, op)),
    })
}

fn to_complex<T: Planned>(values: &[T], parts: usize) -> Vec<FftComplex<T>> {
    let count = values.len() / parts;
    if parts == 2 {
        let (re, im) = values.split_at(count);
        re.iter()
            .zip(im)
            .map(|(re, im)| FftComplex::new(*re, *im))
            .collect()
    } else {
        values
            .iter()
            .map(|re| FftComplex::new(*re, T::zero()))
            .collect()
    }
}

fn from_complex<T: Planned>(planes: &[FftComplex<T>], real_output: bool) -> Vec<T> {
    let mut out = Vec::with_capacity(if real_output { 1 } else { 2 } * planes.len());
    out.extend(planes.iter().map(|c| c.re));
    if !real_output {
        out.extend(planes.iter().map(|c| c.im));
    }
    out
}

fn float<T: Planned>(value: f64) -> T {
    T::from_f64(value).expect("a float")
}

/// Unnormalised 2-D transforms of consecutive `height × width` planes, in place.
pub(crate) fn fft_planes<T: Planned>(
    planes: &mut [FftComplex<T>],
    height: usize,
    width: usize,
    inverse: bool,
) {
    let direction = if inverse {
        FftDirection::Inverse
    } else {
        FftDirection::Forward
    };
    let (rows, columns) = T::with_planner(|planner| {
        (
            planner.plan_fft(width, direction),
            planner.plan_fft(height, direction),
        )
    });
    let scratch_len = rows
        .get_inplace_scratch_len()
        .max(columns.get_inplace_scratch_len());
    let zero = FftComplex::new(T::zero(), T::zero());
    let mut scratch = Buf::scratch(scratch_len, zero);
    let mut transposed = Buf::scratch(height * width, zero);
    for plane in planes.chunks_exact_mut(height * width) {
        rows.process_with_scratch(plane, &mut scratch);
        transpose(plane, &mut transposed, height, width);
        columns.process_with_scratch(&mut transposed, &mut scratch);
        transpose(&transposed, plane, width, height);
    }
}

/// The unnormalised 2-D transform.
struct Transform {
    inverse: bool,
}

impl PlaneOp for Transform {
    fn apply<T: Planned>(
        &self,
        mut planes: Vec<FftComplex<T>>,
        [h, w]: [usize; 2],
    ) -> Vec<FftComplex<T>> {
        fft_planes(&mut planes, h, w, self.inverse);
        planes
    }
}

pub(crate) fn host_fft2<B: Backend>(
    x: FloatTensor<B>,
    inverse: bool,
    real_output: bool,
) -> FloatTensor<B> {
    let shape = x.shape();
    on_planes::<B>(x, [shape[2], shape[3]], real_output, &Transform { inverse })
}

/// `ifft(M · fft(x))`, unnormalised.
impl PlaneOp for SpectralMap {
    fn apply<T: Planned>(
        &self,
        mut planes: Vec<FftComplex<T>>,
        size: [usize; 2],
    ) -> Vec<FftComplex<T>> {
        let ([h, w], [oh, ow]) = (self.from, self.to);
        debug_assert_eq!(size, self.from);
        fft_planes(&mut planes, h, w, false);
        let zero = FftComplex::new(T::zero(), T::zero());
        let mut out = vec![zero; planes.len() / (h * w) * oh * ow];
        for (plane, target) in planes
            .chunks_exact(h * w)
            .zip(out.chunks_exact_mut(oh * ow))
        {
            for &(dst, src, coef) in &self.entries {
                target[dst] = target[dst] + plane[src] * float::<T>(coef);
            }
        }
        fft_planes(&mut out, oh, ow, true);
        out
    }
}

pub(crate) fn host_resample<B: Backend>(
    x: FloatTensor<B>,
    map: &SpectralMap,
    real_output: bool,
) -> FloatTensor<B> {
    on_planes::<B>(x, map.to, real_output, map)
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
struct AutocorrelationWindow {
    width: usize,
}

impl PlaneOp for AutocorrelationWindow {
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

pub(crate) fn host_autocorrelation<B: Backend>(x: FloatTensor<B>, width: usize) -> FloatTensor<B> {
    on_planes::<B>(x, [width, width], true, &AutocorrelationWindow { width })
}

/// The window's backward step for the given lag gradients (one `width × width` block per
/// plane): `ifft(X · 2 Re(fft(G))) / N²`, with `G` the lag gradients placed in a plane.
struct AutocorrelationGrad {
    lags: Vec<f64>,
    width: usize,
}

impl PlaneOp for AutocorrelationGrad {
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

pub(crate) fn host_autocorrelation_grad<B: Backend>(
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
        &AutocorrelationGrad { lags, width },
    )
}

/// Plans per precision and length (rustfft's planner caches them), and the pool of complex
/// buffers of that precision.
pub(crate) trait Planned: FftNum + Pooled {
    fn with_planner<R>(f: impl FnOnce(&mut FftPlanner<Self>) -> R) -> R;
    fn with_complex_pool<R>(f: impl FnOnce(&mut Pool<FftComplex<Self>>) -> R) -> Option<R>;
}

macro_rules! planned {
    ($($t:ty),*) => {$(
        impl Planned for $t {
            fn with_planner<R>(f: impl FnOnce(&mut FftPlanner<Self>) -> R) -> R {
                thread_local! {
                    static PLANNER: RefCell<FftPlanner<$t>> = RefCell::new(FftPlanner::new());
                }
                PLANNER.with(|planner| f(&mut planner.borrow_mut()))
            }

            fn with_complex_pool<R>(
                f: impl FnOnce(&mut Pool<FftComplex<Self>>) -> R,
            ) -> Option<R> {
                thread_local! {
                    static POOL: RefCell<Pool<FftComplex<$t>>> = RefCell::new(Pool::default());
                }
                // `None` while the thread is being torn down.
                POOL.try_with(|pool| f(&mut pool.borrow_mut())).ok()
            }
        }
    )*};
}
planned!(f32, f64);

/// `to[c][r] = from[r][c]` for a `rows × columns` matrix (the `transpose` crate rustfft uses
/// itself: several times faster than a plain tiled loop, which took a fifth of the texture
/// model's time).
fn transpose<T: Copy>(from: &[T], to: &mut [T], rows: usize, columns: usize) {
    transpose::transpose(from, to, columns, rows);
}

/// A complex tensor as its real and imaginary parts.
#[derive(Clone, Debug)]
pub struct Complex<B: Backend, const D: usize> {
    pub re: Tensor<B, D>,
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

    pub fn mul_real(self, factor: Tensor<B, D>) -> Self {
        Self {
            re: self.re * factor.clone(),
            im: self.im * factor,
        }
    }

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
    let out = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::fft2_packed(
        pack(parts),
        inverse,
        real_output,
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
    Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::resample_packed(
        pack(parts),
        map,
        real_output,
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
    let out = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(B::autocorrelation_packed(
        pack(vec![x]),
        width,
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
    pub fn fftshift(self) -> Self {
        self.map(fftshift)
    }

    pub fn ifftshift(self) -> Self {
        self.map(ifftshift)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{DType, TensorData};
    use metamer_core::tensor::to_f64;

    use super::*;

    type B = Autodiff<NdArray<f64>>;

    fn tensor(values: Vec<f64>, shape: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(
            TensorData::new(values, shape),
            (&Default::default(), DType::F64),
        )
    }

    fn values(n: usize, seed: f64) -> Vec<f64> {
        (0..n).map(|i| ((i as f64 + seed) * 1.618).sin()).collect()
    }

    /// The DFT by its definition.
    fn naive(re: &[f64], im: &[f64], h: usize, w: usize, sign: f64) -> (Vec<f64>, Vec<f64>) {
        let mut out = (vec![0.0; h * w], vec![0.0; h * w]);
        for k in 0..h {
            for l in 0..w {
                for m in 0..h {
                    for n in 0..w {
                        let phase = sign
                            * 2.0
                            * std::f64::consts::PI
                            * ((k * m) as f64 / h as f64 + (l * n) as f64 / w as f64);
                        let (c, s) = (phase.cos(), phase.sin());
                        let (a, b) = (re[m * w + n], im[m * w + n]);
                        out.0[k * w + l] += a * c - b * s;
                        out.1[k * w + l] += a * s + b * c;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_any_size() {
        for (h, w) in [(5, 7), (6, 4), (1, 9), (8, 8)] {
            let (re, im) = (values(h * w, 0.0), values(h * w, 3.0));
            let x = Complex {
                re: tensor(re.clone(), [1, h, w]),
                im: tensor(im.clone(), [1, h, w]),
            };
            let y = fft2(x.clone(), Norm::Backward);
            let (er, ei) = naive(&re, &im, h, w, -1.0);
            for (a, e) in to_f64(y.re.clone())
                .iter()
                .zip(&er)
                .chain(to_f64(y.im.clone()).iter().zip(&ei))
            {
                assert!((a - e).abs() < 1e-10, "{h}x{w}: {a} vs {e}");
            }
            let back = ifft2(y, Norm::Backward);
            for (a, e) in to_f64(back.re)
                .iter()
                .zip(&re)
                .chain(to_f64(back.im).iter().zip(&im))
            {
                assert!((a - e).abs() < 1e-12);
            }
            let ortho = fft2(x, Norm::Ortho);
            let scale = ((h * w) as f64).sqrt();
            for (a, e) in to_f64(ortho.re).iter().zip(&er) {
                assert!((a * scale - e).abs() < 1e-10);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        let (h, w) = (3, 5);
        let (re, im) = (values(h * w, 1.0), values(h * w, 2.0));
        let (wr, wi) = (values(h * w, 5.0), values(h * w, 9.0));
        // A real scalar of the transform: Σ wr·Re y + wi·Im y + (Re y)².
        let objective = |re: Vec<f64>, im: Vec<f64>, inverse: bool| {
            let x = Complex {
                re: tensor(re, [1, h, w]).require_grad(),
                im: tensor(im, [1, h, w]).require_grad(),
            };
            let y = if inverse {
                ifft2(x.clone(), Norm::Ortho)
            } else {
                fft2(x.clone(), Norm::Backward)
            };
            let value = (y.re.clone() * tensor(wr.clone(), [1, h, w])).sum()
                + (y.im * tensor(wi.clone(), [1, h, w])).sum()
                + y.re.powi_scalar(2).sum();
            (value, x)
        };
        for inverse in [false, true] {
            let (value, x) = objective(re.clone(), im.clone(), inverse);
            let grads = value.backward();
            let analytic = [
                to_f64(x.re.grad(&grads).unwrap()),
                to_f64(x.im.grad(&grads).unwrap()),
            ];
            for (part, gradient) in analytic.iter().enumerate() {
                for i in [0, 4, 14] {
                    let step = 1e-6;
                    let shifted = |delta: f64| {
                        let (mut r, mut m) = (re.clone(), im.clone());
                        if part == 0 {
                            r[i] += delta
                        } else {
                            m[i] += delta
                        }
                        to_f64(objective(r, m, inverse).0)[0]
                    };
                    let numeric = (shifted(step) - shifted(-step)) / (2.0 * step);
                    assert!(
                        (numeric - gradient[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                        "inverse {inverse}, part {part}, element {i}: {numeric} vs {}",
                        gradient[i]
                    );
                }
            }
        }
    }

    /// The real-input and real-output operations give the complex ones' values and gradients.
    #[test]
    fn real_variants_agree_with_the_complex_transform() {
        let (h, w) = (4, 6);
        let weights = tensor(values(h * w, 7.0), [1, h, w]);
        let run = |real_paths: bool| {
            let x = tensor(values(h * w, 1.0), [1, h, w]).require_grad();
            let spectrum = if real_paths {
                fft2_real(x.clone(), Norm::Ortho)
            } else {
                fft2(Complex::from_real(x.clone()), Norm::Ortho)
            };
            let spectrum = spectrum.mul_real(weights.clone());
            let back = if real_paths {
                ifft2_real(spectrum, Norm::Backward)
            } else {
                ifft2(spectrum, Norm::Backward).re
            };
            let grads = back.clone().powi_scalar(3).sum().backward();
            (to_f64(back), to_f64(x.grad(&grads).unwrap()))
        };
        let (real, complex) = (run(true), run(false));
        for (a, e) in real
            .0
            .iter()
            .zip(&complex.0)
            .chain(real.1.iter().zip(&complex.1))
        {
            assert!((a - e).abs() < 1e-12, "{a} vs {e}");
        }
    }

    #[test]
    fn shifts_follow_numpy() {
        let x = tensor((0..15).map(f64::from).collect(), [1, 3, 5]);
        // numpy.fft.fftshift of arange(15).reshape(3, 5)
        assert_eq!(
            to_f64(fftshift(x.clone())),
            vec![
                13.0, 14.0, 10.0, 11.0, 12.0, 3.0, 4.0, 0.0, 1.0, 2.0, 8.0, 9.0, 5.0, 6.0, 7.0
            ]
        );
        assert_eq!(to_f64(ifftshift(fftshift(x.clone()))), to_f64(x));
    }

    #[test]
    fn float32_tensors_stay_float32() {
        type F = Autodiff<NdArray<f32>>;
        let x: Tensor<F, 2> = Tensor::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
            (&Default::default(), DType::F32),
        );
        let y = fft2(Complex::from_real(x), Norm::Backward);
        assert_eq!(y.re.dtype(), DType::F32);
        assert_eq!(to_f64(y.re), vec![10.0, -2.0, -4.0, 0.0]);
    }
}
