//! The RTMP chunk stream: splits messages into chunks and reassembles them.
//!
//! Implements Adobe RTMP 1.0 specification section 5.3 (chunking): basic headers with chunk
//! stream ids 2–65599 (one, two and three byte forms), message headers of fmt 0–3, extended
//! timestamps (also on fmt 3 chunks, see [`ChunkDecoder`]), and a per-connection incoming chunk
//! size that Set Chunk Size (section 5.4.1) changes. Sans-I/O: the decoder takes bytes and
//! returns whole messages; the encoder appends bytes to a buffer.
//!
//! Limits against hostile peers are named in [`ChunkLimits`]: a message larger than
//! `max_message_size` is refused when its header arrives (before any of it is buffered), and
//! the number of chunk streams with state and the bytes of partly received messages are capped.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::HashMap;

/// Chunk size every connection starts with (spec 5.4.1).
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest chunk size a peer may set: the top bit of Set Chunk Size must be zero (spec 5.4.1).
pub const MAX_CHUNK_SIZE: u32 = 0x7fff_ffff;
/// Lowest chunk stream id; 0 and 1 select the 2- and 3-byte basic header forms.
pub const MIN_CSID: u32 = 2;
/// Highest chunk stream id the 3-byte basic header can carry (64 + 255 + 255 * 256).
pub const MAX_CSID: u32 = 65599;
/// Timestamp field value meaning "the real timestamp follows in 4 extra bytes".
pub const EXTENDED_TIMESTAMP: u32 = 0x00ff_ffff;

/// Limits that bound what one peer can make us buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkLimits {
    /// Largest message we accept. The wire allows 16 MiB − 1; real encoders' largest
    /// messages are keyframes of a few MiB at most.
    pub max_message_size: u32,
    /// Most chunk streams with header state at once. Encoders use fewer than ten.
    pub max_chunk_streams: usize,
    /// Most bytes of partly received messages, summed over chunk streams.
    pub max_pending_bytes: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        Self {
            max_message_size: 8 * 1024 * 1024,
            max_chunk_streams: 256,
            max_pending_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Why the chunk stream cannot go on; every variant closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// A message header announced more than `max_message_size` bytes.
    #[error("chunk stream {csid}: message of {length} bytes exceeds the limit of {limit}")]
    MessageTooLarge { csid: u32, length: u32, limit: u32 },
    /// A chunk of fmt 1–3 arrived on a chunk stream that never had a fmt 0 header.
    #[error("chunk stream {csid}: fmt {fmt} chunk without a previous header")]
    NoPreviousHeader { csid: u32, fmt: u8 },
    /// A fmt 0–2 chunk arrived while a message on the same chunk stream was incomplete.
    #[error("chunk stream {csid}: new message header (fmt {fmt}) inside an unfinished message")]
    HeaderInsideMessage { csid: u32, fmt: u8 },
    /// More chunk streams than `max_chunk_streams`.
    #[error("more than {0} chunk streams in use")]
    TooManyChunkStreams(usize),
    /// Partly received messages add up to more than `max_pending_bytes`.
    #[error("more than {0} bytes of unfinished messages")]
    TooMuchPending(usize),
    /// Set Chunk Size of zero or with the top bit set.
    #[error("invalid chunk size {0}")]
    InvalidChunkSize(u32),
}

/// One reassembled message, with its header (spec 5.3.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// Chunk stream it arrived on.
    pub csid: u32,
    /// Absolute timestamp in milliseconds (32 bits, wraps).
    pub timestamp: u32,
    /// Message type id.
    pub type_id: u8,
    /// Message stream id.
    pub stream_id: u32,
    /// The message body.
    pub payload: Bytes,
}

/// Header state kept per chunk stream between chunks (what fmt 1–3 inherit).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkStreamState {
    /// Absolute timestamp of the current (or last) message.
    pub timestamp: u32,
    /// Last timestamp field: the delta for fmt 1/2, the absolute value for fmt 0. A fmt 3
    /// chunk that starts a new message adds it again (spec 5.3.1.2.4, as ffmpeg and SRS do).
    pub delta: u32,
    /// Length of the current message.
    pub length: u32,
    /// Type id of the current message.
    pub type_id: u8,
    /// Message stream id of the current message.
    pub stream_id: u32,
    /// Whether the last header carried an extended timestamp; fmt 3 chunks then carry one too.
    pub extended: bool,
    /// Bytes of the current message received so far (empty between messages).
    pub partial: Vec<u8>,
    /// True while a message is partly received.
    pub in_progress: bool,
}

