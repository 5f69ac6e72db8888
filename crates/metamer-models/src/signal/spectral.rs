//! plenoptic's Fourier-domain helpers (`plenoptic.process.signal`): centre crops,
//! autocorrelations and Fourier up- and down-sampling, over the last two axes.

use burn::tensor::{Tensor, backend::Backend};

use std::sync::Arc;

use crate::signal::fft::{
    Complex, Norm, SpectralMap, autocorrelation_window, fft2_real, fftshift, ifft2_real,
    resample_parts, unpack_complex, unpack_real,
};
use crate::{HostBackend, ModelError, Result};

fn signal_error(message: impl Into<String>) -> ModelError {
    ModelError::Signal(message.into())
}

/// The central `size × size` window (plenoptic's `center_crop`): rows
/// `[h/2 − size/2, h/2 + ⌈size/2⌉)`, and the same for columns.
///
/// # Errors
/// When the window is empty or larger than the input, with plenoptic's messages.
pub fn center_crop<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    size: usize,
) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    check_crop(h, w, size)?;
    Ok(x.narrow(D - 2, h / 2 - size / 2, size)
        .narrow(D - 1, w / 2 - size / 2, size))
}

/// plenoptic's `center_crop` checks of a `size × size` window in an `h × w` image.
fn check_crop(h: usize, w: usize, size: usize) -> Result<()> {
    if size > h || size > w {
        return Err(signal_error(
            "output_size is bigger than image height/width!",
        ));
    }
    if size == 0 {
        return Err(signal_error("output_size must be positive!"));
    }
    Ok(())
}

/// The circular autocorrelation over the last two axes, zero shift at the centre
/// `(h/2, w/2)`, divided by `h·w` (so the centre is the mean square), as plenoptic's
/// `autocorrelation`. Odd widths are refused: there plenoptic's inverse real FFT silently
/// returns a non-circular result one column narrower
/// (docs/plenoptic-quirks.md#odd-autocorrelation).
///
/// # Errors
/// When the width is odd (plenoptic's result for odd widths is not an autocorrelation).
pub fn autocorrelation<B: HostBackend, const D: usize>(x: Tensor<B, D>) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    check_even_width(w)?;
    let spectrum = fft2_real(x, Norm::Backward);
    let power = spectrum.re.square() + spectrum.im.square();
    let correlation = ifft2_real(Complex::from_real(power), Norm::Backward);
    // A product with the reciprocal: Burn 0.21 differentiates `div_scalar` in float32 even for
    // float64 tensors (its backward step computes `1 / divisor` as f32).
    Ok(fftshift(correlation).mul_scalar(1.0 / (h * w) as f64))
}

/// `center_crop(autocorrelation(x), width)` in one host operation (what the texture model
/// uses): the same values, without the full-size autocorrelation in between.
///
/// # Errors
/// When the width is odd or the window is larger than the input.
pub fn autocorrelation_crop<B: HostBackend, const D: usize>(
    x: Tensor<B, D>,
    width: usize,
) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    check_even_width(w)?;
    check_crop(h, w, width)?;
    Ok(autocorrelation_window(x, width))
}

fn check_even_width(w: usize) -> Result<()> {
    if !w.is_multiple_of(2) {
        return Err(signal_error(format!(
            "autocorrelation needs an even width, got {w} (plenoptic's result for odd widths is \
             not an autocorrelation)"
        )));
    }
    Ok(())
}

/// The checks shared by [`expand`] and [`shrink`].
fn check_factor(factor: f64) -> Result<()> {
    if factor.is_nan() || factor <= 1.0 {
        return Err(signal_error("factor must be strictly greater than 1!"));
    }
    Ok(())
}

/// The FFT-order index of position `c` of a centred (fftshifted) axis of length `n`.
fn fft_index(c: usize, n: usize) -> usize {
    (c + n - n / 2) % n
}

/// Entries of a map between centred spectra, as FFT-order plane indices.
struct CentredMap {
    from: [usize; 2],
    to: [usize; 2],
    entries: Vec<(usize, usize, f64)>,
}

impl CentredMap {
    fn new(from: [usize; 2], to: [usize; 2]) -> Self {
        Self {
            from,
            to,
            entries: Vec::new(),
        }
    }

    /// `to[dst] += coef · from[src]`, both as centred `(row, column)`.
    fn add(&mut self, dst: (usize, usize), src: (usize, usize), coef: f64) {
        let ([h, w], [oh, ow]) = (self.from, self.to);
        let dst = fft_index(dst.0, oh) * ow + fft_index(dst.1, ow);
        let src = fft_index(src.0, h) * w + fft_index(src.1, w);
        self.entries.push((dst, src, coef));
    }

    fn scaled(self, scale: f64) -> Arc<SpectralMap> {
        Arc::new(SpectralMap {
            from: self.from,
            to: self.to,
            entries: self
                .entries
                .into_iter()
                .map(|(d, s, c)| (d, s, c * scale))
                .collect(),
        })
    }
}

