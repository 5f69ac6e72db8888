use std::path::PathBuf;

use thiserror::Error;

/// Reading and writing failures; each names the file involved.
#[derive(Debug, Error)]
pub enum IoError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a readable image: {message}")]
    Decode { path: PathBuf, message: String },
    #[error("{path} is not a valid .npy file: {message}")]
    Npy { path: PathBuf, message: String },
    #[error(
        "the built-in image {name} needs {file}, which was not found in {searched}; \
         set METAMER_DATA to a folder holding plenoptic's sample images"
    )]
    MissingData {
        name: &'static str,
        file: &'static str,
        searched: String,
    },
    #[error(
        "cannot write an image of shape {shape:?}: expected [batch, 1 | 3 | 4 channels, height, width]"
    )]
    UnsupportedShape { shape: Vec<usize> },
    #[error("{path} is not a valid metamer safetensors file: {source}")]
    Safetensors {
        path: PathBuf,
        source: crate::SafetensorsError,
    },
    #[error("{path} does not hold a usable synthesis: {message}")]
    Synthesis { path: PathBuf, message: String },
    #[error(transparent)]
    Metamer(#[from] metamer_core::MetamerError),
    #[error("array has shape {shape:?} but {expected}")]
    WrongRank { shape: Vec<usize>, expected: String },
}

pub type Result<T, E = IoError> = std::result::Result<T, E>;
