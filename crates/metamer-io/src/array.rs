use burn::tensor::{DType, Tensor, backend::Backend};
use metamer_core::tensor::{from_f64, to_f64};

use crate::{IoError, Result};

/// Element precision of an [`Array`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

impl Precision {
    /// The Burn float type of this precision.
    pub fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F64 => DType::F64,
        }
    }
}

/// A row-major float array on the host, the currency between files and tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values in row-major order (`f64` holds `f32` values exactly).
    pub values: Vec<f64>,
    /// The precision it is stored in.
    pub precision: Precision,
}

impl Array {
    /// Reads a tensor back to the host, keeping its precision (f64 stays f64, else f32).
    pub fn from_tensor<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Self {
        let precision = match tensor.dtype() {
            DType::F64 => Precision::F64,
            _ => Precision::F32,
        };
        Self {
            shape: tensor.dims().to_vec(),
            values: to_f64(tensor),
            precision,
        }
    }

    /// A tensor of rank `D` in the array's precision.
    ///
    /// # Errors
    /// [`IoError::WrongRank`](crate::IoError::WrongRank) when the array's rank is not `D`.
    pub fn to_tensor<B: Backend, const D: usize>(
        &self,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        self.to_tensor_as(self.precision.dtype(), device)
    }

    /// A tensor of rank `D` and the given dtype.
    ///
    /// # Errors
    /// [`IoError::WrongRank`](crate::IoError::WrongRank) when the array's rank is not `D`.
    pub fn to_tensor_as<B: Backend, const D: usize>(
        &self,
        dtype: DType,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let shape: [usize; D] = self
            .shape
            .clone()
            .try_into()
            .map_err(|_| IoError::WrongRank {
                shape: self.shape.clone(),
                expected: format!("{D} dimensions are needed"),
            })?;
        Ok(from_f64(self.values.clone(), shape, dtype, device))
    }
}
