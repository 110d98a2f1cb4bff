//! End-to-end: the real `srs-master` on an ephemeral port, `srs-bench publish` replaying a
//! file made by `srs-bench make-flv` (ffmpeg), and `srs-bench play` measuring it; plus
//! HTTP-FLV players against a tiny in-test HTTP server, and players that cannot connect.
//!
//! Needs the release server binary (`cargo build --release --bins`, as scripts/test.sh
//! does) and ffmpeg; a missing one is a loud failure, never a skip. Every process started
//! here is stopped by its pid when the test ends, pass or fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BENCH: &str = env!("CARGO_BIN_EXE_srs-bench");

/// `srs-master` next to this test's profile (`target/<profile>`), else the release build.
fn srs_master() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let release = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/srs-master");
    [profile_dir.join("srs-master"), release]
        .into_iter()
        .find(|p| p.exists())
        .expect("srs-master not found: build it first (`cargo build --release --bins`)")
}

fn require_ffmpeg() {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ffmpeg is required: apt-get install -y ffmpeg");
}

/// A child process killed by pid when dropped, its output collected by threads.
struct Proc {
    child: Child,
    name: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(program: &Path, args: &[&str], dir: &Path) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        let collect = |pipe: Box<dyn Read + Send>| {
            let out = Arc::new(Mutex::new(String::new()));
            let o = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    let mut o = o.lock().unwrap();
                    if o.len() < 4 << 20 {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            });
            out
        };
        let stdout = collect(Box::new(child.stdout.take().unwrap()));
        let stderr = collect(Box::new(child.stderr.take().unwrap()));
        Proc {
            child,
            name: program.display().to_string(),
            stdout,
            stderr,
        }
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn output(&self) -> String {
        format!(
            "{} stdout:\n{}\nstderr:\n{}",
            self.name,
            self.stdout(),
            self.stderr.lock().unwrap()
        )
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), sig);
    }

    /// Wait for exit (bounded); the exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                // Let the reader threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return s.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "did not exit within {limit:?}: {}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait until stdout contains `needle`.
    fn wait_stdout(&mut self, needle: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.stdout().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} within {limit:?}: {}",
                self.output()
            );
            if let Ok(Some(s)) = self.child.try_wait() {
                panic!("exited ({s}) before {needle:?}: {}", self.output());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The final JSON line of a bench run.
    fn report(&self) -> serde_json::Value {
        let out = self.stdout();
        let line = out
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON line: {}", self.output()));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first (the server removes its pid file), SIGKILL if it lingers.
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Start `srs-master` on an ephemeral port; its RTMP address from its log.
fn start_server(dir: &Path) -> (Proc, SocketAddr) {
    let conf = dir.join("srs.conf");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:0;\npid {}/srs.pid;\ndaemon off;\nsrs_log_tank console;\nvhost __defaultVhost__ {{ }}\n",
            dir.display()
        ),
    )
    .unwrap();
    let mut server = Proc::spawn(&srs_master(), &["-c", conf.to_str().unwrap()], dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = format!("{}{}", server.stdout(), server.stderr.lock().unwrap());
        let addr = log
            .lines()
            .filter(|l| l.contains("RTMP listening"))
            .filter_map(|l| l.split("addr=").nth(1))
            .filter_map(|a| a.split_whitespace().next())
            .find_map(|a| a.parse().ok());
        if let Some(a) = addr {
            return (server, a);
        }
        if let Ok(Some(s)) = server.child.try_wait() {
            panic!("srs-master exited ({s}): {}", server.output());
        }
        assert!(
            Instant::now() < deadline,
            "srs-master did not report its port: {}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn publish_and_play_against_the_real_server() {
    require_ffmpeg();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flv = d.join("in.flv");
    let mut make = Proc::spawn(
        Path::new(BENCH),
        &[
            "make-flv",
            "--out",
            flv.to_str().unwrap(),
            "--seconds",
            "10",
            "--kbps",
            "500",
            "--size",
            "320x240",
        ],
        d,
    );
    assert_eq!(make.wait(Duration::from_secs(120)), 0, "{}", make.output());

    let (_server, addr) = start_server(d);
    let url = format!("rtmp://{addr}/live/livestream");
    let mut publisher = Proc::spawn(
        Path::new(BENCH),
        &[
            "publish",
            "--url",
            &url,
            "-m",
            "1",
            "--file",
            flv.to_str().unwrap(),
            "--duration",
            "30",
        ],
        d,
    );
    publisher.wait_stdout("publishing=1", Duration::from_secs(15));

    let json_out = d.join("play.json");
    let mut player = Proc::spawn(
        Path::new(BENCH),
        &[
            "play",
            "--url",
            &url,
            "-n",
            "20",
            "--ramp",
            "40",
            "--duration",
            "6",
            "--json-out",
            json_out.to_str().unwrap(),
        ],
        d,
    );
    // A second run that SIGTERM ends early: it still prints its summary and exits 0.
    let mut stopped = Proc::spawn(
        Path::new(BENCH),
        &["play", "--url", &url, "-n", "2", "--duration", "600"],
        d,
    );
    stopped.wait_stdout("t=2s connected=2", Duration::from_secs(15));
    stopped.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(
        stopped.wait(Duration::from_secs(10)),
        0,
        "{}",
        stopped.output()
    );
    let s = stopped.report();
    assert_eq!(s["stopped_by"], "SIGTERM", "{s}");
    assert_eq!(s["connected"], 2, "{s}");

    assert_eq!(
        player.wait(Duration::from_secs(30)),
        0,
        "{}",
        player.output()
    );
    let out = player.stdout();
    assert!(
        out.lines().filter(|l| l.starts_with("t=")).count() >= 5,
        "per-second lines: {out}"
    );
    assert!(out.contains("t=5s connected=20 failed=0"), "{out}");
    let r = player.report();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert_eq!(file, r, "--json-out has the same line");
    assert_eq!(r["mode"], "play");
    assert_eq!(r["connected"], 20, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["disconnects"], 0, "{r}");
    assert!(r["first_frame_ms"]["p99"].as_u64().unwrap() < 2000, "{r}");
    assert!(r["lag_ms"]["p50"].is_u64(), "lag measured: {r}");
    assert!(r["lag_ms"]["p99"].as_u64().unwrap() < 1000, "{r}");
    // make-flv writes H.264 with 4-byte NAL unit lengths: the publisher stamps frames.
    assert_eq!(r["lag_source"], "video", "{r}");
    assert_eq!(r["judged"], 20, "{r}");
    assert_eq!(r["below_90pct"], 0, "{r}");
    let kbps = r["stream_kbps"].as_u64().unwrap();
    assert!((400..1000).contains(&kbps), "stream of ~500 kbps: {r}");

    publisher.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(publisher.wait(Duration::from_secs(10)), 0);
    let p = publisher.report();
    assert_eq!(p["mode"], "publish");
    assert_eq!(p["connected"], 1, "{p}");
    assert_eq!(p["failed"], 0, "{p}");
    assert_eq!(p["published"], 1, "{p}");
    assert_eq!(p["publish_failed"], 0, "{p}");
    assert_eq!(p["still_connecting"], 0, "{p}");
    // From TCP connect to NetStream.Publish.Start on loopback: milliseconds, not seconds.
    let start = p["publish_start_ms_p50"]
        .as_u64()
        .expect("publish start measured");
    assert!(start < 2000, "{p}");
    assert_eq!(p["publish_start_ms_p99"], start, "one publisher: {p}");
    assert_eq!(p["publish_start_ms_max"], start, "one publisher: {p}");
    assert_eq!(p["stopped_by"], "SIGINT", "{p}");
    let kbps = p["kbps_total_avg"].as_u64().unwrap();
    assert!(
        (400..650).contains(&kbps),
        "published at the file's rate: {p}"
    );
}

#[test]
fn players_that_cannot_connect_are_counted_not_fatal() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens there any more.
    let dir = tempfile::tempdir().unwrap();
    let mut p = Proc::spawn(
        Path::new(BENCH),
        &[
            "play",
            "--url",
            &format!("rtmp://127.0.0.1:{port}/live/x"),
            "-n",
            "3",
            "--ramp",
            "0",
            "--duration",
            "1.5",
        ],
        dir.path(),
    );
    assert_eq!(p.wait(Duration::from_secs(10)), 0, "{}", p.output());
    let r = p.report();
    assert_eq!(r["failed"], 3, "{r}");
    assert_eq!(r["connected"], 0, "{r}");
    assert!(r["first_frame_ms"]["p50"].is_null(), "{r}");
    assert!(r["errors"].to_string().contains("refused"), "{r}");

    // A bad URL is the tool's own failure: non-zero exit.
    let mut bad = Proc::spawn(
        Path::new(BENCH),
        &["play", "--url", "rtsp://x/y/z", "--duration", "1"],
        dir.path(),
    );
    assert_ne!(bad.wait(Duration::from_secs(10)), 0);
}

/// Serve one HTTP-FLV client: chunked encoding, a video tag every 40 ms and a clock stamp
/// every 200 ms, until the client goes away.
fn serve_http_flv(mut sock: std::net::TcpStream) {
    let mut req = [0u8; 4096];
    let mut n = 0;
    while !req[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut req[n..]) {
            Ok(0) | Err(_) => return,
            Ok(k) => n += k,
        }
    }
    assert!(req.starts_with(b"GET /live/s"), "request");
    let head = "HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\n";
    if sock.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = |body: &[u8]| {
        let mut c = format!("{:x}\r\n", body.len()).into_bytes();
        c.extend_from_slice(body);
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut flv = bytes::BytesMut::new();
    flv.extend_from_slice(&srs_protocol::flv::file_header(false, true));
    let start = Instant::now();
    for i in 0u32.. {
        let ts = i * 40;
        let b0 = if i % 50 == 0 { 0x17 } else { 0x27 };
        srs_protocol::flv::write_tag(&mut flv, 9, ts, &vec![b0; 2000]);
        if i % 5 == 0 {
            let stamp = srs_bench::clock::encode(srs_bench::clock::wall_ms());
            srs_protocol::flv::write_tag(&mut flv, 18, ts, &stamp);
        }
        if sock.write_all(&chunk(&flv.split())).is_err() {
            return;
        }
        let next = start + Duration::from_millis(40 * (i as u64 + 1));
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

#[test]
fn http_flv_players() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            std::thread::spawn(move || serve_http_flv(sock));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let mut p = Proc::spawn(
        Path::new(BENCH),
        &[
            "play",
            "--url",
            &format!("http://{addr}/live/s.flv"),
            "-n",
            "3",
            "--ramp",
            "0",
            "--duration",
            "3.5",
        ],
        dir.path(),
    );
    assert_eq!(p.wait(Duration::from_secs(15)), 0, "{}", p.output());
    let r = p.report();
    assert_eq!(r["connected"], 3, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["first_frame_ms"]["samples"], 3, "{r}");
    // Player 0 is the lag probe: a stamp every 200 ms for 3.5 s.
    assert_eq!(r["lag_probes"], 1, "{r}");
    assert!(r["lag_ms"]["samples"].as_u64().unwrap() >= 12, "{r}");
    assert!(r["lag_ms"]["p99"].as_u64().unwrap() < 500, "{r}");
    // Its frames carry no SEI stamp: the data messages count.
    assert_eq!(r["lag_source"], "data", "{r}");
    // 2000-byte frames at 25 fps: 400 kbps of video bodies, plus the small ones.
    let kbps = r["stream_kbps"].as_u64().unwrap();
    assert!((360..460).contains(&kbps), "{r}");
    assert_eq!(r["below_90pct"], 0, "{r}");
}
