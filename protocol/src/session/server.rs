//! Server side of an RTMP connection: handshake, then the NetConnection / NetStream command
//! flow of the RTMP 1.0 specification section 7.2, with the replies that ffmpeg, OBS, FMLE,
//! rtmpdump and Flash players expect (modelled on what SRS and FMS send).
//!
//! Admission is the caller's: `connect`, `publish` and `play` come out as events and the
//! caller answers with `accept_*` or `reject_*`. Media from a publisher comes out as events;
//! media for a player goes in through [`ServerSession::send_media`].

use super::{status_object, SessionError, Transport, DEFAULT_WINDOW_ACK_SIZE};
use crate::amf0::{self, Amf0Value};
use crate::chunk::{self, ChunkLimits, RawMessage};
use crate::handshake::{HandshakeKind, Progress, ServerHandshake};
use crate::message::{self, csid, type_id, Command, Message, UserControl};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};

/// Settings of a server session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Chunk size we send with (SRS `chunk_size`, default 60000).
    pub out_chunk_size: u32,
    /// Window acknowledgement size and peer bandwidth we announce.
    pub window_ack_size: u32,
    /// Limits on what the peer may make us buffer.
    pub limits: ChunkLimits,
    /// Version string in the connect reply's `data` object.
    pub server_version: String,
    /// The serving process's pid (`srs_pid` in the connect reply's `data`; 0 leaves it out).
    pub server_pid: u32,
    /// This connection's id (`srs_id` in the connect reply's `data`, as SRS's context id).
    pub connection_id: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            out_chunk_size: 60000,
            window_ack_size: DEFAULT_WINDOW_ACK_SIZE,
            limits: ChunkLimits::default(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
            server_pid: 0,
            connection_id: String::new(),
        }
    }
}

