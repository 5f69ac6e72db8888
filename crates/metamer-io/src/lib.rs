//! Files in and out of a synthesis: images, `.npy` arrays and the built-in images.

#![warn(missing_docs, clippy::missing_errors_doc)]

mod array;
mod error;
mod images;
mod npy;
mod safetensors;
mod synthesis;
mod synthetic;

use std::path::Path;

pub use array::{Array, Precision};
pub use error::{IoError, Result};
pub use images::{
    BUILTIN_IMAGES, builtin, color_wheel, curie, data_dir, einstein, load_image, parrot,
    reptile_skin, write_png,
};
pub use npy::{encode_npy, parse_npy, read_npy, write_npy};
pub use safetensors::{
    CHECKSUM_KEY, MAX_HEADER_BYTES, SafeTensors, SafetensorsError, read_safetensors,
    write_safetensors,
};
pub use synthesis::{
    SaveLoad, decode_synthesis, encode_synthesis, examine_saved_synthesis, load_synthesis,
    save_synthesis,
};
pub use synthetic::{default_image, default_texture};

/// Writes through a temporary sibling file that is flushed to disk, renamed over `path`, and
/// the directory flushed too: a crash or kill at any moment leaves either the old file or the
/// new one, never a torn one.
///
/// # Errors
/// When the folder is not writable or the disk is full; the old file is then left as it was.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let write_error = |source| IoError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per call, so concurrent writes of one path from one process do not collide.
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let serial = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_file_name(format!(
        ".{file_name}.{}-{serial}.partial",
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable only once the directory is flushed.
        let directory = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        std::fs::File::open(directory)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written.map_err(write_error)
}
