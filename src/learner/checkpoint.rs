//! Runs that survive being killed: a checkpoint holds everything the training loop needs to go on
//! exactly where it stopped (model, optimizer state, the position in the schedule and the data,
//! every callback's state), written atomically so a kill during the write leaves the previous
//! one intact.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::base::Learner;
use super::callback::{Callback, Control};
use crate::error::{Error, IoContext, Result};
use crate::fsutil::write_bytes_atomic;
use crate::models::{Model, load_record_bytes, record_bytes};

const MAGIC: &[u8] = b"fastburn-checkpoint 1\n";

/// Where a resumed run starts: epoch `epoch`, training batch `iter` (0 = the epoch's start;
/// the number of batches = only validation is left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: usize,
    pub iter: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    next: Position,
    n_epoch: usize,
    n_train: usize,
    data_epoch: u64,
    epoch_seconds: f64,
    loss: f32,
    smooth_loss: f32,
    callbacks: BTreeMap<String, String>,
}

/// A checkpoint in memory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub next: Position,
    pub n_epoch: usize,
    pub n_train: usize,
    pub data_epoch: u64,
    pub epoch_seconds: f64,
    pub loss: f32,
    pub smooth_loss: f32,
    callbacks: BTreeMap<String, String>,
    model: Vec<u8>,
    pub opt_state: Vec<u8>,
}

/// Callback keys: the type's name, numbered when a type appears more than once.
fn keys<M: Model>(cbs: &[Box<dyn Callback<M>>]) -> Vec<String> {
    let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
    cbs.iter()
        .map(|c| {
            let name = c.type_name();
            let n = seen.entry(name).or_default();
            *n += 1;
            format!("{name}#{n}")
        })
        .collect()
}

