//! Fuzzing entry points: each drives a state machine with arbitrary bytes, split in ways
//! derived from the input itself, and asserts the handshake's invariants.

use rand::rngs::mock::StepRng;

use super::digest::{self, FMS_DIGEST_KEY, FP_DIGEST_KEY, GENUINE_FMS_KEY};
use super::{
    ClientHandshake, HandshakeError, HandshakeKind, Progress, ServerHandshake, HANDSHAKE_SIZE,
    HANDSHAKE_TOTAL_SIZE, RTMP_VERSION,
};

/// A cheap deterministic generator: the fuzzer explores inputs, not random bytes, and the
/// split run and the whole run must draw the same bytes to be compared.
fn fuzz_rng() -> StepRng {
    StepRng::new(0x0123_4567_89ab_cdef, 0x9e37_79b9_7f4a_7c15)
}

/// Cuts `stream` into pieces whose sizes come from a small LCG seeded by `control`. The low
/// two bits pick the scale: 1 byte at a time, up to 16, up to 1600 (about one packet), or all
/// at once.
struct Splits<'a> {
    rest: &'a [u8],
    lcg: u32,
    max: usize,
}

impl<'a> Splits<'a> {
    fn new(control: u8, stream: &'a [u8]) -> Self {
        let max = match control & 3 {
            0 => 1,
            1 => 16,
            2 => 1600,
            _ => usize::MAX,
        };
        Splits {
            rest: stream,
            lcg: u32::from(control),
            max,
        }
    }
}

impl<'a> Iterator for Splits<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        // Numerical Recipes' LCG; the high bits are the random ones.
        self.lcg = self.lcg.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let len = 1 + (self.lcg >> 8) as usize % self.max;
        let (piece, rest) = self.rest.split_at(len.min(self.rest.len()));
        self.rest = rest;
        Some(piece)
    }
}

/// Fuzz target for [`ServerHandshake`]. `data[0]` chooses how the rest, the bytes "from the
/// client", is split into reads.
///
/// Asserts: the output is only ever nothing or all of S0 S1 S2 (3073 bytes, once, and only
/// after C0 C1 are in); the only error is a C0 other than 3; `Done` comes exactly when
/// 3073 bytes were consumed and its leftover is exactly the rest of the stream; S1 and S2 are
/// what a client expects (verifiable digests if complex, S2 = C1 if simple); and the split
/// run produces the same bytes and result as feeding everything at once.
///
/// # Panics
///
/// When an invariant does not hold: that is how the fuzzer reports a bug.
pub fn fuzz_server(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };

    let mut whole = ServerHandshake::with_rng(fuzz_rng());
    let whole_result = whole.feed(stream);
    let whole_output = whole.take_output();

    let mut server = ServerHandshake::with_rng(fuzz_rng());
    let mut output = Vec::new();
    let mut fed = 0usize; // bytes fed before the current piece
    let mut result = Ok(Progress::NeedMore);
    let mut leftover = Vec::new();
    for piece in Splits::new(control, stream) {
        let progress = server.feed(piece);
        let out = server.take_output();
        assert!(
            out.is_empty() || (out.len() == HANDSHAKE_TOTAL_SIZE && output.is_empty()),
            "server output must be all of S0 S1 S2, once"
        );
        output.extend_from_slice(&out);
        match progress {
            Err(error) => {
                assert_eq!(error, HandshakeError::UnsupportedVersion(stream[0]));
                assert_ne!(stream[0], RTMP_VERSION);
                assert!(output.is_empty(), "nothing is sent to a refused client");
                // The error sticks.
                assert_eq!(server.feed(&[RTMP_VERSION]), Err(error.clone()));
                result = Err(error);
                break;
            }
            Ok(Progress::NeedMore) => {
                assert!(
                    fed + piece.len() < HANDSHAKE_TOTAL_SIZE,
                    "NeedMore after C2"
                );
                assert!(!server.is_done());
            }
            Ok(Progress::Done { leftover: rest }) => {
                assert!(rest.len() <= piece.len());
                let used = piece.len() - rest.len();
                if matches!(result, Ok(Progress::NeedMore)) {
                    assert_eq!(
                        fed + used,
                        HANDSHAKE_TOTAL_SIZE,
                        "Done before the end of C2"
                    );
                } else {
                    assert_eq!(used, 0, "bytes after Done are all leftover");
                }
                assert_eq!(rest, piece[used..]);
                leftover.extend_from_slice(&rest);
                result = Ok(Progress::Done {
                    leftover: Vec::new(),
                });
            }
        }
        fed += piece.len();
        // S0 S1 S2 are out exactly when C0 (1 byte) and C1 are in.
        assert_eq!(!output.is_empty(), fed > HANDSHAKE_SIZE);
    }

    match (&whole_result, &result) {
        (Ok(Progress::Done { leftover: all }), Ok(Progress::Done { .. })) => {
            assert_eq!(all, &leftover);
            assert_eq!(all[..], stream[HANDSHAKE_TOTAL_SIZE..]);
        }
        (Ok(Progress::NeedMore), Ok(Progress::NeedMore)) => {
            assert!(stream.len() < HANDSHAKE_TOTAL_SIZE)
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (whole, split) => panic!("whole run {whole:?} but split run {split:?}"),
    }
    assert_eq!(whole_output, output, "output depends on the fragmentation");
    assert_eq!(whole.kind(), server.kind());

    if output.is_empty() {
        assert!(stream.len() <= HANDSHAKE_SIZE || stream[0] != RTMP_VERSION);
        return;
    }
    let c1: &[u8; HANDSHAKE_SIZE] = stream[1..=HANDSHAKE_SIZE].try_into().expect("C1 is in");
    let s1: &[u8; HANDSHAKE_SIZE] = output[1..=HANDSHAKE_SIZE].try_into().expect("S1 is out");
    let s2: &[u8; HANDSHAKE_SIZE] = output[1 + HANDSHAKE_SIZE..].try_into().expect("S2 is out");
    assert_eq!(output[0], RTMP_VERSION);
    match server.kind() {
        Some(HandshakeKind::Simple) => {
            assert_eq!(s1[4..8], [0; 4], "a simple S1 has a zero version");
            assert_eq!(s2, c1, "a simple S2 echoes C1");
        }
        Some(HandshakeKind::Complex(scheme)) => {
            let c1_digest = digest::verify_digest(c1, scheme, FP_DIGEST_KEY)
                .expect("answered complex to a C1 without a valid digest");
            assert!(digest::verify_digest(s1, scheme, FMS_DIGEST_KEY).is_some());
            assert!(digest::verify_response(s2, &c1_digest, &GENUINE_FMS_KEY));
        }
        None => panic!("output without a kind"),
    }
}

