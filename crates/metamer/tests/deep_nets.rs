//! Deep networks on the command line: `--model ARCH:weights=PATH,layers=...,normalize=...` and
//! `metamer models ARCH`, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use metamer::io::{Array, Precision, read_npy, write_npy};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metamer-nets-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn metamer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metamer"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A 1×3×32×32 colour pattern as `.npy` in `dir`.
fn colour_image(dir: &Path) -> PathBuf {
    let path = dir.join("colour.npy");
    let values = (0..3 * 32 * 32)
        .map(|i| ((i * 37) % 101) as f64 / 101.0)
        .collect();
    let array = Array {
        shape: vec![1, 3, 32, 32],
        values,
        precision: Precision::F32,
    };
    write_npy(&path, &array).unwrap();
    path
}

/// `metamer models resnet50` lists torchvision's node names: plenoptic's documentation shows
/// 176 of them, and these four at 77–80.
#[test]
fn models_lists_a_networks_node_names() {
    let output = metamer(&["models", "resnet50"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names.len(), 176);
    assert_eq!(
        names[77..81],
        [
            "layer2.3.add",
            "layer2.3.relu_2",
            "layer3.0.conv1",
            "layer3.0.bn1"
        ]
    );
    let listing = String::from_utf8(metamer(&["models"]).stdout).unwrap();
    for name in ["alexnet", "vgg16", "vgg19", "resnet18", "resnet50"] {
        assert!(
            listing.contains(&format!("\n{name}: torchvision's")),
            "{listing}"
        );
    }
    let output = metamer(&["models", "gaussian"]);
    assert!(!output.status.success());
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
}

/// A random-weight ResNet18 metamer: says once that the weights are random, runs on flex by
/// default, and resumes to the same metamer as an uninterrupted run.
#[test]
fn a_random_network_synthesizes_and_resumes() {
    let dir = temp_dir("random");
    let image = colour_image(&dir);
    let image = image.to_str().unwrap();
    let model = "resnet18:layers=layer1:layer2.0.conv1";
    let (straight, first) = (dir.join("straight"), dir.join("first"));
    let run = |out: &Path, iterations: &str| {
        let out = out.to_str().unwrap();
        metamer(&[
            "synth",
            "--image",
            image,
            "--model",
            model,
            "--max-iter",
            iterations,
            "--out",
            out,
        ])
    };
    let output = run(&straight, "4");
    assert!(output.status.success(), "{}", stderr(&output));
    let notes: Vec<String> = stderr(&output)
        .lines()
        .filter(|l| l.contains("random initialisation"))
        .map(String::from)
        .collect();
    assert_eq!(notes.len(), 1, "{}", stderr(&output));
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(straight.join("history.json")).unwrap())
            .unwrap();
    assert_eq!(history["settings"]["backend"], "flex");
    assert_eq!(
        history["settings"]["model"],
        "resnet18:layers=layer1:layer2.0.conv1,normalize=imagenet"
    );
    let losses = history["losses"].as_array().unwrap();
    assert_eq!(losses.len(), 5);
    assert!(losses[4].as_f64().unwrap() < losses[0].as_f64().unwrap());

    assert!(run(&first, "2").status.success());
    let saved = first.join("synthesis.safetensors");
    let resumed = dir.join("resumed");
    let output = metamer(&[
        "synth",
        "--resume",
        saved.to_str().unwrap(),
        "--max-iter",
        "2",
        "--out",
        resumed.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let a = read_npy(straight.join("metamer.npy")).unwrap();
    let b = read_npy(resumed.join("metamer.npy")).unwrap();
    assert_eq!(a.shape, [1, 3, 32, 32]);
    let difference = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert_eq!(difference, 0.0, "the resumed metamer differs");
}

/// Wrong layers, images, options and weights files each get one line and a failure.
#[test]
fn deep_net_mistakes_give_one_clear_line() {
    let dir = temp_dir("mistakes");
    let image = colour_image(&dir);
    let image = image.to_str().unwrap();
    // A safetensors file whose first tensor has the wrong shape.
    let header = br#"{"conv1.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0; 8]);
    let wrong = dir.join("wrong.safetensors");
    std::fs::write(&wrong, bytes).unwrap();
    let garbage = dir.join("garbage.pth");
    std::fs::write(&garbage, b"not a state dict").unwrap();
    let wrong_model = format!("resnet18:weights={}", wrong.display());
    let garbage_model = format!("resnet18:weights={}", garbage.display());
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    for (args, message) in [
        (
            vec!["--image", image, "--model", "resnet18:layers=layer9"],
            "node 'layer9' is not present in resnet18; `metamer models resnet18` lists its node names",
        ),
        (
            vec!["--model", "resnet18"],
            "resnet18 takes 3-channel images at conv1, not 1-channel ones (load colour images with --color)",
        ),
        (
            vec!["--image", image, "--model", "alexnet:normalize=yes"],
            "normalize must be imagenet or none",
        ),
        (
            vec!["--image", image, "--model", &wrong_model],
            "does not fit resnet18: conv1.weight has shape [2], but resnet18 has [64, 3, 7, 7]",
        ),
        (
            vec!["--image", image, "--model", &garbage_model],
            "cannot read weights",
        ),
        (
            vec!["--image", image, "--model", "alexnet:layers=features.12"],
            "alexnet cannot take 32×32 images: they are too small for its node features.12",
        ),
    ] {
        let mut full = vec!["synth", "--out", out, "--max-iter", "1"];
        full.extend(args);
        let output = metamer(&full);
        let text = stderr(&output);
        assert!(!output.status.success(), "{full:?} succeeded");
        assert!(text.contains(message), "{full:?}: {text}");
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("warning:"))
            .collect();
        assert_eq!(lines.len(), 1, "{full:?}: {text}");
    }
}
