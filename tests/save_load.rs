//! Saving and loading a synthesis (plenoptic's `Metamer.save` and `load`): resuming is bit for bit,
//! and a load into a different synthesis is refused (or warned about) with plenoptic's messages.

use std::path::PathBuf;

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use metamer_core::{
    LoadOptions, Metamer, MetamerError, MetamerOptions, PlateauConfig, ReduceLrOnPlateau, Setup,
    Sgd, SgdConfig, SynthesizeOptions, Warning, rng, set_seed, tensor::to_f64,
};
use metamer_io::{IoError, SaveLoad};
use metamer_models::{Gaussian, HostBackend};
use metamer_tests::{NdArray, NdArray64};

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("metamer-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A file name of its own for each backend, so per-backend tests can run in parallel.
fn backend_file<B: AutodiffBackend + HostBackend>(stem: &str) -> PathBuf {
    let backend: String = B::name(&Default::default())
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '-' })
        .collect();
    temp_file(&format!("{stem}-{backend}.safetensors"))
}

fn image<B: AutodiffBackend + HostBackend>(dtype: DType) -> Tensor<B::InnerBackend, 4> {
    set_seed(7);
    rng::rand([1, 1, 20, 18], dtype, &Default::default())
}

fn fresh<B: AutodiffBackend + HostBackend>(image: Tensor<B::InnerBackend, 4>) -> Metamer<B> {
    Metamer::<B>::new(image, Gaussian::new(5, &Default::default()).unwrap()).unwrap()
}

fn run(met: &mut Metamer<impl AutodiffBackend>, iterations: usize) {
    met.synthesize(SynthesizeOptions {
        max_iter: iterations,
        stop_criterion: -1.0,
        store_progress: 2,
        ..Default::default()
    })
    .unwrap();
}

