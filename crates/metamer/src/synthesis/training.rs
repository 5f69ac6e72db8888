//! `--optimizer`/`--optimizer-opt` and `--scheduler`/`--scheduler-opt`, with torch's option names.

use crate::{
    Adam, AdamConfig, EpochSchedule, EpochScheduler, Lbfgs, LbfgsConfig, LineSearch, LrScheduler,
    PixelOptimizer, PlateauConfig, PlateauMode, ReduceLrOnPlateau, Sgd, SgdConfig, ThresholdMode,
};
use burn::tensor::backend::Backend;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::options::KeyValues;

/// The optimizers, by torch's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerChoice {
    /// Adam (torch's defaults, without AMSGrad).
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
    /// Stochastic gradient descent.
    Sgd,
    /// L-BFGS.
    Lbfgs,
}

/// The learning-rate schedulers, by torch's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerChoice {
    /// ReduceLROnPlateau.
    Plateau,
    /// StepLR.
    Step,
    /// MultiStepLR.
    Multistep,
    /// ExponentialLR.
    Exponential,
    /// CosineAnnealingLR.
    Cosine,
}

const ADAM_KEYS: &str = "betas (b1:b2), eps, weight_decay, amsgrad, maximize";
const SGD_KEYS: &str = "momentum, dampening, weight_decay, nesterov, maximize";
const LBFGS_KEYS: &str =
    "max_iter, max_eval, tolerance_grad, tolerance_change, history_size, line_search_fn";
const PLATEAU_KEYS: &str =
    "mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps";

fn adam_config(options: &mut KeyValues, base: AdamConfig) -> Result<AdamConfig, String> {
    let betas = match options.list::<f64>("betas", "two numbers")? {
        None => base.betas,
        Some(b) if b.len() == 2 => (b[0], b[1]),
        Some(b) => return Err(format!("betas needs two numbers, got {}", b.len())),
    };
    Ok(AdamConfig {
        betas,
        eps: options.float("eps")?.unwrap_or(base.eps),
        weight_decay: options.float("weight_decay")?.unwrap_or(base.weight_decay),
        amsgrad: options.flag("amsgrad")?.unwrap_or(base.amsgrad),
        maximize: options.flag("maximize")?.unwrap_or(base.maximize),
        ..base
    })
}

/// An optimizer's configuration, checked before any backend is chosen (a study checks every
/// job's options before the first one runs).
#[derive(Clone, Debug)]
pub enum OptimizerConfig {
    /// Adam.
    Adam(AdamConfig),
    /// AdamW.
    AdamW(AdamConfig),
    /// SGD.
    Sgd(SgdConfig),
    /// L-BFGS.
    Lbfgs(LbfgsConfig),
}

impl OptimizerConfig {
    /// The optimizer, on any backend.
    pub fn build<B: Backend>(self) -> Box<dyn PixelOptimizer<B, 4>> {
        match self {
            Self::Adam(config) => Box::new(Adam::new(config)),
            Self::AdamW(config) => Box::new(Adam::adamw(config)),
            Self::Sgd(config) => Box::new(Sgd::new(config)),
            Self::Lbfgs(config) => Box::new(Lbfgs::new(config)),
        }
    }
}

