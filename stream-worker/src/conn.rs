//! One RTMP connection: drives a [`ServerSession`] over a TCP socket, admits the client
//! (vhost, refer), then serves a player from its stream's source, or passes a publisher on
//! to backsource ([`srs_backsource::publish`]) — in this process, or in the backsource
//! process by handing the socket over (see [`crate::handover`]).
//!
//! The task `select!`s over the socket and the stream feed. What a slow player misses is
//! decided by the source (whole GOPs are skipped, see `srs_backsource::source`), so nothing
//! here queues without bound.

use crate::refer;
use crate::server::WorkerContext;
use bytes::Bytes;
use bytes::BytesMut;
use srs_backsource::publish::{self, flush, reject, source_config, ConnStats, PublishRequest};
pub use srs_backsource::publish::{ConnError, SEND_TIMEOUT};
use srs_backsource::{PlayEvent, Player, StreamKey};
use srs_conf::{Config, Vhost};
use srs_protocol::message::UserControl;
use srs_protocol::request::StreamRequest;
use srs_protocol::session::{ServerConfig, ServerEvent, ServerSession};
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info};

/// About how many bytes a player takes per wake-up: one write must finish well within
/// [`SEND_TIMEOUT`] even on a slow link.
const PLAY_BATCH_BYTES: usize = 256 * 1024;

/// Initial read buffer of a connection. Small: a thousand idle or handshaking clients must
/// not cost 64 KiB each; `read_buf` grows it when needed.
const READ_BUFFER_START: usize = 4 * 1024;

/// Most messages a player takes from its source per wake-up, so that one player cannot
/// hold the source lock for long.
const PLAY_BATCH: usize = 128;

/// A player's state.
struct Playing {
    player: Player,
    stream_id: u32,
    paused: bool,
    name: String,
    unpublished: bool,
    data_started: bool,
    /// The session's outgoing chunk size (what the shared chunked messages were built for).
    chunk_size: u32,
    /// What to send next, in order: control messages from the session and media chunks
    /// shared with every other player of the stream. Reused between writes.
    out: Vec<Bytes>,
    /// Merged writes: the player is fed at most once per `mw_latency` (SRS), so that each
    /// wake-up sends many messages in one writev. Zero in low-latency mode.
    mw_latency: Duration,
    next_feed: Instant,
}

/// Resolve the vhost a request gets, refusing disabled or unknown ones.
fn resolve_vhost<'c>(config: &'c Config, name: &str) -> Result<&'c Vhost, String> {
    if let Some(v) = config.vhost_named(name) {
        if !v.enabled {
            return Err(format!("vhost {name} is disabled"));
        }
    }
    match config.vhost(name) {
        Some(v) if v.enabled => Ok(v),
        Some(v) => Err(format!("vhost {} is disabled", v.name)),
        None => Err(format!("no vhost {name} and no __defaultVhost__")),
    }
}

