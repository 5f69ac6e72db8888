use thiserror::Error;

/// Everything that can go wrong in synthesis; each message names the values involved.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetamerError {
    #[error("penalty_lambda must be non-negative, but got {0}")]
    NegativePenaltyLambda(f64),
    #[error("{0} and therefore we cannot do coarse-to-fine synthesis")]
    CoarseToFineModel(String),
    #[error("Don't know how to handle value {0}! Must be one of: 'separate', 'together'")]
    CoarseToFineMode(String),
    #[error(
        "stop_criterion must be strictly less than change_scale_criterion, or things get weird!"
    )]
    StopCriterionNotBelowScaleCriterion,
    #[error("ctf_iters_to_check must be at least 1")]
    CtfItersToCheck,
    #[error("{what} contains NaN or infinite values")]
    NonFinite { what: &'static str },
    #[error("{what} is empty (shape {shape:?})")]
    Empty {
        what: &'static str,
        shape: Vec<usize>,
    },
    #[error(
        "model adds gradient to input, at least one of its parameters is learnable; \
         call `no_grad()` on its parameters (plenoptic's remove_grad)"
    )]
    ModelAddsGradient,
    #[error("model strips gradient from input, do you detach it somewhere?")]
    ModelStripsGradient,
    #[error("model changes precision of input, don't do that! ({input:?} in, {output:?} out)")]
    ModelChangesPrecision { input: String, output: String },
    #[error("model changes device of input, don't do that!")]
    ModelChangesDevice,
    #[error("{what} failed on an input of shape {shape:?}: {message}")]
    CallFailed {
        what: &'static str,
        shape: Vec<usize>,
        message: String,
    },
    #[error("penalty_function adds gradient to input, it is using learnable parameters")]
    PenaltyAddsGradient,
    #[error("penalty_function strips gradient from input, do you detach it somewhere?")]
    PenaltyStripsGradient,
    #[error("penalty_function should return a scalar value but output had shape {0:?}")]
    PenaltyNotScalar(Vec<usize>),
    #[error(
        "penalty_function should not change precision of the input, but got type {output} instead of {input}"
    )]
    PenaltyChangesPrecision { input: String, output: String },
    #[error("penalty_function changes device of input, don't do that!")]
    PenaltyChangesDevice,
    #[error("loss_function should return a scalar value but output had shape {0:?}")]
    LossNotScalar(Vec<usize>),
    #[error(
        "representations differ in size: the metamer's has shape {synth:?}, the target's {target:?}"
    )]
    RepresentationMismatch {
        synth: Vec<usize>,
        target: Vec<usize>,
    },
    #[error("setup() can only be called once and must be called before synthesize()!")]
    SetupTwice,
    #[error(
        "initial_image has {got} values but the image has {expected}; they cannot be optimised together"
    )]
    InitialImageSize { got: usize, expected: usize },
    #[error(
        "If you've already run synthesize() before, must re-run it with same store_progress arg. \
         You passed {new} instead of {old} (true is equivalent to 1)"
    )]
    StoreProgressChanged { new: usize, old: usize },
    #[error("Found a NaN in loss during optimization (iteration {iteration}, loss {loss}).")]
    NanLoss { iteration: usize, loss: f64 },
    #[error("iteration={iteration} out of bounds with {len} iterations of synthesis")]
    IterationOutOfBounds { iteration: i64, len: usize },
    #[error("saved state does not fit: expected {expected}, found {found}")]
    StateMismatch { expected: String, found: String },
    #[error(
        "Don't know how to initialize saved {what} '{name}'; call setup() with a {name} to \
         continue (it receives the saved state)"
    )]
    UnrestoredState { what: &'static str, name: String },
    #[error("Cannot set initial_image after calling load")]
    InitialImageAfterLoad,
    #[error(
        "User-specified {what} must have same type as saved {what} (saved {saved}, given {given})"
    )]
    LoadedTypeMismatch {
        what: &'static str,
        saved: String,
        given: String,
    },
    #[error("load can only be called with a just-initialized Metamer object")]
    LoadNotFresh,
    #[error("the file holds format version {found}; this build reads up to {supported}")]
    LoadVersion { found: u32, supported: u32 },
    #[error("{0}")]
    LoadCheck(String),
    #[error(
        "Saved and initialized attribute image have different dtype! Saved: {saved}, initialized: \
         {initialized}. Use the to method to ensure your synthesis object has the proper dtype."
    )]
    LoadDtype { saved: String, initialized: String },
    #[error("{name} must be {requirement}, but got {value}")]
    InvalidOption {
        name: &'static str,
        requirement: &'static str,
        value: String,
    },
    /// The model cannot run on the image (e.g. it is too small for the model's kernels).
    #[error("{model} cannot run on an image of shape {shape:?}: {message}")]
    ModelInput {
        model: String,
        shape: Vec<usize>,
        message: String,
    },
    /// An optimizer's hyper-parameter that torch refuses, with torch's message.
    #[error("{0}")]
    Hyperparameter(String),
}

pub type Result<T, E = MetamerError> = std::result::Result<T, E>;
