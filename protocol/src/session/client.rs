//! Client side of an RTMP connection, for our tests and the load tool: handshake (simple or
//! complex), `connect`, `createStream`, then `publish` or `play` (RTMP 1.0 specification
//! section 7.2), as ffmpeg does it.

use super::{status_of, SessionError, Transport, DEFAULT_WINDOW_ACK_SIZE};
use crate::amf0::Amf0Value;
use crate::chunk::ChunkLimits;
use crate::handshake::{ClientHandshake, Progress};
use crate::message::{csid, type_id, Command, Message, UserControl};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// Settings of a client session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// tcUrl, e.g. `rtmp://127.0.0.1:1935/live`.
    pub tc_url: String,
    /// App, e.g. `live`.
    pub app: String,
    /// `flashVer` we announce.
    pub flash_ver: String,
    /// `pageUrl` we announce (empty: not sent).
    pub page_url: String,
    /// Do the complex (FP9) handshake.
    pub complex_handshake: bool,
    /// Chunk size we send with.
    pub out_chunk_size: u32,
    /// Limits on what the server may make us buffer.
    pub limits: ChunkLimits,
    /// More properties of the `connect` command object (e.g. a relay's own marks).
    pub extra: Vec<(String, Amf0Value)>,
    /// `swfUrl` we announce (empty: not sent).
    pub swf_url: String,
    /// The `connect` command's optional user arguments, sent after the command object
    /// (RTMP 1.0 section 7.2.1.1, "Optional User Arguments"; srs-librtmp's `args`).
    pub args: Option<Amf0Value>,
}

impl ClientConfig {
    /// Settings for `rtmp://host:port/app`.
    pub fn new(tc_url: &str, app: &str) -> Self {
        Self {
            tc_url: tc_url.to_string(),
            app: app.to_string(),
            flash_ver: "LNX 9,0,124,2".to_string(),
            page_url: String::new(),
            complex_handshake: true,
            out_chunk_size: 4096,
            limits: ChunkLimits::default(),
            extra: Vec::new(),
            swf_url: String::new(),
            args: None,
        }
    }
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// `connect` succeeded.
    Connected,
    /// `connect` was refused: level, code, description.
    ConnectFailed { code: String, description: String },
    /// `createStream` answered with this message stream id.
    StreamCreated { stream_id: u32 },
    /// `onStatus` on a stream.
    Status {
        stream_id: u32,
        level: String,
        code: String,
        description: String,
    },
    /// Audio, video or data message.
    Media {
        stream_id: u32,
        type_id: u8,
        timestamp: u32,
        payload: Bytes,
    },
    /// A user control event from the server (Stream Begin, Stream EOF, ...).
    UserControl(UserControl),
    /// Any other command.
    Command(Command),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Connect,
    CreateStream,
    Other,
}

/// A client-side RTMP connection.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    /// The information object of the `connect` `_result` (its `data` names the server).
    connect_info: Option<Amf0Value>,
    handshake: Option<ClientHandshake>,
    server_digest_verified: bool,
    t: Transport,
    events: VecDeque<ClientEvent>,
    next_tid: f64,
    pending: HashMap<u64, Pending>,
}

impl ClientSession {
    /// A session whose output already holds C0 C1.
    pub fn new(config: ClientConfig) -> Self {
        let mut hs = ClientHandshake::new(config.complex_handshake);
        let mut t = Transport::new(config.limits);
        t.output.extend_from_slice(&hs.take_output());
        Self {
            config,
            connect_info: None,
            handshake: Some(hs),
            server_digest_verified: false,
            t,
            events: VecDeque::new(),
            next_tid: 1.0,
            pending: HashMap::new(),
        }
    }

    /// Whether the server's S1 digest verified (complex handshake answered in kind).
    pub fn server_digest_verified(&self) -> bool {
        self.server_digest_verified
    }

