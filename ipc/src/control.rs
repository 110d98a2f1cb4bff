//! The control protocol: length-prefixed bincode frames of serde enums over Unix sockets
//! (DESIGN.md, "Control").
//!
//! Every frame is a 4-byte big-endian length followed by that many bytes of bincode. The
//! decoder is sans-I/O (push bytes, pull frames) and bounded: a frame longer than
//! [`MAX_FRAME`] or one that does not decode is an error, after which the link is closed —
//! never a panic or an allocation sized by the peer.

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::PathBuf;

/// Largest frame accepted. The largest messages are a busy worker's client list (about
/// 130 bytes a client): 64 MiB holds half a million. Peers are local processes.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Why a control link must be closed.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame announced more than [`MAX_FRAME`] bytes.
    #[error("control frame of {0} bytes exceeds the limit of {MAX_FRAME}")]
    TooLarge(usize),
    /// The frame's bytes are not a valid message.
    #[error("malformed control frame: {0}")]
    Malformed(String),
}

fn options() -> impl bincode::Options {
    use bincode::Options;
    // Fixed-width little-endian integers; the limit stops a length field inside the frame
    // from allocating more than the frame itself could hold.
    bincode::DefaultOptions::new()
        .with_limit(MAX_FRAME as u64)
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// Encode one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    use bincode::Options;
    // Serializing our own types into a Vec fails only past the size limit; the peer then
    // gets an empty frame, refuses it and closes the link, and we say why here.
    let body = options().serialize(msg).unwrap_or_else(|e| {
        tracing::error!("control frame not sent: {e}");
        Vec::new()
    });
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame decoded as `T`; `Ok(None)` if more bytes are needed.
    pub fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        use bincode::Options;
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let msg = options()
            .deserialize(&self.buf[4..4 + len])
            .map_err(|e| FrameError::Malformed(e.to_string()));
        self.buf.drain(..4 + len);
        msg.map(Some)
    }
}

/// The processes of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// The supervisor.
    Master,
    /// Owns the live streams.
    Backsource,
    /// Accepts RTMP clients and serves players.
    StreamWorker,
    /// HTTP API, HLS, HTTP-FLV.
    Httpd,
}

impl Role {
    /// Name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backsource => "backsource",
            Role::StreamWorker => "stream-worker",
            Role::Httpd => "httpd",
        }
    }
}

/// Which stream: vhost, app, stream name. The one stream key of the tree: on the wire, in
/// every process's sources and in logs (`vhost/app/stream`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamKey {
    /// Vhost name as configured (`__defaultVhost__` for the default).
    pub vhost: String,
    /// Application.
    pub app: String,
    /// Stream name.
    pub stream: String,
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.vhost, self.app, self.stream)
    }
}

/// A live stream as backsource announces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamUp {
    /// Which stream.
    pub key: StreamKey,
    /// Its ring file.
    pub ring: PathBuf,
    /// Changes on every (re)publish.
    pub generation: u64,
    /// Who publishes it (for the hooks of readers: `on_hls`).
    pub publisher: PublisherInfo,
}

/// Who publishes a stream: the client (or an edge's pull from its origin).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublisherInfo {
    /// Connection id.
    pub cid: String,
    /// Client address.
    pub peer: String,
    /// Stream name with its query, as published.
    pub name: String,
    /// tcUrl the client connected with.
    pub tc_url: String,
}

/// A stream that players of an edge vhost want: backsource pulls it from the vhost's
/// origins while any process wants it. It carries the first player's request, which the
/// pull passes on to the origin (tcUrl and params: the origin's hooks see them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Which stream.
    pub key: StreamKey,
    /// tcUrl the player connected with.
    pub tc_url: String,
    /// Stream name with its query, as the player asked for it.
    pub stream: String,
    /// The player's page URL.
    pub page_url: String,
}

/// Counters a worker reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Open client connections.
    pub connections: u64,
    /// Streams with a publisher (backsource) or with local players (worker).
    pub streams: u64,
    /// Bytes received from clients since start.
    pub bytes_in: u64,
    /// Bytes sent to clients since start.
    pub bytes_out: u64,
    /// Resident set size in KiB.
    pub rss_kib: u64,
}

