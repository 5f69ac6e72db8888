//! Figures of a synthesis. For now: the loss curve as a standalone SVG, which any browser or
//! image viewer opens without Python or a plotting stack.

use std::fmt::Write as _;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 300.0;
const MARGIN: f64 = 48.0;

/// The loss against iteration on a log₁₀ axis (plenoptic's `synthesis_loss`), as SVG text.
/// Non-finite and non-positive values are left out of the line.
pub fn loss_curve_svg(losses: &[f64]) -> String {
    let points: Vec<(usize, f64)> = losses
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_finite() && **l > 0.0)
        .map(|(i, l)| (i, l.log10()))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let (plot_w, plot_h) = (WIDTH - 2.0 * MARGIN, HEIGHT - 2.0 * MARGIN);
    let _ = writeln!(
        svg,
        "<rect x=\"{MARGIN}\" y=\"{MARGIN}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"black\"/>"
    );
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">iteration</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">loss (log scale)</text>",
        WIDTH / 2.0,
        HEIGHT - 12.0,
        HEIGHT / 2.0,
        HEIGHT / 2.0
    );
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let (lo, hi) = points
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| {
                (lo.min(v), hi.max(v))
            });
        let span_y = if hi > lo { hi - lo } else { 1.0 };
        let span_x = (last.0 - first.0).max(1) as f64;
        let x = |i: usize| MARGIN + (i - first.0) as f64 / span_x * plot_w;
        let y = |v: f64| MARGIN + (hi - v) / span_y * plot_h;
        let path: Vec<String> = points
            .iter()
            .map(|&(i, v)| format!("{:.2},{:.2}", x(i), y(v)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        );
        for (value, at) in [(hi, MARGIN + 4.0), (lo, MARGIN + plot_h)] {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{at}\" text-anchor=\"end\">{:.1e}</text>",
                MARGIN - 4.0,
                10f64.powf(value)
            );
        }
        for (i, anchor) in [(first.0, "start"), (last.0, "end")] {
            let _ = writeln!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{i}</text>",
                x(i),
                MARGIN + plot_h + 14.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_spans_the_plot_and_labels_the_range() {
        let svg = loss_curve_svg(&[1.0, 0.1, 0.01]);
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let coords: Vec<(f64, f64)> = points
            .split(' ')
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        // log scale: equal ratios give equal steps, from the top-left to the bottom-right corner
        assert_eq!(coords, vec![(48.0, 48.0), (240.0, 150.0), (432.0, 252.0)]);
        assert!(svg.contains(">1.0e0<") && svg.contains(">1.0e-2<"));
    }

    #[test]
    fn skips_values_a_log_axis_cannot_show() {
        let svg = loss_curve_svg(&[f64::NAN, 0.0, 2.0, 1.0]);
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split(' ').count(), 2);
        assert!(!loss_curve_svg(&[]).contains("polyline"));
    }
}
