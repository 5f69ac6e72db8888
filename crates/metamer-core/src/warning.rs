use std::fmt;

/// A non-fatal finding, returned as a value by the call that raised it and also logged.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// plenoptic is mostly tested on 4-D `[batch, channel, height, width]` inputs.
    NotFourDimensional {
        /// The input's shape.
        shape: Vec<usize>,
    },
    /// Values outside [0, 1], the range plenoptic's methods were tested on.
    OutOfRange {
        /// The smallest value.
        min: f64,
        /// The largest value.
        max: f64,
    },
    /// The initial image's shape differs from the target image's.
    InitialImageShape {
        /// The initial image's shape.
        initial: Vec<usize>,
        /// The target image's shape.
        image: Vec<usize>,
    },
    /// Synthesis stopped early because the loss stopped changing.
    Converged {
        /// The last iteration run.
        iteration: usize,
    },
    /// `get_progress` had to use a saved metamer from another iteration than the one asked for.
    SavedIterationMismatch {
        /// The iteration asked for.
        requested: usize,
        /// The iteration of the metamer given instead.
        saved: usize,
    },
    /// A load check failed with `raise_on_checks = false`; the saved value was used.
    LoadCheck(String),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NotFourDimensional { shape } => write!(
                f,
                "plenoptic's methods have mostly been tested on 4d inputs with shape \
                 [n_batch, n_channels, im_height, im_width], but got shape {shape:?}"
            ),
            Warning::OutOfRange { min, max } => write!(
                f,
                "input_tensor range is ({min}, {max}); plenoptic's methods have largely been \
                 tested with the range [0, 1]"
            ),
            Warning::InitialImageShape { initial, image } => write!(
                f,
                "initial_image and image are different sizes! ({initial:?} and {image:?}) \
                 This has not been tested as much"
            ),
            Warning::Converged { iteration } => {
                write!(
                    f,
                    "Loss has converged, stopping synthesis (iteration {iteration})"
                )
            }
            Warning::SavedIterationMismatch { requested, saved } => write!(
                f,
                "loss iteration and iteration for ['saved_metamer'] are not the same \
                 ({requested} and {saved})"
            ),
            Warning::LoadCheck(message) => f.write_str(message),
        }
    }
}

/// Logs `warning` and hands it back, so callers can both record and return it.
pub(crate) fn raise(warning: Warning) -> Warning {
    log::warn!("{warning}");
    warning
}
