//! Server behaviour seen through exact messages: our own client publishes and plays to check
//! handshake kind, timestamps across the 2^24 and 2^32 boundaries, republish continuity,
//! pause, slow players, max_connections, refer and vhost routing. ffmpeg/ffprobe join in
//! where a real client proves the point.

use srs_protocol::session::{ClientConfig, ClientEvent};
use srs_tests::client::{parse_url, RtmpClient};
use srs_tests::{ffmpeg_publish, ffprobe, rt, wait_until, Server};
use std::time::Duration;
use tokio::io::AsyncReadExt;

const T: Duration = Duration::from_secs(30);

const AVC_SH: &[u8] = &[
    0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4, 0x67, 0x64, 0, 0x1f, 1, 0, 4, 0x68, 0xee,
    0x3c, 0x80,
];
const AAC_SH: &[u8] = &[0xaf, 0, 0x12, 0x10];

fn video_frame(key: bool, n: u32, size: usize) -> Vec<u8> {
    let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    v.extend_from_slice(&n.to_be_bytes());
    v.resize(size.max(9), 0xab);
    v
}

/// Video timestamps (and keyframe flags) a player receives until `n` frames arrived.
async fn collect_video(c: &mut RtmpClient, n: usize) -> Vec<(u32, bool)> {
    let mut v = Vec::new();
    while v.len() < n {
        match c.next_event(T).await.unwrap() {
            ClientEvent::Media {
                type_id: 9,
                timestamp,
                payload,
                ..
            } if payload.get(1) == Some(&1) => v.push((timestamp, payload[0] >> 4 == 1)),
            _ => {}
        }
    }
    v
}

/// Publish `frames` video frames at 40 ms steps from `start`, keyframe every 25.
async fn publish_frames(p: &mut RtmpClient, start: u32, frames: u32, pace: Duration) {
    p.send_media(8, start, AAC_SH).await.unwrap();
    p.send_media(9, start, AVC_SH).await.unwrap();
    for i in 0..frames {
        let ts = start.wrapping_add(i * 40);
        p.send_media(9, ts, &video_frame(i % 25 == 0, i, 200))
            .await
            .unwrap();
        p.send_media(8, ts, &[0xaf, 1, 0x21, 0x10]).await.unwrap();
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
    }
}

#[test]
fn complex_handshake_and_timestamps_across_2_pow_24_and_2_pow_32() {
    let server = Server::start("");
    rt().block_on(async {
        for (name, start) in [("ext", 0x00ff_ffffu32 - 2_000), ("wrap", u32::MAX - 2_000)] {
            let url = server.url(&format!("live/{name}"));
            let mut player = RtmpClient::connect(&url).await.unwrap();
            assert!(
                player.server_digest_verified(),
                "server answered the complex handshake in kind"
            );
            player.play().await.unwrap();
            let mut publisher = RtmpClient::connect(&url).await.unwrap();
            assert!(publisher.server_digest_verified());
            publisher.publish().await.unwrap();
            publish_frames(&mut publisher, start, 100, Duration::ZERO).await;
            let got = collect_video(&mut player, 100).await;
            // The stream keeps the publisher's time base: exactly what was sent, 40 ms apart,
            // straight through 0xffffff (extended timestamps) and through the 2^32 wrap.
            for (i, (ts, key)) in got.iter().enumerate() {
                assert_eq!(
                    *ts,
                    start.wrapping_add(i as u32 * 40),
                    "{name}: frame {i}: {got:?}"
                );
                assert_eq!(*key, i % 25 == 0);
            }
            assert!(got.iter().any(|(t, _)| *t < 1_000) == (name == "wrap"));
        }
    });
    assert!(
        server.log().contains("handshake=Some(Complex(Scheme1))"),
        "{}",
        server.log()
    );
}

