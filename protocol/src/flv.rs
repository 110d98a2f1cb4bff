//! FLV tag bodies as RTMP carries them, and the FLV file container.
//!
//! Implements the parts of Adobe's "Video File Format Specification v10" (annex E) that a live
//! server needs: recognising AVC/HEVC and AAC sequence headers, keyframes, and metadata
//! (`@setDataFrame` / `onMetaData`), plus the FLV file header and tag framing used by
//! HTTP-FLV and by the load tool's file replay. Also understands the "enhanced RTMP" video
//! header (FourCC codecs) well enough to classify frames.

use crate::amf0::{self, Amf0Value};
use bytes::{BufMut, Bytes, BytesMut};

/// FLV tag types (E.4.1).
pub mod tag_type {
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const SCRIPT: u8 = 18;
}

/// Audio sound formats (E.4.2.1) we name.
pub mod sound_format {
    pub const MP3: u8 = 2;
    pub const AAC: u8 = 10;
    pub const SPEEX: u8 = 11;
    pub const OPUS: u8 = 13;
}

/// Video codec ids (E.4.3.1) we name.
pub mod codec_id {
    pub const AVC: u8 = 7;
    pub const HEVC: u8 = 12;
}

/// What a media message is, for the GOP cache and the players' drop rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameInfo {
    /// Starts a GOP: a video keyframe (never true for audio).
    pub keyframe: bool,
    /// A codec configuration record (AVC/HEVC decoder configuration or AAC
    /// AudioSpecificConfig) that players need before any frame.
    pub sequence_header: bool,
}

/// Classify a video tag body.
pub fn video_info(body: &[u8]) -> FrameInfo {
    let Some(&b0) = body.first() else {
        return FrameInfo::default();
    };
    let frame_type = (b0 >> 4) & 0x07;
    let keyframe = frame_type == 1;
    if b0 & 0x80 != 0 {
        // Enhanced RTMP: IsExHeader bit, packet type in the low nibble, FourCC follows.
        // Packet type 0 is the sequence start.
        let packet_type = b0 & 0x0f;
        return FrameInfo {
            keyframe: keyframe && packet_type != 0,
            sequence_header: packet_type == 0,
        };
    }
    let codec = b0 & 0x0f;
    let sequence_header =
        (codec == codec_id::AVC || codec == codec_id::HEVC) && body.get(1) == Some(&0);
    FrameInfo {
        keyframe: keyframe && !sequence_header,
        sequence_header,
    }
}

/// Classify an audio tag body.
pub fn audio_info(body: &[u8]) -> FrameInfo {
    let Some(&b0) = body.first() else {
        return FrameInfo::default();
    };
    FrameInfo {
        keyframe: false,
        sequence_header: b0 >> 4 == sound_format::AAC && body.get(1) == Some(&0),
    }
}

/// Video codec id of a (non-enhanced) video tag body.
pub fn video_codec(body: &[u8]) -> Option<u8> {
    body.first().map(|b| b & 0x0f)
}

/// Audio sound format of an audio tag body.
pub fn audio_codec(body: &[u8]) -> Option<u8> {
    body.first().map(|b| b >> 4)
}

/// If a data message body is metadata (`@setDataFrame` + `onMetaData` + values, or
/// `onMetaData` + values), return it re-encoded as `onMetaData` + values — the form players
/// receive. Other data messages return `None`.
pub fn metadata_for_players(body: &[u8]) -> Option<Bytes> {
    let mut d = amf0::Amf0Decoder::new(body);
    let first = d.decode().ok()?;
    match first.as_str()? {
        "@setDataFrame" => {
            let rest = d.remaining();
            let mut d2 = amf0::Amf0Decoder::new(rest);
            match d2.decode().ok()?.as_str()? {
                "onMetaData" => Some(Bytes::copy_from_slice(rest)),
                _ => None,
            }
        }
        "onMetaData" => Some(Bytes::copy_from_slice(body)),
        _ => None,
    }
}

