//! Files in and out of a synthesis: images, `.npy` arrays and the built-in images.

mod array;
mod error;
mod images;
mod npy;
mod synthetic;

use std::path::Path;

pub use array::{Array, Precision};
pub use error::{IoError, Result};
pub use images::{
    BUILTIN_IMAGES, builtin, color_wheel, curie, data_dir, einstein, load_image, parrot,
    reptile_skin, write_png,
};
pub use npy::{encode_npy, parse_npy, read_npy, write_npy};
pub use synthetic::default_image;

/// Writes through a temporary file and a rename, so an interrupted write never leaves a
/// truncated file where a good one stood.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_error = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.partial"));
    std::fs::write(&temporary, bytes).map_err(write_error)?;
    std::fs::rename(&temporary, path).map_err(write_error)
}
