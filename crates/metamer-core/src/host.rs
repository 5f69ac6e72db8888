//! Plain passes over tensors in host memory (ndarray, flex, libtorch on the CPU), where a
//! backend's element-wise operations would each allocate a plane, record a backward step and
//! run on one thread.

use std::ops::{Add, Div, Mul, Neg, Sub};

use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use rayon::prelude::*;

use crate::tensor::{flat_data, l2_norm_all, runs_on_host, scalar};

/// Values per rayon task.
pub(crate) const CHUNK: usize = 1 << 14;

/// The precision of a tensor the host passes take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precision {
    F32,
    F64,
}

impl Precision {
    /// `Some` for float32 and float64 tensors in host memory.
    pub(crate) fn of<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> Option<Self> {
        if !runs_on_host::<B>(&tensor.device()) {
            return None;
        }
        match tensor.dtype() {
            DType::F32 => Some(Self::F32),
            DType::F64 => Some(Self::F64),
            _ => None,
        }
    }
}

/// The numbers the passes run in.
pub(crate) trait Real:
    burn::tensor::Element
    + Copy
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + PartialOrd
{
    fn of(value: f64) -> Self;
    fn wide(self) -> f64;
    fn sqrt(self) -> Self;
}

impl Real for f32 {
    fn of(value: f64) -> Self {
        value as f32
    }
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

impl Real for f64 {
    fn of(value: f64) -> Self {
        value
    }
    fn wide(self) -> f64 {
        self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

/// A float tensor's values in row-major order.
pub(crate) fn values<B: Backend, const D: usize, T: Real>(tensor: Tensor<B, D>) -> Vec<T> {
    flat_data(tensor).into_vec::<T>().expect("float data")
}

/// Two tensors' values, read side by side on rayon's threads when there are several: on the
/// CPU backends each read copies its plane, and the second would otherwise wait for the first.
pub(crate) fn values_of_both<B: Backend, const D: usize, const E: usize, T: Real>(
    a: Tensor<B, D>,
    b: Tensor<B, E>,
) -> (Vec<T>, Vec<T>) {
    both(|| values(a), || values(b))
}

/// `a()` and `b()`, side by side on rayon's threads when there are several.
pub(crate) fn both<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if rayon::current_num_threads() > 1 {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// A tensor of `dtype` on `device` holding `values`.
pub(crate) fn tensor<B: Backend, const D: usize, T: Real>(
    values: Vec<T>,
    shape: [usize; D],
    device: &B::Device,
    dtype: DType,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

/// Applies `f` to every pair of values of `a` and `b` (changing `a`'s in place) and returns
/// the sums of the `N` numbers `f` returns for them. The work splits into stretches on rayon's
/// threads when there are several; each stretch sums in eight lanes, so the float64 additions
/// vectorise instead of waiting on each other, and the stretches' sums add up in order, so the
/// result does not depend on the thread count.
pub(crate) fn sum_zip<T: Real, const N: usize>(
    a: &mut [T],
    b: &[T],
    f: impl Fn(&mut T, T) -> [f64; N] + Sync,
) -> [f64; N] {
    debug_assert_eq!(a.len(), b.len(), "sum_zip pairs values one to one");
    let stretch = |(a, b): (&mut [T], &[T])| lane_sums(a, b, &f);
    let sums: Vec<[f64; N]> = if a.len() > CHUNK && rayon::current_num_threads() > 1 {
        a.par_chunks_mut(CHUNK)
            .zip(b.par_chunks(CHUNK))
            .map(stretch)
            .collect()
    } else {
        a.chunks_mut(CHUNK)
            .zip(b.chunks(CHUNK))
            .map(stretch)
            .collect()
    };
    sums.into_iter().fold([0.0; N], add)
}

const LANES: usize = 8;

fn lane_sums<T: Real, const N: usize>(
    a: &mut [T],
    b: &[T],
    f: &impl Fn(&mut T, T) -> [f64; N],
) -> [f64; N] {
    let mut lanes = [[0.0; LANES]; N];
    let mut a_blocks = a.chunks_exact_mut(LANES);
    let mut b_blocks = b.chunks_exact(LANES);
    for (a, b) in (&mut a_blocks).zip(&mut b_blocks) {
        for lane in 0..LANES {
            let terms = f(&mut a[lane], b[lane]);
            for (sum, term) in lanes.iter_mut().zip(terms) {
                sum[lane] += term;
            }
        }
    }
    let mut sums = lanes.map(|lanes| lanes.iter().sum::<f64>());
    for (a, &b) in a_blocks
        .into_remainder()
        .iter_mut()
        .zip(b_blocks.remainder())
    {
        sums = add(sums, f(a, b));
    }
    sums
}

fn add<const N: usize>(a: [f64; N], b: [f64; N]) -> [f64; N] {
    std::array::from_fn(|i| a[i] + b[i])
}

/// The Euclidean distance between two tensors of the same shape: a host pass where they live
/// in host memory, the backend's operations elsewhere. The difference is taken in the tensors'
/// precision, as the backend would; the squares add up in float64.
pub(crate) fn distance<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f64 {
    fn typed<B: Backend, const D: usize, T: Real>(a: Tensor<B, D>, b: Tensor<B, D>) -> f64 {
        let (mut a, b): (Vec<T>, Vec<T>) = values_of_both(a, b);
        let [sum] = sum_zip(&mut a, &b, |a, b| {
            let d = *a - b;
            [(d * d).wide()]
        });
        T::of(sum.sqrt()).wide()
    }
    match Precision::of(&a) {
        Some(Precision::F32) => typed::<B, D, f32>(a, b),
        Some(Precision::F64) => typed::<B, D, f64>(a, b),
        None => scalar(l2_norm_all(a.sub(b))),
    }
}
