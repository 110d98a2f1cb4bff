//! `srs-bench publish`: M RTMP publishers replaying one FLV file in a loop, paced in real
//! time by the tags' timestamps, with the wall clock stamped into each stream.
//!
//! Each publisher sends the metadata and the sequence headers once, then the file's audio
//! and video tags as they are (no transcoding), timestamps continuing across passes (see
//! [`crate::replay`]), and every `--clock-ms` the wall clock ([`crate::clock`]) for the
//! players' lag measurement: an `onSrsBenchClock` data message, and an SEI stamp in the next
//! H.264 frame (servers that relay only audio and video still carry that one).
//!
//! Publishers start all at once by default (`--ramp 0`), the way encoders come back after a
//! network cut or a server restart; `--ramp R` starts R a second instead. Each one measures
//! its publish start latency: from starting its TCP connect to `NetStream.Publish.Start`
//! (handshake, `connect`, `createStream`, `publish`), which is how long an encoder waits
//! before its stream is live.

use crate::clock;
use crate::conn::{connect, ConnError, Reasons};
use crate::replay::Replay;
use crate::stats::{self, RateWindow};
use crate::url::{Scheme, StreamUrl};
use crate::{resolve, stop_signal, BenchError, PublishArgs, Report};
use srs_protocol::message::type_id;
use srs_protocol::session::{ClientConfig, ClientEvent, ClientSession};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::AbortHandle;
use tokio::time::{timeout, timeout_at, Instant};

/// How long one write may block before the server counts as stuck.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Most bytes queued in the session before they are written, when the publisher is
/// catching up (e.g. after a stall): bounds the output buffer.
const MAX_UNFLUSHED: u64 = 256 * 1024;

/// Read buffer of a publisher: the server only sends a few small messages back.
const READ_BUFFER: usize = 16 * 1024;

const CONNECTING: u8 = 0;
const PUBLISHING: u8 = 1;
const FAILED: u8 = 2;
const DISCONNECTED: u8 = 3;

/// Sentinel for "not yet" in [`PublisherStats::publish_start_ms`].
const NEVER: u64 = u64::MAX;

/// What one publisher shares with the reporter.
#[derive(Debug)]
struct PublisherStats {
    /// Tag body bytes sent (media and data).
    bytes: AtomicU64,
    /// CONNECTING, PUBLISHING, FAILED or DISCONNECTED.
    state: AtomicU8,
    /// Completed passes over the file.
    passes: AtomicU64,
    /// Milliseconds from starting the TCP connect to `NetStream.Publish.Start` (or NEVER).
    publish_start_ms: AtomicU64,
}

impl PublisherStats {
    fn new() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            state: AtomicU8::new(CONNECTING),
            passes: AtomicU64::new(0),
            publish_start_ms: AtomicU64::new(NEVER),
        }
    }
}

/// Settings every publisher shares.
#[derive(Debug)]
struct Shared {
    replay: Replay,
    connect_timeout: Duration,
    clock_interval: Duration,
    reasons: Reasons,
}

