//! Figures and animations of a metamer synthesis, drawn in Rust (plotters) to PNG, SVG, GIF
//! and animated PNG: plenoptic's `imshow`, `synthesis_status` and the plots it combines, and
//! `synthesis_animate`, without Python or ffmpeg.
//!
//! Figures are values: build one, inspect its panels, then render or save it.
//!
//! ```no_run
//! # fn run(met: &metamer_core::Metamer<burn::backend::Autodiff<burn::backend::NdArray>>)
//! # -> Result<(), metamer_plot::PlotError> {
//! use metamer_plot::{StatusOptions, synthesis_status};
//! synthesis_status(met, &StatusOptions::default())?.save("status.png")?;
//! # Ok(()) }
//! ```

#![warn(missing_docs, clippy::missing_errors_doc)]

mod animate;
mod colour;
mod error;
mod figure;
mod font;
mod imshow;
mod synthesis;

use std::fmt;

pub use animate::{AnimateOptions, Animation, Rescale, synthesis_animate};
pub use colour::{Colormap, level};
pub use error::{PlotError, Result};
pub use figure::{Figure, Panel, PanelKind, Raster, Rect, python_sci};
pub use font::{FONT_VARIABLE, font_path};
pub use imshow::{
    ImageBatch, ImshowOptions, RangeRule, Titles, ValueRange, imshow, imshow_batches,
};
pub use synthesis::{
    HistogramPanel, ImshowPanel, LossPanel, PlotName, ProcessImage, RepresentationPanel, Selection,
    StatusOptions, Xlim, Ylim, histogram, histogram_bins, metamer_representation_error,
    synthesis_histogram, synthesis_imshow, synthesis_loss, synthesis_status,
};

/// A non-fatal finding while making a figure, returned as a value and logged.
#[derive(Clone, Debug, PartialEq)]
pub enum PlotWarning {
    /// From the synthesis (for example a saved metamer from another iteration than asked).
    Synthesis(metamer_core::Warning),
    /// RGB frames with values outside [0, 1] are shown clipped.
    RgbClipped {
        /// How many frames were clipped.
        frames: usize,
    },
}

impl fmt::Display for PlotWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlotWarning::Synthesis(warning) => warning.fmt(f),
            PlotWarning::RgbClipped { frames } => write!(
                f,
                "{frames} frames of saved metamer clipped: Clipping input data to the valid \
                 range for imshow with RGB data ([0..1] for floats). To avoid clipping, use \
                 process_image argument."
            ),
        }
    }
}
