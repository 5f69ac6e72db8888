//! Separable Gaussian filtering, differentiable with respect to the image and the stds.
//!
//! plenoptic builds 2-D circular Gaussians and convolves with them; a circular Gaussian is the
//! outer product of two 1-D Gaussians, so we filter rows and columns separately. Known stds on
//! a host backend run as a host operation (`separable.rs`); elsewhere small images (relative
//! to the kernel) use one dense matrix per axis with the padding folded in, which runs as matrix
//! products, and large ones two 1-D convolutions.

use burn::{
    module::Param,
    tensor::{
        DType, IndexingUpdateOp, Int, Tensor, TensorData, backend::Backend, module::conv2d,
        ops::ConvOptions,
    },
};
use std::ops::Range;
use std::sync::OnceLock;

use metamer_core::tensor::{from_f64, to_f64};

use crate::{
    HostBackend, ModelError, Padding, Result,
    signal::padding::{assert_fits, padded_source, same_pad, same_padding_amounts},
    signal::separable::{ChannelTaps, filter_separable},
};

/// How much faster per multiply-add a matrix product (forward and backward) runs than Burn's
/// direct convolution, whose backward pass is slow: about 33 when timed on flex and ndarray at
/// 256×256 with a 30-tap kernel; rounded down. Sets where [`blur_grouped`] switches.
const MATRIX_SPEEDUP: usize = 24;

/// Normalised 1-D Gaussian taps, one row per std: `[stds, k]`.
///
/// Centred at `(k + 1) / 2` in 1-based coordinates, so even kernels use half-integer offsets;
/// plenoptic's `circular_gaussian2d` is the outer product of a column and a row of these.
pub fn gaussian_taps<B: Backend>(std: Tensor<B, 1>, k: usize) -> Tensor<B, 2> {
    let [count] = std.dims();
    let origin = (k as f64 + 1.0) / 2.0;
    let squared_offsets = (1..=k)
        .map(|i| {
            let d = i as f64 - origin;
            d * d
        })
        .collect();
    let squared_offsets = from_f64(squared_offsets, [1, k], std.dtype(), &std.device());
    let two_var = std.powi_scalar(2).mul_scalar(-2.0).reshape([count, 1]);
    let taps = squared_offsets.div(two_var).exp();
    taps.clone().div(taps.sum_dim(1))
}

/// plenoptic's `circular_gaussian2d`: `[out_channels, 1, kh, kw]` filters, each summing to 1,
/// with its argument checks.
///
/// # Errors
/// When the kernel size is zero or a standard deviation is not positive.
pub fn circular_gaussian2d<B: Backend>(
    kernel_size: [usize; 2],
    std: &[f64],
    out_channels: Option<usize>,
    device: &B::Device,
) -> Result<Tensor<B, 4>> {
    let std = validate_filter_args(kernel_size, std, out_channels, "std", "out_channels")?;
    let std = param_tensor(&std, [std.len()], device);
    Ok(gaussian_2d(std, kernel_size))
}

/// The 2-D Gaussians of `std`, as outer products of 1-D taps.
pub(crate) fn gaussian_2d<B: Backend>(std: Tensor<B, 1>, kernel_size: [usize; 2]) -> Tensor<B, 4> {
    let [count] = std.dims();
    let [kh, kw] = kernel_size;
    let cols = gaussian_taps(std.clone(), kh).reshape([count, 1, kh, 1]);
    let rows = gaussian_taps(std, kw).reshape([count, 1, 1, kw]);
    cols.mul(rows)
}

/// Gaussian standard deviations: known values, as in a metamer model, whose filters are built
/// on the host in float64; or a tensor that gradients reach, as when fitting a model.
#[derive(Clone, Debug)]
pub enum Stds<B: Backend> {
    /// Known values.
    Fixed(Vec<f64>),
    /// A tensor gradients reach.
    Learnable(Tensor<B, 1>),
}

impl<B: Backend> Stds<B> {
    /// A parameter's values, fixed (read once) or learnable.
    pub fn of(param: &Param<Tensor<B, 1>>, learnable: bool) -> Self {
        if learnable {
            Self::Learnable(param.val())
        } else {
            Self::Fixed(to_f64(param.val()))
        }
    }

