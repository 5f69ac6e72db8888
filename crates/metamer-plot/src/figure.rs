//! A figure: panels in a grid, laid out in pixels, drawn with plotters to PNG or SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::colour::{MARKER, PALETTE};
use crate::error::{draw_error, invalid};
use crate::font::{FAMILY, font_path};
use crate::{PlotError, PlotWarning, Result};

/// Width and height of one plot, as plenoptic's 5-inch axes at 100 dots per inch.
pub(crate) const UNIT: u32 = 500;
/// Size of one plot inside a grid of plots (several representation channels).
const GRID_UNIT: (u32, u32) = (340, 300);
const PAD: u32 = 12;
/// Height of one line of a panel title.
pub(crate) const LINE: u32 = 20;
const TITLE_SIZE: f64 = 16.0;
const LABEL_SIZE: f64 = 15.0;
const TICK_SIZE: f64 = 13.0;

/// A rectangle in figure pixels, origin at the top left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What a panel shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PanelKind {
    /// An image (the metamer, or any image given to `imshow`).
    Image,
    /// The loss curve.
    Loss,
    /// Model representation of the metamer minus that of the target.
    RepresentationError,
    /// Histograms of metamer and target pixel values.
    Histogram,
    /// Left empty for the caller (plenoptic's `misc` axes).
    Misc,
}

/// Where a panel was drawn: its cell, and the pixel areas holding its data (each image at its
/// zoomed size, or each chart's plotting area), in drawing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    pub kind: PanelKind,
    pub cell: Rect,
    pub areas: Vec<Rect>,
}

/// A figure made of panels in a grid; render it to pixels, PNG or SVG.
pub struct Figure {
    pub(crate) cells: Vec<Cell>,
    pub(crate) columns: usize,
    pub(crate) warnings: Vec<PlotWarning>,
}

pub(crate) struct Cell {
    pub kind: PanelKind,
    pub content: Content,
    /// Width of a chart cell in units of [`UNIT`] (plenoptic's `width_ratios`).
    pub width_ratio: f64,
}

pub(crate) enum Content {
    Image(ImageContent),
    Loss(LossChart),
    Stems(StemChart),
    Histogram(HistogramChart),
    Grid { columns: usize, cells: Vec<Content> },
    Empty,
}

/// Colours of an image at its own size, shown `zoom` times larger by repeating pixels.
pub(crate) struct ImageContent {
    pub title: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub zoom: u32,
    pub rgb: Vec<u8>,
}

pub(crate) struct LossChart {
    /// Metamer loss (loss minus λ·penalty) at each iteration.
    pub losses: Vec<f64>,
    pub penalties: Option<Vec<f64>>,
    /// The iteration shown by the other panels and its metamer loss.
    pub current: Option<(usize, f64)>,
}

pub(crate) struct StemChart {
    pub title: String,
    pub values: Vec<f64>,
    pub ylim: (f64, f64),
}

pub(crate) struct HistogramChart {
    pub series: Vec<HistogramSeries>,
    pub xlim: (f64, f64),
    pub ylim: Option<(f64, f64)>,
    pub alpha: f64,
}

