//! Byte layout and HMAC-SHA256 arithmetic of the complex ("FP9") handshake.
//!
//! No Adobe document describes it; this follows what every implementation agrees on
//! (librtmp `handshake.h`, ffmpeg `rtmpproto.c`/`rtmpdigest.c`, SRS
//! `srs_protocol_rtmp_handshake.cpp`):
//!
//! ```text
//! C1/S1 (1536 bytes) = time(4) version(4) block(764) block(764)
//!   scheme 0: key block at 8, digest block at 772
//!   scheme 1: digest block at 8, key block at 772
//! digest block (764) = offset(4) random(o) digest(32) random(764 - 4 - 32 - o)
//!   o = (offset[0] + offset[1] + offset[2] + offset[3]) % 728    (728 = 764 - 4 - 32)
//! key block (764)    = random(k) key(128) random(764 - 128 - 4 - k) offset(4)
//!   k = (sum of the 4 offset bytes) % 632                         (632 = 764 - 128 - 4)
//! digest = HMAC-SHA256(key, C1 without its 32 digest bytes)        (1504 bytes hashed)
//!   C1 is keyed with the first 30 bytes of the Flash Player key (its ASCII text),
//!   S1 with the first 36 bytes of the Flash Media Server key.
//! C2/S2 (1536 bytes) = random(1504) signature(32)
//!   signature = HMAC-SHA256(HMAC-SHA256(full key, peer's C1/S1 digest), random(1504))
//!   S2 uses the full 68-byte FMS key and C1's digest, C2 the full 62-byte FP key and S1's.
//! ```
//!
//! The key block only matters to RTMPE, whose Diffie-Hellman public key lives there. We never
//! encrypt, so our key blocks are left as the random bytes they start as: any 4 bytes are a
//! valid key offset, so that is still a well-formed key block.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Scheme, HANDSHAKE_SIZE};

type HmacSha256 = Hmac<Sha256>;

/// Size of an HMAC-SHA256 output, the digest in C1/S1 and the signature at the end of C2/S2.
pub(super) const DIGEST_SIZE: usize = 32;

/// "Genuine Adobe Flash Player 001" followed by 32 fixed bytes. The text alone (30 bytes) keys
/// the digest in C1; the whole key derives the key that signs C2.
pub(super) const GENUINE_FP_KEY: [u8; 62] = [
    b'G', b'e', b'n', b'u', b'i', b'n', b'e', b' ', b'A', b'd', b'o', b'b', b'e', b' ', b'F', b'l',
    b'a', b's', b'h', b' ', b'P', b'l', b'a', b'y', b'e', b'r', b' ', b'0', b'0', b'1', 0xf0, 0xee,
    0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1, 0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec,
    0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36, 0xcf, 0xeb, 0x31, 0xae,
];

/// "Genuine Adobe Flash Media Server 001" followed by the same 32 bytes. The text alone (36
/// bytes) keys the digest in S1; the whole key derives the key that signs S2.
pub(super) const GENUINE_FMS_KEY: [u8; 68] = [
    b'G', b'e', b'n', b'u', b'i', b'n', b'e', b' ', b'A', b'd', b'o', b'b', b'e', b' ', b'F', b'l',
    b'a', b's', b'h', b' ', b'M', b'e', b'd', b'i', b'a', b' ', b'S', b'e', b'r', b'v', b'e', b'r',
    b' ', b'0', b'0', b'1', 0xf0, 0xee, 0xc2, 0x4a, 0x80, 0x68, 0xbe, 0xe8, 0x2e, 0x00, 0xd0, 0xd1,
    0x02, 0x9e, 0x7e, 0x57, 0x6e, 0xec, 0x5d, 0x2d, 0x29, 0x80, 0x6f, 0xab, 0x93, 0xb8, 0xe6, 0x36,
    0xcf, 0xeb, 0x31, 0xae,
];

/// The part of [`GENUINE_FP_KEY`] that keys C1's digest: "Genuine Adobe Flash Player 001".
pub(super) const FP_DIGEST_KEY: &[u8] = match GENUINE_FP_KEY.split_first_chunk::<30>() {
    Some((text, _)) => text,
    None => unreachable!(),
};

/// The part of [`GENUINE_FMS_KEY`] that keys S1's digest: "Genuine Adobe Flash Media Server 001".
pub(super) const FMS_DIGEST_KEY: &[u8] = match GENUINE_FMS_KEY.split_first_chunk::<36>() {
    Some((text, _)) => text,
    None => unreachable!(),
};

/// Size of each of the two blocks after `time` and `version`: (1536 - 8) / 2.
const BLOCK_SIZE: usize = 764;
/// Where the first block starts: right after `time(4)` and `version(4)`.
const FIRST_BLOCK_AT: usize = 8;
/// Where the second block starts.
const SECOND_BLOCK_AT: usize = FIRST_BLOCK_AT + BLOCK_SIZE;
/// The digest may start anywhere in its block after the 4 offset bytes, as long as all 32
/// bytes fit: 764 - 4 - 32 = 728 possible positions.
const DIGEST_POSITIONS: usize = BLOCK_SIZE - 4 - DIGEST_SIZE;
/// Where the signature of C2/S2 starts: the last 32 bytes.
pub(super) const RESPONSE_SIGNATURE_AT: usize = HANDSHAKE_SIZE - DIGEST_SIZE;

