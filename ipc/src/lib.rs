//! ipc: the shared-memory rings that carry each stream from backsource to the stream workers
//! and httpd, the control frames of the Unix-socket protocol, and descriptor passing
//! (DESIGN.md), and the wire types of a publisher handed from a stream worker to backsource.

pub mod control;
pub mod counters;
pub mod fdpass;
pub mod handover;
pub mod link;
pub mod ring;
