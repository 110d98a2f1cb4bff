//! The server side: read C0 C1, answer S0 S1 S2, read C2.

use rand::RngCore;

use super::digest::{self, FMS_DIGEST_KEY, FP_DIGEST_KEY, GENUINE_FMS_KEY, RESPONSE_SIGNATURE_AT};
use super::{
    Entropy, HandshakeError, HandshakeKind, PacketBuf, Progress, HANDSHAKE_SIZE,
    HANDSHAKE_TOTAL_SIZE, RTMP_VERSION,
};

/// The version we put in a complex S1. Clients only look at it to decide whether the server
/// speaks the complex handshake: librtmp falls back to simple when it is zero, and ffmpeg
/// only checks S1's digest when the first byte is at least 3. 13.14.10.13 is what SRS sends.
pub(super) const SERVER_VERSION: [u8; 4] = [0x0d, 0x0e, 0x0a, 0x0d];

/// Where the server is in the handshake.
#[derive(Debug)]
enum State {
    /// Waiting for C0, the version byte.
    C0,
    /// Waiting for (the rest of) C1.
    C1,
    /// S0 S1 S2 produced; waiting for (the rest of) C2, of which this many bytes arrived.
    C2 { received: usize },
    /// C2 arrived; every later byte is leftover.
    Done,
    /// The client sent something we refuse; every later call returns the same error.
    Failed(HandshakeError),
}

/// The server side of the RTMP handshake (see the [module docs](super)).
///
/// Feed it what the client sends; once C0 and C1 are in, [`take_output`](Self::take_output)
/// holds S0 S1 S2 (3073 bytes) to send. It then waits for the 1536 bytes of C2, which it does
/// not check, and returns [`Progress::Done`] with whatever followed C2.
///
/// ```
/// use srs_protocol::handshake::{ClientHandshake, Progress, ServerHandshake};
///
/// let mut client = ClientHandshake::new(true);
/// let mut server = ServerHandshake::new();
/// assert_eq!(server.feed(&client.take_output()).unwrap(), Progress::NeedMore);
/// let mut reply = client.feed(&server.take_output()).unwrap();
/// assert!(matches!(reply, Progress::Done { .. }));
/// let mut c2 = client.take_output();
/// c2.extend_from_slice(b"connect...");
/// let done = server.feed(&c2).unwrap();
/// assert_eq!(done, Progress::Done { leftover: b"connect...".to_vec() });
/// ```
#[derive(Debug)]
pub struct ServerHandshake {
    state: State,
    c1: PacketBuf,
    output: Vec<u8>,
    kind: Option<HandshakeKind>,
    timestamp: u32,
    entropy: Entropy,
}

impl Default for ServerHandshake {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerHandshake {
    /// A server handshake drawing its random bytes from `rand::thread_rng`, with S1's
    /// timestamp 0 (see [`with_timestamp`](Self::with_timestamp)).
    pub fn new() -> Self {
        Self::with_entropy(Entropy::Thread)
    }

    /// A server handshake drawing its random bytes from `rng`, for reproducible output in
    /// tests and fuzzing. The draws are, in order: S1 bytes 8..1536, then (complex handshake
    /// only) S2 bytes 0..1504.
    pub fn with_rng(rng: impl RngCore + Send + 'static) -> Self {
        Self::with_entropy(Entropy::Custom(Box::new(rng)))
    }

    fn with_entropy(entropy: Entropy) -> Self {
        ServerHandshake {
            state: State::C0,
            c1: PacketBuf::new(),
            output: Vec::new(),
            kind: None,
            timestamp: 0,
            entropy,
        }
    }

    /// Sets the `time` field of S1, the server's epoch in milliseconds (spec section 5.2.3).
    /// Peers ignore it, and 0 is valid, which is what a handshake without a clock sends.
    pub fn with_timestamp(mut self, timestamp_ms: u32) -> Self {
        self.timestamp = timestamp_ms;
        self
    }

