//! An RTMP client over tokio: connect (with tcUrl and params), then publish or play, and
//! read or write audio, video and data messages with their timestamps.
//!
//! It drives the sans-I/O [`ClientSession`] of `srs-protocol`, the same chunk stream and
//! AMF0 code the server runs; nothing here parses a byte. The server's relays (edge pull and
//! push, forward, token traverse) use it, as do tools and tests.
//!
//! Every step is bounded: the TCP connect, the handshake and `connect` by
//! [`Options::connect_timeout`], each later command by [`Options::command_timeout`], and a
//! read by whatever timeout its caller puts around it.

use bytes::{Bytes, BytesMut};
use srs_protocol::amf0::Amf0Value;
use srs_protocol::request::parse_tc_url;
use srs_protocol::session::{ClientConfig, ClientEvent, ClientSession, SessionError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

pub use srs_protocol::message::type_id;

pub mod bandcheck;
pub mod flv;
pub mod raw;

/// Who the server said it is, in its `connect` answer (SRS: `data { srs_server,
/// srs_version, srs_pid, srs_id, ... }`; empty fields for servers that do not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// `srs_server`, e.g. `SRS/6.0.157 (Bee)` or `srs-rs/0.1.0`.
    pub server: String,
    /// `srs_version`.
    pub version: String,
    /// `srs_pid`: the serving process.
    pub pid: u32,
    /// `srs_id`: the server's id of this connection.
    pub id: String,
    /// `srs_server_ip`, when given.
    pub ip: String,
    /// `srs_sig`, `srs_authors`, `srs_license` and the other `data` fields, as text.
    pub other: Vec<(String, String)>,
}

/// Where a client goes: `rtmp://host[:port]/app[/...]/stream[?query]` split the way SRS
/// splits it (the last path segment is the stream, the rest the app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpUrl {
    /// Host as written.
    pub host: String,
    /// Port (1935 when absent).
    pub port: u16,
    /// Application (may contain `/`).
    pub app: String,
    /// Stream name with its query, as sent in `publish`/`play`.
    pub stream: String,
    /// tcUrl sent in `connect`: `rtmp://host:port/app`.
    pub tc_url: String,
}

impl RtmpUrl {
    /// Parse a full stream URL.
    pub fn parse(url: &str) -> Result<RtmpUrl, ClientError> {
        let bad = |why: String| ClientError::Url(format!("{url:?}: {why}"));
        let u = parse_tc_url(url).map_err(bad)?;
        if u.schema != "rtmp" {
            return Err(bad(format!("scheme {:?} is not rtmp", u.schema)));
        }
        if u.host.is_empty() {
            return Err(bad("no host".into()));
        }
        // SRS's `rtmp://host/app?vhost=v/stream`: the app's query comes before the stream.
        if !u.app.contains('/') {
            if let Some((app_query, stream)) = u.query.rsplit_once('/') {
                if u.app.is_empty() || stream.is_empty() {
                    return Err(bad("empty app or stream".into()));
                }
                return Ok(RtmpUrl {
                    tc_url: format!(
                        "rtmp://{}:{}/{}?{app_query}",
                        host_for_url(&u.host),
                        u.port,
                        u.app
                    ),
                    host: u.host,
                    port: u.port,
                    app: u.app,
                    stream: stream.to_string(),
                });
            }
        }
        let (app, stream) = match u.app.rsplit_once('/') {
            Some((a, s)) => (a.to_string(), s.to_string()),
            None => return Err(bad("no stream name after the app".into())),
        };
        if app.is_empty() || stream.is_empty() {
            return Err(bad("empty app or stream".into()));
        }
        let stream = if u.query.is_empty() {
            stream
        } else {
            format!("{stream}?{}", u.query)
        };
        Ok(RtmpUrl {
            tc_url: format!("rtmp://{}:{}/{}", host_for_url(&u.host), u.port, app),
            host: u.host,
            port: u.port,
            app,
            stream,
        })
    }

