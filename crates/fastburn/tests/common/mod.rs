//! Helpers shared by the integration tests: tiny archives and a loopback HTTP server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use burn::prelude::*;
use fastburn::data::{DataLoader, DataLoaders, TensorDataset};
use flate2::Compression;
use flate2::write::GzEncoder;

/// A `.tgz` holding `top/<name>` files with the given contents, as fastai's archives are laid out.
pub fn tgz(top: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, format!("{top}/{name}"), *data)
            .unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// A `.tgz` with one entry whose raw name is `name` (which the tar crate would refuse to write,
/// e.g. `../evil.txt` or `/tmp/evil.txt`), or a symlink `name -> target` when `target` is given.
pub fn tgz_raw(name: &str, target: Option<&str>) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(t) = target {
            gnu.linkname[..t.len()].copy_from_slice(t.as_bytes());
        }
    }
    let body: &[u8] = b"pwned\n";
    if target.is_some() {
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
    } else {
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(body.len() as u64);
    }
    header.set_mode(0o644);
    header.set_cksum();
    let mut tar_bytes = header.as_bytes().to_vec();
    if target.is_none() {
        let mut block = body.to_vec();
        block.resize(512, 0);
        tar_bytes.extend(block);
    }
    tar_bytes.extend(vec![0u8; 1024]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&tar_bytes).unwrap();
    gz.finish().unwrap()
}

/// What the test server answers for a path: status, body, and a Content-Length to claim (which
/// may exceed the body, to simulate a dropped connection).
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub claimed_len: Option<usize>,
    /// Wait this long before answering (to make concurrent clients overlap).
    pub delay_ms: u64,
}

impl Reply {
    pub fn ok(body: Vec<u8>) -> Self {
        Reply {
            status: 200,
            body,
            claimed_len: None,
            delay_ms: 0,
        }
    }
}

/// A loopback HTTP/1.1 server answering from a routing table; serves until the test ends.
pub struct Server {
    pub base: String,
    routes: Arc<Mutex<Vec<(String, Reply)>>>,
    /// The path of every request served, in order.
    pub hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<Vec<(String, Reply)>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let table = routes.clone();
        let log = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (table, log) = (table.clone(), log.clone());
                std::thread::spawn(move || serve_one(stream, &table, &log));
            }
        });
        Server { base, routes, hits }
    }

    pub fn route(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().push((path.to_string(), reply));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// How many requests asked for `path`.
    pub fn hits_of(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }
}

fn serve_one(
    mut stream: std::net::TcpStream,
    table: &Mutex<Vec<(String, Reply)>>,
    log: &Mutex<Vec<String>>,
) {
    let mut buf = [0u8; 4096];
    let mut req = Vec::new();
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let req = String::from_utf8_lossy(&req);
    let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
    log.lock().unwrap().push(path.clone());
    let reply = table
        .lock()
        .unwrap()
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, r)| r.clone())
        .unwrap_or(Reply {
            status: 404,
            body: b"not found".to_vec(),
            claimed_len: None,
            delay_ms: 0,
        });
    std::thread::sleep(std::time::Duration::from_millis(reply.delay_ms));
    let len = reply.claimed_len.unwrap_or(reply.body.len());
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        reply.status
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
}

/// Names of everything in `dir` (to show nothing half-written was left behind).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// 2x2 "images" labelled 1 when their pixels sum to more than 2: a linearly separable problem
/// small enough to train in a test. 256 training items in batches of 32, 64 validation items.
pub fn synthetic_dls(seed: u64) -> DataLoaders<TensorDataset<4>> {
    let dev = fastburn::device();
    let make = |n: usize, offset: usize| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..n {
            let px: Vec<f32> = (0..4)
                .map(|j| (((i + offset) * 7 + j * 13) % 17) as f32 / 16.0)
                .collect();
            y.push(i64::from(px.iter().sum::<f32>() > 2.0));
            x.extend(px);
        }
        TensorDataset::new(
            Tensor::from_data(TensorData::new(x, [n, 1, 2, 2]), &dev),
            Tensor::from_data(TensorData::new(y, [n]), &dev),
        )
    };
    DataLoaders {
        train: DataLoader::new(make(256, 0), 32).shuffle(seed),
        valid: DataLoader::new(make(64, 1000), 32),
        vocab: vec!["small".into(), "big".into()],
        norm: None,
        item_tfms: Default::default(),
        aug: None,
    }
}

