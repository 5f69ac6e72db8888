//! The image gradient of the statistics of one plane, step by step back from the forward
//! pass's records.

use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::kernels::Combination;
use super::numeric::{
    CrossAdjoint, add_autocorrelation_adjoint, add_filtered, add_uncropped, apply_map,
    by_stretches, cropped, cross_adjoint, fft, fft_real, gather, ifft_real, mean,
    normalised_adjoint, scaled, subtract_mean,
};
use super::*;

/// The gradients of the planes the statistics are sums over.
pub(super) struct PlaneGrads<T: Real> {
    magnitudes: Vec<Planes<T>>,
    reals: Vec<Planes<T>>,
    recon: Planes<T>,
    /// For scales 1 to n − 1, at index `s − 1`: the phase-doubled band's centred magnitudes
    /// and parts.
    doubled: Vec<(Planes<T>, Planes<T>)>,
}

/// The image gradient of `Σ grad · statistics` for one plane: the statistics' adjoints
/// give the planes' gradients, which go back through the bands and the reconstructions to
/// the low-pass spectra, down the low-pass chain to the image's spectrum, and to the image.
pub(super) fn backward<T: Real>(plan: &TexturePlan, record: &Record<T>, grad: &[f64]) -> Buf<T> {
    let (n, full) = (plan.n_scales, plan.shape);
    let pixels = (full[0] * full[1]) as f64;
    let planes = statistics_adjoint(plan, record, grad);
    // Zero spectra per level, written on the thread that fills them.
    let zeros = || -> Vec<Plane<T>> {
        (0..=n)
            .map(|s| {
                let [h, w] = plan.size(s);
                Buf::filled(Complex::new(T::zero(), T::zero()), h * w)
            })
            .collect()
    };
    // The bands' and the reconstructions' shares are independent: two threads' work.
    let (((mut lows_grad, recon_lows_grad), highpass_spectrum), pixel_grad) = rayon::join(
        || {
            rayon::join(
                || {
                    rayon::join(
                        || {
                            let mut lows_grad = zeros();
                            add_bands_adjoint(plan, record, &planes, &mut lows_grad);
                            lows_grad
                        },
                        || {
                            let mut recon_lows_grad = zeros();
                            add_reconstructions_adjoint(plan, &planes.recon, &mut recon_lows_grad);
                            recon_lows_grad
                        },
                    )
                },
                || {
                    let g = 2.0 * grad[plan.offsets.highpass_variance] / pixels;
                    let highpass_grad: Buf<T> =
                        record.highpass.iter().map(|v| *v * T::narrow(g)).collect();
                    fft_real(&highpass_grad, full)
                },
            )
        },
        // The pixel statistics' share is independent of the rest and serial.
        || pixel_adjoint(&record.x, &record.pixel, &grad[..6]),
    );
    for (g, r) in lows_grad.iter_mut().zip(&recon_lows_grad) {
        by_stretches(g, |start, g| {
            let r = &r[start..start + g.len()];
            g.iter_mut().zip(r).for_each(|(g, r)| *g = *g + *r);
        });
    }
    // Down the low-pass chain to the image's spectrum.
    for s in (0..n).rev() {
        let scale = &plan.scales[s];
        let masked = scaled(&lows_grad[s + 1], &scale.lomask);
        add_uncropped(&mut lows_grad[s], &scale.crop, &masked);
    }
    let inv = 1.0 / pixels;
    let mut spectrum_grad = Buf::scratch(full[0] * full[1], Complex::new(T::zero(), T::zero()));
    by_stretches(&mut spectrum_grad, |start, out| {
        let stretch = start..start + out.len();
        let low = lows_grad[0][stretch.clone()]
            .iter()
            .zip(&plan.lo0mask[stretch.clone()]);
        let high = highpass_spectrum[stretch.clone()]
            .iter()
            .zip(&plan.hi0mask[stretch]);
        for (g, ((l, lo), (h, hi))) in out.iter_mut().zip(low.zip(high)) {
            *g = *l * T::narrow(*lo) + *h * T::narrow(hi * inv);
        }
    });
    let mut image_grad = ifft_real(spectrum_grad, full, 1.0);
    by_stretches(&mut image_grad, |start, out| {
        let pixel_grad = &pixel_grad[start..start + out.len()];
        out.iter_mut()
            .zip(pixel_grad)
            .for_each(|(o, g)| *o = *o + *g);
    });
    image_grad
}

