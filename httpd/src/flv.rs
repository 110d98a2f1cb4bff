//! HTTP-FLV live streams (`http_remux`): `GET /live/livestream.flv` streams the FLV header,
//! metadata, sequence headers, the GOP cache, then the live stream. httpd is a ring reader
//! like a stream worker: the stream comes from its local source (fed by a mirror of the
//! ring), and a slow HTTP player skips whole GOPs exactly like an RTMP one, because hyper
//! only asks the body for more when the socket has room.

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, Stream};
use srs_live::{PlayEvent, Player};
use srs_protocol::flv;
use srs_protocol::message::type_id;
use std::convert::Infallible;

/// Most messages per body chunk.
const BATCH: usize = 128;
/// About how many bytes per body chunk.
const BATCH_BYTES: usize = 256 * 1024;

/// How the FLV header says what the stream has (`http_remux { has_audio; has_video;
/// guess_has_av; drop_if_not_match; }`, SRS's meaning and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvOptions {
    /// The header's audio flag when not guessed.
    pub has_audio: bool,
    /// The header's video flag when not guessed.
    pub has_video: bool,
    /// Guess both from the first messages (the GOP cache) instead.
    pub guess_has_av: bool,
    /// Leave out the tags of a kind the header says is not there.
    pub drop_if_not_match: bool,
}

impl FlvOptions {
    /// The vhost's settings.
    pub fn of(r: &srs_conf::HttpRemux) -> FlvOptions {
        FlvOptions {
            has_audio: r.has_audio,
            has_video: r.has_video,
            guess_has_av: r.guess_has_av,
            drop_if_not_match: r.drop_if_not_match,
        }
    }

    /// Whether `msgs` are enough to write the header: always when not guessing; else once
    /// frames of both kinds came, or a second of media (or 512 messages) showed only one.
    /// SRS guesses from whatever its first write has, and a player that comes just after
    /// a keyframe gets a header without audio; waiting a little avoids that.
    fn can_guess(&self, msgs: &[std::sync::Arc<srs_live::Media>]) -> bool {
        if !self.guess_has_av {
            return true;
        }
        let frames = |ty: u8| {
            msgs.iter()
                .filter(move |m| m.type_id == ty && !m.is_sequence_header())
        };
        if frames(type_id::AUDIO).next().is_some() && frames(type_id::VIDEO).next().is_some() {
            return true;
        }
        let media = || {
            msgs.iter()
                .filter(|m| m.type_id != type_id::DATA_AMF0 && !m.is_sequence_header())
        };
        let first = media().map(|m| m.timestamp).min();
        let last = media().map(|m| m.timestamp).max();
        let span = match (first, last) {
            (Some(a), Some(b)) => b.wrapping_sub(a),
            _ => 0,
        };
        span >= 1000 || msgs.len() >= 512
    }

    /// The header's (audio, video) flags for a stream whose first messages are `msgs`, as
    /// SRS guesses them: a kind with frames is there; when only one kind has frames, the
    /// other is not, even if its sequence header came; nothing seen keeps the settings.
    fn flags(&self, msgs: &[std::sync::Arc<srs_live::Media>]) -> (bool, bool) {
        if !self.guess_has_av {
            return (self.has_audio, self.has_video);
        }
        let (mut audio, mut video) = (false, false);
        let (mut audio_frames, mut video_frames) = (0, 0);
        for m in msgs {
            match m.type_id {
                type_id::AUDIO => {
                    audio = true;
                    audio_frames += usize::from(!m.is_sequence_header());
                }
                type_id::VIDEO => {
                    video = true;
                    video_frames += usize::from(!m.is_sequence_header());
                }
                _ => {}
            }
        }
        if video_frames > 0 && audio_frames == 0 {
            audio = false;
        }
        if audio_frames > 0 && video_frames == 0 {
            video = false;
        }
        if !audio && !video {
            return (self.has_audio, self.has_video);
        }
        (audio, video)
    }
}

struct State {
    player: Player,
    opts: FlvOptions,
    /// The header's flags, once it went out.
    header: Option<(bool, bool)>,
    /// Messages held until the header can be guessed (metadata before any media).
    pending: Vec<std::sync::Arc<srs_live::Media>>,
}

