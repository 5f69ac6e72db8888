//! The settings of one synthesis as one type: `metamer synth`'s options, a study plan's row and
//! what a saved synthesis records are all a [`Settings`].

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model_spec::ModelSpec;
use super::training::{self, OptimizerChoice, SchedulerChoice};

/// Everything that decides a synthesis's result, plus how often it is saved. The field names
/// are `metamer synth`'s long options; in files (plans, saved syntheses) they are spelled the
/// same, without the dashes (`max-iter`), and every field may be left out for its default.
#[derive(Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    /// Target image: a PNG, JPEG, PGM/PPM or .npy file, a built-in name (einstein, curie,
    /// reptile_skin, parrot, color_wheel), or one generated in code: scene (the default, a
    /// test scene) or texture (irregular scales, for texture models).
    #[arg(long)]
    pub image: Option<String>,
    /// Load the image file or built-in image in colour (RGB), as plenoptic's
    /// `load_images(..., as_gray=False)`; `.npy` arrays keep their own channels.
    #[arg(long)]
    pub color: bool,
    /// Center-crop the target image to N×N (plenoptic's `center_crop`).
    #[arg(long, value_name = "N")]
    pub crop: Option<usize>,
    /// Model: `NAME` or `NAME:key=value,...`, e.g. `on_off:pretrained=true,cache_filt=true`;
    /// `metamer models` lists every model and its options.
    #[arg(long, default_value = "gaussian:kernel_size=30,std=3.0")]
    pub model: ModelSpec,
    /// Initial image (.npy of the target's size), used as is; default: seeded uniform noise.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Seed of the torch-compatible generator (plenoptic's `po.set_seed`).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Iterations of the whole synthesis (with `--resume`: how many more).
    #[arg(long, default_value_t = 100)]
    pub max_iter: usize,
    /// Save the metamer every N iterations (0: never).
    #[arg(long, default_value_t = 0)]
    pub store_progress: usize,
    /// Stop when the loss changed less than this over `--stop-iters-to-check` iterations.
    #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
    pub stop_criterion: f64,
    /// Iterations over which `--stop-criterion` is checked.
    #[arg(long, default_value_t = 50)]
    pub stop_iters_to_check: usize,
    /// The learning rate of any optimizer (plenoptic's default, 0.01, also for L-BFGS).
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    pub lr: f64,
    /// Optimizer; default: plenoptic's Adam with AMSGrad. A named one starts from torch's defaults.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerChoice>,
    /// Optimizer options with torch's names, e.g. `momentum=0.9` or
    /// `history_size=10,max_iter=4,line_search_fn=strong_wolfe` (lists use ':', e.g.
    /// `betas=0.9:0.999`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub optimizer_opt: String,
    /// Learning-rate scheduler, stepped after every iteration.
    #[arg(long, value_enum)]
    pub scheduler: Option<SchedulerChoice>,
    /// Scheduler options with torch's names, e.g. `step_size=4,gamma=0.5` or
    /// `factor=0.5,patience=1,threshold=0.2` (lists use ':', e.g. `milestones=3:7`).
    #[arg(long, default_value = "", allow_hyphen_values = true)]
    pub scheduler_opt: String,
    /// `ps` and `groupwise`: plenoptic's texture losses, for `--model portilla_simoncelli`.
    #[arg(long, value_enum, default_value_t = LossChoice::Mse)]
    pub loss: LossChoice,
    /// Coarse-to-fine synthesis (models with scales, e.g. portilla_simoncelli): `together`
    /// keeps finished scales in the objective, `separate` drops them.
    #[arg(long, value_enum)]
    pub coarse_to_fine: Option<CtfChoice>,
    /// Move to the next scale once its loss changed less than F over `--ctf-iters-to-check`
    /// iterations; `none` moves after that many iterations.
    #[arg(long, default_value = "0.01", value_parser = parse_criterion, value_name = "F|none")]
    pub change_scale_criterion: ScaleCriterion,
    /// Iterations each scale runs at least, coarse to fine.
    #[arg(long, default_value_t = 50)]
    pub ctf_iters_to_check: usize,
    /// Weight of the range penalty in the objective.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub penalty_lambda: f64,
    /// Allowed pixel range of the range penalty, as MIN,MAX.
    #[arg(long, default_value = "0,1", value_parser = parse_range, allow_hyphen_values = true)]
    #[serde(with = "range_text")]
    pub range: (f64, f64),
    /// Where to compute; `auto` picks the CPU backend measured fastest for the model (see the
    /// README): flex for deep networks, ndarray for the others.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Float precision of the synthesis.
    #[arg(long, value_enum, default_value_t = DtypeChoice::F32)]
    pub dtype: DtypeChoice,
    /// Write `synthesis.safetensors` every N iterations (0: only at the end).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub checkpoint_every: usize,
}

/// The defaults are `metamer synth`'s, read from the one definition above.
impl Default for Settings {
    fn default() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            settings: Settings,
        }
        let matches = Defaults::command().get_matches_from(["metamer"]);
        Defaults::from_arg_matches(&matches)
            .expect("every setting has a valid default")
            .settings
    }
}

