//! The chapter's exact numbers on the full data in `../shared/data`.
//!
//! These need the real MNIST archives, so they are `#[ignore]`d for a plain `cargo test` and run by
//! `.ci/run` as `cargo test --test shared_data -- --ignored` with `FASTBURN_SHARED_DATA` set to the
//! folder holding `mnist_sample.tgz`, `mnist_png.tgz` and `mnist/*.gz`. Without it they fail.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use fastburn::baseline::{PixelSimilarity, l1_distance, rmse_distance, run_baseline};
use fastburn::data::{DataLoader, DataLoaders, SampleImages};
use fastburn::data::{
    image_files, load_folder, load_images, mnist_idx, read_gray, read_labels_csv,
};
use fastburn::learner::{BasicOptim, Learner, SGD};
use fastburn::loss::mnist_loss;
use fastburn::metrics::BATCH_ACCURACY;
use fastburn::models::linear;
use fastburn::scratch::{flatten, init_params, linear1, train_epoch, validate_epoch};
use fastburn::show::repr;

fn shared() -> PathBuf {
    let dir = std::env::var_os("FASTBURN_SHARED_DATA")
        .expect("set FASTBURN_SHARED_DATA to the folder holding mnist_sample.tgz (.ci/run does)");
    PathBuf::from(dir)
}

