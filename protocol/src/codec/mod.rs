//! Codec headers as RTMP carries them: the FLV video and audio tag headers (legacy and
//! enhanced RTMP), H.264 decoder configuration and SPS, HEVC decoder configuration, and AAC
//! AudioSpecificConfig. Used by the MPEG-TS muxer and by the HTTP API's stream info.
//!
//! Sources: Adobe "Video File Format Specification v10.1" annex E.4.2/E.4.3 (tag headers),
//! veovera "Enhanced RTMP" v1 (FourCC video header), ISO/IEC 14496-15 (configuration
//! records), ITU-T H.264 (SPS), ISO/IEC 14496-3 (AudioSpecificConfig).

pub mod aac;
pub mod avc;
pub mod bits;
pub mod hevc;

use crate::flv::{codec_id, sound_format};

/// Why a codec header could not be understood. Every variant describes bytes that came from
/// the publisher (upstream); none is an internal failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// A header or record ended before its fields did.
    #[error("codec: truncated header")]
    Truncated,
    /// A bit-level structure (SPS, AudioSpecificConfig) ended early.
    #[error("codec: bitstream ended early")]
    BitstreamEnded,
    /// An Exp-Golomb code with more leading zeros than any valid value has.
    #[error("codec: exp-golomb code too long")]
    ExpGolombTooLong,
    /// A NAL length size other than 1, 2 or 4.
    #[error("codec: bad NAL length size {0}")]
    BadNalLengthSize(u8),
    /// More parameter sets than we keep.
    #[error("codec: {0} parameter sets is too many")]
    TooManyParameterSets(usize),
    /// The configuration record has no SPS.
    #[error("codec: no SPS in the decoder configuration")]
    NoSps,
    /// A NAL unit of another type where an SPS was expected.
    #[error("codec: expected an SPS, got NAL type {0}")]
    UnexpectedNalType(u8),
    /// An SPS field out of its range.
    #[error("codec: bad SPS ({0})")]
    BadSps(&'static str),
    /// A NAL unit length prefix runs past the end of the frame.
    #[error("codec: NAL unit length {len} exceeds the {left} bytes left")]
    BadNalLength { len: usize, left: usize },
    /// An AAC object type of 0 (null).
    #[error("codec: bad AAC object type {0}")]
    BadAudioObjectType(u8),
    /// A reserved sampling frequency index, or an explicit frequency of 0.
    #[error("codec: bad sampling frequency index {0}")]
    BadSamplingFrequencyIndex(u8),
    /// The AAC config cannot be expressed in an ADTS header.
    #[error("codec: AAC {0} not expressible in ADTS")]
    NotAdtsCompatible(&'static str),
    /// A raw AAC frame too large for ADTS framing.
    #[error("codec: AAC frame of {0} bytes is too large for ADTS")]
    AdtsFrameTooLarge(usize),
    /// A video codec we do not handle (legacy codec id, or enhanced-RTMP FourCC).
    #[error("codec: unsupported video codec {0}")]
    UnsupportedVideoCodec(String),
    /// An audio sound format we do not handle.
    #[error("codec: unsupported audio format {0}")]
    UnsupportedAudioFormat(u8),
}

/// Video codecs the server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (legacy codec id 7, or enhanced RTMP `avc1`).
    Avc,
    /// H.265 (legacy codec id 12 as SRS and Chinese CDNs use it, or enhanced RTMP `hvc1`).
    Hevc,
}

impl VideoCodec {
    /// Name as SRS's HTTP API reports it.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Avc => "H264",
            VideoCodec::Hevc => "H265",
        }
    }
}

/// Enhanced RTMP video packet types (the low nibble of the first byte when bit 7 is set).
pub mod ex_packet_type {
    /// Sequence start: the decoder configuration record.
    pub const SEQUENCE_START: u8 = 0;
    /// Coded frames with a composition time offset.
    pub const CODED_FRAMES: u8 = 1;
    /// End of sequence.
    pub const SEQUENCE_END: u8 = 2;
    /// Coded frames without composition time (it is zero).
    pub const CODED_FRAMES_X: u8 = 3;
}

/// What a video message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacket<'a> {
    /// Decoder configuration record (AVCDecoderConfigurationRecord or HEVC's).
    SequenceHeader(&'a [u8]),
    /// One access unit: length-prefixed NAL units.
    Frame {
        /// Composition time offset (PTS - DTS) in milliseconds.
        composition_time: i32,
        /// Length-prefixed NAL units.
        data: &'a [u8],
    },
    /// End of sequence, a video info/command frame, or metadata: nothing to decode.
    Other,
}

/// A parsed video tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTag<'a> {
    /// The codec.
    pub codec: VideoCodec,
    /// Frame type 1: a keyframe (random access point).
    pub keyframe: bool,
    /// Payload.
    pub packet: VideoPacket<'a>,
}

