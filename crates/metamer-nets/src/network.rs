//! A torchvision architecture with its parameters as Burn tensors, run by walking its graph.

use burn::tensor::module::{adaptive_avg_pool2d, conv2d, linear, max_pool2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Tensor, TensorData, activation::relu, backend::Backend, s};

use crate::architecture::Architecture;
use crate::features::{DeepNetFeatures, FeatureNetwork, Normalize, Taps};
use crate::graph::{Graph, Layer, ParameterSpec};
use crate::weights::Weights;
use crate::{NetError, Result};

/// torchvision's batch-norm epsilon.
const BATCH_NORM_EPS: f64 = 1e-5;

/// A torchvision network in evaluation mode (batch norm with its running statistics, dropout
/// off), its parameters named as in torchvision's state dict.
pub struct Network<B: Backend> {
    architecture: Architecture,
    graph: Graph,
    /// Each node's operation; `None` for the nodes this network was built without.
    operations: Vec<Option<Operation<B>>>,
    /// For a batch norm that only reads a convolution: that convolution with the batch norm
    /// folded into its weights and bias, one operation instead of three when the
    /// convolution's own output is not asked for (ResNets spend much of their time there).
    folded: Vec<Option<Operation<B>>>,
}

enum Operation<B: Backend> {
    Input,
    Conv {
        weight: Tensor<B, 4>,
        bias: Option<Tensor<B, 1>>,
        options: ConvOptions<2>,
    },
    /// Batch norm with running statistics: `x · scale + shift` per channel.
    Affine {
        scale: Tensor<B, 4>,
        shift: Tensor<B, 4>,
    },
    Relu {
        inplace: bool,
    },
    MaxPool {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
    AdaptiveAvgPool([usize; 2]),
    Flatten,
    Dropout,
    Linear {
        /// `[in, out_k]` blocks of torchvision's weight, transposed as Burn's `linear` takes
        /// it, split along the outputs (see [`linear_blocks`]).
        blocks: Vec<Tensor<B, 2>>,
        bias: Tensor<B, 1>,
    },
    Add,
}

/// `conv2d`, with 1×1 kernels of stride above 1 (ResNet's downsampling shortcuts) run as the
/// strided subsample followed by a stride-1 convolution: the same sums, but Burn 0.21's wgpu
/// backend returns a wrong input gradient for strided 1×1 convolutions.
fn convolve<B: Backend>(
    x: Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: &Option<Tensor<B, 1>>,
    options: &ConvOptions<2>,
) -> Tensor<B, 4> {
    let [_, _, kh, kw] = weight.dims();
    let [sh, sw] = options.stride;
    if [kh, kw] == [1, 1] && options.padding == [0, 0] && (sh > 1 || sw > 1) {
        let subsampled = x.slice(s![.., .., ..;sh as isize, ..;sw as isize]);
        let unit = ConvOptions::new([1, 1], [0, 0], options.dilation, options.groups);
        conv2d(subsampled, weight.clone(), bias.clone(), unit)
    } else {
        conv2d(x, weight.clone(), bias.clone(), options.clone())
    }
}

/// The most elements one block of a linear layer's weight holds.
///
/// GPU buffers have a size limit: wgpu's default limit on a storage buffer is 128 MiB, and
/// lavapipe refuses AlexNet's first classifier weight (9216 × 4096, 144 MiB in float32)
/// outright. Split into blocks of at most 32 MiB in float32, every torchvision layer fits.
const MAX_BLOCK: usize = 1 << 23;

/// A torchvision weight `[out, in]` as row blocks of at most [`MAX_BLOCK`] elements (one
/// block, the weight itself, where it fits).
fn linear_blocks(weight: TensorData) -> Vec<TensorData> {
    let [outputs, inputs] = [weight.shape[0], weight.shape[1]];
    if outputs * inputs <= MAX_BLOCK {
        return vec![weight];
    }
    let rows = (MAX_BLOCK / inputs).max(1);
    let row_bytes = inputs * weight.dtype.size();
    let bytes = weight.as_bytes();
    (0..outputs)
        .step_by(rows)
        .map(|start| {
            let end = (start + rows).min(outputs);
            TensorData::from_bytes_vec(
                bytes[start * row_bytes..end * row_bytes].to_vec(),
                [end - start, inputs],
                weight.dtype,
            )
        })
        .collect()
}

/// A node's output: feature maps, or features after `flatten`.
#[derive(Clone)]
enum Value<B: Backend> {
    Maps(Tensor<B, 4>),
    Features(Tensor<B, 2>),
}

impl<B: Backend> Network<B> {
    /// The whole network, with `weights` in `dtype` on `device`.
    ///
    /// # Errors
    /// The weights do not fit the architecture, or cannot be read.
    pub fn new(
        architecture: Architecture,
        weights: &Weights,
        dtype: DType,
        device: &B::Device,
    ) -> Result<Self> {
        let graph = architecture.graph();
        let all = vec![true; graph.nodes().len()];
        Self::build(architecture, graph, weights, &all, dtype, device)
    }

