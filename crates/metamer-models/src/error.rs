use thiserror::Error;

/// Invalid model arguments, with plenoptic's messages.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A kernel size of zero (the sizes given).
    #[error("kernel_size must be positive, but got {0:?}")]
    KernelSize(Vec<usize>),
    /// A standard deviation that is not positive.
    #[error("{name} must be positive, but got {values:?}")]
    NonPositiveStd {
        /// The argument.
        name: &'static str,
        /// The values given.
        values: Vec<f64>,
    },
    /// A channel count of zero (the argument).
    #[error("{0} must be positive integer")]
    OutChannels(&'static str),
    /// Per-channel standard deviations whose count is not the channel count.
    #[error("If non-scalar, len({std_name}) must equal {out_name} (got {len} and {out_channels})")]
    StdLength {
        /// The standard-deviation argument.
        std_name: &'static str,
        /// The channel-count argument.
        out_name: &'static str,
        /// How many standard deviations were given.
        len: usize,
        /// The channel count.
        out_channels: usize,
    },
    /// Per-channel centre signs whose count is not the channel count.
    #[error("len(on_center) must equal out_channels")]
    OnCenterLength,
    /// An amplitude ratio below 1 (the value given).
    #[error("amplitude_ratio must at least be 1., but got {0}")]
    AmplitudeRatio(f64),
    /// Pretrained front-end weights with another kernel size than theirs (the size given).
    #[error("pretrained model has kernel_size (31, 31), but got {0:?}")]
    PretrainedKernelSize([usize; 2]),
    /// `apply_mask` on a front-end model other than OnOff.
    #[error("apply_mask is an option of OnOff only")]
    MaskNeedsOnOff,
    /// A pyramid with no scales.
    #[error("n_scales must be positive!")]
    Scales,
    /// A Fourier-helper argument plenoptic rejects, with its message.
    #[error("{0}")]
    Signal(String),
    /// A steerable-pyramid argument or input plenoptic rejects, with its message.
    #[error("{0}")]
    Pyramid(String),
    /// A Portilla–Simoncelli argument or input refused, with plenoptic's message where it has one.
    #[error("{0}")]
    Texture(String),
    /// A padding mode that does not exist (the name given).
    #[error("unknown padding mode {0:?}; expected one of reflect, circular, constant, replicate")]
    PadMode(String),
}

/// The result of everything fallible in this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
