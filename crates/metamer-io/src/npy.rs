//! NumPy `.npy` files (format 1.0–3.0) of little-endian f32 or f64, C order.

use std::path::Path;

use crate::{Array, IoError, Precision, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file of f32 or f64 values.
///
/// # Errors
/// When the file cannot be read or is not a little-endian f32 or f64 `.npy` array.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Array> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| IoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes).map_err(|message| IoError::Npy {
        path: path.to_path_buf(),
        message,
    })
}

/// Writes `array` as a version 1.0 `.npy` file in its own precision, replacing the file only
/// once the new one is complete.
///
/// # Errors
/// When the file cannot be written.
pub fn write_npy(path: impl AsRef<Path>, array: &Array) -> Result<()> {
    crate::write_atomically(path.as_ref(), &encode_npy(array))
}

/// The bytes of a `.npy` file (format 1.0, little-endian, C order) holding `array`.
pub fn encode_npy(array: &Array) -> Vec<u8> {
    let descr = match array.precision {
        Precision::F32 => "<f4",
        Precision::F64 => "<f8",
    };
    let shape = match array.shape.as_slice() {
        [n] => format!("({n},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = MAGIC.len() + 2 + 2 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + array.values.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match array.precision {
        Precision::F32 => array
            .values
            .iter()
            .for_each(|v| out.extend_from_slice(&(*v as f32).to_le_bytes())),
        Precision::F64 => array
            .values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
    }
    out
}

/// The array in the bytes of a `.npy` file.
///
/// # Errors
/// When the bytes are not a little-endian float32 or float64 `.npy` array (the message
/// says what is wrong).
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("missing the \\x93NUMPY magic string".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported format version {v}")),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .ok_or("the header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| "the header is not text")?;
    let descr = dict_value(header, "descr").ok_or("the header has no 'descr'")?;
    let precision = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" => Precision::F32,
        "<f8" => Precision::F64,
        other => return Err(format!("unsupported dtype {other}; expected <f4 or <f8")),
    };
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-ordered arrays are not supported; save with C order".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("the header has no 'shape'")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("the shape is not a tuple")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("bad dimension {s:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let count: usize = shape.iter().product();
    let width = match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let data = &bytes[data_start.min(bytes.len())..];
    if data.len() != count * width {
        return Err(format!(
            "shape {shape:?} needs {} bytes of data but the file holds {}",
            count * width,
            data.len()
        ));
    }
    let values = match precision {
        Precision::F32 => data
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        Precision::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    };
    Ok(Array {
        shape,
        values,
        precision,
    })
}

/// The text after `'key':` up to the next top-level comma (tuples kept whole).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            (c == ',' || c == '}') && depth == 0
        })
        .map_or(rest.len(), |(i, _)| i);
    Some(rest[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_precisions() {
        for precision in [Precision::F32, Precision::F64] {
            let array = Array {
                shape: vec![2, 1, 3],
                values: vec![0.0, 0.5, -1.25, 3.0, 1e-3, 7.0],
                precision,
            };
            let bytes = encode_npy(&array);
            assert_eq!(
                (bytes.len()
                    - array.values.len() * if precision == Precision::F32 { 4 } else { 8 })
                    % 64,
                0
            );
            let back = parse_npy(&bytes).unwrap();
            assert_eq!(back.shape, array.shape);
            assert_eq!(back.precision, precision);
            for (a, b) in back.values.iter().zip(&array.values) {
                assert!((a - b).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn one_dimensional_shape_uses_trailing_comma() {
        let array = Array {
            shape: vec![3],
            values: vec![1.0, 2.0, 3.0],
            precision: Precision::F64,
        };
        let bytes = encode_npy(&array);
        let text = String::from_utf8_lossy(&bytes[10..]);
        assert!(text.contains("'shape': (3,)"));
        assert_eq!(parse_npy(&bytes).unwrap().shape, vec![3]);
    }

    #[test]
    fn rejects_truncated_and_foreign_files() {
        let array = Array {
            shape: vec![4],
            values: vec![1.0; 4],
            precision: Precision::F32,
        };
        let bytes = encode_npy(&array);
        let err = parse_npy(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.contains("needs 16 bytes"), "{err}");
        assert!(
            parse_npy(b"PK\x03\x04 not numpy")
                .unwrap_err()
                .contains("magic")
        );
        let mut ints = bytes.clone();
        let pos = ints.windows(3).position(|w| w == b"<f4").unwrap();
        ints[pos..pos + 3].copy_from_slice(b"<i4");
        assert!(
            parse_npy(&ints)
                .unwrap_err()
                .contains("unsupported dtype <i4")
        );
    }
}
