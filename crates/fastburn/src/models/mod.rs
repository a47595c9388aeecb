//! Models: the chapter's linear model and `simple_net`, as Burn modules, and a file format that
//! remembers which architecture and classes a saved model has.

mod batch_norm;
mod conv;
mod efficientnet;
mod file;
mod head;
mod imagenet;
mod linear;
mod predictor;
mod pytorch;
mod resnet;
mod simple_cnn;
mod simple_net;

use burn::module::Module;
use burn::prelude::*;
use burn::store::{ModuleRecord, RecordError};

pub use batch_norm::{batch_norm, batch_norm_add_relu, batch_norm_relu, batch_norm_relu6};
pub use efficientnet::{
    EfficientNet, EfficientNetLite, EfficientNetLiteBody, LITE0_FEATURES, LITE0_IMAGE_SIZE,
    MBConvBlock, efficientnet_lite0,
};
pub use file::{ModelInfo, load_into, load_model, load_model_bytes, read_model_info, save_model};
pub(crate) use file::{load_record_bytes, record_bytes};
pub use head::FastaiHead;
pub use imagenet::{ImageNetArch, ImageNetModel, WeightsUrl, imagenet_classes, imagenet_stats};
pub use linear::{LinearModel, linear};
pub use predictor::{InputSize, Predictor};
pub use pytorch::{StateDict, load_state_dict, load_state_dict_as};
pub use resnet::{
    BasicBlock, ResNet, ResNetBody, ResNetDepth, TorchvisionResNet, resnet18, resnet34, resnet50,
};
pub use simple_cnn::{ConvLayer, SIMPLE_CNN_LAYERS, SimpleCnn, simple_cnn, simple_cnn_with};
pub use simple_net::{SimpleNet, simple_net};

/// What a [`Learner`](crate::learner::Learner) trains: images `[batch, channels, h, w]` in,
/// one row of outputs per image out.
pub trait Model: Module + Clone + std::fmt::Debug + Send + 'static {
    fn forward(&self, x: Tensor<4>) -> Tensor<2>;
    /// Outputs per image (stored in the model file).
    fn n_out(&self) -> usize;
    /// The architecture a model file names, for models `fastburn` can rebuild from a file.
    fn arch(&self) -> Option<Arch> {
        None
    }
    /// Parameter groups as path prefixes, body first (fastai's `splitter`): each group gets its
    /// own learning rate, and `freeze` trains only the last. One group by default.
    fn param_groups(&self) -> Vec<String> {
        vec![String::new()]
    }
    /// Parameters (by path) whose optimizer steps are scaled: a parameter that stands for the
    /// sum of several (a 1-channel stem standing for fastai's 3-channel one on grey images) moves
    /// as far as their sum does. None by default.
    fn step_multipliers(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
    /// The parameters as Burn's record, as model files and checkpoints store them. A model that
    /// holds another ([`AnyModel`]) records that one, so a file does not depend on how the model
    /// was held.
    fn record(&self) -> ModuleRecord {
        self.clone().into_record()
    }
    /// This model with the parameters of `record` (as [`record`](Self::record) wrote them).
    fn with_record(self, record: ModuleRecord) -> Result<Self, RecordError> {
        self.try_load_record(record)
    }
}

