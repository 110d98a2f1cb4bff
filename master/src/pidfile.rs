//! The pid file (`pid`), locked so that two servers cannot run on the same one.

use anyhow::{bail, Context};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A locked pid file, removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    lock: Flock<File>,
}

impl PidFile {
    /// Create (or take over) the pid file and lock it. Call [`write_pid`](Self::write_pid)
    /// once the process is the one that will run (after daemonizing: the lock is kept
    /// across fork, the pid is not).
    pub fn lock(path: &Path) -> anyhow::Result<PidFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .context("open")?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((_, e)) => {
                let other = std::fs::read_to_string(path).unwrap_or_default();
                bail!(
                    "locked by another running server (pid {}): {e}",
                    other.trim()
                );
            }
        };
        Ok(PidFile {
            path: path.to_path_buf(),
            lock,
        })
    }

    /// Write this process's pid into the file.
    pub fn write_pid(&mut self) -> anyhow::Result<()> {
        self.lock.set_len(0).context("truncate")?;
        writeln!(self.lock, "{}", std::process::id()).context("write")?;
        self.lock.flush().context("flush")
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