async fn publisher(
    url: StreamUrl,
    addr: SocketAddr,
    stats: Arc<PublisherStats>,
    shared: Arc<Shared>,
) {
    let r = publish_rtmp(&url, addr, &stats, &shared).await;
    let e = match r {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let (state, what) = if stats.state.load(Relaxed) == PUBLISHING {
        (DISCONNECTED, "disconnected")
    } else {
        (FAILED, "failed")
    };
    stats.state.store(state, Relaxed);
    let reason = format!("{what}: {}", e.reason());
    if shared.reasons.count(reason.clone()) {
        eprintln!("srs-bench: publisher {} {reason}", url.rtmp_stream());
    }
}

async fn write(sock: &mut TcpStream, session: &mut ClientSession) -> Result<(), ConnError> {
    let out = session.take_output();
    if !out.is_empty() {
        timeout(SEND_TIMEOUT, sock.write_all(&out))
            .await
            .map_err(|_| ConnError::Timeout("server not reading"))??;
    }
    Ok(())
}

/// Handle what the server sent while we publish: only an error status matters.
fn on_events(session: &mut ClientSession) -> Result<(), ConnError> {
    while let Some(ev) = session.poll_event() {
        if let ClientEvent::Status { level, code, .. } = ev {
            if level == "error" {
                return Err(ConnError::Refused(code));
            }
        }
    }
    Ok(())
}

async fn publish_rtmp(
    url: &StreamUrl,
    addr: SocketAddr,
    stats: &PublisherStats,
    shared: &Shared,
) -> Result<Infallible, ConnError> {
    let connect_start = Instant::now();
    let deadline = connect_start + shared.connect_timeout;
    let mut sock = connect(addr, deadline).await?;
    let mut session = ClientSession::new(ClientConfig::new(&url.tc_url(), &url.app));
    let name = url.rtmp_stream();
    let mut buf = vec![0u8; READ_BUFFER];
    // connect, createStream, publish, until NetStream.Publish.Start.
    let sid = 'negotiate: loop {
        timeout_at(deadline, write(&mut sock, &mut session))
            .await
            .map_err(|_| ConnError::Timeout("write to the server"))??;
        let n = timeout_at(deadline, sock.read(&mut buf))
            .await
            .map_err(|_| ConnError::Timeout("no NetStream.Publish.Start"))??;
        if n == 0 {
            return Err(ConnError::Closed);
        }
        session.feed(&buf[..n])?;
        while let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Connected => session.create_stream(),
                ClientEvent::StreamCreated { stream_id } => session.publish(stream_id, &name),
                ClientEvent::ConnectFailed { code, .. } => return Err(ConnError::Refused(code)),
                ClientEvent::Status {
                    stream_id,
                    level,
                    code,
                    ..
                } => {
                    if code == "NetStream.Publish.Start" {
                        break 'negotiate stream_id;
                    } else if level == "error" {
                        return Err(ConnError::Refused(code));
                    }
                }
                _ => {}
            }
        }
    };
    let ms = connect_start.elapsed().as_millis() as u64;
    stats.publish_start_ms.store(ms, Relaxed);
    stats.state.store(PUBLISHING, Relaxed);
    let replay = &shared.replay;
    let mut sent = 0u64;
    if let Some(meta) = replay.set_data_frame() {
        session.send_media(sid, type_id::DATA_AMF0, 0, &meta);
        sent += meta.len() as u64;
    }
    for h in &replay.headers {
        session.send_media(sid, h.tag_type, 0, &h.body);
        sent += h.body.len() as u64;
    }
    // The SEI stamp assumes 4-byte NAL unit lengths (what x264 and every encoder we know
    // write); a file with other lengths, or not H.264, gets the data message stamps only.
    let video_stamps = replay
        .headers
        .iter()
        .find(|h| h.tag_type == type_id::VIDEO)
        .and_then(|h| clock::avc_length_size(&h.body))
        == Some(4);
    let t0 = Instant::now();
    let mut cursor = replay.cursor();
    let mut next_clock = t0;
    let mut stamp_next_frame = false;
    loop {
        let now = Instant::now();
        if now >= next_clock {
            let ts = (now - t0).as_millis() as u32;
            let body = clock::encode(clock::wall_ms());
            session.send_media(sid, type_id::DATA_AMF0, ts, &body);
            sent += body.len() as u64;
            stamp_next_frame = video_stamps;
            next_clock += shared.clock_interval;
            if next_clock < now {
                // We were stalled: stamp at the interval from now on, no burst.
                next_clock = now + shared.clock_interval;
            }
        }
        let (ts, tag) = cursor.peek(replay);
        let due = t0 + Duration::from_millis(ts);
        if due <= now && sent < MAX_UNFLUSHED {
            // RTMP timestamps are 32-bit milliseconds and wrap after 49 days, as on the wire.
            let stamped = (stamp_next_frame && tag.tag_type == type_id::VIDEO)
                .then(|| clock::stamp_video(&tag.body, clock::wall_ms()))
                .flatten();
            let body = match &stamped {
                Some(b) => {
                    stamp_next_frame = false;
                    b.as_slice()
                }
                None => &tag.body[..],
            };
            session.send_media(sid, tag.tag_type, ts as u32, body);
            sent += body.len() as u64;
            let pass = cursor.passes();
            cursor.advance(replay);
            if cursor.passes() != pass {
                stats.passes.fetch_add(1, Relaxed);
            }
            continue;
        }
        write(&mut sock, &mut session).await?;
        stats.bytes.fetch_add(sent, Relaxed);
        sent = 0;
        if due <= Instant::now() {
            continue;
        }
        // Wait for the next tag or clock stamp, reading what the server says meanwhile
        // (acknowledgement windows, pings, an error status).
        tokio::select! {
            _ = tokio::time::sleep_until(due.min(next_clock)) => {}
            r = sock.read(&mut buf) => {
                let n = r?;
                if n == 0 {
                    return Err(ConnError::Closed);
                }
                session.feed(&buf[..n])?;
                on_events(&mut session)?;
            }
        }
    }
}