/// The optimizer chosen on the command line. Without `--optimizer` this is plenoptic's default,
/// Adam with AMSGrad; a named optimizer starts from torch's defaults. `lr` always applies.
///
/// # Errors
/// When an option is unknown, does not parse, or is one torch refuses.
pub fn optimizer(
    choice: Option<OptimizerChoice>,
    options: &str,
    lr: f64,
) -> Result<OptimizerConfig, String> {
    let Some(choice) = choice else {
        if !options.trim().is_empty() {
            return Err("--optimizer-opt needs --optimizer".to_string());
        }
        let config = AdamConfig {
            lr,
            ..AdamConfig::plenoptic()
        };
        config.check().map_err(|e| e.to_string())?;
        return Ok(OptimizerConfig::Adam(config));
    };
    let name = format!("{choice:?}").to_lowercase();
    let mut options = KeyValues::parse(&name, options)?;
    let optimizer = match choice {
        OptimizerChoice::Adam => {
            let config = adam_config(
                &mut options,
                AdamConfig {
                    lr,
                    ..Default::default()
                },
            )?;
            options.finish(ADAM_KEYS)?;
            config.check().map_err(|e| e.to_string())?;
            OptimizerConfig::Adam(config)
        }
        OptimizerChoice::Adamw => {
            let config = adam_config(
                &mut options,
                AdamConfig {
                    lr,
                    ..AdamConfig::adamw()
                },
            )?;
            options.finish(ADAM_KEYS)?;
            config.check().map_err(|e| e.to_string())?;
            OptimizerConfig::AdamW(config)
        }
        OptimizerChoice::Sgd => {
            let base = SgdConfig::default();
            let config = SgdConfig {
                lr,
                momentum: options.float("momentum")?.unwrap_or(base.momentum),
                dampening: options.float("dampening")?.unwrap_or(base.dampening),
                weight_decay: options.float("weight_decay")?.unwrap_or(base.weight_decay),
                nesterov: options.flag("nesterov")?.unwrap_or(base.nesterov),
                maximize: options.flag("maximize")?.unwrap_or(base.maximize),
            };
            options.finish(SGD_KEYS)?;
            config.check().map_err(|e| e.to_string())?;
            OptimizerConfig::Sgd(config)
        }
        OptimizerChoice::Lbfgs => {
            let base = LbfgsConfig::default();
            let line_search = match options.text("line_search_fn").as_deref() {
                None | Some("none") => LineSearch::None,
                Some("strong_wolfe") => LineSearch::StrongWolfe,
                Some(other) => {
                    return Err(format!(
                        "line_search_fn must be strong_wolfe or none, got {other:?}"
                    ));
                }
            };
            let config = LbfgsConfig {
                lr,
                max_iter: options.count("max_iter")?.unwrap_or(base.max_iter),
                max_eval: options.count("max_eval")?.or(base.max_eval),
                tolerance_grad: options
                    .float("tolerance_grad")?
                    .unwrap_or(base.tolerance_grad),
                tolerance_change: options
                    .float("tolerance_change")?
                    .unwrap_or(base.tolerance_change),
                history_size: options.count("history_size")?.unwrap_or(base.history_size),
                line_search,
            };
            options.finish(LBFGS_KEYS)?;
            config.check().map_err(|e| e.to_string())?;
            OptimizerConfig::Lbfgs(config)
        }
    };
    Ok(optimizer)
}

/// The learning-rate scheduler chosen on the command line, if any.
///
/// # Errors
/// When an option is unknown, does not parse, or is one torch refuses.
pub fn scheduler(
    choice: Option<SchedulerChoice>,
    options: &str,
) -> Result<Option<Box<dyn LrScheduler>>, String> {
    let Some(choice) = choice else {
        if !options.trim().is_empty() {
            return Err("--scheduler-opt needs --scheduler".to_string());
        }
        return Ok(None);
    };
    let name = format!("{choice:?}").to_lowercase();
    let mut options = KeyValues::parse(&name, options)?;
    let needs = |key: &str| format!("the {name} scheduler needs {key}");
    let (schedule, accepted) = match choice {
        SchedulerChoice::Plateau => {
            let base = PlateauConfig::default();
            let mode = match options.text("mode").as_deref() {
                None | Some("min") => PlateauMode::Min,
                Some("max") => PlateauMode::Max,
                Some(other) => return Err(format!("mode must be min or max, got {other:?}")),
            };
            let threshold_mode = match options.text("threshold_mode").as_deref() {
                None | Some("rel") => ThresholdMode::Rel,
                Some("abs") => ThresholdMode::Abs,
                Some(other) => {
                    return Err(format!("threshold_mode must be rel or abs, got {other:?}"));
                }
            };
            let config = PlateauConfig {
                mode,
                factor: options.float("factor")?.unwrap_or(base.factor),
                patience: options.count("patience")?.unwrap_or(base.patience),
                threshold: options.float("threshold")?.unwrap_or(base.threshold),
                threshold_mode,
                cooldown: options.count("cooldown")?.unwrap_or(base.cooldown),
                min_lr: options.float("min_lr")?.unwrap_or(base.min_lr),
                eps: options.float("eps")?.unwrap_or(base.eps),
            };
            options.finish(PLATEAU_KEYS)?;
            let plateau = ReduceLrOnPlateau::new(config).map_err(|e| e.to_string())?;
            return Ok(Some(Box::new(plateau)));
        }
        SchedulerChoice::Step => (
            EpochSchedule::Step {
                step_size: options
                    .count("step_size")?
                    .ok_or_else(|| needs("step_size"))?,
                gamma: options.float("gamma")?.unwrap_or(0.1),
            },
            "step_size, gamma",
        ),
        SchedulerChoice::Multistep => (
            EpochSchedule::MultiStep {
                milestones: options
                    .list::<usize>("milestones", "integers")?
                    .ok_or_else(|| needs("milestones (e.g. milestones=3:7)"))?,
                gamma: options.float("gamma")?.unwrap_or(0.1),
            },
            "milestones (m1:m2:…), gamma",
        ),
        SchedulerChoice::Exponential => (
            EpochSchedule::Exponential {
                gamma: options.float("gamma")?.ok_or_else(|| needs("gamma"))?,
            },
            "gamma",
        ),
        SchedulerChoice::Cosine => (
            EpochSchedule::CosineAnnealing {
                t_max: options.count("T_max")?.ok_or_else(|| needs("T_max"))?,
                eta_min: options.float("eta_min")?.unwrap_or(0.0),
            },
            "T_max, eta_min",
        ),
    };
    options.finish(accepted)?;
    let scheduler = EpochScheduler::new(schedule).map_err(|e| e.to_string())?;
    Ok(Some(Box::new(scheduler)))
}

