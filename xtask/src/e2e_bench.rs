//! The headline benchmark: whole `metamer synth` commands against plenoptic doing the same
//! (load einstein, build the model, synthesize, save), per iteration as
//! `(23-iteration run − 3-iteration run) / 20`, one thread each; and our own speed-up from a
//! second thread at 512×512, one- and two-thread runs alternating, as
//! `(43-iteration run − 3-iteration run) / 40`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::setup::{self, Environment};
use crate::{Sample, bench_output, data_dir, median, root, run};

const SHORT: usize = 3;
const LONG: usize = 23;
/// Pairs of runs per case and round; a command's start-up varies by a few milliseconds.
const OUR_PAIRS: usize = 7;
const PLENOPTIC_PAIRS: usize = 3;

/// A model as our command line names it, with the goal of issue 20 for its speed-up.
struct Case {
    name: &'static str,
    model: &'static str,
    loss: Option<&'static str>,
    goal: f64,
}

const CASES: [Case; 7] = [
    Case::new("gaussian30", "gaussian:kernel_size=30", 40.0),
    Case::new("center_surround31", "center_surround:kernel_size=31", 15.0),
    Case::new("linear_nonlinear", FRONT_END[0], 15.0),
    Case::new("luminance_gain_control", FRONT_END[1], 15.0),
    Case::new("luminance_contrast_gain_control", FRONT_END[2], 15.0),
    Case::new("on_off", FRONT_END[3], 15.0),
    Case {
        loss: Some("ps"),
        ..Case::new("portilla_simoncelli", "portilla_simoncelli", 8.0)
    },
];

const FRONT_END: [&str; 4] = [
    "linear_nonlinear:kernel_size=31,pretrained=true,cache_filt=true",
    "luminance_gain_control:kernel_size=31,pretrained=true,cache_filt=true",
    "luminance_contrast_gain_control:kernel_size=31,pretrained=true,cache_filt=true",
    "on_off:kernel_size=31,pretrained=true,cache_filt=true",
];

/// The cases whose iterations are timed early and late in a long synthesis: an iteration
/// should cost the same at the 2,000th as at the first (a graph that grew with every
/// iteration once made it three times slower, which the short runs above cannot see).
const DRIFT: [&str; 2] = ["gaussian30", "center_surround31"];
const DRIFT_RUNS: [usize; 3] = [3, 1003, 2003];

/// The cases timed at 512×512 with one and with two threads.
const SCALING: [&str; 3] = ["gaussian30", "on_off", "portilla_simoncelli"];
/// The longer run of the thread comparison: a ratio of two timings is noisier than either,
/// and twenty iterations of a 4 ms Gaussian iteration left start-up's jitter too large a part.
const SCALING_LONG: usize = 43;
const SCALING_GOAL: f64 = 1.7;

impl Case {
    const fn new(name: &'static str, model: &'static str, goal: f64) -> Self {
        Case {
            name,
            model,
            loss: None,
            goal,
        }
    }
}

/// Runs `rounds` rounds of the cases whose names contain a filter (all without filters) and
/// returns BENCHMARKS.md's `## End to end` section.
pub fn report(
    environment: &Environment,
    rounds: usize,
    filters: &[&str],
) -> Result<String, String> {
    let binary = setup::release_binary(environment)?;
    let data = data_dir()?;
    let folder = setup::scratch_folder("e2e-bench")?;
    let large = folder.join("large.npy");
    write_noise_npy(&large, 512)?;
    let wants = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let cases: Vec<&Case> = CASES.iter().filter(|c| wants(c.name)).collect();
    let python = root().join(".venv/bin/python");
    let mut samples: Vec<Sample> = Vec::new();
    for round in 1..=rounds {
        eprintln!("end-to-end round {round} of {rounds}");
        for case in &cases {
            let ms = per_iteration(&binary, &folder, case, &data, None, 1)?;
            samples.push(sample(case.name, "metamer", ms));
            if DRIFT.contains(&case.name) {
                let [early, late] = drift(&binary, &folder, case, &data)?;
                samples.push(sample(case.name, "early", early));
                samples.push(sample(case.name, "late", late));
            }
            if SCALING.contains(&case.name) {
                let [one, two] = per_iteration_by_threads(&binary, &folder, case, &data, &large)?;
                samples.push(sample(case.name, "threads1", one));
                samples.push(sample(case.name, "threads2", two));
            }
        }
        if python.exists() {
            samples.extend(bench_output(
                Command::new(&python)
                    .arg(root().join("xtask/fixtures/bench_e2e_plenoptic.py"))
                    .arg(&data)
                    .arg(folder.join("plenoptic"))
                    .args([PLENOPTIC_PAIRS, SHORT, LONG].map(|n| n.to_string()))
                    .args(cases.iter().map(|c| c.name))
                    .env("TQDM_DISABLE", "1")
                    .env("OMP_NUM_THREADS", "1"),
                "the plenoptic end-to-end benchmark",
            )?);
        }
    }
    let _ = std::fs::remove_dir_all(&folder);
    Ok(section(&cases, &samples, rounds))
}

