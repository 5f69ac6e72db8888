//! plenoptic's metamer tests (its `tests/test_metamers.py`) that need no reference numbers:
//! bookkeeping, shapes, warnings, errors and the extension seams, on every CPU backend.

use burn::{
    nn::conv::{Conv2d, Conv2dConfig},
    tensor::{DType, Tensor, backend::AutodiffBackend},
};
use metamer_core::{
    Adam, AdamConfig, BurnModel, IterationSelection, LrScheduler, Metamer, MetamerError,
    MetamerOptions, Penalty, Representation, Setup, SynthesizeOptions, Warning, rng, set_seed,
    tensor::to_f64,
};
use metamer_models::{Gaussian, HostBackend, Identity};
use metamer_tests::test_on_backends;

type Pixels<B> = Tensor<<B as AutodiffBackend>::InnerBackend, 4>;

fn noise<B: AutodiffBackend + HostBackend>(shape: [usize; 4], seed: u64) -> Pixels<B> {
    set_seed(seed);
    rng::rand(shape, DType::F32, &Default::default())
}

fn iterations(max_iter: usize, store_progress: usize) -> SynthesizeOptions {
    SynthesizeOptions {
        max_iter,
        store_progress,
        ..Default::default()
    }
}

fn scalar<B: AutodiffBackend + HostBackend>(tensor: Tensor<B, 1>) -> f64 {
    to_f64(tensor.inner())[0]
}

/// plenoptic's `test_store_rep`, `test_continue`: saved counts and exact agreement of losses with
/// the saved metamers.
fn stored_progress_matches_losses_exactly<B: AutodiffBackend + HostBackend>() {
    for store_progress in [1, 2, 3] {
        let mut met = Metamer::<B>::new(
            noise::<B>([1, 1, 24, 24], 0),
            Gaussian::new(5, &Default::default()).unwrap(),
        )
        .unwrap();
        for (call, total) in [(1, 3), (2, 6)] {
            met.synthesize(iterations(3, store_progress)).unwrap();
            let saved = met.saved_metamer();
            let losses = met.losses().unwrap();
            assert_eq!(losses.len(), total + 1, "call {call}");
            assert_eq!(
                saved.len(),
                total.div_ceil(store_progress) + 1,
                "call {call}"
            );
            for (j, pixels) in saved.iter().enumerate() {
                let iteration = (j * store_progress).min(total);
                let objective = met
                    .objective_function(Some(pixels.clone()), None)
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    scalar(objective),
                    losses[iteration],
                    "s={store_progress} saved {j}"
                );
            }
        }
    }
}

/// plenoptic's `test_metamer_loss_penalty_length`: history lengths before and after setup and
/// synthesis.
fn history_lengths<B: AutodiffBackend + HostBackend>() {
    let mut met = Metamer::<B>::new(
        noise::<B>([1, 1, 16, 16], 1),
        Gaussian::new(3, &Default::default()).unwrap(),
    )
    .unwrap();
    assert!(met.objective_function(None, None).unwrap().is_none());
    assert!(met.losses().unwrap().is_empty() && met.penalties().unwrap().is_empty());
    assert!(met.saved_metamer().is_empty() && met.metamer().is_none());
    met.setup(Setup::default()).unwrap();
    assert_eq!(met.losses().unwrap().len(), 1);
    assert_eq!(met.penalties().unwrap().len(), 1);
    met.synthesize(iterations(2, 0)).unwrap();
    met.objective_function(None, None).unwrap();
    assert_eq!(met.losses().unwrap().len(), 3);
    assert_eq!(met.gradient_norm().len(), 2);
    assert_eq!(met.pixel_change_norm().len(), 2);
    // plenoptic's `test_rep_no_grad`: the target carries no gradient.
    assert!(!met.target_representation().flat().is_require_grad());
    // Without store_progress, get_progress has no saved metamer.
    let progress = met.get_progress(None, IterationSelection::Round).unwrap();
    assert!(progress.saved_metamer.is_none() && progress.store_progress_iteration.is_none());
    assert!(progress.gradient_norm.is_none() && progress.pixel_change_norm.is_none());
    assert_eq!(progress.iteration, 2);
}

