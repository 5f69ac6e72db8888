//! torchvision's deep networks in Burn, as metamer models: plenoptic's `DeepNetFeatures`.
//!
//! AlexNet, VGG16, VGG19, ResNet18 and ResNet50 in evaluation mode, node for node as
//! torchvision's feature extraction names them (`layer2`, `features.7`, `layer4.1.relu`),
//! with parameters named as in torchvision's state dicts, so a file saved by
//! `torch.save(model.state_dict(), path)` (or as safetensors) loads as it is. Without a file,
//! torchvision's initialisation is drawn from our seeded generator (random-network controls).
//! Your own Burn network joins in through [`FeatureNetwork`].
#![warn(missing_docs, clippy::missing_errors_doc)]

mod architecture;
mod error;
mod features;
pub mod graph;
mod network;
mod weights;

pub use architecture::Architecture;
pub use error::{NetError, Result};
pub use features::{DeepNetFeatures, FeatureNetwork, Normalize, Taps};
pub use network::Network;
pub use weights::Weights;
