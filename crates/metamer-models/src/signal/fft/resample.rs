//! Fourier up- and down-sampling, `ifft2(M · fft2(x))`, as a host operation.

use std::sync::Arc;

use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rustfft::num_complex::Complex as FftComplex;

use super::planes::{PlaneOp, Planned, fft_planes, float, on_planes};
use crate::host::HostOp;

/// A linear map between spectra in FFT order: `to[dst] += coef · from[src]` for each entry.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralMap {
    /// `[height, width]` of the input spectrum.
    pub from: [usize; 2],
    /// `[height, width]` of the output spectrum.
    pub to: [usize; 2],
    /// `(dst, src, coef)` with row-major plane indices.
    pub entries: Vec<(usize, usize, f64)>,
}

impl SpectralMap {
    /// The adjoint map, from `to` back to `from` (the backward step).
    pub fn transposed(&self) -> Self {
        Self {
            from: self.to,
            to: self.from,
            entries: self.entries.iter().map(|&(d, s, c)| (s, d, c)).collect(),
        }
    }

    /// The same map between spectra stored transposed (as [`super::fft_transposed`] leaves
    /// them); `from` and `to` still give the planes' own sizes.
    pub(crate) fn on_transposed_spectra(&self) -> Self {
        Self {
            from: self.from,
            to: self.to,
            entries: self
                .entries
                .iter()
                .map(|&(d, s, c)| {
                    (
                        super::transposed_index(d, self.to),
                        super::transposed_index(s, self.from),
                        c,
                    )
                })
                .collect(),
        }
    }
}

/// `ifft2(M · fft2(x))` with unnormalised transforms, per plane of a `[parts, n, h, w]`
/// tensor: `M` maps an `h × w` spectrum linearly onto another size. With `real_output` only
/// the real part is returned.
#[derive(Debug)]
pub(crate) struct Resample {
    pub map: Arc<SpectralMap>,
    pub real_output: bool,
}

impl HostOp for Resample {
    /// Whether the input was real.
    type Saved<B: Backend> = bool;

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, bool) {
        let real_input = x.shape()[0] == 1;
        (
            resample_planes::<B>(x, &self.map, self.real_output),
            real_input,
        )
    }

    /// The adjoint of `ifft · M · fft` (unnormalised) is `ifft · Mᵀ · fft`.
    fn backward<B: Backend>(&self, real_input: bool, grad: FloatTensor<B>) -> FloatTensor<B> {
        resample_planes::<B>(grad, &self.map.transposed(), real_input)
    }
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

fn resample_planes<B: Backend>(
    x: FloatTensor<B>,
    map: &SpectralMap,
    real_output: bool,
) -> FloatTensor<B> {
    on_planes::<B>(x, map.to, real_output, map)
}
