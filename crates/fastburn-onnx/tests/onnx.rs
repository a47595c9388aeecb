//! Every architecture, exported to ONNX and run by tract (a pure-Rust ONNX runtime), gives
//! fastburn's probabilities on real photos, and the file says what its input and classes are.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, Param};
use burn::nn::{BatchNorm, DropoutConfig};
use burn::prelude::*;
use fastburn::data::{ItemTfms, Normalize, Pixels, ResizeMethod};
use fastburn::models::{
    AnyModel, Arch, FastaiHead, Model, ModelInfo, imagenet_stats, probabilities,
};
use prost::Message;

use fastburn_flex::testing::max_diff_rows as max_diff;
use fastburn_onnx::proto::ModelProto;

mod tract;

/// The photos the ImageNet tests use (tests/fixtures/imagenet of the library crate).
fn photo(name: &str) -> image::DynamicImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fastburn/tests/fixtures/imagenet")
        .join(name);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn photos(tfms: &ItemTfms) -> Vec<Pixels> {
    ["cat.png", "coffee.png"]
        .iter()
        .map(|p| tfms.prepare(&photo(p)))
        .collect()
}

/// The device's random numbers come from one generator, shared by every test running beside
/// this one, and Burn draws a parameter when it is first read, not when it is built. A model built
/// while another test draws would get other weights on each run (and one CI run in three, an
/// EfficientNet whose rounding reached 1.005e-4): so models are built one at a time, each from
/// seed 7 to its last draw.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A model of `arch` whose BatchNorm layers are not at their initial values but as a trained
/// model's are: scales and shifts spread out, running statistics those of views of the photos
/// (one training pass with momentum 1). So every exported number matters, and even an untrained deep
/// network tells the two photos apart instead of saturating.
fn model(
    arch: Arch,
    channels: usize,
    n_out: usize,
    info: &ModelInfo,
    size: (usize, usize),
) -> AnyModel {
    // Held until the model's every parameter has been drawn (the calibration pass below reads
    // them all): see RNG.
    let _rng = RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dev = fastburn::device();
    dev.seed(7);
    let mut model = arch
        .build_for(channels, n_out, &dev)
        .map(&mut Spread::default());
    for bn in batch_norms(&mut model) {
        bn.momentum = 1.0;
    }
    // Without dropout and drop connect: the statistics are then those inference sees (dropout
    // zeroing a feature in the one training pass would leave it a variance of 0).
    match &mut model {
        AnyModel::ResNet(m) => no_dropout(&mut m.head),
        AnyModel::EfficientNet(m) => {
            no_dropout(&mut m.head);
            for block in &mut m.body._blocks {
                block.drop_connect = 0.0;
            }
        }
        _ => {}
    }
    let _ = model.forward(inputs(info, &calibration(channels, size), &dev));
    model.valid()
}

/// 24 views of the two photos (three ways of resizing, four rotations): statistics of a batch
/// that size, unlike two images' (where a feature the two happen to share has no variance),
/// hold for other views of the photos too.
fn calibration(channels: usize, size: (usize, usize)) -> Vec<Pixels> {
    let mut views = Vec::new();
    for name in ["cat.png", "coffee.png"] {
        let img = photo(name);
        for turned in [
            img.clone(),
            img.rotate90(),
            img.rotate180(),
            img.rotate270(),
        ] {
            for method in [ResizeMethod::Crop, ResizeMethod::Squish, ResizeMethod::Pad] {
                views.push(ItemTfms::resize(channels, size, method).prepare(&turned));
            }
        }
    }
    views
}

fn no_dropout(head: &mut FastaiHead) {
    head.drop1 = DropoutConfig::new(0.0).init();
    head.drop2 = DropoutConfig::new(0.0).init();
}

/// Every BatchNorm layer of a model.
fn batch_norms(model: &mut AnyModel) -> Vec<&mut BatchNorm> {
    fn head(h: &mut FastaiHead) -> [&mut BatchNorm; 2] {
        [&mut h.bn1, &mut h.bn2]
    }
    match model {
        AnyModel::Linear(_) | AnyModel::SimpleNet(_) => Vec::new(),
        AnyModel::SimpleCnn(m) => m.layers.iter_mut().map(|l| &mut l.bn).collect(),
        AnyModel::ResNet(m) => {
            let b = &mut m.body;
            let mut all = vec![&mut b.bn1];
            for block in b
                .layer1
                .iter_mut()
                .chain(&mut b.layer2)
                .chain(&mut b.layer3)
                .chain(&mut b.layer4)
            {
                all.extend([&mut block.bn1, &mut block.bn2]);
                all.extend(block.bn3.as_mut());
                all.extend(block.downsample.as_mut().map(|d| &mut d.bn));
            }
            all.extend(head(&mut m.head));
            all
        }
        AnyModel::EfficientNet(m) => {
            let b = &mut m.body;
            let mut all = vec![&mut b._bn0, &mut b._bn1];
            for block in &mut b._blocks {
                all.extend(block._bn0.as_mut());
                all.extend([&mut block._bn1, &mut block._bn2]);
            }
            all.extend(head(&mut m.head));
            all
        }
    }
}