/// The body of an HTTP-FLV response for `player`.
pub fn body(
    player: Player,
    opts: FlvOptions,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    stream::unfold(
        State {
            player,
            opts,
            header: None,
            pending: Vec::new(),
        },
        |mut st| async move {
            if st.header.is_none() && !st.opts.guess_has_av {
                let (a, v) = (st.opts.has_audio, st.opts.has_video);
                st.header = Some((a, v));
                return Some((Ok(Bytes::copy_from_slice(&flv::file_header(a, v))), st));
            }
            loop {
                let mut msgs = std::mem::take(&mut st.pending);
                for ev in st.player.poll(BATCH, BATCH_BYTES) {
                    // A publisher leaving or coming back changes nothing in an FLV byte
                    // stream: players keep the connection and the data resumes.
                    if let PlayEvent::Media(m) = ev {
                        msgs.extend(m);
                    }
                }
                let mut out = BytesMut::new();
                let (audio, video) = match st.header {
                    Some(h) => h,
                    None if !st.opts.can_guess(&msgs) => {
                        // The header waits for enough media to guess from.
                        st.pending = msgs;
                        st.player.changed().await;
                        continue;
                    }
                    None => {
                        let h = st.opts.flags(&msgs);
                        out.extend_from_slice(&flv::file_header(h.0, h.1));
                        st.header = Some(h);
                        h
                    }
                };
                for m in msgs {
                    let tag = match m.type_id {
                        type_id::AUDIO => flv::tag_type::AUDIO,
                        type_id::VIDEO => flv::tag_type::VIDEO,
                        _ => flv::tag_type::SCRIPT,
                    };
                    if st.opts.drop_if_not_match
                        && ((tag == flv::tag_type::AUDIO && !audio)
                            || (tag == flv::tag_type::VIDEO && !video))
                    {
                        continue;
                    }
                    flv::write_tag(&mut out, tag, m.timestamp, &m.payload);
                }
                if !out.is_empty() {
                    return Some((Ok(out.freeze()), st));
                }
                st.player.changed().await;
            }
        },
    )
}

/// The body of an HTTP-TS response for `player` (a `.ts` mount): one endless MPEG-TS
/// stream, PAT and PMT again before every keyframe so that a player can start anywhere,
/// a new time base when the publisher comes back.
pub fn ts_body(player: Player) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    use srs_protocol::ts::{MediaKind, TsMuxer};
    stream::unfold(
        (player, TsMuxer::new()),
        |(mut player, mut mux)| async move {
            loop {
                let mut out = BytesMut::new();
                for ev in player.poll(BATCH, BATCH_BYTES) {
                    match ev {
                        PlayEvent::Media(msgs) => {
                            for m in msgs {
                                let Some(kind) = MediaKind::from_type_id(m.type_id) else {
                                    continue;
                                };
                                if kind == MediaKind::Video
                                    && m.is_keyframe()
                                    && !m.is_sequence_header()
                                {
                                    mux.start_segment();
                                }
                                if let Err(e) = mux.push(kind, m.timestamp, &m.payload, &mut out) {
                                    tracing::debug!("HTTP-TS: message left out: {e}");
                                }
                            }
                        }
                        PlayEvent::Published => mux.reset_stream(),
                        PlayEvent::Unpublished => {}
                    }
                }
                if !out.is_empty() {
                    return Some((Ok(out.freeze()), (player, mux)));
                }
                player.changed().await;
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;
    use srs_ipc::ring::flags;
    use srs_live::Media;
    use std::sync::Arc;

    fn m(ty: u8, f: u8) -> Arc<Media> {
        Arc::new(Media::new(ty, 0, Bytes::from_static(&[0x17, 1]), f))
    }

    #[test]
    fn the_header_is_guessed_as_srs_does() {
        let guess = FlvOptions {
            has_audio: true,
            has_video: true,
            guess_has_av: true,
            drop_if_not_match: true,
        };
        let a = m(type_id::AUDIO, 0);
        let ash = m(type_id::AUDIO, flags::SEQUENCE_HEADER);
        let v = m(type_id::VIDEO, flags::KEYFRAME);
        let vsh = m(type_id::VIDEO, flags::SEQUENCE_HEADER);
        assert_eq!(
            guess.flags(&[vsh.clone(), ash.clone(), v.clone(), a.clone()]),
            (true, true)
        );
        // Video frames and only an audio header: no audio.
        assert_eq!(
            guess.flags(&[vsh.clone(), ash.clone(), v.clone()]),
            (false, true)
        );
        assert_eq!(guess.flags(&[ash, a]), (true, false));
        // Nothing to guess from: the settings.
        let off = FlvOptions {
            has_video: false,
            ..guess
        };
        assert_eq!(
            off.flags(&[m(type_id::DATA_AMF0, flags::METADATA)]),
            (true, false)
        );
        // Not guessing: the settings, whatever comes.
        let fixed = FlvOptions {
            guess_has_av: false,
            has_audio: false,
            ..guess
        };
        assert_eq!(fixed.flags(&[vsh, v]), (false, true));
    }
}
