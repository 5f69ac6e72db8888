use thiserror::Error;

/// Everything that can go wrong in synthesis; each message names the values involved.
///
/// Messages follow plenoptic's where plenoptic raises the same error, so a user moving from
/// plenoptic recognises them.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MetamerError {
    /// `penalty_lambda` was negative (the value given).
    #[error("penalty_lambda must be non-negative, but got {0}")]
    NegativePenaltyLambda(f64),
    /// Coarse-to-fine synthesis on a model without scales (why it cannot be done).
    #[error("{0} and therefore we cannot do coarse-to-fine synthesis")]
    CoarseToFineModel(String),
    /// An unknown coarse-to-fine mode (the value given).
    #[error("Don't know how to handle value {0}! Must be one of: 'separate', 'together'")]
    CoarseToFineMode(String),
    /// `stop_criterion` was not below `change_scale_criterion`.
    #[error(
        "stop_criterion must be strictly less than change_scale_criterion, or things get weird!"
    )]
    StopCriterionNotBelowScaleCriterion,
    /// `ctf_iters_to_check` was zero.
    #[error("ctf_iters_to_check must be at least 1")]
    CtfItersToCheck,
    /// An input held NaN or infinite values.
    #[error("{what} contains NaN or infinite values")]
    NonFinite {
        /// Which input.
        what: &'static str,
    },
    /// An input had no values.
    #[error("{what} is empty (shape {shape:?})")]
    Empty {
        /// Which input.
        what: &'static str,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// The model's output depends on learnable parameters.
    #[error(
        "model adds gradient to input, at least one of its parameters is learnable; \
         call `no_grad()` on its parameters (plenoptic's remove_grad)"
    )]
    ModelAddsGradient,
    /// The model's output does not depend on its input in the autodiff graph.
    #[error("model strips gradient from input, do you detach it somewhere?")]
    ModelStripsGradient,
    /// The model returned another float type than it was given.
    #[error("model changes precision of input, don't do that! ({input:?} in, {output:?} out)")]
    ModelChangesPrecision {
        /// The input's float type.
        input: String,
        /// The output's float type.
        output: String,
    },
    /// The model returned its output on another device.
    #[error("model changes device of input, don't do that!")]
    ModelChangesDevice,
    /// A model, loss or penalty failed (returned an error or panicked) on an input.
    #[error("{what} failed on an input of shape {shape:?}: {message}")]
    CallFailed {
        /// Which function.
        what: &'static str,
        /// The input's shape.
        shape: Vec<usize>,
        /// What it reported, in one line.
        message: String,
    },
    /// The penalty depends on learnable parameters.
    #[error("penalty_function adds gradient to input, it is using learnable parameters")]
    PenaltyAddsGradient,
    /// The penalty does not depend on its input in the autodiff graph.
    #[error("penalty_function strips gradient from input, do you detach it somewhere?")]
    PenaltyStripsGradient,
    /// The penalty returned more than one value (the shape it returned).
    #[error("penalty_function should return a scalar value but output had shape {0:?}")]
    PenaltyNotScalar(Vec<usize>),
    /// The penalty returned another float type than it was given.
    #[error(
        "penalty_function should not change precision of the input, but got type {output} instead of {input}"
    )]
    PenaltyChangesPrecision {
        /// The input's float type.
        input: String,
        /// The output's float type.
        output: String,
    },
    /// The penalty returned its output on another device.
    #[error("penalty_function changes device of input, don't do that!")]
    PenaltyChangesDevice,
    /// The loss returned more than one value (the shape it returned).
    #[error("loss_function should return a scalar value but output had shape {0:?}")]
    LossNotScalar(Vec<usize>),
    /// The model gave representations of different shapes for two images.
    #[error(
        "representations differ in size: the metamer's has shape {synth:?}, the target's {target:?}"
    )]
    RepresentationMismatch {
        /// The shape of the metamer's representation.
        synth: Vec<usize>,
        /// The shape of the target's representation.
        target: Vec<usize>,
    },
    /// `setup` after `setup` or after `synthesize`.
    #[error("setup() can only be called once and must be called before synthesize()!")]
    SetupTwice,
    /// The initial image has another number of values than the target image.
    #[error(
        "initial_image has {got} values but the image has {expected}; they cannot be optimised together"
    )]
    InitialImageSize {
        /// Values in the initial image.
        got: usize,
        /// Values in the target image.
        expected: usize,
    },
    /// `synthesize` called again with another `store_progress`.
    #[error(
        "If you've already run synthesize() before, must re-run it with same store_progress arg. \
         You passed {new} instead of {old} (true is equivalent to 1)"
    )]
    StoreProgressChanged {
        /// The interval given now.
        new: usize,
        /// The interval of the earlier calls.
        old: usize,
    },
    /// The loss became NaN or infinite.
    #[error("Found a NaN in loss during optimization (iteration {iteration}, loss {loss}).")]
    NanLoss {
        /// The iteration whose loss it was.
        iteration: usize,
        /// The loss.
        loss: f64,
    },
    /// An iteration index outside the history.
    #[error("iteration={iteration} out of bounds with {len} iterations of synthesis")]
    IterationOutOfBounds {
        /// The index asked for (negative counts from the end).
        iteration: i64,
        /// Iterations in the history.
        len: usize,
    },
    /// A saved optimizer or scheduler state that does not fit the one it is loaded into.
    #[error("saved state does not fit: expected {expected}, found {found}")]
    StateMismatch {
        /// What the receiving state holds.
        expected: String,
        /// What the saved state holds.
        found: String,
    },
    /// A loaded synthesis' optimizer or scheduler state was never handed to a new one.
    #[error(
        "Don't know how to initialize saved {what} '{name}'; call setup() with a {name} to \
         continue (it receives the saved state)"
    )]
    UnrestoredState {
        /// `optimizer` or `scheduler`.
        what: &'static str,
        /// The saved one's name.
        name: String,
    },
    /// `setup` with an initial image after `load`.
    #[error("Cannot set initial_image after calling load")]
    InitialImageAfterLoad,
    /// `setup` after `load` with another kind of optimizer or scheduler than was saved.
    #[error(
        "User-specified {what} must have same type as saved {what} (saved {saved}, given {given})"
    )]
    LoadedTypeMismatch {
        /// `optimizer` or `scheduler`.
        what: &'static str,
        /// The saved one's name.
        saved: String,
        /// The given one's name.
        given: String,
    },
    /// `load` into a synthesis that has already run.
    #[error("load can only be called with a just-initialized Metamer object")]
    LoadNotFresh,
    /// A save written by a newer format than this build reads.
    #[error("the file holds format version {found}; this build reads up to {supported}")]
    LoadVersion {
        /// The file's format version.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A save that does not match the synthesis it is loaded into (what differs).
    #[error("{0}")]
    LoadCheck(String),
    /// A save in another float type than the synthesis it is loaded into.
    #[error(
        "Saved and initialized attribute image have different dtype! Saved: {saved}, initialized: \
         {initialized}. Use the to method to ensure your synthesis object has the proper dtype."
    )]
    LoadDtype {
        /// The save's float type.
        saved: String,
        /// The synthesis' float type.
        initialized: String,
    },
    /// An option outside its allowed values.
    #[error("{name} must be {requirement}, but got {value}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// What it must be.
        requirement: &'static str,
        /// The value given.
        value: String,
    },
    /// The model cannot run on the image (e.g. it is too small for the model's kernels).
    #[error("{model} cannot run on an image of shape {shape:?}: {message}")]
    ModelInput {
        /// The model's name.
        model: String,
        /// The image's shape.
        shape: Vec<usize>,
        /// What the model needs.
        message: String,
    },
    /// An optimizer's hyper-parameter that torch refuses, with torch's message.
    #[error("{0}")]
    Hyperparameter(String),
}

/// The result of everything fallible in this crate.
pub type Result<T, E = MetamerError> = std::result::Result<T, E>;
