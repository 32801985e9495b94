//! CPU time and resident memory of processes, from `/proc` (Linux only).

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result, bail};

/// Clock ticks per second of `/proc/<pid>/stat`'s times; `getconf` knows it without `libc`
/// (which would need `unsafe`). 100 on every Linux we run on.
fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// User plus system CPU seconds a process has used: `"self"` or a pid.
pub fn cpu_seconds(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat (is the process running?)"))?;
    // The command name (field 2) may hold spaces and parentheses; the rest follows the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("odd /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 after the state (field 3).
    let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) else {
        bail!("short /proc/{pid}/stat");
    };
    let ticks: f64 = utime.parse::<f64>()? + stime.parse::<f64>()?;
    Ok(ticks / ticks_per_second())
}

/// Resident memory in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// CPU seconds the whole machine has been busy (all but idle and iowait), from `/proc/stat`.
pub fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let (Some(idle), Some(iowait)) = (ticks.get(3), ticks.get(4)) else {
        bail!("short /proc/stat");
    };
    // Guest time is already counted in user time; the first 8 columns hold everything.
    let total: f64 = ticks.iter().take(8).sum();
    Ok((total - idle - iowait) / ticks_per_second())
}

/// The servers under test and this process, read together at one instant.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub at: Instant,
    /// Summed over the server processes.
    pub server_cpu: f64,
    pub server_rss_kib: u64,
    pub own_cpu: f64,
    pub machine_busy: f64,
}

/// Reads the given server pids (none is fine: their figures are then zero).
pub fn snapshot(pids: &[u32]) -> Result<Snapshot> {
    let mut server_cpu = 0.0;
    let mut server_rss_kib = 0;
    for pid in pids {
        let pid = pid.to_string();
        server_cpu += cpu_seconds(&pid)?;
        server_rss_kib += rss_kib(&pid)?;
    }
    Ok(Snapshot {
        at: Instant::now(),
        server_cpu,
        server_rss_kib,
        own_cpu: cpu_seconds("self")?,
        machine_busy: machine_busy_seconds()?,
    })
}

/// What happened between two snapshots.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Usage {
    pub wall_s: f64,
    pub server_cpu_s: f64,
    pub server_cores: f64,
    pub loadgen_cpu_s: f64,
    pub loadgen_cores: f64,
    /// Cores busy with anything but the servers and loadgen (other work on the machine):
    /// a large figure means the run competed for CPU and its latencies are suspect.
    pub other_cores: f64,
    pub server_rss_before_kib: u64,
    pub server_rss_after_kib: u64,
}

impl Usage {
    pub fn between(before: &Snapshot, after: &Snapshot) -> Self {
        let wall_s = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let server_cpu_s = after.server_cpu - before.server_cpu;
        let loadgen_cpu_s = after.own_cpu - before.own_cpu;
        let machine_s = after.machine_busy - before.machine_busy;
        Self {
            wall_s,
            server_cpu_s,
            server_cores: server_cpu_s / wall_s,
            loadgen_cpu_s,
            loadgen_cores: loadgen_cpu_s / wall_s,
            other_cores: ((machine_s - server_cpu_s - loadgen_cpu_s) / wall_s).max(0.0),
            server_rss_before_kib: before.server_rss_kib,
            server_rss_after_kib: after.server_rss_kib,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        assert!(cpu_seconds("self").expect("stat") >= 0.0);
        assert!(rss_kib("self").expect("status") > 0);
        assert!(open_files_limit().is_some());
        assert!(machine_busy_seconds().expect("/proc/stat") > 0.0);
    }
}