/// Sign-extend a 24-bit big-endian integer.
fn si24(b: &[u8]) -> i32 {
    let v = (b[0] as i32) << 16 | (b[1] as i32) << 8 | b[2] as i32;
    (v << 8) >> 8
}

impl<'a> VideoTag<'a> {
    /// Parse an FLV/RTMP video tag body.
    pub fn parse(body: &'a [u8]) -> Result<Self, CodecError> {
        let &b0 = body.first().ok_or(CodecError::Truncated)?;
        let frame_type = (b0 >> 4) & 0x07;
        let keyframe = frame_type == 1;
        if b0 & 0x80 != 0 {
            // Enhanced RTMP: [1|frame type|packet type] FourCC [SI24 cts] data.
            let fourcc = body.get(1..5).ok_or(CodecError::Truncated)?;
            let codec = match fourcc {
                b"hvc1" => VideoCodec::Hevc,
                b"avc1" => VideoCodec::Avc,
                _ => {
                    return Err(CodecError::UnsupportedVideoCodec(
                        String::from_utf8_lossy(fourcc).into_owned(),
                    ))
                }
            };
            let rest = &body[5..];
            let packet = match b0 & 0x0f {
                ex_packet_type::SEQUENCE_START => VideoPacket::SequenceHeader(rest),
                ex_packet_type::CODED_FRAMES => {
                    if rest.len() < 3 {
                        return Err(CodecError::Truncated);
                    }
                    VideoPacket::Frame {
                        composition_time: si24(rest),
                        data: &rest[3..],
                    }
                }
                ex_packet_type::CODED_FRAMES_X => VideoPacket::Frame {
                    composition_time: 0,
                    data: rest,
                },
                _ => VideoPacket::Other,
            };
            return Ok(Self {
                codec,
                keyframe: keyframe && matches!(packet, VideoPacket::Frame { .. }),
                packet,
            });
        }
        let codec = match b0 & 0x0f {
            codec_id::AVC => VideoCodec::Avc,
            codec_id::HEVC => VideoCodec::Hevc,
            id => return Err(CodecError::UnsupportedVideoCodec(format!("id {id}"))),
        };
        // Frame type 5 is a video info/command frame without an AVC packet.
        if frame_type == 5 {
            return Ok(Self {
                codec,
                keyframe: false,
                packet: VideoPacket::Other,
            });
        }
        if body.len() < 5 {
            return Err(CodecError::Truncated);
        }
        let packet = match body[1] {
            0 => VideoPacket::SequenceHeader(&body[5..]),
            1 => VideoPacket::Frame {
                composition_time: si24(&body[2..5]),
                data: &body[5..],
            },
            _ => VideoPacket::Other,
        };
        Ok(Self {
            codec,
            keyframe: keyframe && matches!(packet, VideoPacket::Frame { .. }),
            packet,
        })
    }
}

/// Whether `data` starts with an Annex B start code (`00 00 01` or `00 00 00 01`).
pub fn is_annexb(data: &[u8]) -> bool {
    data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1])
}

/// Split Annex B data into NAL units (start codes removed, empty units skipped); `None`
/// when it does not start with a start code.
pub fn annexb_nal_units(data: &[u8]) -> Option<Vec<&[u8]>> {
    if !is_annexb(data) {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 0;
    let mut start = None;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                // A 4-byte code's leading zero belongs to the code, not the unit.
                let mut end = i;
                while end > s && data[end - 1] == 0 {
                    end -= 1;
                }
                if end > s {
                    out.push(&data[s..end]);
                }
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(s) = start.filter(|&s| s < data.len()) {
        out.push(&data[s..]);
    }
    Some(out)
}

/// Splits length-prefixed NAL units (the AVCC/HVCC framing of RTMP frames).
pub fn nal_units(data: &[u8], length_size: u8) -> NalUnits<'_> {
    NalUnits {
        data,
        length_size: length_size as usize,
    }
}

/// Iterator over length-prefixed NAL units; yields an error (once) at a bad length.
#[derive(Debug, Clone)]
pub struct NalUnits<'a> {
    data: &'a [u8],
    length_size: usize,
}

impl<'a> Iterator for NalUnits<'a> {
    type Item = Result<&'a [u8], CodecError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        if self.data.len() < self.length_size || self.length_size == 0 {
            let left = self.data.len();
            self.data = &[];
            return Some(Err(CodecError::BadNalLength { len: 0, left }));
        }
        let len = self.data[..self.length_size]
            .iter()
            .fold(0usize, |acc, &b| acc << 8 | b as usize);
        let rest = &self.data[self.length_size..];
        if len > rest.len() {
            self.data = &[];
            return Some(Err(CodecError::BadNalLength {
                len,
                left: rest.len(),
            }));
        }
        let (nal, rest) = rest.split_at(len);
        self.data = rest;
        Some(Ok(nal))
    }
}

