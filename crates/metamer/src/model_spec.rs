//! `--model` specifications: `name` or `name:key=value,key=value`.

use metamer::models::{Gaussian, Padding};

use crate::options::KeyValues;

/// A model chosen on the command line.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelSpec {
    Identity,
    Gaussian(Gaussian),
}

const MODELS: &str = "identity, gaussian";
const GAUSSIAN_KEYS: &str = "kernel_size, std, pad_mode, out_channels";

impl std::str::FromStr for ModelSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let name = name.trim();
        let options = KeyValues::parse(name, rest)?;
        match name {
            "identity" => {
                options.finish("none")?;
                Ok(Self::Identity)
            }
            "gaussian" => gaussian(options).map(Self::Gaussian),
            other => Err(format!(
                "unknown model {other:?}; expected one of: {MODELS}"
            )),
        }
    }
}

fn gaussian(mut options: KeyValues) -> Result<Gaussian, String> {
    let kernel_size = match options.text("kernel_size") {
        None => [30, 30],
        Some(text) => {
            let parse = |s: &str| {
                s.parse::<usize>().map_err(|_| {
                    format!("kernel_size must be a positive integer or HxW, got {text:?}")
                })
            };
            match text.split_once('x') {
                Some((h, w)) => [parse(h)?, parse(w)?],
                None => [parse(&text)?; 2],
            }
        }
    };
    let std = options.float("std")?.unwrap_or(3.0);
    let pad_mode = match options.text("pad_mode") {
        None => Padding::Reflect,
        Some(text) => text.parse::<Padding>().map_err(|e| e.to_string())?,
    };
    let out_channels = options.count("out_channels")?;
    options.finish(GAUSSIAN_KEYS)?;
    Gaussian::with_options(kernel_size, &[std], out_channels, pad_mode).map_err(|e| e.to_string())
}

impl ModelSpec {
    /// Display form for histories, e.g. `gaussian:kernel_size=30x30,std=3,pad_mode=reflect`.
    pub fn describe(&self) -> String {
        match self {
            Self::Identity => "identity".to_string(),
            Self::Gaussian(g) => {
                let [h, w] = g.kernel_size();
                format!(
                    "gaussian:kernel_size={h}x{w},std={},pad_mode={},out_channels={}",
                    g.std()[0],
                    g.pad_mode().name(),
                    g.out_channels()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_options() {
        assert_eq!(
            "identity".parse::<ModelSpec>().unwrap(),
            ModelSpec::Identity
        );
        let ModelSpec::Gaussian(g) =
            "gaussian:kernel_size=5x8,std=1.5,pad_mode=circular,out_channels=2"
                .parse::<ModelSpec>()
                .unwrap()
        else {
            panic!("expected a gaussian");
        };
        assert_eq!(g.kernel_size(), [5, 8]);
        assert_eq!(g.std(), &[1.5, 1.5]);
        assert_eq!(g.pad_mode(), Padding::Circular);
        let default: ModelSpec = "gaussian".parse().unwrap();
        assert_eq!(default, ModelSpec::Gaussian(Gaussian::new(30).unwrap()));
    }

    #[test]
    fn errors_list_what_is_accepted() {
        let err = "vgg16".parse::<ModelSpec>().unwrap_err();
        assert!(err.contains("identity, gaussian"), "{err}");
        let err = "gaussian:size=3".parse::<ModelSpec>().unwrap_err();
        assert!(
            err.contains("kernel_size, std, pad_mode, out_channels"),
            "{err}"
        );
        let err = "gaussian:pad_mode=mirror".parse::<ModelSpec>().unwrap_err();
        assert!(
            err.contains("reflect, circular, constant, replicate"),
            "{err}"
        );
        assert!(
            "gaussian:std=-1"
                .parse::<ModelSpec>()
                .unwrap_err()
                .contains("std must be positive")
        );
        assert!("gaussian:kernel_size=0".parse::<ModelSpec>().is_err());
        assert!(
            "gaussian:kernel_size"
                .parse::<ModelSpec>()
                .unwrap_err()
                .contains("key=value")
        );
        assert!("identity:x=1".parse::<ModelSpec>().is_err());
    }
}