    /// `host:port`, ready for a TCP connect.
    pub fn addr(&self) -> String {
        format!("{}:{}", host_for_url(&self.host), self.port)
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// How a client connects.
#[derive(Debug, Clone)]
pub struct Options {
    /// Longest time for the TCP connect, the handshake and the `connect` answer together.
    pub connect_timeout: Duration,
    /// Longest wait for the answer to `createStream`, `publish` or `play`.
    pub command_timeout: Duration,
    /// `pageUrl` sent in `connect` (empty: none).
    pub page_url: String,
    /// More properties of the `connect` command object.
    pub extra: Vec<(String, Amf0Value)>,
    /// `swfUrl` sent in `connect` (empty: none).
    pub swf_url: String,
    /// The `connect` command's optional user arguments, after the command object.
    pub connect_args: Option<Amf0Value>,
    /// Chunk size to send with.
    pub chunk_size: u32,
}

impl Options {
    /// Options of a relay of server `server_id` on behalf of a client of `page_url`: the
    /// `connect` carries the server's mark (see `srs_protocol::session::RELAY_ID`).
    pub fn relay(server_id: &str, page_url: &str) -> Options {
        Options {
            page_url: page_url.to_string(),
            extra: vec![(
                srs_protocol::session::RELAY_ID.to_string(),
                Amf0Value::string(server_id),
            )],
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            connect_timeout: Duration::from_secs(3),
            command_timeout: Duration::from_secs(10),
            page_url: String::new(),
            extra: Vec::new(),
            swf_url: String::new(),
            connect_args: None,
            chunk_size: 60_000,
        }
    }
}

/// Why a client step failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("bad rtmp url {0}")]
    Url(String),
    /// The host did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A step took too long.
    #[error("timeout: no answer to {0} in time")]
    Timeout(&'static str),
    /// The server broke the protocol (or sent garbage).
    #[error("rtmp: {0}")]
    Session(#[from] SessionError),
    /// The server refused: the status code and description it gave.
    #[error("refused: {code} ({description})")]
    Refused {
        /// `NetConnection.Connect.Rejected`, `NetStream.Publish.BadName`, ...
        code: String,
        /// The server's text.
        description: String,
    },
    /// The server closed the connection.
    #[error("connection closed by the server")]
    Closed,
}

/// What [`Client::read`] returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// An audio (8), video (9) or data (18) message.
    Media {
        /// Message type.
        type_id: u8,
        /// Timestamp in ms.
        timestamp: u32,
        /// Body, as in an FLV tag.
        payload: Bytes,
    },
    /// An `onStatus` on our stream (e.g. `NetStream.Play.UnpublishNotify`).
    Status {
        /// `status` or `error`.
        level: String,
        /// The status code.
        code: String,
        /// The server's text.
        description: String,
    },
}

/// A connected RTMP client.
#[derive(Debug)]
pub struct Client {
    socket: TcpStream,
    session: ClientSession,
    buf: BytesMut,
    stream_id: u32,
    peer: SocketAddr,
    bytes_in: u64,
    bytes_out: u64,
    command_timeout: Duration,
    /// Statuses and media that arrived while a command waited for its answer.
    early: std::collections::VecDeque<Packet>,
}

impl Client {
    /// Connect to the server of `url` and send `connect` with its tcUrl and app.
    pub async fn connect_url(url: &RtmpUrl, opts: &Options) -> Result<Client, ClientError> {
        Self::connect(&url.addr(), &url.tc_url, &url.app, opts).await
    }

    /// Connect to `addr` (`host:port`) and send `connect` with `tc_url` and `app` (they may
    /// name another host: a relay connects to one server on behalf of another's URL).
    pub async fn connect(
        addr: &str,
        tc_url: &str,
        app: &str,
        opts: &Options,
    ) -> Result<Client, ClientError> {
        let deadline = Instant::now() + opts.connect_timeout;
        let peer = timeout_at(deadline, tokio::net::lookup_host(addr))
            .await
            .map_err(|_| ClientError::Timeout("name lookup"))?
            .map_err(|e| ClientError::Io {
                what: "name lookup",
                source: e,
            })?
            .next()
            .ok_or_else(|| ClientError::Resolve(addr.to_string()))?;
        let socket = timeout_at(deadline, TcpStream::connect(peer))
            .await
            .map_err(|_| ClientError::Timeout("tcp connect"))?
            .map_err(|e| ClientError::Io {
                what: "tcp connect",
                source: e,
            })?;
        Self::connect_socket(socket, tc_url, app, opts).await
    }

    /// Handshake on a TCP connection already open to the server, then send `connect` with
    /// `tc_url` and `app`.
    pub async fn connect_socket(
        socket: TcpStream,
        tc_url: &str,
        app: &str,
        opts: &Options,
    ) -> Result<Client, ClientError> {
        let deadline = Instant::now() + opts.connect_timeout;
        let peer = socket.peer_addr().map_err(|e| ClientError::Io {
            what: "peer address",
            source: e,
        })?;
        socket.set_nodelay(true).map_err(|e| ClientError::Io {
            what: "set nodelay",
            source: e,
        })?;
        let mut config = ClientConfig::new(tc_url, app);
        config.page_url = opts.page_url.clone();
        config.extra = opts.extra.clone();
        config.swf_url = opts.swf_url.clone();
        config.args = opts.connect_args.clone();
        config.out_chunk_size = opts.chunk_size;
        let mut c = Client {
            socket,
            session: ClientSession::new(config),
            buf: BytesMut::with_capacity(64 * 1024),
            stream_id: 0,
            peer,
            bytes_in: 0,
            bytes_out: 0,
            command_timeout: opts.command_timeout,
            early: Default::default(),
        };
        c.flush().await?;
        loop {
            match c.next_event(deadline, "connect").await? {
                ClientEvent::Connected => return Ok(c),
                ClientEvent::ConnectFailed { code, description } => {
                    return Err(ClientError::Refused { code, description })
                }
                _ => {}
            }
        }
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Bytes received so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    /// Bytes sent so far.
    pub fn bytes_out(&self) -> u64 {
        self.bytes_out
    }

    /// Whether the server answered our complex handshake in kind.
    pub fn server_digest_verified(&self) -> bool {
        self.session.server_digest_verified()
    }

    /// What the server said about itself when it accepted `connect`.
    pub fn server_info(&self) -> ServerInfo {
        let mut info = ServerInfo::default();
        let Some(data) = self.session.connect_info().and_then(|i| i.get("data")) else {
            return info;
        };
        for (k, v) in data.properties().unwrap_or_default() {
            let text = match v {
                Amf0Value::Number(n) => format!("{n}"),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            match k.as_str() {
                "srs_server" => info.server = text,
                "srs_version" => info.version = text,
                "srs_pid" => info.pid = v.as_f64().unwrap_or(0.0) as u32,
                "srs_id" => info.id = text,
                "srs_server_ip" => info.ip = text,
                _ => info.other.push((k.clone(), text)),
            }
        }
        info
    }

    async fn create_stream(&mut self, deadline: Instant) -> Result<u32, ClientError> {
        self.session.create_stream();
        self.flush().await?;
        loop {
            if let ClientEvent::StreamCreated { stream_id } =
                self.next_event(deadline, "createStream").await?
            {
                self.stream_id = stream_id;
                return Ok(stream_id);
            }
        }
    }

    /// Publish `name` (with its query), FMLE style; returns once the server said
    /// `NetStream.Publish.Start`.
    pub async fn publish(&mut self, name: &str) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.command_timeout;
        let sid = self.create_stream(deadline).await?;
        self.session.publish(sid, name);
        self.flush().await?;
        self.await_status(deadline, "publish", "NetStream.Publish.Start")
            .await
    }

    /// Play `name` (with its query) from the live point; returns once the server said
    /// `NetStream.Play.Start`.
    pub async fn play(&mut self, name: &str) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.command_timeout;
        let sid = self.create_stream(deadline).await?;
        self.session.play(sid, name);
        self.flush().await?;
        self.await_status(deadline, "play", "NetStream.Play.Start")
            .await
    }

    async fn await_status(
        &mut self,
        deadline: Instant,
        what: &'static str,
        want: &str,
    ) -> Result<(), ClientError> {
        loop {
            match self.next_event(deadline, what).await? {
                ClientEvent::Status {
                    level,
                    code,
                    description,
                    ..
                } => {
                    if code == want {
                        return Ok(());
                    }
                    if level == "error"
                        || code.ends_with(".Rejected")
                        || code.ends_with(".BadName")
                        || code.ends_with(".Failed")
                        || code.ends_with(".StreamNotFound")
                    {
                        return Err(ClientError::Refused { code, description });
                    }
                    // Statuses before the answer (`NetStream.Play.Reset`, ...) belong to
                    // the command, not to what the caller reads next.
                }
                ClientEvent::Media {
                    type_id,
                    timestamp,
                    payload,
                    ..
                } => self.early.push_back(Packet::Media {
                    type_id,
                    timestamp,
                    payload,
                }),
                _ => {}
            }
        }
    }

    /// The next media message or status of our stream. Waits as long as it takes: put a
    /// timeout around it to notice a server that went quiet.
    pub async fn read(&mut self) -> Result<Packet, ClientError> {
        if let Some(p) = self.early.pop_front() {
            return Ok(p);
        }
        loop {
            while let Some(ev) = self.session.poll_event() {
                match ev {
                    ClientEvent::Media {
                        type_id,
                        timestamp,
                        payload,
                        ..
                    } => {
                        return Ok(Packet::Media {
                            type_id,
                            timestamp,
                            payload,
                        })
                    }
                    ClientEvent::Status {
                        level,
                        code,
                        description,
                        ..
                    } => {
                        return Ok(Packet::Status {
                            level,
                            code,
                            description,
                        })
                    }
                    _ => {}
                }
            }
            self.fill().await?;
        }
    }

    /// Queue an audio, video or data message on the published stream; sent by
    /// [`flush`](Self::flush).
    pub fn queue(&mut self, type_id: u8, timestamp: u32, payload: &[u8]) {
        self.session
            .send_media(self.stream_id, type_id, timestamp, payload);
    }

    /// Send a message on the published stream now.
    pub async fn write(
        &mut self,
        type_id: u8,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), ClientError> {
        self.queue(type_id, timestamp, payload);
        self.flush().await
    }

    /// Send what is queued.
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        let out = self.session.take_output();
        if out.is_empty() {
            return Ok(());
        }
        self.socket
            .write_all(&out)
            .await
            .map_err(|e| ClientError::Io {
                what: "write",
                source: e,
            })?;
        self.bytes_out += out.len() as u64;
        Ok(())
    }

    /// Read whatever the server sends and answer what the session must (acknowledgements,
    /// pings) without waiting for the caller to read: a publisher that never reads would
    /// otherwise let the server's acknowledgement requests pile up. Returns at once.
    pub fn drain_input(&mut self) -> Result<(), ClientError> {
        self.read_available()?;
        // Statuses of a publishing stream matter (an error ends it): keep them.
        while let Some(ev) = self.session.poll_event() {
            if let ClientEvent::Status {
                level,
                code,
                description,
                ..
            } = ev
            {
                if level == "error" {
                    return Err(ClientError::Refused { code, description });
                }
            }
        }
        Ok(())
    }

    /// Feed the session what the socket has now (answers such as acknowledgements go
    /// out with the next flush); events stay queued for the caller. Returns at once.
    pub(crate) fn read_available(&mut self) -> Result<(), ClientError> {
        let mut tmp = [0u8; 4096];
        loop {
            match self.socket.try_read(&mut tmp) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.session.feed(&tmp[..n])?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => {
                    return Err(ClientError::Io {
                        what: "read",
                        source: e,
                    })
                }
            }
        }
    }

