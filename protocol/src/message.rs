//! RTMP messages: protocol control (Adobe RTMP 1.0 specification section 5.4), user control
//! events (section 6.2 / 7.1.7), and the command, data, audio, video and aggregate messages of
//! section 7.1. Decoding turns a [`RawMessage`] into a [`Message`]; encoding the reverse.

use crate::amf0::{self, Amf0Error, Amf0Value};
use crate::chunk::RawMessage;
use bytes::{BufMut, Bytes, BytesMut};

/// Message type ids (spec 5.4 and 7.1).
pub mod type_id {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const DATA_AMF3: u8 = 15;
    pub const SHARED_OBJECT_AMF3: u8 = 16;
    pub const COMMAND_AMF3: u8 = 17;
    pub const DATA_AMF0: u8 = 18;
    pub const SHARED_OBJECT_AMF0: u8 = 19;
    pub const COMMAND_AMF0: u8 = 20;
    pub const AGGREGATE: u8 = 22;
}

/// Chunk stream ids we send on, the ones SRS and FMS use.
pub mod csid {
    /// Protocol control and user control messages (required by the spec).
    pub const PROTOCOL_CONTROL: u32 = 2;
    /// Commands on the connection (connect, createStream results).
    pub const OVER_CONNECTION: u32 = 3;
    /// Commands on a stream (onStatus) and data messages.
    pub const OVER_STREAM: u32 = 5;
    /// Audio.
    pub const AUDIO: u32 = 4;
    /// Video.
    pub const VIDEO: u32 = 6;
}

/// User control event types (spec 7.1.7).
pub mod event {
    pub const STREAM_BEGIN: u16 = 0;
    pub const STREAM_EOF: u16 = 1;
    pub const STREAM_DRY: u16 = 2;
    pub const SET_BUFFER_LENGTH: u16 = 3;
    pub const STREAM_IS_RECORDED: u16 = 4;
    pub const PING_REQUEST: u16 = 6;
    pub const PING_RESPONSE: u16 = 7;
}

/// A user control event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserControl {
    /// The stream became functional.
    StreamBegin(u32),
    /// Playback of the stream ended.
    StreamEof(u32),
    /// No more data on the stream for now.
    StreamDry(u32),
    /// The client's buffer length in milliseconds for a stream.
    SetBufferLength { stream_id: u32, buffer_ms: u32 },
    /// The stream is recorded.
    StreamIsRecorded(u32),
    /// Ping with the sender's timestamp.
    PingRequest(u32),
    /// Answer to a ping, echoing its timestamp.
    PingResponse(u32),
    /// Any other event (e.g. SWF verification), kept raw.
    Other { event: u16, data: Bytes },
}

/// A command message (AMF0 or AMF3-wrapped AMF0): name, transaction id, command object and
/// further arguments (spec 7.1.1 / 7.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Command name (`connect`, `publish`, `_result`, `onStatus`, ...).
    pub name: String,
    /// Transaction id; 0 for commands that expect no reply.
    pub transaction_id: f64,
    /// Command object (often Null).
    pub object: Amf0Value,
    /// Further arguments.
    pub args: Vec<Amf0Value>,
}

impl Command {
    /// Build a command.
    pub fn new(name: &str, transaction_id: f64, object: Amf0Value, args: Vec<Amf0Value>) -> Self {
        Self {
            name: name.to_string(),
            transaction_id,
            object,
            args,
        }
    }

    /// Encode as an AMF0 body.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        Amf0Value::string(self.name.clone()).encode(&mut out);
        Amf0Value::Number(self.transaction_id).encode(&mut out);
        self.object.encode(&mut out);
        for a in &self.args {
            a.encode(&mut out);
        }
        out.freeze()
    }
}

/// Why a message body could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// A control message shorter than its fixed size.
    #[error("message type {type_id}: body of {len} bytes is too short")]
    TooShort { type_id: u8, len: usize },
    /// AMF0 body could not be decoded.
    #[error("message type {type_id}: {source}")]
    Amf0 { type_id: u8, source: Amf0Error },
    /// A command message larger than [`MAX_COMMAND_SIZE`].
    #[error("command message of {0} bytes exceeds the limit of {MAX_COMMAND_SIZE}")]
    CommandTooLarge(usize),
    /// A command whose first values are not a name and a transaction id.
    #[error("malformed command: {0}")]
    MalformedCommand(&'static str),
}