    /// The values, read from the tensor when learnable.
    pub fn values(self) -> Vec<f64> {
        match self {
            Self::Fixed(values) => values,
            Self::Learnable(tensor) => to_f64(tensor),
        }
    }

    /// Number of standard deviations.
    pub fn len(&self) -> usize {
        match self {
            Self::Fixed(values) => values.len(),
            Self::Learnable(tensor) => tensor.dims()[0],
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The absolute values of the standard deviations.
    pub fn abs(self) -> Self {
        match self {
            Self::Fixed(values) => Self::Fixed(values.into_iter().map(f64::abs).collect()),
            Self::Learnable(tensor) => Self::Learnable(tensor.abs()),
        }
    }

    /// The stds of `parts` in order; learnable if any part is.
    pub fn cat(parts: Vec<Self>) -> Self {
        let Some(like) = parts.iter().find_map(|p| match p {
            Self::Learnable(t) => Some(t.clone()),
            Self::Fixed(_) => None,
        }) else {
            return Self::Fixed(
                parts
                    .into_iter()
                    .flat_map(|p| match p {
                        Self::Fixed(values) => values,
                        Self::Learnable(_) => unreachable!("all fixed"),
                    })
                    .collect(),
            );
        };
        let tensors = parts
            .into_iter()
            .map(|p| match p {
                Self::Learnable(t) => t,
                Self::Fixed(values) => {
                    let len = values.len();
                    from_f64(values, [len], like.dtype(), &like.device())
                }
            })
            .collect();
        Self::Learnable(Tensor::cat(tensors, 0))
    }

    fn repeat(self, times: usize) -> Self {
        match self {
            Self::Fixed(values) => Self::Fixed(values.repeat(times)),
            Self::Learnable(tensor) => Self::Learnable(tensor.repeat_dim(0, times)),
        }
    }
}

/// plenoptic's `cache_filt`: when enabled, the stds a model's filters were first built from
/// are kept and every later call uses them, whatever the parameters have become since (as
/// plenoptic's cached `_filt` buffer). A cached filter is a constant: leave caching off to fit
/// the stds.
#[derive(Clone, Debug, Default)]
pub struct FilterCache {
    enabled: bool,
    stds: OnceLock<Vec<f64>>,
}

impl FilterCache {
    /// A cache that keeps filters only when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            stds: OnceLock::new(),
        }
    }

    /// The stds the cache holds, if it has been filled.
    pub fn cached(&self) -> Option<&[f64]> {
        self.stds.get().map(Vec::as_slice)
    }

    /// The cached stds, or `build()`'s (kept when caching is enabled).
    pub fn stds<B: Backend>(&self, build: impl FnOnce() -> Stds<B>) -> Stds<B> {
        if !self.enabled {
            return build();
        }
        if let Some(values) = self.cached() {
            return Stds::Fixed(values.to_vec());
        }
        let stds = build();
        let values = match &stds {
            Stds::Fixed(values) => values.clone(),
            Stds::Learnable(tensor) => to_f64(tensor.clone()),
        };
        // Another thread may have filled it first with the same parameters; either is fine.
        let _ = self.stds.set(values);
        stds
    }
}

/// Blurs channel `g` of `[batch, groups, h, w]` with the Gaussian of `std[g]` (a grouped
/// convolution with "same" padding).
pub fn blur_grouped<B: HostBackend>(
    image: Tensor<B, 4>,
    std: Stds<B>,
    kernel_size: [usize; 2],
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [_, groups, height, width] = image.dims();
    assert_eq!(std.len(), groups, "one std per channel");
    let [kh, kw] = kernel_size;
    assert_fits(height, same_padding_amounts(kh), pad_mode);
    assert_fits(width, same_padding_amounts(kw), pad_mode);
    // Dense operators cost O(h + w) per pixel against O(kh + kw) for convolution, but run as
    // matrix products several times faster per operation.
    let by_matrices = height + width <= MATRIX_SPEEDUP * (kh + kw);
    let (dtype, device) = (image.dtype(), image.device());
    let (cols, rows) = match std {
        Stds::Fixed(values) if B::runs_on_host(&device) => {
            let taps = gaussian_channel_taps(&values, kernel_size, dtype);
            return filter_separable(image, taps, pad_mode);
        }
        Stds::Fixed(values) if by_matrices => {
            return filter_by_host_matrices(image, &values, kernel_size, pad_mode);
        }
        Stds::Fixed(values) => {
            let taps = |k: usize| {
                let taps = values
                    .iter()
                    .flat_map(|&s| gaussian_taps_f64(k, s))
                    .collect();
                from_f64(taps, [groups, k], dtype, &device)
            };
            (taps(kh), taps(kw))
        }
        Stds::Learnable(std) => {
            let std = std.cast(dtype);
            (gaussian_taps(std.clone(), kh), gaussian_taps(std, kw))
        }
    };
    if by_matrices {
        filter_by_matrices(image, cols, rows, pad_mode)
    } else {
        filter_by_convolution(image, cols, rows, pad_mode)
    }
}

