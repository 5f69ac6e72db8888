//! The safetensors format (the Hugging Face `safetensors` package reads it): an 8-byte
//! little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
//! then the tensors' bytes. We add a CRC-32 over the bytes and the header in the metadata, so
//! corruption is detected, and read hostile files without panicking or allocating more than the
//! file's own size.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};
use thiserror::Error;

use crate::{Array, IoError, Precision, Result, write_atomically};

/// Metadata key of the checksum; the `safetensors` package ignores it.
pub const CHECKSUM_KEY: &str = "metamer.crc32";
/// The `safetensors` package's own limit on the header.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Named tensors and string metadata: the content of one safetensors file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SafeTensors {
    /// The tensors, by name.
    pub tensors: BTreeMap<String, Array>,
    /// The header's string metadata.
    pub metadata: BTreeMap<String, String>,
}

/// Why bytes are not a valid (or not an intact) safetensors file.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum SafetensorsError {
    /// Fewer than 8 bytes (the length).
    #[error("the file is {0} bytes long, too short for the 8-byte header length")]
    Truncated(usize),
    /// A header longer than the file.
    #[error("the header claims {claimed} bytes but only {available} follow")]
    HeaderLength {
        /// The header length the file states.
        claimed: u64,
        /// The bytes after the length.
        available: u64,
    },
    /// A header length over [`MAX_HEADER_BYTES`] (the length stated).
    #[error("the header claims {0} bytes, more than the {MAX_HEADER_BYTES} allowed")]
    HeaderTooLarge(u64),
    /// A header that is not the JSON safetensors defines (what is wrong).
    #[error("the header is not valid: {0}")]
    Header(String),
    /// A tensor entry with an unsupported type or inconsistent shape and offsets.
    #[error("tensor {name:?}: {problem}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Tensors that leave gaps or overlap in the data section.
    #[error("the tensors do not tile the data section exactly (a gap, an overlap or extra bytes)")]
    Layout,
    /// A file without metamer's checksum.
    #[error("no {CHECKSUM_KEY} checksum in the metadata; the file was not written by metamer")]
    MissingChecksum,
    /// Data whose checksum differs from the stored one: the file is corrupted.
    #[error(
        "checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupted"
    )]
    Checksum {
        /// The checksum in the metadata.
        stored: u32,
        /// The checksum of the data read.
        computed: u32,
    },
}

impl SafeTensors {
    /// The file's bytes, with the checksum added to the metadata.
    pub fn encode(&self) -> Vec<u8> {
        let mut entries = Map::new();
        let mut data = Vec::new();
        for (name, array) in &self.tensors {
            let begin = data.len();
            match array.precision {
                Precision::F32 => {
                    for v in &array.values {
                        data.extend_from_slice(&(*v as f32).to_le_bytes());
                    }
                }
                Precision::F64 => {
                    for v in &array.values {
                        data.extend_from_slice(&v.to_le_bytes());
                    }
                }
            }
            entries.insert(
                name.clone(),
                serde_json::json!({
                    "dtype": dtype_name(array.precision),
                    "shape": array.shape,
                    "data_offsets": [begin, data.len()],
                }),
            );
        }
        let metadata: Map<String, Value> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        entries.insert("__metadata__".to_string(), Value::Object(metadata));
        let checksum = checksum(&entries, &data);
        if let Some(Value::Object(metadata)) = entries.get_mut("__metadata__") {
            metadata.insert(
                CHECKSUM_KEY.to_string(),
                Value::String(format!("{checksum:08x}")),
            );
        }
        let mut header = Value::Object(entries).to_string().into_bytes();
        // The format recommends 8-byte alignment of the data; pad with spaces.
        while !header.len().is_multiple_of(8) {
            header.push(b' ');
        }
        let mut bytes = Vec::with_capacity(8 + header.len() + data.len());
        bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&data);
        bytes
    }

    /// Parses and checks a file's bytes: layout, dtypes, shapes and the checksum.
    ///
    /// # Errors
    /// When the bytes are truncated, the header or layout is malformed, or the checksum is
    /// missing or does not match.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, SafetensorsError> {
        let length_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(SafetensorsError::Truncated(bytes.len()))?;
        let claimed = u64::from_le_bytes(length_bytes);
        if claimed > MAX_HEADER_BYTES {
            return Err(SafetensorsError::HeaderTooLarge(claimed));
        }
        let available = (bytes.len() - 8) as u64;
        if claimed > available {
            return Err(SafetensorsError::HeaderLength { claimed, available });
        }
        let header_end = 8 + claimed as usize;
        let header = std::str::from_utf8(&bytes[8..header_end])
            .map_err(|e| SafetensorsError::Header(format!("not UTF-8: {e}")))?;
        let Value::Object(mut entries) = serde_json::from_str::<Value>(header.trim_end())
            .map_err(|e| SafetensorsError::Header(e.to_string()))?
        else {
            return Err(SafetensorsError::Header("not a JSON object".to_string()));
        };
        let data = &bytes[header_end..];

        let mut metadata = BTreeMap::new();
        let mut stored_checksum = None;
        if let Some(value) = entries.remove("__metadata__") {
            let Value::Object(map) = value else {
                return Err(SafetensorsError::Header(
                    "__metadata__ is not an object".to_string(),
                ));
            };
            for (key, value) in map {
                let Value::String(text) = value else {
                    return Err(SafetensorsError::Header(format!(
                        "metadata {key:?} is not a string"
                    )));
                };
                if key == CHECKSUM_KEY {
                    stored_checksum = Some(text);
                } else {
                    metadata.insert(key, text);
                }
            }
        }

        let mut ranges = Vec::with_capacity(entries.len());
        let mut tensors = BTreeMap::new();
        for (name, entry) in &entries {
            let (array, range) = parse_tensor(name, entry, data)?;
            ranges.push(range);
            tensors.insert(name.clone(), array);
        }
        ranges.sort_unstable();
        let mut end = 0;
        for (begin, stop) in ranges {
            if begin != end {
                return Err(SafetensorsError::Layout);
            }
            end = stop;
        }
        if end != data.len() {
            return Err(SafetensorsError::Layout);
        }

        let stored = stored_checksum.ok_or(SafetensorsError::MissingChecksum)?;
        let stored = u32::from_str_radix(&stored, 16)
            .map_err(|_| SafetensorsError::Header(format!("checksum {stored:?} is not hex")))?;
        let metadata_value = metadata
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        entries.insert("__metadata__".to_string(), Value::Object(metadata_value));
        let computed = checksum(&entries, data);
        if stored != computed {
            return Err(SafetensorsError::Checksum { stored, computed });
        }
        Ok(Self { tensors, metadata })
    }
}

