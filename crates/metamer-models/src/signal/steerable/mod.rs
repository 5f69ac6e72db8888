//! plenoptic's `SteerablePyramidFreq`: a steerable pyramid built in the Fourier domain from
//! raised-cosine radial masks and angular masks, optionally complex, downsampled and tight.

mod host;
mod masks;

use std::sync::Arc;

use burn::tensor::{DType, IndexingUpdateOp, Int, Tensor, TensorPrimitive, backend::Backend};
use metamer_core::tensor::from_f64;

use crate::HostBackend;
use crate::signal::fft::{Complex, Norm, fft2, fft2_real, ifft2, ifft2_real};
use crate::signal::filters::float_dtype;
use crate::{ModelError, ModelWarning, Result};
use host::{HostPyramid, PyramidPlan};
use masks::{Grid, Masks, crop_indices};

/// Options of [`SteerablePyramid`], with plenoptic's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct SteerablePyramidConfig {
    /// `[height, width]` of the images the pyramid takes.
    pub image_shape: [usize; 2],
    /// Number of band-pass scales; `None` builds as many as the size allows (`"auto"`).
    pub height: Option<usize>,
    /// Derivative order of the angular filters; there are `order + 1` orientations.
    pub order: usize,
    /// Width of the radial transition, in octaves (truncated to an integer, as plenoptic does).
    pub twidth: f64,
    /// Complex bands (real and imaginary parts), as the texture model uses.
    pub is_complex: bool,
    /// Halve the size from each scale to the next.
    pub downsample: bool,
    /// Scale the filters so the transform is a tight frame.
    pub tight_frame: bool,
}

impl SteerablePyramidConfig {
    /// plenoptic's defaults for images of `image_shape`.
    pub fn new(image_shape: [usize; 2]) -> Self {
        Self {
            image_shape,
            height: None,
            order: 3,
            twidth: 1.0,
            is_complex: false,
            downsample: true,
            tight_frame: false,
        }
    }

    /// With `height` band-pass scales.
    pub fn with_height(self, height: usize) -> Self {
        Self {
            height: Some(height),
            ..self
        }
    }

    /// With `order + 1` orientations.
    pub fn with_order(self, order: usize) -> Self {
        Self { order, ..self }
    }

    /// With a radial transition `twidth` octaves wide.
    pub fn with_twidth(self, twidth: f64) -> Self {
        Self { twidth, ..self }
    }

    /// With complex bands or real ones.
    pub fn with_complex(self, is_complex: bool) -> Self {
        Self { is_complex, ..self }
    }

    /// With or without downsampling between scales.
    pub fn with_downsample(self, downsample: bool) -> Self {
        Self { downsample, ..self }
    }

    /// As a tight frame or not.
    pub fn with_tight_frame(self, tight_frame: bool) -> Self {
        Self {
            tight_frame,
            ..self
        }
    }

    /// plenoptic's warnings for these options.
    pub fn warnings(&self) -> Vec<ModelWarning> {
        let [h, w] = self.image_shape;
        if h % 2 != 0 || w % 2 != 0 {
            vec![ModelWarning::OddPyramidSize]
        } else {
            Vec::new()
        }
    }