/// The architectures fastburn builds by name (and a model file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// `nn.Linear(28*28, 1)`
    Linear,
    /// `nn.Sequential(nn.Linear(28*28,30), nn.ReLU(), nn.Linear(30,1))`
    SimpleNet,
    /// torchvision's ResNet-18 with fastai's head: from ImageNet weights with `pretrained`, else
    /// from scratch
    Resnet18,
    /// torchvision's ResNet-34 with fastai's head: from ImageNet weights with `pretrained`, else
    /// from scratch
    Resnet34,
    /// a small CNN for small images (fastai's `simple_cnn` idea; the all-digits recipe)
    SimpleCnn,
    /// EfficientNet-Lite0 (`efficientnet-lite-pytorch`) with fastai's head: from ImageNet
    /// weights with `pretrained`, else from scratch
    EfficientNetLite0,
    /// torchvision's ResNet-50 (bottleneck blocks) with fastai's head: from ImageNet weights with
    /// `pretrained`, else from scratch
    Resnet50,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Linear => "linear",
            Arch::SimpleNet => "simple-net",
            Arch::Resnet18 => "resnet18",
            Arch::Resnet34 => "resnet34",
            Arch::SimpleCnn => "simple-cnn",
            Arch::EfficientNetLite0 => "efficientnet-lite0",
            Arch::Resnet50 => "resnet50",
        }
    }

    /// Every architecture, in the order the command line lists them.
    pub const ALL: [Arch; 7] = [
        Arch::Linear,
        Arch::SimpleNet,
        Arch::Resnet18,
        Arch::Resnet34,
        Arch::Resnet50,
        Arch::SimpleCnn,
        Arch::EfficientNetLite0,
    ];

    pub fn from_name(name: &str) -> Option<Arch> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// What the architecture is, in a line (the command line's help).
    pub fn about(self) -> &'static str {
        match self {
            Arch::Linear => "nn.Linear(28*28, 1)",
            Arch::SimpleNet => "nn.Sequential(nn.Linear(28*28,30), nn.ReLU(), nn.Linear(30,1))",
            Arch::Resnet18 => "torchvision's ResNet-18 with fastai's head",
            Arch::Resnet34 => "torchvision's ResNet-34 with fastai's head",
            Arch::Resnet50 => "torchvision's ResNet-50 with fastai's head",
            Arch::SimpleCnn => {
                "five 3x3 conv-BatchNorm-ReLU layers (32-32/2-64-64/2-128), concat pool, linear"
            }
            Arch::EfficientNetLite0 => {
                "EfficientNet-Lite0 with fastai's head; ImageNet weights with --pretrained"
            }
        }
    }

    /// True for the convolutional models, which take normalised 1-channel images and are
    /// trained with cross-entropy over the classes.
    pub fn is_vision(self) -> bool {
        matches!(
            self,
            Arch::Resnet18
                | Arch::Resnet34
                | Arch::Resnet50
                | Arch::SimpleCnn
                | Arch::EfficientNetLite0
        )
    }

    /// A freshly initialised model of this architecture with `n_out` outputs, for 28x28 grey
    /// images (the ResNets take any size of 1-channel image).
    pub fn build(self, n_out: usize, device: &Device) -> AnyModel {
        self.build_for(1, n_out, device)
    }

    /// [`build`](Self::build) for `n_in`-channel images (3 for colour); the linear models take
    /// 28x28 grey digits only.
    pub fn build_for(self, n_in: usize, n_out: usize, device: &Device) -> AnyModel {
        match self {
            Arch::Linear => AnyModel::Linear(linear(28 * 28, n_out, device)),
            Arch::SimpleNet => AnyModel::SimpleNet(simple_net(28 * 28, 30, n_out, device)),
            Arch::Resnet18 => AnyModel::ResNet(resnet18(n_in, n_out, device)),
            Arch::Resnet34 => AnyModel::ResNet(resnet34(n_in, n_out, device)),
            Arch::Resnet50 => AnyModel::ResNet(resnet50(n_in, n_out, device)),
            Arch::SimpleCnn => AnyModel::SimpleCnn(simple_cnn(n_in, n_out, device)),
            Arch::EfficientNetLite0 => {
                AnyModel::EfficientNet(efficientnet_lite0(n_in, n_out, device))
            }
        }
    }
}

/// A model of any known architecture, as loaded from a file. It is a [`Model`] itself, so a
/// loaded file can be trained further or served without matching on its architecture.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyModel {
    Linear(LinearModel),
    SimpleNet(SimpleNet),
    ResNet(ResNet),
    SimpleCnn(SimpleCnn),
    EfficientNet(EfficientNet),
}

/// Classify one image, prepared by its item transforms
/// ([`ItemTfms::prepare`](crate::data::ItemTfms::prepare)), as the model was trained: normalised
/// with `norm`, then the sigmoid for one output, the softmax otherwise. Returns the class index and
/// its probability. Call on a [`valid`](Module::valid) model.
///
/// ```
/// use burn::prelude::*;
/// use fastburn::data::{ItemTfms, ResizeMethod};
/// use fastburn::models::{classify, simple_cnn};
/// let net = simple_cnn(3, 4, &Device::flex()).valid();
/// let photo = image::DynamicImage::ImageRgb8(image::RgbImage::new(40, 30));
/// let input = ItemTfms::resize(3, (32, 32), ResizeMethod::Crop).prepare(&photo);
/// let (class, prob) = classify(&net, None, &input);
/// assert!(class < 4 && (0.0..=1.0).contains(&prob));
/// ```
pub fn classify<M: Model>(
    model: &M,
    norm: Option<&crate::data::Normalize>,
    img: &crate::data::Pixels,
) -> (usize, f32) {
    let (c, h, w) = (img.channels, img.height, img.width);
    let probs =
        predict_pixels(model, norm, &img.data, [1, c, h, w], &device_of(model)).swap_remove(0);
    let best = argmax(&probs);
    (best, probs[best])
}

