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
                  bench     time every model against plenoptic, one thread each; writes BENCHMARKS.md\n  \
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
    let mut table = String::from("| case | plenoptic | flex | ndarray |\n|---|---|---|---|\n");
    for case in cases {
        let reference = ms(case, "plenoptic");
        let cell = |system: &str| match (ms(case, system), reference) {
            (Some(t), Some(r)) => format!("{t:.2} ({:.1}×)", r / t),
            (Some(t), None) => format!("{t:.2}"),
            _ => "–".to_string(),
        };
        table.push_str(&format!(
            "| {case} | {} | {} | {} |\n",
            reference.map_or("–".to_string(), |r| format!("{r:.2}")),
            cell("flex"),
            cell("ndarray")
        ));
    }
    print!("{table}");
    let report = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench` on {date}. 256×256 images, one thread each \
         (`RAYON_NUM_THREADS=1` for us, `torch.set_num_threads(1)` for plenoptic), median of 5 \
         timed runs after 2 warm-ups, in the same run; milliseconds and speed-up over \
         plenoptic. `metamer_*` is one synthesis iteration, the other cases one forward plus \
         backward pass (the gradient with respect to the image).\n\n\
         Machine: {machine}.\n\n{table}",
        date = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine = machine(),
    );
    std::fs::write(root().join("BENCHMARKS.md"), report)
        .map_err(|e| format!("cannot write BENCHMARKS.md: {e}"))?;
    println!("written to BENCHMARKS.md");
    Ok(())
}

/// The first line `program args` prints, or "unknown".
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// CPU model, core count, memory and the compiler, for the report.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']))
        })
        .unwrap_or("unknown CPU")
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or("unknown memory".to_string(), |kb| {
            format!("{:.0} GiB memory", kb / 1024.0 / 1024.0)
        });
    format!(
        "{cpu}, {cores} cores available, {memory}; {}; plenoptic and torch from `.venv` \
         (`cargo xtask fixtures` pins plenoptic 2.1.1, torch 2.9.0)",
        command_line("rustc", &["--version"])
    )
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
