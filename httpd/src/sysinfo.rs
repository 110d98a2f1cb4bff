//! What `/api/v1/summaries` reports about the machine and the server, read from `/proc`
//! as SRS reads it (`srs_app_utility.cpp`): CPU, memory, load, uptime, network, disk and
//! socket counts. Rates (CPU share, disk KB/s) come from the difference between two samples;
//! [`Sampler`] takes one a second. The parsers are pure functions over the files' text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Total and idle jiffies of the `cpu` line of `/proc/stat`.
pub fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((v.iter().sum(), idle))
}

/// `key: value kB` lines of `/proc/meminfo`, in kB.
pub fn meminfo(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((
                k.trim().to_string(),
                v.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect()
}

/// Load averages of `/proc/loadavg`.
pub fn loadavg(text: &str) -> (f64, f64, f64) {
    let v: Vec<f64> = text
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect();
    (
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
        v.get(2).copied().unwrap_or(0.0),
    )
}

/// Uptime and idle seconds of `/proc/uptime`.
pub fn uptime(text: &str) -> (f64, f64) {
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    (
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
    )
}

/// Bytes received and sent through `/proc/net/dev`: (external, loopback), each (rx, tx).
pub fn net_dev(text: &str) -> ((u64, u64), (u64, u64)) {
    let (mut ext, mut lo) = ((0, 0), (0, 0));
    for l in text.lines().skip(2) {
        let Some((name, rest)) = l.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        if v.len() < 9 {
            continue;
        }
        let t = if name.trim() == "lo" {
            &mut lo
        } else {
            &mut ext
        };
        t.0 += v[0];
        t.1 += v[8];
    }
    (ext, lo)
}

/// TCP sockets in use, in TIME_WAIT, and UDP sockets in use, from `/proc/net/sockstat`.
pub fn sockstat(text: &str) -> (u64, u64, u64) {
    let field = |line: &str, key: &str| -> u64 {
        let mut it = line.split_whitespace();
        while let Some(w) = it.next() {
            if w == key {
                return it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
            }
        }
        0
    };
    let tcp = text.lines().find(|l| l.starts_with("TCP:")).unwrap_or("");
    let udp = text.lines().find(|l| l.starts_with("UDP:")).unwrap_or("");
    (field(tcp, "inuse"), field(tcp, "tw"), field(udp, "inuse"))
}

/// Established TCP connections (`CurrEstab`) in `/proc/net/snmp`: a counter, not a walk
/// over every socket.
pub fn established(snmp: &str) -> u64 {
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (Some(names), Some(values)) = (tcp.next(), tcp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "CurrEstab")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Sectors read and written, and milliseconds spent doing I/O, over the whole disks of
/// `/proc/diskstats` (partitions are not counted twice: only devices without a digit at
/// the end, and nvme namespaces).
pub fn diskstats(text: &str) -> (u64, u64, u64) {
    let (mut r, mut w, mut busy) = (0, 0, 0);
    for l in text.lines() {
        let v: Vec<&str> = l.split_whitespace().collect();
        if v.len() < 13 {
            continue;
        }
        let name = v[2];
        let whole = name.starts_with("nvme") && !name.contains('p')
            || !name.ends_with(|c: char| c.is_ascii_digit());
        if !whole || name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let n = |i: usize| v[i].parse::<u64>().unwrap_or(0);
        r += n(5);
        w += n(9);
        busy += n(12);
    }
    (r, w, busy)
}

/// The parent pid and CPU jiffies (utime + stime) in `/proc/PID/stat`.
pub fn proc_stat(text: &str) -> Option<(u32, u64)> {
    // The command may contain spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let v: Vec<&str> = rest.split_whitespace().collect();
    let ppid = v.get(1)?.parse().ok()?;
    let utime: u64 = v.get(11)?.parse().ok()?;
    let stime: u64 = v.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// One sample of the counters that make rates.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    cpu: (u64, u64),
    disk: (u64, u64, u64),
    tree_jiffies: u64,
}

/// The rates computed between the last two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    /// Busy share of all CPUs (0..1).
    pub cpu: f64,
    /// Share of one CPU the server's processes used (0..n).
    pub tree_cpu: f64,
    /// KB/s read from disks.
    pub disk_read_kbps: u64,
    /// KB/s written to disks.
    pub disk_write_kbps: u64,
    /// Share of the time disks were busy (0..100).
    pub disk_busy_percent: f64,
}

/// Samples the counters (call [`sample`](Self::sample) about once a second) and keeps the
/// rates between the last two samples.
#[derive(Debug, Default)]
pub struct Sampler {
    last: Mutex<Option<Sample>>,
    rates: Mutex<Rates>,
}

impl Sampler {
    /// Take a sample of the machine and of the processes `pids`.
    pub fn sample(&self, pids: &[u32]) {
        let now = Sample {
            at: Instant::now(),
            cpu: cpu_times(&read("/proc/stat")).unwrap_or((0, 0)),
            disk: diskstats(&read("/proc/diskstats")),
            tree_jiffies: pids
                .iter()
                .filter_map(|p| proc_stat(&read(&format!("/proc/{p}/stat"))).map(|(_, j)| j))
                .sum(),
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(prev) = *last {
            let secs = now.at.duration_since(prev.at).as_secs_f64().max(0.001);
            let total = now.cpu.0.saturating_sub(prev.cpu.0).max(1) as f64;
            let idle = now.cpu.1.saturating_sub(prev.cpu.1) as f64;
            let hz = 100.0; // USER_HZ on Linux.
            let mut r = self.rates.lock().unwrap_or_else(|e| e.into_inner());
            *r = Rates {
                cpu: ((total - idle) / total).clamp(0.0, 1.0),
                tree_cpu: now.tree_jiffies.saturating_sub(prev.tree_jiffies) as f64 / hz / secs,
                disk_read_kbps: (now.disk.0.saturating_sub(prev.disk.0) as f64 * 512.0
                    / 1024.0
                    / secs) as u64,
                disk_write_kbps: (now.disk.1.saturating_sub(prev.disk.1) as f64 * 512.0
                    / 1024.0
                    / secs) as u64,
                disk_busy_percent: (now.disk.2.saturating_sub(prev.disk.2) as f64
                    / (secs * 1000.0)
                    * 100.0)
                    .clamp(0.0, 100.0),
            };
        }
        *last = Some(now);
    }

    /// The rates between the last two samples.
    pub fn rates(&self) -> Rates {
        *self.rates.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything else of the machine, read now.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    /// MemTotal, kB.
    pub mem_total: u64,
    /// MemAvailable, kB.
    pub mem_available: u64,
    /// SwapTotal, kB.
    pub swap_total: u64,
    /// SwapFree, kB.
    pub swap_free: u64,
    /// Configured and online CPUs.
    pub cpus: (u64, u64),
    /// Uptime and idle seconds.
    pub uptime: (f64, f64),
    /// Load averages.
    pub load: (f64, f64, f64),
    /// Network bytes: external (rx, tx), loopback (rx, tx).
    pub net: ((u64, u64), (u64, u64)),
    /// TCP in use, TCP TIME_WAIT, UDP in use.
    pub sockets: (u64, u64, u64),
    /// Established TCP connections.
    pub established: u64,
}

impl Machine {
    /// Read `/proc` now.
    pub fn read() -> Machine {
        let m = meminfo(&read("/proc/meminfo"));
        let g = |k: &str| m.get(k).copied().unwrap_or(0);
        // SAFETY: sysconf only reads a system value.
        let (conf, online) = unsafe {
            (
                libc::sysconf(libc::_SC_NPROCESSORS_CONF).max(0) as u64,
                libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(0) as u64,
            )
        };
        Machine {
            mem_total: g("MemTotal"),
            mem_available: g("MemAvailable"),
            swap_total: g("SwapTotal"),
            swap_free: g("SwapFree"),
            cpus: (conf, online),
            uptime: uptime(&read("/proc/uptime")),
            load: loadavg(&read("/proc/loadavg")),
            net: net_dev(&read("/proc/net/dev")),
            sockets: sockstat(&read("/proc/net/sockstat")),
            established: established(&read("/proc/net/snmp")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            cpu_times("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n"),
            Some((1000, 850))
        );
        let m = meminfo("MemTotal:       24683792 kB\nMemAvailable:   20000000 kB\n");
        assert_eq!(m["MemTotal"], 24683792);
        assert_eq!(loadavg("1.18 1.14 1.05 2/300 4000\n"), (1.18, 1.14, 1.05));
        assert_eq!(uptime("13046.51 16604.86\n"), (13046.51, 16604.86));
        let dev = "Inter-|   Receive  |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n\
                   lo: 100 1 0 0 0 0 0 0 200 2 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        assert_eq!(net_dev(dev), ((1000, 2000), (100, 200)));
        assert_eq!(
            sockstat("sockets: used 300\nTCP: inuse 17 orphan 0 tw 13 alloc 20 mem 1\nUDP: inuse 2 mem 0\n"),
            (17, 13, 2)
        );
        let snmp = "Tcp: RtoAlgorithm RtoMin ActiveOpens CurrEstab InSegs\nTcp: 1 200 5 7 100\n";
        assert_eq!(established(snmp), 7);
        let disks = "   8       0 sda 100 0 4000 0 50 0 2000 0 0 300 0 0 0 0 0\n   8       1 sda1 100 0 4000 0 50 0 2000 0 0 300 0 0 0 0 0\n";
        assert_eq!(diskstats(disks), (4000, 2000, 300));
        let st =
            "4030 (srs (x) y) S 1 4030 4030 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 100 1000 300";
        assert_eq!(proc_stat(st), Some((1, 10)));
    }
}