/// Messages to the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToMaster {
    /// A child introduces itself (first frame on its link).
    Register {
        /// What it is.
        role: Role,
        /// Which one of its role (stream workers 0..N).
        index: u32,
        /// Its pid.
        pid: u32,
        /// Port of its private API on 127.0.0.1 (0: none).
        api_port: u16,
    },
    /// Liveness and counters, every second.
    Heartbeat(WorkerStats),
    /// Backsource: a stream is published (or republished).
    StreamUp(StreamUp),
    /// Backsource: a stream's publisher left.
    StreamDown(StreamKey),
    /// A tool asks which processes exist.
    ListProcesses,
    /// A tool asks for a reload (as SIGHUP).
    Reload,
    /// A tool asks for a stop (as SIGTERM, or SIGQUIT when graceful).
    Stop {
        /// Let players finish first.
        graceful: bool,
    },
    /// A reader: players here want this stream of an edge vhost (the first of them came).
    Want(PullRequest),
    /// A reader: no player here wants this stream any more.
    Unwant(StreamKey),
    /// Backsource: no origin could deliver this wanted stream (a whole round failed).
    PullFailed {
        /// Which stream.
        key: StreamKey,
        /// What the origins answered.
        reason: String,
    },
}

/// One process as the master lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Role.
    pub role: Role,
    /// Index within the role.
    pub index: u32,
    /// Pid (0 while being restarted).
    pub pid: u32,
    /// Private API port (0: none).
    pub api_port: u16,
    /// Seconds since this incarnation started.
    pub uptime_s: u64,
    /// How many times it was restarted.
    pub restarts: u32,
    /// Last reported counters.
    pub stats: WorkerStats,
    /// Receive rate over the last heartbeat interval, kbit/s.
    pub kbps_in: u64,
    /// Send rate over the last heartbeat interval, kbit/s.
    pub kbps_out: u64,
}

/// Messages from the master.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromMaster {
    /// Answer to Register: the streams live now.
    Welcome {
        /// Streams currently published.
        streams: Vec<StreamUp>,
    },
    /// A stream is published (relayed from backsource).
    StreamUp(StreamUp),
    /// A stream's publisher left.
    StreamDown(StreamKey),
    /// Re-read the config file; it was validated by the master.
    Reload,
    /// Accept on these new listening sockets too (a reload added ports); the descriptors
    /// ride with this frame, one per address, in order.
    Listen(Vec<String>),
    /// Stop: at once, or after letting players finish for up to `grace_ms`.
    Stop {
        /// Let players finish first.
        graceful: bool,
        /// Longest wait for players when graceful.
        grace_ms: u64,
    },
    /// Answer to ListProcesses.
    Processes(Vec<ProcessInfo>),
    /// A request was done.
    Ok,
    /// A request failed.
    Error(String),
    /// Accept on another worker's sockets too, one per address (descriptors attached, in
    /// order), until [`FromMaster::Release`]: that worker is down, and the connections
    /// queued on its sockets are served meanwhile.
    Adopt {
        /// Index of the worker the sockets belong to.
        index: u32,
        /// Their addresses.
        addrs: Vec<String>,
    },
    /// Stop accepting on the sockets adopted from worker `index`: it is back.
    Release {
        /// Index of the worker the sockets belong to.
        index: u32,
    },
    /// To backsource: some process wants this stream of an edge vhost: pull it.
    Pull(PullRequest),
    /// To backsource: nobody wants this stream any more: stop pulling it (after a grace).
    Unpull(StreamKey),
    /// To readers: no origin could deliver this stream; players still waiting for its
    /// first frame are told and closed.
    PullFailed {
        /// Which stream.
        key: StreamKey,
        /// What the origins answered.
        reason: String,
    },
}

/// A connected client as a worker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInfo {
    /// Connection id (as in the logs).
    pub cid: String,
    /// Peer address.
    pub peer: String,
    /// `publish`, `play` or `idle`.
    pub kind: String,
    /// `vhost/app/stream` once known.
    pub stream: String,
    /// Seconds connected.
    pub alive_s: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// Codec details of a stream's video, for the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoInfo {
    /// `H264`, `H265`, ...
    pub codec: String,
    /// `Baseline`, `Main`, `High`, ...
    pub profile: String,
    /// `3.1`, ...
    pub level: String,
    /// Picture width (0: unknown).
    pub width: u32,
    /// Picture height (0: unknown).
    pub height: u32,
}

/// Codec details of a stream's audio, for the HTTP API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioInfo {
    /// `AAC`, `MP3`, ...
    pub codec: String,
    /// Samples per second (0: unknown).
    pub sample_rate: u32,
    /// Channels (0: unknown).
    pub channel: u32,
    /// `LC`, `HE`, ...
    pub profile: String,
}

