//! The `load` mode: users in rooms, half of each room sending at an even aggregate rate,
//! every other member's socket counting what it is delivered.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::cli::Options;
use crate::procfs::{self, Usage};
use crate::socket::{self, Command, Member, Report, Shared};
use crate::stats::Latencies;
use crate::{print_result, rest};

/// The connected sockets of a run, by user index.
pub struct Fleet {
    pub commands: Vec<mpsc::UnboundedSender<Command>>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Every socket's counters since the last call.
    pub async fn reports(&self) -> Vec<Report> {
        let mut waiting = Vec::with_capacity(self.commands.len());
        for commands in &self.commands {
            let (to, from) = oneshot::channel();
            let _ = commands.send(Command::Report(to));
            waiting.push(from);
        }
        let mut reports = Vec::with_capacity(waiting.len());
        for from in waiting {
            reports.push(from.await.unwrap_or_default());
        }
        reports
    }

    /// Closes every socket and waits (bounded) for the tasks to end.
    pub async fn close(self) {
        for commands in &self.commands {
            let _ = commands.send(Command::Close);
        }
        let all = futures_util::future::join_all(self.tasks);
        let _ = tokio::time::timeout(Duration::from_secs(10), all).await;
    }
}

/// Connects one socket per `(token, member)`, round robin over `urls`, `concurrency`
/// handshakes at a time, and starts its task.
pub async fn connect_fleet(
    urls: &[String],
    sockets: Vec<(String, Member)>,
    shared: &Arc<Shared>,
    concurrency: usize,
) -> Result<Fleet> {
    let count = sockets.len();
    let connected: Vec<_> = stream::iter(sockets.into_iter().enumerate())
        .map(|(i, (token, member))| async move {
            let url = &urls[i % urls.len()];
            let ws = socket::connect(url, &token)
                .await
                .with_context(|| format!("socket {i} of {count} to {url}"))?;
            anyhow::Ok((ws, member))
        })
        .buffered(concurrency)
        .try_collect()
        .await?;
    let mut fleet = Fleet {
        commands: Vec::with_capacity(count),
        tasks: Vec::with_capacity(count),
    };
    for (ws, member) in connected {
        let (to, from) = mpsc::unbounded_channel();
        fleet.commands.push(to);
        fleet.tasks.push(tokio::spawn(socket::drive(
            ws,
            member,
            shared.clone(),
            from,
        )));
    }
    Ok(fleet)
}

/// Checks that this process may open `sockets` more files.
pub fn check_open_files(sockets: usize) -> Result<()> {
    if let Some(limit) = procfs::open_files_limit() {
        let needed = sockets as u64 + 64;
        if limit < needed {
            bail!(
                "{sockets} sockets need about {needed} open files, the limit is {limit}: \
                 raise it first (`ulimit -n {needed}`)"
            );
        }
    }
    Ok(())
}

/// The rooms of a run: members by user index.
struct Rooms {
    of_user: Vec<usize>,
    members: Vec<Vec<usize>>,
}

pub async fn run(options: &Options) -> Result<()> {
    check_open_files(options.users)?;
    let http = rest::client()?;
    let run = rest::run_id();
    let base = &options.urls[0];
    let started = Instant::now();
    let accounts =
        rest::register_many(&http, base, &run, options.users, options.setup_concurrency).await?;
    let made = rest::make_rooms(&http, base, &run, &accounts, options.room_size).await?;
    println!(
        "setup: {} users and {} rooms in {:.1} s",
        accounts.len(),
        made.len(),
        started.elapsed().as_secs_f64()
    );
    let mut rooms = Rooms {
        of_user: vec![0; accounts.len()],
        members: Vec::with_capacity(made.len()),
    };
    let shared = Shared::new();
    let mut sockets = Vec::with_capacity(accounts.len());
    let room_ids: Vec<Arc<str>> = made.iter().map(|(id, _)| id.as_str().into()).collect();
    for (r, (_, members)) in made.iter().enumerate() {
        for &m in members {
            rooms.of_user[m] = r;
        }
        rooms.members.push(members.clone());
    }
    for (user, account) in accounts.iter().enumerate() {
        let r = rooms.of_user[user];
        let member = Member {
            user_id: account.id.as_str().into(),
            room_id: room_ids[r].clone(),
            room_members: rooms.members[r].len(),
            focus: options.focus,
        };
        sockets.push((account.token.clone(), member));
    }
    let connecting = Instant::now();
    let fleet = connect_fleet(&options.urls, sockets, &shared, options.connect_concurrency).await?;
    println!(
        "setup: {} sockets over {} node(s) in {:.1} s",
        fleet.commands.len(),
        options.urls.len(),
        connecting.elapsed().as_secs_f64()
    );
    // Let the presence and room events of the connections pass before measuring.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let senders = senders(&rooms);
    let sweep = options.rates.len() > 1;
    for (step, &rate) in options.rates.iter().enumerate() {
        let step = u32::try_from(step + 1).unwrap_or(u32::MAX);
        let passed = run_step(options, &fleet, &shared, &rooms, &senders, step, rate).await?;
        if sweep && !passed {
            println!("sweep: stopping after {rate} msg/s");
            break;
        }
    }
    fleet.close().await;
    Ok(())
}

