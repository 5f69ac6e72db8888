//! Project chores: `cargo xtask test | fixtures | bench | clippy | ci`.

mod e2e_bench;
mod setup;
mod study_bench;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The pinned reference versions the fixtures come from.
const REFERENCE_PACKAGES: &[&str] = &[
    "plenoptic==2.1.1",
    "torch==2.9.0",
    "torchvision==0.24.0",
    "safetensors==0.6.2",
];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(2).collect();
    let result = match task.as_str() {
        "test" => test(&args),
        "fixtures" => fixtures(),
        "bench" => bench(&args),
        "clippy" => clippy(),
        "ci" => ci(),
        _ => Err("usage: cargo xtask <test | fixtures | bench | clippy | ci>\n  \
                  test      every test on every backend (ndarray, flex, wgpu on lavapipe, libtorch),\n            \
                        installing what they need first; `test --cpu` only the CPU backends;\n            \
                        arguments after `--` go to the test binaries (`test -- on_wgpu`)\n  \
                  fixtures  regenerate tests/fixtures from plenoptic (builds .venv)\n  \
                  bench     time and measure every model against plenoptic, one thread each, on\n            \
                        every compiled backend (`--features wgpu,tch` adds those); writes BENCHMARKS.md;\n            \
                        `bench CASE...` runs the cases whose names contain one, and only prints;\n            \
                        `bench study` the study benchmark alone, rewriting its section;\n            \
                        `bench e2e [CASE...]` whole `metamer synth` runs against plenoptic\n  \
                  clippy    lints on every target and feature, warnings as errors\n  \
                  ci        what CI runs: fmt, clippy, test"
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
    let installed = stdout_of(Command::new(&python).args([
        "-c",
        "import plenoptic, torch, torchvision; \
         print(plenoptic.__version__, torch.__version__, torchvision.__version__)",
    ]))
    .unwrap_or_default();
    if !(installed.starts_with("2.1.1 2.9.0") && installed.contains(" 0.24.0")) {
        run(Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(REFERENCE_PACKAGES))?;
    }
    Ok(python)
}

fn fixtures() -> Result<(), String> {
    let python = python()?;
    let out = root().join("tests/fixtures");
    run(Command::new(&python)
        .arg(root().join("xtask/fixtures/generate.py"))
        .arg(&out)
        .arg(data_dir()?)
        .env("TQDM_DISABLE", "1"))?;
    let weights = setup::weights_dir()?;
    setup::make_weights(&python, &weights)?;
    run(Command::new(&python)
        .arg(root().join("xtask/fixtures/deep_nets.py"))
        .arg(&out)
        .arg(&weights)
        .env("TQDM_DISABLE", "1"))
}

/// Rounds of our bench and plenoptic's, alternating, so that a change in the machine's load
/// falls on both.
const ROUNDS: usize = 3;

/// One printed benchmark line: `case system key=value...`.
struct Sample {
    case: String,
    system: String,
    values: Vec<(String, f64)>,
}

impl Sample {
    fn get(&self, key: &str) -> Option<f64> {
        self.values.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

/// Output of a benchmark process, or its failure with what it printed.
fn bench_output(command: &mut Command, what: &str) -> Result<Vec<Sample>, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    Ok(parse_samples(&text))
}

fn bench(args: &[String]) -> Result<(), String> {
    let (mut features, mut filters): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--features" => match args.next() {
                Some(list) => features.extend(list.split(',')),
                None => {
                    return Err("usage: cargo xtask bench [--features wgpu,tch] [CASE...]".into());
                }
            },
            filter => filters.push(filter),
        }
    }
    let environment = setup::prepare(&features)?;
    if filters.contains(&"e2e") {
        let cases: Vec<&str> = filters.into_iter().filter(|f| *f != "e2e").collect();
        let section = e2e_bench::report(&environment, ROUNDS, &cases)?;
        print!("{section}");
        if cases.is_empty() {
            update_section(&root().join("BENCHMARKS.md"), "## End to end", &section)?;
            println!("BENCHMARKS.md: its End to end section rewritten");
        }
        return Ok(());
    }
    let wants_study = filters.is_empty() || filters.iter().any(|f| "study".contains(f));
    let only_study = !filters.is_empty() && filters.iter().all(|f| "study".contains(f));
    if only_study {
        let section = study_bench::report(&environment, ROUNDS)?;
        print!("{section}");
        update_section(&root().join("BENCHMARKS.md"), "## Studies", &section)?;
        println!("BENCHMARKS.md: its Studies section rewritten");
        return Ok(());
    }
    let mut ours = Command::new("cargo");
    ours.args(["bench", "--quiet", "-p", "metamer", "--bench", "speed"])
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .current_dir(root())
        .env("RAYON_NUM_THREADS", "1")
        .env("OMP_NUM_THREADS", "1")
        .env("MKL_NUM_THREADS", "1");
    if !features.is_empty() {
        ours.args(["--features", &features.join(",")]);
    }
    ours.arg("--").args(&filters);
    let python = root().join(".venv/bin/python");
    let mut reference = python.exists().then(|| {
        let mut command = Command::new(&python);
        command
            .arg(root().join("xtask/fixtures/bench_plenoptic.py"))
            .args(&filters)
            .env("TQDM_DISABLE", "1")
            .env("OMP_NUM_THREADS", "1");
        command
    });
    if reference.is_none() {
        eprintln!("plenoptic's environment (.venv) is absent: `cargo xtask fixtures` makes it");
    }
    let mut samples = Vec::new();
    for round in 1..=ROUNDS {
        eprintln!("round {round} of {ROUNDS}");
        samples.extend(bench_output(&mut ours, "cargo bench")?);
        if let Some(command) = reference.as_mut() {
            samples.extend(bench_output(command, "the plenoptic benchmark")?);
        }
    }
    let mut report = bench_report(&samples);
    if filters.is_empty() {
        report = format!(
            "{}\n{report}",
            e2e_bench::report(&environment, ROUNDS, &[])?
        );
    }
    if wants_study {
        report.push_str(&format!("\n{}", study_bench::report(&environment, ROUNDS)?));
    }
    print!("{report}");
    if !filters.is_empty() {
        println!("(some cases only: BENCHMARKS.md left as it was)");
        return Ok(());
    }
    let report = format!(
        "# Benchmarks\n\n\
         Written by `cargo xtask bench{features}` on {date}. One thread each \
         (`RAYON_NUM_THREADS=1` and `OMP_NUM_THREADS=1` for us, `torch.set_num_threads(1)` for \
         plenoptic; wgpu on the adapter it finds: without a GPU, lavapipe, Mesa's software Vulkan \
         driver, with its default of one thread per core). {ROUNDS} rounds, our bench and plenoptic's alternating; in each, a case is \
         the median of 5 timed runs after 2 warm-ups; the tables give the median over rounds. \
         `metamer_*` is one synthesis iteration, the other cases one forward plus backward \
         pass (the gradient with respect to the image), on random 256×256 images unless the \
         name says otherwise.\n\nMachine: {machine}.\n\n{report}",
        features = if features.is_empty() {
            String::new()
        } else {
            format!(" --features {}", features.join(","))
        },
        date = command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine = machine(),
    );
    std::fs::write(root().join("BENCHMARKS.md"), report)
        .map_err(|e| format!("cannot write BENCHMARKS.md: {e}"))?;
    println!("written to BENCHMARKS.md");
    Ok(())
}

