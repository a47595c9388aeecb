use std::process::ExitCode;

use clap::Parser;
use fastburn::cli::{Cli, run};

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
