//! The target image a synthesis's settings name: loaded, in colour if asked, and cropped.

use std::path::Path;

use super::SynthesisError;
use super::settings::Settings;
use crate::io::{self, Array};

/// Size of the generated default image.
const DEFAULT_IMAGE_SIZE: usize = 256;

/// The target image the settings name ([`Settings::image`]), in colour with
/// [`Settings::color`] and cropped with [`Settings::crop`], as `[batch, channel, h, w]`.
///
/// # Errors
/// The file is missing, unreadable or of another rank; colour asked of a generated image; a
/// crop larger than the image.
pub fn load_target(settings: &Settings) -> Result<Array, SynthesisError> {
    let array = load_image(settings.image.as_deref(), settings.color)?;
    match settings.crop {
        Some(size) => center_crop(array, size),
        None => Ok(array),
    }
}

fn load_image(image: Option<&str>, colour: bool) -> Result<Array, SynthesisError> {
    let source = image.unwrap_or("scene");
    let generated = match source {
        "scene" => Some(io::default_image as fn(usize) -> Array),
        "texture" => Some(io::default_texture as fn(usize) -> Array),
        _ => None,
    };
    if let Some(generate) = generated {
        if colour {
            return Err(SynthesisError::Settings(format!(
                "--color needs an image file or a built-in image; the generated {source} is grey"
            )));
        }
        return Ok(generate(DEFAULT_IMAGE_SIZE));
    }
    let path = Path::new(source);
    if !path.exists()
        && let Some(builtin) = io::builtin(source, colour)
    {
        return Ok(builtin?);
    }
    let array = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        io::read_npy(path)?
    } else {
        io::load_image(path, !colour)?
    };
    match array.shape.len() {
        4 => Ok(array),
        2 => Ok(Array {
            shape: [vec![1, 1], array.shape].concat(),
            ..array
        }),
        _ => Err(SynthesisError::Settings(format!(
            "{source} has shape {:?}; expected [height, width] or [batch, channel, height, width]",
            array.shape
        ))),
    }
}

/// The central `size × size` window of every image, as plenoptic's `center_crop`: rows
/// `[h/2 − size/2, h/2 − size/2 + size)`, and the same for columns.
fn center_crop(array: Array, size: usize) -> Result<Array, SynthesisError> {
    let Ok([batch, channels, height, width]) = <[usize; 4]>::try_from(array.shape.as_slice())
    else {
        return Err(SynthesisError::Settings(format!(
            "--crop needs a [batch, channel, height, width] image, got shape {:?}",
            array.shape
        )));
    };
    if size == 0 {
        return Err(SynthesisError::Settings(
            "--crop must be positive, got 0".to_string(),
        ));
    }
    if size > height || size > width {
        return Err(SynthesisError::Settings(format!(
            "--crop {size} is larger than the {height}×{width} image"
        )));
    }
    let (top, left) = (height / 2 - size / 2, width / 2 - size / 2);
    let mut values = Vec::with_capacity(batch * channels * size * size);
    for plane in array.values.chunks_exact(height * width) {
        for row in plane[top * width..].chunks_exact(width).take(size) {
            values.extend_from_slice(&row[left..left + size]);
        }
    }
    Ok(Array {
        shape: vec![batch, channels, size, size],
        values,
        ..array
    })
}
