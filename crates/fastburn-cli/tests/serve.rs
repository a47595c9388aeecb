//! `fastburn serve` as a user runs it: the real binary on a free loopback port, spoken to over
//! real HTTP, every route, every kind of bad input, concurrent clients, a full queue, start-up
//! errors and a graceful shutdown.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use burn::prelude::*;
use fastburn::data::{ItemTfms, ResizeMethod};
use fastburn::models::{Arch, ModelInfo, resnet18, resnet34, save_model, simple_cnn, simple_net};
use serde_json::Value;

mod served;
use served::{Server, agent};

/// A multipart/form-data body with the given (field name, bytes) parts.
fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "fastburn-test-boundary-7d1f";
    let mut body = Vec::new();
    for (i, (name, data)) in parts.iter().enumerate() {
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{i}.png\"\r\n\
             Content-Type: image/png\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Real digits from the embedded sample: (path, bytes) of a 7, a 3 and another 7.
fn digits() -> Vec<(PathBuf, Vec<u8>)> {
    let root = fastburn::data::embedded_sample().unwrap().join("valid");
    let sevens = fastburn::data::image_files(&root.join("7")).unwrap();
    let threes = fastburn::data::image_files(&root.join("3")).unwrap();
    [&sevens[0], &threes[0], &sevens[1]]
        .into_iter()
        .map(|path| (path.clone(), std::fs::read(path).unwrap()))
        .collect()
}

/// An untrained model file (a saved one is all the server needs).
fn model_file(dir: &Path, arch: Arch, classes: usize, norm: Option<(f32, f32)>) -> PathBuf {
    let dev = Device::flex();
    let vocab: Vec<String> = if classes == 2 {
        vec!["3".into(), "7".into()]
    } else {
        (0..classes).map(|c| c.to_string()).collect()
    };
    let n_out = if arch.is_vision() { classes } else { 1 };
    let norm = norm.map(|(m, s)| fastburn::data::Normalize::new(vec![m], vec![s]));
    let info = ModelInfo {
        arch,
        vocab,
        norm,
        n_out,
        item_tfms: ItemTfms::resize(1, (28, 28), ResizeMethod::Squish),
        aug: None,
    };
    let path = dir.join(format!("{}-{classes}.fbm", arch.name()));
    match arch {
        Arch::SimpleNet => save_model(&simple_net(28 * 28, 30, 1, &dev), &info, &path),
        Arch::Resnet18 => save_model(&resnet18(1, classes, &dev), &info, &path),
        Arch::Resnet34 => save_model(&resnet34(1, classes, &dev), &info, &path),
        Arch::SimpleCnn => save_model(&simple_cnn(1, classes, &dev), &info, &path),
        Arch::Linear | Arch::EfficientNetLite0 | Arch::Resnet50 => unreachable!("not used here"),
    }
    .unwrap();
    path
}

/// `fastburn predict`'s answer for one file: (class, probability to 4 decimals).
fn cli_predict(model: &Path, image: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
        .args(["predict", "--model"])
        .arg(model)
        .arg(image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    // ".../valid/7/0.png: 7 (probability 0.9973)"
    let rest = stdout.rsplit_once(": ").unwrap().1;
    let (class, prob) = rest.split_once(" (probability ").unwrap();
    (
        class.to_string(),
        prob.trim().trim_end_matches(')').to_string(),
    )
}

/// Every route, for a 2-class simple_net and a 10-class normalised ResNet-18: the answers for
/// real digits are what `fastburn predict` says, however the image is sent.
#[test]
fn routes_answer_and_match_fastburn_predict() {
    let dir = tempfile::tempdir().unwrap();
    let digits = digits();
    for (arch, classes, norm) in [
        (Arch::SimpleNet, 2, None),
        (Arch::Resnet18, 10, Some((0.13, 0.31))),
    ] {
        let model = model_file(dir.path(), arch, classes, norm);
        let server = Server::start(&model, &[]);

        let (status, health) = server.get("/health");
        assert_eq!(status, 200);
        assert_eq!(
            serde_json::from_str::<Value>(&health).unwrap()["status"],
            "ok"
        );

        let (status, info) = server.get("/model");
        assert_eq!(status, 200);
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["architecture"], arch.name());
        assert_eq!(info["classes"].as_array().unwrap().len(), classes);
        assert_eq!(info["input"]["height"], 28);
        assert_eq!(info["input"]["channels"], 1);
        assert_eq!(info["normalization"].is_null(), norm.is_none());

        let (status, page) = server.get("/");
        assert_eq!(status, 200);
        assert!(page.contains("<canvas") && page.contains("/predict"));
        assert!(
            !page.contains("src=\"http"),
            "the page loads nothing from elsewhere"
        );

        let mut singles = Vec::new();
        for (path, bytes) in &digits {
            let (status, json) = server.post("image/png", bytes);
            assert_eq!(status, 200, "{json}");
            let (class, prob) = cli_predict(&model, path);
            assert_eq!(json["class"], class.as_str(), "{path:?}: {json}");
            let p = json["probability"].as_f64().unwrap();
            assert_eq!(format!("{p:.4}"), prob, "{path:?}: {json}");
            let probs = json["probabilities"].as_object().unwrap();
            assert_eq!(probs.len(), classes);
            // In the model's class order, summing to one.
            let names: Vec<&String> = probs.keys().collect();
            assert_eq!(
                names,
                info["classes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap())
                    .collect::<Vec<_>>()
            );
            let total: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
            assert!((total - 1.0).abs() < 1e-4, "{total}");
            assert_eq!(probs[&class].as_f64().unwrap(), p);
            singles.push(json);
        }

        // The same image without a content type, as octet-stream, and as one multipart field.
        let first = &digits[0].1;
        let mut r = agent()
            .post(&server.url("/predict"))
            .send(&first[..])
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let json: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(json["class"], singles[0]["class"]);
        let (status, json) = server.post("application/octet-stream", first);
        assert_eq!((status, &json["class"]), (200, &singles[0]["class"]));
        // What `curl --data-binary @digit.png` sends when no -H is given.
        let (status, json) = server.post("application/x-www-form-urlencoded", first);
        assert_eq!((status, &json["class"]), (200, &singles[0]["class"]));
        let (ct, body) = multipart(&[("image", first)]);
        let (status, json) = server.post(&ct, &body);
        assert_eq!(status, 200, "{json}");
        assert!(json.is_object(), "one image, one object: {json}");
        assert_eq!(json["class"], singles[0]["class"]);

        // Several images in one request: an array, in order; other fields are ignored.
        let parts: Vec<(&str, &[u8])> = vec![
            ("image", &digits[0].1),
            ("note", b"ignored"),
            ("image", &digits[1].1),
            ("image", &digits[2].1),
        ];
        let (ct, body) = multipart(&parts);
        let (status, json) = server.post(&ct, &body);
        assert_eq!(status, 200, "{json}");
        let arr = json.as_array().unwrap();
        assert_eq!(arr.len(), 3);
        for (got, want) in arr.iter().zip(&singles) {
            assert_eq!(got["class"], want["class"]);
            let (a, b) = (
                got["probability"].as_f64().unwrap(),
                want["probability"].as_f64().unwrap(),
            );
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}

fn encode(img: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), format)
        .unwrap();
    out
}

/// Any image is converted to the model's input as its file says (channels, size, resize method):
/// a digit drawn four times as large, in colour, in six formats, gets exactly the answer of the
/// 28x28 grey PNG that `ItemTfms::prepare` makes of it, and a large colour image is not read as
/// its top-left corner (the answer differs from a crop's).
#[test]
fn any_image_is_resized_to_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::Resnet18, 10, None);
    let tfms = fastburn::models::read_model_info(&model).unwrap().item_tfms;
    let server = Server::start(&model, &[]);
    let (_, bytes) = &digits()[0];
    let grey = image::load_from_memory(bytes).unwrap();
    let big = grey.resize_exact(112, 112, image::imageops::FilterType::Triangle);
    // Red strokes on black: the luma of red, a darker digit of the same shape.
    let red = image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(112, 112, |x, y| {
        let v = big.as_luma8().map_or(0, |g| g.get_pixel(x, y).0[0]);
        image::Rgb([v, 0, 0])
    }));
    for (format, ct) in [
        (image::ImageFormat::Png, "image/png"),
        (image::ImageFormat::Jpeg, "image/jpeg"),
        (image::ImageFormat::Bmp, "image/bmp"),
        (image::ImageFormat::Gif, "image/gif"),
        (image::ImageFormat::Tiff, "image/tiff"),
        (image::ImageFormat::WebP, "image/webp"),
    ] {
        let sent = encode(red.clone(), format);
        let (status, json) = server.post(ct, &sent);
        assert_eq!(status, 200, "{format:?}: {json}");
        // What the model should have seen: the upload as decoded, through the file's transforms.
        let input = tfms.prepare(&image::load_from_memory(&sent).unwrap());
        assert_eq!((input.channels, input.height, input.width), (1, 28, 28));
        let small = image::GrayImage::from_raw(28, 28, input.data).unwrap();
        let (_, want) = server.post(
            "image/png",
            &encode(
                image::DynamicImage::ImageLuma8(small),
                image::ImageFormat::Png,
            ),
        );
        assert_eq!(json["probabilities"], want["probabilities"], "{format:?}");
    }
    let corner = red.crop_imm(0, 0, 28, 28);
    let (_, whole) = server.post("image/png", &encode(red.clone(), image::ImageFormat::Png));
    let (_, cropped) = server.post("image/png", &encode(corner, image::ImageFormat::Png));
    assert_ne!(whole["probabilities"], cropped["probabilities"]);
}

