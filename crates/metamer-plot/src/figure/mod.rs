//! A figure: panels in a grid, laid out in pixels, drawn with plotters to PNG or SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{draw_error, invalid};
use crate::font::font_path;
use crate::{PlotError, PlotWarning, Result};

mod draw;
mod encode;

use draw::draw_content;
pub use encode::python_sci;
use encode::{base64, blit};
pub(crate) use encode::{encode_png, extension, write};

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
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
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
    /// What it shows.
    pub kind: PanelKind,
    /// Its grid cell.
    pub cell: Rect,
    /// The areas holding its data.
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
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `3 · width · height` bytes, row by row.
    pub rgb: Vec<u8>,
    /// Where each panel was drawn.
    pub panels: Vec<Panel>,
}

impl Raster {
    /// The colour at `(x, y)`; panics outside the figure, as slice indexing does.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = 3 * (y as usize * self.width as usize + x as usize);
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// The figure as PNG bytes.
    ///
    /// # Errors
    /// When the encoder fails.
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

    /// What each panel shows, in grid order.
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
    ///
    /// # Errors
    /// When `index` is not a panel of this figure.
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
    ///
    /// # Errors
    /// When no font is found or plotters fails to draw.
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

    /// The figure as PNG bytes.
    ///
    /// # Errors
    /// When drawing or encoding fails.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        self.render()?.to_png()
    }

    /// The figure as SVG; images are embedded as PNG and scaled without smoothing.
    ///
    /// # Errors
    /// When no font is found or drawing fails.
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
    ///
    /// # Errors
    /// When the extension names no figure format, or drawing or writing fails.
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
