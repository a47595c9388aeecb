//! A fastburn model as an ONNX file, for the runtimes that phones, browsers, C#, Java and C++
//! programs use (ONNX Runtime, tract, onnxruntime-web, ...).
//!
//! The graph is the model's inference form, as `predict` runs it: BatchNorm with its running
//! statistics, dropout and drop connect gone. It takes what a caller has at hand, pixels in
//! `0..=1` (`[batch, channels, height, width]`, RGB or grey as the model file says): the
//! model's `Normalize` is the graph's first two nodes. It gives two outputs, `probabilities`
//! (`[batch, classes]`, as `fastburn predict` prints them: the softmax, or for a one-output
//! model `[1 - p, p]`) and `logits` (the raw outputs). The batch dimension is free; height and
//! width are the model file's size (free for a model trained on images at their own size).
//! What the caller must do to an image before (resize, crop) is in the file's metadata, with the
//! class names: see [`METADATA_KEYS`].
//!
//! The protobuf is written by [`prost`] from ONNX's own `onnx.proto` (`proto/onnx.proto`, ONNX
//! 1.23.2; `proto.rs` is `prost-build`'s output for it, unedited), opset [`OPSET`].
//!
//! ```
//! use burn::prelude::*;
//! use fastburn::data::ItemTfms;
//! use fastburn::models::{Arch, ModelInfo};
//! let dev = Device::flex();
//! let model = Arch::SimpleCnn.build_for(1, 10, &dev);
//! let info = ModelInfo {
//!     arch: Arch::SimpleCnn,
//!     vocab: (0..10).map(|d| d.to_string()).collect(),
//!     norm: None,
//!     n_out: 10,
//!     item_tfms: ItemTfms::default(),
//!     aug: None,
//! };
//! let bytes = fastburn_onnx::to_onnx(&model, &info);
//! assert!(bytes.len() > 4 * 100_000); // the weights, as float32
//! ```

mod graph;
#[allow(clippy::all, missing_docs, rustdoc::all)]
pub mod proto;

use std::path::Path;

use burn::module::Module;
use fastburn::models::{
    AnyModel, BasicBlock, EfficientNet, FastaiHead, LinearModel, ModelInfo, ResNet, SimpleCnn,
    SimpleNet,
};
use prost::Message;

use graph::{Attr, Graph};
use proto::tensor_proto::DataType;
use proto::tensor_shape_proto::{Dimension, dimension};
use proto::{
    GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto,
    TypeProto, ValueInfoProto, type_proto,
};

/// The ONNX operator set the graph uses (ONNX 1.12, 2022; every current runtime reads it).
pub const OPSET: i64 = 17;
/// The file format version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;

/// The graph's input: pixels in `0..=1`.
pub const INPUT: &str = "pixels";
/// The graph's outputs.
pub const PROBABILITIES: &str = "probabilities";
pub const LOGITS: &str = "logits";

/// The keys of the file's metadata (`metadata_props`), each holding JSON:
/// `fastburn.arch` (the architecture's name), `fastburn.classes` (class names, in the order of
/// the outputs' columns), `fastburn.input` (channels, size, resize method: how `predict`
/// prepares an image), `fastburn.normalize` (the mean and standard deviation the graph applies,
/// or `null`).
pub const METADATA_KEYS: [&str; 4] = [
    "fastburn.arch",
    "fastburn.classes",
    "fastburn.input",
    "fastburn.normalize",
];

/// Export the model file `model` (`.fbm`) to `out` as ONNX; `out` is written whole or not at all.
///
/// ```no_run
/// fastburn_onnx::export(std::path::Path::new("pets.fbm"), std::path::Path::new("pets.onnx"))?;
/// # Ok::<(), fastburn::Error>(())
/// ```
pub fn export(model: &Path, out: &Path) -> fastburn::Result<()> {
    let (net, info) = fastburn::models::load_model(model, &burn::prelude::Device::flex())?;
    save_onnx(&net, &info, out)
}

/// Write `model`, described by `info` (as its model file would), to `out` as ONNX.
pub fn save_onnx(model: &AnyModel, info: &ModelInfo, out: &Path) -> fastburn::Result<()> {
    fastburn::fsutil::write_bytes_atomic(out, &to_onnx(model, info))
}

/// The ONNX file's bytes for `model`, described by `info`.
pub fn to_onnx(model: &AnyModel, info: &ModelInfo) -> Vec<u8> {
    to_model_proto(model, info).encode_to_vec()
}