#[test]
fn republish_continues_for_connected_players() {
    let server = Server::start("");
    let url = server.url("live/again");
    rt().block_on(async {
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        // First publisher: ffmpeg for 4 s.
        let mut first = ffmpeg_publish(&url, 4);
        let before = collect_video(&mut player, 25).await;
        assert!(before[0].1, "starts on a keyframe");
        // Unpublish is announced.
        player
            .expect_status("NetStream.Play.UnpublishNotify")
            .await
            .unwrap();
        first.wait(T).unwrap();
        // Second publisher on the same name: our client, with a clock restarting at 0.
        let mut p2 = RtmpClient::connect(&url).await.unwrap();
        p2.publish().await.unwrap();
        let pub_task = tokio::spawn(async move {
            publish_frames(&mut p2, 0, 60, Duration::from_millis(5)).await;
            p2
        });
        player
            .expect_status("NetStream.Play.PublishNotify")
            .await
            .unwrap();
        let after = collect_video(&mut player, 50).await;
        let last_before = before.last().unwrap().0;
        assert!(after[0].1, "republish starts on a keyframe");
        assert!(
            after[0].0 > last_before,
            "timestamps continue: {} after {}",
            after[0].0,
            last_before
        );
        for w in after.windows(2) {
            assert_eq!(w[1].0 - w[0].0, 40, "{after:?}");
        }
        let _p2 = pub_task.await.unwrap();
    });
    // A real player after the republish decodes the new publish (ffmpeg this time).
    let _p3 = {
        // The client publisher above ended; publish with ffmpeg again and play with ffprobe.
        let p = ffmpeg_publish(&url, 30);
        assert!(
            wait_until(T, || server.count_log("publish start") >= 3),
            "{}",
            server.log()
        );
        p
    };
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
}

#[test]
fn pause_and_unpause() {
    let server = Server::start("");
    let url = server.url("live/pause");
    rt().block_on(async {
        let mut publisher = RtmpClient::connect(&url).await.unwrap();
        publisher.publish().await.unwrap();
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        let feed = tokio::spawn(async move {
            publish_frames(&mut publisher, 0, 200, Duration::from_millis(20)).await;
            publisher
        });
        collect_video(&mut player, 5).await;
        let sid = player.stream_id;
        player.session().pause(sid, true, 0.0);
        player
            .expect_status("NetStream.Pause.Notify")
            .await
            .unwrap();
        // Drain what was in flight, then nothing arrives while paused.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(e) = player.next_event(Duration::from_millis(100)).await {
            let _ = e;
        }
        let quiet = player.next_event(Duration::from_millis(800)).await;
        assert!(quiet.is_err(), "no media while paused: {quiet:?}");
        player.session().pause(sid, false, 0.0);
        player
            .expect_status("NetStream.Unpause.Notify")
            .await
            .unwrap();
        let v = collect_video(&mut player, 3).await;
        assert!(v[0].1, "resumes at a keyframe: {v:?}");
        feed.await.unwrap();
    });
}

