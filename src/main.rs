use std::process::ExitCode;

use clap::Parser;
use fastburn::cli::{Cli, run};

fn main() -> ExitCode {
    // Training frees and re-allocates the same large buffers every step: keep them (see
    // `fastburn::keep_freed_memory`).
    fastburn::keep_freed_memory();
    let result: anyhow::Result<()> = run(Cli::parse()).map_err(Into::into);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