/// plenoptic's `expand` as a spectral map: the centred spectrum, times `factor²`, placed in
/// a larger zero spectrum, its first row and column halved and mirrored to the far side
/// (reversed, not conjugated; docs/plenoptic-quirks.md#expand-mirror); the inverse
/// transform's `1 / (H·W)` included.
pub(crate) fn expand_map(
    factor: f64,
    [h, w]: [usize; 2],
    [mh, mw]: [usize; 2],
) -> Arc<SpectralMap> {
    let start = |m: usize, n: usize| (m as f64 / 2.0 + 1.0 - n as f64 / 2.0).ceil() as usize;
    let end = |m: usize, n: usize| (m as f64 / 2.0 + n as f64 / 2.0).ceil() as usize;
    let (y1, x1, y2, x2) = (start(mh, h), start(mw, w), end(mh, h), end(mw, w));
    let mut map = CentredMap::new([h, w], [mh, mw]);
    for i in 1..h {
        for j in 1..w {
            map.add((y1 + i - 1, x1 + j - 1), (i, j), 1.0);
        }
    }
    for j in 1..w {
        map.add((y1 - 1, x1 + j - 1), (0, j), 0.5);
        map.add((y2, x1 + j - 1), (0, w - j), 0.5);
    }
    for i in 1..h {
        map.add((y1 + i - 1, x1 - 1), (i, 0), 0.5);
        map.add((y1 + i - 1, x2), (h - i, 0), 0.5);
    }
    for corner in [(y1 - 1, x1 - 1), (y1 - 1, x2), (y2, x1 - 1), (y2, x2)] {
        map.add(corner, (0, 0), 0.25);
    }
    map.scaled(factor * factor / (mh * mw) as f64)
}

/// plenoptic's `shrink` as a spectral map: the central part of the centred spectrum, divided
/// by `factor²`, with the rows and columns just outside it averaged into the first row and
/// column; the inverse transform's `1 / (h·w)` included.
pub(crate) fn shrink_map(factor: usize, [h, w]: [usize; 2]) -> Arc<SpectralMap> {
    let (sh, sw) = (h / factor, w / factor);
    let start = |n: usize, m: usize| (n as f64 / 2.0 + 1.0 - m as f64 / 2.0).ceil() as usize;
    let end = |n: usize, m: usize| (n as f64 / 2.0 + m as f64 / 2.0).ceil() as usize;
    let (y1, x1, y2, x2) = (start(h, sh), start(w, sw), end(h, sh), end(w, sw));
    let mut map = CentredMap::new([h, w], [sh, sw]);
    for i in 1..sh {
        for j in 1..sw {
            map.add((i, j), (y1 + i - 1, x1 + j - 1), 1.0);
        }
    }
    for j in 1..sw {
        map.add((0, j), (y1 - 1, x1 + j - 1), 0.5);
        map.add((0, j), (y2, x1 + j - 1), 0.5);
    }
    for i in 1..sh {
        map.add((i, 0), (y1 + i - 1, x1 - 1), 0.5);
        map.add((i, 0), (y1 + i - 1, x2), 0.5);
    }
    for corner in [(y1 - 1, x1 - 1), (y1 - 1, x2), (y2, x1 - 1), (y2, x2)] {
        map.add((0, 0), corner, 0.25);
    }
    let f2 = (factor * factor) as f64;
    map.scaled(1.0 / (f2 * (sh * sw) as f64))
}

/// Fourier up-sampling by `factor` (plenoptic's `expand`): the centred spectrum, times
/// `factor²`, is placed in a larger zero spectrum, its first row and column halved and
/// mirrored to the far side (reversed, not conjugated, as plenoptic does;
/// docs/plenoptic-quirks.md#expand-mirror).
///
/// # Errors
/// When `factor` is not above 1 or the result's size is not an integer, with plenoptic's
/// messages.
pub fn expand<B: HostBackend, const D: usize>(
    x: Complex<B, D>,
    factor: f64,
) -> Result<Complex<B, D>> {
    check_factor(factor)?;
    let dims = x.re.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    let scaled = |n: usize, axis: &str| -> Result<usize> {
        let m = factor * n as f64;
        if m.fract() != 0.0 {
            return Err(signal_error(format!(
                "factor * x.shape[{axis}] must be an integer but got {m} instead!"
            )));
        }
        Ok(m as usize)
    };
    let (mw, mh) = (scaled(w, "-1")?, scaled(h, "-2")?);
    let map = expand_map(factor, [h, w], [mh, mw]);
    let out = resample_parts(vec![x.re, x.im], map, false);
    Ok(unpack_complex(out, dims, [mh, mw]))
}

fn check_shrink<const D: usize>(dims: [usize; D], factor: usize) -> Result<()> {
    check_factor(factor as f64)?;
    let (h, w) = (dims[D - 2], dims[D - 1]);
    if h % factor != 0 || w % factor != 0 {
        return Err(signal_error(format!(
            "x's height and width ({h}, {w}) must be divisible by factor {factor}"
        )));
    }
    Ok(())
}

/// Fourier down-sampling by an integer `factor` (plenoptic's `shrink`): the central part of
/// the centred spectrum, divided by `factor²`, with the rows and columns just outside it
/// averaged into the first row and column.
///
/// # Errors
/// When `factor` is not above 1 or does not divide the size, with plenoptic's messages.
pub fn shrink<B: HostBackend, const D: usize>(
    x: Complex<B, D>,
    factor: usize,
) -> Result<Complex<B, D>> {
    let dims = x.re.dims();
    check_shrink(dims, factor)?;
    let (h, w) = (dims[D - 2], dims[D - 1]);
    let map = shrink_map(factor, [h, w]);
    let out = resample_parts(vec![x.re, x.im], map, false);
    Ok(unpack_complex(out, dims, [h / factor, w / factor]))
}

/// [`shrink`] of a real tensor: the real part, computed without an imaginary part.
///
/// # Errors
/// As [`shrink`].
pub fn shrink_real<B: HostBackend, const D: usize>(
    x: Tensor<B, D>,
    factor: usize,
) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    check_shrink(dims, factor)?;
    let (h, w) = (dims[D - 2], dims[D - 1]);
    let map = shrink_map(factor, [h, w]);
    let out = resample_parts(vec![x], map, true);
    Ok(unpack_real(out, dims, [h / factor, w / factor]))
}
