//! `fastburn`: fastbook's steps as commands (`fastburn --help`).

mod advice;
mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.as_ref();
    if Command::trains(command) {
        // Training frees and re-allocates the same large buffers every step: keep them (see
        // `fastburn_flex::keep_freed_memory`). A server or a one-off command gains nothing.
        fastburn_flex::keep_freed_memory();
    }
    match cli::run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", advice::explain(&e, command));
            ExitCode::FAILURE
        }
    }
}
