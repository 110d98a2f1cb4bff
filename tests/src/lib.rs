//! Harness for the end-to-end tests: start the real `srs-master` on ephemeral ports with a
//! config of the test's choosing, run real clients (ffmpeg, ffprobe, rtmpdump) against it,
//! and stop every process by its pid at the end.
//!
//! Every wait is bounded; every missing tool is a loud failure, never a skip.

pub mod client;

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Directory holding the workspace's built binaries (`target/<profile>`), found from the
/// test executable's own path (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// Path of one of our binaries; panics with the fix when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: build the binaries first (`cargo build --release --bins`, which scripts/test.sh does)",
        p.display()
    );
    p
}

/// Fail loudly when an external tool the tests need is missing.
pub fn require_tool(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "required tool `{tool}` is not installed: run .ci/run or `apt-get install -y ffmpeg rtmpdump`"
    );
}

/// A running `srs-master`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    /// RTMP listen addresses, in config order, as the server reported them.
    pub rtmp: Vec<SocketAddr>,
    log: Arc<Mutex<String>>,
    /// Scratch directory of this server (config, pid file); removed when dropped.
    pub dir: tempfile::TempDir,
    /// The run directory, when the config puts it elsewhere than `dir/run`.
    pub run_dir_override: Option<PathBuf>,
}

impl Server {
    /// Start with one RTMP port and `extra` config text appended (vhosts etc.). Without a
    /// `vhost` in `extra`, a plain `__defaultVhost__` is added.
    pub fn start(extra: &str) -> Server {
        Self::start_ports(1, extra)
    }

    /// Start with `ports` RTMP listen ports (all ephemeral on 127.0.0.1).
    pub fn start_ports(ports: usize, extra: &str) -> Server {
        let listen: Vec<String> = (0..ports).map(|i| format!("127.0.0.{}:0", i + 1)).collect();
        Self::start_listen(&listen, extra)
    }

    /// Start listening for RTMP on `listen` (addresses as in the config).
    pub fn start_listen(listen: &[String], extra: &str) -> Server {
        let ports = listen.len();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut conf = format!(
            "listen {};\npid {}/srs.pid;\ndaemon off;\nsrs_log_tank console;\nsrs_log_level trace;\n",
            listen.join(" "),
            dir.path().display()
        );
        conf.push_str(extra);
        if !extra.contains("vhost ") {
            conf.push_str("\nvhost __defaultVhost__ { }\n");
        }
        // The process tree's sockets go in the test's own directory.
        conf.push_str(&format!("run_dir {}/run;\n", dir.path().display()));
        let conf_path = dir.path().join("srs.conf");
        std::fs::write(&conf_path, conf).expect("write config");
        Self::start_config(&conf_path, dir, ports)
    }

