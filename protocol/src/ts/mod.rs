//! MPEG-2 transport stream (ISO/IEC 13818-1), the container of HLS segments.
//!
//! - [`TsMuxer`] turns RTMP video/audio message bodies (H.264 or H.265 in AVCC/HVCC framing,
//!   AAC raw frames) into 188-byte TS packets: PAT and PMT (2.4.4), PES packets (2.4.3.6) with
//!   90 kHz PTS/DTS, PCR in adaptation fields (2.4.3.4), continuity counters per PID.
//! - [`TsReader`] is the other direction, for tests, tools and fuzzing: it checks sync bytes,
//!   continuity counters and section CRCs, and reassembles PES packets.
//! - [`validate_muxed`] states what the muxer guarantees, and [`fuzz_ts`] checks it.
//!
//! Nothing here does I/O: the muxer appends bytes to a caller's buffer.

mod demux;
mod fuzz;
mod mux;
mod validate;

pub use demux::{
    parse_packet, parse_pat, parse_pes_header, parse_pmt, AdaptationField, Pes, PesHeader, Pmt,
    PmtStream, TsEvent, TsPacket, TsReader, MAX_PES_SIZE,
};
pub use fuzz::fuzz_ts;
pub use mux::{EsFrame, MediaKind, Prepared, Skipped, TsMuxer, PCR_INTERVAL_MS};
pub use validate::{validate_muxed, MuxedSummary};

/// Size of every TS packet.
pub const PACKET_SIZE: usize = 188;
/// First byte of every TS packet.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID of our program map table (SRS's choice).
pub const PMT_PID: u16 = 0x1001;
/// PID of the video elementary stream (SRS's choice).
pub const VIDEO_PID: u16 = 0x0100;
/// PID of the audio elementary stream (SRS's choice).
pub const AUDIO_PID: u16 = 0x0101;
/// The one program we carry.
pub const PROGRAM_NUMBER: u16 = 1;
/// Transport stream id in the PAT.
pub const TRANSPORT_STREAM_ID: u16 = 1;

/// PMT stream types (13818-1 table 2-34) we write.
pub mod stream_type {
    /// ISO/IEC 13818-7 AAC with ADTS framing.
    pub const AAC: u8 = 0x0f;
    /// H.264 (Annex B byte stream).
    pub const H264: u8 = 0x1b;
    /// H.265 (Annex B byte stream).
    pub const H265: u8 = 0x24;
}

/// PES stream ids (13818-1 table 2-22).
pub mod stream_id {
    /// First audio stream.
    pub const AUDIO: u8 = 0xc0;
    /// First video stream.
    pub const VIDEO: u8 = 0xe0;
}

/// 90 kHz ticks per millisecond.
pub const TICKS_PER_MS: i64 = 90;
/// PTS, DTS and PCR base are 33-bit counters.
pub const TIMESTAMP_MODULUS: i64 = 1 << 33;