/// The adjoints of the statistics: the gradients of the planes they are sums over.
pub(super) fn statistics_adjoint<T: Real>(
    plan: &TexturePlan,
    record: &Record<T>,
    grad: &[f64],
) -> PlaneGrads<T> {
    let (n, o, width) = (plan.n_scales, plan.n_orientations, plan.width);
    let at = &plan.offsets;
    let cells = |s: usize| plan.size(s)[0] * plan.size(s)[1];
    let zeros = |s: usize| Buf::filled(T::zero(), cells(s));
    // Planes the linear combinations below write whole, from the pool, not cleared.
    let combined = |s: usize, count: usize| -> Planes<T> {
        (0..count)
            .map(|_| Buf::scratch(cells(s), T::zero()))
            .collect()
    };
    let centre = (width / 2) * width + width / 2;

    // Gradients of the variances (autocorrelation centres) from the statistics that use them.
    let mut magnitude_variance_grad = vec![vec![0.0; o]; n];
    let mut recon_variance_grad = vec![0.0; n + 1];
    let mut magnitude_grad: Vec<Planes<T>> = (0..n).map(|s| combined(s, o)).collect();
    // The coarsest scale's real parts have no correlations, and no gradient.
    let mut real_grad: Vec<Planes<T>> = (0..n)
        .map(|s| {
            if s + 1 < n {
                combined(s, o)
            } else {
                (0..o).into_par_iter().map(|_| zeros(s)).collect()
            }
        })
        .collect();

    for s in 0..n {
        for b in 0..o {
            let variance = record.magnitude_lags[s][b][centre];
            magnitude_variance_grad[s][b] +=
                grad[at.magnitude_std + b * n + s] / (2.0 * variance.sqrt());
        }
    }
    // The skews' and kurtoses' gradients on the reconstructions: `a·r² + c·r³` where stable.
    let mut recon_grad: Planes<T> = Vec::with_capacity(n + 1);
    for k in 0..=n {
        let variance = record.recon_lags[k][centre];
        recon_variance_grad[k] += grad[at.recon_std + k] / (2.0 * variance.sqrt());
        let ([third, fourth], stable) = record.recon_moments[k];
        if !stable {
            recon_grad.push(zeros(k));
            continue;
        }
        let (skew_grad, kurtosis_grad) = (grad[at.skew + k], grad[at.kurtosis + k]);
        let r = &record.recon[k];
        let count = r.len() as f64;
        let a = T::narrow(3.0 * skew_grad / (count * variance.powf(1.5)));
        let c = T::narrow(4.0 * kurtosis_grad / (count * variance * variance));
        let mut g = Buf::scratch(r.len(), T::zero());
        by_stretches(&mut g, |start, g| {
            for (g, v) in g.iter_mut().zip(&r[start..]) {
                let square = *v * *v;
                *g = T::zero() + a * square + c * square * *v;
            }
        });
        recon_grad.push(g);
        recon_variance_grad[k] += -1.5 * skew_grad * third / variance.powf(2.5)
            - 2.0 * kurtosis_grad * fourth / variance.powi(3);
    }
    let mut doubled_grad: Vec<(Planes<T>, Planes<T>)> = (1..n)
        .map(|s| (combined(s - 1, o), combined(s - 1, 2 * o)))
        .collect();
    // The correlations' adjoints per scale: across orientations, and (but at the coarsest
    // scale) with the phase-doubled next scale's magnitudes and parts.
    let adjoints: Vec<(CrossAdjoint, Option<[CrossAdjoint; 2]>)> = (0..n)
        .map(|s| {
            let pixels_s = plan.size(s)[0] * plan.size(s)[1];
            // The cross-orientation correlations have the same magnitudes on both sides, so
            // both sides' gradients land on them.
            let orientation = cross_adjoint(
                &record.cross_orientation[s],
                |i, j| grad[at.cross_orientation + (i * o + j) * n + s],
                pixels_s,
                true,
            );
            let coarser = (s + 1 < n).then(|| {
                [
                    cross_adjoint(
                        &record.cross_scale_magnitude[s],
                        |i, j| grad[at.cross_scale_magnitude + (i * o + j) * (n - 1) + s],
                        pixels_s,
                        true,
                    ),
                    cross_adjoint(
                        &record.cross_scale_real[s],
                        |i, j| grad[at.cross_scale_real + (i * 2 * o + j) * (n - 1) + s],
                        pixels_s,
                        false,
                    ),
                ]
            });
            (orientation, coarser)
        })
        .collect();
    let mut combinations = Vec::new();
    let mut doubled_grads = doubled_grad.iter_mut();
    for (s, ((orientation, coarser), (magnitude_out, real_out))) in adjoints
        .iter()
        .zip(magnitude_grad.iter_mut().zip(real_grad.iter_mut()))
        .enumerate()
    {
        for (k, variance_grad) in magnitude_variance_grad[s].iter_mut().enumerate() {
            *variance_grad += orientation.a_variance_grad[k];
            if let Some([magnitude, _]) = coarser {
                *variance_grad += magnitude.a_variance_grad[k];
            }
        }
        let m = gather(&record.centred_magnitudes[s]);
        let coarser = coarser.as_ref().map(|c| (&record.doubled[s], c));
        for (k, out) in magnitude_out.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> = (0..o)
                .map(|j| {
                    let mut c = orientation.on_a[k][j] + orientation.on_b[k][j];
                    if j == k {
                        c += orientation.a_self[k] + orientation.b_self[k];
                    }
                    (c, m[j])
                })
                .collect();
            if let Some((doubled, [magnitude, _])) = coarser {
                terms.extend((0..o).map(|j| (magnitude.on_a[k][j], &doubled.centred[j][..])));
            }
            combinations.push(Combination { out, terms });
        }
        let Some((doubled, [magnitude, real])) = coarser else {
            continue;
        };
        let (centred_out, parts_out) = doubled_grads.next().expect("a coarser scale's planes");
        for (j, out) in centred_out.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> =
                (0..o).map(|i| (magnitude.on_b[j][i], m[i])).collect();
            terms.push((magnitude.b_self[j], &doubled.centred[j]));
            combinations.push(Combination { out, terms });
        }
        let reals = &record.reals[s];
        for (i, out) in real_out.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> = (0..2 * o)
                .map(|j| (real.on_a[i][j], &doubled.parts[j][..]))
                .collect();
            terms.push((real.a_self[i], &reals[i]));
            combinations.push(Combination { out, terms });
        }
        for (j, out) in parts_out.iter_mut().enumerate() {
            let mut terms: Vec<(f64, &[T])> =
                (0..o).map(|i| (real.on_b[j][i], &reals[i][..])).collect();
            terms.push((real.b_self[j], &doubled.parts[j]));
            combinations.push(Combination { out, terms });
        }
    }
    kernels::combine_all(combinations);
    magnitude_grad
        .par_iter_mut()
        .enumerate()
        .for_each(|(s, scale_grad)| {
            scale_grad.par_iter_mut().enumerate().for_each(|(b, g)| {
                let lag_grad: Vec<f64> = (0..width * width)
                    .map(|lag| grad[at.magnitude_autocorrelation + (lag * o + b) * n + s])
                    .collect();
                let lags = &record.magnitude_lags[s][b];
                let lag_grad =
                    normalised_adjoint(lags, width, &lag_grad, magnitude_variance_grad[s][b]);
                add_autocorrelation_adjoint(
                    g,
                    &record.centred_magnitudes[s][b],
                    plan.size(s),
                    width,
                    &lag_grad,
                );
            });
        });
    recon_grad.par_iter_mut().enumerate().for_each(|(k, g)| {
        let lag_grad: Vec<f64> = (0..width * width)
            .map(|lag| grad[at.recon_autocorrelation + lag * (n + 1) + k])
            .collect();
        let lags = &record.recon_lags[k];
        let lag_grad = normalised_adjoint(lags, width, &lag_grad, recon_variance_grad[k]);
        add_autocorrelation_adjoint(g, &record.recon[k], plan.size(k), width, &lag_grad);
    });
    PlaneGrads {
        magnitudes: magnitude_grad,
        reals: real_grad,
        recon: recon_grad,
        doubled: doubled_grad,
    }
}

