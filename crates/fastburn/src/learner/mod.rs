//! Training: fastai's `Learner`, one small loop, and the callbacks that carry every training
//! policy (schedules, lr_find, recording, progress, saving, early stopping, checkpoints).
//!
//! | file | what |
//! |---|---|
//! | `base` | `Learner`, the loop, `fit`, freezing, saving |
//! | `callback` | the `Callback` trait, `Event`, `Control` |
//! | `optimizer` | `Optimizer` with parameter groups, the open `Stepper` trait, `Sgd`, `Adam` |
//! | `schedule` | `ParamScheduler`, `OneCycle`, `fit_one_cycle` |
//! | `lr_find` | `LRFinder`, `lr_find`, `valley`, `slide`, `minimum`, `steep` (`Suggestions`) |
//! | `recorder`, `progress`, `csv_logger` | `Recorder`, `ProgressCallback`, `CSVLogger` |
//! | `tracker` | `SaveModelCallback`, `EarlyStoppingCallback`, `ReduceLROnPlateau`, `TerminateOnNaN` |
//! | `checkpoint` | `Checkpoint`, `CheckpointCallback` (and Ctrl-C), resuming |
//! | `recipe` | `Recipe`: how each architecture trains when nothing else is said |
//! | `basic_optim` | the chapter's `BasicOptim` over raw tensors |
//! | `vision`, `interpret` | `vision_learner`, `ClassificationInterpretation` |
//! | `tta` | `Learner::tta`, `get_preds`, `predict_tta` (test-time augmentation) |

mod base;
mod basic_optim;
mod callback;
mod checkpoint;
mod csv_logger;
mod interpret;
mod lr_find;
mod optimizer;
mod progress;
mod recipe;
mod recorder;
mod schedule;
mod tracker;
mod tta;
mod vision;

pub use base::{FitState, Learner, Lr};
pub use basic_optim::BasicOptim;
pub use callback::{AsAny, Callback, Control, EpochValues, Event};
pub use checkpoint::{Checkpoint, CheckpointCallback, Position};
pub use csv_logger::CSVLogger;
pub use interpret::{ClassificationInterpretation, show_batch};
pub use lr_find::{LRFinder, LrFind, Suggestion, Suggestions, valley};
pub use optimizer::{
    ADAM, Adam, Hypers, Optimizer, OptimizerRecord, ParamInfo, ParamState, SGD, Sgd, StateMismatch,
    Stepper, Update,
};
pub use progress::{ProgressCallback, ProgressTable, format_time};
pub use recipe::Recipe;
pub use recorder::{Recorder, SmoothLoss};
pub use schedule::{
    FINE_TUNE_LR, FineTune, Hyper, OneCycle, ParamScheduler, Sched, combined_cos, sched_cos,
};
pub use tracker::{
    EarlyStoppingCallback, ReduceLROnPlateau, SaveModelCallback, TerminateOnNaN, Tracker,
};
pub use tta::{Preds, predict_tta};
pub use vision::{vision_learner, vision_learner_pretrained};
