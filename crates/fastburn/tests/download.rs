//! Downloading and extracting, against a loopback HTTP server and archives built here: the good
//! path, a wrong checksum, a dropped connection, a truncated archive, entries that try to escape,
//! and the cache/mirror/offline behaviour of `untar_data`.

mod common;

use std::path::Path;

use common::{Reply, Server, listing, tgz, tgz_raw};
use fastburn::Error;
use fastburn::data::{Config, DataSet, Expected, download, extract_tgz, extract_tgz_from};
use fastburn::error::DownloadFault;
use md5::{Digest, Md5};
use sha2::Sha256;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn good_download_is_verified_and_written_whole() {
    let server = Server::start();
    let archive = tgz("tiny", &[("a.txt", b"hello")]);
    server.route("/tiny.tgz", Reply::ok(archive.clone()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("tiny.tgz");
    let expected = Expected::SizeMd5 {
        size: archive.len() as u64,
        md5: hex(&Md5::digest(&archive)),
    };
    download(&server.url("/tiny.tgz"), &dest, &expected).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), archive);
    assert_eq!(listing(dir.path()), vec!["tiny.tgz"]);

    let out = extract_tgz(&dest, dir.path(), "tiny").unwrap();
    assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"hello");
}

#[test]
fn wrong_checksum_leaves_no_file() {
    let server = Server::start();
    let archive = tgz("tiny", &[("a.txt", b"hello")]);
    server.route("/tiny.tgz", Reply::ok(archive.clone()));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("tiny.tgz");

    let wrong_md5 = Expected::SizeMd5 {
        size: archive.len() as u64,
        md5: "0".repeat(32),
    };
    let err = download(&server.url("/tiny.tgz"), &dest, &wrong_md5).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("tiny.tgz"), "{err}");

    let wrong_size = Expected::SizeMd5 {
        size: 3_214_948,
        md5: hex(&Md5::digest(&archive)),
    };
    let err = download(&server.url("/tiny.tgz"), &dest, &wrong_size).unwrap_err();
    assert!(err.to_string().contains("3214948 bytes"), "{err}");

    let wrong_sha = Expected::Sha256("ab".repeat(32));
    assert!(matches!(
        download(&server.url("/tiny.tgz"), &dest, &wrong_sha),
        Err(Error::Checksum { .. })
    ));
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn http_errors_and_dropped_connections_are_download_errors() {
    let server = Server::start();
    server.route(
        "/cut.tgz",
        Reply {
            status: 200,
            body: vec![1; 100],
            claimed_len: Some(1000),
            delay_ms: 0,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.tgz");
    for path in ["/missing.tgz", "/cut.tgz"] {
        let err = download(&server.url(path), &dest, &Expected::Unchecked).unwrap_err();
        assert!(matches!(err, Error::Download { .. }), "{path}: {err}");
        assert!(err.to_string().contains(path), "{err}");
    }
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn truncated_archive_is_refused_and_nothing_is_left() {
    let mut archive = tgz("tiny", &[("a.txt", &[7u8; 5000]), ("b.txt", &[9u8; 5000])]);
    archive.truncate(archive.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let err = extract_tgz_from(&archive[..], Path::new("cut.tgz"), dir.path(), "tiny").unwrap_err();
    assert!(matches!(err, Error::Archive { .. }), "{err}");
    assert!(err.to_string().starts_with("cut.tgz: bad archive"), "{err}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn entries_escaping_the_destination_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("inner");
    let cases = [
        ("../evil.txt", None),
        ("/tmp/fastburn-evil-abs.txt", None),
        ("top/link", Some("../../outside")),
        ("top/abs-link", Some("/etc")),
    ];
    for (name, target) in cases {
        let archive = tgz_raw(name, target);
        let err =
            extract_tgz_from(&archive[..], Path::new("evil.tgz"), &dest, "evil").expect_err(name);
        assert!(matches!(err, Error::Archive { .. }), "{name}: {err}");
        assert!(err.to_string().contains("escapes"), "{name}: {err}");
        assert!(listing(&dest).is_empty(), "{name}: {:?}", listing(&dest));
    }
    assert_eq!(listing(outer.path()), vec!["inner"]);
    assert!(!Path::new("/tmp/fastburn-evil-abs.txt").exists());
    // A link that stays inside the archive is fine.
    let ok = tgz_raw("top/link", Some("sibling.png"));
    assert!(extract_tgz_from(&ok[..], Path::new("ok.tgz"), &dest, "ok").is_ok());
}

fn toy_set(folder: &'static str) -> DataSet {
    DataSet {
        name: "toy_set",
        folder,
        url: "https://example.invalid/toy_set.tgz",
        size: 1,
        md5: "not-used-for-mirrors",
    }
}

fn with_mirror(home: &Path, mirror: &str) -> Config {
    Config {
        mirror: Some(mirror.to_string()),
        ..Config::at(home)
    }
}

/// `untar_data` through a mirror: downloaded once, checked against the mirror's SHA256SUMS,
/// extracted once; a bad SHA256SUMS entry is caught; offline, MNIST_SAMPLE (and only it) falls
/// back to the embedded sample.
#[test]
fn untar_data_uses_mirror_cache_and_checksums() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start();
    let archive = tgz(
        "toy_set",
        &[
            ("train/3/1.png", b"not really"),
            ("labels.csv", b"name,label\n"),
        ],
    );
    server.route("/toy_set.tgz", Reply::ok(archive.clone()));
    server.route(
        "/SHA256SUMS",
        Reply::ok(format!("{}  toy_set.tgz\n", hex(&Sha256::digest(&archive))).into_bytes()),
    );
    let ds = toy_set("toy_set");
    let path = with_mirror(home.path(), &server.base)
        .untar_data(&ds)
        .unwrap();
    assert_eq!(path, home.path().join("data").join("toy_set"));
    assert_eq!(
        std::fs::read(path.join("labels.csv")).unwrap(),
        b"name,label\n"
    );
    assert!(home.path().join("archive").join("toy_set.tgz").is_file());
    // Cached: a second call needs no server.
    let offline = with_mirror(home.path(), "http://127.0.0.1:1");
    assert_eq!(offline.untar_data(&ds).unwrap(), path);

    // A mirror whose SHA256SUMS disagrees.
    let home2 = tempfile::tempdir().unwrap();
    let server2 = Server::start();
    server2.route("/toy_set.tgz", Reply::ok(archive));
    server2.route(
        "/SHA256SUMS",
        Reply::ok(format!("{}  toy_set.tgz\n", "0".repeat(64)).into_bytes()),
    );
    let cfg2 = with_mirror(home2.path(), &server2.base);
    assert!(matches!(cfg2.untar_data(&ds), Err(Error::Checksum { .. })));
    assert!(listing(&home2.path().join("archive")).is_empty());

    // Offline (a mirror folder that does not exist): an error naming the mirror's missing file
    // and the archive the data set needs, never another data set in its place...
    let cfg3 = with_mirror(home2.path(), "file:///nonexistent/fastburn-mirror");
    let err = cfg3.untar_data(&ds).unwrap_err();
    assert!(
        matches!(&err, Error::Download { fault: DownloadFault::MirrorFile { path, .. }, .. }
            if path.ends_with("toy_set.tgz")),
        "{err}"
    );
    let err = cfg3.resolve_data(None, &ds, true).unwrap_err();
    assert!(
        matches!(&err, Error::Unavailable { file_name, .. } if file_name == "toy_set.tgz"),
        "{err}"
    );
    assert!(err.to_string().contains("toy_set.tgz"), "{err}");
    // ...except MNIST_SAMPLE, for which the embedded sample of the same 3s and 7s stands in.
    let sample = toy_set("mnist_sample");
    let resolved = cfg3.resolve_data(None, &sample, true).unwrap();
    assert!(resolved.fallback_reason.is_some());
    assert!(resolved.path.join("train").join("3").is_dir());
    assert!(cfg3.resolve_data(None, &sample, false).is_err());
}

/// Two fetches of the same data set at once (threads here; processes in tests/cli.rs) both
/// succeed, and the archive is downloaded and extracted once.
#[test]
fn concurrent_untar_data_downloads_and_extracts_once() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start();
    let archive = tgz(
        "toy_set",
        &[("train/3/1.png", b"x"), ("valid/3/2.png", b"y")],
    );
    server.route(
        "/toy_set.tgz",
        Reply {
            delay_ms: 300,
            ..Reply::ok(archive)
        },
    );
    let cfg = with_mirror(home.path(), &server.base);
    let ds = toy_set("toy_set");
    let paths: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| cfg.untar_data(&ds))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for p in &paths {
        assert_eq!(
            p.as_ref().unwrap(),
            &home.path().join("data").join("toy_set")
        );
    }
    assert_eq!(server.hits_of("/toy_set.tgz"), 1, "{:?}", server.hits);
    let data = listing(&home.path().join("data"));
    assert_eq!(
        data,
        ["toy_set"],
        "one extraction, no temporary folder left"
    );
}

/// torchvision's weights as `vision_learner(pretrained=True)` gets them, from a loopback server
/// standing in for download.pytorch.org: a torchvision-written state dict
/// (`scripts/make_resnet_fixtures.py`) under a published-style name whose hash prefix is the
/// file's. Downloaded once into `models/`, checked against that prefix (a wrong one leaves no
/// file), read from PyTorch's own cache when it is there, and offline a one-line error that
/// names the file and where it would be kept.
#[test]
fn pretrained_weights_are_fetched_once_checked_and_cached() {
    use fastburn::models::{ImageNetArch, WeightsUrl};
    let weights = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/imagenet/resnet18_w4.pth"),
    )
    .unwrap();
    let prefix = &hex(&Sha256::digest(&weights))[..8];
    let server = Server::start();
    let good = format!("/models/resnet18-{prefix}.pth");
    server.route(&good, Reply::ok(weights.clone()));
    server.route("/models/resnet18-00000000.pth", Reply::ok(weights.clone()));
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let home = tempfile::tempdir().unwrap();
    let cfg = Config::at(home.path());

    let url = WeightsUrl {
        url: leak(server.url(&good)),
    };
    let path = cfg.fetch_weights(&url).unwrap();
    assert_eq!(
        path,
        home.path().join(format!("models/resnet18-{prefix}.pth"))
    );
    assert_eq!(std::fs::read(&path).unwrap(), weights);
    // It loads as torchvision's ResNet-18 (of the fixture's width).
    let dev = burn::prelude::Device::flex();
    ImageNetArch::Resnet18
        .load_with(&path, 4, 10, &dev)
        .unwrap();
    // Cached: not fetched again.
    assert_eq!(cfg.fetch_weights(&url).unwrap(), path);
    assert_eq!(server.hits_of(&good), 1);

    // A file whose hash does not start as its name says is refused, and not kept.
    let wrong = WeightsUrl {
        url: leak(server.url("/models/resnet18-00000000.pth")),
    };
    let err = cfg.fetch_weights(&wrong).unwrap_err();
    let Error::WeightsUnavailable { source, .. } = &err else {
        panic!("{err}")
    };
    assert!(matches!(**source, Error::Checksum { .. }), "{err}");
    assert!(
        err.to_string().contains("SHA-256 starting 00000000"),
        "{err}"
    );
    assert!(!home.path().join("models/resnet18-00000000.pth").exists());

    // Through a mirror of torchvision's folder ($FASTBURN_WEIGHTS_URL): the published name there.
    let home2 = tempfile::tempdir().unwrap();
    let mirrored = Config {
        weights_mirror: Some(server.url("/models")),
        ..Config::at(home2.path())
    };
    let published = WeightsUrl {
        url: leak(format!(
            "https://download.pytorch.org/models/resnet18-{prefix}.pth"
        )),
    };
    mirrored.fetch_weights(&published).unwrap();
    assert_eq!(server.hits_of(&good), 2);

    // PyTorch's cache has it: used where it is, nothing fetched.
    let hub = tempfile::tempdir().unwrap();
    std::fs::write(hub.path().join(format!("resnet18-{prefix}.pth")), &weights).unwrap();
    let with_hub = Config {
        torch_hub: Some(hub.path().to_path_buf()),
        weights_mirror: Some("http://127.0.0.1:9/nowhere".into()),
        ..Config::at(tempfile::tempdir().unwrap().path())
    };
    assert_eq!(
        with_hub.fetch_weights(&published).unwrap(),
        hub.path().join(format!("resnet18-{prefix}.pth"))
    );

    // Offline (nothing listens on port 9): one line naming the file and where it would be kept.
    let offline = Config {
        weights_mirror: Some("http://127.0.0.1:9/models".into()),
        ..Config::at(home2.path().join("other"))
    };
    let err = offline
        .fetch_weights(&ImageNetArch::Resnet34.weights_url().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("resnet34-b627a593.pth is not cached (")
            && err.contains("models/resnet34-b627a593.pth")
            && !err.contains('\n'),
        "{err}"
    );
}
