//! The client side: send C0 C1, read S0 S1, send C2, read S2.

use rand::RngCore;

use super::digest::{
    self, DIGEST_SIZE, FMS_DIGEST_KEY, FP_DIGEST_KEY, GENUINE_FMS_KEY, GENUINE_FP_KEY,
    RESPONSE_SIGNATURE_AT,
};
use super::{
    Entropy, HandshakeError, HandshakeKind, PacketBuf, Progress, Scheme, HANDSHAKE_SIZE,
    RTMP_VERSION,
};

/// The version we put in a complex C1: 128.0.7.2, the Flash Player 9 style value SRS's client
/// sends. Servers only check that it is non-zero before looking for a digest.
pub(super) const CLIENT_VERSION: [u8; 4] = [0x80, 0x00, 0x07, 0x02];

/// The scheme our complex C1 uses: scheme 1 (digest block first), like Flash Player, librtmp
/// and ffmpeg, so that servers that only try one scheme still recognise us.
pub(super) const CLIENT_SCHEME: Scheme = Scheme::Scheme1;

/// Where the client is in the handshake.
#[derive(Debug)]
enum State {
    /// Waiting for S0, the version byte.
    S0,
    /// Waiting for (the rest of) S1.
    S1,
    /// C2 produced; waiting for (the rest of) S2.
    S2,
    /// S2 arrived; every later byte is leftover.
    Done,
    /// The server sent something we refuse; every later call returns the same error.
    Failed(HandshakeError),
}

/// The client side of the RTMP handshake (see the [module docs](super)), for our test client,
/// the load tool and edge pulls from an upstream origin.
///
/// C0 C1 are ready in [`take_output`](Self::take_output) as soon as it is created. C2 is
/// produced as soon as S1 arrived (spec section 5.2.1 lets the client send C2 after S1), and
/// [`Progress::Done`] comes once S2 arrived too.
#[derive(Debug)]
pub struct ClientHandshake {
    state: State,
    packet: PacketBuf,
    output: Vec<u8>,
    /// The digest of our complex C1, which the server's S2 signature is derived from.
    c1_digest: Option<[u8; DIGEST_SIZE]>,
    kind: Option<HandshakeKind>,
    server_signature_verified: bool,
    entropy: Entropy,
}

impl ClientHandshake {
    /// A client handshake drawing its random bytes from `rand::thread_rng`. `complex` chooses
    /// the FP9 handshake (digest in C1, scheme 1) over the simple one. C1's timestamp is 0.
    pub fn new(complex: bool) -> Self {
        Self::with_entropy(complex, Entropy::Thread)
    }

    /// A client handshake drawing its random bytes from `rng`, for reproducible output. The
    /// draws are, in order: C1 bytes 8..1536, then (if S1 verified as complex) C2 bytes
    /// 0..1504.
    pub fn with_rng(complex: bool, rng: impl RngCore + Send + 'static) -> Self {
        Self::with_entropy(complex, Entropy::Custom(Box::new(rng)))
    }

    fn with_entropy(complex: bool, mut entropy: Entropy) -> Self {
        let mut c1 = [0; HANDSHAKE_SIZE];
        // time(4) = 0: we have no clock here, and the spec allows 0.
        entropy.fill(&mut c1[8..]);
        let c1_digest = if complex {
            c1[4..8].copy_from_slice(&CLIENT_VERSION);
            Some(digest::imprint_digest(
                &mut c1,
                CLIENT_SCHEME,
                FP_DIGEST_KEY,
            ))
        } else {
            // Simple: version(4) must be zero (spec 5.2.3), which tells the server so.
            None
        };
        let mut output = Vec::with_capacity(1 + HANDSHAKE_SIZE);
        output.push(RTMP_VERSION);
        output.extend_from_slice(&c1);
        ClientHandshake {
            state: State::S0,
            packet: PacketBuf::new(),
            output,
            c1_digest,
            kind: None,
            server_signature_verified: false,
            entropy,
        }
    }

