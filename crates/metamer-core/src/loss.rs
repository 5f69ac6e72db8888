use std::{fmt, rc::Rc};

use burn::tensor::{Tensor, backend::Backend};

use crate::Representation;

type LossFn<B> = dyn Fn(&Representation<B>, &Representation<B>) -> Tensor<B, 1>;

/// Compares the metamer's representation (first argument) with the target's (second).
#[derive(Clone)]
pub struct Loss<B: Backend> {
    name: String,
    function: Rc<LossFn<B>>,
    mean_squared: bool,
}

impl<B: Backend> Loss<B> {
    /// A user loss; `name` appears in summaries and is checked on load.
    pub fn new(
        name: impl Into<String>,
        function: impl Fn(&Representation<B>, &Representation<B>) -> Tensor<B, 1> + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            function: Rc::new(function),
            mean_squared: false,
        }
    }

    /// Mean squared error over all elements (plenoptic's default).
    pub fn mse() -> Self {
        let function = |synth: &Representation<B>, target: &Representation<B>| {
            synth
                .flat()
                .clone()
                .sub(target.flat().clone())
                .square()
                .mean()
        };
        Self {
            mean_squared: true,
            ..Self::new("mse", function)
        }
    }

    /// Whether this is [`Loss::mse`], which synthesis on host backends computes, with its
    /// gradient, in one pass instead of through the backend's graph.
    pub(crate) fn is_mean_squared(&self) -> bool {
        self.mean_squared
    }

    /// Euclidean norm of the difference.
    pub fn l2_norm() -> Self {
        Self::new("l2_norm", |synth, target| {
            target
                .flat()
                .clone()
                .sub(synth.flat().clone())
                .square()
                .sum()
                .sqrt()
        })
    }

    /// Squared error relative to the target's squared norm.
    pub fn relative_sse() -> Self {
        Self::new("relative_sse", |synth, target| {
            let error = target
                .flat()
                .clone()
                .sub(synth.flat().clone())
                .square()
                .sum();
            error.div(target.flat().clone().square().sum())
        })
    }

    /// The name shown in summaries and checked on load.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loss between the metamer's and the target's representations, as one value.
    pub fn compute(&self, synth: &Representation<B>, target: &Representation<B>) -> Tensor<B, 1> {
        (self.function)(synth, target)
    }
}

impl<B: Backend> fmt::Debug for Loss<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}
