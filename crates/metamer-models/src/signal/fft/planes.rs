//! The host side of the transforms: rustfft plans, complex planes in the tensor's own
//! precision, and the round trip from a packed `[parts, n, h, w]` tensor to planes and back.

use std::cell::RefCell;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use rayon::prelude::*;
use rustfft::{FftDirection, FftNum, FftPlanner, num_complex::Complex as FftComplex};

use crate::host::{Buf, ComplexPooled, HostValues, by_chunks, dims, on_host};

/// A computation on the host's complex planes, written once for both precisions.
pub(super) trait PlaneOp {
    /// `planes`: consecutive `size` planes (real inputs with zero imaginary parts); returns the
    /// output planes, consecutive and of the operation's output size.
    fn apply<T: Planned>(&self, planes: Vec<FftComplex<T>>, size: [usize; 2])
    -> Vec<FftComplex<T>>;
}

/// Runs `op` on the planes of a `[parts, n, h, w]` tensor on the host, in the tensor's own
/// precision; the `[1 or 2, n, out_shape]` result keeps the input's dtype and device, and only
/// real parts when `real_output`.
pub(super) fn on_planes<B: Backend>(
    x: FloatTensor<B>,
    out_shape: [usize; 2],
    real_output: bool,
    op: &impl PlaneOp,
) -> FloatTensor<B> {
    let [parts, n, height, width] = dims::<B, 4>(&x);
    debug_assert!(parts == 1 || parts == 2, "1 or 2 parts, got {parts}");
    let shape = [
        if real_output { 1 } else { 2 },
        n,
        out_shape[0],
        out_shape[1],
    ];
    fn run<T: Planned>(
        values: &[T],
        parts: usize,
        size: [usize; 2],
        real_output: bool,
        op: &impl PlaneOp,
    ) -> Vec<T> {
        from_complex(&op.apply(to_complex(values, parts), size), real_output)
    }
    let size = [height, width];
    on_host::<B, 4>(x, shape, |values| match values {
        HostValues::F64(v) => HostValues::F64(run(&v, parts, size, real_output, op)),
        HostValues::F32(v) => HostValues::F32(run(&v, parts, size, real_output, op)),
    })
}

fn to_complex<T: Planned>(values: &[T], parts: usize) -> Vec<FftComplex<T>> {
    let count = values.len() / parts;
    if parts == 2 {
        let (re, im) = values.split_at(count);
        re.iter()
            .zip(im)
            .map(|(re, im)| FftComplex::new(*re, *im))
            .collect()
    } else {
        values
            .iter()
            .map(|re| FftComplex::new(*re, T::zero()))
            .collect()
    }
}

fn from_complex<T: Planned>(planes: &[FftComplex<T>], real_output: bool) -> Vec<T> {
    let mut out = Vec::with_capacity(if real_output { 1 } else { 2 } * planes.len());
    out.extend(planes.iter().map(|c| c.re));
    if !real_output {
        out.extend(planes.iter().map(|c| c.im));
    }
    out
}

pub(crate) fn float<T: Planned>(value: f64) -> T {
    T::from_f64(value).expect("a float")
}

/// Unnormalised 2-D transforms of consecutive `height × width` planes, in place.
pub(crate) fn fft_planes<T: Planned>(
    planes: &mut [FftComplex<T>],
    height: usize,
    width: usize,
    inverse: bool,
) {
    let [rows, columns] = plans::<T>([height, width], inverse);
    let mut transposed = Buf::scratch(height * width, zero());
    for plane in planes.chunks_exact_mut(height * width) {
        process(&rows, plane);
        transpose(plane, &mut transposed, height, width);
        process(&columns, &mut transposed);
        transpose(&transposed, plane, width, height);
    }
}

/// The forward transform of a `height × width` plane, left transposed (`width × height`) in
/// `out`; `plane` is overwritten. Spectra that are only masked, cropped and transformed back
/// (by [`ifft_transposed`]) need not be transposed back: that saves a quarter of a
/// transform's passes over memory.
pub(crate) fn fft_transposed<T: Planned>(
    plane: &mut [FftComplex<T>],
    out: &mut [FftComplex<T>],
    size: [usize; 2],
) {
    fft_transposed_rows(plane, out, size, None);
}