/// A decoded RTMP message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Set Chunk Size (5.4.1).
    SetChunkSize(u32),
    /// Abort Message (5.4.2): drop the partial message on this chunk stream.
    Abort(u32),
    /// Acknowledgement (5.4.3): bytes received so far.
    Acknowledgement(u32),
    /// User control event (6.2).
    UserControl(UserControl),
    /// Window Acknowledgement Size (5.4.4).
    WindowAckSize(u32),
    /// Set Peer Bandwidth (5.4.5): window size and limit type (0 hard, 1 soft, 2 dynamic).
    SetPeerBandwidth { size: u32, limit: u8 },
    /// Audio data (an FLV audio tag body).
    Audio(Bytes),
    /// Video data (an FLV video tag body).
    Video(Bytes),
    /// Data message: the AMF0 body kept as bytes (`@setDataFrame`, `onMetaData`, ...).
    Data(Bytes),
    /// Command message.
    Command(Command),
    /// Aggregate message: a run of FLV-like tags (7.1.6).
    Aggregate(Bytes),
    /// Shared object messages and unknown types: ignored but kept for logging.
    Other { type_id: u8, payload: Bytes },
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn need(type_id: u8, p: &[u8], n: usize) -> Result<(), MessageError> {
    if p.len() < n {
        Err(MessageError::TooShort {
            type_id,
            len: p.len(),
        })
    } else {
        Ok(())
    }
}

/// Largest command message we decode. Real commands (connect with its objects, publish,
/// play, onStatus) are a few hundred bytes; decoding turns each wire byte into up to ~50
/// bytes of values, so an 8 MiB "command" of nulls would cost hundreds of MiB.
pub const MAX_COMMAND_SIZE: usize = 64 * 1024;

/// Decode an AMF0 command body.
pub fn decode_command(body: &[u8]) -> Result<Command, MessageError> {
    if body.len() > MAX_COMMAND_SIZE {
        return Err(MessageError::CommandTooLarge(body.len()));
    }
    let mut d = amf0::Amf0Decoder::new(body);
    let amf = |e| MessageError::Amf0 {
        type_id: type_id::COMMAND_AMF0,
        source: e,
    };
    let name = match d.decode().map_err(amf)? {
        Amf0Value::String(s) | Amf0Value::LongString(s) => s,
        _ => return Err(MessageError::MalformedCommand("name is not a string")),
    };
    // Some clients omit the transaction id and object on replies; treat missing as 0/Null.
    let transaction_id = if d.is_empty() {
        0.0
    } else {
        match d.decode().map_err(amf)? {
            Amf0Value::Number(n) => n,
            _ => {
                return Err(MessageError::MalformedCommand(
                    "transaction id is not a number",
                ))
            }
        }
    };
    let object = if d.is_empty() {
        Amf0Value::Null
    } else {
        d.decode().map_err(amf)?
    };
    let args = d.decode_all().map_err(amf)?;
    Ok(Command {
        name,
        transaction_id,
        object,
        args,
    })
}

impl Message {
    /// Decode a reassembled message.
    pub fn decode(raw: &RawMessage) -> Result<Message, MessageError> {
        let p = &raw.payload;
        let t = raw.type_id;
        Ok(match t {
            type_id::SET_CHUNK_SIZE => {
                need(t, p, 4)?;
                // The top bit is reserved and must be zero; the decoder checks the value.
                Message::SetChunkSize(be32(p))
            }
            type_id::ABORT => {
                need(t, p, 4)?;
                Message::Abort(be32(p))
            }
            type_id::ACKNOWLEDGEMENT => {
                need(t, p, 4)?;
                Message::Acknowledgement(be32(p))
            }
            type_id::WINDOW_ACK_SIZE => {
                need(t, p, 4)?;
                Message::WindowAckSize(be32(p))
            }
            type_id::SET_PEER_BANDWIDTH => {
                need(t, p, 4)?;
                Message::SetPeerBandwidth {
                    size: be32(p),
                    limit: p.get(4).copied().unwrap_or(2),
                }
            }
            type_id::USER_CONTROL => {
                need(t, p, 2)?;
                let ev = u16::from_be_bytes([p[0], p[1]]);
                let d = &p[2..];
                let arg = |n: usize| -> Result<u32, MessageError> {
                    need(t, d, n)?;
                    Ok(be32(d))
                };
                Message::UserControl(match ev {
                    event::STREAM_BEGIN => UserControl::StreamBegin(arg(4)?),
                    event::STREAM_EOF => UserControl::StreamEof(arg(4)?),
                    event::STREAM_DRY => UserControl::StreamDry(arg(4)?),
                    event::SET_BUFFER_LENGTH => {
                        need(t, d, 8)?;
                        UserControl::SetBufferLength {
                            stream_id: be32(d),
                            buffer_ms: be32(&d[4..]),
                        }
                    }
                    event::STREAM_IS_RECORDED => UserControl::StreamIsRecorded(arg(4)?),
                    event::PING_REQUEST => UserControl::PingRequest(arg(4)?),
                    event::PING_RESPONSE => UserControl::PingResponse(arg(4)?),
                    other => UserControl::Other {
                        event: other,
                        data: raw.payload.slice(2..),
                    },
                })
            }
            type_id::AUDIO => Message::Audio(raw.payload.clone()),
            type_id::VIDEO => Message::Video(raw.payload.clone()),
            type_id::DATA_AMF0 => Message::Data(raw.payload.clone()),
            // AMF3 data/command messages from Flash start with a format byte (0) and then
            // carry AMF0 values, which is all that real clients send.
            type_id::DATA_AMF3 => Message::Data(raw.payload.slice(p.len().min(1)..)),
            type_id::COMMAND_AMF0 => Message::Command(decode_command(p)?),
            type_id::COMMAND_AMF3 => Message::Command(decode_command(&p[p.len().min(1)..])?),
            type_id::AGGREGATE => Message::Aggregate(raw.payload.clone()),
            _ => Message::Other {
                type_id: t,
                payload: raw.payload.clone(),
            },
        })
    }