impl Settings {
    /// Checks what can be checked without loading anything: option lists and combinations.
    ///
    /// # Errors
    /// The option at fault and why.
    pub fn check(&self) -> Result<(), InvalidSetting> {
        let invalid = |option, message| InvalidSetting { option, message };
        training::optimizer(self.optimizer, &self.optimizer_opt, self.lr)
            .map_err(|message| invalid("optimizer-opt", message))?;
        training::scheduler(self.scheduler, &self.scheduler_opt)
            .map_err(|message| invalid("scheduler-opt", message))?;
        let texture_loss = matches!(self.loss, LossChoice::Ps | LossChoice::Groupwise);
        if texture_loss && !self.model.is_texture() {
            return Err(invalid("loss", needs_texture_model(self.loss)));
        }
        if texture_loss && self.coarse_to_fine.is_some() {
            return Err(invalid(
                "loss",
                "the texture losses weigh every statistic, so they cannot follow coarse-to-fine \
                 synthesis (plenoptic's neither); use --loss l2 as plenoptic's documentation does"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

/// A setting that cannot work: the option (as a plan spells it) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The option, as a plan spells it.
    pub option: &'static str,
    /// Why it cannot work.
    pub message: String,
}

/// The message alone, as the command line prints it.
impl std::fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub(crate) fn needs_texture_model(loss: LossChoice) -> String {
    format!(
        "--loss {} weighs Portilla-Simoncelli statistics: it needs --model portilla_simoncelli",
        value_name(loss)
    )
}

/// The loss between representations.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossChoice {
    /// Mean squared error (plenoptic's default).
    Mse,
    /// L2 norm of the difference.
    L2,
    /// Squared error relative to the target's squared norm.
    RelativeSse,
    /// plenoptic's `portilla_simoncelli_loss_factory`.
    Ps,
    /// plenoptic's `groupwise_relative_l2_norm_factory`.
    Groupwise,
}

/// How coarse-to-fine synthesis treats finished scales.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CtfChoice {
    /// Finished scales stay in the objective.
    Together,
    /// Only the current scale is in the objective.
    Separate,
}

/// Where the synthesis computes.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendChoice {
    /// The CPU backend measured fastest for the model: flex for deep networks (generic
    /// convolutions), ndarray for the others.
    Auto,
    /// Burn's ndarray backend (CPU).
    Ndarray,
    /// Burn's flex backend (CPU).
    Flex,
    /// Burn's wgpu backend (GPU through Vulkan or Metal).
    Wgpu,
    /// libtorch (CPU or CUDA).
    Tch,
}

/// Float precision.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DtypeChoice {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

/// The name a choice has on the command line.
pub fn value_name(value: impl ValueEnum) -> String {
    value
        .to_possible_value()
        .expect("no skipped variants")
        .get_name()
        .to_string()
}

/// `--change-scale-criterion`: a number, or `none` (plenoptic's `None`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleCriterion(pub Option<f64>);

fn parse_criterion(text: &str) -> Result<ScaleCriterion, String> {
    if text == "none" {
        return Ok(ScaleCriterion(None));
    }
    text.parse::<f64>()
        .map(|f| ScaleCriterion(Some(f)))
        .map_err(|_| format!("expected a number or none, got {text:?}"))
}

impl Serialize for ScaleCriterion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(value) => serializer.serialize_f64(value),
            None => serializer.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for ScaleCriterion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Text(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Number(value) => Ok(Self(Some(value))),
            Written::Text(text) => parse_criterion(&text).map_err(serde::de::Error::custom),
        }
    }
}

fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let parse = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a number"))
    };
    let (min, max) = text
        .split_once(',')
        .ok_or_else(|| format!("range must be MIN,MAX, got {text:?}"))?;
    checked_range(parse(min)?, parse(max)?)
}

fn checked_range(min: f64, max: f64) -> Result<(f64, f64), String> {
    if min < max {
        Ok((min, max))
    } else {
        Err(format!(
            "range minimum {min} must be below its maximum {max}"
        ))
    }
}

/// The pixel range as the command line writes it (`"0,1"`); files may also give `[0, 1]`.
mod range_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(range: &(f64, f64), serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{},{}", range.0, range.1))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(f64, f64), D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Pair(f64, f64),
        }
        match Written::deserialize(deserializer)? {
            Written::Text(text) => super::parse_range(&text),
            Written::Pair(min, max) => super::checked_range(min, max),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_command_lines_and_survive_json() {
        let defaults = Settings::default();
        assert_eq!(defaults.max_iter, 100);
        assert_eq!(defaults.range, (0.0, 1.0));
        assert_eq!(defaults.change_scale_criterion, ScaleCriterion(Some(0.01)));
        let text = serde_json::to_string(&defaults).unwrap();
        let back: Settings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, defaults);
        let partial: Settings =
            serde_json::from_str(r#"{"max-iter": 7, "range": [-1, 2], "optimizer": "sgd"}"#)
                .unwrap();
        assert_eq!(partial.max_iter, 7);
        assert_eq!(partial.range, (-1.0, 2.0));
        assert_eq!(partial.optimizer, Some(OptimizerChoice::Sgd));
        assert_eq!(partial.model, defaults.model);
        let unknown = serde_json::from_str::<Settings>(r#"{"max_iter": 7}"#).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `max_iter`"),
            "{unknown}"
        );
    }

    #[test]
    fn texture_losses_need_the_texture_model() {
        let settings = Settings {
            loss: LossChoice::Ps,
            ..Default::default()
        };
        let error = settings.check().unwrap_err();
        assert_eq!(error.option, "loss");
        assert!(
            error.message.contains("needs --model portilla_simoncelli"),
            "{error}"
        );
    }
}
