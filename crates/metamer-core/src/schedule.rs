//! Learning-rate schedulers with torch's semantics, stepped once per iteration after the
//! optimizer step.

use crate::{MetamerError, Result, optim::State};

/// Adjusts the learning rate once per iteration, after the optimizer step.
///
/// Receives the current learning rate and the iteration's loss (schedulers that ignore the loss,
/// like torch's epoch-based ones, do not read it) and returns the new learning rate.
pub trait LrScheduler {
    /// The learning rate after an iteration with `loss`, given the current `learning_rate`.
    fn step(&mut self, learning_rate: f64, loss: f64) -> f64;

    /// The name shown in summaries and checked on load.
    fn name(&self) -> &'static str;

    /// Options and counters, for saving a synthesis. The default records only the name.
    fn state(&self) -> State {
        State::new(self.name())
    }

    /// Restores what [`LrScheduler::state`] returned. The default refuses, for schedulers that
    /// do not record their state.
    ///
    /// # Errors
    /// When the state is another scheduler's or lacks a value this one records.
    fn load_state(&mut self, state: &State) -> Result<()> {
        Err(MetamerError::StateMismatch {
            expected: format!("a scheduler that can restore {} state", state.name),
            found: format!("{}, which keeps no state", self.name()),
        })
    }
}

/// Whether [`ReduceLrOnPlateau`] minimises or maximises the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlateauMode {
    /// Lower is better (a loss).
    #[default]
    Min,
    /// Higher is better.
    Max,
}

/// How [`ReduceLrOnPlateau`] measures improvement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ThresholdMode {
    /// Better by a fraction `threshold` of the best value.
    #[default]
    Rel,
    /// Better by `threshold`.
    Abs,
}

/// `ReduceLROnPlateau`'s options, with torch's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateauConfig {
    /// Whether lower or higher is better.
    pub mode: PlateauMode,
    /// Multiplies the learning rate on a plateau.
    pub factor: f64,
    /// Iterations without improvement before the rate drops.
    pub patience: usize,
    /// How much better than the best counts as an improvement.
    pub threshold: f64,
    /// Whether `threshold` is relative or absolute.
    pub threshold_mode: ThresholdMode,
    /// Iterations to wait after a drop before counting again.
    pub cooldown: usize,
    /// The lowest learning rate.
    pub min_lr: f64,
    /// Drops smaller than this are skipped.
    pub eps: f64,
}

impl Default for PlateauConfig {
    fn default() -> Self {
        Self {
            mode: PlateauMode::Min,
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
        }
    }
}

/// torch's `ReduceLROnPlateau`: multiplies the learning rate by `factor` once the loss has not
/// improved for more than `patience` iterations.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceLrOnPlateau {
    config: PlateauConfig,
    best: f64,
    num_bad_epochs: usize,
    cooldown_counter: usize,
}

impl ReduceLrOnPlateau {
    /// Checks the options as torch does (`factor` below 1).
    ///
    /// # Errors
    /// When an option is one torch refuses, with torch's message.
    pub fn new(config: PlateauConfig) -> Result<Self> {
        if config.factor.is_nan() || config.factor >= 1.0 {
            return Err(MetamerError::InvalidOption {
                name: "factor",
                requirement: "below 1.0",
                value: config.factor.to_string(),
            });
        }
        let best = match config.mode {
            PlateauMode::Min => f64::INFINITY,
            PlateauMode::Max => f64::NEG_INFINITY,
        };
        Ok(Self {
            config,
            best,
            num_bad_epochs: 0,
            cooldown_counter: 0,
        })
    }

    /// The options it was made with.
    pub fn config(&self) -> &PlateauConfig {
        &self.config
    }

    fn is_better(&self, value: f64) -> bool {
        let PlateauConfig {
            mode,
            threshold,
            threshold_mode,
            ..
        } = self.config;
        match (mode, threshold_mode) {
            (PlateauMode::Min, ThresholdMode::Rel) => value < self.best * (1.0 - threshold),
            (PlateauMode::Min, ThresholdMode::Abs) => value < self.best - threshold,
            (PlateauMode::Max, ThresholdMode::Rel) => value > self.best * (threshold + 1.0),
            (PlateauMode::Max, ThresholdMode::Abs) => value > self.best + threshold,
        }
    }
}