#[cfg(test)]
mod tests {
    use super::*;

    type B = burn::backend::NdArray;

    #[test]
    fn builds_each_optimizer_with_torch_names() {
        let adam = optimizer(None, "", 0.02).unwrap().build::<B>();
        assert_eq!((adam.name(), adam.learning_rate()), ("Adam", 0.02));
        let sgd = optimizer(
            Some(OptimizerChoice::Sgd),
            "momentum=0.9,nesterov=true",
            0.01,
        )
        .unwrap()
        .build::<B>();
        assert_eq!(sgd.name(), "SGD");
        let lbfgs = optimizer(
            Some(OptimizerChoice::Lbfgs),
            "history_size=10,max_iter=4,line_search_fn=strong_wolfe",
            1.0,
        )
        .unwrap()
        .build::<B>();
        assert_eq!(lbfgs.name(), "LBFGS");
        let adamw = optimizer(
            Some(OptimizerChoice::Adamw),
            "betas=0.8:0.99,amsgrad=true",
            0.01,
        )
        .unwrap()
        .build::<B>();
        assert_eq!(adamw.name(), "AdamW");
    }

    #[test]
    fn optimizer_errors_list_what_is_accepted() {
        let err = |choice, options: &str| optimizer(choice, options, 0.01).err().unwrap();
        assert_eq!(
            err(Some(OptimizerChoice::Sgd), "momentun=0.9"),
            format!("unknown sgd option \"momentun\"; expected: {SGD_KEYS}")
        );
        assert!(
            err(Some(OptimizerChoice::Lbfgs), "line_search_fn=wolfe")
                .contains("strong_wolfe or none")
        );
        assert!(err(Some(OptimizerChoice::Adam), "betas=0.9").contains("two numbers"));
        assert!(err(Some(OptimizerChoice::Sgd), "nesterov=true").contains("requires a momentum"));
        assert_eq!(
            err(None, "momentum=0.9"),
            "--optimizer-opt needs --optimizer"
        );
    }

    #[test]
    fn schedulers_and_their_errors() {
        let step = scheduler(Some(SchedulerChoice::Step), "step_size=4,gamma=0.5")
            .unwrap()
            .unwrap();
        assert_eq!(step.name(), "StepLR");
        let plateau = scheduler(
            Some(SchedulerChoice::Plateau),
            "factor=0.5,patience=1,threshold=0.2",
        )
        .unwrap()
        .unwrap();
        assert_eq!(plateau.name(), "ReduceLROnPlateau");
        assert!(scheduler(None, "").unwrap().is_none());
        let err = |choice, options: &str| scheduler(Some(choice), options).err().unwrap();
        assert_eq!(
            err(SchedulerChoice::Step, "gamma=0.5"),
            "the step scheduler needs step_size"
        );
        assert_eq!(
            err(SchedulerChoice::Cosine, "T_max=5,eta=0"),
            "unknown cosine option \"eta\"; expected: T_max, eta_min"
        );
        assert_eq!(
            err(SchedulerChoice::Plateau, "factor=2"),
            "factor must be below 1.0, but got 2"
        );
        assert_eq!(
            err(SchedulerChoice::Exponential, ""),
            "the exponential scheduler needs gamma"
        );
        assert!(
            err(SchedulerChoice::Multistep, "milestones=3:x").contains("integers separated by ':'")
        );
    }
}
