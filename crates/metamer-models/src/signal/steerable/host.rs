//! The pyramid as one host operation, for backends whose tensors live in host memory.
//!
//! As Burn operations every level is a chain of mask products, crops, transforms and their
//! backward twins, each a pass over memory with its own allocation, and the graph holds them
//! all; that made the pyramid slower than plenoptic's. Here one pass per plane computes
//! every level from one forward transform, and the backward step is the pyramid's adjoint
//! written out: each level's gradient transformed once and carried up the low-pass chain.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorMetadata};
use rayon::prelude::*;
use rustfft::num_complex::Complex;

use super::HostMasks;
use crate::host::{Buf, HostSplitOp, HostValues, from_host, in_pool, to_host};
use crate::signal::fft::{Planned, fft_transposed, float, ifft_transposed, transposed_plane};

/// A pyramid's masks and normalisations, as the host pass uses them. Spectra are kept
/// transposed (see [`fft_transposed`]), so masks and crops are too.
#[derive(Debug)]
pub(crate) struct PyramidPlan {
    shape: [usize; 2],
    orientations: usize,
    /// `(−i)^order`, the bands' phase factor.
    phase: Complex<f64>,
    is_complex: bool,
    tight_frame: bool,
    lo0mask: Mask,
    hi0mask: Mask,
    scales: Vec<ScalePlan>,
}

#[derive(Debug)]
struct ScalePlan {
    size: [usize; 2],
    /// `anglemask_b · himask` per orientation.
    filters: Vec<Mask>,
    /// The next scale's low-pass mask (at its size), times 2 where plenoptic doubles the
    /// low-pass band of a pyramid that neither downsamples nor is a tight frame.
    lomask: Mask,
    /// Columns, then rows, the next scale keeps when downsampling: the transposed
    /// spectrum's rows and columns.
    crop: Option<[Vec<usize>; 2]>,
}

/// A mask in FFT order, transposed as the spectra are, in both precisions so that hot loops
/// multiply without converting.
#[derive(Debug)]
struct Mask {
    f64: Vec<f64>,
    f32: Vec<f32>,
}

impl Mask {
    /// From `values`, a `height × width` mask in FFT order.
    fn transposed(values: &[f64], size: [usize; 2]) -> Self {
        let f64 = transposed_plane(values, size);
        Self {
            f32: f64.iter().map(|v| *v as f32).collect(),
            f64,
        }
    }
}

/// The two precisions the pass runs in: the tensor's own.
trait Precision: Planned {
    fn of(mask: &Mask) -> &[Self];
}

impl Precision for f32 {
    fn of(mask: &Mask) -> &[f32] {
        &mask.f32
    }
}

impl Precision for f64 {
    fn of(mask: &Mask) -> &[f64] {
        &mask.f64
    }
}

impl PyramidPlan {
    pub(crate) fn new(masks: HostMasks, order: usize, is_complex: bool, tight_frame: bool) -> Self {
        let phase = match order % 4 {
            0 => Complex::new(1.0, 0.0),
            1 => Complex::new(0.0, -1.0),
            2 => Complex::new(-1.0, 0.0),
            _ => Complex::new(0.0, 1.0),
        };
        let scales = masks
            .scales
            .into_iter()
            .map(|scale| {
                let gain = if scale.crop.is_none() && !tight_frame {
                    2.0
                } else {
                    1.0
                };
                let next = match &scale.crop {
                    Some([rows, columns]) => [rows.len(), columns.len()],
                    None => scale.size,
                };
                let filter = |a: &Vec<f64>| -> Vec<f64> {
                    a.iter().zip(&scale.himask).map(|(a, h)| a * h).collect()
                };
                let lomask: Vec<f64> = scale.lomask.iter().map(|m| m * gain).collect();
                ScalePlan {
                    size: scale.size,
                    filters: scale
                        .anglemasks
                        .iter()
                        .map(|a| Mask::transposed(&filter(a), scale.size))
                        .collect(),
                    lomask: Mask::transposed(&lomask, next),
                    crop: scale.crop.map(|[rows, columns]| [columns, rows]),
                }
            })
            .collect();
        Self {
            shape: masks.shape,
            orientations: order + 1,
            phase,
            is_complex,
            tight_frame,
            lo0mask: Mask::transposed(&masks.lo0mask, masks.shape),
            hi0mask: Mask::transposed(&masks.hi0mask, masks.shape),
            scales,
        }
    }

