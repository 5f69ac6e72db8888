use thiserror::Error;

/// Why a network, its weights or its layers cannot be used.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum NetError {
    /// An architecture name we do not build.
    #[error(
        "unknown architecture '{0}': expected one of alexnet, vgg16, vgg19, resnet18, resnet50"
    )]
    UnknownArchitecture(String),
    /// A layer name that matches no node of the network (torchvision's rule: a node name, or
    /// a prefix of node names up to a dot).
    #[error(
        "node '{node}' is not present in {network}; `metamer models {network}` lists its node names"
    )]
    UnknownNode {
        /// The name asked for.
        node: String,
        /// The network.
        network: String,
    },
    /// No layer was asked for.
    #[error("at least one layer is needed")]
    NoLayers,
    /// A weights file that cannot be read.
    #[error("cannot read weights {path}: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A weights file that does not fit the architecture: the first parameter (in the
    /// architecture's order) that is missing or has another shape.
    #[error("{path} does not fit {network}: {name} {found}, but {network} has {expected:?}")]
    Mismatch {
        /// The file.
        path: String,
        /// The network.
        network: String,
        /// The parameter's state-dict name.
        name: String,
        /// What the file has: a shape, or that the name is absent.
        found: String,
        /// The shape the architecture needs.
        expected: Vec<usize>,
    },
    /// A weights file with a parameter the architecture does not have.
    #[error("{path} does not fit {network}: it has {name} {shape:?}, which {network} lacks")]
    Unexpected {
        /// The file.
        path: String,
        /// The network.
        network: String,
        /// The parameter's name.
        name: String,
        /// Its shape.
        shape: Vec<usize>,
    },
    /// An input the network cannot take (why).
    #[error("{0}")]
    Input(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, NetError>;
