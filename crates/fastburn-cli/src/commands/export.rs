//! `fastburn export`: a saved model in a format other programs run (ONNX), or as a static web
//! page that runs it in the browser.

use std::path::PathBuf;

use fastburn::models::load_model;

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// The format to write
    #[arg(long, value_enum, default_value_t = Format::Onnx)]
    pub format: Format,
    /// Where to write it (written whole or not at all): a file for ONNX, a folder for web
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// ONNX (opset 17): the inference graph, pixels in 0..1 in (the model's normalisation
    /// inside), `probabilities` and `logits` out, class names and input size in its metadata;
    /// for ONNX Runtime, tract, onnxruntime-web, ...
    Onnx,
    /// A folder to put on any static file host: `serve`'s drawing page with the model running
    /// in the browser (WebAssembly), no server; `index.html`, the model file, the wasm and its
    /// JavaScript glue
    Web,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    // Export reads weights, it computes nothing: the CPU, whatever FASTBURN_DEVICE says.
    let (model, info) = load_model(&args.model, &burn::prelude::Device::flex())?;
    match args.format {
        Format::Onnx => fastburn_onnx::save_onnx(&model, &info, &args.out)?,
        Format::Web => return web::export(&args.model, &info, &args.out),
    }
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    let t = &info.item_tfms;
    let (h, w) = match fastburn_onnx::input_size(&info) {
        Some((h, w)) => (h.to_string(), w.to_string()),
        None => ("height".into(), "width".into()),
    };
    println!(
        "wrote {} ({:.1} MB): {} for {} classes {:?}; input `{}` [batch, {}, {h}, {w}] pixels in \
         0..1 ({} resize), outputs `{}` and `{}`",
        args.out.display(),
        bytes as f64 / 1e6,
        info.arch.name(),
        info.vocab.len(),
        info.vocab,
        fastburn_onnx::INPUT,
        t.channels,
        t.method,
        fastburn_onnx::PROBABILITIES,
        fastburn_onnx::LOGITS,
    );
    Ok(())
}

/// The web folder: the page, the model file as it is, and `fastburn-web` built for the browser
/// (carried by this binary when built with the `web` feature; see build.rs).
mod web {
    #![cfg_attr(not(feature = "web"), allow(dead_code))]

    use std::path::Path;

    use fastburn::models::ModelInfo;

    /// Where `page.html` takes the script that makes the page run the model itself.
    pub(super) const MARKER: &str =
        "<!-- fastburn export --format web puts its WebAssembly model here -->";

    /// Loads the wasm and the model once, and answers the page's two calls as `serve` would.
    pub(super) const LOADER: &str = r#"<script>
"use strict";
// Written by `fastburn export --format web`: the model runs in this page, in WebAssembly.
window.fastburnLocal = (() => {
  const ready = import("./fastburn_web.js").then(async (m) => {
    await m.default({ module_or_path: "./fastburn_web_bg.wasm" });
    const r = await fetch("./model.fbm");
    if (!r.ok) throw new Error(`model.fbm: ${r.status}`);
    return new m.WebModel(new Uint8Array(await r.arrayBuffer()));
  });
  const local = {
    ready,
    model: async () => JSON.parse((await ready).modelJson()),
    predict: async (blob) => {
      const model = await ready, bytes = new Uint8Array(await blob.arrayBuffer());
      try {
        return { ok: true, status: 200, body: JSON.parse(model.predictJson(bytes)) };
      } catch (e) {
        return { ok: false, status: 400, body: { error: String(e && e.message || e) } };
      }
    },
  };
  // When the page could first predict, in ms since navigation (the README's load time).
  ready.then(() => { local.readyAt = performance.now(); }, () => {});
  return local;
})();
</script>"#;

    /// The page with the model inside.
    pub(super) fn page() -> String {
        fastburn_serve::PAGE.replacen(MARKER, LOADER, 1)
    }

