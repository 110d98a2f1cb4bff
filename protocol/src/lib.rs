//! Sans-I/O RTMP: handshake, chunk stream, AMF0, messages and commands, sessions for both
//! ends, FLV tag parsing and request routing. Nothing here touches a socket, a runtime or
//! the clock: state machines take bytes and return bytes to send and events to act on, so the
//! server, the load tool, the tests and the fuzzers all drive the same code.

pub mod amf0;
pub mod chunk;
pub mod codec;
pub mod flv;
pub mod handshake;
pub mod hls;
pub mod message;
pub mod mp4;
pub mod mp4read;
pub mod request;
pub mod session;
pub mod ts;