/// The sending users: the first half of every room (at least one), interleaved across rooms
/// so consecutive sends go to different rooms.
fn senders(rooms: &Rooms) -> Vec<usize> {
    let per_room: Vec<&[usize]> = rooms
        .members
        .iter()
        .map(|m| &m[..(m.len() / 2).max(1)])
        .collect();
    let most = per_room.iter().map(|s| s.len()).max().unwrap_or(0);
    (0..most)
        .flat_map(|k| per_room.iter().filter_map(move |s| s.get(k).copied()))
        .collect()
}

/// One rate for `options.duration`; prints its summary and RESULT line and says whether it
/// passed (p99 under the sweep's bound, nothing lost, every send acked ok).
async fn run_step(
    options: &Options,
    fleet: &Fleet,
    shared: &Shared,
    rooms: &Rooms,
    senders: &[usize],
    step: u32,
    rate: f64,
) -> Result<bool> {
    shared.begin(step);
    drop(fleet.reports().await); // counters start now
    let before = procfs::snapshot(&options.pids)?;
    let total = (rate * options.duration.as_secs_f64()).round() as u64;
    let issued = pace(fleet, senders, rate, total).await;
    let send_window = before.at.elapsed();
    drain(shared, issued, options.drain).await;
    let after = procfs::snapshot(&options.pids)?;
    let usage = Usage::between(&before, &after);
    let mut reports = fleet.reports().await;
    let outcome = Outcome::of(&mut reports, rooms);
    Ok(outcome.print(options, rate, issued, send_window, &usage))
}

/// The longest wait for stragglers after the last send, however steadily they still come.
const DRAIN_CAP: Duration = Duration::from_secs(60);

