//! Figures of a synthesis (plenoptic's `synthesis_status` and the plots it combines).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use burn::tensor::{Tensor, backend::AutodiffBackend};
use metamer_core::{Inner, IterationSelection, Metamer};

use crate::error::invalid;
use crate::figure::{Cell, Content, Figure, PanelKind};
use crate::imshow::{ImageBatch, ValueRange};
use crate::{PlotWarning, Result};

mod content;

pub(crate) use content::representation_content;
pub use content::{histogram, histogram_bins};
use content::{histogram_content, imshow_content, loss_content};

/// The plots `synthesis_status` can combine, by plenoptic's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlotName {
    /// The metamer image.
    SynthesisImshow,
    /// The loss over iterations.
    SynthesisLoss,
    /// The representation error at the selected iteration.
    MetamerRepresentationError,
    /// Histograms of metamer and target pixels.
    SynthesisHistogram,
    /// A panel left empty for the caller.
    Misc,
}

impl PlotName {
    /// The plots in the order they are laid out.
    pub const ALL: [PlotName; 4] = [
        PlotName::SynthesisImshow,
        PlotName::SynthesisLoss,
        PlotName::MetamerRepresentationError,
        PlotName::SynthesisHistogram,
    ];

    /// plenoptic's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlotName::SynthesisImshow => "synthesis_imshow",
            PlotName::SynthesisLoss => "synthesis_loss",
            PlotName::MetamerRepresentationError => "metamer_representation_error",
            PlotName::SynthesisHistogram => "synthesis_histogram",
            PlotName::Misc => "misc",
        }
    }

    /// Parses a list of plot names given as the argument `argument`, with plenoptic's error.
    ///
    /// # Errors
    /// When a name is not a plot's, with plenoptic's message.
    pub fn parse_list<S: AsRef<str>>(argument: &str, names: &[S]) -> Result<Vec<PlotName>> {
        let unknown: Vec<String> = names
            .iter()
            .map(AsRef::as_ref)
            .filter(|n| n.parse::<PlotName>().is_err())
            .map(|n| format!("'{n}'"))
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "{argument} contained value(s) [{}]! For Metamer only [{}] are permissible!",
                unknown.join(", "),
                PlotName::ALL
                    .iter()
                    .chain([&PlotName::Misc])
                    .map(|p| format!("'{p}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(names
            .iter()
            .map(|n| n.as_ref().parse().expect("checked above"))
            .collect())
    }

    fn kind(self) -> PanelKind {
        match self {
            PlotName::SynthesisImshow => PanelKind::Image,
            PlotName::SynthesisLoss => PanelKind::Loss,
            PlotName::MetamerRepresentationError => PanelKind::RepresentationError,
            PlotName::SynthesisHistogram => PanelKind::Histogram,
            PlotName::Misc => PanelKind::Misc,
        }
    }
}

impl fmt::Display for PlotName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlotName {
    type Err = crate::PlotError;

    fn from_str(text: &str) -> Result<Self> {
        PlotName::ALL
            .iter()
            .chain([&PlotName::Misc])
            .find(|p| p.as_str() == text)
            .copied()
            .ok_or_else(|| invalid(format!("unknown plot {text:?}")))
    }
}

/// Which image and iteration the plots show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// The batch element shown.
    pub batch_idx: usize,
    /// `None` shows every channel (as RGB when there are several).
    pub channel_idx: Option<usize>,
    /// `None` is the current state; negative values count from the end.
    pub iteration: Option<i64>,
}

/// Changes an image before it is shown (plenoptic's `process_image`).
pub type ProcessImage = Arc<dyn Fn(ImageBatch) -> ImageBatch + Send + Sync>;

/// Options of the metamer image panel.
#[derive(Clone, Default)]
pub struct ImshowPanel {
    /// `None` fits the image to the panel with the largest integer zoom (at least 1).
    pub zoom: Option<u32>,
    /// How values map to grey levels or colours.
    pub vrange: ValueRange,
    /// Replaces the default `Metamer[b] [iteration=i]`.
    pub title: Option<String>,
    /// Applied to the image before it is shown.
    pub process_image: Option<ProcessImage>,
}

/// Options of the loss panel.
#[derive(Clone, Copy, Debug, Default)]
pub struct LossPanel {
    /// Adds the penalty curve and a legend.
    pub plot_penalties: bool,
}

/// The y range of stem plots (plenoptic's `ylim`: `None`, `False` or a pair).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Ylim {
    /// ±max |error| over the panel.
    #[default]
    Symmetric,
    /// Each plot's own data range.
    Data,
    /// `(bottom, top)` for every plot.
    Fixed(f64, f64),
}