/// 10 iterations in one go equal 5, a save, a load into a fresh object and 5 more, exactly.
fn resumes_bit_for_bit<B: AutodiffBackend + HostBackend>(optimizer: &str) {
    let setup = || -> Setup<B> {
        match optimizer {
            "adam+plateau" => Setup {
                scheduler: Some(Box::new(
                    ReduceLrOnPlateau::new(PlateauConfig {
                        patience: 1,
                        factor: 0.5,
                        threshold: 0.2,
                        ..Default::default()
                    })
                    .unwrap(),
                )),
                ..Default::default()
            },
            _ => Setup {
                optimizer: Some(Box::new(Sgd::new(SgdConfig {
                    lr: 0.05,
                    momentum: 0.9,
                    nesterov: true,
                    ..Default::default()
                }))),
                ..Default::default()
            },
        }
    };
    let image = image::<B>(DType::F32);
    set_seed(1);
    let mut straight = fresh::<B>(image.clone());
    straight.setup(setup()).unwrap();
    run(&mut straight, 10);

    set_seed(1);
    let mut first = fresh::<B>(image.clone());
    first.setup(setup()).unwrap();
    run(&mut first, 5);
    let path = backend_file::<B>(&format!("resume-{optimizer}"));
    first.save(&path).unwrap();

    let mut resumed = fresh::<B>(image);
    let warnings = resumed.load(&path, &LoadOptions::default()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(resumed.losses().unwrap(), first.losses().unwrap());
    run(&mut resumed, 5);
    let same = |what: &str, resumed: &[f64], straight: &[f64]| {
        assert_resumed::<B>(&format!("{optimizer}: {what}"), resumed, straight)
    };
    same(
        "losses",
        &resumed.losses().unwrap(),
        &straight.losses().unwrap(),
    );
    same(
        "penalties",
        &resumed.penalties().unwrap(),
        &straight.penalties().unwrap(),
    );
    same(
        "gradient norms",
        resumed.gradient_norm(),
        straight.gradient_norm(),
    );
    same(
        "pixel changes",
        resumed.pixel_change_norm(),
        straight.pixel_change_norm(),
    );
    same(
        "learning rates",
        resumed.learning_rate(),
        straight.learning_rate(),
    );
    same(
        "metamer",
        &to_f64(resumed.metamer().unwrap().clone()),
        &to_f64(straight.metamer().unwrap().clone()),
    );
    let saved = |met: &Metamer<B>| -> Vec<f64> {
        met.saved_metamer().into_iter().flat_map(to_f64).collect()
    };
    same("saved metamers", &saved(&resumed), &saved(&straight));
}

/// Exactly equal, except on wgpu: there two evaluations of one reduction can differ in the
/// last bits (its kernels do not always sum in the same order: the initial loss of one image
/// came out 0.0074417247 and 0.0074417251 in one process), so 1e-6 relative.
fn assert_resumed<B: AutodiffBackend + HostBackend>(what: &str, resumed: &[f64], straight: &[f64]) {
    if !B::name(&Default::default()).contains("wgpu") {
        assert_eq!(resumed, straight, "{what}");
        return;
    }
    assert_eq!(resumed.len(), straight.len(), "{what}");
    for (r, s) in resumed.iter().zip(straight) {
        assert!(
            (r - s).abs() <= 1e-6 * r.abs().max(s.abs()),
            "{what}: {resumed:?} against {straight:?}"
        );
    }
}

fn adam_with_plateau_resumes<B: AutodiffBackend + HostBackend>() {
    resumes_bit_for_bit::<B>("adam+plateau");
}

fn sgd_resumes<B: AutodiffBackend + HostBackend>() {
    resumes_bit_for_bit::<B>("sgd");
}

metamer_tests::test_on_backends!(adam_with_plateau_resumes, sgd_resumes);

fn saved_synthesis(
    name: &str,
) -> (
    Tensor<<NdArray as AutodiffBackend>::InnerBackend, 4>,
    PathBuf,
) {
    let image = image::<NdArray>(DType::F32);
    let mut met = fresh::<NdArray>(image.clone());
    run(&mut met, 3);
    let path = temp_file(name);
    met.save(&path).unwrap();
    (image, path)
}

fn check_message(result: Result<Vec<Warning>, IoError>) -> String {
    match result {
        Err(IoError::Metamer(MetamerError::LoadCheck(message))) => message,
        other => panic!("expected a failed check, got {other:?}"),
    }
}

/// plenoptic's `test_load_init_fail` and the checks of `load`: what a load refuses, in plenoptic's
/// order and words.
#[test]
fn loads_check_that_the_synthesis_is_the_same() {
    let (image, path) = saved_synthesis("checks.safetensors");
    let strict = LoadOptions::default();

    // Not a fresh object.
    let mut used = fresh::<NdArray>(image.clone());
    run(&mut used, 1);
    assert!(matches!(
        used.load(&path, &strict),
        Err(IoError::Metamer(MetamerError::LoadNotFresh))
    ));

    // A different image.
    let other = image.clone().mul_scalar(0.5);
    let message = check_message(fresh::<NdArray>(other.clone()).load(&path, &strict));
    assert!(message.starts_with("Saved and initialized attribute image have different values!"));
    assert!(message.contains("raise_on_checks = false"), "{message}");

    // A different model: its output on the saved image differs, then its name.
    let mut blurrier = Metamer::<NdArray>::new(
        image.clone(),
        Gaussian::new(7, &Default::default()).unwrap(),
    )
    .unwrap();
    let message = check_message(blurrier.load(&path, &strict));
    assert!(
        message.contains("Saved and initialized model output have different values"),
        "{message}"
    );

    // A different loss, then a different penalty (plenoptic's `test_save_load`,
    // `test_load_loss_change`).
    let relative = MetamerOptions {
        loss: metamer_core::Loss::relative_sse(),
        ..Default::default()
    };
    let mut other_loss = Metamer::<NdArray>::with_options(
        image.clone(),
        Gaussian::new(5, &Default::default()).unwrap(),
        relative,
    )
    .unwrap();
    let message = check_message(other_loss.load(&path, &strict));
    assert!(
        message.contains("Saved and initialized loss_function output have different values"),
        "{message}"
    );
    let narrower = MetamerOptions {
        penalty: metamer_core::Penalty::range(0.3, 0.7),
        ..Default::default()
    };
    let mut other_penalty = Metamer::<NdArray>::with_options(
        image.clone(),
        Gaussian::new(5, &Default::default()).unwrap(),
        narrower,
    )
    .unwrap();
    let message = check_message(other_penalty.load(&path, &strict));
    assert!(
        message.contains("Saved and initialized penalty_function output have different values"),
        "{message}"
    );
    let renamed = MetamerOptions {
        loss: metamer_core::Loss::new("my_mse", |a, b| {
            a.flat().clone().sub(b.flat().clone()).powi_scalar(2).mean()
        }),
        ..Default::default()
    };
    let mut other_name = Metamer::<NdArray>::with_options(
        image.clone(),
        Gaussian::new(5, &Default::default()).unwrap(),
        renamed,
    )
    .unwrap();
    let message = check_message(other_name.load(&path, &strict));
    assert!(
        message.contains("Saved and initialized loss_function have different names"),
        "{message}"
    );

    // A different penalty weight.
    let options = MetamerOptions {
        penalty_lambda: 0.2,
        ..Default::default()
    };
    let mut weighted = Metamer::<NdArray>::with_options(
        image.clone(),
        Gaussian::new(5, &Default::default()).unwrap(),
        options,
    )
    .unwrap();
    let message = check_message(weighted.load(&path, &strict));
    assert!(
        message.contains("penalty_lambda are different"),
        "{message}"
    );

    // raise_on_checks = false: every failure becomes a warning, saved values win.
    let lenient = LoadOptions {
        raise_on_checks: false,
        ..Default::default()
    };
    let mut different = fresh::<NdArray>(other);
    let warnings = different.load(&path, &lenient).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(to_f64(different.image().clone()), to_f64(image.clone()));
    assert_eq!(different.losses().unwrap().len(), 4);
}

/// plenoptic's `test_load_tol`: tolerances; a dtype mismatch fails even when checks only warn.
#[test]
fn tolerances_and_dtype() {
    type B = NdArray;
    let zeros = Tensor::<<B as AutodiffBackend>::InnerBackend, 4>::zeros(
        [1, 1, 12, 12],
        (&Default::default(), DType::F32),
    );
    let image = zeros.clone().slice_assign(
        [0..1, 0..1, 0..6, 0..12],
        rng::rand([1, 1, 6, 12], DType::F32, &Default::default()),
    );
    let mut met = fresh::<B>(image.clone());
    run(&mut met, 2);
    let path = temp_file("tolerance.safetensors");
    met.save(&path).unwrap();
    let nudged = image.clone().add_scalar(1e-7);
    check_message(fresh::<B>(nudged.clone()).load(&path, &LoadOptions::default()));
    let loose = LoadOptions {
        tensor_equality_atol: 1e-6,
        ..Default::default()
    };
    assert!(fresh::<B>(nudged).load(&path, &loose).unwrap().is_empty());

    let image64 = image.cast(DType::F64);
    let as_f64 = burn::tensor::Tensor::<<NdArray64 as AutodiffBackend>::InnerBackend, 4>::from_data(
        image64.into_data(),
        (&Default::default(), DType::F64),
    );
    let mut wider = fresh::<NdArray64>(as_f64);
    let lenient = LoadOptions {
        raise_on_checks: false,
        ..Default::default()
    };
    let err = wider.load(&path, &lenient).unwrap_err().to_string();
    assert!(err.contains("different dtype"), "{err}");
}

/// A damaged file is refused with the file's name and the reason.
#[test]
fn corrupted_files_are_refused() {
    let (image, path) = saved_synthesis("intact.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x10;
    let damaged = temp_file("damaged.safetensors");
    std::fs::write(&damaged, bytes).unwrap();
    let err = fresh::<NdArray>(image)
        .load(&damaged, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("damaged.safetensors") && err.contains("checksum"),
        "{err}"
    );
}

/// A synthesis saved on ndarray continues on another backend (plenoptic's `map_location`).
fn moves_from_ndarray<B: AutodiffBackend + HostBackend>() {
    let image = image::<NdArray>(DType::F32);
    set_seed(1);
    let mut straight = fresh::<NdArray>(image.clone());
    run(&mut straight, 6);
    set_seed(1);
    let mut first = fresh::<NdArray>(image.clone());
    run(&mut first, 3);
    let path = backend_file::<B>("moved");
    first.save(&path).unwrap();
    let elsewhere = Tensor::<B::InnerBackend, 4>::from_data(
        image.into_data(),
        (&Default::default(), DType::F32),
    );
    let mut moved = fresh::<B>(elsewhere);
    moved.load(&path, &LoadOptions::default()).unwrap();
    run(&mut moved, 3);
    let (a, b) = (straight.losses().unwrap(), moved.losses().unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-5 * x.abs(), "{a:?} vs {b:?}");
    }
    assert_eq!(a.len(), b.len());
}

metamer_tests::test_on_backends!(moves_from_ndarray);

/// A file whose tensors hold NaN is refused even though it is intact.
#[test]
fn non_finite_saved_values_are_refused() {
    let image = image::<NdArray>(DType::F32);
    let mut met = fresh::<NdArray>(image.clone());
    run(&mut met, 1);
    let mut snapshot = met.snapshot().unwrap();
    snapshot.metamer.as_mut().unwrap().values[3] = f64::NAN;
    let err = fresh::<NdArray>(image)
        .load_snapshot(&snapshot, &LoadOptions::default())
        .unwrap_err();
    assert_eq!(err, MetamerError::NonFinite { what: "metamer" });
}

/// plenoptic's `test_setup_load_fail`, `test_load_optimizer`, `test_resume_synthesis`: after a
/// load, `setup` takes a fresh optimizer of the saved type (which receives the saved state, so
/// resuming is still exact), refuses another type and refuses an initial image.
#[test]
fn setup_after_load() {
    type B = NdArray;
    let sgd = || {
        Box::new(Sgd::new(SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            ..Default::default()
        }))
    };
    let image = image::<B>(DType::F32);
    set_seed(1);
    let mut straight = fresh::<B>(image.clone());
    straight
        .setup(Setup {
            optimizer: Some(sgd()),
            ..Default::default()
        })
        .unwrap();
    run(&mut straight, 10);
    set_seed(1);
    let mut first = fresh::<B>(image.clone());
    first
        .setup(Setup {
            optimizer: Some(sgd()),
            ..Default::default()
        })
        .unwrap();
    run(&mut first, 5);
    let path = temp_file("setup-after-load.safetensors");
    first.save(&path).unwrap();

    let mut loaded = fresh::<B>(image.clone());
    loaded.load(&path, &LoadOptions::default()).unwrap();
    let err = loaded
        .setup(Setup {
            initial_image: Some(image.clone()),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(err, MetamerError::InitialImageAfterLoad);
    let err = loaded.setup(Setup::default()).map(|_| ());
    assert!(err.is_ok(), "no replacement asked: nothing changes");
    let err = loaded
        .setup(Setup {
            optimizer: Some(Box::new(metamer_core::Adam::new(Default::default()))),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("User-specified optimizer must have same type")
    );
    // A default-configured SGD gets the saved lr and momentum buffer.
    loaded
        .setup(Setup {
            optimizer: Some(Box::new(Sgd::new(SgdConfig::default()))),
            ..Default::default()
        })
        .unwrap();
    run(&mut loaded, 5);
    assert_eq!(loaded.losses().unwrap(), straight.losses().unwrap());
}

/// The library's checkpoints: the file always holds the synthesis as of the last interval, and
/// plenoptic's `test_load_object_type`, `test_load_model_change`: another synthesis type or a model
/// output of another shape is refused.
#[test]
fn checkpoints_and_type_checks() {
    type B = NdArray;
    let image = image::<B>(DType::F32);
    let mut met = fresh::<B>(image.clone());
    let path = temp_file("checkpointed.safetensors");
    met.synthesize_checkpointed(
        SynthesizeOptions {
            max_iter: 7,
            stop_criterion: -1.0,
            ..Default::default()
        },
        &path,
        3,
    )
    .unwrap();
    let (snapshot, _) = metamer_io::load_synthesis(&path).unwrap();
    assert_eq!(snapshot.gradient_norm.len(), 7);
    assert_eq!(snapshot.losses, met.losses().unwrap()[..7]);

    let mut other_type = snapshot.clone();
    other_type.synthesis = "MetamerCTF".to_string();
    let err = fresh::<B>(image.clone())
        .load_snapshot(&other_type, &LoadOptions::default())
        .unwrap_err();
    assert!(
        err.to_string().contains("Saved object was a MetamerCTF"),
        "{err}"
    );

    let flattened = |x: Tensor<B, 4>| metamer_core::Representation::from(x.reshape([-1]));
    let mut reshaped = Metamer::<B>::new(image, flattened).unwrap();
    let err = reshaped
        .load_snapshot(&snapshot, &LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model output have different shape"), "{err}");
}

/// A user-written optimizer: plain gradient descent whose only state is its step size.
struct Descent {
    lr: f64,
}

impl<B: burn::tensor::backend::Backend> metamer_core::PixelOptimizer<B, 4> for Descent {
    fn step(
        &mut self,
        pixels: Tensor<B, 4>,
        objective: &mut metamer_core::optim::Objective<'_, B, 4>,
    ) -> metamer_core::Result<Tensor<B, 4>> {
        let evaluation = objective(pixels.clone())?;
        Ok(pixels.sub(evaluation.gradient.mul_scalar(self.lr)))
    }

    fn learning_rate(&self) -> f64 {
        self.lr
    }

    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.lr = learning_rate;
    }

    fn name(&self) -> &'static str {
        "Descent"
    }

    fn to(&mut self, _device: &B::Device, _dtype: DType) {}

    fn state(&self) -> metamer_core::State {
        metamer_core::State::new("Descent").scalar("lr", self.lr)
    }

    fn load_state(
        &mut self,
        state: &metamer_core::State,
        _device: &B::Device,
        _dtype: DType,
    ) -> metamer_core::Result<()> {
        state.expect_name("Descent")?;
        self.lr = state.get_scalar("lr")?;
        Ok(())
    }
}

/// plenoptic's `test_synth_then_setup`: a user-written optimizer's saved state waits for `setup`
/// with one of its type; synthesizing before that is refused with plenoptic's message.
#[test]
fn user_optimizers_resume_through_setup() {
    type B = NdArray;
    let image = image::<B>(DType::F32);
    let with_descent = |met: &mut Metamer<B>, lr| {
        met.setup(Setup {
            optimizer: Some(Box::new(Descent { lr })),
            ..Default::default()
        })
        .unwrap();
    };
    set_seed(1);
    let mut straight = fresh::<B>(image.clone());
    with_descent(&mut straight, 0.5);
    run(&mut straight, 6);
    set_seed(1);
    let mut first = fresh::<B>(image.clone());
    with_descent(&mut first, 0.5);
    run(&mut first, 3);
    let path = temp_file("descent.safetensors");
    first.save(&path).unwrap();

    let mut loaded = fresh::<B>(image);
    loaded.load(&path, &LoadOptions::default()).unwrap();
    let err = loaded
        .synthesize(SynthesizeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Don't know how to initialize saved optimizer 'Descent'"),
        "{err}"
    );
    // The saved step size replaces the one given.
    with_descent(&mut loaded, 99.0);
    run(&mut loaded, 3);
    assert_eq!(loaded.losses().unwrap(), straight.losses().unwrap());
}
