//! Optimizers and schedulers against torch: trajectories on a quadratic and the Rosenbrock
//! function, and metamer histories, from `tests/fixtures/{optim,metamer_optim}.json`.

use burn::tensor::{DType, Tensor, backend::AutodiffBackend, backend::Backend};
use metamer_core::{
    Adam, AdamConfig, EpochSchedule, EpochScheduler, Evaluation, Lbfgs, LbfgsConfig, LineSearch,
    LrScheduler, Metamer, PixelOptimizer, PlateauConfig, PlateauMode, ReduceLrOnPlateau, Result,
    Setup, Sgd, SgdConfig, State, SynthesizeOptions, ThresholdMode, set_seed,
    tensor::{from_f64, to_f64},
};
use metamer_models::{Gaussian, HostBackend};
use metamer_tests::*;

/// L-BFGS runs where last-bit differences are amplified until trajectories part: torch itself,
/// started one unit in the last place away, drifts past the tolerance (the fixture records that
/// twin run's drift per step). These are compared over the steps where torch's own drift stays
/// below a tenth of the tolerance; every other run is compared over all 50 steps.
const UNSTABLE_LBFGS: &[(&str, &str, &str)] = &[
    ("lbfgs", "quadratic", "f32"),
    ("lbfgs", "quadratic", "f64"),
    ("lbfgs", "rosenbrock", "f32"),
    ("lbfgs", "rosenbrock", "f64"),
    ("lbfgs_history", "rosenbrock", "f32"),
    ("lbfgs_history", "rosenbrock", "f64"),
    ("lbfgs_wolfe", "rosenbrock", "f32"),
];

/// Per-step tolerance on ‖x − x_torch‖ / ‖x_torch‖.
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-10,
        _ => 1e-5,
    }
}

fn num(value: &Value, key: &str, default: f64) -> f64 {
    value.get(key).and_then(Value::as_f64).unwrap_or(default)
}

fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The optimizer torch's class name and keyword arguments describe.
fn optimizer<B: Backend>(class: &str, kwargs: &Value, lr: f64) -> Box<dyn PixelOptimizer<B, 1>> {
    match class {
        "Adam" | "AdamW" => {
            let betas = kwargs.get("betas").map(floats).unwrap_or(vec![0.9, 0.999]);
            let default_decay = if class == "AdamW" { 0.01 } else { 0.0 };
            let config = AdamConfig {
                lr,
                betas: (betas[0], betas[1]),
                eps: num(kwargs, "eps", 1e-8),
                weight_decay: num(kwargs, "weight_decay", default_decay),
                amsgrad: flag(kwargs, "amsgrad"),
                maximize: flag(kwargs, "maximize"),
            };
            if class == "AdamW" {
                Box::new(Adam::adamw(config))
            } else {
                Box::new(Adam::new(config))
            }
        }
        "SGD" => Box::new(Sgd::new(SgdConfig {
            lr,
            momentum: num(kwargs, "momentum", 0.0),
            dampening: num(kwargs, "dampening", 0.0),
            weight_decay: num(kwargs, "weight_decay", 0.0),
            nesterov: flag(kwargs, "nesterov"),
            maximize: flag(kwargs, "maximize"),
        })),
        "LBFGS" => Box::new(Lbfgs::new(LbfgsConfig {
            lr,
            max_iter: num(kwargs, "max_iter", 20.0) as usize,
            history_size: num(kwargs, "history_size", 100.0) as usize,
            line_search: match kwargs.get("line_search_fn").and_then(Value::as_str) {
                Some("strong_wolfe") => LineSearch::StrongWolfe,
                _ => LineSearch::None,
            },
            ..Default::default()
        })),
        other => panic!("no optimizer for {other}"),
    }
}

type Function = fn(&[f64], DType) -> (f64, Vec<f64>);

