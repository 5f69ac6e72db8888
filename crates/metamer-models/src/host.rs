//! Host operations inside Burn's autodiff graph.
//!
//! Some steps run much faster as plain loops or FFTs on the host than as chains of Burn
//! operations: Fourier transforms of any size, spectral resampling, windowed
//! autocorrelations, small fixed-weight correlations, and the texture model's statistics as
//! a whole. Each is one autodiff operation whose backward step is its adjoint, written by
//! hand; on GPUs it pays a host round trip.

use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{
    DType, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive, backend::Backend,
};

use crate::correlation::FixedCorrelation;
use crate::fft::{
    SpectralMap, host_autocorrelation, host_autocorrelation_grad, host_fft2, host_resample,
};
use crate::portilla_simoncelli::TexturePlan;
use crate::portilla_simoncelli::statistics::{Records, host_statistics, host_statistics_grad};

/// Backends that run our host operations inside Burn's autodiff graph, each with a
/// hand-written backward step. Implemented for every `Autodiff<B>`, which is what a synthesis
/// runs on.
pub trait HostBackend: Backend {
    /// The unnormalised 2-D DFT (`e^{∓2πi kn/N}`, no scaling) over the last two axes of
    /// `[parts, n, height, width]` tensors: `parts` is 2 for real then imaginary parts, 1 for
    /// real input. With `real_output` only the real part of the result is returned (1 part).
    fn fft2_packed(x: FloatTensor<Self>, inverse: bool, real_output: bool) -> FloatTensor<Self>;

    /// `ifft2(M · fft2(x))` with unnormalised transforms, per plane of a `[parts, n, h, w]`
    /// tensor: `M` maps an `h × w` spectrum linearly onto another size (Fourier up- and
    /// down-sampling). With `real_output` only the real part is returned.
    fn resample_packed(
        x: FloatTensor<Self>,
        map: Arc<SpectralMap>,
        real_output: bool,
    ) -> FloatTensor<Self>;

    /// The circular autocorrelation of each plane of a real `[1, n, h, w]` tensor, divided by
    /// `h·w`, at the `width × width` lags around zero (lag `−width/2` first): `[1, n, width,
    /// width]`.
    fn autocorrelation_packed(x: FloatTensor<Self>, width: usize) -> FloatTensor<Self>;

    /// A "same"-size correlation of `[batch, in, h, w]` with fixed weights: `[batch, out, h,
    /// w]`. Small kernels run far faster as plain loops than through im2col.
    fn correlate_fixed(x: FloatTensor<Self>, filter: Arc<FixedCorrelation>) -> FloatTensor<Self>;

    /// The Portilla–Simoncelli statistics `[planes, n]` of `[planes, height, width]` images,
    /// redundant entries included, in one host pass (see the `statistics` module).
    fn texture_statistics(x: FloatTensor<Self>, plan: Arc<TexturePlan>) -> FloatTensor<Self>;
}