    /// Send a call over the connection (SRS's bandwidth check packets): `name`, transaction
    /// 0, null, then `data`.
    pub fn send_call(&mut self, name: &str, data: Amf0Value) {
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new(name, 0.0, Amf0Value::Null, vec![data]),
        );
    }

    /// The information object the server's `connect` `_result` carried (`code`,
    /// `description`, and for SRS `data { srs_server, srs_version, srs_pid, srs_id, ... }`).
    pub fn connect_info(&self) -> Option<&Amf0Value> {
        self.connect_info.as_ref()
    }

    /// The chunk size the server sends with (its last `SetChunkSize`).
    pub fn in_chunk_size(&self) -> u32 {
        self.t.decoder.chunk_size()
    }

    /// Feed bytes read from the socket.
    pub fn feed(&mut self, data: &[u8]) -> Result<(), SessionError> {
        let data = if let Some(hs) = &mut self.handshake {
            let p = hs.feed(data)?;
            self.t.output.extend_from_slice(&hs.take_output());
            match p {
                Progress::NeedMore => return Ok(()),
                Progress::Done { leftover } => {
                    self.server_digest_verified = hs.server_digest_verified();
                    self.handshake = None;
                    self.send_connect();
                    leftover
                }
            }
        } else {
            data.to_vec()
        };
        self.t.push_input(&data);
        while let Some((raw, msg)) = self.t.next_message()? {
            match msg {
                Message::Command(c) => self.on_command(raw.stream_id, c),
                Message::Audio(p) | Message::Video(p) | Message::Data(p) => {
                    self.events.push_back(ClientEvent::Media {
                        stream_id: raw.stream_id,
                        type_id: raw.type_id,
                        timestamp: raw.timestamp,
                        payload: p,
                    })
                }
                Message::UserControl(uc) => self.events.push_back(ClientEvent::UserControl(uc)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Bytes to send.
    pub fn take_output(&mut self) -> Bytes {
        self.t.take_output()
    }

    fn tid(&mut self, p: Pending) -> f64 {
        let t = self.next_tid;
        self.next_tid += 1.0;
        self.pending.insert(t as u64, p);
        t
    }

    fn send_connect(&mut self) {
        self.t.send(
            csid::PROTOCOL_CONTROL,
            0,
            0,
            &Message::SetChunkSize(self.config.out_chunk_size),
        );
        let mut props = vec![
            ("app", Amf0Value::string(self.config.app.clone())),
            ("flashVer", Amf0Value::string(self.config.flash_ver.clone())),
            ("tcUrl", Amf0Value::string(self.config.tc_url.clone())),
            ("fpad", Amf0Value::Boolean(false)),
            ("capabilities", Amf0Value::Number(15.0)),
            ("audioCodecs", Amf0Value::Number(4071.0)),
            ("videoCodecs", Amf0Value::Number(252.0)),
            ("videoFunction", Amf0Value::Number(1.0)),
        ];
        if !self.config.page_url.is_empty() {
            props.push(("pageUrl", Amf0Value::string(self.config.page_url.clone())));
        }
        if !self.config.swf_url.is_empty() {
            props.push(("swfUrl", Amf0Value::string(self.config.swf_url.clone())));
        }
        let mut props: Vec<(String, Amf0Value)> =
            props.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        props.extend(self.config.extra.iter().cloned());
        let tid = self.tid(Pending::Connect);
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new(
                "connect",
                tid,
                Amf0Value::object(props),
                self.config.args.iter().cloned().collect(),
            ),
        );
    }

    fn on_command(&mut self, stream_id: u32, c: Command) {
        match c.name.as_str() {
            "_result" | "_error" => {
                let p = self.pending.remove(&(c.transaction_id as u64));
                let info = c.args.first().cloned().unwrap_or(Amf0Value::Null);
                match (p, c.name.as_str()) {
                    (Some(Pending::Connect), "_result") => {
                        self.t.send(
                            csid::PROTOCOL_CONTROL,
                            0,
                            0,
                            &Message::WindowAckSize(DEFAULT_WINDOW_ACK_SIZE),
                        );
                        self.connect_info = Some(info);
                        self.events.push_back(ClientEvent::Connected)
                    }
                    (Some(Pending::Connect), _) => {
                        let (_, code, description) = status_of(&info);
                        self.events
                            .push_back(ClientEvent::ConnectFailed { code, description })
                    }
                    (Some(Pending::CreateStream), "_result") => {
                        let id = info.as_f64().unwrap_or(0.0) as u32;
                        self.events
                            .push_back(ClientEvent::StreamCreated { stream_id: id })
                    }
                    _ => self.events.push_back(ClientEvent::Command(c)),
                }
            }
            "onStatus" => {
                let info = c.args.first().cloned().unwrap_or(Amf0Value::Null);
                let (level, code, description) = status_of(&info);
                self.events.push_back(ClientEvent::Status {
                    stream_id,
                    level,
                    code,
                    description,
                });
            }
            _ => self.events.push_back(ClientEvent::Command(c)),
        }
    }

    /// Ask for a message stream; answered by [`ClientEvent::StreamCreated`].
    pub fn create_stream(&mut self) {
        let tid = self.tid(Pending::CreateStream);
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new("createStream", tid, Amf0Value::Null, vec![]),
        );
    }

    /// Start publishing `name` (FMLE style: releaseStream, FCPublish, then publish).
    pub fn publish(&mut self, stream_id: u32, name: &str) {
        for cmd in ["releaseStream", "FCPublish"] {
            let tid = self.tid(Pending::Other);
            self.t.send_command(
                csid::OVER_CONNECTION,
                0,
                Command::new(cmd, tid, Amf0Value::Null, vec![Amf0Value::string(name)]),
            );
        }
        self.t.send_command(
            csid::OVER_STREAM,
            stream_id,
            Command::new(
                "publish",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::string(name), Amf0Value::string("live")],
            ),
        );
    }

    /// Start playing `name` from the live point (start = -2: live or recorded).
    pub fn play(&mut self, stream_id: u32, name: &str) {
        self.t.send_command(
            csid::OVER_STREAM,
            stream_id,
            Command::new(
                "play",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::string(name), Amf0Value::Number(-2000.0)],
            ),
        );
        self.t.send(
            csid::PROTOCOL_CONTROL,
            0,
            0,
            &Message::UserControl(UserControl::SetBufferLength {
                stream_id,
                buffer_ms: 3000,
            }),
        );
    }

    /// Pause or resume playback.
    pub fn pause(&mut self, stream_id: u32, pause: bool, position_ms: f64) {
        self.t.send_command(
            csid::OVER_STREAM,
            stream_id,
            Command::new(
                "pause",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::Boolean(pause), Amf0Value::Number(position_ms)],
            ),
        );
    }

    /// Stop: FCUnpublish (when publishing `name`) and deleteStream.
    pub fn unpublish(&mut self, stream_id: u32, name: &str) {
        let tid = self.tid(Pending::Other);
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new(
                "FCUnpublish",
                tid,
                Amf0Value::Null,
                vec![Amf0Value::string(name)],
            ),
        );
        self.delete_stream(stream_id);
    }

    /// deleteStream.
    pub fn delete_stream(&mut self, stream_id: u32) {
        self.t.send_command(
            csid::OVER_CONNECTION,
            0,
            Command::new(
                "deleteStream",
                0.0,
                Amf0Value::Null,
                vec![Amf0Value::Number(stream_id as f64)],
            ),
        );
    }

    /// Send an audio (8), video (9) or data (18) message on a publishing stream.
    pub fn send_media(&mut self, stream_id: u32, ty: u8, timestamp: u32, payload: &[u8]) {
        let cs = match ty {
            type_id::AUDIO => csid::AUDIO,
            type_id::VIDEO => csid::VIDEO,
            _ => csid::OVER_STREAM,
        };
        self.t.send_raw(cs, timestamp, ty, stream_id, payload);
    }

    /// Send any message as-is (for tests that need raw control).
    pub fn send_message(&mut self, cs: u32, timestamp: u32, stream_id: u32, msg: &Message) {
        self.t.send(cs, timestamp, stream_id, msg);
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::{ServerConfig, ServerEvent, ServerSession, SessionState};
    use super::*;

    /// Shuttle bytes between an in-memory client and server until neither has output.
    fn pump(c: &mut ClientSession, s: &mut ServerSession) {
        for _ in 0..100 {
            let co = c.take_output();
            let so = s.take_output();
            if co.is_empty() && so.is_empty() {
                return;
            }
            s.feed(&co).unwrap();
            s.decode_pending().unwrap();
            c.feed(&so).unwrap();
        }
        panic!("no quiescence");
    }

    fn server_events(s: &mut ServerSession) -> Vec<ServerEvent> {
        std::iter::from_fn(|| s.poll_event().unwrap()).collect()
    }

    fn client_events(c: &mut ClientSession) -> Vec<ClientEvent> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn publish_then_play_in_memory() {
        // Publisher.
        let mut pc = ClientSession::new(ClientConfig::new("rtmp://localhost/live", "live"));
        let mut ps = ServerSession::new(ServerConfig::default());
        pump(&mut pc, &mut ps);
        assert!(pc.server_digest_verified());
        let ev = server_events(&mut ps);
        assert!(
            matches!(&ev[0], ServerEvent::Connect(r) if r.app == "live" && r.tc_url == "rtmp://localhost/live")
        );
        ps.accept_connect();
        pump(&mut pc, &mut ps);
        assert_eq!(client_events(&mut pc)[0], ClientEvent::Connected);
        pc.create_stream();
        pump(&mut pc, &mut ps);
        assert_eq!(
            client_events(&mut pc),
            vec![ClientEvent::StreamCreated { stream_id: 1 }]
        );
        pc.publish(1, "cam");
        pump(&mut pc, &mut ps);
        let ev = server_events(&mut ps);
        assert_eq!(
            ev,
            vec![ServerEvent::Publish {
                stream_id: 1,
                name: "cam".into(),
                publish_type: "live".into()
            }]
        );
        ps.accept_publish(1, "cam");
        pump(&mut pc, &mut ps);
        let codes: Vec<String> = client_events(&mut pc)
            .into_iter()
            .filter_map(|e| match e {
                ClientEvent::Status { code, .. } => Some(code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec!["NetStream.Publish.Start".to_string()]);
        // Media across the extended-timestamp boundary and the 32-bit wrap.
        for ts in [0u32, 0x00ff_fffe, 0x00ff_ffff, 0x0100_0000, u32::MAX, 5] {
            pc.send_media(1, type_id::VIDEO, ts, &[0x17, 1, 0, 0, 0, 9, 9]);
        }
        pump(&mut pc, &mut ps);
        let ts: Vec<u32> = server_events(&mut ps)
            .into_iter()
            .filter_map(|e| match e {
                ServerEvent::Video { timestamp, .. } => Some(timestamp),
                _ => None,
            })
            .collect();
        assert_eq!(
            ts,
            vec![0, 0x00ff_fffe, 0x00ff_ffff, 0x0100_0000, u32::MAX, 5]
        );
        pc.unpublish(1, "cam");
        pump(&mut pc, &mut ps);
        assert_eq!(
            server_events(&mut ps),
            vec![ServerEvent::Unpublish { stream_id: 1 }]
        );

        // Player.
        let mut cfg = ClientConfig::new("rtmp://localhost/live", "live");
        cfg.complex_handshake = false;
        let mut c = ClientSession::new(cfg);
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_connect();
        pump(&mut c, &mut s);
        c.create_stream();
        pump(&mut c, &mut s);
        client_events(&mut c);
        c.play(1, "cam");
        pump(&mut c, &mut s);
        assert!(
            matches!(&server_events(&mut s)[0], ServerEvent::Play { name, .. } if name == "cam")
        );
        s.accept_play(1, "cam", true);
        s.send_media(1, type_id::AUDIO, 70_000, &[0xaf, 0, 0x12, 0x10]);
        pump(&mut c, &mut s);
        let ev = client_events(&mut c);
        let codes: Vec<&str> = ev
            .iter()
            .filter_map(|e| match e {
                ClientEvent::Status { code, .. } => Some(code.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec!["NetStream.Play.Reset", "NetStream.Play.Start"]);
        assert!(ev.iter().any(|e| matches!(
            e,
            ClientEvent::Media {
                type_id: 8,
                timestamp: 70_000,
                ..
            }
        )));
        c.pause(1, true, 0.0);
        pump(&mut c, &mut s);
        assert_eq!(
            server_events(&mut s),
            vec![ServerEvent::Pause {
                stream_id: 1,
                pause: true
            }]
        );
        let ev = client_events(&mut c);
        assert!(ev.iter().any(
            |e| matches!(e, ClientEvent::Status { code, .. } if code == "NetStream.Pause.Notify")
        ));
    }

    #[test]
    fn play_before_connect_is_a_protocol_error() {
        let mut s = ServerSession::new(ServerConfig::default());
        let mut wire = vec![3u8];
        wire.extend_from_slice(&[0u8; 1536 * 2]);
        let play = Command::new("play", 0.0, Amf0Value::Null, vec![Amf0Value::string("x")]);
        let mut chunk = bytes::BytesMut::new();
        crate::chunk::write_message(
            &mut chunk,
            128,
            3,
            0,
            type_id::COMMAND_AMF0,
            1,
            &play.encode(),
        );
        wire.extend_from_slice(&chunk);
        s.feed(&wire).unwrap();
        assert!(s.poll_event().is_err());
    }

    #[test]
    fn media_pipelined_behind_publish_is_kept() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_connect();
        pump(&mut c, &mut s);
        c.create_stream();
        pump(&mut c, &mut s);
        // publish and the sequence header in one write, before any answer.
        c.publish(1, "cam");
        c.send_media(1, type_id::VIDEO, 0, &[0x17, 0, 0, 0, 0]);
        c.send_media(1, type_id::AUDIO, 0, &[0xaf, 0]);
        let bytes = c.take_output();
        s.feed(&bytes).unwrap();
        let ev = s.poll_event().unwrap().unwrap();
        assert!(matches!(ev, ServerEvent::Publish { stream_id: 1, .. }));
        // Nothing more until the publish is answered...
        assert_eq!(s.poll_event().unwrap(), None);
        s.accept_publish(1, "cam");
        // ...then the media that was waiting comes out.
        let rest: Vec<ServerEvent> = std::iter::from_fn(|| s.poll_event().unwrap()).collect();
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert!(matches!(rest[0], ServerEvent::Video { .. }));
    }

    #[test]
    fn media_on_another_stream_id_goes_to_the_publishing_stream() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_connect();
        pump(&mut c, &mut s);
        c.create_stream();
        pump(&mut c, &mut s);
        c.publish(1, "cam");
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_publish(1, "cam");
        c.send_media(0, type_id::VIDEO, 40, &[0x27, 1, 0, 0, 0]);
        pump(&mut c, &mut s);
        assert!(matches!(
            server_events(&mut s)[..],
            [ServerEvent::Video {
                stream_id: 1,
                timestamp: 40,
                ..
            }]
        ));
    }

    #[test]
    fn handover_mid_message_carries_on_in_the_new_session() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_connect();
        pump(&mut c, &mut s);
        c.create_stream();
        pump(&mut c, &mut s);
        // publish, then a 10 KB video message cut in half by the handover.
        c.publish(1, "cam");
        let frame: Vec<u8> = std::iter::once(0x17)
            .chain((0..10_000u32).map(|i| i as u8))
            .collect();
        c.send_media(1, type_id::VIDEO, 1234, &frame);
        let bytes = c.take_output();
        let half = bytes.len() - 5_000;
        s.feed(&bytes[..half]).unwrap();
        // The stream worker sees the publish request and hands the connection over.
        let ev = s.poll_event().unwrap().unwrap();
        assert!(matches!(ev, ServerEvent::Publish { stream_id: 1, .. }));
        // (The worker flushes the replies to releaseStream/FCPublish first.)
        let replies = s.take_output();
        c.feed(&replies).unwrap();
        let state = s.export().unwrap();
        let wire = bincode::serialize(&state).unwrap();
        drop(s);
        // Backsource rebuilds it and decides the publish.
        let state: SessionState = bincode::deserialize(&wire).unwrap();
        let mut s2 = ServerSession::import(state).unwrap();
        s2.accept_publish(1, "cam");
        s2.feed(&bytes[half..]).unwrap();
        let rest: Vec<ServerEvent> = std::iter::from_fn(|| s2.poll_event().unwrap()).collect();
        assert_eq!(rest.len(), 1, "{rest:?}");
        match &rest[0] {
            ServerEvent::Video {
                timestamp, payload, ..
            } => {
                assert_eq!(*timestamp, 1234);
                assert_eq!(&payload[..], &frame[..]);
            }
            other => panic!("{other:?}"),
        }
        // And the client gets its Publish.Start from the new session.
        pump(&mut c, &mut s2);
        assert!(client_events(&mut c).iter().any(
            |e| matches!(e, ClientEvent::Status { code, .. } if code == "NetStream.Publish.Start")
        ));
    }

    #[test]
    fn export_refused_before_connect() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        assert!(s.export().is_err());
        pump(&mut c, &mut s);
        assert!(s.export().is_err(), "connect not accepted yet");
    }

    #[test]
    fn close_stream_on_unknown_ids_creates_nothing() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        server_events(&mut s);
        s.accept_connect();
        pump(&mut c, &mut s);
        for id in 100..200u32 {
            let cmd = Command::new("closeStream", 0.0, Amf0Value::Null, vec![]);
            c.send_message(csid::OVER_STREAM, 0, id, &Message::Command(cmd));
        }
        // publish on one of those ids is refused: it was never created.
        c.publish(150, "x");
        let out = c.take_output();
        s.feed(&out).unwrap();
        let err = loop {
            match s.poll_event() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("publish on a closed-but-never-created stream accepted"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("never created"), "{err}");
    }

    /// `swfUrl` and the optional user arguments reach the server as sent.
    #[test]
    fn swf_url_and_connect_args() {
        let mut config = ClientConfig::new("rtmp://h/live", "live");
        config.swf_url = "http://h/player.swf".into();
        let args = Amf0Value::object([("token", Amf0Value::string("abc"))]);
        config.args = Some(args.clone());
        let mut c = ClientSession::new(config);
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        match &server_events(&mut s)[..] {
            [ServerEvent::Connect(r)] => {
                assert_eq!(r.swf_url, "http://h/player.swf");
                assert_eq!(r.args, Some(args));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejected_connect() {
        let mut c = ClientSession::new(ClientConfig::new("rtmp://h/live", "live"));
        let mut s = ServerSession::new(ServerConfig::default());
        pump(&mut c, &mut s);
        s.reject_connect("refer denied");
        pump(&mut c, &mut s);
        assert_eq!(
            client_events(&mut c),
            vec![ClientEvent::ConnectFailed {
                code: "NetConnection.Connect.Rejected".into(),
                description: "refer denied".into()
            }]
        );
    }
}