/// Run `publish` to the end (duration or signal) and return the final report.
pub async fn run(args: PublishArgs) -> Result<Report, BenchError> {
    let base = StreamUrl::parse(&args.url)?;
    if base.scheme != Scheme::Rtmp {
        return Err(BenchError::Args("publish needs an rtmp:// URL".into()));
    }
    let addr = resolve(&base.addr)?;
    let replay = Replay::load(&args.file)?;
    eprintln!(
        "srs-bench: {}: {} tags, {} ms per pass, {} kbps",
        args.file.display(),
        replay.tags.len(),
        replay.loop_ms,
        replay.kbps()
    );
    let file_kbps = replay.kbps();
    let shared = Arc::new(Shared {
        replay,
        connect_timeout: Duration::from_secs_f64(args.timeout),
        clock_interval: Duration::from_millis(args.clock_ms.max(1)),
        reasons: Reasons::default(),
    });
    let start = Instant::now();
    let streams = args.streams.max(1);
    let publishers: Arc<Vec<Arc<PublisherStats>>> = Arc::new(
        (0..streams)
            .map(|_| Arc::new(PublisherStats::new()))
            .collect(),
    );
    let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::new(Mutex::new(Vec::with_capacity(streams)));
    let spawner = {
        let (publishers, tasks, shared, ramp) =
            (publishers.clone(), tasks.clone(), shared.clone(), args.ramp);
        tokio::spawn(async move {
            for (i, stats) in publishers.iter().enumerate() {
                if ramp > 0.0 {
                    let at = start + Duration::from_secs_f64(i as f64 / ramp);
                    tokio::time::sleep_until(at).await;
                }
                let url = base.indexed(i, streams);
                let task = tokio::spawn(publisher(url, addr, stats.clone(), shared.clone()));
                tasks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(task.abort_handle());
            }
        })
    };
    let reporter = {
        let publishers = publishers.clone();
        tokio::spawn(async move {
            let mut total = RateWindow::default();
            for k in 1u64.. {
                tokio::time::sleep_until(start + Duration::from_secs(k)).await;
                let c = Counts::of(&publishers);
                let now_ms = start.elapsed().as_millis() as u64;
                let kbps = total.tick(now_ms, c.bytes);
                println!(
                    "t={k}s publishing={} failed={} disconnects={} kbps_total={kbps}",
                    c.publishing, c.failed, c.disconnects
                );
            }
        })
    };
    let stopped_by = stop_signal(Duration::from_secs_f64(args.duration)).await;
    spawner.abort();
    reporter.abort();
    let started = {
        let tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
        for t in tasks.iter() {
            t.abort();
        }
        tasks.len()
    };
    let end_ms = start.elapsed().as_millis() as u64;
    let c = Counts::of(&publishers);
    let latency = StartLatency::of(&publishers);
    let report = Report::default()
        .field("mode", "publish")
        .field("url", args.url.as_str())
        .field("streams", streams)
        .field("started", started)
        .field("ramp", args.ramp)
        .field("connected", c.publishing + c.disconnects)
        .field("failed", c.failed)
        .field("disconnects", c.disconnects)
        .field("published", c.publishing + c.disconnects)
        .field("publish_failed", c.failed)
        // Publishers a ramp never started are still in their first state: not counted.
        .field(
            "still_connecting",
            c.connecting.saturating_sub((streams - started) as u64),
        )
        .field("publish_start_ms_p50", latency.p50)
        .field("publish_start_ms_p99", latency.p99)
        .field("publish_start_ms_max", latency.max)
        .field("file_kbps", file_kbps)
        .field("kbps_total_avg", stats::kbps(c.bytes, end_ms))
        .field("passes", c.passes)
        .field("duration_s", end_ms as f64 / 1000.0)
        .field("stopped_by", stopped_by)
        .field("errors", shared.reasons.to_json());
    eprintln!("srs-bench: {}", human_summary(&report));
    Ok(report)
}

/// Publish start latency over the publishers that reached `NetStream.Publish.Start`:
/// nearest-rank p50 and p99, and the maximum, in ms (`None` when none did).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct StartLatency {
    p50: Option<u64>,
    p99: Option<u64>,
    max: Option<u64>,
}

impl StartLatency {
    fn of(publishers: &[Arc<PublisherStats>]) -> Self {
        Self::from_samples(
            publishers
                .iter()
                .map(|p| p.publish_start_ms.load(Relaxed))
                .filter(|&ms| ms != NEVER)
                .collect(),
        )
    }

    /// Exact percentiles of the samples: one per publisher, so at most
    /// [`crate::MAX_CONNECTIONS`] values to sort once at the end.
    fn from_samples(mut ms: Vec<u64>) -> Self {
        ms.sort_unstable();
        Self {
            p50: stats::percentile_sorted(&ms, 50.0),
            p99: stats::percentile_sorted(&ms, 99.0),
            max: ms.last().copied(),
        }
    }
}

