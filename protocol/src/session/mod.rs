//! RTMP sessions: the server side (what a stream worker runs per connection) and the client
//! side (what our tests and the load tool run), as sans-I/O state machines over the
//! handshake, the chunk stream and the command layer.
//!
//! Both follow the same pattern: `feed` received bytes, then drain `poll_event` for what
//! happened and `take_output` for the bytes to send. Decisions that need the server's state
//! (may this client connect, publish this name, play that one?) come back as request events
//! that the caller answers with `accept_*` / `reject_*`.

pub mod client;
pub mod server;

use crate::amf0::Amf0Value;
use crate::chunk::{self, ChunkDecoder, ChunkError, RawMessage};
use crate::handshake::HandshakeError;
use crate::message::{csid, Command, Message, MessageError, UserControl};
use bytes::{Bytes, BytesMut};

pub use client::{ClientConfig, ClientEvent, ClientSession};
pub use server::{ConnectRequest, ServerConfig, ServerEvent, ServerSession, SessionState};

/// Why a session cannot go on. The connection is closed after any of these.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The chunk stream is broken or exceeded a limit.
    #[error("chunk stream: {0}")]
    Chunk(#[from] ChunkError),
    /// A message body could not be decoded.
    #[error("message: {0}")]
    Message(#[from] MessageError),
    /// The peer broke the command protocol (e.g. publish before connect).
    #[error("protocol: {0}")]
    Protocol(String),
}

/// The `connect` property a relay of ours (edge, forward, token traverse) carries with
/// its server's id, so that a server recognises its own relays (a loop).
pub const RELAY_ID: &str = "srs_rs_id";

/// Default window acknowledgement size and peer bandwidth, as SRS and FMS send them.
pub const DEFAULT_WINDOW_ACK_SIZE: u32 = 2_500_000;

/// The chunk-stream layer both sessions share: decoding, acknowledgements, and the output
/// buffer with its chunk size.
#[derive(Debug)]
pub(crate) struct Transport {
    pub decoder: ChunkDecoder,
    pub input: BytesMut,
    pub output: BytesMut,
    pub out_chunk_size: u32,
    /// Bytes received since the handshake (acknowledgement sequence numbers wrap at 2^32).
    pub bytes_received: u64,
    /// Value of `bytes_received` when we last sent an acknowledgement.
    pub last_ack: u64,
    /// Window the peer asked us to acknowledge (0: never asked).
    pub peer_window: u32,
}

impl Transport {
    pub fn new(limits: chunk::ChunkLimits) -> Self {
        Self {
            decoder: ChunkDecoder::new(limits),
            input: BytesMut::new(),
            output: BytesMut::new(),
            out_chunk_size: chunk::DEFAULT_CHUNK_SIZE,
            bytes_received: 0,
            last_ack: 0,
            peer_window: 0,
        }
    }

    pub fn push_input(&mut self, data: &[u8]) {
        self.bytes_received += data.len() as u64;
        self.input.extend_from_slice(data);
    }

    /// Send an acknowledgement once a window's worth of bytes arrived since the last.
    pub fn maybe_ack(&mut self) {
        if self.peer_window > 0 && self.bytes_received - self.last_ack >= self.peer_window as u64 {
            self.last_ack = self.bytes_received;
            self.send(
                csid::PROTOCOL_CONTROL,
                0,
                0,
                &Message::Acknowledgement(self.bytes_received as u32),
            );
        }
    }

    pub fn send(&mut self, cs: u32, timestamp: u32, stream_id: u32, msg: &Message) {
        let (t, body) = msg.encode();
        chunk::write_message(
            &mut self.output,
            self.out_chunk_size,
            cs,
            timestamp,
            t,
            stream_id,
            &body,
        );
        if let Message::SetChunkSize(n) = msg {
            self.out_chunk_size = *n;
        }
    }

    pub fn send_raw(&mut self, cs: u32, timestamp: u32, type_id: u8, stream_id: u32, body: &[u8]) {
        chunk::write_message(
            &mut self.output,
            self.out_chunk_size,
            cs,
            timestamp,
            type_id,
            stream_id,
            body,
        );
    }

    pub fn send_command(&mut self, cs: u32, stream_id: u32, cmd: Command) {
        self.send(cs, 0, stream_id, &Message::Command(cmd));
    }

    /// Next whole message, after applying the protocol control messages that belong to
    /// this layer (chunk size, abort, window size, ping).
    pub fn next_message(&mut self) -> Result<Option<(RawMessage, Message)>, SessionError> {
        let Some(raw) = self.decoder.decode(&mut self.input)? else {
            if self.input.is_empty() {
                // Nothing left over (the usual case): free the buffer rather than keep
                // the largest read's capacity for the connection's lifetime.
                self.input = BytesMut::new();
            }
            self.maybe_ack();
            return Ok(None);
        };
        let msg = Message::decode(&raw)?;
        match &msg {
            Message::SetChunkSize(n) => self.decoder.set_chunk_size(*n)?,
            Message::Abort(cs) => self.decoder.abort(*cs),
            Message::WindowAckSize(n) => self.peer_window = *n,
            Message::UserControl(UserControl::PingRequest(t)) => {
                let t = *t;
                self.send(
                    csid::PROTOCOL_CONTROL,
                    0,
                    0,
                    &Message::UserControl(UserControl::PingResponse(t)),
                );
            }
            _ => {}
        }
        Ok(Some((raw, msg)))
    }

    /// The bytes to send, leaving no buffer behind: after the handshake (3 KiB) and the
    /// command replies a player's output is idle for hours, and a split would keep the
    /// old allocation alive for the next reply.
    pub fn take_output(&mut self) -> Bytes {
        std::mem::take(&mut self.output).freeze()
    }
}

/// An `onStatus` info object: `{level, code, description}` plus extra fields.
pub fn status_object(level: &str, code: &str, description: &str) -> Amf0Value {
    Amf0Value::object([
        ("level", Amf0Value::string(level)),
        ("code", Amf0Value::string(code)),
        ("description", Amf0Value::string(description)),
    ])
}

/// Level and code of an `onStatus`/`_error` info object.
pub fn status_of(info: &Amf0Value) -> (String, String, String) {
    (
        info.get_str("level").unwrap_or("").to_string(),
        info.get_str("code").unwrap_or("").to_string(),
        info.get_str("description").unwrap_or("").to_string(),
    )
}
