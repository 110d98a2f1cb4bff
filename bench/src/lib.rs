//! `srs-bench`, the load tool: many players (`play`), publishers replaying an FLV file
//! (`publish`), and a test file generator (`make-flv`).
//!
//! Built on the protocol crate's sans-I/O [`ClientSession`](srs_protocol::session::ClientSession)
//! for RTMP; HTTP-FLV players walk tag headers only ([`scan`]). Nothing decodes media: a
//! player looks at message types, sizes and the publisher's clock stamps ([`clock`]).
//!
//! Output: a line a second on stdout (`t=12s connected=1000 failed=0 ...`), then one JSON
//! line with the run's summary (also written to `--json-out`). Diagnostics go to stderr.
//! A connection that fails or drops is counted, never fatal; SIGINT and SIGTERM end the run
//! early and still print the summary. The exit code is non-zero only when the tool itself
//! failed (bad arguments, unreadable file, no ffmpeg for `make-flv`).

pub mod clock;
pub mod conn;
pub mod make_flv;
pub mod play;
pub mod publish;
pub mod replay;
pub mod scan;
pub mod stats;
pub mod url;

use clap::{Args, Parser, Subcommand};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// Why the tool itself (not one connection) failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A URL we cannot use.
    #[error("bad url {url}: {why}")]
    BadUrl { url: String, why: String },
    /// The server's host name did not resolve.
    #[error("cannot resolve {addr}: {why}")]
    Resolve { addr: String, why: String },
    /// The FLV input could not be read or has nothing to replay.
    #[error("{path}: {why}")]
    Input { path: PathBuf, why: String },
    /// ffmpeg is missing or failed (`make-flv`).
    #[error("{0}")]
    Ffmpeg(String),
    /// Arguments that parse but make no sense together.
    #[error("{0}")]
    Args(String),
    /// Local I/O: the runtime, the JSON output file.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "srs-bench",
    version,
    about = "Load tool for srs-rs: players, publishers, test files"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Open N players (rtmp:// or http://...flv) at a fixed rate and measure them.
    Play(PlayArgs),
    /// Publish M streams, each replaying an FLV file in a loop in real time.
    Publish(PublishArgs),
    /// Make a synthetic H.264 + AAC FLV file with ffmpeg, for `publish`.
    MakeFlv(MakeFlvArgs),
}

/// `srs-bench play`.
#[derive(Debug, Clone, Args)]
pub struct PlayArgs {
    /// Stream URL: rtmp://host[:port]/app/stream or http://host[:port]/app/stream.flv.
    #[arg(long)]
    pub url: String,
    /// Number of players.
    #[arg(short = 'n', long = "players", default_value_t = 1)]
    pub players: usize,
    /// Players started per second (0: all at once).
    #[arg(long, default_value_t = 100.0)]
    pub ramp: f64,
    /// Seconds to run, ramp included.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Spread players over M streams: `<stream>0` .. `<stream>M-1` (M > 1).
    #[arg(long, default_value_t = 1)]
    pub streams: usize,
    /// Stream bitrate for the 90 % rule; default: measured, the median of the players'
    /// average rates.
    #[arg(long)]
    pub stream_kbps: Option<u64>,
    /// Seconds a player may take from TCP connect to playing before it counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Least milliseconds between two reads of a playing player, so that each read takes
    /// several messages (fewer wake-ups and system calls). Every 50th player, the first
    /// included, is a lag probe that still reads at once and alone measures lag. 0: every
    /// player reads at once and measures lag.
    #[arg(long, default_value_t = 200)]
    pub read_interval_ms: u64,
    /// Also write the final JSON line to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

/// `srs-bench publish`.
#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// Stream URL: rtmp://host[:port]/app/stream.
    #[arg(long)]
    pub url: String,
    /// Number of streams: `<stream>` when 1, else `<stream>0` .. `<stream>M-1`.
    #[arg(short = 'm', long = "streams", default_value_t = 1)]
    pub streams: usize,
    /// FLV file to replay (see `make-flv`).
    #[arg(long)]
    pub file: PathBuf,
    /// Seconds to run.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Publishers started per second (0: all at once, as encoders come back after a cut).
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// Milliseconds between wall-clock stamps (an `onSrsBenchClock` data message, and an SEI
    /// in the next H.264 frame).
    #[arg(long, default_value_t = 200)]
    pub clock_ms: u64,
    /// Seconds a publisher may take from TCP connect to `NetStream.Publish.Start` before it
    /// counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Also write the final JSON line to this file.
    #[arg(long)]
    pub json_out: Option<PathBuf>,
}

