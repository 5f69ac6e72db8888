//! The unnormalised 2-D DFT as a host operation.

use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rustfft::num_complex::Complex as FftComplex;

use super::planes::{PlaneOp, Planned, fft_planes, on_planes};
use crate::host::HostOp;

/// The unnormalised 2-D DFT (`e^{∓2πi kn/N}`, no scaling) over the last two axes of a
/// `[parts, n, height, width]` tensor: `parts` is 2 for real then imaginary parts, 1 for real
/// input. With `real_output` only the real part of the result is returned (1 part).
#[derive(Debug)]
pub(crate) struct Fft2 {
    pub inverse: bool,
    pub real_output: bool,
}

impl HostOp for Fft2 {
    /// Whether the input was real.
    type Saved<B: Backend> = bool;

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, bool) {
        let real_input = x.shape()[0] == 1;
        (
            fft2_planes::<B>(x, self.inverse, self.real_output),
            real_input,
        )
    }

    /// The DFT is linear and the real form of its adjoint is the opposite-direction
    /// unnormalised transform; a real input makes the adjoint keep only its real part, and a
    /// real output makes the gradient a real input to it.
    fn backward<B: Backend>(&self, real_input: bool, grad: FloatTensor<B>) -> FloatTensor<B> {
        fft2_planes::<B>(grad, !self.inverse, real_input)
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

fn fft2_planes<B: Backend>(x: FloatTensor<B>, inverse: bool, real_output: bool) -> FloatTensor<B> {
    let shape = x.shape();
    on_planes::<B>(x, [shape[2], shape[3]], real_output, &Transform { inverse })
}