/// Strip a leading `@setDataFrame` from a data message body, if present, leaving what players
/// should receive.
pub fn strip_set_data_frame(body: &Bytes) -> Bytes {
    let mut d = amf0::Amf0Decoder::new(body);
    match d.decode() {
        Ok(Amf0Value::String(s)) if s == "@setDataFrame" => body.slice(d.position()..),
        _ => body.clone(),
    }
}

/// The 13 bytes an FLV file or HTTP-FLV stream starts with: the 9-byte header (E.2) and
/// the first PreviousTagSize0 of zero.
pub fn file_header(has_audio: bool, has_video: bool) -> [u8; 13] {
    let flags = (has_audio as u8) << 2 | has_video as u8;
    [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
}

/// Append one FLV tag (header, body, PreviousTagSize) (E.4.1).
pub fn write_tag(out: &mut BytesMut, tag_type: u8, timestamp: u32, body: &[u8]) {
    out.reserve(11 + body.len() + 4);
    out.put_u8(tag_type);
    out.put_uint(body.len() as u64, 3);
    out.put_uint((timestamp & 0x00ff_ffff) as u64, 3);
    out.put_u8((timestamp >> 24) as u8);
    out.put_uint(0, 3);
    out.put_slice(body);
    out.put_u32(11 + body.len() as u32);
}

/// One tag read from an FLV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// Tag type (8 audio, 9 video, 18 script data).
    pub tag_type: u8,
    /// Timestamp in milliseconds.
    pub timestamp: u32,
    /// Tag body.
    pub body: Bytes,
}

/// Why FLV bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlvError {
    /// Not an FLV file (bad signature).
    #[error("flv: bad signature")]
    BadSignature,
    /// A tag larger than the limit.
    #[error("flv: tag of {0} bytes is too large")]
    TagTooLarge(usize),
}

/// Largest tag body [`FlvReader`] accepts.
pub const MAX_TAG_SIZE: usize = 16 * 1024 * 1024;

/// Sans-I/O reader of an FLV byte stream: push bytes, pull tags.
#[derive(Debug, Default)]
pub struct FlvReader {
    buf: BytesMut,
    header_done: bool,
}

impl FlvReader {
    /// A reader expecting the file header first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete tag, `Ok(None)` if more bytes are needed.
    pub fn next_tag(&mut self) -> Result<Option<Tag>, FlvError> {
        if !self.header_done {
            if self.buf.len() < 9 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err(FlvError::BadSignature);
            }
            let header_len =
                u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]) as usize;
            // Header plus PreviousTagSize0.
            let skip = header_len.max(9) + 4;
            if self.buf.len() < skip {
                return Ok(None);
            }
            let _ = self.buf.split_to(skip);
            self.header_done = true;
        }
        if self.buf.len() < 11 {
            return Ok(None);
        }
        let h = &self.buf[..11];
        let size = (h[1] as usize) << 16 | (h[2] as usize) << 8 | h[3] as usize;
        if size > MAX_TAG_SIZE {
            return Err(FlvError::TagTooLarge(size));
        }
        let ts = (h[7] as u32) << 24 | (h[4] as u32) << 16 | (h[5] as u32) << 8 | h[6] as u32;
        let tag_type = h[0] & 0x1f;
        if self.buf.len() < 11 + size + 4 {
            return Ok(None);
        }
        let mut t = self.buf.split_to(11 + size + 4);
        let _ = t.split_to(11);
        t.truncate(size);
        Ok(Some(Tag {
            tag_type,
            timestamp: ts,
            body: t.freeze(),
        }))
    }
}

