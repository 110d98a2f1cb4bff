//! A publishing connection, from the moment its `publish` command is known: admission (one
//! publisher per stream), then reading media into the stream's ring until the encoder
//! unpublishes, disconnects or goes quiet.
//!
//! The stream worker that accepted the connection handed the socket and the session state
//! over (DESIGN.md), or, in one process, passed them on in memory: the encoder does not
//! notice either way.

use crate::streams::{PublishError, Streams};
use bytes::BytesMut;
use srs_conf::Vhost;
use srs_ipc::control::{AudioInfo, VideoInfo};
use srs_ipc::handover::PublishRequest;
use srs_live::conn::{flush, reject, ConnError, ConnStats};
use srs_protocol::flv;
use srs_protocol::message::type_id;
use srs_protocol::session::{ServerEvent, ServerSession};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::info;

/// Read buffer of a publishing connection: an encoder streams megabits, read in large gulps.
const PUBLISH_READ_BUFFER: usize = 64 * 1024;

/// What a publishing connection reports about its stream (for the HTTP API).
#[derive(Debug, Default)]
pub struct PublishInfo {
    /// Video frames received (sequence headers not counted).
    pub frames: AtomicU64,
    /// Video codec details, from the last sequence header.
    pub video: Mutex<Option<VideoInfo>>,
    /// Audio codec details, from the last sequence header.
    pub audio: Mutex<Option<AudioInfo>>,
    /// The last AVC sequence header was empty: the details come from the next keyframe's
    /// in-band SPS.
    video_in_band: std::sync::atomic::AtomicBool,
    /// The publish was accepted (`NetStream.Publish.Start` sent).
    pub accepted: std::sync::atomic::AtomicBool,
    /// Woken when it is.
    pub on_accept: tokio::sync::Notify,
    /// Woken when the publish ends (an unpublish, or the connection's end).
    pub ended: tokio::sync::Notify,
}

impl PublishInfo {
    /// Count a message and keep the codec details of a sequence header.
    pub fn note(&self, ty: u8, payload: &[u8]) {
        match ty {
            type_id::VIDEO if flv::video_info(payload).sequence_header => {
                let in_band =
                    payload.len() == 5 && flv::video_codec(payload) == Some(flv::codec_id::AVC);
                self.video_in_band.store(in_band, Ordering::Relaxed);
                *self.video.lock().unwrap_or_else(|e| e.into_inner()) = Some(video_info(payload));
            }
            type_id::VIDEO => {
                self.frames.fetch_add(1, Ordering::Relaxed);
                // 0x17: an AVC keyframe (one load per frame otherwise).
                if payload.first() == Some(&0x17) && self.video_in_band.load(Ordering::Relaxed) {
                    let record = payload
                        .get(5..)
                        .and_then(srs_protocol::codec::avc::AvcDecoderConfig::record_in_band);
                    if let Some(record) = record {
                        let header = srs_protocol::codec::avc::sequence_header_of(&record);
                        *self.video.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(video_info(&header));
                        self.video_in_band.store(false, Ordering::Relaxed);
                    }
                }
            }
            type_id::AUDIO if flv::audio_info(payload).sequence_header => {
                *self.audio.lock().unwrap_or_else(|e| e.into_inner()) = Some(audio_info(payload));
            }
            _ => {}
        }
    }
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

/// Admit the publish and run the publisher until it stops. `session` must have the
/// `publish` request as its pending decision.
pub async fn serve(
    mut socket: TcpStream,
    mut session: ServerSession,
    req: PublishRequest,
    vhost: &Vhost,
    streams: &Arc<Streams>,
    stats: &ConnStats,
    info: &PublishInfo,
    tap: Arc<crate::streams::TapSlot>,
) -> Result<(), ConnError> {
    let who = srs_ipc::control::PublisherInfo {
        cid: req.cid.clone(),
        peer: req.peer.clone(),
        name: req.name.clone(),
        tc_url: req.tc_url.clone(),
    };
    let mut publisher = match streams.publish_from(&req.key, who) {
        Ok(mut p) => {
            p.tap(tap);
            let play = &vhost.play;
            let mode = match play.time_jitter {
                _ if play.atc => crate::jitter::Mode::Off,
                srs_conf::TimeJitter::Full => crate::jitter::Mode::Full,
                srs_conf::TimeJitter::Zero => crate::jitter::Mode::Zero,
                srs_conf::TimeJitter::Off => crate::jitter::Mode::Off,
            };
            p.set_time(mode, play.atc_auto);
            p
        }
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
    info.accepted.store(true, Ordering::Relaxed);
    info.on_accept.notify_one();
    let mut buf = BytesMut::with_capacity(PUBLISH_READ_BUFFER);
    let mut got_media = false;
    // mix_correct: audio and video in timestamp order first.
    let mut mix = vhost.play.mix_correct.then(crate::mix::MixQueue::new);
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
                    for (ty, timestamp, payload) in
                        mix.as_mut().map(|q| q.drain()).unwrap_or_default()
                    {
                        publisher.push(ty, timestamp, payload);
                    }
                    drop(publisher);
                    info.ended.notify_one();
                    flush(&mut socket, &mut session, stats).await?;
                    // The client may still be finishing its own sequence (GStreamer sends
                    // deleteStream after FCUnpublish and fails on a closed socket): answer
                    // it until it closes, for a little while, as SRS and nginx-rtmp do.
                    return linger(socket, session, stats).await;
                }
                ServerEvent::Publish { .. } | ServerEvent::Play { .. } => {
                    return Err(ConnError::Rejected(
                        "publish or play while publishing".into(),
                    ));
                }
                _ => continue,
            };
            info.note(ty, &payload);
            match mix.as_mut() {
                Some(q) => {
                    for (ty, timestamp, payload) in q.push((ty, timestamp, payload)) {
                        publisher.push(ty, timestamp, payload);
                    }
                }
                None => publisher.push(ty, timestamp, payload),
            }
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

/// After an unpublish: read and answer what the client still sends until it closes, at
/// most [`LINGER`] (or as long as it keeps talking, up to ten times that).
async fn linger(
    mut socket: TcpStream,
    mut session: ServerSession,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    let end = Instant::now() + LINGER * 10;
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let quiet = Instant::now() + LINGER;
        tokio::select! {
            r = socket.read_buf(&mut buf) => {
                let n = match r {
                    Ok(n) => n,
                    Err(_) => return Ok(()),
                };
                if n == 0 {
                    return Ok(());
                }
                stats.add_in(n);
                if session.feed(&buf).is_err() {
                    return Ok(());
                }
                buf.clear();
                while let Ok(Some(_)) = session.poll_event() {}
                flush(&mut socket, &mut session, stats).await?;
            }
            _ = tokio::time::sleep_until(quiet.min(end)) => return Ok(()),
        }
    }
}

/// How long a client that unpublished may stay quiet before the server closes.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
