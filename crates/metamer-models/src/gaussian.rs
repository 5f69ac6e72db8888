use burn::tensor::{Tensor, backend::Backend, module::conv2d, ops::ConvOptions};
use metamer_core::{Model, Representation, tensor::from_f64};

use crate::{
    ModelError, Padding, Result,
    padding::{assert_fits, padded_source, same_pad, same_padding_amounts},
};

/// Blurs each input channel with normalised Gaussians, one output channel per standard deviation
/// (plenoptic's `Gaussian`). Separable: rows, then columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussian {
    kernel_size: [usize; 2],
    std: Vec<f64>,
    pad_mode: Padding,
}

impl Gaussian {
    /// A `kernel_size`² Gaussian with std 3 and reflect padding (plenoptic's `Gaussian(k)`).
    pub fn new(kernel_size: usize) -> Result<Self> {
        Self::with_options([kernel_size, kernel_size], &[3.0], None, Padding::Reflect)
    }

    /// `std` holds one value, repeated to `out_channels`, or one value per output channel.
    pub fn with_options(
        kernel_size: [usize; 2],
        std: &[f64],
        out_channels: Option<usize>,
        pad_mode: Padding,
    ) -> Result<Self> {
        let std = validate_filter_args(kernel_size, std, out_channels, "std", "out_channels")?;
        Ok(Self {
            kernel_size,
            std,
            pad_mode,
        })
    }

    pub fn kernel_size(&self) -> [usize; 2] {
        self.kernel_size
    }

    pub fn std(&self) -> &[f64] {
        &self.std
    }

    pub fn out_channels(&self) -> usize {
        self.std.len()
    }

    pub fn pad_mode(&self) -> Padding {
        self.pad_mode
    }

    /// Blurs `[batch, channel, h, w]` into `[batch, channel · out_channels, h, w]`.
    pub fn blur<B: Backend>(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, height, width] = image.dims();
        let [kh, kw] = self.kernel_size;
        assert_fits(height, same_padding_amounts(kh), self.pad_mode);
        assert_fits(width, same_padding_amounts(kw), self.pad_mode);
        // Dense operators cost O(h + w) per pixel against O(kh + kw) for convolution, but run
        // as matrix products several times faster per operation.
        if height + width <= MATRIX_SPEEDUP * (kh + kw) {
            self.blur_by_matrices(image)
        } else {
            self.blur_by_convolution(image)
        }
    }

    /// Padding and a 1-D filter along each axis folded into one `n×n` matrix per axis:
    /// `blur(x) = A_h · x · A_wᵀ`, two matrix products per output channel.
    pub fn blur_by_matrices<B: Backend>(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, channels, height, width] = image.dims();
        let [kh, kw] = self.kernel_size;
        let (dtype, device) = (image.dtype(), image.device());
        let n = batch * channels;
        let planes = image.reshape([n, height, width]);
        let blurred: Vec<Tensor<B, 4>> = self
            .std
            .iter()
            .map(|&std| {
                let rows_t = axis_operator(width, kw, std, self.pad_mode);
                let cols = axis_operator(height, kh, std, self.pad_mode);
                let rows_t = from_f64(transpose(&rows_t, width), [width, width], dtype, &device);
                let cols = from_f64(cols, [1, height, height], dtype, &device);
                let along_rows = planes
                    .clone()
                    .reshape([n * height, width])
                    .matmul(rows_t)
                    .reshape([n, height, width]);
                let along_cols = if n == 1 {
                    // A plain matrix product: cheaper than a batch of one on some backends.
                    cols.reshape([height, height])
                        .matmul(along_rows.reshape([height, width]))
                        .reshape([1, height, width])
                } else {
                    cols.expand([n, height, height]).matmul(along_rows)
                };
                along_cols.reshape([batch, channels, height, width])
            })
            .collect();
        interleave_channels(blurred, batch, channels, height, width)
    }

    /// Same-padding, then a row and a column convolution.
    pub fn blur_by_convolution<B: Backend>(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        let [batch, channels, height, width] = image.dims();
        let [kh, kw] = self.kernel_size;
        let out = self.std.len();
        let (dtype, device) = (image.dtype(), image.device());
        let row_weights: Vec<f64> = self.std.iter().flat_map(|&s| gaussian_1d(kw, s)).collect();
        let col_weights: Vec<f64> = self.std.iter().flat_map(|&s| gaussian_1d(kh, s)).collect();
        let rows = from_f64(row_weights, [out, 1, 1, kw], dtype, &device);
        let cols = from_f64(col_weights, [out, 1, kh, 1], dtype, &device);
        let padded = same_pad(image, self.kernel_size, self.pad_mode);
        let [_, _, padded_h, padded_w] = padded.dims();
        let single = padded.reshape([batch * channels, 1, padded_h, padded_w]);
        let along_rows = conv2d(
            single,
            rows,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        let blurred = conv2d(
            along_rows,
            cols,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], out),
        );
        blurred.reshape([batch, channels * out, height, width])
    }
}

/// How much faster per multiply-add a matrix product (forward and backward) runs than Burn's
/// direct convolution, whose backward pass is slow: about 33 when timed on flex and ndarray at
/// 256×256 with a 30-tap kernel; rounded down. Sets where
/// [`Gaussian::blur`] switches between them.
const MATRIX_SPEEDUP: usize = 24;

