//! A network as torchvision's feature extraction sees it: named nodes in execution order, each
//! one layer applied to earlier nodes. Node names, which nodes a layer name selects, and which
//! nodes a selection needs all follow `torchvision.models.feature_extraction`.

use crate::{NetError, Result};

/// What one node computes (torchvision's modules and functions, in evaluation mode).
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// The (normalised) input image, torchvision's `x`.
    Input,
    /// `nn.Conv2d` with square kernel, stride and padding; parameters `{params}.weight`
    /// `[out, in, k, k]` and, with `bias`, `{params}.bias`.
    Conv {
        /// State-dict prefix.
        params: String,
        /// Input channels.
        inputs: usize,
        /// Output channels.
        outputs: usize,
        /// Kernel height and width.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Zero padding on every side.
        padding: usize,
        /// Whether there is a bias.
        bias: bool,
    },
    /// `nn.BatchNorm2d` with running statistics (eps 1e-5).
    BatchNorm {
        /// State-dict prefix.
        params: String,
        /// Channels.
        channels: usize,
    },
    /// `nn.ReLU`; an in-place one overwrites its input, which torchvision's extractor then
    /// returns for that input's node too.
    Relu {
        /// `inplace=True`.
        inplace: bool,
    },
    /// `nn.MaxPool2d` with square kernel, stride and padding (floor mode).
    MaxPool {
        /// Window size.
        kernel: usize,
        /// Stride.
        stride: usize,
        /// Padding on every side.
        padding: usize,
    },
    /// `nn.AdaptiveAvgPool2d`.
    AdaptiveAvgPool {
        /// Output height and width.
        size: [usize; 2],
    },
    /// `torch.flatten(x, 1)`.
    Flatten,
    /// `nn.Dropout` in evaluation mode: the input itself.
    Dropout,
    /// `nn.Linear`; parameters `{params}.weight` `[out, in]` and `{params}.bias`.
    Linear {
        /// State-dict prefix.
        params: String,
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// The sum of two nodes (a residual connection).
    Add,
}

/// One node: its torchvision name, its layer and the nodes it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The name `get_graph_node_names` gives it.
    pub name: String,
    /// What it computes.
    pub layer: Layer,
    /// Indices of the nodes it reads, all earlier.
    pub inputs: Vec<usize>,
}

/// How a parameter is drawn when no weights are given (torchvision's initialisation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: normal with std √(2 / fan_out).
    KaimingNormalFanOut,
    /// PyTorch's default for convolutions and linear layers: uniform in ±1/√fan_in.
    DefaultUniform,
    /// Normal with this standard deviation and mean 0.
    Normal(f64),
    /// Every value the same.
    Constant(f64),
}

/// One parameter (or buffer) of a state dict.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterSpec {
    /// Its state-dict name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How it is drawn without weights.
    pub init: Init,
    /// Fan-in and fan-out of the layer it belongs to.
    pub fans: (usize, usize),
}

/// The nodes of a network in execution order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Graph {
    nodes: Vec<Node>,
}

impl Graph {
    /// A graph holding only the input node `x`.
    pub fn new() -> Self {
        Self {
            nodes: vec![Node {
                name: "x".into(),
                layer: Layer::Input,
                inputs: Vec::new(),
            }],
        }
    }

    /// Appends a node reading `inputs`; returns its index.
    pub fn push(&mut self, name: impl Into<String>, layer: Layer, inputs: &[usize]) -> usize {
        self.nodes.push(Node {
            name: name.into(),
            layer,
            inputs: inputs.to_vec(),
        });
        self.nodes.len() - 1
    }

    /// Appends a node reading the last node; returns its index.
    pub fn then(&mut self, name: impl Into<String>, layer: Layer) -> usize {
        let last = self.nodes.len() - 1;
        self.push(name, layer, &[last])
    }

