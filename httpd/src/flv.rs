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

struct State {
    player: Player,
    header_sent: bool,
}

/// The body of an HTTP-FLV response for `player`.
pub fn body(player: Player) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    stream::unfold(
        State {
            player,
            header_sent: false,
        },
        |mut st| async move {
            if !st.header_sent {
                st.header_sent = true;
                return Some((Ok(Bytes::from_static(&HEADER)), st));
            }
            loop {
                let mut out = BytesMut::new();
                for ev in st.player.poll(BATCH, BATCH_BYTES) {
                    if let PlayEvent::Media(msgs) = ev {
                        for m in msgs {
                            let tag = match m.type_id {
                                type_id::AUDIO => flv::tag_type::AUDIO,
                                type_id::VIDEO => flv::tag_type::VIDEO,
                                _ => flv::tag_type::SCRIPT,
                            };
                            flv::write_tag(&mut out, tag, m.timestamp, &m.payload);
                        }
                    }
                    // A publisher leaving or coming back changes nothing in an FLV byte
                    // stream: players keep the connection and the data resumes.
                }
                if !out.is_empty() {
                    return Some((Ok(out.freeze()), st));
                }
                st.player.changed().await;
            }
        },
    )
}

/// FLV header (audio and video present) and PreviousTagSize0.
static HEADER: [u8; 13] = [b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_the_protocol_crate() {
        assert_eq!(HEADER, flv::file_header(true, true));
    }
}