    /// Feeds bytes received from the server, in any fragmentation.
    ///
    /// Produces C2 once S0 S1 are in, returns [`Progress::Done`] with the bytes that followed
    /// S2 once S2 is in. After `Done`, every byte fed is returned as leftover. After an error,
    /// every call returns the same error.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Progress, HandshakeError> {
        loop {
            match &self.state {
                State::Failed(error) => return Err(error.clone()),
                State::Done => {
                    return Ok(Progress::Done {
                        leftover: input.to_vec(),
                    })
                }
                _ if input.is_empty() => return Ok(Progress::NeedMore),
                State::S0 => {
                    let version = input[0];
                    input = &input[1..];
                    if version != RTMP_VERSION {
                        let error = HandshakeError::UnsupportedVersion(version);
                        self.state = State::Failed(error.clone());
                        return Err(error);
                    }
                    self.state = State::S1;
                }
                State::S1 => {
                    if let Some(s1) = self.packet.fill(&mut input) {
                        let (kind, c2) = answer_s1(s1, self.c1_digest.is_some(), &mut self.entropy);
                        self.kind = Some(kind);
                        self.output.extend_from_slice(&c2);
                        self.state = State::S2;
                    }
                }
                State::S2 => {
                    if let Some(s2) = self.packet.fill(&mut input) {
                        if let (Some(HandshakeKind::Complex(_)), Some(c1_digest)) =
                            (self.kind, &self.c1_digest)
                        {
                            self.server_signature_verified =
                                digest::verify_response(s2, c1_digest, &GENUINE_FMS_KEY);
                        }
                        self.state = State::Done;
                    }
                }
            }
        }
    }

    /// Takes the bytes to send to the server: C0 C1 (1537 bytes) at first, C2 (1536 bytes)
    /// once S1 arrived.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// How the server answered, known once S1 arrived: `Complex` if S1's digest verified with
    /// the Flash Media Server key, `Simple` otherwise (including every answer to a simple C1).
    pub fn kind(&self) -> Option<HandshakeKind> {
        self.kind
    }

    /// Complex handshake: whether S1's digest verified with the FMS key (in either scheme).
    /// A server that answered simple is still accepted, with this `false`.
    pub fn server_digest_verified(&self) -> bool {
        matches!(self.kind, Some(HandshakeKind::Complex(_)))
    }

    /// Complex handshake: whether S2 carried the signature derived from our C1's digest, i.e.
    /// the server really read our C1 (librtmp calls such a server "Genuine Adobe Flash Media
    /// Server"). Known once S2 arrived; always `false` for a simple handshake.
    pub fn server_signature_verified(&self) -> bool {
        self.server_signature_verified
    }

    /// Whether S2 has arrived and the handshake is over.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// Builds C2 for an S1: signed with a key derived from S1's digest if we sent a complex C1
/// and S1's digest verifies with the FMS key, an echo of S1 otherwise.
fn answer_s1(
    s1: &[u8; HANDSHAKE_SIZE],
    complex: bool,
    entropy: &mut Entropy,
) -> (HandshakeKind, [u8; HANDSHAKE_SIZE]) {
    // librtmp also treats an S1 with a zero version as a simple answer.
    let server_speaks_complex = complex && s1[4..8] != [0, 0, 0, 0];
    let verified = if server_speaks_complex {
        digest::find_digest(s1, FMS_DIGEST_KEY)
    } else {
        None
    };
    match verified {
        Some((scheme, s1_digest)) => {
            let mut c2 = [0; HANDSHAKE_SIZE];
            entropy.fill(&mut c2[..RESPONSE_SIGNATURE_AT]);
            digest::sign_response(&mut c2, &s1_digest, &GENUINE_FP_KEY);
            (HandshakeKind::Complex(scheme), c2)
        }
        None => (HandshakeKind::Simple, *s1),
    }
}
