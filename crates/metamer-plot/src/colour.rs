//! Colour maps and the series palette.

/// How scalar image values become colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Colormap {
    /// Black to white.
    #[default]
    Gray,
    /// Blue through white to red, for signed values centred on zero (plenoptic's `RdBu_r`
    /// role; the colours are our own).
    Diverging,
}

/// Control points of the diverging map, evenly spaced from the most negative to the most
/// positive value.
const DIVERGING: [[f64; 3]; 5] = [
    [32.0, 72.0, 150.0],
    [125.0, 170.0, 215.0],
    [246.0, 246.0, 246.0],
    [225.0, 130.0, 105.0],
    [160.0, 25.0, 40.0],
];

impl Colormap {
    /// The colour of `t` in [0, 1], quantised to 256 levels as matplotlib's colour maps are:
    /// level `min(floor(256 t), 255)`.
    pub fn colour(self, t: f64) -> [u8; 3] {
        let level = level(t);
        match self {
            Colormap::Gray => [level; 3],
            Colormap::Diverging => {
                let position = f64::from(level) / 255.0 * (DIVERGING.len() - 1) as f64;
                let lower = (position.floor() as usize).min(DIVERGING.len() - 2);
                let f = position - lower as f64;
                let (a, b) = (DIVERGING[lower], DIVERGING[lower + 1]);
                std::array::from_fn(|i| (a[i] + (b[i] - a[i]) * f).round() as u8)
            }
        }
    }
}

/// The 256-level quantisation of `t` (NaN shows as the lowest level).
pub fn level(t: f64) -> u8 {
    if t.is_nan() {
        return 0;
    }
    (t.clamp(0.0, 1.0) * 256.0).floor().min(255.0) as u8
}

/// Line, marker and bar colours, in the order series use them.
pub(crate) const PALETTE: [(u8, u8, u8); 5] = [
    (36, 92, 160),
    (226, 122, 26),
    (52, 150, 72),
    (170, 60, 150),
    (110, 110, 110),
];

/// The marker of the current iteration on the loss curve.
pub(crate) const MARKER: (u8, u8, u8) = (214, 24, 24);
