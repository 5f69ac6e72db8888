//! The pyramid's frequency masks, built on the host in float64 as plenoptic builds them.

use std::f64::consts::PI;

use super::SteerablePyramidConfig;

/// A mask on a grid, row-major.
pub(super) struct Grid {
    pub(super) height: usize,
    pub(super) width: usize,
    pub(super) values: Vec<f64>,
}

pub(super) struct ScaleGrids {
    pub(super) himask: Grid,
    pub(super) lomask: Grid,
    pub(super) anglemasks: Vec<Grid>,
    pub(super) anglemasks_recon: Vec<Grid>,
    pub(super) crop: Option<([usize; 2], [usize; 2])>,
}

pub(super) struct Masks {
    pub(super) lo0mask: Grid,
    pub(super) hi0mask: Grid,
    pub(super) scales: Vec<ScaleGrids>,
}

/// For a spectrum of `size` in FFT order, the indices a crop of `length` starting at `start`
/// in centred (fftshifted) order keeps, themselves in FFT order: small index `j` is centred
/// crop position `(j + length/2) mod length` (ifftshift), i.e. centred position `start + …`
/// of the large spectrum, which is FFT-order index `… − size/2 mod size` (fftshift).
pub(super) fn crop_indices(size: usize, start: usize, length: usize) -> Vec<usize> {
    (0..length)
        .map(|j| (start + (j + length / 2) % length + size - size / 2) % size)
        .collect()
}

impl Grid {
    /// numpy's `ifftshift` of the grid.
    pub(super) fn ifftshift(&self) -> Grid {
        let (h, w) = (self.height, self.width);
        let mut values = vec![0.0; h * w];
        for r in 0..h {
            for c in 0..w {
                values[r * w + c] = self.values[((r + h / 2) % h) * w + (c + w / 2) % w];
            }
        }
        Grid {
            height: h,
            width: w,
            values,
        }
    }
}

/// numpy's `interp`: piecewise linear on increasing `xs`, clamped to the end values.
fn interp(x: f64, xs: &[f64], ys: &[f64]) -> f64 {
    if x <= xs[0] {
        return ys[0];
    }
    let last = xs.len() - 1;
    if x >= xs[last] {
        return ys[last];
    }
    let i = xs.partition_point(|v| *v <= x) - 1;
    let t = (x - xs[i]) / (xs[i + 1] - xs[i]);
    ys[i] + t * (ys[i + 1] - ys[i])
}

