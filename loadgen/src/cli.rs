//! The command line, parsed by hand (no argument-parsing crate in the lock file).

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Senders at a fixed aggregate rate, every member counting deliveries.
    Load,
    /// Authenticated sockets held open, for the server's memory per socket.
    Idle,
    /// Sign-ups then sign-ins, for the server's memory under password hashing.
    Signups,
}

/// Every option, with its default.
#[derive(Clone, Debug)]
pub struct Options {
    pub mode: Mode,
    /// Base URLs of the nodes (`http://127.0.0.1:3000`); REST goes to the first, sockets to
    /// all of them in turn.
    pub urls: Vec<String>,
    /// Server processes whose CPU and memory are read from `/proc`.
    pub pids: Vec<u32>,
    pub label: String,
    pub users: usize,
    pub room_size: usize,
    /// Aggregate send rates in messages per second; more than one makes a sweep over the
    /// same users and sockets, one result per rate.
    pub rates: Vec<f64>,
    pub duration: Duration,
    /// After the last send, how long to keep waiting for acks and deliveries once none
    /// came for this long (see `load::drain`).
    pub drain: Duration,
    /// A sweep stops after the first rate whose p99 delivery latency passes this, or that
    /// loses a message.
    pub sweep_p99_ms: f64,
    pub sockets: usize,
    pub signups: usize,
    /// Concurrent registrations during setup (password hashing is slow on purpose).
    pub setup_concurrency: usize,
    /// Concurrent requests in the `signups` mode.
    pub signup_concurrency: usize,
    /// Concurrent socket handshakes.
    pub connect_concurrency: usize,
    /// How long idle sockets are held before the memory is read.
    pub hold: Duration,
    /// Send `focus` for the member's room after connecting, as a client showing that room
    /// does: the server then sends no `notification` per message.
    pub focus: bool,
    /// Tokio worker threads; 1 runs everything on the main thread, the cheapest.
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mode: Mode::Load,
            urls: Vec::new(),
            pids: Vec::new(),
            label: String::new(),
            users: 200,
            room_size: 10,
            rates: vec![1000.0],
            duration: Duration::from_secs(20),
            drain: Duration::from_secs(5),
            sweep_p99_ms: 100.0,
            sockets: 10_000,
            signups: 1000,
            setup_concurrency: 4,
            signup_concurrency: 16,
            connect_concurrency: 64,
            hold: Duration::from_secs(3),
            focus: true,
            threads: 1,
        }
    }
}

pub const USAGE: &str = "\
usage: loadgen --url http://127.0.0.1:3000 [--url ...] [--pid PID ...] [options]
  --mode load|idle|signups   what to measure (load)
  --label TEXT               copied into the RESULT line
  --users N                  users to register (200; idle: 100)
  --room-size N              members per room, consecutive users (10)
  --rate R[,R...]            aggregate messages/s; a list sweeps (1000)
  --duration SECS            send time per rate (20)
  --drain SECS               after the last send, stop waiting once nothing came for this long (5)
  --sweep-p99-ms MS          a sweep stops after a rate over this p99 or with losses (100)
  --sockets N                idle: sockets to open, users share tokens (10000)
  --signups N                signups: sign-ups, then as many sign-ins (1000)
  --setup-concurrency N      concurrent registrations in setup (4)
  --signup-concurrency N     concurrent requests in the signups mode (16)
  --connect-concurrency N    concurrent socket handshakes (64)
  --hold SECS                idle: hold the sockets this long before reading memory (3)
  --no-focus                 do not send `focus` (members then also get `notification`s)
  --threads N                tokio worker threads, 1 = single-threaded (1)";

impl Options {
    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self> {
        let mut options = Self::default();
        let mut users = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--no-focus" {
                options.focus = false;
                continue;
            }
            if flag == "--help" || flag == "-h" {
                bail!("{USAGE}");
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let value = value.as_str();
            match flag.as_str() {
                "--mode" => {
                    options.mode = match value {
                        "load" => Mode::Load,
                        "idle" => Mode::Idle,
                        "signups" => Mode::Signups,
                        other => bail!("unknown mode {other:?}\n{USAGE}"),
                    }
                }
                "--url" => options.urls.push(base_url(value)),
                "--pid" => options.pids.push(number(&flag, value)?),
                "--label" => options.label = value.to_owned(),
                "--users" => users = Some(number(&flag, value)?),
                "--room-size" => options.room_size = number(&flag, value)?,
                "--rate" => {
                    options.rates = value
                        .split(',')
                        .map(|r| number::<f64>(&flag, r.trim()))
                        .collect::<Result<_>>()?;
                }
                "--duration" => options.duration = seconds(&flag, value)?,
                "--drain" => options.drain = seconds(&flag, value)?,
                "--sweep-p99-ms" => options.sweep_p99_ms = number(&flag, value)?,
                "--sockets" => options.sockets = number(&flag, value)?,
                "--signups" => options.signups = number(&flag, value)?,
                "--setup-concurrency" => options.setup_concurrency = number(&flag, value)?,
                "--signup-concurrency" => options.signup_concurrency = number(&flag, value)?,
                "--connect-concurrency" => options.connect_concurrency = number(&flag, value)?,
                "--hold" => options.hold = seconds(&flag, value)?,
                "--threads" => options.threads = number(&flag, value)?,
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        options.users = users.unwrap_or(match options.mode {
            Mode::Idle => 100,
            _ => options.users,
        });
        if options.urls.is_empty() {
            bail!("at least one --url is needed\n{USAGE}");
        }
        if options.room_size < 2 {
            bail!("--room-size must be at least 2: a room of one has nobody to deliver to");
        }
        if options.users < 2 {
            bail!("--users must be at least 2");
        }
        if options.rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            bail!("--rate must be positive");
        }
        for n in [
            options.setup_concurrency,
            options.signup_concurrency,
            options.connect_concurrency,
            options.threads,
        ] {
            if n == 0 {
                bail!("concurrencies and --threads must be at least 1");
            }
        }
        Ok(options)
    }
}

/// `127.0.0.1:3000`, `http://127.0.0.1:3000/` and `ws://127.0.0.1:3000` all name one node.
fn base_url(value: &str) -> String {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("ws://"))
        .unwrap_or(value);
    format!("http://{}", rest.trim_end_matches('/'))
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value
        .parse()
        .ok()
        .with_context(|| format!("{flag}: {value:?} is not a number"))
}

fn seconds(flag: &str, value: &str) -> Result<Duration> {
    let secs: f64 = number(flag, value)?;
    if !(secs.is_finite() && secs >= 0.0) {
        bail!("{flag}: {value:?} is not a duration in seconds");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        Options::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn urls_are_normalised_and_rates_may_be_a_list() {
        let options = parse(&[
            "--url",
            "127.0.0.1:3000",
            "--url",
            "ws://127.0.0.1:3001/",
            "--rate",
            "2000, 5000",
        ])
        .expect("valid");
        assert_eq!(
            options.urls,
            ["http://127.0.0.1:3000", "http://127.0.0.1:3001"]
        );
        assert_eq!(options.rates, [2000.0, 5000.0]);
    }

    #[test]
    fn a_room_of_one_is_refused() {
        assert!(parse(&["--url", "x:1", "--room-size", "1"]).is_err());
    }
}