/// A published stream as backsource knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamDetail {
    /// Vhost.
    pub vhost: String,
    /// Application.
    pub app: String,
    /// Stream name.
    pub stream: String,
    /// tcUrl the publisher connected with.
    pub tc_url: String,
    /// Publish start, ms since the Unix epoch.
    pub live_ms: u64,
    /// Video frames received.
    pub frames: u64,
    /// Bytes received from the publisher.
    pub recv_bytes: u64,
    /// The publisher's connection id.
    pub publisher_cid: String,
    /// Video codec details, once its sequence header arrived.
    pub video: Option<VideoInfo>,
    /// Audio codec details, once its sequence header arrived.
    pub audio: Option<AudioInfo>,
    /// Its relays to and from other servers (edge pull or push, forwards).
    pub relays: Vec<RelayInfo>,
}

/// One relay of a stream to or from another server, for the API and `srs-cli streams`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// `pull` (edge from its origin), `push` (edge to its origin) or `forward`.
    pub kind: String,
    /// The server it talks to now (`host:port`), or last tried.
    pub server: String,
    /// `connecting`, `waiting` (for the stream), `active` or `retrying`.
    pub state: String,
    /// When it entered that state, ms since the Unix epoch.
    pub since_ms: u64,
    /// Bytes received from the server.
    pub bytes_in: u64,
    /// Bytes sent to the server.
    pub bytes_out: u64,
    /// Failed attempts and lost connections so far.
    pub retries: u32,
    /// Why the last attempt failed (empty: none did).
    pub last_error: String,
}

/// Requests to a worker's private API (127.0.0.1, frames like the control link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiRequest {
    /// Counters.
    Stats,
    /// Streams this process knows.
    Streams,
    /// Clients of this process.
    Clients,
    /// Close a client by cid.
    Kick(String),
    /// Published streams with their details (backsource).
    StreamDetails,
}

/// Answers of a worker's private API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApiResponse {
    /// Counters.
    Stats(WorkerStats),
    /// `vhost/app/stream` with players (workers) or publishing (backsource), and a count.
    Streams(Vec<(String, u64)>),
    /// Clients.
    Clients(Vec<ClientInfo>),
    /// Kick result: whether the cid was found.
    Kicked(bool),
    /// Published streams with their details.
    StreamDetails(Vec<StreamDetail>),
}

/// Fuzz invariant: arbitrary bytes never panic the decoder, and a frame that decodes
/// re-encodes to the same bytes.
pub fn fuzz_decode(data: &[u8]) {
    let mut d = FrameDecoder::new();
    d.push(data);
    while let Ok(Some(m)) = d.next::<ToMaster>() {
        let again = encode(&m);
        let mut d2 = FrameDecoder::new();
        d2.push(&again);
        assert_eq!(d2.next::<ToMaster>().ok().flatten().as_ref(), Some(&m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_any_split() {
        let msgs = vec![
            ToMaster::Register {
                role: Role::StreamWorker,
                index: 1,
                pid: 42,
                api_port: 5000,
            },
            ToMaster::Heartbeat(WorkerStats {
                connections: 3,
                ..Default::default()
            }),
            ToMaster::StreamDown(StreamKey {
                vhost: "v".into(),
                app: "live".into(),
                stream: "s".into(),
            }),
        ];
        let wire: Vec<u8> = msgs.iter().flat_map(encode).collect();
        for split in [1, 3, 7, wire.len()] {
            let mut d = FrameDecoder::new();
            let mut got = Vec::new();
            for piece in wire.chunks(split) {
                d.push(piece);
                while let Some(m) = d.next::<ToMaster>().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, msgs);
        }
    }

    #[test]
    fn exact_frame_bytes() {
        let f = encode(&ToMaster::ListProcesses);
        // Length 4, then the variant index 4 (little endian u32, fixint encoding).
        assert_eq!(f, vec![0, 0, 0, 4, 4, 0, 0, 0]);
    }

    #[test]
    fn oversized_and_malformed_frames_are_errors() {
        let mut d = FrameDecoder::new();
        d.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(d.next::<ToMaster>(), Err(FrameError::TooLarge(_))));
        let mut d = FrameDecoder::new();
        d.push(&[0, 0, 0, 4, 99, 0, 0, 0]);
        assert!(matches!(
            d.next::<ToMaster>(),
            Err(FrameError::Malformed(_))
        ));
        // A string claiming 2^60 bytes inside a small frame: refused, not allocated.
        let mut d = FrameDecoder::new();
        let mut body = vec![6, 0, 0, 0]; // StreamDown
        body.extend_from_slice(&(1u64 << 60).to_le_bytes());
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        d.push(&f);
        assert!(matches!(
            d.next::<ToMaster>(),
            Err(FrameError::Malformed(_))
        ));
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;
        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
                fuzz_decode(&data);
            }
        }
    }
}
