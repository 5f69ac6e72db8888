//! Separable "same"-size filtering with fixed taps, channel by channel, as plain loops on the
//! host: a row pass, then a column pass, with the padding read through index tables.
//!
//! A 31-tap Gaussian through Burn costs two dense matrix products per plane, the matrices
//! rebuilt every call, and an autodiff graph of slices and concatenations around them; here
//! each output is one multiply-add per tap, accumulated in registers, and the adjoint is the
//! same loop over the transposed operator. Large planes split their rows across rayon's pool.

use std::sync::{Arc, Mutex};

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};

use super::padding::{Padding, assert_fits, padded_source, same_padding_amounts};
use crate::HostBackend;
use crate::host::lanes::{Lanes, dispatch};
use crate::host::{Buf, HostOp, HostValues, Pooled, by_chunks, dims, in_pool, on_host};

/// Rows per rayon task: a task below this costs more to hand out than to run.
const ROWS_PER_TASK: usize = 32;
/// Outputs per register block: enough independent sums to hide the latency of additions, as
/// many as sixteen AVX2 registers hold with room for the operands.
const LANES_F32: usize = 64;
const LANES_F64: usize = 32;

/// Filters channel `g` of `[batch, groups, h, w]` with `taps`' filter `g`, padding with
/// `pad_mode` so the size is kept.
///
/// # Panics
/// When the channel count differs from the number of filters, the kernels of an axis differ
/// in size, or a reflect or circular pad would be as long as the image.
pub(crate) fn filter_separable<B: HostBackend>(
    image: Tensor<B, 4>,
    taps: ChannelTaps,
    pad_mode: Padding,
) -> Tensor<B, 4> {
    let [_, groups, h, w] = image.dims();
    assert_eq!(taps.0.len(), groups, "one filter per channel");
    let filter = Separable {
        plane: PlaneFilter::shared([h, w], taps.kernel(), pad_mode),
        taps,
    };
    let x = image.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::host_op(x, filter)))
}

/// Per channel, the float64 taps along the height and along the width.
#[derive(Debug)]
pub(crate) struct ChannelTaps(pub Vec<[Vec<f64>; 2]>);

impl ChannelTaps {
    /// `[height, width]` of the kernels.
    ///
    /// # Panics
    /// When there are no filters, or their kernels differ in size.
    fn kernel(&self) -> [usize; 2] {
        let kernel = self.0[0].clone().map(|taps| taps.len());
        assert!(
            self.0
                .iter()
                .all(|t| t.clone().map(|taps| taps.len()) == kernel),
            "equal kernel sizes"
        );
        kernel
    }

    /// The taps in a computation's precision.
    pub fn as_t<T: Lanes>(&self) -> Vec<[Vec<T>; 2]> {
        self.0
            .iter()
            .map(|axes| {
                axes.clone()
                    .map(|taps| taps.iter().map(|&v| T::from_f64(v)).collect())
            })
            .collect()
    }
}

/// Channel `c`'s taps along the height and the width.
pub(crate) fn taps_of<T>(taps: &[[Vec<T>; 2]], c: usize) -> [&[T]; 2] {
    [&taps[c][0], &taps[c][1]]
}

/// A separable "same"-size filter of `[h, w]` planes: where each padded row and column reads
/// from. The taps come with each call, so one table serves every filter of a kernel size.
#[derive(Debug)]
pub(crate) struct PlaneFilter {
    size: [usize; 2],
    kernel: [usize; 2],
    pad_mode: Padding,
    /// Along the height, then along the width.
    sources: [Vec<Option<usize>>; 2],
    /// For each row, the (output row, tap) pairs that read it: the height pass transposed.
    readers: Readers,
}

impl PlaneFilter {
    /// # Panics
    /// When a reflect or circular pad would be as long as the image.
    pub fn new(size: [usize; 2], kernel: [usize; 2], pad_mode: Padding) -> Self {
        let sources: [Vec<Option<usize>>; 2] = std::array::from_fn(|axis| {
            let (n, (before, after)) = (size[axis], same_padding_amounts(kernel[axis]));
            assert_fits(n, (before, after), pad_mode);
            (0..n + before + after)
                .map(|p| padded_source(p, n, before, pad_mode))
                .collect()
        });
        let readers = Readers::new(&sources[0], size[0], kernel[0]);
        Self {
            size,
            kernel,
            pad_mode,
            sources,
            readers,
        }
    }

    /// [`Self::new`]'s table, built once per size, kernel and padding among the last few
    /// asked for: a model filters the same sizes every iteration, and building the table
    /// for a 512×512 plane cost a few percent of a Gaussian iteration, on one thread.
    ///
    /// # Panics
    /// As [`Self::new`].
    pub fn shared(size: [usize; 2], kernel: [usize; 2], pad_mode: Padding) -> Arc<Self> {
        const KEPT: usize = 16;
        static RECENT: Mutex<Vec<Arc<PlaneFilter>>> = Mutex::new(Vec::new());
        // Held while a table is built, so two threads asking at once do not both build it.
        let mut kept = RECENT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = |f: &&Arc<Self>| f.size == size && f.kernel == kernel && f.pad_mode == pad_mode;
        if let Some(found) = kept.iter().find(same) {
            return found.clone();
        }
        let built = Arc::new(Self::new(size, kernel, pad_mode));
        if kept.len() == KEPT {
            kept.remove(0);
        }
        kept.push(built.clone());
        built
    }

