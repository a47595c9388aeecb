//! `fastburn serve`: the command-line side of [`fastburn_serve`] (address, limits).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fastburn_serve::{BatchOptions, Predictor, ServeOptions, serve_until_signal};

/// The server's own defaults (`ServeOptions::default()`), which the options below start from.
fn defaults() -> ServeOptions {
    ServeOptions::default()
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A model file saved by `fastburn train --save`
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Address to listen on (port 0: any free port, printed at start)
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,
    /// Largest request body: bytes, or with a K, M or G suffix (413 above it)
    #[arg(long, default_value = human_size(defaults().max_body), value_parser = parse_size)]
    pub max_body: usize,
    /// Most pixels an uploaded image may have (413 above it; guards against decompression bombs)
    #[arg(long, default_value_t = defaults().max_pixels)]
    pub max_pixels: u64,
    /// Most images in one forward pass
    #[arg(long, default_value_t = defaults().batch.max_batch)]
    pub max_batch: usize,
    /// Microseconds to hold a batch open for more requests once the queue is empty
    #[arg(long, default_value_t = defaults().batch.max_wait.as_micros() as u64, value_name = "US")]
    pub batch_wait_us: u64,
    /// Most requests waiting for the model; more are answered 503
    #[arg(long, default_value_t = defaults().batch.queue)]
    pub queue: usize,
    /// Seconds a client may take to send its request body (408 after)
    #[arg(long, default_value_t = defaults().read_timeout.as_secs())]
    pub read_timeout: u64,
    /// Seconds requests in flight may take to finish after Ctrl-C or SIGTERM
    #[arg(long, default_value_t = defaults().shutdown_grace.as_secs())]
    pub shutdown_grace: u64,
}

/// A byte count as `--max-body` is written: `10M`, `512K`, or bytes.
fn human_size(bytes: usize) -> String {
    match bytes {
        b if b > 0 && b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b > 0 && b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b > 0 && b % (1 << 10) == 0 => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

/// `10M` -> 10 MiB, `512K`, `1G`, or plain bytes.
fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim().trim_end_matches(['B', 'b']);
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?} is not a size (e.g. 10M, 512K, 1048576)"))
}

pub fn run(cfg: &fastburn::data::Config, args: &ServeArgs) -> anyhow::Result<()> {
    let model = Predictor::load_on(&args.model, &cfg.device()?)?;
    let opts = ServeOptions {
        max_body: args.max_body,
        max_pixels: args.max_pixels,
        batch: BatchOptions {
            max_batch: args.max_batch,
            max_wait: Duration::from_micros(args.batch_wait_us),
            queue: args.queue,
        },
        read_timeout: Duration::from_secs(args.read_timeout),
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        ..defaults()
    };
    let (arch, classes) = (model.arch(), model.classes().join(", "));
    serve_until_signal(args.addr, model, opts, |addr| {
        println!(
            "serving {arch} (classes {classes}) from {} on http://{addr} (Ctrl-C to stop)",
            args.model.display()
        );
    })?;
    println!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(super::human_size(10 << 20), "10M");
        assert_eq!(
            super::parse_size(&super::human_size(10 << 20)),
            Ok(10 << 20)
        );
        assert_eq!(super::human_size(1000), "1000");
        assert_eq!(super::parse_size("10M"), Ok(10 << 20));
        assert_eq!(super::parse_size("512k"), Ok(512 << 10));
        assert_eq!(super::parse_size("1GB"), Ok(1 << 30));
        assert_eq!(super::parse_size("1000"), Ok(1000));
        assert!(super::parse_size("ten").is_err());
    }
}
