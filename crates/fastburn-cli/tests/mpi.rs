//! Data-parallel training under the real launcher: `mpirun -np 2 fastburn train ...` (Open MPI,
//! on this machine) against one process with the same global batch; a rank killed mid-run; a
//! two-rank run killed after a checkpoint and resumed with two ranks. Built only with the `mpi`
//! feature (CI installs Open MPI and runs these).
#![cfg(feature = "mpi")]

mod binary;
#[path = "../../fastburn/tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use binary::text;
use common::{saved_floats as weights, table_without_times as rows};
use fastburn_flex::testing::max_diff_rows as max_abs_diff;

/// What every run gets besides [`binary::offline`]: the CPU whatever else the build has, and
/// no terminal.
fn env(c: &mut Command, home: &Path) {
    binary::offline(c, home)
        .env("FASTBURN_DEVICE", "flex")
        .stdin(Stdio::null());
}

/// One process with the machine's 2 threads.
fn alone(home: &Path, args: &[&str]) -> Command {
    let mut c = binary::command(home);
    env(&mut c, home);
    c.env("RAYON_NUM_THREADS", "2").args(args);
    c
}

/// `mpirun -np N fastburn ARGS`, one thread a rank (as root where CI runs as root; ranks not
/// pinned to cores).
fn mpirun(home: &Path, n: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    env(&mut c, home);
    c.env("RAYON_NUM_THREADS", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--oversubscribe", "--bind-to", "none", "-np"])
        .arg(n.to_string())
        .arg(env!("CARGO_BIN_EXE_fastburn"))
        .args(args);
    c
}

fn run(mut c: Command) -> Output {
    c.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e} (is Open MPI installed?)", c))
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn ok(out: &Output) -> String {
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "failed: {}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    stdout
}

/// The chapter's simple_net (no BatchNorm, no dropout) trained by two ranks, each on half of
/// every batch of 256 with the gradients summed by MPI_Allreduce, ends with the weights one
/// process trains with the same batches: equal up to float summation order (the two halves'
/// gradients are summed apart, then added), stated as 1e-5 after 3 epochs of 47 steps. The
/// epoch table is the same, and only rank 0 prints it and writes the model.
#[test]
fn two_ranks_train_the_weights_one_process_trains() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one.fbm"), dir.path().join("two.fbm"));
    let args = |save: &Path| -> Vec<String> {
        [
            "train",
            "--model",
            "simple-net",
            "--epochs",
            "3",
            "--seed",
            "3",
            "--save",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([save.to_str().unwrap().to_string()])
        .collect()
    };
    let (a1, a2) = (args(&one), args(&two));
    let (a1, a2) = (refs(&a1), refs(&a2));
    let single = ok(&run(alone(home.path(), &a1)));
    let out = run(mpirun(home.path(), 2, &a2));
    let double = ok(&out);
    assert!(double.contains("data-parallel: 2 processes"), "{double}");
    // One table, one final line, one save: rank 1 printed nothing.
    assert_eq!(double.matches("final accuracy").count(), 1, "{double}");
    assert_eq!(double.matches("saved ").count(), 1, "{double}");
    let (r1, r2) = (rows(&single), rows(&double));
    assert_eq!(r1.len(), 3);
    for (a, b) in r1.iter().zip(&r2) {
        // epoch, train loss, valid loss, accuracy: the same to the printed digits, or off by
        // one in the last where summation order rounds the other way.
        let (a, b): (Vec<&str>, Vec<&str>) = (
            a.split_whitespace().collect(),
            b.split_whitespace().collect(),
        );
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            assert!(
                (x - y).abs() <= 2e-6_f64.max(x.abs() * 2e-5),
                "{a:?} vs {b:?}"
            );
        }
    }
    let diff = max_abs_diff(&weights(&one), &weights(&two));
    assert!(diff <= 1e-5, "weights differ by {diff}");
    // And they moved: the comparison is not between two untrained models.
    let start = dir.path().join("start.fbm");
    let s = start.to_str().unwrap();
    let a0 = [
        "train",
        "--model",
        "simple-net",
        "--epochs",
        "1",
        "--lr",
        "1e-12",
        "--seed",
        "3",
        "--save",
        s,
    ];
    ok(&run(alone(home.path(), &a0)));
    assert!(max_abs_diff(&weights(&one), &weights(&start)) > 1e-2);
}

