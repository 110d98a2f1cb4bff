//! backsource: owns every live stream of the node (DESIGN.md), the writer side of the media
//! path. It takes publishing connections over from the stream workers, corrects their
//! timestamps once ([`jitter`]), decides once what each message is, and writes each stream
//! into its shared-memory ring ([`streams`]), which the stream workers and httpd read
//! through `srs-live`. Later it runs the per-stream jobs (forward, DVR, hooks, transcode).

pub mod jitter;
pub mod process;
pub mod publish;
pub mod streams;

pub use process::Backsource;
pub use streams::{PublishError, Publisher, RingSizing, StreamEvent, Streams};
