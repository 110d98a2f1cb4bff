//! One RTMP connection: drives a [`ServerSession`] over a TCP socket, admits the client
//! (vhost, refer, one publisher per stream), then feeds a publisher's media into its source
//! or a player's source into its socket.
//!
//! The task `select!`s over the socket and the stream feed. What a slow player misses is
//! decided by the source (whole GOPs are skipped, see `srs_backsource::source`), so nothing
//! here queues without bound.

use crate::refer;
use crate::server::WorkerContext;
use bytes::BytesMut;
use srs_backsource::{PlayEvent, Player, PublishError, Publisher, SourceConfig, StreamKey};
use srs_conf::{Config, Vhost};
use srs_protocol::message::UserControl;
use srs_protocol::request::StreamRequest;
use srs_protocol::session::{ServerConfig, ServerEvent, ServerSession, SessionError};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tracing::{debug, info};

/// How long one write to a client may block before the client is dropped (SRS's
/// SRS_CONSTS_RTMP_TIMEOUT_US). A player whose socket does not drain for this long is dead
/// or hopelessly slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// About how many bytes a player takes per wake-up: one write must finish well within
/// [`SEND_TIMEOUT`] even on a slow link.
const PLAY_BATCH_BYTES: usize = 256 * 1024;

/// Initial read buffer of a connection.
const READ_BUFFER_START: usize = 4 * 1024;

/// Read buffer of a publishing connection.
const PUBLISH_READ_BUFFER: usize = 64 * 1024;

/// Most messages a player takes from its source per wake-up, so that one player cannot
/// hold the source lock for long.
const PLAY_BATCH: usize = 128;

/// Why a connection ended (all are logged with the connection id).
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// Reading from or writing to the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The RTMP session broke (bad handshake, chunk, AMF0, command order).
    #[error("{0}")]
    Session(#[from] SessionError),
    /// The client did not finish the handshake and commands in time.
    #[error("no publish or play within {0:?} of connecting")]
    HandshakeTimeout(Duration),
    /// A publisher sent nothing for too long.
    #[error("publisher sent no media for {0:?}")]
    PublishTimeout(Duration),
    /// A write did not complete within [`SEND_TIMEOUT`].
    #[error("send timed out after {0:?}: client not reading")]
    SendTimeout(Duration),
    /// We refused the client (vhost, refer, busy stream); it was told why.
    #[error("rejected: {0}")]
    Rejected(String),
}

