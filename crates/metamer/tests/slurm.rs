//! `metamer study slurm` against a real single-node Slurm cluster started here: submit a study
//! as a job array, cancel one task mid-run, submit again, and check every job against
//! `metamer synth` run alone.
//!
//! `cargo xtask test` installs Debian's slurmctld, slurmd, slurm-client and munge and sets
//! `METAMER_SLURM_TEST=required`; without that the test skips (with a message) when Slurm is
//! not installed or this is not root.

#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use metamer::io::{Array, Precision, write_npy};
use metamer::study::{Plan, Shard, Status, StudyDir};

const BINARY: &str = env!("CARGO_BIN_EXE_metamer");
/// Ports of our own, so a cluster the machine already runs is left alone.
const CONTROLLER_PORT: u16 = 16817;
const NODE_PORT: u16 = 16818;

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A single-node cluster: munged (if none runs), slurmctld and slurmd, stopped on drop.
struct Cluster {
    folder: PathBuf,
    conf: PathBuf,
    node: String,
    started_munge: bool,
}

impl Cluster {
    /// Why the cluster cannot run here, if it cannot.
    fn unavailable() -> Option<String> {
        for program in [
            "/usr/sbin/slurmctld",
            "/usr/sbin/slurmd",
            "/usr/bin/sbatch",
            "/usr/sbin/munged",
        ] {
            if !Path::new(program).exists() {
                return Some(format!(
                    "{program} is missing (Debian: slurmctld slurmd slurm-client munge)"
                ));
            }
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("the test cluster runs its daemons as root".to_string());
        }
        None
    }

    fn start() -> Self {
        let folder = std::env::temp_dir().join(format!("metamer-slurm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&folder);
        std::fs::create_dir_all(&folder).unwrap();
        let started_munge = ensure_munge();
        let node = command_text(Command::new("hostname").arg("-s"));
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let memory_mb = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(1024, |kb| kb / 1024 * 9 / 10);
        let at = |name: &str| folder.join(name).display().to_string();
        let conf = folder.join("slurm.conf");
        let text = format!(
            "ClusterName=metamer-test\nSlurmctldHost={node}\nSlurmctldPort={CONTROLLER_PORT}\n\
             SlurmdPort={NODE_PORT}\nSlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\n\
             CredType=cred/munge\nStateSaveLocation={}\nSlurmdSpoolDir={}\n\
             SlurmctldPidFile={}\nSlurmdPidFile={}\nSlurmctldLogFile={}\nSlurmdLogFile={}\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
             JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
             JobCompType=jobcomp/filetxt\nJobCompLoc={}\nMpiDefault=none\nReturnToService=2\n\
             MinJobAge=300\nSchedulerType=sched/builtin\nKillWait=10\n\
             NodeName={node} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n",
            at("state"),
            at("spool"),
            at("slurmctld.pid"),
            at("slurmd.pid"),
            at("slurmctld.log"),
            at("slurmd.log"),
            at("jobcomp.log"),
        );
        std::fs::write(&conf, text).unwrap();
        let cluster = Self {
            folder,
            conf,
            node,
            started_munge,
        };
        for daemon in ["/usr/sbin/slurmctld", "/usr/sbin/slurmd"] {
            let output = Command::new(daemon)
                .arg("-f")
                .arg(&cluster.conf)
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{daemon}: {}",
                output_text(&output)
            );
        }
        cluster.wait_for_idle_node();
        cluster
    }

    /// A Slurm client command with this cluster's configuration.
    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("SLURM_CONF", &self.conf);
        command
    }

