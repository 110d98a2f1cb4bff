//! SRS's bandwidth check (`vhost ... { bandcheck { enabled on; key ...; interval 30;
//! limit_kbps 4000; } }`): a client that connects with `key=KEY` in its tcUrl gets, on
//! that connection and with no createStream, SRS's exchange of AMF0 calls:
//!
//! 1. `onSrsBandCheckStartPlayBytes` → the client answers `...StartingPlayBytes`;
//! 2. `onSrsBandCheckPlaying` for `duration_ms`, at most `limit_kbps`;
//! 3. `onSrsBandCheckStopPlayBytes` → `...StoppedPlayBytes`;
//! 4. `onSrsBandCheckStartPublishBytes` → `...StartingPublishBytes`;
//! 5. the client sends `onSrsBandCheckPublishing` for `duration_ms` (read at most at
//!    `limit_kbps`);
//! 6. `onSrsBandCheckStopPublishBytes` → `...StoppedPublishBytes`;
//! 7. `onSrsBandCheckFinished` with `start_time`, `end_time`, `play_kbps`, `publish_kbps`,
//!    `play_bytes`, `publish_bytes`, `play_time`, `publish_time`;
//! 8. the client answers `finalClientPacket`, and the server closes.
//!
//! The figures are measured: the bytes that went through the connection over the time it
//! took, in kbps.

use srs_conf::Bandcheck;
use srs_live::conn::{flush, ConnError, ConnStats};
use srs_protocol::amf0::Amf0Value;
use srs_protocol::session::{ServerEvent, ServerSession};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tracing::info;

/// How long each half of the check samples, as SRS (`duration_ms` 3000).
pub const SAMPLE: Duration = Duration::from_secs(3);
/// How long the client has to answer each step.
const ANSWER: Duration = Duration::from_secs(10);
/// Bytes of random-looking text in each `onSrsBandCheckPlaying`.
const PLAYING_BYTES: usize = 4096;

/// When each client (by address) last started a check, in this process.
fn last_checks() -> &'static Mutex<HashMap<IpAddr, Instant>> {
    static M: std::sync::OnceLock<Mutex<HashMap<IpAddr, Instant>>> = std::sync::OnceLock::new();
    M.get_or_init(Mutex::default)
}

/// Whether `tc_url` may check now: its key, and no check of the same client within the
/// interval. Err is why not (the connect is refused).
pub fn admit(b: &Bandcheck, tc_url: &str, peer: &str) -> Result<(), String> {
    if !tc_url.contains(&format!("key={}", b.key)) {
        return Err("bandcheck: wrong or missing key".into());
    }
    let ip = peer
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| peer.parse::<IpAddr>())
        .map_err(|_| format!("bandcheck: unknown client address {peer:?}"))?;
    let mut last = last_checks().lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    last.retain(|_, t| now.duration_since(*t) < b.interval.max(Duration::from_secs(1)));
    if let Some(t) = last.get(&ip) {
        return Err(format!(
            "bandcheck: {ip} checked {} s ago, the interval is {} s",
            now.duration_since(*t).as_secs(),
            b.interval.as_secs()
        ));
    }
    last.insert(ip, now);
    Ok(())
}

fn ms_since_epoch() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64)
}

/// Wait until `bytes` sent or read since `since` are within `limit_kbps`.
async fn limit(bytes: u64, since: Instant, limit_kbps: u32) {
    let due = Duration::from_millis(bytes * 8 / u64::from(limit_kbps.max(1)));
    if let Some(wait) = due.checked_sub(since.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}

fn obj(props: &[(&str, f64)]) -> Amf0Value {
    Amf0Value::Object(
        props
            .iter()
            .map(|(k, v)| (k.to_string(), Amf0Value::Number(*v)))
            .collect(),
    )
}

/// Read until the client's call `name` (other calls, and the publishing data, are read and
/// dropped); bounded by [`ANSWER`].
async fn expect(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    stats: &ConnStats,
    name: &str,
) -> Result<(), ConnError> {
    let deadline = tokio::time::Instant::now() + ANSWER;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(ev) = session.poll_event()? {
            if let ServerEvent::Call { name: n, .. } = ev {
                if n == name {
                    return Ok(());
                }
            }
        }
        flush(socket, session, stats).await?;
        let n = match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::Rejected(format!("bandcheck: no {name} in time"))),
        };
        if n == 0 {
            return Err(ConnError::Rejected(format!(
                "bandcheck: closed before {name}"
            )));
        }
        stats.add_in(n);
        session.feed(&buf[..n])?;
    }
}

