use std::sync::Arc;

use burn::{
    config::Config,
    module::{Module, Param},
    tensor::{DType, Tensor, backend::Backend, module::conv2d, ops::ConvOptions},
};
use metamer_core::{
    Model, Representation,
    rng::rand_values,
    tensor::{from_f64, to_f64},
};

use crate::{
    FixedCorrelation, HostBackend, ModelError, Padding, Result, correlate_fixed,
    host::weighted_root, signal::padding::same_pad,
};

/// Options of [`Linear`], with plenoptic's defaults.
#[derive(Config, Debug, PartialEq)]
pub struct LinearConfig {
    /// `[height, width]` of the filters.
    #[config(default = "[3, 3]")]
    pub kernel_size: [usize; 2],
    /// How the image is padded before filtering.
    #[config(default = "Padding::Circular")]
    pub pad_mode: Padding,
    /// A low-pass and a band-pass filter; otherwise torch's default random initialisation,
    /// drawn from the global generator.
    #[config(default = true)]
    pub default_filters: bool,
}

impl LinearConfig {
    /// The model on `device`.
    ///
    /// # Errors
    /// When the kernel size is zero.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Linear<B>> {
        let [kh, kw] = self.kernel_size;
        if kh == 0 || kw == 0 {
            return Err(ModelError::KernelSize(self.kernel_size.to_vec()));
        }
        // torch initialises the convolution before plenoptic replaces its weights, so the
        // draws happen either way and later draws line up with plenoptic's.
        let random = kaiming_uniform(2 * kh * kw, kh * kw);
        let weights = if self.default_filters {
            default_filters(kh, kw)
        } else {
            random
        };
        let dtype = crate::signal::filters::float_dtype::<B>();
        let weights = weights.into_iter().map(f64::from).collect();
        Ok(Linear {
            weight: Param::from_tensor(from_f64(weights, [2, 1, kh, kw], dtype, device)),
            pad_mode: self.pad_mode,
        })
    }
}

/// Two learnable convolution filters on a one-channel image (plenoptic's `Linear`).
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// `[2, 1, kh, kw]`.
    pub weight: Param<Tensor<B, 4>>,
    #[module(skip)]
    pad_mode: Padding,
}

impl<B: Backend> Linear<B> {
    /// `[batch, 1, h, w]` → `[batch, 2, h, w]`; gradients reach the weights.
    pub fn forward(&self, image: Tensor<B, 4>) -> Tensor<B, 4> {
        self.convolve(image, self.weight.val())
    }

    fn convolve(&self, image: Tensor<B, 4>, weight: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, kh, kw] = weight.dims();
        let weight = weight.cast(image.dtype());
        let padded = same_pad(image, [kh, kw], self.pad_mode);
        conv2d(
            padded,
            weight,
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        )
    }
}

impl<B: HostBackend> Model<B, 4> for Linear<B> {
    /// A fixed-weight correlation on the host: for 3×3 filters several times faster than
    /// Burn's `conv2d`, which [`Linear::forward`] keeps for learning the weights.
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        let weights = to_f64(self.weight.val());
        let filter = FixedCorrelation::new(weights, self.weight.dims(), self.pad_mode);
        Representation::from(correlate_fixed(image, Arc::new(filter)))
            .with_weighted_root(weighted_root())
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        let [_, _, kh, kw] = self.weight.dims();
        crate::signal::padding::padding_problem([kh, kw], shape, self.pad_mode)
    }

    fn name(&self) -> String {
        let [_, _, kh, kw] = self.weight.dims();
        format!(
            "Linear(kernel_size=[{kh}, {kw}], pad_mode={})",
            self.pad_mode.name()
        )
    }
}

/// plenoptic's default filters in float32, computed with torch's operation order: a Gaussian
/// of std √3, and the difference of a std-1 Gaussian and it, divided by its own sum. That sum
/// is zero up to rounding, so the band-pass filter's scale is set by float32 rounding alone;
/// matching plenoptic needs its exact arithmetic (glibc `expf`, torch's summation order).
fn default_filters(kh: usize, kw: usize) -> Vec<f32> {
    let low = normalised_gaussian(kh, kw, 3.0f32.sqrt());
    let narrow = normalised_gaussian(kh, kw, 1.0);
    let band: Vec<f32> = narrow.iter().zip(&low).map(|(n, l)| n - l).collect();
    let band_sum = torch_sum(&band);
    low.iter()
        .copied()
        .chain(band.iter().map(|b| b / band_sum))
        .collect()
}

