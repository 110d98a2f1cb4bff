//! Header-only readers for HTTP-FLV players: an HTTP/1.1 response head, the chunked transfer
//! coding (RFC 9112 section 7.1), and an FLV tag walker that looks at each 11-byte tag header
//! (Adobe FLV specification v10, annex E.4.1) and skips the body without copying it.
//!
//! Sans-I/O like the protocol crate: push bytes, get tag headers out. Memory is bounded by
//! [`MAX_HEAD`] and a few dozen bytes of state; no tag body is ever buffered except the
//! first [`BODY_PREFIX`] bytes of script and video tags, where the bench clock lives and
//! where a sequence header shows.

use crate::clock::{CLOCK_BODY_LEN, VIDEO_STAMP_REACH};

/// Largest HTTP response head we accept.
pub const MAX_HEAD: usize = 16 * 1024;
/// Bytes of a script or video tag body kept for the caller: enough for a clock data message
/// and for a clock SEI at the start of a frame.
pub const BODY_PREFIX: usize = if CLOCK_BODY_LEN > VIDEO_STAMP_REACH {
    CLOCK_BODY_LEN
} else {
    VIDEO_STAMP_REACH
};
/// Longest chunk-size line (hex size, extensions) we accept.
const MAX_CHUNK_LINE: usize = 256;

/// Why an HTTP-FLV response cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The response head is larger than [`MAX_HEAD`].
    #[error("HTTP response head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// The status line is not `HTTP/1.x 200`.
    #[error("HTTP status: {0}")]
    Status(String),
    /// A malformed chunk size line.
    #[error("bad chunk size line")]
    BadChunk,
    /// The body ended (a zero-size chunk).
    #[error("HTTP body ended")]
    BodyEnded,
    /// The body does not start with an FLV header.
    #[error("not an FLV stream")]
    NotFlv,
}

/// What the response head said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// `Transfer-Encoding: chunked`.
    pub chunked: bool,
    /// Bytes of the head, including the blank line.
    pub len: usize,
}

/// Parse a response head at the front of `buf`: `Ok(None)` until the blank line arrived.
pub fn parse_head(buf: &[u8]) -> Result<Option<ResponseHead>, ScanError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(ScanError::HeadTooLarge)
        } else {
            Ok(None)
        };
    };
    if end > MAX_HEAD {
        return Err(ScanError::HeadTooLarge);
    }
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or("");
    let mut parts = status.split_whitespace();
    let ok = parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) && parts.next() == Some("200");
    if !ok {
        return Err(ScanError::Status(status.chars().take(80).collect()));
    }
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    Ok(Some(ResponseHead {
        chunked,
        len: end + 4,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size line (its length so far, the size so far, past a `;`).
    Size {
        line: usize,
        size: u64,
        ext: bool,
        digits: bool,
    },
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// The CRLF after chunk data; how many of its 2 bytes are still expected.
    DataEnd(u8),
    /// The zero-size chunk arrived.
    Done,
}

/// Removes the chunked transfer coding, handing the data through without copying.
#[derive(Debug, Clone)]
pub struct Dechunker {
    state: ChunkState,
}

impl Default for Dechunker {
    fn default() -> Self {
        Self::new()
    }
}

impl Dechunker {
    /// At the start of a body.
    pub fn new() -> Self {
        Self {
            state: ChunkState::Size {
                line: 0,
                size: 0,
                ext: false,
                digits: false,
            },
        }
    }

    /// Feed body bytes; `data` is called with each run of chunk data.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut data: impl FnMut(&[u8]) -> Result<(), ScanError>,
    ) -> Result<(), ScanError> {
        while !input.is_empty() {
            match &mut self.state {
                ChunkState::Done => return Err(ScanError::BodyEnded),
                ChunkState::Size {
                    line,
                    size,
                    ext,
                    digits,
                } => {
                    let b = input[0];
                    input = &input[1..];
                    *line += 1;
                    if *line > MAX_CHUNK_LINE {
                        return Err(ScanError::BadChunk);
                    }
                    match b {
                        b'\n' => {
                            if !*digits {
                                return Err(ScanError::BadChunk);
                            }
                            self.state = if *size == 0 {
                                ChunkState::Done
                            } else {
                                ChunkState::Data(*size)
                            };
                        }
                        b'\r' => {}
                        _ if *ext => {}
                        b';' => *ext = true,
                        _ => {
                            let d = (b as char).to_digit(16).ok_or(ScanError::BadChunk)?;
                            *size = size
                                .checked_mul(16)
                                .and_then(|s| s.checked_add(d as u64))
                                .filter(|s| *s <= u32::MAX as u64)
                                .ok_or(ScanError::BadChunk)?;
                            *digits = true;
                        }
                    }
                }
                ChunkState::Data(left) => {
                    let n = (*left).min(input.len() as u64) as usize;
                    data(&input[..n])?;
                    input = &input[n..];
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = ChunkState::DataEnd(2);
                    }
                }
                ChunkState::DataEnd(left) => {
                    if !matches!(input[0], b'\r' | b'\n') {
                        return Err(ScanError::BadChunk);
                    }
                    let lf = input[0] == b'\n';
                    input = &input[1..];
                    *left -= 1;
                    if *left == 0 || lf {
                        *self = Self::new();
                    }
                }
            }
        }
        Ok(())
    }
}

