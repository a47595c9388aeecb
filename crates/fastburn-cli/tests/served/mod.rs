//! A running `fastburn serve` for the tests that talk to one over real HTTP (serve.rs, wgpu.rs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `fastburn serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub stdout: BufReader<ChildStdout>,
    pub base: String,
}

impl Server {
    /// Start on port 0 and read the address it printed.
    pub fn start(model: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(model, extra, &[])
    }

    /// [`start`](Self::start) with environment variables set (`FASTBURN_DEVICE`, say).
    pub fn start_with_env(model: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fastburn"))
            .args(["serve", "--addr", "127.0.0.1:0", "--model"])
            .arg(model)
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server {
            child,
            stdout,
            base: addr.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut r = agent().get(&self.url(path)).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    }

    pub fn post(&self, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut r = agent()
            .post(&self.url("/predict"))
            .header("Content-Type", content_type)
            .send(body)
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }

    /// `post` with the body sent chunked (`Transfer-Encoding: chunked`, no length up front), as
    /// a client streaming from a reader does.
    pub fn post_chunked(&self, content_type: &str, body: &[u8]) -> (u16, Value) {
        let mut reader = body;
        let mut r = agent()
            .post(&self.url("/predict"))
            .header("Content-Type", content_type)
            .send(ureq::SendBody::from_reader(&mut reader))
            .unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }

    /// The server still answers: health and a real prediction.
    pub fn assert_alive(&self, digit: &[u8]) {
        assert_eq!(self.get("/health").0, 200);
        let (status, json) = self.post("image/png", digit);
        assert_eq!(status, 200, "{json}");
        assert!(json["class"].is_string(), "{json}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}
