//! The `signups` mode: K registrations, then K sign-ins of the same accounts, some at a
//! time, with the server's memory sampled throughout (password hashing is memory-hard).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::{StreamExt, stream};
use serde_json::json;

use crate::cli::Options;
use crate::idle::peak_rss_during;
use crate::{print_result, procfs, rest};

/// One phase's figures.
#[derive(Debug, serde::Serialize)]
struct Phase {
    ok: usize,
    /// Failures by what went wrong (`HTTP 429 rate_limited`, a connection error, ...).
    errors: BTreeMap<String, usize>,
    seconds: f64,
    per_second: f64,
    peak_rss_kib: u64,
}

pub async fn run(options: &Options) -> Result<()> {
    let http = rest::client()?;
    let run = rest::run_id();
    let base = options.urls[0].as_str();
    let names: Vec<String> = (0..options.signups)
        .map(|i| format!("lg{run}s{i}"))
        .collect();
    let before = procfs::snapshot(&options.pids)?;
    let signup = phase(
        options,
        names.iter().map(|name| {
            let http = &http;
            async move { rest::register(http, base, name).await.map(drop) }
        }),
    )
    .await;
    let signin = phase(
        options,
        names.iter().map(|name| {
            let http = &http;
            async move { rest::login(http, base, name).await.map(drop) }
        }),
    )
    .await;
    let end = procfs::snapshot(&options.pids)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = procfs::snapshot(&options.pids)?;
    let usage = procfs::Usage::between(&before, &end);
    let peak = signup.peak_rss_kib.max(signin.peak_rss_kib);
    let label = &options.label;
    println!(
        "== {label} signups: {} sign-ups, then as many sign-ins, {} at a time",
        options.signups, options.signup_concurrency
    );
    for (name, p) in [("sign-ups", &signup), ("sign-ins", &signin)] {
        println!(
            "  {name}: {} ok in {:.1} s ({:.1}/s), errors {:?}, peak RSS {} KiB",
            p.ok, p.seconds, p.per_second, p.errors, p.peak_rss_kib
        );
    }
    println!(
        "  server RSS: {} KiB before, {peak} KiB at the peak, {} KiB 2 s after; {:.2} CPU-s ({:.2} cores)",
        before.server_rss_kib, after.server_rss_kib, usage.server_cpu_s, usage.server_cores
    );
    print_result(&json!({
        "mode": "signups",
        "label": label,
        "signups": options.signups,
        "concurrency": options.signup_concurrency,
        "signup": signup,
        "signin": signin,
        "rss_before_kib": before.server_rss_kib,
        "rss_peak_kib": peak,
        "rss_after_kib": after.server_rss_kib,
        "rss_delta_kib": after.server_rss_kib as i64 - before.server_rss_kib as i64,
        "usage": usage,
    }));
    Ok(())
}

/// Runs the requests `signup_concurrency` at a time, counting outcomes.
async fn phase<F>(options: &Options, requests: impl Iterator<Item = F>) -> Phase
where
    F: std::future::Future<Output = Result<()>>,
{
    let started = Instant::now();
    let work = stream::iter(requests)
        .buffer_unordered(options.signup_concurrency)
        .fold(
            (0usize, BTreeMap::new()),
            |(ok, mut errors), outcome| async move {
                match outcome {
                    Ok(()) => (ok + 1, errors),
                    Err(err) => {
                        let kind = err
                            .downcast_ref::<rest::Refused>()
                            .map_or_else(|| format!("{:#}", err.root_cause()), ToString::to_string);
                        *errors.entry(kind).or_insert(0) += 1;
                        (ok, errors)
                    }
                }
            },
        );
    let ((ok, errors), peak_rss_kib) = peak_rss_during(&options.pids, work).await;
    let seconds = started.elapsed().as_secs_f64();
    Phase {
        ok,
        errors,
        seconds,
        per_second: ok as f64 / seconds.max(1e-9),
        peak_rss_kib,
    }
}
