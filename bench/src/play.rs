//! `srs-bench play`: N players (RTMP, or HTTP-FLV for `http://` URLs) started at a fixed
//! rate, each counting payload bytes, its first-frame latency and the lag of the publisher's
//! clock stamps, never decoding media.
//!
//! Cost per player is one task, one socket, one 64 KiB read buffer reused for every read,
//! and one [`ClientSession`] (RTMP) or a few dozen bytes of header-walking state (HTTP-FLV).
//! Counters are atomics the reporter reads once a second; latencies go into shared
//! fixed-size histograms. At the end every task is aborted (which closes its socket), so
//! the hot loop has nothing to check but its socket.

use crate::clock;
use crate::conn::{connect, ConnError, Reasons};
use crate::scan::{self, Dechunker, FlvScan};
use crate::stats::{self, Histogram, RateWindow};
use crate::url::{Scheme, StreamUrl};
use crate::{resolve, stop_signal, BenchError, PlayArgs, Report};
use serde_json::json;
use srs_protocol::flv;
use srs_protocol::message::type_id;
use srs_protocol::session::{ClientConfig, ClientEvent, ClientSession};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::AbortHandle;
use tokio::time::{timeout_at, Instant};

/// Read buffer of one player, reused for every read. A 500 kbps stream delivers ~6 KiB per
/// frame, so one read usually takes everything the kernel holds.
pub const READ_BUFFER: usize = 64 * 1024;

/// A player counts for the 90 % rule only when its first frame came at least this long
/// before the end: over a shorter time the GOP cache burst dominates its rate.
pub const JUDGE_MIN_MS: u64 = 2000;

/// Share of the stream bitrate below which a player counts as starved.
pub const BELOW_RATIO: f64 = 0.9;

/// Every this many players, one is a lag probe: it reads as soon as data arrives, however
/// `--read-interval-ms` paces the others, so the lag it measures is the server's alone.
pub const PROBE_EVERY: usize = 50;

/// Sentinel for "not yet" in the millisecond fields of [`PlayerStats`].
const NEVER: u64 = u64::MAX;

/// Player states.
const CONNECTING: u8 = 0;
const PLAYING: u8 = 1;
const FAILED: u8 = 2;
const DISCONNECTED: u8 = 3;

/// What one player shares with the reporter.
#[derive(Debug)]
pub struct PlayerStats {
    /// Payload bytes of audio, video and data messages received.
    bytes: AtomicU64,
    /// CONNECTING, PLAYING, FAILED or DISCONNECTED.
    state: AtomicU8,
    /// When the first video frame arrived, in ms since the run started (or NEVER).
    first_frame_at: AtomicU64,
    /// When the player started playing (RTMP `NetStream.Play.Start`, HTTP 200).
    playing_at: AtomicU64,
    /// When a paced player last read (NEVER for probes): what it received after that is
    /// still in the kernel, so its average rate is taken up to there.
    last_read_at: AtomicU64,
}

impl PlayerStats {
    fn new() -> Self {
        Self {
            bytes: AtomicU64::new(0),
            state: AtomicU8::new(CONNECTING),
            first_frame_at: AtomicU64::new(NEVER),
            playing_at: AtomicU64::new(NEVER),
            last_read_at: AtomicU64::new(NEVER),
        }
    }
}

/// What all players share.
#[derive(Debug)]
pub struct Shared {
    /// When the run started.
    pub start: Instant,
    /// Time from starting the TCP connect to the first video frame (a video message that
    /// is not a sequence header).
    pub first_frame: Histogram,
    /// Receive time minus the publisher's clock stamp, from stamps in video frames (SEI).
    pub lag: Histogram,
    /// The same from `onSrsBenchClock` data messages, reported only when no video frame
    /// carried a stamp (a server may drop data messages, as nginx-rtmp does).
    pub lag_data: Histogram,
    /// Why players failed or dropped.
    pub reasons: Reasons,
    /// Bound on TCP connect + handshake + play.
    pub connect_timeout: Duration,
    /// Least time between two reads of a player that is not a lag probe, once it has its
    /// first frame (`None`: every player reads at once).
    pub read_interval: Option<Duration>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
}