/// The ONNX model (the protobuf message) for `model`, described by `info`.
pub fn to_model_proto(model: &AnyModel, info: &ModelInfo) -> ModelProto {
    // Inference form, BatchNorm's running statistics synced.
    let model = model.valid();
    let mut g = Graph::default();
    let channels = info.item_tfms.channels;
    let mut x = INPUT.to_string();
    if let Some(norm) = &info.norm {
        // One value per channel, as `Normalize::encode` reads them.
        let at = |v: &[f32]| -> Vec<f32> {
            (0..channels)
                .map(|c| v.get(c).or(v.last()).copied().unwrap_or(0.0))
                .collect()
        };
        let mean = g.init("normalize.mean", &[1, channels, 1, 1], at(&norm.mean));
        let std = g.init("normalize.std", &[1, channels, 1, 1], at(&norm.std));
        x = g.node("Sub", "normalize.sub", &[&x, &mean], Vec::new());
        x = g.node("Div", "normalize.div", &[&x, &std], Vec::new());
    }
    let logits = match &model {
        AnyModel::Linear(m) => linear_model(&mut g, m, &x),
        AnyModel::SimpleNet(m) => simple_net(&mut g, m, &x),
        AnyModel::SimpleCnn(m) => simple_cnn(&mut g, m, &x),
        AnyModel::ResNet(m) => resnet(&mut g, m, &x),
        AnyModel::EfficientNet(m) => efficientnet(&mut g, m, &x),
    };
    g.rename(&logits, LOGITS);
    let n_out = info.n_out;
    if n_out == 1 {
        // fastburn's probabilities for one output: `[1 - p, p]`, p the sigmoid.
        let p = g.node("Sigmoid", "probabilities.sigmoid", &[LOGITS], Vec::new());
        let one = g.init("probabilities.one", &[], vec![1.0]);
        let q = g.node("Sub", "probabilities.complement", &[&one, &p], Vec::new());
        let probs = g.node(
            "Concat",
            PROBABILITIES,
            &[&q, &p],
            vec![("axis", Attr::Int(1))],
        );
        g.rename(&probs, PROBABILITIES);
    } else {
        let probs = g.node(
            "Softmax",
            PROBABILITIES,
            &[LOGITS],
            vec![("axis", Attr::Int(1))],
        );
        g.rename(&probs, PROBABILITIES);
    }

    let (h, w) = match input_size(info) {
        Some((h, w)) => (Dim::Fixed(h), Dim::Fixed(w)),
        None => (Dim::Free("height"), Dim::Free("width")),
    };
    let batch = Dim::Free("batch");
    let classes = if n_out == 1 { 2 } else { n_out };
    let graph = GraphProto {
        name: Some(format!("fastburn {}", info.arch.name())),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![value_info(
            INPUT,
            &[batch, Dim::Fixed(channels), h, w],
            "pixels in 0..=1, [batch, channels, height, width]",
        )],
        output: vec![
            value_info(
                PROBABILITIES,
                &[batch, Dim::Fixed(classes)],
                "class probabilities, columns in the order of fastburn.classes",
            ),
            value_info(
                LOGITS,
                &[batch, Dim::Fixed(n_out)],
                "the model's raw outputs",
            ),
        ],
        ..Default::default()
    };
    let json = |v: serde_json::Value| v.to_string();
    let t = &info.item_tfms;
    let metadata = [
        json(info.arch.name().into()),
        json(serde_json::json!(info.vocab)),
        json(serde_json::json!({
            "channels": t.channels,
            "size": t.size.map(|(h, w)| [h, w]),
            "resize": t.method.to_string(),
            "range": [0.0, 1.0],
        })),
        json(match &info.norm {
            Some(n) => serde_json::json!({ "mean": n.mean, "std": n.std }),
            None => serde_json::Value::Null,
        }),
    ];
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("fastburn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        doc_string: Some(format!(
            "{} classifying {} classes; input {INPUT} in 0..=1, normalisation inside; outputs \
             {PROBABILITIES} and {LOGITS}",
            info.arch.name(),
            classes
        )),
        graph: Some(graph),
        metadata_props: METADATA_KEYS
            .iter()
            .zip(metadata)
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.to_string()),
                value: Some(v),
            })
            .collect(),
        ..Default::default()
    }
}

/// The input's height and width, as the graph fixes them: the model file's size, 28x28 for the
/// linear models (the chapter's digits) when it has none; `None` for a convolutional model
/// trained at its images' own size (any size goes in).
pub fn input_size(info: &ModelInfo) -> Option<(usize, usize)> {
    match info.item_tfms.size {
        Some(size) => Some(size),
        None if !info.arch.is_vision() => Some((28, 28)),
        None => None,
    }
}

