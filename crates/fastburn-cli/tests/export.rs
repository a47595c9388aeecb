//! `fastburn export`: a model trained by the binary, written as ONNX, run by tract, gives the
//! class and probability `fastburn predict` prints; what cannot be exported is one line.

use std::path::Path;

mod binary;
use binary::{fastburn, predicted, text};
#[path = "../../fastburn-onnx/tests/tract/mod.rs"]
mod tract;

#[test]
fn an_exported_model_gives_predicts_answer() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let model = dir.join("digits.fbm");
    let out = fastburn(
        dir,
        &[
            "train",
            "--model",
            "simple-cnn",
            "--epochs",
            "1",
            "--quiet",
            "--save",
            model.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let onnx = dir.join("out").join("digits.onnx");
    let out = fastburn(
        dir,
        &[
            "export",
            "--model",
            model.to_str().unwrap(),
            "--format",
            "onnx",
            onnx.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.starts_with(&format!("wrote {}", onnx.display()))
            && said.contains("input `pixels` [batch, 1, 28, 28] pixels in 0..1"),
        "{said}"
    );

    // Every validation digit of a class folder the training run extracted: predict's line and
    // the ONNX file's probability agree to predict's four decimals.
    let valid = dir.join("data/mnist_tiny_embedded/valid");
    let mut checked = 0;
    for class in ["3", "7"] {
        let mut files: Vec<_> = std::fs::read_dir(valid.join(class))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for digit in files.iter().take(3) {
            let out = fastburn(
                dir,
                &[
                    "predict",
                    "--model",
                    model.to_str().unwrap(),
                    digit.to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            // "x.png: 7 (probability 0.9876)"
            let line = text(&out.stdout);
            let (name, prob) = predicted(&line);
            let prob: f32 = prob.parse().unwrap();
            let img = image::open(digit).unwrap().to_luma8();
            let pixels = img.pixels().map(|p| f32::from(p[0]) / 255.0).collect();
            let onnx_bytes = std::fs::read(&onnx).unwrap();
            let probs = tract::run(&onnx_bytes, [1, 1, 28, 28], pixels)
                .remove(0)
                .remove(0);
            let best = (0..probs.len()).fold(0, |b, i| if probs[i] > probs[b] { i } else { b });
            // The model's classes are the folder names 3 and 7, in that order.
            assert_eq!(["3", "7"][best], name, "{}: {probs:?}", digit.display());
            assert!(
                (probs[best] - prob).abs() <= 5e-5 + 1e-6,
                "{prob} vs {probs:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn what_cannot_be_exported_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let newer = dir.join("newer.fbm");
    std::fs::write(&newer, b"fastburn/3\n\x10\0\0\0\0\0\0\0{}").unwrap();
    let older = dir.join("older.fbm");
    std::fs::write(&older, b"fastburn-model 1\nweights").unwrap();
    let not_model = dir.join("photo.fbm");
    std::fs::write(&not_model, b"\x89PNG\r\n").unwrap();
    // A model to write into a place that cannot be written.
    let model = linear_model(dir);
    let blocker = dir.join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let unwritable = blocker.join("model.onnx");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cases = [
        (
            s(&newer),
            s(&dir.join("x.onnx")),
            "file format 3; this fastburn reads format 2",
        ),
        (s(&older), s(&dir.join("x.onnx")), "earlier fastburn"),
        (
            s(&not_model),
            s(&dir.join("x.onnx")),
            "not a fastburn model file",
        ),
        (
            s(&dir.join("missing.fbm")),
            s(&dir.join("x.onnx")),
            "missing.fbm",
        ),
        (s(&model), s(&unwritable), "a-file"),
    ];
    for (model, out_path, needle) in cases {
        let out = fastburn(dir, &["export", "--model", &model, &out_path]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{model} -> {out_path} succeeded");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{model}: {stderr}"
        );
        assert!(!Path::new(&out_path).exists(), "{out_path} was written");
    }
    // Nothing half-written left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `--format web`: without the `web` feature, one line saying how to build it; with it, a
/// folder that holds anything an export did not write is refused (and left as it was), a
/// parent that cannot be written is one line, and exporting again replaces an earlier export.
#[test]
fn web_exports_refuse_what_they_would_break() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let model = linear_model(dir);
    let export = |site: &Path| {
        let out = fastburn(
            dir,
            &[
                "export",
                "--format",
                "web",
                "--model",
                model.to_str().unwrap(),
                site.to_str().unwrap(),
            ],
        );
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let one_line_error = |stderr: &str, needle: &str| {
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
    };
    let site = dir.join("site");
    if cfg!(not(feature = "web")) {
        let (ok, _, stderr) = export(&site);
        assert!(!ok);
        one_line_error(&stderr, "cargo build --release --features web");
        assert!(!site.exists());
        return;
    }
    let (ok, stdout, stderr) = export(&site);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("fastburn_web_bg.wasm"), "{stdout}");
    let first = std::fs::read(site.join("index.html")).unwrap();
    // Again into the same folder: replaced whole.
    std::fs::remove_file(site.join("model.fbm")).unwrap();
    let (ok, _, stderr) = export(&site);
    assert!(ok, "{stderr}");
    assert!(site.join("model.fbm").is_file());
    assert_eq!(std::fs::read(site.join("index.html")).unwrap(), first);
    // A folder of the user's own.
    let mine = dir.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"keep me").unwrap();
    let (ok, _, stderr) = export(&mine);
    assert!(!ok);
    one_line_error(&stderr, "notes.txt");
    assert_eq!(std::fs::read(mine.join("notes.txt")).unwrap(), b"keep me");
    assert_eq!(std::fs::read_dir(&mine).unwrap().count(), 1);
    // Under a file.
    std::fs::write(dir.join("a-file"), b"").unwrap();
    let (ok, _, stderr) = export(&dir.join("a-file").join("site"));
    assert!(!ok);
    one_line_error(&stderr, "a-file");
    // With the system's reason, not only what failed.
    assert!(stderr.contains("cannot create it ("), "{stderr}");
    // Nothing left beside the outputs.
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".fastburn-web-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The chapter's linear model, trained one epoch by the binary and saved as `DIR/lin.fbm`.
fn linear_model(dir: &Path) -> std::path::PathBuf {
    let model = dir.join("lin.fbm");
    let out = fastburn(
        dir,
        &[
            "train",
            "--model",
            "linear",
            "--epochs",
            "1",
            "--quiet",
            "--save",
            model.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    model
}