    /// The part of the network that computing `layers` needs (as torchvision's feature
    /// extractor keeps it): deep parameters that those layers do not reach are not loaded.
    ///
    /// # Errors
    /// A layer name matches no node, or the weights do not fit or cannot be read.
    pub fn for_layers(
        architecture: Architecture,
        layers: &[String],
        weights: &Weights,
        dtype: DType,
        device: &B::Device,
    ) -> Result<Self> {
        let graph = architecture.graph();
        let selected = graph.select(architecture.name(), layers)?;
        let outputs: Vec<usize> = selected.iter().map(|(_, index)| *index).collect();
        let needed = graph.needed(&outputs);
        Self::build(architecture, graph, weights, &needed, dtype, device)
    }

    fn build(
        architecture: Architecture,
        graph: Graph,
        weights: &Weights,
        needed: &[bool],
        dtype: DType,
        device: &B::Device,
    ) -> Result<Self> {
        weights.check(architecture)?;
        let specs = architecture.parameters();
        let tensor = |name: String| -> Result<(TensorData, Vec<usize>)> {
            let spec: &ParameterSpec = specs
                .iter()
                .find(|s| s.name == name)
                .expect("every layer's parameters are in the architecture's list");
            Ok((
                weights.values(spec)?.convert_dtype(dtype),
                spec.shape.clone(),
            ))
        };
        let vector = |name: String| -> Result<Tensor<B, 1>> {
            let (data, _) = tensor(name)?;
            Ok(Tensor::from_data(data, (device, dtype)))
        };
        let mut operations = Vec::with_capacity(graph.nodes().len());
        for (node, &needed) in graph.nodes().iter().zip(needed) {
            if !needed {
                operations.push(None);
                continue;
            }
            let operation = match &node.layer {
                Layer::Input => Operation::Input,
                Layer::Conv {
                    params,
                    stride,
                    padding,
                    bias,
                    ..
                } => {
                    let (data, _) = tensor(format!("{params}.weight"))?;
                    Operation::Conv {
                        weight: Tensor::from_data(data, (device, dtype)),
                        bias: if *bias {
                            Some(vector(format!("{params}.bias"))?)
                        } else {
                            None
                        },
                        options: ConvOptions::new([*stride; 2], [*padding; 2], [1, 1], 1),
                    }
                }
                Layer::BatchNorm { params, channels } => {
                    let read = |what: &str| -> Result<Vec<f64>> {
                        let (data, _) = tensor(format!("{params}.{what}"))?;
                        Ok(data.convert::<f64>().to_vec::<f64>().unwrap_or_default())
                    };
                    let (weight, bias) = (read("weight")?, read("bias")?);
                    let (mean, var) = (read("running_mean")?, read("running_var")?);
                    let scale: Vec<f64> = (0..*channels)
                        .map(|c| weight[c] / (var[c] + BATCH_NORM_EPS).sqrt())
                        .collect();
                    let shift: Vec<f64> = (0..*channels)
                        .map(|c| bias[c] - mean[c] * scale[c])
                        .collect();
                    let shape = [1, *channels, 1, 1];
                    Operation::Affine {
                        scale: metamer_core::tensor::from_f64(scale, shape, dtype, device),
                        shift: metamer_core::tensor::from_f64(shift, shape, dtype, device),
                    }
                }
                Layer::Relu { inplace } => Operation::Relu { inplace: *inplace },
                Layer::MaxPool {
                    kernel,
                    stride,
                    padding,
                } => Operation::MaxPool {
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                },
                Layer::AdaptiveAvgPool { size } => Operation::AdaptiveAvgPool(*size),
                Layer::Flatten => Operation::Flatten,
                Layer::Dropout => Operation::Dropout,
                Layer::Linear { params, .. } => {
                    let (data, _) = tensor(format!("{params}.weight"))?;
                    Operation::Linear {
                        blocks: linear_blocks(data)
                            .into_iter()
                            .map(|block| {
                                Tensor::<B, 2>::from_data(block, (device, dtype)).transpose()
                            })
                            .collect(),
                        bias: vector(format!("{params}.bias"))?,
                    }
                }
                Layer::Add => Operation::Add,
            };
            operations.push(Some(operation));
        }
        let folded = fold_batch_norms(&graph, &operations);
        Ok(Self {
            architecture,
            graph,
            operations,
            folded,
        })
    }

