//! srs-live: the live-stream model every role that holds players shares (DESIGN.md): stream
//! workers for RTMP players, httpd for HTTP-FLV players and HLS, later the edge and DVR.
//!
//! - [`source`]: a process's live sources, each with its players and their cursors, the GOP
//!   cache, the headers kept aside, and the `queue_length` drop of whole GOPs.
//! - [`mirror`]: the sources fed straight from the shared-memory rings backsource writes,
//!   one reader per stream with players here, copying each message out once.
//! - [`media`]: a message as every player of the process shares it; what it is comes from
//!   the ring's flags, set once by the writer.
//! - [`conn`]: connection ids, byte counters, why a connection ended, and where a
//!   publishing connection goes ([`conn::Publishers`]).
//! - [`demand`]: which streams of edge vhosts the process's players want, so that
//!   backsource pulls each from the origin once for the whole node.
//! - [`reader`]: the plumbing of a reader process: private API, registration and heartbeat
//!   with the master, stream announcements, reload and stop.
//!
//! It knows no process role: backsource (the writer side: publishers, jitter, rings) and
//! the readers both build on it, never on each other.

pub mod conn;
pub mod demand;
pub mod media;
pub mod mirror;
pub mod reader;
pub mod source;

pub use demand::{DemandEvent, DemandGuard, Demands};
pub use media::{Media, PLAYER_STREAM_ID};
pub use source::{Feed, FeedError, Hub, PlayEvent, PlayItem, Player, SourceConfig};
pub use srs_ipc::control::StreamKey;