    /// Builds the masks, with plenoptic's checks in its order.
    ///
    /// # Errors
    /// When the image is too small for the height asked for, or an option is one plenoptic
    /// refuses, with its message.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SteerablePyramid<B>> {
        let masks = self.host_masks()?;
        let dtype = float_dtype::<B>();
        let tensor2 = |values: &[f64], size: [usize; 2]| -> Tensor<B, 2> {
            from_f64(values.to_vec(), size, dtype, device)
        };
        let tensor3 = |grids: &[Vec<f64>], [h, w]: [usize; 2]| -> Tensor<B, 3> {
            from_f64(grids.concat(), [grids.len(), h, w], dtype, device)
        };
        let scales = masks
            .scales
            .iter()
            .map(|scale| {
                let lomask_size = scale
                    .crop
                    .as_ref()
                    .map_or(scale.size, |[rows, columns]| [rows.len(), columns.len()]);
                ScaleMasks {
                    himask: tensor2(&scale.himask, scale.size),
                    lomask: tensor2(&scale.lomask, lomask_size),
                    anglemasks: tensor3(&scale.anglemasks, scale.size),
                    anglemasks_recon: tensor3(&scale.anglemasks_recon, scale.size),
                    crop: scale.crop.as_ref().map(|axes| {
                        axes.clone().map(|indices| {
                            let indices: Vec<i64> = indices.iter().map(|i| *i as i64).collect();
                            Tensor::<B, 1, Int>::from_data(indices.as_slice(), device)
                        })
                    }),
                    size: scale.size,
                }
            })
            .collect();
        Ok(SteerablePyramid {
            image_shape: self.image_shape,
            order: self.order,
            is_complex: self.is_complex,
            tight_frame: self.tight_frame,
            lo0mask: tensor2(&masks.lo0mask, self.image_shape),
            hi0mask: tensor2(&masks.hi0mask, self.image_shape),
            scales,
            host: Arc::new(PyramidPlan::new(
                masks,
                self.order,
                self.is_complex,
                self.tight_frame,
            )),
        })
    }

    /// The masks as host values in FFT order (zero frequency first): spectra stay in that
    /// order, so the masks are stored ifftshifted instead of shifting every spectrum back and
    /// forth, and the Fourier crops are index maps.
    pub(crate) fn host_masks(&self) -> Result<HostMasks> {
        let masks = Masks::build(self, self.num_scales()?);
        let fft_order = |grid: &Grid| grid.ifftshift().values;
        Ok(HostMasks {
            shape: self.image_shape,
            lo0mask: fft_order(&masks.lo0mask),
            hi0mask: fft_order(&masks.hi0mask),
            scales: masks
                .scales
                .iter()
                .map(|scale| {
                    let size = [scale.himask.height, scale.himask.width];
                    HostScale {
                        size,
                        himask: fft_order(&scale.himask),
                        lomask: fft_order(&scale.lomask),
                        anglemasks: scale.anglemasks.iter().map(fft_order).collect(),
                        anglemasks_recon: scale.anglemasks_recon.iter().map(fft_order).collect(),
                        crop: scale.crop.map(|(start, end)| {
                            [0, 1].map(|a| crop_indices(size[a], start[a], end[a] - start[a]))
                        }),
                    }
                })
                .collect(),
        })
    }

    /// The number of scales, after plenoptic's checks of the options, in its order.
    fn num_scales(&self) -> Result<usize> {
        let [height, width] = self.image_shape;
        if height == 0 || width == 0 {
            return Err(ModelError::Pyramid(format!(
                "image_shape must be positive, but got {:?}",
                self.image_shape
            )));
        }
        for warning in self.warnings() {
            log::warn!("{warning}");
        }
        let max_height = (height.min(width) as f64).log2().floor() as i64 - 2;
        let num_scales = match self.height {
            None => max_height.max(0) as usize,
            Some(h) if h as i64 > max_height => {
                return Err(ModelError::Pyramid(format!(
                    "Cannot build pyramid higher than {max_height} levels."
                )));
            }
            Some(h) => h,
        };
        if self.order > 15 {
            return Err(ModelError::Pyramid(
                "order must be an integer in the range [0, 15].".into(),
            ));
        }
        if self.order == 0 && self.is_complex {
            return Err(ModelError::Pyramid(
                "Complex pyramid cannot have order=0! See \
                 https://github.com/plenoptic-org/plenoptic/issues/326 for an explanation."
                    .into(),
            ));
        }
        if self.twidth.is_nan() || self.twidth <= 0.0 {
            return Err(ModelError::Pyramid("twidth must be positive.".into()));
        }
        Ok(num_scales)
    }
}

/// A pyramid's masks as host values in FFT order (zero frequency first).
pub(crate) struct HostMasks {
    pub shape: [usize; 2],
    pub lo0mask: Vec<f64>,
    pub hi0mask: Vec<f64>,
    pub scales: Vec<HostScale>,
}

