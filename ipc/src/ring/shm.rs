//! The shared mapping as arrays of atomics, and the futex calls.
//!
//! Every byte of a ring is accessed through atomics of one size (`u64` words, and the two
//! `u32` futex fields), by every process, so two processes touching the same bytes at once is
//! never a data race in the memory model's sense: a reader may *observe* a payload that is
//! being overwritten (it then throws the copy away, see the `ring` module docs), but it never
//! performs a racy non-atomic access. Relaxed loads and stores of aligned words compile to
//! plain moves, so this costs little over `memcpy`.

use super::layout::{Layout, B_WAITERS, B_WAKE};
use memmap2::MmapRaw;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A mapped ring file and its checked geometry.
#[derive(Debug)]
pub(crate) struct Shared {
    map: MmapRaw,
    pub layout: Layout,
}

impl Shared {
    /// Wrap a mapping of at least `layout.file_bytes` bytes.
    pub fn new(map: MmapRaw, layout: Layout) -> Self {
        // The callers map exactly `file_bytes`; this keeps `words` in bounds whatever happens.
        assert!(map.len() as u64 >= layout.file_bytes && map.as_ptr() as usize % 8 == 0);
        Self { map, layout }
    }

    /// The whole ring as 8-byte words.
    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is `file_bytes` long or longer (checked in `new`), page-aligned
        // (so 8-byte aligned, also checked), shared and read-write, and lives as long as
        // `self.map`, which the returned borrow of `self` cannot outlive (we never unmap or
        // remap it before drop). `AtomicU64` has the size and alignment of `u64` and every bit
        // pattern is a valid value. The memory is changed by other processes, which is what
        // atomics (interior mutability through `&`) allow; every process accesses these bytes
        // only through atomics of this size (the futex fields excepted, see `wake`).
        unsafe {
            std::slice::from_raw_parts(
                self.map.as_mut_ptr().cast::<AtomicU64>(),
                self.layout.total_words(),
            )
        }
    }

    pub fn word(&self, i: usize) -> &AtomicU64 {
        &self.words()[i]
    }

    fn u32_at(&self, byte: usize) -> &AtomicU32 {
        assert!(byte % 4 == 0 && byte + 4 <= self.layout.file_bytes as usize);
        // SAFETY: in bounds and 4-byte aligned (asserted; the mapping is page-aligned), valid
        // for the life of `self.map` as in `words`. Only `B_WAKE` and `B_WAITERS` are used
        // here, and the word holding them (bytes 128..136) is never accessed as a `u64`, so
        // no access of another size ever touches these bytes.
        unsafe { &*self.map.as_mut_ptr().add(byte).cast::<AtomicU32>() }
    }

    /// The futex word, incremented on every change.
    pub fn wake(&self) -> &AtomicU32 {
        self.u32_at(B_WAKE)
    }

    /// Number of readers in `wait`.
    pub fn waiters(&self) -> &AtomicU32 {
        self.u32_at(B_WAITERS)
    }

    /// Store `bytes` as words from word `first`, zero-padding the last word.
    pub fn copy_in(&self, first: usize, bytes: &[u8]) {
        let words = &self.words()[first..first + bytes.len().div_ceil(8)];
        let mut chunks = bytes.chunks_exact(8);
        for (w, c) in words.iter().zip(&mut chunks) {
            // `chunks_exact(8)` yields 8-byte slices: the conversion cannot fail.
            let b: [u8; 8] = c.try_into().unwrap_or_default();
            w.store(u64::from_ne_bytes(b), Relaxed);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut b = [0u8; 8];
            b[..tail.len()].copy_from_slice(tail);
            words[words.len() - 1].store(u64::from_ne_bytes(b), Relaxed);
        }
    }

    /// Replace `out` with `len` bytes read as words from word `first`. The caller validates
    /// the copy afterwards; this only guarantees it stays in bounds (or panics on a bug).
    pub fn copy_out(&self, first: usize, len: usize, out: &mut Vec<u8>) {
        let words = &self.words()[first..first + len.div_ceil(8)];
        out.clear();
        // Zero-filling first costs a memset but lets the loop below compile to plain moves
        // (no capacity check per word).
        out.resize(words.len() * 8, 0);
        for (w, dst) in words.iter().zip(out.chunks_exact_mut(8)) {
            dst.copy_from_slice(&w.load(Relaxed).to_ne_bytes());
        }
        out.truncate(len);
    }
}

/// Sleep while `word` holds `expected`, at most `timeout` (forever with `None`). Returns early
/// on a wake-up, a signal, or if the word already differs.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the u32 at `word` (a live, aligned atomic in a shared mapping
    // that outlives the call) and the optional timespec on our stack; it writes nothing. Not
    // FUTEX_PRIVATE_FLAG: the waker is another process mapping the same file, and shared
    // futexes are keyed by the file page, not the address. Errors (EAGAIN: the value changed,
    // EINTR, ETIMEDOUT) all mean "return and let the caller look again".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wake every process sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key (a live, aligned atomic in a
    // shared mapping) and touches no memory; the count is an int. Shared (non-private) for
    // the same reason as in `futex_wait`.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}
