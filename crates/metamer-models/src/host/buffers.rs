//! Plane-sized buffers recycled across iterations.
//!
//! A texture-model iteration allocates and frees some fifty megabytes of planes of the same
//! few sizes; through the system allocator every one of those pages is returned and faulted
//! in again each iteration, which cost a quarter of the iteration's time. Freed buffers wait
//! here, by exact capacity, for the next request of that size. The pool is one per element
//! type, shared by every thread: work split among rayon's threads allocates on one thread and
//! frees on another, and per-thread pools then missed every time.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use rustfft::num_complex::Complex;

/// How much freed memory is kept per element type.
const KEPT_BYTES: usize = 256 << 20;

pub(crate) struct Pool<X> {
    free: BTreeMap<usize, Vec<Vec<X>>>,
    bytes: usize,
}

impl<X> Pool<X> {
    const fn new() -> Self {
        Self {
            free: BTreeMap::new(),
            bytes: 0,
        }
    }
}

/// Element types with a pool.
pub(crate) trait Pooled: Copy + Send + 'static {
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> R;
}

/// Element types whose complex numbers also have a pool.
pub(crate) trait ComplexPooled: Pooled {
    fn with_complex_pool<R>(f: impl FnOnce(&mut Pool<Complex<Self>>) -> R) -> R;
}

/// Runs `f` on a pool; a panic elsewhere while it was held leaves it usable.
fn locked<X, R>(pool: &Mutex<Pool<X>>, f: impl FnOnce(&mut Pool<X>) -> R) -> R {
    f(&mut pool.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

macro_rules! pooled {
    ($($t:ty),*) => {$(
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> R {
                static POOL: Mutex<Pool<$t>> = Mutex::new(Pool::new());
                locked(&POOL, f)
            }
        }

        impl ComplexPooled for $t {
            fn with_complex_pool<R>(f: impl FnOnce(&mut Pool<Complex<Self>>) -> R) -> R {
                static POOL: Mutex<Pool<Complex<$t>>> = Mutex::new(Pool::new());
                locked(&POOL, f)
            }
        }
    )*};
}
pooled!(f32, f64);

impl<T: ComplexPooled> Pooled for Complex<T> {
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> R {
        T::with_complex_pool(f)
    }
}

/// A `Vec` whose memory goes back to its thread's pool when dropped.
pub(crate) struct Buf<X: Pooled>(Vec<X>);

impl<X: Pooled> Buf<X> {
    /// An empty buffer with room for exactly `capacity` elements.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Self::recycled(capacity);
        buf.0.clear();
        buf
    }

    /// A buffer of `len` elements to be overwritten: a recycled one keeps its old values,
    /// a new one holds `fill`.
    pub fn scratch(len: usize, fill: X) -> Self {
        let mut buf = Self::recycled(len);
        buf.0.resize(len, fill);
        buf
    }

    fn recycled(capacity: usize) -> Self {
        let recycled = X::with_pool(|pool| {
            let vec = pool.free.get_mut(&capacity)?.pop()?;
            pool.bytes -= capacity * size_of::<X>();
            Some(vec)
        });
        Buf(recycled.unwrap_or_else(|| Vec::with_capacity(capacity)))
    }

    pub fn filled(value: X, len: usize) -> Self {
        let mut buf = Self::with_capacity(len);
        buf.0.resize(len, value);
        buf
    }

    pub fn from_slice(values: &[X]) -> Self {
        let mut buf = Self::with_capacity(values.len());
        buf.0.extend_from_slice(values);
        buf
    }
}

impl<X: Pooled> Drop for Buf<X> {
    fn drop(&mut self) {
        let vec = std::mem::take(&mut self.0);
        let capacity = vec.capacity();
        if capacity == 0 {
            return;
        }
        X::with_pool(|pool| {
            let bytes = capacity * size_of::<X>();
            if pool.bytes + bytes <= KEPT_BYTES {
                pool.bytes += bytes;
                pool.free.entry(capacity).or_default().push(vec);
            }
        });
    }
}

impl<X: Pooled> Deref for Buf<X> {
    type Target = [X];

    fn deref(&self) -> &[X] {
        &self.0
    }
}

impl<X: Pooled> DerefMut for Buf<X> {
    fn deref_mut(&mut self) -> &mut [X] {
        &mut self.0
    }
}

impl<'a, X: Pooled> IntoIterator for &'a Buf<X> {
    type Item = &'a X;
    type IntoIter = std::slice::Iter<'a, X>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<X: Pooled> Clone for Buf<X> {
    fn clone(&self) -> Self {
        Self::from_slice(self)
    }
}

impl<X: Pooled + fmt::Debug> fmt::Debug for Buf<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buf(len {})", self.0.len())
    }
}

/// Collects into a recycled buffer of the iterator's exact length (every iterator here
/// knows it).
impl<X: Pooled> FromIterator<X> for Buf<X> {
    fn from_iter<I: IntoIterator<Item = X>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let mut buf = Self::with_capacity(iter.size_hint().0);
        buf.0.extend(iter);
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_for_the_same_size() {
        let first = Buf::<f32>::filled(1.0, 1000);
        let address = first.as_ptr();
        drop(first);
        let second: Buf<f32> = (0..1000).map(|i| i as f32).collect();
        assert_eq!(second.as_ptr(), address);
        assert_eq!(second[999], 999.0);
        let other = Buf::<f32>::filled(0.0, 10);
        assert_ne!(other.as_ptr(), address);
        assert_eq!(other.len(), 10);
        drop(second);
        let scratch = Buf::<f32>::scratch(1000, 0.0);
        assert_eq!((scratch.as_ptr(), scratch[999]), (address, 999.0));
    }
}
