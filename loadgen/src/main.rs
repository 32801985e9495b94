//! `loadgen`: puts a chat server of Confab's API (shared/API.md v1) under a known load and
//! measures what comes back. It speaks Socket.IO over WebSocket itself, so the instrument
//! costs little CPU next to the server it measures; `make bench` runs it against Confab and
//! the Node baseline in turn.
//!
//! - [`cli`]: the options.
//! - [`rest`]: setup over REST (users, rooms, sign-ins).
//! - [`socket`]: the Socket.IO client, one task per socket with its own counters.
//! - [`load`]: senders at an even rate, deliveries, losses, order and latency.
//! - [`idle`]: many idle sockets, memory per socket.
//! - [`signups`]: registrations and sign-ins, memory under password hashing.
//! - [`procfs`]: CPU time and memory of the servers and of this process.
//! - [`stats`]: latency percentiles.
//!
//! Each run prints a readable summary and one `RESULT {json}` line for scripts.

// A measuring tool: stdout is its report.
#![allow(clippy::print_stdout)]

mod cli;
mod idle;
mod load;
mod procfs;
mod rest;
mod signups;
mod socket;
mod stats;

use std::process::ExitCode;

use cli::{Mode, Options};

/// Prints the machine-readable line of one result.
fn print_result(value: &serde_json::Value) {
    println!("RESULT {value}");
}

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    // One thread by default: the cheapest, and it leaves the other cores to the server.
    let runtime = if options.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(options.threads)
            .enable_all()
            .build()
    };
    let outcome = runtime.map_err(anyhow::Error::from).and_then(|rt| {
        rt.block_on(async {
            match options.mode {
                Mode::Load => load::run(&options).await,
                Mode::Idle => idle::run(&options).await,
                Mode::Signups => signups::run(&options).await,
            }
        })
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loadgen: {err:#}");
            ExitCode::FAILURE
        }
    }
}
