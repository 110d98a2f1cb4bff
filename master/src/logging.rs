//! Logging through tracing, set up from `srs_log_tank`, `srs_log_file` and `srs_log_level`.

use anyhow::Context;
use srs_conf::{Config, LogLevel, LogTank};
use std::fs::OpenOptions;
use std::sync::Mutex;
use tracing::level_filters::LevelFilter;

/// SRS's levels mapped onto tracing's: SRS's `trace` is its normal level (connections,
/// publishes), which tracing calls `info`.
pub fn level(l: LogLevel) -> LevelFilter {
    match l {
        LogLevel::Verbose => LevelFilter::TRACE,
        LogLevel::Info => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    }
}

/// Keeps logging alive; drop at exit.
pub struct LogGuard;

/// The log file, reopenable: logrotate moves it away and sends SIGUSR1, and the next
/// line goes to a new file under the configured name (as SRS and nginx do).
struct LogFile {
    path: std::path::PathBuf,
    file: Mutex<std::fs::File>,
}

static LOG_FILE: std::sync::OnceLock<LogFile> = std::sync::OnceLock::new();

/// Reopen `srs_log_file` (SIGUSR1). A no-op when logging to the console.
pub fn reopen() -> std::io::Result<()> {
    let Some(lf) = LOG_FILE.get() else {
        return Ok(());
    };
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lf.path)?;
    *lf.file.lock().unwrap_or_else(|e| e.into_inner()) = f;
    Ok(())
}

/// A writer of the current log file.
struct CurrentLog;

impl std::io::Write for CurrentLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_FILE.get() {
            Some(lf) => lf.file.lock().unwrap_or_else(|e| e.into_inner()).write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Timestamps followed by the process's tag, so that lines from the tree's processes can be
/// told apart in one console or file: `2026-11-26T22:00:00.000000Z [worker-1]`.
struct TaggedTime(String);

impl tracing_subscriber::fmt::time::FormatTime for TaggedTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        tracing_subscriber::fmt::time::SystemTime.format_time(w)?;
        write!(w, " [{}]", self.0)
    }
}

/// Install the global subscriber, tagging every line with `tag` (the process's role).
/// `RUST_LOG` overrides the configured level when set.
pub fn init(config: &Config, tag: &str) -> anyhow::Result<LogGuard> {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(level(config.log_level).into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_timer(TaggedTime(tag.to_string()))
        .with_env_filter(filter)
        .with_target(false)
        .with_thread_ids(false);
    match config.log_tank {
        LogTank::Console => {
            use std::io::IsTerminal;
            // Colours only for people: logs piped to a file or a test stay plain text.
            let ansi = std::io::stdout().is_terminal();
            builder.with_ansi(ansi).with_writer(std::io::stdout).init()
        }
        LogTank::File => {
            if let Some(dir) = config
                .log_file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&config.log_file)
                .with_context(|| format!("open log file {}", config.log_file.display()))?;
            let _ = LOG_FILE.set(LogFile {
                path: config.log_file.clone(),
                file: Mutex::new(f),
            });
            builder.with_ansi(false).with_writer(|| CurrentLog).init()
        }
    }
    Ok(LogGuard)
}