/// One player's view of its stream: counts bytes locally and publishes them once per read.
struct Watch<'a> {
    stats: &'a PlayerStats,
    shared: &'a Shared,
    connect_start: Instant,
    /// Wall clock when the player started: clock stamps older than this were sitting in
    /// the server's GOP cache and say nothing about the lag of the live stream.
    connect_wall_ms: u64,
    unflushed: u64,
    got_video: bool,
    playing: bool,
    /// Whether this player's clock stamps count (see [`PROBE_EVERY`]).
    probe: bool,
    /// Least time between reads once the first frame is in; `None` for a probe.
    pace: Option<Duration>,
    last_read: Option<Instant>,
}

impl<'a> Watch<'a> {
    fn new(stats: &'a PlayerStats, shared: &'a Shared, index: usize) -> Self {
        // `%`, not `is_multiple_of`: the workspace supports Rust 1.80.
        #[allow(clippy::manual_is_multiple_of)]
        let probe = shared.read_interval.is_none() || index % PROBE_EVERY == 0;
        Self {
            stats,
            shared,
            connect_start: Instant::now(),
            connect_wall_ms: clock::wall_ms(),
            unflushed: 0,
            got_video: false,
            playing: false,
            probe,
            pace: if probe { None } else { shared.read_interval },
            last_read: None,
        }
    }

    /// Before a read while playing. A paced player waits until the interval has passed
    /// since its last read, so that one read takes what several writes of the server left
    /// in the kernel: fewer wake-ups, system calls and ACKs per second of stream, which is
    /// most of what a player costs. Its byte counts and first frame are unaffected; only its
    /// clock stamps would arrive late, and only probes count those.
    async fn pace(&mut self) {
        if let (Some(interval), Some(last), true) = (self.pace, self.last_read, self.got_video) {
            tokio::time::sleep_until(last + interval).await;
        }
    }

    /// After a read while playing.
    fn read_done(&mut self) {
        if self.pace.is_some() {
            let now = Instant::now();
            self.last_read = Some(now);
            let ms = now.saturating_duration_since(self.shared.start).as_millis() as u64;
            self.stats.last_read_at.store(ms, Relaxed);
        }
    }

    fn playing(&mut self) {
        if !self.playing {
            self.playing = true;
            self.stats.playing_at.store(self.shared.now_ms(), Relaxed);
            self.stats.state.store(PLAYING, Relaxed);
        }
    }

    /// A media message of `len` payload bytes; `body` is (at least the start of) a data or
    /// video message's body, where a clock stamp may be.
    fn media(&mut self, ty: u8, len: usize, body: &[u8]) {
        self.unflushed += len as u64;
        match ty {
            type_id::VIDEO => {
                // A sequence header is not a frame: a server sends it at once, but the
                // picture starts at the first keyframe.
                if !self.got_video && !flv::video_info(body).sequence_header {
                    self.got_video = true;
                    let ms = self.connect_start.elapsed().as_millis() as u64;
                    self.shared.first_frame.record(ms);
                    self.stats
                        .first_frame_at
                        .store(self.shared.now_ms(), Relaxed);
                }
                if self.probe {
                    self.stamp(clock::parse_video(body), &self.shared.lag);
                }
            }
            type_id::DATA_AMF0 if self.probe => {
                self.stamp(clock::parse(body), &self.shared.lag_data);
            }
            _ => {}
        }
    }

    /// Record the lag of a clock stamp, unless it was made before this player started
    /// (it sat in the server's GOP cache).
    fn stamp(&self, stamp: Option<u64>, into: &Histogram) {
        if let Some(stamp) = stamp {
            if stamp >= self.connect_wall_ms {
                into.record(clock::wall_ms().saturating_sub(stamp));
            }
        }
    }

    fn flush(&mut self) {
        if self.unflushed > 0 {
            self.stats.bytes.fetch_add(self.unflushed, Relaxed);
            self.unflushed = 0;
        }
    }
}

