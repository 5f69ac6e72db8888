//! Figures of a synthesis (plenoptic's `synthesis_status` and the plots it combines).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use burn::tensor::{Tensor, backend::AutodiffBackend};
use metamer_core::{Inner, IterationSelection, Metamer, tensor::to_f64};

use crate::colour::Colormap;
use crate::error::invalid;
use crate::figure::{
    Cell, Content, Figure, HistogramChart, HistogramSeries, LINE, LossChart, PanelKind, StemChart,
    UNIT,
};
use crate::imshow::{
    ImageBatch, RangeRule, Slice, ValueRange, check_index, image_panels, percentile,
};
use crate::{PlotWarning, Result};

/// The plots `synthesis_status` can combine, by plenoptic's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlotName {
    SynthesisImshow,
    SynthesisLoss,
    MetamerRepresentationError,
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
    pub vrange: ValueRange,
    /// Replaces the default `Metamer[b] [iteration=i]`.
    pub title: Option<String>,
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
    Fixed(f64, f64),
}

/// Options of the representation-error panel.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepresentationPanel {
    pub ylim: Ylim,
}

/// The x range of the histogram panel (plenoptic's `xlim`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Xlim {
    /// Minimum to maximum over all plotted values.
    #[default]
    Range,
    Fixed(f64, f64),
}