/// The `connect` command's fields that matter for admission.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConnectRequest {
    /// `app` field.
    pub app: String,
    /// `tcUrl` field (empty if absent).
    pub tc_url: String,
    /// `pageUrl` (the referer, checked by `refer`).
    pub page_url: String,
    /// `swfUrl`.
    pub swf_url: String,
    /// `flashVer`, e.g. `FMLE/3.0 (compatible; FMSc/1.0)` or `LNX 9,0,124,2`.
    pub flash_ver: String,
    /// `objectEncoding` (0 for AMF0), echoed in the reply.
    pub object_encoding: f64,
    /// `srs_rs_id`: the server a relay (forward, edge) of ours comes from, so that a
    /// server can recognise its own relays and refuse a loop (empty: not a relay of ours).
    pub relay_id: String,
    /// The optional user arguments after the command object (srs-librtmp's
    /// `set_connect_args`); kept by the process that parsed them, not sent across.
    #[serde(skip)]
    pub args: Option<crate::amf0::Amf0Value>,
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerEvent {
    /// The client sent `connect`; answer with `accept_connect` or `reject_connect`.
    Connect(ConnectRequest),
    /// The client wants to publish `name` on message stream `stream_id`; answer with
    /// `accept_publish` or `reject_publish`.
    Publish {
        stream_id: u32,
        name: String,
        publish_type: String,
    },
    /// The client wants to play `name`; answer with `accept_play` or `reject_play`.
    Play {
        stream_id: u32,
        name: String,
        start: f64,
        duration: f64,
        reset: bool,
    },
    /// Audio from a publisher.
    Audio {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// Video from a publisher.
    Video {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// A data message (AMF0 body) from a publisher, e.g. `@setDataFrame onMetaData`.
    Data {
        stream_id: u32,
        timestamp: u32,
        payload: Bytes,
    },
    /// A player paused (`true`) or resumed (`false`).
    Pause { stream_id: u32, pause: bool },
    /// The publisher stopped (FCUnpublish, closeStream or deleteStream).
    Unpublish { stream_id: u32 },
    /// A player stopped (closeStream or deleteStream).
    StopPlay { stream_id: u32 },
    /// A call of SRS's bandwidth check (`onSrsBandCheck...`, `finalClientPacket`), by
    /// name, for the caller running the check.
    Call { stream_id: u32, name: String },
}

/// What a message stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum StreamRole {
    Created,
    PublishRequested,
    Publishing,
    PlayRequested,
    Playing,
}

#[derive(Debug)]
enum Phase {
    Handshake(Box<ServerHandshake>),
    WaitConnect,
    ConnectRequested {
        transaction_id: f64,
        object_encoding: f64,
    },
    Connected,
}

/// A server-side RTMP connection.
#[derive(Debug)]
pub struct ServerSession {
    config: ServerConfig,
    phase: Phase,
    handshake_kind: Option<HandshakeKind>,
    t: Transport,
    events: VecDeque<ServerEvent>,
    streams: HashMap<u32, StreamRole>,
    next_stream_id: u32,
}

/// Most message streams one connection may create; real clients create one or two.
const MAX_STREAMS: usize = 16;

/// The first argument of a command as a string (a stream name), or empty.
fn first_str(args: &[Amf0Value]) -> String {
    args.first()
        .and_then(Amf0Value::as_str)
        .unwrap_or("")
        .to_string()
}

impl ServerSession {
    /// A session waiting for the client's C0 C1.
    pub fn new(config: ServerConfig) -> Self {
        let limits = config.limits;
        Self {
            config,
            phase: Phase::Handshake(Box::new(ServerHandshake::new())),
            handshake_kind: None,
            t: Transport::new(limits),
            events: VecDeque::new(),
            streams: HashMap::new(),
            next_stream_id: 1,
        }
    }

    /// Which handshake the client did (known after C1).
    pub fn handshake_kind(&self) -> Option<HandshakeKind> {
        self.handshake_kind
    }

    /// Whether the handshake is over.
    pub fn handshake_done(&self) -> bool {
        !matches!(self.phase, Phase::Handshake(_))
    }

    /// Bytes received after the handshake.
    pub fn bytes_received(&self) -> u64 {
        self.t.bytes_received
    }

    /// Feed bytes read from the socket; then drain [`poll_event`](Self::poll_event) and
    /// [`take_output`](Self::take_output).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), SessionError> {
        if let Phase::Handshake(hs) = &mut self.phase {
            let progress = hs.feed(data)?;
            self.t.output.extend_from_slice(&hs.take_output());
            self.handshake_kind = hs.kind();
            if let Progress::Done { leftover } = progress {
                self.phase = Phase::WaitConnect;
                self.t.push_input(&leftover);
            }
            return Ok(());
        }
        self.t.push_input(data);
        Ok(())
    }

    /// Next event, decoding buffered input as far as needed. Decoding pauses while a
    /// `connect`, `publish` or `play` waits for the caller's answer, so that what the client
    /// sent after it (say, media right behind `publish`) is handled in the state the answer
    /// creates, as a server that answers at once would.
    pub fn poll_event(&mut self) -> Result<Option<ServerEvent>, SessionError> {
        loop {
            if let Some(e) = self.events.pop_front() {
                if self.events.is_empty() {
                    // Events are bursts (the commands of a connect, or one message of a
                    // publisher at a time): a player's connection lives for hours after its
                    // last one, so the queue gives its memory back.
                    self.events = VecDeque::new();
                }
                return Ok(Some(e));
            }
            if self.awaiting_decision() {
                return Ok(None);
            }
            match self.t.next_message()? {
                Some((raw, msg)) => self.on_message(raw, msg)?,
                None => return Ok(None),
            }
        }
    }

    /// Decode buffered input into queued events (up to the next request that needs an
    /// answer), without taking them: for harnesses that shuttle bytes first and look at
    /// events later.
    pub fn decode_pending(&mut self) -> Result<(), SessionError> {
        while !self.awaiting_decision() {
            match self.t.next_message()? {
                Some((raw, msg)) => self.on_message(raw, msg)?,
                None => break,
            }
        }
        Ok(())
    }

    /// Whether a request event is waiting for `accept_*` / `reject_*`.
    pub fn awaiting_decision(&self) -> bool {
        matches!(self.phase, Phase::ConnectRequested { .. })
            || self
                .streams
                .values()
                .any(|r| matches!(r, StreamRole::PublishRequested | StreamRole::PlayRequested))
    }
    /// Bytes to send to the client.
    pub fn take_output(&mut self) -> Bytes {
        self.t.take_output()
    }

    /// Whether there are bytes to send.
    pub fn has_output(&self) -> bool {
        !self.t.output.is_empty()
    }

    /// Current outgoing chunk size.
    pub fn out_chunk_size(&self) -> u32 {
        self.t.out_chunk_size
    }

    /// The chunk size announced when `connect` is accepted (a vhost's own `chunk_size`,
    /// known once the connect named the vhost).
    pub fn use_chunk_size(&mut self, n: u32) {
        self.config.out_chunk_size = n;
    }

    fn on_message(&mut self, raw: RawMessage, msg: Message) -> Result<(), SessionError> {
        match msg {
            Message::Command(cmd) => self.on_command(raw.stream_id, cmd),
            Message::Audio(payload) => {
                self.media(raw.stream_id, type_id::AUDIO, raw.timestamp, payload);
                Ok(())
            }
            Message::Video(payload) => {
                self.media(raw.stream_id, type_id::VIDEO, raw.timestamp, payload);
                Ok(())
            }
            Message::Data(payload) => {
                self.media(raw.stream_id, type_id::DATA_AMF0, raw.timestamp, payload);
                Ok(())
            }
            Message::Aggregate(body) => {
                for part in message::split_aggregate(raw.timestamp, &body)? {
                    self.media(raw.stream_id, part.type_id, part.timestamp, part.payload);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn media(&mut self, stream_id: u32, ty: u8, timestamp: u32, payload: Bytes) {
        // Some encoders send media on another message stream id (0, say) than the one they
        // published on; like SRS and nginx-rtmp, take it for the publishing stream. Media
        // with nothing publishing is dropped.
        let stream_id = if self.streams.get(&stream_id) == Some(&StreamRole::Publishing) {
            stream_id
        } else {
            let mut publishing = self
                .streams
                .iter()
                .filter(|(_, r)| **r == StreamRole::Publishing)
                .map(|(id, _)| *id);
            match (publishing.next(), publishing.next()) {
                (Some(id), None) => id,
                _ => return,
            }
        };
        self.events.push_back(match ty {
            type_id::AUDIO => ServerEvent::Audio {
                stream_id,
                timestamp,
                payload,
            },
            type_id::VIDEO => ServerEvent::Video {
                stream_id,
                timestamp,
                payload,
            },
            type_id::DATA_AMF0 => ServerEvent::Data {
                stream_id,
                timestamp,
                payload,
            },
            _ => return,
        });
    }

    fn reply(&mut self, tid: f64, name: &str, object: Amf0Value, args: Vec<Amf0Value>) {
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new(name, tid, object, args),
        );
    }

    /// One command message: `connect` before anything else, then one method per command.
    fn on_command(&mut self, msg_stream: u32, cmd: Command) -> Result<(), SessionError> {
        match (&self.phase, cmd.name.as_str()) {
            (Phase::WaitConnect, "connect") => {
                self.on_connect(&cmd);
                Ok(())
            }
            (Phase::WaitConnect | Phase::ConnectRequested { .. }, name) => Err(
                SessionError::Protocol(format!("command {name:?} before connect completed")),
            ),
            (Phase::Handshake(_), name) => Err(SessionError::Protocol(format!(
                "command {name:?} during the handshake"
            ))),
            (Phase::Connected, "connect") => Err(SessionError::Protocol("second connect".into())),
            (Phase::Connected, "createStream") => self.on_create_stream(&cmd),
            (Phase::Connected, "FCPublish") => {
                self.on_fc_publish(&cmd);
                Ok(())
            }
            (Phase::Connected, "FCUnpublish") => {
                self.on_fc_unpublish(&cmd);
                Ok(())
            }
            (Phase::Connected, "FCSubscribe") => {
                self.on_fc_subscribe(&cmd);
                Ok(())
            }
            (Phase::Connected, "getStreamLength") => {
                // Live streams have no length; ffmpeg reads 0 as "live".
                self.answer(cmd.transaction_id, Amf0Value::Number(0.0));
                Ok(())
            }
            (Phase::Connected, "publish") => self.on_publish(msg_stream, &cmd),
            (Phase::Connected, "play") => self.on_play(msg_stream, &cmd),
            (Phase::Connected, "pause") => {
                self.on_pause(msg_stream, &cmd);
                Ok(())
            }
            (Phase::Connected, "deleteStream") => {
                let id = cmd.args.first().and_then(Amf0Value::as_f64).unwrap_or(0.0) as u32;
                self.end_stream(id, true);
                Ok(())
            }
            (Phase::Connected, "closeStream") => {
                self.end_stream(msg_stream, false);
                Ok(())
            }
            // Flash players send these with play; nothing to do.
            (
                Phase::Connected,
                "receiveAudio" | "receiveVideo" | "onStatus" | "_result" | "_error",
            ) => Ok(()),
            // The bandwidth check's client side: the caller runs the check.
            (Phase::Connected, name)
                if name.starts_with("onSrsBandCheck") || name == "finalClientPacket" =>
            {
                self.events.push_back(ServerEvent::Call {
                    stream_id: msg_stream,
                    name: cmd.name,
                });
                Ok(())
            }
            // releaseStream, _checkbw, and calls we do not know: SRS answers those that
            // expect a reply, so clients do not wait.
            (Phase::Connected, _) => {
                self.answer(cmd.transaction_id, Amf0Value::Undefined);
                Ok(())
            }
        }
    }

    /// `_result` with one value, for a call that expects a reply (transaction id > 0).
    fn answer(&mut self, tid: f64, value: Amf0Value) {
        if tid > 0.0 {
            self.reply(tid, "_result", Amf0Value::Null, vec![value]);
        }
    }

    /// `connect`: the request goes to the caller, who accepts or rejects it.
    fn on_connect(&mut self, cmd: &Command) {
        let o = &cmd.object;
        let req = ConnectRequest {
            app: o.get_str("app").unwrap_or("").to_string(),
            tc_url: o.get_str("tcUrl").unwrap_or("").to_string(),
            page_url: o.get_str("pageUrl").unwrap_or("").to_string(),
            swf_url: o.get_str("swfUrl").unwrap_or("").to_string(),
            flash_ver: o.get_str("flashVer").unwrap_or("").to_string(),
            object_encoding: o.get_f64("objectEncoding").unwrap_or(0.0),
            relay_id: o.get_str(super::RELAY_ID).unwrap_or("").to_string(),
            args: cmd.args.first().cloned(),
        };
        self.phase = Phase::ConnectRequested {
            transaction_id: cmd.transaction_id,
            object_encoding: req.object_encoding,
        };
        self.events.push_back(ServerEvent::Connect(req));
    }

    /// `createStream`: a new message stream id, at most [`MAX_STREAMS`] of them.
    fn on_create_stream(&mut self, cmd: &Command) -> Result<(), SessionError> {
        if self.streams.len() >= MAX_STREAMS {
            return Err(SessionError::Protocol(format!(
                "more than {MAX_STREAMS} streams"
            )));
        }
        let id = self.next_stream_id;
        self.next_stream_id += 1;
        self.streams.insert(id, StreamRole::Created);
        self.reply(
            cmd.transaction_id,
            "_result",
            Amf0Value::Null,
            vec![Amf0Value::Number(id as f64)],
        );
        Ok(())
    }

    /// `FCPublish` (Flash Media Server's): `onFCPublish`, then `_result`.
    fn on_fc_publish(&mut self, cmd: &Command) {
        let info = status_object(
            "status",
            "NetStream.Publish.Start",
            &format!("FCPublish to stream {}.", first_str(&cmd.args)),
        );
        self.reply(0.0, "onFCPublish", Amf0Value::Null, vec![info]);
        self.answer(cmd.transaction_id, Amf0Value::Undefined);
    }

    /// `FCUnpublish`: `onFCUnpublish`, `_result`, and every publishing stream of the
    /// connection ends.
    fn on_fc_unpublish(&mut self, cmd: &Command) {
        let info = status_object(
            "status",
            "NetStream.Unpublish.Success",
            &format!("FCUnpublish to stream {}.", first_str(&cmd.args)),
        );
        self.reply(0.0, "onFCUnpublish", Amf0Value::Null, vec![info]);
        self.answer(cmd.transaction_id, Amf0Value::Undefined);
        let publishing: Vec<u32> = self
            .streams
            .iter()
            .filter(|(_, r)| **r == StreamRole::Publishing)
            .map(|(id, _)| *id)
            .collect();
        for id in publishing {
            self.streams.insert(id, StreamRole::Created);
            self.events
                .push_back(ServerEvent::Unpublish { stream_id: id });
        }
    }

    /// `FCSubscribe` (Limelight/Akamai style): `onFCSubscribe`.
    fn on_fc_subscribe(&mut self, cmd: &Command) {
        let info = status_object(
            "status",
            "NetStream.Play.Start",
            &format!("FCSubscribe to {}.", first_str(&cmd.args)),
        );
        self.reply(0.0, "onFCSubscribe", Amf0Value::Null, vec![info]);
    }

    /// `publish name [type]`: the request goes to the caller.
    fn on_publish(&mut self, msg_stream: u32, cmd: &Command) -> Result<(), SessionError> {
        let stream_id = self.request_on(msg_stream, StreamRole::PublishRequested)?;
        let publish_type = cmd
            .args
            .get(1)
            .and_then(Amf0Value::as_str)
            .unwrap_or("live")
            .to_string();
        self.events.push_back(ServerEvent::Publish {
            stream_id,
            name: first_str(&cmd.args),
            publish_type,
        });
        Ok(())
    }

    /// `play name [start [duration [reset]]]`: the request goes to the caller.
    fn on_play(&mut self, msg_stream: u32, cmd: &Command) -> Result<(), SessionError> {
        let stream_id = self.request_on(msg_stream, StreamRole::PlayRequested)?;
        let start = cmd.args.get(1).and_then(Amf0Value::as_f64).unwrap_or(-2.0);
        let duration = cmd.args.get(2).and_then(Amf0Value::as_f64).unwrap_or(-1.0);
        let reset = match cmd.args.get(3) {
            Some(Amf0Value::Boolean(b)) => *b,
            Some(Amf0Value::Number(n)) => *n != 0.0,
            _ => true,
        };
        self.events.push_back(ServerEvent::Play {
            stream_id,
            name: first_str(&cmd.args),
            start,
            duration,
            reset,
        });
        Ok(())
    }

    /// `pause flag`: answered at once on a playing stream (status and stream EOF/begin),
    /// and handed to the caller.
    fn on_pause(&mut self, msg_stream: u32, cmd: &Command) {
        if self.streams.get(&msg_stream) != Some(&StreamRole::Playing) {
            return;
        }
        let pause = cmd
            .args
            .first()
            .and_then(Amf0Value::as_bool)
            .unwrap_or(true);
        let (code, desc, uc) = if pause {
            (
                "NetStream.Pause.Notify",
                "Paused stream.",
                UserControl::StreamEof(msg_stream),
            )
        } else {
            (
                "NetStream.Unpause.Notify",
                "Unpaused stream.",
                UserControl::StreamBegin(msg_stream),
            )
        };
        self.send_status(msg_stream, "status", code, desc);
        self.t
            .send(csid::PROTOCOL_CONTROL, 0, 0, &Message::UserControl(uc));
        self.events.push_back(ServerEvent::Pause {
            stream_id: msg_stream,
            pause,
        });
    }

    /// Check that a publish/play arrived on a stream we created and mark it requested.
    fn request_on(&mut self, msg_stream: u32, role: StreamRole) -> Result<u32, SessionError> {
        match self.streams.get(&msg_stream) {
            Some(StreamRole::Created) => {
                self.streams.insert(msg_stream, role);
                Ok(msg_stream)
            }
            Some(r) => Err(SessionError::Protocol(format!(
                "publish/play on stream {msg_stream} which is already {r:?}"
            ))),
            None => Err(SessionError::Protocol(format!(
                "publish/play on stream {msg_stream} that was never created"
            ))),
        }
    }

    fn end_stream(&mut self, id: u32, delete: bool) {
        // Only streams this connection created: an id taken from the chunk header must not
        // create map entries (a peer could grow the map, and get past MAX_STREAMS).
        let role = if delete {
            self.streams.remove(&id)
        } else {
            self.streams
                .get_mut(&id)
                .map(|r| std::mem::replace(r, StreamRole::Created))
        };
        match role {
            Some(StreamRole::Publishing) => self
                .events
                .push_back(ServerEvent::Unpublish { stream_id: id }),
            Some(StreamRole::Playing | StreamRole::PlayRequested) => self
                .events
                .push_back(ServerEvent::StopPlay { stream_id: id }),
            _ => {}
        }
    }

    /// Accept the pending `connect`: window size, peer bandwidth, chunk size, `_result`,
    /// `onBWDone`, in the order SRS sends them.
    pub fn accept_connect(&mut self) {
        let Phase::ConnectRequested {
            transaction_id,
            object_encoding,
        } = self.phase
        else {
            return;
        };
        let w = self.config.window_ack_size;
        self.t
            .send(csid::PROTOCOL_CONTROL, 0, 0, &Message::WindowAckSize(w));
        self.t.send(
            csid::PROTOCOL_CONTROL,
            0,
            0,
            &Message::SetPeerBandwidth { size: w, limit: 2 },
        );
        self.t.send(
            csid::PROTOCOL_CONTROL,
            0,
            0,
            &Message::SetChunkSize(self.config.out_chunk_size.clamp(1, chunk::MAX_CHUNK_SIZE)),
        );
        let props = Amf0Value::object([
            ("fmsVer", Amf0Value::string("FMS/3,5,3,888")),
            ("capabilities", Amf0Value::Number(127.0)),
            ("mode", Amf0Value::Number(1.0)),
        ]);
        let info = Amf0Value::object([
            ("level", Amf0Value::string("status")),
            ("code", Amf0Value::string("NetConnection.Connect.Success")),
            ("description", Amf0Value::string("Connection succeeded")),
            ("objectEncoding", Amf0Value::Number(object_encoding)),
            (
                "data",
                Amf0Value::EcmaArray({
                    // SRS's fields, in its order: who the server is, for tools such as
                    // srs_detect_rtmp and for an edge that names its origin.
                    let v = &self.config.server_version;
                    let mut data = vec![
                        ("version".into(), Amf0Value::string("3,5,3,888")),
                        ("srs_sig".into(), Amf0Value::string("SRS")),
                        (
                            "srs_server".into(),
                            Amf0Value::string(format!("srs-rs/{v}")),
                        ),
                        ("srs_license".into(), Amf0Value::string("MIT")),
                        (
                            "srs_url".into(),
                            Amf0Value::string("https://github.com/ossrs/srs"),
                        ),
                        ("srs_version".into(), Amf0Value::string(v.as_str())),
                        ("srs_authors".into(), Amf0Value::string("srs-rs developers")),
                    ];
                    if self.config.server_pid != 0 {
                        data.push((
                            "srs_pid".into(),
                            Amf0Value::Number(f64::from(self.config.server_pid)),
                        ));
                    }
                    if !self.config.connection_id.is_empty() {
                        data.push((
                            "srs_id".into(),
                            Amf0Value::string(self.config.connection_id.as_str()),
                        ));
                    }
                    data
                }),
            ),
        ]);
        self.reply(transaction_id, "_result", props, vec![info]);
        self.reply(0.0, "onBWDone", Amf0Value::Null, vec![]);
        self.phase = Phase::Connected;
    }

    /// Refuse the pending `connect` with `NetConnection.Connect.Rejected`; the caller closes
    /// the connection after sending the output.
    pub fn reject_connect(&mut self, description: &str) {
        let tid = match self.phase {
            Phase::ConnectRequested { transaction_id, .. } => transaction_id,
            _ => 1.0,
        };
        let info = status_object("error", "NetConnection.Connect.Rejected", description);
        self.reply(tid, "_error", Amf0Value::Null, vec![info]);
    }

    /// Send a call over the connection (SRS's bandwidth check packets): `name`, transaction
    /// 0, null, then `data`.
    pub fn send_call(&mut self, name: &str, data: Amf0Value) {
        self.reply(0.0, name, Amf0Value::Null, vec![data]);
    }

    /// Send `onStatus` on a message stream.
    pub fn send_status(&mut self, stream_id: u32, level: &str, code: &str, description: &str) {
        let mut info = status_object(level, code, description);
        if let Amf0Value::Object(p) = &mut info {
            p.push(("clientid".into(), Amf0Value::string("ASAICiss")));
        }
        self.t.send_command(
            csid::OVER_STREAM,
            stream_id,
            Command::new("onStatus", 0.0, Amf0Value::Null, vec![info]),
        );
    }

    /// Send a user control event.
    pub fn send_user_control(&mut self, uc: UserControl) {
        self.t
            .send(csid::PROTOCOL_CONTROL, 0, 0, &Message::UserControl(uc));
    }

    /// Accept a publish: `NetStream.Publish.Start`.
    pub fn accept_publish(&mut self, stream_id: u32, name: &str) {
        if self.streams.get(&stream_id) == Some(&StreamRole::PublishRequested) {
            self.streams.insert(stream_id, StreamRole::Publishing);
            self.send_user_control(UserControl::StreamBegin(stream_id));
            self.send_status(
                stream_id,
                "status",
                "NetStream.Publish.Start",
                &format!("Started publishing stream {name}."),
            );
        }
    }

    /// Refuse a publish (e.g. `NetStream.Publish.BadName` when the stream is busy).
    pub fn reject_publish(&mut self, stream_id: u32, code: &str, description: &str) {
        self.streams.insert(stream_id, StreamRole::Created);
        self.send_status(stream_id, "error", code, description);
    }

    /// Accept a play: Stream Begin, `Play.Reset` (when asked) and `Play.Start`, as FMS and
    /// SRS send them; see also [`send_play_data_start`](Self::send_play_data_start).
    pub fn accept_play(&mut self, stream_id: u32, name: &str, reset: bool) {
        if self.streams.get(&stream_id) != Some(&StreamRole::PlayRequested) {
            return;
        }
        self.streams.insert(stream_id, StreamRole::Playing);
        self.send_user_control(UserControl::StreamBegin(stream_id));
        if reset {
            self.send_status(
                stream_id,
                "status",
                "NetStream.Play.Reset",
                &format!("Playing and resetting stream {name}."),
            );
        }
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.Start",
            &format!("Started playing stream {name}."),
        );
    }

    /// Send `|RtmpSampleAccess` and `NetStream.Data.Start`, the data messages that follow
    /// `Play.Start`. Call it just before the first media, with that media's timestamp:
    /// players like ffmpeg turn data messages into packets of a data track, and one stamped
    /// 0 ahead of a stream that is hours in would make them wait hours for the next frame.
    pub fn send_play_data_start(&mut self, stream_id: u32, timestamp: u32) {
        let access = amf0::encode_all(&[
            Amf0Value::string("|RtmpSampleAccess"),
            Amf0Value::Boolean(true),
            Amf0Value::Boolean(true),
        ]);
        self.t.send_raw(
            csid::OVER_STREAM,
            timestamp,
            type_id::DATA_AMF0,
            stream_id,
            &access,
        );
        let data_start = amf0::encode_all(&[
            Amf0Value::string("onStatus"),
            Amf0Value::object([("code", Amf0Value::string("NetStream.Data.Start"))]),
        ]);
        self.t.send_raw(
            csid::OVER_STREAM,
            timestamp,
            type_id::DATA_AMF0,
            stream_id,
            &data_start,
        );
    }

    /// Refuse a play.
    pub fn reject_play(&mut self, stream_id: u32, code: &str, description: &str) {
        self.streams.insert(stream_id, StreamRole::Created);
        self.send_status(stream_id, "error", code, description);
    }

    /// Tell a player its stream's publisher left (`NetStream.Play.UnpublishNotify`).
    pub fn notify_unpublish(&mut self, stream_id: u32, name: &str) {
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.UnpublishNotify",
            &format!("stream {name} is now unpublished."),
        );
    }

    /// Tell a player its stream is published again (`NetStream.Play.PublishNotify`).
    pub fn notify_publish(&mut self, stream_id: u32, name: &str) {
        self.send_status(
            stream_id,
            "status",
            "NetStream.Play.PublishNotify",
            &format!("stream {name} is now published."),
        );
    }

    /// Queue one media message (audio 8, video 9, data 18) for a player.
    pub fn send_media(&mut self, stream_id: u32, ty: u8, timestamp: u32, payload: &[u8]) {
        let cs = match ty {
            type_id::AUDIO => csid::AUDIO,
            type_id::VIDEO => csid::VIDEO,
            _ => csid::OVER_STREAM,
        };
        self.t.send_raw(cs, timestamp, ty, stream_id, payload);
    }

    /// Append pre-chunked bytes (built with the session's chunk size, see
    /// [`crate::chunk::write_message`]) straight to the output.
    pub fn send_prechunked(&mut self, bytes: &[u8]) {
        self.t.output.extend_from_slice(bytes);
    }
}

/// Everything a connected session knows, to move it to another process with its socket
/// (the publisher handover of DESIGN.md): chunk sizes, per-chunk-stream header state and
/// partial messages, window sizes, message streams, bytes already read, unread input and
/// events not yet taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionState {
    config: ServerConfig,
    handshake_kind: Option<HandshakeKind>,
    in_chunk_size: u32,
    chunk_streams: Vec<(u32, crate::chunk::ChunkStreamState)>,
    input: Vec<u8>,
    out_chunk_size: u32,
    bytes_received: u64,
    last_ack: u64,
    peer_window: u32,
    events: Vec<ServerEvent>,
    streams: Vec<(u32, StreamRole)>,
    next_stream_id: u32,
}