/// One FLV tag, as seen by [`FlvScan`] when its last byte arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagSeen<'a> {
    /// Tag type (8 audio, 9 video, 18 script).
    pub tag_type: u8,
    /// Timestamp in milliseconds.
    pub timestamp: u32,
    /// Body size in bytes.
    pub size: u32,
    /// The first [`BODY_PREFIX`] bytes of a script or video tag's body (empty for audio).
    pub prefix: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlvState {
    /// The 9-byte file header.
    FileHeader,
    /// Skipping the rest of a longer header and PreviousTagSize0.
    Skip(u64),
    /// A tag header, this many of its 11 bytes in hand.
    TagHeader(usize),
    /// A tag body, this many bytes left.
    Body(u32),
    /// The PreviousTagSize after a body, this many of its 4 bytes left.
    PrevSize(u8),
}

/// Walks an FLV byte stream tag by tag, looking only at headers.
#[derive(Debug, Clone)]
pub struct FlvScan {
    state: FlvState,
    header: [u8; 11],
    prefix: [u8; BODY_PREFIX],
    prefix_len: usize,
}

impl Default for FlvScan {
    fn default() -> Self {
        Self::new()
    }
}

impl FlvScan {
    /// Expecting the file header.
    pub fn new() -> Self {
        Self {
            state: FlvState::FileHeader,
            header: [0; 11],
            prefix: [0; BODY_PREFIX],
            prefix_len: 0,
        }
    }

    fn tag(&self) -> (u8, u32, u32) {
        let h = &self.header;
        let size = (h[1] as u32) << 16 | (h[2] as u32) << 8 | h[3] as u32;
        let ts = (h[7] as u32) << 24 | (h[4] as u32) << 16 | (h[5] as u32) << 8 | h[6] as u32;
        (h[0] & 0x1f, ts, size)
    }

