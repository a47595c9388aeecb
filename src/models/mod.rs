//! Models: the chapter's linear model and `simple_net`, as Burn modules, and a file format that
//! remembers which architecture and classes a saved model has.

mod file;
mod linear;
mod simple_net;

use burn::module::Module;
use burn::prelude::*;

pub use file::{ModelInfo, load_into, load_model, save_model};
pub use linear::{LinearModel, linear};
pub use simple_net::{SimpleNet, simple_net};

/// What a [`Learner`](crate::learner::Learner) trains: images `[batch, channels, h, w]` in,
/// one row of outputs per image out.
pub trait Model: Module + Clone + std::fmt::Debug + Send + 'static {
    fn forward(&self, x: Tensor<4>) -> Tensor<2>;
}

/// The architectures the command line knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// `nn.Linear(28*28, 1)`
    Linear,
    /// `nn.Sequential(nn.Linear(28*28,30), nn.ReLU(), nn.Linear(30,1))`
    SimpleNet,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Linear => "linear",
            Arch::SimpleNet => "simple-net",
        }
    }

    pub fn from_name(name: &str) -> Option<Arch> {
        [Arch::Linear, Arch::SimpleNet]
            .into_iter()
            .find(|a| a.name() == name)
    }

    /// A freshly initialised model of this architecture with `n_out` outputs.
    pub fn build(self, n_out: usize, device: &Device) -> AnyModel {
        match self {
            Arch::Linear => AnyModel::Linear(linear(28 * 28, n_out, device)),
            Arch::SimpleNet => AnyModel::SimpleNet(simple_net(28 * 28, 30, n_out, device)),
        }
    }
}

/// A model of any known architecture, as loaded from a file.
#[derive(Debug, Clone)]
pub enum AnyModel {
    Linear(LinearModel),
    SimpleNet(SimpleNet),
}

impl AnyModel {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match self {
            AnyModel::Linear(m) => m.forward(x),
            AnyModel::SimpleNet(m) => m.forward(x),
        }
    }

    pub fn num_params(&self) -> usize {
        match self {
            AnyModel::Linear(m) => m.num_params(),
            AnyModel::SimpleNet(m) => m.num_params(),
        }
    }
}