/// Why TS bytes are not what they should be (reader) or could not be muxed (muxer). Reader
/// errors describe the bytes being read; muxer errors describe the publisher's media.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    /// A packet does not start with 0x47; the reader skips to the next sync byte.
    #[error("ts: lost sync at byte {offset}")]
    LostSync { offset: u64 },
    /// Fewer than 188 bytes given to the packet parser.
    #[error("ts: packet of {0} bytes")]
    ShortPacket(usize),
    /// An adaptation field longer than the packet.
    #[error("ts: adaptation field of {0} bytes does not fit")]
    BadAdaptationField(usize),
    /// The transport_error_indicator is set.
    #[error("ts: transport error indicator on PID {0:#x}")]
    TransportError(u16),
    /// A continuity counter that skips (lost or reordered packets).
    #[error("ts: continuity counter on PID {pid:#x}: expected {expected}, found {found}")]
    Continuity { pid: u16, expected: u8, found: u8 },
    /// A PSI section that is malformed, spans packets, or fails its CRC.
    #[error("ts: bad section on PID {pid:#x}: {what}")]
    BadSection { pid: u16, what: &'static str },
    /// A PES packet header that is malformed.
    #[error("ts: bad PES header on PID {pid:#x}: {what}")]
    BadPes { pid: u16, what: &'static str },
    /// A PES packet larger than [`MAX_PES_SIZE`].
    #[error("ts: PES on PID {0:#x} exceeds the size limit")]
    PesTooLarge(u16),
    /// Muxed output that breaks one of the muxer's guarantees (see [`validate_muxed`]).
    #[error("ts: invalid muxer output: {0}")]
    Invalid(String),
    /// The publisher's codec data could not be converted.
    #[error("ts: {0}")]
    Codec(#[from] crate::codec::CodecError),
}

/// CRC-32/MPEG-2 (polynomial 0x04c11db7, no reflection, initial value all ones, no final
/// xor), the checksum of PSI sections (13818-1 annex A).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = (i as u32) << 24;
            let mut k = 0;
            while k < 8 {
                c = if c & 0x8000_0000 != 0 {
                    c << 1 ^ 0x04c1_1db7
                } else {
                    c << 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc = crc << 8 ^ TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Turns RTMP's 32-bit millisecond timestamps into a continuous 64-bit timeline.
///
/// RTMP time wraps after 2^32 ms (49.7 days). Each timestamp is taken as the nearest
/// instant to the previous one (a step of less than 2^31 ms forwards or backwards), so a
/// wrap continues the timeline instead of jumping back 49 days, and a slightly late
/// timestamp (audio behind video) stays slightly earlier. Converting to 90 kHz happens after
/// this, and only then is the value reduced to TS's 33 bits.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    last: Option<(u32, i64)>,
}

impl Timeline {
    /// A timeline whose first timestamp is taken at face value.
    pub fn new() -> Self {
        Self::default()
    }

    /// The unwrapped value of `ts`.
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let v = match self.last {
            None => i64::from(ts),
            Some((last, last_v)) => last_v + i64::from(ts.wrapping_sub(last) as i32),
        };
        self.last = Some((ts, v));
        v
    }

    /// Forget the history (a new publish starts its own time).
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Milliseconds on the unwrapped timeline to a 33-bit 90 kHz timestamp.
pub fn ms_to_ts90(ms: i64) -> u64 {
    (ms.saturating_mul(TICKS_PER_MS)).rem_euclid(TIMESTAMP_MODULUS) as u64
}

/// Signed distance `a - b` between two 33-bit timestamps, assuming they are less than
/// 2^32 ticks (13 hours) apart.
pub fn ts90_diff(a: u64, b: u64) -> i64 {
    let d = (a as i64 - b as i64).rem_euclid(TIMESTAMP_MODULUS);
    if d >= TIMESTAMP_MODULUS / 2 {
        d - TIMESTAMP_MODULUS
    } else {
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc() {
        // The CRC-32/MPEG-2 check value.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        // A section followed by its CRC checks to zero.
        let mut s = b"section".to_vec();
        s.extend_from_slice(&crc32_mpeg2(b"section").to_be_bytes());
        assert_eq!(crc32_mpeg2(&s), 0);
    }

    #[test]
    fn timeline_unwraps_rtmp_time() {
        let mut t = Timeline::new();
        assert_eq!(t.unwrap(u32::MAX - 40), u32::MAX as i64 - 40);
        assert_eq!(t.unwrap(u32::MAX - 60), u32::MAX as i64 - 60);
        // Wrap: 2^32 + 5 instead of 5.
        assert_eq!(t.unwrap(5), (1i64 << 32) + 5);
        // A late timestamp from before the wrap stays before it.
        assert_eq!(t.unwrap(u32::MAX), u32::MAX as i64);
        assert_eq!(t.unwrap(45), (1i64 << 32) + 45);
        t.reset();
        assert_eq!(t.unwrap(0), 0);
        // Starting near zero, a small step back goes negative rather than 49 days ahead.
        assert_eq!(t.unwrap(u32::MAX), -1);
    }

    #[test]
    fn ts90() {
        assert_eq!(ms_to_ts90(1000), 90_000);
        assert_eq!(ms_to_ts90(-1), (1 << 33) - 90);
        // Continuous time across the 33-bit wrap (26.5 hours).
        let wrap_ms = (1i64 << 33) / 90;
        let a = ms_to_ts90(wrap_ms - 10);
        let b = ms_to_ts90(wrap_ms + 10);
        assert!(b < a);
        assert_eq!(ts90_diff(b, a), 20 * 90);
        assert_eq!(ts90_diff(a, b), -20 * 90);
        // RTMP time past 2^32 ms keeps counting in 90 kHz (mod 2^33).
        let mut t = Timeline::new();
        t.unwrap(u32::MAX - 39);
        let after = t.unwrap(0);
        assert_eq!(
            ts90_diff(ms_to_ts90(after), ms_to_ts90(u32::MAX as i64 - 39)),
            40 * 90
        );
    }
}
