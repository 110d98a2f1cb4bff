//! backsource: owns every live stream of the node.
//!
//! Today (one process) it holds the in-process [`source::Hub`]: the live sources with their
//! GOP cache, metadata and sequence headers, time jitter correction, and the players'
//! cursors. The process-tree issue moves the same log into a shared-memory ring per stream
//! (DESIGN.md) and this crate into its own process; the players' side keeps the same shape.

pub mod jitter;
pub mod process;
pub mod publish;
pub mod source;

pub use source::{
    Hub, HubEvent, Media, PlayEvent, PlayItem, Player, PublishError, Publisher, RingSink,
    SourceConfig, StreamKey,
};
