//! Bench workload (fastburn side): every PNG of an MNIST_SAMPLE folder into one `[n, 28, 28]` f32
//! tensor divided by 255 — listing, sorting, decoding, stacking. Prints one JSON line.
//!
//! `cargo run --release --example bench_load -- DATA_DIR [REPEATS]`

use std::path::PathBuf;
use std::time::Instant;

use fastburn::data::{image_files, load_images};

fn main() -> fastburn::Result<()> {
    // The allocator setting of the `fastburn` binary, so the bench times what users run.
    fastburn_flex::keep_freed_memory();
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: bench_load DATA_DIR [REPEATS]"),
    );
    let repeats: usize = std::env::args()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let device = fastburn::device();
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..repeats + 1 {
        let start = Instant::now();
        let mut files = Vec::new();
        for split in ["train", "valid"] {
            for digit in ["3", "7"] {
                files.extend(image_files(&root.join(split).join(digit))?);
            }
        }
        let t = load_images(&files)?.to_tensor(&device);
        n = t.dims()[0];
        times.push(start.elapsed().as_secs_f64());
    }
    times.remove(0); // warm-up: file cache and thread pool
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"images\": {n}, \"median_s\": {:.6}, \"threads\": {}}}",
        times[times.len() / 2],
        rayon::current_num_threads()
    );
    Ok(())
}
