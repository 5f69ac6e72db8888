use burn::backend::{Autodiff, NdArray};
use burn::tensor::{DType, TensorData};
use metamer_core::tensor::to_f64;

use super::*;

type B = Autodiff<NdArray<f64>>;

fn tensor(values: Vec<f64>, shape: [usize; 3]) -> Tensor<B, 3> {
    Tensor::from_data(
        TensorData::new(values, shape),
        (&Default::default(), DType::F64),
    )
}

fn values(n: usize, seed: f64) -> Vec<f64> {
    (0..n).map(|i| ((i as f64 + seed) * 1.618).sin()).collect()
}

/// The DFT by its definition.
fn naive(re: &[f64], im: &[f64], h: usize, w: usize, sign: f64) -> (Vec<f64>, Vec<f64>) {
    let mut out = (vec![0.0; h * w], vec![0.0; h * w]);
    for k in 0..h {
        for l in 0..w {
            for m in 0..h {
                for n in 0..w {
                    let phase = sign
                        * 2.0
                        * std::f64::consts::PI
                        * ((k * m) as f64 / h as f64 + (l * n) as f64 / w as f64);
                    let (c, s) = (phase.cos(), phase.sin());
                    let (a, b) = (re[m * w + n], im[m * w + n]);
                    out.0[k * w + l] += a * c - b * s;
                    out.1[k * w + l] += a * s + b * c;
                }
            }
        }
    }
    out
}

