//! A publishing connection, from the moment its `publish` command is known: admission (one
//! publisher per stream), then reading media into the stream's source until the encoder
//! unpublishes, disconnects or goes quiet.
//!
//! The stream worker that accepted the connection either calls [`serve`] itself (one
//! process) or hands the socket and the session state over to the backsource process, which
//! calls [`serve`] there (DESIGN.md): the encoder does not notice the difference.

use crate::{Hub, PublishError, SourceConfig, StreamKey};
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use srs_conf::Vhost;
use srs_ipc::control::{AudioInfo, VideoInfo};
use srs_protocol::flv;
use srs_protocol::message::type_id;
use srs_protocol::session::{ServerEvent, ServerSession, SessionError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tracing::info;

/// How long one write to a client may block before the client is dropped (SRS's
/// SRS_CONSTS_RTMP_TIMEOUT_US). A peer whose socket does not drain for this long is dead
/// or hopelessly slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Read buffer of a publishing connection: an encoder streams megabits, read in large gulps.
const PUBLISH_READ_BUFFER: usize = 64 * 1024;

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
    /// The connection could not be handed to the backsource process.
    #[error("handover to backsource failed: {0}")]
    Handover(String),
}

/// The `publish` a connection asked for, resolved by the stream worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRequest {
    /// Connection id, kept across the handover so logs follow the client.
    pub cid: String,
    /// Peer address, for logs.
    pub peer: String,
    /// Message stream the client publishes on.
    pub stream_id: u32,
    /// Stream name as the client sent it (with its query).
    pub name: String,
    /// `live`, `record` or `append`.
    pub publish_type: String,
    /// The stream.
    pub key: StreamKey,
    /// tcUrl the client connected with.
    #[serde(default)]
    pub tc_url: String,
}

/// What a publishing connection reports about its stream (for the HTTP API).
#[derive(Debug, Default)]
pub struct PublishInfo {
    /// Video frames received (sequence headers not counted).
    pub frames: AtomicU64,
    /// Video codec details, from the last sequence header.
    pub video: Mutex<Option<VideoInfo>>,
    /// Audio codec details, from the last sequence header.
    pub audio: Mutex<Option<AudioInfo>>,
}

/// Codec details of a video sequence header, as SRS reports them.
pub fn video_info(body: &[u8]) -> VideoInfo {
    use srs_protocol::codec::avc::AvcDecoderConfig;
    let enhanced = body.first().is_some_and(|b| b & 0x80 != 0);
    match flv::video_codec(body) {
        Some(flv::codec_id::AVC) if !enhanced => {
            // Body: frame type/codec, AVCPacketType, composition time (3), then the record.
            let mut v = VideoInfo {
                codec: "H264".into(),
                ..Default::default()
            };
            if let Some(rec) = body.get(5..).and_then(|r| AvcDecoderConfig::parse(r).ok()) {
                if let Ok(sps) = rec.parse_sps() {
                    v.profile = sps.profile_name().into();
                    v.level = sps.level_name().into();
                    v.width = sps.width;
                    v.height = sps.height;
                }
            }
            v
        }
        _ if enhanced => VideoInfo {
            codec: "H265".into(),
            ..Default::default()
        },
        Some(flv::codec_id::HEVC) => VideoInfo {
            codec: "H265".into(),
            ..Default::default()
        },
        _ => VideoInfo {
            codec: "Other".into(),
            ..Default::default()
        },
    }
}

/// Codec details of an audio sequence header, as SRS reports them.
pub fn audio_info(body: &[u8]) -> AudioInfo {
    use srs_protocol::codec::aac::AudioSpecificConfig;
    let codec = match flv::audio_codec(body) {
        Some(flv::sound_format::AAC) => "AAC",
        Some(flv::sound_format::MP3) => "MP3",
        Some(flv::sound_format::OPUS) => "Opus",
        _ => "Other",
    };
    let mut a = AudioInfo {
        codec: codec.into(),
        ..Default::default()
    };
    if codec == "AAC" {
        if let Some(asc) = body
            .get(2..)
            .and_then(|c| AudioSpecificConfig::parse(c).ok())
        {
            a.sample_rate = asc.extension_sample_rate.unwrap_or(asc.sample_rate);
            a.channel = asc.channels() as u32;
            a.profile = asc.profile_name().into();
        }
    }
    a
}

/// Bytes a connection received and sent, shared with whoever reports on it.
#[derive(Debug, Default)]
pub struct ConnStats {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl ConnStats {
    /// Bytes received.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in.load(Ordering::Relaxed)
    }

    /// Bytes sent.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out.load(Ordering::Relaxed)
    }

    /// Count bytes received.
    pub fn add_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Count bytes sent.
    pub fn add_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Add another connection's totals (when it closes).
    pub fn add(&self, other: &ConnStats) {
        self.add_in(other.bytes_in() as usize);
        self.add_out(other.bytes_out() as usize);
    }
}

