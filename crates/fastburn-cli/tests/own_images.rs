//! Your own images: a folder of colour pictures of mixed sizes and formats, as a new user has one,
//! through the library (split, resize, augmentation, streaming) and the command line (`data
//! check`, `train --size`, `--valid-pct`, `--skip-bad`, `predict` on a JPEG).

use std::path::{Path, PathBuf};

use burn::prelude::*;
use fastburn::data::{
    AugTransforms, Dataset, FolderOptions, ImageDataLoaders, ResizeMethod, aug_transforms,
};

/// A picture of `w x h`: a disc of `colour` on a darker background, with some texture.
fn picture(w: u32, h: u32, colour: [u8; 3], seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f32 - w as f32 / 2.0, y as f32 - h as f32 / 2.0);
        let inside = dx * dx + dy * dy < (w.min(h) as f32 / 3.0).powi(2);
        let noise = ((x * 31 + y * 17 + seed * 7) % 23) as u8;
        if inside {
            image::Rgb(colour.map(|c| c.saturating_sub(noise)))
        } else {
            image::Rgb([noise, noise, 40 + noise])
        }
    })
}

/// Save `img` as `path`'s format: PNG (8-bit RGB, 16-bit RGB or RGBA by `variant`), JPEG, GIF,
/// BMP, WebP or TIFF.
fn save(img: &image::RgbImage, path: &Path, variant: usize) {
    let dynamic = image::DynamicImage::ImageRgb8(img.clone());
    let dynamic = match (path.extension().unwrap().to_str().unwrap(), variant % 3) {
        ("png", 1) => image::DynamicImage::ImageRgb16(dynamic.to_rgb16()),
        ("png", 2) => image::DynamicImage::ImageRgba8(dynamic.to_rgba8()),
        _ => dynamic,
    };
    dynamic.save(path).unwrap();
}

const FORMATS: [&str; 6] = ["png", "jpg", "gif", "bmp", "webp", "tiff"];

/// `root/<split>/<class>/*` (or `root/<class>/*` with no split) with red and blue discs, sizes
/// 20-44 pixels, every format; returns the files written.
fn make_folder(root: &Path, splits: &[(&str, usize)]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for &(split, n) in splits {
        for (class, colour) in [("red", [230, 40, 30]), ("blue", [30, 60, 230])] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let (w, h) = (20 + (i * 7 % 25) as u32, 20 + (i * 11 % 25) as u32);
                let path = dir.join(format!("{class}{i}.{}", FORMATS[i % FORMATS.len()]));
                save(&picture(w, h, colour, i as u32), &path, i);
                files.push(path);
            }
        }
    }
    files
}

mod binary;
use binary::text;

/// `fastburn ARGS` on the CPU whatever backends the build has.
fn fastburn(home: &Path, args: &[&str]) -> std::process::Output {
    binary::command(home)
        .env("FASTBURN_DEVICE", "flex")
        .args(args)
        .output()
        .unwrap()
}

