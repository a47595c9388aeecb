//! With the `web` feature: build `fastburn-web` for the browser, so that the binary carries the
//! page's WebAssembly and `fastburn export --format web` works anywhere, offline.
//!
//! A second cargo builds crates/fastburn-web for `wasm32-unknown-unknown` (release, SIMD128) in
//! its own target folder beside this build's (so the two never wait on one lock, and debug and
//! release builds of the CLI share it), then wasm-bindgen's generator writes the JavaScript
//! glue into `$OUT_DIR/web`. Without the feature this does nothing.

fn main() {
    #[cfg(feature = "web")]
    web::build();
}

#[cfg(feature = "web")]
mod web {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const TARGET: &str = "wasm32-unknown-unknown";

    pub fn build() {
        let manifest = PathBuf::from(env("CARGO_MANIFEST_DIR"));
        let out = PathBuf::from(env("OUT_DIR"));
        let crates = manifest.parent().expect("crates/ holds fastburn-cli");
        let web_manifest = crates.join("fastburn-web").join("Cargo.toml");
        for dir in ["fastburn-web", "fastburn", "fastburn-flex"] {
            println!(
                "cargo:rerun-if-changed={}",
                crates.join(dir).join("src").display()
            );
            println!(
                "cargo:rerun-if-changed={}",
                crates.join(dir).join("Cargo.toml").display()
            );
        }
        // The workspace's manifest too: its dependencies' features are the page's.
        let workspace = crates.parent().expect("the workspace");
        for file in ["Cargo.lock", "Cargo.toml"] {
            println!("cargo:rerun-if-changed={}", workspace.join(file).display());
        }

        // OUT_DIR is <profile dir>/build/<crate>-<hash>/out: the wasm build goes beside the
        // profile folders.
        let target_dir = out
            .ancestors()
            .find(|p| p.file_name().is_some_and(|n| n == "build"))
            .and_then(|build| build.parent()?.parent())
            .unwrap_or(&out)
            .join("fastburn-web");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--release",
            "--locked",
            "--lib",
            "--target",
            TARGET,
        ])
        .arg("--manifest-path")
        .arg(&web_manifest)
        .arg("--target-dir")
        .arg(&target_dir);
        // This build's own settings are not the browser's: getrandom takes its numbers from the
        // page's crypto, and SIMD128 (every current browser has it) vectorises the kernels.
        // `cargo clippy` runs this script with clippy as the workspace's compiler: the wasm is
        // built, not linted, by the plain compiler (else the next plain build makes it again).
        for var in [
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "RUSTC_WORKSPACE_WRAPPER",
            "CLIPPY_ARGS",
        ] {
            cmd.env_remove(var);
        }
        // FASTBURN_WEB_RUSTFLAGS adds flags (CI: `-D warnings`, which reaches fastburn's own
        // crates only: cargo caps the lints of registry crates).
        println!("cargo:rerun-if-env-changed=FASTBURN_WEB_RUSTFLAGS");
        let mut flags: Vec<String> = [
            "--cfg",
            "getrandom_backend=\"wasm_js\"",
            "-C",
            "target-feature=+simd128",
        ]
        .map(String::from)
        .to_vec();
        if let Ok(extra) = std::env::var("FASTBURN_WEB_RUSTFLAGS") {
            flags.extend(extra.split_whitespace().map(String::from));
        }
        cmd.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        if !status.success() {
            panic!(
                "building fastburn-web for {TARGET} failed (above). The `web` feature needs the \
                 target: `rustup target add {TARGET}`"
            );
        }
        let wasm = target_dir
            .join(TARGET)
            .join("release")
            .join("fastburn_web.wasm");
        let dest = out.join("web");
        bind(&wasm, &dest);
    }

    /// wasm-bindgen's generator, as its command line runs it with `--target web`.
    fn bind(wasm: &Path, dest: &Path) {
        std::fs::create_dir_all(dest).expect("OUT_DIR is writable");
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(wasm)
            .web(true)
            .and_then(|b| b.typescript(false).generate(dest))
            .unwrap_or_else(|e| panic!("wasm-bindgen on {}: {e:#}", wasm.display()));
    }

    fn env(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"))
    }
}
