use burn::{
    module::Module,
    tensor::{Tensor, backend::Backend},
};

use crate::Representation;

/// Anything image-computable and differentiable: an image of rank `D` in, a representation out.
///
/// Implemented by the models in `metamer-models`, by closures returning a [`Representation`],
/// and by [`BurnModel`] for any Burn `Module`.
pub trait Model<B: Backend, const D: usize = 4> {
    /// The image's representation; it must depend on the image through Burn's autodiff graph.
    ///
    /// Parameters it reads should not require gradients (`Module::no_grad`, as [`BurnModel`]
    /// does, or `Tensor::detach`): an operation on a tracked tensor that outlives the
    /// iteration stays in Burn's graph, whose bookkeeping after every backward pass then grows
    /// with each iteration.
    fn forward(&self, image: Tensor<B, D>) -> Representation<B>;

    /// The name shown in summaries and checked when a saved synthesis is loaded.
    fn name(&self) -> String {
        short_type_name::<Self>()
    }

    /// Named groups of values to draw for one `[batch, channel]` item of a `[batch, channel,
    /// n]` representation or its error (plenoptic's model-specific `plot_representation`, e.g.
    /// texture statistics summarised per group); `None` draws the item as one group.
    fn representation_panels(&self, values: &[f64]) -> Option<Vec<(String, Vec<f64>)>> {
        let _ = values;
        None
    }

    /// Why the model cannot run on images of `shape` (too small for its kernels, pyramid or
    /// windows), found before it runs so that the user gets that reason rather than a failure
    /// deep inside; `None` when it can.
    fn check_input(&self, shape: &[usize]) -> Option<String> {
        let _ = shape;
        None
    }

    /// The scales coarse-to-fine synthesis steps through, coarse to fine (plenoptic's
    /// `model.scales`); `None` for models that cannot restrict their output to scales.
    fn scales(&self) -> Option<Vec<String>> {
        None
    }

    /// The part of the representation that belongs to `scales` (names from
    /// [`Model::scales`]); models without scales return the whole representation.
    fn forward_scales(&self, image: Tensor<B, D>, scales: &[String]) -> Representation<B> {
        let _ = scales;
        self.forward(image)
    }
}

impl<B: Backend, const D: usize, F> Model<B, D> for F
where
    F: Fn(Tensor<B, D>) -> Representation<B>,
{
    fn forward(&self, image: Tensor<B, D>) -> Representation<B> {
        self(image)
    }

    fn name(&self) -> String {
        "<closure>".to_string()
    }
}

/// A model chosen at run time.
impl<B: Backend, const D: usize> Model<B, D> for Box<dyn Model<B, D>> {
    fn forward(&self, image: Tensor<B, D>) -> Representation<B> {
        self.as_ref().forward(image)
    }

    fn name(&self) -> String {
        self.as_ref().name()
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        self.as_ref().check_input(shape)
    }

    fn representation_panels(&self, values: &[f64]) -> Option<Vec<(String, Vec<f64>)>> {
        self.as_ref().representation_panels(values)
    }

    fn scales(&self) -> Option<Vec<String>> {
        self.as_ref().scales()
    }

    fn forward_scales(&self, image: Tensor<B, D>, scales: &[String]) -> Representation<B> {
        self.as_ref().forward_scales(image, scales)
    }
}

/// Wraps a Burn `Module` and its forward function, freezing its parameters so that gradients
/// reach only the metamer (plenoptic's `remove_grad`).
pub struct BurnModel<M, F> {
    module: M,
    forward: F,
}

impl<M, F> BurnModel<M, F> {
    /// Wraps `module`, calling `forward` to compute its representation.
    pub fn new<B: Backend>(module: M, forward: F) -> Self
    where
        M: Module<B>,
    {
        Self {
            module: module.no_grad(),
            forward,
        }
    }

    /// The wrapped module.
    pub fn module(&self) -> &M {
        &self.module
    }
}

impl<B: Backend, const D: usize, M, F> Model<B, D> for BurnModel<M, F>
where
    M: Module<B>,
    F: Fn(&M, Tensor<B, D>) -> Representation<B>,
{
    fn forward(&self, image: Tensor<B, D>) -> Representation<B> {
        (self.forward)(&self.module, image)
    }

    fn name(&self) -> String {
        short_type_name::<M>()
    }
}

/// `a::b::Gaussian<x::Y>` → `Gaussian`.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let without_generics = full.split('<').next().unwrap_or(full);
    without_generics
        .rsplit("::")
        .next()
        .unwrap_or(without_generics)
        .to_string()
}
