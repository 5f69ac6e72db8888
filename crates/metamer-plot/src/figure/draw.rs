//! Drawing each kind of panel content, its titles, axes, ticks and legends.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::encode::python_sci;
use super::{
    Content, HistogramChart, LABEL_SIZE, LINE, LossChart, PAD, Placement, Rect, StemChart,
    TICK_SIZE, TITLE_SIZE,
};
use crate::Result;
use crate::colour::{MARKER, PALETTE};
use crate::error::draw_error;
use crate::font::FAMILY;

pub(super) fn rect_of<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    area: &DrawingArea<DB, CT>,
) -> Rect {
    let (x, y) = area.get_pixel_range();
    Rect {
        x: x.start.max(0) as u32,
        y: y.start.max(0) as u32,
        width: (x.end - x.start).max(0) as u32,
        height: (y.end - y.start).max(0) as u32,
    }
}

pub(super) fn text_style(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// Centred title lines from the top of `area`; returns the height they took.
pub(super) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lines: &[String],
) -> Result<u32> {
    let (width, _) = area.dim_in_pixel();
    let style = text_style(TITLE_SIZE).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, line) in lines.iter().enumerate() {
        area.draw_text(
            line,
            &style,
            ((width / 2) as i32, (PAD + i as u32 * LINE) as i32),
        )
        .map_err(draw_error)?;
    }
    Ok(lines.len() as u32 * LINE)
}

pub(super) fn draw_content<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    content: &'a Content,
    placements: &mut Vec<Placement<'a>>,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    match content {
        Content::Empty => Ok(()),
        Content::Image(image) => {
            let (w, h) = (image.width * image.zoom, image.height * image.zoom);
            // Centred vertically, as matplotlib centres an image in its axes.
            let block = image.title.len() as u32 * LINE + h + 3 * PAD;
            let spare = area.dim_in_pixel().1.saturating_sub(block) / 2;
            let area = &area.margin(spare, 0, 0, 0);
            let title_height = draw_title(area, &image.title)?;
            let cell = rect_of(area);
            let rect = Rect {
                x: cell.x + cell.width.saturating_sub(w) / 2,
                y: cell.y + PAD + title_height + PAD,
                width: w,
                height: h,
            };
            areas.push(rect);
            placements.push(Placement { rect, image });
            Ok(())
        }
        Content::Grid { columns, cells } => {
            let columns = (*columns).clamp(1, cells.len().max(1));
            let rows = cells.len().div_ceil(columns);
            for (sub, cell) in area.split_evenly((rows, columns)).iter().zip(cells) {
                draw_content(sub, cell, placements, areas)?;
            }
            Ok(())
        }
        Content::Loss(chart) => draw_loss(area, chart, areas),
        Content::Stems(chart) => draw_stems(area, chart, areas),
        Content::Histogram(chart) => draw_histogram(area, chart, areas),
    }
}

pub(super) fn series_colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// A log-axis range holding every positive value, padded like matplotlib's margins.
pub(super) fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.1, 10.0);
    }
    let span = (hi / lo).log10().max(0.2);
    let pad = 10f64.powf(0.05 * span);
    (lo / pad, hi * pad)
}

/// A chart in a panel: `PAD` around it with a title line above, `right` pixels on its right,
/// and room for the axes' tick labels.
fn chart_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    right: u32,
    x_labels: u32,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(PAD)
        .margin_top(PAD + LINE)
        .margin_right(right)
        .x_label_area_size(x_labels)
        .y_label_area_size(y_labels);
    builder
}

pub(super) fn draw_loss<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &LossChart,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    let last = chart.losses.len().saturating_sub(1).max(1) as i32;
    let penalties = chart.penalties.iter().flatten().copied();
    let (lo, hi) = log_range(chart.losses.iter().copied().chain(penalties));
    let mut plot = chart_builder(area, 2 * PAD, 48, 78)
        .build_cartesian_2d(
            0..last,
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
        )
        .map_err(draw_error)?;
    plot.configure_mesh()
        .disable_mesh()
        .x_desc("Synthesis iteration")
        .y_desc("Loss")
        .label_style(text_style(TICK_SIZE))
        .axis_desc_style(text_style(LABEL_SIZE))
        .y_label_formatter(&|v| python_sci(*v, 0))
        .draw()
        .map_err(draw_error)?;
    let points = |values: &[f64]| -> Vec<(i32, f64)> {
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite() && **v > 0.0)
            .map(|(i, v)| (i as i32, *v))
            .collect()
    };
    let line = |i| ShapeStyle {
        color: series_colour(i).to_rgba(),
        filled: false,
        stroke_width: 2,
    };
    let drawn = plot
        .draw_series(LineSeries::new(points(&chart.losses), line(0)))
        .map_err(draw_error)?;
    if let Some(penalties) = &chart.penalties {
        drawn
            .label("metamer loss")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(0)));
        plot.draw_series(LineSeries::new(points(penalties), line(1)))
            .map_err(draw_error)?
            .label("penalties")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(1)));
        draw_legend(&mut plot)?;
    }
    if let Some((iteration, value)) = chart.current
        && value.is_finite()
        && value > 0.0
    {
        let (r, g, b) = MARKER;
        plot.draw_series(std::iter::once(Circle::new(
            (iteration as i32, value),
            5,
            RGBColor(r, g, b).filled(),
        )))
        .map_err(draw_error)?;
    }
    areas.push(rect_of(plot.plotting_area()));
    Ok(())
}

