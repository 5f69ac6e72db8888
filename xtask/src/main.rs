//! Project chores: `cargo xtask fixtures | bench | ci`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The pinned reference versions the fixtures come from.
const REFERENCE_PACKAGES: &[&str] = &["plenoptic==2.1.1", "torch==2.9.0", "safetensors==0.6.2"];

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
        .args(["bench", "--quiet", "-p", "metamer", "--bench", "speed"])
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
    let timings: Vec<(String, String, f64)> = [rust.stdout, reference.stdout]
        .iter()
        .flat_map(|out| parse_timings(&String::from_utf8_lossy(out)))
        .collect();
    let mut cases: Vec<&str> = Vec::new();
    for (case, _, _) in &timings {
        if !cases.contains(&case.as_str()) {
            cases.push(case);
        }
    }
    let ms = |case: &str, system: &str| {
        timings
            .iter()
            .find(|(c, s, _)| c == case && s == system)
            .map(|(_, _, ms)| *ms)
    };
    println!(
        "256x256, one thread each, median of 5 runs, milliseconds (speed-up vs plenoptic); \
         metamer_* is one synthesis iteration, the others one forward plus backward pass"
    );
    println!(
        "{:<34} {:>10} {:>18} {:>18}",
        "case", "plenoptic", "flex", "ndarray"
    );
    for case in cases {
        let reference = ms(case, "plenoptic");
        let cell = |system: &str| match (ms(case, system), reference) {
            (Some(t), Some(r)) => format!("{t:.2} ({:.1}x)", r / t),
            (Some(t), None) => format!("{t:.2}"),
            _ => "-".to_string(),
        };
        println!(
            "{case:<34} {:>10} {:>18} {:>18}",
            reference.map_or("-".to_string(), |r| format!("{r:.2}")),
            cell("flex"),
            cell("ndarray")
        );
    }
    Ok(())
}

/// Reads `case system ms=X` lines from benchmark output.
fn parse_timings(output: &str) -> Vec<(String, String, f64)> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (case, system, ms) = (words.next()?, words.next()?, words.next()?);
            let ms = ms.strip_prefix("ms=")?.parse().ok()?;
            Some((case.to_string(), system.to_string(), ms))
        })
        .collect()
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
