//! The command line on Burn's wgpu backend (`FASTBURN_DEVICE=wgpu`; in CI Mesa's lavapipe, a
//! Vulkan device that runs on the CPU): train, predict and serve as a user runs them, checked
//! against the same commands on Flex, and one line for a backend the build lacks.
//!
//! `cargo test -p fastburn-cli --features wgpu --test wgpu` (needs a Vulkan driver: Debian's
//! `mesa-vulkan-drivers`; `.ci/run` installs it).
#![cfg(feature = "wgpu")]

mod served;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn fastburn(home: &Path, device: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(args)
        .env("FASTBURN_HOME", home)
        .env("FASTBURN_DATA_URL", "file:///nonexistent/fastburn-mirror")
        .env("FASTBURN_DEVICE", device)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The embedded sample's folder, extracted into `home`'s cache.
fn sample(home: &Path) -> std::path::PathBuf {
    fastburn::data::Config::at(home).embedded_sample().unwrap()
}

/// One image of the embedded sample, as a user has one: a PNG file.
fn a_seven(home: &Path) -> std::path::PathBuf {
    let dir = sample(home).join("valid").join("7");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap()
}

/// `train`, `predict` and `serve` with `FASTBURN_DEVICE=wgpu`: the model trains (the run prints
/// its final accuracy, nothing on stderr but what Flex prints), predicts the class and
/// probability Flex predicts with the same file, and `serve` answers with those probabilities.
#[test]
fn train_predict_and_serve_on_wgpu() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let model = dir.join("cnn.fbm");
    let model_s = model.to_str().unwrap();
    let data = sample(dir);
    let out = fastburn(
        dir,
        "wgpu",
        &[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--model",
            "simple-cnn",
            "--epochs",
            "1",
            "--max-train",
            "256",
            "--max-valid",
            "64",
            "--quiet",
            "--save",
            model_s,
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("final accuracy "), "{stdout}");
    assert!(stderr.trim().is_empty(), "stderr on wgpu: {stderr}");

    let seven = a_seven(dir);
    let seven_s = seven.to_str().unwrap();
    let on = |device: &str| {
        let out = fastburn(dir, device, &["predict", "--model", model_s, seven_s]);
        assert!(out.status.success(), "{device}: {}", text(&out.stderr));
        assert!(text(&out.stderr).trim().is_empty(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let (gpu, cpu) = (on("wgpu"), on("flex"));
    assert_eq!(gpu, cpu, "predict differs between wgpu and Flex");

    // serve on wgpu, one real HTTP client on loopback.
    let server = served::Server::start_with_env(&model, &[], &[("FASTBURN_DEVICE", "wgpu")]);
    let (status, json) = server.post("image/png", &std::fs::read(&seven).unwrap());
    drop(server);
    assert_eq!(status, 200, "{json}");
    let class = json["class"].as_str().unwrap();
    let prob = json["probabilities"][class].as_f64().unwrap();
    // predict prints "<file>: <class> (probability 0.1234)".
    assert!(
        cpu.contains(&format!(": {class} (probability {prob:.4})")),
        "serve on wgpu said {class} {prob}, predict on Flex {cpu}"
    );
}

/// A backend this build lacks, a name that is none, or wgpu on a machine without a Vulkan
/// driver (the loader pointed at none): one line each, saying what the build has or what to do.
#[test]
fn a_backend_the_build_lacks_or_without_a_device_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let seven = a_seven(home.path());
    for (device, no_driver, wanted) in [
        (
            "cuda",
            false,
            "built without the cuda backend (it has flex, wgpu)",
        ),
        ("tpu", false, "FASTBURN_DEVICE=tpu: not a backend"),
        (
            "wgpu",
            true,
            "FASTBURN_DEVICE=wgpu: the wgpu backend found no device",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastburn"));
        cmd.args(["predict", "--model", "none.fbm", seven.to_str().unwrap()])
            .env("FASTBURN_HOME", home.path())
            .env("FASTBURN_DEVICE", device)
            .stdin(Stdio::null());
        if no_driver {
            // The Vulkan loader's own variables: the driver list names only a missing file.
            cmd.env("VK_DRIVER_FILES", "/nonexistent/icd.json")
                .env("VK_ICD_FILENAMES", "/nonexistent/icd.json");
        }
        let out = cmd.output().unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(wanted), "{device}: {stderr}");
    }
}
