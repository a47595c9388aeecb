//! A saved fastburn model behind HTTP, with a page to draw digits or drop a photo on: what
//! `fastburn serve` runs, and what a program can embed.
//!
//! - `GET /`: the drawing page (compiled in); `GET /health`; `GET /model`.
//! - `POST /predict`: an image (raw body or multipart field `image`) in, class probabilities out
//!   as JSON; several images in one multipart request give a JSON array.
//!
//! Requests are decoded on tokio's blocking pool and predicted in micro-batches by one inference
//! thread ([`batcher`]); the queue to it is bounded, and a full queue answers 503. Every error is
//! a JSON `{"error": ...}` with a 4xx/5xx status; nothing a client sends can stop the server.
//!
//! In a program with its own tokio runtime:
//!
//! ```no_run
//! use fastburn_serve::{ServeOptions, Predictor, serve};
//! # async fn run() -> Result<(), fastburn_serve::Error> {
//! let model = Predictor::load(std::path::Path::new("model.fbm"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await.unwrap();
//! serve(listener, model, ServeOptions::default(), std::future::pending()).await
//! # }
//! ```
//!
//! Or on a runtime of its own until Ctrl-C or SIGTERM, as `fastburn serve` does:
//!
//! ```no_run
//! use fastburn_serve::{ServeOptions, Predictor, serve_until_signal};
//! let model = Predictor::load(std::path::Path::new("model.fbm"))?;
//! let addr = "127.0.0.1:8000".parse().unwrap();
//! serve_until_signal(addr, model, ServeOptions::default(), |at| println!("on http://{at}"))?;
//! # Ok::<(), fastburn_serve::Error>(())
//! ```

pub mod batcher;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use batcher::{BatchError, BatchOptions, Batcher};
pub use fastburn::data::{DecodeError, decode_gray, decode_input};
// The model type the server answers with is the library's, shared with the exported web page.
pub use fastburn::models::{InputSize, Predictor};
pub use routes::{MAX_IMAGES_PER_REQUEST, PAGE};

/// Why a server could not start or stopped with an error (a client's bad request is never one:
/// it gets a 4xx answer and the server goes on).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file could not be loaded.
    #[error(transparent)]
    Model(#[from] fastburn::Error),
    /// The address could not be listened on (in use, not this machine's, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The operating system refused a thread (the async runtime's or the inference thread).
    #[error("cannot start {what}: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The inference thread ended with a panic.
    #[error("the inference thread stopped with a panic")]
    InferencePanicked,
    /// Accepting connections failed.
    #[error("the server stopped: {0}")]
    Stopped(#[source] std::io::Error),
}

/// `Result` with the server's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Limits and batching of a server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The largest request body, in bytes (413 above it).
    pub max_body: usize,
    /// The most pixels an uploaded image may have (413 above it), checked from the image's
    /// header before decoding: it bounds the memory a small compressed file can claim.
    pub max_pixels: u64,
    /// How forward passes are batched, and how many requests may wait (503 beyond).
    pub batch: BatchOptions,
    /// How many uploads are decoded at once.
    pub decoders: usize,
    /// How long a client may take to send its request body (408 after): a client trickling
    /// bytes must not hold a connection, and a graceful shutdown, forever.
    pub read_timeout: Duration,
    /// After the shutdown signal, how long requests in flight may take to finish before the
    /// server stops anyway.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        ServeOptions {
            max_body: 10 * 1024 * 1024,
            max_pixels: fastburn::data::MAX_PIXELS,
            batch: BatchOptions {
                max_batch: 64,
                max_wait: Duration::ZERO,
                queue: 1024,
            },
            decoders: cores,
            read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serve `model` on `listener` until `shutdown` completes; then stop accepting, let the requests
/// in flight finish (for up to `opts.shutdown_grace`), stop the inference thread and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    model: Predictor,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let model = Arc::new(model);
    let (batcher, worker) =
        Batcher::start(model.clone(), opts.batch).map_err(|source| Error::Thread {
            what: "the inference thread",
            source,
        })?;
    let state = Arc::new(routes::AppState {
        model,
        batcher,
        max_pixels: opts.max_pixels,
        decoding: Semaphore::new(opts.decoders.max(1)),
        read_timeout: opts.read_timeout,
        max_body: opts.max_body,
    });
    let app = routes::router(state);
    // The signal is watched twice: by axum, to stop accepting and drain, and here, to bound the
    // drain by the grace period.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut drained = stop_rx.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = drained.wait_for(|&stop| stop).await;
    });
    let mut grace = stop_rx;
    let served = tokio::select! {
        served = server => served,
        _ = async {
            let _ = grace.wait_for(|&stop| stop).await;
            tokio::time::sleep(opts.shutdown_grace).await;
        } => {
            // Requests still in flight keep the inference thread's queue open; they are dropped
            // with the runtime, and so is the thread, with the process.
            return Ok(());
        }
    };
    // The router (and with it the last Batcher) is gone: the inference thread ends its loop.
    let joined = tokio::task::spawn_blocking(move || worker.join()).await;
    if !matches!(joined, Ok(Ok(()))) {
        return Err(Error::InferencePanicked);
    }
    served.map_err(Error::Stopped)
}

/// Serve `model` on `addr` on a runtime of its own until Ctrl-C or SIGTERM (what `kill`,
/// systemd and container runtimes send), then shut down as [`serve`] does. `ready` is called
/// with the address listened on (the port chosen when `addr` asks for port 0) once the server
/// accepts connections.
pub fn serve_until_signal(
    addr: SocketAddr,
    model: Predictor,
    opts: ServeOptions,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Thread {
            what: "the async runtime",
            source,
        })?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        ready(listener.local_addr().unwrap_or(addr));
        serve(listener, model, opts, shutdown_signal()).await
    });
    // Connections still open after the grace period are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
