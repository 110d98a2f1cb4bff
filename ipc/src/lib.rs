//! ipc: the shared-memory rings that carry each stream from backsource to the stream workers
//! and httpd, the control frames of the Unix-socket protocol, and descriptor passing
//! (DESIGN.md).

pub mod control;
pub mod counters;
pub mod fdpass;
pub mod link;
pub mod ring;