/// Options of the histogram panel.
#[derive(Clone, Copy, Debug)]
pub struct HistogramPanel {
    /// One histogram per batch element instead of the selected one (plenoptic's
    /// `batch_idx=None`).
    pub all_batches: bool,
    pub ylim: Option<(f64, f64)>,
    pub xlim: Xlim,
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
    pub selection: Selection,
    pub included_plots: Vec<PlotName>,
    pub panels: Option<usize>,
    pub axes_idx: Vec<(PlotName, usize)>,
    pub width_ratios: Vec<(PlotName, f64)>,
    pub imshow: ImshowPanel,
    pub loss: LossPanel,
    pub representation: RepresentationPanel,
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

/// The largest integer zoom showing `height × width` within a panel (at least 1).
fn fitting_zoom(height: usize, width: usize, space: u32) -> u32 {
    (space / height.max(width).max(1) as u32).max(1)
}

/// Pixel space for an image inside a plot-sized panel, after margins and three title lines.
const IMAGE_SPACE: u32 = UNIT - 4 * LINE - 40;

fn imshow_content<B: AutodiffBackend>(
    view: &View<B>,
    selection: &Selection,
    panel: &ImshowPanel,
) -> Result<Content> {
    let mut image = ImageBatch::from_tensor(view.image.clone());
    if let Some(process) = &panel.process_image {
        let shape = image.shape;
        image = process(image);
        if image.shape != shape || image.values.len() != shape.iter().product::<usize>() {
            return Err(invalid(format!(
                "process_image must keep the image shape {shape:?}, returned {:?}",
                image.shape
            )));
        }
    }
    let [batches, channels, height, width] = image.shape;
    check_index(selection.batch_idx, batches, 0)?;
    let as_rgb = selection.channel_idx.is_none() && channels > 1;
    let slice = if as_rgb {
        if channels != 3 && channels != 4 {
            return Err(invalid(
                "If as_rgb is True, then channel must have 3 or 4 elements!",
            ));
        }
        Slice {
            values: image.element(selection.batch_idx),
            channels,
            height,
            width,
        }
    } else {
        let channel = selection.channel_idx.unwrap_or(0);
        check_index(channel, channels, 1)?;
        Slice {
            values: image.plane(selection.batch_idx, channel),
            channels: 1,
            height,
            width,
        }
    };
    let title = panel.title.clone().unwrap_or_else(|| {
        format!(
            "Metamer[{}] [iteration={}]",
            selection.batch_idx, view.image_iteration
        )
    });
    let zoom = panel
        .zoom
        .unwrap_or_else(|| fitting_zoom(height, width, IMAGE_SPACE));
    if zoom == 0 {
        return Err(invalid("zoom must be positive!"));
    }
    let mut content = image_panels(&[slice], panel.vrange, zoom, None, Some(&[title]))?
        .pop()
        .expect("one panel");
    if view.without_range {
        content.title.retain(|line| !line.starts_with("range:"));
    }
    Ok(Content::Image(content))
}

fn loss_content<B: AutodiffBackend>(
    met: &Metamer<B>,
    iteration: usize,
    panel: &LossPanel,
) -> Result<Content> {
    let losses = met.losses()?;
    let penalties = met.penalties()?;
    let lambda = met.penalty_lambda();
    let metamer_loss: Vec<f64> = losses
        .iter()
        .zip(&penalties)
        .map(|(l, p)| l - lambda * p)
        .collect();
    let current = metamer_loss.get(iteration).map(|v| (iteration, *v));
    Ok(Content::Loss(LossChart {
        losses: metamer_loss,
        penalties: panel.plot_penalties.then_some(penalties),
        current,
    }))
}

const ERROR_TITLE: &str = "Representation error";

/// A model's named value groups for one item of its representation
/// ([`metamer_core::Model::representation_panels`]).
type PanelsOf<'a> = dyn Fn(&[f64]) -> Option<Vec<(String, Vec<f64>)>> + 'a;

/// The representation error of the view's image as panels, and the stem y range used.
pub(crate) fn representation_content<B: AutodiffBackend>(
    met: &Metamer<B>,
    view: &View<B>,
    selection: &Selection,
    panel: &RepresentationPanel,
) -> Result<(Content, Option<(f64, f64)>)> {
    let representation = met.model().forward(Tensor::from_inner(view.image.clone()));
    let target = met.target_representation();
    if representation.shape() != target.shape() {
        return Err(invalid(format!(
            "the model's output shape {:?} differs from the target representation's {:?}",
            representation.shape(),
            target.shape()
        )));
    }
    let error = to_f64(representation.flat().clone().inner() - target.flat().clone().inner());
    let shape = representation.shape().to_vec();
    layout_error(
        &error,
        &shape,
        selection.batch_idx,
        &|values| met.model().representation_panels(values),
        panel.ylim,
        view.stem_range,
    )
}

/// plenoptic's generic `plot_representation`: images per channel for 4-D representations,
/// stem plots per channel (or per named group) for vectors.
fn layout_error(
    error: &[f64],
    shape: &[usize],
    batch_idx: usize,
    panels: &PanelsOf,
    ylim: Ylim,
    stem_range: StemRange,
) -> Result<(Content, Option<(f64, f64)>)> {
    let (batches, channels, length) = match *shape {
        [b, c, h, w] => {
            check_index(batch_idx, b, 0)?;
            let planes: Vec<Slice> = (0..c)
                .map(|channel| {
                    let start = (batch_idx * c + channel) * h * w;
                    Slice {
                        values: &error[start..start + h * w],
                        channels: 1,
                        height: h,
                        width: w,
                    }
                })
                .collect();
            let titles: Vec<String> = (0..c).map(|i| format!("{ERROR_TITLE}_{i:02}")).collect();
            let space = if c == 1 { IMAGE_SPACE } else { 280 };
            let images = image_panels(
                &planes,
                ValueRange::Indep(RangeRule::Symmetric),
                fitting_zoom(h, w, space),
                Some(Colormap::Diverging),
                Some(&titles),
            )?;
            let mut cells: Vec<Content> = images.into_iter().map(Content::Image).collect();
            let content = if cells.len() == 1 {
                cells.pop().expect("one image")
            } else {
                Content::Grid {
                    columns: c.min(4),
                    cells,
                }
            };
            return Ok((content, None));
        }
        [b, c, n] => (b, c, n),
        [b, n] => (b, 1, n),
        [n] => (1, 1, n),
        _ => {
            return Err(invalid(format!(
                "cannot plot a representation of shape {shape:?}: expected [batch, channel, \
                 height, width], [batch, channel, n], [batch, n] or [n]"
            )));
        }
    };
    check_index(batch_idx, batches, 0)?;
    let mut stems: Vec<(String, Vec<f64>)> = Vec::new();
    for channel in 0..channels {
        let start = (batch_idx * channels + channel) * length;
        let values = &error[start..start + length];
        match panels(values) {
            Some(groups) => {
                for (name, group) in groups {
                    let title = if channels > 1 {
                        format!("{name}_{channel:02}")
                    } else {
                        name
                    };
                    stems.push((title, group));
                }
            }
            None => stems.push((format!("{ERROR_TITLE}_{channel:02}"), values.to_vec())),
        }
    }
    let finite =
        |values: &[f64]| -> Vec<f64> { values.iter().copied().filter(|v| v.is_finite()).collect() };
    let symmetric = {
        let m = stems
            .iter()
            .flat_map(|(_, v)| finite(v))
            .fold(0.0f64, |m, v| m.max(v.abs()));
        (-m, m)
    };
    let used = match (stem_range, ylim) {
        (StemRange::Keep(range), _) => range,
        (_, Ylim::Symmetric | Ylim::Data) => symmetric,
        (_, Ylim::Fixed(lo, hi)) => (lo, hi),
    };
    let mut cells: Vec<Content> = stems
        .into_iter()
        .map(|(title, values)| {
            let ylim = match (ylim, stem_range) {
                (Ylim::Data, StemRange::Own) => finite(&values)
                    .iter()
                    .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v))),
                _ => used,
            };
            Content::Stems(StemChart {
                title,
                values,
                ylim,
            })
        })
        .collect();
    let content = if cells.len() == 1 {
        cells.pop().expect("one plot")
    } else {
        Content::Grid {
            columns: cells.len().min(4),
            cells,
        }
    };
    Ok((content, Some(used)))
}

