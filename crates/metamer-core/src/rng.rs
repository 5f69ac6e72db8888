//! A torch-compatible random generator, so seeded syntheses reproduce plenoptic's numbers.
//!
//! After `torch.manual_seed(s)`, torch's CPU `rand` fills tensors in row-major order from a
//! standard MT19937 seeded with `init_genrand(s)`: float32 values take the low 24 bits of one
//! 32-bit output, float64 values the low 53 bits of two outputs (first one high).

use std::cell::RefCell;

use burn::tensor::{DType, Tensor, backend::Backend};

const N: usize = 624;
const M: usize = 397;

/// torch's default seed, used until [`set_seed`] is called.
const TORCH_DEFAULT_SEED: u64 = 67_280_421_310_721;

/// The 32-bit Mersenne Twister (MT19937), as used by torch and numpy's legacy `RandomState`.
#[derive(Clone, Debug)]
pub struct Mt19937 {
    state: Box<[u32; N]>,
    index: usize,
}

impl Mt19937 {
    /// Seeds like torch's `manual_seed`: only the low 32 bits of `seed` are used.
    pub fn new(seed: u64) -> Self {
        let mut state = Box::new([0u32; N]);
        state[0] = seed as u32;
        for j in 1..N {
            let prev = state[j - 1];
            state[j] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(j as u32);
        }
        Self { state, index: N }
    }

    fn twist(&mut self) {
        for i in 0..N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % N] & 0x7fff_ffff);
            let mut next = self.state[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }

    /// The next 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A uniform float32 in [0, 1), as torch's CPU `rand` draws it.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// A uniform float64 in [0, 1), as torch's CPU `rand` draws it for double tensors.
    pub fn next_f64(&mut self) -> f64 {
        let high = self.next_u32() as u64;
        let low = self.next_u32() as u64;
        (((high << 32) | low) & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

thread_local! {
    static GLOBAL: RefCell<Mt19937> = RefCell::new(Mt19937::new(TORCH_DEFAULT_SEED));
}

/// Seeds this thread's global generator, like plenoptic's `set_seed` (torch's `manual_seed`).
///
/// The generator is per thread so that parallel tests and syntheses do not disturb each other.
pub fn set_seed(seed: u64) {
    GLOBAL.with(|g| *g.borrow_mut() = Mt19937::new(seed));
}

/// Uniform [0, 1) values in row-major order from the global generator, in `dtype`'s precision.
pub fn rand_values(len: usize, dtype: DType) -> Vec<f64> {
    GLOBAL.with(|g| {
        let mut g = g.borrow_mut();
        match dtype {
            DType::F64 => (0..len).map(|_| g.next_f64()).collect(),
            _ => (0..len).map(|_| g.next_f32() as f64).collect(),
        }
    })
}

/// A tensor of uniform [0, 1) noise drawn like `torch.rand(shape, dtype=dtype)`.
pub fn rand<B: Backend, const D: usize>(
    shape: [usize; D],
    dtype: DType,
    device: &B::Device,
) -> Tensor<B, D> {
    let len = shape.iter().product();
    crate::tensor::from_f64(rand_values(len, dtype), shape, dtype, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_mt19937_outputs() {
        // The reference implementation's published outputs for init_genrand(5489).
        let mut g = Mt19937::new(5489);
        let first: Vec<u32> = (0..3).map(|_| g.next_u32()).collect();
        assert_eq!(first, [3_499_211_612, 581_869_302, 3_890_346_734]);
        let mut g = Mt19937::new(5489);
        let tenthousandth = (0..10_000).map(|_| g.next_u32()).last().unwrap();
        assert_eq!(tenthousandth, 4_123_659_995);
    }

    #[test]
    fn seeding_restarts_the_stream() {
        set_seed(3);
        let a = rand_values(5, DType::F32);
        set_seed(3);
        let b = rand_values(5, DType::F32);
        assert_eq!(a, b);
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
