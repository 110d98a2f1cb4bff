//! Hostile and broken clients: each is closed with a log line, memory stays bounded, and a
//! normal publish/play (ffmpeg → ffprobe) keeps working during and after.

use bytes::BytesMut;
use rand::{Rng, RngCore};
use srs_protocol::amf0::{marker, Amf0Value};
use srs_protocol::chunk;
use srs_protocol::handshake::{ClientHandshake, Progress};
use srs_tests::{ffmpeg_publish, ffprobe, rt, wait_publishing, wait_until, Server};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(30);

/// Connect and finish a simple handshake; returns the socket ready for chunks.
async fn handshaken(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
    let mut hs = ClientHandshake::new(false);
    s.write_all(&hs.take_output()).await.unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "server closed during the handshake");
        let p = hs.feed(&buf[..n]).unwrap();
        s.write_all(&hs.take_output()).await.unwrap();
        if let Progress::Done { .. } = p {
            return s;
        }
    }
}

/// Wait until the server closes `s` (EOF or reset), reading and discarding what it sends.
async fn closed_by_server(s: &mut TcpStream) {
    let mut buf = vec![0u8; 65536];
    let r = tokio::time::timeout(T, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        r.is_ok(),
        "server did not close the connection within {T:?}"
    );
}

/// The server log grows one `closed:` line containing `why` within the time limit.
fn logged(server: &Server, why: &str) {
    assert!(
        wait_until(T, || server.log().lines().any(|l| l.contains("closed:")
            && l.contains(why)
            && l.contains("cid="))),
        "no close log line with {why:?}:\n{}",
        server.log()
    );
}

#[test]
fn malformed_input_is_closed_and_logged() {
    let server = Server::start("handshake_timeout 3000;\n");
    let url = server.url("live/normal");
    let _publisher = ffmpeg_publish(&url, 90);
    wait_publishing(&server, 1);
    let rss_start = server.rss_kib();
    rt().block_on(async {
        // Random bytes where C0 is not 3.
        let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
        let mut junk = vec![0u8; 3073];
        rand::thread_rng().fill_bytes(&mut junk);
        junk[0] = 0x47; // 'G', as in "GET / HTTP/1.1"
        s.write_all(&junk).await.unwrap();
        closed_by_server(&mut s).await;
        logged(&server, "unsupported RTMP version 71");

        // C0 = 6: RTMPE, refused.
        let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
        let mut c01 = vec![6u8];
        c01.extend_from_slice(&[0u8; 1536]);
        s.write_all(&c01).await.unwrap();
        closed_by_server(&mut s).await;
        logged(&server, "unsupported RTMP version 6");

        // C0 = 3 then random bytes: the handshake falls back to simple, then the "chunks"
        // are garbage or incomplete: closed by a chunk/AMF0 error or the handshake timeout.
        for _ in 0..5 {
            let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
            let mut junk = vec![0u8; 8192];
            rand::thread_rng().fill_bytes(&mut junk);
            junk[0] = 3;
            s.write_all(&junk).await.unwrap();
            closed_by_server(&mut s).await;
        }

        // A chunk announcing a message of 16 MiB - 1 bytes (the largest the field holds).
        let mut s = handshaken(&server).await;
        s.write_all(&[0x03, 0, 0, 0, 0xff, 0xff, 0xff, 20, 0, 0, 0, 0, 1, 2, 3])
            .await
            .unwrap();
        closed_by_server(&mut s).await;
        logged(&server, "exceeds the limit");

        // Chunk stream id abuse: partial messages on hundreds of chunk streams.
        let mut s = handshaken(&server).await;
        let mut b = Vec::new();
        for csid in 400u32..800 {
            let c = csid - 64;
            // fmt 0, 3-byte basic header, a 4096-byte audio message, its first 128-byte
            // chunk (the default chunk size): the message stays unfinished.
            b.extend_from_slice(&[
                1,
                (c & 0xff) as u8,
                (c >> 8) as u8,
                0,
                0,
                0,
                0,
                0x10,
                0,
                8,
                1,
                0,
                0,
                0,
            ]);
            b.extend_from_slice(&[0u8; 128]);
        }
        let _ = s.write_all(&b).await;
        closed_by_server(&mut s).await;
        logged(&server, "chunk streams in use");

        // fmt 3 on a chunk stream that never had a header (the largest id, 65599).
        let mut s = handshaken(&server).await;
        let _ = s.write_all(&[0xc1, 0xff, 0xff, 1, 2, 3]).await;
        closed_by_server(&mut s).await;
        logged(&server, "without a previous header");

        // A connect command whose object nests 10,000 deep.
        let mut s = handshaken(&server).await;
        let mut body = BytesMut::new();
        Amf0Value::string("connect").encode(&mut body);
        Amf0Value::Number(1.0).encode(&mut body);
        for _ in 0..10_000 {
            body.extend_from_slice(&[marker::OBJECT, 0, 1, b'a']);
        }
        let mut wire = BytesMut::new();
        chunk::write_message(&mut wire, 128, 3, 0, 20, 0, &body);
        let _ = s.write_all(&wire).await;
        closed_by_server(&mut s).await;
        logged(&server, "nesting deeper");

        // A client that never finishes the handshake is closed after handshake_timeout.
        let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
        s.write_all(&[3, 0, 0]).await.unwrap();
        closed_by_server(&mut s).await;
        logged(&server, "no publish or play within");
    });
    // Nothing above cost the server real memory...
    let growth = server.rss_kib().saturating_sub(rss_start) / 1024;
    assert!(growth < 64, "server grew {growth} MiB");
    // ...and the normal stream still plays.
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn a_thousand_idle_connections() {
    let server = Server::start("max_connections 3000;\nhandshake_timeout 5000;\n");
    let url = server.url("live/normal");
    let _publisher = ffmpeg_publish(&url, 90);
    wait_publishing(&server, 1);
    let rss_start = server.rss_kib();
    let rt = rt();
    let mut idle: Vec<TcpStream> = rt.block_on(async {
        let mut v = Vec::new();
        for i in 0..1000 {
            let mut s = TcpStream::connect(server.rtmp[0]).await.unwrap();
            // Some say nothing, some stop in the middle of C1.
            if i % 2 == 1 {
                let n = rand::thread_rng().gen_range(1..1500);
                let mut part = vec![3u8];
                part.resize(n, 0);
                s.write_all(&part).await.unwrap();
            }
            v.push(s);
        }
        v
    });
    assert!(
        wait_until(T, || server.count_log("accepted") >= 1001),
        "{}",
        server.count_log("accepted")
    );
    let rss_idle = server.rss_kib();
    // While they sit there, a normal player works.
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
    // Each is closed after the handshake timeout, with a log line.
    assert!(
        wait_until(T, || server.count_log("no publish or play within") >= 1000),
        "only {} idle connections closed",
        server.count_log("no publish or play within")
    );
    rt.block_on(async {
        for s in idle.iter_mut().take(50) {
            closed_by_server(s).await;
        }
    });
    drop(idle);
    let per_conn_kib = rss_idle.saturating_sub(rss_start) / 1000;
    assert!(per_conn_kib < 64, "{per_conn_kib} KiB per idle connection");
    // And after.
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
}
