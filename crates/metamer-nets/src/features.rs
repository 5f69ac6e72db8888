//! plenoptic's `DeepNetFeatures`: chosen layers of a network, flattened and joined, as a model.

use std::marker::PhantomData;

use burn::tensor::{Tensor, backend::Backend};
use metamer_core::{Model, Representation};

use crate::Result;
use crate::graph::select_nodes;

/// A network whose intermediate outputs have names, so that [`DeepNetFeatures`] can pick
/// layers of it. Implement it for your own Burn network: list the node names in execution
/// order, and in `forward_taps` hand each node's output to [`Taps::record`] (cheap for nodes
/// nobody asked for), stopping early once [`Taps::complete`] if you like.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Tensor, activation::relu, backend::Backend};
/// use metamer_nets::{DeepNetFeatures, FeatureNetwork, Taps};
/// use metamer_core::Model;
///
/// /// Squares, then rectifies: two nodes.
/// struct Tiny;
///
/// impl<B: Backend> FeatureNetwork<B> for Tiny {
///     fn name(&self) -> String {
///         "tiny".into()
///     }
///     fn node_names(&self) -> Vec<String> {
///         vec!["square".into(), "relu".into()]
///     }
///     fn forward_taps(&self, x: Tensor<B, 4>, taps: &mut Taps<B>) {
///         let square = x.clone() * x;
///         taps.record("square", square.clone());
///         if taps.complete() {
///             return;
///         }
///         taps.record("relu", relu(square - 1.0));
///     }
/// }
///
/// let model = DeepNetFeatures::new(Tiny, &["relu".to_string()], None).unwrap();
/// let image = Tensor::<NdArray, 4>::from_floats([[[[0.5, 2.0]]]], &Default::default());
/// let values = Model::<NdArray>::forward(&model, image).flat().to_data().to_vec::<f32>().unwrap();
/// assert_eq!(values, vec![0.0, 3.0]);
/// ```
pub trait FeatureNetwork<B: Backend> {
    /// The network's name, shown in summaries.
    fn name(&self) -> String;

    /// Every node's name, in execution order.
    fn node_names(&self) -> Vec<String>;

    /// Runs the network on `input` (`[batch, channel, height, width]`), recording the nodes
    /// `taps` wants.
    fn forward_taps(&self, input: Tensor<B, 4>, taps: &mut Taps<B>);

    /// Why computing `nodes` cannot take images of `shape`; `None` when it can.
    fn check_input(&self, shape: &[usize], nodes: &[String]) -> Option<String> {
        let _ = (shape, nodes);
        None
    }
}

/// The outputs a [`FeatureNetwork`] run is asked for, each kept flattened to `[batch, n]`.
pub struct Taps<B: Backend> {
    wanted: Vec<String>,
    outputs: Vec<Option<Tensor<B, 2>>>,
}

impl<B: Backend> Taps<B> {
    fn new(wanted: Vec<String>) -> Self {
        let outputs = vec![None; wanted.len()];
        Self { wanted, outputs }
    }

    /// The nodes wanted, in execution order.
    pub fn wanted(&self) -> &[String] {
        &self.wanted
    }

    /// Keeps `output` if node `name` is wanted (flattened over all but the batch dimension).
    pub fn record<const D: usize>(&mut self, name: &str, output: Tensor<B, D>) {
        if let Some(index) = self.wanted.iter().position(|w| w == name) {
            let batch = output.dims()[0];
            self.outputs[index] = Some(output.reshape([batch as i32, -1]));
        }
    }

    /// Whether every wanted node has been recorded (the rest of the network can be skipped).
    pub fn complete(&self) -> bool {
        self.outputs.iter().all(Option::is_some)
    }
}

/// Per-channel normalisation before the network, `(x − mean) / std` (torchvision's
/// `Normalize`).
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// Per-channel means.
    pub mean: Vec<f64>,
    /// Per-channel standard deviations.
    pub std: Vec<f64>,
}

impl Normalize {
    /// The ImageNet statistics torchvision's weights were trained with.
    pub fn imagenet() -> Self {
        Self {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    fn apply<B: Backend>(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let dtype = x.dtype();
        let device = x.device();
        let channels = [1, self.mean.len(), 1, 1];
        let mean = metamer_core::tensor::from_f64(self.mean.clone(), channels, dtype, &device);
        let std = metamer_core::tensor::from_f64(self.std.clone(), channels, dtype, &device);
        (x - mean) / std
    }
}

/// Layers of a network as a metamer model (plenoptic's `DeepNetFeatures`): the input is
/// normalised, the chosen nodes' outputs are flattened over all but the batch dimension and
/// joined in the network's order, giving a `[batch, n]` representation.
pub struct DeepNetFeatures<B: Backend, N> {
    network: N,
    /// `(layer asked for, node it selects)`, in execution order.
    layers: Vec<(String, String)>,
    normalize: Option<Normalize>,
    backend: PhantomData<B>,
}

impl<B: Backend, N: FeatureNetwork<B>> DeepNetFeatures<B, N> {
    /// Selects `layers` of `network` by torchvision's rule: a node's name, or a module's name
    /// for the module's last node (`layer2`); the order given does not matter.
    ///
    /// # Errors
    /// No layers, or a name that matches no node.
    pub fn new(network: N, layers: &[String], normalize: Option<Normalize>) -> Result<Self> {
        let names = network.node_names();
        let layers = select_nodes(&names, &network.name(), layers)?
            .into_iter()
            .map(|(query, index)| (query, names[index].clone()))
            .collect();
        Ok(Self {
            network,
            layers,
            normalize,
            backend: PhantomData,
        })
    }

    /// The network.
    pub fn network(&self) -> &N {
        &self.network
    }

    /// Each layer asked for with the node it selects, in the network's order (the order of
    /// the representation).
    pub fn layers(&self) -> &[(String, String)] {
        &self.layers
    }

    /// The normalisation, if any.
    pub fn normalize(&self) -> Option<&Normalize> {
        self.normalize.as_ref()
    }
}

impl<B: Backend, N: FeatureNetwork<B>> Model<B> for DeepNetFeatures<B, N> {
    fn forward(&self, image: Tensor<B, 4>) -> Representation<B> {
        let image = match &self.normalize {
            Some(normalize) => normalize.apply(image),
            None => image,
        };
        let mut taps = Taps::new(self.layers.iter().map(|(_, node)| node.clone()).collect());
        self.network.forward_taps(image, &mut taps);
        let outputs: Vec<Tensor<B, 2>> = taps
            .outputs
            .into_iter()
            .map(|o| o.expect("the network records every node it lists"))
            .collect();
        Representation::from(Tensor::cat(outputs, 1))
    }

    fn name(&self) -> String {
        "DeepNetFeatures".into()
    }

    fn check_input(&self, shape: &[usize]) -> Option<String> {
        let nodes: Vec<String> = self.layers.iter().map(|(_, node)| node.clone()).collect();
        if let Some(reason) = self.network.check_input(shape, &nodes) {
            return Some(reason);
        }
        let normalize = self.normalize.as_ref()?;
        (shape.get(1) != Some(&normalize.mean.len())).then(|| {
            format!(
                "the normalisation is for {}-channel images, not {shape:?}{}",
                normalize.mean.len(),
                if normalize.mean.len() == 3 {
                    " (load colour images with --color)"
                } else {
                    ""
                }
            )
        })
    }
}