/// A two-rank job that trains long enough to be signalled (50 epochs of simple-cnn).
fn long_job(home: &Path) -> Command {
    let args = [
        "train",
        "--model",
        "simple-cnn",
        "--epochs",
        "50",
        "--seed",
        "1",
    ];
    let mut c = mpirun(home, 2, &args);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Starts `job`, waits until its rank 1 runs and `after` more (into training), sends rank 1
/// `signal` (`kill`'s `-KILL`, `-STOP`), and returns the job's output once it has ended; fails
/// if it still runs a minute after the signal.
fn signal_rank_1(mut job: Command, signal: &str, after: Duration) -> Output {
    let mut job = job.spawn().expect("mpirun");
    let started = Instant::now();
    let rank1 = loop {
        assert!(started.elapsed() < Duration::from_secs(120), "no rank 1");
        assert!(job.try_wait().unwrap().is_none(), "the job ended early");
        if let Some(pid) = rank_pid(&job, 1) {
            break pid.to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(after);
    let sent = Command::new("kill")
        .args([signal, &rank1])
        .status()
        .unwrap();
    assert!(sent.success());
    let t = Instant::now();
    while job.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = Command::new("kill").args(["-KILL", &rank1]).status();
            let _ = job.kill();
            panic!("the job still runs a minute after rank 1 got {signal}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    job.wait_with_output().unwrap()
}

/// Rank 1 of a running job killed with SIGKILL: the job stops (no rank left waiting in an
/// all-reduce) within a minute, fails, and says which rank died and how.
#[test]
fn a_killed_rank_stops_the_job_with_a_clear_line() {
    let home = tempfile::tempdir().unwrap();
    let out = signal_rank_1(long_job(home.path()), "-KILL", Duration::from_secs(3));
    assert!(!out.status.success());
    let all = text(&out.stdout) + &text(&out.stderr);
    assert!(
        all.contains("rank 1") && all.contains("signal 9"),
        "the launcher did not say which rank died:\n{all}"
    );
    assert!(!all.contains("final accuracy"), "{all}");
}

/// Rank 1 frozen (SIGSTOP: alive, answering nothing) while it trains: rank 0 does not wait
/// forever in the next collective: after `FASTBURN_MPI_TIMEOUT` it says which collective did not
/// complete, pings the others, names rank 1 (which does not answer, frozen in a collective or
/// between two) and stops the whole job.
#[test]
fn a_rank_that_stops_answering_is_named_and_the_job_stops() {
    let home = tempfile::tempdir().unwrap();
    let mut job = long_job(home.path());
    job.env("FASTBURN_MPI_TIMEOUT", "5");
    // Past MPI_Init and into training (an epoch of simple-cnn takes seconds here).
    let out = signal_rank_1(job, "-STOP", Duration::from_secs(4));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("error: rank 0: ")
            && err.contains("not done after 5 s: rank 1 does not answer; stopping the job"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("final accuracy"));
}

/// The pid of `rank` among the job's processes (mpirun's children, each knowing its rank from
/// the launcher's environment).
fn rank_pid(job: &Child, rank: usize) -> Option<u32> {
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", job.id())).ok()?;
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|&b| b == 0)
                    .any(|kv| kv == format!("OMPI_COMM_WORLD_RANK={rank}").as_bytes())
            })
        })
}

/// A two-rank ResNet run (BatchNorm, dropout, Adam, one-cycle) killed with SIGKILL, whole job,
/// after its first checkpoint, then resumed with two ranks: the same table and bit-identical
/// weights as the uninterrupted two-rank run. Resuming it with one process is refused in one
/// line.
#[test]
fn a_two_rank_run_resumes_from_its_checkpoint_to_the_uninterrupted_result() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (whole, resumed) = (dir.path().join("whole.fbm"), dir.path().join("resumed.fbm"));
    let ck = dir.path().join("ck");
    let args = |save: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
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
            "--lr",
            "0.01",
            "--seed",
            "5",
            "--save",
        ]
        .map(String::from)
        .to_vec();
        v.push(save.to_str().unwrap().into());
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let reference = ok(&run(mpirun(home.path(), 2, &refs(&args(&whole, &[])))));

    // The same run with checkpoints, killed whole (mpirun and its ranks: one process group)
    // once the first checkpoint is there.
    let ck_arg = ck.to_str().unwrap().to_string();
    let with_ck = args(&resumed, &["--checkpoint", &ck_arg]);
    let mut c = mpirun(home.path(), 2, &refs(&with_ck));
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut job = c
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !ck.join("checkpoint.fbc").exists() {
        assert!(t.elapsed() < Duration::from_secs(300), "no checkpoint");
        assert!(
            job.try_wait().unwrap().is_none(),
            "the run ended before a checkpoint"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let group = format!("-{}", job.id());
    Command::new("kill")
        .args(["-KILL", "--", &group])
        .status()
        .unwrap();
    job.wait().unwrap();
    assert!(!resumed.exists(), "the killed run had finished");

    // Resumed by one process: refused, nothing written.
    let mut again = with_ck.clone();
    again.push("--resume".into());
    let out = run(alone(home.path(), &refs(&again)));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("written by a run of 2 process(es), this one has 1")
            && err.contains("mpirun -np 2"),
        "{err}"
    );
    assert!(!resumed.exists());

    // Resumed by two ranks: the uninterrupted result.
    let out = ok(&run(mpirun(home.path(), 2, &refs(&again))));
    assert!(out.contains("resuming from"), "{out}");
    assert_eq!(
        rows(&out),
        rows(&reference)[rows(&reference).len() - rows(&out).len()..]
    );
    assert_eq!(rows(&reference).len(), 3);
    assert_eq!(weights(&resumed), weights(&whole));
}
