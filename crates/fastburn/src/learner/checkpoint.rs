//! Runs that survive being killed: a checkpoint holds everything the training loop needs to go on
//! exactly where it stopped (model, optimizer state, the position in the schedule and the data,
//! every callback's state), in fastburn's one file format (`crate::container`), written
//! atomically so a kill during the write leaves the previous one intact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::base::{FitState, Learner};
use super::callback::{Callback, Control};
use super::optimizer::{Optimizer, OptimizerRecord};
use crate::container;
use crate::error::{Error, FileKind, Result};
use crate::models::{Model, load_record_bytes, record_bytes};

/// Where a resumed run starts: epoch `epoch`, training batch `iter` (0 = the epoch's start;
/// the number of batches = only validation is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: usize,
    pub iter: usize,
}

/// Which fit of a run a checkpoint was written in: a plain fit, or one of
/// [`fine_tune`](Learner::fine_tune)'s two (the body frozen, then everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Stage {
    #[default]
    Fit,
    Frozen,
    Unfrozen,
}

impl Stage {
    /// What the stage is, for a message.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Fit => "a fit",
            Stage::Frozen => "fine_tune's first fit (body frozen)",
            Stage::Unfrozen => "fine_tune's second fit (unfrozen)",
        }
    }
}

/// A checkpoint in memory: its header, the model's record and the optimizer's buffers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The fit it was written in (checkpoints from before fine-tuning could resume are `Fit`).
    #[serde(default)]
    pub stage: Stage,
    pub next: Position,
    pub n_epoch: usize,
    pub n_train: usize,
    /// The processes of the data-parallel run that wrote it (1: one process); a run resumes
    /// only with as many, its batches split the same way.
    #[serde(default = "one")]
    pub ranks: usize,
    pub data_epoch: u64,
    pub epoch_seconds: f64,
    pub loss: f32,
    pub smooth_loss: f32,
    /// Each callback's state, by type (`Recorder`, `fastburn::learner::ProgressCallback#1`, ...).
    pub callbacks: BTreeMap<String, serde_json::Value>,
    pub optimizer: OptimizerRecord,
    #[serde(skip)]
    model: Vec<u8>,
    #[serde(skip)]
    buffers: Vec<u8>,
}

fn one() -> usize {
    1
}

fn bad(path: &Path, reason: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.to_path_buf(),
        kind: FileKind::Checkpoint,
        reason: reason.into(),
    }
}