/// `½ xᵀAx − bᵀx` and its gradient `Ax − b`, in the given precision.
fn quadratic(x: &[f64], dtype: DType) -> (f64, Vec<f64>) {
    let fixture = json("optim");
    let a: Vec<Vec<f64>> = fixture["quadratic"]["A"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    let b = floats(&fixture["quadratic"]["b"]);
    let round = |v: f64| {
        if dtype == DType::F64 {
            v
        } else {
            f64::from(v as f32)
        }
    };
    let ax: Vec<f64> = a
        .iter()
        .map(|row| round(row.iter().zip(x).map(|(r, v)| r * v).sum()))
        .collect();
    let value = 0.5 * x.iter().zip(&ax).map(|(v, w)| v * w).sum::<f64>()
        - b.iter().zip(x).map(|(b, v)| b * v).sum::<f64>();
    (
        round(value),
        ax.iter().zip(&b).map(|(w, b)| round(w - b)).collect(),
    )
}

/// Rosenbrock's function `(1 − x)² + 100 (y − x²)²` with torch autograd's operation order, in
/// the given precision.
fn rosenbrock(x: &[f64], dtype: DType) -> (f64, Vec<f64>) {
    macro_rules! in_precision {
        ($t:ty) => {{
            let (u, v) = (x[0] as $t, x[1] as $t);
            let (a, d) = (1.0 - u, v - u * u);
            let grad = [
                -(2.0 * a) + (-(100.0 * (2.0 * d))) * (2.0 * u),
                100.0 * (2.0 * d),
            ];
            (
                f64::from(a * a + 100.0 * (d * d)),
                grad.iter().map(|g| f64::from(*g)).collect(),
            )
        }};
    }
    if dtype == DType::F64 {
        in_precision!(f64)
    } else {
        in_precision!(f32)
    }
}

/// Runs the fixture's torch loop and compares the first `steps` steps.
#[allow(clippy::too_many_arguments)]
fn check_trajectory<B: Backend>(
    steps: usize,
    what: &str,
    mut optimizer: Box<dyn PixelOptimizer<B, 1>>,
    mut scheduler: Option<Box<dyn LrScheduler>>,
    function: Function,
    x0: &[f64],
    sign: f64,
    dtype: DType,
    expected: &Value,
) {
    let device = Default::default();
    let mut x: Tensor<B, 1> = from_f64(x0.to_vec(), [x0.len()], dtype, &device);
    let mut objective = |pixels: Tensor<B, 1>| -> Result<Evaluation<B, 1>> {
        let (value, gradient) = function(&to_f64(pixels), dtype);
        let gradient = gradient.iter().map(|g| sign * g).collect();
        Ok(Evaluation {
            objective: sign * value,
            penalty: 0.0,
            gradient: from_f64(gradient, [x0.len()], dtype, &device),
        })
    };
    let expected_x = expected["x"].as_array().unwrap();
    let expected_lr = floats(&expected["lr"]);
    for (step, target) in expected_x.iter().enumerate().take(steps) {
        let lr = optimizer.learning_rate();
        assert!(
            (lr - expected_lr[step]).abs() <= 1e-12 * expected_lr[step],
            "{what} step {step}: lr {lr} vs {}",
            expected_lr[step]
        );
        let first = objective(x.clone()).unwrap().objective;
        x = optimizer.step(x, &mut objective).unwrap();
        if let Some(scheduler) = scheduler.as_mut() {
            optimizer.set_learning_rate(scheduler.step(lr, first));
        }
        let (actual, target) = (to_f64(x.clone()), floats(target));
        let error = relative_l2(&actual, &target);
        assert!(
            error <= tolerance(dtype),
            "{what} step {step}: {actual:?} vs {target:?} ({error:e})"
        );
    }
}

fn optimizer_trajectories<B: AutodiffBackend + HostBackend>() {
    let fixture = json("optim");
    let quadratic_x0 = floats(&fixture["quadratic"]["x0"]);
    let rosenbrock_x0 = floats(&fixture["rosenbrock"]["x0"]);
    for (name, case) in fixture["optimizers"].as_object().unwrap() {
        let (class, kwargs) = (case["class"].as_str().unwrap(), &case["kwargs"]);
        let sign = if flag(kwargs, "maximize") { -1.0 } else { 1.0 };
        for (dtype, tag) in [(DType::F32, "f32"), (DType::F64, "f64")] {
            let lr = num(kwargs, "lr", 0.01);
            for (function_name, function, x0, lr) in [
                ("quadratic", quadratic as Function, &quadratic_x0, lr),
                (
                    "rosenbrock",
                    rosenbrock,
                    &rosenbrock_x0,
                    case["rosenbrock_lr"].as_f64().unwrap(),
                ),
            ] {
                let expected = &case[format!("{function_name}_{tag}")];
                let steps = if UNSTABLE_LBFGS.contains(&(name.as_str(), function_name, tag)) {
                    stable_steps(expected, dtype, &format!("{name} {function_name} {tag}"))
                } else {
                    usize::MAX
                };
                check_trajectory::<B::InnerBackend>(
                    steps,
                    &format!("{name} {function_name} {tag}"),
                    optimizer(class, kwargs, lr),
                    None,
                    function,
                    x0,
                    sign,
                    dtype,
                    expected,
                );
            }
        }
    }
}

/// The steps before torch's own twin run drifts by a tenth of the tolerance, after checking
/// that it does drift past the tolerance (otherwise the run belongs with the stable ones).
fn stable_steps(expected: &Value, dtype: DType, what: &str) -> usize {
    let drift = floats(&expected["twin_drift"]);
    let worst = drift.iter().cloned().fold(0.0, f64::max);
    assert!(
        worst > tolerance(dtype),
        "{what}: torch's twin stays within {worst:e}; compare it in full"
    );
    drift
        .iter()
        .position(|d| *d > tolerance(dtype) / 10.0)
        .expect("drifts past the tolerance")
}

/// The scheduler torch's class name and keyword arguments describe.
fn scheduler(class: &str, kwargs: &Value) -> Box<dyn LrScheduler> {
    let gamma = num(kwargs, "gamma", 0.1);
    match class {
        "ReduceLROnPlateau" => Box::new(
            ReduceLrOnPlateau::new(PlateauConfig {
                mode: if kwargs["mode"] == "max" {
                    PlateauMode::Max
                } else {
                    PlateauMode::Min
                },
                factor: num(kwargs, "factor", 0.1),
                patience: num(kwargs, "patience", 10.0) as usize,
                threshold: num(kwargs, "threshold", 1e-4),
                threshold_mode: if kwargs["threshold_mode"] == "abs" {
                    ThresholdMode::Abs
                } else {
                    ThresholdMode::Rel
                },
                cooldown: num(kwargs, "cooldown", 0.0) as usize,
                min_lr: num(kwargs, "min_lr", 0.0),
                ..Default::default()
            })
            .unwrap(),
        ),
        "StepLR" => Box::new(
            EpochScheduler::new(EpochSchedule::Step {
                step_size: num(kwargs, "step_size", 1.0) as usize,
                gamma,
            })
            .unwrap(),
        ),
        "MultiStepLR" => Box::new(
            EpochScheduler::new(EpochSchedule::MultiStep {
                milestones: floats(&kwargs["milestones"])
                    .iter()
                    .map(|m| *m as usize)
                    .collect(),
                gamma,
            })
            .unwrap(),
        ),
        "ExponentialLR" => {
            Box::new(EpochScheduler::new(EpochSchedule::Exponential { gamma }).unwrap())
        }
        "CosineAnnealingLR" => Box::new(
            EpochScheduler::new(EpochSchedule::CosineAnnealing {
                t_max: num(kwargs, "T_max", 1.0) as usize,
                eta_min: num(kwargs, "eta_min", 0.0),
            })
            .unwrap(),
        ),
        other => panic!("no scheduler for {other}"),
    }
}

fn scheduler_trajectories<B: AutodiffBackend + HostBackend>() {
    let fixture = json("optim");
    let x0 = floats(&fixture["quadratic"]["x0"]);
    for (name, case) in fixture["schedulers"].as_object().unwrap() {
        let sgd = Box::new(Sgd::new(SgdConfig {
            lr: 0.05,
            ..Default::default()
        }));
        check_trajectory::<B::InnerBackend>(
            usize::MAX,
            name,
            sgd,
            Some(scheduler(case["class"].as_str().unwrap(), &case["kwargs"])),
            quadratic,
            &x0,
            1.0,
            DType::F64,
            &case["quadratic_f64"],
        );
    }
}

/// 20-iteration metamer histories with other optimizers and a scheduler (float32). The fixture's
/// strong-Wolfe L-BFGS run is not compared: in float32 its line search accepts different trial
/// steps from iteration 3 on, as the f32 losses differ from torch's in the last bits.
fn metamer_histories<B: AutodiffBackend + HostBackend>() {
    let Some(einstein) = sample_image::<B::InnerBackend>("einstein", DType::F32) else {
        return;
    };
    let crop = einstein.slice([0..1, 0..1, 64..128, 64..128]);
    let fixture = json("metamer_optim");
    type Optimizer<B> = Box<dyn PixelOptimizer<<B as AutodiffBackend>::InnerBackend, 4>>;
    type Case<'a, B> = (&'a str, Optimizer<B>, Option<Box<dyn LrScheduler>>);
    let cases: Vec<Case<B>> = vec![
        (
            "sgd_momentum",
            Box::new(Sgd::new(SgdConfig {
                lr: 0.05,
                momentum: 0.9,
                ..Default::default()
            })),
            None,
        ),
        ("adamw", Box::new(Adam::adamw(AdamConfig::adamw())), None),
        ("lbfgs", Box::new(Lbfgs::new(LbfgsConfig::default())), None),
        (
            "adam_plateau",
            Box::new(Adam::new(AdamConfig::plenoptic())),
            Some(Box::new(
                ReduceLrOnPlateau::new(PlateauConfig {
                    factor: 0.5,
                    patience: 1,
                    threshold: 0.3,
                    ..Default::default()
                })
                .unwrap(),
            )),
        ),
    ];
    for (name, optimizer, scheduler) in cases {
        set_seed(0);
        let mut met = Metamer::<B>::new(
            crop.clone(),
            Gaussian::new(10, &Default::default()).unwrap(),
        )
        .unwrap();
        met.setup(Setup {
            optimizer: Some(optimizer),
            scheduler,
            ..Default::default()
        })
        .unwrap();
        met.synthesize(SynthesizeOptions {
            max_iter: 20,
            ..Default::default()
        })
        .unwrap();
        let expected = &fixture[name];
        assert_history(name, &met, expected, 1e-3);
        assert_eq!(
            met.learning_rate(),
            floats(&expected["learning_rate"]).as_slice(),
            "{name}"
        );
    }
}

