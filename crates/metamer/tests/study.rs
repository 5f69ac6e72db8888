//! `metamer study`, run as a user would: plans good and bad, local runs checked job by job
//! against `metamer synth`, crashes, SIGKILL mid-study, concurrent runners and shards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use metamer::io::{Array, Precision, write_npy};
use metamer::study::{self, Plan, Status, StudyDir, StudyOptions, Worker};

const BINARY: &str = env!("CARGO_BIN_EXE_metamer");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metamer-study-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A `size × size` float32 pattern written as `folder/name`.
fn write_image(folder: &Path, name: &str, size: usize, step: usize) {
    let values = (0..size * size)
        .map(|i| ((i * step) % 17) as f64 / 17.0)
        .collect();
    let array = Array {
        shape: vec![size, size],
        values,
        precision: Precision::F32,
    };
    write_npy(folder.join(name), &array).unwrap();
}

fn metamer(args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `folder/plan.toml`.
fn write_plan(folder: &Path, text: &str) -> PathBuf {
    let path = folder.join("plan.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A plan of Gaussian(5) syntheses of `a.npy` long enough to be stopped mid-run.
fn long_plan(iterations: usize, checkpoint_every: usize, seeds: &str) -> String {
    format!(
        "[defaults]\nimage = \"a.npy\"\nmodel = \"gaussian:kernel_size=5\"\n\
         max-iter = {iterations}\ncheckpoint-every = {checkpoint_every}\nstop-criterion = -1\n\
         [grid]\nseed = [{seeds}]\n"
    )
}

/// A study of [`long_plan`] jobs on a 48×48 image in a fresh folder named `name`: the plan's
/// path, the results folder, the plan and the study folder.
fn long_study(name: &str, step: usize, plan: &str) -> (PathBuf, PathBuf, Plan, StudyDir) {
    let folder = temp_dir(name);
    write_image(&folder, "a.npy", 48, step);
    let plan_path = write_plan(&folder, plan);
    let out = folder.join("out");
    let plan = Plan::load(&plan_path).unwrap();
    let dir = StudyDir::new(&out);
    (plan_path, out, plan, dir)
}

/// How many of the plan's jobs have written a checkpoint.
fn checkpointed(plan: &Plan, dir: &StudyDir) -> usize {
    plan.jobs
        .iter()
        .filter(|job| dir.job(&job.id).join("synthesis.safetensors").exists())
        .count()
}

/// The summary as `id → row`, each row `column → value`.
fn summary(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = split_csv(lines.next().unwrap());
    lines
        .map(|line| {
            let fields = split_csv(line);
            assert_eq!(fields.len(), header.len(), "{line}");
            let row: BTreeMap<String, String> = header.iter().cloned().zip(fields).collect();
            (row["id"].clone(), row)
        })
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// Runs `metamer synth` alone, on one thread, with a job's settings, and checks that the job's
/// results are the same bytes.
fn assert_matches_synth_alone(dir: &Path, job: &study::Job) {
    let alone = dir.join("alone").join(&job.id);
    let settings = &job.settings;
    let mut args = vec![
        "synth".to_string(),
        "--quiet".to_string(),
        "--out".to_string(),
        alone.display().to_string(),
        "--image".to_string(),
        settings.image.clone().unwrap(),
        "--model".to_string(),
        settings.model.describe(),
        "--seed".to_string(),
        settings.seed.to_string(),
        "--max-iter".to_string(),
        settings.max_iter.to_string(),
        "--stop-criterion".to_string(),
        settings.stop_criterion.to_string(),
        "--lr".to_string(),
        settings.lr.to_string(),
    ];
    if let Some(optimizer) = settings.optimizer {
        args.extend([
            "--optimizer".to_string(),
            metamer::synthesis::value_name(optimizer),
        ]);
    }
    let output = Command::new(BINARY)
        .args(&args)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let job_dir = dir.join("jobs").join(&job.id);
    for file in ["metamer.npy", "history.json"] {
        assert!(
            std::fs::read(job_dir.join(file)).unwrap() == std::fs::read(alone.join(file)).unwrap(),
            "{file} of job {} differs from `metamer synth` alone",
            job.id
        );
    }
}

#[test]
fn bad_plans_stop_with_one_line_naming_job_and_key_and_write_nothing() {
    let folder = temp_dir("bad-plans");
    write_image(&folder, "small.npy", 24, 3);
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown option",
            "[defaults]\nmax-iters = 5\n",
            &["job 1", "max-iters", "[defaults]"],
        ),
        (
            "unknown option in a job",
            "[[job]]\nimage = \"small.npy\"\n[[job]]\nimage = \"small.npy\"\nsede = 3\n",
            &["job 2", "sede", "[[job]] 2"],
        ),
        (
            "bad model",
            "[grid]\nmodel = [\"gaussian\", \"gausian:kernel_size=3\"]\n",
            &["job 2", "model", "[grid]", "gausian"],
        ),
        (
            "bad model option",
            "[defaults]\nmodel = \"gaussian:kernel_sise=3\"\n",
            &["job 1", "model", "kernel_sise"],
        ),
        (
            "missing image",
            "[grid]\nimage = [\"small.npy\", \"photos/cat.png\"]\n",
            &["job 2", "image", "cat.png"],
        ),
        ("malformed file", "[defaults\nseed = 1\n", &["plan.toml"]),
        (
            "empty list",
            "[grid]\nseed = []\n",
            &["[grid] seed", "empty"],
        ),
        ("not a list", "[grid]\nseed = 3\n", &["[grid] seed", "list"]),
        (
            "wrong type",
            "[defaults]\nmax-iter = \"many\"\n",
            &["job 1", "max-iter", "invalid"],
        ),
        (
            "bad optimizer option",
            "[defaults]\noptimizer = \"sgd\"\noptimizer-opt = \"momentun=0.9\"\n",
            &["job 1", "momentun"],
        ),
        (
            "reserved option",
            "[defaults]\nout = \"elsewhere\"\n",
            &["job 1", "out", "not a plan option"],
        ),
        (
            "repeated job",
            "[grid]\nseed = [1, 1]\n",
            &["job 2", "same settings as job 1"],
        ),
        (
            "unknown section",
            "[grids]\nseed = [1]\n",
            &["unknown section", "grids"],
        ),
        (
            "bad range",
            "[defaults]\nrange = \"1,0\"\n",
            &["job 1", "range", "below"],
        ),
        (
            "missing weights",
            "[defaults]\nmodel = \"alexnet:weights=nets/a.pth\"\n",
            &["job 1", "model", "nets/a.pth", "does not exist"],
        ),
    ];
    for (what, text, expected) in cases {
        let plan = folder.join("plan.toml");
        std::fs::write(&plan, text).unwrap();
        let out = folder.join("never");
        for command in ["run", "slurm", "status"] {
            let output = metamer(&[
                "study",
                command,
                plan.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ]);
            let message = stderr(&output);
            assert_eq!(output.status.code(), Some(1), "{what}: {message}");
            assert_eq!(message.lines().count(), 1, "{what}: {message}");
            for part in *expected {
                assert!(message.contains(part), "{what}: {part:?} not in {message}");
            }
            assert!(
                !out.exists(),
                "{what}: `study {command}` wrote {}",
                out.display()
            );
        }
    }
    let output = metamer(&["study", "run", "/nonexistent/plan.toml", "--out", "x"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read the plan"));
}

#[test]
fn job_ids_depend_on_settings_only() {
    let folder = temp_dir("ids");
    write_image(&folder, "a.npy", 24, 3);
    write_image(&folder, "b.npy", 24, 5);
    let ids = |text: &str| {
        let plan = folder.join("plan.toml");
        std::fs::write(&plan, text).unwrap();
        let mut ids: Vec<String> = Plan::load(&plan)
            .unwrap()
            .jobs
            .into_iter()
            .map(|job| job.id)
            .collect();
        ids.sort();
        ids
    };
    let grid =
        ids("[defaults]\nmax-iter = 5\n[grid]\nimage = [\"a.npy\", \"b.npy\"]\nseed = [0, 1]\n");
    let reordered = ids(
        "[grid]\nseed = [1, 0]\nimage = [\"b.npy\", \"a.npy\"]\n[defaults]\nmax-iter = 5\ncheckpoint-every = 2\n",
    );
    assert_eq!(grid, reordered);
    let as_jobs = ids(
        "[defaults]\nmax-iter = 5\nlr = 0.01\n[[job]]\nimage = \"a.npy\"\n[[job]]\nimage = \"b.npy\"\n\
         [[job]]\nimage = \"a.npy\"\nseed = 1\n[[job]]\nimage = \"b.npy\"\nseed = 1\n",
    );
    assert_eq!(grid, as_jobs);
    assert!(grid[0].starts_with("a_gaussian_seed0_"), "{grid:?}");
    let longer =
        ids("[defaults]\nmax-iter = 6\n[grid]\nimage = [\"a.npy\", \"b.npy\"]\nseed = [0, 1]\n");
    assert!(grid.iter().all(|id| !longer.contains(id)));
}

/// A network's `weights=` path is read relative to the plan, as image paths are, while the
/// job's id keeps the path as written (the same on every machine).
#[test]
fn weights_paths_are_relative_to_the_plan() {
    let ids = [temp_dir("weights-a"), temp_dir("weights-b")].map(|folder| {
        std::fs::create_dir_all(folder.join("nets")).unwrap();
        std::fs::write(folder.join("nets/a.pth"), b"").unwrap();
        let plan = write_plan(
            &folder,
            "[defaults]\nmodel = \"alexnet:weights=nets/a.pth,layers=features.2\"\n",
        );
        let jobs = Plan::load(&plan).unwrap().jobs;
        let files = jobs[0].settings.model.files();
        assert_eq!(files, [folder.join("nets/a.pth").as_path()]);
        jobs[0].id.clone()
    });
    assert_eq!(ids[0], ids[1]);
}

/// A plan of four small jobs that finish and one whose loss turns NaN, run twice: every
/// finished job equals `metamer synth` alone, the failure is recorded and does not stop the
/// others, and the second run finds nothing to do.
#[test]
fn a_local_study_matches_synth_alone_and_records_failures() {
    let folder = temp_dir("local");
    write_image(&folder, "a.npy", 32, 3);
    std::fs::create_dir_all(folder.join("photos")).unwrap();
    write_image(&folder.join("photos"), "b.npy", 32, 7);
    let plan_path = write_plan(
        &folder,
        "[defaults]\nmodel = \"gaussian:kernel_size=5\"\nmax-iter = 30\ncheckpoint-every = 7\n\
         [grid]\nimage = [\"a.npy\", \"photos/b.npy\"]\nseed = [0, 1]\n\
         [[job]]\nimage = \"a.npy\"\nlr = 1e30\n",
    );
    let out = folder.join("out");
    let run = || {
        metamer(&[
            "study",
            "run",
            plan_path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            "2",
        ])
    };
    let output = run();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    // One line per finished job when stderr is not a terminal, then the totals and the error.
    let job_lines: Vec<&str> = message.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(job_lines.len(), 5, "{message}");
    assert!(
        message
            .lines()
            .last()
            .unwrap()
            .contains("1 of 5 jobs failed"),
        "{message}"
    );

    let plan = Plan::load(&plan_path).unwrap();
    assert_eq!(plan.varying, ["image", "seed", "lr"]);
    let rows = summary(&out);
    assert_eq!(rows.len(), 5);
    let mut done = 0;
    for job in &plan.jobs {
        let row = &rows[&job.id];
        assert_eq!(row["image"], job.written["image"]);
        if job.settings.lr > 1.0 {
            assert_eq!(row["status"], "failed");
            assert!(row["error"].contains("NaN"), "{row:?}");
            assert_eq!(row["lr"], "1e30");
            continue;
        }
        done += 1;
        assert_eq!(row["status"], "done", "{row:?}");
        assert_eq!(row["iterations"], "30");
        assert_eq!(row["lr"], "0.01");
        let loss: f64 = row["loss"].parse().unwrap();
        assert!(loss.is_finite() && loss > 0.0);
        assert_matches_synth_alone(&out, job);
    }
    assert_eq!(done, 4);
    assert!(out.join("contact_sheet.png").is_file());

    let status = metamer(&[
        "study",
        "status",
        plan_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.starts_with("5 jobs: 4 done, 1 failed, 0 running, 0 pending"),
        "{text}"
    );
    assert!(text.contains("NaN"), "{text}");

    // Idempotent: nothing runs again, nothing changes.
    let before = std::fs::read(out.join("summary.csv")).unwrap();
    let output = run();
    let message = stderr(&output);
    assert!(
        message.contains("4 done before, 1 failed before, 0 to run"),
        "{message}"
    );
    assert_eq!(std::fs::read(out.join("summary.csv")).unwrap(), before);
    // --retry-failed runs the failed job again (it fails again, the same way).
    let output = metamer(&[
        "study",
        "run",
        plan_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--retry-failed",
    ]);
    let message = stderr(&output);
    assert!(message.contains("1 to run"), "{message}");
    assert_eq!(message.lines().filter(|l| l.starts_with('[')).count(), 1);
}

/// A job whose process crashes is that job's failure; the others finish.
#[cfg(unix)]
#[test]
fn a_crashing_job_fails_alone() {
    let folder = temp_dir("crash");
    write_image(&folder, "crash.npy", 24, 3);
    write_image(&folder, "fine.npy", 24, 5);
    let worker = folder.join("worker.sh");
    std::fs::write(
        &worker,
        format!("#!/bin/sh\ncase \"$4\" in crash_*) kill -SEGV $$ ;; esac\nexec {BINARY} \"$@\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan_path = write_plan(
        &folder,
        "[defaults]\nmodel = \"gaussian:kernel_size=3\"\nmax-iter = 5\n\
         [grid]\nimage = [\"crash.npy\", \"fine.npy\"]\n",
    );
    let plan = Plan::load(&plan_path).unwrap();
    let dir = StudyDir::new(folder.join("out"));
    let report = study::run(
        &plan,
        &dir,
        &StudyOptions {
            jobs: 2,
            worker: Worker::Process(worker),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((report.done, report.failed), (1, 1));
    for job in &plan.jobs {
        let (status, result) = dir.status(&job.id);
        if job.id.starts_with("crash_") {
            assert_eq!(status, Status::Failed);
            let error = result.unwrap().error.unwrap();
            assert!(error.contains("signal 11"), "{error}");
        } else {
            assert_eq!(status, Status::Done);
        }
    }
}

/// The in-process worker gives the same results as job processes.
#[test]
fn in_process_jobs_match_job_processes() {
    let folder = temp_dir("in-process");
    write_image(&folder, "a.npy", 24, 3);
    let plan_path = write_plan(
        &folder,
        "[defaults]\nimage = \"a.npy\"\nmodel = \"gaussian:kernel_size=3\"\nmax-iter = 12\n\
         [grid]\nseed = [0, 1]\n",
    );
    let plan = Plan::load(&plan_path).unwrap();
    let inside = StudyDir::new(folder.join("inside"));
    let outside = StudyDir::new(folder.join("outside"));
    study::run(&plan, &inside, &StudyOptions::default()).unwrap();
    let options = StudyOptions {
        worker: Worker::Process(BINARY.into()),
        ..Default::default()
    };
    study::run(&plan, &outside, &options).unwrap();
    for job in &plan.jobs {
        let read = |dir: &StudyDir| std::fs::read(dir.job(&job.id).join("metamer.npy")).unwrap();
        assert_eq!(read(&inside), read(&outside));
    }
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGKILL of the whole study (runner and job processes, as when a node is lost) mid-run:
/// the next run takes the dead claims over, continues from the checkpoints and ends exactly
/// as uninterrupted runs do.
#[cfg(unix)]
#[test]
fn a_study_killed_mid_run_resumes_exactly() {
    use std::os::unix::process::CommandExt;
    let (plan_path, out, plan, dir) = long_study("killed", 3, &long_plan(1500, 25, "0, 1, 2"));
    let mut child = Command::new(BINARY)
        .args([
            "study",
            "run",
            plan_path.to_str().unwrap(),
            "--quiet",
            "--jobs",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .process_group(0)
        .spawn()
        .unwrap();
    wait_for("two checkpoints", Duration::from_secs(120), || {
        checkpointed(&plan, &dir) >= 2
    });
    let group = format!("-{}", child.id());
    let killed = Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap();
    assert!(killed.success());
    child.wait().unwrap();
    let unfinished = plan
        .jobs
        .iter()
        .filter(|job| dir.status(&job.id).0 != Status::Done)
        .count();
    assert!(unfinished >= 2, "the kill came too late to test anything");

    let output = metamer(&[
        "study",
        "run",
        plan_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--jobs",
        "2",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    for job in &plan.jobs {
        assert_eq!(dir.status(&job.id).0, Status::Done);
        assert_matches_synth_alone(&out, job);
    }
}

/// SIGTERM to the runner alone: it passes the stop on, every running job checkpoints, the
/// runner exits 130 saying how to continue, and continuing gives the uninterrupted result.
#[cfg(unix)]
#[test]
fn a_terminated_study_checkpoints_and_continues() {
    let (plan_path, out, plan, dir) = long_study("terminated", 5, &long_plan(2000, 10, "4, 5"));
    let child = Command::new(BINARY)
        .args(["study", "run", plan_path.to_str().unwrap(), "--jobs", "2"])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Both synthesizing: a job stopped before its first iteration has nothing to save.
    wait_for("both jobs to checkpoint", Duration::from_secs(120), || {
        checkpointed(&plan, &dir) == plan.jobs.len()
    });
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let output = child.wait_with_output().unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{message}");
    assert!(message.contains("run the same command again"), "{message}");
    for job in &plan.jobs {
        assert_eq!(dir.status(&job.id).0, Status::Pending);
        assert!(dir.job(&job.id).join("synthesis.safetensors").exists());
    }
    let output = metamer(&[
        "study",
        "run",
        plan_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    for job in &plan.jobs {
        assert_matches_synth_alone(&out, job);
    }
}

/// Two runners started together on one folder, and shards: each job runs exactly once.
#[test]
fn concurrent_runners_and_shards_share_the_jobs() {
    let folder = temp_dir("concurrent");
    write_image(&folder, "a.npy", 32, 3);
    let plan_path = write_plan(
        &folder,
        "[defaults]\nimage = \"a.npy\"\nmodel = \"gaussian:kernel_size=5\"\nmax-iter = 60\n\
         [grid]\nseed = [0, 1, 2, 3, 4, 5]\n",
    );
    let plan = Plan::load(&plan_path).unwrap();
    let out = folder.join("out");
    let start = |extra: &[&str]| {
        Command::new(BINARY)
            .args(["study", "run", plan_path.to_str().unwrap(), "--jobs", "2"])
            .arg("--out")
            .arg(&out)
            .args(extra)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(&[]), start(&[]));
    let mut ran = Vec::new();
    for child in [first, second] {
        let output = child.wait_with_output().unwrap();
        let message = stderr(&output);
        assert!(output.status.success(), "{message}");
        ran.extend(
            message
                .lines()
                .filter(|line| line.starts_with('['))
                .map(|line| {
                    line.split("] ")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_string()
                }),
        );
    }
    ran.sort();
    let mut ids: Vec<String> = plan.jobs.iter().map(|job| job.id.clone()).collect();
    ids.sort();
    assert_eq!(ran, ids, "every job exactly once");

    // Shards: half and half, in a stable order; the slurm shard reads the array's variables.
    let sharded = folder.join("sharded");
    let shard = |text: &str, env: &[(&str, &str)]| {
        Command::new(BINARY)
            .args([
                "study",
                "run",
                plan_path.to_str().unwrap(),
                "--quiet",
                "--shard",
                text,
            ])
            .arg("--out")
            .arg(&sharded)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    assert!(shard("0/2", &[]).status.success());
    let rows = summary(&sharded);
    let done = rows.values().filter(|r| r["status"] == "done").count();
    assert_eq!(done, 3);
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "8"),
        ("SLURM_ARRAY_TASK_MIN", "7"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    assert!(shard("slurm", &slurm).status.success());
    assert!(summary(&sharded).values().all(|r| r["status"] == "done"));
    for (text, expected) in [("2/2", "--shard must be"), ("slurm", "SLURM_ARRAY_TASK_ID")] {
        let output = shard(text, &[]);
        assert_eq!(output.status.code(), Some(1));
        assert!(stderr(&output).contains(expected), "{}", stderr(&output));
        assert_eq!(stderr(&output).lines().count(), 1);
    }
}