    fn wait_for_idle_node(&self) {
        let started = Instant::now();
        loop {
            let state = command_text(
                self.client("sinfo")
                    .args(["-h", "-N", "-n", &self.node, "-o", "%T"]),
            );
            if state.starts_with("idle") {
                return;
            }
            if state.starts_with("down") || state.starts_with("drain") {
                let _ = self
                    .client("scontrol")
                    .args(["update", &format!("nodename={}", self.node), "state=resume"])
                    .status();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the node stayed {state:?}; see {}",
                self.folder.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the job (every task of the array) has left the queue.
    fn wait_for_job(&self, job: &str) {
        let started = Instant::now();
        loop {
            let queued = command_text(self.client("squeue").args(["-h", "-j", job]));
            if queued.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "job {job} still queued: {queued}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for pid_file in ["slurmd.pid", "slurmctld.pid"] {
            stop_by_pid_file(&self.folder.join(pid_file));
        }
        if self.started_munge {
            stop_by_pid_file(Path::new("/run/munge/munged.pid"));
        }
    }
}

fn stop_by_pid_file(path: &Path) {
    let pid = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse::<i32>().ok());
    if let Some(pid) = pid {
        // SAFETY: kill(2) on a daemon this test started, named by its own pid file.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

fn command_text(command: &mut Command) -> String {
    command
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn munge_works() -> bool {
    Command::new("sh")
        .args(["-c", "munge -n | unmunge"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts munged as the munge user unless one already answers; whether it started one.
fn ensure_munge() -> bool {
    if munge_works() {
        return false;
    }
    let run = |script: &str| {
        let status = Command::new("sh").args(["-c", script]).status().unwrap();
        assert!(status.success(), "{script}");
    };
    run("mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge");
    run("test -s /etc/munge/munge.key || mungekey --create");
    run("runuser -u munge -- /usr/sbin/munged");
    let started = Instant::now();
    while !munge_works() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "munged did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn submit(cluster: &Cluster, plan: &Path, out: &Path) -> String {
    let output = cluster
        .client(BINARY)
        .args(["study", "slurm"])
        .arg(plan)
        .arg("--out")
        .arg(out)
        .args([
            "--tasks",
            "3",
            "--time",
            "10:00",
            "--sbatch-arg=--job-name=metamer-test",
        ])
        .arg("--submit")
        .output()
        .unwrap();
    let text = output_text(&output);
    assert!(output.status.success(), "{text}");
    let job = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap()
        .to_string();
    assert!(
        job.chars().all(|c| c.is_ascii_digit()),
        "job id {job:?} in {text}"
    );
    job
}

#[test]
fn a_study_runs_as_a_slurm_array_survives_scancel_and_matches_synth() {
    if let Some(reason) = Cluster::unavailable() {
        assert!(
            std::env::var("METAMER_SLURM_TEST").as_deref() != Ok("required"),
            "the Slurm test is required but cannot run: {reason}"
        );
        println!("skipping: {reason}");
        return;
    }
    let cluster = Cluster::start();
    let folder = cluster.folder.join("study");
    std::fs::create_dir_all(&folder).unwrap();
    let values = (0..48 * 48).map(|i| ((i * 3) % 17) as f64 / 17.0).collect();
    let image = Array {
        shape: vec![48, 48],
        values,
        precision: Precision::F32,
    };
    write_npy(folder.join("a.npy"), &image).unwrap();
    let plan_path = folder.join("plan.toml");
    std::fs::write(
        &plan_path,
        "[defaults]\nimage = \"a.npy\"\nmodel = \"gaussian:kernel_size=5\"\nmax-iter = 2000\n\
         checkpoint-every = 25\nstop-criterion = -1\n[grid]\nseed = [0, 1, 2]\n",
    )
    .unwrap();
    let plan = Plan::load(&plan_path).unwrap();
    let out = folder.join("out");
    let dir = StudyDir::new(&out);

    let first = submit(&cluster, &plan_path, &out);
    let script = std::fs::read_to_string(out.join("study.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --array=0-2"), "{script}");
    assert!(
        script.contains("#SBATCH --job-name=metamer-test"),
        "{script}"
    );
    // Task 1's job, cancelled once it has checkpointed.
    let victim = &Shard { index: 1, count: 3 }.select(&plan.jobs)[0];
    let checkpoint = dir.job(&victim.id).join("synthesis.safetensors");
    let started = Instant::now();
    while !checkpoint.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "task 1 never checkpointed; logs in {}",
            out.join("slurm").display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let cancelled = cluster
        .client("scancel")
        .arg(format!("{first}_1"))
        .output()
        .unwrap();
    assert!(cancelled.status.success(), "{}", output_text(&cancelled));
    cluster.wait_for_job(&first);
    assert_ne!(
        dir.status(&victim.id).0,
        Status::Done,
        "the cancelled task finished anyway"
    );
    let done_before = plan
        .jobs
        .iter()
        .filter(|job| dir.status(&job.id).0 == Status::Done)
        .count();
    assert_eq!(done_before, 2, "the other tasks ran to the end");

    // The same study submitted again: finished jobs are skipped, the cancelled one continues.
    let second = submit(&cluster, &plan_path, &out);
    cluster.wait_for_job(&second);
    for job in &plan.jobs {
        assert_eq!(dir.status(&job.id).0, Status::Done, "{}", job.id);
        let alone = folder.join("alone").join(&job.id);
        let output = Command::new(BINARY)
            .args([
                "synth",
                "--quiet",
                "--max-iter",
                "2000",
                "--stop-criterion",
                "-1",
            ])
            .args(["--model", "gaussian:kernel_size=5", "--seed"])
            .arg(job.settings.seed.to_string())
            .arg("--image")
            .arg(job.settings.image.as_ref().unwrap())
            .arg("--out")
            .arg(&alone)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", output_text(&output));
        for file in ["metamer.npy", "history.json"] {
            assert!(
                std::fs::read(dir.job(&job.id).join(file)).unwrap()
                    == std::fs::read(alone.join(file)).unwrap(),
                "{file} of {} differs from `metamer synth` alone",
                job.id
            );
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.matches(",done,").count(), 3, "{summary}");
}