/// The scalar header fields of a chunk stream (what fmt 1–3 inherit).
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    timestamp: u32,
    delta: u32,
    length: u32,
    type_id: u8,
    stream_id: u32,
    extended: bool,
}

impl ChunkStreamState {
    fn header(&self) -> Header {
        Header {
            timestamp: self.timestamp,
            delta: self.delta,
            length: self.length,
            type_id: self.type_id,
            stream_id: self.stream_id,
            extended: self.extended,
        }
    }

    fn set_header(&mut self, h: Header) {
        self.timestamp = h.timestamp;
        self.delta = h.delta;
        self.length = h.length;
        self.type_id = h.type_id;
        self.stream_id = h.stream_id;
        self.extended = h.extended;
    }
}

/// Reassembles messages from the chunks a peer sends.
#[derive(Debug, Clone)]
pub struct ChunkDecoder {
    chunk_size: u32,
    limits: ChunkLimits,
    streams: HashMap<u32, ChunkStreamState>,
    pending: usize,
}

/// A parsed chunk header: how many bytes it took and what it says.
struct ParsedHeader {
    header_len: usize,
    fmt: u8,
    csid: u32,
    /// Timestamp or delta field (already resolved from the extended field when used).
    ts_field: Option<u32>,
    extended: bool,
    length: Option<u32>,
    type_id: Option<u8>,
    stream_id: Option<u32>,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new(ChunkLimits::default())
    }
}

