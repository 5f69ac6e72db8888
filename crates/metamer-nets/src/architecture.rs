//! The torchvision architectures we build, node for node and parameter for parameter.

use std::fmt;
use std::str::FromStr;

use crate::graph::{Graph, Init, Layer, ParameterSpec};
use crate::{NetError, Result};

/// A torchvision architecture, by torchvision's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// `torchvision.models.alexnet`.
    AlexNet,
    /// `torchvision.models.vgg16` (without batch norm).
    Vgg16,
    /// `torchvision.models.vgg19` (without batch norm).
    Vgg19,
    /// `torchvision.models.resnet18`.
    ResNet18,
    /// `torchvision.models.resnet50`.
    ResNet50,
}

impl Architecture {
    /// Every architecture, in the order help texts list them.
    pub const ALL: [Architecture; 5] = [
        Architecture::AlexNet,
        Architecture::Vgg16,
        Architecture::Vgg19,
        Architecture::ResNet18,
        Architecture::ResNet50,
    ];

    /// torchvision's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::AlexNet => "alexnet",
            Architecture::Vgg16 => "vgg16",
            Architecture::Vgg19 => "vgg19",
            Architecture::ResNet18 => "resnet18",
            Architecture::ResNet50 => "resnet50",
        }
    }

    /// Its nodes, as torchvision's feature extraction names them.
    pub fn graph(self) -> Graph {
        match self {
            Architecture::AlexNet => alexnet(),
            Architecture::Vgg16 => vgg(&[2, 2, 3, 3, 3]),
            Architecture::Vgg19 => vgg(&[2, 2, 4, 4, 4]),
            Architecture::ResNet18 => resnet(Block::Basic, [2, 2, 2, 2]),
            Architecture::ResNet50 => resnet(Block::Bottleneck, [3, 4, 6, 3]),
        }
    }

    /// Its state dict's entries that we read, in torchvision's order, with torchvision's
    /// initialisation of each.
    pub fn parameters(self) -> Vec<ParameterSpec> {
        let (conv, linear) = match self {
            Architecture::AlexNet => (Init::DefaultUniform, Init::DefaultUniform),
            Architecture::Vgg16 | Architecture::Vgg19 => {
                (Init::KaimingNormalFanOut, Init::Normal(0.01))
            }
            Architecture::ResNet18 | Architecture::ResNet50 => {
                (Init::KaimingNormalFanOut, Init::DefaultUniform)
            }
        };
        self.graph().parameters(conv, linear)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = NetError;

    fn from_str(name: &str) -> Result<Self> {
        Architecture::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| NetError::UnknownArchitecture(name.to_string()))
    }
}

fn conv(
    params: String,
    inputs: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
) -> Layer {
    Layer::Conv {
        params,
        inputs,
        outputs,
        kernel,
        stride,
        padding,
        bias,
    }
}

const RELU: Layer = Layer::Relu { inplace: true };

/// The classifier's `avgpool`, `flatten` and `classifier.*` nodes of AlexNet and VGG.
fn classifier(graph: &mut Graph, pooled: [usize; 2], channels: usize, dropout_first: bool) {
    graph.then("avgpool", Layer::AdaptiveAvgPool { size: pooled });
    graph.then("flatten", Layer::Flatten);
    let mut index = 0;
    let mut next = |graph: &mut Graph, layer: Layer| {
        graph.then(format!("classifier.{index}"), layer);
        index += 1;
    };
    let linear = |index: usize, inputs: usize, outputs: usize| Layer::Linear {
        params: format!("classifier.{index}"),
        inputs,
        outputs,
    };
    let features = channels * pooled[0] * pooled[1];
    if dropout_first {
        // AlexNet: Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear.
        next(graph, Layer::Dropout);
        next(graph, linear(1, features, 4096));
        next(graph, RELU);
        next(graph, Layer::Dropout);
        next(graph, linear(4, 4096, 4096));
        next(graph, RELU);
        next(graph, linear(6, 4096, 1000));
    } else {
        // VGG: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear.
        next(graph, linear(0, features, 4096));
        next(graph, RELU);
        next(graph, Layer::Dropout);
        next(graph, linear(3, 4096, 4096));
        next(graph, RELU);
        next(graph, Layer::Dropout);
        next(graph, linear(6, 4096, 1000));
    }
}

fn alexnet() -> Graph {
    let mut graph = Graph::new();
    let pool = || Layer::MaxPool {
        kernel: 3,
        stride: 2,
        padding: 0,
    };
    let layers = [
        conv("features.0".into(), 3, 64, 11, 4, 2, true),
        RELU,
        pool(),
        conv("features.3".into(), 64, 192, 5, 1, 2, true),
        RELU,
        pool(),
        conv("features.6".into(), 192, 384, 3, 1, 1, true),
        RELU,
        conv("features.8".into(), 384, 256, 3, 1, 1, true),
        RELU,
        conv("features.10".into(), 256, 256, 3, 1, 1, true),
        RELU,
        pool(),
    ];
    for (index, layer) in layers.into_iter().enumerate() {
        graph.then(format!("features.{index}"), layer);
    }
    classifier(&mut graph, [6, 6], 256, true);
    graph
}