    /// Start with a config file that listens on `ports` ephemeral ports.
    pub fn start_config(conf: &Path, dir: tempfile::TempDir, ports: usize) -> Server {
        let mut child = Command::new(bin("srs-master"))
            .arg("-c")
            .arg(conf)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn srs-master");
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if std::env::var_os("SRS_TEST_ECHO").is_some() {
                        eprintln!("[srs] {line}");
                    }
                    let mut l = log.lock().unwrap();
                    // Bound what a chatty test keeps: the last 8 MiB is plenty.
                    if l.len() > 8 << 20 {
                        let cut = l.len() - (4 << 20);
                        let cut = l.ceil_char_boundary_compat(cut);
                        l.drain(..cut);
                    }
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let mut server = Server {
            child: Some(child),
            rtmp: Vec::new(),
            log,
            dir,
            run_dir_override: None,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let addrs = server.listening();
            if addrs.len() >= ports && server.log().contains("srs-rs ready") {
                server.rtmp = addrs;
                break;
            }
            if let Some(c) = server.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!("srs-master exited at start ({status}):\n{}", server.log());
                }
            }
            assert!(
                Instant::now() < deadline,
                "srs-master did not report its listen ports and readiness within 20 s:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn listening(&self) -> Vec<SocketAddr> {
        self.log()
            .lines()
            .filter(|l| l.contains("RTMP listening"))
            .filter_map(|l| l.split("addr=").nth(1))
            .filter_map(|a| a.split_whitespace().next())
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `rtmp://127.0.0.1:port/{path}` on the first listen port.
    pub fn url(&self, path: &str) -> String {
        self.url_on(0, path)
    }

    /// `rtmp://addr/{path}` on listen port `i`.
    pub fn url_on(&self, i: usize, path: &str) -> String {
        format!("rtmp://{}/{}", self.rtmp[i], path)
    }

    /// The run directory of this server's process tree.
    pub fn run_dir(&self) -> PathBuf {
        self.run_dir_override
            .clone()
            .unwrap_or_else(|| self.dir.path().join("run"))
    }

    /// `srs-cli --json <args>` against this server, parsed.
    pub fn cli(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = Command::new(bin("srs-cli"))
            .arg("--run-dir")
            .arg(self.run_dir())
            .arg("--json")
            .args(args)
            .output()
            .context("run srs-cli")?;
        if !out.status.success() {
            bail!(
                "srs-cli {args:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).context("srs-cli json")
    }

    /// `srs-cli status` rows for one role (`stream-worker`, `backsource`, ...).
    pub fn processes(&self, role: &str) -> Vec<serde_json::Value> {
        self.cli(&["status"])
            .map(|v| {
                v["processes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["role"] == role)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Wait until the log contains `needle`; false on timeout.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Count of log lines containing `needle`.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Resident set size of the server, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Send a signal to the server.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig);
    }

    /// Kill the whole process tree at once (SIGKILL to every child and the master), as a
    /// crashed machine would go.
    pub fn kill_tree(&mut self) {
        let pids: Vec<i32> = self
            .cli(&["status"])
            .map(|v| {
                v["processes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["pid"].as_i64())
                    .map(|p| p as i32)
                    .collect()
            })
            .unwrap_or_default();
        self.signal(nix::sys::signal::Signal::SIGKILL);
        for pid in pids.into_iter().filter(|p| *p > 0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Stop the server (SIGTERM, then SIGKILL after 10 s) and return its exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `str::ceil_char_boundary` is not stable everywhere; this is its simple form.
trait CeilCharBoundary {
    fn ceil_char_boundary_compat(&self, i: usize) -> usize;
}

impl CeilCharBoundary for String {
    fn ceil_char_boundary_compat(&self, mut i: usize) -> usize {
        while i < self.len() && !self.is_char_boundary(i) {
            i += 1;
        }
        i
    }
}

/// VmRSS of a process, in KiB (0 if unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// A child process (ffmpeg, rtmpdump, ...) killed by pid when dropped.
pub struct Proc {
    child: Option<Child>,
    name: String,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    /// Spawn `program args`, stdout to null (unless `-` output is wanted, see
    /// [`Proc::spawn_stdout`]), stderr to a file readable with [`Proc::stderr`].
    pub fn spawn(program: &str, args: &[&str]) -> Proc {
        require_tool(program);
        let dir = tempfile::tempdir().expect("tempdir");
        let stderr_path = dir.path().join("stderr");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        Proc {
            child: Some(child),
            name: program.to_string(),
            stderr_path,
            _dir: dir,
        }
    }

    /// The process's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Wait up to `timeout` for the process to exit; kill it if it does not.
    pub fn wait(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            bail!("{} already waited for", self.name);
        };
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = child.try_wait()? {
                self.child = None;
                return Ok(s);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                self.child = None;
                bail!(
                    "{} did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Kill it now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop it gently (SIGINT lets ffmpeg finish its output), then kill after 5 s.
    pub fn interrupt(&mut self) {
        if let Some(c) = self.child.as_ref() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
        }
        let _ = self.wait(Duration::from_secs(5));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// ffmpeg publishing a synthetic H.264 + AAC stream (testsrc + sine, x264 ultrafast, GOP of
/// 2 s at 25 fps), in real time, for `seconds`.
pub fn ffmpeg_publish(url: &str, seconds: u32) -> Proc {
    ffmpeg_publish_sized(url, seconds, "320x240")
}

/// x264 options for a keyframe every 2 s at 25 fps, and nowhere else.
const GOP_2S: [&str; 6] = ["-g", "50", "-keyint_min", "50", "-sc_threshold", "0"];

/// ffmpeg's arguments up to the output options: the synthetic test source (`seconds` of
/// testsrc of `size` at 25 fps, and a 440 Hz sine at 44.1 kHz when `audio`), read in real
/// time when `realtime`, encoded to H.264 with the x264 options `x264` and, with audio, to
/// AAC.
fn ffmpeg_source(
    seconds: u32,
    size: &str,
    audio: bool,
    realtime: bool,
    x264: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = ["-hide_banner", "-nostats", "-loglevel", "error"]
        .map(String::from)
        .to_vec();
    if realtime {
        a.push("-re".into());
    }
    a.extend(["-f", "lavfi", "-i"].map(String::from));
    a.push(format!("testsrc=size={size}:rate=25"));
    if audio {
        a.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"].map(String::from));
    }
    a.extend([
        "-t".to_string(),
        seconds.to_string(),
        "-c:v".into(),
        "libx264".into(),
    ]);
    a.extend(x264.iter().map(|o| o.to_string()));
    if audio {
        a.extend(["-c:a", "aac"].map(String::from));
    }
    a
}

fn spawn_ffmpeg(args: &[String]) -> Proc {
    Proc::spawn(
        "ffmpeg",
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// ffmpeg publishing `seconds` of 320x240 H.264 (x264 veryfast, with B-frames, a keyframe
/// every 2 s) and AAC, through its tee muxer, to every URL of `urls` at once; `extra`
/// output options go before the muxer. Without `-flags +global_header` (the tee muxer's
/// default) the AVC sequence header is empty and the parameter sets come in band, as
/// Annex B.
pub fn ffmpeg_tee_publish(urls: &[String], seconds: u32, extra: &[&str]) -> Proc {
    let tee = urls
        .iter()
        .map(|u| format!("[f=flv]{u}"))
        .collect::<Vec<_>>()
        .join("|");
    let x264 = [&["-preset", "veryfast"][..], &GOP_2S].concat();
    let mut args = ffmpeg_source(seconds, "320x240", true, true, &x264);
    args.extend(["-map", "0:v", "-map", "1:a"].map(String::from));
    args.extend(extra.iter().map(|o| o.to_string()));
    args.extend(["-f".to_string(), "tee".into(), tee]);
    spawn_ffmpeg(&args)
}

/// ffmpeg publishing `seconds` of H.264 of `size` (x264 with the options `x264`, a keyframe
/// every 2 s) and 64 kbps AAC to `url`, in real time.
pub fn ffmpeg_publish_x264(url: &str, seconds: u32, size: &str, x264: &[&str]) -> Proc {
    let x264 = [x264, &GOP_2S].concat();
    let mut args = ffmpeg_source(seconds, size, true, true, &x264);
    args.extend(["-b:a", "64k", "-f", "flv", url].map(String::from));
    spawn_ffmpeg(&args)
}

/// Same as [`ffmpeg_publish`] with a chosen picture size (tells streams apart).
pub fn ffmpeg_publish_sized(url: &str, seconds: u32, size: &str) -> Proc {
    ffmpeg_publish_x264(
        url,
        seconds,
        size,
        &[
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

/// One decoded frame as ffprobe reports it.
#[derive(Debug, Clone)]
pub struct ProbedFrame {
    /// `video` or `audio`.
    pub media_type: String,
    /// Presentation time in seconds.
    pub pts_time: f64,
    /// Whether the frame is a keyframe.
    pub key_frame: bool,
}

/// Frames of the `stream` selector (`v` or `a`) that ffprobe decodes from `file` (0 when
/// it cannot read it).
pub fn count_frames(file: &Path, stream: &str) -> u32 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", stream])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(file)
        .output();
    // A TS file lists its stream under its program too: the first line is the count.
    out.ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .and_then(|l| l.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Result of decoding a stream with ffprobe.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Codec name per media type (`video` → `h264`, `audio` → `aac`).
    pub codecs: Vec<(String, String)>,
    /// Video width and height.
    pub size: Option<(u64, u64)>,
    /// Decoded frames in order.
    pub frames: Vec<ProbedFrame>,
}

impl Probe {
    /// Frames of one media type.
    pub fn of(&self, media_type: &str) -> Vec<&ProbedFrame> {
        self.frames
            .iter()
            .filter(|f| f.media_type == media_type)
            .collect()
    }

    /// Codec of a media type.
    pub fn codec(&self, media_type: &str) -> Option<&str> {
        self.codecs
            .iter()
            .find(|(t, _)| t == media_type)
            .map(|(_, c)| c.as_str())
    }

    /// Assert H.264 video and AAC audio were decoded, each with strictly increasing
    /// timestamps and at least `min_frames` frames.
    pub fn assert_h264_aac(&self, min_frames: usize) {
        assert_eq!(self.codec("video"), Some("h264"), "{self:?}");
        assert_eq!(self.codec("audio"), Some("aac"), "{self:?}");
        for t in ["video", "audio"] {
            let f = self.of(t);
            assert!(f.len() >= min_frames, "only {} {t} frames decoded", f.len());
            for w in f.windows(2) {
                assert!(
                    w[1].pts_time > w[0].pts_time,
                    "{t} timestamps not increasing: {} then {}",
                    w[0].pts_time,
                    w[1].pts_time
                );
            }
        }
    }
}

/// Decode `seconds` of `url` with ffprobe (`-show_frames`), bounded by `timeout`.
pub fn ffprobe(url: &str, seconds: f64, timeout: Duration) -> Result<Probe> {
    require_tool("ffprobe");
    // By packet count (about 25 video + 43 audio packets a second), not by time: a live
    // stream's first packet (metadata at time 0) may be far from its first frame's time.
    let interval = format!("%+#{}", (seconds * 70.0).ceil() as u64);
    let child = Command::new("ffprobe")
        .args([
            "-hide_banner",
            "-v",
            "error",
            "-rw_timeout",
            "15000000",
            "-read_intervals",
            &interval,
            "-show_frames",
            "-show_streams",
            "-show_entries",
            "frame=media_type,pts_time,key_frame:stream=codec_type,codec_name,width,height",
            "-of",
            "json",
            url,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("spawn ffprobe")?;
    let pid = child.id();
    // Kill ffprobe if it outlives the timeout, from a watchdog thread.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(timeout).is_err() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    });
    let out = child.wait_with_output().context("ffprobe output")?;
    let _ = tx.send(());
    let _ = watchdog.join();
    if !out.status.success() {
        bail!(
            "ffprobe {url} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("ffprobe json")?;
    let mut probe = Probe::default();
    for s in v["streams"].as_array().into_iter().flatten() {
        let t = s["codec_type"].as_str().unwrap_or("").to_string();
        let c = s["codec_name"].as_str().unwrap_or("").to_string();
        if t == "video" {
            probe.size = Some((
                s["width"].as_u64().unwrap_or(0),
                s["height"].as_u64().unwrap_or(0),
            ));
        }
        probe.codecs.push((t, c));
    }
    for f in v["frames"].as_array().into_iter().flatten() {
        probe.frames.push(ProbedFrame {
            media_type: f["media_type"].as_str().unwrap_or("").to_string(),
            pts_time: f["pts_time"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
            key_frame: f["key_frame"].as_i64() == Some(1),
        });
    }
    Ok(probe)
}

/// Where SRS 6 is: `$SRS6_DIR`, else `../shared/peers/srs6` beside the repository, else
/// `/work/shared/peers/srs6`. Missing is a loud failure, never a skip.
pub fn srs6_binary() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let candidates = [
        std::env::var_os("SRS6_DIR").map(PathBuf::from),
        Some(repo.join("../shared/peers/srs6")),
        Some(PathBuf::from("/work/shared/peers/srs6")),
    ];
    for c in candidates.into_iter().flatten() {
        let bin = c.join("srs");
        if bin.is_file() {
            return bin;
        }
    }
    panic!("SRS 6 not found: set SRS6_DIR to the folder holding its `srs` binary (../shared/peers/srs6)");
}

/// A running SRS 6, killed by pid when dropped.
pub struct Srs6 {
    child: Child,
    /// Its RTMP port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Srs6 {
    /// SRS 6 on a free loopback port with `vhost` as its `__defaultVhost__` body.
    pub fn start(vhost: &str) -> Srs6 {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = format!(
            "listen 127.0.0.1:{port};\nmax_connections 100;\ndaemon off;\nsrs_log_tank file;\n\
             srs_log_file {d}/srs.log;\nsrs_log_level trace;\npid {d}/srs.pid;\nff_log_dir {d};\n\
             inotify_auto_reload off;\nhttp_api {{ enabled off; }}\nhttp_server {{ enabled off; }}\n\
             vhost __defaultVhost__ {{ {vhost} }}\n",
            d = dir.path().display()
        );
        let path = dir.path().join("srs.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new(srs6_binary())
            .arg("-c")
            .arg(&path)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn SRS 6");
        let s = Srs6 { child, port, dir };
        assert!(
            wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "SRS 6 did not listen on {port}:\n{}",
            s.log()
        );
        s
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `rtmp://127.0.0.1:port/{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("rtmp://127.0.0.1:{}/{path}", self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("srs.log")).unwrap_or_default()
    }
}

impl Drop for Srs6 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write a test file with ffmpeg: `seconds` of H.264 test video of `size` (x264 with the
/// options `x264`), AAC when `audio`, with the output options `out` (the muxer among them
/// when the extension does not choose it).
pub fn ffmpeg_write(
    path: &Path,
    seconds: u32,
    size: &str,
    audio: bool,
    x264: &[&str],
    out: &[&str],
) {
    require_tool("ffmpeg");
    let mut args = ffmpeg_source(seconds, size, audio, false, x264);
    args.push("-y".into());
    args.extend(out.iter().map(|o| o.to_string()));
    let o = Command::new("ffmpeg")
        .args(&args)
        .arg(path)
        .output()
        .expect("run ffmpeg");
    assert!(
        o.status.success(),
        "ffmpeg writing {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Write an FLV test file with ffmpeg: `seconds` of H.264 test video of `size` (a GOP a
/// second), and AAC when `audio`.
pub fn write_test_flv(path: &Path, seconds: u32, size: &str, audio: bool) {
    ffmpeg_write(
        path,
        seconds,
        size,
        audio,
        &["-preset", "ultrafast", "-g", "25"],
        &["-f", "flv"],
    );
}

/// Where the browser checks (`tests/browser/*.js`) live.
pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Where Debian's Chromium is.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium, node and playwright-core (`npm ci` in `tests/browser` when missing), or a loud
/// failure saying how to install them.
pub fn require_browser() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} not found: the browser tests need Debian's chromium \
         (`apt-get install -y chromium`, which .ci/run does)"
    );
    for tool in ["node", "npm"] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        assert!(
            found,
            "`{tool}` not found: the browser tests need Node.js (`apt-get install -y nodejs npm`, which .ci/run does)"
        );
    }
    let dir = browser_dir();
    if !dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        eprintln!("browser tests: npm ci in {}", dir.display());
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .expect("run npm ci");
        assert!(
            out.status.success(),
            "npm ci in {} failed ({}):\n{}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A TCP port free on 127.0.0.1 now (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local_addr").port()
}

/// rtmpdump playing `url` live into `out` (an FLV file that grows while it plays).
pub fn rtmpdump_play(url: &str, out: &Path) -> Proc {
    let out = out.to_string_lossy().to_string();
    Proc::spawn("rtmpdump", &["-q", "-v", "-r", url, "-o", &out])
}

/// Size of a file now (0 if missing).
pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// A small multi-threaded tokio runtime for a test's async parts.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Wait until the server logged `n` publish starts (panics with the log after 30 s).
pub fn wait_publishing(server: &Server, n: usize) {
    assert!(
        wait_until(Duration::from_secs(30), || server
            .count_log("publish start")
            >= n),
        "publisher did not start:\n{}",
        server.log()
    );
}

/// Wait until `f` is true, polling; false on timeout.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

impl Server {
    /// Address of the HTTP listener `what` (`api`, `server`, or `both` when `http_api` and
    /// `http_server` share one address), from the master's "HTTP listening" log lines; None
    /// when the config does not enable it. Call after [`Server::start`], which waits for
    /// readiness, so every listener is logged by then.
    pub fn http_addr(&self, what: &str) -> Option<SocketAddr> {
        let tag = format!("what=\"{what}\"");
        self.log()
            .lines()
            .filter(|l| {
                l.contains("HTTP listening")
                    && (l.contains(&tag) || l.contains(&format!("what={what}")))
            })
            .filter_map(|l| l.split("addr=").nth(1))
            .filter_map(|a| a.split_whitespace().next())
            .find_map(|a| a.parse().ok())
    }

    /// `http://addr{path}` on the HTTP server (`http_server`), panicking with the log when it
    /// is not enabled.
    pub fn http_url(&self, path: &str) -> String {
        let addr = self
            .http_addr("server")
            .or_else(|| self.http_addr("both"))
            .unwrap_or_else(|| panic!("no HTTP server listener in the log:\n{}", self.log()));
        format!("http://{addr}{path}")
    }
}