    /// The size of the low-pass spectrum below scale `s` (`s = n`: the residual's).
    fn low_size(&self, s: usize) -> [usize; 2] {
        match s.checked_sub(1).map(|p| &self.scales[p]) {
            None => self.shape,
            Some(ScalePlan {
                crop: Some([columns, rows]),
                ..
            }) => [rows.len(), columns.len()],
            Some(scale) => scale.size,
        }
    }

    /// The inverse transform's factor at `size`: plenoptic's "backward" norm, or "ortho" for
    /// tight frames.
    fn inverse_scale(&self, [h, w]: [usize; 2]) -> f64 {
        let n = (h * w) as f64;
        if self.tight_frame {
            n.sqrt().recip()
        } else {
            n.recip()
        }
    }

    /// The forward transform's factor.
    fn forward_scale(&self) -> f64 {
        if self.tight_frame {
            self.inverse_scale(self.shape)
        } else {
            1.0
        }
    }

    /// Each band's factor besides the inverse transform's.
    fn band_scale(&self) -> f64 {
        if self.tight_frame && self.is_complex {
            std::f64::consts::FRAC_1_SQRT_2
        } else {
            1.0
        }
    }

    /// Outputs per scale: real and imaginary parts, or the real band alone.
    fn parts(&self) -> usize {
        if self.is_complex { 2 } else { 1 }
    }

    /// Every output's shape for `[batch, channel]` planes: the high-pass residual, each
    /// scale's parts, the low-pass residual.
    fn output_shapes(&self, [b, c]: [usize; 2]) -> Vec<Vec<usize>> {
        let [h, w] = self.shape;
        let mut shapes = vec![vec![b, c, h, w]];
        for scale in &self.scales {
            let [h, w] = scale.size;
            shapes.extend((0..self.parts()).map(|_| vec![b, c, self.orientations, h, w]));
        }
        let [h, w] = self.low_size(self.scales.len());
        shapes.push(vec![b, c, h, w]);
        shapes
    }
}

/// The pyramid of `[batch, channel, height, width]` images, every level an output.
#[derive(Debug)]
pub(crate) struct HostPyramid(pub std::sync::Arc<PyramidPlan>);

impl HostSplitOp for HostPyramid {
    /// The input's `[batch, channel]`, dtype and device.
    type Saved<B: Backend> = ([usize; 2], DType, B::Device);

    fn forward_saving<B: Backend>(
        &self,
        x: FloatTensor<B>,
    ) -> (Vec<FloatTensor<B>>, Self::Saved<B>) {
        let shape = x.shape();
        let planes = [shape[0], shape[1]];
        let (values, dtype, device) = to_host::<B>(x);
        let levels = match values {
            HostValues::F32(v) => forward(&self.0, &v)
                .into_iter()
                .map(HostValues::F32)
                .collect(),
            HostValues::F64(v) => forward(&self.0, &v)
                .into_iter()
                .map(HostValues::F64)
                .collect(),
        };
        let outputs = tensors::<B>(levels, self.0.output_shapes(planes), dtype, &device);
        (outputs, (planes, dtype, device))
    }

    fn backward<B: Backend>(
        &self,
        (planes, dtype, device): Self::Saved<B>,
        grads: Vec<Option<FloatTensor<B>>>,
    ) -> FloatTensor<B> {
        let [h, w] = self.0.shape;
        let count = planes[0] * planes[1];
        let host: Vec<Option<HostValues>> = grads
            .into_iter()
            .map(|g| g.map(|g| to_host::<B>(g).0))
            .collect();
        let gradient = if dtype == DType::F64 {
            let grads = host.into_iter().map(|g| g.map(HostValues::into_f64));
            HostValues::F64(backward(&self.0, grads.collect(), count))
        } else {
            let grads = host.into_iter().map(|g| g.map(HostValues::into_f32));
            HostValues::F32(backward(&self.0, grads.collect(), count))
        };
        from_host::<B>(gradient, vec![planes[0], planes[1], h, w], dtype, &device)
    }
}