/// Where the digest block starts in a C1/S1 of this scheme.
fn digest_block_at(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Scheme0 => SECOND_BLOCK_AT,
        Scheme::Scheme1 => FIRST_BLOCK_AT,
    }
}

/// Position of the 32 digest bytes in a C1/S1 laid out in `scheme`: the digest block's
/// first 4 bytes, summed as unsigned bytes, modulo 728, counted from after those 4 bytes.
/// Always in 12..=739 (scheme 1) or 776..=1503 (scheme 0), so the digest fits in the packet.
pub(super) fn digest_offset(packet: &[u8; HANDSHAKE_SIZE], scheme: Scheme) -> usize {
    let block = digest_block_at(scheme);
    let sum: usize = packet[block..block + 4]
        .iter()
        .map(|&b| usize::from(b))
        .sum();
    block + 4 + sum % DIGEST_POSITIONS
}

fn hmac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (long ones are hashed first): this cannot fail.
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

/// HMAC-SHA256 of `data` under `key`.
pub(super) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; DIGEST_SIZE] {
    let mut mac = hmac(key);
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The MAC over a C1/S1 minus the 32 bytes at `at` (the bytes before and after them, in order).
fn packet_mac(packet: &[u8; HANDSHAKE_SIZE], at: usize, key: &[u8]) -> HmacSha256 {
    let mut mac = hmac(key);
    mac.update(&packet[..at]);
    mac.update(&packet[at + DIGEST_SIZE..]);
    mac
}

/// Writes the digest of a C1/S1 into its place for `scheme` and returns it.
pub(super) fn imprint_digest(
    packet: &mut [u8; HANDSHAKE_SIZE],
    scheme: Scheme,
    key: &[u8],
) -> [u8; DIGEST_SIZE] {
    let at = digest_offset(packet, scheme);
    let digest: [u8; DIGEST_SIZE] = packet_mac(packet, at, key).finalize().into_bytes().into();
    packet[at..at + DIGEST_SIZE].copy_from_slice(&digest);
    digest
}

/// The digest of a C1/S1 if the packet is laid out in `scheme` and signed with `key`.
pub(super) fn verify_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    scheme: Scheme,
    key: &[u8],
) -> Option<[u8; DIGEST_SIZE]> {
    let at = digest_offset(packet, scheme);
    let claimed = &packet[at..at + DIGEST_SIZE];
    // verify_slice compares in constant time; not that timing matters much here.
    packet_mac(packet, at, key).verify_slice(claimed).ok()?;
    let mut digest = [0; DIGEST_SIZE];
    digest.copy_from_slice(claimed);
    Some(digest)
}

/// Finds which scheme a C1/S1 was signed in. Scheme 1 is tried first because Flash Player,
/// librtmp and ffmpeg use it; a random packet verifies in neither (chance 2^-255).
pub(super) fn find_digest(
    packet: &[u8; HANDSHAKE_SIZE],
    key: &[u8],
) -> Option<(Scheme, [u8; DIGEST_SIZE])> {
    [Scheme::Scheme1, Scheme::Scheme0]
        .into_iter()
        .find_map(|scheme| verify_digest(packet, scheme, key).map(|digest| (scheme, digest)))
}

/// The key that signs C2/S2: HMAC-SHA256 of the peer's C1/S1 digest under the full key.
fn response_key(peer_digest: &[u8; DIGEST_SIZE], full_key: &[u8]) -> [u8; DIGEST_SIZE] {
    hmac_sha256(full_key, peer_digest)
}

/// Signs a C2/S2 whose first 1504 bytes are already random: writes the last 32 bytes.
pub(super) fn sign_response(
    packet: &mut [u8; HANDSHAKE_SIZE],
    peer_digest: &[u8; DIGEST_SIZE],
    full_key: &[u8],
) {
    let key = response_key(peer_digest, full_key);
    let signature = hmac_sha256(&key, &packet[..RESPONSE_SIGNATURE_AT]);
    packet[RESPONSE_SIGNATURE_AT..].copy_from_slice(&signature);
}

/// Whether a C2/S2 carries the signature derived from our C1/S1 digest.
pub(super) fn verify_response(
    packet: &[u8; HANDSHAKE_SIZE],
    our_digest: &[u8; DIGEST_SIZE],
    full_key: &[u8],
) -> bool {
    let key = response_key(our_digest, full_key);
    let mut mac = hmac(&key);
    mac.update(&packet[..RESPONSE_SIGNATURE_AT]);
    mac.verify_slice(&packet[RESPONSE_SIGNATURE_AT..]).is_ok()
}
