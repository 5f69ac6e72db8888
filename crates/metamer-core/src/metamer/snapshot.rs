//! A synthesis as plain values, for saving it and continuing it later (plenoptic's `save` and
//! `load`), with plenoptic's checks that the loading object is the same synthesis.

use burn::tensor::{DType, Tensor, backend::AutodiffBackend};
use serde::{Deserialize, Serialize};

use super::{CoarseToFineState, Inner, Metamer};
use crate::{
    Adam, AdamConfig, EpochSchedule, EpochScheduler, Lbfgs, LbfgsConfig, LrScheduler, MetamerError,
    PixelOptimizer, PlateauConfig, ReduceLrOnPlateau, Representation, Result, Sgd, SgdConfig,
    State, StateTensor, Warning,
    tensor::{from_f64, to_f64},
    warning::raise,
};

/// Bumped whenever the meaning of a saved field changes.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Everything a saved synthesis holds, backend-free. Tensors are host copies (`f64` holds
/// `f32` values exactly); `dtype` says which precision they had.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Format version, checked on load.
    pub version: u32,
    /// `"Metamer"` or `"MetamerCTF"`.
    pub synthesis: String,
    /// Precision the tensors had.
    pub dtype: SavedDtype,
    /// The target image.
    pub image: StateTensor,
    /// The model's representation of the target image.
    pub target_representation: StateTensor,
    /// The current metamer; `None` before setup.
    pub metamer: Option<StateTensor>,
    /// Metamers stored every `store_progress` iterations.
    pub saved_metamer: Vec<StateTensor>,
    /// Objective per iteration.
    pub losses: Vec<f64>,
    /// Penalty per iteration.
    pub penalties: Vec<f64>,
    /// Gradient norm per iteration.
    pub gradient_norm: Vec<f64>,
    /// Pixel-change norm per iteration.
    pub pixel_change_norm: Vec<f64>,
    /// Learning rate per iteration.
    pub learning_rate: Vec<f64>,
    /// `store_progress` of the first `synthesize` call.
    pub store_progress: Option<usize>,
    /// The objective and penalty at the current metamer, when known.
    pub current: Option<(f64, f64)>,
    /// Weight of the penalty in the objective.
    pub penalty_lambda: f64,
    /// The loss on `(target, 2·target)`, the penalty on the image and the model's output on
    /// the image: how a load tells whether it has the same functions.
    pub loss: Behaviour,
    /// The penalty's name and its output on the image.
    pub penalty: Behaviour,
    /// The model's name and its output on the image.
    pub model: Behaviour,
    /// The optimizer's name and state, to continue from.
    pub optimizer: Option<State>,
    /// The scheduler's name and state, to continue from.
    pub scheduler: Option<State>,
    /// A coarse-to-fine synthesis's scales, their losses and timing.
    #[serde(default)]
    pub coarse_to_fine: Option<CoarseToFineState>,
}

/// Float precision of a saved synthesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SavedDtype {
    /// 32-bit floats.
    F32,
    /// 64-bit floats.
    F64,
}

/// A function's name and its output on the saved inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    /// The function's name.
    pub name: String,
    /// Its output.
    pub output: StateTensor,
}

/// plenoptic's `load` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadOptions {
    /// `false` turns check failures into returned warnings (dtype mismatches still fail).
    pub raise_on_checks: bool,
    /// Absolute tolerance when comparing saved and recomputed tensors.
    pub tensor_equality_atol: f64,
    /// Relative tolerance when comparing saved and recomputed tensors.
    pub tensor_equality_rtol: f64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            raise_on_checks: true,
            tensor_equality_atol: 1e-8,
            tensor_equality_rtol: 1e-5,
        }
    }
}

fn host<B: burn::tensor::backend::Backend, const K: usize>(tensor: Tensor<B, K>) -> StateTensor {
    StateTensor {
        shape: tensor.dims().to_vec(),
        values: to_f64(tensor),
    }
}

fn flat(representation: &Representation<impl burn::tensor::backend::Backend>) -> StateTensor {
    StateTensor {
        shape: representation.shape().to_vec(),
        values: to_f64(representation.flat().clone()),
    }
}