/// MNIST_SAMPLE extracted once per test run (into `$FASTBURN_HOME`, which .ci/run makes fresh).
fn mnist_sample() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fastburn::data::Config::from_env()
            .untar_local(&shared().join("mnist_sample.tgz"))
            .unwrap()
    })
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn counts_match_the_chapter() {
    let root = mnist_sample();
    let count = |s: &str, d: &str| image_files(&root.join(s).join(d)).unwrap().len();
    assert_eq!([count("train", "3"), count("train", "7")], [6131, 6265]);
    assert_eq!([count("valid", "3"), count("valid", "7")], [1010, 1028]);
    assert_eq!(
        read_labels_csv(&root.join("labels.csv")).unwrap().len(),
        14434
    );
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn im3_slice_is_the_chapters() {
    let threes = image_files(&mnist_sample().join("train").join("3")).unwrap();
    assert!(threes[1].ends_with("train/3/10000.png"), "{:?}", threes[1]);
    let im3 = load_images(&threes[1..2])
        .unwrap()
        .to_tensor_u8(&fastburn::device());
    let crop = im3.reshape([28, 28]).slice([4..10, 4..10]);
    // fastbook chapter 4, `tensor(im3)[4:10,4:10]`.
    assert_eq!(
        repr(&crop),
        "tensor([[  0,   0,   0,   0,   0,   0],\n        \
                 [  0,   0,   0,   0,   0,  29],\n        \
                 [  0,   0,   0,  48, 166, 224],\n        \
                 [  0,  93, 244, 249, 253, 187],\n        \
                 [  0, 107, 253, 253, 230,  48],\n        \
                 [  0,   3,  20,  20,  15,   0]], dtype=u8)"
    );
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn pixel_similarity_reproduces_the_chapter() {
    let dev = fastburn::device();
    let root = mnist_sample();
    let report = run_baseline(root, &dev).unwrap();
    assert_eq!(report.counts, [6131, 6265, 1010, 1028]);
    let shown = |x: f32| format!("{x:.4}");
    assert_eq!(shown(report.accuracy_3s), "0.9168");
    assert_eq!(shown(report.accuracy_7s), "0.9854");
    assert_eq!(shown(report.accuracy), "0.9511");

    // Distances of `a_3 = stacked_threes[1]` to the two means, as the chapter prints them.
    let threes = load_folder(&root.join("train").join("3"))
        .unwrap()
        .to_tensor(&dev);
    let sevens = load_folder(&root.join("train").join("7"))
        .unwrap()
        .to_tensor(&dev);
    let model = PixelSimilarity::fit(threes.clone(), sevens);
    let a_3 = threes.slice_dim(0, 1..2).reshape([28, 28]);
    let d = [
        l1_distance(a_3.clone(), model.mean3.clone()),
        rmse_distance(a_3.clone(), model.mean3.clone()),
        l1_distance(a_3.clone(), model.mean7.clone()),
        rmse_distance(a_3, model.mean7.clone()),
    ];
    assert_eq!(d.map(shown), ["0.1114", "0.2021", "0.1586", "0.3021"]);
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn idx_files_hold_the_same_pixels_as_the_pngs() {
    let root = mnist_sample();
    let (train, labels) = mnist_idx(&shared().join("mnist"), true).unwrap();
    assert_eq!((train.len(), train.height, train.width), (60000, 28, 28));
    let (test, test_labels) = mnist_idx(&shared().join("mnist"), false).unwrap();
    assert_eq!((test.len(), test_labels.len()), (10000, 10000));
    // MNIST_SAMPLE names each PNG by its index in the original set.
    for (split, stack, lbls) in [("train", &train, &labels), ("valid", &test, &test_labels)] {
        for digit in ["3", "7"] {
            for path in image_files(&root.join(split).join(digit))
                .unwrap()
                .iter()
                .step_by(97)
            {
                let idx: usize = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                assert_eq!(lbls[idx].to_string(), digit, "{path:?}");
                assert_eq!(read_gray(path).unwrap().0, stack.image(idx), "{path:?}");
            }
        }
    }
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn cli_baseline_prints_the_chapters_accuracies() {
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["baseline", "--data"])
        .arg(mnist_sample())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for line in [
        "accuracy 3s      0.9168",
        "accuracy 7s      0.9854",
        "accuracy overall 0.9511",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in\n{stdout}"
        );
    }
}

/// The full MNIST through the mirror path of `untar_data`: the local `file://` mirror, checked
/// against its SHA256SUMS, extracted into the cache, 60,000 + 10,000 images.
#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn full_mnist_through_a_file_mirror() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["data", "fetch", "mnist"])
        .env("FASTBURN_HOME", home.path())
        .env(
            "FASTBURN_DATA_URL",
            format!("file://{}", shared().canonicalize().unwrap().display()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(path, home.path().join("data").join("mnist_png"));
    let count = |split: &str| -> usize {
        (0..10)
            .map(|d| {
                image_files(&path.join(split).join(d.to_string()))
                    .unwrap()
                    .len()
            })
            .sum()
    };
    assert_eq!((count("training"), count("testing")), (60000, 10000));
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn linear_from_scratch_reaches_the_chapters_accuracy() {
    let dev = fastburn::device();
    let (train, valid) = SampleImages::load(mnist_sample())
        .unwrap()
        .datasets(&dev)
        .unwrap();
    let dl = DataLoader::new(flatten(train), 256).shuffle(42);
    let valid_dl = DataLoader::new(flatten(valid), 256);
    let params = vec![
        init_params([784, 1], 1.0, &dev),
        init_params([1, 1], 1.0, &dev),
    ];
    let mut opt = BasicOptim::new(params, 1.0);
    let before = validate_epoch(&valid_dl, linear1, &opt.params);
    for _ in 0..20 {
        train_epoch(&dl, linear1, &mut opt);
    }
    let after = validate_epoch(&valid_dl, linear1, &opt.params);
    // The chapter: 0.9677 after 20 epochs.
    assert!(after >= 0.96 && after > before, "{before} -> {after}");
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn learner_with_a_linear_model_reaches_097() {
    let dev = fastburn::device();
    let dls = DataLoaders::threes_and_sevens(mnist_sample(), 256, 42, &dev).unwrap();
    let mut learn = Learner::new(
        dls,
        linear(784, 1, &dev),
        SGD,
        mnist_loss,
        vec![BATCH_ACCURACY],
    );
    learn.quiet(true);
    learn.fit(10, 1.0).unwrap();
    let acc = learn.recorder().metric("batch_accuracy").unwrap();
    assert_eq!(acc.len(), 10);
    assert!(acc[9] >= 0.965, "{acc:?}");
}

#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn cli_trains_simple_net_to_098() {
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args([
            "train",
            "--model",
            "simple-net",
            "--epochs",
            "40",
            "--lr",
            "0.1",
            "--data",
        ])
        .arg(mnist_sample())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\nepoch  train_loss  valid_loss  batch_accuracy  time\n"),
        "{stdout}"
    );
    let last = stdout
        .lines()
        .find(|l| l.starts_with("39 "))
        .expect("40 epoch rows");
    let acc: f32 = last.split_whitespace().nth(3).unwrap().parse().unwrap();
    // The chapter: 0.9823 after 40 epochs.
    assert!(acc >= 0.98, "{last}");
}

/// A short ResNet-18 run on a slice of MNIST_SAMPLE, fast enough for CI: it must beat chance
/// (0.5) by a wide margin. The full epoch (≥0.995) is in the README and the bench.
#[test]
#[ignore = "needs FASTBURN_SHARED_DATA"]
fn resnet18_on_a_slice_of_mnist_sample_beats_chance_widely() {
    use fastburn::data::{FolderOptions, ImageDataLoaders};
    use fastburn::learner::vision_learner;
    use fastburn::models::resnet18;
    let dev = fastburn::device();
    dev.seed(42);
    // Normalised inputs: over 40 batches at lr 0.01 they train faster than raw pixels (seed 42:
    // 0.94 vs 0.73; seed 1: 0.98 vs 0.92), while over the full one-cycle epoch at lr 0.1 raw
    // pixels, the default, did better on 4 of 5 seeds (bench/README.md).
    let opts = FolderOptions {
        bs: 32,
        max_train: Some(1280),
        max_valid: Some(512),
        normalize: true,
        ..FolderOptions::default()
    };
    let dls = ImageDataLoaders::from_folder(mnist_sample(), &opts, &dev).unwrap();
    let mut learn = vision_learner(dls, resnet18, &dev);
    learn.quiet(true);
    learn.fit_one_cycle(1, 0.01).unwrap();
    let acc = learn.recorder().values[0].metrics[0];
    assert!(acc >= 0.9, "accuracy {acc} after 40 batches");
}