/// [`fft_transposed`] computing only the rows of the transposed spectrum that `wanted`
/// marks (one flag per frequency along the width) and leaving the others zero: a spectrum
/// about to be masked needs none of the rows its mask zeroes, and a steerable band's mask
/// zeroes up to half of them.
pub(crate) fn fft_transposed_rows<T: Planned>(
    plane: &mut [FftComplex<T>],
    out: &mut [FftComplex<T>],
    [height, width]: [usize; 2],
    wanted: Option<&[bool]>,
) {
    let [rows, columns] = plans::<T>([height, width], false);
    process(&rows, plane);
    transpose(plane, out, height, width);
    match wanted {
        None => process(&columns, out),
        Some(wanted) => {
            debug_assert_eq!(wanted.len(), width);
            for (row, wanted) in out.chunks_exact_mut(height).zip(wanted) {
                if !wanted {
                    row.fill(zero());
                }
            }
            process_rows(&columns, out, |row, _| wanted[row]);
        }
    }
}

/// `values`, an `h × w` row-major plane, as the `w × h` plane [`fft_transposed`] would leave
/// it: for masks and index maps built in FFT order, applied to transposed spectra.
pub(crate) fn transposed_plane<X: Copy>(values: &[X], [h, w]: [usize; 2]) -> Vec<X> {
    (0..h * w).map(|i| values[(i % h) * w + i / h]).collect()
}

/// The index in the transposed `w × h` plane of index `i` of an `h × w` one.
pub(crate) fn transposed_index(i: usize, [h, w]: [usize; 2]) -> usize {
    (i % w) * h + i / w
}

/// The inverse transform of a spectrum given transposed (`width × height`, as
/// [`fft_transposed`] leaves it), into `out` as a `height × width` plane; `spectrum` is
/// overwritten.
pub(crate) fn ifft_transposed<T: Planned>(
    spectrum: &mut [FftComplex<T>],
    out: &mut [FftComplex<T>],
    [height, width]: [usize; 2],
) {
    let [rows, columns] = plans::<T>([height, width], true);
    // A masked spectrum's zero rows transform to zero: a steerable band's mask zeroes up to
    // half of them, and a zero-padded (up-sampled) spectrum's padding more.
    let zero = zero();
    process_rows(&columns, spectrum, |_, row| row.iter().any(|v| *v != zero));
    transpose(spectrum, out, width, height);
    process(&rows, out);
}

/// The forward transform of a real `height × width` plane, transposed as
/// [`fft_transposed`] leaves it, for about half the work: pairs of rows go through one
/// complex transform, and only the width's non-negative frequencies are transformed along
/// the height, the others following from the spectrum's Hermitian symmetry.
pub(crate) fn fft_real_transposed<T: Planned>(
    x: &[T],
    out: &mut [FftComplex<T>],
    [height, width]: [usize; 2],
) {
    let half = width / 2 + 1;
    let [rows, columns] = plans::<T>([height, width], false);
    // Rows 2j and 2j + 1 as the real and imaginary parts of one complex row.
    let mut packed = Buf::scratch(height.div_ceil(2) * width, zero());
    by_rows(&mut packed, width, |j, z| {
        let a = &x[2 * j * width..][..width];
        match x.get((2 * j + 1) * width..(2 * j + 2) * width) {
            Some(b) => {
                for ((z, a), b) in z.iter_mut().zip(a).zip(b) {
                    *z = FftComplex::new(*a, *b);
                }
            }
            None => {
                for (z, a) in z.iter_mut().zip(a) {
                    *z = FftComplex::new(*a, T::zero());
                }
            }
        }
    });
    process(&rows, &mut packed);
    // Each pair's two spectra at the width's non-negative frequencies, written straight
    // into the transposed spectrum's rows: `Z(k)` and `conj Z(−k)` are `A(k) + i B(k)` and
    // `A(k) − i B(k)`. Rows go in blocks, so the few values each reads of every packed row
    // stay in cache for the next.
    let (computed, mirrored) = out.split_at_mut(half * height);
    let one_half = float::<T>(0.5);
    by_rows(computed, BLOCK_ROWS * height, |block, rows| {
        for (r, row) in rows.chunks_exact_mut(height).enumerate() {
            let k = block * BLOCK_ROWS + r;
            let negated = (width - k) % width;
            for (z, pair) in packed.chunks_exact(width).zip(row.chunks_mut(2)) {
                let (z, negated) = (z[k], z[negated].conj());
                pair[0] = (z + negated) * one_half;
                if let Some(b) = pair.get_mut(1) {
                    let d = z - negated;
                    *b = FftComplex::new(d.im * one_half, -d.re * one_half);
                }
            }
        }
    });
    process(&columns, computed);
    // `S(kx, ky) = conj S(−kx, −ky)`.
    by_rows(mirrored, height, |row, values| {
        let source = &computed[(width - half - row) * height..][..height];
        for (value, source) in values.iter_mut().zip(negated_frequencies(source)) {
            *value = source.conj();
        }
    });
}

