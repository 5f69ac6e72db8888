//! "Same" padding with plenoptic's modes, asymmetric for even kernels (the extra row goes after).

use std::str::FromStr;

use burn::tensor::{Tensor, backend::Backend};

use crate::ModelError;

/// How the border is extended before a convolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Mirror without repeating the edge (torch `reflect`).
    #[default]
    Reflect,
    /// Wrap around.
    Circular,
    /// Zeros.
    Constant,
    /// Repeat the edge value (torch `replicate`).
    Replicate,
}

impl FromStr for Padding {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, ModelError> {
        match s {
            "reflect" => Ok(Self::Reflect),
            "circular" => Ok(Self::Circular),
            "constant" => Ok(Self::Constant),
            "replicate" => Ok(Self::Replicate),
            other => Err(ModelError::PadMode(other.to_string())),
        }
    }
}

impl Padding {
    /// The name plenoptic and torch use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Reflect => "reflect",
            Self::Circular => "circular",
            Self::Constant => "constant",
            Self::Replicate => "replicate",
        }
    }
}

/// Where padded position `p` (0-based, `before` positions precede the data) reads from in a
/// dimension of length `n`; `None` for zeros (constant padding).
pub fn padded_source(p: usize, n: usize, before: usize, mode: Padding) -> Option<usize> {
    let i = p as isize - before as isize;
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        Padding::Constant => None,
        Padding::Replicate => Some(i.clamp(0, n - 1) as usize),
        Padding::Circular => Some(i.rem_euclid(n) as usize),
        Padding::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
    }
}

/// Why `mode` padding cannot keep the height and width (the last two dimensions of `shape`)
/// under a `kernel`; `None` when it can. Models check this before they run.
pub fn padding_problem(kernel: [usize; 2], shape: &[usize], mode: Padding) -> Option<String> {
    let rank = shape.len();
    if rank < 2 {
        return Some(format!(
            "expected an image of rank 2 or more, got shape {shape:?}"
        ));
    }
    kernel
        .iter()
        .enumerate()
        .find_map(|(axis, &k)| fit_problem(shape[rank - 2 + axis], same_padding_amounts(k), mode))
}

/// `(before, after)` padding that keeps a size-`n` dimension the same under a size-`k` kernel.
pub fn same_padding_amounts(k: usize) -> (usize, usize) {
    let total = k.saturating_sub(1);
    (total / 2, total - total / 2)
}

/// Pads the last two dimensions so that a valid `kernel` convolution keeps height and width.
///
/// Built from slices and concatenation in the input's own dtype, so it works on every backend
/// and precision, and differentiates like any other op.
///
/// # Panics
/// When a reflect or circular pad is as large as the dimension it extends (torch refuses too).
pub fn same_pad<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    kernel: [usize; 2],
    mode: Padding,
) -> Tensor<B, D> {
    let x = pad_dim(x, D - 2, same_padding_amounts(kernel[0]), mode);
    pad_dim(x, D - 1, same_padding_amounts(kernel[1]), mode)
}

/// Why a reflect or circular pad cannot extend a dimension of length `n` (it is as long as
/// the dimension; torch refuses too).
fn fit_problem(n: usize, (before, after): (usize, usize), mode: Padding) -> Option<String> {
    let reads_inside = matches!(mode, Padding::Reflect | Padding::Circular);
    (reads_inside && !(before < n && after < n)).then(|| {
        format!(
            "{} padding of ({before}, {after}) needs a dimension longer than that, but it has {n}; \
             use a smaller kernel or a larger image",
            mode.name()
        )
    })
}

/// Panics with [`fit_problem`]'s message; models report it earlier through `check_input`.
pub(crate) fn assert_fits(n: usize, amounts: (usize, usize), mode: Padding) {
    if let Some(problem) = fit_problem(n, amounts, mode) {
        panic!("{problem}");
    }
}

fn pad_dim<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    dim: usize,
    (before, after): (usize, usize),
    mode: Padding,
) -> Tensor<B, D> {
    if before == 0 && after == 0 {
        return x;
    }
    let n = x.dims()[dim];
    assert_fits(n, (before, after), mode);
    let border = |start: usize, len: usize, from_end: bool| -> Tensor<B, D> {
        match mode {
            Padding::Reflect => x.clone().narrow(dim, start, len).flip([dim as isize]),
            Padding::Circular => x.clone().narrow(dim, start, len),
            Padding::Replicate => {
                let edge = if from_end { n - 1 } else { 0 };
                x.clone().narrow(dim, edge, 1).repeat_dim(dim, len)
            }
            Padding::Constant => {
                let mut shape = x.dims();
                shape[dim] = len;
                Tensor::zeros(shape, (&x.device(), x.dtype()))
            }
        }
    };
    let mut parts = Vec::with_capacity(3);
    if before > 0 {
        parts.push(match mode {
            Padding::Reflect => border(1, before, false),
            Padding::Circular => border(n - before, before, false),
            _ => border(0, before, false),
        });
    }
    parts.push(x.clone());
    if after > 0 {
        parts.push(match mode {
            Padding::Reflect => border(n - 1 - after, after, true),
            Padding::Circular => border(0, after, true),
            _ => border(0, after, true),
        });
    }
    Tensor::cat(parts, dim)
}