fn tensors<B: Backend>(
    levels: Vec<HostValues>,
    shapes: Vec<Vec<usize>>,
    dtype: DType,
    device: &B::Device,
) -> Vec<FloatTensor<B>> {
    levels
        .into_iter()
        .zip(shapes)
        .map(|(values, shape)| from_host::<B>(values, shape, dtype, device))
        .collect()
}

type Plane<T> = Buf<Complex<T>>;

fn zero<T: Planned>() -> Complex<T> {
    Complex::new(T::zero(), T::zero())
}

/// A transposed spectrum `x` (of a `[height, _]` plane) at the kept columns and rows, times
/// `mask`.
fn crop_masked<T: Precision>(
    x: &[Complex<T>],
    height: usize,
    [columns, rows]: &[Vec<usize>; 2],
    mask: &Mask,
) -> Plane<T> {
    let kept = rows.len();
    (0..columns.len() * kept)
        .zip(T::of(mask))
        .map(|(i, m)| x[columns[i / kept] * height + rows[i % kept]] * *m)
        .collect()
}

/// `x · mask`.
fn masked<T: Precision>(x: &[Complex<T>], mask: &Mask) -> Plane<T> {
    x.iter().zip(T::of(mask)).map(|(v, m)| *v * *m).collect()
}

/// `Re(ifft(x)) · factor` into `out`, from the transposed spectrum `x`.
fn real_inverse<T: Planned>(mut x: Plane<T>, size: [usize; 2], factor: f64, out: &mut [T]) {
    let mut plane = Buf::scratch(x.len(), zero());
    ifft_transposed(&mut x, &mut plane, size);
    let factor = float::<T>(factor);
    for (out, v) in out.iter_mut().zip(plane.iter()) {
        *out = v.re * factor;
    }
}

/// The transposed spectrum of `re + i·im` (`im` zero when `None`), times `factor`.
fn spectrum_of<T: Planned>(re: &[T], im: Option<&[T]>, size: [usize; 2], factor: f64) -> Plane<T> {
    let factor = float::<T>(factor);
    let mut plane: Plane<T> = match im {
        Some(im) => re
            .iter()
            .zip(im)
            .map(|(r, i)| Complex::new(*r * factor, *i * factor))
            .collect(),
        None => re
            .iter()
            .map(|r| Complex::new(*r * factor, T::zero()))
            .collect(),
    };
    let mut spectrum = Buf::scratch(re.len(), zero());
    fft_transposed(&mut plane, &mut spectrum, size);
    spectrum
}

/// Every level of each plane of `x`, in [`PyramidPlan::output_shapes`] order.
fn forward<T: Precision>(plan: &PyramidPlan, x: &[T]) -> Vec<Vec<T>> {
    let [h, w] = plan.shape;
    let planes = x.len() / (h * w);
    let mut outputs: Vec<Vec<T>> = plan
        .output_shapes([planes, 1])
        .iter()
        .map(|shape| vec![T::zero(); shape.iter().product()])
        .collect();
    let (highpass, rest) = outputs.split_first_mut().expect("outputs");
    let (lowpass, bands) = rest.split_last_mut().expect("outputs");
    in_pool(|| {
        for (p, x) in x.chunks_exact(h * w).enumerate() {
            let (high, mut lows) = plane_spectra(plan, x);
            let coarsest = lows.pop().expect("the coarsest low-pass");
            let mut parts: Vec<&mut [T]> = bands.iter_mut().map(|b| b.as_mut_slice()).collect();
            let mut per_scale = Vec::new();
            for scale in &plan.scales {
                let len = plan.orientations * scale.size[0] * scale.size[1];
                let mine: Vec<&mut [T]> = parts
                    .drain(..plan.parts())
                    .map(|part| &mut part[p * len..(p + 1) * len])
                    .collect();
                per_scale.push(mine);
            }
            let size = plan.low_size(plan.scales.len());
            let len = size[0] * size[1];
            let lowpass = &mut lowpass[p * len..(p + 1) * len];
            rayon::join(
                || {
                    let highpass = &mut highpass[p * h * w..(p + 1) * h * w];
                    real_inverse(high, plan.shape, plan.inverse_scale(plan.shape), highpass);
                    real_inverse(coarsest, size, plan.inverse_scale(size), lowpass);
                },
                || {
                    per_scale
                        .into_par_iter()
                        .zip(&plan.scales)
                        .zip(&lows)
                        .for_each(|((parts, scale), low)| scale_bands(plan, scale, low, parts))
                },
            );
        }
    });
    outputs
}

