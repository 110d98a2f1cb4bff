//! stream-worker: accepts RTMP connections, does handshake and commands, and serves players
//! (DESIGN.md). A publishing connection feeds its stream's source; today the source lives in
//! the same process (`srs_backsource::Hub`), the process-tree issue hands publishers over to
//! the backsource process and has players read shared-memory rings instead.

pub mod conn;
pub mod handover;
pub mod mirror;
pub mod process;
pub mod refer;
pub mod server;

pub use server::{run, WorkerContext};