impl<B: AutodiffBackend, const D: usize> Metamer<B, D> {
    /// The synthesis as plain values (plenoptic's `save` content).
    ///
    /// # Errors
    /// When the model, loss or penalty fails on the saved inputs.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.snapshot_with(None)
    }

    /// The snapshot, with a coarse-to-fine synthesis's state where there is one.
    pub(super) fn snapshot_with(&self, ctf: Option<&CoarseToFineState>) -> Result<Snapshot> {
        let (loss, penalty, model) = self.behaviour(&self.image, &self.target)?;
        Ok(Snapshot {
            version: SNAPSHOT_VERSION,
            synthesis: synthesis_name(ctf.is_some()).to_string(),
            dtype: if self.image.dtype() == DType::F64 {
                SavedDtype::F64
            } else {
                SavedDtype::F32
            },
            image: host(self.image.clone()),
            target_representation: flat(&self.target),
            metamer: self.metamer.clone().map(host),
            saved_metamer: self.saved.iter().cloned().map(host).collect(),
            losses: self.losses.clone(),
            penalties: self.penalties.clone(),
            gradient_norm: self.gradient_norm.clone(),
            pixel_change_norm: self.pixel_change_norm.clone(),
            learning_rate: self.learning_rate.clone(),
            store_progress: self.store_progress,
            current: self.current_values()?,
            penalty_lambda: self.penalty_lambda,
            loss,
            penalty,
            model,
            optimizer: self.optimizer.as_ref().map(|o| o.state()),
            scheduler: self.scheduler.as_ref().map(|s| s.state()),
            coarse_to_fine: ctf.cloned(),
        })
    }

    fn behaviour(
        &self,
        image: &Tensor<Inner<B>, D>,
        target: &Representation<B>,
    ) -> Result<(Behaviour, Behaviour, Behaviour)> {
        let doubled = target.clone().map(|t| t.mul_scalar(2.0));
        let loss = self.loss.compute(target, &doubled);
        let pixels = Tensor::<B, D>::from_inner(image.clone());
        let penalty = self.penalty.compute(pixels.clone());
        let representation = self.model.forward(pixels);
        Ok((
            Behaviour {
                name: self.loss.name().to_string(),
                output: host(loss.inner()),
            },
            Behaviour {
                name: self.penalty.name().to_string(),
                output: host(penalty.inner()),
            },
            Behaviour {
                name: self.model.name(),
                output: StateTensor {
                    shape: representation.shape().to_vec(),
                    values: to_f64(representation.flat().clone().inner()),
                },
            },
        ))
    }

    /// Continues a saved synthesis in this just-constructed object (plenoptic's `load`): the
    /// image, penalty weight, loss, penalty and model must match the saved ones
    /// (checked in plenoptic's order); with `raise_on_checks = false` mismatches become the
    /// returned warnings and the saved values win. The optimizer and scheduler are rebuilt
    /// from their saved state, so synthesis resumes exactly.
    ///
    /// # Errors
    /// When this object has already run, the save is of a newer format or another dtype, or
    /// (with `raise_on_checks`) the image, weight, loss, penalty or model differ from the saved
    /// ones.
    pub fn load_snapshot(
        &mut self,
        snapshot: &Snapshot,
        options: &LoadOptions,
    ) -> Result<Vec<Warning>> {
        self.load_snapshot_with(snapshot, options, None)
    }

    /// As [`Metamer::load_snapshot`], for a coarse-to-fine synthesis when `ctf` (its fresh
    /// state) is given: the saved state must have the same mode and fit the model's scales.
    pub(super) fn load_snapshot_with(
        &mut self,
        snapshot: &Snapshot,
        options: &LoadOptions,
        ctf: Option<&CoarseToFineState>,
    ) -> Result<Vec<Warning>> {
        if self.metamer.is_some() {
            return Err(MetamerError::LoadNotFresh);
        }
        if snapshot.version > SNAPSHOT_VERSION {
            return Err(MetamerError::LoadVersion {
                found: snapshot.version,
                supported: SNAPSHOT_VERSION,
            });
        }
        if snapshot.synthesis != synthesis_name(ctf.is_some()) {
            return Err(MetamerError::LoadCheck(format!(
                "Saved object was a {}, but initialized object is {}!",
                snapshot.synthesis,
                synthesis_name(ctf.is_some())
            )));
        }
        let dtype = self.image.dtype();
        let saved_dtype = match snapshot.dtype {
            SavedDtype::F32 => DType::F32,
            SavedDtype::F64 => DType::F64,
        };
        if saved_dtype != dtype {
            return Err(MetamerError::LoadDtype {
                saved: format!("{saved_dtype:?}"),
                initialized: format!("{dtype:?}"),
            });
        }
        let tensors = [
            ("image", Some(&snapshot.image)),
            (
                "target_representation",
                Some(&snapshot.target_representation),
            ),
            ("metamer", snapshot.metamer.as_ref()),
        ];
        for (what, tensor) in tensors {
            if tensor.is_some_and(|t| t.values.iter().any(|v| !v.is_finite())) {
                return Err(MetamerError::NonFinite { what });
            }
        }
        let mut warnings = Vec::new();
        let mut fail = |message: String| -> Result<()> {
            if options.raise_on_checks {
                Err(MetamerError::LoadCheck(format!(
                    "{message}\n\nIf you are sure these objects are the same, load again with \
                     raise_on_checks = false."
                )))
            } else {
                warnings.push(raise(Warning::LoadCheck(format!(
                    "{message}\nSetting to saved value."
                ))));
                Ok(())
            }
        };
        let tolerance = (options.tensor_equality_atol, options.tensor_equality_rtol);
        let current_image = host(self.image.clone());
        if let Some(kind) = difference(&snapshot.image, &current_image, tolerance) {
            fail(format!(
                "Saved and initialized attribute image have different {kind}!"
            ))?;
        }
        let (atol, rtol) = (1e-8, 1e-5);
        if (snapshot.penalty_lambda - self.penalty_lambda).abs()
            > atol + rtol * self.penalty_lambda.abs()
        {
            fail(format!(
                "Saved and initialized penalty_lambda are different!\nSaved: {}\nInitialized: {}",
                snapshot.penalty_lambda, self.penalty_lambda
            ))?;
        }
        if let (Some(saved), Some(now)) = (&snapshot.coarse_to_fine, ctf)
            && saved.mode != now.mode
        {
            fail(format!(
                "Saved and initialized coarse_to_fine are different!\nSaved: {}\nInitialized: {}",
                saved.mode, now.mode
            ))?;
        }
        // The current functions on the saved inputs must give the saved outputs.
        let device = self.image.device();
        let saved_image = from_f64::<Inner<B>, D>(
            snapshot.image.values.clone(),
            shape_of::<D>(&snapshot.image.shape)?,
            dtype,
            &device,
        );
        let saved_target = Representation::with_shape(
            Tensor::<B, 1>::from_inner(from_f64(
                snapshot.target_representation.values.clone(),
                [snapshot.target_representation.values.len()],
                dtype,
                &device,
            )),
            snapshot.target_representation.shape.clone(),
        );
        let (loss, penalty, model) = self.behaviour(&saved_image, &saved_target)?;
        let functions = [
            ("loss_function", &snapshot.loss, &loss),
            ("penalty_function", &snapshot.penalty, &penalty),
            ("model", &snapshot.model, &model),
        ];
        // Outputs first, then names, in plenoptic's order.
        for (what, saved, now) in functions {
            if let Some(kind) = difference(&saved.output, &now.output, tolerance) {
                fail(format!(
                    "Saved and initialized {what} output have different {kind}!"
                ))?;
            }
        }
        for (what, saved, now) in functions {
            if saved.name != now.name {
                fail(format!(
                    "Saved and initialized {what} have different names!\nSaved: {}\nInitialized: {}",
                    saved.name, now.name
                ))?;
            }
        }

        let tensor = |saved: &StateTensor| -> Result<Tensor<Inner<B>, D>> {
            Ok(from_f64(
                saved.values.clone(),
                shape_of::<D>(&saved.shape)?,
                dtype,
                &device,
            ))
        };
        let optimizer = snapshot
            .optimizer
            .as_ref()
            .map(|state| restore_optimizer::<Inner<B>, D>(state, &device, dtype))
            .transpose()?
            .flatten();
        let scheduler = snapshot
            .scheduler
            .as_ref()
            .map(restore_scheduler)
            .transpose()?
            .flatten();
        // States of user-written optimizers and schedulers wait for `setup` to give an object
        // of the same type (plenoptic's placeholders).
        self.pending = (
            snapshot.optimizer.clone().filter(|_| optimizer.is_none()),
            snapshot.scheduler.clone().filter(|_| scheduler.is_none()),
        );
        self.image = saved_image;
        self.target = saved_target;
        self.penalty_lambda = snapshot.penalty_lambda;
        self.metamer = snapshot.metamer.as_ref().map(tensor).transpose()?;
        self.saved = snapshot
            .saved_metamer
            .iter()
            .map(tensor)
            .collect::<Result<_>>()?;
        self.losses = snapshot.losses.clone();
        self.penalties = snapshot.penalties.clone();
        self.gradient_norm = snapshot.gradient_norm.clone();
        self.pixel_change_norm = snapshot.pixel_change_norm.clone();
        self.learning_rate = snapshot.learning_rate.clone();
        self.store_progress = snapshot.store_progress;
        self.current = snapshot.current;
        self.optimizer = optimizer;
        self.scheduler = scheduler;
        if let Some(fresh) = ctf {
            match &snapshot.coarse_to_fine {
                Some(saved) if saved.consistent_with(fresh) => {}
                _ => {
                    return Err(MetamerError::LoadCheck(
                        "the saved coarse-to-fine state does not fit this model's scales"
                            .to_string(),
                    ));
                }
            }
        }
        self.loaded = true;
        self.warnings.extend(warnings.iter().cloned());
        Ok(warnings)
    }
}

