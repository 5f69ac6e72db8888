//! Checks run when a synthesis is built (plenoptic's `validate_input`, `validate_model`,
//! `validate_penalty`), turning a misbehaving model or penalty into a clear error.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{DType, Tensor, backend::AutodiffBackend, backend::Backend};

use crate::{
    MetamerError, Model, Penalty, Result, Warning,
    tensor::{from_f64, to_f64},
    warning::raise,
};

/// Warns for non-4-D inputs and values outside [0, 1]; rejects empty or non-finite inputs.
///
/// # Errors
/// When the input is empty or holds NaN or infinite values.
pub fn validate_input<B: Backend, const D: usize>(
    image: &Tensor<B, D>,
    what: &'static str,
) -> Result<Vec<Warning>> {
    let shape = image.dims().to_vec();
    if shape.iter().product::<usize>() == 0 {
        return Err(MetamerError::Empty { what, shape });
    }
    let values = to_f64(image.clone());
    if values.iter().any(|v| !v.is_finite()) {
        return Err(MetamerError::NonFinite { what });
    }
    let mut warnings = Vec::new();
    if D != 4 {
        warnings.push(raise(Warning::NotFourDimensional { shape }));
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if min < 0.0 || max > 1.0 {
        warnings.push(raise(Warning::OutOfRange { min, max }));
    }
    Ok(warnings)
}

/// Runs `f`, turning a panic inside user code into an error naming the call.
pub(crate) fn guarded<T>(what: &'static str, shape: &[usize], f: impl FnOnce() -> T) -> Result<T> {
    catch_quietly(f).map_err(|panic| {
        let message = panic_message(&*panic).unwrap_or_else(|| "it panicked".to_string());
        MetamerError::CallFailed {
            what,
            shape: shape.to_vec(),
            message,
        }
    })
}

/// The text a panic was raised with (`panic!` gives a `&str` or a `String`), if any.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

thread_local! {
    /// Set while this thread runs a call whose panic becomes an error value.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `catch_unwind` without the panic hook's message and backtrace on stderr: the panic comes
/// back as an error that says what failed, once. Other threads' panics are reported as usual.
fn catch_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|quiet| quiet.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(was));
    result
}

fn same_precision(input: DType, output: DType) -> bool {
    let family = |d: DType| match d {
        DType::F64 => 64,
        DType::F32 | DType::Flex32 => 32,
        _ => 16,
    };
    family(input) == family(output)
}

/// Checks that the model keeps gradients, precision and device, on a uniform-noise image drawn
/// from the global generator (so it consumes one image-sized draw, as plenoptic does).
///
/// # Errors
/// When the model adds or strips gradients, or changes the precision or device of its input,
/// or fails on the test image.
pub fn validate_model<B: AutodiffBackend, const D: usize>(
    model: &dyn Model<B, D>,
    shape: [usize; D],
    dtype: DType,
    device: &B::Device,
) -> Result<()> {
    let noise: Tensor<B, D> = crate::rng::rand(shape, dtype, device);
    let untracked = guarded("model", &shape, || model.forward(noise.clone()))?;
    if untracked.flat().is_require_grad() {
        return Err(MetamerError::ModelAddsGradient);
    }
    let tracked = noise.require_grad();
    let output = guarded("model", &shape, || model.forward(tracked.clone()))?;
    let reaches_input = guarded("model", &shape, || {
        let gradients = output.flat().clone().sum().backward();
        tracked.grad(&gradients).is_some()
    })?;
    if !reaches_input {
        return Err(MetamerError::ModelStripsGradient);
    }
    let out_dtype = output.flat().dtype();
    if !same_precision(dtype, out_dtype) {
        return Err(MetamerError::ModelChangesPrecision {
            input: format!("{dtype:?}"),
            output: format!("{out_dtype:?}"),
        });
    }
    if output.flat().device() != *device {
        return Err(MetamerError::ModelChangesDevice);
    }
    Ok(())
}

/// Checks that the penalty returns a differentiable scalar of the input's precision, on ones
/// with every other column set to zero (no random draw).
///
/// # Errors
/// When the penalty is not a scalar, adds or strips gradients, or changes precision or device.
pub fn validate_penalty<B: AutodiffBackend, const D: usize>(
    penalty: &Penalty<B, D>,
    shape: [usize; D],
    dtype: DType,
    device: &B::Device,
) -> Result<()> {
    let width = shape[D - 1].max(1);
    let len = shape.iter().product();
    let values = (0..len)
        .map(|i| {
            if (i % width).is_multiple_of(2) {
                0.0
            } else {
                1.0
            }
        })
        .collect();
    let test: Tensor<B, D> = from_f64(values, shape, dtype, device);
    let untracked = guarded("penalty_function", &shape, || penalty.compute(test.clone()))?;
    if untracked.is_require_grad() {
        return Err(MetamerError::PenaltyAddsGradient);
    }
    let tracked = test.require_grad();
    let output = guarded("penalty_function", &shape, || {
        penalty.compute(tracked.clone())
    })?;
    let out_shape = output.dims().to_vec();
    if out_shape.iter().product::<usize>() != 1 {
        return Err(MetamerError::PenaltyNotScalar(out_shape));
    }
    let reaches_input = guarded("penalty_function", &shape, || {
        tracked.grad(&output.clone().sum().backward()).is_some()
    })?;
    if !reaches_input {
        return Err(MetamerError::PenaltyStripsGradient);
    }
    if output.dtype() != dtype {
        return Err(MetamerError::PenaltyChangesPrecision {
            input: format!("{dtype:?}"),
            output: format!("{:?}", output.dtype()),
        });
    }
    if output.device() != *device {
        return Err(MetamerError::PenaltyChangesDevice);
    }
    Ok(())
}
