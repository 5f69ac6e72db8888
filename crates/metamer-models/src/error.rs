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
    #[error("unknown padding mode {0:?}; expected one of reflect, circular, constant, replicate")]
    PadMode(String),
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
