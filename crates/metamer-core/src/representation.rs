use std::fmt;
use std::sync::{Arc, OnceLock};

use burn::tensor::ops::FloatTensor;
use burn::tensor::{
    DType, Tensor, TensorData, TensorPrimitive, backend::AutodiffBackend, backend::Backend,
};

use crate::host::Real;

/// A model's output of any rank, seen flat with its shape so losses can work element-wise.
///
/// The output is kept as it came and flattened only when the flat values are asked for: on
/// Burn's ndarray backend a reshape copies the values forward and again backward, and the
/// host passes read the output and seed its backward step without one.
#[derive(Clone, Debug)]
pub struct Representation<B: Backend> {
    /// The model's output; `None` for flat values given as such.
    output: Option<Ranked<B>>,
    flat: OnceLock<Tensor<B, 1>>,
    shape: Vec<usize>,
    weighted_root: Option<WeightedRoot<B>>,
}

/// How a model starts a backward step from given weights on its output, cheaper than Burn's
/// own way: given the output and the weights (row-major, of the output's shape), a
/// one-element root whose backward step gives the output exactly the weights as its gradient.
/// Burn's way, `Σ output · weights` as a product, fills a plane of ones and multiplies
/// forward and backward: three passes on one thread, at 512×512 a tenth of a Gaussian
/// iteration on two.
#[derive(Clone)]
pub struct WeightedRoot<B: Backend>(
    Arc<dyn Fn(FloatTensor<B>, TensorData) -> FloatTensor<B> + Send + Sync>,
);

impl<B: Backend> WeightedRoot<B> {
    /// The root `root(output, weights)` builds.
    pub fn new(
        root: impl Fn(FloatTensor<B>, TensorData) -> FloatTensor<B> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(root))
    }

    /// The root for `output` weighted by `weights`.
    pub fn apply(&self, output: FloatTensor<B>, weights: TensorData) -> FloatTensor<B> {
        (self.0)(output, weights)
    }
}

impl<B: Backend> fmt::Debug for WeightedRoot<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeightedRoot")
    }
}

/// A tensor of rank 1 to 6.
#[derive(Clone, Debug)]
enum Ranked<B: Backend> {
    R1(Tensor<B, 1>),
    R2(Tensor<B, 2>),
    R3(Tensor<B, 3>),
    R4(Tensor<B, 4>),
    R5(Tensor<B, 5>),
    R6(Tensor<B, 6>),
}

/// `$body` with `$t` bound to the tensor of whichever rank `$ranked` holds.
macro_rules! each_rank {
    ($ranked:expr, $t:ident => $body:expr) => {
        match $ranked {
            Ranked::R1($t) => $body,
            Ranked::R2($t) => $body,
            Ranked::R3($t) => $body,
            Ranked::R4($t) => $body,
            Ranked::R5($t) => $body,
            Ranked::R6($t) => $body,
        }
    };
}

impl<B: Backend> Representation<B> {
    /// All elements in row-major order.
    pub fn flat(&self) -> &Tensor<B, 1> {
        self.flat.get_or_init(|| {
            let output = self
                .output
                .as_ref()
                .expect("flat values are set when given");
            each_rank!(output, t => t.clone().reshape([-1]))
        })
    }

    /// The model's output shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of values, over every part.
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The representation with its original shape, when that shape has rank `K`.
    pub fn reshaped<const K: usize>(&self) -> Option<Tensor<B, K>> {
        let dims: [usize; K] = self.shape.clone().try_into().ok()?;
        Some(self.flat().clone().reshape(dims))
    }

    /// Flat values with the model output shape they came from (a saved representation).
    pub(crate) fn with_shape(values: Tensor<B, 1>, shape: Vec<usize>) -> Self {
        Self {
            output: None,
            flat: OnceLock::from(values),
            shape,
            weighted_root: None,
        }
    }

    /// The representation with `root` as the way to start a backward step from weights on it.
    pub fn with_weighted_root(self, root: WeightedRoot<B>) -> Self {
        Self {
            weighted_root: Some(root),
            ..self
        }
    }

