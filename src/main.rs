use std::process::ExitCode;

use clap::Parser;
use fastburn::cli::{Cli, run};

/// mimalloc keeps freed activation buffers for the next step instead of returning them to the OS
/// (see Cargo.toml): a ResNet-18 step is about 8% faster than with the system allocator.
#[cfg(not(target_family = "wasm"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let result: anyhow::Result<()> = run(Cli::parse()).map_err(Into::into);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