pub(crate) struct HistogramSeries {
    pub label: String,
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

/// A figure drawn into memory: RGB bytes, row by row, and where each panel went.
#[derive(Clone, Debug)]
pub struct Raster {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub panels: Vec<Panel>,
}

impl Raster {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    pub fn to_png(&self) -> Result<Vec<u8>> {
        encode_png(self.width, self.height, &self.rgb)
    }
}

/// An image drawn by copying pixels rather than through plotters (exact and fast).
struct Placement<'a> {
    rect: Rect,
    image: &'a ImageContent,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Figure")
            .field("size", &self.size())
            .field("panels", &self.panel_kinds())
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl Figure {
    pub(crate) fn new(cells: Vec<Cell>, columns: usize) -> Self {
        Self {
            cells,
            columns,
            warnings: Vec::new(),
        }
    }

    /// Number of panels (cells of the grid), empty ones included.
    pub fn panel_count(&self) -> usize {
        self.cells.len()
    }

    pub fn panel_kinds(&self) -> Vec<PanelKind> {
        self.cells.iter().map(|c| c.kind).collect()
    }

    /// Warnings raised while making the figure (also logged).
    pub fn warnings(&self) -> &[PlotWarning] {
        &self.warnings
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        let (width, height, _) = self.layout();
        (width, height)
    }

    /// Puts `other`'s panels into panel `index` (for example the target image into a `Misc`
    /// panel of a status figure, as plenoptic's examples do with a shared matplotlib figure).
    pub fn place(&mut self, index: usize, other: Figure) -> Result<()> {
        let count = self.cells.len();
        let cell = self.cells.get_mut(index).ok_or_else(|| {
            invalid(format!(
                "panel index {index} is out of bounds for a figure of {count} panels"
            ))
        })?;
        let kinds = other.panel_kinds();
        let mut cells = other.cells;
        if cells.len() == 1 {
            let only = cells.pop().expect("one cell");
            cell.kind = only.kind;
            cell.content = only.content;
        } else {
            cell.kind = kinds.first().copied().unwrap_or(PanelKind::Misc);
            cell.content = Content::Grid {
                columns: other.columns,
                cells: cells.into_iter().map(|c| c.content).collect(),
            };
        }
        self.warnings.extend(other.warnings);
        Ok(())
    }

    /// Draws the figure into memory.
    pub fn render(&self) -> Result<Raster> {
        font_path()?;
        let (width, height, rects) = self.layout();
        let mut rgb = vec![255u8; 3 * width as usize * height as usize];
        let mut placements = Vec::new();
        let mut panels = Vec::new();
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
            self.draw(&root, &rects, &mut placements, &mut panels)?;
            root.present().map_err(draw_error)?;
        }
        for placement in &placements {
            blit(&mut rgb, width, placement);
        }
        Ok(Raster {
            width,
            height,
            rgb,
            panels,
        })
    }

    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.render()?.to_png()
    }

    /// The figure as SVG; images are embedded as PNG and scaled without smoothing.
    pub fn to_svg(&self) -> Result<String> {
        font_path()?;
        let (width, height, rects) = self.layout();
        let mut svg = String::new();
        let mut images = Vec::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            let mut placements = Vec::new();
            self.draw(&root, &rects, &mut placements, &mut Vec::new())?;
            root.present().map_err(draw_error)?;
            for p in placements {
                let png = encode_png(p.image.width, p.image.height, &p.image.rgb)?;
                images.push(format!(
                    "<image x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" \
                     preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" \
                     href=\"data:image/png;base64,{}\"/>\n",
                    p.rect.x,
                    p.rect.y,
                    p.rect.width,
                    p.rect.height,
                    base64(&png)
                ));
            }
        }
        let end = svg
            .rfind("</svg>")
            .ok_or_else(|| draw_error("the SVG backend wrote no closing tag"))?;
        svg.insert_str(end, &images.concat());
        Ok(svg)
    }

    /// Writes the figure as PNG or SVG, chosen by the file extension, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = match extension(path).as_deref() {
            Some("png") => self.to_png()?,
            Some("svg") => self.to_svg()?.into_bytes(),
            _ => {
                return Err(PlotError::UnknownFormat {
                    path: path.to_path_buf(),
                });
            }
        };
        write(path, &bytes)
    }

    /// Cell rectangles in a grid whose columns and rows fit their largest cell.
    fn layout(&self) -> (u32, u32, Vec<Rect>) {
        let n = self.cells.len().max(1);
        let columns = self.columns.clamp(1, n);
        let rows = n.div_ceil(columns);
        let mut widths = vec![0u32; columns];
        let mut heights = vec![0u32; rows];
        for (i, cell) in self.cells.iter().enumerate() {
            let (w, h) = natural_size(&cell.content, cell.width_ratio, false);
            widths[i % columns] = widths[i % columns].max(w);
            heights[i / columns] = heights[i / columns].max(h);
        }
        let offsets = |sizes: &[u32]| -> Vec<u32> {
            sizes
                .iter()
                .scan(0, |acc, s| {
                    let start = *acc;
                    *acc += s;
                    Some(start)
                })
                .collect()
        };
        let (xs, ys) = (offsets(&widths), offsets(&heights));
        let rects = (0..self.cells.len())
            .map(|i| Rect {
                x: xs[i % columns],
                y: ys[i / columns],
                width: widths[i % columns],
                height: heights[i / columns],
            })
            .collect();
        (
            widths.iter().sum::<u32>().max(1),
            heights.iter().sum::<u32>().max(1),
            rects,
        )
    }

    fn draw<'a, DB: DrawingBackend>(
        &'a self,
        root: &DrawingArea<DB, Shift>,
        rects: &[Rect],
        placements: &mut Vec<Placement<'a>>,
        panels: &mut Vec<Panel>,
    ) -> Result<()> {
        root.fill(&WHITE).map_err(draw_error)?;
        for (cell, rect) in self.cells.iter().zip(rects) {
            let area = root.clone().shrink(
                (rect.x as i32, rect.y as i32),
                (rect.width as i32, rect.height as i32),
            );
            let mut areas = Vec::new();
            draw_content(&area, &cell.content, placements, &mut areas)?;
            panels.push(Panel {
                kind: cell.kind,
                cell: *rect,
                areas,
            });
        }
        Ok(())
    }
}

