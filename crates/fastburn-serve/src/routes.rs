//! The HTTP routes: the page, `/predict`, `/health`, `/model`, and JSON for every error.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::timeout_at;

use crate::batcher::{BatchError, Batcher};
use fastburn::data::{DecodeError, decode_input};
use fastburn::models::Predictor;
use fastburn::models::prediction_json;

/// The drawing page: HTML, CSS and JS in one file, compiled into the binary (no CDN, works
/// offline).
/// The drawing page (`GET /`); `fastburn export --format web` writes it with the model inside.
pub const PAGE: &str = include_str!("page.html");

/// The most images one multipart request may hold.
pub const MAX_IMAGES_PER_REQUEST: usize = 256;

/// What every handler shares.
pub struct AppState {
    pub model: Arc<Predictor>,
    pub batcher: Batcher,
    pub max_pixels: u64,
    /// Bounds how many uploads are decoded at once: decoding a large photo takes memory in
    /// proportion to its pixels, so this (times `max_pixels`) bounds decoding memory.
    pub decoding: Semaphore,
    /// The longest a client may take to send its body.
    pub read_timeout: Duration,
    /// The largest request body, in bytes.
    pub max_body: usize,
}

/// How much of a too-large body is read and thrown away before the 413 goes out. A client
/// such as `ureq` or `curl` writes its whole body before it reads the answer; if the server
/// closes the connection with the body unread, the client's write fails ("broken pipe") and
/// the user never sees the 413 that says what to do. Bodies up to this size are drained so
/// the answer arrives; above it the connection is closed, as every server does.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// The longest the draining of a too-large body may take.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}

/// The router for `state`. Bodies are read by [`read_body`], which keeps at most
/// `state.max_body` bytes; axum's extractors get the same limit (their default is 2 MB).
pub fn router(state: Arc<AppState>) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/model", get(model_info))
        .route("/predict", post(predict))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health(State(st): State<Arc<AppState>>) -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok", "waiting": st.batcher.waiting() }))
}

async fn model_info(State(st): State<Arc<AppState>>) -> axum::Json<Value> {
    axum::Json(st.model.describe())
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {}; the routes are GET /, GET /health, GET /model, POST /predict",
            req.uri().path()
        ),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} is not allowed on {}; the routes are GET /, GET /health, GET /model, POST /predict",
            req.method(),
            req.uri().path()
        ),
    )
}