/// Fuzz invariant: reading arbitrary bytes never panics, and the tags read, written back as
/// an FLV stream, read back identically.
pub fn fuzz_read(data: &[u8]) {
    let mut r = FlvReader::new();
    // Feed in two pieces to exercise the incomplete paths.
    let split = data
        .first()
        .map(|b| *b as usize % (data.len() + 1))
        .unwrap_or(0);
    r.push(&data[..split]);
    let mut tags = Vec::new();
    while let Ok(Some(t)) = r.next_tag() {
        tags.push(t);
    }
    r.push(&data[split..]);
    while let Ok(Some(t)) = r.next_tag() {
        assert!(t.body.len() <= MAX_TAG_SIZE);
        tags.push(t);
    }
    let mut out = BytesMut::new();
    out.extend_from_slice(&file_header(true, true));
    for t in &tags {
        write_tag(&mut out, t.tag_type, t.timestamp, &t.body);
    }
    let mut again = FlvReader::new();
    again.push(&out);
    for t in &tags {
        assert_eq!(again.next_tag().ok().flatten().as_ref(), Some(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_avc() {
        assert_eq!(
            video_info(&[0x17, 0x00, 0, 0, 0]),
            FrameInfo {
                keyframe: false,
                sequence_header: true
            }
        );
        assert_eq!(
            video_info(&[0x17, 0x01, 0, 0, 0]),
            FrameInfo {
                keyframe: true,
                sequence_header: false
            }
        );
        assert_eq!(video_info(&[0x27, 0x01]), FrameInfo::default());
        assert_eq!(video_info(&[]), FrameInfo::default());
        // Enhanced RTMP: keyframe (1<<4) | ex header bit | packet type 1 (coded frames).
        assert!(video_info(&[0x80 | 0x10 | 1, b'h', b'v', b'c', b'1']).keyframe);
        assert!(video_info(&[0x80 | 0x10, b'h', b'v', b'c', b'1']).sequence_header);
    }

    #[test]
    fn classify_aac() {
        assert!(audio_info(&[0xaf, 0x00, 0x12, 0x10]).sequence_header);
        assert!(!audio_info(&[0xaf, 0x01, 0x21]).sequence_header);
        assert!(!audio_info(&[0x2f, 0x00]).sequence_header);
    }

    #[test]
    fn metadata_detection() {
        let meta = amf0::encode_all(&[
            Amf0Value::string("@setDataFrame"),
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(640.0))]),
        ])
        .freeze();
        let for_players = metadata_for_players(&meta).unwrap();
        let v = amf0::decode_all(&for_players).unwrap();
        assert_eq!(v[0].as_str(), Some("onMetaData"));
        assert_eq!(v[1].get_f64("width"), Some(640.0));
        assert_eq!(strip_set_data_frame(&meta), for_players);
        let other = amf0::encode_all(&[Amf0Value::string("onTextData")]).freeze();
        assert!(metadata_for_players(&other).is_none());
        assert_eq!(strip_set_data_frame(&other), other);
    }

    #[test]
    fn tag_round_trip() {
        let mut out = BytesMut::new();
        out.extend_from_slice(&file_header(true, true));
        write_tag(&mut out, 9, 0x0123_4567, b"video");
        write_tag(&mut out, 8, 5, b"au");
        assert_eq!(
            &out[..13],
            &[b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        assert_eq!(&out[13..24], &[9, 0, 0, 5, 0x23, 0x45, 0x67, 0x01, 0, 0, 0]);
        let mut r = FlvReader::new();
        for b in out.iter() {
            r.push(&[*b]);
        }
        let t1 = r.next_tag().unwrap().unwrap();
        assert_eq!(
            (t1.tag_type, t1.timestamp, &t1.body[..]),
            (9, 0x0123_4567, &b"video"[..])
        );
        let t2 = r.next_tag().unwrap().unwrap();
        assert_eq!(
            (t2.tag_type, t2.timestamp, &t2.body[..]),
            (8, 5, &b"au"[..])
        );
        assert_eq!(r.next_tag().unwrap(), None);
    }

    #[test]
    fn fuzz_invariant_on_random_input() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let n = rng.gen_range(0..300);
            let mut v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
            if rng.gen_bool(0.5) && v.len() > 13 {
                v[..13].copy_from_slice(&file_header(true, true));
            }
            fuzz_read(&v);
        }
    }

    #[test]
    fn bad_flv() {
        let mut r = FlvReader::new();
        r.push(b"NOTFLV123456789");
        assert_eq!(r.next_tag(), Err(FlvError::BadSignature));
    }
}
