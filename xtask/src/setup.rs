//! Everything the tests and benches need on a fresh machine, installed on first use and cached
//! after: a font for the figures, lavapipe (Mesa's software Vulkan driver) so that wgpu runs
//! without a GPU, torch 2.9.0's libtorch, which tch 0.22 needs exactly, and seeded torchvision
//! networks for the deep-network conformance tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{root, run, stdout_of};

/// The torch whose libtorch the `tch` feature links against.
const TORCH: &str = "torch==2.9.0";
/// The torchvision of that torch, and what saving its networks as safetensors needs.
pub const TORCHVISION: [&str; 3] = ["torchvision==0.24.0", "safetensors==0.6.2", "packaging"];

/// Environment variables for cargo and the binaries it runs.
pub type Environment = Vec<(String, OsString)>;

/// Installs what `features` (of the facade: `wgpu`, `tch`) need, and returns the environment
/// under which they build and run.
pub fn prepare(features: &[&str]) -> Result<Environment, String> {
    let mut environment = Environment::new();
    ensure_font()?;
    if features.contains(&"wgpu") {
        environment.extend(wgpu_environment()?);
    }
    if features.contains(&"tch") {
        environment.extend(torch_environment()?);
    }
    Ok(environment)
}

/// The build folder cargo uses here, which also keeps the shader caches.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Installs Debian packages, refreshing the package lists only when the first try fails.
fn apt_install(packages: &[&str], why: &str) -> Result<(), String> {
    let package = packages.join(" ");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-q"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprintln!("installing {package} ({why})");
    if install()
        || (Command::new("apt-get")
            .args(["update", "-q"])
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && install())
    {
        Ok(())
    } else {
        Err(format!(
            "could not install {package} with apt-get (it needs root); install it by hand: {why}"
        ))
    }
}

/// Slurm and munge for the study test, which starts a single-node cluster of its own and
/// must then run rather than skip.
pub fn slurm_environment() -> Result<Environment, String> {
    let installed = [
        "/usr/sbin/slurmctld",
        "/usr/sbin/slurmd",
        "/usr/bin/sbatch",
        "/usr/sbin/munged",
    ]
    .iter()
    .all(|program| Path::new(program).exists());
    if !installed {
        apt_install(
            &["slurmctld", "slurmd", "slurm-client", "munge"],
            "the Slurm study test",
        )?;
    }
    Ok(vec![(
        "METAMER_SLURM_TEST".to_string(),
        OsString::from("required"),
    )])
}

/// The figure tests draw text with any of the fonts metamer-plot looks for.
fn ensure_font() -> Result<(), String> {
    if std::env::var_os("METAMER_FONT").is_some()
        || Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists()
    {
        return Ok(());
    }
    apt_install(
        &["fonts-dejavu-core"],
        "the figures' text, or set METAMER_FONT",
    )
}

/// Whether any Vulkan driver (a GPU's, or lavapipe) is installed.
fn vulkan_driver_installed() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .any(|mut entries| entries.next().is_some())
}

fn wgpu_environment() -> Result<Environment, String> {
    if !vulkan_driver_installed() {
        apt_install(
            &["mesa-vulkan-drivers"],
            "lavapipe, the software Vulkan driver wgpu runs on without a GPU",
        )?;
    }
    let target = target_dir();
    let mut environment = vec![(
        // Mesa's shader cache stays with the build rather than in ~/.cache.
        "MESA_SHADER_CACHE_DIR".to_string(),
        target.join("mesa-shader-cache").into_os_string(),
    )];
    // Without it Mesa prints an error on every start.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        let runtime = target.join("xdg-runtime");
        create_private_dir(&runtime)?;
        environment.push(("XDG_RUNTIME_DIR".to_string(), runtime.into_os_string()));
    }
    Ok(environment)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Where a Python environment's torch keeps libtorch, when that torch is 2.9.0.
fn torch_lib(env: &Path) -> Option<PathBuf> {
    stdout_of(Command::new(env.join("bin/python")).args([
        "-c",
        "import os, torch; assert torch.__version__.startswith('2.9.0'); \
         print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
    ]))
    .map(PathBuf::from)
}