impl<B: Backend, C: CheckpointStrategy> HostBackend for Autodiff<B, C> {
    fn fft2_packed(x: FloatTensor<Self>, inverse: bool, real_output: bool) -> FloatTensor<Self> {
        /// The DFT is linear and the real form of its adjoint is the opposite-direction
        /// unnormalised transform; a real input makes the adjoint keep only its real part,
        /// and a real output makes the gradient a real input to it.
        #[derive(Debug)]
        struct Fft2 {
            inverse: bool,
            real_input: bool,
        }

        impl<B: Backend> Backward<B, 1> for Fft2 {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    host_fft2::<B>(grad, !self.inverse, self.real_input)
                });
            }
        }

        let real_input = x.primitive.shape()[0] == 1;
        Fft2 {
            inverse,
            real_input,
        }
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateless(host_fft2::<B>(x.primitive, inverse, real_output))
    }

    fn resample_packed(
        x: FloatTensor<Self>,
        map: Arc<SpectralMap>,
        real_output: bool,
    ) -> FloatTensor<Self> {
        /// The adjoint of `ifft · M · fft` (unnormalised) is `ifft · Mᵀ · fft`.
        #[derive(Debug)]
        struct Resample {
            map: Arc<SpectralMap>,
            real_input: bool,
        }

        impl<B: Backend> Backward<B, 1> for Resample {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let transposed = self.map.transposed();
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    host_resample::<B>(grad, &transposed, self.real_input)
                });
            }
        }

        let real_input = x.primitive.shape()[0] == 1;
        let output = host_resample::<B>(x.primitive, &map, real_output);
        Resample { map, real_input }
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateless(output)
    }

    fn autocorrelation_packed(x: FloatTensor<Self>, width: usize) -> FloatTensor<Self> {
        /// `∂ac[d]/∂x(z) = (x(z+d) + x(z−d)) / N`: the gradient is `x` filtered by the
        /// symmetrised lag weights, `ifft(X · 2 Re(G)) / N²`.
        #[derive(Debug)]
        struct Autocorrelation {
            width: usize,
        }

        impl<B: Backend> Backward<B, 1> for Autocorrelation {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let input = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    host_autocorrelation_grad::<B>(input, grad, self.width)
                });
            }
        }

        match (Autocorrelation { width })
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let output = host_autocorrelation::<B>(x.primitive.clone(), width);
                prep.finish(x.primitive, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(host_autocorrelation::<B>(x.primitive, width)),
        }
    }

    fn correlate_fixed(x: FloatTensor<Self>, filter: Arc<FixedCorrelation>) -> FloatTensor<Self> {
        /// The adjoint of a correlation with fixed weights scatters each output gradient back
        /// through the same weights and padding.
        #[derive(Debug)]
        struct Correlate {
            filter: Arc<FixedCorrelation>,
            input_shape: [usize; 4],
        }

        impl<B: Backend> Backward<B, 1> for Correlate {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    self.filter.adjoint_on_host::<B>(grad, self.input_shape)
                });
            }
        }

        let shape = x.primitive.shape();
        let input_shape = [shape[0], shape[1], shape[2], shape[3]];
        let output = filter.apply_on_host::<B>(x.primitive);
        Correlate {
            filter,
            input_shape,
        }
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateless(output)
    }

    fn texture_statistics(x: FloatTensor<Self>, plan: Arc<TexturePlan>) -> FloatTensor<Self> {
        /// The adjoint of the whole statistics pass, from the forward pass's records.
        #[derive(Debug)]
        struct TextureStatistics {
            plan: Arc<TexturePlan>,
        }

        impl<B: Backend> Backward<B, 1> for TextureStatistics {
            type State = Arc<Records>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let records = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    host_statistics_grad::<B>(grad, &self.plan, &records)
                });
            }
        }

        match (TextureStatistics { plan: plan.clone() })
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (out, records) = host_statistics::<B>(x.primitive, &plan, true);
                prep.finish(Arc::new(records.expect("records kept")), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(host_statistics::<B>(x.primitive, &plan, false).0)
            }
        }
    }
}

/// A tensor's values on the host, in its own precision (float32 for every non-f64 dtype, as
/// torch computes them).
pub(crate) enum HostValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// The host round trip of every host operation: reads `x`'s values (through a flat view, see
/// `metamer_core::tensor::flat_data`), runs `op` on them, and returns its result, of
/// `out_shape`, with `x`'s dtype and device.
pub(crate) fn on_host<B: Backend, const D: usize>(
    x: FloatTensor<B>,
    out_shape: [usize; D],
    op: impl FnOnce(HostValues) -> HostValues,
) -> FloatTensor<B> {
    let device = B::float_device(&x);
    let data = read_flat::<B>(x);
    let dtype = data.dtype;
    let values = if dtype == DType::F64 {
        HostValues::F64(data.into_vec().expect("float64 data"))
    } else {
        HostValues::F32(data.convert::<f32>().into_vec().expect("float data"))
    };
    let data = match op(values) {
        HostValues::F64(v) => TensorData::new(v, out_shape),
        HostValues::F32(v) => TensorData::new(v, out_shape).convert_dtype(dtype),
    };
    Tensor::<B, D>::from_data(data, (&device, dtype))
        .into_primitive()
        .tensor()
}

/// A tensor's values as `f64`, row-major (for weights and gradients a host operation needs
/// besides its main input).
pub(crate) fn host_f64<B: Backend>(x: FloatTensor<B>) -> Vec<f64> {
    read_flat::<B>(x)
        .convert::<f64>()
        .into_vec()
        .expect("float data")
}

/// The dimensions of a rank-`D` tensor.
pub(crate) fn dims<B: Backend, const D: usize>(x: &FloatTensor<B>) -> [usize; D] {
    let shape = x.shape();
    std::array::from_fn(|i| shape[i])
}

fn read_flat<B: Backend>(x: FloatTensor<B>) -> TensorData {
    let count = x.shape().num_elements();
    let flat = B::float_reshape(x, Shape::new([count]));
    metamer_core::tensor::flat_data(Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(flat)))
}
