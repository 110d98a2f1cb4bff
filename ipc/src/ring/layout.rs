//! Offsets of the ring file (see the module docs of `ring` for the picture) and the checked
//! geometry every process derives from the header.

use super::{RingConfig, RingError};
use std::path::Path;

/// Version of the file layout; a reader refuses any other.
pub const LAYOUT_VERSION: u64 = 1;

/// "SRS-RING" as the file's first eight bytes.
pub(crate) const MAGIC: u64 = u64::from_ne_bytes(*b"SRS-RING");

pub(crate) const PAGE: u64 = 4096;
pub(crate) const HEADER_BYTES: u64 = PAGE;
pub(crate) const SLOT_BYTES: u64 = 32;
pub(crate) const SLOT_WORDS: usize = (SLOT_BYTES / 8) as usize;

pub(crate) const MAX_INDEX_SLOTS: u64 = 1 << 24;
pub(crate) const MIN_DATA_BYTES: u64 = PAGE;
pub(crate) const MAX_DATA_BYTES: u64 = 16 << 30;
pub(crate) const MAX_ASIDE_BYTES: u64 = 64 << 20;

/// "Nothing here": an empty or half-written slot, no keyframe, no header aside.
pub(crate) const NONE: u64 = u64::MAX;

// Header fields, as indexes of 8-byte words.
pub(crate) const W_MAGIC: usize = 0;
pub(crate) const W_VERSION: usize = 1;
pub(crate) const W_INDEX_SLOTS: usize = 2;
pub(crate) const W_DATA_BYTES: usize = 3;
pub(crate) const W_ASIDE_BYTES: usize = 4;
pub(crate) const W_FILE_BYTES: usize = 5;
pub(crate) const W_WRITER_PID: usize = 6;
pub(crate) const W_NEXT_SEQ: usize = 8;
pub(crate) const W_RESERVED: usize = 9;
pub(crate) const W_OLDEST: usize = 10;
pub(crate) const W_KEYFRAME: usize = 11;
pub(crate) const W_STATE: usize = 12;
pub(crate) const W_CLOSED: usize = 13;
/// Byte offsets of the two `u32` futex fields; the word holding them (index 16) is never
/// accessed as a `u64`.
pub(crate) const B_WAKE: usize = 128;
pub(crate) const B_WAITERS: usize = 132;
pub(crate) const W_ASIDE_SEQ: usize = 24;
/// First of 3 × 3 descriptor words of the headers kept aside.
pub(crate) const W_ASIDE_DESC: usize = 25;
pub(crate) const ASIDE_DESC_WORDS: usize = 3;
/// Metadata, video sequence header, audio sequence header.
pub(crate) const ASIDE_COUNT: usize = 3;

/// Top bit of the state word: publishing.
pub(crate) const PUBLISHING_BIT: u64 = 1 << 63;

// The header must hold every field above.
const _: () = assert!(((W_ASIDE_DESC + ASIDE_COUNT * ASIDE_DESC_WORDS) * 8) as u64 <= HEADER_BYTES);
const _: () = assert!(B_WAKE == 16 * 8 && B_WAITERS == B_WAKE + 4);

/// Checked geometry of a ring; every process computes it from the sizes alone, and never
/// reads it back from shared memory after opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub index_slots: u64,
    pub data_bytes: u64,
    pub aside_bytes: u64,
    /// Word index of slot 0.
    pub index_word: usize,
    /// Word index of the first aside payload.
    pub aside_word: usize,
    /// Word index of the data area.
    pub data_word: usize,
    pub file_bytes: u64,
}