/// Blurs every channel of `[batch, c, h, w]` with each std: `[batch, c · stds, h, w]`, channel
/// `i · stds + s` holding channel `i` blurred with `std[s]`.
pub fn blur_bank<B: HostBackend>(
    image: Tensor<B, 4>,
    std: Stds<B>,
    kernel_size: [usize; 2],
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [batch, channels, height, width] = image.dims();
    let stds = std.len();
    let image = if stds == 1 {
        image
    } else {
        image
            .unsqueeze_dim::<5>(2)
            .expand([batch, channels, stds, height, width])
            .reshape([batch, channels * stds, height, width])
    };
    let std = if channels == 1 {
        std
    } else {
        std.repeat(channels)
    };
    blur_grouped(image, std, kernel_size, pad_mode)
}

/// [`filter_by_matrices`] with operators built on the host from known stds, applied block by
/// block: each operator is banded (a row reads at most `k` neighbours), so every block of rows
/// multiplies only the columns its band touches.
fn filter_by_host_matrices<B: Backend>(
    image: Tensor<B, 4>,
    std: &[f64],
    [kh, kw]: [usize; 2],
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [_, _, height, width] = image.dims();
    let dtype = image.dtype();
    let operators = |n: usize, k: usize| -> Vec<Vec<f64>> {
        std.iter()
            .map(|&s| host_axis_operator(n, &host_taps(k, s, dtype), pad_mode))
            .collect()
    };
    let along_height = BandedOperator::new(operators(height, kh), height, kh);
    let along_width = BandedOperator::new(operators(width, kw), width, kw);
    along_width.apply(along_height.apply(image, 2), 3)
}

/// One `n×n` operator per channel, split into row blocks with the column range each needs.
struct BandedOperator {
    matrices: Vec<Vec<f64>>,
    n: usize,
    blocks: Vec<(Range<usize>, Range<usize>)>,
}

impl BandedOperator {
    fn new(matrices: Vec<Vec<f64>>, n: usize, k: usize) -> Self {
        // Blocks of about two kernel widths: the band then wastes at most half of each block.
        let count = (n / (2 * k)).clamp(1, 8);
        let blocks = (0..count)
            .map(|b| {
                let rows = b * n / count..(b + 1) * n / count;
                let touched = |j: &usize| {
                    matrices
                        .iter()
                        .any(|m| rows.clone().any(|i| m[i * n + j] != 0.0))
                };
                let first = (0..n).find(touched).unwrap_or(0);
                let last = (0..n).rev().find(touched).unwrap_or(0);
                (rows, first..last + 1)
            })
            .collect();
        Self {
            matrices,
            n,
            blocks,
        }
    }