    /// Type id and body of this message, for chunking.
    pub fn encode(&self) -> (u8, Bytes) {
        let u32b = |v: u32| Bytes::copy_from_slice(&v.to_be_bytes());
        match self {
            Message::SetChunkSize(n) => (type_id::SET_CHUNK_SIZE, u32b(*n)),
            Message::Abort(n) => (type_id::ABORT, u32b(*n)),
            Message::Acknowledgement(n) => (type_id::ACKNOWLEDGEMENT, u32b(*n)),
            Message::WindowAckSize(n) => (type_id::WINDOW_ACK_SIZE, u32b(*n)),
            Message::SetPeerBandwidth { size, limit } => {
                let mut b = BytesMut::with_capacity(5);
                b.put_u32(*size);
                b.put_u8(*limit);
                (type_id::SET_PEER_BANDWIDTH, b.freeze())
            }
            Message::UserControl(uc) => {
                let mut b = BytesMut::with_capacity(10);
                let (ev, a, c) = match uc {
                    UserControl::StreamBegin(s) => (event::STREAM_BEGIN, *s, None),
                    UserControl::StreamEof(s) => (event::STREAM_EOF, *s, None),
                    UserControl::StreamDry(s) => (event::STREAM_DRY, *s, None),
                    UserControl::SetBufferLength {
                        stream_id,
                        buffer_ms,
                    } => (event::SET_BUFFER_LENGTH, *stream_id, Some(*buffer_ms)),
                    UserControl::StreamIsRecorded(s) => (event::STREAM_IS_RECORDED, *s, None),
                    UserControl::PingRequest(t) => (event::PING_REQUEST, *t, None),
                    UserControl::PingResponse(t) => (event::PING_RESPONSE, *t, None),
                    UserControl::Other { event, data } => {
                        b.put_u16(*event);
                        b.put_slice(data);
                        return (type_id::USER_CONTROL, b.freeze());
                    }
                };
                b.put_u16(ev);
                b.put_u32(a);
                if let Some(c) = c {
                    b.put_u32(c);
                }
                (type_id::USER_CONTROL, b.freeze())
            }
            Message::Audio(p) => (type_id::AUDIO, p.clone()),
            Message::Video(p) => (type_id::VIDEO, p.clone()),
            Message::Data(p) => (type_id::DATA_AMF0, p.clone()),
            Message::Command(c) => (type_id::COMMAND_AMF0, c.encode()),
            Message::Aggregate(p) => (type_id::AGGREGATE, p.clone()),
            Message::Other { type_id, payload } => (*type_id, payload.clone()),
        }
    }
}

/// One sub-message of an aggregate message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatePart {
    /// Type id of the sub-message (8 audio, 9 video, 18 data).
    pub type_id: u8,
    /// Timestamp rebased on the aggregate message's timestamp.
    pub timestamp: u32,
    /// Body.
    pub payload: Bytes,
}