    /// The nodes, in execution order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Node names in execution order (torchvision's `get_graph_node_names(model)[1]`).
    pub fn node_names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Every parameter and running statistic, in state-dict order.
    pub fn parameters(&self, conv_init: Init, linear_init: Init) -> Vec<ParameterSpec> {
        let mut specs = Vec::new();
        let mut add = |name: String, shape: Vec<usize>, init: Init, fans: (usize, usize)| {
            specs.push(ParameterSpec {
                name,
                shape,
                init,
                fans,
            })
        };
        for node in &self.nodes {
            match &node.layer {
                Layer::Conv {
                    params,
                    inputs,
                    outputs,
                    kernel,
                    bias,
                    ..
                } => {
                    let fans = (inputs * kernel * kernel, outputs * kernel * kernel);
                    let shape = vec![*outputs, *inputs, *kernel, *kernel];
                    add(format!("{params}.weight"), shape, conv_init, fans);
                    if *bias {
                        let init = bias_init(conv_init);
                        add(format!("{params}.bias"), vec![*outputs], init, fans);
                    }
                }
                Layer::BatchNorm { params, channels } => {
                    let c = vec![*channels];
                    let fans = (*channels, *channels);
                    add(
                        format!("{params}.weight"),
                        c.clone(),
                        Init::Constant(1.0),
                        fans,
                    );
                    add(
                        format!("{params}.bias"),
                        c.clone(),
                        Init::Constant(0.0),
                        fans,
                    );
                    add(
                        format!("{params}.running_mean"),
                        c.clone(),
                        Init::Constant(0.0),
                        fans,
                    );
                    add(
                        format!("{params}.running_var"),
                        c,
                        Init::Constant(1.0),
                        fans,
                    );
                }
                Layer::Linear {
                    params,
                    inputs,
                    outputs,
                } => {
                    let fans = (*inputs, *outputs);
                    add(
                        format!("{params}.weight"),
                        vec![*outputs, *inputs],
                        linear_init,
                        fans,
                    );
                    let init = bias_init(linear_init);
                    add(format!("{params}.bias"), vec![*outputs], init, fans);
                }
                _ => {}
            }
        }
        specs
    }

    /// The nodes that layer names select, in execution order, each with the name that
    /// selected it, as `create_feature_extractor(model, return_nodes)` does: a name selects
    /// the node of that name, or the last node inside the module of that name (`layer2`,
    /// `features`).
    ///
    /// # Errors
    /// No layers are given, or a name matches no node ([`NetError::UnknownNode`]).
    pub fn select(&self, network: &str, layers: &[String]) -> Result<Vec<(String, usize)>> {
        select_nodes(&self.node_names(), network, layers)
    }

    /// Which nodes computing `outputs` needs: those outputs and everything they read (what is
    /// left after torchvision's dead-code elimination).
    pub fn needed(&self, outputs: &[usize]) -> Vec<bool> {
        let mut needed = vec![false; self.nodes.len()];
        let mut stack = outputs.to_vec();
        while let Some(index) = stack.pop() {
            if !needed[index] {
                needed[index] = true;
                stack.extend(&self.nodes[index].inputs);
            }
        }
        needed
    }

    /// Each node's output shape for an input of `shape` (`[batch, channels, height,
    /// width]`), through the last needed node.
    ///
    /// # Errors
    /// The input has the wrong channel count, or is too small for a layer (named).
    pub fn shapes(
        &self,
        network: &str,
        shape: &[usize],
        needed: &[bool],
    ) -> Result<Vec<Vec<usize>>> {
        if shape.len() != 4 {
            return Err(NetError::Input(format!(
                "{network} takes images of shape [batch, channel, height, width], not {shape:?}"
            )));
        }
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            if !needed[index] {
                shapes.push(Vec::new());
                continue;
            }
            let input = node.inputs.first().map(|&i| shapes[i].clone());
            let input = input.unwrap_or_else(|| shape.to_vec());
            let too_small = || {
                NetError::Input(format!(
                    "{network} cannot take {}×{} images: they are too small for its node {}",
                    shape[2], shape[3], node.name
                ))
            };
            let pooled = |size: usize, kernel: usize, stride: usize, padding: usize| {
                (size + 2 * padding)
                    .checked_sub(kernel)
                    .map(|d| d / stride + 1)
            };
            let out = match &node.layer {
                Layer::Input => input,
                Layer::Conv {
                    inputs,
                    outputs,
                    kernel,
                    stride,
                    padding,
                    ..
                } => {
                    if input[1] != *inputs {
                        return Err(NetError::Input(format!(
                            "{network} takes {inputs}-channel images at {}, not {}-channel ones{}",
                            node.name,
                            input[1],
                            if *inputs == 3 {
                                " (load colour images with --color)"
                            } else {
                                ""
                            }
                        )));
                    }
                    let h = pooled(input[2], *kernel, *stride, *padding).ok_or_else(too_small)?;
                    let w = pooled(input[3], *kernel, *stride, *padding).ok_or_else(too_small)?;
                    vec![input[0], *outputs, h, w]
                }
                Layer::MaxPool {
                    kernel,
                    stride,
                    padding,
                } => {
                    let h = pooled(input[2], *kernel, *stride, *padding).ok_or_else(too_small)?;
                    let w = pooled(input[3], *kernel, *stride, *padding).ok_or_else(too_small)?;
                    vec![input[0], input[1], h, w]
                }
                Layer::AdaptiveAvgPool { size } => vec![input[0], input[1], size[0], size[1]],
                Layer::Flatten => vec![input[0], input[1..].iter().product()],
                Layer::Linear {
                    inputs, outputs, ..
                } => {
                    if input[1] != *inputs {
                        return Err(NetError::Input(format!(
                            "{network}'s {} takes {inputs} features, not {}",
                            node.name, input[1]
                        )));
                    }
                    vec![input[0], *outputs]
                }
                Layer::BatchNorm { .. } | Layer::Relu { .. } | Layer::Dropout | Layer::Add => input,
            };
            if out.contains(&0) {
                return Err(too_small());
            }
            shapes.push(out);
        }
        Ok(shapes)
    }
}

