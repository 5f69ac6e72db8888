//! `study.sbatch`: a Slurm job array whose tasks each run their shard of the study.

use std::fmt::Write;
use std::path::Path;

/// The resources and placement of the array.
#[derive(Clone, Debug, Default)]
pub struct SlurmOptions {
    /// Array tasks (default: one per job).
    pub tasks: Option<usize>,
    /// `--time`, e.g. `2:00:00`.
    pub time: Option<String>,
    /// `--mem`, e.g. `4G`.
    pub mem: Option<String>,
    /// `--partition`.
    pub partition: Option<String>,
    /// Further `#SBATCH` arguments, as written, e.g. `--account=lab`.
    pub extra: Vec<String>,
}

/// The batch script for `jobs` jobs: each task runs `PROGRAM study run PLAN --out DIR --shard
/// slurm --jobs 1` on one core, and logs to `DIR/slurm/`. Paths should be absolute.
pub fn script(
    program: &Path,
    plan: &Path,
    dir: &Path,
    jobs: usize,
    options: &SlurmOptions,
) -> String {
    let tasks = options.tasks.unwrap_or(jobs).clamp(1, jobs.max(1));
    let mut text = String::from("#!/bin/bash\n");
    let mut directive = |line: String| {
        let _ = writeln!(text, "#SBATCH {line}");
    };
    directive("--job-name=metamer-study".to_string());
    directive(format!("--array=0-{}", tasks - 1));
    directive("--ntasks=1".to_string());
    directive("--cpus-per-task=1".to_string());
    directive(format!(
        "--output={}",
        dir.join("slurm").join("%A_%a.out").display()
    ));
    if let Some(time) = &options.time {
        directive(format!("--time={time}"));
    }
    if let Some(mem) = &options.mem {
        directive(format!("--mem={mem}"));
    }
    if let Some(partition) = &options.partition {
        directive(format!("--partition={partition}"));
    }
    for extra in &options.extra {
        directive(extra.clone());
    }
    let _ = write!(
        text,
        "\n# Each task runs its share of the jobs; finished jobs are skipped and interrupted ones\n\
         # continue from their checkpoints, so the same script can simply be submitted again.\n\
         exec {} study run {} --out {} --shard slurm --jobs 1\n",
        quote(program),
        quote(plan),
        quote(dir)
    );
    text
}

/// A path as one shell word.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_names_the_array_resources_and_command() {
        let options = SlurmOptions {
            tasks: Some(10),
            time: Some("1:00:00".to_string()),
            mem: Some("2G".to_string()),
            partition: Some("gpu".to_string()),
            extra: vec!["--account=lab".to_string()],
        };
        let text = script(
            Path::new("/bin/metamer"),
            Path::new("/p/plan's.toml"),
            Path::new("/out"),
            4,
            &options,
        );
        for line in [
            "#SBATCH --array=0-3\n",
            "#SBATCH --time=1:00:00\n",
            "#SBATCH --mem=2G\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --account=lab\n",
            "#SBATCH --output=/out/slurm/%A_%a.out\n",
            "exec '/bin/metamer' study run '/p/plan'\\''s.toml' --out '/out' --shard slurm --jobs 1\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }
}
