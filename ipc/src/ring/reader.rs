//! A reader of a ring (a stream worker, httpd). Each reader keeps its own cursor: a sequence
//! number it passes to [`RingReader::read`].

use super::layout::*;
use super::shm::{futex_wait, futex_waitv, Shared, WAITV_MAX};
use super::{AsideHeaders, AsideMessage, ReadResult, RingError};
use memmap2::MmapOptions;
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering::*};
use std::time::Duration;

/// How many times [`RingReader::headers`] retries a snapshot torn by the writer before it
/// gives up (the writer holds the seqlock for a copy of a few KB; it would take a writer
/// that died in the middle to exhaust this).
const ASIDE_TRIES: u32 = 1000;

/// The reading side of a ring. Cheap to share between threads (`&self` everywhere).
#[derive(Debug)]
pub struct RingReader {
    shm: Shared,
    path: PathBuf,
    /// Device and inode of the file mapped, to tell when the path names another one.
    file_id: (u64, u64),
}

impl RingReader {
    /// Open and map the ring at `path`. The header is read and checked (magic, layout
    /// version, every size against the others and against the file's length) before anything
    /// is mapped; a file that is not a complete ring of this version is an error.
    pub fn open(path: &Path) -> Result<RingReader, RingError> {
        let io = |op| {
            let path = path.to_path_buf();
            move |source| RingError::Io { path, op, source }
        };
        // Read-write: a sleeping reader counts itself in the header.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(io("open"))?;
        let meta = file.metadata().map_err(io("stat"))?;
        if !meta.is_file() {
            return Err(RingError::NotARing {
                path: path.to_path_buf(),
            });
        }
        let mut head = vec![0u8; HEADER_BYTES as usize];
        let mut got = 0;
        while got < head.len() {
            match file.read_at(&mut head[got..], got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io("read header")(e)),
            }
        }
        let words: Vec<u64> = head[..got]
            .chunks_exact(8)
            .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default()))
            .collect();
        if words.first() != Some(&MAGIC) {
            return Err(RingError::NotARing {
                path: path.to_path_buf(),
            });
        }
        let layout = Layout::from_header(path, &words, meta.len())?;
        let map = MmapOptions::new()
            .len(layout.file_bytes as usize)
            .map_raw(&file)
            .map_err(io("map"))?;
        Ok(RingReader {
            shm: Shared::new(map, layout),
            path: path.to_path_buf(),
            file_id: (meta.dev(), meta.ino()),
        })
    }

    /// The ring file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sequence number the next push will get: a reader at this cursor is live.
    pub fn next_seq(&self) -> u64 {
        self.shm.word(W_NEXT_SEQ).load(Acquire)
    }

    /// Oldest message still in the ring (a hint: it may be overwritten at any moment).
    pub fn oldest_seq(&self) -> u64 {
        self.shm.word(W_OLDEST).load(Acquire)
    }

    /// The newest keyframe of the current publish, if it is still in the ring: where a new or
    /// lapped reader starts. It may be overwritten before it is read (then `read` says
    /// `Lapped` and the caller asks again); `None` means: start at [`next_seq`](Self::next_seq)
    /// and drop video until a keyframe.
    pub fn keyframe_seq(&self) -> Option<u64> {
        let k = self.shm.word(W_KEYFRAME).load(Acquire);
        (k != NONE && k >= self.oldest_seq() && k < self.next_seq()).then_some(k)
    }

    /// Whether a publisher is on, and the generation of the current (or last) publish.
    pub fn state(&self) -> (bool, u64) {
        let s = self.shm.word(W_STATE).load(Acquire);
        (s & PUBLISHING_BIT != 0, s & !PUBLISHING_BIT)
    }

    /// Whether the writer has gone (dropped its [`RingWriter`](super::RingWriter)). A writer
    /// that crashed does not say so; see [`writer_pid`](Self::writer_pid).
    pub fn is_closed(&self) -> bool {
        self.shm.word(W_CLOSED).load(Acquire) != 0
    }

    /// Whether this ring is finished for good: its writer closed it, or the path now names
    /// another file (a new writer replaced it, for example after backsource restarted). The
    /// caller then reopens the path. Costs a `stat`: call it when a wait timed out, not per
    /// message.
    pub fn is_stale(&self) -> bool {
        self.is_closed()
            || std::fs::metadata(&self.path).map_or(true, |m| (m.dev(), m.ino()) != self.file_id)
    }

    /// The ring that took over from this one when its writer grew it
    /// ([`RingWriter::grow`](super::RingWriter::grow)): this ring is closed while still
    /// publishing, and the path names another ring of the same generation. The caller reads
    /// on there at the same cursor, once it has read everything here. `None` for a ring
    /// that ended any other way (unpublished, replaced by another publish, writer gone).
    pub fn successor(&self) -> Option<RingReader> {
        let (publishing, generation) = self.state();
        if !self.is_closed() || !publishing {
            return None;
        }
        let next = RingReader::open(&self.path).ok()?;
        (next.file_id != self.file_id && next.state() == (true, generation)).then_some(next)
    }

    /// Process id of the writer that created the ring.
    pub fn writer_pid(&self) -> u32 {
        self.shm.word(W_WRITER_PID).load(Relaxed) as u32
    }

    /// Largest payload the ring holds.
    pub fn max_payload(&self) -> usize {
        self.shm.layout.max_payload() as usize
    }

    /// Copy message `seq` into `out` (replacing its contents). `out` holds exactly the pushed
    /// bytes when this returns [`ReadResult::Message`], and is unspecified otherwise.
    pub fn read(&self, seq: u64, out: &mut Vec<u8>) -> ReadResult {
        let l = self.shm.layout;
        let w = self.shm.words();
        if seq >= w[W_NEXT_SEQ].load(Acquire) {
            return ReadResult::NotYet;
        }
        // Seqlock on the slot: it must hold `seq` before and after we read its fields. The
        // Acquire load makes the writes of that push visible (payload included).
        let slot = l.slot_word(seq);
        let s1 = w[slot].load(Acquire);
        if s1 != seq {
            return if s1 != NONE && s1 < seq {
                // `next_seq` said `seq` was written, the slot says it never was.
                ReadResult::Corrupt
            } else {
                self.lapped(seq)
            };
        }
        let pos = w[slot + 1].load(Relaxed);
        let len_ts = w[slot + 2].load(Relaxed);
        let ty_fl = w[slot + 3].load(Relaxed);
        fence(Acquire);
        if w[slot].load(Relaxed) != seq {
            return self.lapped(seq);
        }
        let len = len_ts & 0xffff_ffff;
        let bytes = words_for(len) * 8;
        // The writer never stores such values; a foreign process might. Checked before they
        // address anything.
        if len > l.max_payload() || pos % 8 != 0 || pos % l.data_bytes + bytes > l.data_bytes {
            return ReadResult::Corrupt;
        }
        self.shm.copy_out(l.data_pos_word(pos), len as usize, out);
        // Seqlock on the data: if any word we copied was already overwritten by a later push,
        // that push had raised `reserved` past `pos + data_bytes` before writing (and fenced);
        // our Acquire fence makes that raise visible here.
        fence(Acquire);
        let reserved = w[W_RESERVED].load(Relaxed);
        if reserved > pos.saturating_add(l.data_bytes) {
            return self.lapped(seq);
        }
        ReadResult::Message {
            timestamp: (len_ts >> 32) as u32,
            type_id: ty_fl as u8,
            flags: (ty_fl >> 8) as u8,
        }
    }

    fn lapped(&self, seq: u64) -> ReadResult {
        let l = self.shm.layout;
        let head = self.next_seq();
        let oldest = self
            .oldest_seq()
            .max(head.saturating_sub(l.index_slots))
            .max(seq + 1)
            .min(head);
        ReadResult::Lapped { oldest }
    }

    /// The metadata and sequence headers kept aside, as one consistent snapshot (empty if the
    /// writer died in the middle of updating them).
    pub fn headers(&self) -> AsideHeaders {
        let l = self.shm.layout;
        let w = self.shm.words();
        let lock = &w[W_ASIDE_SEQ];
        for _ in 0..ASIDE_TRIES {
            let s1 = lock.load(Acquire);
            if s1 % 2 == 1 {
                std::thread::yield_now();
                continue;
            }
            let mut got: [Option<AsideMessage>; ASIDE_COUNT] = [None, None, None];
            for (h, slot) in got.iter_mut().enumerate() {
                let d = W_ASIDE_DESC + h * ASIDE_DESC_WORDS;
                let seq = w[d].load(Relaxed);
                let len_ts = w[d + 1].load(Relaxed);
                let ty_fl = w[d + 2].load(Relaxed);
                let len = len_ts & 0xffff_ffff;
                // A length beyond the room is a torn read (or a foreign writer): the
                // seqlock check below decides which; never copy out of bounds.
                if seq == NONE || len > l.aside_bytes {
                    continue;
                }
                let mut payload = Vec::new();
                self.shm
                    .copy_out(l.aside_payload_word(h), len as usize, &mut payload);
                *slot = Some(AsideMessage {
                    seq,
                    timestamp: (len_ts >> 32) as u32,
                    type_id: ty_fl as u8,
                    flags: (ty_fl >> 8) as u8,
                    payload,
                });
            }
            fence(Acquire);
            if lock.load(Relaxed) == s1 {
                let [metadata, video, audio] = got;
                return AsideHeaders {
                    metadata,
                    video,
                    audio,
                };
            }
        }
        AsideHeaders::default()
    }

    /// Readers of this ring asleep in `wait` right now (all processes).
    #[cfg(test)]
    pub(crate) fn sleeping(&self) -> u32 {
        self.shm.waiters().load(SeqCst)
    }

    /// Current value of the wake-up counter. Take it *before* looking for work, then pass it to
    /// [`wait`](Self::wait): a push in between makes `wait` return at once.
    pub fn wake_counter(&self) -> u32 {
        self.shm.wake().load(SeqCst)
    }

    /// Sleep until the writer pushed or changed state since `seen` was read (by
    /// [`wake_counter`](Self::wake_counter)), or `timeout` passed (`None`: no limit). May
    /// return early (a signal); callers look again and wait again. Sleeps in the kernel
    /// (futex): an idle reader costs no CPU.
    pub fn wait(&self, seen: u32, timeout: Option<Duration>) {
        let waiters = self.shm.waiters();
        // SeqCst pairs with the writer's `notify`: count ourselves in, then look.
        waiters.fetch_add(1, SeqCst);
        if self.shm.wake().load(SeqCst) == seen {
            futex_wait(self.shm.wake(), seen, timeout);
        }
        waiters.fetch_sub(1, SeqCst);
    }
}

