//! Project chores: `cargo xtask fixtures | bench | ci`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The pinned reference versions the fixtures come from.
const REFERENCE_PACKAGES: &[&str] = &["plenoptic==2.1.1", "torch==2.9.0"];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "fixtures" => fixtures(),
        "bench" => bench(),
        "ci" => ci(),
        _ => Err("usage: cargo xtask <fixtures | bench | ci>\n  \
                  fixtures  regenerate tests/fixtures from plenoptic (builds .venv)\n  \
                  bench     time a Gaussian(30) metamer step against plenoptic, one thread each\n  \
                  ci        the checks CI runs: fmt, clippy, tests"
            .to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn run(command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

fn data_dir() -> Result<PathBuf, String> {
    let dir = std::env::var_os("METAMER_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/data"));
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(format!(
            "plenoptic's sample images were not found in {}; set METAMER_DATA",
            dir.display()
        ))
    }
}

/// A virtual environment with the pinned plenoptic and torch, created on first use.
fn python() -> Result<PathBuf, String> {
    let venv = root().join(".venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    let installed = Command::new(&python)
        .args([
            "-c",
            "import plenoptic, torch; print(plenoptic.__version__, torch.__version__)",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !(installed.starts_with("2.1.1 2.9.0")) {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(REFERENCE_PACKAGES))?;
    }
    Ok(python)
}

fn fixtures() -> Result<(), String> {
    let python = python()?;
    let out = root().join("tests/fixtures");
    run(Command::new(python)
        .arg(root().join("xtask/fixtures/generate.py"))
        .arg(&out)
        .arg(data_dir()?)
        .env("TQDM_DISABLE", "1"))
}

fn bench() -> Result<(), String> {
    let rust = Command::new("cargo")
        .args([
            "bench",
            "--quiet",
            "-p",
            "metamer",
            "--bench",
            "gaussian_step",
        ])
        .current_dir(root())
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if !rust.status.success() {
        return Err(format!(
            "cargo bench failed:\n{}",
            String::from_utf8_lossy(&rust.stderr)
        ));
    }
    let reference = Command::new(python()?)
        .arg(root().join("xtask/fixtures/bench_plenoptic.py"))
        .env("TQDM_DISABLE", "1")
        .env("OMP_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("cannot run the plenoptic benchmark: {e}"))?;
    if !reference.status.success() {
        return Err(format!(
            "plenoptic benchmark failed:\n{}",
            String::from_utf8_lossy(&reference.stderr)
        ));
    }
    let rust = String::from_utf8_lossy(&rust.stdout);
    let reference = String::from_utf8_lossy(&reference.stdout);
    let plenoptic_ms = parse_ms(&reference, "plenoptic")
        .ok_or_else(|| format!("no plenoptic timing in:\n{reference}"))?;
    println!("Gaussian(30) metamer step on 256x256, one thread each, median of repeated runs");
    println!(
        "{:<12} {:>12} {:>22}",
        "system", "ms/iter", "speed-up vs plenoptic"
    );
    println!("{:<12} {:>12.2} {:>22}", "plenoptic", plenoptic_ms, "1.0x");
    for backend in ["flex", "ndarray"] {
        if let Some(ms) = parse_ms(&rust, backend) {
            println!("{backend:<12} {ms:>12.2} {:>21.1}x", plenoptic_ms / ms);
        }
    }
    Ok(())
}

/// Reads `name ms_per_iteration=X` from benchmark output.
fn parse_ms(output: &str, name: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.trim();
        rest.strip_prefix("ms_per_iteration=")?.parse().ok()
    })
}

fn ci() -> Result<(), String> {
    let cargo = |args: &[&str]| run(Command::new("cargo").args(args).current_dir(root()));
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])
}
