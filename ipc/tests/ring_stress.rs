//! Runs the cross-process stress test and the latency / idle-CPU measurement of the ring
//! (`src/bin/ring-stress.rs`): one writer and four reader processes on one shared-memory ring.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The two runs measure time and CPU: never at the same time (the test harness runs tests
/// on parallel threads).
static SERIAL: Mutex<()> = Mutex::new(());

/// Run `ring-stress ARGS` and fail on a non-zero exit, or kill it (by pid) past `limit`; its
/// own children are killed by its drop guard, or exit when their stdin closes / deadline hits.
fn ring_stress(args: &[&str], limit: Duration) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new(env!("CARGO_BIN_EXE_ring-stress"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ring-stress");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    match status {
        Some(s) => assert!(s.success(), "ring-stress {args:?} failed: {s}"),
        None => panic!("ring-stress {args:?} did not finish within {limit:?}"),
    }
}

#[test]
fn writer_and_four_reader_processes() {
    ring_stress(&["run"], Duration::from_secs(120));
}

#[test]
fn sleeping_reader_latency_and_idle_cpu() {
    ring_stress(&["latency"], Duration::from_secs(60));
}