/// `scale` times the real part of the inverse transform of a spectrum given transposed (as
/// [`fft_transposed`] leaves it), as a real `height × width` plane, for about half the work
/// of [`ifft_transposed`]: that real part is the inverse of the spectrum's Hermitian part,
/// of which only the width's non-negative frequencies are transformed along the height, and
/// pairs of rows go through one complex transform.
pub(crate) fn ifft_real_transposed<T: Planned>(
    spectrum: &[FftComplex<T>],
    out: &mut [T],
    [height, width]: [usize; 2],
    scale: T,
) {
    let half = width / 2 + 1;
    let [rows, columns] = plans::<T>([height, width], true);
    let one_half = float::<T>(0.5);
    let mut hermitian = Buf::scratch(half * height, zero());
    by_rows(&mut hermitian, height, |kx, values| {
        let at = &spectrum[kx * height..][..height];
        let mirror = &spectrum[(width - kx) % width * height..][..height];
        for ((value, at), mirror) in values.iter_mut().zip(at).zip(negated_frequencies(mirror)) {
            *value = (*at + mirror.conj()) * one_half;
        }
    });
    let zero = zero();
    process_rows(&columns, &mut hermitian, |_, row| {
        row.iter().any(|v| *v != zero)
    });
    // Rows 2j and 2j + 1, whose spectra are Hermitian, as one complex row `A + i B`, read
    // straight from the transposed columns.
    let mut packed = Buf::scratch(height.div_ceil(2) * width, zero);
    by_rows(&mut packed, width, |j, z| {
        let at = |k: usize| {
            let column = &hermitian[k * height..][..height];
            (
                column[2 * j],
                column.get(2 * j + 1).copied().unwrap_or(zero),
            )
        };
        let (low, high) = z.split_at_mut(half);
        for (k, z) in low.iter_mut().enumerate() {
            let (a, b) = at(k);
            *z = FftComplex::new(a.re - b.im, a.im + b.re);
        }
        // The negative frequencies: `conj A(−k) + i conj B(−k)`.
        for (k, z) in (half..width).zip(high) {
            let (a, b) = at(width - k);
            *z = FftComplex::new(a.re + b.im, b.re - a.im);
        }
    });
    process(&rows, &mut packed);
    by_rows(out, 2 * width, |j, pair| {
        let z = &packed[j * width..][..width];
        let (a, b) = pair.split_at_mut(width.min(pair.len()));
        for (a, z) in a.iter_mut().zip(z) {
            *a = z.re * scale;
        }
        for (b, z) in b.iter_mut().zip(z) {
            *b = z.im * scale;
        }
    });
}

/// Rows of the transposed spectrum per step of [`fft_real_transposed`]'s unpacking.
const BLOCK_ROWS: usize = 8;

/// The values of a 1-D spectrum `x` at frequencies `0, −1, −2, …`: `x[0]`, then `x` from the
/// end backwards.
fn negated_frequencies<X: Copy>(x: &[X]) -> impl Iterator<Item = X> + '_ {
    x[..1].iter().chain(x[1..].iter().rev()).copied()
}

