//! `contact_sheet.png`: every finished metamer beside its target, one row per value of the
//! first varying option (the image, when images vary), one column per combination of the
//! others, each panel labelled.

use super::StudyError;
use super::plan::{Job, Plan};
use super::state::{Status, StudyDir};
use crate::io::read_npy;
use crate::plot::{ImageBatch, ImshowOptions, Titles, imshow_batches};
use crate::synthesis::load_target;

/// Draws the contact sheet of the jobs finished so far; writes nothing when none is.
///
/// # Errors
/// An image cannot be read, or the figure cannot be drawn or written.
pub fn write(plan: &Plan, dir: &StudyDir) -> Result<(), StudyError> {
    let statuses: Vec<Status> = plan.jobs.iter().map(|job| dir.status(&job.id).0).collect();
    if !statuses.contains(&Status::Done) {
        return Ok(());
    }
    let row_key = if plan.varying.iter().any(|k| k == "image") {
        Some("image".to_string())
    } else {
        plan.varying.first().cloned()
    };
    let column_keys: Vec<String> = plan
        .varying
        .iter()
        .filter(|key| Some(*key) != row_key.as_ref())
        .cloned()
        .collect();
    let row_of = |job: &Job| {
        row_key
            .as_ref()
            .map(|key| job.shown(key))
            .unwrap_or_default()
    };
    // Each job's place in the grid, and its status, worked out once.
    let places: Vec<(String, String)> = plan
        .jobs
        .iter()
        .map(|job| (row_of(job), job.label(&column_keys)))
        .collect();
    let rows = distinct(places.iter().map(|(row, _)| row.clone()));
    let columns = distinct(places.iter().map(|(_, column)| column.clone()));

    let mut panels = Vec::new();
    let mut titles = Vec::new();
    for row in &rows {
        let first = places
            .iter()
            .position(|(r, _)| r == row)
            .map(|index| &plan.jobs[index])
            .expect("every row comes from a job");
        panels.push(first_plane(&load_target(&first.settings)?)?);
        titles.push(match &row_key {
            Some(key) => format!("target {key}={row}"),
            None => "target".to_string(),
        });
        for column in &columns {
            let index = places.iter().position(|(r, c)| r == row && c == column);
            let job = index.map(|index| &plan.jobs[index]);
            let status = index.map(|index| statuses[index]);
            let label = if column.is_empty() {
                "metamer".to_string()
            } else {
                column.clone()
            };
            match (job, status) {
                (Some(job), Some(Status::Done)) => {
                    let metamer = read_npy(dir.job(&job.id).join("metamer.npy"))?;
                    panels.push(first_plane(&metamer)?);
                    titles.push(label);
                }
                (_, status) => {
                    panels.push(ImageBatch::new([1, 1, 1, 1], vec![0.5])?);
                    // A combination the plan does not have stays unlabelled.
                    titles
                        .push(status.map_or(String::new(), |s| format!("{label} ({})", s.name())));
                }
            }
        }
    }
    let options = ImshowOptions {
        title: Titles::Each(titles),
        col_wrap: Some(columns.len() + 1),
        ..Default::default()
    };
    imshow_batches(&panels, &options)?.save(dir.contact_sheet())?;
    Ok(())
}

/// The first channel of the first batch element: one panel per job.
fn first_plane(array: &crate::io::Array) -> Result<ImageBatch, StudyError> {
    let shape = &array.shape;
    let (height, width) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let values = array.values[..height * width].to_vec();
    Ok(ImageBatch::new([1, 1, height, width], values)?)
}

fn distinct(values: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(&value) {
            seen.push(value);
        }
    }
    seen
}
