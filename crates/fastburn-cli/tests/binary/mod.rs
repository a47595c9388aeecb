//! The `fastburn` binary as the tests run it, and what they read off its output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `fastburn` with its own cache (`home`), offline (a mirror that does not exist, so
/// MNIST_SAMPLE falls back to the embedded sample), without colour.
pub fn command(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fastburn"));
    offline(&mut c, home);
    c
}

/// The environment of [`command`], for a command that starts `fastburn` (a launcher).
pub fn offline<'a>(c: &'a mut Command, home: &Path) -> &'a mut Command {
    c.env("FASTBURN_HOME", home)
        .env("FASTBURN_DATA_URL", "file:///nonexistent/fastburn-mirror")
        .env("NO_COLOR", "1")
}

/// Run `fastburn ARGS` as [`command`] sets it up, and wait for it.
pub fn fastburn(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The "final accuracy 0.9386" line of a `train` run.
pub fn final_accuracy(out: &Output) -> String {
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("final accuracy"));
    line.unwrap_or_else(|| panic!("no final accuracy in {stdout}"))
        .to_string()
}

/// The class and the probability (as printed) of `predict`'s line
/// "FILE: CLASS (probability 0.9876)".
pub fn predicted(line: &str) -> (String, String) {
    let (class, prob) = line
        .trim_end()
        .rsplit_once(": ")
        .and_then(|(_, r)| r.split_once(" (probability "))
        .unwrap_or_else(|| panic!("not a prediction: {line}"));
    (class.to_string(), prob.trim_end_matches(')').to_string())
}

/// A file of the library's test fixtures (`crates/fastburn/tests/fixtures/DIR/NAME`).
pub fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fastburn/tests/fixtures")
        .join(dir)
        .join(name)
}
