//! The root a host-operation model's representation starts a weighted backward step from
//! (see [`metamer_core::WeightedRoot`]): a one-element node whose backward step hands its
//! input the weights as they came, with no plane of ones and no products.

use std::sync::Mutex;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use metamer_core::WeightedRoot;

use super::{HostBackend, HostOp};

/// The weighted root for representations of backend `B`.
pub(crate) fn weighted_root<B: HostBackend>() -> WeightedRoot<B> {
    WeightedRoot::new(|output, weights| {
        B::host_op(
            output,
            Weights {
                data: Mutex::new(Some(weights)),
            },
        )
    })
}

/// The weights, taken by the one backward step.
#[derive(Debug)]
struct Weights {
    data: Mutex<Option<TensorData>>,
}

impl HostOp for Weights {
    type Saved<B: Backend> = (B::Device, DType);

    /// The root's value is not used (only its gradient is); it is zero.
    fn forward_saving<B: Backend>(&self, x: FloatTensor<B>) -> (FloatTensor<B>, Self::Saved<B>) {
        let (device, dtype) = (B::float_device(&x), x.dtype());
        let zero = B::float_zeros(Shape::new([1]), &device, dtype.into());
        (zero, (device, dtype))
    }

    fn backward<B: Backend>(
        &self,
        (device, dtype): Self::Saved<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let data = self
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .expect("one backward step per root");
        let weights = B::float_from_data(data.convert_dtype(dtype), &device);
        // From `backward` the root's gradient is one, and `1 · w` is `w` exactly.
        let scale = super::host_f64::<B>(grad)[0];
        if scale == 1.0 {
            weights
        } else {
            B::float_mul_scalar(weights, scale.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Tensor, TensorPrimitive};

    use super::*;

    #[test]
    fn the_output_gets_the_weights_as_its_gradient() {
        type Tracked = Autodiff<NdArray>;
        // Float32 whatever the features make the default float.
        let data = TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]);
        let x =
            Tensor::<Tracked, 2>::from_data(data, (&Default::default(), DType::F32)).require_grad();
        let output = x.clone().mul_scalar(3.0).into_primitive().tensor();
        let weights = TensorData::new(vec![0.5f32, -1.0, 2.0, 0.0], [2, 2]);
        let root = weighted_root::<Tracked>().apply(output, weights);
        let gradients =
            Tensor::<Tracked, 1>::from_primitive(TensorPrimitive::Float(root)).backward();
        let gradient = x
            .grad(&gradients)
            .unwrap()
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(gradient, [1.5, -3.0, 6.0, 0.0]);
    }
}
