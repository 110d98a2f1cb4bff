//! stream-worker: accepts RTMP connections, does handshake and commands, and serves players
//! (DESIGN.md). Players read their stream's local source, fed from the shared-memory ring
//! that backsource writes (`srs-live`); a connection that publishes is handed to backsource
//! with its socket and protocol state.

pub mod bandcheck;
pub mod conn;
pub mod handover;
pub mod process;
pub mod refer;
pub mod server;

pub use server::{run, WorkerContext};