impl LrScheduler for ReduceLrOnPlateau {
    fn step(&mut self, learning_rate: f64, loss: f64) -> f64 {
        if self.is_better(loss) {
            self.best = loss;
            self.num_bad_epochs = 0;
        } else {
            self.num_bad_epochs += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad_epochs = 0;
        }
        if self.num_bad_epochs > self.config.patience {
            self.cooldown_counter = self.config.cooldown;
            self.num_bad_epochs = 0;
            let reduced = (learning_rate * self.config.factor).max(self.config.min_lr);
            if learning_rate - reduced > self.config.eps {
                return reduced;
            }
        }
        learning_rate
    }

    fn name(&self) -> &'static str {
        "ReduceLROnPlateau"
    }

    fn state(&self) -> State {
        let c = &self.config;
        let state = State::new(self.name())
            .flag("mode_max", c.mode == PlateauMode::Max)
            .scalar("factor", c.factor)
            .scalar("patience", c.patience as f64)
            .scalar("threshold", c.threshold)
            .flag("threshold_abs", c.threshold_mode == ThresholdMode::Abs)
            .scalar("cooldown", c.cooldown as f64)
            .scalar("min_lr", c.min_lr)
            .scalar("eps", c.eps)
            .scalar("num_bad_epochs", self.num_bad_epochs as f64)
            .scalar("cooldown_counter", self.cooldown_counter as f64);
        // JSON has no infinities: the initial "best" is left out and rebuilt from the mode.
        if self.best.is_finite() {
            state.scalar("best", self.best)
        } else {
            state
        }
    }

    fn load_state(&mut self, state: &State) -> Result<()> {
        state.expect_name(self.name())?;
        let get = |key: &str| state.get_scalar(key);
        self.config = PlateauConfig {
            mode: if state.get_flag("mode_max")? {
                PlateauMode::Max
            } else {
                PlateauMode::Min
            },
            factor: get("factor")?,
            patience: get("patience")? as usize,
            threshold: get("threshold")?,
            threshold_mode: if state.get_flag("threshold_abs")? {
                ThresholdMode::Abs
            } else {
                ThresholdMode::Rel
            },
            cooldown: get("cooldown")? as usize,
            min_lr: get("min_lr")?,
            eps: get("eps")?,
        };
        self.best = match (state.scalars.get("best"), self.config.mode) {
            (Some(best), _) => *best,
            (None, PlateauMode::Min) => f64::INFINITY,
            (None, PlateauMode::Max) => f64::NEG_INFINITY,
        };
        self.num_bad_epochs = get("num_bad_epochs")? as usize;
        self.cooldown_counter = get("cooldown_counter")? as usize;
        Ok(())
    }
}

/// torch's epoch-based schedulers, in their recursive ("chainable") form.
#[derive(Clone, Debug, PartialEq)]
pub enum EpochSchedule {
    /// `StepLR`: multiply by `gamma` every `step_size` iterations.
    Step {
        /// Iterations between drops.
        step_size: usize,
        /// Factor of each drop.
        gamma: f64,
    },
    /// `MultiStepLR`: multiply by `gamma` at each milestone (repeated milestones compound).
    MultiStep {
        /// Iterations at which the rate drops.
        milestones: Vec<usize>,
        /// Factor of each drop.
        gamma: f64,
    },
    /// `ExponentialLR`: multiply by `gamma` every iteration.
    Exponential {
        /// Factor per iteration.
        gamma: f64,
    },
    /// `CosineAnnealingLR`: cosine from the initial rate down to `eta_min` over `t_max`
    /// iterations, then back up.
    CosineAnnealing {
        /// Iterations of a half period.
        t_max: usize,
        /// The lowest learning rate.
        eta_min: f64,
    },
}

/// An [`EpochSchedule`] with its iteration counter.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochScheduler {
    schedule: EpochSchedule,
    last_epoch: usize,
    base_lr: Option<f64>,
}

impl EpochScheduler {
    /// A scheduler following `schedule`.
    ///
    /// # Errors
    /// When an argument is one torch refuses (e.g. a zero `step_size`).
    pub fn new(schedule: EpochSchedule) -> Result<Self> {
        let invalid = |name, requirement, value: String| {
            Err(MetamerError::InvalidOption {
                name,
                requirement,
                value,
            })
        };
        match &schedule {
            EpochSchedule::Step { step_size: 0, .. } => {
                return invalid("step_size", "a positive integer", "0".into());
            }
            EpochSchedule::CosineAnnealing { t_max: 0, .. } => {
                return invalid("T_max", "a positive integer", "0".into());
            }
            EpochSchedule::MultiStep { milestones, .. }
                if milestones.windows(2).any(|w| w[0] > w[1]) =>
            {
                return invalid("milestones", "non-decreasing", format!("{milestones:?}"));
            }
            _ => {}
        }
        Ok(Self {
            schedule,
            last_epoch: 0,
            base_lr: None,
        })
    }
}

