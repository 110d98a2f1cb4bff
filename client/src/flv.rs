//! FLV files (Adobe FLV v10, E.2–E.4): read tags from any [`Read`], write them to any
//! [`Write`]. The parsing is the sans-I/O reader of `srs-protocol`.

use bytes::BytesMut;
use srs_protocol::flv as proto;
use std::io::{Read, Write};

pub use srs_protocol::flv::{tag_type, Tag};

/// Why an FLV file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FlvError {
    /// Reading failed.
    #[error("flv: read: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not FLV (bad signature, or a tag past the size limit).
    #[error("{0}")]
    Format(#[from] proto::FlvError),
    /// The file ends inside a tag.
    #[error("flv: the file ends inside a tag ({0} bytes left over)")]
    Truncated(usize),
}

/// Reads the tags of an FLV file, in order.
pub struct FlvReader<R> {
    inner: R,
    parser: proto::FlvReader,
    /// The header's flags byte (audio 4, video 1), once read.
    flags: Option<u8>,
    /// Bytes given to the parser and not yet returned as tags.
    pending: usize,
    eof: bool,
    buf: Vec<u8>,
}

impl<R: Read> FlvReader<R> {
    /// A reader of `inner`, which must start with the FLV header.
    pub fn new(inner: R) -> FlvReader<R> {
        FlvReader {
            inner,
            parser: proto::FlvReader::new(),
            flags: None,
            pending: 0,
            eof: false,
            buf: vec![0; 64 * 1024],
        }
    }

    /// Read the header now: (has audio, has video) as its flags say.
    pub fn read_header(&mut self) -> Result<(bool, bool), FlvError> {
        if self.flags.is_none() {
            let mut head = [0u8; 13];
            self.inner.read_exact(&mut head)?;
            if &head[..3] != b"FLV" {
                return Err(proto::FlvError::BadSignature.into());
            }
            self.flags = Some(head[4]);
            // The parser skips the header itself: it counts as consumed here.
            self.parser.push(&head);
        }
        let f = self.flags.unwrap_or(0);
        Ok((f & 4 != 0, f & 1 != 0))
    }

    /// The next tag; `Ok(None)` at the end of the file.
    pub fn next_tag(&mut self) -> Result<Option<Tag>, FlvError> {
        self.read_header()?;
        loop {
            if let Some(t) = self.parser.next_tag()? {
                self.pending = self.pending.saturating_sub(15 + t.body.len());
                return Ok(Some(t));
            }
            if self.eof {
                return match self.pending {
                    0 => Ok(None),
                    n => Err(FlvError::Truncated(n)),
                };
            }
            let n = self.inner.read(&mut self.buf)?;
            if n == 0 {
                self.eof = true;
                continue;
            }
            self.pending += n;
            self.parser.push(&self.buf[..n]);
        }
    }

    /// The reader back.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Writes an FLV file: the header, then tags.
pub struct FlvWriter<W: Write> {
    inner: W,
    buf: BytesMut,
}

impl<W: Write> FlvWriter<W> {
    /// Write the header (with the audio and video flags) to `inner`.
    pub fn new(mut inner: W, has_audio: bool, has_video: bool) -> std::io::Result<FlvWriter<W>> {
        inner.write_all(&proto::file_header(has_audio, has_video))?;
        Ok(FlvWriter {
            inner,
            buf: BytesMut::new(),
        })
    }

    /// Write one tag: type (8 audio, 9 video, 18 data), timestamp in ms, body.
    pub fn write_tag(&mut self, tag_type: u8, timestamp: u32, body: &[u8]) -> std::io::Result<()> {
        self.buf.clear();
        proto::write_tag(&mut self.buf, tag_type, timestamp, body);
        self.inner.write_all(&self.buf)
    }

    /// Flush and give the writer back.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.inner.flush()?;
        Ok(self.inner)
    }
}

fn name(v: u8, names: &[&'static str]) -> &'static str {
    names
        .get(usize::from(v))
        .copied()
        .filter(|n| !n.is_empty())
        .unwrap_or("Unknown")
}

/// Name of an FLV video codec id (7 `H.264`, 12 `H.265`, ...), as SRS names it.
pub fn video_codec_name(id: u8) -> &'static str {
    name(
        id,
        &[
            "", "", "H.263", "Screen", "VP6", "VP6Alpha", "Screen2", "H.264", "", "", "", "",
            "H.265",
        ],
    )
}

/// Name of an AVC packet type (0 `SH`, 1 `Nalu`, 2 `SpsPpsEnd`).
pub fn avc_packet_type_name(t: u8) -> &'static str {
    name(t, &["SH", "Nalu", "SpsPpsEnd"])
}

/// Name of a video frame type (1 `I`, 2 `P/B`, ...).
pub fn video_frame_type_name(t: u8) -> &'static str {
    name(t, &["", "I", "P/B", "DI", "GI", "VI"])
}

