//! The wall clock a publisher stamps into its stream so that players on the same machine can
//! measure end-to-end lag, in two forms:
//!
//! - an AMF0 data message (RTMP type 18, FLV script tag)
//!   `"onSrsBenchClock", <Number: milliseconds since the Unix epoch>`;
//! - an H.264 SEI NAL unit put in front of the slices of a video frame: one
//!   `user_data_unregistered` message (ITU-T H.264 section 7.3.2.3 and annex D.1.6, payload
//!   type 5) made of [`SEI_UUID`] and the milliseconds as 13 ASCII digits. Servers that
//!   relay only audio and video (nginx-rtmp drops every data message but `onMetaData`) still
//!   carry this one, and decoders skip it.
//!
//! Players recognise both by their exact first bytes and read the stamp at a fixed offset,
//! so the hot path never runs an AMF0 decoder or an H.264 parser.

use std::time::{SystemTime, UNIX_EPOCH};

/// Name of the data message.
pub const CLOCK_NAME: &str = "onSrsBenchClock";

/// AMF0 string marker, u16 length 15, the name, then the AMF0 number marker.
const PREFIX: &[u8; 19] = b"\x02\x00\x0fonSrsBenchClock\x00";

/// Size of a clock message body.
pub const CLOCK_BODY_LEN: usize = PREFIX.len() + 8;

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The body of a clock data message stamped `ms`.
pub fn encode(ms: u64) -> [u8; CLOCK_BODY_LEN] {
    let mut b = [0u8; CLOCK_BODY_LEN];
    b[..PREFIX.len()].copy_from_slice(PREFIX);
    b[PREFIX.len()..].copy_from_slice(&(ms as f64).to_be_bytes());
    b
}

/// The stamp of a data message body if it is a clock message (a server may have added
/// nothing or stripped an `@setDataFrame`; anything else is not ours).
pub fn parse(body: &[u8]) -> Option<u64> {
    let n = body.strip_prefix(PREFIX.as_slice())?.get(..8)?;
    let ms = f64::from_be_bytes(n.try_into().ok()?);
    (ms.is_finite() && ms >= 0.0).then_some(ms as u64)
}

/// The 16-byte UUID of our SEI message. ASCII with no zero byte, like the digits after it,
/// so the NAL unit needs no emulation prevention bytes.
pub const SEI_UUID: [u8; 16] = *b"srs-bench/clock1";

/// Digits of the millisecond stamp in the SEI (enough until the year 2286).
const SEI_DIGITS: usize = 13;

/// SEI payload: the UUID and the digits.
const SEI_PAYLOAD_LEN: usize = SEI_UUID.len() + SEI_DIGITS;

/// The SEI NAL unit: NAL header (type 6), payload type 5, payload size, payload, and the
/// rbsp trailing bits.
const SEI_NAL_LEN: usize = 3 + SEI_PAYLOAD_LEN + 1;

/// What a stamp adds to a video message: a 4-byte NAL unit length and the NAL unit.
pub const SEI_LEN: usize = 4 + SEI_NAL_LEN;

/// The NAL unit length prefix and the SEI up to the stamp's digits.
const SEI_PREFIX: [u8; 4 + 3 + 16] = {
    let mut p = [0u8; 4 + 3 + 16];
    p[3] = SEI_NAL_LEN as u8;
    p[4] = 6; // nal_ref_idc 0, nal_unit_type 6 (SEI)
    p[5] = 5; // user_data_unregistered
    p[6] = SEI_PAYLOAD_LEN as u8;
    let mut i = 0;
    while i < 16 {
        p[7 + i] = SEI_UUID[i];
        i += 1;
    }
    p
};

/// Bytes of a video message a player must see to find a stamp placed after an access
/// unit delimiter (FLV video header 5, AUD 4 + 2, SEI).
pub const VIDEO_STAMP_REACH: usize = 5 + 6 + SEI_LEN;

/// NAL unit type of an access unit delimiter, which must stay first in a frame.
const NAL_AUD: u8 = 9;

/// Whether a video message body holds H.264 NAL units in the classic FLV layout: codec id
/// 7 (AVC), AVCPacketType 1 (NALU), then a 3-byte composition time.
fn is_avc_nalu(body: &[u8]) -> bool {
    body.len() >= 5 && body[0] & 0x80 == 0 && body[0] & 0x0f == 7 && body[1] == 1
}

/// The NAL unit length size (1, 2 or 4 bytes) that an AVC sequence header (an FLV video
/// body with AVCPacketType 0) announces in its AVCDecoderConfigurationRecord.
pub fn avc_length_size(sequence_header: &[u8]) -> Option<usize> {
    let b = sequence_header;
    let avc = b.len() >= 10 && b[0] & 0x80 == 0 && b[0] & 0x0f == 7 && b[1] == 0;
    avc.then(|| (b[9] & 3) as usize + 1)
}

/// Where the stamp goes in a frame: after an access unit delimiter if the frame starts
/// with one, else before the first NAL unit. Assumes 4-byte NAL unit lengths.
fn stamp_offset(body: &[u8]) -> usize {
    if body.len() >= 10 && body[9] & 0x1f == NAL_AUD {
        let len = u32::from_be_bytes([body[5], body[6], body[7], body[8]]) as usize;
        if 9 + len <= body.len() {
            return 9 + len;
        }
    }
    5
}