#[derive(Clone, Copy)]
enum Dim {
    Fixed(usize),
    Free(&'static str),
}

fn value_info(name: &str, dims: &[Dim], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match *d {
                Dim::Fixed(n) => dimension::Value::DimValue(n as i64),
                Dim::Free(p) => dimension::Value::DimParam(p.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        doc_string: Some(doc.to_string()),
        ..Default::default()
    }
}

fn linear_model(g: &mut Graph, m: &LinearModel, x: &str) -> String {
    let x = g.flatten("flatten", x);
    g.linear("linear", &m.linear, &x)
}

fn simple_net(g: &mut Graph, m: &SimpleNet, x: &str) -> String {
    let x = g.flatten("flatten", x);
    let x = g.linear("l1", &m.l1, &x);
    let x = g.relu("act", &x);
    g.linear("l2", &m.l2, &x)
}

fn simple_cnn(g: &mut Graph, m: &SimpleCnn, x: &str) -> String {
    let mut x = x.to_string();
    for (i, l) in m.layers.iter().enumerate() {
        let name = format!("layers.{i}");
        x = g.conv(&format!("{name}.conv"), &l.conv, &x);
        x = g.batch_norm(&format!("{name}.bn"), &l.bn, &x);
        x = g.relu(&format!("{name}.relu"), &x);
    }
    let x = g.concat_pool("pool", &x);
    g.linear("head", &m.head, &x)
}

/// fastai's head on the body's feature maps (dropout is the identity in inference).
fn head(g: &mut Graph, h: &FastaiHead, x: &str) -> String {
    let x = g.concat_pool("head.pool", x);
    let x = g.batch_norm("head.bn1", &h.bn1, &x);
    let x = g.linear("head.lin1", &h.lin1, &x);
    let x = g.relu("head.relu", &x);
    let x = g.batch_norm("head.bn2", &h.bn2, &x);
    g.linear("head.lin2", &h.lin2, &x)
}

fn resnet(g: &mut Graph, m: &ResNet, x: &str) -> String {
    let b = &m.body;
    let x = g.conv("body.conv1", &b.conv1, x);
    let x = g.batch_norm("body.bn1", &b.bn1, &x);
    let x = g.relu("body.relu", &x);
    let mut x = g.max_pool("body.maxpool", &b.maxpool, &x);
    for (stage, blocks) in [&b.layer1, &b.layer2, &b.layer3, &b.layer4]
        .into_iter()
        .enumerate()
    {
        for (i, block) in blocks.iter().enumerate() {
            x = residual_block(g, &format!("body.layer{}.{i}", stage + 1), block, &x);
        }
    }
    head(g, &m.head, &x)
}

/// torchvision's `BasicBlock`, or its `Bottleneck` when the block has a third convolution.
fn residual_block(g: &mut Graph, name: &str, block: &BasicBlock, x: &str) -> String {
    let identity = match &block.downsample {
        Some(d) => {
            let y = g.conv(&format!("{name}.downsample.0"), &d.conv, x);
            g.batch_norm(&format!("{name}.downsample.1"), &d.bn, &y)
        }
        None => x.to_string(),
    };
    let y = g.conv(&format!("{name}.conv1"), &block.conv1, x);
    let y = g.batch_norm(&format!("{name}.bn1"), &block.bn1, &y);
    let y = g.relu(&format!("{name}.relu1"), &y);
    let y = g.conv(&format!("{name}.conv2"), &block.conv2, &y);
    let y = g.batch_norm(&format!("{name}.bn2"), &block.bn2, &y);
    let y = match (&block.conv3, &block.bn3) {
        (Some(conv3), Some(bn3)) => {
            let y = g.relu(&format!("{name}.relu2"), &y);
            let y = g.conv(&format!("{name}.conv3"), conv3, &y);
            g.batch_norm(&format!("{name}.bn3"), bn3, &y)
        }
        _ => y,
    };
    let y = g.add(&format!("{name}.add"), &y, &identity);
    g.relu(&format!("{name}.relu"), &y)
}

fn efficientnet(g: &mut Graph, m: &EfficientNet, x: &str) -> String {
    let b = &m.body;
    let x = g.conv("body._conv_stem", &b._conv_stem, x);
    let x = g.batch_norm("body._bn0", &b._bn0, &x);
    let mut x = g.relu6("body._relu0", &x);
    for (i, block) in b._blocks.iter().enumerate() {
        let name = format!("body._blocks.{i}");
        let mut y = x.clone();
        if let (Some(c), Some(bn)) = (&block._expand_conv, &block._bn0) {
            y = g.conv(&format!("{name}._expand_conv"), c, &y);
            y = g.batch_norm(&format!("{name}._bn0"), bn, &y);
            y = g.relu6(&format!("{name}._relu0"), &y);
        }
        y = g.conv(
            &format!("{name}._depthwise_conv"),
            &block._depthwise_conv,
            &y,
        );
        y = g.batch_norm(&format!("{name}._bn1"), &block._bn1, &y);
        y = g.relu6(&format!("{name}._relu1"), &y);
        y = g.conv(&format!("{name}._project_conv"), &block._project_conv, &y);
        y = g.batch_norm(&format!("{name}._bn2"), &block._bn2, &y);
        // Drop connect is training only: in inference the branch is always added.
        x = if block.skip {
            g.add(&format!("{name}.add"), &y, &x)
        } else {
            y
        };
    }
    let x = g.conv("body._conv_head", &b._conv_head, &x);
    let x = g.batch_norm("body._bn1", &b._bn1, &x);
    let x = g.relu6("body._relu1", &x);
    head(g, &m.head, &x)
}