/// Replaces BENCHMARKS.md's section under `heading` (or appends it), leaving the rest.
fn update_section(path: &Path, heading: &str, section: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let updated = match text.find(heading) {
        Some(start) => {
            let rest = &text[start + 1..];
            let end = rest.find("\n## ").map_or(text.len(), |i| start + 1 + i + 1);
            format!("{}{section}\n{}", &text[..start], &text[end..])
        }
        None => format!(
            "{}\n{section}",
            text.trim_end_matches('\n').to_string() + "\n"
        ),
    };
    std::fs::write(path, updated).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| values[values.len() / 2])
}

/// The tables of BENCHMARKS.md: time, peak memory, growth with size, memory over iterations.
fn bench_report(samples: &[Sample]) -> String {
    let mut cases: Vec<&str> = Vec::new();
    let mut systems: Vec<&str> = vec!["plenoptic"];
    for sample in samples {
        if sample.case != "memory_growth" && !cases.contains(&sample.case.as_str()) {
            cases.push(&sample.case);
        }
        if !systems.contains(&sample.system.as_str()) {
            systems.push(&sample.system);
        }
    }
    let value = |case: &str, system: &str, key: &str| {
        median(
            samples
                .iter()
                .filter(|s| s.case == case && s.system == system)
                .filter_map(|s| s.get(key))
                .collect(),
        )
    };
    let header = |first: &str| {
        format!(
            "| {first} | {} |\n|---|{}\n",
            systems.join(" | "),
            "---|".repeat(systems.len())
        )
    };
    let mut time = header("case (ms)");
    let mut memory = header("case (peak MB)");
    for case in &cases {
        let reference = value(case, "plenoptic", "ms");
        let cells: Vec<String> = systems
            .iter()
            .map(|system| match (value(case, system, "ms"), reference) {
                (Some(t), Some(r)) if *system != "plenoptic" => {
                    format!("{t:.2} ({:.1}×)", r / t)
                }
                (Some(t), _) => format!("{t:.2}"),
                _ => "–".to_string(),
            })
            .collect();
        time.push_str(&format!("| {case} | {} |\n", cells.join(" | ")));
        let cells: Vec<String> = systems
            .iter()
            .map(|system| {
                value(case, system, "peak_mb").map_or("–".into(), |m| format!("{m:.1}"))
            })
            .collect();
        memory.push_str(&format!("| {case} | {} |\n", cells.join(" | ")));
    }
    let mut sizes = header("case (ms at 128 / 256 / 512)");
    for base in ["metamer_gaussian30", "on_off", "portilla_simoncelli"] {
        let cells: Vec<String> = systems
            .iter()
            .map(|system| {
                let at = |size: usize| {
                    let case = if size == 256 {
                        base.to_string()
                    } else {
                        format!("{base}_{size}")
                    };
                    value(&case, system, "ms").map_or("–".into(), |t| format!("{t:.1}"))
                };
                format!("{} / {} / {}", at(128), at(256), at(512))
            })
            .collect();
        sizes.push_str(&format!("| {base} | {} |\n", cells.join(" | ")));
    }
    let mut growth = String::from(
        "| backend | rise, 100 iterations (MB) | rise, 1,000 iterations (MB) | difference (MB) |\n|---|---|---|---|\n",
    );
    for system in &systems {
        let (Some(short), Some(long)) = (
            value("memory_growth", system, "peak100_mb"),
            value("memory_growth", system, "peak1000_mb"),
        ) else {
            continue;
        };
        growth.push_str(&format!(
            "| {system} | {short:.2} | {long:.2} | {:.2} |\n",
            long - short
        ));
    }
    format!(
        "## Time\n\nMilliseconds, and the speed-up over plenoptic.\n\n{time}\n\
         ## Peak memory\n\nHow far resident memory rose above its level at the start of \
         the case (Linux's high-water mark, reset per case through `/proc/self/clear_refs`, \
         read the same way in both benches), in MB.\n\n{memory}\n\
         ## Growth with image size\n\n{sizes}\n\
         ## Memory over iterations\n\nHow far resident memory rose during a 100- and a \
         1,000-iteration Gaussian(9) synthesis of a 64×64 image, each from a fresh start, \
         after the cases above; memory kept per iteration would show as a difference (16 KB \
         per iteration, one image, would be 14 MB).\n\n{growth}"
    )
}

