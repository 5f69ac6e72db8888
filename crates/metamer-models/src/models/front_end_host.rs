//! The frozen forward pass of the centre–surround models and front ends as one host
//! operation, with its backward pass written out: the Gaussian blurs as separable loops, and
//! every point-wise step between them (the centre–surround difference, both gain controls,
//! the non-linearity and the mask) fused into single passes over the planes.
//!
//! Through Burn the same pass is some thirty graph operations, each allocating its planes and
//! recording a backward step; fused, an iteration is the blurs and a few passes over memory.

use std::sync::Arc;

use rayon::prelude::*;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};
use rustfft::num_traits::Float;

use crate::HostBackend;
use crate::host::lanes::Lanes;
use crate::host::{HostOp, HostValues, dims, in_pool, on_host};
use crate::models::activation::Activation;
use crate::signal::filters::gaussian_channel_taps;
use crate::signal::padding::Padding;
use crate::signal::separable::{ChannelTaps, PlaneFilter, taps_of};

/// A divisive gain-control stage: per output channel, the pooling Gaussian's std and its gain.
#[derive(Debug, Clone)]
pub(crate) struct GainStage {
    pub stds: Vec<f64>,
    pub gains: Vec<f64>,
}

/// What the operation computes, from the model's frozen values.
#[derive(Debug)]
pub(crate) struct FrontEndSpec {
    pub kernel: [usize; 2],
    pub pad_mode: Padding,
    /// Per output channel.
    pub center: Vec<f64>,
    pub surround: Vec<f64>,
    /// Per output channel, `sign · amplitude_ratio`.
    pub scale: Vec<f64>,
    pub luminance: Option<GainStage>,
    pub contrast: Option<GainStage>,
    pub activation: Activation,
    /// `[h, w]` weights the output is multiplied by.
    pub mask: Option<Vec<f64>>,
}

/// `[batch, c, h, w]` → `[batch, c · out, h, w]` through `spec`, on the host.
pub(crate) fn front_end_on_host<B: HostBackend>(
    image: Tensor<B, 4>,
    spec: FrontEndSpec,
) -> Tensor<B, 4> {
    let [_, _, h, w] = image.dims();
    let dtype = image.dtype();
    let taps = |stds: &[f64]| gaussian_channel_taps(stds, spec.kernel, dtype);
    let pool = |stage: Option<GainStage>| {
        stage.map(|stage| Pool {
            taps: taps(&stage.stds),
            gains: stage.gains,
        })
    };
    let op = FrontEndOp {
        plane: PlaneFilter::shared([h, w], spec.kernel, spec.pad_mode),
        center: taps(&spec.center),
        surround: taps(&spec.surround),
        scale: spec.scale,
        luminance: pool(spec.luminance),
        contrast: pool(spec.contrast),
        activation: spec.activation,
        mask: spec.mask,
    };
    let x = image.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::host_op(x, op)))
}

/// A gain-control stage's pooling filters and gains, per output channel.
#[derive(Debug)]
struct Pool {
    taps: ChannelTaps,
    gains: Vec<f64>,
}

impl Pool {
    /// The taps in a computation's precision, with the gains.
    fn as_t<T: Lanes>(&self) -> (Vec<[Vec<T>; 2]>, &[f64]) {
        (self.taps.as_t(), &self.gains)
    }
}

/// [`FrontEndSpec`] with its filters built.
#[derive(Debug)]
struct FrontEndOp {
    plane: Arc<PlaneFilter>,
    center: ChannelTaps,
    surround: ChannelTaps,
    scale: Vec<f64>,
    luminance: Option<Pool>,
    contrast: Option<Pool>,
    activation: Activation,
    mask: Option<Vec<f64>>,
}

/// The planes the backward pass reads, each `[batch, c · out, h, w]` (empty when a stage is
/// absent).
#[derive(Debug, Default)]
struct Kept<T> {
    /// The centre–surround response.
    linear: Vec<T>,
    /// `1 + gain · luminance`.
    luminance_divisor: Vec<T>,
    /// The response after luminance gain control.
    after_luminance: Vec<T>,
    /// `sqrt(pooled energy)`.
    root_energy: Vec<T>,
    /// `1 + gain · (root_energy + 1e-6)`.
    contrast_divisor: Vec<T>,
    /// The input of the non-linearity.
    before_activation: Vec<T>,
}

