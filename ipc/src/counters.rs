//! Counters shared by the processes of the tree, in a small mapped file: each stream worker
//! owns one slot and writes its open connection count there; anyone reads the sum. This is
//! how `max_connections` stays a limit for the whole server rather than per worker.
//!
//! A slot belongs to one worker index: a restarted worker resets its own slot, so a crash
//! cannot leak counts.

use memmap2::MmapRaw;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of slots (worker indexes 0..SLOTS).
pub const SLOTS: usize = 256;
const BYTES: usize = SLOTS * 8;

/// The mapped counters.
#[derive(Debug)]
pub struct SharedCounters {
    map: MmapRaw,
}

impl SharedCounters {
    /// Create (or reset to zero) the file at `path` and map it (the master does this).
    pub fn create(path: &Path) -> io::Result<SharedCounters> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        f.set_len(BYTES as u64)?;
        Self::map(&f)
    }

    /// Map an existing counters file (the workers do this).
    pub fn open(path: &Path) -> io::Result<SharedCounters> {
        let f = OpenOptions::new().read(true).write(true).open(path)?;
        if f.metadata()?.len() < BYTES as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "counters file too short",
            ));
        }
        Self::map(&f)
    }

    fn map(f: &std::fs::File) -> io::Result<SharedCounters> {
        let map = MmapRaw::map_raw(f)?;
        if map.len() < BYTES || map.as_ptr() as usize % 8 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad counters mapping",
            ));
        }
        Ok(SharedCounters { map })
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        let i = i % SLOTS;
        // SAFETY: the mapping is at least BYTES long and 8-byte aligned (checked in `map`),
        // lives as long as `self`, and is only ever accessed through AtomicU64s of the same
        // size and alignment, by every process that maps it.
        unsafe { &*(self.map.as_ptr().add(i * 8) as *const AtomicU64) }
    }

    /// Set slot `i` (a worker's own connection count).
    pub fn set(&self, i: usize, v: u64) {
        self.slot(i).store(v, Ordering::Relaxed);
    }

    /// Sum of every slot.
    pub fn sum(&self) -> u64 {
        (0..SLOTS)
            .map(|i| self.slot(i).load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_between_two_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        let a = SharedCounters::create(&p).unwrap();
        let b = SharedCounters::open(&p).unwrap();
        a.set(0, 3);
        b.set(1, 4);
        assert_eq!(a.sum(), 7);
        assert_eq!(b.sum(), 7);
        b.set(1, 0);
        assert_eq!(a.sum(), 3);
        // Recreating resets.
        let c = SharedCounters::create(&p).unwrap();
        assert_eq!(c.sum(), 0);
        let short = dir.path().join("short");
        std::fs::write(&short, b"x").unwrap();
        assert!(SharedCounters::open(&short).is_err());
    }
}
