//! `synthesis_animate`: every stored iteration as a frame of the status figure, as GIF or
//! animated PNG, encoded in Rust (no ffmpeg).

use std::io::Write;
use std::path::Path;

use burn::tensor::backend::AutodiffBackend;
use metamer_core::Metamer;

use crate::error::invalid;
use crate::figure::{extension, write};
use crate::imshow::ImageBatch;
use crate::synthesis::{StatusOptions, StemRange, View, status_figure};
use crate::{Figure, PlotError, PlotWarning, Raster, Result};

/// When stem plots of the representation error get a new y range (plenoptic's
/// `rescale_ylim`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rescale {
    /// About ten times over the animation (plenoptic's `"rescale"`).
    #[default]
    Auto,
    /// Every N frames (`"rescaleN"`).
    Every(usize),
    /// Keep the first frame's range (`False`).
    Never,
}

impl std::str::FromStr for Rescale {
    type Err = PlotError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "rescale" => Ok(Rescale::Auto),
            "false" | "False" | "never" => Ok(Rescale::Never),
            _ => text
                .strip_prefix("rescale")
                .and_then(|n| n.parse().ok())
                .filter(|n| *n > 0)
                .map(Rescale::Every)
                .ok_or_else(|| invalid(format!("Don't know how to handle rescale_ylim={text}!"))),
        }
    }
}

/// plenoptic's `synthesis_animate` options; `status.selection.iteration` is ignored.
#[derive(Clone)]
pub struct AnimateOptions {
    /// Frames per second.
    pub framerate: u32,
    /// The figure each frame draws.
    pub status: StatusOptions,
    /// How often the representation error's y range is recomputed.
    pub rescale_ylim: Rescale,
}

impl Default for AnimateOptions {
    fn default() -> Self {
        Self {
            framerate: 10,
            status: StatusOptions::default(),
            rescale_ylim: Rescale::Auto,
        }
    }
}

/// An animation of a synthesis. Frames are drawn when encoded, one at a time, so long
/// syntheses need no memory for all of them.
pub struct Animation<'a, B: AutodiffBackend> {
    met: &'a Metamer<B>,
    options: AnimateOptions,
    /// Frames between new stem y ranges.
    interval: usize,
    warnings: Vec<PlotWarning>,
}

/// Makes an animation of every stored iteration; needs `store_progress`.
///
/// # Errors
/// When the synthesis stored no progress, or an option is one plenoptic refuses.
pub fn synthesis_animate<'a, B: AutodiffBackend>(
    met: &'a Metamer<B>,
    options: &AnimateOptions,
) -> Result<Animation<'a, B>> {
    let every = met.store_progress().unwrap_or(0);
    if every == 0 {
        return Err(invalid(
            "When synthesis_object.store_progress=False, cannot animate!",
        ));
    }
    if options.framerate == 0 {
        return Err(invalid("framerate must be positive"));
    }
    let image_like = met.target_representation().shape().len() == 4;
    if image_like && matches!(options.rescale_ylim, Rescale::Every(_)) {
        return Err(invalid(
            "Looks like representation is image-like, haven't fully thought out how to best \
             handle rescaling color ranges yet!",
        ));
    }
    let saved = met.saved_metamer();
    let frames = saved.len();
    let interval = match options.rescale_ylim {
        Rescale::Auto => match (frames.saturating_sub(1)) / 10 {
            0 => frames.saturating_sub(1),
            n => n,
        },
        Rescale::Every(n) => n,
        Rescale::Never => usize::MAX,
    }
    .max(1);
    let mut warnings = Vec::new();
    let [_, channels, _, _] = met.image().dims();
    let rgb = options.status.selection.channel_idx.is_none() && channels > 1;
    if rgb && options.status.imshow.process_image.is_none() {
        let clipped = saved
            .into_iter()
            .map(ImageBatch::from_tensor)
            .filter(|image| image.values.iter().any(|v| *v < 0.0 || *v > 1.0))
            .count();
        if clipped > 0 {
            let warning = PlotWarning::RgbClipped { frames: clipped };
            log::warn!("{warning}");
            warnings.push(warning);
        }
    }
    Ok(Animation {
        met,
        options: options.clone(),
        interval,
        warnings,
    })
}