/// Fuzz target for [`ClientHandshake`] (complex if bit 2 of `data[0]` is set). `data[0]` also chooses
/// how the rest, the bytes "from the server", is split into reads.
///
/// Asserts: C0 C1 (1537 bytes) are ready at once; then the only output is C2 (1536 bytes,
/// once, exactly when S0 S1 are in); the only error is an S0 other than 3; `Done` comes
/// exactly when 3073 bytes were consumed, with the rest of the stream as leftover; and the
/// split run gives the same bytes and result as feeding everything at once.
///
/// # Panics
///
/// When an invariant does not hold.
pub fn fuzz_client(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let complex = control & 4 != 0;

    let mut whole = ClientHandshake::with_rng(complex, fuzz_rng());
    let mut whole_output = whole.take_output();
    let whole_result = whole.feed(stream);
    whole_output.extend(whole.take_output());

    let mut client = ClientHandshake::with_rng(complex, fuzz_rng());
    let mut output = client.take_output();
    assert_eq!(output.len(), 1 + HANDSHAKE_SIZE);
    assert_eq!(output[0], RTMP_VERSION);
    let mut fed = 0usize; // bytes fed before the current piece
    let mut done = false;
    for piece in Splits::new(control, stream) {
        let progress = client.feed(piece);
        let out = client.take_output();
        assert!(
            out.is_empty() || (out.len() == HANDSHAKE_SIZE && output.len() == 1 + HANDSHAKE_SIZE),
            "client output after C0 C1 must be C2, once"
        );
        output.extend_from_slice(&out);
        match progress {
            Err(error) => {
                assert_eq!(error, HandshakeError::UnsupportedVersion(stream[0]));
                assert_ne!(stream[0], RTMP_VERSION);
                assert_eq!(
                    output.len(),
                    1 + HANDSHAKE_SIZE,
                    "no C2 to a refused server"
                );
                assert_eq!(whole_result, Err(error));
                break;
            }
            Ok(Progress::NeedMore) => {
                assert!(
                    fed + piece.len() < HANDSHAKE_TOTAL_SIZE,
                    "NeedMore after S2"
                );
            }
            Ok(Progress::Done { leftover }) => {
                assert!(leftover.len() <= piece.len());
                let used = piece.len() - leftover.len();
                if done {
                    assert_eq!(used, 0, "bytes after Done are all leftover");
                } else {
                    assert_eq!(
                        fed + used,
                        HANDSHAKE_TOTAL_SIZE,
                        "Done before the end of S2"
                    );
                    let Ok(Progress::Done { leftover: all }) = &whole_result else {
                        panic!("split run done, whole run {whole_result:?}");
                    };
                    assert_eq!(all[..], stream[HANDSHAKE_TOTAL_SIZE..]);
                    done = true;
                }
                assert_eq!(leftover, piece[used..]);
            }
        }
        fed += piece.len();
        // C2 is out exactly when S0 (1 byte) and S1 are in.
        assert_eq!(output.len() > 1 + HANDSHAKE_SIZE, fed > HANDSHAKE_SIZE);
    }
    if !done {
        assert!(stream.len() < HANDSHAKE_TOTAL_SIZE || stream[0] != RTMP_VERSION);
    }
    assert_eq!(whole_output, output, "output depends on the fragmentation");
    assert_eq!(whole.kind(), client.kind());
    assert_eq!(
        whole.server_digest_verified(),
        client.server_digest_verified()
    );
    if !complex {
        assert!(!client.server_digest_verified());
    }
}
