//! The single writer of a ring (backsource).

use super::layout::*;
use super::shm::{futex_wake_all, Shared};
use super::{flags, RingConfig, RingError, TYPE_AUDIO, TYPE_VIDEO};
use memmap2::MmapOptions;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering::*};

/// Index of a header kept aside.
const ASIDE_METADATA: usize = 0;
const ASIDE_VIDEO: usize = 1;
const ASIDE_AUDIO: usize = 2;

/// The writing side of a ring. There is one per ring; it never waits for a reader.
///
/// Dropping it marks the ring closed, wakes the readers, and removes the file unless
/// [`persist`](Self::persist) was called (readers that have it mapped keep reading).
#[derive(Debug)]
pub struct RingWriter {
    shm: Shared,
    path: PathBuf,
    persist: bool,
    // Private copies of what the writer publishes: it never reads its decisions back from
    // shared memory, which any process mapping the file could scribble on.
    next_seq: u64,
    reserved: u64,
    oldest: u64,
    keyframe: u64,
    state: u64,
    /// Absolute data position of each message still in the index, by slot.
    positions: Vec<u64>,
}

impl RingWriter {
    /// Create the ring file at `path`, replacing any stale one, sized and initialised.
    ///
    /// The file is built under a temporary name in the same directory and renamed into place,
    /// so a reader never opens a half-initialised ring, and a reader still mapping a stale
    /// ring keeps its (now unlinked) file instead of seeing it truncated under it.
    pub fn create(path: &Path, cfg: RingConfig) -> Result<RingWriter, RingError> {
        let w = Self::build(path, cfg, 0)?;
        w.place()?;
        Ok(w)
    }

