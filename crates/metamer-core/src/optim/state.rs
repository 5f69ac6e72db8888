//! Optimizer and scheduler state as plain values, so a synthesis can be saved and resumed.

use std::collections::BTreeMap;

use burn::tensor::{DType, Tensor, backend::Backend};
use serde::{Deserialize, Serialize};

use crate::{
    MetamerError, Result,
    tensor::{from_f64, to_f64},
};

/// A host copy of one state tensor (f64 holds f32 values exactly).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateTensor {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values in row-major order.
    pub values: Vec<f64>,
}

/// An optimizer's or scheduler's state: numbers and tensors by name, under the owner's name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// The optimizer's or scheduler's name, checked on load.
    pub name: String,
    /// Counters, options and flags.
    pub scalars: BTreeMap<String, f64>,
    /// Per-pixel buffers.
    pub tensors: BTreeMap<String, StateTensor>,
}

impl State {
    /// An empty state for the optimizer or scheduler called `name`.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Adds a number.
    pub fn scalar(mut self, key: &str, value: f64) -> Self {
        self.scalars.insert(key.to_string(), value);
        self
    }

    /// A yes/no option, stored as 1 or 0.
    pub fn flag(self, key: &str, value: bool) -> Self {
        self.scalar(key, if value { 1.0 } else { 0.0 })
    }

    /// Adds a tensor, when there is one.
    pub fn tensor<B: Backend, const D: usize>(
        mut self,
        key: &str,
        tensor: Option<&Tensor<B, D>>,
    ) -> Self {
        if let Some(tensor) = tensor {
            let state = StateTensor {
                shape: tensor.dims().to_vec(),
                values: to_f64(tensor.clone()),
            };
            self.tensors.insert(key.to_string(), state);
        }
        self
    }

    /// Fails unless this state belongs to an owner called `name`.
    ///
    /// # Errors
    /// [`MetamerError::StateMismatch`] for another owner's state.
    pub fn expect_name(&self, name: &str) -> Result<()> {
        if self.name == name {
            Ok(())
        } else {
            Err(MetamerError::StateMismatch {
                expected: name.to_string(),
                found: self.name.clone(),
            })
        }
    }

    /// The number stored under `key`.
    ///
    /// # Errors
    /// When there is none ([`MetamerError::StateMismatch`](crate::MetamerError::StateMismatch)).
    pub fn get_scalar(&self, key: &str) -> Result<f64> {
        self.scalars
            .get(key)
            .copied()
            .ok_or_else(|| self.missing(key))
    }

    /// The yes/no option stored under `key`.
    ///
    /// # Errors
    /// When there is none ([`MetamerError::StateMismatch`](crate::MetamerError::StateMismatch)).
    pub fn get_flag(&self, key: &str) -> Result<bool> {
        self.get_scalar(key).map(|v| v != 0.0)
    }

    /// The tensor stored under `key`, if any, rebuilt with rank `D` on `device` in `dtype`.
    ///
    /// # Errors
    /// When the stored tensor's rank is not `D`.
    pub fn get_tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        device: &B::Device,
        dtype: DType,
    ) -> Result<Option<Tensor<B, D>>> {
        let Some(stored) = self.tensors.get(key) else {
            return Ok(None);
        };
        let shape: [usize; D] = stored
            .shape
            .clone()
            .try_into()
            .map_err(|_| self.missing(key))?;
        if shape.iter().product::<usize>() != stored.values.len() {
            return Err(self.missing(key));
        }
        Ok(Some(from_f64(stored.values.clone(), shape, dtype, device)))
    }

    fn missing(&self, key: &str) -> MetamerError {
        MetamerError::StateMismatch {
            expected: format!("{} state with a valid {key}", self.name),
            found: format!(
                "{:?}",
                self.scalars
                    .keys()
                    .chain(self.tensors.keys())
                    .collect::<Vec<_>>()
            ),
        }
    }
}
