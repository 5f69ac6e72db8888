//! With the `tch` feature, records libtorch's library folder in the `metamer` binary (rpath),
//! so that it starts as built, whatever the backend chosen, without `LD_LIBRARY_PATH`.
//! The folder is found as torch-sys finds it: `LIBTORCH/lib`, or torch's own `lib` folder in
//! the Python environment when `LIBTORCH_USE_PYTORCH` is set.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    for variable in [
        "LIBTORCH",
        "LIBTORCH_USE_PYTORCH",
        "PYTHON_SYS_EXECUTABLE",
        "VIRTUAL_ENV",
    ] {
        println!("cargo:rerun-if-env-changed={variable}");
    }
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() || !cfg!(unix) {
        return;
    }
    if let Some(folder) = libtorch_lib() {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", folder.display());
    }
}

fn libtorch_lib() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os("LIBTORCH") {
        return Some(PathBuf::from(root).join("lib"));
    }
    std::env::var_os("LIBTORCH_USE_PYTORCH")?;
    let python = std::env::var("PYTHON_SYS_EXECUTABLE").unwrap_or_else(|_| "python".to_string());
    let output = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    let folder = String::from_utf8(output.stdout).ok()?;
    let folder = PathBuf::from(folder.trim());
    folder.is_dir().then_some(folder)
}