    /// `A_g · x_g` along `dim` (2: height, 3: width) of `[batch, groups, h, w]`, as plain
    /// matrix products per channel and block (faster on CPU backends than batched ones).
    fn apply<B: Backend>(&self, image: Tensor<B, 4>, dim: usize) -> Tensor<B, 4> {
        let [batch, groups, height, width] = image.dims();
        let (dtype, device) = (image.dtype(), image.device());
        let channels: Vec<Tensor<B, 4>> = (0..groups)
            .map(|g| {
                let plane = image.clone().narrow(1, g, 1);
                let matrix = &self.matrices[g];
                // Along the height the blocks multiply from the left, along the width their
                // transposes from the right; either way on a 2-D view of the plane.
                let (flat, along) = if dim == 2 && batch == 1 {
                    (plane.reshape([height, width]), 0)
                } else if dim == 2 {
                    let columns = plane
                        .reshape([batch, height, width])
                        .swap_dims(0, 1)
                        .reshape([height, batch * width]);
                    (columns, 0)
                } else {
                    (plane.reshape([batch * height, width]), 1)
                };
                let parts: Vec<Tensor<B, 2>> = self
                    .blocks
                    .iter()
                    .map(|(rows, cols)| {
                        let (r, c) = (rows.len(), cols.len());
                        let input = flat.clone().narrow(along, cols.start, c);
                        if dim == 2 {
                            let values = rows
                                .clone()
                                .flat_map(|i| cols.clone().map(move |j| matrix[i * self.n + j]))
                                .collect();
                            from_f64::<B, 2>(values, [r, c], dtype, &device).matmul(input)
                        } else {
                            let values = cols
                                .clone()
                                .flat_map(|j| rows.clone().map(move |i| matrix[i * self.n + j]))
                                .collect();
                            input.matmul(from_f64::<B, 2>(values, [c, r], dtype, &device))
                        }
                    })
                    .collect();
                let filtered = Tensor::cat(parts, along);
                if dim == 2 && batch > 1 {
                    filtered
                        .reshape([height, batch, width])
                        .swap_dims(0, 1)
                        .reshape([batch, 1, height, width])
                } else {
                    filtered.reshape([batch, 1, height, width])
                }
            })
            .collect();
        Tensor::cat(channels, 1)
    }
}

/// [`gaussian_taps_f64`] for a `dtype` computation. In float32, the far tails of narrow
/// Gaussians (below 1e-15 of the taps' unit sum) become zeros: their products with gradients
/// are subnormal numbers, whose arithmetic is many times slower on CPUs (it made a
/// CenterSurround(31) iteration slower in float32 than in float64), and what they add is some
/// 1e-8 of float32's resolution.
fn host_taps(k: usize, std: f64, dtype: DType) -> Vec<f64> {
    const NEGLIGIBLE: f64 = 1e-15;
    let mut taps = gaussian_taps_f64(k, std);
    if dtype != DType::F64 {
        for tap in &mut taps {
            if tap.abs() < NEGLIGIBLE {
                *tap = 0.0;
            }
        }
    }
    taps
}

/// [`host_taps`] of each std along both axes: one separable Gaussian per channel.
pub(crate) fn gaussian_channel_taps(
    stds: &[f64],
    [kh, kw]: [usize; 2],
    dtype: DType,
) -> ChannelTaps {
    ChannelTaps(
        stds.iter()
            .map(|&s| [host_taps(kh, s, dtype), host_taps(kw, s, dtype)])
            .collect(),
    )
}

