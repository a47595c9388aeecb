//! `fastburn`: fastbook's steps as commands (`fastburn --help`).

mod advice;
mod cli;
mod commands;
mod launch;

use std::process::ExitCode;

use clap::Parser;
use cli::{Cli, Command};

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    let cli = Cli::parse();
    let command = cli.command.as_ref();
    if Command::trains(command) {
        // Training frees and re-allocates the same large buffers every step: keep them (see
        // `fastburn_flex::keep_freed_memory`). A server or a one-off command gains nothing.
        fastburn_flex::keep_freed_memory();
        // And this thread, which drives the steps, works in the parallel loops it starts instead
        // of sleeping through each (`fastburn_flex::par::join_thread_pool`). Not for `serve`,
        // whose requests' loops are started by the server's threads.
        fastburn_flex::par::join_thread_pool();
    }
    // One of several ranks of an MPI job (mpirun, srun): joined here, left when `main` returns.
    let _job = match launch::start(matches!(command, Some(Command::Train(_)))) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli::run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let rank = launch::launched().map_or(String::new(), |(r, _, _)| format!("rank {r}: "));
            eprintln!("error: {rank}{}", advice::explain(&e, command));
            // The other ranks would wait for this one forever.
            launch::stop_job();
            ExitCode::FAILURE
        }
    }
}

/// Mesa's Vulkan drivers install an implicit layer (`VK_LAYER_MESA_device_select`) that, on a
/// machine with no display session, prints "error: XDG_RUNTIME_DIR is invalid or not set" when
/// wgpu starts: a line about nothing fastburn does. Without a session (no `XDG_RUNTIME_DIR`)
/// there is no display to pick a GPU by, so the layer is switched off with its own switch
/// (`NODEVICE_SELECT`), unless the user set it. Only builds with a GPU backend start Vulkan.
fn quiet_vulkan_device_select() {
    if cfg!(feature = "wgpu")
        && std::env::var_os("XDG_RUNTIME_DIR").is_none()
        && std::env::var_os("NODEVICE_SELECT").is_none()
    {
        // SAFETY: the first thing `main` does, before any other thread exists.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}
