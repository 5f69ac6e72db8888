//! `imshow`: images as panels at integer zoom, with plenoptic's value ranges and titles.

use std::str::FromStr;

use burn::tensor::{Tensor, backend::Backend};
use metamer_core::tensor::to_f64;

use crate::colour::{Colormap, level};
use crate::error::invalid;
use crate::figure::{Cell, Content, Figure, ImageContent, PanelKind, python_sci};
use crate::{PlotError, Result};

/// A `[batch, channel, height, width]` image batch on the host, in float64.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageBatch {
    /// `[batch, channel, height, width]`.
    pub shape: [usize; 4],
    /// Row-major values.
    pub values: Vec<f64>,
}

impl ImageBatch {
    /// A batch from its shape and values.
    ///
    /// # Errors
    /// When the values do not fill the shape.
    pub fn new(shape: [usize; 4], values: Vec<f64>) -> Result<Self> {
        if shape.iter().product::<usize>() != values.len() {
            return Err(invalid(format!(
                "an image of shape {shape:?} needs {} values, got {}",
                shape.iter().product::<usize>(),
                values.len()
            )));
        }
        Ok(Self { shape, values })
    }

    /// A host copy of `tensor`.
    pub fn from_tensor<B: Backend>(tensor: Tensor<B, 4>) -> Self {
        let shape = tensor.dims();
        Self {
            shape,
            values: to_f64(tensor),
        }
    }

    /// The values of one `[height, width]` plane.
    pub fn plane(&self, batch: usize, channel: usize) -> &[f64] {
        let [_, c, h, w] = self.shape;
        let start = (batch * c + channel) * h * w;
        &self.values[start..start + h * w]
    }

    /// One batch element, all channels.
    pub fn element(&self, batch: usize) -> &[f64] {
        let [_, c, h, w] = self.shape;
        &self.values[batch * c * h * w..(batch + 1) * c * h * w]
    }
}

/// How image values map to the colour range (plenoptic's `vrange`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRange {
    /// One range shared by every panel, from all of them.
    Auto(RangeRule),
    /// A range per panel.
    Indep(RangeRule),
    /// `(vmin, vmax)` for every panel.
    Fixed(f64, f64),
}

/// The statistic a range comes from; plenoptic's digit in `auto0`…`indep3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRule {
    /// 0: symmetric about zero, ±max |x|.
    Symmetric,
    /// 1: minimum to maximum.
    MinMax,
    /// 2: mean ± 2 standard deviations.
    MeanStd,
    /// 3: 10th and 90th percentiles, widened by an eighth of their distance.
    Percentile,
}

impl Default for ValueRange {
    fn default() -> Self {
        ValueRange::Indep(RangeRule::MinMax)
    }
}

impl ValueRange {
    /// Ranges centred on zero get the diverging colour map by default, as in plenoptic.
    pub fn default_colormap(self) -> Colormap {
        match self {
            ValueRange::Auto(RangeRule::Symmetric) | ValueRange::Indep(RangeRule::Symmetric) => {
                Colormap::Diverging
            }
            _ => Colormap::Gray,
        }
    }
}

impl FromStr for ValueRange {
    type Err = PlotError;

    /// `auto0`…`auto3`, `indep0`…`indep3`, or `MIN,MAX`.
    fn from_str(text: &str) -> Result<Self> {
        let rule = |digit: &str| match digit {
            "0" => Some(RangeRule::Symmetric),
            "1" => Some(RangeRule::MinMax),
            "2" => Some(RangeRule::MeanStd),
            "3" => Some(RangeRule::Percentile),
            _ => None,
        };
        let parsed = if let Some(d) = text.strip_prefix("auto") {
            rule(d).map(ValueRange::Auto)
        } else if let Some(d) = text.strip_prefix("indep") {
            rule(d).map(ValueRange::Indep)
        } else {
            text.split_once(',').and_then(|(a, b)| {
                let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                Some(ValueRange::Fixed(a, b))
            })
        };
        parsed.ok_or_else(|| {
            invalid(format!(
                "unknown vrange {text:?}; use auto0-auto3, indep0-indep3 or MIN,MAX"
            ))
        })
    }
}

impl RangeRule {
    /// The range of the finite values of `planes` (NaNs are ignored, as plenoptic does).
    pub fn range<'a>(self, planes: impl IntoIterator<Item = &'a [f64]>) -> (f64, f64) {
        let mut values: Vec<f64> = planes
            .into_iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if values.is_empty() {
            return (0.0, 1.0);
        }
        let n = values.len() as f64;
        match self {
            RangeRule::Symmetric => {
                let m = values.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                (-m, m)
            }
            RangeRule::MinMax => values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(*v), hi.max(*v))
                }),
            RangeRule::MeanStd => {
                let mean = values.iter().sum::<f64>() / n;
                let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
                (mean - 2.0 * sd, mean + 2.0 * sd)
            }
            RangeRule::Percentile => {
                values.sort_by(f64::total_cmp);
                let (p10, p90) = (percentile(&values, 10.0), percentile(&values, 90.0));
                let margin = (p90 - p10) / 8.0;
                (p10 - margin, p90 + margin)
            }
        }
    }
}

