//! Safetensors files: readable by Python's `safetensors` package, and never a panic or an
//! unbounded allocation on damaged input.

use std::path::{Path, PathBuf};
use std::process::Command;

use metamer_core::rng::Mt19937;
use metamer_io::{Array, Precision, SafeTensors, read_safetensors, write_safetensors};

fn sample() -> SafeTensors {
    let mut content = SafeTensors::default();
    content.tensors.insert(
        "metamer".to_string(),
        Array {
            shape: vec![1, 1, 4, 5],
            values: (0..20).map(|i| i as f64 / 16.0).collect(),
            precision: Precision::F32,
        },
    );
    content.tensors.insert(
        "losses".to_string(),
        Array {
            shape: vec![3],
            values: vec![0.5, 0.25, 0.125],
            precision: Precision::F64,
        },
    );
    content
        .metadata
        .insert("history".to_string(), r#"{"iterations":3}"#.to_string());
    content
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metamer-io-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The reference virtual environment (`cargo xtask fixtures`), or a system Python, that has the
/// `safetensors` package.
fn python_with_safetensors() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    [venv, PathBuf::from("python3")].into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import safetensors.numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Runs `script` with the file's path as its argument and parses the JSON it prints.
fn run_python(python: &Path, script: &str, path: &Path) -> serde_json::Value {
    let output = Command::new(python)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn python_reads_our_files() {
    let path = temp_file("interop.safetensors");
    write_safetensors(&path, &sample()).unwrap();
    assert_eq!(read_safetensors(&path).unwrap(), sample());
    let Some(python) = python_with_safetensors() else {
        eprintln!("skipping: no Python with the safetensors package (run `cargo xtask fixtures`)");
        return;
    };
    let script = r#"
import json, sys
from safetensors import safe_open
from safetensors.numpy import load_file
tensors = load_file(sys.argv[1])
with safe_open(sys.argv[1], framework="numpy") as f:
    metadata = f.metadata()
print(json.dumps({
    "metamer": tensors["metamer"].astype(float).ravel().tolist(),
    "metamer_shape": list(tensors["metamer"].shape),
    "metamer_dtype": str(tensors["metamer"].dtype),
    "losses": tensors["losses"].tolist(),
    "history": json.loads(metadata["history"]),
}))
"#;
    let seen = run_python(&python, script, &path);
    assert_eq!(seen["metamer_shape"], serde_json::json!([1, 1, 4, 5]));
    assert_eq!(seen["metamer_dtype"], "float32");
    assert_eq!(seen["losses"], serde_json::json!([0.5, 0.25, 0.125]));
    assert_eq!(seen["history"]["iterations"], 3);
    let metamer: Vec<f64> = seen["metamer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let expected: Vec<f64> = sample().tensors["metamer"]
        .values
        .iter()
        .map(|v| f64::from(*v as f32))
        .collect();
    assert_eq!(metamer, expected);
}

/// Thousands of seeded mutations of a real file (bit flips, overwrites, truncations,
/// insertions, header-length lies): decoding returns a value or a typed error, never panics.
/// Every mutation that changes the bytes and still decodes must come back as an error, since the
/// checksum covers header and data.
#[test]
fn mutated_files_never_panic() {
    let original = sample().encode();
    let mut rng = Mt19937::new(2026);
    let mut below = |n: usize| (rng.next_u32() as usize) % n.max(1);
    let mut rejected = 0;
    for round in 0..20_000 {
        let mut bytes = original.clone();
        for _ in 0..1 + below(3) {
            match below(5) {
                0 if !bytes.is_empty() => {
                    let i = below(bytes.len());
                    bytes[i] ^= 1 << below(8);
                }
                1 if !bytes.is_empty() => {
                    let i = below(bytes.len());
                    bytes[i] = below(256) as u8;
                }
                0..=2 => bytes.truncate(below(bytes.len() + 1)),
                3 => {
                    let i = below(bytes.len() + 1);
                    bytes.insert(i, below(256) as u8);
                }
                _ => {
                    let claim = match below(3) {
                        0 => below(bytes.len() * 2) as u64,
                        1 => u64::MAX - below(1000) as u64,
                        _ => 1 << (32 + below(31)),
                    };
                    if bytes.len() >= 8 {
                        bytes[..8].copy_from_slice(&claim.to_le_bytes());
                    }
                }
            }
        }
        match SafeTensors::decode(&bytes) {
            Ok(decoded) => assert!(
                bytes == original || decoded == sample(),
                "round {round}: a damaged file decoded to different content"
            ),
            Err(_) => rejected += 1,
        }
    }
    assert!(rejected > 19_000, "only {rejected} mutations were rejected");
}

#[test]
fn unreadable_paths_name_the_file() {
    let missing = temp_file("absent.safetensors");
    let err = read_safetensors(&missing).unwrap_err().to_string();
    assert!(err.contains("absent.safetensors"), "{err}");
    let garbage = temp_file("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file at all").unwrap();
    let err = read_safetensors(&garbage).unwrap_err().to_string();
    assert!(
        err.contains("garbage.safetensors") && err.contains("header"),
        "{err}"
    );
}

/// Python gets the metamer and the histories of a saved synthesis with `safetensors` alone.
#[test]
fn python_reads_a_saved_synthesis() {
    use burn::tensor::{DType, Tensor};
    use metamer_core::{Metamer, Representation, SynthesizeOptions, rng};
    use metamer_io::SaveLoad;
    type B = burn::backend::Autodiff<burn::backend::NdArray>;

    metamer_core::set_seed(4);
    let image: Tensor<burn::backend::NdArray, 4> =
        rng::rand([1, 1, 6, 5], DType::F32, &Default::default());
    let model = |x: Tensor<B, 4>| Representation::from(x.mul_scalar(2.0));
    let mut met = Metamer::<B>::new(image, model).unwrap();
    met.synthesize(SynthesizeOptions {
        max_iter: 4,
        ..Default::default()
    })
    .unwrap();
    let path = temp_file("synthesis.safetensors");
    met.save(&path).unwrap();
    let Some(python) = python_with_safetensors() else {
        eprintln!("skipping: no Python with the safetensors package (run `cargo xtask fixtures`)");
        return;
    };
    let script = r#"
import json, sys
from safetensors.numpy import load_file
t = load_file(sys.argv[1])
print(json.dumps({"metamer": t["metamer"].astype(float).ravel().tolist(),
                  "shape": list(t["metamer"].shape),
                  "losses": t["history.losses"].tolist()}))
"#;
    let seen = run_python(&python, script, &path);
    assert_eq!(seen["shape"], serde_json::json!([1, 1, 6, 5]));
    let losses: Vec<f64> = met.losses().unwrap();
    assert_eq!(seen["losses"], serde_json::json!(losses[..4]));
    let metamer = metamer_core::tensor::to_f64(met.metamer().unwrap().clone());
    assert_eq!(seen["metamer"], serde_json::json!(metamer));
}