impl<T: Copy> Kept<T> {
    /// One plane's records after another's, in plane order.
    fn concatenate(mut planes: Vec<Kept<T>>) -> Self {
        if planes.len() == 1 {
            return planes.pop().expect("one plane");
        }
        let join = |field: fn(&Kept<T>) -> &Vec<T>| {
            let mut all = Vec::with_capacity(planes.iter().map(|k| field(k).len()).sum());
            for kept in &planes {
                all.extend_from_slice(field(kept));
            }
            all
        };
        Kept {
            linear: join(|k| &k.linear),
            luminance_divisor: join(|k| &k.luminance_divisor),
            after_luminance: join(|k| &k.after_luminance),
            root_energy: join(|k| &k.root_energy),
            contrast_divisor: join(|k| &k.contrast_divisor),
            before_activation: join(|k| &k.before_activation),
        }
    }
}

/// Plane `p` of planes of `n` elements.
fn plane<T>(store: &[T], p: usize, n: usize) -> &[T] {
    &store[p * n..][..n]
}

#[derive(Debug)]
enum KeptValues {
    F32(Kept<f32>),
    F64(Kept<f64>),
}

/// Numbers the operation runs in.
trait Real: Lanes + Float + Default {
    /// `ln(1 + x)` as Burn's CPU backends compute it (the `libm` crate's, also several times
    /// faster than the C library's float32 one).
    fn log1p(self) -> Self;
}

impl Real for f32 {
    fn log1p(self) -> Self {
        libm::log1pf(self)
    }
}

impl Real for f64 {
    fn log1p(self) -> Self {
        libm::log1p(self)
    }
}

impl FrontEndOp {
    fn input_shape(&self, [batch, planes, h, w]: [usize; 4]) -> [usize; 4] {
        [batch, planes / self.center.0.len(), h, w]
    }

    /// The output planes, each computed on its own (rayon's threads share them), and with
    /// `keep` what the backward pass reads.
    fn forward_values<T: Real>(&self, x: &[T], keep: bool) -> (Vec<T>, Kept<T>) {
        let n = self.plane.len();
        let out_channels = self.center.0.len();
        let zero = T::from_f64(0.0);
        let planes = x.len() / n * out_channels;
        let mut out = vec![zero; planes * n];
        let (center, surround) = (self.center.as_t::<T>(), self.surround.as_t::<T>());
        let luminance = self.luminance.as_ref().map(Pool::as_t::<T>);
        let contrast = self.contrast.as_ref().map(Pool::as_t::<T>);
        let (one, epsilon) = (T::from_f64(1.0), T::from_f64(1e-6));
        let kept_planes: Vec<Kept<T>> = in_pool(|| {
            out.par_chunks_mut(n)
                .enumerate()
                .map(|(p, target)| {
                    let mut kept = Kept::default();
                    let keep_plane = |store: &mut Vec<T>, values: &[T]| {
                        if keep {
                            store.extend_from_slice(values);
                        }
                    };
                    let [mut a, mut b, mut between] = [0; 3].map(|_| vec![zero; n]);
                    let o = p % out_channels;
                    let input = &x[p / out_channels * n..][..n];
                    // The centre–surround response, into `target`.
                    self.plane
                        .apply(input, &mut a, taps_of(&center, o), &mut between);
                    self.plane
                        .apply(input, &mut b, taps_of(&surround, o), &mut between);
                    let scale = T::from_f64(self.scale[o]);
                    for ((t, &c), &s) in target.iter_mut().zip(&a).zip(&b) {
                        *t = (c - s) * scale;
                    }
                    if let Some((filters, gains)) = &luminance {
                        keep_plane(&mut kept.linear, target);
                        self.plane
                            .apply(input, &mut a, taps_of(filters, o), &mut between);
                        let gain = T::from_f64(gains[o]);
                        for (l, t) in a.iter_mut().zip(target.iter_mut()) {
                            *l = *l * gain + one;
                            *t = *t / *l;
                        }
                        keep_plane(&mut kept.luminance_divisor, &a);
                    }
                    if let Some((filters, gains)) = &contrast {
                        keep_plane(&mut kept.after_luminance, target);
                        for (e, &t) in b.iter_mut().zip(target.iter()) {
                            *e = t * t;
                        }
                        self.plane
                            .apply(&b, &mut a, taps_of(filters, o), &mut between);
                        let gain = T::from_f64(gains[o]);
                        for ((e, d), t) in a.iter_mut().zip(b.iter_mut()).zip(target.iter_mut()) {
                            *e = e.sqrt();
                            *d = (*e + epsilon) * gain + one;
                            *t = *t / *d;
                        }
                        keep_plane(&mut kept.root_energy, &a);
                        keep_plane(&mut kept.contrast_divisor, &b);
                    }
                    if self.activation != Activation::Identity {
                        keep_plane(&mut kept.before_activation, target);
                    }
                    activate(self.activation, target);
                    if let Some(mask) = &self.mask {
                        for (t, &m) in target.iter_mut().zip(mask) {
                            *t = *t * T::from_f64(m);
                        }
                    }
                    kept
                })
                .collect()
        });
        (out, Kept::concatenate(kept_planes))
    }

