//! The built-in images generated here, so the project needs no image files to run: a test
//! scene and a texture.

use std::f64::consts::PI;

use crate::{Array, Precision};

/// A `size`×`size` grey test scene in [0, 1] with content at every scale: a smooth ramp, a
/// zone plate, oriented gratings under Gaussian windows, sharp-edged shapes and a fine
/// checkerboard. Shape `[1, 1, size, size]`, f32.
pub fn default_image(size: usize) -> Array {
    let n = size as f64;
    let mut values = Vec::with_capacity(size * size);
    for row in 0..size {
        for col in 0..size {
            // Coordinates in [0, 1).
            let (y, x) = (row as f64 / n, col as f64 / n);
            let mut v = 0.35 + 0.3 * y;
            // Zone plate: frequency rising with radius, in a disk at the upper right.
            let (zy, zx) = (y - 0.3, x - 0.7);
            let r2 = zy * zy + zx * zx;
            if r2 < 0.22 * 0.22 {
                v = 0.5 + 0.4 * (PI * 250.0 * r2).cos();
            }
            // Two oriented gratings under Gaussian windows, lower left and lower right.
            for &(cy, cx, freq, angle) in
                &[(0.72, 0.27, 9.0, PI / 6.0), (0.75, 0.72, 20.0, -PI / 3.0)]
            {
                let (dy, dx) = (y - cy, x - cx);
                let window = (-(dy * dy + dx * dx) / (2.0 * 0.09 * 0.09)).exp();
                let phase = 2.0 * PI * freq * (dx * angle.cos() + dy * angle.sin());
                v += 0.35 * window * phase.sin();
            }
            // A dark bar and a bright square with hard edges, upper left.
            if (0.08..0.45).contains(&y) && (0.10..0.16).contains(&x) {
                v = 0.05;
            }
            if (0.12..0.30).contains(&y) && (0.24..0.42).contains(&x) {
                v = 0.95;
            }
            // A fine checkerboard along the bottom edge.
            if y > 0.93 && (0.2..0.8).contains(&x) {
                v = if (row / 2 + col / 2) % 2 == 0 {
                    0.8
                } else {
                    0.2
                };
            }
            values.push(f64::from(v.clamp(0.0, 1.0) as f32));
        }
    }
    Array {
        shape: vec![1, 1, size, size],
        values,
        precision: Precision::F32,
    }
}

/// A `size`×`size` grey texture of irregular scales, like a reptile's skin: bright cells
/// shaded towards their rims, separated by dark grooves, periodic in both directions (the
/// Fourier-based texture models assume that). The cells come from a fixed seed, so the image
/// never changes. Shape `[1, 1, size, size]`, f32.
pub fn default_texture(size: usize) -> Array {
    const CELLS: usize = 60;
    // A small linear congruential generator: enough for fixed, well-spread cell centres.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut uniform = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let centres: Vec<(f64, f64, f64)> = (0..CELLS)
        .map(|_| (uniform(), uniform(), 0.75 + 0.5 * uniform()))
        .collect();
    let typical = (1.0 / CELLS as f64).sqrt();
    let wrap = |d: f64| d - d.round();
    let mut values = Vec::with_capacity(size * size);
    for row in 0..size {
        for col in 0..size {
            let (y, x) = (row as f64 / size as f64, col as f64 / size as f64);
            let (mut nearest, mut second, mut brightness) = (f64::MAX, f64::MAX, 1.0);
            for &(cy, cx, b) in &centres {
                let d = wrap(y - cy).hypot(wrap(x - cx));
                if d < nearest {
                    (second, nearest, brightness) = (nearest, d, b);
                } else if d < second {
                    second = d;
                }
            }
            // Distance to the cell border, relative to a typical cell's size.
            let border = (second - nearest) / typical;
            let groove = (border / 0.12).min(1.0);
            let dome = 1.0 - 0.55 * (nearest / typical).min(1.0).powi(2);
            let v = 0.08 + 0.8 * groove * dome * brightness.min(1.15);
            values.push(f64::from(v.clamp(0.0, 1.0) as f32));
        }
    }
    Array {
        shape: vec![1, 1, size, size],
        values,
        precision: Precision::F32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_texture_is_periodic_deterministic_and_in_range() {
        let size = 64;
        let a = default_texture(size);
        assert_eq!(a.shape, vec![1, 1, size, size]);
        assert_eq!(a, default_texture(size));
        let (min, max) = a
            .values
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        assert!(
            min >= 0.0 && max <= 1.0 && max - min > 0.6,
            "range {min}..{max}"
        );
        // Periodic: the last row and column continue into the first as smoothly as any two
        // neighbouring rows do.
        let at = |r: usize, c: usize| a.values[(r % size) * size + c % size];
        let step = |r0: usize, r1: usize| {
            (0..size)
                .map(|c| (at(r0, c) - at(r1, c)).abs())
                .sum::<f64>()
        };
        let typical = (1..size).map(|r| step(r - 1, r)).sum::<f64>() / (size - 1) as f64;
        assert!(step(size - 1, 0) < 3.0 * typical);
    }

    #[test]
    fn default_image_is_deterministic_and_in_range() {
        let a = default_image(64);
        assert_eq!(a.shape, vec![1, 1, 64, 64]);
        assert_eq!(a, default_image(64));
        let (min, max) = a
            .values
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        assert!(min >= 0.0 && max <= 1.0);
        // Varied content, not a flat field.
        assert!(max - min > 0.8, "range {min}..{max}");
    }
}