/// CRC-32 over the header (without the checksum, in canonical form) and the data.
fn checksum(entries: &Map<String, Value>, data: &[u8]) -> u32 {
    let mut header = String::new();
    canonical(&Value::Object(entries.clone()), &mut header);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(header.as_bytes());
    hasher.update(data);
    hasher.finalize()
}

/// Compact JSON with every object's keys sorted, whatever order the map keeps: the checksum
/// must not depend on how `serde_json` is configured (its `preserve_order` feature).
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn dtype_name(precision: Precision) -> &'static str {
    match precision {
        Precision::F32 => "F32",
        Precision::F64 => "F64",
    }
}

/// One header entry, checked against the data: the array and its byte range.
fn parse_tensor(
    name: &str,
    entry: &Value,
    data: &[u8],
) -> std::result::Result<(Array, (usize, usize)), SafetensorsError> {
    let problem = |problem: String| SafetensorsError::Tensor {
        name: name.to_string(),
        problem,
    };
    let precision = match entry.get("dtype").and_then(Value::as_str) {
        Some("F32") => Precision::F32,
        Some("F64") => Precision::F64,
        Some(other) => {
            return Err(problem(format!(
                "unsupported dtype {other}; expected F32 or F64"
            )));
        }
        None => return Err(problem("no dtype".to_string())),
    };
    let shape: Vec<usize> = entry
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| problem("no shape".to_string()))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| problem("shape entries must be non-negative integers".to_string()))?;
    let offsets: Vec<usize> = entry
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|o| o.len() == 2)
        .ok_or_else(|| problem("data_offsets must be [begin, end]".to_string()))?
        .iter()
        .map(|o| o.as_u64().and_then(|o| usize::try_from(o).ok()))
        .collect::<Option<_>>()
        .ok_or_else(|| problem("data_offsets must be non-negative integers".to_string()))?;
    let (begin, end) = (offsets[0], offsets[1]);
    if begin > end || end > data.len() {
        return Err(problem(format!(
            "bytes {begin}..{end} lie outside the {} data bytes",
            data.len()
        )));
    }
    let width = match precision {
        Precision::F32 => 4,
        Precision::F64 => 8,
    };
    let expected = shape
        .iter()
        .try_fold(width, |n: usize, &d| n.checked_mul(d))
        .ok_or_else(|| problem(format!("shape {shape:?} is too large")))?;
    if expected != end - begin {
        return Err(problem(format!(
            "shape {shape:?} needs {expected} bytes but {} are given",
            end - begin
        )));
    }
    let bytes = &data[begin..end];
    let values = match precision {
        Precision::F32 => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        Precision::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    };
    Ok((
        Array {
            shape,
            values,
            precision,
        },
        (begin, end),
    ))
}