    /// A new ring for `path` whose first message will be `first_seq`, still under its
    /// temporary name ([`place`](Self::place) renames it into place).
    fn build(path: &Path, cfg: RingConfig, first_seq: u64) -> Result<RingWriter, RingError> {
        let layout = Layout::from_config(&cfg)?;
        let io = |op| {
            let path = path.to_path_buf();
            move |source| RingError::Io { path, op, source }
        };
        let tmp = tmp_path(path);
        // A leftover of a crashed create by a process that had our pid.
        let _ = fs::remove_file(&tmp);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create"))?;
        let built = (|| {
            file.set_len(layout.file_bytes).map_err(io("set size"))?;
            // Reserve the pages now: on a full tmpfs, touching an unbacked page of the
            // mapping later would kill the writer with SIGBUS; here it is an error instead.
            nix::fcntl::posix_fallocate(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
                layout.file_bytes as i64,
            )
            .map_err(|e| std::io::Error::from(e))
            .map_err(io("reserve space"))?;
            // Populated: the pages are the stream's memory from now on (fallocate took
            // them from tmpfs already), so they are mapped at once and show in the
            // writer's PSS from the start instead of growing into it as the ring fills,
            // and the writer takes no page fault on its hot path.
            let map = MmapOptions::new()
                .len(layout.file_bytes as usize)
                .populate()
                .map_raw(&file)
                .map_err(io("map"))?;
            let shm = Shared::new(map, layout);
            init_header(&shm, first_seq);
            Ok(shm)
        })();
        match built {
            Ok(shm) => Ok(RingWriter {
                shm,
                path: path.to_path_buf(),
                persist: false,
                next_seq: first_seq,
                reserved: 0,
                oldest: first_seq,
                keyframe: NONE,
                state: 0,
                positions: vec![0; layout.index_slots as usize],
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Rename the ring built by [`build`](Self::build) into place.
    fn place(&self) -> Result<(), RingError> {
        let tmp = tmp_path(&self.path);
        fs::rename(&tmp, &self.path).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            RingError::Io {
                path: self.path.clone(),
                op: "rename into place",
                source,
            }
        })
    }

    /// The geometry of this ring.
    pub fn config(&self) -> RingConfig {
        let l = self.shm.layout;
        RingConfig {
            index_slots: l.index_slots as u32,
            data_bytes: l.data_bytes,
            aside_bytes: l.aside_bytes as u32,
        }
    }

    /// Move the stream to a ring of geometry `cfg` at the same path; this writer then
    /// writes there.
    ///
    /// The new ring continues this one: the same sequence numbers, state and headers kept
    /// aside, and a copy of the messages from the newest keyframe on (the GOP a new reader
    /// starts with). It is renamed into place, then the old ring is closed. A reader that
    /// finds its ring closed while still publishing reopens the path and, when it names a
    /// ring of the same generation, reads on there at its cursor
    /// ([`RingReader::successor`](super::RingReader::successor)); a cursor older than the
    /// copy finishes in the old ring first, where nothing is overwritten any more. On
    /// failure (no room for the new ring) nothing changed.
    pub fn grow(&mut self, cfg: RingConfig) -> Result<(), RingError> {
        let first = if self.keyframe != NONE && self.keyframe >= self.oldest {
            self.keyframe
        } else {
            self.next_seq
        };
        let mut new = Self::build(&self.path, cfg, first)?;
        // From here on, `new` must never remove the file at `path` (the old ring's until
        // the rename, then its own, which a later drop removes).
        new.persist = true;
        let copied = (|| {
            let mut buf = Vec::new();
            for seq in first..self.next_seq {
                let (timestamp, type_id, f) = self.message(seq, &mut buf);
                new.push_indexed(timestamp, type_id, f, &buf)?;
            }
            new.copy_aside_from(self);
            new.keyframe = self.keyframe;
            new.shm.word(W_KEYFRAME).store(self.keyframe, Release);
            new.state = self.state;
            new.shm.word(W_STATE).store(self.state, Release);
            new.place()
        })();
        if let Err(e) = copied {
            let _ = fs::remove_file(tmp_path(&self.path));
            return Err(e);
        }
        new.persist = self.persist;
        let mut old = std::mem::replace(self, new);
        // The path names the new ring now: the old one only marks itself closed (which
        // wakes its readers) as it drops.
        old.persist = true;
        Ok(())
    }

    /// Read back message `seq` (still in this ring: the caller checked) into `out`.
    fn message(&self, seq: u64, out: &mut Vec<u8>) -> (u32, u8, u8) {
        let l = self.shm.layout;
        let w = self.shm.words();
        let slot = l.slot_word(seq);
        let pos = self.positions[(seq & l.slot_mask()) as usize];
        let len_ts = w[slot + 2].load(Relaxed);
        let ty_fl = w[slot + 3].load(Relaxed);
        self.shm
            .copy_out(l.data_pos_word(pos), (len_ts & 0xffff_ffff) as usize, out);
        ((len_ts >> 32) as u32, ty_fl as u8, (ty_fl >> 8) as u8)
    }

    /// Copy the headers kept aside, with their sequence numbers, from `old`.
    fn copy_aside_from(&self, old: &RingWriter) {
        let (ow, nw) = (old.shm.words(), self.shm.words());
        let mut buf = Vec::new();
        self.write_aside(|shm| {
            for h in 0..ASIDE_COUNT {
                let d = W_ASIDE_DESC + h * ASIDE_DESC_WORDS;
                let seq = ow[d].load(Relaxed);
                let len_ts = ow[d + 1].load(Relaxed);
                let len = len_ts & 0xffff_ffff;
                if seq == NONE || len > shm.layout.aside_bytes {
                    nw[d].store(NONE, Relaxed);
                    continue;
                }
                old.shm
                    .copy_out(old.shm.layout.aside_payload_word(h), len as usize, &mut buf);
                shm.copy_in(shm.layout.aside_payload_word(h), &buf);
                nw[d + 1].store(len_ts, Relaxed);
                nw[d + 2].store(ow[d + 2].load(Relaxed), Relaxed);
                nw[d].store(seq, Relaxed);
            }
        });
    }

    /// The ring file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keep the file when this writer is dropped (it is still marked closed).
    pub fn persist(&mut self) {
        self.persist = true;
    }

    /// Sequence number the next push gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Largest payload [`push`](Self::push) takes: half the data area.
    pub fn max_payload(&self) -> usize {
        self.shm.layout.max_payload() as usize
    }

    /// Append a message and return its sequence number. Never waits for a reader: the oldest
    /// messages are overwritten. Metadata ([`flags::METADATA`]) and video / audio sequence
    /// headers ([`flags::SEQUENCE_HEADER`] on type 9 / 8) are also kept aside, replacing the
    /// previous ones; any other message flagged [`flags::KEYFRAME`] becomes the newest
    /// keyframe. Wakes sleeping readers.
    ///
    /// Fails only for a payload larger than [`max_payload`](Self::max_payload).
    pub fn push(
        &mut self,
        timestamp: u32,
        type_id: u8,
        flags: u8,
        payload: &[u8],
    ) -> Result<u64, RingError> {
        let seq = self.push_indexed(timestamp, type_id, flags, payload)?;
        let len = payload.len() as u64;
        let w = self.shm.words();
        let aside = if flags & flags::METADATA != 0 {
            Some(ASIDE_METADATA)
        } else if flags & flags::SEQUENCE_HEADER != 0 && type_id == TYPE_VIDEO {
            Some(ASIDE_VIDEO)
        } else if flags & flags::SEQUENCE_HEADER != 0 && type_id == TYPE_AUDIO {
            Some(ASIDE_AUDIO)
        } else {
            None
        };
        if let Some(h) = aside {
            self.write_aside(|shm| {
                let d = W_ASIDE_DESC + h * ASIDE_DESC_WORDS;
                if len <= shm.layout.aside_bytes {
                    shm.copy_in(shm.layout.aside_payload_word(h), payload);
                    w[d].store(seq, Relaxed);
                } else {
                    // Too large to keep aside: better none than a stale one.
                    w[d].store(NONE, Relaxed);
                }
                w[d + 1].store(len | u64::from(timestamp) << 32, Relaxed);
                w[d + 2].store(u64::from(type_id) | u64::from(flags) << 8, Relaxed);
            });
        } else if flags & flags::KEYFRAME != 0 {
            self.keyframe = seq;
            w[W_KEYFRAME].store(seq, Release);
        }
        self.notify();
        Ok(seq)
    }

    /// Append a message to the index and the data area, and publish it (`next_seq`); no
    /// header aside, no keyframe, no wake-up.
    fn push_indexed(
        &mut self,
        timestamp: u32,
        type_id: u8,
        flags: u8,
        payload: &[u8],
    ) -> Result<u64, RingError> {
        let l = self.shm.layout;
        let len = payload.len() as u64;
        if len > l.max_payload() {
            return Err(RingError::PayloadTooLarge {
                len: payload.len(),
                max: l.max_payload() as usize,
            });
        }
        let seq = self.next_seq;
        // Where the payload goes: right after the previous one, or at the start of the next
        // lap of the data area if it would cross the end (the rest of this lap is padding).
        let mut pos = self.reserved;
        let off = pos % l.data_bytes;
        let bytes = words_for(len) * 8;
        if off + bytes > l.data_bytes {
            pos += l.data_bytes - off;
        }
        let end = pos + bytes;
        // Messages whose data or slot this push overwrites leave the ring.
        while self.oldest < seq
            && (seq - self.oldest >= l.index_slots
                || end > self.positions[(self.oldest & l.slot_mask()) as usize] + l.data_bytes)
        {
            self.oldest += 1;
        }
        let w = self.shm.words();
        w[W_OLDEST].store(self.oldest, Relaxed);
        if self.keyframe != NONE && self.keyframe < self.oldest {
            self.keyframe = NONE;
            w[W_KEYFRAME].store(NONE, Relaxed);
        }
        // Seqlock, write side: announce what is about to be overwritten (the data up to
        // `end`, the slot), then a Release fence so that a reader that observes any of the
        // writes below also observes these announcements once it fences (Acquire) and
        // re-checks them.
        let slot = l.slot_word(seq);
        w[W_RESERVED].store(end, Relaxed);
        w[slot].store(NONE, Relaxed);
        fence(Release);
        self.reserved = end;
        self.shm.copy_in(l.data_pos_word(pos), payload);
        w[slot + 1].store(pos, Relaxed);
        w[slot + 2].store(len | u64::from(timestamp) << 32, Relaxed);
        w[slot + 3].store(u64::from(type_id) | u64::from(flags) << 8, Relaxed);
        // Release: a reader that sees `seq` in the slot sees the payload and fields above.
        w[slot].store(seq, Release);
        self.positions[(seq & l.slot_mask()) as usize] = pos;
        self.next_seq = seq + 1;
        // Release: a reader that sees `next_seq` > seq sees the slot written.
        w[W_NEXT_SEQ].store(self.next_seq, Release);
        Ok(seq)
    }

    /// Publish the stream's state: whether a publisher is on, and a generation number that
    /// changes on each (re)publish (below 2^63). When publishing stops or the generation
    /// changes, the headers kept aside and the keyframe are cleared: they belong to the
    /// publish that ended, and a reader must not start the next one with them. Wakes readers.
    pub fn set_publishing(&mut self, publishing: bool, generation: u64) {
        let generation = generation & !PUBLISHING_BIT;
        let state = generation | if publishing { PUBLISHING_BIT } else { 0 };
        if state == self.state {
            return;
        }
        let w = self.shm.words();
        if !publishing || generation != self.state & !PUBLISHING_BIT {
            self.keyframe = NONE;
            w[W_KEYFRAME].store(NONE, Relaxed);
            self.write_aside(|_| {
                for h in 0..ASIDE_COUNT {
                    w[W_ASIDE_DESC + h * ASIDE_DESC_WORDS].store(NONE, Relaxed);
                }
            });
        }
        self.state = state;
        w[W_STATE].store(state, Release);
        self.notify();
    }

    /// Update the headers kept aside under their seqlock.
    fn write_aside(&self, f: impl FnOnce(&Shared)) {
        let lock = self.shm.word(W_ASIDE_SEQ);
        let s = lock.load(Relaxed);
        // Odd: being written. The fence orders this before the writes `f` makes, for a
        // reader that observes one of them (it then sees the odd or a later count).
        lock.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        f(&self.shm);
        lock.store(s.wrapping_add(2), Release);
    }

    /// Bump the futex word, and wake sleepers if there are any.
    fn notify(&self) {
        // SeqCst on both sides (here: bump, then read `waiters`; in `wait`: count in, then
        // read the word) so that either we see the sleeper and wake it, or it sees the new
        // value and does not sleep. And if it is between reading and sleeping, FUTEX_WAIT
        // compares the word again in the kernel.
        self.shm.wake().fetch_add(1, SeqCst);
        if self.shm.waiters().load(SeqCst) != 0 {
            futex_wake_all(self.shm.wake());
        }
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        self.shm.word(W_CLOSED).store(1, Release);
        self.notify();
        if !self.persist {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// The temporary name a ring is built under, beside `path`.
fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    PathBuf::from(tmp)
}

/// Fill in a fresh (all-zero) ring whose first message will be `first_seq`.
fn init_header(shm: &Shared, first_seq: u64) {
    let l = shm.layout;
    let w = shm.words();
    w[W_VERSION].store(LAYOUT_VERSION, Relaxed);
    w[W_INDEX_SLOTS].store(l.index_slots, Relaxed);
    w[W_DATA_BYTES].store(l.data_bytes, Relaxed);
    w[W_ASIDE_BYTES].store(l.aside_bytes, Relaxed);
    w[W_FILE_BYTES].store(l.file_bytes, Relaxed);
    w[W_WRITER_PID].store(u64::from(std::process::id()), Relaxed);
    w[W_KEYFRAME].store(NONE, Relaxed);
    w[W_NEXT_SEQ].store(first_seq, Relaxed);
    w[W_OLDEST].store(first_seq, Relaxed);
    for h in 0..ASIDE_COUNT {
        w[W_ASIDE_DESC + h * ASIDE_DESC_WORDS].store(NONE, Relaxed);
    }
    for s in 0..l.index_slots {
        w[l.slot_word(s)].store(NONE, Relaxed);
    }
    // The magic last: a file with the magic is a complete ring (the rename that publishes it
    // comes after anyway).
    w[W_MAGIC].store(MAGIC, Release);
}
