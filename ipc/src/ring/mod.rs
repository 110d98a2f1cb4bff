//! Shared-memory rings: one per live stream, written by backsource, read by every stream
//! worker and by httpd (DESIGN.md, "Media path: shared-memory rings").
//!
//! This is the cross-process form of the log of a reader's source (`srs_live::source`): a
//! log of media messages with sequence numbers, the newest metadata and sequence headers
//! kept aside, and the sequence number of the newest keyframe (where a new reader starts:
//! the GOP cache). A writer that needs more room moves the stream to a bigger ring at the
//! same path ([`RingWriter::grow`]); its readers follow ([`RingReader::successor`]). There is
//! one [`RingWriter`] and any number of [`RingReader`]s, each holding its own cursor (a
//! sequence number). The writer never waits for a reader: a reader that falls a whole ring
//! behind is told so ([`ReadResult::Lapped`]) and jumps to [`RingReader::keyframe_seq`].
//!
//! # Using it
//!
//! ```
//! use srs_ipc::ring::{flags, ReadResult, RingConfig, RingReader, RingWriter, TYPE_VIDEO};
//! use std::time::Duration;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join(srs_ipc::ring::ring_file_name("__defaultVhost__/live/doc"));
//! // backsource
//! let mut w = RingWriter::create(&path, RingConfig::default()).unwrap();
//! w.set_publishing(true, 1);
//! w.push(0, TYPE_VIDEO, flags::KEYFRAME, b"frame").unwrap();
//! // a stream worker: start at the GOP, copy each message out once, sleep when caught up
//! let r = RingReader::open(&path).unwrap();
//! let mut cursor = r.keyframe_seq().unwrap_or(r.next_seq());
//! let mut buf = Vec::new();
//! loop {
//!     let seen = r.wake_counter(); // before looking, so no push is missed
//!     match r.read(cursor, &mut buf) {
//!         ReadResult::Message { timestamp, type_id, flags: _ } => {
//!             cursor += 1; // hand (timestamp, type_id, buf) to the players, as shared bytes
//!             # let _ = (timestamp, type_id);
//!             # break;
//!         }
//!         ReadResult::NotYet => r.wait(seen, Some(Duration::from_secs(1))),
//!         ReadResult::Lapped { .. } => {
//!             cursor = r.keyframe_seq().filter(|&k| k > cursor).unwrap_or(r.next_seq());
//!         }
//!         ReadResult::Corrupt => break,
//!     }
//! }
//! ```
//!
//! `wait` blocks the calling thread (in the kernel, using no CPU): an async process runs its
//! ring readers on a thread of their own (or `spawn_blocking`) and forwards what they copy.
//!
//! # File and memory layout
//!
//! A ring is a regular file (in `/dev/shm`, or any directory the caller picks) mapped shared
//! by every process. All offsets are in bytes from the start of the file; every multi-byte
//! field is a native-endian, naturally aligned `u64` (or `u32` where said) and is only ever
//! accessed as an atomic of that size, by every process.
//!
//! ```text
//! 0      header, 4096 bytes
//!        0    magic "SRS-RING"            u64 (immutable after create)
//!        8    layout version (LAYOUT_VERSION)
//!        16   index_slots                 (power of two)
//!        24   data_bytes                  (multiple of 4096)
//!        32   aside_bytes                 (capacity of each header kept aside, multiple of 8)
//!        40   file_bytes                  (whole file; must equal the file's length)
//!        48   writer pid
//!        -- cache line: the writer's counters --
//!        64   next_seq     sequence number the next push gets (published last, Release)
//!        72   reserved     data reservation counter: absolute end of the last data written
//!        80   oldest_seq   hint: oldest message whose slot and data are still intact
//!        88   keyframe_seq newest keyframe still in the ring, u64::MAX for none
//!        96   state        generation | publishing << 63
//!        104  closed       1 once the writer is gone
//!        -- cache line: wake-ups (u32 fields, futex) --
//!        128  wake     u32, incremented on every push and state change (the futex word)
//!        132  waiters  u32, readers inside `wait`
//!        -- cache line: headers kept aside --
//!        192  aside seqlock counter (odd while the writer updates the block)
//!        200  3 × { seq (u64::MAX: none), len | timestamp << 32, type_id | flags << 8 }
//!             in the order metadata, video sequence header, audio sequence header
//! 4096   index: index_slots slots of 32 bytes, slot = seq % index_slots
//!             { seq (u64::MAX while empty or being rewritten), data position,
//!               len | timestamp << 32, type_id | flags << 8 }
//!        (rounded up to 4096)
//! A      aside payloads: 3 × aside_bytes, same order as the descriptors (rounded up to 4096)
//! D      data area: data_bytes
//! ```
//!
//! **Data area.** Payloads are written back to back at an *absolute position* that only grows
//! (the reservation counter); the byte at absolute position `p` lives at `D + p % data_bytes`.
//! Each payload starts on an 8-byte boundary and is stored as whole 8-byte words (the last one
//! zero-padded). A payload never crosses the end of the data area: when it would, the writer
//! pads to the end and starts it at offset 0 of the next lap. So a payload is one contiguous
//! run of words, and the largest payload is `data_bytes / 2`.
//!
//! **Why a reader never sees torn data.** A push (1) raises `reserved` to the end of the
//! region it will fill and marks the slot it will reuse as being rewritten (`u64::MAX`), then
//! a Release fence; (2) writes the payload words and the slot fields; (3) stores the slot's
//! sequence number (Release) and then `next_seq` (Release). A reader of `seq` checks the slot
//! holds `seq` before and after reading the slot fields (a per-slot seqlock), copies the
//! payload, then (Acquire fence) loads `reserved`: the payload at absolute position `pos` is
//! intact if `reserved <= pos + data_bytes`, because every write that could land on those bytes
//! lies at an absolute position of at least `pos + data_bytes` and was reserved before it was
//! made. A copy that raced with the writer is thrown away and reported as
//! [`ReadResult::Lapped`]. The headers kept aside use one seqlock for the three of them, so
//! [`RingReader::headers`] is a consistent snapshot.
//!
//! **Wake-ups.** Readers sleep in `FUTEX_WAIT` (shared, not `_PRIVATE`: the word is in a
//! shared file mapping) on the `wake` word; the writer increments it on every change and calls
//! `FUTEX_WAKE` only when `waiters` says somebody sleeps, so a push with no sleeping reader is
//! no system call. (A reader killed inside `wait` leaves `waiters` counted: pushes then make
//! a needless, harmless `FUTEX_WAKE` until the ring is recreated.)
//!
//! **Limits of trust.** A reader copies the geometry out of the header once, when it opens the
//! ring, and checks it; values read later from shared memory (positions, lengths) are checked
//! against that private copy before use, so a corrupt or foreign file gives an error or
//! [`ReadResult::Corrupt`], never an out-of-bounds access. Truncating the file under a mapping
//! is the one thing no check can catch (the kernel sends SIGBUS): ring files are created
//! `0600` by the server user, and a new ring replaces an old one by `rename`, never by
//! truncation.