/// Channel order `[c0·s0, c0·s1, …, c1·s0, …]` from one `[b, c, h, w]` tensor per std.
fn interleave_channels<B: Backend>(
    per_std: Vec<Tensor<B, 4>>,
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
) -> Tensor<B, 4> {
    let out = per_std.len();
    if out == 1 {
        return per_std.into_iter().next().expect("one std");
    }
    let stacked: Vec<Tensor<B, 5>> = per_std.into_iter().map(|t| t.unsqueeze_dim(2)).collect();
    Tensor::cat(stacked, 2).reshape([batch, channels * out, height, width])
}

/// The `n×n` matrix `A` with `(A·x)[i] = Σ_t g[t] · pad(x)[i + t]`, row-major.
fn axis_operator(n: usize, k: usize, std: f64, mode: Padding) -> Vec<f64> {
    let taps = gaussian_1d(k, std);
    let (before, _) = same_padding_amounts(k);
    let mut matrix = vec![0.0; n * n];
    for i in 0..n {
        for (t, tap) in taps.iter().enumerate() {
            if let Some(source) = padded_source(i + t, n, before, mode) {
                matrix[i * n + source] += tap;
            }
        }
    }
    matrix
}

fn transpose(matrix: &[f64], n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|idx| matrix[(idx % n) * n + idx / n])
        .collect()
}

impl<B: Backend> Model<B, 4> for Gaussian {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        self.blur(image).into()
    }

    fn name(&self) -> String {
        format!(
            "Gaussian(kernel_size={:?}, std={:?}, pad_mode={})",
            self.kernel_size,
            self.std,
            self.pad_mode.name()
        )
    }
}

/// Normalised samples of a Gaussian centred at `(k + 1) / 2` in 1-based coordinates, so even
/// kernels use half-integer offsets (plenoptic's `circular_gaussian2d`, which is separable).
fn gaussian_1d(k: usize, std: f64) -> Vec<f64> {
    let origin = (k as f64 + 1.0) / 2.0;
    let values: Vec<f64> = (1..=k)
        .map(|i| {
            let d = i as f64 - origin;
            (-(d * d) / (2.0 * std * std)).exp()
        })
        .collect();
    let sum: f64 = values.iter().sum();
    values.into_iter().map(|v| v / sum).collect()
}

/// plenoptic's `_validate_filter_args`: returns one std per output channel.
pub(crate) fn validate_filter_args(
    kernel_size: [usize; 2],
    std: &[f64],
    out_channels: Option<usize>,
    std_name: &'static str,
    out_name: &'static str,
) -> Result<Vec<f64>> {
    if kernel_size.contains(&0) {
        return Err(ModelError::KernelSize(kernel_size.to_vec()));
    }
    let out_channels = out_channels.unwrap_or(std.len().max(1));
    if out_channels == 0 {
        return Err(ModelError::OutChannels(out_name));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_kernels_use_half_integer_offsets() {
        let g = gaussian_1d(4, 1.0);
        assert!((g[0] - g[3]).abs() < 1e-15 && (g[1] - g[2]).abs() < 1e-15);
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // offsets -1.5 and -0.5
        assert!((g[0] / g[1] - (-1.0f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn matrices_and_convolution_agree() {
        use burn::backend::NdArray;
        use burn::tensor::DType;
        use metamer_core::tensor::to_f64;
        let device = Default::default();
        let values: Vec<f64> = (0..2 * 3 * 11 * 9)
            .map(|i| ((i * 37) % 101) as f64 / 101.0)
            .collect();
        let image = from_f64::<NdArray<f64>, 4>(values, [2, 3, 11, 9], DType::F64, &device);
        for pad_mode in [
            Padding::Reflect,
            Padding::Circular,
            Padding::Constant,
            Padding::Replicate,
        ] {
            for (kernel, std) in [([4, 6], vec![1.5]), ([5, 5], vec![1.0, 2.0])] {
                let g = Gaussian::with_options(kernel, &std, None, pad_mode).unwrap();
                let by_matrix = to_f64(g.blur_by_matrices(image.clone()));
                let by_conv = to_f64(g.blur_by_convolution(image.clone()));
                assert_eq!(by_matrix.len(), 2 * 3 * std.len() * 11 * 9);
                for (a, b) in by_matrix.iter().zip(&by_conv) {
                    assert!((a - b).abs() < 1e-12, "{pad_mode:?} {kernel:?}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn rejects_invalid_arguments() {
        assert!(matches!(
            Gaussian::with_options([0, 3], &[1.0], None, Padding::Reflect),
            Err(ModelError::KernelSize(_))
        ));
        assert!(matches!(
            Gaussian::with_options([3, 3], &[-1.0], None, Padding::Reflect),
            Err(ModelError::NonPositiveStd { .. })
        ));
        assert!(matches!(
            Gaussian::with_options([3, 3], &[1.0, 2.0], Some(3), Padding::Reflect),
            Err(ModelError::StdLength { .. })
        ));
        assert!(matches!(
            Gaussian::with_options([3, 3], &[1.0], Some(0), Padding::Reflect),
            Err(ModelError::OutChannels("out_channels"))
        ));
        let g = Gaussian::with_options([3, 3], &[2.0], Some(3), Padding::Circular).unwrap();
        assert_eq!(g.std(), &[2.0, 2.0, 2.0]);
    }
}
