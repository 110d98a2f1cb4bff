//! What one RTMP player costs in `ClientSession` alone, without sockets or a runtime: a
//! server session in memory sends an FLV file's tags, the bytes go to a client session in
//! reads of a chosen size, and the client's events are drained as `srs-bench play` does.
//!
//! ```sh
//! cargo run -p srs-bench --release --example session_cost -- input.flv [read_bytes]
//! ```
//!
//! Prints the CPU time per second of stream, so "how many players fit in one core" is
//! 1 s divided by it (for the session part; sockets and the runtime cost more).

use srs_bench::replay::Replay;
use srs_protocol::session::{
    ClientConfig, ClientEvent, ClientSession, ServerConfig, ServerEvent, ServerSession,
};
use std::time::Instant;

fn pump(c: &mut ClientSession, s: &mut ServerSession) {
    for _ in 0..100 {
        let co = c.take_output();
        let so = s.take_output();
        if co.is_empty() && so.is_empty() {
            return;
        }
        s.feed(&co).unwrap();
        s.decode_pending().unwrap();
        c.feed(&so).unwrap();
    }
    panic!("no quiescence");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: session_cost FILE.flv [read_bytes]");
    let read: usize = args.next().map_or(7000, |s| s.parse().expect("read_bytes"));
    let replay = Replay::load(path.as_ref()).expect("load");

    let mut cfg = ClientConfig::new("rtmp://127.0.0.1/live", "live");
    cfg.complex_handshake = false;
    let mut c = ClientSession::new(cfg);
    let mut s = ServerSession::new(ServerConfig::default());
    pump(&mut c, &mut s);
    while let Ok(Some(ev)) = s.poll_event() {
        if matches!(ev, ServerEvent::Connect(_)) {
            s.accept_connect();
        }
    }
    pump(&mut c, &mut s);
    c.create_stream();
    pump(&mut c, &mut s);
    c.play(1, "x");
    pump(&mut c, &mut s);
    while let Ok(Some(_)) = s.poll_event() {}
    s.accept_play(1, "x", true);
    pump(&mut c, &mut s);
    while c.poll_event().is_some() {}

    // One pass of the file as the server would send it.
    for t in &replay.tags {
        s.send_media(1, t.tag_type, t.timestamp, &t.body);
    }
    let wire = s.take_output();
    let passes = 20;
    let mut bytes = 0u64;
    let mut messages = 0u64;
    let start = Instant::now();
    for _ in 0..passes {
        for piece in wire.chunks(read) {
            c.feed(piece).unwrap();
            while let Some(ev) = c.poll_event() {
                if let ClientEvent::Media { payload, .. } = ev {
                    bytes += payload.len() as u64;
                    messages += 1;
                }
            }
            let _ = c.take_output();
        }
    }
    let spent = start.elapsed();
    let stream_s = passes as f64 * replay.loop_ms as f64 / 1000.0;
    let per_s = spent.as_secs_f64() / stream_s;
    println!(
        "{} kbps stream, reads of {read} B: {:.1} us of CPU per player-second \
         ({:.0} ns per message, {:.2} ns per byte); {:.0} players per core (session only)",
        replay.kbps(),
        per_s * 1e6,
        spent.as_nanos() as f64 / messages as f64,
        spent.as_nanos() as f64 / bytes as f64,
        1.0 / per_s
    );
}