/// `work(index, row)` on each row of `row_len` values of `data` (the last may be shorter),
/// split among rayon's threads from [`PARALLEL_FROM`] values.
fn by_rows<X: Send>(data: &mut [X], row_len: usize, work: impl Fn(usize, &mut [X]) + Sync) {
    by_chunks(data, row_len, data.len() >= PARALLEL_FROM, work);
}

/// Values from which a plane's 1-D transforms are split among rayon's threads (a 256×256
/// plane); smaller ones are transformed whole, as are all planes on one thread. Each transform
/// is the same either way.
const PARALLEL_FROM: usize = 1 << 16;

/// `plan`'s transform of each consecutive `plan.len()` values of `data`, in place.
fn process<T: Planned>(plan: &Plan<T>, data: &mut [FftComplex<T>]) {
    process_rows(plan, data, |_, _| true);
}

/// `plan`'s transform of the rows (`plan.len()` values each) of `data` for which
/// `kept(index, row)` holds, in place, leaving the others as they are. Consecutive kept rows
/// go to rustfft together, split among rayon's threads from [`PARALLEL_FROM`] values.
fn process_rows<T: Planned>(
    plan: &Plan<T>,
    data: &mut [FftComplex<T>],
    kept: impl Fn(usize, &[FftComplex<T>]) -> bool,
) {
    let len = plan.len();
    let flags: Vec<bool> = data
        .chunks_exact(len)
        .enumerate()
        .map(|(row, values)| kept(row, values))
        .collect();
    let threads = rayon::current_num_threads();
    let per_task = if threads == 1 || data.len() < PARALLEL_FROM {
        flags.len()
    } else {
        flags.len().div_ceil(2 * threads)
    };
    // Runs of kept rows, none longer than a task's share.
    let mut runs = Vec::new();
    let mut rest = data;
    let mut row = 0;
    while row < flags.len() {
        let start = row;
        while row < flags.len() && flags[row] == flags[start] && row - start < per_task {
            row += 1;
        }
        let (run, tail) = rest.split_at_mut((row - start) * len);
        rest = tail;
        if flags[start] {
            runs.push(run);
        }
    }
    let scratch_len = plan.get_inplace_scratch_len();
    if per_task == flags.len() {
        let mut scratch = Buf::scratch(scratch_len, zero());
        runs.into_iter()
            .for_each(|run| plan.process_with_scratch(run, &mut scratch));
    } else {
        runs.into_par_iter().for_each(|run| {
            let mut scratch = Buf::scratch(scratch_len, zero());
            plan.process_with_scratch(run, &mut scratch);
        });
    }
}

type Plan<T> = std::sync::Arc<dyn rustfft::Fft<T>>;

/// The plans along rows (`width` long) and along columns (`height` long).
fn plans<T: Planned>([height, width]: [usize; 2], inverse: bool) -> [Plan<T>; 2] {
    let direction = if inverse {
        FftDirection::Inverse
    } else {
        FftDirection::Forward
    };
    T::with_planner(|planner| {
        [
            planner.plan_fft(width, direction),
            planner.plan_fft(height, direction),
        ]
    })
}

fn zero<T: Planned>() -> FftComplex<T> {
    FftComplex::new(T::zero(), T::zero())
}

/// Plans per precision and length (rustfft's planner caches them).
pub(crate) trait Planned: FftNum + ComplexPooled {
    fn with_planner<R>(f: impl FnOnce(&mut FftPlanner<Self>) -> R) -> R;
}

macro_rules! planned {
    ($($t:ty),*) => {$(
        impl Planned for $t {
            fn with_planner<R>(f: impl FnOnce(&mut FftPlanner<Self>) -> R) -> R {
                thread_local! {
                    static PLANNER: RefCell<FftPlanner<$t>> = RefCell::new(FftPlanner::new());
                }
                PLANNER.with(|planner| f(&mut planner.borrow_mut()))
            }

        }
    )*};
}
planned!(f32, f64);

/// `to[c][r] = from[r][c]` for a `rows × columns` matrix (the `transpose` crate rustfft uses
/// itself: several times faster than a plain tiled loop, which took a fifth of the texture
/// model's time).
fn transpose<T: Copy>(from: &[T], to: &mut [T], rows: usize, columns: usize) {
    transpose::transpose(from, to, columns, rows);
}
