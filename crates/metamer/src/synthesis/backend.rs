//! Running backend-generic work on the backend chosen at run time.

use burn::tensor::backend::AutodiffBackend;

use super::SynthesisError;
use super::settings::{BackendChoice, DtypeChoice};
use crate::models::HostBackend;

/// Work generic over the backend, run on the one chosen at run time.
pub trait BackendJob {
    type Output;

    /// # Errors
    /// Whatever the work fails with.
    fn run<B: AutodiffBackend + HostBackend>(self) -> Result<Self::Output, SynthesisError>;
}

/// Runs `job` on the compiled-in backend named by `backend` and `dtype`.
///
/// # Errors
/// The backend is not compiled in, or the job failed.
pub fn on_backend<J: BackendJob>(
    backend: BackendChoice,
    dtype: DtypeChoice,
    job: J,
) -> Result<J::Output, SynthesisError> {
    let unavailable = |feature: &str| {
        SynthesisError::Settings(format!(
            "the {feature} backend is not compiled in; rebuild with `--features {feature}`"
        ))
    };
    match (backend, dtype) {
        #[cfg(feature = "flex")]
        (BackendChoice::Flex, _) => job.run::<crate::backend::Flex>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F32) => job.run::<crate::backend::NdArray>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F64) => job.run::<crate::backend::NdArray64>(),
        #[cfg(feature = "wgpu")]
        (BackendChoice::Wgpu, _) => job.run::<crate::backend::Wgpu>(),
        #[cfg(feature = "tch")]
        (BackendChoice::Tch, _) => job.run::<crate::backend::LibTorch>(),
        #[allow(unreachable_patterns)]
        (choice, _) => Err(unavailable(match choice {
            BackendChoice::Ndarray => "ndarray",
            BackendChoice::Flex => "flex",
            BackendChoice::Wgpu => "wgpu",
            BackendChoice::Tch => "tch",
        })),
    }
}

/// Whether `backend` is compiled into this build.
pub fn compiled_in(backend: BackendChoice) -> bool {
    match backend {
        BackendChoice::Ndarray => cfg!(feature = "ndarray"),
        BackendChoice::Flex => cfg!(feature = "flex"),
        BackendChoice::Wgpu => cfg!(feature = "wgpu"),
        BackendChoice::Tch => cfg!(feature = "tch"),
    }
}
