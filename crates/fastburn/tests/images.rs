//! Folders of PNGs into tensors, on the embedded sample (real MNIST digits), and every bad input
//! the loader must report by file name instead of panicking.

use std::path::{Path, PathBuf};

use fastburn::Error;
use fastburn::baseline::{
    PixelSimilarity, l1_distance, mnist_distance, rmse_distance, run_baseline,
};
use fastburn::data::{
    LabeledImages, embedded_sample, image_files, load_folder, load_images, read_gray,
    read_labels_csv,
};
use fastburn::show::repr;

fn sample() -> PathBuf {
    embedded_sample().expect("embedded sample extracts")
}

#[test]
fn embedded_sample_has_the_mnist_sample_layout() {
    let root = sample();
    for split in ["train", "valid"] {
        for digit in ["3", "7"] {
            let files = image_files(&root.join(split).join(digit)).unwrap();
            assert_eq!(files.len(), 350, "{split}/{digit}");
            let mut sorted = files.clone();
            sorted.sort();
            assert_eq!(files, sorted);
        }
    }
    let rows = read_labels_csv(&root.join("labels.csv")).unwrap();
    assert_eq!(rows.len(), 1400);
    for (name, label) in &rows {
        assert!(root.join(name).is_file(), "{name}");
        let digit = name.split('/').nth(1).unwrap();
        assert_eq!(label, if digit == "3" { "0" } else { "1" }, "{name}");
    }
}

#[test]
fn images_become_u8_and_float_tensors() {
    let dev = fastburn::device();
    let threes = load_folder(&sample().join("train").join("3")).unwrap();
    assert_eq!((threes.len(), threes.height, threes.width), (350, 28, 28));
    let t = threes.to_tensor_u8(&dev);
    assert_eq!(t.dims(), [350, 28, 28]);
    assert_eq!(t.dtype(), burn::tensor::DType::U8);
    // Same pixels as decoding the file on its own.
    let (px, h, w) = read_gray(&threes.paths[1]).unwrap();
    assert_eq!((h, w), (28, 28));
    let row: Vec<i64> = t
        .clone()
        .slice([1..2, 14..15, 0..28])
        .into_data()
        .iter::<i64>()
        .collect();
    assert_eq!(
        row,
        px[14 * 28..15 * 28]
            .iter()
            .map(|&p| p as i64)
            .collect::<Vec<_>>()
    );
    // `/255` floats: same image, scaled, and within 0..=1.
    let f = threes.to_tensor(&dev);
    let max = f.clone().max().into_scalar::<f32>();
    assert!(max <= 1.0 && max > 0.9, "{max}");
    let diff = (f.slice_dim(0, 1..2) * 255.0 - t.slice_dim(0, 1..2).float())
        .abs()
        .max()
        .into_scalar::<f32>();
    assert!(diff < 1e-3, "{diff}");
}

#[test]
fn labels_from_folders_and_from_csv_agree() {
    let root = sample();
    let by_folder = LabeledImages::from_folder(&root.join("valid")).unwrap();
    let by_csv = LabeledImages::from_labels_csv(&root, "valid/").unwrap();
    assert_eq!(by_folder.vocab, vec!["3", "7"]);
    assert_eq!(by_csv.vocab, vec!["0", "1"]);
    assert_eq!(by_folder.labels, by_csv.labels);
    assert_eq!(by_folder.images, by_csv.images);
    let labels = by_folder.labels_tensor(&fastburn::device());
    assert_eq!(labels.sum().into_scalar::<i64>(), 350);
}

