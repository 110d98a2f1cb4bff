//! Handshake tests through the public API: client and server in memory, C0 C1 captured from
//! real clients, and property tests over arbitrary input and fragmentation.
//!
//! The captured packets were recorded by a throwaway TCP probe running `ServerHandshake`:
//! - `handshake_rtmpdump_fp9_c0c1.bin`: `rtmpdump -V -w <swfhash> -x <swfsize>` (RTMPDump
//!   v2.4; librtmp only does the FP9 handshake when SWF verification is on). It logged
//!   "Client digest offset: 430" and "Initial client digest: 45 d3 de 66 ...", then
//!   "Genuine Adobe Flash Media Server" about our answer.
//! - `handshake_ffmpeg_c0c1.bin`: `ffmpeg -i rtmp://...` (ffmpeg 5.1, native RTMP), which
//!   accepted our answer ("Server version 13.14.10.13", no "Server response validating failed").
//! - `handshake_rtmpdump_simple_c0c1.bin`: plain `rtmpdump -V` (simple handshake).

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use srs_protocol::handshake::{
    fuzz_client, fuzz_server, ClientHandshake, HandshakeError, HandshakeKind, Progress, Scheme,
    ServerHandshake, HANDSHAKE_SIZE, HANDSHAKE_TOTAL_SIZE, RTMP_VERSION,
};

const RTMPDUMP_FP9_C0C1: &[u8; 1537] = include_bytes!("handshake_rtmpdump_fp9_c0c1.bin");
const FFMPEG_C0C1: &[u8; 1537] = include_bytes!("handshake_ffmpeg_c0c1.bin");
const RTMPDUMP_SIMPLE_C0C1: &[u8; 1537] = include_bytes!("handshake_rtmpdump_simple_c0c1.bin");

const FP_TEXT: &[u8] = b"Genuine Adobe Flash Player 001";
const FMS_KEY: &[u8] = b"Genuine Adobe Flash Media Server 001\
    \xf0\xee\xc2\x4a\x80\x68\xbe\xe8\x2e\x00\xd0\xd1\x02\x9e\x7e\x57\
    \x6e\xec\x5d\x2d\x29\x80\x6f\xab\x93\xb8\xe6\x36\xcf\xeb\x31\xae";

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// librtmp's GetDigestOffset1 (scheme 1) and GetDigestOffset2 (scheme 0).
fn digest_at(packet: &[u8], scheme: Scheme) -> usize {
    let block = match scheme {
        Scheme::Scheme1 => 8,
        Scheme::Scheme0 => 772,
    };
    let sum: usize = packet[block..block + 4].iter().map(|&b| b as usize).sum();
    block + 4 + sum % 728
}

/// Checks S0 S1 S2 the way ffmpeg's `rtmp_handshake` does for a C1 whose digest is at
/// `c1_digest_at`: S1's digest under the FMS text key (either scheme), then S2's signature.
fn check_complex_answer(c1: &[u8], c1_digest_at: usize, out: &[u8]) -> Scheme {
    assert_eq!(out.len(), HANDSHAKE_TOTAL_SIZE);
    assert_eq!(out[0], RTMP_VERSION);
    let (s1, s2) = out[1..].split_at(HANDSHAKE_SIZE);
    assert!(
        s1[4] >= 3,
        "ffmpeg only validates S1 when its version's first byte is >= 3"
    );
    let scheme = [Scheme::Scheme0, Scheme::Scheme1]
        .into_iter()
        .find(|&scheme| {
            let at = digest_at(s1, scheme);
            hmac_sha256(&FMS_KEY[..36], &[&s1[..at], &s1[at + 32..]]) == s1[at..at + 32]
        })
        .expect("Server response validating failed");
    let key = hmac_sha256(FMS_KEY, &[&c1[c1_digest_at..c1_digest_at + 32]]);
    assert_eq!(
        s2[1504..],
        hmac_sha256(&key, &[&s2[..1504]]),
        "Signature mismatch"
    );
    scheme
}

