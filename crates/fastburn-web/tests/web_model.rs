//! The browser's model, run natively: the same bytes and images give what `fastburn predict`
//! computes (`classify` on the model file loaded from disk), and bad bytes give errors that say
//! what is wrong.

use std::io::Cursor;

use burn::prelude::*;
use fastburn::data::{ItemTfms, Normalize, ResizeMethod, open_image};
use fastburn::models::{Arch, ModelInfo, classify, load_model, save_model};
use fastburn_web::WebModel;

/// A photo-like RGB PNG of `w`x`h` with a pattern, as bytes.
fn png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 7 + y * 3 + seed) % 256) as u8,
            ((x * y + seed * 5) % 256) as u8,
            ((y * 11 + seed) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A ResNet-18 for 3 classes of 48x64 RGB photos (random weights, ImageNet normalisation,
/// cropped), saved to `dir`.
fn saved_resnet(dir: &std::path::Path) -> std::path::PathBuf {
    let device = Device::flex();
    let info = ModelInfo {
        arch: Arch::Resnet18,
        vocab: vec!["cat".into(), "cup".into(), "dog".into()],
        norm: Some(Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }),
        n_out: 3,
        item_tfms: ItemTfms::resize(3, (48, 64), ResizeMethod::Crop),
        aug: None,
    };
    let path = dir.join("photos.fbm");
    save_model(&Arch::Resnet18.build_for(3, 3, &device), &info, &path).unwrap();
    path
}

#[test]
fn predictions_are_fastburn_predicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved_resnet(dir.path());
    let web = WebModel::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    let (model, info) = load_model(&path, &Device::flex()).unwrap();
    let model = model.valid();
    for (i, (w, h)) in [(100, 80), (64, 48), (31, 97)].into_iter().enumerate() {
        let bytes = png(w, h, i as u32);
        let file = dir.path().join(format!("{i}.png"));
        std::fs::write(&file, &bytes).unwrap();
        let (class, prob) = classify(
            &model,
            info.norm.as_ref(),
            &info.item_tfms.prepare(&open_image(&file).unwrap()),
        );
        let answer = web.predict(&bytes).unwrap();
        assert_eq!(answer["class"], info.vocab[class], "{answer}");
        let p = answer["probability"].as_f64().unwrap() as f32;
        assert!((p - prob).abs() <= 1e-6, "web {p}, predict {prob}");
        let probs = web.probabilities(&bytes).unwrap();
        assert_eq!(probs.len(), 3);
        assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert_eq!(
            answer["probabilities"]["cup"].as_f64().unwrap() as f32,
            probs[1]
        );
    }
}

#[test]
fn the_model_json_is_what_serve_answers_for_get_model() {
    let dir = tempfile::tempdir().unwrap();
    let web = WebModel::from_bytes(&std::fs::read(saved_resnet(dir.path())).unwrap()).unwrap();
    let m: serde_json::Value = serde_json::from_str(&web.model_json()).unwrap();
    assert_eq!(m["architecture"], "resnet18");
    assert_eq!(m["classes"], serde_json::json!(["cat", "cup", "dog"]));
    assert_eq!(
        m["input"],
        serde_json::json!({ "channels": 3, "height": 48, "width": 64 })
    );
    assert!(m["parameters"].as_u64().unwrap() > 11_000_000);
    assert_eq!(m["normalization"]["std"][2].as_f64().unwrap() as f32, 0.225);
}

#[test]
fn bad_bytes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(saved_resnet(dir.path())).unwrap();
    let err = |b: &[u8]| match WebModel::from_bytes(b) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("read {} bytes as a model", b.len()),
    };
    let e = err(b"<html>not found</html>");
    assert!(
        e.contains("model.fbm") && e.contains("not a fastburn model file"),
        "{e}"
    );
    let e = err(&bytes[..bytes.len() / 2]);
    assert!(e.contains("truncated"), "{e}");
    let web = WebModel::from_bytes(&bytes).unwrap();
    let e = web.predict(b"hello").unwrap_err();
    assert!(e.starts_with("not a readable image"), "{e}");
    assert_eq!(
        web.predict(b"").unwrap_err(),
        "the image is empty (0 bytes)"
    );
}
