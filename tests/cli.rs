//! The `fastburn` binary as a user runs it: offline main job, `show`, `data`, errors and help.

use std::path::Path;
use std::process::{Command, Output};

/// Run fastburn with its own cache and a mirror that does not exist (no network needed).
fn fastburn(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(args)
        .env("FASTBURN_HOME", home)
        .env("FASTBURN_DATA_URL", "file:///nonexistent/fastburn-mirror")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn main_job_falls_back_to_the_embedded_sample_offline() {
    let home = tempfile::tempdir().unwrap();
    let out = fastburn(home.path(), &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("embedded"), "{stderr}");
    assert!(
        stdout.contains("images: train 3s 350, train 7s 350, valid 3s 350, valid 7s 350"),
        "{stdout}"
    );
    let overall = stdout
        .lines()
        .find_map(|l| l.strip_prefix("accuracy overall "))
        .expect("an overall accuracy line");
    let acc: f32 = overall.parse().unwrap();
    assert!(acc > 0.9 && acc < 1.0, "{acc}");
    assert_eq!(overall.len(), 6, "4 decimals: {overall}");
}

#[test]
fn bad_input_exits_nonzero_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let not_png = dir.path().join("x.png");
    std::fs::write(&not_png, b"hello").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["baseline", "--data", "/nonexistent/data"],
            "/nonexistent/data",
        ),
        (vec!["show", not_png.to_str().unwrap()], "x.png"),
        (
            vec!["data", "path", "mnist_sample"],
            "fastburn data fetch mnist_sample",
        ),
        (vec!["data", "fetch", "cifar"], "unknown data set"),
        (vec!["data", "fetch", "mnist_sample"], "--data"),
    ];
    for (args, needle) in cases {
        let out = fastburn(home.path(), &args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn show_renders_images_means_and_heatmaps() {
    let home = tempfile::tempdir().unwrap();
    let sample = home.path().join("data").join("mnist_tiny_embedded");
    // The main job extracts the embedded sample into this cache.
    assert!(fastburn(home.path(), &["baseline"]).status.success());
    let three = sample.join("train").join("3");
    let first = std::fs::read_dir(&three)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();

    let out = fastburn(home.path(), &["show", first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        28,
        "ASCII: one line per pixel row"
    );

    let out = fastburn(
        home.path(),
        &[
            "show",
            first.to_str().unwrap(),
            "--heatmap",
            "--crop",
            "4..10,4..10",
        ],
    );
    let table = text(&out.stdout);
    assert_eq!(table.lines().count(), 6, "{table}");
    assert_eq!(
        table.lines().next().unwrap().split_whitespace().count(),
        6,
        "{table}"
    );

    let png = home.path().join("mean3.png");
    let out = fastburn(
        home.path(),
        &[
            "show",
            three.to_str().unwrap(),
            "--out",
            png.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(image::image_dimensions(&png).unwrap(), (224, 224));

    let html = home.path().join("heat.html");
    let args = [
        "show",
        first.to_str().unwrap(),
        "--heatmap",
        "--crop",
        "4..15,4..22",
        "--out",
        html.to_str().unwrap(),
    ];
    assert!(fastburn(home.path(), &args).status.success());
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<tr>").count(), 12, "header + 11 rows");

    let heat_png = home.path().join("heat.png");
    let args = [
        "show",
        first.to_str().unwrap(),
        "--heatmap",
        "--out",
        heat_png.to_str().unwrap(),
    ];
    assert!(fastburn(home.path(), &args).status.success());
    assert!(image::open(&heat_png).is_ok());
}

#[test]
fn every_command_has_help() {
    let home = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["baseline", "--help"],
        vec!["show", "--help"],
        vec!["data", "--help"],
        vec!["data", "fetch", "--help"],
        vec!["data", "path", "--help"],
        vec!["data", "list", "--help"],
    ] {
        let out = fastburn(home.path(), &args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: fastburn"), "{args:?}");
    }
    let out = fastburn(home.path(), &["data", "list"]);
    let list = text(&out.stdout);
    assert!(
        list.contains("mnist_sample") && list.contains("not cached"),
        "{list}"
    );
}
