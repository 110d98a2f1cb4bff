//! The RTMP handshake, as sans-I/O state machines for both ends of a connection.
//!
//! Two dialects exist on the wire and both are implemented:
//!
//! - **Simple** handshake: Adobe's *RTMP Specification 1.0* (2012), section 5.2
//!   ("Handshake"). C0/S0 is one version byte (3). C1/S1 is `time(4) zero(4) random(1528)`.
//!   C2/S2 echoes the peer's C1/S1 (section 5.2.4 lets the echo carry our own `time2` in bytes
//!   4..8; we echo all 1536 bytes unchanged because librtmp warns unless the whole packet
//!   matches).
//! - **Complex** handshake ("FP9" handshake), which Flash Player 9+, FMS, librtmp
//!   (`handshake.h`), ffmpeg (`libavformat/rtmpproto.c`), OBS and SRS
//!   (`srs_protocol_rtmp_handshake.cpp`) all speak although Adobe never published it. C1/S1
//!   still has `time(4) version(4)` first, but the version is non-zero and the remaining 1528
//!   bytes are two 764-byte blocks: a *key block* (room for a Diffie-Hellman public key, used
//!   only by the encrypted RTMPE, which we refuse) and a *digest block* holding an
//!   HMAC-SHA256 of the rest of the packet. [`Scheme`] says which block comes first. C2/S2
//!   is 1504 random bytes followed by an HMAC-SHA256 keyed with a hash of the peer's digest,
//!   which proves that the sender read the peer's packet. See the private `digest` module
//!   for the exact layout.
//!
//! Flash Player only plays H.264/AAC from a server that answered its complex C1 in kind, and
//! ffmpeg and librtmp check S1's digest and S2's signature when they sent a complex C1, so the
//! server answers in kind whenever the client's digest verifies, and falls back to the simple
//! handshake otherwise. Neither side insists on the other's final packet (C2 or S2)
//! verifying: real peers vary, and the only thing the handshake protects against is a peer
//! that does not speak RTMP at all. The client reports what verified
//! ([`ClientHandshake::server_digest_verified`], [`ClientHandshake::server_signature_verified`])
//! for callers that care.
//!
//! # Driving the state machines
//!
//! Nothing here touches a socket or a clock. The caller feeds whatever bytes it read
//! ([`ServerHandshake::feed`]), sends whatever the state machine produced
//! ([`ServerHandshake::take_output`]) and stops when it gets [`Progress::Done`]. The bytes the
//! peer sent after its last handshake packet — typically the first chunk of the `connect`
//! command, which clients send in the same TCP segment as C2 — come back in
//! [`Progress::Done::leftover`] and belong to the chunk stream decoder. Any fragmentation of
//! the input gives the same result. Memory is bounded: one 1536-byte block per state machine
//! plus its output (3073 bytes at most), whatever the peer sends.

mod client;
mod digest;
mod fuzz;
mod server;
#[cfg(test)]
mod tests;

pub use client::ClientHandshake;
pub use fuzz::{fuzz_client, fuzz_server};
pub use server::ServerHandshake;

use rand::RngCore;

/// Size of C1, S1, C2 and S2 (spec section 5.2.3). C0 and S0 are one byte.
pub const HANDSHAKE_SIZE: usize = 1536;

/// The only protocol version we speak, carried in C0 and S0 (spec section 5.2.2). Versions 0-2
/// are deprecated, 6, 8 and 9 announce RTMPE (the encrypted variant) and are refused.
pub const RTMP_VERSION: u8 = 3;

/// Everything one side sends during a handshake: C0/S0 (1 byte) + C1/S1 + C2/S2.
pub const HANDSHAKE_TOTAL_SIZE: usize = 1 + 2 * HANDSHAKE_SIZE;

/// Why a handshake failed. Both variants are the peer's fault: a [`ServerHandshake`] error
/// comes from the downstream client, a [`ClientHandshake`] error from the upstream server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// C0/S0 version is not 3 (6, 8 and 9 are RTMPE, encrypted, which we refuse; other values
    /// usually mean the peer does not speak RTMP at all, e.g. an HTTP request on port 1935).
    #[error("unsupported RTMP version {0} in C0/S0 (only 3 is supported; 6, 8, 9 are RTMPE)")]
    UnsupportedVersion(u8),
}

/// Which of the two complex-handshake layouts a C1/S1 uses. Bytes 0..8 are `time` and
/// `version` in both; the 1528 bytes after them are two 764-byte blocks in the order below.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Scheme {
    /// Key block at 8..772, digest block at 772..1536 (SRS's "schema0").
    Scheme0,
    /// Digest block at 8..772, key block at 772..1536 (SRS's "schema1"). This is what Flash
    /// Player, librtmp and ffmpeg send when they do not encrypt.
    Scheme1,
}

/// Which handshake the peers ended up doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HandshakeKind {
    /// Spec section 5.2: random C1/S1, echoed C2/S2, no digests.
    Simple,
    /// FP9 handshake with HMAC-SHA256 digests laid out as in the given [`Scheme`].
    Complex(Scheme),
}

/// What a call to `feed` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The peer's packets are not all here yet: feed more bytes (after sending any output).
    NeedMore,
    /// The handshake is over. Send any remaining output first, then hand `leftover` to the
    /// chunk stream decoder.
    Done {
        /// Bytes the peer sent after its last handshake packet (C2 for a server, S2 for a
        /// client), in order: usually the start of the first RTMP chunk.
        leftover: Vec<u8>,
    },
}

/// Where a state machine gets its random bytes.
///
/// The default draws from [`rand::thread_rng`] at the moment the bytes are needed, so that the
/// state machine itself stays `Send` (a `ThreadRng` is not) and can move between tasks.
/// Tests and fuzzers inject their own generator for reproducible bytes.
enum Entropy {
    Thread,
    Custom(Box<dyn RngCore + Send>),
}

impl Entropy {
    fn fill(&mut self, dest: &mut [u8]) {
        match self {
            Entropy::Thread => rand::thread_rng().fill_bytes(dest),
            Entropy::Custom(rng) => rng.fill_bytes(dest),
        }
    }
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Entropy::Thread => "thread_rng",
            Entropy::Custom(_) => "custom",
        })
    }
}

/// A fixed 1536-byte buffer that collects one handshake packet across any number of reads.
struct PacketBuf {
    bytes: Box<[u8; HANDSHAKE_SIZE]>,
    filled: usize,
}

impl PacketBuf {
    fn new() -> Self {
        PacketBuf {
            bytes: Box::new([0; HANDSHAKE_SIZE]),
            filled: 0,
        }
    }

    /// Moves as many bytes as the packet still lacks from the front of `input`. Returns the
    /// completed packet once all 1536 bytes are here (and resets for the next packet).
    fn fill<'a>(&'a mut self, input: &mut &[u8]) -> Option<&'a [u8; HANDSHAKE_SIZE]> {
        let want = HANDSHAKE_SIZE - self.filled;
        let take = want.min(input.len());
        let (head, rest) = input.split_at(take);
        self.bytes[self.filled..self.filled + take].copy_from_slice(head);
        self.filled += take;
        *input = rest;
        if self.filled == HANDSHAKE_SIZE {
            self.filled = 0;
            Some(&self.bytes)
        } else {
            None
        }
    }
}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PacketBuf({}/{HANDSHAKE_SIZE})", self.filled)
    }
}
