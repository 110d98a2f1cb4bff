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

/// Most futexes one [`futex_waitv`] waits on (the kernel's `FUTEX_WAITV_MAX`).
pub const WAITV_MAX: usize = 128;

/// `struct futex_waitv` of the kernel's uapi (linux/futex.h).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: the word is 32 bits.
const FUTEX2_SIZE_U32: u32 = 0x02;
/// `FUTEX2_PRIVATE`: the word is in this process's private memory.
const FUTEX2_PRIVATE: u32 = 128;

/// Sleep until any of `words` is woken or no longer holds its expected value, or until
/// `timeout` passed (`None`: no limit), with one system call (`futex_waitv`, Linux 5.16).
/// Each entry: the word, the value it is expected to hold, and whether it lives in a shared
/// mapping (a ring's wake word, woken by another process) or in this process's memory. At
/// most [`WAITV_MAX`] words. Returns early on a signal too. The error is the kernel's:
/// `ENOSYS` on a kernel without `futex_waitv`, `EINVAL` for bad arguments.
pub(crate) fn futex_waitv(
    words: &[(&AtomicU32, u32, bool)],
    timeout: Option<Duration>,
) -> std::io::Result<()> {
    if words.is_empty() || words.len() > WAITV_MAX {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let entries: Vec<FutexWaitv> = words
        .iter()
        .map(|(w, val, shared)| FutexWaitv {
            val: u64::from(*val),
            uaddr: w.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32 | if *shared { 0 } else { FUTEX2_PRIVATE },
            reserved: 0,
        })
        .collect();
    // futex_waitv takes an absolute deadline on the given clock.
    let deadline = timeout.map(|d| {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to the valid pointer we pass.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
        let nanos = now.tv_nsec as u64 + u64::from(d.subsec_nanos());
        libc::timespec {
            tv_sec: now.tv_sec.saturating_add(
                (d.as_secs() + nanos / 1_000_000_000).min(i32::MAX as u64) as libc::time_t,
            ),
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        }
    });
    let ts_ptr = deadline
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: the kernel reads `entries.len()` futex_waitv structs from our vector (alive
    // for the call) and the optional timespec on our stack, and the u32 words they point
    // to: live, aligned atomics (in a shared mapping that outlives the call, or in this
    // process's memory borrowed for the call). It writes nothing. Flags 0; the clock is
    // the one the deadline was computed on.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            entries.as_ptr(),
            entries.len() as libc::c_uint,
            0u32,
            ts_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r >= 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        // A word already differed, the deadline passed, or a signal: the caller looks again.
        Some(libc::EAGAIN | libc::ETIMEDOUT | libc::EINTR) => Ok(()),
        _ => Err(e),
    }
}

/// Wake every thread of this process sleeping on `word`, a word of this process's private
/// memory (the bell of [`wait_any`](super::wait_any)).
pub fn wake_private(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key (a live, aligned atomic)
    // and touches no memory. Private: the sleepers are threads of this process, and
    // futex_waitv registered them with FUTEX2_PRIVATE on the same address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}