impl ServerSession {
    /// Export the state of a connected session. Pending output must have been sent first;
    /// sessions still in the handshake or before `connect` was accepted cannot move.
    pub fn export(&self) -> Result<SessionState, SessionError> {
        if !matches!(self.phase, Phase::Connected) {
            return Err(SessionError::Protocol(
                "only a connected session can be handed over".into(),
            ));
        }
        if !self.t.output.is_empty() {
            return Err(SessionError::Protocol("unsent output at handover".into()));
        }
        let mut chunk_streams: Vec<_> = self
            .t
            .decoder
            .streams()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        chunk_streams.sort_by_key(|(k, _)| *k);
        let mut streams: Vec<_> = self.streams.iter().map(|(k, v)| (*k, *v)).collect();
        streams.sort_by_key(|(k, _)| *k);
        Ok(SessionState {
            config: self.config.clone(),
            handshake_kind: self.handshake_kind,
            in_chunk_size: self.t.decoder.chunk_size(),
            chunk_streams,
            input: self.t.input.to_vec(),
            out_chunk_size: self.t.out_chunk_size,
            bytes_received: self.t.bytes_received,
            last_ack: self.t.last_ack,
            peer_window: self.t.peer_window,
            events: self.events.iter().cloned().collect(),
            streams,
            next_stream_id: self.next_stream_id,
        })
    }