/// The frame that travels with a publisher's socket from a stream worker to backsource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverFrame {
    /// The connection's RTMP state.
    pub state: srs_protocol::session::SessionState,
    /// What it asked to publish.
    pub request: PublishRequest,
}

/// Per-source settings from a vhost.
pub fn source_config(v: &Vhost) -> SourceConfig {
    SourceConfig {
        gop_cache: v.play.gop_cache,
        queue_length: v.play.queue_length,
    }
}

/// Send the session's pending output, bounded by [`SEND_TIMEOUT`].
pub async fn flush(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    if session.has_output() {
        let out = session.take_output();
        stats.add_out(out.len());
        match timeout(SEND_TIMEOUT, socket.write_all(&out)).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnError::SendTimeout(SEND_TIMEOUT)),
        }
    }
    Ok(())
}

/// Best-effort send of a rejection, then the error for the log.
pub async fn reject(
    socket: &mut TcpStream,
    session: &mut ServerSession,
    why: String,
) -> Result<(), ConnError> {
    let out = session.take_output();
    // The client may already be gone; do not wait long for it.
    let _ = timeout(Duration::from_secs(2), socket.write_all(&out)).await;
    let _ = timeout(Duration::from_secs(2), socket.flush()).await;
    Err(ConnError::Rejected(why))
}

/// Admit the publish and run the publisher until it stops. `session` must have the
/// `publish` request as its pending decision.
pub async fn serve(
    mut socket: TcpStream,
    mut session: ServerSession,
    req: PublishRequest,
    vhost: &Vhost,
    hub: &Arc<Hub>,
    stats: &ConnStats,
    info: Option<&PublishInfo>,
) -> Result<(), ConnError> {
    let publisher = match hub.publish(&req.key, &req.cid, source_config(vhost)) {
        Ok(p) => p,
        Err(e @ PublishError::Busy(..)) => {
            session.reject_publish(
                req.stream_id,
                "NetStream.Publish.BadName",
                "Stream already publishing",
            );
            return reject(&mut socket, &mut session, e.to_string()).await;
        }
        Err(e @ PublishError::Ring(..)) => {
            session.reject_publish(req.stream_id, "NetStream.Publish.Rejected", "Server error");
            return reject(&mut socket, &mut session, e.to_string()).await;
        }
    };
    info!(stream = %req.key, publish_type = %req.publish_type, "publish start");
    session.accept_publish(req.stream_id, &req.name);
    let mut buf = BytesMut::with_capacity(PUBLISH_READ_BUFFER);
    let mut got_media = false;
    let mut last_media = Instant::now();
    loop {
        // Media may already be buffered behind the publish command: drain events first.
        while let Some(ev) = session.poll_event()? {
            let (ty, timestamp, payload) = match ev {
                ServerEvent::Audio {
                    timestamp, payload, ..
                } => (type_id::AUDIO, timestamp, payload),
                ServerEvent::Video {
                    timestamp, payload, ..
                } => (type_id::VIDEO, timestamp, payload),
                ServerEvent::Data {
                    timestamp, payload, ..
                } => (type_id::DATA_AMF0, timestamp, payload),
                ServerEvent::Unpublish { stream_id } if stream_id == req.stream_id => {
                    info!(stream = %req.key, "unpublish");
                    flush(&mut socket, &mut session, stats).await?;
                    return Ok(());
                }
                ServerEvent::Publish { .. } | ServerEvent::Play { .. } => {
                    return Err(ConnError::Rejected(
                        "publish or play while publishing".into(),
                    ));
                }
                _ => continue,
            };
            if let Some(i) = info {
                match ty {
                    type_id::VIDEO if flv::video_info(&payload).sequence_header => {
                        *i.video.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(video_info(&payload));
                    }
                    type_id::VIDEO => {
                        i.frames.fetch_add(1, Ordering::Relaxed);
                    }
                    type_id::AUDIO if flv::audio_info(&payload).sequence_header => {
                        *i.audio.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(audio_info(&payload));
                    }
                    _ => {}
                }
            }
            publisher.push(ty, timestamp, payload);
            got_media = true;
            last_media = Instant::now();
        }
        flush(&mut socket, &mut session, stats).await?;
        let wait = if got_media {
            vhost.publish.normal_timeout
        } else {
            vhost.publish.firstpkt_timeout
        };
        tokio::select! {
            r = socket.read_buf(&mut buf) => {
                let n = r?;
                stats.add_in(n);
                if n == 0 {
                    info!(stream = %req.key, "publisher closed the connection");
                    return Ok(());
                }
                session.feed(&buf)?;
                buf.clear();
            }
            _ = tokio::time::sleep_until(last_media + wait) => {
                return Err(ConnError::PublishTimeout(wait));
            }
        }
    }
}
