//! Pixels to files: compositing panels, PNG encoding, and number formats.

use std::path::Path;

use super::Placement;
use crate::{PlotError, Result};

/// Copies an image into the RGB buffer, each pixel repeated `zoom` × `zoom` times.
pub(super) fn blit(rgb: &mut [u8], width: u32, placement: &Placement) {
    let (rect, image) = (placement.rect, placement.image);
    let zoom = image.zoom as usize;
    for y in 0..rect.height as usize {
        let source_row = y / zoom;
        let target = 3 * ((rect.y as usize + y) * width as usize + rect.x as usize);
        for x in 0..rect.width as usize {
            let source = 3 * (source_row * image.width as usize + x / zoom);
            rgb[target + 3 * x..target + 3 * x + 3].copy_from_slice(&image.rgb[source..source + 3]);
        }
    }
}

pub(crate) fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let encode = |e: png::EncodingError| PlotError::Encode {
        format: "PNG",
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(rgb).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(bytes)
}

pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    metamer_io::write_atomically(path, bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Python's `format(x, ".{digits}e")`: a two-digit signed exponent (`1.2e-03`).
pub fn python_sci(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let rust = format!("{x:.digits$e}");
    let (mantissa, exponent) = rust.split_once('e').expect("exponent format");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(python_sci(0.00123, 1), "1.2e-03");
        assert_eq!(python_sci(12345.0, 1), "1.2e+04");
        assert_eq!(python_sci(0.0, 1), "0.0e+00");
        assert_eq!(python_sci(-2.5e-10, 2), "-2.50e-10");
    }

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
