//! Running backend-generic work on the backend chosen at run time.

use burn::tensor::backend::AutodiffBackend;

use super::SynthesisError;
use super::settings::{BackendChoice, DtypeChoice, Settings, value_name};
use crate::models::HostBackend;

/// Work generic over the backend, run on the one chosen at run time.
pub trait BackendJob {
    /// What the work returns, the same on every backend.
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
    match (backend, dtype) {
        #[cfg(feature = "flex")]
        (BackendChoice::Flex, _) => job.run::<crate::backend::Flex>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F32) => job.run::<crate::backend::NdArray>(),
        #[cfg(feature = "ndarray")]
        (BackendChoice::Ndarray, DtypeChoice::F64) => job.run::<crate::backend::NdArray64>(),
        #[cfg(feature = "wgpu")]
        (BackendChoice::Wgpu, _) => {
            wgpu_starts()?;
            job.run::<crate::backend::Wgpu>()
        }
        #[cfg(feature = "tch")]
        (BackendChoice::Tch, _) => job.run::<crate::backend::LibTorch>(),
        #[allow(unreachable_patterns)]
        (choice, _) => Err(SynthesisError::Settings(not_compiled_in(choice))),
    }
}

/// Why `backend` cannot run here: it is not compiled in (the feature has the backend's name).
pub fn not_compiled_in(backend: BackendChoice) -> String {
    let feature = value_name(backend);
    format!("the {feature} backend is not compiled in; rebuild with `--features {feature}`")
}

/// The backend that runs `settings`: `--backend`, or for `auto` the compiled-in CPU backend
/// measured fastest for the model (flex for deep networks, ndarray for the rest).
pub fn backend_in_use(settings: &Settings) -> BackendChoice {
    match settings.backend {
        BackendChoice::Auto => {
            let preferred = if settings.model.is_deep_net() {
                [BackendChoice::Flex, BackendChoice::Ndarray]
            } else {
                [BackendChoice::Ndarray, BackendChoice::Flex]
            };
            let compiled = preferred.into_iter().find(|&b| compiled_in(b));
            compiled.unwrap_or(preferred[0])
        }
        chosen => chosen,
    }
}

/// Whether `backend` is compiled into this build.
pub fn compiled_in(backend: BackendChoice) -> bool {
    match backend {
        BackendChoice::Auto => cfg!(any(feature = "ndarray", feature = "flex")),
        BackendChoice::Ndarray => cfg!(feature = "ndarray"),
        BackendChoice::Flex => cfg!(feature = "flex"),
        BackendChoice::Wgpu => cfg!(feature = "wgpu"),
        BackendChoice::Tch => cfg!(feature = "tch"),
    }
}

/// Starts the wgpu device once, so that a machine without a usable adapter gets one line with
/// the cure instead of the panics wgpu's runtime raises on its threads.
#[cfg(feature = "wgpu")]
fn wgpu_starts() -> Result<(), SynthesisError> {
    use std::sync::{Arc, Mutex};

    use burn::tensor::Tensor;
    // The runtime panics on its own threads (the first panic says why), and the caller then
    // fails on a closed channel; every panic is kept quiet while it starts, and the first one
    // kept as the reason. Nothing else runs yet.
    let first = Arc::new(Mutex::new(None::<String>));
    let seen = Arc::clone(&first);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = metamer_core::validate::panic_message(info.payload());
        if let (Ok(mut slot), Some(message)) = (seen.lock(), message) {
            slot.get_or_insert(message);
        }
    }));
    let started = std::panic::catch_unwind(|| {
        Tensor::<burn::backend::Wgpu, 1>::zeros([1], &Default::default()).into_data()
    });
    std::panic::set_hook(hook);
    if started.is_ok() {
        return Ok(());
    }
    let reason = first
        .lock()
        .ok()
        .and_then(|slot| slot.clone())
        .unwrap_or_else(|| "no adapter".to_string());
    Err(SynthesisError::Settings(format!(
        "the wgpu backend cannot start ({}); install a Vulkan driver (Debian: \
         mesa-vulkan-drivers, whose lavapipe runs on the CPU) or use --backend ndarray",
        reason.lines().next().unwrap_or_default().trim()
    )))
}