/// Serve one accepted connection until it ends.
pub async fn serve(
    mut socket: TcpStream,
    peer: String,
    stats: Arc<ConnStats>,
    ctx: Arc<WorkerContext>,
) -> Result<(), ConnError> {
    let config = ctx.config();
    let mut session = ServerSession::new(ServerConfig {
        out_chunk_size: config.chunk_size,
        ..Default::default()
    });
    let mut buf = BytesMut::with_capacity(READ_BUFFER_START);
    let mut playing: Option<Playing> = None;
    let mut request: Option<StreamRequest> = None;
    let mut page_url = String::new();
    // Until it plays, a client must get there within handshake_timeout.
    let mut deadline = Some(Instant::now() + config.handshake_timeout);

    loop {
        flush(&mut socket, &mut session, &stats).await?;
        if let Some(p) = playing.as_mut() {
            write_all_vectored(&mut socket, &mut p.out, &stats).await?;
        }
        let feeding = playing.as_ref().is_some_and(|p| !p.paused);
        tokio::select! {
            r = socket.read_buf(&mut buf) => {
                let n = r?;
                stats.add_in(n);
                if n == 0 {
                    debug!("client closed the connection");
                    return Ok(());
                }
                session.feed(&buf)?;
                buf.clear();
            }
            _ = async {
                if let Some(p) = playing.as_mut() {
                    tokio::time::sleep_until(p.next_feed).await;
                    p.player.changed().await
                }
            }, if feeding => {
                if let Some(p) = playing.as_mut() {
                    feed_player(&mut session, p);
                    p.next_feed = Instant::now() + p.mw_latency;
                }
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                return Err(ConnError::HandshakeTimeout(config.handshake_timeout));
            }
        }

        while let Some(ev) = session.poll_event()? {
            match ev {
                ServerEvent::Connect(c) => {
                    let req = match StreamRequest::from_connect(&c.tc_url, Some(&c.app)) {
                        Ok(r) => r,
                        Err(e) => {
                            session.reject_connect(&format!("bad tcUrl: {e}"));
                            return reject(
                                &mut socket,
                                &mut session,
                                format!("bad tcUrl {:?}: {e}", c.tc_url),
                            )
                            .await;
                        }
                    };
                    let v = match resolve_vhost(&config, &req.vhost) {
                        Ok(v) => v,
                        Err(e) => {
                            session.reject_connect(&e);
                            return reject(&mut socket, &mut session, e).await;
                        }
                    };
                    if v.refer.enabled && !refer::allowed(&c.page_url, &v.refer.all) {
                        let e = format!("refer check failed for pageUrl {:?}", c.page_url);
                        session.reject_connect(&e);
                        return reject(&mut socket, &mut session, e).await;
                    }
                    info!(tc_url = %c.tc_url, vhost = %v.name, app = %req.app, flash_ver = %c.flash_ver,
                        page_url = %c.page_url, handshake = ?session.handshake_kind(), "connect");
                    session.accept_connect();
                    page_url = c.page_url;
                    request = Some(req);
                }
                ServerEvent::Publish {
                    stream_id,
                    name,
                    publish_type,
                } => {
                    if playing.is_some() {
                        return Err(ConnError::Rejected("publish while playing".into()));
                    }
                    let (key, v) = match admit(&config, request.as_ref(), &page_url, &name, true) {
                        Ok(x) => x,
                        Err(e) => {
                            session.reject_publish(stream_id, "NetStream.Publish.Rejected", &e);
                            return reject(&mut socket, &mut session, e).await;
                        }
                    };
                    // Replies to releaseStream/FCPublish go out before the connection moves.
                    flush(&mut socket, &mut session, &stats).await?;
                    let req = PublishRequest {
                        cid: crate::server::current_cid(),
                        peer: peer.clone(),
                        stream_id,
                        name,
                        publish_type,
                        key,
                        tc_url: request
                            .as_ref()
                            .map(|r| r.tc_url.clone())
                            .unwrap_or_default(),
                    };
                    ctx.describe(&req.cid, "publish", &req.key.to_string());
                    return match ctx.handover.as_ref() {
                        Some(h) => h.hand_over(socket, session, req).await,
                        None => {
                            publish::serve(socket, session, req, &v, &ctx.hub, &stats, None).await
                        }
                    };
                }
                ServerEvent::Play {
                    stream_id,
                    name,
                    start,
                    duration,
                    reset,
                } => {
                    if playing.is_some() {
                        return Err(ConnError::Rejected("play while already playing".into()));
                    }
                    let (key, v) = match admit(&config, request.as_ref(), &page_url, &name, false) {
                        Ok(x) => x,
                        Err(e) => {
                            session.reject_play(stream_id, "NetStream.Play.Rejected", &e);
                            return reject(&mut socket, &mut session, e).await;
                        }
                    };
                    info!(stream = %key, start, duration, reset, "play start");
                    ctx.describe(&crate::server::current_cid(), "play", &key.to_string());
                    let player = ctx.play(&key, source_config(&v));
                    session.accept_play(stream_id, &name, reset);
                    if v.tcp_nodelay {
                        socket.set_nodelay(true)?;
                    }
                    playing = Some(Playing {
                        player,
                        stream_id,
                        paused: false,
                        name,
                        unpublished: false,
                        data_started: false,
                        chunk_size: session.out_chunk_size(),
                        out: Vec::new(),
                        mw_latency: if v.min_latency {
                            Duration::ZERO
                        } else {
                            v.play.mw_latency
                        },
                        next_feed: Instant::now(),
                    });
                    deadline = None;
                }
                ServerEvent::Pause { pause, .. } => {
                    if let Some(p) = playing.as_mut() {
                        info!(pause, "pause");
                        if !pause && p.paused {
                            p.player.seek_live();
                        }
                        p.paused = pause;
                    }
                }
                ServerEvent::StopPlay { stream_id } => {
                    if let Some(p) = playing.as_ref().filter(|p| p.stream_id == stream_id) {
                        info!(stream = %p.player.key(), dropped = p.player.dropped(), "stop playing");
                        playing = None;
                        deadline = Some(Instant::now() + config.handshake_timeout);
                    }
                }
                // Media or unpublish without a publish: nothing to do.
                ServerEvent::Audio { .. }
                | ServerEvent::Video { .. }
                | ServerEvent::Data { .. }
                | ServerEvent::Unpublish { .. } => {}
            }
        }
    }
}

