//! Small conversions between Burn tensors and plain `f64` values.

use burn::tensor::{DType, Tensor, TensorData, backend::Backend};

/// Builds a float tensor of `dtype` from row-major `f64` values.
pub fn from_f64<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    dtype: DType,
    device: &B::Device,
) -> Tensor<B, D> {
    let data = match dtype {
        DType::F64 => TensorData::new(values, shape),
        _ => TensorData::new(values.into_iter().map(|v| v as f32).collect(), shape),
    };
    Tensor::from_data(data.convert_dtype(dtype), (device, dtype))
}

/// A tensor's values as one flat, row-major `TensorData`. Burn's ndarray backend copies a
/// multi-dimensional tensor element by element (about 30 ns each) when its storage is shared
/// or its strides are not the canonical ones, as for most gradients; a flat view of the same
/// values reads about 100 times faster.
///
/// The tensor is detached first: on an autodiff backend a reshape of a tracked tensor (a
/// model's parameter, say) would otherwise add a node to a graph that lives as long as the
/// parameter, and Burn's graph cleaner walks every such node after each backward pass, so
/// each read made every later iteration slower.
pub fn flat_data<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> TensorData {
    let count = tensor.shape().num_elements();
    tensor.detach().reshape([count]).into_data()
}

/// Whether tensors on `device` live in host memory (ndarray, flex, libtorch on the CPU), where
/// a pass over their values in plain Rust costs no transfer; elsewhere (wgpu, CUDA) work stays
/// in the backend's own operations.
pub fn runs_on_host<B: Backend>(device: &B::Device) -> bool {
    matches!(
        B::name(device).as_str(),
        "ndarray" | "flex" | "libtorch<cpu>"
    )
}

/// All values of a float tensor as `f64`, row-major.
pub fn to_f64<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f64> {
    let data = flat_data(tensor);
    match data.dtype {
        DType::F64 => data.to_vec::<f64>().expect("f64 data"),
        _ => data
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 data")
            .into_iter()
            .map(f64::from)
            .collect(),
    }
}

/// The value of a one-element tensor as `f64`.
pub fn scalar<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> f64 {
    to_f64(tensor.reshape([-1]))[0]
}

/// The Euclidean norm over all elements, as a one-element tensor (no host round trip).
pub fn l2_norm_all<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Tensor<B, 1> {
    tensor.square().sum().sqrt()
}

/// `a + (x - min) / (max - min) * (b - a)` with the global min and max (plenoptic's `rescale`).
pub fn rescale<B: Backend, const D: usize>(x: Tensor<B, D>, a: f64, b: f64) -> Tensor<B, D> {
    let (min, max) = (scalar(x.clone().min()), scalar(x.clone().max()));
    // The range is rounded to the tensor's precision, as torch computes it.
    let range = match x.dtype() {
        DType::F64 => max - min,
        _ => f64::from(max as f32 - min as f32),
    };
    let mut g = x.sub_scalar(min);
    if range > 0.0 {
        g = g.div_scalar(range);
    }
    g.mul_scalar(b - a).add_scalar(a)
}