fn sample(case: &str, system: &str, ms: f64) -> Sample {
    println!("{case} {system} ms={ms:.3}");
    Sample {
        case: case.to_string(),
        system: system.to_string(),
        values: vec![("ms".to_string(), ms)],
    }
}

/// Milliseconds per iteration of `metamer synth` for `case`: the median over pairs of
/// `(LONG run − SHORT run) / (LONG − SHORT)`, each run a whole command.
fn per_iteration(
    binary: &Path,
    folder: &Path,
    case: &Case,
    data: &Path,
    image: Option<&Path>,
    threads: usize,
) -> Result<f64, String> {
    let timed =
        |iterations: usize| time_synth(binary, folder, case, data, image, threads, iterations);
    timed(SHORT)?;
    let mut values = Vec::new();
    for _ in 0..OUR_PAIRS {
        let short = timed(SHORT)?;
        let long = timed(LONG)?;
        values.push((long - short) / (LONG - SHORT) as f64);
    }
    median(values).ok_or_else(|| "no runs".to_string())
}

/// Milliseconds per iteration of `case` on `image` with one and with two threads, the
/// medians over pairs of `(SCALING_LONG run − SHORT run) / (SCALING_LONG − SHORT)`, one- and
/// two-thread pairs alternating so that both see the machine in the same state.
fn per_iteration_by_threads(
    binary: &Path,
    folder: &Path,
    case: &Case,
    data: &Path,
    image: &Path,
) -> Result<[f64; 2], String> {
    let timed = |threads: usize, iterations: usize| {
        time_synth(binary, folder, case, data, Some(image), threads, iterations)
    };
    timed(1, SHORT)?;
    let mut values = [Vec::new(), Vec::new()];
    for _ in 0..OUR_PAIRS {
        for (threads, values) in [1, 2].into_iter().zip(values.iter_mut()) {
            let short = timed(threads, SHORT)?;
            let long = timed(threads, SCALING_LONG)?;
            values.push((long - short) / (SCALING_LONG - SHORT) as f64);
        }
    }
    let [one, two] = values.map(median);
    Ok([
        one.ok_or_else(|| "no runs".to_string())?,
        two.ok_or_else(|| "no runs".to_string())?,
    ])
}

/// Milliseconds per iteration over iterations 3–1,003 and 1,003–2,003 of `case`, one thread.
fn drift(binary: &Path, folder: &Path, case: &Case, data: &Path) -> Result<[f64; 2], String> {
    let [start, middle, end] = DRIFT_RUNS;
    let timed = |iterations: usize| time_synth(binary, folder, case, data, None, 1, iterations);
    let times = [timed(start)?, timed(middle)?, timed(end)?];
    Ok([
        (times[1] - times[0]) / (middle - start) as f64,
        (times[2] - times[1]) / (end - middle) as f64,
    ])
}