/// Waits for the acks and deliveries still on their way: until everything owed has come,
/// or nothing more came for `quiet`, or `DRAIN_CAP`. An overloaded server that is still
/// working through its backlog gets the time to finish, so what is counted lost was
/// really not delivered (within the `quiet` time of the last delivery), not merely late.
async fn drain(shared: &Shared, issued: u64, quiet: Duration) {
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut last = (0, 0);
    while started.elapsed() < DRAIN_CAP && last_progress.elapsed() < quiet {
        let settled = shared.settled.load(Ordering::Relaxed);
        let received = shared.received.load(Ordering::Relaxed);
        if settled >= issued && received >= shared.expected.load(Ordering::Relaxed) {
            return;
        }
        if (settled, received) != last {
            last = (settled, received);
            last_progress = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issues `total` sends at `rate` per second, evenly: every tick (1 ms, or one send's
/// interval if longer) sends what is due by the clock, so a late tick catches up instead of
/// slowing the rate.
async fn pace(fleet: &Fleet, senders: &[usize], rate: f64, total: u64) -> u64 {
    let period = Duration::from_secs_f64((1.0 / rate).max(0.001));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let start = Instant::now();
    let mut issued = 0u64;
    let mut next_sender = 0usize;
    while issued < total && !senders.is_empty() {
        ticker.tick().await;
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while issued < due {
            let _ = fleet.commands[senders[next_sender]].send(Command::Send);
            next_sender = (next_sender + 1) % senders.len();
            issued += 1;
        }
    }
    issued
}

/// A step's counts, merged over its sockets.
struct Outcome {
    sent: u64,
    acked: u64,
    ack_errors: BTreeMap<String, u64>,
    ack_timeouts: u64,
    late_acks: u64,
    write_errors: u64,
    expected: u64,
    received: u64,
    unique: u64,
    lost: u64,
    duplicates: u64,
    out_of_order: u64,
    stale: u64,
    other_events: u64,
    closed: Vec<String>,
    deliver: Latencies,
    ack: Latencies,
}

impl Outcome {
    fn of(reports: &mut [Report], rooms: &Rooms) -> Self {
        let mut o = Self {
            sent: 0,
            acked: 0,
            ack_errors: BTreeMap::new(),
            ack_timeouts: 0,
            late_acks: 0,
            write_errors: 0,
            expected: 0,
            received: 0,
            unique: 0,
            lost: 0,
            duplicates: 0,
            out_of_order: 0,
            stale: 0,
            other_events: 0,
            closed: Vec::new(),
            deliver: Latencies::default(),
            ack: Latencies::default(),
        };
        for r in reports.iter_mut() {
            o.sent += r.sent;
            o.acked += r.acked.len() as u64;
            for (code, n) in &r.ack_errors {
                *o.ack_errors.entry(code.clone()).or_default() += n;
            }
            o.ack_timeouts += r.ack_timeouts;
            o.late_acks += r.late_acks;
            o.write_errors += r.write_errors;
            o.received += r.received;
            o.unique += r.ids.len() as u64;
            o.duplicates += r.duplicates;
            o.out_of_order += r.out_of_order;
            o.stale += r.stale;
            o.other_events += r.other_events;
            o.closed.extend(r.closed.take());
            o.deliver.append(&mut r.deliver);
            o.ack.append(&mut r.ack);
        }
        // Every acked message is owed to every other member of its room.
        for members in &rooms.members {
            for &sender in members {
                let Some(report) = reports.get(sender) else {
                    continue;
                };
                for id in &report.acked {
                    for &member in members.iter().filter(|&&m| m != sender) {
                        o.expected += 1;
                        let got = reports.get(member).is_some_and(|r| r.ids.contains(id));
                        if !got {
                            o.lost += 1;
                        }
                    }
                }
            }
        }
        o
    }

    /// Prints the summary and the RESULT line; returns whether the step passed.
    fn print(
        mut self,
        options: &Options,
        rate: f64,
        issued: u64,
        send_window: Duration,
        usage: &Usage,
    ) -> bool {
        let deliver = self.deliver.summary();
        let ack = self.ack.summary();
        let errors: u64 = self.ack_errors.values().sum();
        let achieved = issued as f64 / send_window.as_secs_f64().max(1e-9);
        let per_cpu_s = if usage.server_cpu_s > 0.0 {
            self.unique as f64 / usage.server_cpu_s
        } else {
            0.0
        };
        let passed = deliver.p99 < options.sweep_p99_ms
            && self.lost == 0
            && errors == 0
            && self.ack_timeouts == 0
            && self.write_errors == 0;
        let label = &options.label;
        println!(
            "== {label} load: {rate} msg/s for {:.1} s",
            send_window.as_secs_f64()
        );
        println!(
            "  sent {} ({achieved:.0}/s), acked ok {}, ack errors {errors} {:?}, ack timeouts {}, late acks {}, write errors {}",
            self.sent,
            self.acked,
            self.ack_errors,
            self.ack_timeouts,
            self.late_acks,
            self.write_errors
        );
        println!(
            "  deliveries: expected {}, received {}, lost {}, duplicates {}, out of order {}, stale {}, other events {}",
            self.expected,
            self.received,
            self.lost,
            self.duplicates,
            self.out_of_order,
            self.stale,
            self.other_events
        );
        println!("  send -> deliver: {deliver}");
        println!("  send -> ack:     {ack}");
        println!(
            "  server: {:.2} CPU-s over {:.1} s = {:.2} cores, {per_cpu_s:.0} deliveries per CPU-s, RSS {} -> {} KiB",
            usage.server_cpu_s,
            usage.wall_s,
            usage.server_cores,
            usage.server_rss_before_kib,
            usage.server_rss_after_kib
        );
        println!(
            "  loadgen: {:.2} CPU-s = {:.2} cores; other work on the machine: {:.2} cores",
            usage.loadgen_cpu_s, usage.loadgen_cores, usage.other_cores
        );
        if !self.closed.is_empty() {
            let distinct: HashSet<&String> = self.closed.iter().collect();
            println!(
                "  {} sockets closed during the run: {distinct:?}",
                self.closed.len()
            );
        }
        print_result(&json!({
            "mode": "load",
            "label": label,
            "users": options.users,
            "room_size": options.room_size,
            "rate": rate,
            "achieved_rate": achieved,
            "duration_s": send_window.as_secs_f64(),
            "sent": self.sent,
            "acked": self.acked,
            "ack_errors": self.ack_errors,
            "ack_timeouts": self.ack_timeouts,
            "late_acks": self.late_acks,
            "write_errors": self.write_errors,
            "expected": self.expected,
            "received": self.received,
            "unique": self.unique,
            "lost": self.lost,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "stale": self.stale,
            "other_events": self.other_events,
            "closed_sockets": self.closed.len(),
            "deliver_ms": deliver,
            "ack_ms": ack,
            "usage": usage,
            "deliveries_per_cpu_s": per_cpu_s,
            "passed": passed,
        }));
        passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_the_first_half_of_each_room_interleaved() {
        let rooms = Rooms {
            of_user: vec![0, 0, 0, 0, 1, 1, 1],
            members: vec![vec![0, 1, 2, 3], vec![4, 5, 6]],
        };
        assert_eq!(senders(&rooms), [0, 4, 1]);
    }
}