/// The final report for people (stderr): how many publishers made it, how fast, and why
/// the others did not.
fn human_summary(r: &Report) -> String {
    let ms = |key: &str| match r[key].as_u64() {
        Some(v) => format!("{v} ms"),
        None => "-".to_string(),
    };
    let not_started = match (r["streams"].as_u64(), r["started"].as_u64()) {
        (Some(m), Some(started)) if started < m => format!(", {} not started", m - started),
        _ => String::new(),
    };
    let mut s = format!(
        "publish: {} of {} publishers published ({} failed, {} still connecting{not_started}, \
         {} disconnected later); publish start p50 {}, p99 {}, max {}",
        r["published"],
        r["streams"],
        r["publish_failed"],
        r["still_connecting"],
        r["disconnects"],
        ms("publish_start_ms_p50"),
        ms("publish_start_ms_p99"),
        ms("publish_start_ms_max"),
    );
    if let Some(errors) = r["errors"].as_object().filter(|o| !o.is_empty()) {
        let reasons: Vec<String> = errors.iter().map(|(k, v)| format!("{v}× {k}")).collect();
        s.push_str(&format!("; {}", reasons.join(", ")));
    }
    s
}

#[derive(Debug, Default)]
struct Counts {
    connecting: u64,
    publishing: u64,
    failed: u64,
    disconnects: u64,
    bytes: u64,
    passes: u64,
}

impl Counts {
    fn of(publishers: &[Arc<PublisherStats>]) -> Self {
        let mut c = Counts::default();
        for p in publishers {
            c.bytes += p.bytes.load(Relaxed);
            c.passes += p.passes.load(Relaxed);
            match p.state.load(Relaxed) {
                CONNECTING => c.connecting += 1,
                PUBLISHING => c.publishing += 1,
                FAILED => c.failed += 1,
                DISCONNECTED => c.disconnects += 1,
                _ => {}
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher(state: u8, start_ms: u64) -> Arc<PublisherStats> {
        let p = PublisherStats::new();
        p.state.store(state, Relaxed);
        p.publish_start_ms.store(start_ms, Relaxed);
        Arc::new(p)
    }

    #[test]
    fn start_latency_percentiles() {
        assert_eq!(
            StartLatency::from_samples(vec![]),
            StartLatency::default(),
            "nobody published: nulls, not zeros"
        );
        let one = StartLatency::from_samples(vec![42]);
        assert_eq!((one.p50, one.p99, one.max), (Some(42), Some(42), Some(42)));
        // 1..=1000 ms in any order: nearest rank, exact.
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        v.swap(3, 700);
        let l = StartLatency::from_samples(v);
        assert_eq!((l.p50, l.p99, l.max), (Some(500), Some(990), Some(1000)));
        // A few slow ones among 1000 (a listen backlog overflow costs a SYN retransmit,
        // about 1 s) show at p99 only when they are more than 1 %.
        let mut v = vec![8u64; 995];
        v.extend([1030, 1031, 1032, 1033, 3050]);
        let l = StartLatency::from_samples(v.clone());
        assert_eq!((l.p50, l.p99, l.max), (Some(8), Some(8), Some(3050)));
        v.extend(vec![1040u64; 10]);
        let l = StartLatency::from_samples(v);
        assert_eq!(l.p99, Some(1040));
    }

    #[test]
    fn latency_counts_only_publishers_that_published() {
        let publishers = vec![
            publisher(PUBLISHING, 10),
            publisher(PUBLISHING, 30),
            // Published, then lost its connection: its start still counts.
            publisher(DISCONNECTED, 20),
            publisher(FAILED, NEVER),
            publisher(CONNECTING, NEVER),
        ];
        let l = StartLatency::of(&publishers);
        assert_eq!((l.p50, l.p99, l.max), (Some(20), Some(30), Some(30)));
        let c = Counts::of(&publishers);
        assert_eq!(
            (c.publishing, c.disconnects, c.failed, c.connecting),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn human_summary_reads_well() {
        let r = Report::default()
            .field("streams", 1000)
            .field("disconnects", 0)
            .field("published", 998)
            .field("publish_failed", 2)
            .field("still_connecting", 0)
            .field("publish_start_ms_p50", 12)
            .field("publish_start_ms_p99", 340)
            .field("publish_start_ms_max", 1033)
            .field(
                "errors",
                serde_json::json!({"failed: timeout: tcp connect": 2}),
            );
        assert_eq!(
            human_summary(&r),
            "publish: 998 of 1000 publishers published (2 failed, 0 still connecting, 0 disconnected later); \
             publish start p50 12 ms, p99 340 ms, max 1033 ms; 2× failed: timeout: tcp connect"
        );
        // A ramp the run cut short: the publishers it never started are said apart.
        let r = Report::default()
            .field("streams", 5)
            .field("started", 3)
            .field("disconnects", 0)
            .field("published", 0)
            .field("publish_failed", 3)
            .field("still_connecting", 0)
            .field("publish_start_ms_p50", None::<u64>)
            .field("errors", serde_json::json!({}));
        assert_eq!(
            human_summary(&r),
            "publish: 0 of 5 publishers published (3 failed, 0 still connecting, 2 not started, \
             0 disconnected later); publish start p50 -, p99 -, max -"
        );
    }
}