/// The epoch table's rows in a program's output, without their time column.
pub fn table_without_times(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.parse::<usize>().is_ok())
        })
        .map(|l| l.rsplit_once(' ').map_or(l, |(row, _time)| row).to_string())
        .collect()
}

/// A test that needs a tool this machine lacks (Chromium, `script`): skipped, saying so, on a
/// developer's machine; a failure under CI (`CI` set, as `.ci/run` sets it), which installs the
/// tool, so that a broken install cannot pass as a skipped test.
pub fn missing_tool(what: &str) {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{what} is missing, and CI installs it: the test cannot run"
    );
    eprintln!("skipped: {what} is missing");
}

/// Every float tensor of a module (BatchNorm's running statistics too), in module order: what
/// "the same weights" compares, without the parameters' random ids.
pub fn module_floats<M: burn::module::Module>(m: &M) -> Vec<Vec<f32>> {
    use burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().into_data().iter::<f32>().collect());
        }
    }
    let mut c = Collect(Vec::new());
    m.visit(&mut c);
    c.0
}

/// [`module_floats`] of a model file written by `fastburn train --save`.
pub fn saved_floats(path: &Path) -> Vec<Vec<f32>> {
    let (model, _) = fastburn::models::load_model(path, &Device::flex()).unwrap();
    module_floats(&model)
}

/// Runs a checkpointing training command until it completes, SIGKILLing it after `first`, then
/// after a delay `step` longer each time, so kills land before, during and after checkpoint
/// writes. `command(resume)` builds the command, with `--resume` when `resume` (a checkpoint
/// exists in `checkpoint_dir`). Returns the completed run's output and the number of kills;
/// fails after 10 minutes without completing.
pub fn kill_until_done(
    mut command: impl FnMut(bool) -> std::process::Command,
    checkpoint_dir: &Path,
    first: std::time::Duration,
    step: std::time::Duration,
) -> (std::process::Output, usize) {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let (mut kills, mut delay, started) = (0, first, Instant::now());
    loop {
        let resume = checkpoint_dir.join("checkpoint.fbc").exists();
        let mut child = command(resume)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while t.elapsed() < delay && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
            delay += step;
            assert!(started.elapsed() < Duration::from_secs(600), "no progress");
            continue;
        }
        return (child.wait_with_output().unwrap(), kills);
    }
}

/// A folder of photos: `train/` and `valid/` with a class folder per committed ImageNet photo
/// (cat, coffee), each holding crops of that photo (different places and scales), saved as grey
/// PNG or colour JPEG in turn.
pub fn crops_folder(root: &Path, per_class: (usize, usize)) {
    // Both crates include this file: the fixtures are the library's.
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fastburn/tests/fixtures/imagenet");
    for class in ["cat", "coffee"] {
        let photo = image::open(fixtures.join(format!("{class}.png"))).unwrap();
        let (w, h) = (photo.width(), photo.height());
        for (split, n, offset) in [("train", per_class.0, 0), ("valid", per_class.1, 97)] {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let k = (i * 37 + offset) as u32;
                let side = w.min(h) * (60 + k % 35) / 100;
                let (x, y) = ((k * 13) % (w - side + 1), (k * 29) % (h - side + 1));
                let crop = photo.crop_imm(x, y, side, side);
                match i % 2 {
                    0 => crop.to_luma8().save(dir.join(format!("{i}.png"))).unwrap(),
                    _ => crop.to_rgb8().save(dir.join(format!("{i}.jpg"))).unwrap(),
                }
            }
        }
    }
}