    /// The architecture.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// Its graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }
}

impl<B: Backend> FeatureNetwork<B> for Network<B> {
    fn name(&self) -> String {
        self.architecture.to_string()
    }

    fn node_names(&self) -> Vec<String> {
        self.graph.node_names()
    }

    fn check_input(&self, shape: &[usize], nodes: &[String]) -> Option<String> {
        let outputs = self.node_indices(nodes).ok()?;
        let needed = self.graph.needed(&outputs);
        self.graph
            .shapes(self.architecture.name(), shape, &needed)
            .err()
            .map(|e| e.to_string())
    }

    fn forward_taps(&self, input: Tensor<B, 4>, taps: &mut Taps<B>) {
        let outputs = self
            .node_indices(taps.wanted())
            .expect("taps name nodes of this network");
        let needed = self.graph.needed(&outputs);
        let nodes = self.graph.nodes();
        let mut values: Vec<Option<Value<B>>> = vec![None; nodes.len()];
        // Nodes with the same storage share memory in torch: an in-place ReLU changes them all.
        let mut storage: Vec<usize> = (0..nodes.len()).collect();
        for (index, node) in nodes.iter().enumerate() {
            // A convolution only its batch norm reads runs inside the folded one.
            let folded_away = self.folded.get(index + 1).is_some_and(Option::is_some)
                && needed.get(index + 1) == Some(&true)
                && !outputs.contains(&index);
            if !needed[index] || folded_away {
                continue;
            }
            let operation = self.operations[index]
                .as_ref()
                .expect("the network was built with every node its layers need");
            let read = |i: usize| values[node.inputs[i]].clone().expect("inputs run first");
            let value = match operation {
                Operation::Input => Value::Maps(input.clone()),
                Operation::Conv {
                    weight,
                    bias,
                    options,
                } => Value::Maps(convolve(read(0).maps(), weight, bias, options)),
                Operation::Affine { scale, shift } => match &self.folded[index] {
                    Some(Operation::Conv {
                        weight,
                        bias,
                        options,
                    }) if values[node.inputs[0]].is_none() => {
                        let conv = &nodes[node.inputs[0]];
                        let x = values[conv.inputs[0]].clone().expect("inputs run first");
                        Value::Maps(convolve(x.maps(), weight, bias, options))
                    }
                    _ => Value::Maps(read(0).maps().mul(scale.clone()).add(shift.clone())),
                },
                Operation::Relu { inplace } => {
                    let output = match read(0) {
                        Value::Maps(x) => Value::Maps(relu(x)),
                        Value::Features(x) => Value::Features(relu(x)),
                    };
                    if *inplace {
                        let shared = storage[node.inputs[0]];
                        storage[index] = shared;
                        for earlier in 0..index {
                            if storage[earlier] == shared && values[earlier].is_some() {
                                values[earlier] = Some(output.clone());
                            }
                        }
                    }
                    output
                }
                Operation::MaxPool {
                    kernel,
                    stride,
                    padding,
                } => Value::Maps(max_pool2d(
                    read(0).maps(),
                    [*kernel; 2],
                    [*stride; 2],
                    [*padding; 2],
                    [1, 1],
                    false,
                )),
                Operation::AdaptiveAvgPool(size) => {
                    Value::Maps(adaptive_avg_pool2d(read(0).maps(), *size))
                }
                Operation::Flatten => Value::Features(read(0).maps().flatten(1, 3)),
                Operation::Dropout => {
                    storage[index] = storage[node.inputs[0]];
                    read(0)
                }
                Operation::Linear { blocks, bias } => Value::Features(match blocks.as_slice() {
                    [weight] => linear(read(0).features(), weight.clone(), Some(bias.clone())),
                    blocks => {
                        let x = read(0).features();
                        let parts = blocks.iter().map(|w| x.clone().matmul(w.clone())).collect();
                        Tensor::cat(parts, 1) + bias.clone().unsqueeze_dim(0)
                    }
                }),
                Operation::Add => Value::Maps(read(0).maps().add(read(1).maps())),
            };
            values[index] = Some(value);
        }
        for index in outputs {
            match values[index].take().expect("outputs are computed") {
                Value::Maps(x) => taps.record(&nodes[index].name, x),
                Value::Features(x) => taps.record(&nodes[index].name, x),
            }
        }
    }
}

impl<B: Backend> Network<B> {
    fn node_indices(&self, names: &[String]) -> Result<Vec<usize>> {
        names
            .iter()
            .map(|name| {
                self.graph
                    .nodes()
                    .iter()
                    .position(|n| n.name == *name)
                    .ok_or_else(|| NetError::UnknownNode {
                        node: name.clone(),
                        network: self.architecture.to_string(),
                    })
            })
            .collect()
    }
}

impl<B: Backend> DeepNetFeatures<B, Network<B>> {
    /// `layers` of a torchvision architecture with `weights`, in `dtype` on `device`; only the
    /// part of the network those layers need is built.
    ///
    /// # Errors
    /// A layer name matches no node, or the weights do not fit or cannot be read.
    pub fn torchvision(
        architecture: Architecture,
        weights: &Weights,
        layers: &[String],
        normalize: Option<Normalize>,
        dtype: DType,
        device: &B::Device,
    ) -> Result<Self> {
        let network = Network::for_layers(architecture, layers, weights, dtype, device)?;
        Self::new(network, layers, normalize)
    }
}

/// Each batch norm that reads only a convolution (and is the convolution's only reader),
/// folded into it: weights scaled per output channel, bias `shift + bias · scale`.
fn fold_batch_norms<B: Backend>(
    graph: &Graph,
    operations: &[Option<Operation<B>>],
) -> Vec<Option<Operation<B>>> {
    let nodes = graph.nodes();
    let readers = |index: usize| nodes.iter().filter(|n| n.inputs.contains(&index)).count();
    (0..nodes.len())
        .map(|index| {
            let Some(Operation::Affine { scale, shift }) = &operations[index] else {
                return None;
            };
            let [conv] = nodes[index].inputs[..] else {
                return None;
            };
            let Some(Operation::Conv {
                weight,
                bias,
                options,
            }) = &operations[conv]
            else {
                return None;
            };
            if readers(conv) != 1 {
                return None;
            }
            let channels = scale.dims()[1];
            let per_output = scale.clone().reshape([channels, 1, 1, 1]);
            let shift = shift.clone().reshape([channels]);
            let bias = match bias {
                Some(bias) => bias.clone() * scale.clone().reshape([channels]) + shift,
                None => shift,
            };
            Some(Operation::Conv {
                weight: weight.clone() * per_output,
                bias: Some(bias),
                options: options.clone(),
            })
        })
        .collect()
}

impl<B: Backend> Value<B> {
    fn maps(self) -> Tensor<B, 4> {
        match self {
            Value::Maps(x) => x,
            Value::Features(_) => unreachable!("feature maps are never read after flatten"),
        }
    }

    fn features(self) -> Tensor<B, 2> {
        match self {
            Value::Features(x) => x,
            Value::Maps(_) => unreachable!("linear layers read flattened features"),
        }
    }
}
