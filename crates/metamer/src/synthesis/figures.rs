//! The figures a synthesis writes beside its results.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;

use crate::Metamer;
use crate::plot::{
    AnimateOptions, PlotError, PlotWarning, StatusOptions, synthesis_animate, synthesis_status,
};

/// Which figures to write where.
pub struct Figures {
    /// The `synthesis_status` figure.
    pub status: Option<PathBuf>,
    /// The `synthesis_animate` animation.
    pub animation: Option<PathBuf>,
}

impl Figures {
    /// Writes the status figure and the animation; returns the warnings raised.
    ///
    /// # Errors
    /// A figure could not be drawn or written.
    pub fn write<B: AutodiffBackend>(
        &self,
        met: &Metamer<B>,
        options: &StatusOptions,
    ) -> Result<Vec<PlotWarning>, PlotError> {
        let mut warnings = Vec::new();
        if let Some(path) = &self.status {
            let figure = synthesis_status(met, options)?;
            warnings.extend(figure.warnings().iter().cloned());
            figure.save(path)?;
        }
        if let Some(path) = &self.animation {
            let animation = synthesis_animate(
                met,
                &AnimateOptions {
                    status: options.clone(),
                    ..Default::default()
                },
            )?;
            warnings.extend(animation.warnings().iter().cloned());
            animation.save(path)?;
        }
        Ok(warnings)
    }
}
