use std::path::PathBuf;

use metamer_core::MetamerError;

/// Why a figure or animation could not be made or written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An argument plenoptic would reject; the message follows plenoptic's.
    #[error("{0}")]
    InvalidArgument(String),
    /// No TrueType/OpenType font for the figure text.
    #[error("{0}")]
    NoFont(String),
    /// The synthesis could not give what the figure shows.
    #[error(transparent)]
    Metamer(#[from] MetamerError),
    /// plotters failed to draw (its message).
    #[error("drawing the figure failed: {0}")]
    Draw(String),
    /// An image or animation could not be encoded.
    #[error("cannot encode the {format}: {message}")]
    Encode {
        /// The format (PNG, GIF, …).
        format: &'static str,
        /// What the encoder reported.
        message: String,
    },
    /// A figure could not be written; the I/O error names the path already.
    #[error("{source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: metamer_io::IoError,
    },
    /// A file name whose extension names no format this crate writes.
    #[error("{}: unknown figure format; use .png or .svg (.gif or .png for animations)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
}

/// The result of everything fallible in this crate.
pub type Result<T, E = PlotError> = std::result::Result<T, E>;

pub(crate) fn invalid(message: impl Into<String>) -> PlotError {
    PlotError::InvalidArgument(message.into())
}

pub(crate) fn draw_error(error: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(error.to_string())
}