impl<B: AutodiffBackend> Animation<'_, B> {
    /// One frame per saved metamer (the stored iterations and the final one).
    pub fn frame_count(&self) -> usize {
        self.met.saved_metamer().len()
    }

    /// Warnings raised while drawing frames so far.
    pub fn warnings(&self) -> &[PlotWarning] {
        &self.warnings
    }

    /// Milliseconds each frame is shown.
    pub fn frame_duration_ms(&self) -> u32 {
        1000 / self.options.framerate
    }

    /// Frame `index`: saved metamer `index`, the loss marked at its iteration.
    ///
    /// # Errors
    /// When `index` is past the last frame, or drawing fails.
    pub fn frame(&self, index: usize) -> Result<Figure> {
        let mut frames = self.frames();
        let mut figure = None;
        for _ in 0..=index {
            figure = frames.next();
        }
        figure.unwrap_or_else(|| {
            Err(invalid(format!(
                "frame {index} does not exist; the animation has {} frames",
                self.frame_count()
            )))
        })
    }

    /// The frames in order. Stem y ranges carry over between rescales, so frames are made
    /// in sequence.
    pub fn frames(&self) -> impl Iterator<Item = Result<Figure>> + '_ {
        let saved = self.met.saved_metamer();
        let every = self.met.store_progress().unwrap_or(1).max(1);
        let last = self.met.gradient_norm().len();
        let mut kept = None;
        saved.into_iter().enumerate().map(move |(i, image)| {
            let iteration = (i * every).min(last);
            let renew = i == 0 || (i + 1) % self.interval == 0;
            let view = View::<B> {
                image,
                image_iteration: iteration,
                loss_iteration: iteration,
                without_range: true,
                stem_range: if renew {
                    StemRange::Renew
                } else {
                    kept.map_or(StemRange::Own, StemRange::Keep)
                },
            };
            let (figure, used) = status_figure(self.met, &self.options.status, &view)?;
            if renew {
                kept = used;
            }
            Ok(figure)
        })
    }

    fn rasters(&self) -> impl Iterator<Item = Result<Raster>> + '_ {
        self.frames().map(|figure| figure?.render())
    }

    /// The animation as a GIF played once, colours quantised per frame.
    ///
    /// # Errors
    /// When drawing, encoding or writing fails.
    pub fn write_gif(&self, out: impl Write) -> Result<()> {
        let encode = |e: gif::EncodingError| PlotError::Encode {
            format: "GIF",
            message: e.to_string(),
        };
        let mut encoder = None;
        // GIF delays are in hundredths of a second.
        let delay = (self.frame_duration_ms() / 10).max(1) as u16;
        let mut out = Some(out);
        for raster in self.rasters() {
            let raster = raster?;
            let (width, height) = dimensions(&raster)?;
            if encoder.is_none() {
                let sink = out.take().expect("taken once");
                encoder = Some(gif::Encoder::new(sink, width, height, &[]).map_err(encode)?);
            }
            let mut frame = gif::Frame::from_rgb_speed(width, height, &raster.rgb, 10);
            frame.delay = delay;
            encoder
                .as_mut()
                .expect("created above")
                .write_frame(&frame)
                .map_err(encode)?;
        }
        Ok(())
    }

    /// The animation as an animated PNG played once (lossless).
    ///
    /// # Errors
    /// When drawing, encoding or writing fails.
    pub fn write_apng(&self, out: impl Write) -> Result<()> {
        let encode = |e: png::EncodingError| PlotError::Encode {
            format: "animated PNG",
            message: e.to_string(),
        };
        let count = self.frame_count() as u32;
        let mut writer = None;
        let mut out = Some(out);
        for raster in self.rasters() {
            let raster = raster?;
            if writer.is_none() {
                let mut encoder =
                    png::Encoder::new(out.take().expect("taken once"), raster.width, raster.height);
                encoder.set_color(png::ColorType::Rgb);
                encoder.set_depth(png::BitDepth::Eight);
                encoder.set_animated(count, 1).map_err(encode)?;
                encoder
                    .set_frame_delay(self.frame_duration_ms() as u16, 1000)
                    .map_err(encode)?;
                writer = Some(encoder.write_header().map_err(encode)?);
            }
            writer
                .as_mut()
                .expect("created above")
                .write_image_data(&raster.rgb)
                .map_err(encode)?;
        }
        if let Some(writer) = writer {
            writer.finish().map_err(encode)?;
        }
        Ok(())
    }

    /// Writes a GIF (`.gif`) or an animated PNG (`.png`, `.apng`), atomically.
    ///
    /// # Errors
    /// When the extension names no animation format, or drawing, encoding or writing fails.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut bytes = Vec::new();
        match extension(path).as_deref() {
            Some("gif") => self.write_gif(&mut bytes)?,
            Some("png" | "apng") => self.write_apng(&mut bytes)?,
            _ => {
                return Err(PlotError::UnknownFormat {
                    path: path.to_path_buf(),
                });
            }
        }
        write(path, &bytes)
    }
}

