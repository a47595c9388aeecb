//! An ONNX graph built node by node: each call adds one operator and returns the name of its
//! output, so a model's forward pass reads as it does in Rust. Weights become initializers named
//! by their module path (`body.layer1.0.conv1.weight`), as PyTorch's exporter names them.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{BatchNorm, Linear, PaddingConfig2d};
use burn::prelude::*;

use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::{AttributeProto, NodeProto, TensorProto};

/// The graph's nodes and weights, in the order they were added (a topological order).
#[derive(Default)]
pub(crate) struct Graph {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    outputs: usize,
}

/// One attribute of a node.
pub(crate) enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

fn attribute(name: &str, value: Attr) -> AttributeProto {
    let mut a = AttributeProto {
        name: Some(name.to_string()),
        ..Default::default()
    };
    match value {
        Attr::Int(i) => {
            a.r#type = Some(AttributeType::Int as i32);
            a.i = Some(i);
        }
        Attr::Ints(v) => {
            a.r#type = Some(AttributeType::Ints as i32);
            a.ints = v;
        }
        Attr::Float(f) => {
            a.r#type = Some(AttributeType::Float as i32);
            a.f = Some(f);
        }
    }
    a
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&x| x as i64).collect())
}

/// ONNX's `pads` (`[top, left, bottom, right]`) from Burn's padding, which fastburn's models
/// always give explicitly.
fn pads(padding: &PaddingConfig2d) -> Attr {
    match *padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => ints(&[top, left, bottom, right]),
        // `Valid` pads nothing; no fastburn model uses `Same` (it depends on the input's size).
        _ => ints(&[0, 0, 0, 0]),
    }
}

/// The values of a float tensor, in row-major order.
pub(crate) fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

impl Graph {
    /// A float weight (or constant) named `name`, with shape `dims`.
    pub fn init(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        self.initializers.push(TensorProto {
            name: Some(name.to_string()),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            // ONNX stores raw data little-endian, whatever the machine.
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name.to_string()
    }

    fn param<const D: usize>(&mut self, name: &str, t: Tensor<D>) -> String {
        let dims = t.dims();
        self.init(name, &dims, floats(t))
    }

    /// Operator `op` on `inputs` (names), its node named `name`; returns its output's name.
    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
    ) -> String {
        self.outputs += 1;
        let output = format!("{name}:{}", self.outputs);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.clone()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute: attrs.into_iter().map(|(n, v)| attribute(n, v)).collect(),
            ..Default::default()
        });
        output
    }

    /// Name the output `from` `to` (a graph output's name), before any node reads it.
    pub fn rename(&mut self, from: &str, to: &str) {
        for node in &mut self.nodes {
            debug_assert!(
                !node.input.iter().any(|i| i == from),
                "{from} is read already"
            );
            for o in &mut node.output {
                if o == from {
                    *o = to.to_string();
                }
            }
        }
    }

    pub fn conv(&mut self, name: &str, conv: &Conv2d, x: &str) -> String {
        let inputs = self.weight_and_bias(name, x, &conv.weight, conv.bias.as_ref());
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node(
            "Conv",
            name,
            &inputs,
            vec![
                ("kernel_shape", ints(&conv.kernel_size)),
                ("strides", ints(&conv.stride)),
                ("dilations", ints(&conv.dilation)),
                ("pads", pads(&conv.padding)),
                ("group", Attr::Int(conv.groups as i64)),
            ],
        )
    }

    /// BatchNorm in inference form: the running statistics, as the model's validation uses them.
    pub fn batch_norm(&mut self, name: &str, bn: &BatchNorm, x: &str) -> String {
        let scale = self.param(&format!("{name}.weight"), bn.gamma.val());
        let bias = self.param(&format!("{name}.bias"), bn.beta.val());
        let mean = self.param(&format!("{name}.running_mean"), bn.running_mean.value());
        let var = self.param(&format!("{name}.running_var"), bn.running_var.value());
        self.node(
            "BatchNormalization",
            name,
            &[x, &scale, &bias, &mean, &var],
            vec![("epsilon", Attr::Float(bn.epsilon as f32))],
        )
    }

    /// `x · W + b` with Burn's `[in, out]` weight (ONNX's `Gemm` with `transB = 0`).
    pub fn linear(&mut self, name: &str, linear: &Linear, x: &str) -> String {
        let inputs = self.weight_and_bias(name, x, &linear.weight, linear.bias.as_ref());
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        self.node("Gemm", name, &inputs, Vec::new())
    }

    /// A layer's inputs: `x`, its weight and, if it has one, its bias, as initializers named
    /// `{name}.weight` and `{name}.bias`.
    fn weight_and_bias<const D: usize>(
        &mut self,
        name: &str,
        x: &str,
        weight: &Param<Tensor<D>>,
        bias: Option<&Param<Tensor<1>>>,
    ) -> Vec<String> {
        let mut inputs = vec![
            x.to_string(),
            self.param(&format!("{name}.weight"), weight.val()),
        ];
        if let Some(b) = bias {
            inputs.push(self.param(&format!("{name}.bias"), b.val()));
        }
        inputs
    }

    pub fn relu(&mut self, name: &str, x: &str) -> String {
        self.node("Relu", name, &[x], Vec::new())
    }

    /// `clamp(x, 0, 6)`: EfficientNet-Lite's activation.
    pub fn relu6(&mut self, name: &str, x: &str) -> String {
        let (lo, hi) = ("relu6.min", "relu6.max");
        if !self
            .initializers
            .iter()
            .any(|t| t.name.as_deref() == Some(lo))
        {
            self.init(lo, &[], vec![0.0]);
            self.init(hi, &[], vec![6.0]);
        }
        self.node("Clip", name, &[x, lo, hi], Vec::new())
    }

    pub fn add(&mut self, name: &str, a: &str, b: &str) -> String {
        self.node("Add", name, &[a, b], Vec::new())
    }

    pub fn max_pool(&mut self, name: &str, pool: &MaxPool2d, x: &str) -> String {
        self.node(
            "MaxPool",
            name,
            &[x],
            vec![
                ("kernel_shape", ints(&pool.kernel_size)),
                ("strides", ints(&pool.stride)),
                ("dilations", ints(&pool.dilation)),
                ("pads", pads(&pool.padding)),
                ("ceil_mode", Attr::Int(pool.ceil_mode as i64)),
            ],
        )
    }

    /// fastai's `AdaptiveConcatPool2d` then `Flatten`: `[b, c, h, w]` to `[b, 2c]`, the maximum
    /// of each map first, then its mean.
    pub fn concat_pool(&mut self, name: &str, x: &str) -> String {
        let max = self.node("GlobalMaxPool", &format!("{name}.max"), &[x], Vec::new());
        let avg = self.node(
            "GlobalAveragePool",
            &format!("{name}.avg"),
            &[x],
            Vec::new(),
        );
        let cat = self.node("Concat", name, &[&max, &avg], vec![("axis", Attr::Int(1))]);
        self.flatten(&format!("{name}.flatten"), &cat)
    }

    /// `[b, ...]` to `[b, rest]`.
    pub fn flatten(&mut self, name: &str, x: &str) -> String {
        self.node("Flatten", name, &[x], vec![("axis", Attr::Int(1))])
    }
}
