//! The drawing page in a real browser: headless Chromium, driven over the DevTools protocol (one
//! websocket, JSON messages), draws a 7 on the canvas with the mouse, reads the prediction the
//! page shows, uploads a 3 through the file input, and saves a screenshot to
//! `target/serve_page.png`. Skipped, with the reason printed, where no Chromium is installed.

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

#[test]
fn draw_a_digit_and_see_the_prediction() {
    let Some(chromium) = find_chromium() else {
        common::missing_tool("chromium (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = trained_model(dir.path());

    let mut server = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["serve", "--addr", "127.0.0.1:0", "--model"])
        .arg(&model)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Killed(server);
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let profile = dir.path().join("chromium");
    let browser = Command::new(&chromium)
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
        .arg(format!("{base}/"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _browser = Killed(browser);

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
        let page = list.as_array().into_iter().flatten().find(|t| {
            t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(&base))
        });
        if let Some(url) = page.and_then(|p| p["webSocketDebuggerUrl"].as_str()) {
            break url.to_string();
        }
        assert!(Instant::now() < deadline, "no page for {base} in {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (ws, _) = tungstenite::connect(ws_url.as_str()).unwrap();
    let mut page = Page { ws, next_id: 0 };

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

    // Draw a 7 with the mouse: a bar across the top, then the diagonal down.
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

    // The page predicts as it is drawn; wait for the answer to the finished drawing.
    page.wait_for("document.getElementById('prediction').textContent", 15);
    std::thread::sleep(Duration::from_millis(500));
    let shown = page.eval(
        "({ class: document.getElementById('prediction').textContent, \
            confidence: document.getElementById('confidence').textContent, \
            error: document.getElementById('error').textContent, \
            best: document.querySelector('#bars .bar.best .name').textContent, \
            widths: [...document.querySelectorAll('#bars .bar')].map(b => 100 * \
                b.querySelector('.fill').getBoundingClientRect().width / b.querySelector('.track').getBoundingClientRect().width) })",
    );
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

    let shot = page.call("Page.captureScreenshot", json!({ "format": "png" }));
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("serve_page.png");
    std::fs::write(&out, &png).unwrap();
    assert!(image::load_from_memory(&png).unwrap().width() >= 800);
    eprintln!("screenshot: {}", out.display());

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
    let doc = page.call("DOM.getDocument", json!({}));
    let node = page.call(
        "DOM.querySelector",
        json!({ "nodeId": doc["root"]["nodeId"], "selector": "#file" }),
    );
    page.call(
        "DOM.setFileInputFiles",
        json!({ "nodeId": node["nodeId"], "files": [three.to_str().unwrap()] }),
    );
    page.wait_for(
        "document.getElementById('prediction').textContent === '3'",
        15,
    );
    page.wait_for("!document.getElementById('preview').hidden", 5);

    // Clear empties the prediction and the bars.
    page.eval("document.getElementById('clear').click()");
    assert_eq!(
        page.eval("document.getElementById('prediction').textContent"),
        ""
    );
}