    /// The input gradient: each output plane's share computed on its own (rayon's threads
    /// share them), then the shares of each input plane's channels summed.
    fn backward_values<T: Real>(&self, grad: &[T], kept: &Kept<T>) -> Vec<T> {
        let n = self.plane.len();
        let out_channels = self.center.0.len();
        let zero = T::from_f64(0.0);
        let (center, surround) = (self.center.as_t::<T>(), self.surround.as_t::<T>());
        let luminance = self.luminance.as_ref().map(Pool::as_t::<T>);
        let contrast = self.contrast.as_ref().map(Pool::as_t::<T>);
        let two = T::from_f64(2.0);
        let shares: Vec<Vec<T>> = in_pool(|| {
            grad.par_chunks(n)
                .enumerate()
                .map(|(p, g)| {
                    let [mut d, mut a, mut back, mut between] = [0; 4].map(|_| vec![zero; n]);
                    let mut share = vec![zero; n];
                    let target = &mut share[..];
                    let o = p % out_channels;
                    d.copy_from_slice(g);
                    if let Some(mask) = &self.mask {
                        for (d, &m) in d.iter_mut().zip(mask) {
                            *d = *d * T::from_f64(m);
                        }
                    }
                    if self.activation != Activation::Identity {
                        activation_backward(
                            self.activation,
                            &mut d,
                            plane(&kept.before_activation, p, n),
                        );
                    }
                    if let Some((filters, gains)) = &contrast {
                        let (y, root, divisor) = (
                            plane(&kept.after_luminance, p, n),
                            plane(&kept.root_energy, p, n),
                            plane(&kept.contrast_divisor, p, n),
                        );
                        let gain = T::from_f64(gains[o]);
                        for ((((e, &g), &y), &r), &q) in
                            a.iter_mut().zip(&d).zip(y).zip(root).zip(divisor)
                        {
                            *e = -g * y / (q * q) * gain / (two * r);
                        }
                        self.plane
                            .adjoint(&a, &mut back, taps_of(filters, o), &mut between);
                        for (((g, &y), &q), &s) in d.iter_mut().zip(y).zip(divisor).zip(&back) {
                            *g = *g / q + s * two * y;
                        }
                    }
                    if let Some((filters, gains)) = &luminance {
                        let (y, divisor) = (
                            plane(&kept.linear, p, n),
                            plane(&kept.luminance_divisor, p, n),
                        );
                        let gain = T::from_f64(gains[o]);
                        for (((l, g), &y), &q) in a.iter_mut().zip(d.iter_mut()).zip(y).zip(divisor)
                        {
                            *l = -*g * y / (q * q) * gain;
                            *g = *g / q;
                        }
                        self.plane
                            .adjoint(&a, &mut back, taps_of(filters, o), &mut between);
                        add(target, &back);
                    }
                    let scale = T::from_f64(self.scale[o]);
                    for g in &mut d {
                        *g = *g * scale;
                    }
                    self.plane
                        .adjoint(&d, &mut back, taps_of(&center, o), &mut between);
                    add(target, &back);
                    self.plane
                        .adjoint(&d, &mut back, taps_of(&surround, o), &mut between);
                    for (t, &s) in target.iter_mut().zip(&back) {
                        *t = *t - s;
                    }
                    share
                })
                .collect()
        });
        let mut input_grad = vec![zero; grad.len() / out_channels];
        for (p, share) in shares.iter().enumerate() {
            add(&mut input_grad[p / out_channels * n..][..n], share);
        }
        input_grad
    }
}