/// Biases follow their weights: zero where weights are drawn by Kaiming or normal rules
/// (torchvision sets them so), uniform where PyTorch's defaults draw both.
fn bias_init(weight: Init) -> Init {
    match weight {
        Init::DefaultUniform => Init::DefaultUniform,
        _ => Init::Constant(0.0),
    }
}

/// The nodes of `names` (in execution order) that layer names select, each with the name that
/// selected it, in execution order, as torchvision's `create_feature_extractor(model,
/// return_nodes)` does: a layer name selects the node of that name, or the last node inside
/// the module of that name (`layer2`, `features`).
///
/// # Errors
/// No layers are given, or a name matches no node ([`NetError::UnknownNode`]).
pub fn select_nodes(
    names: &[String],
    network: &str,
    layers: &[String],
) -> Result<Vec<(String, usize)>> {
    if layers.is_empty() {
        return Err(NetError::NoLayers);
    }
    for query in layers {
        let prefix = format!("{query}.");
        if !names.iter().any(|n| n == query || n.starts_with(&prefix)) {
            return Err(NetError::UnknownNode {
                node: query.clone(),
                network: network.to_string(),
            });
        }
    }
    let mut pending: Vec<&String> = layers.iter().collect();
    let mut selected = Vec::new();
    for (index, name) in names.iter().enumerate().rev() {
        let parts: Vec<&str> = name.split('.').collect();
        let found = pending.iter().position(|query| {
            let depth = query.matches('.').count() + 1;
            parts[..depth.min(parts.len())].join(".") == **query
        });
        if let Some(position) = found {
            selected.push((pending.remove(position).clone(), index));
        }
    }
    selected.reverse();
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Architecture;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// torchvision's rule: a module name selects its last node; node names select themselves
    /// (`layer1.0.relu` is not `layer1.0.relu_1`); the order given does not matter.
    #[test]
    fn layer_names_select_as_torchvision_does() {
        let graph = Architecture::ResNet18.graph();
        let all = graph.node_names();
        let chosen = |layers: &[&str]| -> Vec<(String, String)> {
            graph
                .select("resnet18", &names(layers))
                .unwrap()
                .into_iter()
                .map(|(query, index)| (query, all[index].clone()))
                .collect()
        };
        assert_eq!(
            chosen(&["layer3", "layer1.0.relu"]),
            [
                ("layer1.0.relu".to_string(), "layer1.0.relu".to_string()),
                ("layer3".to_string(), "layer3.1.relu_1".to_string()),
            ]
        );
        assert_eq!(chosen(&["layer2.0"])[0].1, "layer2.0.relu_1");
        assert_eq!(chosen(&["x"])[0].1, "x");
        let error = graph
            .select("resnet18", &names(&["layer2.0.rel"]))
            .unwrap_err();
        assert_eq!(
            error,
            NetError::UnknownNode {
                node: "layer2.0.rel".into(),
                network: "resnet18".into()
            }
        );
        assert_eq!(
            graph.select("resnet18", &[]).unwrap_err(),
            NetError::NoLayers
        );
    }

    /// Only what the selected nodes read is run: a downsample branch needs its block's input,
    /// not the block's main path.
    #[test]
    fn selections_need_only_their_ancestors() {
        let graph = Architecture::ResNet18.graph();
        let all = graph.node_names();
        let index = |name: &str| all.iter().position(|n| n == name).unwrap();
        let needed = graph.needed(&[index("layer2.0.downsample.1")]);
        assert!(needed[index("layer1.1.relu_1")]);
        assert!(!needed[index("layer2.0.conv1")]);
        assert!(!needed[index("layer2.0.add")]);
    }

    /// Output shapes follow torchvision's arithmetic, and images too small are refused with
    /// the node where they run out.
    #[test]
    fn shapes_and_too_small_images() {
        let graph = Architecture::AlexNet.graph();
        let all = vec![true; graph.nodes().len()];
        let shapes = graph.shapes("alexnet", &[2, 3, 224, 224], &all).unwrap();
        let at = |name: &str| &shapes[graph.node_names().iter().position(|n| n == name).unwrap()];
        assert_eq!(at("features.12"), &vec![2, 256, 6, 6]);
        assert_eq!(at("flatten"), &vec![2, 9216]);
        assert_eq!(at("classifier.6"), &vec![2, 1000]);
        let error = graph.shapes("alexnet", &[1, 3, 40, 40], &all).unwrap_err();
        assert!(error.to_string().contains("node features.12"), "{error}");
        let error = graph
            .shapes("alexnet", &[1, 1, 224, 224], &all)
            .unwrap_err();
        assert!(error.to_string().contains("3-channel"), "{error}");
    }
}