/// Play one stream until the run aborts this task or the connection ends.
async fn player(
    url: StreamUrl,
    addr: SocketAddr,
    index: usize,
    stats: Arc<PlayerStats>,
    shared: Arc<Shared>,
) {
    let mut w = Watch::new(&stats, &shared, index);
    let r = match url.scheme {
        Scheme::Rtmp => play_rtmp(&url, addr, &mut w).await,
        Scheme::HttpFlv => play_http_flv(&url, addr, &mut w).await,
    };
    w.flush();
    let e = match r {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let (state, what) = if w.playing {
        (DISCONNECTED, "disconnected")
    } else {
        (FAILED, "failed")
    };
    stats.state.store(state, Relaxed);
    let reason = format!("{what}: {}", e.reason());
    if shared.reasons.count(reason.clone()) {
        eprintln!("srs-bench: player {} {reason}", url.rtmp_stream());
    }
}

async fn play_rtmp(
    url: &StreamUrl,
    addr: SocketAddr,
    w: &mut Watch<'_>,
) -> Result<Infallible, ConnError> {
    let deadline = w.connect_start + w.shared.connect_timeout;
    let mut sock = connect(addr, deadline).await?;
    let mut session = ClientSession::new(ClientConfig::new(&url.tc_url(), &url.app));
    let name = url.rtmp_stream();
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let out = session.take_output();
        if !out.is_empty() {
            // Commands, then only acknowledgements and ping responses: a few bytes.
            tokio::time::timeout(w.shared.connect_timeout, sock.write_all(&out))
                .await
                .map_err(|_| ConnError::Timeout("write to the server"))??;
        }
        let n = if w.playing {
            w.pace().await;
            let n = sock.read(&mut buf).await?;
            w.read_done();
            n
        } else {
            timeout_at(deadline, sock.read(&mut buf))
                .await
                .map_err(|_| ConnError::Timeout("no NetStream.Play.Start"))??
        };
        if n == 0 {
            return Err(ConnError::Closed);
        }
        session.feed(&buf[..n])?;
        while let Some(ev) = session.poll_event() {
            match ev {
                ClientEvent::Media {
                    type_id, payload, ..
                } => w.media(type_id, payload.len(), &payload),
                ClientEvent::Connected => session.create_stream(),
                ClientEvent::StreamCreated { stream_id } => session.play(stream_id, &name),
                ClientEvent::ConnectFailed { code, .. } => return Err(ConnError::Refused(code)),
                ClientEvent::Status { level, code, .. } => {
                    if code == "NetStream.Play.Start" {
                        w.playing();
                    } else if level == "error" {
                        return Err(ConnError::Refused(code));
                    }
                }
                _ => {}
            }
        }
        w.flush();
    }
}