/// The size a content needs; charts take `ratio` plot widths.
fn natural_size(content: &Content, ratio: f64, in_grid: bool) -> (u32, u32) {
    let chart = if in_grid {
        GRID_UNIT
    } else {
        ((f64::from(UNIT) * ratio).round() as u32, UNIT)
    };
    match content {
        Content::Image(image) => (
            (image.width * image.zoom + 2 * PAD).max(if in_grid { 160 } else { chart.0 }),
            image.title.len() as u32 * LINE + image.height * image.zoom + 3 * PAD,
        ),
        Content::Loss(_) | Content::Histogram(_) | Content::Stems(_) | Content::Empty => chart,
        Content::Grid { columns, cells } => {
            let columns = (*columns).clamp(1, cells.len().max(1));
            let rows = cells.len().div_ceil(columns).max(1) as u32;
            let (w, h) = cells
                .iter()
                .map(|c| natural_size(c, 1.0, true))
                .fold((0, 0), |(w, h), (cw, ch)| (w.max(cw), h.max(ch)));
            (w * columns as u32, h * rows)
        }
    }
}

fn rect_of<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
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

fn text_style(size: f64) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&BLACK)
}

/// Centred title lines from the top of `area`; returns the height they took.
fn draw_title<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, lines: &[String]) -> Result<u32> {
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

fn draw_content<'a, DB: DrawingBackend>(
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

fn series_colour(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

/// A log-axis range holding every positive value, padded like matplotlib's margins.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
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

fn draw_loss<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &LossChart,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    let last = chart.losses.len().saturating_sub(1).max(1) as i32;
    let penalties = chart.penalties.iter().flatten().copied();
    let (lo, hi) = log_range(chart.losses.iter().copied().chain(penalties));
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(PAD)
        .margin_top(PAD + LINE)
        .margin_right(2 * PAD)
        .x_label_area_size(48)
        .y_label_area_size(78);
    let mut plot = builder
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
fn index_ticks(n: usize) -> usize {
    n.clamp(1, 10)
}

/// Labels whole positions only: an index axis has no fractional values.
fn index_label(value: &f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        // Adding zero turns -0 into 0.
        format!("{:.0}", value + 0.0)
    } else {
        String::new()
    }
}

/// Log-axis ticks: powers of ten when the axis spans two or more (as matplotlib labels
/// them), else 1, 2 and 5 times them, else every multiple.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
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
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
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
fn widen((lo, hi): (f64, f64)) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        (-1.0, 1.0)
    } else if hi > lo {
        (lo, hi)
    } else {
        let half = if lo == 0.0 { 0.5 } else { lo.abs() * 0.1 };
        (lo - half, hi + half)
    }
}

fn draw_stems<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &StemChart,
    areas: &mut Vec<Rect>,
) -> Result<()> {
    draw_title(area, std::slice::from_ref(&chart.title))?;
    let n = chart.values.len().max(1) as f64;
    let (lo, hi) = widen(chart.ylim);
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(PAD)
        .margin_top(PAD + LINE)
        .x_label_area_size(32)
        .y_label_area_size(70);
    let mut plot = builder
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

fn draw_histogram<DB: DrawingBackend>(
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
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(PAD)
        .margin_top(PAD + LINE)
        .margin_right(2 * PAD)
        .x_label_area_size(48)
        .y_label_area_size(70);
    let mut plot = builder
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

/// Copies an image into the RGB buffer, each pixel repeated `zoom` × `zoom` times.
fn blit(rgb: &mut [u8], width: u32, placement: &Placement) {
    let (rect, image) = (placement.rect, placement.image);
    let zoom = image.zoom as usize;
    for y in 0..rect.height as usize {
        let source_row = y / zoom;
        let target = 3 * ((rect.y as usize + y) * width as usize + rect.x as usize);
        for x in 0..rect.width as usize {
            let source = 3 * (source_row * image.width as usize + x / zoom);
            rgb[target + 3 * x..target + 3 * x + 3].copy_from_slice(&image.rgb[source..source + 3]);
        }
    }
}

pub(crate) fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>> {
    let encode = |e: png::EncodingError| PlotError::Encode {
        format: "PNG",
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(rgb).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    metamer_io::write_atomically(path, bytes).map_err(|source| PlotError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Python's `format(x, ".{digits}e")`: a two-digit signed exponent (`1.2e-03`).
pub fn python_sci(x: f64, digits: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    let rust = format!("{x:.digits$e}");
    let (mantissa, exponent) = rust.split_once('e').expect("exponent format");
    let exponent: i32 = exponent.parse().expect("integer exponent");
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python() {
        assert_eq!(python_sci(0.00123, 1), "1.2e-03");
        assert_eq!(python_sci(12345.0, 1), "1.2e+04");
        assert_eq!(python_sci(0.0, 1), "0.0e+00");
        assert_eq!(python_sci(-2.5e-10, 2), "-2.50e-10");
    }

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

    #[test]
    fn encodes_base64() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