    /// Elements per plane.
    pub fn len(&self) -> usize {
        self.size[0] * self.size[1]
    }

    /// `out = filter(x)`, with `[columns, rows]` taps; `between` is scratch of a plane.
    pub fn apply<T: Lanes>(
        &self,
        x: &[T],
        out: &mut [T],
        [columns, rows]: [&[T]; 2],
        between: &mut [T],
    ) {
        let w = self.size[1];
        along_width(x, between, rows, &self.sources[1], w);
        along_height(between, out, columns, &self.sources[0], w);
    }

    /// `out = filterᵀ(grad)`: the gradient with respect to the input.
    pub fn adjoint<T: Lanes>(
        &self,
        grad: &[T],
        out: &mut [T],
        [columns, rows]: [&[T]; 2],
        between: &mut [T],
    ) {
        let w = self.size[1];
        along_height_adjoint(grad, between, columns, &self.readers, w);
        along_width_adjoint(between, out, rows, &self.sources[1], w);
    }
}

/// One filter per channel.
#[derive(Debug)]
struct Separable {
    plane: Arc<PlaneFilter>,
    taps: ChannelTaps,
}

impl Separable {
    fn run<B: Backend>(&self, x: FloatTensor<B>, adjoint: bool) -> FloatTensor<B> {
        let shape = dims::<B, 4>(&x);
        // With several threads the row splits run inside the pool, where handing them out
        // needs no wake-ups; with one there are no splits.
        let planes = |values| match values {
            HostValues::F32(v) => HostValues::F32(self.planes(&v, adjoint)),
            HostValues::F64(v) => HostValues::F64(self.planes(&v, adjoint)),
        };
        on_host::<B, 4>(x, shape, |values| {
            if rayon::current_num_threads() > 1 {
                in_pool(|| planes(values))
            } else {
                planes(values)
            }
        })
    }

    fn planes<T: Lanes + Pooled>(&self, x: &[T], adjoint: bool) -> Vec<T> {
        let n = self.plane.len();
        let mut out = vec![T::from_f64(0.0); x.len()];
        let mut between = Buf::scratch(n, T::from_f64(0.0));
        let all = self.taps.as_t::<T>();
        for (p, (plane, target)) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)).enumerate() {
            let taps = taps_of(&all, p % all.len());
            if adjoint {
                self.plane.adjoint(plane, target, taps, &mut between);
            } else {
                self.plane.apply(plane, target, taps, &mut between);
            }
        }
        out
    }
}

impl HostOp for Separable {
    /// A linear step keeps nothing.
    type Saved<B: Backend> = ();

    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, ()) {
        (self.run::<B>(x, false), ())
    }

    fn backward<B: Backend>(&self, _: (), grad: FloatTensor<B>) -> FloatTensor<B> {
        self.run::<B>(grad, true)
    }
}

dispatch!(
    weighted_sum,
    weighted_sum_avx2,
    (out: &mut [T], terms: &[(&[T], T)]) -> (),
    weighted_sum_body(out, terms)
);

/// `out[j] = Σ_k c_k · src_k[j]`, accumulated in registers a block of outputs at a time (then 8,
/// then one, at the end of the row).
#[inline(always)]
fn weighted_sum_body<T: Lanes>(out: &mut [T], terms: &[(&[T], T)]) {
    let mut start = 0;
    start = if size_of::<T>() == 4 {
        weighted_blocks::<T, LANES_F32>(out, terms, start)
    } else {
        weighted_blocks::<T, LANES_F64>(out, terms, start)
    };
    start = weighted_blocks::<T, 8>(out, terms, start);
    weighted_blocks::<T, 1>(out, terms, start);
}

/// [`weighted_sum_body`] over whole blocks of `N` outputs from `start`; returns where they end.
#[inline(always)]
fn weighted_blocks<T: Lanes, const N: usize>(
    out: &mut [T],
    terms: &[(&[T], T)],
    mut start: usize,
) -> usize {
    while start + N <= out.len() {
        let mut acc = [T::from_f64(0.0); N];
        for &(source, c) in terms {
            let source = &source[start..start + N];
            for (a, &s) in acc.iter_mut().zip(source) {
                *a = *a + c * s;
            }
        }
        out[start..start + N].copy_from_slice(&acc);
        start += N;
    }
    start
}

/// Runs `work(first_row, rows)` over blocks of rows of `out` (`w` wide), in parallel when
/// there are enough.
fn by_row_blocks<T: Lanes>(out: &mut [T], w: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let block = ROWS_PER_TASK * w;
    by_chunks(out, block, out.len() > block, |b, rows| {
        work(b * ROWS_PER_TASK, rows)
    });
}

