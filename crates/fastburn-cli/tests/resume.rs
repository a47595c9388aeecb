//! Runs that survive: a training run killed (SIGKILL) at random points and resumed, or stopped
//! with Ctrl-C, ends with exactly the epoch table and weights of an uninterrupted run; two
//! processes fetching one data set both succeed and download it once; `--quiet` on a terminal
//! draws nothing; a 10-class request never trains on the 2-class sample.

#[path = "../../fastburn/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Reply, Server, kill_until_done, saved_floats as weights, table_without_times as rows, tgz,
};

mod binary;
use binary::{command as fastburn, text};

/// A short ResNet run: 2 epochs of 6 batches, with dropout, BatchNorm, Adam and one-cycle, so
/// every kind of state (weights, optimizer moments, schedule, RNG, recorder) must be restored.
fn train_args<'a>(save: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "--model",
        "resnet18",
        "--epochs",
        "2",
        "--bs",
        "32",
        "--max-train",
        "192",
        "--max-valid",
        "32",
        "--lr",
        "0.01",
        "--seed",
        "5",
        "--save",
        save,
    ];
    v.extend(extra);
    v
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

#[test]
fn killed_and_interrupted_runs_resume_to_the_same_result() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let whole = dir.join("whole.fbm");
    let out = run(fastburn(dir).args(train_args(whole.to_str().unwrap(), &[])));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want_rows = rows(&text(&out.stdout));
    assert_eq!(want_rows.len(), 2, "{}", text(&out.stdout));
    let want_weights = weights(&whole);

    // SIGKILL at growing delays, checkpointing after every batch so kills land before, during
    // and after writes; then resume until the run completes.
    let ck = dir.join("ck");
    let resumed = dir.join("resumed.fbm");
    let ck_args = [
        "--checkpoint",
        ck.to_str().unwrap(),
        "--checkpoint-every",
        "0",
    ];
    let (last, kills) = kill_until_done(
        |resume| {
            let mut args = train_args(resumed.to_str().unwrap(), &ck_args);
            if resume {
                args.push("--resume");
            }
            let mut cmd = fastburn(dir);
            cmd.args(&args);
            cmd
        },
        &ck,
        Duration::from_millis(700),
        Duration::from_millis(400),
    );
    assert!(last.status.success(), "{}", text(&last.stderr));
    assert!(kills >= 1, "the run was never killed: make it longer");
    assert_eq!(
        rows(&text(&last.stdout)),
        want_rows,
        "{}",
        text(&last.stdout)
    );
    assert!(weights(&resumed) == want_weights, "weights differ");
    let leftovers: Vec<_> = std::fs::read_dir(&ck)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["checkpoint.fbc"], "no temporary files left");

    // Ctrl-C once: the batch finishes, a checkpoint is written, the exit is non-zero with a line
    // saying how to go on; going on gives the same result again.
    let ck2 = dir.join("ck2");
    let again = dir.join("again.fbm");
    let args2 = ["--checkpoint", ck2.to_str().unwrap()];
    let mut child = fastburn(dir)
        .args(train_args(again.to_str().unwrap(), &args2))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The signal goes once the run says what it trains on: the handler is in place by then, and
    // both epochs are still to come.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("images:") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            panic!("the run ended before training: {seen}");
        }
        seen.push_str(&line);
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!out.status.success(), "the run ended despite Ctrl-C: {err}");
    assert!(
        err.contains("interrupted") && err.contains("--resume"),
        "{err}"
    );
    assert!(ck2.join("checkpoint.fbc").is_file());
    assert!(!again.exists(), "no model saved by an interrupted run");
    let out = run(fastburn(dir).args(train_args(
        again.to_str().unwrap(),
        &[args2[0], args2[1], "--resume"],
    )));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(rows(&text(&out.stdout)), want_rows);
    assert!(
        weights(&again) == want_weights,
        "weights differ after Ctrl-C"
    );

    // A checkpoint of another run is refused in one line.
    let out = run(fastburn(dir).args([
        "train",
        "--model",
        "resnet18",
        "--epochs",
        "3",
        "--bs",
        "32",
        "--max-train",
        "192",
        "--max-valid",
        "32",
        "--checkpoint",
        ck.to_str().unwrap(),
        "--resume",
    ]));
    let err = text(&out.stderr);
    assert!(
        !out.status.success() && err.contains("same command"),
        "{err}"
    );
}

#[test]
fn two_processes_fetch_one_data_set_once() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start();
    let archive = tgz(
        "mnist_sample",
        &[("train/3/1.png", b"x"), ("valid/7/2.png", b"y")],
    );
    server.route(
        "/mnist_sample.tgz",
        Reply {
            delay_ms: 500,
            ..Reply::ok(archive)
        },
    );
    let spawn = || {
        fastburn(home.path())
            .env("FASTBURN_DATA_URL", &server.base)
            .args(["data", "fetch", "mnist_sample"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(server.hits_of("/mnist_sample.tgz"), 1);
    let data: Vec<String> = std::fs::read_dir(home.path().join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        data,
        ["mnist_sample"],
        "one extraction, no temporary folder"
    );

    // A process killed while it holds the lock (mid-download) does not block the next one: the
    // OS drops a dead process's lock.
    let home2 = tempfile::tempdir().unwrap();
    let slow = Server::start();
    slow.route(
        "/mnist_sample.tgz",
        Reply {
            delay_ms: 30_000,
            ..Reply::ok(tgz("mnist_sample", &[("train/3/1.png", b"x")]))
        },
    );
    let mut stuck = fastburn(home2.path())
        .env("FASTBURN_DATA_URL", &slow.base)
        .args(["data", "fetch", "mnist_sample"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while slow.hits_of("/mnist_sample.tgz") == 0 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        slow.hits_of("/mnist_sample.tgz"),
        1,
        "the first fetch started"
    );
    stuck.kill().unwrap();
    stuck.wait().unwrap();
    let t = Instant::now();
    let out = run(fastburn(home2.path())
        .env("FASTBURN_DATA_URL", &server.base)
        .args(["data", "fetch", "mnist_sample"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "waited on a dead process's lock"
    );
}

/// Runs `args` under `script`, a pseudo-terminal as a person's, and returns what it drew.
fn on_a_terminal(home: &Path, args: &str) -> String {
    let cmd = format!(
        "FASTBURN_HOME={} FASTBURN_DATA_URL=file:///nonexistent {} {args}",
        home.display(),
        env!("CARGO_BIN_EXE_fastburn")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stdout));
    text(&out.stdout)
}

#[test]
fn quiet_draws_no_progress_bar_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        common::missing_tool("`script` (util-linux), to give the program a terminal,");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let train = "train --model simple-net --epochs 2";
    let loud = on_a_terminal(home.path(), train);
    assert!(
        loud.contains("epoch 0 train"),
        "a terminal shows the bar: {loud}"
    );
    let quiet = on_a_terminal(home.path(), &format!("{train} --quiet"));
    assert!(
        !quiet.contains("epoch 0 train") && !quiet.contains("train_loss"),
        "{quiet}"
    );
    assert!(quiet.contains("final accuracy"), "{quiet}");
}

#[test]
fn all_ten_digits_never_fall_back_to_the_two_class_sample() {
    let home = tempfile::tempdir().unwrap();
    let out = run(fastburn(home.path()).args([
        "train",
        "--model",
        "resnet18",
        "--dataset",
        "mnist",
        "--max-train",
        "256",
    ]));
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("mnist_png.tgz")
            && err.contains("FASTBURN_DATA_URL")
            && err.contains("--data"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("epoch"), "nothing trained");
}
