//! Exact-bytes tests of the handshake. The digests are recomputed here with `hmac` directly,
//! from the layout written out by hand, rather than with the `digest` module under test.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::client::{CLIENT_SCHEME, CLIENT_VERSION};
use super::digest::{self, digest_offset, FMS_DIGEST_KEY, FP_DIGEST_KEY};
use super::server::SERVER_VERSION;
use super::*;

/// Yields 0, 1, 2, ... (wrapping) so that "random" bytes can be written out in assertions.
struct CountingRng(u8);

impl RngCore for CountingRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

const FP_TEXT: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_TEXT: &[u8] = b"Genuine Adobe Flash Media Server 001";
/// The 32 bytes after the text in both keys, as librtmp/ffmpeg/SRS print them.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn full_key(text: &[u8]) -> Vec<u8> {
    [text, &KEY_TAIL].concat()
}

/// A C1 of the simple handshake: time 7, version 0, bytes 8.. = i * 7.
fn simple_c1() -> Vec<u8> {
    let mut c1: Vec<u8> = (0..HANDSHAKE_SIZE).map(|i| (i * 7) as u8).collect();
    c1[..8].copy_from_slice(&[0, 0, 0, 7, 0, 0, 0, 0]);
    c1
}

fn packet(bytes: &[u8]) -> &[u8; HANDSHAKE_SIZE] {
    bytes.try_into().unwrap()
}

/// Checks an S1 the way a client does: its digest at `at` is the HMAC of the rest under the
/// 36-byte FMS text key; returns the digest.
fn check_s1_digest(s1: &[u8], at: usize) -> [u8; 32] {
    let expected = hmac_sha256(FMS_TEXT, &[&s1[..at], &s1[at + 32..]]);
    assert_eq!(s1[at..at + 32], expected, "S1 digest at {at}");
    expected
}

/// Checks an S2 the way librtmp and ffmpeg do: last 32 bytes = HMAC(HMAC(FMS key, C1 digest),
/// first 1504 bytes).
fn check_s2_signature(s2: &[u8], c1_digest: &[u8]) {
    let key = hmac_sha256(&full_key(FMS_TEXT), &[c1_digest]);
    assert_eq!(
        s2[1504..],
        hmac_sha256(&key, &[&s2[..1504]]),
        "S2 signature"
    );
}

#[test]
fn keys_are_the_genuine_adobe_keys() {
    assert_eq!(FP_DIGEST_KEY, FP_TEXT);
    assert_eq!(FMS_DIGEST_KEY, FMS_TEXT);
    assert_eq!(digest::GENUINE_FP_KEY[..], full_key(FP_TEXT)[..]);
    assert_eq!(digest::GENUINE_FMS_KEY[..], full_key(FMS_TEXT)[..]);
}

#[test]
fn simple_handshake_exact_bytes() {
    let mut server = ServerHandshake::with_rng(CountingRng(0)).with_timestamp(0x0102_0304);
    let c1 = simple_c1();
    assert_eq!(server.feed(&[3]).unwrap(), Progress::NeedMore);
    assert!(
        server.take_output().is_empty(),
        "nothing is sent before C1 is whole"
    );
    assert_eq!(server.feed(&c1).unwrap(), Progress::NeedMore);
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));

    let out = server.take_output();
    assert_eq!(out.len(), 1 + 1536 + 1536);
    assert_eq!(out[0], 3, "S0");
    let (s1, s2) = out[1..].split_at(1536);
    assert_eq!(s1[..4], [1, 2, 3, 4], "S1 time, big-endian");
    assert_eq!(s1[4..8], [0, 0, 0, 0], "S1 zero");
    // S1 random(1528): the counting RNG's first 1528 bytes.
    let random: Vec<u8> = (0..1528).map(|i| i as u8).collect();
    assert_eq!(s1[8..], random[..]);
    assert_eq!(s2, &c1[..], "S2 echoes C1");
    assert!(server.take_output().is_empty(), "output is taken once");

    assert_eq!(server.feed(&[0xaa; 1535]).unwrap(), Progress::NeedMore);
    assert!(!server.is_done());
    assert_eq!(
        server.feed(&[0xaa]).unwrap(),
        Progress::Done { leftover: vec![] }
    );
    assert!(server.is_done());
    assert!(server.take_output().is_empty());
}

