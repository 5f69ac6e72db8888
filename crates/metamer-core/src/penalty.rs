use std::{fmt, rc::Rc};

use burn::tensor::{Tensor, backend::Backend};

type PenaltyFn<B, const D: usize> = dyn Fn(Tensor<B, D>) -> Tensor<B, 1>;

/// A scalar penalty on the metamer's pixels, weighted by `penalty_lambda` in the objective.
#[derive(Clone)]
pub struct Penalty<B: Backend, const D: usize = 4> {
    name: String,
    function: Rc<PenaltyFn<B, D>>,
    range: Option<(f64, f64)>,
}

impl<B: Backend, const D: usize> Penalty<B, D> {
    /// A penalty called `name` computing `function` of the pixels.
    pub fn new(
        name: impl Into<String>,
        function: impl Fn(Tensor<B, D>) -> Tensor<B, 1> + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            function: Rc::new(function),
            range: None,
        }
    }

    /// Sum of squared distances of the pixels outside `[min, max]` (plenoptic's `penalize_range`).
    pub fn range(min: f64, max: f64) -> Self {
        let name = if (min, max) == (0.0, 1.0) {
            "penalize_range".to_string()
        } else {
            format!("penalize_range(allowed_range=({min:?}, {max:?}))")
        };
        // A pixel's distance outside the range is its distance to the range's nearest point:
        // four operations where below and above separately take nine, each a full pass and
        // a backward step in every iteration.
        let function = move |image: Tensor<B, D>| {
            let inside = image.clone().clamp(min, max);
            image.sub(inside).square().sum()
        };
        Self {
            range: Some((min, max)),
            ..Self::new(name, function)
        }
    }

    /// The allowed range of a [`Penalty::range`], which synthesis on host backends computes,
    /// with its gradient, in one pass instead of through the backend's graph.
    pub(crate) fn allowed_range(&self) -> Option<(f64, f64)> {
        self.range
    }

    /// The name shown in summaries and checked on load.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The penalty of `image`, as one value.
    pub fn compute(&self, image: Tensor<B, D>) -> Tensor<B, 1> {
        (self.function)(image)
    }
}

impl<B: Backend, const D: usize> Default for Penalty<B, D> {
    fn default() -> Self {
        Self::range(0.0, 1.0)
    }
}

impl<B: Backend, const D: usize> fmt::Debug for Penalty<B, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