/// GIF sizes are 16-bit.
fn dimensions(raster: &Raster) -> Result<(u16, u16)> {
    let fit = |v: u32| u16::try_from(v).ok();
    fit(raster.width)
        .zip(fit(raster.height))
        .ok_or_else(|| PlotError::Encode {
            format: "GIF",
            message: format!(
                "a {}×{} frame exceeds GIF's 65535-pixel limit",
                raster.width, raster.height
            ),
        })
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::Tensor;
    use metamer_core::{Representation, SynthesizeOptions};

    use super::*;
    use crate::figure::Content;

    type B = Autodiff<NdArray>;

    /// A synthesis whose representation is a vector: the pixels, as `[batch, channel, n]`.
    fn vector_synthesis() -> Metamer<B> {
        metamer_core::set_seed(2);
        let image = Tensor::<NdArray, 4>::from_floats(
            [[[[0.1, 0.9, 0.4], [0.7, 0.2, 0.6], [0.3, 0.8, 0.5]]]],
            &Default::default(),
        );
        let model = |x: Tensor<B, 4>| -> Representation<B> { x.reshape([1, 1, 9]).into() };
        let mut met = Metamer::<B>::new(image, model).unwrap();
        met.synthesize(SynthesizeOptions {
            max_iter: 8,
            store_progress: 1,
            stop_criterion: 0.0,
            ..Default::default()
        })
        .unwrap();
        met
    }

    /// The stem y range of the representation-error panel of each frame.
    fn stem_ranges(animation: &Animation<B>) -> Vec<(f64, f64)> {
        animation
            .frames()
            .map(|frame| {
                let frame = frame.unwrap();
                let panel = frame
                    .cells
                    .iter()
                    .find(|c| c.kind == crate::PanelKind::RepresentationError)
                    .unwrap();
                match &panel.content {
                    Content::Stems(stems) => stems.ylim,
                    _ => panic!("a vector representation is drawn as stems"),
                }
            })
            .collect()
    }

    #[test]
    fn stem_ranges_change_only_when_rescaled() {
        let met = vector_synthesis();
        let options = |rescale_ylim| AnimateOptions {
            rescale_ylim,
            ..Default::default()
        };
        // 9 frames; "rescale" renews the range every (9 − 1) // 10 = 0 → 8 frames.
        let auto = synthesis_animate(&met, &options(Rescale::Auto)).unwrap();
        assert_eq!(auto.frame_count(), 9);
        let ranges = stem_ranges(&auto);
        assert!(ranges[..7].iter().all(|r| *r == ranges[0]));
        assert_ne!(ranges[7], ranges[0]);
        assert_eq!(ranges[8], ranges[7]);

        let never = stem_ranges(&synthesis_animate(&met, &options(Rescale::Never)).unwrap());
        assert!(never.iter().all(|r| *r == never[0]));

        // Every 2 frames: renewed at frames 1, 3, 5, 7.
        let every = stem_ranges(&synthesis_animate(&met, &options(Rescale::Every(2))).unwrap());
        for i in 1..9 {
            let renewed = (i + 1) % 2 == 0;
            assert_eq!(every[i] != every[i - 1], renewed, "frame {i}: {every:?}");
        }
    }
}