/// Adds to the low-pass spectra's gradients what comes through the bands and their
/// phase-doubled copies.
pub(super) fn add_bands_adjoint<T: Real>(
    plan: &TexturePlan,
    record: &Record<T>,
    planes: &PlaneGrads<T>,
    lows_grad: &mut [Plane<T>],
) {
    let o = plan.n_orientations;
    let conjugate_phase = plan.phase.conj();
    for (s, low_grad) in lows_grad.iter_mut().enumerate().take(plan.n_scales) {
        let size = plan.size(s);
        let cells = (size[0] * size[1]) as f64;
        let band_grads: Vec<Plane<T>> = (0..o)
            .into_par_iter()
            .map(|b| {
                let band = &record.bands[s][b];
                // The gradient of the centred magnitudes, centred (the mean's adjoint).
                let magnitude_grad = &planes.magnitudes[s][b];
                let magnitude_mean = T::narrow(mean(magnitude_grad));
                // The transform's `1 / cells` (a power of two) taken before it, exactly.
                let inv = T::narrow(1.0 / cells);
                let band_grad: Plane<T> = band
                    .iter()
                    .zip(&record.magnitudes[s][b])
                    .zip(magnitude_grad.iter().zip(&planes.reals[s][b]))
                    .map(|((v, m), (g, r))| {
                        let g = *g - magnitude_mean;
                        // The magnitude's share is 0 where the band is 0.
                        let scale = if *m == T::zero() { T::zero() } else { g / *m };
                        Complex::new((scale * v.re + *r) * inv, scale * v.im * inv)
                    })
                    .collect();
                let mut band_grad = fft(band_grad, size, Some(&plan.scales[s].filter_rows[b]));
                if s >= 1 {
                    let (centred_grad, parts_grad) = &planes.doubled[s - 1];
                    let up_grad = double_phase_adjoint(
                        &record.doubled[s - 1],
                        b,
                        o,
                        &centred_grad[b],
                        parts_grad,
                    );
                    let [map, transposed] = &plan.expand[s - 1];
                    let up_grad = fft(up_grad, map.to, Some(&plan.expand_rows[s - 1]));
                    let back = apply_map(transposed, &up_grad, 0.25);
                    band_grad
                        .iter_mut()
                        .zip(&back)
                        .for_each(|(g, v)| *g = *g + *v);
                }
                band_grad
            })
            .collect();
        let terms: Vec<(&[Complex<T>], &[f64])> = band_grads
            .iter()
            .zip(&plan.scales[s].filters)
            .map(|(band_grad, filter)| (&band_grad[..], &filter[..]))
            .collect();
        add_filtered(low_grad, &terms, conjugate_phase);
    }
}