    fn finish_tag(&mut self, seen: &mut impl FnMut(TagSeen<'_>)) {
        let (tag_type, timestamp, size) = self.tag();
        seen(TagSeen {
            tag_type,
            timestamp,
            size,
            prefix: &self.prefix[..self.prefix_len],
        });
        self.prefix_len = 0;
        self.state = FlvState::PrevSize(4);
    }

    /// Feed bytes of the FLV stream; `seen` is called for each complete tag.
    pub fn feed(
        &mut self,
        mut input: &[u8],
        mut seen: impl FnMut(TagSeen<'_>),
    ) -> Result<(), ScanError> {
        while !input.is_empty() {
            match self.state {
                FlvState::FileHeader => {
                    // Collect the 9 header bytes in `header` (it has room for 11).
                    let have = self.prefix_len;
                    let n = (9 - have).min(input.len());
                    self.header[have..have + n].copy_from_slice(&input[..n]);
                    input = &input[n..];
                    self.prefix_len += n;
                    if self.prefix_len == 9 {
                        if &self.header[..3] != b"FLV" {
                            return Err(ScanError::NotFlv);
                        }
                        let len = u32::from_be_bytes([
                            self.header[5],
                            self.header[6],
                            self.header[7],
                            self.header[8],
                        ]) as u64;
                        self.prefix_len = 0;
                        self.state = FlvState::Skip(len.max(9) - 9 + 4);
                    }
                }
                FlvState::Skip(left) => {
                    let n = left.min(input.len() as u64);
                    input = &input[n as usize..];
                    self.state = if left == n {
                        FlvState::TagHeader(0)
                    } else {
                        FlvState::Skip(left - n)
                    };
                }
                FlvState::TagHeader(have) => {
                    let n = (11 - have).min(input.len());
                    self.header[have..have + n].copy_from_slice(&input[..n]);
                    input = &input[n..];
                    if have + n < 11 {
                        self.state = FlvState::TagHeader(have + n);
                    } else {
                        let (_, _, size) = self.tag();
                        if size == 0 {
                            self.finish_tag(&mut seen);
                        } else {
                            self.state = FlvState::Body(size);
                        }
                    }
                }
                FlvState::Body(left) => {
                    let n = (left as usize).min(input.len());
                    let kept = matches!(self.header[0] & 0x1f, 9 | 18);
                    if kept && self.prefix_len < BODY_PREFIX {
                        let k = (BODY_PREFIX - self.prefix_len).min(n);
                        self.prefix[self.prefix_len..self.prefix_len + k]
                            .copy_from_slice(&input[..k]);
                        self.prefix_len += k;
                    }
                    input = &input[n..];
                    if left as usize == n {
                        self.finish_tag(&mut seen);
                    } else {
                        self.state = FlvState::Body(left - n as u32);
                    }
                }
                FlvState::PrevSize(left) => {
                    let n = (left as usize).min(input.len());
                    input = &input[n..];
                    self.state = if left as usize == n {
                        FlvState::TagHeader(0)
                    } else {
                        FlvState::PrevSize(left - n as u8)
                    };
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
    use bytes::BytesMut;
    use srs_protocol::flv;

    fn stream() -> Vec<u8> {
        let mut out = BytesMut::new();
        out.extend_from_slice(&flv::file_header(true, true));
        flv::write_tag(&mut out, 18, 0, &clock::encode(42));
        flv::write_tag(&mut out, 9, 40, &[0x17, 1, 0, 0, 0, 5, 5]);
        flv::write_tag(&mut out, 8, 0x0100_0000, &[0xaf, 1]);
        flv::write_tag(&mut out, 9, 80, &[]);
        out.to_vec()
    }

    fn scan_all(pieces: &[&[u8]]) -> Vec<(u8, u32, u32, Option<u64>)> {
        let mut s = FlvScan::new();
        let mut tags = Vec::new();
        for p in pieces {
            s.feed(p, |t| {
                tags.push((t.tag_type, t.timestamp, t.size, clock::parse(t.prefix)))
            })
            .unwrap();
        }
        tags
    }

    #[test]
    fn walks_tags_in_any_split() {
        let data = stream();
        let want = vec![
            (18, 0, clock::CLOCK_BODY_LEN as u32, Some(42)),
            (9, 40, 7, None),
            (8, 0x0100_0000, 2, None),
            (9, 80, 0, None),
        ];
        assert_eq!(scan_all(&[&data]), want);
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(scan_all(&bytes), want);
        for cut in 0..data.len() {
            assert_eq!(scan_all(&[&data[..cut], &data[cut..]]), want, "cut {cut}");
        }
        let mut s = FlvScan::new();
        assert_eq!(s.feed(b"GIF89a12345", |_| {}), Err(ScanError::NotFlv));
    }

    #[test]
    fn keeps_the_start_of_video_tags_for_the_clock() {
        let frame = [0x27, 1, 0, 0, 0, 0, 0, 0, 3, 0x41, 0x9a, 0x01];
        let mut body = clock::stamp_video(&frame, 1234).unwrap();
        body.extend_from_slice(&[7; 3000]);
        let mut data = BytesMut::new();
        data.extend_from_slice(&flv::file_header(true, true));
        flv::write_tag(&mut data, 9, 40, &body);
        flv::write_tag(&mut data, 8, 40, &[0xaf, 1, 2]);
        for cut in [1, 20, 30, 60, 100, data.len() - 1] {
            let mut s = FlvScan::new();
            let mut seen = Vec::new();
            for part in [&data[..cut], &data[cut..]] {
                s.feed(part, |t| {
                    seen.push((t.tag_type, t.prefix.len(), clock::parse_video(t.prefix)))
                })
                .unwrap();
            }
            assert_eq!(
                seen,
                vec![(9, BODY_PREFIX, Some(1234)), (8, 0, None)],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn dechunks_then_scans() {
        let flv = stream();
        // Chunks of 5 bytes, with an extension on one size line.
        let mut body = Vec::new();
        for (i, c) in flv.chunks(5).enumerate() {
            if i == 1 {
                body.extend_from_slice(format!("{:x};name=value\r\n", c.len()).as_bytes());
            } else {
                body.extend_from_slice(format!("{:X}\r\n", c.len()).as_bytes());
            }
            body.extend_from_slice(c);
            body.extend_from_slice(b"\r\n");
        }
        for split in [1, 3, 7, body.len()] {
            let mut d = Dechunker::new();
            let mut out = Vec::new();
            for piece in body.chunks(split) {
                d.feed(piece, |b| {
                    out.extend_from_slice(b);
                    Ok(())
                })
                .unwrap();
            }
            assert_eq!(out, flv, "split {split}");
        }
        let mut d = Dechunker::new();
        assert_eq!(d.feed(b"0\r\n\r\n", |_| Ok(())), Err(ScanError::BodyEnded));
        let mut d = Dechunker::new();
        assert_eq!(d.feed(b"zz\r\n", |_| Ok(())), Err(ScanError::BadChunk));
        let mut d = Dechunker::new();
        assert_eq!(
            d.feed(b"fffffffffff\r\n", |_| Ok(())),
            Err(ScanError::BadChunk)
        );
        let mut d = Dechunker::new();
        assert_eq!(d.feed(b"2\r\nabXY", |_| Ok(())), Err(ScanError::BadChunk));
    }

    #[test]
    fn response_heads() {
        assert_eq!(parse_head(b"HTTP/1.1 200 OK\r\nServer: x\r\n"), Ok(None));
        let h = b"HTTP/1.1 200 OK\r\nContent-Type: video/x-flv\r\nTransfer-Encoding: chunked\r\n\r\nFLV";
        assert_eq!(
            parse_head(h),
            Ok(Some(ResponseHead {
                chunked: true,
                len: h.len() - 3
            }))
        );
        let h = b"HTTP/1.0 200 OK\r\n\r\n";
        assert!(!parse_head(h).unwrap().unwrap().chunked);
        assert!(matches!(
            parse_head(b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(ScanError::Status(s)) if s.contains("404")
        ));
        assert_eq!(
            parse_head(&vec![b'a'; MAX_HEAD + 1]),
            Err(ScanError::HeadTooLarge)
        );
    }
}
