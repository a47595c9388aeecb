//! Property tests over every parser of outside bytes: random and mutated archives, IDX files,
//! labels.csv, model files, checkpoints and images give `Err` or a well-formed value, never a
//! panic or a hang, and extraction never writes outside its destination.
//!
//! `cargo test` runs 1,000 cases per property; `FASTBURN_PROPTEST_CASES=N` runs more (the
//! README gives the longer run's count).

mod common;

use std::path::Path;

use common::tgz;
use fastburn::data::{extract_tgz_from, read_gray, read_idx, read_labels_csv};
use fastburn::learner::Checkpoint;
use fastburn::models::{Arch, ModelInfo, load_model, read_model_info, save_model};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("FASTBURN_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1000)
}

/// A valid input with some bytes changed, some cut off, or some inserted.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    (
        prop::collection::vec((0..n.max(1), any::<u8>()), 0..8),
        0..=n,
        prop::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(move |(flips, cut, extra)| {
            let mut v = valid.clone();
            for (i, b) in flips {
                if i < v.len() {
                    v[i] = b;
                }
            }
            v.truncate(cut);
            v.extend(extra);
            v
        })
}

fn entries_in(dir: &Path) -> Vec<String> {
    walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.clone());
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
        }
    }
    out
}

/// A tar entry with any name and, for links, any target (absolute, `..`, long).
fn tar_entry() -> impl Strategy<Value = (String, Option<String>)> {
    let part = prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("".to_string()),
        "[a-z0-9]{1,6}",
    ];
    let path = prop::collection::vec(part, 1..5).prop_map(|p| p.join("/"));
    let path = (any::<bool>(), path).prop_map(|(abs, p)| if abs { format!("/{p}") } else { p });
    let target = prop::option::of(path.clone());
    (
        path.prop_filter("tar names are under 100 bytes", |p| {
            !p.is_empty() && p.len() < 90
        }),
        target,
    )
        .prop_filter("link targets are under 100 bytes", |(_, t)| {
            t.as_ref().is_none_or(|t| t.len() < 90)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn archives_never_panic_nor_escape(bytes in mutated(tgz("top", &[("a/1.png", b"one"), ("b.txt", &[7u8; 300])]))) {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("in");
        let r = extract_tgz_from(&bytes[..], Path::new("m.tgz"), &dest, "x");
        // Whatever happened, nothing lies outside `in/`.
        let names: Vec<String> = std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        prop_assert!(names.iter().all(|n| n == "in"), "{names:?}");
        if r.is_err() {
            prop_assert!(entries_in(&dest).is_empty(), "a failed extraction left {:?}", entries_in(&dest));
        }
    }

    #[test]
    fn archive_entries_stay_inside((name, target) in tar_entry()) {
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("in");
        let bytes = common::tgz_raw(&name, target.as_deref());
        let r = extract_tgz_from(&bytes[..], Path::new("e.tgz"), &dest, "x");
        let names: Vec<String> = std::fs::read_dir(outer.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        prop_assert!(names.iter().all(|n| n == "in"), "{name} -> {target:?}: {names:?}");
        if let Ok(root) = r {
            // Every link that was kept resolves inside the extracted folder.
            for p in walk(&root) {
                if p.is_symlink() {
                    let resolved = std::fs::canonicalize(&p);
                    if let Ok(resolved) = resolved {
                        prop_assert!(resolved.starts_with(std::fs::canonicalize(&dest).unwrap()), "{p:?} -> {resolved:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn idx_files_parse_or_refuse(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        // Well-formed headers with any dimensions (their product may overflow) and any data.
        (prop::collection::vec(prop_oneof![0..4u32, any::<u32>()], 0..5), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(dims, data)| {
                let mut b = vec![0, 0, 8, dims.len() as u8];
                for d in dims {
                    b.extend(d.to_be_bytes());
                }
                b.extend(data);
                b
            }),
        mutated(vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.idx");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(a) = read_idx(&path) {
            prop_assert_eq!(a.dims.iter().product::<usize>(), a.data.len());
        }
        let gz = dir.path().join("x.idx.gz");
        std::fs::write(&gz, &bytes).unwrap();
        let _ = read_idx(&gz);
    }

    #[test]
    fn labels_csv_parses_or_names_the_line(text in "(name,label\n)?([a-z0-9/.,]{0,12}\n){0,6}") {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        std::fs::write(&path, &text).unwrap();
        match read_labels_csv(&path) {
            Ok(rows) => prop_assert!(rows.iter().all(|(n, l)| !n.is_empty() && !l.is_empty() && !l.contains(','))),
            Err(e) => prop_assert!(e.to_string().contains("labels.csv:"), "{e}"),
        }
    }

    #[test]
    fn images_decode_or_refuse(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        mutated(png_bytes()),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok((px, h, w)) = read_gray(&path) {
            prop_assert_eq!(px.len(), h * w);
        }
    }

    #[test]
    fn model_files_load_or_refuse(bytes in mutated(model_bytes())) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.fbm");
        std::fs::write(&path, &bytes).unwrap();
        let info = read_model_info(&path);
        let loaded = load_model(&path, &burn::prelude::Device::flex());
        if let Ok((_, i)) = &loaded {
            prop_assert!(info.is_ok());
            prop_assert!(i.n_out >= 1);
        }
    }

    /// Class names are whatever the folders are called: any text, commas, newlines, quotes and
    /// `=` included, comes back from a model file as it went in, one name each.
    #[test]
    fn class_names_round_trip_through_model_files(vocab in prop::collection::vec(any::<String>(), 2..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.fbm");
        let dev = burn::prelude::Device::flex();
        let info = ModelInfo {
            arch: Arch::SimpleNet,
            vocab: vocab.clone(),
            norm: None,
            n_out: vocab.len(),
            item_tfms: fastburn::data::ItemTfms::resize(1, (28, 28), fastburn::data::ResizeMethod::Crop),
            aug: None,
        };
        save_model(&fastburn::models::simple_net(28 * 28, 30, vocab.len(), &dev), &info, &path).unwrap();
        prop_assert_eq!(&read_model_info(&path).unwrap().vocab, &vocab);
        let (_, loaded) = load_model(&path, &dev).unwrap();
        prop_assert_eq!(loaded, info);
    }

    #[test]
    fn checkpoints_read_or_refuse(bytes in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        mutated(checkpoint_bytes()),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.fbc");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = Checkpoint::read(&path) {
            prop_assert!(e.to_string().contains("c.fbc"), "{e}");
        }
    }

    #[test]
    fn normalize_lines_parse_or_refuse(s in "[0-9 .,e-]{0,20}") {
        if let Ok(n) = s.parse::<fastburn::data::Normalize>() {
            prop_assert!(!n.mean.is_empty() && n.mean.len() == n.std.len());
            prop_assert!(n.std.iter().all(|&x| x > 0.0));
        }
    }
}

fn png_bytes() -> Vec<u8> {
    let img = image::GrayImage::from_fn(5, 4, |x, y| image::Luma([(x * 40 + y * 9) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn model_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.fbm");
    let dev = burn::prelude::Device::flex();
    let info = ModelInfo {
        arch: Arch::Linear,
        vocab: vec!["7".into(), "3".into()],
        norm: Some("0.13 0.2 0.5,0.3 0.3 0.25".parse().unwrap()),
        n_out: 1,
        item_tfms: fastburn::data::ItemTfms::resize(3, (32, 48), fastburn::data::ResizeMethod::Pad),
        aug: None,
    };
    save_model(&fastburn::models::linear(28 * 28, 1, &dev), &info, &path).unwrap();
    std::fs::read(&path).unwrap()
}

fn checkpoint_bytes() -> Vec<u8> {
    // A real checkpoint of a one-epoch run on a tiny problem.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.fbc");
    let dev = fastburn::device();
    let mut learn = fastburn::learner::Learner::new(
        common::synthetic_dls(1),
        fastburn::models::linear(4, 1, &dev),
        fastburn::learner::SGD,
        fastburn::loss::mnist_loss,
        vec![],
    );
    learn.quiet(true);
    learn.add_cb(fastburn::learner::CheckpointCallback::new(&path, None));
    learn.fit(1, 0.1).unwrap();
    std::fs::read(&path).unwrap()
}
