//! Our own RTMP client over tokio, for tests that need to see or send exact messages
//! (timestamps, flags, status codes) — the protocol crate's `ClientSession` on a socket.

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use srs_protocol::session::{ClientConfig, ClientEvent, ClientSession};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Parts of `rtmp://host:port/app/stream`.
#[derive(Debug, Clone)]
pub struct RtmpUrl {
    /// `host:port`.
    pub addr: String,
    /// Application.
    pub app: String,
    /// Stream name (may carry `?query`).
    pub stream: String,
    /// `rtmp://host:port/app`.
    pub tc_url: String,
}

/// Split an RTMP URL: the last path segment is the stream, the rest the app.
pub fn parse_url(url: &str) -> Result<RtmpUrl> {
    let rest = url
        .strip_prefix("rtmp://")
        .ok_or_else(|| anyhow!("not rtmp://: {url}"))?;
    let (addr, path) = rest
        .split_once('/')
        .ok_or_else(|| anyhow!("no path: {url}"))?;
    let (app, stream) = path
        .rsplit_once('/')
        .ok_or_else(|| anyhow!("no stream: {url}"))?;
    Ok(RtmpUrl {
        addr: addr.to_string(),
        app: app.to_string(),
        stream: stream.to_string(),
        tc_url: format!("rtmp://{addr}/{app}"),
    })
}

/// An RTMP client connection.
pub struct RtmpClient {
    sock: TcpStream,
    session: ClientSession,
    buf: BytesMut,
    pending: VecDeque<ClientEvent>,
    /// The message stream we publish or play on.
    pub stream_id: u32,
    /// The URL we connected with.
    pub url: RtmpUrl,
}

/// Generous bound on any single step against a local server.
pub const STEP: Duration = Duration::from_secs(10);

impl RtmpClient {
    /// Connect (TCP, handshake, `connect` command) to `url`'s app.
    pub async fn connect(url: &str) -> Result<Self> {
        let u = parse_url(url)?;
        Self::connect_with(url, ClientConfig::new(&u.tc_url, &u.app)).await
    }

    /// Connect with explicit session settings.
    pub async fn connect_with(url: &str, config: ClientConfig) -> Result<Self> {
        let u = parse_url(url)?;
        let sock = timeout(STEP, TcpStream::connect(&u.addr))
            .await
            .context("tcp connect timed out")?
            .with_context(|| format!("tcp connect {}", u.addr))?;
        let mut c = RtmpClient {
            sock,
            session: ClientSession::new(config),
            buf: BytesMut::with_capacity(64 * 1024),
            pending: VecDeque::new(),
            stream_id: 0,
            url: u,
        };
        c.flush().await?;
        match c
            .wait(
                |e| {
                    matches!(
                        e,
                        ClientEvent::Connected | ClientEvent::ConnectFailed { .. }
                    )
                },
                STEP,
            )
            .await?
        {
            ClientEvent::Connected => Ok(c),
            ClientEvent::ConnectFailed { code, description } => {
                bail!("connect refused: {code}: {description}")
            }
            _ => unreachable!("filtered above"),
        }
    }

    /// Whether the server's handshake answer verified as complex (FP9).
    pub fn server_digest_verified(&self) -> bool {
        self.session.server_digest_verified()
    }

    /// The session, to queue messages directly.
    pub fn session(&mut self) -> &mut ClientSession {
        &mut self.session
    }

    /// Send whatever the session has queued.
    pub async fn flush(&mut self) -> Result<()> {
        let out = self.session.take_output();
        if !out.is_empty() {
            timeout(STEP, self.sock.write_all(&out))
                .await
                .context("write timed out")??;
        }
        Ok(())
    }