/// `POST /predict`: one image as the body (`Content-Type: image/*`, `application/octet-stream`,
/// curl's default `application/x-www-form-urlencoded`, or none), or one or more as multipart fields named `image`. One image gives one JSON object,
/// several a JSON array in the order sent.
async fn predict(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("").to_ascii_lowercase());
    let media = content_type
        .as_deref()
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string());
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > st.max_body as u64) {
        // Known to be too large: nothing is kept. Up to DRAIN_LIMIT the body is read and
        // dropped so the answer reaches the client; above it, answer and close.
        if len <= DRAIN_LIMIT as u64 {
            drain(req.into_body(), 0, st.read_timeout).await;
        }
        return Err(too_large(st.max_body));
    }
    // `application/x-www-form-urlencoded` is what `curl --data-binary @digit.png` sends unless
    // told otherwise; its bytes are the file's, and a real form's `key=value` text fails
    // decoding with an error that says what the body is.
    let media_ok = match media.as_deref() {
        None
        | Some(
            "application/octet-stream"
            | "application/x-www-form-urlencoded"
            | "multipart/form-data",
        ) => true,
        Some(m) => m.starts_with("image/"),
    };
    if !media_ok {
        let other = media.unwrap_or_default();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {other} is not an image; send the image as the body with \
                 Content-Type image/png (or any image/*), or as multipart field `image`"
            ),
        ));
    }
    let (parts, body) = req.into_parts();
    let body = read_body(&st, body).await?;
    let (uploads, many) = if media.as_deref() == Some("multipart/form-data") {
        let req = Request::from_parts(parts, axum::body::Body::from(body));
        let uploads = multipart_images(req, st.max_body).await?;
        let many = uploads.len() > 1;
        (uploads, many)
    } else {
        (vec![body], false)
    };

    let mut images = Vec::with_capacity(uploads.len());
    for (i, bytes) in uploads.into_iter().enumerate() {
        let name = |e: DecodeError| {
            let status = match e {
                DecodeError::TooManyPixels { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            // The library's fact, and what to send instead.
            let fix = match e {
                DecodeError::Empty => "",
                DecodeError::NotImage(_) => "; send one as the body or as multipart field `image`",
                DecodeError::TooManyPixels { .. } => "; send a smaller image",
            };
            let msg = if many {
                format!("image {} of the request: {e}{fix}", i + 1)
            } else {
                format!("{e}{fix}")
            };
            ApiError::new(status, msg)
        };
        images.push(decode(&st, bytes).await?.map_err(name)?);
    }

    let probs = st.batcher.predict(images).await.map_err(|e| {
        let status = match e {
            BatchError::Busy(_) | BatchError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            BatchError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    })?;
    let answers: Vec<Value> = probs
        .iter()
        .map(|p| prediction_json(st.model.classes(), p))
        .collect();
    let body = if many {
        Value::Array(answers)
    } else {
        answers.into_iter().next().unwrap_or(Value::Null)
    };
    Ok(axum::Json(body).into_response())
}

/// Decode on the blocking pool (a large photo takes milliseconds, which must not stall the
/// runtime's threads), at most `decoding`'s permits at a time.
async fn decode(st: &AppState, bytes: Bytes) -> Result<Result<Vec<u8>, DecodeError>, ApiError> {
    let internal = |e: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e);
    let _permit = st
        .decoding
        .acquire()
        .await
        .map_err(|e| internal(e.to_string()))?;
    let tfms = st.model.item_tfms();
    let max_pixels = st.max_pixels;
    tokio::task::spawn_blocking(move || decode_input(&bytes, max_pixels, &tfms))
        .await
        .map_err(|e| internal(format!("decoding failed: {e}")))
}

/// The request body, at most `st.max_body` bytes, arrived within `st.read_timeout`.
///
/// One reader for every body, with a declared length or chunked. Over the limit, the rest is
/// read and thrown away (up to [`DRAIN_LIMIT`] bytes in all, for at most [`DRAIN_TIME`]) before
/// the 413 goes out: see [`DRAIN_LIMIT`] for why.
async fn read_body(st: &AppState, mut body: axum::body::Body) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let deadline = tokio::time::Instant::now() + st.read_timeout;
    let (mut kept, mut seen) = (Vec::new(), 0usize);
    while let Some(frame) = timeout_at(deadline, body.frame())
        .await
        .map_err(|_| too_slow(st.read_timeout))?
    {
        let frame = frame.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("reading the request body failed: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen += data.len();
        if seen > st.max_body {
            drain(body, seen, st.read_timeout).await;
            return Err(too_large(st.max_body));
        }
        kept.extend_from_slice(&data);
    }
    Ok(Bytes::from(kept))
}

/// Reads and drops the rest of `body` (of which `seen` bytes were read already) until
/// [`DRAIN_LIMIT`] bytes in all or [`DRAIN_TIME`] (at most `read_timeout`), so a client still
/// sending finishes and reads the answer.
async fn drain(mut body: axum::body::Body, mut seen: usize, read_timeout: Duration) {
    use http_body_util::BodyExt;
    let until = tokio::time::Instant::now() + read_timeout.min(DRAIN_TIME);
    while seen <= DRAIN_LIMIT {
        match timeout_at(until, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

fn too_large(max_body: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        body_error(StatusCode::PAYLOAD_TOO_LARGE, String::new(), max_body),
    )
}

fn too_slow(limit: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!("the request body took longer than {limit:?} to arrive"),
    )
}

async fn multipart_images(req: Request, max_body: usize) -> Result<Vec<Bytes>, ApiError> {
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let field_error = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(e.status(), body_error(e.status(), e.body_text(), max_body))
    };
    let mut images = Vec::new();
    while let Some(field) = form.next_field().await.map_err(field_error)? {
        if field.name() != Some("image") {
            continue;
        }
        if images.len() == MAX_IMAGES_PER_REQUEST {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("at most {MAX_IMAGES_PER_REQUEST} images per request"),
            ));
        }
        images.push(field.bytes().await.map_err(field_error)?);
    }
    if images.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the multipart form has no field named `image`",
        ));
    }
    Ok(images)
}

/// axum's own text for a body error, with the fix for the one users hit (too large).
fn body_error(status: StatusCode, text: String, max_body: usize) -> String {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!(
            "the request body is larger than the server's limit of {max_body} bytes; send a \
             smaller image"
        )
    } else {
        text
    }
}