// `x % n == 0` rather than `is_multiple_of` (Rust 1.87): the workspace supports 1.80.
#![allow(unknown_lints, clippy::manual_is_multiple_of)]

mod files;
mod layout;
mod reader;
mod shm;
mod writer;

#[cfg(test)]
mod tests;

pub use files::{remove_stale, ring_file_name, RING_FILE_PREFIX};
pub use layout::LAYOUT_VERSION;
pub use reader::{wait_any, RingReader, WAIT_ANY_MAX};
pub use shm::wake_private;
pub use writer::RingWriter;

use std::path::PathBuf;

/// RTMP message type of audio.
pub const TYPE_AUDIO: u8 = 8;
/// RTMP message type of video.
pub const TYPE_VIDEO: u8 = 9;
/// RTMP message type of AMF0 data (metadata, cue points).
pub const TYPE_DATA: u8 = 18;

/// Message flags stored with each message.
pub mod flags {
    /// A video keyframe: a reader may start decoding here.
    pub const KEYFRAME: u8 = 1;
    /// An audio or video sequence header (codec configuration); kept aside.
    pub const SEQUENCE_HEADER: u8 = 2;
    /// Stream metadata (`onMetaData`); kept aside.
    pub const METADATA: u8 = 4;
}

/// Geometry of a new ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    /// Number of messages the index holds: a power of two, 2 ..= 2^24.
    pub index_slots: u32,
    /// Size of the data area: a multiple of 4096, 4 KiB ..= 16 GiB. The largest message is
    /// half of it.
    pub data_bytes: u64,
    /// Room for each of the three headers kept aside (metadata, video and audio sequence
    /// header): a multiple of 8, at most 64 MiB. A larger header still goes through the ring
    /// but is not kept aside.
    pub aside_bytes: u32,
}