/// Adds to the low-pass spectra's gradients what comes through the partial
/// reconstructions: each level's spectrum feeds every reconstruction from its scale down, so
/// a level's gradient is the running sum of theirs. Past the finest, that sum is only read
/// in the full spectrum's central quarter, and is kept there (at scale 1's size).
pub(super) fn add_reconstructions_adjoint<T: Real>(
    plan: &TexturePlan,
    recon_grad: &[Buf<T>],
    lows_grad: &mut [Plane<T>],
) {
    let (n, full) = (plan.n_scales, plan.shape);
    let pixels = (full[0] * full[1]) as f64;
    let scale = T::narrow(1.0 / pixels);
    let finest: Plane<T> = fft_real(&recon_grad[0], full)
        .iter()
        .zip(&plan.lo0mask)
        .map(|(g, m)| *g * scale * T::narrow(*m))
        .collect();
    add_filtered(
        &mut lows_grad[0],
        &[(&finest, &plan.scales[0].recon_gain)],
        Complex::new(1.0, 0.0),
    );
    let mut running: Plane<T> = cropped(&finest, &plan.scales[0].crop).collect();
    let mut lowpass_grad = None;
    for k in 1..=n {
        let size = plan.size(k);
        let factor = (1usize << k) as f64;
        let small = fft_real(&recon_grad[k], size);
        let half = T::narrow(0.5 * factor * factor);
        for term in &plan.shrink_terms[k - 1][1] {
            let value = small[term.small] * T::narrow(term.coef) * half;
            if let Some(at) = term.at {
                running[at] = running[at] + value * T::narrow(term.at_mask);
            }
            if let Some(at) = term.negated {
                running[at] = running[at] + value.conj() * T::narrow(term.negated_mask);
            }
        }
        let level_grad = carried_down(plan, &running, k);
        if k < n {
            add_filtered(
                &mut lows_grad[k],
                &[(&level_grad, &plan.scales[k].recon_gain)],
                Complex::new(1.0, 0.0),
            );
        } else {
            lowpass_grad = Some(ifft_real(level_grad, size, 1.0));
        }
    }
    let mut lowpass_grad = lowpass_grad.expect("the low-pass level comes last");
    subtract_mean(&mut lowpass_grad);
    let coarsest = plan.size(n);
    let spectrum = fft_real(&lowpass_grad, coarsest);
    let scale = T::narrow(1.0 / (coarsest[0] * coarsest[1]) as f64);
    lows_grad[n]
        .iter_mut()
        .zip(&spectrum)
        .for_each(|(g, v)| *g = *g + *v * scale);
}

