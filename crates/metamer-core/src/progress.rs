use burn::tensor::{Tensor, backend::Backend};

use crate::{MetamerError, Result, Warning, warning::raise};

/// How `get_progress` picks a saved metamer when the requested iteration was not stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IterationSelection {
    /// The closest saved iteration before.
    Floor,
    /// The closest saved iteration after.
    Ceiling,
    /// The closest saved iteration, ties to even (Python's `round`).
    #[default]
    Round,
}

impl std::str::FromStr for IterationSelection {
    type Err = MetamerError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "floor" => Ok(Self::Floor),
            "ceiling" => Ok(Self::Ceiling),
            "round" => Ok(Self::Round),
            other => Err(MetamerError::InvalidOption {
                name: "iteration_selection",
                requirement: "one of floor, ceiling, round",
                value: other.to_string(),
            }),
        }
    }
}

/// The state of a synthesis at one iteration (plenoptic's `get_progress` dictionary).
#[derive(Clone, Debug)]
pub struct Progress<B: Backend, const D: usize> {
    /// The objective at the iteration.
    pub losses: f64,
    /// The iteration (0-based).
    pub iteration: usize,
    /// The penalty at the iteration.
    pub penalties: f64,
    /// `None` for the current state, which has no step after it yet.
    pub pixel_change_norm: Option<f64>,
    /// `None` for the current state, which has no gradient recorded yet.
    pub gradient_norm: Option<f64>,
    /// Present only when synthesis stored progress.
    pub saved_metamer: Option<Tensor<B, D>>,
    /// The iteration the saved metamer is from.
    pub store_progress_iteration: Option<usize>,
    /// Set when the saved metamer is from another iteration than the one asked for.
    pub warning: Option<Warning>,
}

impl<B: Backend, const D: usize> Progress<B, D> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn select(
        iteration: Option<i64>,
        selection: IterationSelection,
        losses: &[f64],
        penalties: &[f64],
        gradient_norm: &[f64],
        pixel_change_norm: &[f64],
        store_progress: usize,
        saved: &[Tensor<B, D>],
    ) -> Result<Self> {
        let len = losses.len();
        let requested = iteration.unwrap_or(len as i64 - 1);
        let it = if requested < 0 {
            len as i64 + requested
        } else {
            requested
        };
        if it < 0 || it >= len as i64 {
            return Err(MetamerError::IterationOutOfBounds {
                iteration: iteration.unwrap_or(-1),
                len,
            });
        }
        let it = it as usize;
        let is_current = it == len - 1;
        let mut progress = Self {
            losses: losses[it],
            iteration: it,
            penalties: penalties[it],
            pixel_change_norm: (!is_current).then(|| pixel_change_norm[it]),
            gradient_norm: (!is_current).then(|| gradient_norm[it]),
            saved_metamer: None,
            store_progress_iteration: None,
            warning: None,
        };
        if store_progress > 0 {
            let (index, saved_iteration) = match iteration {
                None => (saved.len() - 1, it),
                Some(_) => {
                    let index = saved_index(it, store_progress, selection);
                    (index, (index * store_progress).min(len - 1))
                }
            };
            progress.saved_metamer = Some(saved[index].clone());
            progress.store_progress_iteration = Some(saved_iteration);
            if saved_iteration != it {
                progress.warning = Some(raise(Warning::SavedIterationMismatch {
                    requested: it,
                    saved: saved_iteration,
                }));
            }
        }
        Ok(progress)
    }
}

/// Index into the saved metamers for `iteration`, stored every `every` iterations.
pub fn saved_index(iteration: usize, every: usize, selection: IterationSelection) -> usize {
    let (quotient, remainder) = (iteration / every, iteration % every);
    match selection {
        IterationSelection::Floor => quotient,
        IterationSelection::Ceiling => quotient + usize::from(remainder > 0),
        IterationSelection::Round => {
            let twice = 2 * remainder;
            if twice > every || (twice == every && quotient % 2 == 1) {
                quotient + 1
            } else {
                quotient
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_is_half_to_even() {
        // Python: round(0.5) = 0, round(1.5) = 2, round(2.5) = 2, round(1.4) = 1
        assert_eq!(saved_index(1, 2, IterationSelection::Round), 0);
        assert_eq!(saved_index(3, 2, IterationSelection::Round), 2);
        assert_eq!(saved_index(5, 2, IterationSelection::Round), 2);
        assert_eq!(saved_index(7, 5, IterationSelection::Round), 1);
        assert_eq!(saved_index(8, 5, IterationSelection::Round), 2);
        assert_eq!(saved_index(3, 2, IterationSelection::Floor), 1);
        assert_eq!(saved_index(3, 2, IterationSelection::Ceiling), 2);
        assert_eq!(saved_index(4, 2, IterationSelection::Ceiling), 2);
    }
}