/// A PNG whose header claims `width x height` but whose data is a few bytes: the header alone
/// must be enough to refuse it.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend(data);
        out.extend(&crc_input);
        out.extend(crc32(&crc_input).to_be_bytes());
    }
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit grey
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Every bad request gets a JSON error with a 4xx status, and the server keeps serving.
#[test]
fn bad_input_gets_a_json_error_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::SimpleNet, 2, None);
    let server = Server::start(
        &model,
        &[
            "--max-body",
            "100K",
            "--max-pixels",
            "1000000",
            "--read-timeout",
            "1",
        ],
    );
    let digit = digits().swap_remove(0).1;

    // A real decompression bomb: 2000x2000 black pixels compress to a few kilobytes.
    let bomb = encode(
        image::DynamicImage::ImageLuma8(image::GrayImage::new(2000, 2000)),
        image::ImageFormat::Png,
    );
    assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
    let huge_claim = png_claiming(100_000, 100_000);
    let huge_body = vec![0u8; 200 * 1024];
    // Far more than the socket buffers hold: the client is still writing when the server
    // decides, so the 413 only arrives if the server reads the rest first.
    let very_large_body = vec![0u8; 8 * 1024 * 1024];
    let truncated = &digit[..digit.len() / 2];
    let (mp_none, mp_none_body) = multipart(&[("file", &digit)]);
    let (mp_bad, mp_bad_body) = multipart(&[("image", &digit), ("image", b"not an image")]);

    let cases: Vec<(&str, &str, &[u8], u16, &str)> = vec![
        (
            "not an image",
            "image/png",
            b"hello, world",
            400,
            "not a readable image",
        ),
        ("empty body", "image/png", b"", 400, "empty"),
        (
            "truncated PNG",
            "image/png",
            truncated,
            400,
            "not a readable image",
        ),
        (
            "body over --max-body",
            "image/png",
            &huge_body,
            413,
            "limit of 102400 bytes",
        ),
        (
            "body 80 times --max-body",
            "image/png",
            &very_large_body,
            413,
            "limit of 102400 bytes",
        ),
        (
            "decompression bomb",
            "image/png",
            &bomb,
            413,
            "more than the limit of 1000000",
        ),
        (
            "header claiming 10^10 pixels",
            "image/png",
            &huge_claim,
            413,
            "10000000000 pixels",
        ),
        (
            "text content type",
            "text/plain",
            &digit,
            415,
            "not an image",
        ),
        (
            "a form's fields, not an image",
            "application/x-www-form-urlencoded",
            b"image=digit.png",
            400,
            "not a readable image",
        ),
        (
            "JSON content type",
            "application/json",
            b"{}",
            415,
            "not an image",
        ),
        (
            "multipart without an image field",
            &mp_none,
            &mp_none_body,
            400,
            "no field named `image`",
        ),
        (
            "multipart with one bad image",
            &mp_bad,
            &mp_bad_body,
            400,
            "image 2 of the request",
        ),
        (
            "multipart without a boundary",
            "multipart/form-data",
            &digit,
            400,
            "",
        ),
    ];
    for (what, ct, body, want, needle) in cases {
        let start = Instant::now();
        let (status, json) = server.post(ct, body);
        assert_eq!(status, want, "{what}: {json}");
        let msg = json["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {json}"));
        assert!(msg.contains(needle), "{what}: {msg}");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            start.elapsed()
        );
        server.assert_alive(&digit);
    }

    // Sent chunked, the server learns the size only while reading: a body over --max-body
    // still gets its 413 (the rest read and thrown away, so the client's writes do not fail),
    // and an image within it its answer.
    let (mp_one, mp_one_body) = multipart(&[("image", &digit)]);
    let chunked: Vec<(&str, &str, &[u8], u16)> = vec![
        (
            "chunked body 80 times --max-body",
            "image/png",
            &very_large_body,
            413,
        ),
        (
            "chunked body just over --max-body",
            "image/png",
            &huge_body,
            413,
        ),
        ("chunked image", "image/png", &digit, 200),
        ("chunked multipart image", &mp_one, &mp_one_body, 200),
    ];
    for (what, ct, body, want) in chunked {
        let start = Instant::now();
        let (status, json) = server.post_chunked(ct, body);
        assert_eq!(status, want, "{what}: {json}");
        if want == 413 {
            let msg = json["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: {json}"));
            assert!(msg.contains("limit of 102400 bytes"), "{what}: {msg}");
        } else {
            assert!(json["class"].is_string(), "{what}: {json}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: {:?}",
            start.elapsed()
        );
        server.assert_alive(&digit);
    }

    for (method, path, want) in [
        ("GET", "/predict", 405),
        ("GET", "/nope", 404),
        ("POST", "/health", 405),
    ] {
        let req = match method {
            "GET" => agent().get(&server.url(path)).call(),
            _ => agent().post(&server.url(path)).send(&b""[..]),
        };
        let mut r = req.unwrap();
        assert_eq!(r.status().as_u16(), want, "{method} {path}");
        let json: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        assert!(json["error"].is_string(), "{method} {path}: {json}");
        // Both name the routes there are: the fix for a wrong method or path.
        assert!(
            json["error"].as_str().unwrap().contains("POST /predict"),
            "{method} {path}: {json}"
        );
    }

    // A client that sends half its body and stalls: 408 after --read-timeout.
    let host = server.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).unwrap();
    let start = Instant::now();
    write!(s, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n").unwrap();
    s.write_all(&digit[..100]).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"error\""), "{reply}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    server.assert_alive(&digit);

    // A client that sends half a request and hangs up.
    let mut s = TcpStream::connect(host).unwrap();
    write!(s, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n").unwrap();
    s.write_all(&digit[..100]).unwrap();
    drop(s);
    server.assert_alive(&digit);
}