    /// Applies `f` to the flat values, keeping the shape (for element-wise changes).
    pub fn map(self, f: impl FnOnce(Tensor<B, 1>) -> Tensor<B, 1>) -> Self {
        let values = f(self.flat().clone());
        Self::with_shape(values, self.shape)
    }

    /// The values in row-major order, read to the host without flattening the output first.
    pub(crate) fn values<T: Real>(&self) -> Vec<T> {
        match (&self.output, self.flat.get()) {
            (Some(output), None) => each_rank!(output, t => crate::host::values(t.clone())),
            _ => crate::host::values(self.flat().clone()),
        }
    }
}

impl<B: AutodiffBackend> Representation<B> {
    /// The gradients of `Σ representation · weights` (row-major `weights`, untracked), so the
    /// backward step starts from `weights` as the representation's gradient.
    pub(crate) fn backward_weighted<T: Real>(&self, weights: Vec<T>, dtype: DType) -> B::Gradients {
        fn weighted<B: AutodiffBackend, const K: usize, T: Real>(
            t: &Tensor<B, K>,
            weights: Vec<T>,
            dtype: DType,
            root: Option<&WeightedRoot<B>>,
        ) -> B::Gradients {
            let data = TensorData::new(weights, t.dims());
            if let Some(root) = root {
                let root = root.apply(t.clone().into_primitive().tensor(), data);
                return Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(root)).backward();
            }
            let weights = Tensor::<B::InnerBackend, K>::from_data(data, (&t.device(), dtype));
            t.clone().mul(Tensor::from_inner(weights)).backward()
        }
        let root = self.weighted_root.as_ref();
        match &self.output {
            Some(output) => each_rank!(output, t => weighted(t, weights, dtype, root)),
            None => weighted(self.flat(), weights, dtype, None),
        }
    }
}

macro_rules! from_tensor {
    ($($rank:literal => $variant:ident),*) => {$(
        impl<B: Backend> From<Tensor<B, $rank>> for Representation<B> {
            fn from(tensor: Tensor<B, $rank>) -> Self {
                Self {
                    shape: tensor.dims().to_vec(),
                    output: Some(Ranked::$variant(tensor)),
                    flat: OnceLock::new(),
                    weighted_root: None,
                }
            }
        }
    )*};
}
from_tensor!(1 => R1, 2 => R2, 3 => R3, 4 => R4, 5 => R5, 6 => R6);

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};

    use super::*;

    #[test]
    fn keeps_the_model_shape() {
        let tensor = Tensor::<NdArray, 3>::from_floats(
            [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]],
            &Default::default(),
        );
        let representation = Representation::from(tensor.clone());
        assert_eq!(representation.shape(), &[1, 2, 3]);
        assert_eq!(representation.num_elements(), 6);
        assert_eq!(representation.flat().dims(), [6]);
        let back = representation.reshaped::<3>().unwrap();
        assert_eq!(back.into_data(), tensor.into_data());
        assert!(representation.reshaped::<2>().is_none());
    }

    #[test]
    fn host_reads_and_weighted_backward_need_no_flattening() {
        type Tracked = Autodiff<NdArray>;
        // Float32 whatever the features make the default float.
        let data = TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 2, 2]);
        let x =
            Tensor::<Tracked, 3>::from_data(data, (&Default::default(), DType::F32)).require_grad();
        let representation = Representation::from(x.clone().mul_scalar(2.0));
        assert_eq!(representation.values::<f32>(), [2.0, 4.0, 6.0, 8.0]);
        let gradients = representation.backward_weighted(vec![1.0f32, -1.0, 0.5, 0.0], DType::F32);
        let gradient = x.grad(&gradients).unwrap().into_data();
        assert_eq!(gradient.to_vec::<f32>().unwrap(), [2.0, -2.0, 1.0, 0.0]);
        assert_eq!(
            representation
                .flat()
                .clone()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
            [2.0, 4.0, 6.0, 8.0]
        );
    }
}
