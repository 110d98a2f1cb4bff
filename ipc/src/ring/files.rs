//! Names of ring files, and cleanup of the ones a previous run left behind.

use std::fs;
use std::io;
use std::path::Path;

/// Every ring file name starts with this.
pub const RING_FILE_PREFIX: &str = "srs-ring-";

/// Longest sanitized suffix kept in a file name (the hash alone identifies the stream; the
/// suffix is for people listing /dev/shm). Keeps names far below NAME_MAX (255).
const SUFFIX_MAX: usize = 64;

/// A file name for the ring of `stream_key` (for example `vhost/app/stream`): the prefix, a
/// 64-bit hash of the whole key in hex (FNV-1a: stable across processes and builds, unlike
/// the std hasher), and the key with everything but ASCII letters, digits, `-` and `_`
/// replaced by `_`, cut to 64 bytes. Any key gives a name with no `/`, no leading dot and
/// nothing a shell would expand; two keys that sanitize alike still differ by the hash.
pub fn ring_file_name(stream_key: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream_key.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let suffix: String = stream_key
        .chars()
        .take(SUFFIX_MAX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{RING_FILE_PREFIX}{hash:016x}-{suffix}")
}

/// Delete every regular file in `dir` whose name starts with `prefix` (rings, and temporary
/// files of interrupted creates, left by a previous run), and return how many were deleted.
/// Run it at start, before any writer of this run creates a ring; pick a prefix of this
/// server instance's own if several share the directory. Readers that still map a deleted
/// file are not disturbed.
pub fn remove_stale(dir: &Path, prefix: &str) -> io::Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let matches = name
            .to_str()
            .is_some_and(|n| n.starts_with(prefix) && !prefix.is_empty());
        if matches && entry.file_type()?.is_file() {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Raced with another cleanup: fine.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}