    #[cfg(feature = "web")]
    const FILES: [(&str, &[u8]); 2] = [
        (
            "fastburn_web.js",
            include_bytes!(concat!(env!("OUT_DIR"), "/web/fastburn_web.js")),
        ),
        (
            "fastburn_web_bg.wasm",
            include_bytes!(concat!(env!("OUT_DIR"), "/web/fastburn_web_bg.wasm")),
        ),
    ];

    #[cfg(not(feature = "web"))]
    pub fn export(_model: &Path, _info: &ModelInfo, _out: &Path) -> anyhow::Result<()> {
        anyhow::bail!(
            "this fastburn was built without the web page's WebAssembly; build it with \
             `rustup target add wasm32-unknown-unknown` and `cargo build --release --features web`"
        )
    }

    /// Written into a folder beside `out` and renamed into place: a folder is whole or absent.
    /// An `out` that exists must be an earlier export (only these files), which it replaces.
    #[cfg(feature = "web")]
    pub fn export(model: &Path, info: &ModelInfo, out: &Path) -> anyhow::Result<()> {
        // The binary prints an error's outermost message only: the OS's reason goes into it.
        let fail = |what: String| move |e: std::io::Error| anyhow::anyhow!("{what} ({e})");
        const NAMES: [&str; 4] = [
            "index.html",
            "model.fbm",
            "fastburn_web.js",
            "fastburn_web_bg.wasm",
        ];
        if out.exists() {
            let foreign = std::fs::read_dir(out)
                .map_err(fail(format!("{}: cannot list it", out.display())))?
                .filter_map(|e| e.ok())
                .find(|e| !NAMES.iter().any(|n| e.file_name() == *n));
            if let Some(f) = foreign {
                anyhow::bail!(
                    "{} exists and holds {:?}, which an export did not write; give a new \
                     folder or empty this one",
                    out.display(),
                    f.file_name()
                );
            }
        }
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::create_dir_all(parent)
            .map_err(fail(format!("{}: cannot create it", parent.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(".fastburn-web-")
            .tempdir_in(parent)
            .map_err(fail(format!("{}: cannot write in it", parent.display())))?;
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(tmp.path().join(name), bytes)
                .map_err(fail(format!("{}: cannot write {name}", parent.display())))
        };
        write("index.html", page().as_bytes())?;
        let model_bytes =
            std::fs::read(model).map_err(fail(format!("{}: cannot read it", model.display())))?;
        write("model.fbm", &model_bytes)?;
        for (name, bytes) in FILES {
            write(name, bytes)?;
        }
        if out.exists() {
            std::fs::remove_dir_all(out)
                .map_err(fail(format!("{}: cannot replace it", out.display())))?;
        }
        let tmp = tmp.keep();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
        }
        std::fs::rename(&tmp, out).map_err(fail(format!(
            "{}: cannot move the folder into place",
            out.display()
        )))?;
        let total: usize = model_bytes.len() + FILES.iter().map(|(_, b)| b.len()).sum::<usize>();
        println!(
            "wrote {} ({:.1} MB): index.html, model.fbm ({} for {} classes {:?}), \
             fastburn_web_bg.wasm ({:.1} MB) and fastburn_web.js; put the folder on any static \
             file host (or `python3 -m http.server` in it) and open index.html",
            out.display(),
            total as f64 / 1e6,
            info.arch.name(),
            info.vocab.len(),
            info.vocab,
            FILES[1].1.len() as f64 / 1e6,
        );
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_page_takes_the_loader_once_before_its_own_script() {
            assert_eq!(fastburn_serve::PAGE.matches(MARKER).count(), 1);
            let page = page();
            let loader = page.find("window.fastburnLocal =").unwrap();
            let backend = page.find("const backend = window.fastburnLocal").unwrap();
            assert!(loader < backend);
            assert!(!page.contains(MARKER));
        }
    }
}