/// What an audio message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioPacket<'a> {
    /// AAC AudioSpecificConfig.
    SequenceHeader(&'a [u8]),
    /// One raw frame (AAC raw_data_block, or an MP3 frame).
    Frame(&'a [u8]),
}

/// A parsed audio tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioTag<'a> {
    /// Sound format (10 AAC, 2 MP3, ...), see [`crate::flv::sound_format`].
    pub sound_format: u8,
    /// Payload.
    pub packet: AudioPacket<'a>,
}

impl<'a> AudioTag<'a> {
    /// Parse an FLV/RTMP audio tag body. Only AAC has a packet type byte.
    pub fn parse(body: &'a [u8]) -> Result<Self, CodecError> {
        let &b0 = body.first().ok_or(CodecError::Truncated)?;
        let sound_format = b0 >> 4;
        let packet = if sound_format == sound_format::AAC {
            match body.get(1) {
                Some(0) => AudioPacket::SequenceHeader(&body[2..]),
                Some(_) => AudioPacket::Frame(&body[2..]),
                None => return Err(CodecError::Truncated),
            }
        } else {
            AudioPacket::Frame(&body[1..])
        };
        Ok(Self {
            sound_format,
            packet,
        })
    }
}

/// Video stream info as SRS's `/api/v1/streams` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoInfo {
    /// Codec.
    pub codec: VideoCodec,
    /// Profile name ("High", "Main10", ...).
    pub profile: &'static str,
    /// Level name ("3.1").
    pub level: &'static str,
    /// Width in pixels, when known (H.264 only).
    pub width: Option<u32>,
    /// Height in pixels, when known (H.264 only).
    pub height: Option<u32>,
}

/// Stream info from a video sequence header message body; `Ok(None)` for other video
/// messages.
pub fn video_info(body: &[u8]) -> Result<Option<VideoInfo>, CodecError> {
    let tag = VideoTag::parse(body)?;
    let VideoPacket::SequenceHeader(record) = tag.packet else {
        return Ok(None);
    };
    Ok(Some(match tag.codec {
        VideoCodec::Avc => {
            let c = avc::AvcDecoderConfig::parse(record)?;
            let sps = c.parse_sps()?;
            VideoInfo {
                codec: tag.codec,
                profile: sps.profile_name(),
                level: sps.level_name(),
                width: Some(sps.width),
                height: Some(sps.height),
            }
        }
        VideoCodec::Hevc => {
            let c = hevc::HevcDecoderConfig::parse(record)?;
            VideoInfo {
                codec: tag.codec,
                profile: c.profile_name(),
                level: c.level_name(),
                width: None,
                height: None,
            }
        }
    }))
}

/// Audio stream info as SRS's `/api/v1/streams` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioInfo {
    /// "AAC", "MP3", "Opus", "Speex" or "Other".
    pub codec: &'static str,
    /// Sampling rate in Hz (AAC: of the core layer, as SRS reports it).
    pub sample_rate: Option<u32>,
    /// Channel count.
    pub channels: Option<u8>,
    /// AAC profile ("LC", "HE", "HEv2", ...).
    pub profile: Option<&'static str>,
}

/// Name of an FLV sound format.
pub fn audio_codec_name(sound_format: u8) -> &'static str {
    match sound_format {
        sound_format::AAC => "AAC",
        sound_format::MP3 => "MP3",
        sound_format::OPUS => "Opus",
        sound_format::SPEEX => "Speex",
        _ => "Other",
    }
}