/// M13: one call of 10 iterations equals two calls of 5 (optimizer state persists).
fn continuing_equals_one_run<B: AutodiffBackend + HostBackend>() {
    let image = noise::<B>([1, 1, 20, 20], 2);
    let run = |calls: &[usize]| {
        set_seed(9);
        let mut met = Metamer::<B>::new(
            image.clone(),
            Gaussian::new(4, &Default::default()).unwrap(),
        )
        .unwrap();
        for &n in calls {
            met.synthesize(iterations(n, 0)).unwrap();
        }
        (
            met.losses().unwrap(),
            to_f64(met.metamer().unwrap().clone()),
        )
    };
    assert_eq!(run(&[10]), run(&[5, 5]));
}

/// plenoptic's `test_dimensionality`: 2-D, 3-D and 5-D images with models returning 1-D to 5-D
/// representations.
fn any_dimensionality<B: AutodiffBackend + HostBackend>() {
    let device = Default::default();
    set_seed(3);
    let image2: Tensor<B::InnerBackend, 2> = rng::rand([12, 10], DType::F32, &device);
    let flat = |x: Tensor<B, 2>| -> Representation<B> { x.reshape([-1]).into() };
    let mut met = Metamer::<B, 2>::new(image2, flat).unwrap();
    assert!(matches!(
        met.warnings()[0],
        Warning::NotFourDimensional { .. }
    ));
    met.synthesize(iterations(3, 0)).unwrap();
    assert_eq!(met.metamer().unwrap().dims(), [12, 10]);

    let image3: Tensor<B::InnerBackend, 3> = rng::rand([2, 12, 10], DType::F32, &device);
    let five =
        |x: Tensor<B, 3>| -> Representation<B> { x.square().reshape([1, 2, 1, 12, 10]).into() };
    let mut met = Metamer::<B, 3>::new(image3, five).unwrap();
    met.synthesize(iterations(3, 2)).unwrap();
    assert_eq!(met.saved_metamer().len(), 3);

    let image5: Tensor<B::InnerBackend, 5> = rng::rand([1, 2, 3, 8, 8], DType::F32, &device);
    let mut met = Metamer::<B, 5>::new(image5.clone(), Identity).unwrap();
    met.synthesize(iterations(3, 0)).unwrap();
    assert_eq!(met.metamer().unwrap().dims(), image5.dims());
}

/// plenoptic's `test_setup_initial_image_warn`, `test_warn_out_of_range_input`: shape and range
/// warnings, and initial images that cannot fit.
fn warnings_are_values<B: AutodiffBackend + HostBackend>() {
    let image = noise::<B>([1, 1, 16, 16], 4);
    let brighter = image.clone().add_scalar(1.0);
    let met = Metamer::<B>::new(brighter, Identity).unwrap();
    assert!(matches!(met.warnings(), [Warning::OutOfRange { max, .. }] if *max > 1.0));

    let mut met = Metamer::<B>::new(image.clone(), Identity).unwrap();
    let transposed = image.clone().reshape([1, 1, 8, 32]);
    let warnings = met
        .setup(Setup {
            initial_image: Some(transposed),
            ..Default::default()
        })
        .unwrap();
    assert!(matches!(
        warnings.as_slice(),
        [Warning::InitialImageShape { .. }]
    ));

    let mut met = Metamer::<B>::new(image.clone(), Identity).unwrap();
    let smaller = image.clone().slice([0..1, 0..1, 0..15, 0..15]);
    let err = met
        .setup(Setup {
            initial_image: Some(smaller),
            ..Default::default()
        })
        .unwrap_err();
    assert!(matches!(
        err,
        MetamerError::InitialImageSize {
            got: 225,
            expected: 256
        }
    ));

    let mut met = Metamer::<B>::new(image, Identity).unwrap();
    let report = met
        .synthesize(SynthesizeOptions {
            max_iter: 50,
            stop_criterion: 1.0,
            stop_iters_to_check: 2,
            store_progress: 0,
        })
        .unwrap();
    // Needs more than `stop_iters_to_check` iterations, then compares the last two losses.
    assert!(report.converged && report.iterations == 3);
    assert_eq!(report.warnings, [Warning::Converged { iteration: 2 }]);
    // With zero iterations to check, plenoptic compares against the first loss (`losses[-0]`).
    let mut met = Metamer::<B>::new(noise::<B>([1, 1, 16, 16], 4), Identity).unwrap();
    let stop_at_once = SynthesizeOptions {
        max_iter: 50,
        stop_criterion: 1.0,
        stop_iters_to_check: 0,
        store_progress: 0,
    };
    assert_eq!(met.synthesize(stop_at_once).unwrap().iterations, 1);
}