impl Default for RingConfig {
    /// 8192 messages, 64 MiB of data (a few seconds of a high-bitrate stream beyond a long
    /// GOP), 1 MiB per header kept aside. Pages of a tmpfs file cost memory only once touched.
    fn default() -> Self {
        Self {
            index_slots: 8192,
            data_bytes: 64 << 20,
            aside_bytes: 1 << 20,
        }
    }
}

/// Why a ring could not be created, opened or written.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    /// A system call on the ring file failed (create, open, size, map, rename).
    #[error("ring {path}: {op}: {source}")]
    Io {
        /// The ring file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error from the system.
        source: std::io::Error,
    },
    /// The configuration given to [`RingWriter::create`] is out of range.
    #[error("invalid ring configuration: {0}")]
    Config(&'static str),
    /// The file does not start with the ring magic: not a ring (or not yet one).
    #[error("{path} is not a ring file")]
    NotARing {
        /// The file.
        path: PathBuf,
    },
    /// The file is a ring of another layout version (an older or newer server).
    #[error("{path}: ring layout version {found}, expected {expected}")]
    Version {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: u64,
        /// Version this build reads.
        expected: u64,
    },
    /// The header's sizes are out of range or disagree with each other or with the file.
    #[error("{path}: corrupt ring: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Which check failed.
        reason: &'static str,
    },
    /// A message larger than half the data area (it could never be read whole).
    #[error("message of {len} bytes exceeds the ring's limit of {max}")]
    PayloadTooLarge {
        /// Size of the refused payload.
        len: usize,
        /// Largest payload this ring takes.
        max: usize,
    },
}

/// What [`RingReader::read`] found at a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ReadResult {
    /// The message; its payload was copied into the caller's buffer.
    Message {
        /// RTMP timestamp.
        timestamp: u32,
        /// RTMP message type (8, 9, 18).
        type_id: u8,
        /// [`flags`] of the message.
        flags: u8,
    },
    /// Not pushed yet: wait and try again.
    NotYet,
    /// Overwritten: the reader fell a whole ring behind. Messages from `oldest` on were still
    /// there a moment ago; a player should rather resume at [`RingReader::keyframe_seq`].
    Lapped {
        /// Oldest sequence number that may still be read.
        oldest: u64,
    },
    /// The slot describes an impossible message (a foreign or broken writer): stop reading
    /// this ring.
    Corrupt,
}

/// One header kept aside, as of its last push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsideMessage {
    /// Sequence number it was pushed at (it may be gone from the ring since).
    pub seq: u64,
    /// RTMP timestamp.
    pub timestamp: u32,
    /// RTMP message type.
    pub type_id: u8,
    /// [`flags`] of the message.
    pub flags: u8,
    /// Body.
    pub payload: Vec<u8>,
}

/// The metadata and sequence headers of the current publish, as one consistent snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AsideHeaders {
    /// Newest message pushed with [`flags::METADATA`].
    pub metadata: Option<AsideMessage>,
    /// Newest video message pushed with [`flags::SEQUENCE_HEADER`].
    pub video: Option<AsideMessage>,
    /// Newest audio message pushed with [`flags::SEQUENCE_HEADER`].
    pub audio: Option<AsideMessage>,
}
