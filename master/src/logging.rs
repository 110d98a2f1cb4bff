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

/// Install the global subscriber. `RUST_LOG` overrides the configured level when set.
pub fn init(config: &Config) -> anyhow::Result<LogGuard> {
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(level(config.log_level).into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
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
            builder.with_ansi(false).with_writer(Mutex::new(f)).init()
        }
    }
    Ok(LogGuard)
}
