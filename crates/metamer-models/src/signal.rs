//! plenoptic's Fourier-domain helpers (`plenoptic.process.signal`): centre crops,
//! autocorrelations and Fourier up- and down-sampling, over the last two axes.

use burn::tensor::{Tensor, backend::Backend};

use crate::fft::{Complex, FftBackend, Norm, fft2, fft2_real, fftshift, ifft2, ifft2_real};
use crate::{ModelError, Result};

fn signal_error(message: impl Into<String>) -> ModelError {
    ModelError::Signal(message.into())
}

/// The central `size × size` window (plenoptic's `center_crop`): rows
/// `[h/2 − size/2, h/2 + ⌈size/2⌉)`, and the same for columns.
pub fn center_crop<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    size: usize,
) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    if size > h || size > w {
        return Err(signal_error(
            "output_size is bigger than image height/width!",
        ));
    }
    if size == 0 {
        return Err(signal_error("output_size must be positive!"));
    }
    Ok(x.narrow(D - 2, h / 2 - size / 2, size)
        .narrow(D - 1, w / 2 - size / 2, size))
}

/// The circular autocorrelation over the last two axes, zero shift at the centre
/// `(h/2, w/2)`, divided by `h·w` (so the centre is the mean square), as plenoptic's
/// `autocorrelation`. Odd widths are refused: there plenoptic's inverse real FFT silently
/// returns a non-circular result one column narrower (spec §14 Q9).
pub fn autocorrelation<B: FftBackend, const D: usize>(x: Tensor<B, D>) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    if w % 2 != 0 {
        return Err(signal_error(format!(
            "autocorrelation needs an even width, got {w} (plenoptic's result for odd widths is \
             not an autocorrelation)"
        )));
    }
    let spectrum = fft2_real(x, Norm::Backward);
    let power = spectrum.re.powi_scalar(2) + spectrum.im.powi_scalar(2);
    let correlation = ifft2_real(Complex::from_real(power), Norm::Backward);
    // A product with the reciprocal: Burn 0.21 differentiates `div_scalar` in float32 even for
    // float64 tensors (its backward step computes `1 / divisor` as f32).
    Ok(fftshift(correlation).mul_scalar(1.0 / (h * w) as f64))
}

/// The checks shared by [`expand`] and [`shrink`].
fn check_factor(factor: f64) -> Result<()> {
    if factor.is_nan() || factor <= 1.0 {
        return Err(signal_error("factor must be strictly greater than 1!"));
    }
    Ok(())
}

fn reverse<B: Backend, const D: usize>(x: Tensor<B, D>, axis: usize) -> Tensor<B, D> {
    x.flip([axis as isize])
}

/// Fourier up-sampling by `factor` (plenoptic's `expand`): the centred spectrum, times
/// `factor²`, is placed in a larger zero spectrum, its first row and column halved and
/// mirrored to the far side (reversed, not conjugated, as plenoptic does; spec §14 Q8).
pub fn expand<B: FftBackend, const D: usize>(
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
    let start = |m: usize, n: usize| (m as f64 / 2.0 + 1.0 - n as f64 / 2.0).ceil() as usize;
    let (y1, x1) = (start(mh, h), start(mw, w));
    let (ra, ca) = (D - 2, D - 1);
    let spectrum = fft2(x, Norm::Backward)
        .fftshift()
        .mul_scalar(factor * factor);
    let block = spectrum.map(|f| {
        let corner = f.clone().narrow(ra, 0, 1).narrow(ca, 0, 1).div_scalar(4.0);
        let first_row = f
            .clone()
            .narrow(ra, 0, 1)
            .narrow(ca, 1, w - 1)
            .div_scalar(2.0);
        let first_column = f
            .clone()
            .narrow(ra, 1, h - 1)
            .narrow(ca, 0, 1)
            .div_scalar(2.0);
        let body = f.narrow(ra, 1, h - 1).narrow(ca, 1, w - 1);
        let top = Tensor::cat(vec![corner.clone(), first_row.clone(), corner.clone()], ca);
        let middle = Tensor::cat(
            vec![first_column.clone(), body, reverse(first_column, ra)],
            ca,
        );
        let bottom = Tensor::cat(vec![corner.clone(), reverse(first_row, ca), corner], ca);
        let block = Tensor::cat(vec![top, middle, bottom], ra);
        let mut large = dims;
        large[ra] = mh;
        large[ca] = mw;
        let mut ranges = dims.map(|n| 0..n);
        ranges[ra] = y1 - 1..y1 + h;
        ranges[ca] = x1 - 1..x1 + w;
        Tensor::<B, D>::zeros(large, (&block.device(), block.dtype())).slice_assign(ranges, block)
    });
    Ok(ifft2(block.ifftshift(), Norm::Backward))
}

/// Fourier down-sampling by an integer `factor` (plenoptic's `shrink`): the central part of
/// the centred spectrum, divided by `factor²`, with the rows and columns just outside it
/// averaged into the first row and column.
pub fn shrink<B: FftBackend, const D: usize>(
    x: Complex<B, D>,
    factor: usize,
) -> Result<Complex<B, D>> {
    check_factor(factor as f64)?;
    let dims = x.re.dims();
    let (h, w) = (dims[D - 2], dims[D - 1]);
    if h % factor != 0 || w % factor != 0 {
        return Err(signal_error(format!(
            "x's height and width ({h}, {w}) must be divisible by factor {factor}"
        )));
    }
    let (sh, sw) = (h / factor, w / factor);
    let start = |n: usize, m: usize| (n as f64 / 2.0 + 1.0 - m as f64 / 2.0).ceil() as usize;
    let end = |n: usize, m: usize| (n as f64 / 2.0 + m as f64 / 2.0).ceil() as usize;
    let (y1, x1) = (start(h, sh), start(w, sw));
    let (y2, x2) = (end(h, sh), end(w, sw));
    let (ra, ca) = (D - 2, D - 1);
    let f2 = (factor * factor) as f64;
    let spectrum = fft2(x, Norm::Backward)
        .fftshift()
        .map(|t| t.mul_scalar(1.0 / f2));
    let small = spectrum.map(|f| {
        // Rows first: the edge rows averaged into one, then the same for columns.
        let edge_rows =
            (f.clone().narrow(ra, y1 - 1, 1) + f.clone().narrow(ra, y2, 1)).div_scalar(2.0);
        let rows = Tensor::cat(vec![edge_rows, f.narrow(ra, y1, y2 - y1)], ra);
        let edge_columns =
            (rows.clone().narrow(ca, x1 - 1, 1) + rows.clone().narrow(ca, x2, 1)).div_scalar(2.0);
        Tensor::cat(vec![edge_columns, rows.narrow(ca, x1, x2 - x1)], ca)
    });
    Ok(ifft2(small.ifftshift(), Norm::Backward))
}