/// The first line `program args` prints, or "unknown".
fn command_line(program: &str, args: &[&str]) -> String {
    stdout_of(Command::new(program).args(args))
        .and_then(|out| out.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

/// What `command` printed, trimmed, when it ran and succeeded.
fn stdout_of(command: &mut Command) -> Option<String> {
    let output = command.output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
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

/// Reads `case system key=value...` lines from benchmark output (`?` values are skipped).
fn parse_samples(output: &str) -> Vec<Sample> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let (case, system) = (words.next()?, words.next()?);
            let values: Vec<(String, f64)> = words
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key.to_string(), value.parse().ok()?))
                })
                .collect();
            (!values.is_empty()).then(|| Sample {
                case: case.to_string(),
                system: system.to_string(),
                values,
            })
        })
        .collect()
}

/// The facade's optional backends; the tests of every crate build with all features at once,
/// so that one build serves every backend.
const BACKEND_FEATURES: [&str; 2] = ["wgpu", "tch"];

fn cargo(args: &[&str], environment: &setup::Environment) -> Result<(), String> {
    run(Command::new("cargo")
        .args(args)
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .current_dir(root()))
}

fn test(args: &[String]) -> Result<(), String> {
    let (options, harness) = match args.iter().position(|a| a == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let cpu_only = match options {
        [] => false,
        [flag] if flag == "--cpu" => true,
        _ => return Err("usage: cargo xtask test [--cpu] [-- TEST-ARGS...]".into()),
    };
    let features: &[&str] = if cpu_only { &[] } else { &BACKEND_FEATURES };
    let mut environment = setup::prepare(features)?;
    if !cpu_only {
        environment.extend(setup::slurm_environment()?);
        environment.extend(setup::deep_net_weights()?);
    }
    let mut command = vec!["test", "--workspace", "--locked"];
    if !cpu_only {
        command.push("--all-features");
    }
    command.push("--");
    command.extend(harness.iter().map(String::as_str));
    cargo(&command, &environment)
}

fn clippy() -> Result<(), String> {
    let environment = setup::prepare(&BACKEND_FEATURES)?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &environment,
    )
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"], &Vec::new())?;
    clippy()?;
    test(&[])
}
