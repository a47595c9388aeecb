//! Micro-batching: requests queue for one inference thread, which runs one forward pass over
//! every image waiting and answers each request through its own oneshot channel.
//!
//! Why: a forward pass over 32 images costs far less than 32 passes over one (one matrix product
//! instead of 32, one dispatch per layer), so under load the server does more work per pass
//! instead of falling behind. Batches form on their own: while one pass runs, new requests queue,
//! and the next pass takes them all. An optional wait (`max_wait`) holds a batch open a little
//! longer for more requests, trading latency for bigger batches.
//!
//! The queue is bounded: when it is full a request is refused at once ([`BatchError::Busy`]) and
//! answered 503, instead of memory growing with a backlog that would only be answered too late.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use fastburn::models::Predictor;

/// One request's images and where to send their class probabilities.
struct Job {
    images: Vec<Vec<u8>>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, String>>,
}

/// Why the batcher did not predict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The queue is full: too many requests are waiting already.
    #[error("server busy: {0} requests are already waiting for the model; retry shortly")]
    Busy(usize),
    /// The inference thread has stopped (shutting down).
    #[error("the server is shutting down")]
    Stopped,
    /// The forward pass failed (it panicked; the thread keeps serving).
    #[error("inference failed: {0}")]
    Failed(String),
}

/// How batches are formed.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// The most images in one forward pass.
    pub max_batch: usize,
    /// How long to hold a batch open for more requests once the queue is empty (zero: run as
    /// soon as the queue is drained).
    pub max_wait: Duration,
    /// The most requests waiting; more are refused with [`BatchError::Busy`].
    pub queue: usize,
}

/// The handle requests use to reach the inference thread. Dropping every clone stops it.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
    queue: usize,
}

/// The inference thread; [`join`](Worker::join) it after the last [`Batcher`] is dropped.
pub struct Worker(JoinHandle<()>);

impl Worker {
    /// Wait for the inference thread to end; `Err` when it ended with a panic.
    pub fn join(self) -> std::thread::Result<()> {
        self.0.join()
    }
}

impl Batcher {
    /// Start the inference thread for `model`.
    pub fn start(model: Arc<Predictor>, opts: BatchOptions) -> std::io::Result<(Batcher, Worker)> {
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let handle = std::thread::Builder::new()
            .name("fastburn-inference".into())
            .spawn(move || run(&model, rx, opts))?;
        Ok((
            Batcher {
                tx,
                queue: opts.queue.max(1),
            },
            Worker(handle),
        ))
    }

    /// Class probabilities for `images` (each already the model's input size), batched with
    /// whatever other requests are waiting. Refuses at once when the queue is full.
    pub async fn predict(&self, images: Vec<Vec<u8>>) -> Result<Vec<Vec<f32>>, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Job { images, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => BatchError::Busy(self.queue),
                mpsc::error::TrySendError::Closed(_) => BatchError::Stopped,
            })?;
        match answer.await {
            Ok(result) => result.map_err(BatchError::Failed),
            Err(_) => Err(BatchError::Stopped),
        }
    }

    /// Requests waiting now (for `GET /health`).
    pub fn waiting(&self) -> usize {
        self.queue - self.tx.capacity()
    }
}

/// The inference thread's loop: take what is waiting, run it, answer, until every sender is gone.
fn run(model: &Predictor, mut rx: mpsc::Receiver<Job>, opts: BatchOptions) {
    // A small runtime of this thread's own, only to wait on the queue with a timeout.
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    else {
        return;
    };
    let max_batch = opts.max_batch.max(1);
    while let Some(first) = rt.block_on(rx.recv()) {
        let mut jobs = vec![first];
        let mut n = jobs[0].images.len();
        while n < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.images.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        if n < max_batch && !opts.max_wait.is_zero() {
            let deadline = tokio::time::Instant::now() + opts.max_wait;
            rt.block_on(async {
                while n < max_batch {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => {
                            n += job.images.len();
                            jobs.push(job);
                        }
                        _ => break,
                    }
                }
            });
        }
        // A client that has gone away (timed out, disconnected) needs no answer.
        jobs.retain(|j| !j.reply.is_closed());
        answer(model, jobs, max_batch);
    }
}

/// One forward pass per `max_batch` images over all the jobs' images, then each job its rows.
fn answer(model: &Predictor, jobs: Vec<Job>, max_batch: usize) {
    let mut images = Vec::new();
    let mut replies = Vec::new();
    for job in jobs {
        replies.push((job.reply, job.images.len()));
        images.extend(job.images);
    }
    // A panic in the model must not take the server down: answer this batch with an error and
    // keep serving.
    let probs = std::panic::catch_unwind(AssertUnwindSafe(|| {
        images
            .chunks(max_batch)
            .flat_map(|chunk| model.predict_batch(chunk))
            .collect::<Vec<_>>()
    }));
    match probs {
        Ok(probs) => {
            let mut rows = probs.into_iter();
            for (reply, n) in replies {
                let _ = reply.send(Ok(rows.by_ref().take(n).collect()));
            }
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the model panicked".into());
            for (reply, _) in replies {
                let _ = reply.send(Err(msg.clone()));
            }
        }
    }
}