/// The index of the largest value (the first of equals; 0 for an empty slice): a prediction's
/// class from its probabilities.
///
/// ```
/// assert_eq!(fastburn::models::argmax(&[0.1, 0.7, 0.2]), 1);
/// ```
pub fn argmax(p: &[f32]) -> usize {
    (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b })
}

/// Class probabilities for `n` images of `c x h x w` planar bytes (0..=255), one forward pass on
/// `device`: pixels / 255, then `norm`, as the model was trained. One row per image.
/// [`classify`] and [`Predictor`] both answer through it, so they cannot prepare inputs apart.
pub(crate) fn predict_pixels<M: Model>(
    model: &M,
    norm: Option<&crate::data::Normalize>,
    pixels: &[u8],
    [n, c, h, w]: [usize; 4],
    device: &Device,
) -> Vec<Vec<f32>> {
    let x = crate::data::Normalize::to_inputs(norm, pixels, c, h * w);
    let x = Tensor::<4>::from_data(TensorData::new(x, [n, c, h, w]), device);
    probabilities(model.forward(x))
}

/// Where a module's weights are: the CPU, or a GPU with the cuda/wgpu features (Flex for a
/// module without parameters).
pub(crate) fn device_of<M: Module>(module: &M) -> Device {
    module
        .devices()
        .into_iter()
        .next()
        .unwrap_or_else(Device::flex)
}

impl Model for AnyModel {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            AnyModel::Linear(m) => m.forward(x),
            AnyModel::SimpleNet(m) => m.forward(x),
            AnyModel::ResNet(m) => m.forward(x),
            AnyModel::SimpleCnn(m) => m.forward(x),
            AnyModel::EfficientNet(m) => m.forward(x),
        }
    }
    fn n_out(&self) -> usize {
        match self {
            AnyModel::Linear(m) => m.n_out(),
            AnyModel::SimpleNet(m) => m.n_out(),
            AnyModel::ResNet(m) => m.n_out(),
            AnyModel::SimpleCnn(m) => m.n_out(),
            AnyModel::EfficientNet(m) => m.n_out(),
        }
    }
    fn arch(&self) -> Option<Arch> {
        match self {
            AnyModel::Linear(m) => m.arch(),
            AnyModel::SimpleNet(m) => m.arch(),
            AnyModel::ResNet(m) => m.arch(),
            AnyModel::SimpleCnn(m) => m.arch(),
            AnyModel::EfficientNet(m) => m.arch(),
        }
    }
    fn param_groups(&self) -> Vec<String> {
        // The enum adds its variant's name to every path.
        let (variant, groups) = match self {
            AnyModel::Linear(m) => ("Linear", m.param_groups()),
            AnyModel::SimpleNet(m) => ("SimpleNet", m.param_groups()),
            AnyModel::ResNet(m) => ("ResNet", m.param_groups()),
            AnyModel::SimpleCnn(m) => ("SimpleCnn", m.param_groups()),
            AnyModel::EfficientNet(m) => ("EfficientNet", m.param_groups()),
        };
        groups
            .into_iter()
            .map(|g| {
                if g.is_empty() {
                    g
                } else {
                    format!("{variant}.{g}")
                }
            })
            .collect()
    }
    fn record(&self) -> ModuleRecord {
        match self {
            AnyModel::Linear(m) => m.record(),
            AnyModel::SimpleNet(m) => m.record(),
            AnyModel::ResNet(m) => m.record(),
            AnyModel::SimpleCnn(m) => m.record(),
            AnyModel::EfficientNet(m) => m.record(),
        }
    }
    fn with_record(self, record: ModuleRecord) -> Result<Self, RecordError> {
        Ok(match self {
            AnyModel::Linear(m) => AnyModel::Linear(m.with_record(record)?),
            AnyModel::SimpleNet(m) => AnyModel::SimpleNet(m.with_record(record)?),
            AnyModel::ResNet(m) => AnyModel::ResNet(m.with_record(record)?),
            AnyModel::SimpleCnn(m) => AnyModel::SimpleCnn(m.with_record(record)?),
            AnyModel::EfficientNet(m) => AnyModel::EfficientNet(m.with_record(record)?),
        })
    }
    fn step_multipliers(&self) -> Vec<(String, f64)> {
        let (variant, mults) = match self {
            AnyModel::Linear(m) => ("Linear", m.step_multipliers()),
            AnyModel::SimpleNet(m) => ("SimpleNet", m.step_multipliers()),
            AnyModel::ResNet(m) => ("ResNet", m.step_multipliers()),
            AnyModel::SimpleCnn(m) => ("SimpleCnn", m.step_multipliers()),
            AnyModel::EfficientNet(m) => ("EfficientNet", m.step_multipliers()),
        };
        mults
            .into_iter()
            .map(|(p, m)| (format!("{variant}.{p}"), m))
            .collect()
    }
}