/// `body` (a video message of H.264 NAL units with 4-byte lengths) with an SEI stamped
/// `ms` in front of its slices, or `None` when the body is not such a message (a sequence
/// header, another codec). The caller checks the length size with [`avc_length_size`].
pub fn stamp_video(body: &[u8], ms: u64) -> Option<Vec<u8>> {
    if !is_avc_nalu(body) {
        return None;
    }
    let at = stamp_offset(body);
    let mut out = Vec::with_capacity(body.len() + SEI_LEN);
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(&SEI_PREFIX);
    let digits = format!(
        "{:0w$}",
        ms.min(10u64.pow(SEI_DIGITS as u32) - 1),
        w = SEI_DIGITS
    );
    out.extend_from_slice(digits.as_bytes());
    out.push(0x80);
    out.extend_from_slice(&body[at..]);
    Some(out)
}

/// The stamp of a video message (or of its first [`VIDEO_STAMP_REACH`] bytes) if it
/// carries our SEI, first or after an access unit delimiter.
pub fn parse_video(body: &[u8]) -> Option<u64> {
    if !is_avc_nalu(body) {
        return None;
    }
    let at = stamp_offset(body);
    let sei = body.get(at..at + SEI_LEN)?;
    let digits = sei.strip_prefix(SEI_PREFIX.as_slice())?.get(..SEI_DIGITS)?;
    if sei[SEI_LEN - 1] != 0x80 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use srs_protocol::amf0::{self, Amf0Value};

    #[test]
    fn round_trip_and_is_real_amf0() {
        let ms = 1_700_000_000_123;
        let body = encode(ms);
        assert_eq!(parse(&body), Some(ms));
        let v = amf0::decode_all(&body).unwrap();
        assert_eq!(
            v,
            vec![Amf0Value::string(CLOCK_NAME), Amf0Value::Number(ms as f64)]
        );
    }

    #[test]
    fn other_data_is_not_a_clock() {
        let meta = amf0::encode_all(&[Amf0Value::string("onMetaData"), Amf0Value::Null]);
        assert_eq!(parse(&meta), None);
        assert_eq!(parse(&encode(5)[..CLOCK_BODY_LEN - 1]), None);
        let mut neg = encode(0);
        neg[PREFIX.len()..].copy_from_slice(&(-1.0f64).to_be_bytes());
        assert_eq!(parse(&neg), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn video_stamp_round_trip() {
        let ms = 1_700_000_000_123;
        // A P frame: header, one slice NAL unit of 3 bytes.
        let frame = [0x27, 1, 0, 0, 0, 0, 0, 0, 3, 0x41, 0x9a, 0x01];
        let stamped = stamp_video(&frame, ms).unwrap();
        assert_eq!(stamped.len(), frame.len() + SEI_LEN);
        assert_eq!(&stamped[..5], &frame[..5]);
        assert_eq!(&stamped[5 + SEI_LEN..], &frame[5..]);
        assert_eq!(parse_video(&stamped), Some(ms));
        // The NAL unit is well formed: its length, type 6, payload type 5, size 29, trailing bits.
        let nal = &stamped[5..5 + SEI_LEN];
        assert_eq!(
            u32::from_be_bytes(nal[..4].try_into().unwrap()) as usize,
            SEI_LEN - 4
        );
        assert_eq!(&nal[4..7], &[6, 5, 29]);
        assert_eq!(nal[SEI_LEN - 1], 0x80);
        // No start code or emulation-prevention pattern inside.
        assert!(!nal[4..].windows(2).any(|w| w == [0, 0]));
        // Players of HTTP-FLV see only the first bytes of a tag.
        assert_eq!(parse_video(&stamped[..5 + SEI_LEN]), Some(ms));
        assert_eq!(parse_video(&stamped[..5 + SEI_LEN - 1]), None);
        assert_eq!(parse_video(&frame), None);
    }

    #[test]
    fn video_stamp_goes_after_an_access_unit_delimiter() {
        let frame = [
            0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 2, 0x65, 0x88,
        ];
        let stamped = stamp_video(&frame, 42).unwrap();
        assert_eq!(&stamped[..11], &frame[..11]);
        assert_eq!(&stamped[11 + SEI_LEN..], &frame[11..]);
        assert_eq!(parse_video(&stamped), Some(42));
        assert_eq!(parse_video(&stamped[..VIDEO_STAMP_REACH]), Some(42));
    }

    #[test]
    fn only_avc_frames_are_stamped() {
        let sequence_header = [0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1];
        assert_eq!(stamp_video(&sequence_header, 1), None);
        assert_eq!(avc_length_size(&sequence_header), Some(4));
        let hevc = [0x1c, 1, 0, 0, 0, 0, 0, 0, 1, 0x26];
        assert_eq!(stamp_video(&hevc, 1), None);
        assert_eq!(avc_length_size(&hevc), None);
        assert_eq!(stamp_video(&[0x27, 1], 1), None);
        assert_eq!(parse_video(&[]), None);
    }
}