    /// Rebuild a session from exported state; it carries on exactly where the exporting
    /// process stopped. State from another process is checked, not trusted.
    pub fn import(state: SessionState) -> Result<ServerSession, SessionError> {
        if state.in_chunk_size == 0 || state.in_chunk_size > crate::chunk::MAX_CHUNK_SIZE {
            return Err(SessionError::Protocol(
                "bad chunk size in handed-over state".into(),
            ));
        }
        if state.streams.len() > MAX_STREAMS
            || state.chunk_streams.len() > state.config.limits.max_chunk_streams
        {
            return Err(SessionError::Protocol("oversized handed-over state".into()));
        }
        let mut t = Transport::new(state.config.limits);
        t.decoder = crate::chunk::ChunkDecoder::from_state(
            state.config.limits,
            state.in_chunk_size,
            state.chunk_streams.into_iter().collect(),
        );
        t.input.extend_from_slice(&state.input);
        t.out_chunk_size = state.out_chunk_size.clamp(1, crate::chunk::MAX_CHUNK_SIZE);
        t.bytes_received = state.bytes_received;
        t.last_ack = state.last_ack;
        t.peer_window = state.peer_window;
        Ok(ServerSession {
            config: state.config,
            phase: Phase::Connected,
            handshake_kind: state.handshake_kind,
            t,
            events: state.events.into_iter().collect(),
            streams: state.streams.into_iter().collect(),
            next_stream_id: state.next_stream_id,
        })
    }
}

/// Fuzz invariant: a server session fed arbitrary bytes (after a valid handshake) never
/// panics, and accepting every request keeps it consistent.
pub fn fuzz_session(data: &[u8]) {
    let mut s = ServerSession::new(ServerConfig {
        limits: ChunkLimits {
            max_message_size: 64 * 1024,
            max_chunk_streams: 16,
            max_pending_bytes: 256 * 1024,
        },
        ..Default::default()
    });
    // A simple handshake: C0 + zero C1 + C2.
    let mut hs = vec![3u8];
    hs.extend_from_slice(&[0u8; 1536 * 2]);
    s.feed(&hs).expect("valid handshake");
    for piece in data.chunks(97) {
        if s.feed(piece).is_err() {
            return;
        }
        loop {
            let ev = match s.poll_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => break,
                Err(_) => return,
            };
            match ev {
                ServerEvent::Connect(_) => s.accept_connect(),
                ServerEvent::Publish {
                    stream_id, name, ..
                } => s.accept_publish(stream_id, &name),
                ServerEvent::Play {
                    stream_id,
                    name,
                    reset,
                    ..
                } => s.accept_play(stream_id, &name, reset),
                _ => {}
            }
        }
        let _ = s.take_output();
    }
}