fn histogram_content<B: AutodiffBackend>(
    met: &Metamer<B>,
    view: &View<B>,
    selection: &Selection,
    panel: &HistogramPanel,
) -> Result<Content> {
    let metamer = ImageBatch::from_tensor(view.image.clone());
    let target = ImageBatch::from_tensor(met.image().clone());
    let [batches, channels, _, _] = metamer.shape;
    check_index(selection.batch_idx, batches, 0)?;
    if let Some(channel) = selection.channel_idx {
        check_index(channel, channels, 1)?;
    }
    let pick = |image: &ImageBatch, batch: usize| -> Vec<f64> {
        match selection.channel_idx {
            Some(channel) => image.plane(batch, channel).to_vec(),
            None => image.element(batch).to_vec(),
        }
    };
    let batches: Vec<usize> = if panel.all_batches {
        (0..batches).collect()
    } else {
        vec![selection.batch_idx]
    };
    let mut data: Vec<(String, Vec<f64>)> = batches
        .iter()
        .map(|b| {
            (
                format!("Metamer[{b}] [iteration={}]", view.image_iteration),
                pick(&metamer, *b),
            )
        })
        .collect();
    let target_values = if panel.all_batches {
        target.values.clone()
    } else {
        pick(&target, selection.batch_idx.min(target.shape[0] - 1))
    };
    data.push(("Target image".to_string(), target_values));
    let finite: Vec<f64> = data
        .iter()
        .flat_map(|(_, v)| v.iter().copied().filter(|v| v.is_finite()))
        .collect();
    let xlim = match panel.xlim {
        Xlim::Fixed(lo, hi) => (lo, hi),
        Xlim::Range => finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            }),
    };
    let series = data
        .into_iter()
        .map(|(label, values)| {
            let (edges, counts) = histogram(&values);
            HistogramSeries {
                label,
                edges,
                counts,
            }
        })
        .collect();
    Ok(Content::Histogram(HistogramChart {
        series,
        xlim,
        ylim: panel.ylim,
        alpha: panel.alpha,
    }))
}

/// plenoptic's bin count: the Freedman–Diaconis rule with its inter-quartile range taken
/// between the 0.25th and 0.75th *percentiles* (as plenoptic computes it), √n bins when that
/// range is zero, at most 50.
pub fn histogram_bins(values: &[f64]) -> usize {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < 2 {
        return 1;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let iqr = percentile(&sorted, 0.75) - percentile(&sorted, 0.25);
    let h = 2.0 * iqr / n.cbrt();
    let bins = if h == 0.0 {
        n.sqrt() as usize
    } else {
        ((sorted[sorted.len() - 1] - sorted[0]) / h).ceil() as usize
    };
    bins.clamp(1, 50)
}

/// numpy's `histogram(values, bins)`: equal bins over the finite values' range, the last bin
/// closed.
pub fn histogram(values: &[f64]) -> (Vec<f64>, Vec<u64>) {
    let bins = histogram_bins(values);
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (mut lo, mut hi) = finite
        .clone()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    } else if lo == hi {
        (lo, hi) = (lo - 0.5, hi + 0.5);
    }
    let edges: Vec<f64> = (0..=bins)
        .map(|i| lo + (hi - lo) * i as f64 / bins as f64)
        .collect();
    let mut counts = vec![0u64; bins];
    for v in finite {
        let index = (((v - lo) / (hi - lo)) * bins as f64).floor() as usize;
        counts[index.min(bins - 1)] += 1;
    }
    (edges, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_follow_plenoptic() {
        // iqr between the 0.25 and 0.75 percentiles of 0..=999: 2.4975 − 2.4975·… = 4.995
        let values: Vec<f64> = (0..1000).map(f64::from).collect();
        let iqr = percentile(&values, 0.75) - percentile(&values, 0.25);
        assert!((iqr - 4.995).abs() < 1e-9, "{iqr}");
        // h = 2·4.995/10 = 0.999 → ceil(999/0.999) = 1000 → capped at 50
        assert_eq!(histogram_bins(&values), 50);
        // constant values: iqr 0 → √n bins
        assert_eq!(histogram_bins(&[3.0; 17]), 4);
        assert_eq!(histogram_bins(&[1.0]), 1);
    }

    #[test]
    fn histogram_counts_like_numpy() {
        let (edges, counts) = histogram(&[0.0, 0.0, 1.0, 1.0]);
        // iqr 0 → √4 = 2 bins over [0, 1]; the last bin is closed.
        assert_eq!(edges, vec![0.0, 0.5, 1.0]);
        assert_eq!(counts, vec![2, 2]);
        assert_eq!(counts.iter().sum::<u64>(), 4);
    }

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