fn normalised_gaussian(kh: usize, kw: usize, std: f32) -> Vec<f32> {
    let offset = |i: usize, k: usize| i as f32 + 1.0 - (k as f32 + 1.0) / 2.0;
    let denominator = -2.0 * std * std;
    let values: Vec<f32> = (0..kh * kw)
        .map(|idx| {
            let (dy, dx) = (offset(idx / kw, kh), offset(idx % kw, kw));
            ((dx * dx + dy * dy) / denominator).exp()
        })
        .collect();
    let sum = torch_sum(&values);
    values.into_iter().map(|v| v / sum).collect()
}

/// torch's CPU float32 sum of a contiguous vector (8-lane vectors, four-way interleaved
/// accumulators, scalar tail first). Only the order matters here, for reproducing plenoptic.
fn torch_sum(values: &[f32]) -> f32 {
    const LANES: usize = 8;
    if values.len() < LANES {
        return interleaved_sum(values, 0.0, |a, b| a + b);
    }
    let vectors: Vec<[f32; LANES]> = values
        .chunks_exact(LANES)
        .map(|c| c.try_into().expect("full chunk"))
        .collect();
    let lanes = interleaved_sum(&vectors, [0.0; LANES], |a, b| {
        std::array::from_fn(|i| a[i] + b[i])
    });
    let tail = values[vectors.len() * LANES..]
        .iter()
        .fold(0.0f32, |acc, v| acc + v);
    lanes.iter().fold(tail, |acc, v| acc + v)
}

/// torch's `row_sum`: four interleaved accumulators with cascaded levels, then combined.
fn interleaved_sum<A: Copy>(items: &[A], zero: A, add: impl Fn(A, A) -> A) -> A {
    const ILP: usize = 4;
    const LEVELS: usize = 4;
    let rows = items.len() / ILP;
    let level_power = 4.max(ceil_log2(rows) / LEVELS as u32);
    let level_step = 1usize << level_power;
    let accumulate = |into: &mut [A; ILP], from: &[A]| {
        for (total, value) in into.iter_mut().zip(from) {
            *total = add(*total, *value);
        }
    };
    let mut acc = [[zero; ILP]; LEVELS];
    let mut row = 0;
    while row + level_step <= rows {
        for _ in 0..level_step {
            accumulate(&mut acc[0], &items[row * ILP..(row + 1) * ILP]);
            row += 1;
        }
        for j in 1..LEVELS {
            let lower = std::mem::replace(&mut acc[j - 1], [zero; ILP]);
            accumulate(&mut acc[j], &lower);
            if row & ((level_step - 1) << (j as u32 * level_power)) != 0 {
                break;
            }
        }
    }
    for row in row..rows {
        accumulate(&mut acc[0], &items[row * ILP..(row + 1) * ILP]);
    }
    let (first, higher) = acc.split_at_mut(1);
    for level in higher.iter() {
        accumulate(&mut first[0], level);
    }
    let mut partial = first[0];
    for item in &items[rows * ILP..] {
        partial[0] = add(partial[0], *item);
    }
    partial[1..]
        .iter()
        .fold(partial[0], |total, v| add(total, *v))
}

fn ceil_log2(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// torch's `Conv2d` initialisation, `kaiming_uniform_(a=√5)`: `U(−1/√fan_in, 1/√fan_in)`
/// computed as torch does (double arithmetic, one float32 draw per weight).
fn kaiming_uniform(count: usize, fan_in: usize) -> Vec<f32> {
    let a = 5.0f64.sqrt();
    let gain = (2.0 / (1.0 + a * a)).sqrt();
    let bound = 3.0f64.sqrt() * (gain / (fan_in as f64).sqrt());
    let (from, to) = (-bound as f32, bound as f32);
    let width = f64::from(to - from);
    rand_values(count, DType::F32)
        .into_iter()
        .map(|u| (u * width + f64::from(from)) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_sum_order() {
        // Order-sensitive values: 1e8 + 1 − 1e8 loses the 1 in float32 if added first.
        let values: Vec<f32> = (0..37)
            .map(|i| if i % 5 == 0 { 1e8 } else { 1.0 + i as f32 })
            .collect();
        let exact: f64 = values.iter().map(|&v| f64::from(v)).sum();
        assert!((f64::from(torch_sum(&values)) - exact).abs() / exact < 1e-6);
        assert_eq!(torch_sum(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(5), 3);
        assert_eq!(ceil_log2(8), 3);
    }

    #[test]
    fn default_filters_sum_to_one() {
        let filters = default_filters(3, 3);
        let low: f32 = filters[..9].iter().sum();
        let band: f64 = filters[9..].iter().map(|&v| f64::from(v)).sum();
        assert!((low - 1.0).abs() < 1e-6);
        assert!(
            (band - 1.0).abs() < 1e-3 * filters[9..].iter().map(|v| v.abs()).sum::<f32>() as f64
        );
    }
}