/// plenoptic's class name for a synthesis.
fn synthesis_name(coarse_to_fine: bool) -> &'static str {
    if coarse_to_fine {
        "MetamerCTF"
    } else {
        "Metamer"
    }
}

fn shape_of<const D: usize>(shape: &[usize]) -> Result<[usize; D]> {
    shape.try_into().map_err(|_| MetamerError::StateMismatch {
        expected: format!("a tensor of rank {D}"),
        found: format!("shape {shape:?}"),
    })
}

/// plenoptic's tensor check (S3) after the dtype check: shape (unless both hold one value),
/// then `|saved − now| ≤ atol + rtol·|now|`.
fn difference(
    saved: &StateTensor,
    now: &StateTensor,
    (atol, rtol): (f64, f64),
) -> Option<&'static str> {
    let single = |t: &StateTensor| t.values.len() == 1;
    if saved.shape != now.shape && !(single(saved) && single(now)) {
        return Some("shape");
    }
    let close = saved
        .values
        .iter()
        .zip(&now.values)
        .all(|(s, n)| (s - n).abs() <= atol + rtol * n.abs() || (s.is_nan() && n.is_nan()));
    (!close || saved.values.len() != now.values.len()).then_some("values")
}

/// Rebuilds a built-in optimizer from its saved state (hyper-parameters and buffers); `None`
/// for other optimizers.
fn restore_optimizer<B: burn::tensor::backend::Backend, const D: usize>(
    state: &State,
    device: &B::Device,
    dtype: DType,
) -> Result<Option<Box<dyn PixelOptimizer<B, D>>>> {
    let mut optimizer: Box<dyn PixelOptimizer<B, D>> = match state.name.as_str() {
        "Adam" => Box::new(Adam::new(AdamConfig::default())),
        "AdamW" => Box::new(Adam::adamw(AdamConfig::adamw())),
        "SGD" => Box::new(Sgd::new(SgdConfig::default())),
        "LBFGS" => Box::new(Lbfgs::new(LbfgsConfig::default())),
        _ => return Ok(None),
    };
    optimizer.load_state(state, device, dtype)?;
    Ok(Some(optimizer))
}

/// Rebuilds a built-in scheduler from its saved state; `None` for other schedulers.
fn restore_scheduler(state: &State) -> Result<Option<Box<dyn LrScheduler>>> {
    let mut scheduler: Box<dyn LrScheduler> = match state.name.as_str() {
        "ReduceLROnPlateau" => Box::new(ReduceLrOnPlateau::new(PlateauConfig::default())?),
        "StepLR" => Box::new(EpochScheduler::new(EpochSchedule::Step {
            step_size: 1,
            gamma: 0.1,
        })?),
        "MultiStepLR" => Box::new(EpochScheduler::new(EpochSchedule::MultiStep {
            milestones: Vec::new(),
            gamma: 0.1,
        })?),
        "ExponentialLR" => Box::new(EpochScheduler::new(EpochSchedule::Exponential {
            gamma: 0.1,
        })?),
        "CosineAnnealingLR" => Box::new(EpochScheduler::new(EpochSchedule::CosineAnnealing {
            t_max: 1,
            eta_min: 0.0,
        })?),
        _ => return Ok(None),
    };
    scheduler.load_state(state)?;
    Ok(Some(scheduler))
}