pub(crate) struct HostScale {
    pub size: [usize; 2],
    pub himask: Vec<f64>,
    /// At the next scale's size.
    pub lomask: Vec<f64>,
    pub anglemasks: Vec<Vec<f64>>,
    pub anglemasks_recon: Vec<Vec<f64>>,
    /// Rows and columns of this scale's spectrum the next scale keeps, when downsampling.
    pub crop: Option<[Vec<usize>; 2]>,
}

/// One level of a pyramid: a real or complex band per orientation, `[batch, channel,
/// orientation, height, width]`.
#[derive(Clone, Debug)]
pub enum Band<B: Backend> {
    /// Real bands.
    Real(Tensor<B, 5>),
    /// Complex bands.
    Complex(Complex<B, 5>),
}

impl<B: Backend> Band<B> {
    /// The real part (the band itself for a real pyramid).
    pub fn real(&self) -> &Tensor<B, 5> {
        match self {
            Band::Real(re) => re,
            Band::Complex(c) => &c.re,
        }
    }

    /// `[batch, channel, orientation, height, width]`.
    pub fn dims(&self) -> [usize; 5] {
        self.real().dims()
    }
}

/// A pyramid's coefficients, fine to coarse (plenoptic's ordered dictionary).
#[derive(Clone, Debug)]
pub struct Pyramid<B: Backend> {
    /// What lies above the finest band-pass scale.
    pub residual_highpass: Tensor<B, 4>,
    /// Scale 0 (finest) first.
    pub bands: Vec<Band<B>>,
    /// What lies below the coarsest band-pass scale.
    pub residual_lowpass: Tensor<B, 4>,
}

/// Which levels [`SteerablePyramid::recon_pyr`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The high-pass residual.
    ResidualHighpass,
    /// A band-pass scale, 0 the finest.
    Scale(usize),
    /// The low-pass residual.
    ResidualLowpass,
}

/// A steerable pyramid for images of one size (plenoptic's `SteerablePyramidFreq`).
#[derive(Clone, Debug)]
pub struct SteerablePyramid<B: Backend> {
    image_shape: [usize; 2],
    order: usize,
    is_complex: bool,
    tight_frame: bool,
    lo0mask: Tensor<B, 2>,
    hi0mask: Tensor<B, 2>,
    scales: Vec<ScaleMasks<B>>,
    /// The same masks for the host pass (backends with host memory).
    host: Arc<PyramidPlan>,
}

#[derive(Clone, Debug)]
struct ScaleMasks<B: Backend> {
    himask: Tensor<B, 2>,
    lomask: Tensor<B, 2>,
    /// `[orientation, height, width]`.
    anglemasks: Tensor<B, 3>,
    anglemasks_recon: Tensor<B, 3>,
    /// Rows and columns of this scale's spectrum that the next scale keeps, in FFT order.
    crop: Option<[Tensor<B, 1, Int>; 2]>,
    size: [usize; 2],
}

impl<B: Backend> SteerablePyramid<B> {
    /// Number of band-pass scales.
    pub fn num_scales(&self) -> usize {
        self.scales.len()
    }

    /// Number of orientations per scale.
    pub fn num_orientations(&self) -> usize {
        self.order + 1
    }

    /// Whether the bands are complex.
    pub fn is_complex(&self) -> bool {
        self.is_complex
    }

    /// `[height, width]` of the images it takes.
    pub fn image_shape(&self) -> [usize; 2] {
        self.image_shape
    }

    fn norm(&self) -> Norm {
        if self.tight_frame {
            Norm::Ortho
        } else {
            Norm::Backward
        }
    }
}

/// Float64 values rounded to float32 precision (float32 ones unchanged).
fn round_to_f32<B: Backend, const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    if t.dtype() == DType::F64 {
        t.cast(DType::F32).cast(DType::F64)
    } else {
        t
    }
}

fn broadcast2<B: Backend, const D: usize>(mask: Tensor<B, 2>) -> Tensor<B, D> {
    let [h, w] = mask.dims();
    let mut shape = [1; D];
    shape[D - 2] = h;
    shape[D - 1] = w;
    mask.reshape(shape)
}

