//! The `idle` mode: many authenticated sockets held open, for the server's memory per
//! socket. Users share tokens (a user with many devices), so setup stays short.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::Options;
use crate::load::{check_open_files, connect_fleet};
use crate::socket::{Member, Shared};
use crate::{print_result, procfs, rest};

/// How long the server gets to give memory back after the sockets close.
const AFTER_CLOSE: Duration = Duration::from_secs(3);

pub async fn run(options: &Options) -> Result<()> {
    check_open_files(options.sockets)?;
    let http = rest::client()?;
    let run = rest::run_id();
    let base = &options.urls[0];
    let users = options.users.min(options.sockets.max(2));
    let accounts = rest::register_many(&http, base, &run, users, options.setup_concurrency).await?;
    let rooms = rest::make_rooms(&http, base, &run, &accounts, options.room_size).await?;
    let mut of_user: Vec<(Arc<str>, usize)> = vec![("".into(), 0); accounts.len()];
    for (id, members) in &rooms {
        let room: Arc<str> = id.as_str().into();
        for &m in members {
            of_user[m] = (room.clone(), members.len());
        }
    }
    let sockets: Vec<(String, Member)> = (0..options.sockets)
        .map(|i| {
            let user = i % accounts.len();
            let (room_id, room_members) = of_user[user].clone();
            let member = Member {
                user_id: accounts[user].id.as_str().into(),
                room_id,
                room_members,
                focus: options.focus,
            };
            (accounts[user].token.clone(), member)
        })
        .collect();
    // Let the server settle after the registrations before the baseline reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = procfs::snapshot(&options.pids)?;
    let shared = Shared::new();
    let fleet = connect_fleet(&options.urls, sockets, &shared, options.connect_concurrency).await?;
    let connected = before.at.elapsed();
    tokio::time::sleep(options.hold).await;
    let held = procfs::snapshot(&options.pids)?;
    let reports = fleet.reports().await;
    let closed = reports.iter().filter(|r| r.closed.is_some()).count();
    fleet.close().await;
    tokio::time::sleep(AFTER_CLOSE).await;
    let after = procfs::snapshot(&options.pids)?;

    let n = options.sockets.max(1) as f64;
    let per_socket = (held.server_rss_kib as f64 - before.server_rss_kib as f64) / n;
    let kept_per_socket = (after.server_rss_kib as f64 - before.server_rss_kib as f64) / n;
    let usage = procfs::Usage::between(&before, &held);
    let label = &options.label;
    println!(
        "== {label} idle: {} sockets of {} users, connected in {:.1} s, {closed} closed by the end",
        options.sockets,
        accounts.len(),
        connected.as_secs_f64()
    );
    println!(
        "  server RSS: {} KiB before, {} KiB with the sockets ({per_socket:.1} KiB per socket), {} KiB after closing them ({kept_per_socket:.1} KiB per socket kept)",
        before.server_rss_kib, held.server_rss_kib, after.server_rss_kib
    );
    println!(
        "  connecting and holding: server {:.2} CPU-s, loadgen {:.2} CPU-s",
        usage.server_cpu_s, usage.loadgen_cpu_s
    );
    print_result(&json!({
        "mode": "idle",
        "label": label,
        "sockets": options.sockets,
        "users": accounts.len(),
        "connect_s": connected.as_secs_f64(),
        "closed_sockets": closed,
        "rss_before_kib": before.server_rss_kib,
        "rss_held_kib": held.server_rss_kib,
        "rss_after_close_kib": after.server_rss_kib,
        "kib_per_socket": per_socket,
        "kib_per_socket_after_close": kept_per_socket,
        "usage": usage,
    }));
    Ok(())
}

/// Used by the `signups` mode too: the highest RSS seen while `work` runs, sampled every
/// 50 ms.
pub async fn peak_rss_during<T>(
    pids: &[u32],
    work: impl std::future::Future<Output = T>,
) -> (T, u64) {
    let mut peak = 0u64;
    let mut sample = tokio::time::interval(Duration::from_millis(50));
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => {
                let last = procfs::snapshot(pids).map_or(0, |s| s.server_rss_kib);
                return (out, peak.max(last));
            }
            _ = sample.tick() => {
                if let Ok(s) = procfs::snapshot(pids) {
                    peak = peak.max(s.server_rss_kib);
                }
            }
        }
    }
}