#[test]
fn pixel_similarity_on_the_embedded_sample() {
    let dev = fastburn::device();
    let root = sample();
    let report = run_baseline(&root, &dev).unwrap();
    assert_eq!(report.counts, [350, 350, 350, 350]);
    // The chapter gets 0.9511 on the full set; 350 images a folder land close to that.
    assert!(
        report.accuracy_3s > 0.85 && report.accuracy_7s > 0.95,
        "{report:?}"
    );
    assert!((report.accuracy - (report.accuracy_3s + report.accuracy_7s) / 2.0).abs() < 1e-6);

    // `mnist_distance` broadcasts: row i equals the L1 distance of image i alone.
    let threes = load_folder(&root.join("train").join("3"))
        .unwrap()
        .to_tensor(&dev);
    let sevens = load_folder(&root.join("train").join("7"))
        .unwrap()
        .to_tensor(&dev);
    let model = PixelSimilarity::fit(threes.clone(), sevens);
    let batch = mnist_distance(threes.clone().slice_dim(0, 0..5), model.mean3.clone());
    let batch: Vec<f32> = batch.into_data().try_to_vec().unwrap();
    for (i, d) in batch.iter().enumerate() {
        let one = threes.clone().slice_dim(0, i..i + 1).reshape([28, 28]);
        let single = l1_distance(one.clone(), model.mean3.clone());
        assert!((d - single).abs() < 1e-6, "{i}: {d} vs {single}");
        assert!(rmse_distance(one, model.mean3.clone()) >= single);
    }
}

#[test]
fn slicing_prints_like_pytorch() {
    let root = sample();
    let files = image_files(&root.join("train").join("3")).unwrap();
    let im3 = load_images(&files[1..2])
        .unwrap()
        .to_tensor_u8(&fastburn::device());
    let crop = im3.reshape([28, 28]).slice([4..10, 4..10]);
    let text = repr(&crop);
    assert!(text.starts_with("tensor([["), "{text}");
    assert!(text.ends_with("]], dtype=u8)"), "{text}");
    assert_eq!(text.lines().count(), 6);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([200]));
    let mut out = Vec::new();
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = png(28, 28);

    // A corrupt PNG: a real one cut in half.
    let d = dir.path().join("corrupt");
    write(&d, "a.png", &good);
    let cut = write(&d, "b.png", &good[..good.len() / 2]);
    let err = load_folder(&d).unwrap_err();
    assert!(
        matches!(err, Error::BadImage { ref path, .. } if *path == cut),
        "{err}"
    );

    // Not an image at all.
    let d = dir.path().join("text");
    write(&d, "a.png", &good);
    let txt = write(&d, "notes.txt", b"hello");
    let err = load_folder(&d).unwrap_err();
    assert!(
        matches!(err, Error::BadImage { ref path, .. } if *path == txt),
        "{err}"
    );
    assert!(err.to_string().contains("notes.txt"));

    // The wrong size.
    let d = dir.path().join("size");
    write(&d, "a.png", &good);
    let big = write(&d, "b.png", &png(32, 30));
    let err = load_folder(&d).unwrap_err();
    assert!(
        matches!(err, Error::ImageSize { ref path, got: (30, 32), .. } if *path == big),
        "{err}"
    );
    assert!(err.to_string().contains("32x30"), "{err}");
    // A fact, no advice: what to do depends on the caller (the command line adds its own).
    assert!(!err.to_string().contains("--"), "{err}");
    // The chapter's layout (train/3, ...) names the odd file too.
    let chapter = dir.path().join("chapter");
    for (i, split) in ["train/3", "train/7", "valid/3", "valid/7"]
        .iter()
        .enumerate()
    {
        write(&chapter.join(split), "a.png", &good);
        if i == 1 {
            write(&chapter.join(split), "b.png", &png(32, 30));
        }
    }
    let err = fastburn::data::SampleImages::load(&chapter).unwrap_err();
    assert!(
        matches!(err, Error::ImageSize { ref path, got: (30, 32), .. } if path.ends_with("b.png")),
        "{err}"
    );

    // Empty and missing folders; hidden files do not count as images.
    let d = dir.path().join("empty");
    write(&d, ".DS_Store", b"x");
    assert!(matches!(load_folder(&d), Err(Error::EmptyFolder { .. })));
    let missing = dir.path().join("missing");
    let err = load_folder(&missing).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert!(err.to_string().contains("missing"));
    assert!(matches!(
        run_baseline(&missing, &fastburn::device()),
        Err(Error::NotFound { .. })
    ));

    // A broken labels.csv names its line.
    let d = dir.path().join("csv");
    write(&d, "labels.csv", b"name,label\ntrain/3/a.png\n");
    let err = LabeledImages::from_labels_csv(&d, "train/").unwrap_err();
    assert!(matches!(err, Error::LabelsCsv { line: 2, .. }), "{err}");
}