/// Split an aggregate message (spec 7.1.6) into its parts. Each part is an FLV tag: type (1),
/// size (3), timestamp (3 + 1 extended high byte), stream id (3), body, back pointer (4). The
/// parts' timestamps are rebased so the first part carries the aggregate's own timestamp.
pub fn split_aggregate(
    aggregate_ts: u32,
    body: &Bytes,
) -> Result<Vec<AggregatePart>, MessageError> {
    let mut parts = Vec::new();
    let mut pos = 0usize;
    let mut base: Option<u32> = None;
    while pos < body.len() {
        let h = body.get(pos..pos + 11).ok_or(MessageError::TooShort {
            type_id: type_id::AGGREGATE,
            len: body.len(),
        })?;
        let ty = h[0] & 0x1f;
        let size = (h[1] as usize) << 16 | (h[2] as usize) << 8 | h[3] as usize;
        let ts = (h[7] as u32) << 24 | (h[4] as u32) << 16 | (h[5] as u32) << 8 | h[6] as u32;
        let start = pos + 11;
        let end =
            start
                .checked_add(size)
                .filter(|&e| e <= body.len())
                .ok_or(MessageError::TooShort {
                    type_id: type_id::AGGREGATE,
                    len: body.len(),
                })?;
        let first = *base.get_or_insert(ts);
        parts.push(AggregatePart {
            type_id: ty,
            timestamp: aggregate_ts.wrapping_add(ts.wrapping_sub(first)),
            payload: body.slice(start..end),
        });
        // Skip the 4-byte back pointer (may be missing after the last tag).
        pos = (end + 4).min(body.len());
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker_null() -> u8 {
        crate::amf0::marker::NULL
    }

    fn raw(type_id: u8, payload: &[u8]) -> RawMessage {
        RawMessage {
            csid: 2,
            timestamp: 0,
            type_id,
            stream_id: 0,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn control_messages_round_trip() {
        let msgs = vec![
            Message::SetChunkSize(60000),
            Message::Abort(4),
            Message::Acknowledgement(123456),
            Message::WindowAckSize(2_500_000),
            Message::SetPeerBandwidth {
                size: 2_500_000,
                limit: 2,
            },
            Message::UserControl(UserControl::StreamBegin(1)),
            Message::UserControl(UserControl::StreamEof(1)),
            Message::UserControl(UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000,
            }),
            Message::UserControl(UserControl::PingRequest(77)),
            Message::UserControl(UserControl::PingResponse(77)),
        ];
        for m in msgs {
            let (t, b) = m.encode();
            assert_eq!(Message::decode(&raw(t, &b)).unwrap(), m);
        }
    }

    #[test]
    fn exact_bytes() {
        assert_eq!(
            Message::SetPeerBandwidth {
                size: 2_500_000,
                limit: 2
            }
            .encode()
            .1
            .to_vec(),
            vec![0x00, 0x26, 0x25, 0xa0, 0x02]
        );
        assert_eq!(
            Message::UserControl(UserControl::SetBufferLength {
                stream_id: 1,
                buffer_ms: 3000
            })
            .encode()
            .1
            .to_vec(),
            vec![0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8]
        );
    }

    #[test]
    fn short_control_is_error() {
        assert!(Message::decode(&raw(1, &[0, 1])).is_err());
        assert!(Message::decode(&raw(4, &[0, 3, 0, 0, 0, 1])).is_err());
    }

    #[test]
    fn command_decode() {
        let c = Command::new(
            "connect",
            1.0,
            Amf0Value::object([("app", Amf0Value::string("live"))]),
            vec![],
        );
        let b = c.encode();
        assert_eq!(decode_command(&b).unwrap(), c);
        // AMF3 command: a leading zero byte, then AMF0.
        let mut a3 = vec![0u8];
        a3.extend_from_slice(&b);
        assert_eq!(
            Message::decode(&raw(type_id::COMMAND_AMF3, &a3)).unwrap(),
            Message::Command(c)
        );
        assert!(decode_command(&[0x00, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // A huge "command" is refused before any decoding.
        let mut big = Command::new("connect", 1.0, Amf0Value::Null, vec![])
            .encode()
            .to_vec();
        big.resize(MAX_COMMAND_SIZE + 1, marker_null());
        assert_eq!(
            decode_command(&big),
            Err(MessageError::CommandTooLarge(MAX_COMMAND_SIZE + 1))
        );
    }

    #[test]
    fn aggregate_split() {
        let mut b = BytesMut::new();
        for (i, ty) in [(0u32, 9u8), (40, 8)] {
            b.put_u8(ty);
            b.put_uint(2, 3);
            b.put_uint((1000 + i) as u64, 3);
            b.put_u8(0);
            b.put_uint(0, 3);
            b.put_slice(&[ty, ty]);
            b.put_u32(13);
        }
        let parts = split_aggregate(5000, &b.freeze()).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].timestamp, 5000);
        assert_eq!(parts[1].timestamp, 5040);
        assert_eq!(parts[1].type_id, 8);
        assert!(split_aggregate(0, &Bytes::from_static(&[9, 0xff, 0xff, 0xff])).is_err());
    }
}
