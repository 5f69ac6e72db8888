use thiserror::Error;

/// Invalid model arguments, with plenoptic's messages.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("kernel_size must be positive, but got {0:?}")]
    KernelSize(Vec<usize>),
    #[error("{name} must be positive, but got {values:?}")]
    NonPositiveStd {
        name: &'static str,
        values: Vec<f64>,
    },
    #[error("{0} must be positive integer")]
    OutChannels(&'static str),
    #[error("If non-scalar, len({std_name}) must equal {out_name} (got {len} and {out_channels})")]
    StdLength {
        std_name: &'static str,
        out_name: &'static str,
        len: usize,
        out_channels: usize,
    },
    #[error("len(on_center) must equal out_channels")]
    OnCenterLength,
    #[error("amplitude_ratio must at least be 1., but got {0}")]
    AmplitudeRatio(f64),
    #[error("pretrained model has kernel_size (31, 31), but got {0:?}")]
    PretrainedKernelSize([usize; 2]),
    #[error("apply_mask is an option of OnOff only")]
    MaskNeedsOnOff,
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
    #[error("unknown padding mode {0:?}; expected one of reflect, circular, constant, replicate")]
    PadMode(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