/// `srs-bench make-flv`.
#[derive(Debug, Clone, Args)]
pub struct MakeFlvArgs {
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Length in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u32,
    /// Total bitrate (video + audio) in kbps.
    #[arg(long, default_value_t = 500)]
    pub kbps: u32,
    /// Picture size.
    #[arg(long, default_value = "640x360")]
    pub size: String,
    /// GOP length (keyframe interval) in seconds, at 25 frames a second.
    #[arg(long, default_value_t = 2.0)]
    pub gop_seconds: f64,
}

/// Most players or streams one run may open: bounds memory (a player costs ~70 KiB).
pub const MAX_CONNECTIONS: usize = 100_000;

/// Resolve `host:port` once for the whole run.
pub(crate) fn resolve(addr: &str) -> Result<SocketAddr, BenchError> {
    let err = |why: String| BenchError::Resolve {
        addr: addr.to_string(),
        why,
    };
    addr.to_socket_addrs()
        .map_err(|e| err(e.to_string()))?
        .next()
        .ok_or_else(|| err("no address".into()))
}

/// Wait for one delivery of a signal (forever when it could not be installed).
async fn recv(s: Option<&mut tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Wait for the end of the run: the duration, SIGINT or SIGTERM. Says which.
pub(crate) async fn stop_signal(duration: Duration) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = tokio::time::sleep(duration) => "duration",
        _ = recv(int.as_mut()) => "SIGINT",
        _ = recv(term.as_mut()) => "SIGTERM",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_keeps_field_order() {
        let r = Report::default()
            .field("mode", "play")
            .field("n", 3)
            .field("p", serde_json::json!({"p50": null}))
            .field("url", "rtmp://h/a/\"b\"");
        let line = r.to_line();
        assert_eq!(
            line,
            r#"{"mode":"play","n":3,"p":{"p50":null},"url":"rtmp://h/a/\"b\""}"#
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["n"], 3);
        assert_eq!(r["n"], 3);
        assert!(r["missing"].is_null());
    }
}

fn check_seconds(name: &str, v: f64) -> Result<(), BenchError> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(())
    } else {
        Err(BenchError::Args(format!(
            "--{name} must be a positive number of seconds"
        )))
    }
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.clamp(1, 64))
        .enable_all()
        .build()
        .map_err(|source| BenchError::Io {
            what: "tokio runtime".into(),
            source,
        })
}

/// The final summary of a run: JSON fields in a fixed order (`mode` first), printed as one
/// line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report(Vec<(&'static str, serde_json::Value)>);

impl Report {
    /// Add a field.
    pub fn field(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.0.push((key, value.into()));
        self
    }

    /// The JSON object on one line.
    pub fn to_line(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{}:{v}", serde_json::Value::from(*k)))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
}

impl std::ops::Index<&str> for Report {
    type Output = serde_json::Value;

    /// A field's value (`null` when absent).
    fn index(&self, key: &str) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&NULL, |(_, v)| v)
    }
}

/// Print the final JSON line, and write it to `path` when asked.
fn finish(report: Report, path: Option<&PathBuf>) -> Result<(), BenchError> {
    let line = report.to_line();
    println!("{line}");
    if let Some(p) = path {
        std::fs::write(p, format!("{line}\n")).map_err(|source| BenchError::Io {
            what: format!("write {}", p.display()),
            source,
        })?;
    }
    Ok(())
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Result<(), BenchError> {
    match cli.command {
        Cmd::Play(args) => {
            check_seconds("duration", args.duration)?;
            check_seconds("timeout", args.timeout)?;
            if args.players > MAX_CONNECTIONS || args.streams > MAX_CONNECTIONS {
                return Err(BenchError::Args(format!(
                    "at most {MAX_CONNECTIONS} players and streams"
                )));
            }
            if !(args.ramp >= 0.0 && args.ramp.is_finite()) {
                return Err(BenchError::Args("--ramp must be >= 0".into()));
            }
            let rt = runtime(args.threads)?;
            let json_out = args.json_out.clone();
            let report = rt.block_on(play::run(args))?;
            // Aborted players close their sockets as the runtime drops them.
            rt.shutdown_timeout(Duration::from_secs(2));
            finish(report, json_out.as_ref())
        }
        Cmd::Publish(args) => {
            check_seconds("duration", args.duration)?;
            check_seconds("timeout", args.timeout)?;
            if args.streams > MAX_CONNECTIONS {
                return Err(BenchError::Args(format!(
                    "at most {MAX_CONNECTIONS} streams"
                )));
            }
            if !(args.ramp >= 0.0 && args.ramp.is_finite()) {
                return Err(BenchError::Args("--ramp must be >= 0".into()));
            }
            let rt = runtime(args.threads)?;
            let json_out = args.json_out.clone();
            let report = rt.block_on(publish::run(args))?;
            rt.shutdown_timeout(Duration::from_secs(2));
            finish(report, json_out.as_ref())
        }
        Cmd::MakeFlv(args) => make_flv::run(&args),
    }
}
