use burn::backend::{Autodiff, NdArray};

use super::*;

type B = NdArray<f64>;

fn ramp(shape: [usize; 4]) -> Tensor<B, 4> {
    let len = shape.iter().product();
    let values = (0..len).map(|i| ((i * 37) % 101) as f64 / 101.0).collect();
    from_f64(values, shape, DType::F64, &Default::default())
}

fn stds(values: &[f64]) -> Tensor<B, 1> {
    from_f64(
        values.to_vec(),
        [values.len()],
        DType::F64,
        &Default::default(),
    )
}

#[test]
fn even_kernels_use_half_integer_offsets() {
    let g = to_f64(gaussian_taps(stds(&[1.0]), 4));
    assert!((g[0] - g[3]).abs() < 1e-15 && (g[1] - g[2]).abs() < 1e-15);
    assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // offsets -1.5 and -0.5
    assert!((g[0] / g[1] - (-1.0f64).exp()).abs() < 1e-12);
}

#[test]
fn matrices_and_convolution_agree() {
    let image = ramp([2, 3, 11, 9]);
    for pad_mode in [
        Padding::Reflect,
        Padding::Circular,
        Padding::Constant,
        Padding::Replicate,
    ] {
        for (kernel, std) in [([4, 6], [1.5, 1.0, 2.0]), ([5, 5], [1.0, 2.0, 0.5])] {
            let (cols, rows) = (
                gaussian_taps(stds(&std), kernel[0]),
                gaussian_taps(stds(&std), kernel[1]),
            );
            let by_matrix = to_f64(filter_by_matrices(
                image.clone(),
                cols.clone(),
                rows.clone(),
                pad_mode,
            ));
            let by_conv = to_f64(filter_by_convolution(image.clone(), cols, rows, pad_mode));
            let by_host = to_f64(filter_by_host_matrices(
                image.clone(),
                &std,
                kernel,
                pad_mode,
            ));
            assert_eq!(by_matrix.len(), 2 * 3 * 11 * 9);
            for ((a, b), c) in by_matrix.iter().zip(&by_conv).zip(&by_host) {
                assert!((a - b).abs() < 1e-12, "{pad_mode:?} {kernel:?}: {a} vs {b}");
                assert!((a - c).abs() < 1e-12, "{pad_mode:?} {kernel:?}: {a} vs {c}");
            }
        }
    }
}

/// The host operation against Burn's convolution, and its backward step against the
/// adjoint identity `<A x, y> = <x, Aᵀ y>`, for every padding, odd and even kernels,
/// batches, several channels, and planes large enough to split across threads.
#[test]
fn host_filter_matches_convolution_and_its_adjoint() {
    type AD = Autodiff<B>;
    for (shape, kernel) in [([2, 3, 11, 9], [4, 6]), ([1, 2, 80, 70], [7, 5])] {
        let image = ramp(shape);
        let weights = ramp(shape).mul_scalar(2.0).sub_scalar(0.7);
        for pad_mode in [
            Padding::Reflect,
            Padding::Circular,
            Padding::Constant,
            Padding::Replicate,
        ] {
            let std = &[1.5, 1.0, 2.0][..shape[1]];
            let (cols, rows) = (
                gaussian_taps(stds(std), kernel[0]),
                gaussian_taps(stds(std), kernel[1]),
            );
            let by_conv = to_f64(filter_by_convolution(image.clone(), cols, rows, pad_mode));
            let x = Tensor::<AD, 4>::from_inner(image.clone()).require_grad();
            let filtered = blur_grouped(x.clone(), Stds::Fixed(std.to_vec()), kernel, pad_mode);
            let by_host = to_f64(filtered.clone().inner());
            for (a, b) in by_host.iter().zip(&by_conv) {
                assert!((a - b).abs() < 1e-12, "{pad_mode:?} {kernel:?}: {a} vs {b}");
            }
            let y = Tensor::<AD, 4>::from_inner(weights.clone());
            let grads = filtered.mul(y).sum().backward();
            let adjoint = to_f64(x.grad(&grads).unwrap());
            let (lhs, rhs): (f64, f64) = (
                by_host
                    .iter()
                    .zip(to_f64(weights.clone()))
                    .map(|(a, y)| a * y)
                    .sum(),
                to_f64(image.clone())
                    .iter()
                    .zip(&adjoint)
                    .map(|(x, g)| x * g)
                    .sum(),
            );
            assert!(
                (lhs - rhs).abs() < 1e-10 * lhs.abs(),
                "{pad_mode:?}: {lhs} vs {rhs}"
            );
        }
    }
}

#[test]
fn banded_blocks_match_convolution() {
    let image = ramp([2, 2, 70, 52]);
    for pad_mode in [Padding::Reflect, Padding::Circular, Padding::Constant] {
        let std = [1.5, 4.0];
        let kernel = [5, 6];
        let operator = BandedOperator::new(
            vec![host_axis_operator(70, &gaussian_taps_f64(5, 1.5), pad_mode)],
            70,
            5,
        );
        assert_eq!(operator.blocks.len(), 7);
        let by_blocks = to_f64(filter_by_host_matrices(
            image.clone(),
            &std,
            kernel,
            pad_mode,
        ));
        let (cols, rows) = (
            gaussian_taps(stds(&std), kernel[0]),
            gaussian_taps(stds(&std), kernel[1]),
        );
        let by_conv = to_f64(filter_by_convolution(image.clone(), cols, rows, pad_mode));
        for (a, b) in by_blocks.iter().zip(&by_conv) {
            assert!((a - b).abs() < 1e-12, "{pad_mode:?}: {a} vs {b}");
        }
    }
}

#[test]
fn gradients_reach_the_stds() {
    type AD = Autodiff<B>;
    let device = Default::default();
    let image = Tensor::<AD, 4>::from_inner(ramp([1, 1, 12, 10]));
    let std = Tensor::<AD, 1>::from_data([2.0f64], &device).require_grad();
    let loss = |s: f64| {
        let out = blur_grouped(
            image.clone(),
            Stds::Fixed(vec![s]),
            [5, 5],
            Padding::Reflect,
        );
        to_f64(out.powi_scalar(2).sum())[0]
    };
    let out = blur_grouped(
        image.clone(),
        Stds::Learnable(std.clone()),
        [5, 5],
        Padding::Reflect,
    );
    let grads = out.powi_scalar(2).sum().backward();
    let analytic = to_f64(std.grad(&grads).unwrap())[0];
    let numeric = (loss(2.0 + 1e-6) - loss(2.0 - 1e-6)) / 2e-6;
    assert!(
        (analytic - numeric).abs() < 1e-6 * numeric.abs().max(1.0),
        "{analytic} vs {numeric}"
    );
}
