use std::path::PathBuf;

use thiserror::Error;

/// Reading and writing failures; each names the file involved.
#[derive(Debug, Error)]
pub enum IoError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not an image this crate can decode.
    #[error("{path} is not a readable image: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },
    /// A file is not a `.npy` array this crate reads.
    #[error("{path} is not a valid .npy file: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A built-in image's file is not in the data folder.
    #[error(
        "the built-in image {name} needs {file}, which was not found in {searched}; \
         set METAMER_DATA to a folder holding plenoptic's sample images"
    )]
    MissingData {
        /// The built-in image.
        name: &'static str,
        /// The file it reads.
        file: &'static str,
        /// The folders searched.
        searched: String,
    },
    /// A tensor that is not a batch of grey, RGB or RGBA images.
    #[error(
        "cannot write an image of shape {shape:?}: expected [batch, 1 | 3 | 4 channels, height, width]"
    )]
    UnsupportedShape {
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// A file that is not a valid safetensors file (or fails its checksum).
    #[error("{path} is not a valid metamer safetensors file: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: crate::SafetensorsError,
    },
    /// A valid safetensors file that does not hold a synthesis this build can load.
    #[error("{path} does not hold a usable synthesis: {message}")]
    Synthesis {
        /// The file.
        path: PathBuf,
        /// What is missing or wrong.
        message: String,
    },
    /// The synthesis refused what was loaded.
    #[error(transparent)]
    Metamer(#[from] metamer_core::MetamerError),
    /// An array of another rank than the caller needs.
    #[error("array has shape {shape:?} but {expected}")]
    WrongRank {
        /// The array's shape.
        shape: Vec<usize>,
        /// What was expected.
        expected: String,
    },
}

/// The result of everything fallible in this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