/// Many clients at once, each getting its own image's answer (batched together in the server).
#[test]
fn concurrent_clients_each_get_their_answer() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::SimpleNet, 2, None);
    let server = Server::start(&model, &[]);
    let digits = Arc::new(digits());
    let expected: Vec<Value> = digits
        .iter()
        .map(|(_, b)| server.post("image/png", b).1)
        .collect();
    let expected = Arc::new(expected);
    let url = server.url("/predict");
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let (digits, expected, url) = (digits.clone(), expected.clone(), url.clone());
            std::thread::spawn(move || {
                let agent = agent();
                for i in 0..25 {
                    let k = (t + i) % digits.len();
                    let mut r = agent
                        .post(&url)
                        .header("Content-Type", "image/png")
                        .send(&digits[k].1[..])
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let got: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    assert_eq!(got["class"], expected[k]["class"]);
                    let (a, b) = (
                        got["probability"].as_f64().unwrap(),
                        expected[k]["probability"].as_f64().unwrap(),
                    );
                    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// With a queue of one and a slow model, a burst of clients finds the queue full: those get a
/// JSON 503 with Retry-After at once, the others their answers, and the server carries on.
#[test]
fn a_full_queue_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::Resnet34, 10, None);
    let server = Server::start(&model, &["--queue", "1", "--max-batch", "1"]);
    let digit = Arc::new(digits().swap_remove(0).1);
    let n = 24;
    let barrier = Arc::new(Barrier::new(n));
    let url = server.url("/predict");
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (digit, barrier, url) = (digit.clone(), barrier.clone(), url.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut r = agent()
                    .post(&url)
                    .header("Content-Type", "image/png")
                    .send(&digit[..])
                    .unwrap();
                let status = r.status().as_u16();
                let retry = r.headers().get("retry-after").is_some();
                let json: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                (status, retry, json)
            })
        })
        .collect();
    let answers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = answers.iter().filter(|a| a.0 == 503).count();
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(busy + ok, n, "{answers:?}");
    assert!(busy > 0 && ok > 0, "{busy} busy, {ok} ok");
    for (status, retry, json) in &answers {
        if *status == 503 {
            assert!(retry, "503 without Retry-After");
            assert!(json["error"].as_str().unwrap().contains("busy"), "{json}");
        }
    }
    server.assert_alive(&digit);
}