impl LrScheduler for EpochScheduler {
    fn step(&mut self, learning_rate: f64, _loss: f64) -> f64 {
        let base_lr = *self.base_lr.get_or_insert(learning_rate);
        self.last_epoch += 1;
        let epoch = self.last_epoch;
        match &self.schedule {
            EpochSchedule::Step { step_size, gamma } => {
                if epoch.is_multiple_of(*step_size) {
                    learning_rate * gamma
                } else {
                    learning_rate
                }
            }
            EpochSchedule::MultiStep { milestones, gamma } => {
                let hits = milestones.iter().filter(|&&m| m == epoch).count();
                learning_rate * gamma.powi(hits as i32)
            }
            EpochSchedule::Exponential { gamma } => learning_rate * gamma,
            EpochSchedule::CosineAnnealing { t_max, eta_min } => {
                let (t, e) = (*t_max as f64, epoch as f64);
                let pi = std::f64::consts::PI;
                if (epoch as i64 - 1 - *t_max as i64).rem_euclid(2 * *t_max as i64) == 0 {
                    learning_rate + (base_lr - eta_min) * (1.0 - (pi / t).cos()) / 2.0
                } else {
                    (1.0 + (pi * e / t).cos()) / (1.0 + (pi * (e - 1.0) / t).cos())
                        * (learning_rate - eta_min)
                        + eta_min
                }
            }
        }
    }

    fn state(&self) -> State {
        let mut state = State::new(self.name()).scalar("last_epoch", self.last_epoch as f64);
        if let Some(base_lr) = self.base_lr {
            state = state.scalar("base_lr", base_lr);
        }
        state = match &self.schedule {
            EpochSchedule::Step { step_size, gamma } => state
                .scalar("step_size", *step_size as f64)
                .scalar("gamma", *gamma),
            EpochSchedule::MultiStep { milestones, gamma } => milestones
                .iter()
                .enumerate()
                .fold(state.scalar("gamma", *gamma), |s, (i, m)| {
                    s.scalar(&format!("milestones.{i:04}"), *m as f64)
                }),
            EpochSchedule::Exponential { gamma } => state.scalar("gamma", *gamma),
            EpochSchedule::CosineAnnealing { t_max, eta_min } => state
                .scalar("T_max", *t_max as f64)
                .scalar("eta_min", *eta_min),
        };
        state
    }

    fn load_state(&mut self, state: &State) -> Result<()> {
        state.expect_name(self.name())?;
        let get = |key: &str| state.get_scalar(key);
        self.schedule = match &self.schedule {
            EpochSchedule::Step { .. } => EpochSchedule::Step {
                step_size: get("step_size")? as usize,
                gamma: get("gamma")?,
            },
            EpochSchedule::MultiStep { .. } => EpochSchedule::MultiStep {
                milestones: state
                    .scalars
                    .iter()
                    .filter(|(k, _)| k.starts_with("milestones."))
                    .map(|(_, v)| *v as usize)
                    .collect(),
                gamma: get("gamma")?,
            },
            EpochSchedule::Exponential { .. } => EpochSchedule::Exponential {
                gamma: get("gamma")?,
            },
            EpochSchedule::CosineAnnealing { .. } => EpochSchedule::CosineAnnealing {
                t_max: get("T_max")? as usize,
                eta_min: get("eta_min")?,
            },
        };
        self.last_epoch = get("last_epoch")? as usize;
        self.base_lr = state.scalars.get("base_lr").copied();
        Ok(())
    }

    fn name(&self) -> &'static str {
        match self.schedule {
            EpochSchedule::Step { .. } => "StepLR",
            EpochSchedule::MultiStep { .. } => "MultiStepLR",
            EpochSchedule::Exponential { .. } => "ExponentialLR",
            EpochSchedule::CosineAnnealing { .. } => "CosineAnnealingLR",
        }
    }
}