/// Number of trainable parameters, as PyTorch counts them: Burn's `num_params` also counts
/// BatchNorm's running mean and variance, which PyTorch keeps as buffers.
///
/// ```
/// use burn::prelude::*;
/// let net = fastburn::models::resnet18(3, 2, &Device::flex());
/// assert_eq!(fastburn::models::trainable_params(&net.body), 11_176_512);
/// ```
pub fn trainable_params<M: Module>(module: &M) -> usize {
    #[derive(Default)]
    struct Count {
        path: Vec<String>,
        total: usize,
    }
    impl burn::module::ModuleVisitor for Count {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            let buffer = self
                .path
                .last()
                .is_some_and(|n| n == "running_mean" || n == "running_var");
            if !buffer {
                self.total += param.shape().num_elements();
            }
        }
    }
    let mut count = Count::default();
    module.visit(&mut count);
    count.total
}

/// One image's answer as `fastburn serve` and the exported web page give it, classes by name (by
/// index for an output `classes` does not name), in the model's order:
///
/// ```
/// let a = fastburn::models::prediction_json(&["3".into(), "7".into()], &[0.25, 0.75]);
/// assert_eq!(a.to_string(), r#"{"class":"7","probability":0.75,"probabilities":{"3":0.25,"7":0.75}}"#);
/// ```
pub fn prediction_json(classes: &[String], probs: &[f32]) -> serde_json::Value {
    let best = argmax(probs);
    let name = |i: usize| classes.get(i).cloned().unwrap_or_else(|| i.to_string());
    let all: serde_json::Map<String, serde_json::Value> = probs
        .iter()
        .enumerate()
        .map(|(i, &p)| (name(i), serde_json::json!(p)))
        .collect();
    serde_json::json!({
        "class": name(best),
        "probability": probs.get(best).copied().unwrap_or(0.0),
        "probabilities": all,
    })
}

/// Class probabilities from raw outputs, one row per item, as fastai's `get_preds` gives them:
/// the softmax over classes, or for a single output (the chapter's 3-vs-7 models) the sigmoid
/// as `[1 - p, p]`, so that label 1 ("3") has probability `p`.
///
/// ```
/// use fastburn::prelude::*;
/// let dev = Device::flex();
/// let two_classes = Tensor::<2>::from_floats([[0.0, 0.0], [2.0, 0.0]], &dev);
/// let p = fastburn::models::probabilities(two_classes);
/// assert_eq!(p[0], [0.5, 0.5]);
/// assert!((p[1][0] - 0.8808).abs() < 1e-4);
/// let one_output = Tensor::<2>::from_floats([[0.0]], &dev);
/// assert_eq!(fastburn::models::probabilities(one_output)[0], [0.5, 0.5]);
/// ```
pub fn probabilities(out: Tensor<2>) -> Vec<Vec<f32>> {
    let [b, c] = out.dims();
    let (probs, c) = if c == 1 {
        let p: Vec<f32> = burn::tensor::activation::sigmoid(out)
            .into_data()
            .iter::<f32>()
            .collect();
        (
            p.iter().flat_map(|&p| [1.0 - p, p]).collect::<Vec<f32>>(),
            2,
        )
    } else {
        let p = burn::tensor::activation::softmax(out, 1);
        (p.into_data().iter::<f32>().collect(), c)
    };
    (0..b).map(|i| probs[i * c..(i + 1) * c].to_vec()).collect()
}
