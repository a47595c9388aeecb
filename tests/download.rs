//! Downloading and extracting, against a loopback HTTP server and archives built here: the good
//! path, a wrong checksum, a dropped connection, a truncated archive, entries that try to escape,
//! and the cache/mirror/offline behaviour of `untar_data`.

mod common;

use std::path::Path;

use common::{ENV_LOCK, Reply, Server, listing, tgz, tgz_raw};
use fastburn::Error;
use fastburn::data::{
    DataSet, Expected, download, extract_tgz, extract_tgz_from, resolve_data, untar_data,
};
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

/// `untar_data` through a mirror: downloaded once, checked against the mirror's SHA256SUMS,
/// extracted once; a bad SHA256SUMS entry is caught; offline falls back to the embedded sample.
#[test]
fn untar_data_uses_mirror_cache_and_checksums() {
    let _env = ENV_LOCK.lock().unwrap();
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
    let ds = DataSet {
        name: "toy_set",
        folder: "toy_set",
        url: "https://example.invalid/toy_set.tgz",
        size: 1,
        md5: "not-used-for-mirrors",
    };
    // SAFETY: ENV_LOCK serialises every test in this binary that touches the environment.
    unsafe {
        std::env::set_var("FASTBURN_HOME", home.path());
        std::env::set_var("FASTBURN_DATA_URL", &server.base);
    }
    let path = untar_data(&ds).unwrap();
    assert_eq!(path, home.path().join("data").join("toy_set"));
    assert_eq!(
        std::fs::read(path.join("labels.csv")).unwrap(),
        b"name,label\n"
    );
    assert!(home.path().join("archive").join("toy_set.tgz").is_file());
    // Cached: a second call needs no server.
    unsafe { std::env::set_var("FASTBURN_DATA_URL", "http://127.0.0.1:1") };
    assert_eq!(untar_data(&ds).unwrap(), path);

    // A mirror whose SHA256SUMS disagrees.
    let home2 = tempfile::tempdir().unwrap();
    let server2 = Server::start();
    server2.route("/toy_set.tgz", Reply::ok(archive));
    server2.route(
        "/SHA256SUMS",
        Reply::ok(format!("{}  toy_set.tgz\n", "0".repeat(64)).into_bytes()),
    );
    unsafe {
        std::env::set_var("FASTBURN_HOME", home2.path());
        std::env::set_var("FASTBURN_DATA_URL", &server2.base);
    }
    assert!(matches!(untar_data(&ds), Err(Error::Checksum { .. })));
    assert!(listing(&home2.path().join("archive")).is_empty());

    // Offline (a mirror folder that does not exist): a clear error, or the embedded sample.
    unsafe { std::env::set_var("FASTBURN_DATA_URL", "file:///nonexistent/fastburn-mirror") };
    let err = untar_data(&ds).unwrap_err();
    assert!(matches!(err, Error::Download { .. }), "{err}");
    assert!(err.to_string().contains("--data"), "{err}");
    let resolved = resolve_data(None, &ds, true).unwrap();
    assert!(resolved.fallback_reason.is_some());
    assert!(resolved.path.join("train").join("3").is_dir());
    assert!(resolve_data(None, &ds, false).is_err());

    unsafe {
        std::env::remove_var("FASTBURN_HOME");
        std::env::remove_var("FASTBURN_DATA_URL");
    }
}