impl ChunkDecoder {
    /// A decoder at the default chunk size of 128.
    pub fn new(limits: ChunkLimits) -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            limits,
            streams: HashMap::new(),
            pending: 0,
        }
    }

    /// Current incoming chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Apply a Set Chunk Size received from the peer.
    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::InvalidChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Apply an Abort Message: drop the partly received message on `csid` (spec 5.4.2).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.get_mut(&csid) {
            self.pending -= s.partial.len();
            s.partial = Vec::new();
            s.in_progress = false;
        }
    }

    /// Header state of every chunk stream, for serialising the connection (handover).
    pub fn streams(&self) -> &HashMap<u32, ChunkStreamState> {
        &self.streams
    }

    /// Rebuild a decoder from serialised state.
    pub fn from_state(
        limits: ChunkLimits,
        chunk_size: u32,
        streams: HashMap<u32, ChunkStreamState>,
    ) -> Self {
        let pending = streams.values().map(|s| s.partial.len()).sum();
        Self {
            chunk_size,
            limits,
            streams,
            pending,
        }
    }

    /// Parse the header at the front of `buf` without consuming it; `None` if incomplete.
    fn parse_header(&self, buf: &[u8]) -> Result<Option<ParsedHeader>, ChunkError> {
        let Some(&b0) = buf.first() else {
            return Ok(None);
        };
        let fmt = b0 >> 6;
        let (csid, mut pos) = match b0 & 0x3f {
            0 => match buf.get(1) {
                Some(&b1) => (64 + b1 as u32, 2),
                None => return Ok(None),
            },
            1 => match (buf.get(1), buf.get(2)) {
                (Some(&b1), Some(&b2)) => (64 + b1 as u32 + b2 as u32 * 256, 3),
                _ => return Ok(None),
            },
            n => (n as u32, 1),
        };
        let prev = self.streams.get(&csid);
        if prev.is_none() && fmt != 0 {
            // librtmp opens the protocol-control chunk stream with fmt 1; SRS accepts it too.
            if !(csid == 2 && fmt == 1) {
                return Err(ChunkError::NoPreviousHeader { csid, fmt });
            }
        }
        if let Some(p) = prev {
            if p.in_progress && fmt != 3 {
                return Err(ChunkError::HeaderInsideMessage { csid, fmt });
            }
        }
        let mh_len = [11usize, 7, 3, 0][fmt as usize];
        if buf.len() < pos + mh_len {
            return Ok(None);
        }
        let mh = &buf[pos..pos + mh_len];
        pos += mh_len;
        let be24 = |b: &[u8]| (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        let mut h = ParsedHeader {
            header_len: 0,
            fmt,
            csid,
            ts_field: None,
            extended: false,
            length: None,
            type_id: None,
            stream_id: None,
        };
        if fmt <= 2 {
            h.ts_field = Some(be24(&mh[0..3]));
        }
        if fmt <= 1 {
            h.length = Some(be24(&mh[3..6]));
            h.type_id = Some(mh[6]);
        }
        if fmt == 0 {
            // The message stream id is the one little-endian field in RTMP.
            h.stream_id = Some(u32::from_le_bytes([mh[7], mh[8], mh[9], mh[10]]));
        }
        match h.ts_field {
            Some(EXTENDED_TIMESTAMP) => {
                if buf.len() < pos + 4 {
                    return Ok(None);
                }
                h.ts_field = Some(u32::from_be_bytes([
                    buf[pos],
                    buf[pos + 1],
                    buf[pos + 2],
                    buf[pos + 3],
                ]));
                h.extended = true;
                pos += 4;
            }
            Some(_) => {}
            None => {
                // fmt 3 repeats the extended timestamp when the header it continues had one.
                if let Some(p) = prev.filter(|p| p.extended) {
                    let avail = &buf[pos..];
                    if p.in_progress {
                        // Inside a message some encoders omit it: accept the 4 bytes only when
                        // they repeat the message's timestamp (or delta), as SRS does. With
                        // fewer than 4 bytes buffered, wait only while they could still match.
                        let ts = p.timestamp.to_be_bytes();
                        let delta = p.delta.to_be_bytes();
                        let n = avail.len().min(4);
                        let maybe = avail[..n] == ts[..n] || avail[..n] == delta[..n];
                        if maybe && n < 4 {
                            return Ok(None);
                        }
                        if maybe {
                            pos += 4;
                        }
                    } else {
                        if avail.len() < 4 {
                            return Ok(None);
                        }
                        let ext = u32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
                        h.ts_field = Some(ext);
                        h.extended = true;
                        pos += 4;
                    }
                }
            }
        }
        h.header_len = pos;
        Ok(Some(h))
    }

    /// Decode the next complete message from the front of `buf`, consuming every chunk read.
    /// Returns `Ok(None)` when more bytes are needed (a normal outcome); what was consumed
    /// so far is kept in the decoder.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RawMessage>, ChunkError> {
        loop {
            let Some(h) = self.parse_header(buf)? else {
                return Ok(None);
            };
            let is_new = !self.streams.contains_key(&h.csid);
            if is_new && self.streams.len() >= self.limits.max_chunk_streams {
                return Err(ChunkError::TooManyChunkStreams(
                    self.limits.max_chunk_streams,
                ));
            }
            let limits = self.limits;
            let chunk_size = self.chunk_size;
            // Work out the message header this chunk gives from a copy of the scalar fields
            // (never of the partial payload), and commit only once the chunk is all here.
            let (in_progress, have, mut hdr) = match self.streams.get(&h.csid) {
                Some(s) => (s.in_progress, s.partial.len(), s.header()),
                None => (false, 0, Header::default()),
            };
            if !in_progress {
                if let Some(l) = h.length {
                    hdr.length = l;
                }
                if let Some(t) = h.type_id {
                    hdr.type_id = t;
                }
                if let Some(s) = h.stream_id {
                    hdr.stream_id = s;
                }
                match (h.fmt, h.ts_field) {
                    (0, Some(t)) => {
                        hdr.timestamp = t;
                        hdr.delta = t;
                    }
                    (_, Some(d)) => {
                        hdr.delta = d;
                        hdr.timestamp = hdr.timestamp.wrapping_add(d);
                    }
                    (_, None) => hdr.timestamp = hdr.timestamp.wrapping_add(hdr.delta),
                }
                if h.fmt <= 2 || h.extended {
                    hdr.extended = h.extended;
                }
                if hdr.length > limits.max_message_size {
                    return Err(ChunkError::MessageTooLarge {
                        csid: h.csid,
                        length: hdr.length,
                        limit: limits.max_message_size,
                    });
                }
            }
            let want = (hdr.length as usize - have).min(chunk_size as usize);
            if buf.len() < h.header_len + want {
                return Ok(None);
            }
            let complete = have + want == hdr.length as usize;
            if !complete && self.pending + want > limits.max_pending_bytes {
                return Err(ChunkError::TooMuchPending(limits.max_pending_bytes));
            }
            buf.advance(h.header_len);
            let data = buf.split_to(want);
            let st = self.streams.entry(h.csid).or_default();
            st.set_header(hdr);
            let payload = if complete && have == 0 {
                // Whole message in one chunk. Copied, not sliced: a slice would keep the
                // whole read buffer alive for as long as the message sits in a GOP cache.
                Some(Bytes::copy_from_slice(&data))
            } else {
                if have == 0 {
                    // Exactly the message's size, once: no growth slack kept around.
                    st.partial = Vec::with_capacity(hdr.length as usize);
                }
                st.partial.extend_from_slice(&data);
                self.pending += want;
                if complete {
                    self.pending -= st.partial.len();
                    Some(Bytes::from(std::mem::take(&mut st.partial)))
                } else {
                    None
                }
            };
            st.in_progress = !complete;
            let msg = payload.map(|payload| RawMessage {
                csid: h.csid,
                timestamp: hdr.timestamp,
                type_id: hdr.type_id,
                stream_id: hdr.stream_id,
                payload,
            });
            if let Some(m) = msg {
                return Ok(Some(m));
            }
        }
    }
}