/// One plane's high-pass spectrum (masked, not yet transformed back) and its low-pass
/// spectra, from the full size down to the coarsest.
fn plane_spectra<T: Precision>(plan: &PyramidPlan, x: &[T]) -> (Plane<T>, Vec<Plane<T>>) {
    let spectrum = spectrum_of(x, None, plan.shape, plan.forward_scale());
    let high = masked(&spectrum, &plan.hi0mask);
    let mut lows = vec![masked(&spectrum, &plan.lo0mask)];
    for (s, scale) in plan.scales.iter().enumerate() {
        let low = &lows[s];
        lows.push(match &scale.crop {
            Some(crop) => crop_masked(low, scale.size[0], crop, &scale.lomask),
            None => masked(low, &scale.lomask),
        });
    }
    (high, lows)
}

/// One scale's bands of one plane, from its low-pass spectrum `low`, into `parts` (real
/// parts, then imaginary ones for a complex pyramid), orientation after orientation.
fn scale_bands<T: Precision>(
    plan: &PyramidPlan,
    scale: &ScalePlan,
    low: &[Complex<T>],
    mut parts: Vec<&mut [T]>,
) {
    let len = scale.size[0] * scale.size[1];
    let factor = plan.inverse_scale(scale.size) * plan.band_scale();
    let phase = plan.phase * factor;
    let phase = Complex::new(float::<T>(phase.re), float::<T>(phase.im));
    let (re, im) = match parts.as_mut_slice() {
        [re, im] => (re, Some(im)),
        [re] => (re, None),
        _ => unreachable!("one or two parts"),
    };
    let chunks: Vec<(&mut [T], Option<&mut [T]>)> = match im {
        Some(im) => re
            .chunks_exact_mut(len)
            .zip(im.chunks_exact_mut(len))
            .map(|(r, i)| (r, Some(i)))
            .collect(),
        None => re.chunks_exact_mut(len).map(|r| (r, None)).collect(),
    };
    chunks
        .into_par_iter()
        .zip(&scale.filters)
        .for_each(|((re, im), filter)| {
            let mut spectrum: Plane<T> = low
                .iter()
                .zip(T::of(filter))
                .map(|(v, m)| *v * phase * *m)
                .collect();
            let mut band = Buf::scratch(len, zero());
            ifft_transposed(&mut spectrum, &mut band, scale.size);
            for (out, v) in re.iter_mut().zip(band.iter()) {
                *out = v.re;
            }
            if let Some(im) = im {
                for (out, v) in im.iter_mut().zip(band.iter()) {
                    *out = v.im;
                }
            }
        });
}

/// The image gradient `[planes, height, width]` from each output's gradient (`None`: zero).
fn backward<T: Precision>(plan: &PyramidPlan, grads: Vec<Option<Vec<T>>>, planes: usize) -> Vec<T> {
    let [h, w] = plan.shape;
    let mut out = vec![T::zero(); planes * h * w];
    in_pool(|| {
        out.par_chunks_exact_mut(h * w)
            .enumerate()
            .for_each(|(p, out)| plane_backward(plan, &grads, p, out));
    });
    out
}

/// One output's gradient for plane `p`, `len` values a plane.
fn plane_of<T>(grad: &Option<Vec<T>>, p: usize, len: usize) -> Option<&[T]> {
    grad.as_ref().map(|g| &g[p * len..(p + 1) * len])
}

