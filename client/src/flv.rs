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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_back() {
        let mut w = FlvWriter::new(Vec::new(), true, true).unwrap();
        w.write_tag(tag_type::SCRIPT, 0, b"meta").unwrap();
        w.write_tag(tag_type::VIDEO, 40, &[0x17, 1, 0, 0, 0]).unwrap();
        w.write_tag(tag_type::AUDIO, 0x0100_0000, &[0xaf, 1, 2]).unwrap();
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
}