/// plenoptic's `test_penalty_effect`, `test_metamer_loss_value`: a stronger penalty weight ends
/// lower; losses − λ·penalties is the model loss.
fn penalty_weight_and_metamer_loss<B: AutodiffBackend + HostBackend>() {
    let image = noise::<B>([1, 1, 16, 16], 5);
    let start = noise::<B>([1, 1, 16, 16], 6)
        .mul_scalar(2.0)
        .sub_scalar(0.5);
    let final_penalty = |lambda: f64| {
        let options = MetamerOptions {
            penalty_lambda: lambda,
            ..Default::default()
        };
        let mut met = Metamer::<B>::with_options(
            image.clone(),
            Gaussian::new(3, &Default::default()).unwrap(),
            options,
        )
        .unwrap();
        met.setup(Setup {
            initial_image: Some(start.clone()),
            ..Default::default()
        })
        .unwrap();
        met.synthesize(iterations(5, 1)).unwrap();
        let (losses, penalties) = (met.losses().unwrap(), met.penalties().unwrap());
        for (k, pixels) in met.saved_metamer().into_iter().enumerate() {
            let representation = met.model().forward(Tensor::from_inner(pixels));
            let model_loss = scalar(
                met.loss_function()
                    .compute(&representation, met.target_representation()),
            );
            let expected = losses[k] - lambda * penalties[k];
            // float32 cancellation: the error scales with the terms subtracted.
            let scale = losses[k].abs() + lambda * penalties[k].abs();
            assert!(
                (model_loss - expected).abs() <= 1e-6 * scale,
                "λ={lambda} k={k}: {model_loss} vs {expected}"
            );
        }
        *penalties.last().unwrap()
    };
    assert!(final_penalty(0.5) < final_penalty(0.0));
}

/// M3 step 4: NaN in the input or inf in the loss are errors; nothing panics on bad models.
fn bad_inputs_are_errors<B: AutodiffBackend + HostBackend>() {
    let image = noise::<B>([1, 1, 8, 8], 7);
    let nan = image.clone().slice_assign(
        [0..1, 0..1, 0..1, 0..1],
        Tensor::full([1, 1, 1, 1], f64::NAN, &Default::default()),
    );
    assert!(matches!(
        Metamer::<B>::new(nan, Identity).err(),
        Some(MetamerError::NonFinite { what: "image" })
    ));
    let empty: Pixels<B> = Tensor::zeros([1, 1, 0, 8], &Default::default());
    assert!(matches!(
        Metamer::<B>::new(empty, Identity).err(),
        Some(MetamerError::Empty { .. })
    ));

    let panicking = |_: Tensor<B, 4>| -> Representation<B> { panic!("this model is broken") };
    match Metamer::<B>::new(image.clone(), panicking).err() {
        Some(MetamerError::CallFailed {
            what: "model",
            message,
            ..
        }) => assert_eq!(message, "this model is broken"),
        other => panic!("expected CallFailed, got {other:?}"),
    }
    let too_big = Gaussian::new(40, &Default::default()).unwrap();
    let err = Metamer::<B>::new(image.clone(), too_big).err().unwrap();
    assert!(
        err.to_string()
            .contains("reflect padding of (19, 20) needs a dimension longer"),
        "{err}"
    );

    let met = Metamer::<B>::new(image.clone(), Identity).unwrap();
    let other_target = Representation::from(Tensor::<B, 1>::zeros([3], &Default::default()));
    let err = met
        .objective_function(Some(image), Some(&other_target))
        .unwrap_err();
    assert!(matches!(err, MetamerError::RepresentationMismatch { .. }));
}

