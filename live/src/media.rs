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
    /// The message as RTMP chunks for message stream 1 at one chunk size, built by the
    /// first player that needs it and shared by all the others (they almost always use
    /// the same chunk size and stream id).
    chunked: OnceLock<(u32, Bytes)>,
}

impl Media {
    /// A message.
    pub fn new(type_id: u8, timestamp: u32, payload: Bytes, flags: u8) -> Media {
        Media {
            type_id,
            timestamp,
            payload,
            flags,
            chunked: OnceLock::new(),
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

    /// This message chunked for message stream `stream_id` at `chunk_size`: shared bytes
    /// when it is the common case (stream 1, the first chunk size asked for), else built
    /// for this caller.
    pub fn chunked(&self, chunk_size: u32, stream_id: u32) -> Bytes {
        let build = || {
            let mut out = bytes::BytesMut::new();
            srs_protocol::chunk::write_message(
                &mut out,
                chunk_size,
                self.csid(),
                self.timestamp,
                self.type_id,
                stream_id,
                &self.payload,
            );
            out.freeze()
        };
        if stream_id != PLAYER_STREAM_ID {
            return build();
        }
        let (size, bytes) = self.chunked.get_or_init(|| (chunk_size, build()));
        if *size == chunk_size {
            bytes.clone()
        } else {
            build()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bytes_are_built_once_and_shared() {
        let m = Media::new(type_id::VIDEO, 0x0100_0000, Bytes::from(vec![7u8; 300]), 0);
        let a = m.chunked(128, PLAYER_STREAM_ID);
        let b = m.chunked(128, PLAYER_STREAM_ID);
        // The same allocation, not a copy.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let mut expect = bytes::BytesMut::new();
        srs_protocol::chunk::write_message(&mut expect, 128, 6, 0x0100_0000, 9, 1, &[7u8; 300]);
        assert_eq!(&a[..], &expect[..]);
        // Another chunk size or stream id is built for that caller, correctly.
        let c = m.chunked(4096, PLAYER_STREAM_ID);
        let mut expect = bytes::BytesMut::new();
        srs_protocol::chunk::write_message(&mut expect, 4096, 6, 0x0100_0000, 9, 1, &[7u8; 300]);
        assert_eq!(&c[..], &expect[..]);
        let d = m.chunked(128, 2);
        assert_eq!(&d[8..12], &2u32.to_le_bytes());
        // A restamped copy does not reuse the old chunks.
        let r = m.restamped(5);
        assert_eq!(&r.chunked(128, PLAYER_STREAM_ID)[1..4], &[0, 0, 5]);
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
