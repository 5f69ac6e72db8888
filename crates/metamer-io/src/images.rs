//! Image files to and from `[batch, channel, height, width]` arrays in [0, 1].

use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageReader};

use crate::{Array, IoError, Precision, Result};

/// skimage's `rgb2gray` luminance weights, which plenoptic's `load_images` uses.
const LUMINANCE: [f64; 3] = [0.2125, 0.7154, 0.0721];

/// Loads a PNG, JPEG or PGM/PPM (8 or 16 bit) as a `[1, C, H, W]` f32 array in [0, 1], like
/// plenoptic's `load_images`: values are divided by the integer type's maximum; colour images
/// become luminance when `as_gray` (RGBA composited on white first); grey images are replicated
/// to 3 channels when not `as_gray`.
///
/// # Errors
/// When the file cannot be read or is not an image of a supported format.
pub fn load_image(path: impl AsRef<Path>, as_gray: bool) -> Result<Array> {
    let path = path.as_ref();
    let decode_error = |message: String| IoError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let reader = ImageReader::open(path)
        .map_err(|source| IoError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .with_guessed_format()
        .map_err(|e| decode_error(e.to_string()))?;
    let decoded = reader.decode().map_err(|e| decode_error(e.to_string()))?;
    Ok(to_array(decoded, as_gray))
}

fn to_array(decoded: DynamicImage, as_gray: bool) -> Array {
    let (width, height) = (decoded.width() as usize, decoded.height() as usize);
    let has_color = decoded.color().has_color();
    let has_alpha = decoded.color().has_alpha();
    // Work from 16-bit samples so 8-bit and 16-bit files share one path; 8-bit values v become
    // v·257, and v·257/65535 = v/255 exactly.
    let (channels, samples): (usize, Vec<u16>) = match (has_color, has_alpha) {
        (true, true) => (4, decoded.into_rgba16().into_raw()),
        (true, false) => (3, decoded.into_rgb16().into_raw()),
        (false, true) => (2, decoded.into_luma_alpha16().into_raw()),
        (false, false) => (1, decoded.into_luma16().into_raw()),
    };
    let unit: Vec<f64> = samples.iter().map(|&s| f64::from(s) / 65535.0).collect();
    let pixels = width * height;
    let pixel = |p: usize, c: usize| unit[p * channels + c];
    let flatten_alpha = |p: usize, c: usize| {
        if has_alpha {
            let alpha = pixel(p, channels - 1);
            alpha * pixel(p, c) + (1.0 - alpha)
        } else {
            pixel(p, c)
        }
    };
    let (out_channels, values): (usize, Vec<f64>) = if has_color && as_gray {
        let gray = (0..pixels)
            .map(|p| (0..3).map(|c| LUMINANCE[c] * flatten_alpha(p, c)).sum())
            .collect();
        (1, gray)
    } else if has_color {
        let planes = if has_alpha { 4 } else { 3 };
        (
            planes,
            (0..planes)
                .flat_map(|c| (0..pixels).map(move |p| (p, c)))
                .map(|(p, c)| pixel(p, c))
                .collect(),
        )
    } else {
        let gray: Vec<f64> = (0..pixels).map(|p| flatten_alpha(p, 0)).collect();
        if as_gray {
            (1, gray)
        } else {
            (3, [gray.clone(), gray.clone(), gray].concat())
        }
    };
    Array {
        shape: vec![1, out_channels, height, width],
        values: values.into_iter().map(|v| f64::from(v as f32)).collect(),
        precision: Precision::F32,
    }
}

/// Writes a `[batch, channel, H, W]` array as an 8-bit PNG: values clipped to [0, 1], batches
/// side by side; 1 channel is grey, 3 RGB, 4 RGBA.
///
/// # Errors
/// When the array is not a batch of grey, RGB or RGBA images, or the file cannot be written.
pub fn write_png(path: impl AsRef<Path>, array: &Array) -> Result<()> {
    let path = path.as_ref();
    let [batch, channels, height, width]: [usize; 4] =
        array
            .shape
            .clone()
            .try_into()
            .map_err(|_| IoError::UnsupportedShape {
                shape: array.shape.clone(),
            })?;
    let color = match channels {
        1 => image::ColorType::L8,
        3 => image::ColorType::Rgb8,
        4 => image::ColorType::Rgba8,
        _ => {
            return Err(IoError::UnsupportedShape {
                shape: array.shape.clone(),
            });
        }
    };
    let total_width = batch * width;
    let mut bytes = vec![0u8; total_width * height * channels];
    for b in 0..batch {
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    let v = array.values[((b * channels + c) * height + y) * width + x];
                    let byte = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
                    bytes[(y * total_width + b * width + x) * channels + c] = byte;
                }
            }
        }
    }
    let mut encoded = Vec::new();
    image::codecs::png::PngEncoder::new(&mut encoded)
        .write_image(&bytes, total_width as u32, height as u32, color.into())
        .map_err(|e| IoError::Write {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
    crate::write_atomically(path, &encoded)
}

use image::ImageEncoder as _;

/// Where plenoptic's sample images are looked for: `METAMER_DATA`, else `../shared/data` from
/// the current folder, else `shared/data` beside the workspace this crate was built in.
///
/// # Errors
/// When no candidate folder exists; the message lists the ones tried.
pub fn data_dir() -> std::result::Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("METAMER_DATA") {
        candidates.push(PathBuf::from(dir));
    } else {
        candidates.push(PathBuf::from("../shared/data"));
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    }
    candidates
        .iter()
        .find(|dir| dir.is_dir())
        .cloned()
        .ok_or_else(|| {
            candidates
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
}

macro_rules! builtin_images {
    ($($(#[$doc:meta])* $name:ident => $file:literal, gray: $gray:literal;)*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// [`IoError::MissingData`] when the data folder does not hold the image, or the file
        /// cannot be read.
        pub fn $name(as_gray: bool) -> Result<Array> {
            load_builtin(stringify!($name), $file, as_gray)
        }
    )*
        /// The names of the built-in sample images.
        pub const BUILTIN_IMAGES: &[&str] = &[$(stringify!($name)),*];

        /// Loads a built-in sample image by name: in colour when `colour` is set (plenoptic's
        /// `as_gray=False`), else in the image's default mode (grey but for the colour wheel).
        pub fn builtin(name: &str, colour: bool) -> Option<Result<Array>> {
            match name {
                $(stringify!($name) => Some($name($gray && !colour)),)*
                _ => None,
            }
        }
    };
}

builtin_images! {
    /// Einstein's portrait, 256×256 grey (plenoptic's `einstein`).
    einstein => "einstein.pgm", gray: true;
    /// Marie Curie's portrait, 256×256 grey.
    curie => "curie.pgm", gray: true;
    /// A reptile-skin texture, 256×256 grey.
    reptile_skin => "reptile_skin.pgm", gray: true;
    /// A parrot, 254×266 grey.
    parrot => "parrot.png", gray: true;
    /// A colour wheel, 600×600 RGB (loaded in colour by default).
    color_wheel => "color_wheel.jpg", gray: false;
}

fn load_builtin(name: &'static str, file: &'static str, as_gray: bool) -> Result<Array> {
    let dir = data_dir().map_err(|searched| IoError::MissingData {
        name,
        file,
        searched,
    })?;
    let path = dir.join(file);
    if !path.is_file() {
        return Err(IoError::MissingData {
            name,
            file,
            searched: dir.display().to_string(),
        });
    }
    load_image(path, as_gray)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("metamer-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn png_round_trip_keeps_8bit_values() {
        let values: Vec<f64> = (0..12).map(|i| i as f64 * 20.0 / 255.0).collect();
        let array = Array {
            shape: vec![1, 1, 3, 4],
            values: values.clone(),
            precision: Precision::F32,
        };
        let path = temp_path("gray.png");
        write_png(&path, &array).unwrap();
        let back = load_image(&path, true).unwrap();
        assert_eq!(back.shape, vec![1, 1, 3, 4]);
        for (a, b) in back.values.iter().zip(&values) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        let rgb = load_image(&path, false).unwrap();
        assert_eq!(rgb.shape, vec![1, 3, 3, 4]);
        assert_eq!(&rgb.values[12..24], &back.values[..]);
    }

    #[test]
    fn color_becomes_luminance() {
        // one red, one green, one blue, one white pixel
        let array = Array {
            shape: vec![1, 3, 1, 4],
            values: vec![1., 0., 0., 1., 0., 1., 0., 1., 0., 0., 1., 1.],
            precision: Precision::F32,
        };
        let path = temp_path("rgb.png");
        write_png(&path, &array).unwrap();
        let gray = load_image(&path, true).unwrap();
        let expected = [0.2125, 0.7154, 0.0721, 1.0];
        for (a, b) in gray.values.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn sixteen_bit_pgm_uses_65535() {
        let path = temp_path("deep.pgm");
        let mut bytes = b"P5\n2 1\n65535\n".to_vec();
        bytes.extend_from_slice(&[0x80, 0x00, 0xff, 0xff]);
        std::fs::write(&path, bytes).unwrap();
        let array = load_image(&path, true).unwrap();
        assert_eq!(array.shape, vec![1, 1, 1, 2]);
        assert!((array.values[0] - 32768.0 / 65535.0).abs() < 1e-7);
        assert_eq!(array.values[1], 1.0);
    }

    #[test]
    fn unreadable_files_are_errors() {
        let path = temp_path("garbage.png");
        std::fs::write(&path, b"not an image at all").unwrap();
        assert!(matches!(
            load_image(&path, true),
            Err(IoError::Decode { .. })
        ));
        assert!(matches!(
            load_image(temp_path("absent.png"), true),
            Err(IoError::Read { .. })
        ));
    }

    #[test]
    fn builtin_images_match_plenoptic() {
        if data_dir().is_err() {
            eprintln!("skipping: plenoptic's sample images are not available (set METAMER_DATA)");
            return;
        }
        // (name, shape, min, max, mean) from plenoptic's data module
        let expected: [(&str, [usize; 4], f64, f64, f64); 4] = [
            ("einstein", [1, 1, 256, 256], 1.0 / 255.0, 1.0, 0.4567),
            ("curie", [1, 1, 256, 256], 0.0, 1.0, 0.3351),
            ("reptile_skin", [1, 1, 256, 256], 0.0, 1.0, 0.4172),
            ("parrot", [1, 1, 254, 266], 14.0 / 255.0, 1.0, 0.5054),
        ];
        for (name, shape, min, max, mean) in expected {
            let array = builtin(name, false).unwrap().unwrap();
            assert_eq!(array.shape, shape, "{name}");
            let lo = array.values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = array
                .values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max);
            let avg = array.values.iter().sum::<f64>() / array.values.len() as f64;
            assert!((lo - min).abs() < 1e-6 && (hi - max).abs() < 1e-6, "{name}");
            assert!((avg - mean).abs() < 5e-5, "{name}: mean {avg}");
        }
        let wheel = color_wheel(false).unwrap();
        assert_eq!(wheel.shape, vec![1, 3, 600, 600]);
    }
}
