//! `--model` specifications: `name` or `name:key=value,key=value`, and `metamer models`.
//!
//! Every name `--model` accepts is one entry of [`registry::MODELS`]: its help, its options
//! (each with its default, how a value is read, and how a config shows it), and how its
//! config is built. Parsing, the description a history or a saved synthesis stores, and the
//! `metamer models` listing all read that one definition.

mod deep_nets;
mod registry;

use std::fmt;

use burn::tensor::{DType, backend::AutodiffBackend};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::options::KeyValues;
use crate::Model;
use crate::models::{HostBackend, Padding, PortillaSimoncelli};
pub use deep_nets::node_names;
use registry::{MODELS, ModelConfig};

/// A model chosen on the command line, before it is built on a device.
#[derive(Clone)]
pub struct ModelSpec {
    entry: &'static dyn Entry,
    config: ModelConfig,
}

/// A built model; texture models stay concrete so texture losses can be built from them.
pub enum BuiltModel<B: AutodiffBackend + HostBackend> {
    /// A Portilla–Simoncelli model.
    Texture(PortillaSimoncelli<B>),
    /// Any other model.
    Other(Box<dyn Model<B>>),
}

impl<B: AutodiffBackend + HostBackend> BuiltModel<B> {
    /// The model as a trait object.
    pub fn boxed(self) -> Box<dyn Model<B>> {
        match self {
            Self::Texture(model) => Box::new(model),
            Self::Other(model) => model,
        }
    }
}

/// The text of `metamer models`.
pub fn listing() -> String {
    let mut text = String::from("Models for --model NAME or NAME:key=value,...\n");
    for entry in MODELS {
        text.push_str(&format!("\n{}: {}\n", entry.name(), entry.about()));
        for (key, default) in entry.options() {
            text.push_str(&format!("    {key:<16} default {default}\n"));
        }
    }
    text
}

impl std::str::FromStr for ModelSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let name = name.trim();
        let mut options = KeyValues::parse(name, rest)?;
        let entry = *MODELS
            .iter()
            .find(|entry| entry.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = MODELS.iter().map(|entry| entry.name()).collect();
                format!(
                    "unknown model {name:?}; expected one of: {}",
                    names.join(", ")
                )
            })?;
        let config = entry.parse(&mut options)?;
        let keys: Vec<&str> = entry.options().into_iter().map(|(key, _)| key).collect();
        options.finish(&if keys.is_empty() {
            "none".to_string()
        } else {
            keys.join(", ")
        })?;
        Ok(Self { entry, config })
    }
}

impl ModelSpec {
    /// Builds the model for images of `image_shape` in `dtype` (drawing from the global
    /// generator where plenoptic does).
    ///
    /// # Errors
    /// When the model refuses its options or images of this size.
    pub fn build<B: AutodiffBackend + HostBackend>(
        &self,
        image_shape: [usize; 2],
        device: &B::Device,
        dtype: DType,
    ) -> Result<BuiltModel<B>, String> {
        self.config.build::<B>(image_shape, device, dtype)
    }

    /// What plenoptic would warn about for this model, and what the user should know about
    /// it (a deep network without weights), each once.
    pub fn warnings(&self) -> Vec<String> {
        self.config.warnings()
    }

    /// Whether this is a deep network (whose convolutions run fastest on flex).
    pub fn is_deep_net(&self) -> bool {
        self.config.is_deep_net()
    }

    /// Whether this is the Portilla–Simoncelli texture model (whose statistics the texture
    /// losses weigh).
    pub fn is_texture(&self) -> bool {
        self.config.is_texture()
    }

    /// The same model with relative file paths in its options (a network's `weights`) taken
    /// as relative to `folder`, as a study plan's paths are.
    pub fn with_files_in(self, folder: &std::path::Path) -> Self {
        Self {
            config: self.config.with_files_in(folder),
            ..self
        }
    }

    /// The files the model reads when it is built (a network's weights).
    pub fn files(&self) -> Vec<&std::path::Path> {
        self.config.files()
    }

    /// Display form for histories, e.g. `gaussian:kernel_size=30x30,std=3,pad_mode=reflect`.
    pub fn describe(&self) -> String {
        let shown = self.entry.describe(&self.config);
        if shown.is_empty() {
            self.entry.name().to_string()
        } else {
            format!("{}:{}", self.entry.name(), shown.join(","))
        }
    }
}