/// How many ticks an index axis of `n` values asks for: one per value up to ten, so that a few
/// values are not given fractional ticks (which printed as repeated integers).
pub(super) fn index_ticks(n: usize) -> usize {
    n.clamp(1, 10)
}

/// Labels whole positions only: an index axis has no fractional values.
pub(super) fn index_label(value: &f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        // Adding zero turns -0 into 0.
        format!("{:.0}", value + 0.0)
    } else {
        String::new()
    }
}

/// Log-axis ticks: powers of ten when the axis spans two or more (as matplotlib labels
/// them), else 1, 2 and 5 times them, else every multiple.
pub(super) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let ticks = |mantissas: &[f64]| -> Vec<f64> {
        (first..=last)
            // Dividing by 10^-k keeps 0.3 exact where 3 · 10^-1 would not be.
            .flat_map(|k| {
                mantissas.iter().map(move |m| {
                    if k < 0 {
                        m / 10f64.powi(-k)
                    } else {
                        m * 10f64.powi(k)
                    }
                })
            })
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let decades = ticks(&[1.0]);
    if decades.len() >= 2 {
        return decades;
    }
    let coarse = ticks(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        return coarse;
    }
    ticks(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
}

/// The labelled series' legend, top right on a translucent box.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    plot: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(text_style(TICK_SIZE))
        .draw()
        .map_err(draw_error)
}

/// A linear range for `lo..hi` that plotters can draw even when the two are equal.
pub(super) fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        (-1.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - half, hi + half)
    }
}

pub(super) fn draw_stems<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &StemChart,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    draw_title(area, std::slice::from_ref(&chart.title))?;
    let n = chart.values.len().max(1) as f64;
    let (lo, hi) = widen(chart.ylim);
    let mut plot = chart_builder(area, PAD, 32, 70)
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
        .map_err(draw_error)?;
    plot.configure_mesh()
        .disable_mesh()
        .label_style(text_style(TICK_SIZE))
        .y_label_formatter(&|v| python_sci(*v, 1))
        .x_labels(index_ticks(chart.values.len()))
        .x_label_formatter(&index_label)
        .draw()
        .map_err(draw_error)?;
    let colour = series_colour(0);
    plot.draw_series(std::iter::once(PathElement::new(
        vec![(-0.5, 0.0), (n - 0.5, 0.0)],
        BLACK.mix(0.6),
    )))
    .map_err(draw_error)?;
    plot.draw_series(
        chart
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| PathElement::new(vec![(i as f64, 0.0), (i as f64, *v)], colour)),
    )
    .map_err(draw_error)?;
    // Markers crowd out the stems beyond a few hundred values.
    if chart.values.len() <= 200 {
        plot.draw_series(
            chart
                .values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| Circle::new((i as f64, *v), 3, colour.filled())),
        )
        .map_err(draw_error)?;
    }
    areas.push(rect_of(plot.plotting_area()));
    Ok(())
}

pub(super) fn draw_histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &HistogramChart,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    draw_title(area, &["Histogram of tensor values".to_string()])?;
    let (x0, x1) = widen(chart.xlim);
    let highest = chart
        .series
        .iter()
        .flat_map(|s| s.counts.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (y0, y1) = widen(chart.ylim.unwrap_or((0.0, highest * 1.05)));
    let mut plot = chart_builder(area, 2 * PAD, 48, 70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_error)?;
    plot.configure_mesh()
        .disable_mesh()
        .x_desc("Values")
        .label_style(text_style(TICK_SIZE))
        .axis_desc_style(text_style(LABEL_SIZE))
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(draw_error)?;
    for (i, series) in chart.series.iter().enumerate() {
        let fill = series_colour(i).mix(chart.alpha).filled();
        let bars = series
            .counts
            .iter()
            .zip(series.edges.windows(2))
            .filter(|(count, _)| **count > 0)
            .map(move |(count, edge)| {
                Rectangle::new([(edge[0], 0.0), (edge[1], *count as f64)], fill)
            });
        plot.draw_series(bars)
            .map_err(draw_error)?
            .label(series.label.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], fill));
    }
    draw_legend(&mut plot)?;
    areas.push(rect_of(plot.plotting_area()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_axes_label_whole_positions_only() {
        assert_eq!(index_label(&2.0), "2");
        assert_eq!(index_label(&-0.0), "0");
        assert_eq!(index_label(&0.5), "");
        assert_eq!(index_label(&1.4999), "");
        assert_eq!(
            (index_ticks(3), index_ticks(0), index_ticks(700)),
            (3, 1, 10)
        );
    }

    #[test]
    fn log_ticks_suit_the_span() {
        assert_eq!(log_ticks(3e-4, 2e-2), vec![1e-3, 1e-2]);
        assert_eq!(log_ticks(1.5e-3, 1.2e-2), vec![2e-3, 5e-3, 1e-2]);
        assert_eq!(log_ticks(0.25, 0.45), vec![0.3, 0.4]);
    }
}