test_on_backends!(
    optimizer_trajectories,
    scheduler_trajectories,
    metamer_histories
);

#[test]
fn invalid_scheduler_options_are_errors() {
    let err = ReduceLrOnPlateau::new(PlateauConfig {
        factor: 1.5,
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "factor must be below 1.0, but got 1.5");
    assert!(
        EpochScheduler::new(EpochSchedule::Step {
            step_size: 0,
            gamma: 0.5
        })
        .is_err()
    );
    assert!(
        EpochScheduler::new(EpochSchedule::CosineAnnealing {
            t_max: 0,
            eta_min: 0.0
        })
        .is_err()
    );
    assert!(
        EpochScheduler::new(EpochSchedule::MultiStep {
            milestones: vec![5, 2],
            gamma: 0.5
        })
        .is_err()
    );
}

/// Saving an optimizer's and scheduler's state (through JSON) mid-run and restoring it into
/// fresh, default-configured ones continues bit for bit.
fn state_round_trip_resumes_exactly<B: AutodiffBackend + HostBackend>() {
    type Inner<B> = <B as AutodiffBackend>::InnerBackend;
    type Make<B> = fn() -> Box<dyn PixelOptimizer<Inner<B>, 1>>;
    let configured: Vec<(Make<B>, Make<B>)> = vec![
        (
            || {
                Box::new(Adam::new(AdamConfig {
                    lr: 0.05,
                    amsgrad: true,
                    weight_decay: 0.1,
                    ..Default::default()
                }))
            },
            || Box::new(Adam::new(AdamConfig::default())),
        ),
        (
            || {
                Box::new(Adam::adamw(AdamConfig {
                    lr: 0.05,
                    ..AdamConfig::adamw()
                }))
            },
            || Box::new(Adam::adamw(AdamConfig::adamw())),
        ),
        (
            || {
                Box::new(Sgd::new(SgdConfig {
                    lr: 0.02,
                    momentum: 0.9,
                    nesterov: true,
                    ..Default::default()
                }))
            },
            || Box::new(Sgd::new(SgdConfig::default())),
        ),
        (
            || {
                Box::new(Lbfgs::new(LbfgsConfig {
                    lr: 1.0,
                    history_size: 3,
                    max_iter: 4,
                    line_search: LineSearch::StrongWolfe,
                    ..Default::default()
                }))
            },
            || Box::new(Lbfgs::new(LbfgsConfig::default())),
        ),
    ];
    let schedulers: [fn() -> Box<dyn LrScheduler>; 3] = [
        || {
            Box::new(
                ReduceLrOnPlateau::new(PlateauConfig {
                    mode: PlateauMode::Max,
                    factor: 0.5,
                    patience: 1,
                    ..Default::default()
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                EpochScheduler::new(EpochSchedule::MultiStep {
                    milestones: vec![2, 6, 6],
                    gamma: 0.5,
                })
                .unwrap(),
            )
        },
        || {
            Box::new(
                EpochScheduler::new(EpochSchedule::CosineAnnealing {
                    t_max: 3,
                    eta_min: 0.001,
                })
                .unwrap(),
            )
        },
    ];
    let device = Default::default();
    let x0 = floats(&json("optim")["quadratic"]["x0"]);
    let run = |optimizer: &mut Box<dyn PixelOptimizer<Inner<B>, 1>>,
               scheduler: &mut Box<dyn LrScheduler>,
               mut x: Tensor<Inner<B>, 1>,
               steps: usize| {
        let mut objective = |pixels: Tensor<Inner<B>, 1>| -> Result<Evaluation<Inner<B>, 1>> {
            let (value, gradient) = quadratic(&to_f64(pixels), DType::F64);
            Ok(Evaluation {
                objective: value,
                penalty: 0.0,
                gradient: from_f64(gradient, [4], DType::F64, &device),
            })
        };
        for _ in 0..steps {
            let loss = objective(x.clone()).unwrap().objective;
            let lr = optimizer.learning_rate();
            x = optimizer.step(x, &mut objective).unwrap();
            optimizer.set_learning_rate(scheduler.step(lr, loss));
        }
        x
    };
    for (make, make_default) in &configured {
        for make_scheduler in &schedulers {
            let start: Tensor<Inner<B>, 1> = from_f64(x0.clone(), [4], DType::F64, &device);
            let (mut straight, mut straight_scheduler) = (make(), make_scheduler());
            let expected = to_f64(run(
                &mut straight,
                &mut straight_scheduler,
                start.clone(),
                10,
            ));

            let (mut first, mut first_scheduler) = (make(), make_scheduler());
            let halfway = run(&mut first, &mut first_scheduler, start, 5);
            let saved = serde_json::to_string(&(first.state(), first_scheduler.state())).unwrap();
            let (optimizer_state, scheduler_state): (State, State) =
                serde_json::from_str(&saved).unwrap();
            let (mut resumed, mut resumed_scheduler) = (make_default(), make_scheduler());
            resumed
                .load_state(&optimizer_state, &device, DType::F64)
                .unwrap();
            resumed_scheduler.load_state(&scheduler_state).unwrap();
            let finished = to_f64(run(&mut resumed, &mut resumed_scheduler, halfway, 5));
            assert_eq!(
                finished,
                expected,
                "{} with {}",
                resumed.name(),
                resumed_scheduler.name()
            );
        }
    }
    // A state restores only into an optimizer of its own kind.
    let adam_state = configured[0].0().state();
    let err = configured[2].1()
        .load_state(&adam_state, &device, DType::F64)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "saved state does not fit: expected SGD, found Adam"
    );
}

test_on_backends!(state_round_trip_resumes_exactly);

/// plenoptic's `test_optimizer`: plenoptic's defaults — Adam(lr 0.01, eps 1e-8, AMSGrad) when
/// nothing is chosen, and lr 0.01 for every optimizer chosen without one (L-BFGS too, not torch's
/// 1).
fn plenoptic_optimizer_defaults<B: AutodiffBackend + HostBackend>() {
    let image = metamer_core::rng::rand::<B::InnerBackend, 4>(
        [1, 1, 8, 8],
        DType::F32,
        &Default::default(),
    );
    let mut met = Metamer::<B>::new(image, metamer_models::Identity).unwrap();
    met.setup(Setup::default()).unwrap();
    let state = met.optimizer().unwrap().state();
    assert_eq!(state.name, "Adam");
    assert_eq!(state.get_scalar("lr").unwrap(), 0.01);
    assert_eq!(state.get_scalar("eps").unwrap(), 1e-8);
    assert_eq!(state.get_scalar("amsgrad").unwrap(), 1.0);
    assert_eq!(
        (
            state.get_scalar("beta1").unwrap(),
            state.get_scalar("beta2").unwrap()
        ),
        (0.9, 0.999)
    );
    assert_eq!(SgdConfig::default().lr, 0.01);
    assert_eq!(LbfgsConfig::default().lr, 0.01);
    assert_eq!(LbfgsConfig::default().history_size, 100);
    assert_eq!(PlateauConfig::default().factor, 0.1);
    assert!(
        !AdamConfig::default().amsgrad,
        "a named Adam starts from torch's defaults"
    );
}

test_on_backends!(plenoptic_optimizer_defaults);
