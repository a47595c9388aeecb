//! Training: fastai's `Learner` with callbacks, the `Recorder`, the epoch table and optimizers.

mod base;
mod callback;
mod optim;
mod progress;
mod recorder;

pub use base::Learner;
pub use callback::{Callback, Control, EpochValues, Event, FitState};
pub use optim::{BasicOptim, BasicStep, OptFunc};
pub use progress::{ProgressTable, format_time};
pub use recorder::Recorder;
