//! The study benchmark: eight Gaussian(30) syntheses of einstein (seeds 0-7, 200 iterations,
//! stop criterion 0) as a study on two cores, against the same syntheses one after another
//! and against plenoptic run as its documentation recommends (two processes, one thread
//! each), all end to end: whole commands, start-up and writing included.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::setup::{self, Environment};
use crate::{data_dir, median, root, run};

const SEEDS: std::ops::Range<u64> = 0..8;

/// Runs `rounds` rounds and returns BENCHMARKS.md's `## Studies` section.
pub fn report(environment: &Environment, rounds: usize) -> Result<String, String> {
    let binary = setup::release_binary(environment)?;
    let data = data_dir()?;
    let folder = setup::scratch_folder("study-bench")?;
    let plan = folder.join("plan.toml");
    let seeds: Vec<String> = SEEDS.map(|s| s.to_string()).collect();
    std::fs::write(
        &plan,
        format!(
            "[defaults]\nimage = \"einstein\"\nmodel = \"gaussian:kernel_size=30\"\n\
             max-iter = 200\nstop-criterion = 0\n[grid]\nseed = [{}]\n",
            seeds.join(", ")
        ),
    )
    .map_err(|e| e.to_string())?;
    let python = root().join(".venv/bin/python");
    let ours = |command: &mut Command| {
        command
            .env("METAMER_DATA", &data)
            .env("RAYON_NUM_THREADS", "1")
            .env("OMP_NUM_THREADS", "1");
    };
    let (mut parallel, mut sequential, mut serial_study, mut plenoptic) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        eprintln!("study round {round} of {rounds}");
        let fresh = |name: &str| -> PathBuf {
            let dir = folder.join(name);
            let _ = std::fs::remove_dir_all(&dir);
            dir
        };
        let study = |jobs: &str, out: PathBuf| {
            let mut command = Command::new(&binary);
            command
                .args(["study", "run", "--quiet", "--jobs", jobs])
                .arg(&plan)
                .arg("--out")
                .arg(out);
            ours(&mut command);
            timed(|| run(&mut command))
        };
        parallel.push(study("2", fresh("study2"))?);
        let alone = fresh("alone");
        sequential.push(timed(|| {
            for seed in &seeds {
                let mut command = Command::new(&binary);
                command
                    .args(["synth", "--quiet", "--image", "einstein"])
                    .args(["--model", "gaussian:kernel_size=30", "--max-iter", "200"])
                    .args(["--stop-criterion", "0", "--seed", seed])
                    .arg("--out")
                    .arg(alone.join(seed));
                ours(&mut command);
                run(&mut command)?;
            }
            Ok(())
        })?);
        serial_study.push(study("1", fresh("study1"))?);
        if python.exists() {
            let out = fresh("plenoptic");
            plenoptic.push(timed(|| {
                run(Command::new(&python)
                    .arg(root().join("xtask/fixtures/bench_study_plenoptic.py"))
                    .arg(&data)
                    .arg(&out)
                    .arg("2")
                    .args(&seeds)
                    .env("TQDM_DISABLE", "1")
                    .env("OMP_NUM_THREADS", "1"))
            })?);
        }
    }
    let _ = std::fs::remove_dir_all(&folder);
    let seconds = |values: &[f64]| median(values.to_vec());
    let (Some(parallel), Some(sequential), Some(serial_study)) = (
        seconds(&parallel),
        seconds(&sequential),
        seconds(&serial_study),
    ) else {
        return Err("the study benchmark measured nothing".to_string());
    };
    let jobs = SEEDS.count() as f64;
    let mut table = format!(
        "| run | seconds | against `synth` one after another |\n|---|---|---|\n\
         | `metamer synth` 8 times, one after another | {sequential:.2} | 1.00 |\n\
         | `metamer study run --jobs 2` | {parallel:.2} | {:.2} |\n\
         | `metamer study run --jobs 1` | {serial_study:.2} | {:.2} |\n",
        parallel / sequential,
        serial_study / sequential,
    );
    let plenoptic_line = match seconds(&plenoptic) {
        Some(reference) => {
            table.push_str(&format!(
                "| plenoptic, 2 processes of 1 thread | {reference:.2} | {:.2} |\n",
                reference / sequential
            ));
            format!(
                " The study runs {:.1}× faster than plenoptic run the same way.",
                reference / parallel
            )
        }
        None => " (plenoptic's `.venv` was absent: `cargo xtask fixtures` makes it.)".to_string(),
    };
    Ok(format!(
        "## Studies\n\nMeasured on {date} by `cargo xtask bench study` (or a full `cargo xtask \
         bench`). Eight Gaussian(30) syntheses of einstein (seeds 0–7, 200 iterations, \
         stop criterion 0), each whole command timed, median of {rounds} rounds. On two \
         cores the study takes {:.2} of the time of the same syntheses run one after another \
         (goal: at most 0.6). With one job at a time it costs {:.0} ms per job more than \
         `metamer synth` run alone (goal: under 100 ms): starting the job's process, claiming \
         it, recording it and rewriting `summary.csv`, plus the contact sheet once.{plenoptic_line}\n\n{table}",
        parallel / sequential,
        (serial_study - sequential) / jobs * 1000.0,
        date = crate::command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    ))
}

fn timed(work: impl FnOnce() -> Result<(), String>) -> Result<f64, String> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64())
}