/// The optimizer and scheduler seams: a halving scheduler drives Adam's learning rate.
fn scheduler_adjusts_learning_rate<B: AutodiffBackend + HostBackend>() {
    struct Halving;
    impl LrScheduler for Halving {
        fn step(&mut self, learning_rate: f64, _loss: f64) -> f64 {
            learning_rate / 2.0
        }
        fn name(&self) -> &'static str {
            "Halving"
        }
    }
    let mut met = Metamer::<B>::new(noise::<B>([1, 1, 8, 8], 8), Identity).unwrap();
    met.setup(Setup {
        optimizer: Some(Box::new(Adam::new(AdamConfig {
            lr: 0.4,
            ..Default::default()
        }))),
        scheduler: Some(Box::new(Halving)),
        ..Default::default()
    })
    .unwrap();
    let mut rates = Vec::new();
    met.synthesize_with(iterations(3, 0), |_, info| {
        rates.push(info.learning_rate);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(rates, [0.4, 0.2, 0.1]);
    assert_eq!(met.learning_rate(), [0.4, 0.2, 0.1]);
    assert_eq!(met.optimizer().unwrap().learning_rate(), 0.05);
}

/// Any Burn module can be a model; its parameters are frozen so only the metamer learns.
fn burn_modules_are_models<B: AutodiffBackend + HostBackend>() {
    let device = Default::default();
    let conv: Conv2d<B> = Conv2dConfig::new([1, 3], [3, 3]).init(&device);
    assert!(conv.weight.val().is_require_grad());
    let model = BurnModel::new(
        conv,
        |m: &Conv2d<B>, x: Tensor<B, 4>| -> Representation<B> { m.forward(x).into() },
    );
    assert!(
        !model.module().weight.val().is_require_grad(),
        "parameters must be frozen"
    );
    assert_eq!(metamer_core::Model::<B, 4>::name(&model), "Conv2d");
    let mut met = Metamer::<B>::new(noise::<B>([1, 1, 12, 12], 10), model).unwrap();
    met.synthesize(iterations(10, 0)).unwrap();
    let losses = met.losses().unwrap();
    assert!(losses[10] < losses[0], "{losses:?}");
}

/// M12: the summary text.
fn summary_text<B: AutodiffBackend + HostBackend>() {
    let met = Metamer::<B>::with_options(
        noise::<B>([1, 1, 16, 16], 11),
        Gaussian::new(5, &Default::default()).unwrap(),
        MetamerOptions {
            penalty: Penalty::range(0.2, 0.8),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        met.to_string(),
        "Metamer(\n  image = [1, 1, 16, 16] (F32),\n  \
         model = Gaussian(kernel_size=[5, 5], std=[3.0], pad_mode=reflect),\n  \
         loss_function = mse,\n  \
         penalty_function = penalize_range(allowed_range=(0.2, 0.8)),\n  \
         penalty_lambda = 0.1,\n)"
    );
}

test_on_backends!(
    stored_progress_matches_losses_exactly,
    history_lengths,
    continuing_equals_one_run,
    any_dimensionality,
    warnings_are_values,
    penalty_weight_and_metamer_loss,
    bad_inputs_are_errors,
    scheduler_adjusts_learning_rate,
    burn_modules_are_models,
    summary_text,
);

/// plenoptic's `test_to`, `test_change_precision_save_load`: casting to float64 mid-synthesis keeps
/// every tensor in step and continues.
fn cast_mid_synthesis<B: AutodiffBackend + HostBackend>() {
    let mut met = Metamer::<B>::new(
        noise::<B>([1, 1, 16, 16], 12),
        Gaussian::new(3, &Default::default()).unwrap(),
    )
    .unwrap();
    met.synthesize(iterations(3, 1)).unwrap();
    met.to(&Default::default(), DType::F64);
    met.synthesize(iterations(3, 1)).unwrap();
    assert_eq!(met.image().dtype(), DType::F64);
    assert_eq!(met.metamer().unwrap().dtype(), DType::F64);
    assert!(met.saved_metamer().iter().all(|s| s.dtype() == DType::F64));
    assert_eq!(met.target_representation().flat().dtype(), DType::F64);
    let losses = met.losses().unwrap();
    assert_eq!(losses.len(), 7);
    assert!(losses[6] < losses[3], "{losses:?}");
}

test_on_backends!(cast_mid_synthesis);
