//! Training: fastai's `Learner` with callbacks, the `Recorder`, the epoch table and optimizers.

mod base;
mod callback;
mod fastai_adam;
mod interpret;
mod lr_find;
mod optim;
mod progress;
mod recorder;
mod schedule;
mod vision;

pub use base::Learner;
pub use callback::{Callback, Control, EpochValues, Event, FitState};
pub use fastai_adam::{FastaiAdam, FastaiAdamState, MomentumHandle};
pub use interpret::{ClassificationInterpretation, show_batch};
pub use lr_find::{LrFind, valley};
pub use optim::{BasicOptim, BasicStep, OptFunc};
pub use progress::BatchBar;
pub use progress::{ProgressTable, format_time};
pub use recorder::Recorder;
pub use schedule::{OneCycle, combined_cos, sched_cos};
pub use vision::vision_learner;