/// Options of the representation-error panel.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepresentationPanel {
    /// The y range of the stem plots.
    pub ylim: Ylim,
}

/// The x range of the histogram panel (plenoptic's `xlim`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Xlim {
    /// Minimum to maximum over all plotted values.
    #[default]
    Range,
    /// `(left, right)`.
    Fixed(f64, f64),
}

/// Options of the histogram panel.
#[derive(Clone, Copy, Debug)]
pub struct HistogramPanel {
    /// One histogram per batch element instead of the selected one (plenoptic's
    /// `batch_idx=None`).
    pub all_batches: bool,
    /// `(bottom, top)`; `None` fits the counts.
    pub ylim: Option<(f64, f64)>,
    /// The x range.
    pub xlim: Xlim,
    /// Opacity of the bars.
    pub alpha: f64,
}

impl Default for HistogramPanel {
    fn default() -> Self {
        Self {
            all_batches: false,
            ylim: None,
            xlim: Xlim::Range,
            alpha: 0.4,
        }
    }
}

/// plenoptic's `synthesis_status` options. `panels` with `axes_idx` describe a figure with
/// panels of the caller's (plenoptic's `fig`): plots go to their `axes_idx` entry or the
/// smallest free panel, the rest stay empty (`Misc`) for [`Figure::place`].
#[derive(Clone)]
pub struct StatusOptions {
    /// Which image and iteration the plots show.
    pub selection: Selection,
    /// The plots to draw, from [`PlotName::ALL`].
    pub included_plots: Vec<PlotName>,
    /// The caller's number of panels; `None` makes one per plot.
    pub panels: Option<usize>,
    /// Which panel each plot goes to.
    pub axes_idx: Vec<(PlotName, usize)>,
    /// Relative panel widths; unlisted plots get 1.
    pub width_ratios: Vec<(PlotName, f64)>,
    /// Options of the image panel.
    pub imshow: ImshowPanel,
    /// Options of the loss panel.
    pub loss: LossPanel,
    /// Options of the representation-error panel.
    pub representation: RepresentationPanel,
    /// Options of the histogram panel.
    pub histogram: HistogramPanel,
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self {
            selection: Selection::default(),
            included_plots: vec![
                PlotName::SynthesisImshow,
                PlotName::SynthesisLoss,
                PlotName::MetamerRepresentationError,
            ],
            panels: None,
            axes_idx: Vec::new(),
            width_ratios: Vec::new(),
            imshow: ImshowPanel::default(),
            loss: LossPanel::default(),
            representation: RepresentationPanel::default(),
            histogram: HistogramPanel::default(),
        }
    }
}

/// What a status figure shows at one iteration.
pub(crate) struct View<B: AutodiffBackend> {
    /// The metamer shown by the image, representation and histogram panels.
    pub image: Tensor<Inner<B>, 4>,
    /// The iteration that image is from (in titles).
    pub image_iteration: usize,
    /// The iteration marked on the loss curve.
    pub loss_iteration: usize,
    /// Leaves the `range` line out of image titles (it changes from frame to frame).
    pub without_range: bool,
    /// How the stem plots get their y range (animations keep one between rescales).
    pub stem_range: StemRange,
}

/// Where the representation error's stem plots take their y range from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum StemRange {
    /// From the panel's own [`Ylim`] rule.
    Own,
    /// Computed afresh by the panel's rule and shared by every stem plot (an animation's
    /// rescale).
    Renew,
    /// A range kept from an earlier frame.
    Keep((f64, f64)),
}

impl<B: AutodiffBackend> View<B> {
    /// plenoptic's choice of image: the saved metamer nearest `iteration` when progress was
    /// stored, else the current metamer (and then `iteration` must be `None`).
    pub fn at(met: &Metamer<B>, iteration: Option<i64>) -> Result<(Self, Vec<PlotWarning>)> {
        let current = met
            .metamer()
            .ok_or_else(|| invalid("the synthesis has no metamer yet; run setup or synthesize"))?;
        let progress = met.get_progress(iteration, IterationSelection::Round)?;
        let warnings = progress
            .warning
            .clone()
            .map(PlotWarning::Synthesis)
            .into_iter()
            .collect();
        let (image, image_iteration) = match (progress.saved_metamer, met.store_progress()) {
            (Some(saved), Some(every)) if every > 0 => (
                saved,
                progress
                    .store_progress_iteration
                    .unwrap_or(progress.iteration),
            ),
            _ => {
                if iteration.is_some() {
                    return Err(invalid(
                        "When synthesis_object.store_progress=False, iteration must be None!",
                    ));
                }
                (current.clone(), progress.iteration)
            }
        };
        Ok((
            Self {
                image,
                image_iteration,
                loss_iteration: progress.iteration,
                without_range: false,
                stem_range: StemRange::Own,
            },
            warnings,
        ))
    }
}