fn add<T: Real>(target: &mut [T], values: &[T]) {
    for (t, &v) in target.iter_mut().zip(values) {
        *t = *t + v;
    }
}

/// The built-in non-linearities, as [`Activation::apply`] computes them.
fn activate<T: Real>(activation: Activation, values: &mut [T]) {
    let (zero, threshold) = (T::from_f64(0.0), T::from_f64(20.0));
    match activation {
        Activation::Softplus => {
            for v in values {
                if *v <= threshold {
                    *v = v.exp().log1p();
                }
            }
        }
        Activation::Relu => {
            for v in values {
                *v = v.max(zero);
            }
        }
        Activation::Identity => {}
    }
}

/// The gradient through [`activate`], given its input.
fn activation_backward<T: Real>(activation: Activation, grad: &mut [T], input: &[T]) {
    let (zero, one, threshold) = (T::from_f64(0.0), T::from_f64(1.0), T::from_f64(20.0));
    match activation {
        Activation::Softplus => {
            for (g, &x) in grad.iter_mut().zip(input) {
                if x <= threshold {
                    let e = x.exp();
                    *g = *g / (e + one) * e;
                }
            }
        }
        Activation::Relu => {
            for (g, &x) in grad.iter_mut().zip(input) {
                if x <= zero {
                    *g = zero;
                }
            }
        }
        Activation::Identity => {}
    }
}

impl HostOp for FrontEndOp {
    type Saved<B: Backend> = Arc<KeptValues>;

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, Arc<KeptValues>) {
        let [batch, c, h, w] = dims::<B, 4>(&x);
        let mut kept = None;
        let out = on_host::<B, 4>(
            x,
            [batch, c * self.center.0.len(), h, w],
            |values| match values {
                HostValues::F32(v) => {
                    let (out, k) = self.forward_values(&v, true);
                    kept = Some(KeptValues::F32(k));
                    HostValues::F32(out)
                }
                HostValues::F64(v) => {
                    let (out, k) = self.forward_values(&v, true);
                    kept = Some(KeptValues::F64(k));
                    HostValues::F64(out)
                }
            },
        );
        (out, Arc::new(kept.expect("the forward pass ran")))
    }

    fn forward<B: Backend>(&self, x: FloatTensor<B>) -> FloatTensor<B> {
        let [batch, c, h, w] = dims::<B, 4>(&x);
        on_host::<B, 4>(
            x,
            [batch, c * self.center.0.len(), h, w],
            |values| match values {
                HostValues::F32(v) => HostValues::F32(self.forward_values(&v, false).0),
                HostValues::F64(v) => HostValues::F64(self.forward_values(&v, false).0),
            },
        )
    }

    fn backward<B: Backend>(&self, kept: Arc<KeptValues>, grad: FloatTensor<B>) -> FloatTensor<B> {
        let shape = self.input_shape(dims::<B, 4>(&grad));
        on_host::<B, 4>(grad, shape, |values| match (values, &*kept) {
            (HostValues::F32(g), KeptValues::F32(k)) => {
                HostValues::F32(self.backward_values(&g, k))
            }
            (HostValues::F64(g), KeptValues::F64(k)) => {
                HostValues::F64(self.backward_values(&g, k))
            }
            _ => unreachable!("a gradient has its forward pass's dtype"),
        })
    }
}
