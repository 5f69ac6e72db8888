//! The seam for host operations: steps that run much faster as plain loops or FFTs on the
//! host than as chains of Burn operations (Fourier transforms of any size, spectral
//! resampling, windowed autocorrelations, small fixed-weight correlations, the texture
//! model's statistics as a whole).
//!
//! An operation is a [`HostOp`]: a forward step and its adjoint, written by hand. One generic
//! autodiff node ([`HostBackend::host_op`]) puts any of them in Burn's graph for every
//! `Autodiff<B>`, so adding an operation is one new file implementing the trait; nothing here
//! knows the operations. On GPUs each call pays a host round trip.

mod buffers;
pub(crate) mod lanes;
mod split;
mod weighted_root;

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive};

pub(crate) use buffers::{Buf, ComplexPooled, Pooled};
pub(crate) use weighted_root::weighted_root;

/// One differentiable step computed on the host: its value and the adjoint of its
/// derivative (its backward step), for tensors of any backend.
pub trait HostOp: Debug + Send + Sync + 'static {
    /// What the forward step keeps for the backward step.
    type Saved<B: Backend>: Clone + Send + Debug + 'static;

    /// The step's value and what its backward step will need.
    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, Self::Saved<B>);

    /// The step's value when no gradient will be asked for; override it where keeping
    /// [`Self::Saved`] costs work.
    fn forward<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        self.forward_saving::<B>(x).0
    }

    /// The gradient with respect to the input, given the output's gradient `grad`.
    fn backward<B: Backend>(&self, saved: Self::Saved<B>, grad: FloatTensor<B>) -> FloatTensor<B>;
}

/// A host step with several outputs (see `split.rs` for how Burn's graph holds it).
pub trait HostSplitOp: Debug + Send + Sync + 'static {
    /// What the forward step keeps for the backward step.
    type Saved<B: Backend>: Clone + Send + Debug + 'static;

    /// The step's outputs and what its backward step will need.
    fn forward_saving<B: Backend>(
        &self,
        x: FloatTensor<B>,
    ) -> (Vec<FloatTensor<B>>, Self::Saved<B>);

    /// The gradient with respect to the input, given each output's gradient (`None` for the
    /// outputs the differentiated value does not depend on).
    fn backward<B: Backend>(
        &self,
        saved: Self::Saved<B>,
        grads: Vec<Option<FloatTensor<B>>>,
    ) -> FloatTensor<B>;
}

/// Backends that run [`HostOp`]s inside Burn's autodiff graph: every `Autodiff<B>`, which is
/// what a synthesis runs on.
pub trait HostBackend: Backend {
    /// `op` applied to `x`, with `op`'s backward step as its gradient.
    fn host_op<O: HostOp>(x: FloatTensor<Self>, op: O) -> FloatTensor<Self>;

    /// `op`'s outputs for `x`, with `op`'s backward step as their gradient.
    fn host_split_op<O: HostSplitOp>(x: FloatTensor<Self>, op: O) -> Vec<FloatTensor<Self>>;

    /// Whether tensors on `device` live in host memory (ndarray, flex, libtorch on the CPU),
    /// where a host operation costs no transfer; operations that have a device-resident
    /// alternative use it elsewhere (wgpu, CUDA).
    fn runs_on_host(device: &Self::Device) -> bool;
}

/// The autodiff node of a host operation.
#[derive(Debug)]
struct HostNode<O>(Arc<O>);

impl<B: Backend, O: HostOp> Backward<B, 1> for HostNode<O> {
    type State = O::Saved<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let saved = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            self.0.backward::<B>(saved, grad)
        });
    }
}

impl<B: Backend, C: CheckpointStrategy> HostBackend for Autodiff<B, C> {
    fn host_op<O: HostOp>(x: FloatTensor<Self>, op: O) -> FloatTensor<Self> {
        let op = Arc::new(op);
        match HostNode(op.clone())
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (output, saved) = op.forward_saving::<B>(x.primitive);
                prep.finish(saved, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(op.forward::<B>(x.primitive)),
        }
    }

    fn host_split_op<O: HostSplitOp>(x: FloatTensor<Self>, op: O) -> Vec<FloatTensor<Self>> {
        let op = Arc::new(op);
        let prep = match split::SplitNode(op.clone())
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep,
            OpsKind::UnTracked(_) => {
                let (outputs, _) = op.forward_saving::<B>(x.primitive);
                return outputs.into_iter().map(Self::from_inner).collect();
            }
        };
        let device = B::float_device(&x.primitive);
        let dtype = x.primitive.dtype();
        let (outputs, saved) = op.forward_saving::<B>(x.primitive);
        let filed: split::Filed<B> = Arc::new(Mutex::new(vec![None; outputs.len()]));
        let placeholder = B::float_zeros(Shape::new([1]), &device, dtype.into());
        let state = split::SplitState {
            saved,
            filed: filed.clone(),
        };
        let joint = prep.finish(state, placeholder.clone());
        outputs
            .into_iter()
            .enumerate()
            .map(|(index, output)| {
                let node = split::OutputNode { index };
                match node
                    .prepare::<C>([joint.node.clone()])
                    .compute_bound()
                    .stateful()
                {
                    OpsKind::Tracked(prep) => prep.finish(
                        split::OutputState {
                            filed: filed.clone(),
                            placeholder: placeholder.clone(),
                        },
                        output,
                    ),
                    OpsKind::UnTracked(prep) => prep.finish(output),
                }
            })
            .collect()
    }

    fn runs_on_host(device: &Self::Device) -> bool {
        metamer_core::tensor::runs_on_host::<B>(device)
    }
}