    /// Feeds bytes received from the client, in any fragmentation.
    ///
    /// Returns [`Progress::NeedMore`] until the 1 + 1536 + 1536 bytes of C0 C1 C2 are in, then
    /// [`Progress::Done`] with the bytes that followed C2. After `Done`, every byte fed is
    /// returned as leftover. After an error, every call returns the same error.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Progress, HandshakeError> {
        loop {
            match &mut self.state {
                State::Failed(error) => return Err(error.clone()),
                State::Done => {
                    return Ok(Progress::Done {
                        leftover: input.to_vec(),
                    })
                }
                _ if input.is_empty() => return Ok(Progress::NeedMore),
                State::C0 => {
                    // Refuse at the first byte: there is no point reading 1536 more bytes
                    // from an RTMPE client or an HTTP request.
                    let version = input[0];
                    input = &input[1..];
                    if version != RTMP_VERSION {
                        let error = HandshakeError::UnsupportedVersion(version);
                        self.state = State::Failed(error.clone());
                        return Err(error);
                    }
                    self.state = State::C1;
                }
                State::C1 => {
                    if let Some(c1) = self.c1.fill(&mut input) {
                        let (kind, output) = answer_c1(c1, self.timestamp, &mut self.entropy);
                        self.kind = Some(kind);
                        self.output.extend_from_slice(&output);
                        self.state = State::C2 { received: 0 };
                    }
                }
                State::C2 { received } => {
                    // C2 is not checked (see the module docs), so it is counted, not stored.
                    let take = (HANDSHAKE_SIZE - *received).min(input.len());
                    *received += take;
                    input = &input[take..];
                    if *received == HANDSHAKE_SIZE {
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// Takes the bytes to send to the client: S0 S1 S2 (3073 bytes) once C0 and C1 arrived,
    /// nothing before or after.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Which handshake the client asked for, known once C1 arrived.
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// Whether C2 has arrived and the handshake is over.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// Builds S0 S1 S2 for a C1: complex in the client's scheme if its digest verifies with the
/// Flash Player key, simple otherwise.
fn answer_c1(
    c1: &[u8; HANDSHAKE_SIZE],
    timestamp: u32,
    entropy: &mut Entropy,
) -> (HandshakeKind, [u8; HANDSHAKE_TOTAL_SIZE]) {
    let mut out = [0; HANDSHAKE_TOTAL_SIZE];
    out[0] = RTMP_VERSION;

    let mut s1 = [0; HANDSHAKE_SIZE];
    s1[..4].copy_from_slice(&timestamp.to_be_bytes());
    // Bytes 4..8 stay zero for a simple S1 ("zero" in the spec); all the rest is random.
    entropy.fill(&mut s1[8..]);

    // A zero version means a client that only knows the simple handshake (spec 5.2.3 requires
    // zero there); it has no digest to look for.
    let c1_version_is_zero = c1[4..8] == [0, 0, 0, 0];
    let complex = if c1_version_is_zero {
        None
    } else {
        digest::find_digest(c1, FP_DIGEST_KEY)
    };

    let (kind, s2) = match complex {
        Some((scheme, c1_digest)) => {
            s1[4..8].copy_from_slice(&SERVER_VERSION);
            digest::imprint_digest(&mut s1, scheme, FMS_DIGEST_KEY);
            let mut s2 = [0; HANDSHAKE_SIZE];
            entropy.fill(&mut s2[..RESPONSE_SIGNATURE_AT]);
            digest::sign_response(&mut s2, &c1_digest, &GENUINE_FMS_KEY);
            (HandshakeKind::Complex(scheme), s2)
        }
        // Simple: S2 echoes C1 whole (see the module docs for why time2 is not rewritten).
        None => (HandshakeKind::Simple, *c1),
    };

    out[1..1 + HANDSHAKE_SIZE].copy_from_slice(&s1);
    out[1 + HANDSHAKE_SIZE..].copy_from_slice(&s2);
    (kind, out)
}