/// Start-up errors: one line on stderr naming the problem, a non-zero exit, no server.
#[test]
fn start_up_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_model = dir.path().join("notes.txt");
    std::fs::write(&not_a_model, "hello").unwrap();
    let model = model_file(dir.path(), Arch::SimpleNet, 2, None);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let missing = dir.path().join("missing.fbm");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--model", missing.to_str().unwrap()], "missing.fbm"),
        (
            vec!["--model", not_a_model.to_str().unwrap()],
            "not a fastburn model file",
        ),
        (
            vec!["--model", model.to_str().unwrap(), "--addr", &busy_addr],
            "cannot listen on",
        ),
        (
            vec!["--model", model.to_str().unwrap(), "--max-body", "lots"],
            "not a size",
        ),
    ];
    for (args, needle) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_fastburn"))
            .arg("serve")
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        if needle != "not a size" {
            // (clap's usage errors have their own few lines)
            assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

/// SIGTERM stops accepting but lets the request in flight finish, then the process exits 0.
#[test]
fn sigterm_lets_the_request_in_flight_finish() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::SimpleNet, 2, None);
    let mut server = Server::start(&model, &[]);
    let digit = digits().swap_remove(0).1;
    let host = server.base.trim_start_matches("http://").to_string();

    // Half a request, then the signal, then the rest.
    let mut s = TcpStream::connect(&host).unwrap();
    write!(
        s,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
        digit.len()
    )
    .unwrap();
    s.write_all(&digit[..digit.len() / 2]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&digit[digit.len() / 2..]).unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"class\""), "{reply}");

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    assert!(
        TcpStream::connect(&host).is_err(),
        "still accepting after shutdown"
    );
}

/// A request that never completes does not hold the shutdown up past --shutdown-grace.
#[test]
fn a_stalled_request_does_not_block_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_file(dir.path(), Arch::SimpleNet, 2, None);
    let mut server = Server::start(&model, &["--shutdown-grace", "1"]);
    let host = server.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&host).unwrap();
    write!(s, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 5000\r\n\r\n").unwrap();
    s.write_all(b"\x89PNG").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "did not wait for the request: {waited:?}"
    );
}