/// A tensor's values on the host, in its own precision (float32 for every non-f64 dtype, as
/// torch computes them).
pub(crate) enum HostValues {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl HostValues {
    pub(crate) fn into_f32(self) -> Vec<f32> {
        match self {
            HostValues::F32(v) => v,
            HostValues::F64(v) => v.into_iter().map(|v| v as f32).collect(),
        }
    }

    pub(crate) fn into_f64(self) -> Vec<f64> {
        match self {
            HostValues::F32(v) => v.into_iter().map(f64::from).collect(),
            HostValues::F64(v) => v,
        }
    }
}

/// The host round trip of every host operation: reads `x`'s values (through a flat view, see
/// `metamer_core::tensor::flat_data`), runs `op` on them, and returns its result, of
/// `out_shape`, with `x`'s dtype and device.
pub(crate) fn on_host<B: Backend, const D: usize>(
    x: FloatTensor<B>,
    out_shape: [usize; D],
    op: impl FnOnce(HostValues) -> HostValues,
) -> FloatTensor<B> {
    let (values, dtype, device) = to_host::<B>(x);
    from_host::<B>(op(values), out_shape.to_vec(), dtype, &device)
}

/// `x`'s values on the host, with its dtype and device for [`from_host`].
pub(crate) fn to_host<B: Backend>(x: FloatTensor<B>) -> (HostValues, DType, B::Device) {
    let device = B::float_device(&x);
    let data = read_flat::<B>(x);
    let dtype = data.dtype;
    let values = if dtype == DType::F64 {
        HostValues::F64(data.into_vec().expect("float64 data"))
    } else {
        HostValues::F32(data.convert::<f32>().into_vec().expect("float data"))
    };
    (values, dtype, device)
}

/// A tensor of `shape` holding `values`, as `dtype` on `device`.
pub(crate) fn from_host<B: Backend>(
    values: HostValues,
    shape: Vec<usize>,
    dtype: DType,
    device: &B::Device,
) -> FloatTensor<B> {
    let data = match values {
        HostValues::F64(v) => TensorData::new(v, shape),
        HostValues::F32(v) => TensorData::new(v, shape).convert_dtype(dtype),
    };
    B::float_from_data(data, device)
}

/// A tensor's values as `f64`, row-major (for weights and gradients a host operation needs
/// besides its main input).
pub(crate) fn host_f64<B: Backend>(x: FloatTensor<B>) -> Vec<f64> {
    read_flat::<B>(x)
        .convert::<f64>()
        .into_vec()
        .expect("float data")
}

/// Runs `work` on one of rayon's threads. Work that splits itself with rayon hands each split
/// to the pool; started from the caller's own thread, every split would wait for a pool
/// thread to wake (tens of microseconds each, hundreds per texture-model iteration), while
/// inside the pool splits run at once, or in place when the pool has one thread.
pub(crate) fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// `work(index, chunk)` on each consecutive `chunk_len` values of `data` (the last may be
/// shorter), split among rayon's threads when `parallel` and the pool has more than one.
/// Each chunk's work is the same either way.
pub(crate) fn by_chunks<X: Send>(
    data: &mut [X],
    chunk_len: usize,
    parallel: bool,
    work: impl Fn(usize, &mut [X]) + Sync,
) {
    use rayon::prelude::*;
    if parallel && rayon::current_num_threads() > 1 {
        data.par_chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, chunk)| work(i, chunk));
    } else {
        data.chunks_mut(chunk_len)
            .enumerate()
            .for_each(|(i, chunk)| work(i, chunk));
    }
}

/// The dimensions of a rank-`D` tensor.
pub(crate) fn dims<B: Backend, const D: usize>(x: &FloatTensor<B>) -> [usize; D] {
    let shape = x.shape();
    std::array::from_fn(|i| shape[i])
}

/// A tensor's values, row-major: detached first (`metamer_core::tensor::flat_data` says why),
/// then reshaped once, which on Burn's ndarray backend is the read's one copy (reading through
/// `flat_data` after a reshape here had made two).
fn read_flat<B: Backend>(x: FloatTensor<B>) -> TensorData {
    let count = x.shape().num_elements();
    let flat = B::float_reshape(B::float_detach(x), Shape::new([count]));
    Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(flat)).into_data()
}
