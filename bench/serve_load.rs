//! Load generator for `bench/serve.sh`: N client threads, each with its own keep-alive
//! connection, POST one image to a `/predict` URL until a fixed number of requests is done.
//! Prints one JSON line: requests/s, p50/p99 latency, errors, and the server's resident memory
//! (its process and all its children, from /proc) before and after.
//!
//! `cargo run --release --example serve_load -- URL IMAGE CLIENTS REQUESTS [PID]`
//!
//! The first `CLIENTS * 5` requests warm up (connections, allocations, Python's lazy imports)
//! and are not counted. Blocking threads rather than async: each client is one thread waiting
//! on its answer, which is what a pool of callers looks like to the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Resident memory in KiB of `pid` and its descendants (uvicorn's workers are children).
fn rss_kib(pid: u32) -> u64 {
    let own = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let mut children = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in list.split_whitespace().filter_map(|c| c.parse().ok()) {
                children += rss_kib(child);
            }
        }
    }
    own + children
}

/// Run `n` requests over `clients` threads; latencies in seconds and the error count.
fn run(url: &str, image: &Arc<Vec<u8>>, clients: usize, n: usize) -> (Vec<f64>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (url, image, next) = (url.to_string(), image.clone(), next.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(60)))
                    .build()
                    .into();
                let (mut lat, mut errors) = (Vec::new(), 0);
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let start = Instant::now();
                    let ok = agent
                        .post(&url)
                        .header("Content-Type", "image/png")
                        .send(&image[..])
                        .ok()
                        .and_then(|mut r| {
                            let status = r.status().as_u16();
                            let body = r.body_mut().read_to_string().ok()?;
                            (status == 200 && body.contains("\"class\"")).then_some(())
                        })
                        .is_some();
                    lat.push(start.elapsed().as_secs_f64());
                    errors += usize::from(!ok);
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (lat, e) = t.join().expect("client thread");
        all.extend(lat);
        errors += e;
    }
    (all, errors)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: serve_load URL IMAGE CLIENTS REQUESTS [SERVER_PID]");
        std::process::exit(2);
    }
    let url = &args[1];
    let image = Arc::new(std::fs::read(&args[2]).expect("read the image"));
    let clients: usize = args[3].parse().expect("CLIENTS is a number");
    let requests: usize = args[4].parse().expect("REQUESTS is a number");
    let pid: Option<u32> = args.get(5).map(|p| p.parse().expect("PID is a number"));

    let rss_before = pid.map_or(0, rss_kib);
    let (_, warm_errors) = run(url, &image, clients, clients * 5);
    let start = Instant::now();
    let (mut lat, errors) = run(url, &image, clients, requests);
    let seconds = start.elapsed().as_secs_f64();
    let rss_after = pid.map_or(0, rss_kib);
    lat.sort_by(f64::total_cmp);
    println!(
        "{{\"clients\": {clients}, \"requests\": {requests}, \"errors\": {}, \"seconds\": {seconds:.3}, \
         \"rps\": {:.1}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}, \"rss_before_kib\": {rss_before}, \
         \"rss_after_kib\": {rss_after}}}",
        errors + warm_errors,
        requests as f64 / seconds,
        percentile(&lat, 50.0) * 1e3,
        percentile(&lat, 99.0) * 1e3,
    );
}