async fn play_http_flv(
    url: &StreamUrl,
    addr: SocketAddr,
    w: &mut Watch<'_>,
) -> Result<Infallible, ConnError> {
    let deadline = w.connect_start + w.shared.connect_timeout;
    let mut sock = connect(addr, deadline).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: srs-bench\r\nAccept: */*\r\n\r\n",
        url.http_path(),
        url.host
    );
    timeout_at(deadline, sock.write_all(request.as_bytes()))
        .await
        .map_err(|_| ConnError::Timeout("write the request"))??;
    let mut buf = vec![0u8; READ_BUFFER];
    let mut used = 0;
    let head = loop {
        let n = timeout_at(deadline, sock.read(&mut buf[used..]))
            .await
            .map_err(|_| ConnError::Timeout("no HTTP response"))??;
        if n == 0 {
            return Err(ConnError::Closed);
        }
        used += n;
        if let Some(h) = scan::parse_head(&buf[..used])? {
            break h;
        }
    };
    w.playing();
    let mut dechunk = head.chunked.then(Dechunker::new);
    let mut flv = FlvScan::new();
    let mut body = head.len..used;
    loop {
        let data = &buf[body];
        let mut tag = |t: scan::TagSeen<'_>| w.media(t.tag_type, t.size as usize, t.prefix);
        match dechunk.as_mut() {
            Some(d) => d.feed(data, |part| flv.feed(part, &mut tag))?,
            None => flv.feed(data, tag)?,
        }
        w.flush();
        w.pace().await;
        let n = sock.read(&mut buf).await?;
        w.read_done();
        if n == 0 {
            return Err(ConnError::Closed);
        }
        body = 0..n;
    }
}

/// The tasks of a run, so the end can abort them and read their counters.
#[derive(Debug, Default)]
struct Registry {
    players: Vec<Arc<PlayerStats>>,
    tasks: Vec<AbortHandle>,
}

/// Run `play` to the end (duration or signal) and return the final report.
pub async fn run(args: PlayArgs) -> Result<Report, BenchError> {
    let base = StreamUrl::parse(&args.url)?;
    let addr = resolve(&base.addr)?;
    let streams = args.streams.max(1);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        first_frame: Histogram::new(),
        lag: Histogram::new(),
        lag_data: Histogram::new(),
        reasons: Reasons::default(),
        connect_timeout: Duration::from_secs_f64(args.timeout),
        read_interval: (args.read_interval_ms > 0)
            .then(|| Duration::from_millis(args.read_interval_ms)),
    });
    let registry = Arc::new(Mutex::new(Registry::default()));
    let spawner = {
        let (shared, registry, players, ramp) =
            (shared.clone(), registry.clone(), args.players, args.ramp);
        tokio::spawn(async move {
            for i in 0..players {
                if ramp > 0.0 {
                    let at = shared.start + Duration::from_secs_f64(i as f64 / ramp);
                    tokio::time::sleep_until(at).await;
                }
                let stats = Arc::new(PlayerStats::new());
                let url = base.indexed(i % streams, streams);
                let task = tokio::spawn(player(url, addr, i, stats.clone(), shared.clone()));
                let mut r = registry.lock().unwrap_or_else(|e| e.into_inner());
                r.players.push(stats);
                r.tasks.push(task.abort_handle());
            }
        })
    };
    let reporter = {
        let (shared, registry) = (shared.clone(), registry.clone());
        tokio::spawn(async move {
            let mut ticker = Ticker::default();
            for k in 1u64.. {
                tokio::time::sleep_until(shared.start + Duration::from_secs(k)).await;
                let line = {
                    let r = registry.lock().unwrap_or_else(|e| e.into_inner());
                    ticker.tick(shared.now_ms(), &r.players)
                };
                println!("t={k}s {line}");
            }
        })
    };
    let stopped_by = stop_signal(Duration::from_secs_f64(args.duration)).await;
    spawner.abort();
    reporter.abort();
    let end_ms = shared.now_ms();
    let r = registry.lock().unwrap_or_else(|e| e.into_inner());
    for t in &r.tasks {
        t.abort();
    }
    Ok(summary(&args, &shared, &r.players, end_ms, stopped_by))
}

/// The once-a-second line: state counts and rates over the last interval.
#[derive(Debug, Default)]
struct Ticker {
    last_ms: u64,
    last_bytes: Vec<u64>,
    total: RateWindow,
}

impl Ticker {
    fn tick(&mut self, now_ms: u64, players: &[Arc<PlayerStats>]) -> String {
        let interval = now_ms.saturating_sub(self.last_ms);
        self.last_bytes.resize(players.len(), 0);
        let (mut connected, mut failed, mut disconnects, mut total_bytes) = (0, 0, 0, 0u64);
        let mut rates = Vec::with_capacity(players.len());
        for (p, last) in players.iter().zip(self.last_bytes.iter_mut()) {
            let bytes = p.bytes.load(Relaxed);
            let delta = bytes.saturating_sub(*last);
            *last = bytes;
            total_bytes += bytes;
            match p.state.load(Relaxed) {
                PLAYING => {
                    connected += 1;
                    // Only players that had the stream for the whole interval: one that got
                    // its first frame halfway would look starved.
                    if p.first_frame_at.load(Relaxed) <= self.last_ms {
                        rates.push(stats::kbps(delta, interval));
                    }
                }
                FAILED => failed += 1,
                DISCONNECTED => disconnects += 1,
                _ => {}
            }
        }
        let (min, median, max) = stats::min_median_max(&mut rates);
        let total = self.total.tick(now_ms, total_bytes);
        self.last_ms = now_ms;
        format!(
            "connected={connected} failed={failed} disconnects={disconnects} kbps_total={total} kbps_player min={min} median={median} max={max}"
        )
    }
}

/// The final report, as one JSON object.
fn summary(
    args: &PlayArgs,
    shared: &Shared,
    players: &[Arc<PlayerStats>],
    end_ms: u64,
    stopped_by: &str,
) -> Report {
    let mut connected = 0u64;
    let mut failed = 0u64;
    let mut disconnects = 0u64;
    let mut total_bytes = 0u64;
    // Per player: its average rate from its first frame to the end, or None when it was
    // playing long enough to be judged but never got a frame.
    let mut judged: Vec<Option<u64>> = Vec::new();
    for p in players {
        let bytes = p.bytes.load(Relaxed);
        total_bytes += bytes;
        match p.state.load(Relaxed) {
            PLAYING => connected += 1,
            DISCONNECTED => {
                connected += 1;
                disconnects += 1;
            }
            FAILED => failed += 1,
            _ => {}
        }
        let first = p.first_frame_at.load(Relaxed);
        let playing = p.playing_at.load(Relaxed);
        // A paced player's last interval may still sit unread in the kernel: its rate runs
        // to its last read, but never from further back than one interval (a player that
        // stopped receiving must still look starved).
        let end = match p.last_read_at.load(Relaxed) {
            NEVER => end_ms,
            last => last.max(end_ms.saturating_sub(args.read_interval_ms)),
        };
        if first != NEVER && end.saturating_sub(first) >= JUDGE_MIN_MS {
            judged.push(Some(stats::kbps(bytes, end - first)));
        } else if first == NEVER && playing != NEVER && end_ms - playing >= JUDGE_MIN_MS {
            judged.push(None);
        }
    }
    let probes = match shared.read_interval {
        None => players.len(),
        Some(_) => players.len().div_ceil(PROBE_EVERY),
    };
    let mut rates: Vec<u64> = judged.iter().flatten().copied().collect();
    rates.sort_unstable();
    let (lag, lag_source) = if shared.lag.count() > 0 {
        (&shared.lag, Some("video"))
    } else if shared.lag_data.count() > 0 {
        (&shared.lag_data, Some("data"))
    } else {
        (&shared.lag, None)
    };
    let (stream_kbps, source) = match args.stream_kbps {
        Some(k) => (Some(k), "given"),
        None => (stats::percentile_sorted(&rates, 50.0), "measured"),
    };
    let below = match stream_kbps {
        Some(k) => judged
            .iter()
            .filter(|r| !matches!(r, Some(r) if *r as f64 >= BELOW_RATIO * k as f64))
            .count(),
        // Nobody got a frame: everyone judged is starved.
        None => judged.len(),
    };
    Report::default()
        .field("mode", "play")
        .field("url", args.url.as_str())
        .field("players", args.players)
        .field("started", players.len())
        .field("connected", connected)
        .field("failed", failed)
        .field("disconnects", disconnects)
        .field("first_frame_ms", latency(&shared.first_frame))
        .field("lag_ms", latency(lag))
        .field("lag_source", lag_source)
        .field("lag_probes", probes)
        .field("read_interval_ms", args.read_interval_ms)
        .field("stream_kbps", stream_kbps)
        .field("stream_kbps_source", source)
        .field("below_90pct", below)
        .field("judged", judged.len())
        .field("kbps_total_avg", stats::kbps(total_bytes, end_ms))
        .field("duration_s", end_ms as f64 / 1000.0)
        .field("stopped_by", stopped_by)
        .field("errors", shared.reasons.to_json())
}

/// p50, p99, max and the sample count of a latency histogram (nulls when empty).
fn latency(h: &Histogram) -> serde_json::Value {
    json!({"p50": h.percentile(50.0), "p99": h.percentile(99.0), "max": h.max(), "samples": h.count()})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn player(bytes: u64, state: u8, first: u64, playing: u64) -> Arc<PlayerStats> {
        let p = PlayerStats::new();
        p.bytes.store(bytes, Relaxed);
        p.state.store(state, Relaxed);
        p.first_frame_at.store(first, Relaxed);
        p.playing_at.store(playing, Relaxed);
        Arc::new(p)
    }

    fn args(stream_kbps: Option<u64>) -> PlayArgs {
        PlayArgs {
            url: "rtmp://h/live/s".into(),
            players: 5,
            ramp: 0.0,
            duration: 10.0,
            streams: 1,
            stream_kbps,
            timeout: 10.0,
            threads: 1,
            read_interval_ms: 0,
            json_out: None,
        }
    }

    fn shared() -> Shared {
        Shared {
            start: Instant::now(),
            first_frame: Histogram::new(),
            lag: Histogram::new(),
            lag_data: Histogram::new(),
            reasons: Reasons::default(),
            connect_timeout: Duration::from_secs(1),
            read_interval: None,
        }
    }

    #[test]
    fn ninety_percent_rule() {
        // 500 kbps = 62_500 bytes/s; all judged over 10 s from t=0.
        let players = vec![
            player(625_000, PLAYING, 0, 0),        // 500 kbps
            player(612_500, PLAYING, 0, 0),        // 490
            player(437_500, PLAYING, 0, 0),        // 350: below
            player(125_000, DISCONNECTED, 0, 0),   // 100: dropped after 2 s, below
            player(0, PLAYING, NEVER, 0),          // never a frame: below
            player(10_000, PLAYING, 9_000, 9_000), // too recent to judge
            player(0, FAILED, NEVER, NEVER),
        ];
        let s = summary(&args(None), &shared(), &players, 10_000, "duration");
        assert_eq!(s["connected"], 6);
        assert_eq!(s["failed"], 1);
        assert_eq!(s["disconnects"], 1);
        assert_eq!(s["judged"], 5);
        // Measured: the median of 500, 490, 350, 100 (nearest rank) is 350, so only the
        // players far below the typical one count; a starved majority would hide itself,
        // which `--stream-kbps` (the rate the publisher sends) does not allow.
        assert_eq!(s["stream_kbps"], 350);
        assert_eq!(s["below_90pct"], 2);
        let s = summary(&args(Some(500)), &shared(), &players, 10_000, "duration");
        assert_eq!(s["stream_kbps_source"], "given");
        assert_eq!(s["below_90pct"], 3);
        assert!(s["lag_ms"]["p50"].is_null());
    }

    #[test]
    fn paced_players_are_judged_up_to_their_last_read() {
        let mut a = args(None);
        a.read_interval_ms = 200;
        let paced = |bytes, last_read| {
            let p = player(bytes, PLAYING, 0, 0);
            p.last_read_at.store(last_read, Relaxed);
            p
        };
        let players = vec![
            // 9.85 s of 500 kbps read by 9_850: exactly 500, not 492.
            paced(615_625, 9_850),
            // Stopped reading at 5 s: judged to 9_800, not to its last read.
            paced(312_500, 5_000),
            // A probe (never paced) is judged to the end.
            player(625_000, PLAYING, 0, 0),
        ];
        let s = summary(&a, &shared(), &players, 10_000, "duration");
        assert_eq!(s["stream_kbps"], 500);
        assert_eq!(s["below_90pct"], 1);
        assert_eq!(s["read_interval_ms"], 200);
    }

    #[test]
    fn per_second_line() {
        let players = vec![
            player(0, PLAYING, 0, 0),
            player(0, PLAYING, 0, 0),
            player(0, FAILED, NEVER, NEVER),
        ];
        let mut r = Ticker::default();
        let line = r.tick(1000, &players);
        assert_eq!(
            line,
            "connected=2 failed=1 disconnects=0 kbps_total=0 kbps_player min=0 median=0 max=0"
        );
        players[0].bytes.store(62_500, Relaxed);
        players[1].bytes.store(66_250, Relaxed);
        let late = player(10_000, PLAYING, 1500, 1400);
        let mut players = players;
        players.push(late);
        let line = r.tick(2000, &players);
        assert_eq!(
            line,
            "connected=3 failed=1 disconnects=0 kbps_total=1110 kbps_player min=500 median=500 max=530"
        );
    }
}