#[test]
fn digest_offsets_computed_by_hand() {
    let mut c1 = [0u8; HANDSHAKE_SIZE];
    // Scheme 1: the digest block starts at 8, its offset field is bytes 8..12.
    // 1 + 2 + 3 + 4 = 10; 10 % 728 = 10; digest at 8 + 4 + 10 = 22.
    c1[8..12].copy_from_slice(&[1, 2, 3, 4]);
    // Scheme 0: the digest block starts at 772, its offset field is bytes 772..776.
    // 4 * 255 = 1020; 1020 % 728 = 292; digest at 772 + 4 + 292 = 1068.
    c1[772..776].copy_from_slice(&[0xff; 4]);
    assert_eq!(digest_offset(&c1, Scheme::Scheme1), 22);
    assert_eq!(digest_offset(&c1, Scheme::Scheme0), 1068);

    // The extremes stay inside the packet: scheme 1 ends at most at 12 + 727 + 32 = 771,
    // right before the second block; scheme 0 at most at 776 + 727 + 32 = 1535.
    // 255 + 255 + 217 + 0 = 727.
    c1[8..12].copy_from_slice(&[255, 255, 217, 0]);
    c1[772..776].copy_from_slice(&[255, 255, 217, 0]);
    assert_eq!(digest_offset(&c1, Scheme::Scheme1), 12 + 727);
    assert_eq!(digest_offset(&c1, Scheme::Scheme0), 776 + 727);
    // 728 wraps to 0.
    c1[8..12].copy_from_slice(&[255, 255, 218, 0]);
    assert_eq!(digest_offset(&c1, Scheme::Scheme1), 12);
}

/// Builds a scheme-0 C1 straight from the layout, without the code under test.
fn independent_scheme0_c1() -> (Vec<u8>, [u8; 32]) {
    let mut c1: Vec<u8> = (0..HANDSHAKE_SIZE).map(|i| (i * 31 + 5) as u8).collect();
    c1[..4].copy_from_slice(&[0, 0, 0x12, 0x34]); // time
    c1[4..8].copy_from_slice(&[9, 0, 124, 2]); // ffmpeg's client version 9.0.124.2
                                               // Digest block at 772: offset field 0x10 + 0x20 + 0x30 + 0x40 = 160 → digest at 936.
    c1[772..776].copy_from_slice(&[0x10, 0x20, 0x30, 0x40]);
    let digest = hmac_sha256(FP_TEXT, &[&c1[..936], &c1[968..]]);
    c1[936..968].copy_from_slice(&digest);
    (c1, digest)
}