/// Most rings one [`wait_any`] waits on (one futex is kept for the caller's own word).
pub const WAIT_ANY_MAX: usize = WAITV_MAX - 1;

/// Sleep until any of `rings` changed since its wake-up counter was read (each with the
/// value its [`RingReader::wake_counter`] gave, before looking), or `bell` (a word of this
/// process, with the value read before looking) changed, or `timeout` passed: one thread
/// reading many rings sleeps in one system call, in the kernel, using no CPU. At most
/// [`WAIT_ANY_MAX`] rings. May return early; callers look again and wait again.
///
/// Fails only on a kernel without `futex_waitv` (before Linux 5.16); the caller then
/// falls back to [`RingReader::wait`] or to polling.
pub fn wait_any(
    rings: &[(&RingReader, u32)],
    bell: Option<(&std::sync::atomic::AtomicU32, u32)>,
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    let mut words: Vec<(&std::sync::atomic::AtomicU32, u32, bool)> = rings
        .iter()
        .take(WAIT_ANY_MAX)
        .map(|(r, seen)| (r.shm.wake(), *seen, true))
        .collect();
    if let Some((w, seen)) = bell {
        words.push((w, seen, false));
    }
    if words.is_empty() {
        if let Some(t) = timeout {
            std::thread::sleep(t);
        }
        return Ok(());
    }
    // Counted in as sleepers before the kernel compares the words (SeqCst, pairing with
    // the writer's `notify`, as in `wait`): a push either sees us and wakes us, or
    // changed the word before the kernel looks.
    for (r, _) in rings.iter().take(WAIT_ANY_MAX) {
        r.shm.waiters().fetch_add(1, SeqCst);
    }
    let r = futex_waitv(&words, timeout);
    for (r, _) in rings.iter().take(WAIT_ANY_MAX) {
        r.shm.waiters().fetch_sub(1, SeqCst);
    }
    r
}
