use burn::tensor::{Tensor, backend::Backend};
use metamer_core::{Model, Representation, tensor::from_f64};

use crate::{ModelError, Padding, Result, signal::padding::padded_source};

/// The Laplacian pyramid (plenoptic's `LaplacianPyramid`): band-pass residuals at successively
/// halved resolutions, then the low-pass remainder. Blurring with pyrtools' `binom5` filter and
/// the down- and up-sampling are linear and separable, so each is one matrix per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaplacianPyramid {
    n_scales: usize,
    scale_filter: bool,
}

impl LaplacianPyramid {
    /// plenoptic's defaults are 5 scales without filter scaling.
    ///
    /// # Errors
    /// When `n_scales` is zero.
    pub fn new(n_scales: usize, scale_filter: bool) -> Result<Self> {
        if n_scales == 0 {
            return Err(ModelError::Scales);
        }
        Ok(Self {
            n_scales,
            scale_filter,
        })
    }

    /// Number of scales.
    pub fn n_scales(&self) -> usize {
        self.n_scales
    }

    /// `n_scales` tensors: the band-pass images, finest first, then the low-pass image.
    pub fn forward<B: Backend>(&self, image: Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
        let mut levels = Vec::with_capacity(self.n_scales);
        let mut current = image;
        for _ in 1..self.n_scales {
            let down = blur_downsample(current.clone(), self.scale_filter);
            let [_, _, height, width] = current.dims();
            let up = upsample_blur(down.clone(), [height % 2, width % 2], self.scale_filter);
            levels.push(current.sub(up));
            current = down;
        }
        levels.push(current);
        levels
    }

    /// Inverts [`Self::forward`] exactly (up to rounding).
    pub fn recon_pyr<B: Backend>(&self, levels: &[Tensor<B, 4>]) -> Tensor<B, 4> {
        assert_eq!(levels.len(), self.n_scales, "one tensor per scale");
        let mut image = levels[self.n_scales - 1].clone();
        for band in levels[..self.n_scales - 1].iter().rev() {
            let [_, _, height, width] = band.dims();
            let up = upsample_blur(image, [height % 2, width % 2], self.scale_filter);
            image = band.clone().add(up);
        }
        image
    }
}

impl<B: Backend> Model<B, 4> for LaplacianPyramid {
    /// All levels flattened and concatenated, finest first.
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        let flat: Vec<Tensor<B, 1>> = LaplacianPyramid::forward(self, image)
            .into_iter()
            .map(|level| level.reshape([-1]))
            .collect();
        Tensor::cat(flat, 0).into()
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        let &[.., mut height, mut width] = shape else {
            return Some(format!(
                "expected an image of rank 2 or more, got shape {shape:?}"
            ));
        };
        for _ in 1..self.n_scales {
            let smaller = height.min(width);
            if smaller < MIN_SIDE {
                return Some(too_small(smaller));
            }
            (height, width) = (height.div_ceil(2), width.div_ceil(2));
        }
        None
    }

    fn name(&self) -> String {
        format!(
            "LaplacianPyramid(n_scales={}, scale_filter={})",
            self.n_scales, self.scale_filter
        )
    }
}

/// pyrtools' `binom5` along one axis: `√2·[1, 4, 6, 4, 1]/16` (the 2-D filter sums to 2).
fn binom5(scale: f64) -> [f64; 5] {
    [1.0, 4.0, 6.0, 4.0, 1.0].map(|v| v * std::f64::consts::SQRT_2 / 16.0 * scale)
}

/// plenoptic's `blur_downsample` (one level): reflect same-padding, `binom5`, stride 2.
pub fn blur_downsample<B: Backend>(image: Tensor<B, 4>, scale_filter: bool) -> Tensor<B, 4> {
    let [_, _, height, width] = image.dims();
    let taps = binom5(if scale_filter {
        std::f64::consts::FRAC_1_SQRT_2
    } else {
        1.0
    });
    let rows = downsample_operator(height, &taps);
    let cols = downsample_operator(width, &taps);
    apply_separable(image, rows, cols)
}

/// plenoptic's `upsample_blur` (one level): zero insertion and `binom5`, to `2n − odd` samples.
pub fn upsample_blur<B: Backend>(
    image: Tensor<B, 4>,
    odd: [usize; 2],
    scale_filter: bool,
) -> Tensor<B, 4> {
    let [_, _, height, width] = image.dims();
    let taps = binom5(if scale_filter {
        std::f64::consts::SQRT_2
    } else {
        1.0
    });
    let rows = upsample_operator(height, odd[0], &taps);
    let cols = upsample_operator(width, odd[1], &taps);
    apply_separable(image, rows, cols)
}

