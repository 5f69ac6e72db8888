//! `summary.csv`: one row per job of the plan, rewritten atomically as jobs end.

use std::fmt::Write;

use super::StudyError;
use super::plan::Plan;
use super::state::{JobResult, Status, StudyDir};

/// The table as text: `id,status,<varying options>,iterations,loss,seconds,error`.
pub fn table(plan: &Plan, dir: &StudyDir) -> String {
    let mut header = vec!["id".to_string(), "status".to_string()];
    header.extend(plan.varying.iter().cloned());
    header.extend(["iterations", "loss", "seconds", "error"].map(String::from));
    let mut text = csv_line(&header);
    for job in &plan.jobs {
        let (status, result) = dir.status(&job.id);
        let mut row = vec![job.id.clone(), status.name().to_string()];
        row.extend(plan.varying.iter().map(|key| job.shown(key)));
        let JobResult {
            iterations,
            loss,
            seconds,
            error,
            ..
        } = result.unwrap_or(JobResult {
            status,
            iterations: None,
            loss: None,
            seconds: f64::NAN,
            error: None,
        });
        row.push(iterations.map_or(String::new(), |n| n.to_string()));
        row.push(loss.map_or(String::new(), |l| l.to_string()));
        row.push(if seconds.is_nan() {
            String::new()
        } else {
            format!("{seconds:.3}")
        });
        row.push(error.unwrap_or_default());
        text.push_str(&csv_line(&row));
    }
    text
}

/// Rewrites `DIR/summary.csv`.
///
/// # Errors
/// It cannot be written.
pub fn write(plan: &Plan, dir: &StudyDir) -> Result<(), StudyError> {
    Ok(crate::io::write_atomically(
        &dir.summary(),
        table(plan, dir).as_bytes(),
    )?)
}

/// Counts by status and the failed jobs' errors, as `metamer study status` prints them.
pub fn status_report(plan: &Plan, dir: &StudyDir) -> String {
    let mut counts = [0usize; 4];
    let mut failures = String::new();
    for job in &plan.jobs {
        let (status, result) = dir.status(&job.id);
        counts[status as usize] += 1;
        if status == Status::Failed {
            let error = result.and_then(|r| r.error).unwrap_or_default();
            let _ = writeln!(
                failures,
                "failed {} ({}): {error}",
                job.id,
                job.label(&plan.varying)
            );
        }
    }
    let [done, failed, running, pending] = counts;
    format!(
        "{} jobs: {done} done, {failed} failed, {running} running, {pending} pending\n{failures}",
        plan.jobs.len()
    )
}

fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|field| {
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_or_quotes_are_quoted() {
        let line = csv_line(&[
            "a".to_string(),
            "gaussian:kernel_size=5,std=1".to_string(),
            "say \"hi\"".to_string(),
        ]);
        assert_eq!(
            line,
            "a,\"gaussian:kernel_size=5,std=1\",\"say \"\"hi\"\"\"\n"
        );
    }
}