/// A Python environment with torch 2.9.0 and its libtorch folder: `METAMER_TORCH_ENV`, else
/// the fixtures' `.venv` when it has that torch, else ours under `~/.cache/metamer-torch`, made
/// (again) when it lacks it: about 7 GB, as the registry's torch brings CUDA libraries its
/// libtorch links against even on CPU.
fn torch_env() -> Result<(PathBuf, PathBuf), String> {
    if let Some(env) = std::env::var_os("METAMER_TORCH_ENV").map(PathBuf::from) {
        return match torch_lib(&env) {
            Some(lib) => Ok((env, lib)),
            None => Err(format!(
                "METAMER_TORCH_ENV={} has no torch 2.9.0; unset it to get one made",
                env.display()
            )),
        };
    }
    let fixtures_env = root().join(".venv");
    if let Some(lib) = torch_lib(&fixtures_env) {
        return Ok((fixtures_env, lib));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let cache = PathBuf::from(home).join(".cache/metamer-torch");
    if let Some(lib) = torch_lib(&cache) {
        return Ok((cache, lib));
    }
    eprintln!("installing {TORCH} into {} (about 7 GB)", cache.display());
    let _ = std::fs::remove_dir_all(&cache);
    run(Command::new("python3").args(["-m", "venv"]).arg(&cache))?;
    run(Command::new(cache.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-cache-dir",
        TORCH,
    ]))?;
    match torch_lib(&cache) {
        Some(lib) => Ok((cache, lib)),
        None => Err(format!(
            "{TORCH} was installed into {} but does not import",
            cache.display()
        )),
    }
}

fn torch_environment() -> Result<Environment, String> {
    if std::env::var_os("LIBTORCH").is_some() {
        // The user's own libtorch; torch-sys reads LIBTORCH and they manage its library path.
        return Ok(Environment::new());
    }
    let (env, lib) = torch_env()?;
    let prepend = |variable: &str, first: &Path| {
        let mut paths = vec![first.to_path_buf()];
        if let Some(rest) = std::env::var_os(variable) {
            paths.extend(std::env::split_paths(&rest));
        }
        std::env::join_paths(paths).expect("paths without separators")
    };
    Ok(vec![
        ("LIBTORCH_USE_PYTORCH".to_string(), "1".into()),
        ("VIRTUAL_ENV".to_string(), env.clone().into_os_string()),
        ("PATH".to_string(), prepend("PATH", &env.join("bin"))),
        (
            "LD_LIBRARY_PATH".to_string(),
            prepend("LD_LIBRARY_PATH", &lib),
        ),
    ])
}

/// Where the seeded torchvision networks live: `METAMER_TEST_WEIGHTS`, else
/// `~/.cache/metamer-weights` (the tests look in the same places).
pub fn weights_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("METAMER_TEST_WEIGHTS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/metamer-weights"))
}

/// Makes the seeded torchvision networks the deep-network tests load, once (about 1.5 GB: no
/// pretrained weights can be downloaded, and they are too large for git), with torchvision
/// 0.24.0 installed beside torch 2.9.0; returns the environment that points the tests at them.
pub fn deep_net_weights() -> Result<Environment, String> {
    let dir = weights_dir()?;
    if !dir.join("complete").is_file() {
        let (env, _) = torch_env()?;
        make_weights(&env.join("bin/python"), &dir)?;
    }
    Ok(vec![(
        "METAMER_TEST_WEIGHTS".to_string(),
        dir.into_os_string(),
    )])
}

/// Writes the seeded networks into `dir` with `python`, installing torchvision there first.
pub fn make_weights(python: &Path, dir: &Path) -> Result<(), String> {
    let installed = stdout_of(Command::new(python).args([
        "-c",
        "import torchvision, safetensors.torch; print(torchvision.__version__)",
    ]));
    if !installed.is_some_and(|v| v.starts_with("0.24.0")) {
        eprintln!("installing {} beside {TORCH}", TORCHVISION.join(" "));
        run(Command::new(python)
            .args(["-m", "pip", "install", "--quiet", "--no-cache-dir"])
            .args(TORCHVISION))?;
    }
    eprintln!(
        "making seeded torchvision networks in {} (about 1.5 GB)",
        dir.display()
    );
    let _ = std::fs::remove_file(dir.join("complete"));
    run(Command::new(python)
        .arg(root().join("xtask/fixtures/torchvision_weights.py"))
        .arg(dir))
}

/// Builds the release `metamer` binary with `environment`; returns its path.
pub fn release_binary(environment: &Environment) -> Result<PathBuf, String> {
    run(Command::new("cargo")
        .args(["build", "--release", "--quiet", "-p", "metamer"])
        .envs(environment.iter().map(|(k, v)| (k, v)))
        .current_dir(root()))?;
    Ok(target_dir().join("release/metamer"))
}

/// A folder for one benchmark's files, under the system's temporary folder.
pub fn scratch_folder(name: &str) -> Result<PathBuf, String> {
    let folder = std::env::temp_dir().join(format!("metamer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    Ok(folder)
}