/// Name of an FLV sound format (10 `AAC`, 2 `MP3`, ...).
pub fn sound_format_name(f: u8) -> &'static str {
    name(
        f,
        &[
            "LinearPCM",
            "ADPCM",
            "MP3",
            "LinearPCMLe",
            "NellymoserKHz16",
            "NellymoserKHz8",
            "Nellymoser",
            "G711APCM",
            "G711MuPCM",
            "Reserved",
            "AAC",
            "Speex",
            "",
            "Opus",
            "MP3KHz8",
            "DeviceSpecific",
        ],
    )
}

/// Name of an FLV sound rate (0 `5.5KHz` .. 3 `44KHz`).
pub fn sound_rate_name(r: u8) -> &'static str {
    name(r, &["5.5KHz", "11KHz", "22KHz", "44KHz"])
}

/// Name of an FLV sound size (0 `8bit`, 1 `16bit`).
pub fn sound_size_name(s: u8) -> &'static str {
    name(s, &["8bit", "16bit"])
}

/// Name of an FLV sound type (0 `Mono`, 1 `Stereo`).
pub fn sound_type_name(t: u8) -> &'static str {
    name(t, &["Mono", "Stereo"])
}

/// Name of an AAC packet type (0 `SH`, 1 `Raw`).
pub fn aac_packet_type_name(t: u8) -> &'static str {
    name(t, &["SH", "Raw"])
}

/// One line about a tag or message, as SRS 3's `srs_human_format_rtmp_packet` writes it.
pub fn describe_tag(ty: u8, timestamp: u32, body: &[u8]) -> String {
    let size = body.len();
    match ty {
        9 => {
            let b0 = body.first().copied().unwrap_or(0);
            let cts = if body.len() >= 5 && body[1] == 1 {
                (i32::from(body[2]) << 16 | i32::from(body[3]) << 8 | i32::from(body[4])) << 8 >> 8
            } else {
                0
            };
            format!(
                "Video packet type=Video, dts={timestamp}, pts={}, size={size}, {}({},{})",
                timestamp.wrapping_add(cts as u32),
                video_codec_name(b0 & 0x0f),
                avc_packet_type_name(body.get(1).copied().unwrap_or(0xff)),
                video_frame_type_name(b0 >> 4),
            )
        }
        8 => {
            let b0 = body.first().copied().unwrap_or(0);
            let mut line = format!(
                "Audio packet type=Audio, dts={timestamp}, pts={timestamp}, size={size}, {}({},{},{}",
                sound_format_name(b0 >> 4),
                sound_rate_name((b0 >> 2) & 3),
                sound_size_name((b0 >> 1) & 1),
                sound_type_name(b0 & 1),
            );
            if b0 >> 4 == 10 {
                line.push(',');
                line.push_str(aac_packet_type_name(body.get(1).copied().unwrap_or(0xff)));
            }
            line.push(')');
            line
        }
        18 => {
            let name = srs_protocol::amf0::decode_all(body)
                .ok()
                .and_then(|v| v.first().and_then(|n| n.as_str().map(str::to_string)))
                .unwrap_or_default();
            format!("Data packet type=Data, time={timestamp}, size={size}, {name}")
        }
        other => format!("Rtmp packet type={other:#x}, time={timestamp}, size={size}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_back() {
        let mut w = FlvWriter::new(Vec::new(), true, true).unwrap();
        w.write_tag(tag_type::SCRIPT, 0, b"meta").unwrap();
        w.write_tag(tag_type::VIDEO, 40, &[0x17, 1, 0, 0, 0])
            .unwrap();
        w.write_tag(tag_type::AUDIO, 0x0100_0000, &[0xaf, 1, 2])
            .unwrap();
        let bytes = w.into_inner().unwrap();
        let mut r = FlvReader::new(&bytes[..]);
        assert_eq!(r.read_header().unwrap(), (true, true));
        let t: Vec<(u8, u32, usize)> = std::iter::from_fn(|| r.next_tag().unwrap())
            .map(|t| (t.tag_type, t.timestamp, t.body.len()))
            .collect();
        assert_eq!(t, [(18, 0, 4), (9, 40, 5), (8, 0x0100_0000, 3)]);
        // Cut inside the last tag: said, not a silent end.
        let mut r = FlvReader::new(&bytes[..bytes.len() - 2]);
        assert!(r.next_tag().unwrap().is_some());
        assert!(r.next_tag().unwrap().is_some());
        assert!(matches!(r.next_tag(), Err(FlvError::Truncated(_))));
        assert!(matches!(
            FlvReader::new(&b"NOTFLV-header"[..]).next_tag(),
            Err(FlvError::Format(_))
        ));
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            describe_tag(9, 40, &[0x27, 1, 0, 0, 40, 1]),
            "Video packet type=Video, dts=40, pts=80, size=6, H.264(Nalu,P/B)"
        );
        assert_eq!(
            describe_tag(8, 7, &[0xaf, 0, 0x12, 0x10]),
            "Audio packet type=Audio, dts=7, pts=7, size=4, AAC(44KHz,16bit,Stereo,SH)"
        );
        assert_eq!(
            describe_tag(9, 0, &[]),
            "Video packet type=Video, dts=0, pts=0, size=0, Unknown(Unknown,Unknown)"
        );
    }
}