/// plenoptic's normalised 1-D Gaussian taps, in float64 (see [`gaussian_taps`]).
fn gaussian_taps_f64(k: usize, std: f64) -> Vec<f64> {
    let origin = (k as f64 + 1.0) / 2.0;
    let taps: Vec<f64> = (1..=k)
        .map(|i| (-(i as f64 - origin).powi(2) / (2.0 * std * std)).exp())
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

/// The row-major `n×n` matrix `A` of [`axis_operators`].
fn host_axis_operator(n: usize, taps: &[f64], pad_mode: Padding) -> Vec<f64> {
    let (before, _) = same_padding_amounts(taps.len());
    let mut matrix = vec![0.0; n * n];
    for i in 0..n {
        for (t, tap) in taps.iter().enumerate() {
            if let Some(source) = padded_source(i + t, n, before, pad_mode) {
                matrix[i * n + source] += tap;
            }
        }
    }
    matrix
}

/// `A_g · x_g · B_gᵀ` per channel `g`, with the padding folded into the per-axis operators.
fn filter_by_matrices<B: Backend>(
    image: Tensor<B, 4>,
    col_taps: Tensor<B, 2>,
    row_taps: Tensor<B, 2>,
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [_, _, height, width] = image.dims();
    let cols = axis_operators(col_taps, height, pad_mode);
    let rows_t = axis_operators(row_taps, width, pad_mode).swap_dims(1, 2);
    apply_axis_operators(image, cols, rows_t)
}

/// `cols_g · x_g · rows_tᵀ_g` per channel, for `[groups, h, h]` and `[groups, w, w]` operators.
fn apply_axis_operators<B: Backend>(
    image: Tensor<B, 4>,
    cols: Tensor<B, 3>,
    rows_t: Tensor<B, 3>,
) -> Tensor<B, 4> {
    let [batch, groups, height, width] = image.dims();
    if batch == 1 {
        let planes = image.reshape([groups, height, width]);
        let filtered = cols.matmul(planes).matmul(rows_t);
        return filtered.reshape([1, groups, height, width]);
    }
    let cols = cols
        .unsqueeze::<4>()
        .expand([batch, groups, height, height]);
    let rows_t = rows_t
        .unsqueeze::<4>()
        .expand([batch, groups, width, width]);
    cols.matmul(image).matmul(rows_t)
}

/// The `[groups, n, n]` matrices `A` with `(A·x)[i] = Σ_t taps[t] · pad(x)[i + t]`, built by
/// scattering the taps so that gradients reach them.
fn axis_operators<B: Backend>(taps: Tensor<B, 2>, n: usize, pad_mode: Padding) -> Tensor<B, 3> {
    let [groups, k] = taps.dims();
    let (before, _) = same_padding_amounts(k);
    let device = taps.device();
    // Constant padding reads zeros: send those taps to a spare column that is dropped.
    let sources: Vec<i64> = (0..n)
        .flat_map(|i| {
            (0..k).map(move |t| padded_source(i + t, n, before, pad_mode).unwrap_or(n) as i64)
        })
        .collect();
    let sources = Tensor::<B, 3, Int>::from_data(TensorData::new(sources, [1, n, k]), &device)
        .expand([groups, n, k]);
    let values = taps.reshape([groups, 1, k]).expand([groups, n, k]);
    Tensor::<B, 3>::zeros([groups, n, n + 1], (&device, values.dtype()))
        .scatter(2, sources, values, IndexingUpdateOp::Add)
        .narrow(2, 0, n)
}

/// Same-padding, then a row and a column convolution, grouped by channel.
fn filter_by_convolution<B: Backend>(
    image: Tensor<B, 4>,
    col_taps: Tensor<B, 2>,
    row_taps: Tensor<B, 2>,
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [groups, kh] = col_taps.dims();
    let [_, kw] = row_taps.dims();
    let padded = same_pad(image, [kh, kw], pad_mode);
    let along_rows = conv2d(
        padded,
        row_taps.reshape([groups, 1, 1, kw]),
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], groups),
    );
    conv2d(
        along_rows,
        col_taps.reshape([groups, 1, kh, 1]),
        None,
        ConvOptions::new([1, 1], [0, 0], [1, 1], groups),
    )
}

/// plenoptic's `_validate_filter_args`: returns one std per output channel.
pub(crate) fn validate_filter_args(
    kernel_size: [usize; 2],
    std: &[f64],
    out_channels: Option<usize>,
    std_name: &'static str,
    out_name: &'static str,
) -> Result<Vec<f64>> {
    let out_channels = out_channels.unwrap_or(std.len().max(1));
    if out_channels == 0 {
        return Err(ModelError::OutChannels(out_name));
    }
    if kernel_size.contains(&0) {
        return Err(ModelError::KernelSize(kernel_size.to_vec()));
    }
    if std.is_empty() || std.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        return Err(ModelError::NonPositiveStd {
            name: std_name,
            values: std.to_vec(),
        });
    }
    match std.len() {
        1 => Ok(vec![std[0]; out_channels]),
        n if n == out_channels => Ok(std.to_vec()),
        len => Err(ModelError::StdLength {
            std_name,
            out_name,
            len,
            out_channels,
        }),
    }
}

/// The backend's float type. Not the device's default dtype: backends that share a device type
/// (ndarray in f32 and f64) share that setting, set by whichever creates a tensor first.
pub(crate) fn float_dtype<B: Backend>() -> DType {
    <B::FloatElem as burn::tensor::Element>::dtype()
}

/// A parameter's initial values as plenoptic creates them: float32 tensors, later converted to
/// the model's dtype. Rounding through `f32` keeps float64 models equal to plenoptic's.
pub(crate) fn param_tensor<B: Backend, const D: usize>(
    values: &[f64],
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    let rounded = values.iter().map(|&v| f64::from(v as f32)).collect();
    let dtype = float_dtype::<B>();
    from_f64(rounded, shape, dtype, device)
}

#[cfg(test)]
mod tests;