impl<B: HostBackend> SteerablePyramid<B> {
    /// The pyramid of `image` (`[batch, channel, height, width]`).
    ///
    /// # Errors
    /// When the image is not of the size the pyramid was built for.
    pub fn forward(&self, image: Tensor<B, 4>) -> Result<Pyramid<B>> {
        let [_, _, height, width] = image.dims();
        if [height, width] != self.image_shape {
            return Err(ModelError::Pyramid(format!(
                "Input tensor height/width ({height}, {width}) does not match image_shape set \
                 at initialization {:?}. Either resize the input or re-initialize this model.",
                self.image_shape
            )));
        }
        if B::runs_on_host(&image.device()) {
            return Ok(self.forward_on_host(image));
        }
        let norm = self.norm();
        let spectrum = fft2_real(image, norm);
        let residual_highpass = ifft2_real(
            spectrum.clone().mul_real(broadcast2(self.hi0mask.clone())),
            norm,
        );
        let mut low: Complex<B, 5> = spectrum
            .mul_real(broadcast2(self.lo0mask.clone()))
            .map(|t| t.unsqueeze_dim(2));
        let mut bands = Vec::with_capacity(self.scales.len());
        for scale in &self.scales {
            let mask = scale.anglemasks.clone() * scale.himask.clone().unsqueeze_dim(0);
            let band_spectrum = low
                .clone()
                .mul_real(mask.unsqueeze_dim::<4>(0).unsqueeze_dim::<5>(0))
                .mul_i_pow(-(self.order as i64));
            bands.push(if !self.is_complex {
                Band::Real(ifft2_real(band_spectrum, norm))
            } else if self.tight_frame {
                Band::Complex(
                    ifft2(band_spectrum, norm).mul_scalar(std::f64::consts::FRAC_1_SQRT_2),
                )
            } else {
                Band::Complex(ifft2(band_spectrum, norm))
            });
            low = match &scale.crop {
                Some([rows, columns]) => {
                    low.map(|t| t.select(3, rows.clone()).select(4, columns.clone()))
                }
                None => low,
            }
            .mul_real(broadcast2(scale.lomask.clone()));
            if scale.crop.is_none() && !self.tight_frame {
                low = low.mul_scalar(2.0);
            }
        }
        let residual_lowpass = ifft2_real(low, norm).squeeze_dim::<4>(2);
        Ok(Pyramid {
            residual_highpass,
            bands,
            residual_lowpass,
        })
    }

    /// [`Self::forward`] as one host operation.
    fn forward_on_host(&self, image: Tensor<B, 4>) -> Pyramid<B> {
        let x = image.into_primitive().tensor();
        let mut levels = B::host_split_op(x, HostPyramid(self.host.clone())).into_iter();
        let mut next = || TensorPrimitive::Float(levels.next().expect("every level"));
        let residual_highpass = Tensor::from_primitive(next());
        let bands = self
            .scales
            .iter()
            .map(|_| {
                if self.is_complex {
                    Band::Complex(Complex {
                        re: Tensor::from_primitive(next()),
                        im: Tensor::from_primitive(next()),
                    })
                } else {
                    Band::Real(Tensor::from_primitive(next()))
                }
            })
            .collect();
        let residual_lowpass = Tensor::from_primitive(next());
        Pyramid {
            residual_highpass,
            bands,
            residual_lowpass,
        }
    }