/// numpy's default (linear) percentile of sorted values.
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    let position = q / 100.0 * (sorted.len() - 1) as f64;
    let (lower, fraction) = (position.floor() as usize, position.fract());
    let upper = (lower + 1).min(sorted.len() - 1);
    sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}

/// Panel titles.
#[derive(Clone, Debug, PartialEq)]
pub enum Titles {
    /// No title, not even the range and size lines.
    None,
    /// The same text on every panel, followed by the range and size lines.
    Same(String),
    /// One text per panel, each followed by the range and size lines.
    Each(Vec<String>),
}

impl Default for Titles {
    fn default() -> Self {
        Titles::Same(String::new())
    }
}

/// plenoptic's `imshow` options.
#[derive(Clone, Debug, Default)]
pub struct ImshowOptions {
    /// How values map to grey levels or colours.
    pub vrange: ValueRange,
    /// Integer magnification; `None` shows every image at 1 (the largest at 1, smaller ones
    /// enlarged to its size).
    pub zoom: Option<u32>,
    /// Panel titles.
    pub title: Titles,
    /// Panels per row; `None` puts all in one row.
    pub col_wrap: Option<usize>,
    /// Show only this batch element.
    pub batch_idx: Option<usize>,
    /// Show only this channel.
    pub channel_idx: Option<usize>,
    /// Show the channels as RGB (3) or RGBA (4) colour.
    pub as_rgb: bool,
    /// `None`: diverging for ranges centred on zero, else gray.
    pub colormap: Option<Colormap>,
}

/// One panel's worth of an image: a gray plane or an RGB(A) element.
pub(crate) struct Slice<'a> {
    pub values: &'a [f64],
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// Shows images, one panel per batch element and channel (or per element in RGB).
///
/// # Errors
/// When an option is one plenoptic refuses (an index out of range, RGB without 3 or 4
/// channels), with its message.
pub fn imshow<B: Backend>(
    images: impl IntoIterator<Item = Tensor<B, 4>>,
    options: &ImshowOptions,
) -> Result<Figure> {
    let batches: Vec<ImageBatch> = images.into_iter().map(ImageBatch::from_tensor).collect();
    imshow_batches(&batches, options)
}

/// [`imshow`] for images already on the host.
///
/// # Errors
/// As [`imshow`].
pub fn imshow_batches(images: &[ImageBatch], options: &ImshowOptions) -> Result<Figure> {
    if options.zoom == Some(0) {
        return Err(invalid("zoom must be positive!"));
    }
    let mut slices = Vec::new();
    for image in images {
        let [b, c, h, w] = image.shape;
        let batches = select(options.batch_idx, b, 0)?;
        let channels = select(options.channel_idx, c, 1)?;
        if options.as_rgb {
            let selected = channels.len();
            if selected != 3 && selected != 4 {
                return Err(invalid(
                    "If as_rgb is True, then channel must have 3 or 4 elements!",
                ));
            }
            for batch in batches {
                slices.push(Slice {
                    values: image.element(batch),
                    channels: c,
                    height: h,
                    width: w,
                });
            }
        } else {
            if batches.len() > 1 && channels.len() > 1 {
                return Err(invalid(
                    "Don't know how to plot non-rgb images with more than one channel and \
                     batch! Use batch_idx / channel_idx to choose a subset for plotting",
                ));
            }
            for batch in &batches {
                for channel in &channels {
                    slices.push(Slice {
                        values: image.plane(*batch, *channel),
                        channels: 1,
                        height: h,
                        width: w,
                    });
                }
            }
        }
    }
    let titles = match &options.title {
        Titles::None => None,
        Titles::Same(text) => Some(vec![text.clone(); slices.len()]),
        Titles::Each(texts) => {
            if texts.len() != slices.len() {
                return Err(invalid(format!(
                    "title has {} entries but there are {} panels",
                    texts.len(),
                    slices.len()
                )));
            }
            Some(texts.clone())
        }
    };
    let panels = image_panels(
        &slices,
        options.vrange,
        options.zoom.unwrap_or(1),
        options.colormap,
        titles.as_deref(),
    )?;
    let columns = options.col_wrap.unwrap_or(panels.len()).max(1);
    let cells = panels
        .into_iter()
        .map(|content| Cell {
            kind: PanelKind::Image,
            content: Content::Image(content),
            width_ratio: 1.0,
        })
        .collect();
    Ok(Figure::new(cells, columns))
}

/// The indices `index` selects along an axis of `size` (all when `None`).
fn select(index: Option<usize>, size: usize, axis: usize) -> Result<Vec<usize>> {
    match index {
        None => Ok((0..size).collect()),
        Some(i) => check_index(i, size, axis).map(|()| vec![i]),
    }
}