/// The metamer at the selected iteration.
///
/// # Errors
/// When the iteration or image index does not exist.
pub fn synthesis_imshow<B: AutodiffBackend>(
    met: &Metamer<B>,
    selection: &Selection,
    panel: &ImshowPanel,
) -> Result<Figure> {
    let (view, warnings) = View::at(met, selection.iteration)?;
    single(
        PanelKind::Image,
        imshow_content(&view, selection, panel)?,
        warnings,
    )
}

/// The metamer loss (loss − λ·penalty) per iteration on a log axis, with the selected
/// iteration marked.
///
/// # Errors
/// When the iteration does not exist.
pub fn synthesis_loss<B: AutodiffBackend>(
    met: &Metamer<B>,
    iteration: Option<i64>,
    panel: &LossPanel,
) -> Result<Figure> {
    let progress = met.get_progress(iteration, IterationSelection::Round)?;
    single(
        PanelKind::Loss,
        loss_content(met, progress.iteration, panel)?,
        Vec::new(),
    )
}

/// The model's representation of the metamer minus the target representation.
///
/// # Errors
/// When the iteration does not exist or the model fails on the saved metamer.
pub fn metamer_representation_error<B: AutodiffBackend>(
    met: &Metamer<B>,
    selection: &Selection,
    panel: &RepresentationPanel,
) -> Result<Figure> {
    let (view, warnings) = View::at(met, selection.iteration)?;
    let (content, _) = representation_content(met, &view, selection, panel)?;
    single(PanelKind::RepresentationError, content, warnings)
}

/// Histograms of the metamer's and the target's pixel values.
///
/// # Errors
/// When the iteration or image index does not exist.
pub fn synthesis_histogram<B: AutodiffBackend>(
    met: &Metamer<B>,
    selection: &Selection,
    panel: &HistogramPanel,
) -> Result<Figure> {
    let (view, warnings) = View::at(met, selection.iteration)?;
    single(
        PanelKind::Histogram,
        histogram_content(met, &view, selection, panel)?,
        warnings,
    )
}

/// The chosen plots side by side at one iteration (plenoptic's `synthesis_status`).
///
/// # Errors
/// When an option is one plenoptic refuses (with its message), or a plot cannot be made.
pub fn synthesis_status<B: AutodiffBackend>(
    met: &Metamer<B>,
    options: &StatusOptions,
) -> Result<Figure> {
    let (view, warnings) = View::at(met, options.selection.iteration)?;
    let (mut figure, _) = status_figure(met, options, &view)?;
    figure.warnings.extend(warnings);
    Ok(figure)
}

fn single(kind: PanelKind, content: Content, warnings: Vec<PlotWarning>) -> Result<Figure> {
    let mut figure = Figure::new(
        vec![Cell {
            kind,
            content,
            width_ratio: 1.0,
        }],
        1,
    );
    figure.warnings = warnings;
    Ok(figure)
}