/// Stream info from an AAC sequence header message body; `Ok(None)` for other audio
/// messages.
pub fn audio_info(body: &[u8]) -> Result<Option<AudioInfo>, CodecError> {
    let tag = AudioTag::parse(body)?;
    let AudioPacket::SequenceHeader(asc) = tag.packet else {
        return Ok(None);
    };
    let c = aac::AudioSpecificConfig::parse(asc)?;
    Ok(Some(AudioInfo {
        codec: "AAC",
        sample_rate: Some(c.sample_rate),
        channels: Some(c.channels()),
        profile: Some(c.profile_name()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_tags() {
        let t = VideoTag::parse(&[0x17, 0x01, 0xff, 0xff, 0xd8, 0, 0, 0, 1, 0x65]).unwrap();
        assert_eq!(t.codec, VideoCodec::Avc);
        assert!(t.keyframe);
        assert_eq!(
            t.packet,
            VideoPacket::Frame {
                composition_time: -40,
                data: &[0, 0, 0, 1, 0x65]
            }
        );
        let t = VideoTag::parse(&[0x27, 0x01, 0, 0, 80]).unwrap();
        assert!(!t.keyframe);
        assert_eq!(
            t.packet,
            VideoPacket::Frame {
                composition_time: 80,
                data: &[]
            }
        );
        let t = VideoTag::parse(&[0x1c, 0x00, 0, 0, 0, 1, 2]).unwrap();
        assert_eq!(
            (t.codec, t.keyframe, t.packet),
            (
                VideoCodec::Hevc,
                false,
                VideoPacket::SequenceHeader(&[1, 2])
            )
        );
        assert_eq!(
            VideoTag::parse(&[0x17, 0x02, 0, 0, 0]).unwrap().packet,
            VideoPacket::Other
        );
        assert_eq!(
            VideoTag::parse(&[0x57, 0x00]).unwrap().packet,
            VideoPacket::Other
        );
        assert_eq!(
            VideoTag::parse(&[0x17, 0x01, 0, 0]),
            Err(CodecError::Truncated)
        );
        assert_eq!(
            VideoTag::parse(&[0x12, 0x01, 0, 0, 0]),
            Err(CodecError::UnsupportedVideoCodec("id 2".into()))
        );
        assert_eq!(VideoTag::parse(&[]), Err(CodecError::Truncated));
    }

    #[test]
    fn enhanced_rtmp_tags() {
        let mut b = vec![0x80 | 0x10, b'h', b'v', b'c', b'1', 9];
        let t = VideoTag::parse(&b).unwrap();
        assert_eq!(
            (t.codec, t.keyframe, t.packet),
            (VideoCodec::Hevc, false, VideoPacket::SequenceHeader(&[9]))
        );
        b[0] = 0x80 | 0x10 | 1;
        b.extend_from_slice(&[0, 0x21]);
        let t = VideoTag::parse(&b).unwrap();
        assert!(t.keyframe);
        assert_eq!(
            t.packet,
            VideoPacket::Frame {
                composition_time: 0x09_0021,
                data: &[]
            }
        );
        b[0] = 0x80 | 0x20 | 3;
        let t = VideoTag::parse(&b).unwrap();
        assert!(!t.keyframe);
        assert_eq!(
            t.packet,
            VideoPacket::Frame {
                composition_time: 0,
                data: &[9, 0, 0x21]
            }
        );
        assert_eq!(
            VideoTag::parse(&[0x91, b'a', b'v', b'0', b'1']),
            Err(CodecError::UnsupportedVideoCodec("av01".into()))
        );
        assert_eq!(
            VideoTag::parse(&[0x91, b'h', b'v']),
            Err(CodecError::Truncated)
        );
    }

    #[test]
    fn nal_unit_split() {
        let data = [0, 0, 0, 2, 0x65, 1, 0, 0, 0, 1, 0x06];
        let v: Vec<_> = nal_units(&data, 4).collect();
        assert_eq!(v, vec![Ok(&[0x65, 1][..]), Ok(&[0x06][..])]);
        let v: Vec<_> = nal_units(&[0, 5, 1], 2).collect();
        assert_eq!(v, vec![Err(CodecError::BadNalLength { len: 5, left: 1 })]);
        let v: Vec<_> = nal_units(&[0, 0, 1], 4).collect();
        assert_eq!(v, vec![Err(CodecError::BadNalLength { len: 0, left: 3 })]);
        assert_eq!(nal_units(&[1, 7, 0], 1).count(), 2);
    }

    #[test]
    fn stream_info() {
        let body = [
            &[0x17u8, 0, 0, 0, 0][..],
            &[
                0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9,
                0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03,
                0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0,
                0xfd, 0xf8, 0xf8, 0x00,
            ],
        ]
        .concat();
        assert_eq!(
            video_info(&body).unwrap(),
            Some(VideoInfo {
                codec: VideoCodec::Avc,
                profile: "High",
                level: "1.3",
                width: Some(320),
                height: Some(240),
            })
        );
        assert_eq!(video_info(&[0x27, 1, 0, 0, 0]).unwrap(), None);
        let mut hevc = vec![0x1c, 0, 0, 0, 0];
        hevc.extend_from_slice(&hevc::tests::sample_record());
        let i = video_info(&hevc).unwrap().unwrap();
        assert_eq!(
            (i.codec.name(), i.profile, i.level, i.width),
            ("H265", "Main", "2.1", None)
        );
        assert_eq!(
            audio_info(&[0xaf, 0x00, 0x12, 0x10]).unwrap(),
            Some(AudioInfo {
                codec: "AAC",
                sample_rate: Some(44100),
                channels: Some(2),
                profile: Some("LC"),
            })
        );
        assert_eq!(audio_info(&[0xaf, 0x01, 0x21]).unwrap(), None);
        assert_eq!(audio_info(&[0x2f, 0xff]).unwrap(), None);
        assert_eq!(audio_codec_name(2), "MP3");
        assert_eq!(AudioTag::parse(&[0xaf]), Err(CodecError::Truncated));
    }
}
