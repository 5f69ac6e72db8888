//! The built-in default image, generated here so the project needs no image files to run.

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

#[cfg(test)]
mod tests {
    use super::*;

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