/// A row-major `rows × cols` matrix.
struct Operator {
    rows: usize,
    cols: usize,
    values: Vec<f64>,
}

/// `out[i] = Σ_t taps[t] · pad(x)[2i + t]`, reflect padding of 2 on each side.
/// The five-tap blur's reflect padding needs this many pixels per side at every scale.
const MIN_SIDE: usize = 3;

fn too_small(side: usize) -> String {
    format!(
        "the Laplacian pyramid needs at least {MIN_SIDE} pixels per side at every scale, got \
         {side}; use fewer scales"
    )
}

fn downsample_operator(n: usize, taps: &[f64; 5]) -> Operator {
    // `Model::check_input` reports this before a synthesis runs.
    assert!(n >= MIN_SIDE, "{}", too_small(n));
    let m = n.div_ceil(2);
    let mut values = vec![0.0; m * n];
    for i in 0..m {
        for (t, tap) in taps.iter().enumerate() {
            let source = padded_source(2 * i + t, n, 2, Padding::Reflect).expect("reflect");
            values[i * n + source] += tap;
        }
    }
    Operator {
        rows: m,
        cols: n,
        values,
    }
}

/// plenoptic's `upsample_convolve`: reflect-pad one sample each side, insert zeros, pad, and
/// correlate with the (symmetric) filter, giving `2m − odd` samples.
fn upsample_operator(m: usize, odd: usize, taps: &[f64; 5]) -> Operator {
    assert!(m >= 2, "cannot upsample a dimension of {m} pixel");
    let out = 2 * m - odd;
    let mut values = vec![0.0; out * m];
    for o in 0..out {
        for (t, tap) in taps.iter().enumerate() {
            let z = o + t;
            if z % 2 == 0 && z / 2 < m + 2 {
                let source = padded_source(z / 2, m, 1, Padding::Reflect).expect("reflect");
                values[o * m + source] += tap;
            }
        }
    }
    Operator {
        rows: out,
        cols: m,
        values,
    }
}

/// `R · x · Cᵀ` on every plane of `[batch, channels, h, w]`.
fn apply_separable<B: Backend>(
    image: Tensor<B, 4>,
    rows: Operator,
    cols: Operator,
) -> Tensor<B, 4> {
    let [batch, channels, height, width] = image.dims();
    let (dtype, device) = (image.dtype(), image.device());
    let n = batch * channels;
    let row_op = from_f64::<B, 2>(rows.values, [rows.rows, rows.cols], dtype, &device);
    let col_op_t = from_f64::<B, 2>(transpose(&cols), [cols.cols, cols.rows], dtype, &device);
    let along_width = image
        .reshape([n * height, width])
        .matmul(col_op_t)
        .reshape([n, height, cols.rows]);
    let along_height = row_op
        .unsqueeze::<3>()
        .expand([n, rows.rows, height])
        .matmul(along_width);
    along_height.reshape([batch, channels, rows.rows, cols.rows])
}

fn transpose(op: &Operator) -> Vec<f64> {
    (0..op.rows * op.cols)
        .map(|idx| {
            let (c, r) = (idx / op.rows, idx % op.rows);
            op.values[r * op.cols + c]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use burn::{backend::NdArray, tensor::DType};
    use metamer_core::tensor::to_f64;

    use super::*;

    #[test]
    fn reconstructs_odd_sizes_exactly() {
        let shape = [2, 1, 53, 34];
        let len = shape.iter().product();
        let values: Vec<f64> = (0..len).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
        let image =
            from_f64::<NdArray<f64>, 4>(values.clone(), shape, DType::F64, &Default::default());
        for n_scales in 1..=4 {
            let pyramid = LaplacianPyramid::new(n_scales, false).unwrap();
            let levels = pyramid.forward(image.clone());
            assert_eq!(levels.len(), n_scales);
            let recon = to_f64(pyramid.recon_pyr(&levels));
            for (a, b) in recon.iter().zip(&values) {
                assert!((a - b).abs() < 1e-12);
            }
        }
        let sizes: Vec<[usize; 4]> = LaplacianPyramid::new(4, true)
            .unwrap()
            .forward(image)
            .iter()
            .map(|l| l.dims())
            .collect();
        assert_eq!(
            sizes,
            [[2, 1, 53, 34], [2, 1, 27, 17], [2, 1, 14, 9], [2, 1, 7, 5]]
        );
    }
}