#[test]
fn independent_scheme0_c1_gets_complex_scheme0_answer() {
    let (c1, c1_digest) = independent_scheme0_c1();
    let mut server = ServerHandshake::with_rng(CountingRng(100)).with_timestamp(5);
    assert_eq!(
        server.feed(&[&[3][..], &c1].concat()).unwrap(),
        Progress::NeedMore
    );
    assert_eq!(server.kind(), Some(HandshakeKind::Complex(Scheme::Scheme0)));

    let out = server.take_output();
    assert_eq!(out.len(), 3073);
    assert_eq!(out[0], 3);
    let (s1, s2) = out[1..].split_at(1536);
    assert_eq!(s1[..4], [0, 0, 0, 5], "S1 time");
    assert_eq!(
        s1[4..8],
        [0x0d, 0x0e, 0x0a, 0x0d],
        "S1 version, SRS's 13.14.10.13"
    );
    assert_eq!(s1[4..8], SERVER_VERSION);
    // S1 is random from byte 8 (RNG bytes 100, 101, ...), then its digest in scheme 0.
    // The counting RNG put (772 - 8 + 100) % 256 = 96 at 772, so the offset field is
    // 96 97 98 99: 390 % 728 = 390 → the digest is at 776 + 390 = 1166.
    assert_eq!(s1[772..776], [96, 97, 98, 99]);
    assert_eq!(digest_offset(packet(s1), Scheme::Scheme0), 1166);
    check_s1_digest(s1, 1166);
    // Outside the digest, S1 is the RNG's bytes.
    for (i, &byte) in s1.iter().enumerate().skip(8) {
        if !(1166..1198).contains(&i) {
            assert_eq!(byte, (i - 8 + 100) as u8, "S1 byte {i}");
        }
    }
    // S2: the next 1504 RNG bytes, then the signature derived from C1's digest.
    assert_eq!(s2[0], (100 + 1528) as u8);
    check_s2_signature(s2, &c1_digest);

    // C2 is not checked: any 1536 bytes end the handshake.
    let done = server.feed(&[0u8; 1536]).unwrap();
    assert_eq!(done, Progress::Done { leftover: vec![] });
}

