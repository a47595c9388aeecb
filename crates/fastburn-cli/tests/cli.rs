//! The `fastburn` binary as a user runs it: offline main job, `show`, `data`, errors and help.

mod binary;
#[path = "../../fastburn/tests/common/mod.rs"]
mod common;

use binary::{fastburn, final_accuracy, predicted, text};

use common::table_without_times;

use std::path::Path;

use burn::module::Module;
use burn::prelude::Device;
use fastburn::models::load_model;

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
        (vec!["data", "fetch", "mnist_sample"], "FASTBURN_DATA_URL"),
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

/// Each command turns the library's facts into advice it can take: one line, the fact first,
/// then a fix that names only options the command has.
#[test]
fn every_command_advises_in_its_own_words() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // A folder of two classes with one broken picture; a model file that is not one.
    for class in ["a", "b"] {
        std::fs::create_dir_all(dir.path().join("photos").join(class)).unwrap();
        for i in 0..4u8 {
            image::GrayImage::from_fn(16, 16, |x, _| image::Luma([x as u8 * 9 + i]))
                .save(dir.path().join(format!("photos/{class}/{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(dir.path().join("photos/a/broken.png"), b"not a png").unwrap();
    std::fs::write(dir.path().join("fake.fbm"), b"hello").unwrap();
    std::fs::write(dir.path().join("x.png"), b"hello").unwrap();
    let (photos, fake, x) = (path("photos"), path("fake.fbm"), path("x.png"));
    let plot = path("plot.txt");
    // The chapter's data, from the embedded sample the main job extracts into the cache.
    assert!(fastburn(home.path(), &["baseline"]).status.success());
    let sample = home.path().join("data").join("mnist_tiny_embedded");
    let sample = sample.to_str().unwrap();
    let cases: Vec<(Vec<&str>, Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["baseline", "--data", "/nonexistent/data"],
            vec!["/nonexistent/data", "--data takes an extracted folder"],
            vec![],
        ),
        (
            vec!["train", "--model", "simple-cnn", "--data", &photos],
            vec!["broken.png", "pass --skip-bad"],
            vec![],
        ),
        (
            vec!["lr-find", "--model", "simple-cnn", "--data", &photos],
            vec!["broken.png", "pass --skip-bad"],
            vec![],
        ),
        (
            vec![
                "lr-find", "--model", "linear", "--data", sample, "--num-it", "20", "--out", &plot,
            ],
            vec!["plot.txt", "--out takes a .png or .svg"],
            vec![],
        ),
        (
            vec!["predict", "--model", &fake, &x],
            vec![
                "fake.fbm",
                "not a fastburn model file",
                "fastburn train --save",
            ],
            vec![],
        ),
        (
            vec!["interpret", "--model", &fake, "--data", &photos],
            vec!["fake.fbm", "fastburn train --save"],
            vec!["--skip-bad"],
        ),
        (
            vec!["serve", "--model", &fake],
            vec!["fake.fbm", "fastburn train --save"],
            vec![],
        ),
        (
            vec!["show", &x],
            vec!["x.png", "remove or replace"],
            vec!["--skip-bad"],
        ),
        (
            vec!["data", "fetch", "mnist"],
            vec!["mnist_png.tgz", "FASTBURN_DATA_URL"],
            vec![],
        ),
    ];
    for (args, wanted, unwanted) in cases {
        let out = fastburn(home.path(), &args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        let line = stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{args:?}: {stderr}");
        assert!(line.starts_with("error: "), "{args:?}: {stderr}");
        for w in wanted {
            assert!(line.contains(w), "{args:?}: wants {w:?}: {stderr}");
        }
        for u in unwanted {
            assert!(!line.contains(u), "{args:?}: has {u:?}: {stderr}");
        }
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

    // A folder of two sizes has no mean image: one line naming the odd file, and a fix that
    // `show` can take (it has no --size).
    let mixed = home.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    std::fs::copy(&first, mixed.join("a.png")).unwrap();
    image::GrayImage::new(30, 20)
        .save(mixed.join("b.png"))
        .unwrap();
    let out = fastburn(home.path(), &["show", mixed.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("b.png") && stderr.contains("30x20") && stderr.contains("mean image"),
        "{stderr}"
    );
    assert!(!stderr.contains("--size"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
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
        vec!["train", "--help"],
        vec!["predict", "--help"],
        vec!["lr-find", "--help"],
        vec!["interpret", "--help"],
        vec!["export", "--help"],
    ] {
        let out = fastburn(home.path(), &args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage: fastburn"), "{args:?}");
    }
    let help = text(&fastburn(home.path(), &["train", "--help"]).stdout);
    assert!(
        !help.contains("(3 vs 7)") && help.contains("ten MNIST digits"),
        "{help}"
    );
    // The command-line reference (docs/cli.md, generated from the definitions) is what the
    // binary prints, command by command.
    let reference =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cli.md")).unwrap();
    for cmd in [
        vec![],
        vec!["baseline"],
        vec!["train"],
        vec!["predict"],
        vec!["lr-find"],
        vec!["interpret"],
        vec!["show"],
        vec!["serve"],
        vec!["data", "check"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = text(&fastburn(home.path(), &args).stdout);
        assert!(
            reference.contains(help.trim_end()),
            "docs/cli.md lacks `fastburn {}`'s help as printed:\n{help}",
            cmd.join(" ")
        );
    }
    let out = fastburn(home.path(), &["data", "list"]);
    let list = text(&out.stdout);
    assert!(
        list.contains("mnist_sample") && list.contains("not cached"),
        "{list}"
    );
}

#[test]
fn train_save_predict_and_same_seed_same_numbers() {
    let home = tempfile::tempdir().unwrap();
    let model = home.path().join("lin.fbm");
    let args = [
        "train",
        "--model",
        "linear",
        "--epochs",
        "4",
        "--seed",
        "7",
        "--save",
        model.to_str().unwrap(),
    ];
    let first = fastburn(home.path(), &args);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    let rows = table_without_times(&stdout);
    assert_eq!(rows.len(), 4, "{stdout}");
    let second = table_without_times(&text(&fastburn(home.path(), &args).stdout));
    assert_eq!(rows, second, "same seed, same numbers");
    let other = table_without_times(&text(
        &fastburn(
            home.path(),
            &["train", "--model", "linear", "--epochs", "4", "--seed", "8"],
        )
        .stdout,
    ));
    assert_ne!(rows, other, "another seed, other numbers");
    let acc: f32 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("final accuracy "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(acc > 0.9, "{acc}");

    // Predict every validation image of the embedded sample: nearly all right.
    let sample = home
        .path()
        .join("data")
        .join("mnist_tiny_embedded")
        .join("valid");
    let mut right = 0;
    let mut total = 0;
    for digit in ["3", "7"] {
        for entry in std::fs::read_dir(sample.join(digit)).unwrap().take(10) {
            let img = entry.unwrap().path();
            let out = fastburn(
                home.path(),
                &[
                    "predict",
                    "--model",
                    model.to_str().unwrap(),
                    img.to_str().unwrap(),
                ],
            );
            assert!(out.status.success(), "{}", text(&out.stderr));
            let line = text(&out.stdout);
            let (class, prob) = predicted(&line);
            let prob: f32 = prob.parse().unwrap();
            assert!((0.5..=1.0).contains(&prob), "{line}");
            right += usize::from(class == digit);
            total += 1;
        }
    }
    assert!(right >= 17, "{right}/{total} right");

    // A truncated model file and a 32x32 image: one-line errors naming the file.
    let bytes = std::fs::read(&model).unwrap();
    let cut = home.path().join("cut.fbm");
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let some_png = sample
        .join("3")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = fastburn(
        home.path(),
        &[
            "predict",
            "--model",
            cut.to_str().unwrap(),
            some_png.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cut.fbm"),
        "{}",
        text(&out.stderr)
    );
    let big = home.path().join("big.png");
    image::GrayImage::new(32, 32).save(&big).unwrap();
    let out = fastburn(
        home.path(),
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            big.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("32x32") && stderr.contains("big.png"),
        "{stderr}"
    );
    // The fix predict can offer: predict has no --size; the vision models resize.
    assert!(
        stderr.contains("28x28") && stderr.contains("simple-cnn") && !stderr.contains("--size"),
        "{stderr}"
    );

    // A learning rate that overflows: stops with the epoch and batch named.
    let out = fastburn(
        home.path(),
        &[
            "train", "--model", "linear", "--lr", "1e40", "--epochs", "2",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("epoch 0, batch 1"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn resnet_train_predict_interpret_and_lr_find() {
    let home = tempfile::tempdir().unwrap();
    let model = home.path().join("r18.fbm");
    let args = [
        "train",
        "--model",
        "resnet18",
        "--epochs",
        "1",
        "--lr",
        "0.01",
        "--bs",
        "32",
        "--max-train",
        "256",
        "--max-valid",
        "64",
        "--normalize",
        "--save",
        model.to_str().unwrap(),
    ];
    let out = fastburn(home.path(), &args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("(one-cycle)"), "{stdout}");
    // --normalize stores the training set's statistics with the model (for predict and
    // interpret), and training on from it with --init keeps normalising the same way.
    let norm = fastburn::models::read_model_info(&model).unwrap().norm;
    let stats = norm.clone().expect("normalised");
    let (mean, std) = (stats.mean[0], stats.std[0]);
    assert!(
        mean > 0.05 && mean < 0.25 && std > 0.2 && std < 0.45,
        "{mean} {std}"
    );
    let more = home.path().join("r18_more.fbm");
    let mut again = args.to_vec();
    again.retain(|a| *a != "--normalize");
    let n = again.len();
    again[n - 1] = more.to_str().unwrap();
    again.extend(["--init", model.to_str().unwrap(), "-q"]);
    let out = fastburn(home.path(), &again);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fastburn::models::read_model_info(&more).unwrap().norm, norm);
    assert!(
        stdout.contains("epoch  train_loss  valid_loss  accuracy  time\n0 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("images: 256 train, 64 valid, classes [\"3\", \"7\"]"),
        "{stdout}"
    );

    let sample = home.path().join("data").join("mnist_tiny_embedded");
    let img = sample
        .join("valid")
        .join("7")
        .read_dir()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = fastburn(
        home.path(),
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            img.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The line says what the saved model, normalisation and all, makes of the image.
    let (net, info) = load_model(&model, &Device::flex()).unwrap();
    let input = info
        .item_tfms
        .prepare(&fastburn::data::open_image(&img).unwrap());
    let (class, prob) = fastburn::models::classify(&net.valid(), info.norm.as_ref(), &input);
    assert_eq!(
        text(&out.stdout),
        format!(
            "{}: {} (probability {prob:.4})\n",
            img.display(),
            info.vocab[class]
        )
    );

    let pics = home.path().join("interp");
    let out = fastburn(
        home.path(),
        &[
            "interpret",
            "--model",
            model.to_str().unwrap(),
            "--data",
            sample.to_str().unwrap(),
            "--out",
            pics.to_str().unwrap(),
            "--max-valid",
            "64",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("confusion matrix:") && report.contains("(") && report.contains("/64)"),
        "{report}"
    );
    for name in [
        "confusion_matrix.png",
        "top_losses.png",
        "show_results.png",
        "show_batch.png",
    ] {
        let (w, h) = image::image_dimensions(pics.join(name)).unwrap();
        assert!(w >= 300 && h >= 250, "{name} is {w}x{h}: too small to read");
    }
    // A chapter model is not a resnet: interpret says so.
    let lin = home.path().join("lin.fbm");
    let trained = fastburn(
        home.path(),
        &[
            "train",
            "--model",
            "linear",
            "--epochs",
            "1",
            "-q",
            "--save",
            lin.to_str().unwrap(),
        ],
    );
    assert!(trained.status.success());
    // --init starts from the saved weights: with a vanishing rate the accuracy is the saved
    // model's, not that of fresh weights (the same seed's fresh start lands elsewhere).
    let tiny_lr = |init: Option<&Path>| {
        let mut args = vec![
            "train", "--model", "linear", "--epochs", "1", "--lr", "1e-12", "-q",
        ];
        if let Some(p) = init {
            args.extend(["--init", p.to_str().unwrap()]);
        }
        let out = fastburn(home.path(), &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        final_accuracy(&out)
    };
    let saved_acc = final_accuracy(&trained);
    assert_eq!(tiny_lr(Some(&lin)), saved_acc);
    assert_ne!(tiny_lr(None), saved_acc);
    let out = fastburn(
        home.path(),
        &[
            "train",
            "--model",
            "resnet18",
            "--max-train",
            "64",
            "--init",
            lin.to_str().unwrap(),
        ],
    );
    let err = text(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("lin.fbm")
            && err.contains("holds a linear model, not resnet18")
            && err.contains("--init"),
        "{err}"
    );
    let out = fastburn(
        home.path(),
        &[
            "interpret",
            "--model",
            lin.to_str().unwrap(),
            "--data",
            sample.to_str().unwrap(),
        ],
    );
    assert!(
        !out.status.success() && text(&out.stderr).contains("resnet"),
        "{}",
        text(&out.stderr)
    );

    let plot = home.path().join("lr.png");
    let out = fastburn(
        home.path(),
        &[
            "lr-find",
            "--model",
            "simple-net",
            "--num-it",
            "40",
            "--out",
            plot.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("suggested lr (valley)"),
        "{}",
        text(&out.stdout)
    );
    assert!(image::open(&plot).is_ok());
}

#[test]
fn resnet_same_seed_same_numbers() {
    // The convolutions' backward pass runs on several threads (src/models/conv.rs); each thread
    // owns its slice of the batch, so the numbers must not depend on scheduling. (Separate
    // processes: tests in one process share the seeded generator.)
    let home = tempfile::tempdir().unwrap();
    let args = [
        "train",
        "--model",
        "resnet18",
        "--bs",
        "32",
        "--max-train",
        "96",
        "--max-valid",
        "64",
        "--lr",
        "0.01",
        "--seed",
        "3",
    ];
    let run = || {
        let out = fastburn(home.path(), &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        table_without_times(&text(&out.stdout))
    };
    let first = run();
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first, run());
}

/// `FASTBURN_DEVICE` naming a GPU backend the default build lacks, or nothing fastburn knows:
/// one line naming what the build has, and no fallback to the CPU unasked.
#[test]
#[cfg(not(any(feature = "wgpu", feature = "cuda")))]
fn a_device_the_build_lacks_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    for (device, wanted) in [
        (
            "wgpu",
            "FASTBURN_DEVICE=wgpu: this fastburn was built without the wgpu backend (it has flex); build fastburn with that feature",
        ),
        ("cuda", "built without the cuda backend (it has flex)"),
        (
            "gpu",
            "FASTBURN_DEVICE=gpu: not a backend (fastburn has flex, wgpu and cuda)",
        ),
    ] {
        let out = binary::command(home.path())
            .args(["train", "--model", "linear", "--epochs", "1"])
            .env("FASTBURN_DEVICE", device)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{device}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(wanted), "{device}: {stderr}");
        assert!(!text(&out.stdout).contains("final accuracy"));
    }
}

/// Started by a launcher as one of several ranks (the environment mpirun and srun give their
/// processes): a build without MPI refuses to train alone in each rank, and only `train` runs
/// as several processes; each is one line, before anything is read or written.
#[test]
fn a_launcher_the_build_cannot_join_is_one_line() {
    let home = tempfile::tempdir().unwrap();
    let launchers = [
        (
            "OMPI_COMM_WORLD_RANK",
            "OMPI_COMM_WORLD_SIZE",
            "Open MPI's mpirun",
        ),
        ("PMI_RANK", "PMI_SIZE", "an MPICH (Hydra) mpirun"),
        ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "Slurm's srun"),
    ];
    for (rank, size, who) in launchers {
        let run = |args: &[&str]| {
            binary::command(home.path())
                .args(args)
                .env(rank, "1")
                .env(size, "2")
                .output()
                .unwrap()
        };
        let mut cases = vec![(
            run(&["predict", "--model", "m.fbm", "x.png"]),
            "only `fastburn train` runs as several processes",
        )];
        if !cfg!(feature = "mpi") {
            cases.push((
                run(&["train", "--model", "linear", "--epochs", "1"]),
                "this fastburn was built without MPI, so each rank would train on its own: \
                 build it with `cargo build --release --features mpi`",
            ));
        }
        for (out, wanted) in cases {
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
            assert!(
                stderr.starts_with(&format!(
                    "error: this process is rank 1 of 2 started by {who}"
                )) && stderr.contains(wanted),
                "{stderr}"
            );
            assert!(text(&out.stdout).is_empty());
        }
    }
    // A launcher's world of one is a process alone.
    let out = binary::command(home.path())
        .args(["train", "--model", "linear", "--epochs", "1", "--quiet"])
        .env("OMPI_COMM_WORLD_RANK", "0")
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