/// Milliseconds of one whole `metamer synth` command of `iterations` iterations.
fn time_synth(
    binary: &Path,
    folder: &Path,
    case: &Case,
    data: &Path,
    image: Option<&Path>,
    threads: usize,
    iterations: usize,
) -> Result<f64, String> {
    let out = folder.join("ours");
    let command = |iterations: usize| {
        let mut command = Command::new(binary);
        command
            .args(["synth", "--quiet", "--image"])
            .arg(image.map_or_else(|| PathBuf::from("einstein"), Path::to_path_buf))
            .args(["--model", case.model, "--stop-criterion", "0"])
            .args(["--max-iter", &iterations.to_string()])
            .args(case.loss.map(|loss| ["--loss", loss]).into_iter().flatten())
            .arg("--out")
            .arg(&out)
            .env("METAMER_DATA", data)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .env("OMP_NUM_THREADS", threads.to_string());
        command
    };
    let started = Instant::now();
    run(&mut command(iterations))?;
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

/// A reproducible 512×512 float32 image in [0, 1) as `.npy` (the sample images are 256²).
fn write_noise_npy(path: &Path, size: usize) -> Result<(), String> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({size}, {size}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..size * size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend(((state >> 40) as f32 / (1u64 << 24) as f32).to_le_bytes());
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The section: the per-iteration table against plenoptic, with plenoptic's spread over
/// rounds, and the two-thread table.
fn section(cases: &[&Case], samples: &[Sample], rounds: usize) -> String {
    let values = |case: &str, system: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.case == case && s.system == system)
            .filter_map(|s| s.get("ms"))
            .collect()
    };
    let mut table = String::from(
        "| case | plenoptic (ms) | metamer (ms) | speed-up | goal | plenoptic, slowest / fastest round |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut met = 0;
    for case in cases {
        let reference = values(case.name, "plenoptic");
        let spread = match (
            reference.iter().copied().reduce(f64::max),
            reference.iter().copied().reduce(f64::min),
        ) {
            (Some(max), Some(min)) => format!("{:.2}", max / min),
            _ => "–".to_string(),
        };
        let (ours, reference) = (median(values(case.name, "metamer")), median(reference));
        let (speed_up, goal) = match (ours, reference) {
            (Some(ours), Some(reference)) => {
                let ratio = reference / ours;
                met += usize::from(ratio >= case.goal);
                let mark = if ratio >= case.goal { "met" } else { "not met" };
                (format!("{ratio:.1}×"), format!("≥ {}× ({mark})", case.goal))
            }
            _ => ("–".to_string(), format!("≥ {}×", case.goal)),
        };
        let show = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.2}"));
        table.push_str(&format!(
            "| {} | {} | {} | {speed_up} | {goal} | {spread} |\n",
            case.name,
            show(reference),
            show(ours),
        ));
    }
    let mut scaling = String::from(
        "| case, 512×512 | 1 thread (ms) | 2 threads (ms) | speed-up | goal |\n|---|---|---|---|---|\n",
    );
    // The medians of two of a case's measurements, when both were taken.
    let both = |case: &str, first: &str, second: &str| {
        Some((median(values(case, first))?, median(values(case, second))?))
    };
    for case in cases.iter().filter(|c| SCALING.contains(&c.name)) {
        if let Some((one, two)) = both(case.name, "threads1", "threads2") {
            let mark = if one / two >= SCALING_GOAL {
                "met"
            } else {
                "not met"
            };
            scaling.push_str(&format!(
                "| {} | {one:.2} | {two:.2} | {:.2}× | ≥ {SCALING_GOAL}× ({mark}) |\n",
                case.name,
                one / two
            ));
        }
    }
    let mut drift = String::from(
        "| case | iterations 3–1,003 (ms) | iterations 1,003–2,003 (ms) | later / earlier |\n|---|---|---|---|\n",
    );
    for case in cases.iter().filter(|c| DRIFT.contains(&c.name)) {
        if let Some((early, late)) = both(case.name, "early", "late") {
            drift.push_str(&format!(
                "| {} | {early:.2} | {late:.2} | {:.2} |\n",
                case.name,
                late / early
            ));
        }
    }
    format!(
        "## End to end\n\n\
         Measured on {date} by `cargo xtask bench e2e` (or a full `cargo xtask bench`). \
         Milliseconds per iteration of a whole synthesis of einstein (256×256): \
         `metamer synth --image einstein --model M --max-iter N` on the default backend, and \
         plenoptic doing the same (load, build the model, `Metamer`, `synthesize`, `save`, \
         timed inside one process, so plenoptic does not pay torch's import), each as \
         (N = {LONG} run − N = {SHORT} run) / {}, one thread each; the median over {rounds} \
         rounds of {OUR_PAIRS} pairs of runs ({PLENOPTIC_PAIRS} for plenoptic), rounds \
         alternating between the two. Front ends are 31×31, pretrained, `cache_filt`; \
         Portilla–Simoncelli uses its loss (`--loss ps`). {met} of {} goals met.\n\n{table}\n\
         Our own speed-up from a second thread (`RAYON_NUM_THREADS=2` against 1), on a \
         512×512 image, per iteration as (N = {SCALING_LONG} run − N = {SHORT} run) / {}, \
         one- and two-thread pairs alternating; the median over {rounds} rounds of the \
         medians of {OUR_PAIRS} pairs each:\n\n{scaling}\n\
         An iteration late in a long synthesis against one early in it (one thread, one run \
         each per round, medians):\n\n{drift}",
        LONG - SHORT,
        cases.len(),
        SCALING_LONG - SHORT,
        date = crate::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    )
}
