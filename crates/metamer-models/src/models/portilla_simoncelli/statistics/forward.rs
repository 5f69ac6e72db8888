//! The statistics of one plane, and the records their backward step needs.

use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::numeric::{
    CrossPlanes, add_uncropped, apply_map, autocorrelation, cropped, crosses, dot, fft_real,
    filtered, gather, ifft, ifft_real, mean, normalised, scaled, subtract_mean, third_and_fourth,
};
use super::*;

/// The full statistics vector of one plane (redundant entries included), and what its
/// backward step needs.
pub(super) fn forward<T: Real>(plan: &TexturePlan, x: &[T]) -> (Vec<f64>, Record<T>) {
    let (n, o, width) = (plan.n_scales, plan.n_orientations, plan.width);
    let full = plan.shape;
    let pixels = (full[0] * full[1]) as f64;
    // The pixel moments' passes run beside the transform's (whose transposes are serial).
    let (spectrum, pixel) = rayon::join(|| fft_real(x, full), || pixel_moments(x));
    let mut lows = vec![scaled(&spectrum, &plan.lo0mask)];
    for scale in &plan.scales {
        let low = lows.last().expect("the full-size low-pass");
        lows.push(
            cropped(low, &scale.crop)
                .zip(&scale.lomask)
                .map(|(v, m)| v * T::narrow(*m))
                .collect(),
        );
    }
    let (highpass, bands) = rayon::join(
        || ifft_real(scaled(&spectrum, &plan.hi0mask), full, 1.0 / pixels),
        || {
            plan.scales
                .par_iter()
                .zip(&lows)
                .map(|(scale, low)| {
                    let cells = (scale.size[0] * scale.size[1]) as f64;
                    scale
                        .filters
                        .par_iter()
                        .map(|filter| {
                            let filtered = filtered(low, filter, plan.phase, 1.0 / cells);
                            band_planes(ifft(filtered, scale.size))
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        },
    );
    let coarsest = plan.size(n);
    let mut lowpass = ifft_real(
        lows[n].clone(),
        coarsest,
        1.0 / (coarsest[0] * coarsest[1]) as f64,
    );
    subtract_mean(&mut lowpass);

    let mut magnitudes: Vec<Planes<T>> = Vec::with_capacity(n);
    let mut centred_magnitudes: Vec<Planes<T>> = Vec::with_capacity(n);
    let mut reals: Vec<Planes<T>> = Vec::with_capacity(n);
    let bands: Vec<Vec<Plane<T>>> = bands
        .into_iter()
        .map(|scale| {
            let mut scale_bands = Vec::with_capacity(o);
            let (mut m, mut c, mut r) = (Vec::new(), Vec::new(), Vec::new());
            for planes in scale {
                scale_bands.push(planes.band);
                m.push(planes.magnitude);
                c.push(planes.centred);
                r.push(planes.real);
            }
            magnitudes.push(m);
            centred_magnitudes.push(c);
            reals.push(r);
            scale_bands
        })
        .collect();
    // The reconstructions and the phase-doubled bands are independent: two threads' work.
    let (recon, doubled) = rayon::join(
        || reconstructions(plan, &lows, &lowpass),
        || {
            (1..n)
                .into_par_iter()
                .map(|s| double_phase(plan, &lows[s], s))
                .collect::<Vec<Doubled<T>>>()
        },
    );

    let mut stats = vec![0.0; plan.len()];
    let at = &plan.offsets;
    stats[..6].copy_from_slice(&[
        pixel.mean,
        pixel.variance,
        pixel.third / pixel.variance.powf(1.5),
        pixel.fourth / (pixel.variance * pixel.variance),
        pixel.min,
        pixel.max,
    ]);
    // The reconstructions' lags and moments beside the magnitudes' lags: the finest
    // reconstruction alone is as much work as a band.
    let (magnitude_lags, recon_sums) = rayon::join(
        || {
            centred_magnitudes
                .par_iter()
                .enumerate()
                .map(|(s, scale)| {
                    scale
                        .par_iter()
                        .map(|m| autocorrelation(m, plan.size(s), width))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        },
        || {
            recon
                .par_iter()
                .enumerate()
                .map(|(k, r)| {
                    let lags = autocorrelation(r, plan.size(k), width);
                    let sums = third_and_fourth(r).map(|v| v / r.len() as f64);
                    (lags, sums)
                })
                .collect::<Vec<_>>()
        },
    );
    let centre = (width / 2) * width + width / 2;
    let magnitude_variance: Vec<Vec<f64>> = magnitude_lags
        .iter()
        .map(|scale| scale.iter().map(|lags| lags[centre]).collect())
        .collect();
    for (s, scale) in magnitude_lags.iter().enumerate() {
        for (b, lags) in scale.iter().enumerate() {
            for (lag, value) in normalised(lags, width).enumerate() {
                stats[at.magnitude_autocorrelation + (lag * o + b) * n + s] = value;
            }
        }
    }
    let (recon_lags, recon_third_fourth): (Vec<Vec<f64>>, Vec<[f64; 2]>) =
        recon_sums.into_iter().unzip();
    let resolution = if std::mem::size_of::<T>() == 8 {
        1e-15
    } else {
        1e-6
    };
    let mut recon_moments = Vec::with_capacity(n + 1);
    for (k, (lags, [third, fourth])) in recon_lags.iter().zip(recon_third_fourth).enumerate() {
        let variance = lags[centre];
        // As in plenoptic, a NaN ratio does not count as unstable.
        let unstable = variance / pixel.variance < resolution;
        let stable = !unstable;
        stats[at.skew + k] = if stable {
            third / variance.powf(1.5)
        } else {
            0.0
        };
        stats[at.kurtosis + k] = if stable {
            fourth / (variance * variance)
        } else {
            3.0
        };
        stats[at.recon_std + k] = variance.sqrt();
        for (lag, value) in normalised(lags, width).enumerate() {
            stats[at.recon_autocorrelation + lag * (n + 1) + k] = value;
        }
        recon_moments.push(([third, fourth], stable));
    }
    // Per scale: across orientations, then (but at the coarsest) with the phase-doubled next
    // scale's magnitudes and parts.
    let mut requests = Vec::new();
    for s in 0..n {
        let m = gather(&centred_magnitudes[s]);
        requests.push(CrossPlanes {
            a: m.clone(),
            b: m.clone(),
            a_variance: Some(magnitude_variance[s].clone()),
        });
        if s + 1 < n {
            let coarser = &doubled[s];
            requests.push(CrossPlanes {
                a: m,
                b: gather(&coarser.centred),
                a_variance: Some(magnitude_variance[s].clone()),
            });
            requests.push(CrossPlanes {
                a: gather(&reals[s]),
                b: gather(&coarser.parts),
                a_variance: None,
            });
        }
    }
    let mut cross_orientation = Vec::with_capacity(n);
    let (mut cross_scale_magnitude, mut cross_scale_real) = (Vec::new(), Vec::new());
    let mut results = crosses(requests).into_iter();
    for s in 0..n {
        cross_orientation.push(results.next().expect("a cross-orientation matrix"));
        if s + 1 < n {
            cross_scale_magnitude.push(results.next().expect("a cross-scale matrix"));
            cross_scale_real.push(results.next().expect("a cross-scale matrix"));
        }
    }
    for (s, c) in cross_orientation.iter().enumerate() {
        for (ij, value) in c.out.iter().enumerate() {
            stats[at.cross_orientation + ij * n + s] = *value;
        }
        for (b, v) in magnitude_variance[s].iter().enumerate() {
            stats[at.magnitude_std + b * n + s] = v.sqrt();
        }
    }
    for (s, (magnitude, real)) in cross_scale_magnitude
        .iter()
        .zip(&cross_scale_real)
        .enumerate()
    {
        for (ij, value) in magnitude.out.iter().enumerate() {
            stats[at.cross_scale_magnitude + ij * (n - 1) + s] = *value;
        }
        for (ij, value) in real.out.iter().enumerate() {
            stats[at.cross_scale_real + ij * (n - 1) + s] = *value;
        }
    }
    stats[at.highpass_variance] = dot(&highpass, &highpass) / pixels;
    let record = Record {
        highpass,
        bands,
        reals,
        magnitudes,
        centred_magnitudes,
        doubled,
        recon,
        magnitude_lags,
        recon_lags,
        recon_moments,
        pixel,
        x: Buf::from_slice(x),
        cross_orientation,
        cross_scale_magnitude,
        cross_scale_real,
    };
    (stats, record)
}

/// A band and the planes the statistics take from it.
struct BandPlanes<T: Real> {
    band: Plane<T>,
    magnitude: Buf<T>,
    centred: Buf<T>,
    real: Buf<T>,
}

/// A band's magnitudes, centred magnitudes and real parts, in one pass over the band.
fn band_planes<T: Real>(band: Plane<T>) -> BandPlanes<T> {
    let mut magnitude = Buf::scratch(band.len(), T::zero());
    let mut real = Buf::scratch(band.len(), T::zero());
    for ((v, m), r) in band.iter().zip(&mut *magnitude).zip(&mut *real) {
        *m = v.norm_sqr().sqrt();
        *r = v.re;
    }
    let mut centred = magnitude.clone();
    subtract_mean(&mut centred);
    BandPlanes {
        band,
        magnitude,
        centred,
        real,
    }
}

pub(super) fn pixel_moments<T: Real>(x: &[T]) -> PixelMoments {
    let n = x.len() as f64;
    let mean = mean(x);
    let centred: Buf<f64> = x.iter().map(|v| v.wide() - mean).collect();
    let variance = dot(&centred, &centred) / (n - 1.0);
    let [third, fourth] = third_and_fourth(&centred).map(|v| v / n);
    let (min, max) = x
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v.wide()), hi.max(v.wide()))
        });
    PixelMoments {
        mean,
        variance,
        third,
        fourth,
        min,
        max,
    }
}

/// `start` (at scale `level`'s size) carried up through the low-pass masks of the scales
/// from `level − 1` down to `to`, through plenoptic's complex64 grid: the spectrum a
/// reconstruction level adds, at scale `to`'s size.
pub(super) fn carried_up<T: Real>(
    plan: &TexturePlan,
    mut spectrum: Plane<T>,
    level: usize,
    to: usize,
) -> Plane<T> {
    for s in (to..level).rev() {
        let [h, w] = plan.scales[s].size;
        let masked = masked_up(plan, &spectrum, s);
        spectrum = Buf::filled(Complex::new(T::zero(), T::zero()), h * w);
        add_uncropped(&mut spectrum, &plan.scales[s].crop, &masked);
    }
    spectrum
}

/// A spectrum at scale `s + 1`'s size times scale `s`'s low-pass mask, rounded to
/// complex64: one step of [`carried_up`] before the spectrum is placed in scale `s`'s.
fn masked_up<T: Real>(plan: &TexturePlan, spectrum: &[Complex<T>], s: usize) -> Plane<T> {
    spectrum
        .iter()
        .zip(&plan.scales[s].lomask)
        .map(|(v, m)| {
            let v = *v * T::narrow(*m);
            Complex::new(v.re.through_complex64(), v.im.through_complex64())
        })
        .collect()
}

/// The partial reconstructions (the low-pass residual plus the bands from scale `k` down,
/// at scale `k`'s size) for `k = 0..=n`, as plenoptic's `recon_pyr` and `shrink` give them.
///
/// Every level but the finest lies inside the full spectrum's central quarter, so their
/// running sum is kept there (at scale 1's size), and the shrunk spectra are read from it;
/// only the finest reconstruction needs a full-size spectrum.
pub(super) fn reconstructions<T: Real>(
    plan: &TexturePlan,
    lows: &[Plane<T>],
    lowpass: &[T],
) -> Planes<T> {
    let n = plan.n_scales;
    let full = plan.shape;
    let mut images = Vec::with_capacity(n + 1);
    // A level's share in the central quarter: carried up to scale 1, times scale 0's mask.
    let level_share =
        |start: Plane<T>, level: usize| masked_up(plan, &carried_up(plan, start, level, 1), 0);
    let mut total = level_share(fft_real(lowpass, plan.size(n)), n);
    let half = T::narrow(0.5);
    let zero = Complex::new(T::zero(), T::zero());
    for k in (1..=n).rev() {
        if k < n {
            let start = scaled(&lows[k], &plan.scales[k].recon_gain);
            let level = level_share(start, k);
            total.iter_mut().zip(&level).for_each(|(t, l)| *t = *t + *l);
        }
        // The image is real: its spectrum is the Hermitian part of the masked total's.
        let size = plan.size(k);
        let mut small = Buf::filled(zero, size[0] * size[1]);
        let masked =
            |at: Option<usize>, mask: f64| at.map_or(zero, |at| total[at] * T::narrow(mask));
        for term in &plan.shrink_terms[k - 1][0] {
            let hermitian = (masked(term.at, term.at_mask)
                + masked(term.negated, term.negated_mask).conj())
                * half;
            small[term.small] = small[term.small] + hermitian * T::narrow(term.coef);
        }
        let factor = (1usize << k) as f64;
        images.push(ifft_real(small, size, factor * factor));
    }
    // The finest: its own level at full size plus the others' total, masked.
    let mut spectrum = scaled(&lows[0], &plan.scales[0].recon_gain);
    add_uncropped(&mut spectrum, &plan.scales[0].crop, &total);
    spectrum
        .iter_mut()
        .zip(&plan.lo0mask)
        .for_each(|(v, m)| *v = *v * T::narrow(*m));
    images.push(ifft_real(spectrum, full, 1.0 / (full[0] * full[1]) as f64));
    images.reverse();
    images
}

/// plenoptic's `expand(band, 2) / 4` with its phase doubled, for each orientation of scale
/// `s`, from that scale's low-pass spectrum.
pub(super) fn double_phase<T: Real>(
    plan: &TexturePlan,
    low: &[Complex<T>],
    s: usize,
) -> Doubled<T> {
    let scale = &plan.scales[s];
    let map = &plan.expand[s - 1][0];
    let mut doubled = Doubled {
        up: Vec::new(),
        magnitude: Vec::new(),
        centred: Vec::new(),
        parts: Vec::new(),
    };
    let mut imaginary_parts = Vec::new();
    let per_orientation: Vec<_> = scale
        .filters
        .par_iter()
        .map(|filter| {
            let band = filtered(low, filter, plan.phase, 1.0);
            let up = ifft(apply_map(map, &band, 0.25), map.to);
            // |u|·e^{2i·arg u} = u² / |u|, with 0 where u is 0; one reciprocal per value.
            let mut magnitude = Buf::scratch(up.len(), T::zero());
            let mut re = Buf::scratch(up.len(), T::zero());
            let mut im = Buf::scratch(up.len(), T::zero());
            for (((u, m), r), i) in up.iter().zip(&mut *magnitude).zip(&mut *re).zip(&mut *im) {
                *m = u.norm_sqr().sqrt();
                let inverse = if *m == T::zero() {
                    T::one()
                } else {
                    T::one() / *m
                };
                *r = (u.re * u.re - u.im * u.im) * inverse;
                *i = (u.re * u.im + u.im * u.re) * inverse;
            }
            let mut centred = magnitude.clone();
            subtract_mean(&mut centred);
            (up, magnitude, centred, re, im)
        })
        .collect();
    for (up, magnitude, centred, re, im) in per_orientation {
        doubled.parts.push(re);
        imaginary_parts.push(im);
        doubled.up.push(up);
        doubled.magnitude.push(magnitude);
        doubled.centred.push(centred);
    }
    doubled.parts.extend(imaginary_parts);
    doubled
}