/// The adjoint of [`carried_up`] to scale 1 and the scale-0 mask step after it: from a
/// gradient in the full spectrum's central quarter (at scale 1's size) down to scale
/// `level`'s size.
pub(super) fn carried_down<T: Real>(
    plan: &TexturePlan,
    central: &[Complex<T>],
    level: usize,
) -> Plane<T> {
    fn lowered<T: Real>(values: impl Iterator<Item = Complex<T>>, lomask: &[f64]) -> Plane<T> {
        values
            .zip(lomask)
            .map(|(v, m)| {
                Complex::new(v.re.through_complex64(), v.im.through_complex64()) * T::narrow(*m)
            })
            .collect()
    }
    let mut out = lowered(central.iter().copied(), &plan.scales[0].lomask);
    for scale in &plan.scales[1..level] {
        let next = lowered(cropped(&out, &scale.crop), &scale.lomask);
        out = next;
    }
    out
}

/// The gradient of one orientation's up-sampled band `u` from those of `|u| − mean|u|` and
/// of the phase-doubled parts `u² / |u|` (zero where `u` is zero).
pub(super) fn double_phase_adjoint<T: Real>(
    doubled: &Doubled<T>,
    b: usize,
    o: usize,
    centred_grad: &[T],
    parts_grad: &[Buf<T>],
) -> Plane<T> {
    // The mean's adjoint: the gradient of `|u|` is that of `|u| − mean|u|`, centred.
    let magnitude_mean = T::narrow(mean(centred_grad));
    let two = T::narrow(2.0);
    doubled.up[b]
        .iter()
        .zip(&doubled.magnitude[b])
        .zip(
            centred_grad
                .iter()
                .zip(&parts_grad[b])
                .zip(&parts_grad[o + b]),
        )
        .map(|((u, m), ((gm, gre), gim))| {
            let gm = *gm - magnitude_mean;
            // Every term has a factor 1/|u|, taken as 0 where u is 0 (no branch, so the
            // loop vectorises).
            let (x, y) = (u.re, u.im);
            let inverse = if *m == T::zero() {
                T::zero()
            } else {
                T::one() / *m
            };
            let inverse3 = inverse * inverse * inverse;
            let difference = x * x - y * y;
            let product = two * x * y;
            let dx = gm * x * inverse
                + *gre * (two * x * inverse - difference * x * inverse3)
                + *gim * (two * y * inverse - product * x * inverse3);
            let dy = gm * y * inverse
                + *gre * (-two * y * inverse - difference * y * inverse3)
                + *gim * (two * x * inverse - product * y * inverse3);
            Complex::new(dx, dy)
        })
        .collect()
}

/// The gradient of the pixel statistics (mean, unbiased variance, skew, kurtosis, minimum,
/// maximum); the minimum's and maximum's are shared among tied pixels, as torch's `amin` and
/// `amax` share them.
pub(super) fn pixel_adjoint<T: Real>(x: &[T], pixel: &PixelMoments, grad: &[f64]) -> Buf<T> {
    let n = x.len() as f64;
    let v = pixel.variance;
    let [
        mean_grad,
        variance_grad,
        skew_grad,
        kurtosis_grad,
        min_grad,
        max_grad,
    ] = grad.try_into().expect("six pixel statistics");
    // d/dc of each statistic, with c = x − mean.
    let linear = 2.0 / (n - 1.0)
        * (variance_grad
            - 1.5 * skew_grad * pixel.third / v.powf(2.5)
            - 2.0 * kurtosis_grad * pixel.fourth / v.powi(3));
    let square = 3.0 * skew_grad / (n * v.powf(1.5));
    let cube = 4.0 * kurtosis_grad / (n * v * v);
    let centred: Buf<f64> = x
        .iter()
        .map(|value| {
            let c = value.wide() - pixel.mean;
            linear * c + square * c * c + cube * c * c * c
        })
        .collect();
    let shift = mean_grad / n - centred.iter().sum::<f64>() / n;
    let ties = |target: f64| x.iter().filter(|v| v.wide() == target).count() as f64;
    let (min_share, max_share) = (min_grad / ties(pixel.min), max_grad / ties(pixel.max));
    centred
        .iter()
        .zip(x)
        .map(|(c, value)| {
            let mut g = c + shift;
            if value.wide() == pixel.min {
                g += min_share;
            }
            if value.wide() == pixel.max {
                g += max_share;
            }
            T::narrow(g)
        })
        .collect()
}
