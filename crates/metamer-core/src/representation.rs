use burn::tensor::{Tensor, backend::Backend};

/// A model's output of any rank, kept flat with its shape so losses can work element-wise.
#[derive(Clone, Debug)]
pub struct Representation<B: Backend> {
    values: Tensor<B, 1>,
    shape: Vec<usize>,
}

impl<B: Backend> Representation<B> {
    /// All elements in row-major order.
    pub fn flat(&self) -> &Tensor<B, 1> {
        &self.values
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
        Some(self.values.clone().reshape(dims))
    }

    /// Flat values with the model output shape they came from (a saved representation).
    pub(crate) fn with_shape(values: Tensor<B, 1>, shape: Vec<usize>) -> Self {
        Self { values, shape }
    }

    /// Applies `f` to the flat values, keeping the shape (for element-wise changes).
    pub fn map(self, f: impl FnOnce(Tensor<B, 1>) -> Tensor<B, 1>) -> Self {
        Self {
            values: f(self.values),
            shape: self.shape,
        }
    }
}

macro_rules! from_tensor {
    ($($rank:literal),*) => {$(
        impl<B: Backend> From<Tensor<B, $rank>> for Representation<B> {
            fn from(tensor: Tensor<B, $rank>) -> Self {
                let shape = tensor.dims().to_vec();
                Self { values: tensor.reshape([-1]), shape }
            }
        }
    )*};
}
from_tensor!(1, 2, 3, 4, 5, 6);

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;

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
}