#[test]
fn slow_player_skips_whole_gops_and_memory_stays_bounded() {
    let server = Server::start("vhost __defaultVhost__ { play { queue_length 2; } }\n");
    let url = server.url("live/slow");
    rt().block_on(async {
        let mut publisher = RtmpClient::connect(&url).await.unwrap();
        publisher.publish().await.unwrap();
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        let rss_before = server.rss_kib();
        // 20 s of stream time of 50 KB frames (10 Mbit/s) while the player reads nothing.
        publisher.send_media(9, 0, AVC_SH).await.unwrap();
        for i in 0..500u32 {
            publisher
                .send_media(9, i * 40, &video_frame(i % 25 == 0, i, 50_000))
                .await
                .unwrap();
        }
        let rss_peak = server.rss_kib();
        // Now read everything that arrives.
        let mut got = Vec::new();
        loop {
            match player.next_event(Duration::from_secs(2)).await {
                Ok(ClientEvent::Media {
                    type_id: 9,
                    timestamp,
                    payload,
                    ..
                }) if payload.get(1) == Some(&1) => got.push((timestamp, payload[0] >> 4 == 1)),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        // The player skipped: it did not get all 500 frames, it got the last one, and each
        // skip landed on a keyframe.
        assert!(
            got.len() < 400,
            "got {} frames; nothing was dropped",
            got.len()
        );
        assert_eq!(got.last().map(|g| g.0), Some(499 * 40));
        // Frames dropped before the first one received count as a skip too (the player
        // may be found lagging at its first read): it must start on a keyframe.
        let mut skips = 0;
        if got.first().is_some_and(|g| g.0 > 0) {
            skips += 1;
            assert!(got[0].1, "resumes on a keyframe: {:?}", got[0]);
        }
        for w in got.windows(2) {
            if w[1].0 - w[0].0 > 40 {
                skips += 1;
                assert!(
                    w[1].1,
                    "a skip resumes on a keyframe: {:?} -> {:?}",
                    w[0], w[1]
                );
            }
        }
        assert!(skips >= 1);
        // 25 MB went through; the server kept at most a few seconds of it.
        let growth_mib = rss_peak.saturating_sub(rss_before) / 1024;
        assert!(growth_mib < 64, "server grew {growth_mib} MiB");
    });
    assert!(server.log().contains("play start"));
}

#[test]
fn max_connections_is_enforced() {
    let server = Server::start("max_connections 3;\n");
    let addr = server.rtmp[0];
    rt().block_on(async {
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        assert!(wait_until(T, || server.count_log("accepted") >= 3));
        let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(T, extra.read(&mut b))
            .await
            .expect("closed promptly");
        assert!(
            matches!(n, Ok(0) | Err(_)),
            "the 4th connection is closed: {n:?}"
        );
        assert!(
            server.wait_log("too many connections", T),
            "{}",
            server.log()
        );
        drop(held);
        // Slots are given back.
        assert!(wait_until(T, || server.count_log("closed") >= 3));
        let mut c = RtmpClient::connect(&server.url("live/x")).await.unwrap();
        c.play().await.unwrap();
    });
}

#[test]
fn refer_and_vhost_routing() {
    let server = Server::start(
        "vhost __defaultVhost__ { }\n\
         vhost secure.test { refer { enabled on; all example.com; play example.com; publish example.com; } }\n\
         vhost off.test { enabled off; }\n",
    );
    rt().block_on(async {
        let url = server.url("live?vhost=secure.test/s");
        let u = parse_url(&url).unwrap();
        // No pageUrl: refused at connect.
        let err = RtmpClient::connect(&url).await.err().expect("refused");
        assert!(
            format!("{err:#}").contains("NetConnection.Connect.Rejected"),
            "{err:#}"
        );
        // A page on the allowed domain: accepted, and routed to vhost secure.test.
        let mut cfg = ClientConfig::new(&u.tc_url, &u.app);
        cfg.page_url = "http://www.example.com/player.html".into();
        let mut c = RtmpClient::connect_with(&url, cfg).await.unwrap();
        c.play().await.unwrap();
        assert!(
            server.wait_log("stream=secure.test/live/s", T),
            "{}",
            server.log()
        );
        // A disabled vhost is refused.
        let err = RtmpClient::connect(&server.url("live?vhost=off.test/s"))
            .await
            .err()
            .expect("refused");
        assert!(format!("{err:#}").contains("disabled"), "{err:#}");
        // An unknown host falls back to __defaultVhost__, and `?vhost=` on the stream name works.
        let mut d = RtmpClient::connect(&server.url("live/t?vhost=nobody.test"))
            .await
            .unwrap();
        d.play().await.unwrap();
        assert!(
            server.wait_log("stream=__defaultVhost__/live/t", T),
            "{}",
            server.log()
        );
    });
}

#[test]
fn a_vhosts_chunk_size_is_what_its_clients_get() {
    let server = Server::start(
        "chunk_size 60000;\nvhost __defaultVhost__ { }\nvhost small.test { chunk_size 4096; }\n",
    );
    rt().block_on(async {
        let mut big = RtmpClient::connect(&server.url("live/s")).await.unwrap();
        big.play().await.unwrap();
        assert_eq!(big.session().in_chunk_size(), 60000);
        let mut small = RtmpClient::connect(&server.url("live?vhost=small.test/s"))
            .await
            .unwrap();
        small.play().await.unwrap();
        assert_eq!(small.session().in_chunk_size(), 4096);
    });
}
