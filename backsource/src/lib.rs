//! backsource: owns every live stream of the node (DESIGN.md), the writer side of the media
//! path. It takes publishing connections over from the stream workers, corrects their
//! timestamps once ([`jitter`]), decides once what each message is, and writes each stream
//! into its shared-memory ring ([`streams`]), which the stream workers and httpd read
//! through `srs-live`. It runs the relays to and from other servers: edge pull and push ([`edge`],
//! [`forward`]) and forward; later the other per-stream jobs (DVR, hooks, transcode).

pub mod dvr;
pub mod edge;
pub mod forward;
pub mod jitter;
pub mod jobs;
pub mod mix;
pub mod process;
pub mod publish;
pub mod relay;
pub mod streams;

pub use process::Backsource;
pub use streams::{PublishError, Publisher, RingSizing, StreamEvent, Streams};