    /// The image from `pyramid`'s `levels` (all when `None`) and orientation `bands` (all
    /// when `None`).
    ///
    /// # Errors
    /// When `pyramid` has another number of scales than this model builds, or a level or band
    /// does not exist in it.
    pub fn recon_pyr(
        &self,
        pyramid: &Pyramid<B>,
        levels: Option<&[Level]>,
        bands: Option<&[usize]>,
    ) -> Result<Tensor<B, 4>> {
        let orientations = self.num_orientations();
        if pyramid.bands.len() != self.scales.len() {
            return Err(ModelError::Pyramid(format!(
                "the pyramid has {} scales but this model builds {}",
                pyramid.bands.len(),
                self.scales.len()
            )));
        }
        if let Some(level) = levels
            .into_iter()
            .flatten()
            .find(|l| matches!(l, Level::Scale(s) if *s >= self.scales.len()))
        {
            return Err(ModelError::Pyramid(format!(
                "Scales must be within 0 and num_scales-1, got {level:?}"
            )));
        }
        let bands: Vec<usize> = match bands {
            None => (0..orientations).collect(),
            Some(bands) => {
                if bands.iter().any(|b| *b >= orientations) {
                    return Err(ModelError::Pyramid(format!(
                        "Error: band numbers must be in the range [0, {}]",
                        orientations - 1
                    )));
                }
                bands.to_vec()
            }
        };
        let wants = |level: Level| levels.is_none_or(|l| l.contains(&level));
        let norm = self.norm();
        let lowpass = &pyramid.residual_lowpass;
        let mut spectrum = if wants(Level::ResidualLowpass) {
            fft2_real(lowpass.clone(), norm)
        } else {
            Complex::from_real(lowpass.zeros_like())
        };
        for (s, scale) in self.scales.iter().enumerate().rev() {
            let [b, c, _, _] = spectrum.re.dims();
            let [h, w] = scale.size;
            let mut coarser = spectrum;
            if scale.crop.is_none() && !self.tight_frame {
                coarser = coarser.mul_scalar(0.5);
            }
            // plenoptic writes this into a complex64 grid whatever the dtype; float64 results
            // keep that rounding so they match its reference values
            // (docs/plenoptic-quirks.md#complex64-reconstruction).
            let coarser = coarser
                .mul_real(broadcast2(scale.lomask.clone()))
                .map(round_to_f32);
            let device = coarser.re.device();
            spectrum =
                match &scale.crop {
                    Some([rows, columns]) => coarser.map(|t| {
                        let [_, _, _, m] = t.dims();
                        let dtype = t.dtype();
                        let tall = Tensor::<B, 4>::zeros([b, c, h, m], (&device, dtype))
                            .select_assign(2, rows.clone(), t, IndexingUpdateOp::Add);
                        Tensor::<B, 4>::zeros([b, c, h, w], (&device, dtype)).select_assign(
                            3,
                            columns.clone(),
                            tall,
                            IndexingUpdateOp::Add,
                        )
                    }),
                    None => coarser,
                };
            if wants(Level::Scale(s)) {
                spectrum = spectrum + self.band_spectrum(&pyramid.bands[s], scale, &bands, norm);
            }
        }
        let mut out = spectrum.mul_real(broadcast2(self.lo0mask.clone()));
        if wants(Level::ResidualHighpass) {
            let highpass = fft2_real(pyramid.residual_highpass.clone(), norm)
                .mul_real(broadcast2(self.hi0mask.clone()));
            out = out + highpass;
        }
        Ok(ifft2_real(out, norm))
    }

    /// `Σ_b i^order · F(band_b) · anglemask_recon_b · himask` over the chosen orientations.
    fn band_spectrum(
        &self,
        band: &Band<B>,
        scale: &ScaleMasks<B>,
        orientations: &[usize],
        norm: Norm,
    ) -> Complex<B, 4> {
        let device = band.real().device();
        let index = Tensor::<B, 1, burn::tensor::Int>::from_data(
            orientations
                .iter()
                .map(|o| *o as i64)
                .collect::<Vec<_>>()
                .as_slice(),
            &device,
        );
        let chosen = |t: &Tensor<B, 5>| t.clone().select(2, index.clone());
        let spectrum = match band {
            Band::Real(re) => fft2_real(chosen(re), norm),
            Band::Complex(c) => {
                let chosen = Complex {
                    re: chosen(&c.re),
                    im: chosen(&c.im),
                };
                let chosen = if self.tight_frame {
                    chosen.mul_scalar(std::f64::consts::SQRT_2)
                } else {
                    chosen
                };
                fft2(chosen, norm)
            }
        };
        let masks =
            scale.anglemasks_recon.clone().select(0, index) * scale.himask.clone().unsqueeze_dim(0);
        spectrum
            .mul_real(masks.unsqueeze_dim::<4>(0).unsqueeze_dim::<5>(0))
            .mul_i_pow(self.order as i64)
            .map(|t| t.sum_dim(2).squeeze_dim::<4>(2))
    }
}