/// `index` must lie within the batch (`axis` 0) or channel (`axis` 1) dimension of `size`;
/// the error is torch's.
pub(crate) fn check_index(index: usize, size: usize, axis: usize) -> Result<()> {
    if index < size {
        return Ok(());
    }
    let name = if axis == 0 {
        "batch_idx"
    } else {
        "channel_idx"
    };
    Err(invalid(format!(
        "{name}={index} is out of bounds for dimension {axis} with size {size}"
    )))
}

/// Colours and titles for each slice; every slice is zoomed to the largest one's size.
pub(crate) fn image_panels(
    slices: &[Slice],
    vrange: ValueRange,
    zoom: u32,
    colormap: Option<Colormap>,
    titles: Option<&[String]>,
) -> Result<Vec<ImageContent>> {
    let largest = slices.iter().map(|s| s.height).max().unwrap_or(1);
    let shared = match vrange {
        ValueRange::Auto(rule) => Some(rule.range(slices.iter().map(|s| s.values))),
        ValueRange::Fixed(lo, hi) => Some((lo, hi)),
        ValueRange::Indep(_) => None,
    };
    let colormap = colormap.unwrap_or(vrange.default_colormap());
    slices
        .iter()
        .enumerate()
        .map(|(i, slice)| {
            if slice.height == 0 || largest % slice.height != 0 {
                return Err(invalid(format!(
                    "image heights must be integer multiples of each other to share a size; \
                     got {} and {largest}",
                    slice.height
                )));
            }
            let zoom = zoom * (largest / slice.height) as u32;
            let (lo, hi) = shared.unwrap_or_else(|| match vrange {
                ValueRange::Indep(rule) => rule.range([slice.values]),
                _ => unreachable!("shared ranges are computed above"),
            });
            let title = titles.map(|t| {
                let text = format!(
                    "{}\n range: [{}, {}] \n dims: [{}, {}] * {zoom}",
                    t[i],
                    python_sci(lo, 1),
                    python_sci(hi, 1),
                    slice.height,
                    slice.width
                );
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Ok(ImageContent {
                title: title.unwrap_or_default(),
                width: slice.width as u32,
                height: slice.height as u32,
                zoom,
                rgb: colours(slice, lo, hi, colormap),
            })
        })
        .collect()
}

/// Pixel colours: mapped through the colour map for one channel; RGB(A) values clipped to
/// [0, 1] (alpha composited over white), as matplotlib shows float colour images.
fn colours(slice: &Slice, lo: f64, hi: f64, colormap: Colormap) -> Vec<u8> {
    let pixels = slice.height * slice.width;
    let mut rgb = Vec::with_capacity(3 * pixels);
    if slice.channels == 1 {
        let scale = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
        for v in slice.values {
            let t = if hi > lo { (v - lo) * scale } else { 0.5 };
            rgb.extend(colormap.colour(t));
        }
    } else {
        let channel = |c: usize, p: usize| slice.values[c * pixels + p].clamp(0.0, 1.0);
        for p in 0..pixels {
            let alpha = if slice.channels == 4 {
                channel(3, p)
            } else {
                1.0
            };
            for c in 0..3 {
                let v = channel(c, p) * alpha + (1.0 - alpha);
                rgb.push(level(v));
            }
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_plenoptic_rules() {
        let values = [
            0.0,
            1.0,
            2.0,
            3.0,
            4.0,
            5.0,
            6.0,
            7.0,
            8.0,
            9.0,
            -20.0,
            f64::NAN,
        ];
        let planes = [&values[..]];
        assert_eq!(RangeRule::Symmetric.range(planes), (-20.0, 20.0));
        assert_eq!(RangeRule::MinMax.range(planes), (-20.0, 9.0));
        let (lo, hi) = RangeRule::Percentile.range(planes);
        // numpy: p10 = 0.0, p90 = 8.0 of the 11 finite values; margin 1.0
        assert!(
            (lo + 1.0).abs() < 1e-12 && (hi - 9.0).abs() < 1e-12,
            "{lo} {hi}"
        );
        let (lo, hi) = RangeRule::MeanStd.range([&[1.0, 3.0][..]]);
        assert_eq!((lo, hi), (0.0, 4.0));
    }

    #[test]
    fn parses_value_ranges() {
        assert_eq!(
            "indep0".parse::<ValueRange>().unwrap(),
            ValueRange::Indep(RangeRule::Symmetric)
        );
        assert_eq!(
            "auto3".parse::<ValueRange>().unwrap(),
            ValueRange::Auto(RangeRule::Percentile)
        );
        assert_eq!(
            "-1,2.5".parse::<ValueRange>().unwrap(),
            ValueRange::Fixed(-1.0, 2.5)
        );
        assert!("auto4".parse::<ValueRange>().is_err());
    }
}