/// Move what the source has for a player into its session.
fn feed_player(session: &mut ServerSession, p: &mut Playing) {
    // Session output (status messages) and media chunks go into one ordered list.
    let take = |session: &mut ServerSession, out: &mut Vec<Bytes>| {
        if session.has_output() {
            out.push(session.take_output());
        }
    };
    take(session, &mut p.out);
    for ev in p.player.poll(PLAY_BATCH, PLAY_BATCH_BYTES) {
        match ev {
            PlayEvent::Published => {
                if p.unpublished {
                    session.notify_publish(p.stream_id, &p.name);
                    session.send_user_control(UserControl::StreamBegin(p.stream_id));
                    p.unpublished = false;
                }
                info!(stream = %p.player.key(), "publisher is on, playing");
            }
            PlayEvent::Unpublished => {
                session.notify_unpublish(p.stream_id, &p.name);
                session.send_user_control(UserControl::StreamEof(p.stream_id));
                p.unpublished = true;
                info!(stream = %p.player.key(), "publisher left, waiting for a republish");
            }
            PlayEvent::Media(msgs) => {
                if !p.data_started {
                    if let Some(first) = msgs.first() {
                        session.send_play_data_start(p.stream_id, first.timestamp);
                        p.data_started = true;
                    }
                }
                take(session, &mut p.out);
                // One copy of each message's chunks for all players: only a refcount here.
                p.out
                    .extend(msgs.iter().map(|m| m.chunked(p.chunk_size, p.stream_id)));
            }
        }
        take(session, &mut p.out);
    }
}

/// Most buffers handed to one writev (Linux allows 1024).
const MAX_IOV: usize = 256;

/// Write every buffer in `out` (in order) with as few writev calls as the socket allows,
/// bounded by [`SEND_TIMEOUT`]; `out` is left empty for reuse.
async fn write_all_vectored(
    socket: &mut TcpStream,
    out: &mut Vec<Bytes>,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    let deadline = Instant::now() + SEND_TIMEOUT;
    let mut first = 0;
    while first < out.len() {
        let slices: Vec<IoSlice<'_>> = out[first..]
            .iter()
            .take(MAX_IOV)
            .map(|b| IoSlice::new(b))
            .collect();
        let n = match tokio::time::timeout_at(deadline, socket.write_vectored(&slices)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::SendTimeout(SEND_TIMEOUT)),
        };
        drop(slices);
        if n == 0 {
            return Err(ConnError::Io(std::io::ErrorKind::WriteZero.into()));
        }
        stats.add_out(n);
        // Drop what was written: whole buffers, then the front of a partial one.
        let mut left = n;
        while left > 0 {
            let len = out[first].len();
            if left >= len {
                left -= len;
                first += 1;
            } else {
                out[first] = out[first].slice(left..);
                left = 0;
            }
        }
    }
    out.clear();
    Ok(())
}

/// Work out the stream key for a publish/play and check vhost and refer again (the stream
/// name may carry its own `?vhost=`).
fn admit(
    config: &Config,
    request: Option<&StreamRequest>,
    page_url: &str,
    name: &str,
    publish: bool,
) -> Result<(StreamKey, Vhost), String> {
    let mut req = request
        .cloned()
        .ok_or_else(|| "publish/play before connect".to_string())?;
    req.set_stream(name);
    if req.stream.is_empty() {
        return Err("empty stream name".into());
    }
    let v = resolve_vhost(config, &req.vhost)?;
    // The page URL was checked against `all` at connect; publish and play have lists of
    // their own.
    let list = if publish {
        &v.refer.publish
    } else {
        &v.refer.play
    };
    if v.refer.enabled && !refer::allowed(page_url, list) {
        return Err(format!("refer check failed for pageUrl {page_url:?}"));
    }
    Ok((
        StreamKey {
            vhost: v.name.clone(),
            app: req.app.clone(),
            stream: req.stream.clone(),
        },
        v.clone(),
    ))
}
