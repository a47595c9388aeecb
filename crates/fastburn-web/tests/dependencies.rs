//! What the page's WebAssembly is built from: cargo's own resolution of this crate for
//! `wasm32-unknown-unknown`, the target `fastburn export --format web` builds it for.

use std::process::Command;

/// No server (tokio, axum, hyper), no HTTP client (ureq and its TLS) and no threads (rayon) are
/// compiled into the page: the features that bring them (fastburn's `http` and `parallel`,
/// Burn's `rayon`) are off for this crate, and a dependency added without care would turn them on.
///
/// Ignored by default: cargo downloads only the crates of the targets it builds, so the wasm32-only
/// ones (js-sys, getrandom's wasm_js) are here, for `--offline`, once the page has been built;
/// `.ci/run` runs it after the `web` feature's tests.
#[test]
#[ignore = "needs the wasm32 crates downloaded (a --features web build): .ci/run runs it"]
fn the_page_is_built_without_servers_downloads_or_threads() {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "--locked", "-p", "fastburn-web"])
        .args(["--target", "wasm32-unknown-unknown", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs cargo tree");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8(out.stdout).unwrap();
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    // The resolution is real: the engine and the bindings are in it.
    for needed in ["fastburn", "burn-flex", "wasm-bindgen"] {
        assert!(crates.contains(&needed), "{needed} missing from:\n{tree}");
    }
    for banned in [
        "rayon",
        "rayon-core",
        "tokio",
        "axum",
        "hyper",
        "ureq",
        "rustls",
        "ring",
    ] {
        assert!(
            !crates.contains(&banned),
            "{banned} is compiled into the page:\n{tree}"
        );
    }
}