#[test]
fn our_client_c1_is_scheme1_and_recognised() {
    let mut client = ClientHandshake::with_rng(true, CountingRng(0));
    let c0c1 = client.take_output();
    assert_eq!(c0c1.len(), 1537);
    assert_eq!(c0c1[0], 3, "C0");
    let c1 = &c0c1[1..];
    assert_eq!(c1[..4], [0, 0, 0, 0], "C1 time: no clock, 0");
    assert_eq!(c1[4..8], [0x80, 0x00, 0x07, 0x02], "C1 version, FP9 style");
    assert_eq!(c1[4..8], CLIENT_VERSION);
    assert_eq!(CLIENT_SCHEME, Scheme::Scheme1);
    // Scheme 1: offset field at 8..12 holds the RNG's first bytes 0 1 2 3.
    // 0 + 1 + 2 + 3 = 6 → digest at 8 + 4 + 6 = 18.
    assert_eq!(c1[8..12], [0, 1, 2, 3]);
    let c1_digest = hmac_sha256(FP_TEXT, &[&c1[..18], &c1[50..]]);
    assert_eq!(c1[18..50], c1_digest);

    let mut server = ServerHandshake::with_rng(CountingRng(7));
    assert_eq!(server.feed(&c0c1).unwrap(), Progress::NeedMore);
    assert_eq!(server.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
    let s0s1s2 = server.take_output();
    let (s1, s2) = s0s1s2[1..].split_at(1536);
    // S1 offset field at 8..12 = RNG bytes 7 8 9 10: 34 → digest at 12 + 34 = 46.
    assert_eq!(s1[8..12], [7, 8, 9, 10]);
    let s1_digest = check_s1_digest(s1, 46);
    check_s2_signature(s2, &c1_digest);

    // The client accepts both and signs C2 with a key derived from S1's digest.
    assert_eq!(
        client.feed(&s0s1s2).unwrap(),
        Progress::Done { leftover: vec![] }
    );
    assert!(client.server_digest_verified());
    assert!(client.server_signature_verified());
    assert_eq!(client.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
    let c2 = client.take_output();
    assert_eq!(c2.len(), 1536);
    // C2 random(1504) continues the client's RNG after C1's 1528 bytes.
    assert_eq!(c2[0], 1528u32 as u8);
    let key = hmac_sha256(&full_key(FP_TEXT), &[&s1_digest]);
    assert_eq!(
        c2[1504..],
        hmac_sha256(&key, &[&c2[..1504]]),
        "C2 signature"
    );

    assert_eq!(
        server.feed(&c2).unwrap(),
        Progress::Done { leftover: vec![] }
    );
}

#[test]
fn client_simple_mode_exact_bytes() {
    let mut client = ClientHandshake::with_rng(false, CountingRng(0));
    let c0c1 = client.take_output();
    assert_eq!(c0c1[0], 3);
    assert_eq!(c0c1[1..9], [0; 8], "time 0, zero 0");
    assert_eq!(c0c1[9], 0, "random starts with the RNG's first byte");
    assert_eq!(c0c1[10], 1);

    // A simple server: S1 = time zero random, S2 = C1.
    let s1 = simple_c1();
    let mut reply = vec![3];
    reply.extend_from_slice(&s1);
    reply.extend_from_slice(&c0c1[1..]);
    reply.extend_from_slice(b"\x02rest");
    assert_eq!(
        client.feed(&reply).unwrap(),
        Progress::Done {
            leftover: b"\x02rest".to_vec()
        }
    );
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert!(!client.server_digest_verified());
    assert!(!client.server_signature_verified());
    assert_eq!(client.take_output(), s1, "C2 echoes S1");
}

#[test]
fn complex_client_accepts_simple_server() {
    let mut client = ClientHandshake::with_rng(true, CountingRng(0));
    let c0c1 = client.take_output();
    let mut reply = vec![3];
    reply.extend_from_slice(&simple_c1()); // zero version: a simple S1
    reply.extend_from_slice(&c0c1[1..]);
    assert_eq!(
        client.feed(&reply).unwrap(),
        Progress::Done { leftover: vec![] }
    );
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert!(!client.server_digest_verified());
    assert_eq!(client.take_output(), simple_c1(), "C2 echoes S1");
}

#[test]
fn rtmpe_and_garbage_versions_are_refused() {
    for version in [6u8, 8, 9, 0, 1, 2, 4, b'G', 0xff] {
        let mut server = ServerHandshake::with_rng(CountingRng(0));
        let mut input = vec![version];
        input.extend_from_slice(&simple_c1());
        assert_eq!(
            server.feed(&input),
            Err(HandshakeError::UnsupportedVersion(version))
        );
        assert!(server.take_output().is_empty());
        assert_eq!(server.kind(), None);
        // The error sticks.
        assert_eq!(
            server.feed(&[3]),
            Err(HandshakeError::UnsupportedVersion(version))
        );

        let mut client = ClientHandshake::with_rng(true, CountingRng(0));
        client.take_output();
        assert_eq!(
            client.feed(&input),
            Err(HandshakeError::UnsupportedVersion(version))
        );
        assert!(client.take_output().is_empty());
    }
    // The refusal comes at the first byte, before C1.
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.feed(&[6]),
        Err(HandshakeError::UnsupportedVersion(6))
    );
    assert_eq!(
        HandshakeError::UnsupportedVersion(6).to_string(),
        "unsupported RTMP version 6 in C0/S0 (only 3 is supported; 6, 8, 9 are RTMPE)"
    );
}

#[test]
fn c1_with_version_but_no_valid_digest_falls_back_to_simple() {
    let (mut c1, _) = independent_scheme0_c1();
    c1[1000] ^= 1; // break the digest
    let mut server = ServerHandshake::with_rng(CountingRng(0));
    server.feed(&[&[3][..], &c1].concat()).unwrap();
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
    let out = server.take_output();
    assert_eq!(out[5..9], [0; 4], "simple S1 has a zero version");
    assert_eq!(out[1537..], c1[..], "S2 echoes C1");
}

#[test]
fn c1_with_zero_version_is_simple_even_with_a_valid_digest() {
    // Spec 5.2.3: a zero version field means the simple handshake.
    let (mut c1, _) = independent_scheme0_c1();
    c1[4..8].copy_from_slice(&[0; 4]);
    let digest = hmac_sha256(FP_TEXT, &[&c1[..936], &c1[968..]]);
    c1[936..968].copy_from_slice(&digest);
    let mut server = ServerHandshake::with_rng(CountingRng(0));
    server.feed(&[&[3][..], &c1].concat()).unwrap();
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
}

/// The whole client stream of a complex handshake (C0 C1 C2) followed by `extra`.
fn client_stream(extra: &[u8]) -> Vec<u8> {
    let mut client = ClientHandshake::with_rng(true, CountingRng(3));
    let mut server = ServerHandshake::with_rng(CountingRng(9));
    let mut stream = client.take_output();
    server.feed(&stream).unwrap();
    client.feed(&server.take_output()).unwrap();
    stream.extend_from_slice(&client.take_output());
    stream.extend_from_slice(extra);
    stream
}

#[test]
fn one_byte_at_a_time_equals_all_at_once() {
    let extra = b"\x03\x00\x00\x00\x00\x00\x95\x14\x00\x00\x00\x00";
    for stream in [
        client_stream(extra),
        [&[3][..], &simple_c1(), &[7; 1536], extra].concat(),
    ] {
        let mut whole = ServerHandshake::with_rng(CountingRng(42));
        let whole_done = whole.feed(&stream).unwrap();
        let whole_out = whole.take_output();
        assert_eq!(
            whole_done,
            Progress::Done {
                leftover: extra.to_vec()
            }
        );

        let mut split = ServerHandshake::with_rng(CountingRng(42));
        let mut out = Vec::new();
        let mut leftover = Vec::new();
        for (i, byte) in stream.iter().enumerate() {
            match split.feed(std::slice::from_ref(byte)).unwrap() {
                Progress::NeedMore => assert!(i < 3072),
                Progress::Done { leftover: rest } => {
                    assert!(i >= 3072);
                    leftover.extend(rest);
                }
            }
            out.extend(split.take_output());
        }
        assert_eq!(out, whole_out);
        assert_eq!(leftover, extra);
        assert_eq!(split.kind(), whole.kind());
    }
}

#[test]
fn leftover_is_exactly_what_follows_c2() {
    let extra: Vec<u8> = (0..=255).collect();
    let stream = client_stream(&extra);
    // C0 C1 in one read, C2 and the extra bytes in another.
    let mut server = ServerHandshake::new();
    assert_eq!(server.feed(&stream[..1537]).unwrap(), Progress::NeedMore);
    assert_eq!(server.take_output().len(), 3073);
    assert_eq!(
        server.feed(&stream[1537..]).unwrap(),
        Progress::Done {
            leftover: extra.clone()
        }
    );
    // After Done, everything is leftover.
    assert_eq!(
        server.feed(b"more").unwrap(),
        Progress::Done {
            leftover: b"more".to_vec()
        }
    );
    assert_eq!(
        server.feed(b"").unwrap(),
        Progress::Done { leftover: vec![] }
    );
}

#[test]
fn empty_feeds_are_harmless() {
    let mut server = ServerHandshake::new();
    assert_eq!(server.feed(&[]).unwrap(), Progress::NeedMore);
    assert_eq!(server.kind(), None);
    let mut client = ClientHandshake::new(true);
    assert_eq!(client.take_output().len(), 1537);
    assert_eq!(client.feed(&[]).unwrap(), Progress::NeedMore);
    assert_eq!(client.kind(), None);
}

#[test]
fn state_machines_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<ServerHandshake>();
    assert_send::<ClientHandshake>();
}

#[test]
fn fuzz_targets_accept_valid_and_broken_streams() {
    let valid = client_stream(b"tail");
    for control in 0..8u8 {
        let data = [&[control][..], &valid].concat();
        fuzz_server(&data);
        fuzz_server(&data[..1800]);
        fuzz_server(&data[..3074]);
        let mut refused = data.clone();
        refused[1] = 6;
        fuzz_server(&refused);
        fuzz_client(&data);
        fuzz_client(&refused);
    }
    // A server's reply stream for the client target.
    let mut client = ClientHandshake::with_rng(true, CountingRng(0));
    let mut server = ServerHandshake::with_rng(CountingRng(1));
    server.feed(&client.take_output()).unwrap();
    let reply = server.take_output();
    for control in 0..8u8 {
        fuzz_client(&[&[control][..], &reply, b"x"].concat());
    }
    fuzz_server(&[]);
    fuzz_client(&[]);
}