/// The done-when of the own-images issue, through the binary.
#[test]
fn a_folder_of_photos_trains_and_predicts_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dir.path().join("photos");
    make_folder(&data, &[("train", 12), ("valid", 6)]);
    // One corrupt file: a JPEG cut short.
    let good = std::fs::read(data.join("train/red/red1.jpg")).unwrap();
    let broken = data.join("train/red/broken.jpg");
    std::fs::write(&broken, &good[..good.len() / 3]).unwrap();
    let data_s = data.to_str().unwrap();

    // `data check` lists it, with the class counts and sizes, and fails.
    let out = fastburn(&home, &["data", "check", data_s]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("36 images in 2 classes; 1 unreadable"),
        "{stdout}"
    );
    assert!(stdout.contains("red: train 12, valid 6"), "{stdout}");
    assert!(stdout.contains("colour"), "{stdout}");
    assert!(
        stdout.contains("broken.jpg") && stdout.contains("Jpeg"),
        "{stdout}"
    );

    // Training stops on it with one line naming the file and the fix...
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train", "--model", "resnet18", "--data", data_s, "--size", "32", "--epochs", "1",
            "--bs", "8", "--quiet",
        ];
        args.extend_from_slice(extra);
        fastburn(&home, &args)
    };
    let out = train(&[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.jpg") && stderr.contains("--skip-bad"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // ...and trains past it with --skip-bad: colour kept, resized to 32x32, saved.
    let model = dir.path().join("photos.fbm");
    let out = train(&["--skip-bad", "--save", model.to_str().unwrap()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("warning: skipping") && stderr.contains("broken.jpg"));
    // The warning says why; it does not tell the user to pass the flag they passed.
    assert!(!stderr.contains("--skip-bad"), "{stderr}");
    assert!(stdout.contains("final accuracy"), "{stdout}");
    let info = fastburn::models::read_model_info(&model).unwrap();
    assert_eq!(info.vocab, ["blue", "red"]);
    assert_eq!(
        (info.item_tfms.channels, info.item_tfms.size),
        (3, Some((32, 32)))
    );

    // predict on a JPEG of another size, with the saved model's transforms.
    let photo = dir.path().join("new.jpg");
    picture(50, 37, [230, 40, 30], 99).save(&photo).unwrap();
    let out = fastburn(
        &home,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            photo.to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with(&format!("{}: ", photo.display()))
            && (stdout.contains(": red (probability") || stdout.contains(": blue (probability")),
        "{stdout}"
    );

    // predict on the broken file: one line naming it, and no flag `predict` does not have.
    let out = fastburn(
        &home,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            broken.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.jpg") && stderr.contains("image viewer"),
        "{stderr}"
    );
    assert!(!stderr.contains("--skip-bad"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // interpret reads the same folder: it stops on the broken file as train did (the flag it
    // names exists there too), and with --skip-bad it reports and draws its pictures.
    let pictures = dir.path().join("interpret");
    let interpret = |extra: &[&str]| {
        let mut args = vec![
            "interpret",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data_s,
            "--out",
            pictures.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        fastburn(&home, &args)
    };
    let out = interpret(&[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("broken.jpg") && stderr.contains("--skip-bad"),
        "{stderr}"
    );
    let out = interpret(&["--skip-bad"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("valid accuracy"), "{stdout}");
    assert!(pictures.join("confusion_matrix.png").is_file());

    // No train/valid folders: --valid-pct holds out a quarter at random.
    let flat = dir.path().join("flat");
    make_folder(&flat, &[("", 8)]);
    let out = fastburn(&home, &["data", "check", flat.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("  red: 8\n") && stdout.contains("no train/ and valid/ folders"),
        "{stdout}"
    );
    let out = fastburn(
        &home,
        &[
            "train",
            "--model",
            "simple-cnn",
            "--data",
            flat.to_str().unwrap(),
            "--size",
            "24x32",
            "--resize-method",
            "pad",
            "--valid-pct",
            "0.25",
            "--epochs",
            "1",
            "--bs",
            "4",
            "--aug",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "images: 12 train, 4 valid, classes [\"blue\", \"red\"], batch size 4, colour 24x32"
        ),
        "{stdout}"
    );
}

fn opts() -> FolderOptions {
    FolderOptions {
        size: Some((24, 24)),
        bs: 8,
        ..FolderOptions::default()
    }
}

fn floats(t: Tensor<4>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// Augmented training batches depend only on the seed; validation is never augmented (nor
/// randomly cropped), whatever the options.
#[test]
fn augmentation_is_seeded_and_never_touches_validation() {
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path(), &[("train", 8), ("valid", 4)]);
    let dev = fastburn::device();
    let aug = FolderOptions {
        aug: Some(aug_transforms()),
        ..opts()
    };
    let a = ImageDataLoaders::from_folder(dir.path(), &aug, &dev).unwrap();
    let b = ImageDataLoaders::from_folder(dir.path(), &aug, &dev).unwrap();
    let plain = ImageDataLoaders::from_folder(dir.path(), &opts(), &dev).unwrap();
    let idx: Vec<usize> = (0..8).collect();
    let batch = |dls: &fastburn::data::DataLoaders<fastburn::data::ImageDataset>, seed| {
        floats(dls.train.dataset.train_batch(&idx, seed).unwrap().0)
    };
    assert_eq!(batch(&a, 7), batch(&b, 7), "same seed, same batch");
    assert_ne!(batch(&a, 7), batch(&a, 8), "another seed, another batch");
    assert_ne!(batch(&a, 7), batch(&plain, 7), "augmented");
    assert_eq!(
        floats(a.train.dataset.batch(&idx).unwrap().0),
        floats(plain.train.dataset.batch(&idx).unwrap().0),
        "batch() is the unaugmented, centre-cropped item"
    );
    let all: Vec<usize> = (0..a.valid.dataset.len()).collect();
    for seed in [1, 2, 3] {
        assert_eq!(
            floats(a.valid.dataset.train_batch(&all, seed).unwrap().0),
            floats(plain.valid.dataset.batch(&all).unwrap().0),
            "validation is never augmented"
        );
    }
    // Digits' augmentation never flips: a mirrored digit is another symbol.
    let d = AugTransforms::digits();
    assert!(!d.do_flip && !d.flip_vert && d.max_rotate > 0.0);
}

/// Past its memory budget a data set is decoded per batch, with the same batches as in memory.
#[test]
fn streaming_gives_the_batches_of_the_in_memory_set() {
    let dir = tempfile::tempdir().unwrap();
    make_folder(dir.path(), &[("train", 6), ("valid", 3)]);
    let dev = fastburn::device();
    for method in [ResizeMethod::Crop, ResizeMethod::Squish, ResizeMethod::Pad] {
        let mem = FolderOptions {
            method,
            aug: Some(aug_transforms()),
            ..opts()
        };
        let stream = FolderOptions {
            max_memory: 0,
            ..mem.clone()
        };
        let m = ImageDataLoaders::from_folder(dir.path(), &mem, &dev).unwrap();
        let s = ImageDataLoaders::from_folder(dir.path(), &stream, &dev).unwrap();
        assert!(!m.train.dataset.is_streaming() && s.train.dataset.is_streaming());
        let idx: Vec<usize> = (0..12).rev().collect();
        assert_eq!(
            floats(m.train.dataset.train_batch(&idx, 5).unwrap().0),
            floats(s.train.dataset.train_batch(&idx, 5).unwrap().0),
            "{method}"
        );
        assert_eq!(
            floats(m.valid.dataset.all().unwrap().0),
            floats(s.valid.dataset.all().unwrap().0)
        );
    }
}

/// A data set of grey images stays one channel; one colour image makes it three.
#[test]
fn grey_stays_grey_and_colour_stays_colour() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "valid"] {
        for class in ["a", "b"] {
            let d = dir.path().join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..3u8 {
                image::GrayImage::from_pixel(20, 20, image::Luma([i * 50 + (class == "b") as u8]))
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let dev = fastburn::device();
    let dls = ImageDataLoaders::from_folder(dir.path(), &opts(), &dev).unwrap();
    assert_eq!(dls.item_tfms.channels, 1);
    assert_eq!(dls.train.dataset.all().unwrap().0.dims(), [6, 1, 24, 24]);
    picture(30, 20, [200, 10, 10], 1)
        .save(dir.path().join("train/a/colour.jpg"))
        .unwrap();
    let dls = ImageDataLoaders::from_folder(dir.path(), &opts(), &dev).unwrap();
    assert_eq!(dls.item_tfms.channels, 3);
    let x = floats(dls.train.dataset.all().unwrap().0);
    // A grey image as three equal channels.
    let per = 3 * 24 * 24;
    let grey = &x[per..2 * per];
    assert_eq!(&grey[..576], &grey[576..1152]);
}

/// A folder whose training images hold one class (all pictures in one folder, say) is refused
/// with the layout that works, as is a run of zero epochs; neither trains nor saves anything.
#[test]
fn one_class_or_zero_epochs_is_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dir.path().join("reds");
    make_folder(&dir.path().join("two"), &[("", 4)]);
    make_folder(&dir.path().join("spare"), &[("", 4)]);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::rename(dir.path().join("spare/red"), data.join("red")).unwrap();
    let model = dir.path().join("m.fbm");
    let train = |data: &Path, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "simple-cnn",
            "--data",
            data.to_str().unwrap(),
            "--size",
            "16",
            "--save",
            model.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        fastburn(&home, &args)
    };
    let out = train(&data, &[]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        stderr.contains(data.to_str().unwrap())
            && stderr.contains("one class")
            && stderr.contains("red"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!model.exists());

    let out = train(&dir.path().join("two"), &["--epochs", "0"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(stderr.contains("--epochs"), "{stderr}");
    assert!(!model.exists());
}

/// Class names are the folders' names, whatever they hold: a class named `a,b` (and one with a
/// space) survives training, saving, loading and predicting, as one class each.
#[test]
fn class_names_with_commas_survive_save_load_predict() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dir.path().join("odd names");
    for (class, colour) in [("a,b", [230, 40, 30]), ("c d", [30, 60, 230])] {
        let folder = data.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..10 {
            save(
                &picture(24, 24, colour, i),
                &folder.join(format!("{i}.png")),
                0,
            );
        }
    }
    let model = dir.path().join("odd.fbm");
    let out = fastburn(
        &home,
        &[
            "train",
            "--model",
            "simple-cnn",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "1",
            "--bs",
            "4",
            "--quiet",
            "--save",
            model.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(r#"classes ["a,b", "c d"]"#),
        "{}",
        text(&out.stdout)
    );
    let info = fastburn::models::read_model_info(&model).unwrap();
    assert_eq!(info.vocab, ["a,b", "c d"]);
    let (_, loaded) = fastburn::models::load_model(&model, &Device::flex()).unwrap();
    assert_eq!(loaded.vocab, ["a,b", "c d"]);
    let image = data.join("a,b").join("3.png");
    let out = fastburn(
        &home,
        &[
            "predict",
            "--model",
            model.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let class = stdout
        .trim()
        .rsplit_once(" (probability")
        .and_then(|(head, _)| head.rsplit_once(": "))
        .map(|(_, class)| class.to_string());
    assert!(matches!(class.as_deref(), Some("a,b" | "c d")), "{stdout}");
}

/// Presizing and test-time augmentation from the command line: `train --presize --size
/// --min-scale` keeps both sizes and the augmentation in the model file; `predict --tta` and
/// `interpret --tta` use them; a presize without a size, or a min-scale out of (0, 1], is one
/// line.
#[test]
fn presizing_and_tta_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dir.path().join("photos");
    make_folder(&data, &[("train", 8), ("valid", 4)]);
    let data_s = data.to_str().unwrap();
    let model = dir.path().join("presized.fbm");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "simple-cnn",
            "--data",
            data_s,
            "--epochs",
            "1",
            "--bs",
            "4",
        ];
        args.extend_from_slice(extra);
        fastburn(&home, &args)
    };
    let out = train(&[
        "--size",
        "24",
        "--presize",
        "40",
        "--min-scale",
        "0.75",
        "--aug",
        "--save",
        model.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("colour 24x24 (presized to 40x40)") && stdout.contains("final accuracy"),
        "{stdout}"
    );
    let info = fastburn::models::read_model_info(&model).unwrap();
    assert_eq!(
        (info.item_tfms.size, info.item_tfms.presize),
        (Some((24, 24)), Some((40, 40)))
    );
    let aug = info.aug.expect("the augmentation is saved");
    assert_eq!((aug.do_flip, aug.min_scale), (true, 0.75));

    let photo = data.join("valid/red/red0.png");
    let predict = |extra: &[&str]| {
        let mut args = vec!["predict", "--model", model.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(photo.to_str().unwrap());
        fastburn(&home, &args)
    };
    let (plain, tta) = (predict(&[]), predict(&["--tta"]));
    let (plain, tta) = (text(&plain.stdout), text(&tta.stdout));
    assert!(
        plain.contains(" (probability ") && !plain.contains("TTA"),
        "{plain}"
    );
    // (That TTA's numbers differ from the plain ones is tests/vision.rs's.)
    assert!(tta.contains(", with TTA)"), "{tta}");

    let out = fastburn(
        &home,
        &[
            "interpret",
            "--model",
            model.to_str().unwrap(),
            "--data",
            data_s,
            "--out",
            dir.path().join("interpret").to_str().unwrap(),
            "--tta",
        ],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("valid accuracy") && stdout.contains("/8), with TTA"),
        "{stdout}"
    );

    for (args, says) in [
        (&["--presize", "40"][..], "--size"),
        (
            &["--size", "24", "--presize", "40", "--min-scale", "1.5"][..],
            "(0, 1]",
        ),
        (&["--size", "24", "--presize", "16"][..], "presize"),
    ] {
        let out = train(args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}
