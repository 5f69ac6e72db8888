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
    #[error(transparent)]
    Metamer(#[from] MetamerError),
    #[error("drawing the figure failed: {0}")]
    Draw(String),
    #[error("cannot encode the {format}: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    /// The I/O error names the path already.
    #[error("{source}")]
    Write {
        path: PathBuf,
        source: metamer_io::IoError,
    },
    #[error("{}: unknown figure format; use .png or .svg (.gif or .png for animations)", path.display())]
    UnknownFormat { path: PathBuf },
}

pub type Result<T, E = PlotError> = std::result::Result<T, E>;

pub(crate) fn invalid(message: impl Into<String>) -> PlotError {
    PlotError::InvalidArgument(message.into())
}

pub(crate) fn draw_error(error: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(error.to_string())
}