    /// Wait until the server sent something (then [`drain_input`](Self::drain_input) it).
    pub async fn readable(&mut self) -> std::io::Result<()> {
        self.socket.readable().await
    }

    /// Stop publishing (FCUnpublish, deleteStream) and close, politely but without waiting
    /// long.
    ///
    /// The close is graceful: after our FIN, what the server still sends is read (and
    /// dropped) until it closes too, for at most a second. Closing a socket with unread
    /// data sends a reset instead, and a reset makes the server's kernel throw away what
    /// it had not read yet: the last messages of the publish.
    pub async fn close(mut self, name: &str) {
        self.session.unpublish(self.stream_id, name);
        let _ = timeout(Duration::from_millis(500), self.flush()).await;
        let _ = timeout(Duration::from_millis(500), self.socket.shutdown()).await;
        let mut sink = [0u8; 4096];
        let _ = timeout(Duration::from_secs(1), async {
            while let Ok(n) = self.socket.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }

    async fn fill(&mut self) -> Result<(), ClientError> {
        self.buf.clear();
        let n = self
            .socket
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| ClientError::Io {
                what: "read",
                source: e,
            })?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.bytes_in += n as u64;
        self.session.feed(&self.buf)?;
        // Acknowledgements and pong go out as soon as the session made them.
        self.flush().await
    }

    async fn next_event(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<ClientEvent, ClientError> {
        loop {
            if let Some(ev) = self.session.poll_event() {
                return Ok(ev);
            }
            timeout_at(deadline, self.fill())
                .await
                .map_err(|_| ClientError::Timeout(what))??;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_like_srs() {
        let u = RtmpUrl::parse("rtmp://127.0.0.1:19350/live/cam?token=a&vhost=v").unwrap();
        assert_eq!(u.addr(), "127.0.0.1:19350");
        assert_eq!(u.app, "live");
        assert_eq!(u.stream, "cam?token=a&vhost=v");
        assert_eq!(u.tc_url, "rtmp://127.0.0.1:19350/live");
        let u = RtmpUrl::parse("rtmp://example.com/a/b/c").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.stream.as_str()),
            (1935, "a/b", "c")
        );
        for bad in [
            "http://h/a/b",
            "rtmp://h/app",
            "rtmp:///a/b",
            "rtmp://h:x/a/b",
        ] {
            assert!(RtmpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn connect_to_nothing_is_a_clear_error() {
        // A port nobody listens on: bind one, then close it.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = Client::connect(&addr, "rtmp://x/live", "live", &Options::default())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ClientError::Io {
                    what: "tcp connect",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_server_that_says_nothing_times_out() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hold = tokio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        });
        let opts = Options {
            connect_timeout: Duration::from_millis(300),
            ..Options::default()
        };
        let e = Client::connect(&addr, "rtmp://x/live", "live", &opts)
            .await
            .unwrap_err();
        assert!(matches!(e, ClientError::Timeout("connect")), "{e}");
        hold.abort();
    }

    #[tokio::test]
    async fn garbage_from_the_server_is_an_error_not_a_hang() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1537];
            let _ = s.read_exact(&mut b).await;
            // Wrong version byte, then noise.
            let _ = s.write_all(&[0x55; 4000]).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        let e = Client::connect(&addr, "rtmp://x/live", "live", &Options::default())
            .await
            .unwrap_err();
        assert!(
            matches!(e, ClientError::Session(_) | ClientError::Closed),
            "{e}"
        );
        srv.abort();
    }
}
