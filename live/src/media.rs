//! One message of a live stream as every player of a process shares it.
//!
//! What a message is (keyframe, sequence header, metadata) is decided once, by the writer
//! (backsource), and travels with the message as the ring's [`flags`]; readers never parse a
//! payload again to find out.

use bytes::Bytes;
use srs_ipc::ring::flags;
use srs_protocol::message::type_id;
use std::sync::OnceLock;

/// Message stream id every player gets from `createStream` (the first and only one).
pub const PLAYER_STREAM_ID: u32 = 1;

/// One message of a stream, shared by every player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// RTMP message type: 8 audio, 9 video, 18 data.
    pub type_id: u8,
    /// Timestamp, as the writer corrected it.
    pub timestamp: u32,
    /// Body (an FLV tag body, or an AMF0 data body).
    pub payload: Bytes,
    /// The ring's [`flags`]: keyframe, sequence header, metadata.
    pub flags: u8,
    /// The chunk headers of the message for message stream 1 at one chunk size (see
    /// [`push_chunks`](Self::push_chunks)), built by the first player that needs them and
    /// shared by all the others (they almost always use the same chunk size and stream
    /// id): the first chunk's header, then the header every further chunk repeats.
    headers: OnceLock<(u32, Bytes, usize)>,
}

impl Media {
    /// A message.
    pub fn new(type_id: u8, timestamp: u32, payload: Bytes, flags: u8) -> Media {
        Media {
            type_id,
            timestamp,
            payload,
            flags,
            headers: OnceLock::new(),
        }
    }

    /// A video keyframe: a decoder may start here.
    pub fn is_keyframe(&self) -> bool {
        self.flags & flags::KEYFRAME != 0
    }

    /// An audio or video sequence header (codec configuration).
    pub fn is_sequence_header(&self) -> bool {
        self.flags & flags::SEQUENCE_HEADER != 0
    }

    /// Stream metadata (`onMetaData`).
    pub fn is_metadata(&self) -> bool {
        self.flags & flags::METADATA != 0
    }

    /// The same message at another timestamp.
    pub fn restamped(&self, timestamp: u32) -> Media {
        Media::new(self.type_id, timestamp, self.payload.clone(), self.flags)
    }

    /// Chunk stream this message goes out on.
    pub fn csid(&self) -> u32 {
        match self.type_id {
            type_id::AUDIO => srs_protocol::message::csid::AUDIO,
            type_id::VIDEO => srs_protocol::message::csid::VIDEO,
            _ => srs_protocol::message::csid::OVER_STREAM,
        }
    }

    /// Append this message as RTMP chunks for message stream `stream_id` at `chunk_size`
    /// to a player's write list: chunk headers and slices of the payload, the pieces of one
    /// `writev`. Nothing is copied: the payload and (for stream 1 at the first chunk size
    /// asked for) the headers are shared by every player; a source's GOP cache thus costs
    /// the stream's bytes once, not once more chunked.
    pub fn push_chunks(&self, chunk_size: u32, stream_id: u32, out: &mut Vec<Bytes>) {
        let build = || {
            let mut h = bytes::BytesMut::new();
            let first = srs_protocol::chunk::write_message_headers(
                &mut h,
                self.csid(),
                self.timestamp,
                self.type_id,
                stream_id,
                self.payload.len(),
            );
            (chunk_size, h.freeze(), first)
        };
        let fresh;
        let (headers, first) = match self.headers.get_or_init(build) {
            (size, h, first) if *size == chunk_size && stream_id == PLAYER_STREAM_ID => (h, *first),
            _ => {
                fresh = build();
                (&fresh.1, fresh.2)
            }
        };
        let size = chunk_size.max(1) as usize;
        out.push(headers.slice(..first));
        let mut at = 0;
        loop {
            let end = (at + size).min(self.payload.len());
            if end > at {
                out.push(self.payload.slice(at..end));
            }
            at = end;
            if at >= self.payload.len() {
                break;
            }
            out.push(headers.slice(first..));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(m: &Media, chunk_size: u32, stream_id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        m.push_chunks(chunk_size, stream_id, &mut out);
        out.concat()
    }

    fn expected(m: &Media, chunk_size: u32, stream_id: u32) -> Vec<u8> {
        let mut e = bytes::BytesMut::new();
        srs_protocol::chunk::write_message(
            &mut e,
            chunk_size,
            m.csid(),
            m.timestamp,
            m.type_id,
            stream_id,
            &m.payload,
        );
        e.to_vec()
    }

    #[test]
    fn chunks_are_the_chunk_writers_bytes_and_share_the_payload() {
        for ts in [0, 40, 0x00ff_fffe, 0x00ff_ffff, 0x0100_0000] {
            for len in [0usize, 1, 127, 128, 129, 300, 4096, 60_001] {
                let m = Media::new(type_id::VIDEO, ts, Bytes::from(vec![7u8; len]), 0);
                for (size, stream) in [(128, 1), (4096, 1), (60_000, 1), (128, 2), (1, 1)] {
                    if size == 1 && len > 300 {
                        continue;
                    }
                    assert_eq!(
                        chunked(&m, size, stream),
                        expected(&m, size, stream),
                        "ts {ts} len {len} chunk size {size} stream {stream}"
                    );
                }
            }
        }
        // The payload is not copied, and the headers are built once for all players.
        let m = Media::new(type_id::AUDIO, 5, Bytes::from(vec![1u8; 300]), 0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        m.push_chunks(128, PLAYER_STREAM_ID, &mut a);
        m.push_chunks(128, PLAYER_STREAM_ID, &mut b);
        assert_eq!(
            a.len(),
            1 + 3 + 2,
            "header, 3 payload slices, 2 repeated headers"
        );
        assert_eq!(a[1].as_ptr(), m.payload.as_ptr());
        assert_eq!(a[0].as_ptr(), b[0].as_ptr());
        // A restamped copy gets its own headers.
        assert_eq!(&chunked(&m.restamped(9), 128, 1)[1..4], &[0, 0, 9]);
    }

    #[test]
    fn flags_say_what_a_message_is() {
        let m = Media::new(type_id::VIDEO, 0, Bytes::new(), flags::KEYFRAME);
        assert!(m.is_keyframe() && !m.is_sequence_header() && !m.is_metadata());
        let h = Media::new(type_id::AUDIO, 0, Bytes::new(), flags::SEQUENCE_HEADER);
        assert!(h.is_sequence_header() && !h.is_keyframe());
        let d = Media::new(type_id::DATA_AMF0, 0, Bytes::new(), flags::METADATA);
        assert!(d.is_metadata());
    }
}