    /// The next event, waiting at most `limit`.
    pub async fn next_event(&mut self, limit: Duration) -> Result<ClientEvent> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(e);
            }
            if let Some(e) = self.session.poll_event() {
                return Ok(e);
            }
            self.flush().await?;
            let n = tokio::time::timeout_at(deadline, self.sock.read_buf(&mut self.buf))
                .await
                .map_err(|_| anyhow!("no event within {limit:?}"))??;
            if n == 0 {
                bail!("server closed the connection");
            }
            self.session.feed(&self.buf)?;
            self.buf.clear();
        }
    }

    /// Wait for the first event matching `pred`; others are kept for later `next_event`s
    /// only if `pred` never matches before the deadline (then this fails).
    pub async fn wait(
        &mut self,
        mut pred: impl FnMut(&ClientEvent) -> bool,
        limit: Duration,
    ) -> Result<ClientEvent> {
        let deadline = Instant::now() + limit;
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Ok(e) if pred(&e) => return Ok(e),
                Ok(e) => skipped.push(e),
                Err(err) => {
                    return Err(err.context(format!(
                        "waiting; saw {} other events: {:?}",
                        skipped.len(),
                        skipped.iter().take(8).collect::<Vec<_>>()
                    )))
                }
            }
        }
    }

    /// createStream, then wait for its id.
    pub async fn create_stream(&mut self) -> Result<u32> {
        self.session.create_stream();
        match self
            .wait(|e| matches!(e, ClientEvent::StreamCreated { .. }), STEP)
            .await?
        {
            ClientEvent::StreamCreated { stream_id } => {
                self.stream_id = stream_id;
                Ok(stream_id)
            }
            _ => unreachable!("filtered above"),
        }
    }

    /// Publish the URL's stream; Ok once `NetStream.Publish.Start` arrives, Err with the
    /// status code on refusal.
    pub async fn publish(&mut self) -> Result<()> {
        let sid = self.create_stream().await?;
        let name = self.url.stream.clone();
        self.session.publish(sid, &name);
        self.expect_status("NetStream.Publish.Start").await
    }

    /// Play the URL's stream; Ok once `NetStream.Play.Start` arrives.
    pub async fn play(&mut self) -> Result<()> {
        let sid = self.create_stream().await?;
        let name = self.url.stream.clone();
        self.session.play(sid, &name);
        self.expect_status("NetStream.Play.Start").await
    }

    /// Wait for an onStatus: Ok if its code is `code`, Err naming an error status.
    pub async fn expect_status(&mut self, code: &str) -> Result<()> {
        let e = self
            .wait(|e| matches!(e, ClientEvent::Status { code: c, level, .. } if c == code || level == "error"), STEP)
            .await?;
        match e {
            ClientEvent::Status { code: c, .. } if c == code => Ok(()),
            ClientEvent::Status {
                code: c,
                description,
                ..
            } => bail!("status {c}: {description}"),
            _ => unreachable!("filtered above"),
        }
    }

    /// Send one media message on our stream and flush.
    pub async fn send_media(&mut self, ty: u8, ts: u32, payload: &[u8]) -> Result<()> {
        let sid = self.stream_id;
        self.session.send_media(sid, ty, ts, payload);
        self.flush().await
    }

    /// The raw socket (for tests that misbehave on purpose).
    pub fn socket(&mut self) -> &mut TcpStream {
        &mut self.sock
    }
}

/// An AVC sequence header (SPS/PPS of a tiny stream): enough for the server's bookkeeping.
pub const AVC_SH: &[u8] = &[
    0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee,
    0x3c, 0x80,
];
/// An AAC sequence header.
pub const AAC_SH: &[u8] = &[0xaf, 0, 0x12, 0x10];

/// A video frame whose payload carries its frame counter (bytes 5..9).
pub fn counted_frame(key: bool, n: u32, size: usize) -> Vec<u8> {
    let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    v.extend_from_slice(&n.to_be_bytes());
    v.resize(size.max(9), 0xab);
    v
}

/// The counter of a frame built by [`counted_frame`] (None for other messages).
pub fn frame_counter(payload: &[u8]) -> Option<u32> {
    if payload.len() >= 9 && payload[1] == 1 && (payload[0] == 0x17 || payload[0] == 0x27) {
        Some(u32::from_be_bytes([
            payload[5], payload[6], payload[7], payload[8],
        ]))
    } else {
        None
    }
}

/// Publish counted frames (25 fps, keyframe every 25) until `stop` is set; returns how
/// many frames were sent.
pub async fn publish_counted(
    p: RtmpClient,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<u32> {
    publish_counted_progress(p, stop, Default::default()).await
}

/// [`publish_counted`], storing the number of frames sent so far in `sent`.
pub async fn publish_counted_progress(
    mut p: RtmpClient,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sent: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> Result<u32> {
    p.send_media(8, 0, AAC_SH).await?;
    p.send_media(9, 0, AVC_SH).await?;
    let mut n = 0u32;
    let start = tokio::time::Instant::now();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let ts = n * 40;
        p.send_media(9, ts, &counted_frame(n % 25 == 0, n, 300))
            .await?;
        p.send_media(8, ts, &[0xaf, 1, 0x21, 0x10]).await?;
        n += 1;
        sent.store(n, std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep_until(start + Duration::from_millis(40) * n).await;
    }
    Ok(n)
}

impl RtmpClient {
    /// Local address of our socket (to find this client in `srs-cli clients`).
    pub fn local_addr(&self) -> String {
        self.sock
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// Next counted video frame: (counter, timestamp, keyframe).
    pub async fn next_counted(&mut self, limit: Duration) -> Result<(u32, u32, bool)> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if let ClientEvent::Media {
                type_id: 9,
                timestamp,
                payload,
                ..
            } = self.next_event(left).await?
            {
                if let Some(n) = frame_counter(&payload) {
                    return Ok((n, timestamp, payload[0] >> 4 == 1));
                }
            }
        }
    }
}