impl Checkpoint {
    pub(crate) fn capture<M: Model>(
        learn: &Learner<M>,
        next: Position,
        epoch_seconds: f64,
        cbs: &[Box<dyn Callback<M>>],
    ) -> Result<Self> {
        let callbacks = keys(cbs)
            .into_iter()
            .zip(cbs)
            .filter_map(|(k, c)| Some((k, c.checkpoint_state()?)))
            .collect();
        Ok(Self {
            next,
            n_epoch: learn.n_epoch,
            n_train: learn.dls.train.len(),
            data_epoch: learn.data_epoch(),
            epoch_seconds,
            loss: learn.loss,
            smooth_loss: learn.smooth_loss,
            callbacks,
            model: record_bytes(&learn.model)?,
            opt_state: learn.opt.state_bytes(),
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let meta = Meta {
            next: self.next,
            n_epoch: self.n_epoch,
            n_train: self.n_train,
            data_epoch: self.data_epoch,
            epoch_seconds: self.epoch_seconds,
            loss: self.loss,
            smooth_loss: self.smooth_loss,
            callbacks: self.callbacks.clone(),
        };
        let meta = serde_json::to_vec(&meta)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        let mut bytes = MAGIC.to_vec();
        for part in [&meta, &self.model, &self.opt_state] {
            bytes.extend_from_slice(&(part.len() as u64).to_le_bytes());
            bytes.extend_from_slice(part);
        }
        write_bytes_atomic(path, &bytes)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        Self::parse(&bytes).ok_or_else(|| Error::ModelFile {
            path: path.to_path_buf(),
            reason: "not a fastburn checkpoint, or truncated; delete it and train from the start"
                .into(),
        })
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        let mut rest = bytes.strip_prefix(MAGIC)?;
        let mut part = || -> Option<Vec<u8>> {
            let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let body = rest.get(8..8usize.checked_add(len)?)?.to_vec();
            rest = &rest[8 + len..];
            Some(body)
        };
        let (meta, model, opt_state) = (part()?, part()?, part()?);
        if !rest.is_empty() {
            return None;
        }
        let meta: Meta = serde_json::from_slice(&meta).ok()?;
        Some(Self {
            next: meta.next,
            n_epoch: meta.n_epoch,
            n_train: meta.n_train,
            data_epoch: meta.data_epoch,
            epoch_seconds: meta.epoch_seconds,
            loss: meta.loss,
            smooth_loss: meta.smooth_loss,
            callbacks: meta.callbacks,
            model,
            opt_state,
        })
    }

    pub(crate) fn load_model<M: Model>(&self, model: M, path: &Path) -> Result<M> {
        load_record_bytes(model, self.model.clone(), path)
    }

    /// A checkpoint only continues the run that wrote it.
    pub(crate) fn check_fits(&self, n_epoch: usize, n_train: usize) -> Result<()> {
        if (self.n_epoch, self.n_train) != (n_epoch, n_train) {
            return Err(Error::Invalid(format!(
                "the checkpoint was written by a run of {} epochs of {} batches, this one has {} of \
                 {}; resume with the same command (epochs, batch size, data) or start afresh \
                 without --resume",
                self.n_epoch, self.n_train, n_epoch, n_train
            )));
        }
        Ok(())
    }

    pub(crate) fn restore_callbacks<M: Model>(
        &self,
        cbs: &mut [Box<dyn Callback<M>>],
    ) -> Result<()> {
        for (key, cb) in keys(cbs).into_iter().zip(cbs.iter_mut()) {
            if let Some(state) = self.callbacks.get(&key) {
                cb.restore_state(state)?;
            }
        }
        Ok(())
    }
}

/// Writes a checkpoint after every epoch and, within long epochs, every `every` of training
/// (fastai has no such callback; its `SaveModelCallback(every_epoch=True)` saves only weights).
pub struct CheckpointCallback {
    pub path: PathBuf,
    pub every: Option<Duration>,
    last: Instant,
}

impl CheckpointCallback {
    pub fn new(path: impl Into<PathBuf>, every: Option<Duration>) -> Self {
        Self {
            path: path.into(),
            every,
            last: Instant::now(),
        }
    }
}

impl<M: Model> Callback<M> for CheckpointCallback {
    // After the recorder and trackers, so their state at this point is what is saved.
    fn order(&self) -> i32 {
        90
    }
    fn before_fit(&mut self, _learn: &mut Learner<M>) -> Result<Control> {
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
    fn after_batch(&mut self, learn: &mut Learner<M>) -> Result<Control> {
        if learn.training && self.every.is_some_and(|e| self.last.elapsed() >= e) {
            learn.checkpoint_due = Some(self.path.clone());
            self.last = Instant::now();
        }
        Ok(Control::Continue)
    }
    fn after_epoch(&mut self, learn: &mut Learner<M>) -> Result<Control> {
        learn.checkpoint_due = Some(self.path.clone());
        self.last = Instant::now();
        Ok(Control::Continue)
    }
}

/// Ctrl-C, once: finish the batch, write a checkpoint, and stop with an error that says how to
/// resume. The flag is set by whoever handles the signal (the `fastburn` binary); the library
/// installs no signal handler of its own.
pub struct InterruptCallback {
    pub flag: Arc<AtomicBool>,
    pub path: PathBuf,
    /// The command to run to go on, for the message.
    pub resume_hint: String,
}

impl<M: Model> Callback<M> for InterruptCallback {
    fn order(&self) -> i32 {
        95
    }
    fn after_batch(&mut self, learn: &mut Learner<M>) -> Result<Control> {
        if !self.flag.load(Ordering::SeqCst) {
            return Ok(Control::Continue);
        }
        learn.checkpoint_due = Some(self.path.clone());
        Err(Error::Interrupted {
            path: self.path.clone(),
            hint: self.resume_hint.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refuses_truncations_and_round_trips() {
        let ck = Checkpoint {
            next: Position { epoch: 1, iter: 3 },
            n_epoch: 2,
            n_train: 10,
            data_epoch: 0,
            epoch_seconds: 1.5,
            loss: 0.25,
            smooth_loss: 0.5,
            callbacks: [("a#1".to_string(), "[1,2]".to_string())].into(),
            model: vec![1, 2, 3],
            opt_state: vec![4, 5],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck");
        ck.write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let back = Checkpoint::parse(&bytes).unwrap();
        assert_eq!(back.next, ck.next);
        assert_eq!((back.model, back.opt_state), (ck.model, ck.opt_state));
        assert_eq!(back.callbacks, ck.callbacks);
        for cut in 0..bytes.len() {
            assert!(Checkpoint::parse(&bytes[..cut]).is_none(), "cut at {cut}");
        }
    }
}