/// Draws BatchNorm's scales and shifts at random (by their field names).
#[derive(Default)]
struct Spread {
    path: Vec<String>,
}

impl ModuleMapper for Spread {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        use burn::tensor::Distribution::{Normal, Uniform};
        let draw = match self.path.last().map(String::as_str) {
            Some("gamma") => Uniform(0.7, 1.3),
            Some("beta") => Normal(0.0, 0.2),
            _ => return param,
        };
        param.map(|t| t.random_like(draw))
    }
}

fn info(arch: Arch, channels: usize, n_out: usize, size: Option<(usize, usize)>) -> ModelInfo {
    let norm = match channels {
        3 => Some(imagenet_stats()),
        _ => Some(Normalize::new(vec![0.1307], vec![0.3081])),
    };
    ModelInfo {
        arch,
        vocab: (0..n_out.max(2)).map(|i| format!("class {i}")).collect(),
        norm: if arch.is_vision() { norm } else { None },
        n_out,
        item_tfms: ItemTfms {
            channels,
            size,
            ..ItemTfms::default()
        },
        aug: None,
    }
}

/// fastburn's probabilities for a batch of prepared images, as `predict` computes them.
fn fastburn_probs(model: &AnyModel, info: &ModelInfo, images: &[Pixels]) -> Vec<Vec<f32>> {
    probabilities(model.forward(inputs(info, images, &Device::flex())))
}

/// Prepared images as the model's input batch, normalised as the model file says.
fn inputs(info: &ModelInfo, images: &[Pixels], dev: &Device) -> Tensor<4> {
    let (c, h, w) = (images[0].channels, images[0].height, images[0].width);
    let x: Vec<f32> = images
        .iter()
        .flat_map(|p| Normalize::to_inputs(info.norm.as_ref(), &p.data, c, h * w))
        .collect();
    Tensor::from_data(TensorData::new(x, [images.len(), c, h, w]), dev)
}

/// The ONNX file run by tract on the images' 0..=1 pixels: (probabilities, logits).
fn tract_run(onnx: &[u8], images: &[Pixels]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let shape = [
        images.len(),
        images[0].channels,
        images[0].height,
        images[0].width,
    ];
    let pixels: Vec<f32> = images
        .iter()
        .flat_map(|p| p.data.iter().map(|&v| f32::from(v) / 255.0))
        .collect();
    let out = tract::run(onnx, shape, pixels);
    (out[0].clone(), out[1].clone())
}

/// Export, run in tract, compare: probabilities within 1e-4 of fastburn's, and the photos told
/// apart (a graph that ignored its input would not be).
fn check(arch: Arch, channels: usize, n_out: usize, size: Option<(usize, usize)>) -> Vec<u8> {
    let run_size = size.unwrap_or((28, 28));
    let info = info(arch, channels, n_out, size);
    let model = model(arch, channels, n_out, &info, run_size);
    let images = photos(&ItemTfms::resize(channels, run_size, ResizeMethod::Crop));
    let onnx = fastburn_onnx::to_onnx(&model, &info);
    let (probs, logits) = tract_run(&onnx, &images);
    let expected = fastburn_probs(&model, &info, &images);
    let diff = max_diff(&probs, &expected);
    eprintln!("{}: probabilities within {diff:.1e}", arch.name());
    assert!(
        diff <= 1e-4,
        "{}: ONNX probabilities differ from fastburn's by {diff}: {probs:?} vs {expected:?}",
        arch.name()
    );
    assert_eq!(logits[0].len(), n_out);
    // The photos told apart, with no class certain: the comparison means something.
    let apart = max_diff(&probs[..1], &probs[1..]);
    assert!(apart > 1e-3, "{}: both photos give {probs:?}", arch.name());
    let top = probs.iter().flatten().fold(0f32, |a, &b| a.max(b));
    assert!(top < 0.999, "{}: saturated {probs:?}", arch.name());
    onnx
}

#[test]
fn linear_and_simple_net_give_fastburns_probabilities() {
    // One output: the file gives [1 - p, p], as `predict` does.
    let onnx = check(Arch::Linear, 1, 1, None);
    let proto = ModelProto::decode(&onnx[..]).unwrap();
    let graph = proto.graph.unwrap();
    let dims: Vec<String> = graph.input[0]
        .r#type
        .as_ref()
        .map(|t| format!("{t:?}"))
        .into_iter()
        .collect();
    assert!(dims[0].contains("DimParam(\"batch\")"), "{dims:?}");
    check(Arch::SimpleNet, 1, 1, None);
}

#[test]
fn simple_cnn_gives_fastburns_probabilities() {
    check(Arch::SimpleCnn, 1, 10, Some((28, 28)));
    check(Arch::SimpleCnn, 3, 4, Some((32, 32)));
}