fn round_up(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

impl Layout {
    /// The geometry for these sizes, or which of them is out of range.
    pub fn new(index_slots: u64, data_bytes: u64, aside_bytes: u64) -> Result<Self, &'static str> {
        if !index_slots.is_power_of_two() || !(2..=MAX_INDEX_SLOTS).contains(&index_slots) {
            return Err("index_slots must be a power of two in 2..=2^24");
        }
        if data_bytes % PAGE != 0 || !(MIN_DATA_BYTES..=MAX_DATA_BYTES).contains(&data_bytes) {
            return Err("data_bytes must be a multiple of 4096 in 4 KiB..=16 GiB");
        }
        if aside_bytes % 8 != 0 || aside_bytes > MAX_ASIDE_BYTES {
            return Err("aside_bytes must be a multiple of 8, at most 64 MiB");
        }
        // With the limits above none of this can overflow a u64, and the total (< 18 GiB)
        // fits the address space of the 64-bit targets this runs on.
        let index_off = HEADER_BYTES;
        let aside_off = index_off + round_up(index_slots * SLOT_BYTES, PAGE);
        let data_off = aside_off + round_up(ASIDE_COUNT as u64 * aside_bytes, PAGE);
        let file_bytes = data_off + data_bytes;
        if usize::try_from(file_bytes).is_err() {
            return Err("ring does not fit the address space");
        }
        Ok(Self {
            index_slots,
            data_bytes,
            aside_bytes,
            index_word: (index_off / 8) as usize,
            aside_word: (aside_off / 8) as usize,
            data_word: (data_off / 8) as usize,
            file_bytes,
        })
    }

    pub fn from_config(cfg: &RingConfig) -> Result<Self, RingError> {
        Self::new(
            u64::from(cfg.index_slots),
            cfg.data_bytes,
            u64::from(cfg.aside_bytes),
        )
        .map_err(RingError::Config)
    }

    /// Check a header read from a file of `file_len` bytes (`words` holds its first
    /// [`HEADER_BYTES`]) and derive the geometry from it.
    pub fn from_header(path: &Path, words: &[u64], file_len: u64) -> Result<Self, RingError> {
        let corrupt = |reason| RingError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if words.len() * 8 < HEADER_BYTES as usize {
            return Err(corrupt("shorter than a ring header"));
        }
        if words[W_MAGIC] != MAGIC {
            return Err(RingError::NotARing {
                path: path.to_path_buf(),
            });
        }
        if words[W_VERSION] != LAYOUT_VERSION {
            return Err(RingError::Version {
                path: path.to_path_buf(),
                found: words[W_VERSION],
                expected: LAYOUT_VERSION,
            });
        }
        let layout = Self::new(
            words[W_INDEX_SLOTS],
            words[W_DATA_BYTES],
            words[W_ASIDE_BYTES],
        )
        .map_err(corrupt)?;
        if words[W_FILE_BYTES] != layout.file_bytes {
            return Err(corrupt(
                "file size in the header disagrees with the geometry",
            ));
        }
        if file_len != layout.file_bytes {
            return Err(corrupt("file length disagrees with the header"));
        }
        Ok(layout)
    }

    pub fn slot_mask(&self) -> u64 {
        self.index_slots - 1
    }

    /// Word index of the first word of the slot that holds `seq`.
    pub fn slot_word(&self, seq: u64) -> usize {
        self.index_word + (seq & self.slot_mask()) as usize * SLOT_WORDS
    }

    /// Word index of the first word of aside payload `h`.
    pub fn aside_payload_word(&self, h: usize) -> usize {
        self.aside_word + h * (self.aside_bytes / 8) as usize
    }

    /// Largest payload: half the data area, so that padding to the end never leaves a
    /// payload without room.
    pub fn max_payload(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Word index in the mapping of absolute data position `pos` (a multiple of 8).
    pub fn data_pos_word(&self, pos: u64) -> usize {
        self.data_word + ((pos % self.data_bytes) / 8) as usize
    }

    pub fn total_words(&self) -> usize {
        (self.file_bytes / 8) as usize
    }
}

/// `len` rounded up to whole 8-byte words.
pub(crate) fn words_for(len: u64) -> u64 {
    len.div_ceil(8)
}