/// Writes `content` to `path` atomically (see [`write_atomically`]).
///
/// # Errors
/// When the file cannot be written.
pub fn write_safetensors(path: &Path, content: &SafeTensors) -> Result<()> {
    write_atomically(path, &content.encode())
}

/// Reads and checks a safetensors file written by [`write_safetensors`].
///
/// # Errors
/// When the file cannot be read or is not an intact safetensors file written by metamer.
pub fn read_safetensors(path: &Path) -> Result<SafeTensors> {
    let bytes = std::fs::read(path).map_err(|source| IoError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    SafeTensors::decode(&bytes).map_err(|source| IoError::Safetensors {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SafeTensors {
        let mut content = SafeTensors::default();
        content.tensors.insert(
            "metamer".to_string(),
            Array {
                shape: vec![1, 1, 2, 3],
                values: vec![0.0, 0.25, 0.5, 0.75, 1.0, -2.5],
                precision: Precision::F32,
            },
        );
        content.tensors.insert(
            "losses".to_string(),
            Array {
                shape: vec![3],
                values: vec![0.1, 0.01, 1e-300],
                precision: Precision::F64,
            },
        );
        content
            .metadata
            .insert("format".to_string(), "metamer 1".to_string());
        content
    }

    #[test]
    fn round_trips_and_aligns() {
        let content = sample();
        let bytes = content.encode();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        assert_eq!(SafeTensors::decode(&bytes).unwrap(), content);
    }

    /// Rewrites a file's header with every object's keys in reverse order.
    fn with_reversed_header(bytes: &[u8]) -> Vec<u8> {
        fn reversed(value: &Value, out: &mut String) {
            match value {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    keys.reverse();
                    let parts: Vec<String> = keys
                        .into_iter()
                        .map(|k| {
                            let mut inner = String::new();
                            reversed(&map[k], &mut inner);
                            format!("{}:{inner}", Value::String(k.clone()))
                        })
                        .collect();
                    out.push_str(&format!("{{{}}}", parts.join(",")));
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header: Value = serde_json::from_str(
            std::str::from_utf8(&bytes[8..8 + length])
                .unwrap()
                .trim_end(),
        )
        .unwrap();
        let mut text = String::new();
        reversed(&header, &mut text);
        while !text.len().is_multiple_of(8) {
            text.push(' ');
        }
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(&bytes[8 + length..]);
        out
    }

    #[test]
    fn the_checksum_does_not_depend_on_key_order() {
        // Files written with sorted keys (serde_json's default maps) and with insertion order
        // (its `preserve_order` feature) must both verify.
        let content = sample();
        let reordered = with_reversed_header(&content.encode());
        assert_eq!(SafeTensors::decode(&reordered).unwrap(), content);
    }

    #[test]
    fn rejects_damaged_files_with_the_reason() {
        let bytes = sample().encode();
        let decode = |b: &[u8]| SafeTensors::decode(b).unwrap_err();
        assert_eq!(decode(&bytes[..5]), SafetensorsError::Truncated(5));
        assert!(matches!(
            decode(&bytes[..40]),
            SafetensorsError::HeaderLength { .. }
        ));
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&huge), SafetensorsError::HeaderTooLarge(u64::MAX));
        // Truncated data: the last tensor's range lies outside.
        assert!(matches!(
            decode(&bytes[..bytes.len() - 4]),
            SafetensorsError::Tensor { .. }
        ));
        // Extra trailing bytes.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(decode(&longer), SafetensorsError::Layout);
        // A flipped bit in the data.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            decode(&flipped),
            SafetensorsError::Checksum { .. }
        ));
        // A changed metadata value.
        let mut edited = bytes.clone();
        let at = edited
            .windows(9)
            .position(|w| w == b"metamer 1")
            .expect("metadata value");
        edited[at + 8] = b'2';
        assert!(matches!(decode(&edited), SafetensorsError::Checksum { .. }));
        // Not JSON.
        let mut garbage = bytes.clone();
        garbage[8] = b'[';
        assert!(matches!(decode(&garbage), SafetensorsError::Header(_)));
    }

    #[test]
    fn rejects_lying_headers() {
        let with_header = |header: &str, data: &[u8]| {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(data);
            SafeTensors::decode(&bytes).unwrap_err()
        };
        let err = with_header(
            r#"{"x":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}}"#,
            &[0, 0],
        );
        assert!(err.to_string().contains("unsupported dtype I8"), "{err}");
        let err = with_header(
            r#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert!(err.to_string().contains("needs 12 bytes"), "{err}");
        let err = with_header(
            r#"{"x":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
            &[0; 8],
        );
        assert!(err.to_string().contains("too large"), "{err}");
        let err = with_header(
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        );
        assert_eq!(err, SafetensorsError::Layout);
        let err = with_header(
            r#"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        );
        assert_eq!(err, SafetensorsError::MissingChecksum);
    }
}