#[test]
fn resnets_with_fastais_head_give_fastburns_probabilities() {
    check(Arch::Resnet18, 3, 4, Some((64, 64)));
    check(Arch::Resnet34, 1, 2, Some((64, 64)));
    // At 64x64 this untrained ResNet-50's last maps are 2x2, and BatchNorm statistics from 24
    // views left channels with so little variance that float32 rounding (tract's order of
    // summation against Flex's) reached 1.6e-4; at 96x96 it is within the bound.
    check(Arch::Resnet50, 3, 3, Some((96, 96)));
}

#[test]
fn efficientnet_lite0_with_fastais_head_gives_fastburns_probabilities() {
    check(Arch::EfficientNetLite0, 3, 4, Some((96, 96)));
}

#[test]
fn a_model_trained_at_the_images_own_size_takes_any_size() {
    let info = info(Arch::SimpleCnn, 1, 10, None);
    let model = model(Arch::SimpleCnn, 1, 10, &info, (28, 28));
    let onnx = fastburn_onnx::to_onnx(&model, &info);
    for size in [(28, 28), (40, 36)] {
        let tfms = ItemTfms::resize(1, size, ResizeMethod::Squish);
        let images = photos(&tfms);
        let (probs, _) = tract_run(&onnx, &images);
        let diff = max_diff(&probs, &fastburn_probs(&model, &info, &images));
        assert!(diff <= 1e-4, "{size:?}: {diff}");
    }
}

#[test]
fn the_file_says_what_goes_in_and_what_comes_out() {
    let mut info = info(Arch::Resnet18, 3, 3, Some((64, 64)));
    let model = model(Arch::Resnet18, 3, 3, &info, (64, 64));
    info.vocab = vec!["grizzly".into(), "black".into(), "teddy".into()];
    let proto = fastburn_onnx::to_model_proto(&model, &info);
    assert_eq!(proto.opset_import[0].version, Some(fastburn_onnx::OPSET));
    let meta = |k: &str| -> serde_json::Value {
        let v = proto
            .metadata_props
            .iter()
            .find(|p| p.key.as_deref() == Some(k))
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("no {k}"));
        serde_json::from_str(&v).unwrap()
    };
    assert_eq!(meta("fastburn.arch"), "resnet18");
    assert_eq!(
        meta("fastburn.classes"),
        serde_json::json!(["grizzly", "black", "teddy"])
    );
    assert_eq!(meta("fastburn.input")["size"], serde_json::json!([64, 64]));
    assert_eq!(meta("fastburn.input")["channels"], 3);
    assert_eq!(
        meta("fastburn.normalize")["mean"][0],
        f64::from(imagenet_stats().mean[0])
    );
    let graph = proto.graph.as_ref().unwrap();
    // Normalisation comes first; no dropout is left in the graph.
    let ops: Vec<&str> = graph
        .node
        .iter()
        .filter_map(|n| n.op_type.as_deref())
        .collect();
    assert_eq!(&ops[..2], ["Sub", "Div"]);
    assert!(!ops.contains(&"Dropout"), "{ops:?}");
    let outputs: Vec<_> = graph
        .output
        .iter()
        .filter_map(|o| o.name.as_deref())
        .collect();
    assert_eq!(outputs, ["probabilities", "logits"]);
    // Weights under their module paths, as PyTorch's exporter names them.
    let names: Vec<_> = graph
        .initializer
        .iter()
        .filter_map(|t| t.name.as_deref())
        .collect();
    for n in [
        "body.conv1.weight",
        "body.layer2.0.downsample.0.weight",
        "head.bn1.running_var",
    ] {
        assert!(names.contains(&n), "no {n} in {names:?}");
    }
}

/// ONNX's own checker (Python's `onnx` package, full check with shape inference) passes every
/// exported architecture. CI installs the package (`PYTHONPATH`); elsewhere this is ignored.
#[test]
#[ignore = "needs Python's onnx package (CI installs it)"]
fn onnxs_checker_passes_every_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    let cases = [
        (Arch::Linear, 1, 1, None),
        (Arch::SimpleNet, 1, 1, None),
        (Arch::SimpleCnn, 1, 10, None),
        (Arch::Resnet18, 3, 4, Some((64, 64))),
        (Arch::Resnet34, 1, 2, Some((64, 64))),
        (Arch::Resnet50, 3, 3, Some((64, 64))),
        (Arch::EfficientNetLite0, 3, 4, Some((96, 96))),
    ];
    for (arch, c, n, size) in cases {
        let path = dir.path().join(format!("{}.onnx", arch.name()));
        let info = info(arch, c, n, size);
        let model = model(arch, c, n, &info, size.unwrap_or((28, 28)));
        fastburn_onnx::save_onnx(&model, &info, &path).unwrap();
        files.push(path);
    }
    let script = "import sys, onnx\n\
                  for p in sys.argv[1:]:\n    \
                  m = onnx.load(p)\n    \
                  onnx.checker.check_model(m, full_check=True)\n    \
                  s = onnx.shape_inference.infer_shapes(m, strict_mode=True)\n    \
                  print(p, 'ok', s.graph.output[0].type.tensor_type.shape)\n";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&files)
        .output()
        .expect("python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "onnx's checker failed:\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches(" ok ").count(),
        files.len()
    );
}