/// VGG with `convs[i]` 3×3 convolutions (each followed by a ReLU) before the i-th max pool.
fn vgg(convs: &[usize]) -> Graph {
    let mut graph = Graph::new();
    let mut index = 0;
    let mut channels = 3;
    for (stage, &count) in convs.iter().enumerate() {
        let width = [64, 128, 256, 512, 512][stage];
        for _ in 0..count {
            let name = format!("features.{index}");
            graph.then(name.clone(), conv(name, channels, width, 3, 1, 1, true));
            graph.then(format!("features.{}", index + 1), RELU);
            channels = width;
            index += 2;
        }
        let pool = Layer::MaxPool {
            kernel: 2,
            stride: 2,
            padding: 0,
        };
        graph.then(format!("features.{index}"), pool);
        index += 1;
    }
    classifier(&mut graph, [7, 7], 512, false);
    graph
}

#[derive(Clone, Copy)]
enum Block {
    Basic,
    Bottleneck,
}

fn batch_norm(params: String, channels: usize) -> Layer {
    Layer::BatchNorm { params, channels }
}

fn resnet(block: Block, blocks: [usize; 4]) -> Graph {
    let expansion = match block {
        Block::Basic => 1,
        Block::Bottleneck => 4,
    };
    let mut graph = Graph::new();
    graph.then("conv1", conv("conv1".into(), 3, 64, 7, 2, 3, false));
    graph.then("bn1", batch_norm("bn1".into(), 64));
    graph.then("relu", RELU);
    let pool = Layer::MaxPool {
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let mut last = graph.then("maxpool", pool);
    let mut channels = 64;
    for (stage, &count) in blocks.iter().enumerate() {
        let planes = 64 << stage;
        for b in 0..count {
            let stride = if stage > 0 && b == 0 { 2 } else { 1 };
            let p = format!("layer{}.{b}", stage + 1);
            let input = last;
            let out = planes * expansion;
            match block {
                Block::Basic => {
                    graph.then(
                        format!("{p}.conv1"),
                        conv(format!("{p}.conv1"), channels, planes, 3, stride, 1, false),
                    );
                    graph.then(format!("{p}.bn1"), batch_norm(format!("{p}.bn1"), planes));
                    graph.then(format!("{p}.relu"), RELU);
                    graph.then(
                        format!("{p}.conv2"),
                        conv(format!("{p}.conv2"), planes, planes, 3, 1, 1, false),
                    );
                    graph.then(format!("{p}.bn2"), batch_norm(format!("{p}.bn2"), planes));
                }
                Block::Bottleneck => {
                    graph.then(
                        format!("{p}.conv1"),
                        conv(format!("{p}.conv1"), channels, planes, 1, 1, 0, false),
                    );
                    graph.then(format!("{p}.bn1"), batch_norm(format!("{p}.bn1"), planes));
                    graph.then(format!("{p}.relu"), RELU);
                    graph.then(
                        format!("{p}.conv2"),
                        conv(format!("{p}.conv2"), planes, planes, 3, stride, 1, false),
                    );
                    graph.then(format!("{p}.bn2"), batch_norm(format!("{p}.bn2"), planes));
                    graph.then(format!("{p}.relu_1"), RELU);
                    graph.then(
                        format!("{p}.conv3"),
                        conv(format!("{p}.conv3"), planes, out, 1, 1, 0, false),
                    );
                    graph.then(format!("{p}.bn3"), batch_norm(format!("{p}.bn3"), out));
                }
            }
            let main = graph.nodes().len() - 1;
            let identity = if stride != 1 || channels != out {
                let d = format!("{p}.downsample");
                graph.push(
                    format!("{d}.0"),
                    conv(format!("{d}.0"), channels, out, 1, stride, 0, false),
                    &[input],
                );
                graph.then(format!("{d}.1"), batch_norm(format!("{d}.1"), out))
            } else {
                input
            };
            graph.push(format!("{p}.add"), Layer::Add, &[main, identity]);
            let relu = match block {
                Block::Basic => "relu_1",
                Block::Bottleneck => "relu_2",
            };
            last = graph.then(format!("{p}.{relu}"), RELU);
            channels = out;
        }
    }
    graph.then("avgpool", Layer::AdaptiveAvgPool { size: [1, 1] });
    graph.then("flatten", Layer::Flatten);
    let fc = Layer::Linear {
        params: "fc".into(),
        inputs: 512 * expansion,
        outputs: 1000,
    };
    graph.then("fc", fc);
    graph
}