/// The pyramid's adjoint for plane `p`: each level's gradient transformed once and carried
/// up the low-pass chain, into `out`.
fn plane_backward<T: Precision>(
    plan: &PyramidPlan,
    grads: &[Option<Vec<T>>],
    p: usize,
    out: &mut [T],
) {
    let n = plan.scales.len();
    let parts = plan.parts();
    // Each scale's bands, brought to that scale's low-pass spectrum (independent of the
    // other scales, so computed side by side).
    let from_bands: Vec<Option<Plane<T>>> = plan
        .scales
        .par_iter()
        .enumerate()
        .map(|(s, scale)| scale_adjoint(plan, scale, &grads[1 + s * parts..], p))
        .collect();
    let coarsest = plan.low_size(n);
    let mut low: Option<Plane<T>> = plane_of(&grads[1 + n * parts], p, coarsest[0] * coarsest[1])
        .map(|g| spectrum_of(g, None, coarsest, plan.inverse_scale(coarsest)));
    for (s, (scale, bands)) in plan.scales.iter().zip(from_bands).enumerate().rev() {
        let carried = low.map(|g| {
            let mut up = uncropped(&g, scale, plan.low_size(s));
            if let Some(bands) = &bands {
                for (u, b) in up.iter_mut().zip(bands.iter()) {
                    *u = *u + *b;
                }
            }
            up
        });
        low = carried.or(bands);
    }
    let mut spectrum: Plane<T> = match low {
        Some(low) => masked(&low, &plan.lo0mask),
        None => Buf::filled(zero(), out.len()),
    };
    if let Some(g) = plane_of(&grads[0], p, out.len()) {
        let high = spectrum_of(g, None, plan.shape, plan.inverse_scale(plan.shape));
        for ((v, g), m) in spectrum
            .iter_mut()
            .zip(high.iter())
            .zip(T::of(&plan.hi0mask))
        {
            *v = *v + *g * *m;
        }
    }
    real_inverse(spectrum, plan.shape, plan.forward_scale(), out);
}

/// The adjoint of the step from scale `s`'s low-pass spectrum (of `size`) to the next:
/// `g · lomask`, put back at the kept columns and rows.
fn uncropped<T: Precision>(g: &[Complex<T>], scale: &ScalePlan, size: [usize; 2]) -> Plane<T> {
    let mask = T::of(&scale.lomask);
    match &scale.crop {
        Some([columns, rows]) => {
            let mut up = Buf::filled(zero(), size[0] * size[1]);
            let kept = rows.len();
            for (j, c) in columns.iter().enumerate() {
                for (i, r) in rows.iter().enumerate() {
                    let k = j * kept + i;
                    up[c * size[0] + r] = g[k] * mask[k];
                }
            }
            up
        }
        None => masked(g, &scale.lomask),
    }
}

/// `Σ_b conj(phase) · filter_b · F(g_b)` over scale `s`'s orientations, from its parts'
/// gradients (`grads[0]`, and `grads[1]` for imaginary parts); `None` when none has one.
fn scale_adjoint<T: Precision>(
    plan: &PyramidPlan,
    scale: &ScalePlan,
    grads: &[Option<Vec<T>>],
    p: usize,
) -> Option<Plane<T>> {
    let len = scale.size[0] * scale.size[1];
    let all = plan.orientations * len;
    let re = plane_of(&grads[0], p, all);
    let im = if plan.is_complex {
        plane_of(&grads[1], p, all)
    } else {
        None
    };
    if re.is_none() && im.is_none() {
        return None;
    }
    let zeros = vec![T::zero(); all];
    let re = re.unwrap_or(&zeros);
    let factor = plan.inverse_scale(scale.size) * plan.band_scale();
    let phase = plan.phase.conj();
    let phase = Complex::new(float::<T>(phase.re), float::<T>(phase.im));
    let shares: Vec<Plane<T>> = (0..plan.orientations)
        .into_par_iter()
        .map(|b| {
            let mut g = spectrum_of(
                &re[b * len..(b + 1) * len],
                im.map(|im| &im[b * len..(b + 1) * len]),
                scale.size,
                factor,
            );
            for (v, m) in g.iter_mut().zip(T::of(&scale.filters[b])) {
                *v = *v * phase * *m;
            }
            g
        })
        .collect();
    let mut shares = shares.into_iter();
    let mut total = shares.next().expect("an orientation");
    for share in shares {
        for (t, v) in total.iter_mut().zip(share.iter()) {
            *t = *t + *v;
        }
    }
    Some(total)
}