enum Role {
    /// Connected or still negotiating.
    Idle,
    Publishing {
        publisher: Publisher,
        stream_id: u32,
        got_media: bool,
    },
    Playing {
        player: Player,
        stream_id: u32,
        paused: bool,
        name: String,
        unpublished: bool,
        data_started: bool,
    },
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

fn source_config(v: &Vhost) -> SourceConfig {
    SourceConfig {
        gop_cache: v.play.gop_cache,
        queue_length: v.play.queue_length,
    }
}

/// Serve one accepted connection until it ends.
pub async fn serve(mut socket: TcpStream, ctx: Arc<WorkerContext>) -> Result<(), ConnError> {
    let config = ctx.config();
    let mut session = ServerSession::new(ServerConfig {
        out_chunk_size: config.chunk_size,
        ..Default::default()
    });
    // Small at first: a thousand idle or handshaking clients must not cost 64 KiB each.
    // `read_buf` grows it when a publisher sends more.
    let mut buf = BytesMut::with_capacity(READ_BUFFER_START);
    let mut role = Role::Idle;
    let mut request: Option<StreamRequest> = None;
    let mut page_url = String::new();
    let mut vhost: Option<Vhost> = None;
    let mut handshake_deadline = Instant::now() + config.handshake_timeout;
    let mut admitted = false;
    let mut last_media = Instant::now();

    loop {
        // Flush whatever the session produced, with a bound on how long a write may block.
        if session.has_output() {
            let out = session.take_output();
            match timeout(SEND_TIMEOUT, socket.write_all(&out)).await {
                Ok(r) => r?,
                Err(_) => return Err(ConnError::SendTimeout(SEND_TIMEOUT)),
            }
        }
        let deadline = match &role {
            _ if !admitted => Some(handshake_deadline),
            Role::Publishing { got_media, .. } => {
                let v = vhost
                    .as_ref()
                    .map(|v| v.publish.clone())
                    .unwrap_or_default();
                Some(
                    last_media
                        + if *got_media {
                            v.normal_timeout
                        } else {
                            v.firstpkt_timeout
                        },
                )
            }
            _ => None,
        };
        let playing = matches!(role, Role::Playing { paused: false, .. });
        tokio::select! {
            r = socket.read_buf(&mut buf) => {
                if r? == 0 {
                    debug!("client closed the connection");
                    return Ok(());
                }
                session.feed(&buf)?;
                buf.clear();
            }
            _ = async {
                if let Role::Playing { player, .. } = &mut role { player.changed().await }
            }, if playing => {
                if let Role::Playing { player, stream_id, name, unpublished, data_started, .. } = &mut role {
                    for ev in player.poll(PLAY_BATCH, PLAY_BATCH_BYTES) {
                        match ev {
                            PlayEvent::Published => {
                                if *unpublished {
                                    session.notify_publish(*stream_id, name);
                                    session.send_user_control(UserControl::StreamBegin(*stream_id));
                                    *unpublished = false;
                                }
                                info!(stream = %player.key(), "publisher is on, playing");
                            }
                            PlayEvent::Unpublished => {
                                session.notify_unpublish(*stream_id, name);
                                session.send_user_control(UserControl::StreamEof(*stream_id));
                                *unpublished = true;
                                info!(stream = %player.key(), "publisher left, waiting for a republish");
                            }
                            PlayEvent::Media(msgs) => {
                                if !*data_started {
                                    if let Some(first) = msgs.first() {
                                        session.send_play_data_start(*stream_id, first.timestamp);
                                        *data_started = true;
                                    }
                                }
                                for m in msgs {
                                    session.send_media(*stream_id, m.type_id, m.timestamp, &m.payload);
                                }
                            }
                        }
                    }
                }
            }
            _ = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                return Err(match role {
                    Role::Publishing { got_media, .. } => {
                        let v = vhost.as_ref().map(|v| v.publish.clone()).unwrap_or_default();
                        ConnError::PublishTimeout(if got_media { v.normal_timeout } else { v.firstpkt_timeout })
                    }
                    _ => ConnError::HandshakeTimeout(config.handshake_timeout),
                });
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
                        Ok(v) => v.clone(),
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
                    vhost = Some(v);
                }
                ServerEvent::Publish {
                    stream_id,
                    name,
                    publish_type,
                } => {
                    if !matches!(role, Role::Idle) {
                        return Err(ConnError::Rejected(
                            "publish while already publishing or playing".into(),
                        ));
                    }
                    let (key, v) = match admit(&config, request.as_ref(), &page_url, &name, true) {
                        Ok(x) => x,
                        Err(e) => {
                            session.reject_publish(stream_id, "NetStream.Publish.Rejected", &e);
                            return reject(&mut socket, &mut session, e).await;
                        }
                    };
                    match ctx.hub.publish(&key, &ctx_cid(), source_config(&v)) {
                        Ok(publisher) => {
                            info!(stream = %key, publish_type = %publish_type, "publish start");
                            session.accept_publish(stream_id, &name);
                            role = Role::Publishing {
                                publisher,
                                stream_id,
                                got_media: false,
                            };
                            // A publisher streams megabits: read in large gulps.
                            buf.reserve(PUBLISH_READ_BUFFER);
                            last_media = Instant::now();
                            admitted = true;
                            vhost = Some(v);
                        }
                        Err(e @ PublishError::Busy(..)) => {
                            session.reject_publish(
                                stream_id,
                                "NetStream.Publish.BadName",
                                "Stream already publishing",
                            );
                            return reject(&mut socket, &mut session, e.to_string()).await;
                        }
                    }
                }
                ServerEvent::Play {
                    stream_id,
                    name,
                    start,
                    duration,
                    reset,
                } => {
                    if !matches!(role, Role::Idle) {
                        return Err(ConnError::Rejected(
                            "play while already publishing or playing".into(),
                        ));
                    }
                    let (key, v) = match admit(&config, request.as_ref(), &page_url, &name, false) {
                        Ok(x) => x,
                        Err(e) => {
                            session.reject_play(stream_id, "NetStream.Play.Rejected", &e);
                            return reject(&mut socket, &mut session, e).await;
                        }
                    };
                    info!(stream = %key, start, duration, reset, "play start");
                    let player = ctx.hub.play(&key, source_config(&v));
                    session.accept_play(stream_id, &name, reset);
                    role = Role::Playing {
                        player,
                        stream_id,
                        paused: false,
                        name,
                        unpublished: false,
                        data_started: false,
                    };
                    admitted = true;
                    vhost = Some(v);
                }
                ServerEvent::Audio {
                    timestamp, payload, ..
                } => on_media(&mut role, &mut last_media, 8, timestamp, payload),
                ServerEvent::Video {
                    timestamp, payload, ..
                } => on_media(&mut role, &mut last_media, 9, timestamp, payload),
                ServerEvent::Data {
                    timestamp, payload, ..
                } => on_media(&mut role, &mut last_media, 18, timestamp, payload),
                ServerEvent::Pause { pause, .. } => {
                    if let Role::Playing { player, paused, .. } = &mut role {
                        info!(pause, "pause");
                        if !pause && *paused {
                            player.seek_live();
                        }
                        *paused = pause;
                    }
                }
                ServerEvent::Unpublish { stream_id: sid } => {
                    match &role {
                        Role::Publishing {
                            publisher,
                            stream_id,
                            ..
                        } if *stream_id == sid => {
                            info!(stream = %publisher.key(), "unpublish");
                        }
                        _ => continue,
                    }
                    role = Role::Idle;
                    admitted = false;
                    handshake_deadline = Instant::now() + config.handshake_timeout;
                }
                ServerEvent::StopPlay { stream_id: sid } => {
                    match &role {
                        Role::Playing {
                            player, stream_id, ..
                        } if *stream_id == sid => {
                            info!(stream = %player.key(), dropped = player.dropped(), "stop playing");
                        }
                        _ => continue,
                    }
                    role = Role::Idle;
                    admitted = false;
                    handshake_deadline = Instant::now() + config.handshake_timeout;
                }
            }
        }
    }
}

fn on_media(role: &mut Role, last_media: &mut Instant, ty: u8, ts: u32, payload: bytes::Bytes) {
    if let Role::Publishing {
        publisher,
        got_media,
        ..
    } = role
    {
        publisher.push(ty, ts, payload);
        *got_media = true;
        *last_media = Instant::now();
    }
}

/// The connection id of the current task's span, for the source's bookkeeping.
fn ctx_cid() -> String {
    crate::server::CID
        .try_with(|c| c.clone())
        .unwrap_or_default()
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

/// Flush a rejection to the client, then end the connection with an error for the log.
async fn reject(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    why: String,
) -> Result<(), ConnError> {
    let out = session.take_output();
    // Best effort: the client may already be gone.
    let _ = timeout(Duration::from_secs(2), socket.write_all(&out)).await;
    let _ = timeout(Duration::from_secs(2), socket.flush()).await;
    Err(ConnError::Rejected(why))
}