/// Append the basic header (spec 5.3.1.1) for `fmt` and `csid` (2..=65599).
fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let f = fmt << 6;
    if csid < 64 {
        out.put_u8(f | csid as u8);
    } else if csid < 64 + 256 {
        out.put_u8(f);
        out.put_u8((csid - 64) as u8);
    } else {
        let c = csid - 64;
        out.put_u8(f | 1);
        out.put_u8((c & 0xff) as u8);
        out.put_u8((c >> 8) as u8);
    }
}

/// Size in bytes of the chunked form of a `len`-byte message.
pub fn chunked_len(csid: u32, timestamp: u32, len: usize, chunk_size: u32) -> usize {
    let basic = if csid < 64 {
        1
    } else if csid < 320 {
        2
    } else {
        3
    };
    let ext = if timestamp >= EXTENDED_TIMESTAMP {
        4
    } else {
        0
    };
    let chunks = len.div_ceil(chunk_size as usize).max(1);
    basic + 11 + ext + (chunks - 1) * (basic + ext) + len
}

/// Append `payload` as one message: a fmt 0 chunk, then fmt 3 chunks of at most
/// `chunk_size` bytes. Every chunk of a message whose timestamp needs the extended field
/// repeats it, which is what Flash Player, FMS, ffmpeg and SRS expect.
///
/// Always starting with fmt 0 makes the chunked bytes of a message independent of what the
/// connection sent before, so they can be built once and shared by every player.
pub fn write_message(
    out: &mut BytesMut,
    chunk_size: u32,
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
) {
    debug_assert!((MIN_CSID..=MAX_CSID).contains(&csid));
    debug_assert!(chunk_size >= 1);
    out.reserve(chunked_len(csid, timestamp, payload.len(), chunk_size));
    put_first_header(out, csid, timestamp, type_id, stream_id, payload.len());
    let mut chunks = payload.chunks(chunk_size as usize);
    if let Some(first) = chunks.next() {
        out.put_slice(first);
    }
    for c in chunks {
        put_continuation_header(out, csid, timestamp);
        out.put_slice(c);
    }
}

/// The fmt 0 header of a message's first chunk.
fn put_first_header(
    out: &mut BytesMut,
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload_len: usize,
) {
    let extended = timestamp >= EXTENDED_TIMESTAMP;
    put_basic_header(out, 0, csid);
    let ts_field = if extended {
        EXTENDED_TIMESTAMP
    } else {
        timestamp
    };
    out.put_uint(ts_field as u64, 3);
    out.put_uint(payload_len as u64, 3);
    out.put_u8(type_id);
    out.put_u32_le(stream_id);
    if extended {
        out.put_u32(timestamp);
    }
}

/// The header every further chunk of a message repeats: fmt 3, and the extended timestamp
/// when the message has one.
fn put_continuation_header(out: &mut BytesMut, csid: u32, timestamp: u32) {
    put_basic_header(out, 3, csid);
    if timestamp >= EXTENDED_TIMESTAMP {
        out.put_u32(timestamp);
    }
}

