//! The content of each panel of `synthesis_status`: images, losses, representation errors
//! and histograms, from a synthesis.

use burn::tensor::{Tensor, backend::AutodiffBackend};
use metamer_core::{Metamer, tensor::to_f64};

use super::{
    HistogramPanel, ImshowPanel, LossPanel, RepresentationPanel, Selection, StemRange, View, Xlim,
    Ylim,
};
use crate::Result;
use crate::colour::Colormap;
use crate::error::invalid;
use crate::figure::{Content, HistogramChart, HistogramSeries, LossChart, StemChart};
use crate::figure::{LINE, UNIT};
use crate::imshow::{
    ImageBatch, RangeRule, Slice, ValueRange, check_index, image_panels, percentile,
};

pub(super) fn imshow_content<B: AutodiffBackend>(
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

pub(super) fn loss_content<B: AutodiffBackend>(
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

pub(super) const ERROR_TITLE: &str = "Representation error";

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
pub(super) fn layout_error(
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

pub(super) fn histogram_content<B: AutodiffBackend>(
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

/// The largest integer zoom showing `height × width` within a panel (at least 1).
fn fitting_zoom(height: usize, width: usize, space: u32) -> u32 {
    (space / height.max(width).max(1) as u32).max(1)
}

/// Pixel space for an image inside a plot-sized panel, after margins and three title lines.
const IMAGE_SPACE: u32 = UNIT - 4 * LINE - 40;

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
}