#[test]
fn captured_rtmpdump_fp9_c1_is_complex_scheme1() {
    let c1 = &RTMPDUMP_FP9_C0C1[1..];
    assert_eq!(c1[4..8], [10, 0, 45, 2], "librtmp's FP9 version");
    // rtmpdump -V printed "Client digest offset: 430" and a digest starting 45 d3 de 66.
    assert_eq!(digest_at(c1, Scheme::Scheme1), 430);
    assert_eq!(c1[430..434], [0x45, 0xd3, 0xde, 0x66]);
    assert_eq!(
        hmac_sha256(FP_TEXT, &[&c1[..430], &c1[462..]]),
        c1[430..462],
        "the capture itself is a valid scheme 1 C1"
    );

    let mut server = ServerHandshake::new();
    assert_eq!(server.feed(RTMPDUMP_FP9_C0C1).unwrap(), Progress::NeedMore);
    assert_eq!(server.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
    let scheme = check_complex_answer(c1, 430, &server.take_output());
    assert_eq!(scheme, Scheme::Scheme1, "answered in the client's scheme");
}

#[test]
fn captured_ffmpeg_c1_is_complex_scheme1() {
    let c1 = &FFMPEG_C0C1[1..];
    assert_eq!(c1[4..8], [9, 0, 124, 2], "ffmpeg's RTMP_CLIENT_VER");
    let at = digest_at(c1, Scheme::Scheme1);
    assert_eq!(at, 494);

    let mut server = ServerHandshake::new();
    assert_eq!(server.feed(FFMPEG_C0C1).unwrap(), Progress::NeedMore);
    assert_eq!(server.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
    check_complex_answer(c1, at, &server.take_output());
}

#[test]
fn captured_rtmpdump_simple_c1_is_simple() {
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.feed(RTMPDUMP_SIMPLE_C0C1).unwrap(),
        Progress::NeedMore
    );
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
    let out = server.take_output();
    assert_eq!(
        out[1 + HANDSHAKE_SIZE..],
        RTMPDUMP_SIMPLE_C0C1[1..],
        "S2 echoes C1"
    );
}

/// Runs a client and a server against each other in memory; returns the server's leftover.
fn run_in_memory(client: &mut ClientHandshake, server: &mut ServerHandshake) -> Vec<u8> {
    assert_eq!(
        server.feed(&client.take_output()).unwrap(),
        Progress::NeedMore
    );
    let reply = server.take_output();
    assert_eq!(reply.len(), HANDSHAKE_TOTAL_SIZE);
    assert_eq!(
        client.feed(&reply).unwrap(),
        Progress::Done { leftover: vec![] }
    );
    let mut c2 = client.take_output();
    assert_eq!(c2.len(), HANDSHAKE_SIZE);
    // A client sends its first chunk (connect) right behind C2.
    c2.extend_from_slice(b"\x03connect");
    match server.feed(&c2).unwrap() {
        Progress::Done { leftover } => leftover,
        Progress::NeedMore => panic!("C2 did not finish the handshake"),
    }
}

#[test]
fn complex_client_and_server_in_memory() {
    for _ in 0..20 {
        let mut client = ClientHandshake::new(true);
        let mut server = ServerHandshake::new();
        assert_eq!(run_in_memory(&mut client, &mut server), b"\x03connect");
        assert_eq!(server.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
        assert_eq!(client.kind(), Some(HandshakeKind::Complex(Scheme::Scheme1)));
        assert!(client.server_digest_verified());
        assert!(client.server_signature_verified());
        assert!(client.is_done() && server.is_done());
    }
}

#[test]
fn simple_client_gets_simple_server() {
    let mut client = ClientHandshake::new(false);
    let mut server = ServerHandshake::new();
    assert_eq!(run_in_memory(&mut client, &mut server), b"\x03connect");
    assert_eq!(server.kind(), Some(HandshakeKind::Simple));
    assert_eq!(client.kind(), Some(HandshakeKind::Simple));
    assert!(!client.server_digest_verified());
    assert!(!client.server_signature_verified());
}

#[test]
fn rtmpe_c0_is_refused() {
    let mut c0c1 = *FFMPEG_C0C1;
    c0c1[0] = 6;
    let mut server = ServerHandshake::new();
    assert_eq!(
        server.feed(&c0c1),
        Err(HandshakeError::UnsupportedVersion(6))
    );
    assert!(server.take_output().is_empty());
}

/// Feeds `pieces` of `stream` to a fresh server; checks the invariants every caller relies on.
fn feed_server_in_pieces(stream: &[u8], cuts: &[usize]) -> Result<Progress, HandshakeError> {
    let mut server = ServerHandshake::new();
    let mut rest = stream;
    let mut output = Vec::new();
    let mut cuts = cuts.iter().cycle();
    let mut result = Ok(Progress::NeedMore);
    let mut leftover = Vec::new();
    while !rest.is_empty() {
        let len = cuts.next().copied().unwrap_or(rest.len()).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        rest = tail;
        let progress = server.feed(piece);
        output.extend(server.take_output());
        match progress {
            Err(error) => {
                assert!(output.is_empty());
                return Err(error);
            }
            Ok(Progress::Done { leftover: more }) => {
                leftover.extend(more);
                result = Ok(Progress::Done { leftover: vec![] });
            }
            Ok(Progress::NeedMore) => {}
        }
    }
    if let Ok(Progress::Done { .. }) = result {
        assert_eq!(
            output.len(),
            HANDSHAKE_TOTAL_SIZE,
            "Done means S0 S1 S2 were sent"
        );
        assert_eq!(leftover, stream[HANDSHAKE_TOTAL_SIZE..]);
        return Ok(Progress::Done { leftover });
    }
    assert!(output.is_empty() || output.len() == HANDSHAKE_TOTAL_SIZE);
    result
}

/// A byte stream that starts with C0 = 3 most of the time, so that C1 gets parsed.
fn client_bytes() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![3 => Just(3u8), 1 => any::<u8>()],
        prop::collection::vec(any::<u8>(), 0..4000),
    )
        .prop_map(|(c0, rest)| [&[c0][..], &rest].concat())
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        Just(vec![1]),
        prop::collection::vec(1usize..20, 1..8),
        prop::collection::vec(1usize..2000, 1..8),
        Just(vec![usize::MAX]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_in_any_split_never_panic(stream in client_bytes(), cuts in cuts()) {
        match feed_server_in_pieces(&stream, &cuts) {
            Err(HandshakeError::UnsupportedVersion(v)) => {
                prop_assert_eq!(v, stream[0]);
                prop_assert_ne!(v, RTMP_VERSION);
            }
            Ok(Progress::Done { .. }) => prop_assert!(stream.len() >= HANDSHAKE_TOTAL_SIZE),
            Ok(Progress::NeedMore) => prop_assert!(stream.len() < HANDSHAKE_TOTAL_SIZE),
        }
    }

    #[test]
    fn a_real_client_stream_in_any_split_is_done_with_its_leftover(
        complex in any::<bool>(),
        extra in prop::collection::vec(any::<u8>(), 0..300),
        cuts in cuts(),
    ) {
        let mut client = ClientHandshake::new(complex);
        let mut server = ServerHandshake::new();
        let mut stream = client.take_output();
        server.feed(&stream).unwrap();
        client.feed(&server.take_output()).unwrap();
        stream.extend(client.take_output());
        stream.extend_from_slice(&extra);
        prop_assert_eq!(
            feed_server_in_pieces(&stream, &cuts),
            Ok(Progress::Done { leftover: extra })
        );
    }

    #[test]
    fn fuzz_targets_hold_on_arbitrary_data(
        control in any::<u8>(),
        stream in client_bytes(),
    ) {
        let data = [&[control][..], &stream].concat();
        fuzz_server(&data);
        fuzz_client(&data);
    }
}