/// Each row of `x` padded through `sources` and correlated with `taps`.
fn along_width<T: Lanes>(x: &[T], out: &mut [T], taps: &[T], sources: &[Option<usize>], w: usize) {
    by_row_blocks(out, w, |first, block| {
        let mut padded = vec![T::from_f64(0.0); sources.len()];
        for (i, target) in block.chunks_exact_mut(w).enumerate() {
            let row = &x[(first + i) * w..][..w];
            for (value, source) in padded.iter_mut().zip(sources) {
                *value = source.map_or(T::from_f64(0.0), |q| row[q]);
            }
            let terms: Vec<(&[T], T)> = taps
                .iter()
                .enumerate()
                .map(|(t, &c)| (&padded[t..t + w], c))
                .collect();
            weighted_sum(target, &terms);
        }
    });
}

/// The adjoint of [`along_width`]: each row correlated "fully" with the reversed taps, then
/// folded back through `sources`.
fn along_width_adjoint<T: Lanes>(
    grad: &[T],
    out: &mut [T],
    taps: &[T],
    sources: &[Option<usize>],
    w: usize,
) {
    let k = taps.len();
    by_row_blocks(out, w, |first, block| {
        let mut widened = vec![T::from_f64(0.0); w + 2 * (k - 1)];
        let mut padded = vec![T::from_f64(0.0); sources.len()];
        for (i, target) in block.chunks_exact_mut(w).enumerate() {
            widened[k - 1..k - 1 + w].copy_from_slice(&grad[(first + i) * w..][..w]);
            let terms: Vec<(&[T], T)> = taps
                .iter()
                .rev()
                .enumerate()
                .map(|(s, &c)| (&widened[s..s + sources.len()], c))
                .collect();
            weighted_sum(&mut padded, &terms);
            target.fill(T::from_f64(0.0));
            for (&value, source) in padded.iter().zip(sources) {
                if let Some(q) = source {
                    target[*q] = target[*q] + value;
                }
            }
        }
    });
}

/// Each output row the taps' sum of the padded rows of `x` it covers.
fn along_height<T: Lanes>(x: &[T], out: &mut [T], taps: &[T], sources: &[Option<usize>], w: usize) {
    by_row_blocks(out, w, |first, block| {
        for (i, target) in block.chunks_exact_mut(w).enumerate() {
            let terms: Vec<(&[T], T)> = taps
                .iter()
                .enumerate()
                .filter_map(|(t, &c)| sources[first + i + t].map(|r| (&x[r * w..][..w], c)))
                .collect();
            weighted_sum(target, &terms);
        }
    });
}

/// For each of `h` rows, the (output row, tap) pairs of the height pass that read it, in one
/// table: a plane's filter is built every forward pass, and this is two allocations where a
/// vector per row took one per row and its regrowths.
#[derive(Debug)]
struct Readers {
    pairs: Vec<(usize, usize)>,
    /// Row `r`'s pairs are `pairs[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
}

impl Readers {
    /// From the height pass's `sources` (the row each padded row copies, if any).
    fn new(sources: &[Option<usize>], h: usize, kernel: usize) -> Self {
        let reads = || {
            sources.iter().enumerate().flat_map(move |(p, source)| {
                source.iter().flat_map(move |&r| {
                    (0..kernel).filter_map(move |t| {
                        p.checked_sub(t).filter(|&i| i < h).map(|i| (r, (i, t)))
                    })
                })
            })
        };
        let mut starts = vec![0; h + 1];
        for (r, _) in reads() {
            starts[r + 1] += 1;
        }
        for r in 0..h {
            starts[r + 1] += starts[r];
        }
        let mut next = starts.clone();
        let mut pairs = vec![(0, 0); starts[h]];
        for (r, pair) in reads() {
            pairs[next[r]] = pair;
            next[r] += 1;
        }
        Self { pairs, starts }
    }

    fn of(&self, row: usize) -> &[(usize, usize)] {
        &self.pairs[self.starts[row]..self.starts[row + 1]]
    }
}

/// The adjoint of [`along_height`]: each padded row's gradient, the taps' sum of the output
/// rows that read it (`readers`, from [`PlaneFilter::new`]), added to the row it came from.
/// Written as a gather over source rows so that blocks of rows can run in parallel.
fn along_height_adjoint<T: Lanes>(
    grad: &[T],
    out: &mut [T],
    taps: &[T],
    readers: &Readers,
    w: usize,
) {
    by_row_blocks(out, w, |first, block| {
        for (r, target) in block.chunks_exact_mut(w).enumerate() {
            let terms: Vec<(&[T], T)> = readers
                .of(first + r)
                .iter()
                .map(|&(i, t)| (&grad[i * w..][..w], taps[t]))
                .collect();
            weighted_sum(target, &terms);
        }
    });
}
