//! The process metrics every exporter has (`process_*`, as the Prometheus client libraries name them),
//! read from Linux's `/proc/self` on each scrape. Elsewhere, or where a file cannot be read, the family is
//! left out rather than guessed.

use std::time::SystemTime;

use crate::exposition::{Families, Family, Kind};

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux architecture).
const TICKS_PER_SECOND: f64 = 100.0;

/// The `process_*` families.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

/// CPU seconds (user + system) and start time (Unix seconds) from `/proc/self/stat` and `/proc/stat`.
fn cpu_and_start() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces: fields are counted after its `)`.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15, starttime 22 (1-based in proc(5)).
    let tick = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let cpu = (tick(14)? + tick(15)?) / TICKS_PER_SECOND;
    let boot: f64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())?;
    Some((cpu, boot + tick(22)? / TICKS_PER_SECOND))
}

/// `VmRSS` and `VmSize` of `/proc/self/status`, bytes.
fn memory() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
    };
    Some((kib("VmRSS:")? * 1024.0, kib("VmSize:")? * 1024.0))
}

fn open_fds() -> Option<f64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as f64)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files").split_whitespace().next()?.parse().ok()
}

impl Families for ProcessMetrics {
    fn families(&self, _now: SystemTime) -> Vec<Family> {
        let mut out = Vec::new();
        let mut one = |name, kind, help, value: Option<f64>| {
            if let Some(v) = value {
                let mut f = Family::new(name, kind, help);
                f.push(vec![], v);
                out.push(f);
            }
        };
        let cpu = cpu_and_start();
        let mem = memory();
        one("process_cpu_seconds", Kind::Counter, "Total user and system CPU time spent in seconds.", cpu.map(|c| c.0));
        one("process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes.", mem.map(|m| m.0));
        one("process_virtual_memory_bytes", Kind::Gauge, "Virtual memory size in bytes.", mem.map(|m| m.1));
        one("process_open_fds", Kind::Gauge, "Number of open file descriptors.", open_fds());
        one("process_max_fds", Kind::Gauge, "Maximum number of open file descriptors.", max_fds());
        one(
            "process_start_time_seconds",
            Kind::Gauge,
            "Start time of the process since unix epoch in seconds.",
            cpu.map(|c| c.1),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_described_from_proc() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return; // not Linux: nothing is exported, which the family list shows
        }
        let families = ProcessMetrics.families(SystemTime::now());
        let get = |name: &str| families.iter().find(|f| f.name == name).map(|f| f.samples[0].value);
        let rss = get("process_resident_memory_bytes").unwrap();
        assert!(rss > 1e6 && rss < 64e9, "{rss}");
        assert!(get("process_virtual_memory_bytes").unwrap() >= rss);
        let start = get("process_start_time_seconds").unwrap();
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(start <= now + 1.0 && start > now - 3600.0, "started {start}, now {now}");
        let open = get("process_open_fds").unwrap();
        assert!(open >= 3.0 && open <= get("process_max_fds").unwrap());
        assert!(get("process_cpu_seconds").unwrap() >= 0.0);
    }
}