#[test]
fn matches_the_definition_for_any_size() {
    for (h, w) in [(5, 7), (6, 4), (1, 9), (8, 8)] {
        let (re, im) = (values(h * w, 0.0), values(h * w, 3.0));
        let x = Complex {
            re: tensor(re.clone(), [1, h, w]),
            im: tensor(im.clone(), [1, h, w]),
        };
        let y = fft2(x.clone(), Norm::Backward);
        let (er, ei) = naive(&re, &im, h, w, -1.0);
        for (a, e) in to_f64(y.re.clone())
            .iter()
            .zip(&er)
            .chain(to_f64(y.im.clone()).iter().zip(&ei))
        {
            assert!((a - e).abs() < 1e-10, "{h}x{w}: {a} vs {e}");
        }
        let back = ifft2(y, Norm::Backward);
        for (a, e) in to_f64(back.re)
            .iter()
            .zip(&re)
            .chain(to_f64(back.im).iter().zip(&im))
        {
            assert!((a - e).abs() < 1e-12);
        }
        let ortho = fft2(x, Norm::Ortho);
        let scale = ((h * w) as f64).sqrt();
        for (a, e) in to_f64(ortho.re).iter().zip(&er) {
            assert!((a * scale - e).abs() < 1e-10);
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let (h, w) = (3, 5);
    let (re, im) = (values(h * w, 1.0), values(h * w, 2.0));
    let (wr, wi) = (values(h * w, 5.0), values(h * w, 9.0));
    // A real scalar of the transform: Σ wr·Re y + wi·Im y + (Re y)².
    let objective = |re: Vec<f64>, im: Vec<f64>, inverse: bool| {
        let x = Complex {
            re: tensor(re, [1, h, w]).require_grad(),
            im: tensor(im, [1, h, w]).require_grad(),
        };
        let y = if inverse {
            ifft2(x.clone(), Norm::Ortho)
        } else {
            fft2(x.clone(), Norm::Backward)
        };
        let value = (y.re.clone() * tensor(wr.clone(), [1, h, w])).sum()
            + (y.im * tensor(wi.clone(), [1, h, w])).sum()
            + y.re.powi_scalar(2).sum();
        (value, x)
    };
    for inverse in [false, true] {
        let (value, x) = objective(re.clone(), im.clone(), inverse);
        let grads = value.backward();
        let analytic = [
            to_f64(x.re.grad(&grads).unwrap()),
            to_f64(x.im.grad(&grads).unwrap()),
        ];
        for (part, gradient) in analytic.iter().enumerate() {
            for i in [0, 4, 14] {
                let step = 1e-6;
                let shifted = |delta: f64| {
                    let (mut r, mut m) = (re.clone(), im.clone());
                    if part == 0 {
                        r[i] += delta
                    } else {
                        m[i] += delta
                    }
                    to_f64(objective(r, m, inverse).0)[0]
                };
                let numeric = (shifted(step) - shifted(-step)) / (2.0 * step);
                assert!(
                    (numeric - gradient[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                    "inverse {inverse}, part {part}, element {i}: {numeric} vs {}",
                    gradient[i]
                );
            }
        }
    }
}

/// The real-input and real-output operations give the complex ones' values and gradients.
#[test]
fn real_variants_agree_with_the_complex_transform() {
    let (h, w) = (4, 6);
    let weights = tensor(values(h * w, 7.0), [1, h, w]);
    let run = |real_paths: bool| {
        let x = tensor(values(h * w, 1.0), [1, h, w]).require_grad();
        let spectrum = if real_paths {
            fft2_real(x.clone(), Norm::Ortho)
        } else {
            fft2(Complex::from_real(x.clone()), Norm::Ortho)
        };
        let spectrum = spectrum.mul_real(weights.clone());
        let back = if real_paths {
            ifft2_real(spectrum, Norm::Backward)
        } else {
            ifft2(spectrum, Norm::Backward).re
        };
        let grads = back.clone().powi_scalar(3).sum().backward();
        (to_f64(back), to_f64(x.grad(&grads).unwrap()))
    };
    let (real, complex) = (run(true), run(false));
    for (a, e) in real
        .0
        .iter()
        .zip(&complex.0)
        .chain(real.1.iter().zip(&complex.1))
    {
        assert!((a - e).abs() < 1e-12, "{a} vs {e}");
    }
}

#[test]
fn shifts_follow_numpy() {
    let x = tensor((0..15).map(f64::from).collect(), [1, 3, 5]);
    // numpy.fft.fftshift of arange(15).reshape(3, 5)
    assert_eq!(
        to_f64(fftshift(x.clone())),
        vec![
            13.0, 14.0, 10.0, 11.0, 12.0, 3.0, 4.0, 0.0, 1.0, 2.0, 8.0, 9.0, 5.0, 6.0, 7.0
        ]
    );
    assert_eq!(to_f64(ifftshift(fftshift(x.clone()))), to_f64(x));
}

#[test]
fn float32_tensors_stay_float32() {
    type F = Autodiff<NdArray<f32>>;
    let x: Tensor<F, 2> = Tensor::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]),
        (&Default::default(), DType::F32),
    );
    let y = fft2(Complex::from_real(x), Norm::Backward);
    assert_eq!(y.re.dtype(), DType::F32);
    assert_eq!(to_f64(y.re), vec![10.0, -2.0, -4.0, 0.0]);
}

/// The real-data transforms agree with the complex ones they replace, on sizes even and odd
/// along each axis, and with a spectrum that is not Hermitian going back.
#[test]
fn real_transforms_match_complex_ones() {
    use rustfft::num_complex::Complex as C;
    for size in [[6, 8], [5, 7], [7, 4], [1, 5], [4, 1], [16, 16]] {
        let n = size[0] * size[1];
        let x = values(n, 0.3);
        let mut plane: Vec<C<f64>> = x.iter().map(|v| C::new(*v, 0.0)).collect();
        let mut expected = vec![C::new(0.0, 0.0); n];
        fft_transposed(&mut plane, &mut expected, size);
        let mut spectrum = vec![C::new(0.0, 0.0); n];
        fft_real_transposed(&x, &mut spectrum, size);
        for (got, want) in spectrum.iter().zip(&expected) {
            assert!(
                (got - want).norm() < 1e-12 * n as f64,
                "{size:?}: {got} against {want}"
            );
        }

        let any: Vec<C<f64>> = values(n, 1.1)
            .into_iter()
            .zip(values(n, 2.7))
            .map(|(re, im)| C::new(re, im))
            .collect();
        let mut plane = vec![C::new(0.0, 0.0); n];
        ifft_transposed(&mut any.clone(), &mut plane, size);
        let mut real = vec![0.0; n];
        ifft_real_transposed(&any, &mut real, size, 0.5);
        for (got, want) in real.iter().zip(&plane) {
            assert!(
                (got - 0.5 * want.re).abs() < 1e-12 * n as f64,
                "{size:?}: {got} against {}",
                0.5 * want.re
            );
        }
    }
}