/// Panel index of every included plot, with plenoptic's checks and free-slot rule.
pub(crate) fn assign_panels(options: &StatusOptions) -> Result<(usize, Vec<(PlotName, usize)>)> {
    let included: HashSet<PlotName> = options.included_plots.iter().copied().collect();
    let names = |plots: &mut dyn Iterator<Item = PlotName>| {
        plots
            .map(|p| format!("'{p}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let included_list = names(&mut options.included_plots.iter().copied());
    if options
        .width_ratios
        .iter()
        .any(|(p, _)| !included.contains(p))
    {
        return Err(invalid(format!(
            "width_ratios contains keys referencing plots not included in included_plots! \
             width_ratios keys: [{}], included_plots: [{included_list}]",
            names(&mut options.width_ratios.iter().map(|(p, _)| *p))
        )));
    }
    if let Some((_, ratio)) = options
        .width_ratios
        .iter()
        .find(|(_, r)| !(r.is_finite() && *r > 0.0))
    {
        return Err(invalid(format!(
            "width ratios must be positive, got {ratio}"
        )));
    }
    if options
        .axes_idx
        .iter()
        .any(|(p, _)| *p != PlotName::Misc && !included.contains(p))
    {
        return Err(invalid(format!(
            "axes_idx contains keys referencing plots not included in included_plots! \
             axes_idx keys: [{}], included_plots: [{included_list}]",
            names(&mut options.axes_idx.iter().map(|(p, _)| *p))
        )));
    }
    let mut taken: Vec<usize> = Vec::new();
    let mut assigned = Vec::new();
    for (plot, index) in &options.axes_idx {
        if taken.contains(index) {
            return Err(invalid(format!(
                "axes_idx puts two plots into panel {index}"
            )));
        }
        taken.push(*index);
        assigned.push((*plot, *index));
    }
    let mut extra_misc = 0;
    for plot in PlotName::ALL.iter().chain([&PlotName::Misc]) {
        let count = options.included_plots.iter().filter(|p| *p == plot).count();
        if *plot == PlotName::Misc {
            extra_misc += count;
            continue;
        }
        if count > 0 && !options.axes_idx.iter().any(|(p, _)| p == plot) {
            let free = (0..).find(|i| !taken.contains(i)).expect("a free index");
            taken.push(free);
            assigned.push((*plot, free));
        }
    }
    let needed = taken.iter().max().map_or(0, |m| m + 1);
    let panels = options.panels.unwrap_or(needed + extra_misc);
    if needed > panels {
        return Err(invalid(format!(
            "a figure of {panels} panels has no panel {}",
            needed - 1
        )));
    }
    Ok((panels, assigned))
}

/// The status figure for `view`, and the stem y range its representation-error panel used
/// (`None` without that panel or for image-like representations).
pub(crate) fn status_figure<B: AutodiffBackend>(
    met: &Metamer<B>,
    options: &StatusOptions,
    view: &View<B>,
) -> Result<(Figure, Option<(f64, f64)>)> {
    let (count, assigned) = assign_panels(options)?;
    let mut cells: Vec<Cell> = (0..count)
        .map(|_| Cell {
            kind: PanelKind::Misc,
            content: Content::Empty,
            width_ratio: 1.0,
        })
        .collect();
    let selection = &options.selection;
    let mut stem_range = None;
    for (plot, index) in assigned {
        let content = match plot {
            PlotName::SynthesisImshow => imshow_content(view, selection, &options.imshow)?,
            PlotName::SynthesisLoss => loss_content(met, view.loss_iteration, &options.loss)?,
            PlotName::MetamerRepresentationError => {
                let (content, used) =
                    representation_content(met, view, selection, &options.representation)?;
                stem_range = used;
                content
            }
            PlotName::SynthesisHistogram => {
                histogram_content(met, view, selection, &options.histogram)?
            }
            PlotName::Misc => Content::Empty,
        };
        let width_ratio = options
            .width_ratios
            .iter()
            .find(|(p, _)| *p == plot)
            .map_or(1.0, |(_, r)| *r);
        cells[index] = Cell {
            kind: plot.kind(),
            content,
            width_ratio,
        };
    }
    Ok((Figure::new(cells, count.max(1)), stem_range))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(options: StatusOptions) -> Result<(usize, Vec<(PlotName, usize)>)> {
        assign_panels(&options)
    }

    #[test]
    fn panels_take_the_smallest_free_index() {
        let (count, assigned) = status(StatusOptions {
            panels: Some(4),
            axes_idx: vec![(PlotName::Misc, 0)],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(count, 4);
        assert_eq!(
            assigned,
            vec![
                (PlotName::Misc, 0),
                (PlotName::SynthesisImshow, 1),
                (PlotName::SynthesisLoss, 2),
                (PlotName::MetamerRepresentationError, 3)
            ]
        );
        let (count, _) = status(StatusOptions::default()).unwrap();
        assert_eq!(count, 3);
    }

    #[test]
    fn inconsistent_layouts_are_refused() {
        let error = status(StatusOptions {
            width_ratios: vec![(PlotName::SynthesisHistogram, 2.0)],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("width_ratios contains keys referencing plots not included"),
            "{error}"
        );
        let error = status(StatusOptions {
            axes_idx: vec![(PlotName::SynthesisHistogram, 0)],
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("axes_idx contains keys referencing plots not included"),
            "{error}"
        );
        let error =
            PlotName::parse_list("included_plots", &["synthesis_imshow", "plot_loss"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "included_plots contained value(s) ['plot_loss']! For Metamer only \
             ['synthesis_imshow', 'synthesis_loss', 'metamer_representation_error', \
             'synthesis_histogram', 'misc'] are permissible!"
        );
        assert!(
            status(StatusOptions {
                panels: Some(2),
                ..Default::default()
            })
            .is_err()
        );
    }
}