/// The figures of one half.
struct Sample {
    bytes: u64,
    ms: u64,
}

impl Sample {
    fn kbps(&self) -> u64 {
        self.bytes * 8 / self.ms.max(1)
    }

    /// The data of a `...StopPlayBytes` / `...StopPublishBytes` call.
    fn stopped(&self, duration_ms: f64) -> Amf0Value {
        obj(&[
            ("duration_ms", duration_ms),
            ("interval_ms", 0.0),
            ("duration_delta", self.ms as f64),
            ("bytes_delta", self.bytes as f64),
        ])
    }
}

/// Run the check on an accepted connection, then let it close.
pub async fn run(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    b: &Bandcheck,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    let duration_ms = SAMPLE.as_millis() as f64;
    let start_time = ms_since_epoch();
    flush(socket, session, stats).await?;

    // Play: the server sends.
    session.send_call(
        "onSrsBandCheckStartPlayBytes",
        obj(&[("duration_ms", duration_ms), ("interval_ms", 0.0)]),
    );
    expect(socket, session, stats, "onSrsBandCheckStartingPlayBytes").await?;
    let t0 = Instant::now();
    let sent0 = stats.bytes_out();
    let text: String = (0..PLAYING_BYTES)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    while t0.elapsed() < SAMPLE {
        session.send_call(
            "onSrsBandCheckPlaying",
            Amf0Value::Object(vec![("data".into(), Amf0Value::string(text.as_str()))]),
        );
        flush(socket, session, stats).await?;
        limit(stats.bytes_out() - sent0, t0, b.limit_kbps).await;
    }
    let play = Sample {
        bytes: stats.bytes_out() - sent0,
        ms: t0.elapsed().as_millis() as u64,
    };
    session.send_call("onSrsBandCheckStopPlayBytes", play.stopped(duration_ms));
    expect(socket, session, stats, "onSrsBandCheckStoppedPlayBytes").await?;

    // Publish: the client sends; read at most at the limit.
    session.send_call(
        "onSrsBandCheckStartPublishBytes",
        obj(&[("duration_ms", duration_ms), ("interval_ms", 0.0)]),
    );
    expect(socket, session, stats, "onSrsBandCheckStartingPublishBytes").await?;
    let t1 = Instant::now();
    let recv0 = stats.bytes_in();
    let mut buf = vec![0u8; 16 * 1024];
    while t1.elapsed() < SAMPLE {
        let left = SAMPLE.saturating_sub(t1.elapsed());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(r) => {
                let n = r?;
                if n == 0 {
                    return Err(ConnError::Rejected(
                        "bandcheck: closed while publishing".into(),
                    ));
                }
                stats.add_in(n);
                session.feed(&buf[..n])?;
                while session.poll_event()?.is_some() {}
                flush(socket, session, stats).await?;
            }
            Err(_) => break,
        }
        limit(stats.bytes_in() - recv0, t1, b.limit_kbps).await;
    }
    let publish = Sample {
        bytes: stats.bytes_in() - recv0,
        ms: t1.elapsed().as_millis() as u64,
    };
    session.send_call(
        "onSrsBandCheckStopPublishBytes",
        publish.stopped(duration_ms),
    );
    expect(socket, session, stats, "onSrsBandCheckStoppedPublishBytes").await?;

    let end_time = ms_since_epoch();
    session.send_call(
        "onSrsBandCheckFinished",
        obj(&[
            ("start_time", start_time),
            ("end_time", end_time),
            ("play_kbps", play.kbps() as f64),
            ("publish_kbps", publish.kbps() as f64),
            ("play_bytes", play.bytes as f64),
            ("publish_bytes", publish.bytes as f64),
            ("play_time", play.ms as f64),
            ("publish_time", publish.ms as f64),
        ]),
    );
    expect(socket, session, stats, "finalClientPacket").await?;
    info!(
        play_kbps = play.kbps(),
        publish_kbps = publish.kbps(),
        play_bytes = play.bytes,
        publish_bytes = publish.bytes,
        limit_kbps = b.limit_kbps,
        "bandcheck done"
    );
    Ok(())
}