impl Masks {
    /// plenoptic's masks, computed in float64 and rounded to float32 as its buffers are.
    pub(super) fn build(config: &SteerablePyramidConfig, num_scales: usize) -> Self {
        let [height, width] = config.image_shape;
        let order = config.order;
        let orientations = order + 1;
        let twidth = config.twidth.trunc();
        // The radial raised-cosine lookup table.
        let size = 256usize;
        let mut xrcos: Vec<f64> = (0..size + 3)
            .map(|k| PI * (k as f64 - size as f64 - 1.0) / (2.0 * size as f64))
            .collect();
        let mut yrcos: Vec<f64> = xrcos.iter().map(|x| x.cos().powi(2)).collect();
        yrcos[0] = yrcos[1];
        yrcos[size + 2] = yrcos[size + 1];
        for x in &mut xrcos {
            *x = -twidth / 2.0 + (2.0 * twidth / PI) * (*x + PI / 4.0);
        }
        let yrcos: Vec<f64> = yrcos.iter().map(|y| y.sqrt()).collect();
        let yircos: Vec<f64> = yrcos.iter().map(|y| (1.0 - y * y).sqrt()).collect();
        // The angular lookup table.
        let lutsize = 1024i64;
        let xcosn: Vec<f64> = (-(2 * lutsize + 1)..lutsize + 2)
            .map(|m| PI * m as f64 / lutsize as f64)
            .collect();
        let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
        let constant = 2f64.powi(2 * order as i32) * factorial(order).powi(2)
            / (orientations as f64 * factorial(2 * order));
        let cos_power: Vec<f64> = xcosn.iter().map(|x| x.cos().powi(order as i32)).collect();
        let recon: Vec<f64> = cos_power.iter().map(|c| constant.sqrt() * c).collect();
        let forward: Vec<f64> = if config.is_complex {
            xcosn
                .iter()
                .zip(&cos_power)
                .map(|(x, c)| {
                    let alpha = (x + PI).rem_euclid(2.0 * PI) - PI;
                    if alpha.abs() < PI / 2.0 {
                        2.0 * constant.sqrt() * c
                    } else {
                        0.0
                    }
                })
                .collect()
        } else {
            recon.clone()
        };
        // Frequency grids.
        let ramp =
            |n: usize| -> Vec<f64> { (0..n).map(|i| -1.0 + 2.0 * i as f64 / n as f64).collect() };
        let (xs, ys) = (ramp(width), ramp(height));
        let mut angle = Vec::with_capacity(height * width);
        let mut log_rad = Vec::with_capacity(height * width);
        for y in &ys {
            for x in &xs {
                angle.push(y.atan2(*x));
                log_rad.push((x * x + y * y).sqrt());
            }
        }
        let centre = |n: usize| ((n as f64 + 0.5) / 2.0).ceil() as usize;
        let (cy, cx) = (centre(height) - 1, centre(width) - 1);
        if cx >= 1 {
            log_rad[cy * width + cx] = log_rad[cy * width + cx - 1];
        }
        let log_rad: Vec<f64> = log_rad.iter().map(|r| r.log2()).collect();
        let mask = |values: &[f64], dims: [usize; 2], xs: &[f64], ys: &[f64]| Grid {
            height: dims[0],
            width: dims[1],
            values: values
                .iter()
                .map(|v| f64::from(interp(*v, xs, ys) as f32))
                .collect(),
        };
        let mut dims = [height, width];
        let lo0mask = mask(&log_rad, dims, &xrcos, &yircos);
        let hi0mask = mask(&log_rad, dims, &xrcos, &yrcos);
        let (mut log_rad, mut angle) = (log_rad, angle);
        let mut xr = xrcos.clone();
        let mut scales = Vec::with_capacity(num_scales);
        for _ in 0..num_scales {
            xr.iter_mut().for_each(|x| *x -= 1.0);
            let himask = mask(&log_rad, dims, &xr, &yrcos);
            let angular = |table: &[f64]| -> Vec<Grid> {
                (0..orientations)
                    .map(|b| {
                        let shifted: Vec<f64> = xcosn
                            .iter()
                            .map(|x| x + PI * b as f64 / orientations as f64)
                            .collect();
                        mask(&angle, dims, &shifted, table)
                    })
                    .collect()
            };
            let anglemasks = angular(&forward);
            let anglemasks_recon = angular(&recon);
            let crop = config.downsample.then(|| {
                let centre = dims.map(|n| ((n as f64 + 0.5) / 2.0).ceil() as usize);
                let low = dims.map(|n| ((n as f64 - 0.5) / 2.0).ceil() as usize);
                let low_centre = low.map(|n| ((n as f64 + 0.5) / 2.0).ceil() as usize);
                let start = [centre[0] - low_centre[0], centre[1] - low_centre[1]];
                (start, [start[0] + low[0], start[1] + low[1]])
            });
            if let Some((start, end)) = crop {
                let keep = |grid: &[f64]| -> Vec<f64> {
                    (start[0]..end[0])
                        .flat_map(|r| grid[r * dims[1] + start[1]..r * dims[1] + end[1]].to_vec())
                        .collect()
                };
                log_rad = keep(&log_rad);
                angle = keep(&angle);
                dims = [end[0] - start[0], end[1] - start[1]];
            }
            let lomask = mask(&log_rad, dims, &xr, &yircos);
            scales.push(ScaleGrids {
                himask,
                lomask,
                anglemasks,
                anglemasks_recon,
                crop,
            });
        }
        Masks {
            lo0mask,
            hi0mask,
            scales,
        }
    }
}