/// Two specifications are equal when they build the same model.
impl PartialEq for ModelSpec {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl fmt::Debug for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Written as its description, so a saved synthesis or a study plan reads it back with `FromStr`.
impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.describe())
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How a config becomes a model on a device.
pub(super) trait BuildModel {
    fn build<B: AutodiffBackend + HostBackend>(
        &self,
        image_shape: [usize; 2],
        device: &B::Device,
        dtype: DType,
    ) -> Result<BuiltModel<B>, String>;

    /// What plenoptic would warn about for this config, and notes the user should see once.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// One name `--model` accepts, whatever its config type.
trait Entry: Send + Sync {
    fn name(&self) -> &'static str;
    fn about(&self) -> &'static str;
    /// Each option's key and its default as `metamer models` shows it.
    fn options(&self) -> Vec<(&'static str, &'static str)>;
    fn parse(&self, options: &mut KeyValues) -> Result<ModelConfig, String>;
    /// The `key=value` of every option the description shows.
    fn describe(&self, config: &ModelConfig) -> Vec<String>;
}

/// A model on the command line with a config of type `C`.
struct Family<C: 'static> {
    name: &'static str,
    about: &'static str,
    /// The config with every option at its default.
    new: fn() -> C,
    settings: &'static [Setting<C>],
    wrap: fn(C) -> ModelConfig,
    unwrap: fn(&ModelConfig) -> Option<&C>,
}

/// One `key=value` option of a model.
struct Setting<C> {
    key: &'static str,
    /// The default as `metamer models` shows it.
    default: &'static str,
    /// Reads the option's value, if given, into the config.
    read: fn(&mut C, Value<'_>) -> Result<(), String>,
    /// The value the description shows; `None` leaves the option out of it.
    show: fn(&C) -> Option<String>,
}

impl<C: 'static> Entry for Family<C> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn options(&self) -> Vec<(&'static str, &'static str)> {
        self.settings.iter().map(|s| (s.key, s.default)).collect()
    }

    fn parse(&self, options: &mut KeyValues) -> Result<ModelConfig, String> {
        let mut config = (self.new)();
        for setting in self.settings {
            (setting.read)(
                &mut config,
                Value {
                    options,
                    key: setting.key,
                },
            )?;
        }
        Ok((self.wrap)(config))
    }

    fn describe(&self, config: &ModelConfig) -> Vec<String> {
        let Some(config) = (self.unwrap)(config) else {
            return Vec::new();
        };
        self.settings
            .iter()
            .filter_map(|s| (s.show)(config).map(|value| format!("{}={value}", s.key)))
            .collect()
    }
}

/// One option's value, if given, read with the type its setting expects; errors name the
/// model and the option.
struct Value<'a> {
    options: &'a mut KeyValues,
    key: &'static str,
}

impl Value<'_> {
    fn float(self, to: &mut f64) -> Result<(), String> {
        store(self.options.float(self.key)?, to)
    }

    fn count(self, to: &mut usize) -> Result<(), String> {
        store(self.options.count(self.key)?, to)
    }

    /// A count that is otherwise inferred.
    fn count_some(self, to: &mut Option<usize>) -> Result<(), String> {
        store(self.options.count(self.key)?.map(Some), to)
    }

    fn flag(self, to: &mut bool) -> Result<(), String> {
        store(self.options.flag(self.key)?, to)
    }

    fn text(self) -> Option<String> {
        self.options.text(self.key)
    }

    /// Values separated by `:`.
    fn list<T: std::str::FromStr>(self, kind: &str, to: &mut Vec<T>) -> Result<(), String> {
        store(self.options.list(self.key, kind)?, to)
    }

    /// `N` (square) or `HxW`.
    fn kernel_size(self, to: &mut [usize; 2]) -> Result<(), String> {
        let Some(text) = self.text() else {
            return Ok(());
        };
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("kernel_size must be a positive integer or HxW, got {text:?}"))
        };
        *to = match text.split_once('x') {
            Some((h, w)) => [parse(h)?, parse(w)?],
            None => [parse(&text)?; 2],
        };
        Ok(())
    }

    fn pad_mode(self, to: &mut Padding) -> Result<(), String> {
        let mode = self
            .text()
            .map(|text| text.parse::<Padding>().map_err(|e| e.to_string()))
            .transpose()?;
        store(mode, to)
    }
}

/// Writes a value that was given over the default.
fn store<T>(value: Option<T>, to: &mut T) -> Result<(), String> {
    if let Some(value) = value {
        *to = value;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