impl Checkpoint {
    /// The learner as it is at `next`, within the fit `fit`.
    pub(crate) fn capture<M: Model>(
        learn: &Learner<M>,
        fit: &FitState,
        next: Position,
        path: &Path,
    ) -> Result<Self> {
        let (optimizer, buffers) = learn.opt.save_state();
        let tensors = buffers
            .into_iter()
            .map(|(name, values)| {
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                burn_pack::Tensor::new(
                    name,
                    burn_pack::DType::F32,
                    vec![values.len()],
                    None,
                    burn_pack::Bytes::from_bytes_vec(bytes),
                )
            })
            .collect();
        let buffers = burn_pack::Writer::new(tensors)
            .into_bytes()
            .map_err(|e| bad(path, format!("cannot record the optimizer: {e}")))?
            .to_vec();
        Ok(Self {
            stage: learn.stage,
            next,
            n_epoch: fit.n_epoch,
            n_train: learn.dls.train.len(),
            ranks: learn.world_size(),
            data_epoch: fit.data_epoch,
            epoch_seconds: if next.iter == 0 {
                0.0
            } else {
                fit.epoch_seconds()
            },
            loss: fit.loss,
            smooth_loss: fit.smooth_loss,
            callbacks: learn.callback_states(),
            optimizer,
            model: record_bytes(&learn.model)
                .map_err(|e| bad(path, format!("cannot record the model: {e}")))?,
            buffers,
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        container::write(
            path,
            FileKind::Checkpoint,
            self,
            &[("model", &self.model), ("optimizer", &self.buffers)],
        )
    }

    pub fn read(path: &Path) -> Result<Self> {
        let (mut ck, mut sections) = container::read::<Checkpoint>(path, FileKind::Checkpoint)?;
        ck.model = container::take(&mut sections, "model", path, FileKind::Checkpoint)?;
        ck.buffers = container::take(&mut sections, "optimizer", path, FileKind::Checkpoint)?;
        Ok(ck)
    }

    /// `model` and `opt` with the checkpoint's weights and optimizer state.
    pub(crate) fn restore<M: Model>(
        &self,
        model: M,
        mut opt: Optimizer,
        path: &Path,
    ) -> Result<(M, Optimizer)> {
        let model = load_record_bytes(model, self.model.clone()).map_err(|e| bad(path, e))?;
        let reader =
            burn_pack::Reader::from_bytes(burn_pack::Bytes::from_bytes_vec(self.buffers.clone()))
                .and_then(|r| r.into_tensors())
                .map_err(|e| bad(path, format!("its optimizer state is unreadable ({e})")))?;
        let mut buffers = BTreeMap::new();
        for t in reader {
            let (name, dtype, _, _, bytes) = t
                .into_parts()
                .map_err(|e| bad(path, format!("its optimizer state is unreadable ({e})")))?;
            if dtype != burn_pack::DType::F32 {
                return Err(bad(path, format!("its optimizer buffer {name} is not f32")));
            }
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            buffers.insert(name, values);
        }
        opt.load_state(self.optimizer.clone(), &mut buffers)
            .map_err(|e| bad(path, format!("its optimizer state does not fit: {e}")))?;
        Ok((model, opt))
    }

    /// A checkpoint only continues the run that wrote it.
    pub(crate) fn check_fits(
        &self,
        stage: Stage,
        n_epoch: usize,
        n_train: usize,
        ranks: usize,
        path: &Path,
    ) -> Result<()> {
        if self.stage != stage {
            return Err(Error::CheckpointStage {
                path: path.to_path_buf(),
                saved: self.stage.describe(),
                now: stage.describe(),
            });
        }
        if (self.n_epoch, self.n_train) != (n_epoch, n_train) {
            return Err(Error::CheckpointMismatch {
                path: path.to_path_buf(),
                saved: (self.n_epoch, self.n_train),
                now: (n_epoch, n_train),
            });
        }
        if self.ranks != ranks {
            return Err(Error::CheckpointRanks {
                path: path.to_path_buf(),
                saved: self.ranks,
                now: ranks,
            });
        }
        Ok(())
    }

    /// Give the learner's callbacks their saved states.
    pub(crate) fn restore_callbacks<M: Model>(
        &self,
        learn: &mut Learner<M>,
        path: &Path,
    ) -> Result<()> {
        learn
            .restore_callback_states(&self.callbacks)
            .map_err(|(key, e)| bad(path, format!("the state of {key} is unreadable ({e})")))
    }
}

/// Writes a checkpoint after every epoch and, within long epochs, every `every` of training
/// (fastai has no such callback; its `SaveModelCallback(every_epoch=True)` saves only weights);
/// and, when given a flag (set by a Ctrl-C handler), finishes the batch, writes one and stops
/// with [`Error::Interrupted`].
///
/// It runs after every other callback, so that what it saves is their state at the end of the
/// batch or epoch. The library installs no signal handler: whoever handles the signal sets the
/// flag (the `fastburn` binary does).
pub struct CheckpointCallback {
    pub path: PathBuf,
    pub every: Option<Duration>,
    pub interrupt: Option<Arc<AtomicBool>>,
    last: Instant,
}

impl CheckpointCallback {
    pub fn new(path: impl Into<PathBuf>, every: Option<Duration>) -> Self {
        Self {
            path: path.into(),
            every,
            interrupt: None,
            last: Instant::now(),
        }
    }

    /// Stop at the end of the batch during which `flag` is set, after writing a checkpoint.
    pub fn on_interrupt(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    fn write<M: Model>(
        &mut self,
        learn: &Learner<M>,
        fit: &FitState,
        next: Position,
    ) -> Result<()> {
        // In a data-parallel run every rank holds the same model and optimizer: rank 0 writes.
        if learn.rank() != 0 {
            return Ok(());
        }
        Checkpoint::capture(learn, fit, next, &self.path)?.write(&self.path)?;
        self.last = Instant::now();
        Ok(())
    }
}

impl<M: Model> Callback<M> for CheckpointCallback {
    fn order(&self) -> i32 {
        i32::MAX
    }

    fn before_fit(&mut self, _learn: &mut Learner<M>, _fit: &mut FitState) -> Result<Control> {
        self.last = Instant::now();
        // A run killed while writing leaves its temporary file (never the checkpoint itself,
        // which is renamed into place whole): clear those.
        if let Some(dir) = self.path.parent().and_then(|d| std::fs::read_dir(d).ok()) {
            for e in dir.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".fastburn-") && name.ends_with(".part") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Control::Continue)
    }

    fn after_batch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        if !fit.training {
            return Ok(Control::Continue);
        }
        let next = Position {
            epoch: fit.epoch,
            iter: fit.iter + 1,
        };
        if self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            self.write(learn, fit, next)?;
            return Err(Error::Interrupted {
                path: self.path.clone(),
            });
        }
        if self.every.is_some_and(|e| self.last.elapsed() >= e) {
            self.write(learn, fit, next)?;
        }
        Ok(Control::Continue)
    }

    fn after_epoch(&mut self, learn: &mut Learner<M>, fit: &mut FitState) -> Result<Control> {
        let next = Position {
            epoch: fit.epoch + 1,
            iter: 0,
        };
        self.write(learn, fit, next)?;
        Ok(Control::Continue)
    }
}