/// The chunk headers of a message without its payload: the fmt 0 header of the first
/// chunk (`first_len` bytes), then the header every further chunk repeats (fmt 3, with the
/// extended timestamp when the message has one). The header of the first chunk, the first
/// `chunk_size` bytes of the payload, the repeated header, the next `chunk_size` bytes, and
/// so on, are exactly the bytes of [`write_message`]: a sender can hand those pieces to one
/// `writev` and share the payload, instead of copying it into a chunked buffer.
pub fn write_message_headers(
    out: &mut BytesMut,
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload_len: usize,
) -> usize {
    debug_assert!((MIN_CSID..=MAX_CSID).contains(&csid));
    let start = out.len();
    put_first_header(out, csid, timestamp, type_id, stream_id, payload_len);
    let first_len = out.len() - start;
    put_continuation_header(out, csid, timestamp);
    first_len
}

/// Fuzz invariant: decoding arbitrary bytes never panics, never returns a message larger
/// than the limit, and the decoder's pending count stays within its limit.
pub fn fuzz_decode(data: &[u8]) {
    let limits = ChunkLimits {
        max_message_size: 64 * 1024,
        max_chunk_streams: 16,
        max_pending_bytes: 128 * 1024,
    };
    let mut dec = ChunkDecoder::new(limits);
    // First byte picks a chunk size so the fuzzer explores small and large sizes.
    if let Some((&sel, rest)) = data.split_first() {
        let _ = dec.set_chunk_size(1 + sel as u32 * 37);
        let mut buf = BytesMut::from(rest);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => assert!(m.payload.len() <= limits.max_message_size as usize),
                Ok(None) | Err(_) => break,
            }
            assert!(dec.pending <= limits.max_pending_bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(dec: &mut ChunkDecoder, bytes: &[u8]) -> Vec<RawMessage> {
        let mut buf = BytesMut::from(bytes);
        let mut v = Vec::new();
        while let Some(m) = dec.decode(&mut buf).unwrap() {
            v.push(m);
        }
        v
    }

    #[test]
    fn fmt0_single_chunk_exact_bytes() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 3, 0x10, 20, 1, b"abc");
        assert_eq!(
            out.to_vec(),
            vec![
                0x03, // fmt 0, csid 3
                0x00, 0x00, 0x10, // timestamp
                0x00, 0x00, 0x03, // length
                20,   // type id
                1, 0, 0, 0, // stream id, little endian
                b'a', b'b', b'c'
            ]
        );
        let mut dec = ChunkDecoder::default();
        let m = decode_all(&mut dec, &out);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].timestamp, 0x10);
        assert_eq!(m[0].type_id, 20);
        assert_eq!(m[0].stream_id, 1);
        assert_eq!(&m[0].payload[..], b"abc");
    }

    #[test]
    fn split_into_fmt3_chunks_with_extended_timestamp() {
        let payload: Vec<u8> = (0..10u8).collect();
        let mut out = BytesMut::new();
        write_message(&mut out, 4, 4, 0x0100_0000, 9, 1, &payload);
        let expected: Vec<u8> = [
            &[
                0x04, 0xff, 0xff, 0xff, 0, 0, 10, 9, 1, 0, 0, 0, 0x01, 0, 0, 0,
            ][..],
            &[0, 1, 2, 3],
            &[0xc4, 0x01, 0, 0, 0, 4, 5, 6, 7],
            &[0xc4, 0x01, 0, 0, 0, 8, 9],
        ]
        .concat();
        assert_eq!(out.to_vec(), expected);
        assert_eq!(out.len(), chunked_len(4, 0x0100_0000, 10, 4));
        let mut dec = ChunkDecoder::default();
        dec.set_chunk_size(4).unwrap();
        let m = decode_all(&mut dec, &out);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].timestamp, 0x0100_0000);
        assert_eq!(&m[0].payload[..], &payload[..]);
    }

    #[test]
    fn type3_continuation_without_extended_timestamp_is_tolerated() {
        // Some encoders do not repeat the extended timestamp on fmt 3 chunks.
        let bytes: Vec<u8> = [
            &[
                0x04, 0xff, 0xff, 0xff, 0, 0, 6, 9, 1, 0, 0, 0, 0x01, 0, 0, 0,
            ][..],
            &[10, 11, 12, 13],
            &[0xc4, 14, 15],
        ]
        .concat();
        let mut dec = ChunkDecoder::default();
        dec.set_chunk_size(4).unwrap();
        let m = decode_all(&mut dec, &bytes);
        assert_eq!(&m[0].payload[..], &[10, 11, 12, 13, 14, 15]);
    }

    #[test]
    fn basic_header_forms_for_every_csid_range() {
        for csid in [2u32, 63, 64, 319, 320, 65599] {
            let mut out = BytesMut::new();
            write_message(&mut out, 128, csid, 1, 8, 1, b"x");
            let expect_basic = match csid {
                2..=63 => vec![csid as u8],
                64..=319 => vec![0, (csid - 64) as u8],
                _ => vec![1, ((csid - 64) & 0xff) as u8, ((csid - 64) >> 8) as u8],
            };
            assert_eq!(&out[..expect_basic.len()], &expect_basic[..], "csid {csid}");
            let mut dec = ChunkDecoder::default();
            let m = decode_all(&mut dec, &out);
            assert_eq!(m[0].csid, csid);
        }
    }

    #[test]
    fn fmt1_fmt2_fmt3_delta_timestamps() {
        // fmt0 ts=1000 len=1; fmt1 delta=40 len=2; fmt2 delta=20; fmt3 (new message, +20).
        let bytes: Vec<u8> = [
            &[0x06, 0, 0x03, 0xe8, 0, 0, 1, 8, 1, 0, 0, 0, b'a'][..],
            &[0x46, 0, 0, 40, 0, 0, 2, 8, b'b', b'c'],
            &[0x86, 0, 0, 20, b'd', b'e'],
            &[0xc6, b'f', b'g'],
        ]
        .concat();
        let mut dec = ChunkDecoder::default();
        let m = decode_all(&mut dec, &bytes);
        let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![1000, 1040, 1060, 1080]);
        assert!(m.iter().all(|m| m.stream_id == 1 && m.type_id == 8));
        assert_eq!(&m[3].payload[..], b"fg");
    }

    #[test]
    fn fmt3_new_message_after_fmt0_adds_the_absolute_timestamp() {
        let bytes: Vec<u8> = [
            &[0x06, 0, 0, 10, 0, 0, 1, 8, 1, 0, 0, 0, b'a'][..],
            &[0xc6, b'b'],
        ]
        .concat();
        let m = decode_all(&mut ChunkDecoder::default(), &bytes);
        assert_eq!(m[1].timestamp, 20);
    }

    #[test]
    fn interleaved_chunk_streams_and_byte_by_byte() {
        let mut out = BytesMut::new();
        write_message(&mut out, 128, 6, 5, 9, 1, &[7u8; 300]);
        let mut audio = BytesMut::new();
        write_message(&mut audio, 128, 4, 6, 8, 1, &[8u8; 10]);
        // Interleave: first chunk of video, whole audio, rest of video.
        let mut bytes = out[..12 + 128].to_vec();
        bytes.extend_from_slice(&audio);
        bytes.extend_from_slice(&out[12 + 128..]);
        let mut dec = ChunkDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for b in bytes {
            buf.put_u8(b);
            while let Some(m) = dec.decode(&mut buf).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].type_id, 8);
        assert_eq!(got[1].payload.len(), 300);
        assert_eq!(dec.pending, 0);
    }

    #[test]
    fn huge_message_refused_at_header() {
        let bytes = [0x04, 0, 0, 0, 0xff, 0xff, 0xff, 9, 1, 0, 0, 0];
        let mut dec = ChunkDecoder::default();
        let err = dec.decode(&mut BytesMut::from(&bytes[..])).unwrap_err();
        assert!(matches!(
            err,
            ChunkError::MessageTooLarge {
                length: 0xff_ffff,
                ..
            }
        ));
    }

    #[test]
    fn fmt1_on_fresh_stream_refused_except_csid2() {
        let mut dec = ChunkDecoder::default();
        let err = dec
            .decode(&mut BytesMut::from(&[0x45u8, 0, 0, 0, 0, 0, 1, 8, 0][..]))
            .unwrap_err();
        assert_eq!(err, ChunkError::NoPreviousHeader { csid: 5, fmt: 1 });
        let mut dec = ChunkDecoder::default();
        let m = dec
            .decode(&mut BytesMut::from(
                &[0x42u8, 0, 0, 0, 0, 0, 4, 1, 0, 0, 16, 0][..],
            ))
            .unwrap()
            .unwrap();
        assert_eq!(m.type_id, 1);
    }

    #[test]
    fn too_many_chunk_streams() {
        let mut dec = ChunkDecoder::new(ChunkLimits {
            max_chunk_streams: 4,
            ..Default::default()
        });
        let mut out = BytesMut::new();
        for csid in 2..10 {
            write_message(&mut out, 128, csid, 0, 8, 1, b"z");
        }
        let mut n = 0;
        let err = loop {
            match dec.decode(&mut out) {
                Ok(Some(_)) => n += 1,
                Ok(None) => panic!("should fail"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 4);
        assert_eq!(err, ChunkError::TooManyChunkStreams(4));
    }

    #[test]
    fn pending_limit() {
        let mut dec = ChunkDecoder::new(ChunkLimits {
            max_pending_bytes: 1000,
            ..Default::default()
        });
        let mut out = BytesMut::new();
        // Ten streams each start a 200-byte message with one 128-byte chunk.
        for csid in 2..12u32 {
            let mut m = BytesMut::new();
            write_message(&mut m, 128, csid, 0, 9, 1, &[0u8; 200]);
            out.extend_from_slice(&m[..12 + 128]);
        }
        let err = loop {
            match dec.decode(&mut out) {
                Ok(None) => panic!("limit not enforced"),
                Ok(Some(_)) => {}
                Err(e) => break e,
            }
        };
        assert_eq!(err, ChunkError::TooMuchPending(1000));
    }

    #[test]
    fn abort_discards_partial() {
        let mut m = BytesMut::new();
        write_message(&mut m, 128, 5, 0, 9, 1, &[1u8; 200]);
        let mut dec = ChunkDecoder::default();
        let mut first = BytesMut::from(&m[..12 + 128]);
        assert!(dec.decode(&mut first).unwrap().is_none());
        assert_eq!(dec.pending, 128);
        dec.abort(5);
        assert_eq!(dec.pending, 0);
        let mut again = m.clone();
        let got = dec.decode(&mut again).unwrap().unwrap();
        assert_eq!(got.payload.len(), 200);
    }

    #[test]
    fn invalid_chunk_sizes() {
        let mut dec = ChunkDecoder::default();
        assert!(dec.set_chunk_size(0).is_err());
        assert!(dec.set_chunk_size(0x8000_0000).is_err());
        assert!(dec.set_chunk_size(MAX_CHUNK_SIZE).is_ok());
    }

    #[test]
    fn chunk_size_one_large_message_is_linear() {
        // 256 KiB in 1-byte chunks: copying the partial message per chunk (quadratic) would
        // move 32 GiB here; appending in place moves 256 KiB.
        let payload: Vec<u8> = (0..256 * 1024u32).map(|i| i as u8).collect();
        let mut wire = BytesMut::new();
        write_message(&mut wire, 1, 6, 0, 9, 1, &payload);
        let mut dec = ChunkDecoder::default();
        dec.set_chunk_size(1).unwrap();
        let m = dec.decode(&mut wire).unwrap().unwrap();
        assert_eq!(&m.payload[..], &payload[..]);
        assert_eq!(dec.pending, 0);
    }

    #[test]
    fn zero_length_message() {
        let bytes = [0x03u8, 0, 0, 1, 0, 0, 0, 8, 1, 0, 0, 0];
        let m = decode_all(&mut ChunkDecoder::default(), &bytes);
        assert_eq!(m.len(), 1);
        assert!(m[0].payload.is_empty());
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn encode_decode_any_split(
                msgs in prop::collection::vec(
                    (2u32..400, any::<u32>(), 1u8..30, prop::collection::vec(any::<u8>(), 0..700)),
                    1..8),
                chunk_size in 1u32..300,
                split in 1usize..97,
            ) {
                let mut wire = BytesMut::new();
                for (csid, ts, ty, p) in &msgs {
                    write_message(&mut wire, chunk_size, *csid, *ts, *ty, 1, p);
                }
                let mut dec = ChunkDecoder::default();
                dec.set_chunk_size(chunk_size).unwrap();
                let mut buf = BytesMut::new();
                let mut got = Vec::new();
                for piece in wire.chunks(split) {
                    buf.extend_from_slice(piece);
                    while let Some(m) = dec.decode(&mut buf).unwrap() {
                        got.push(m);
                    }
                }
                prop_assert_eq!(got.len(), msgs.len());
                for (m, (csid, ts, ty, p)) in got.iter().zip(&msgs) {
                    prop_assert_eq!(m.csid, *csid);
                    prop_assert_eq!(m.timestamp, *ts);
                    prop_assert_eq!(m.type_id, *ty);
                    prop_assert_eq!(&m.payload[..], &p[..]);
                }
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
                fuzz_decode(&data);
            }
        }
    }
}
