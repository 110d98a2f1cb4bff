//! Cluster: origins and edges of ours on loopback, with real players (ffprobe decoding,
//! rtmpdump) and our client for exact messages. Edge pull (one upstream per stream per
//! node, failover, grace, three tiers), edge push, token traverse, forward (two
//! destinations, reconnect from a keyframe, loop refused), and upstreams that are down,
//! refuse, hang or send garbage.

use srs_tests::{ffmpeg_publish, ffprobe, file_len, free_port, rtmpdump_play, wait_until, Server};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const STREAM: &str = "__defaultVhost__/live/s";

fn edge_of(origins: &[SocketAddr], more: &str) -> Server {
    let list: Vec<String> = origins.iter().map(|a| a.to_string()).collect();
    Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; }} {more} }}\n",
        list.join(" ")
    ))
}

fn origin() -> Server {
    Server::start("vhost __defaultVhost__ { }\n")
}

/// Play clients of `stream` on `server` (over every process), by `srs-cli clients`.
fn players_of(server: &Server, stream: &str) -> usize {
    server
        .cli(&["clients"])
        .map(|v| {
            v["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "play" && c["stream"] == stream)
                .count()
        })
        .unwrap_or(usize::MAX)
}

/// The relays `srs-cli streams` shows on `server`.
fn relays(server: &Server) -> Vec<serde_json::Value> {
    server
        .cli(&["streams"])
        .map(|v| v["relays"].as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn probe_ok(url: &str) {
    let p =
        ffprobe(url, 2.0, Duration::from_secs(30)).unwrap_or_else(|e| panic!("ffprobe {url}: {e}"));
    p.assert_h264_aac(10);
}

#[test]
fn two_edges_make_two_upstreams_for_ten_players() {
    let o = origin();
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let e1 = edge_of(&o.rtmp, "");
    let e2 = edge_of(&o.rtmp, "");
    let dir = tempfile::tempdir().unwrap();
    // Eight rtmpdump players, four per edge, and two decoding ffprobes.
    let mut dumps = Vec::new();
    for i in 0..8 {
        let e = if i % 2 == 0 { &e1 } else { &e2 };
        let out = dir.path().join(format!("p{i}.flv"));
        dumps.push((rtmpdump_play(&e.url("live/s"), &out), out));
    }
    assert!(
        wait_until(Duration::from_secs(20), || dumps
            .iter()
            .all(|(_, f)| file_len(f) > 30_000)),
        "every edge player gets media: {:?}\nedge1:\n{}",
        dumps.iter().map(|(_, f)| file_len(f)).collect::<Vec<_>>(),
        e1.log()
    );
    probe_ok(&e1.url("live/s"));
    probe_ok(&e2.url("live/s"));
    // Whatever the players, workers and protocols: one upstream per edge.
    assert_eq!(players_of(&o, STREAM), 2, "origin clients");
    // The edge shows its upstream.
    let r = relays(&e1);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["kind"], "pull");
    assert_eq!(r[0]["state"], "active");
    assert_eq!(r[0]["server"], o.rtmp[0].to_string());
    assert!(r[0]["bytes_in"].as_u64().unwrap_or(0) > 100_000, "{r:?}");
}

#[test]
fn http_flv_players_on_an_edge_pull_too() {
    let o = origin();
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let e = Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; }}\n\
         vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; }} http_remux {{ enabled on; }} }}\n",
        o.rtmp[0]
    ));
    probe_ok(&e.http_url("/live/s.flv"));
    assert!(e.log().contains("edge: stream live from the origin"));
}

#[test]
fn the_upstream_closes_after_the_last_player() {
    let o = origin();
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let e = edge_of(&o.rtmp, "");
    let ring_dir = e
        .log()
        .lines()
        .find_map(|l| l.split("stream rings in dir=").nth(1).map(str::to_string))
        .expect("ring dir logged");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.flv");
    let mut p = rtmpdump_play(&e.url("live/s"), &out);
    assert!(wait_until(Duration::from_secs(20), || file_len(&out) > 30_000));
    assert_eq!(players_of(&o, STREAM), 1);
    p.kill();
    let gone = Instant::now();
    assert!(
        wait_until(Duration::from_secs(10), || players_of(&o, STREAM) == 0),
        "the edge's upstream is still on the origin:\n{}",
        e.log()
    );
    // A one second grace, then the close.
    let took = gone.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(e.wait_log(
        "no player for the grace period, upstream closed",
        Duration::from_secs(5)
    ));
    // Nothing left behind: no relay, no ring.
    assert!(wait_until(Duration::from_secs(5), || relays(&e).is_empty()));
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_dir(&ring_dir)
            .map(|d| d.count() == 0)
            .unwrap_or(true)),
        "ring left in {ring_dir}"
    );
}

#[test]
fn failover_to_the_second_origin_keeps_players_and_serves_new_ones() {
    let mut o1 = origin();
    let o2 = origin();
    let _enc1 = ffmpeg_publish(&o1.url("live/s"), 90);
    let _enc2 = ffmpeg_publish(&o2.url("live/s"), 90);
    srs_tests::wait_publishing(&o1, 1);
    srs_tests::wait_publishing(&o2, 1);
    let e = edge_of(&[o1.rtmp[0], o2.rtmp[0]], "");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.flv");
    let _p = rtmpdump_play(&e.url("live/s"), &out);
    assert!(wait_until(Duration::from_secs(20), || file_len(&out) > 30_000));
    // The first origin of the list serves.
    assert_eq!(players_of(&o1, STREAM), 1);
    assert_eq!(players_of(&o2, STREAM), 0);
    o1.kill_tree();
    let killed = Instant::now();
    let before = file_len(&out);
    // The existing player continues, from the second origin, within 10 s.
    assert!(
        wait_until(Duration::from_secs(10), || file_len(&out) > before + 50_000),
        "the edge player got nothing after the failover:\n{}",
        e.log()
    );
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert_eq!(players_of(&o2, STREAM), 1);
    // A new player too.
    let t = Instant::now();
    probe_ok(&e.url("live/s"));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // The edge said which origin failed and why, and the API shows the retry.
    let log = e.log();
    assert!(
        log.lines()
            .any(|l| l.contains("edge: origin failed") && l.contains(&o1.rtmp[0].to_string())),
        "{log}"
    );
    let r = relays(&e);
    assert_eq!(r[0]["server"], o2.rtmp[0].to_string(), "{r:?}");
    assert!(r[0]["retries"].as_u64().unwrap_or(0) >= 1, "{r:?}");
}

#[test]
fn three_tiers() {
    let o = origin();
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let e1 = edge_of(&o.rtmp, "");
    let e2 = edge_of(&e1.rtmp, "");
    let e3 = edge_of(&e2.rtmp, "");
    probe_ok(&e3.url("live/s"));
    assert_eq!(players_of(&o, STREAM), 1);
    assert_eq!(players_of(&e1, STREAM), 1);
}

#[test]
fn publishing_through_an_edge_reaches_the_origin() {
    let o = origin();
    let e = edge_of(&o.rtmp, "");
    let _enc = ffmpeg_publish(&e.url("live/pushed"), 60);
    assert!(
        o.wait_log("publish start", Duration::from_secs(20)),
        "the origin got no publish:\n{}",
        e.log()
    );
    probe_ok(&o.url("live/pushed"));
    let r = relays(&e);
    assert!(
        r.iter()
            .any(|r| r["kind"] == "push" && r["state"] == "active"),
        "{r:?}"
    );
    // Players of the edge get it too (from the edge itself).
    probe_ok(&e.url("live/pushed"));
}

#[test]
fn an_edge_with_no_origin_taking_the_publish_refuses_it() {
    let dead = format!("127.0.0.1:{}", free_port());
    let e = Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {dead}; }} }}\n"
    ));
    srs_tests::rt().block_on(async {
        let url = srs_client::RtmpUrl::parse(&e.url("live/x")).unwrap();
        let mut c = srs_client::Client::connect_url(&url, &Default::default())
            .await
            .unwrap();
        let err = c.publish("x").await.unwrap_err();
        assert!(
            matches!(&err, srs_client::ClientError::Refused { code, .. } if code == "NetStream.Publish.Rejected"),
            "{err}"
        );
    });
    assert!(
        e.log().contains(&dead),
        "the edge names the origin that failed"
    );
}

#[test]
fn token_traverse_asks_the_origin_about_each_connect() {
    // The origin admits only pages of example.com.
    let o = Server::start("vhost __defaultVhost__ { refer { enabled on; all example.com; } }\n");
    let e = Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; token_traverse on; }} }}\n",
        o.rtmp[0]
    ));
    srs_tests::rt().block_on(async {
        let url = srs_client::RtmpUrl::parse(&e.url("live/s")).unwrap();
        let bad = srs_client::Options {
            page_url: "http://evil.example.net/x".into(),
            ..Default::default()
        };
        let err = srs_client::Client::connect_url(&url, &bad).await.unwrap_err();
        assert!(
            matches!(&err, srs_client::ClientError::Refused { description, .. } if description.contains("token traverse")),
            "{err}"
        );
        let good = srs_client::Options {
            page_url: "http://www.example.com/player".into(),
            ..Default::default()
        };
        let mut c = srs_client::Client::connect_url(&url, &good).await.unwrap();
        c.play("s").await.unwrap();
    });
    assert!(o.log().contains("refer check failed"), "{}", o.log());
}

#[test]
fn forward_to_two_destinations_in_both_syntaxes() {
    let d1 = origin();
    let d2 = origin();
    let d3 = origin();
    let a = Server::start(&format!(
        "vhost __defaultVhost__ {{ forward {{ enabled on; destination {} {}; }} }}\n\
         vhost legacy.example.com {{ forward {}; }}\n",
        d1.rtmp[0], d2.rtmp[0], d3.rtmp[0]
    ));
    let _enc = ffmpeg_publish(&a.url("live/s"), 60);
    let _enc2 = ffmpeg_publish(&a.url("live/old?vhost=legacy.example.com"), 60);
    probe_ok(&d1.url("live/s"));
    probe_ok(&d2.url("live/s"));
    probe_ok(&d3.url("live/old?vhost=legacy.example.com"));
    let r = relays(&a);
    assert_eq!(
        r.iter()
            .filter(|r| r["kind"] == "forward" && r["state"] == "active")
            .count(),
        3,
        "{r:?}"
    );
}

#[test]
fn a_forward_reconnects_with_back_off_and_starts_from_headers_and_a_keyframe() {
    let port = free_port();
    let dest = format!("127.0.0.1:{port}");
    let a = Server::start(&format!(
        "vhost __defaultVhost__ {{ forward {{ enabled on; destination {dest}; }} }}\n"
    ));
    let _enc = ffmpeg_publish(&a.url("live/s"), 60);
    srs_tests::wait_publishing(&a, 1);
    // The destination is down at first: retried.
    assert!(a.wait_log("forward: cannot publish there", Duration::from_secs(10)));
    let d = Server::start_listen(&[dest.clone()], "vhost __defaultVhost__ { }\n");
    assert!(
        d.wait_log("publish start", Duration::from_secs(15)),
        "the forward did not come back:\n{}",
        a.log()
    );
    // A player of the destination gets metadata and sequence headers, then a keyframe.
    srs_tests::rt().block_on(async {
        let url = srs_client::RtmpUrl::parse(&d.url("live/s")).unwrap();
        let mut c = srs_client::Client::connect_url(&url, &Default::default())
            .await
            .unwrap();
        c.play("s").await.unwrap();
        let mut kinds = Vec::new();
        while kinds.len() < 4 {
            let p = tokio::time::timeout(Duration::from_secs(10), c.read())
                .await
                .expect("media in time")
                .unwrap();
            if let srs_client::Packet::Media {
                type_id, payload, ..
            } = p
            {
                let what = match type_id {
                    18 if payload.windows(10).any(|w| w == b"onMetaData") => "meta",
                    // |RtmpSampleAccess, NetStream.Data.Start: the player's own.
                    18 => continue,
                    9 if payload.get(1) == Some(&0) => "vsh",
                    8 if payload.get(1) == Some(&0) => "ash",
                    9 if payload[0] >> 4 == 1 => "key",
                    9 => "inter",
                    _ => "audio",
                };
                kinds.push(what);
            }
        }
        assert_eq!(kinds[0], "meta", "{kinds:?}");
        assert!(
            kinds[1..3].contains(&"vsh") && kinds[1..3].contains(&"ash"),
            "{kinds:?}"
        );
        assert!(kinds[3] == "key" || kinds[3] == "audio", "{kinds:?}");
    });
}

#[test]
fn a_forward_to_ourselves_is_refused() {
    let port = free_port();
    let me = format!("127.0.0.1:{port}");
    let a = Server::start_listen(
        &[me.clone()],
        &format!("vhost __defaultVhost__ {{ forward {{ enabled on; destination {me} localhost:{port}; }} }}\n"),
    );
    let _enc = ffmpeg_publish(&a.url("live/s"), 30);
    srs_tests::wait_publishing(&a, 1);
    assert!(a.wait_log(
        "forward refused: the destination is this server",
        Duration::from_secs(10)
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a.count_log("publish start"), 1, "{}", a.log());
    assert!(relays(&a).is_empty());
}

#[test]
fn an_edge_of_itself_is_refused_by_the_relay_mark() {
    let port = free_port();
    let me = format!("127.0.0.1:{port}");
    let e = Server::start_listen(
        &[me.clone()],
        &format!("vhost __defaultVhost__ {{ cluster {{ mode remote; origin {me}; }} }}\n"),
    );
    srs_tests::rt().block_on(async {
        let url = srs_client::RtmpUrl::parse(&e.url("live/s")).unwrap();
        let mut c = srs_client::Client::connect_url(&url, &Default::default())
            .await
            .unwrap();
        c.play("s").await.unwrap();
        let p = tokio::time::timeout(Duration::from_secs(20), c.read())
            .await
            .expect("a status in time");
        match p {
            Ok(srs_client::Packet::Status { code, .. }) => {
                assert_eq!(code, "NetStream.Play.Failed")
            }
            other => panic!("{other:?}"),
        }
    });
    // The log is read from the server's output by a thread: the line may land a moment
    // after the player's status.
    assert!(
        wait_until(Duration::from_secs(10), || e
            .log()
            .contains("came back to it")),
        "{}",
        e.log()
    );
}

/// A server that does the RTMP handshake and then says nothing.
fn hanging_origin() -> (SocketAddr, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut held = Vec::new();
        l.set_nonblocking(true).unwrap();
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            match l.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    let mut c0c1 = [0u8; 1537];
                    if s.read_exact(&mut c0c1).is_ok() {
                        let mut out = vec![3u8];
                        out.extend_from_slice(&[0u8; 1536]);
                        out.extend_from_slice(&c0c1[1..]);
                        let _ = s.write_all(&out);
                    }
                    held.push(s);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    (addr, h)
}

/// A server that answers anything with noise.
fn garbage_origin() -> SocketAddr {
    use std::io::Write;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(50) {
            if let Ok(mut s) = s {
                let noise: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
                let _ = s.write_all(&noise);
            }
        }
    });
    addr
}

#[test]
fn bad_upstreams_give_players_a_clear_status_and_leave_nothing_behind() {
    let refusing = Server::start("vhost __defaultVhost__ { enabled off; }\n");
    let (hanging, _h) = hanging_origin();
    let garbage = garbage_origin();
    let down: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    for (what, upstream, why) in [
        ("down", down, "tcp connect"),
        ("refusing", refusing.rtmp[0], "refused"),
        ("hanging", hanging, "timeout"),
        ("garbage", garbage, "rtmp"),
    ] {
        let e = edge_of(&[upstream], "");
        let backsource = e.processes("backsource")[0]["pid"].as_u64().unwrap();
        let fds = || {
            std::fs::read_dir(format!("/proc/{backsource}/fd"))
                .map(|d| d.count())
                .unwrap_or(0)
        };
        let base_fds = fds();
        let started = Instant::now();
        srs_tests::rt().block_on(async {
            let url = srs_client::RtmpUrl::parse(&e.url("live/s")).unwrap();
            let mut c = srs_client::Client::connect_url(&url, &Default::default())
                .await
                .unwrap();
            c.play("s").await.unwrap();
            let p = tokio::time::timeout(Duration::from_secs(20), c.read())
                .await
                .unwrap_or_else(|_| panic!("{what}: no status in time:\n{}", e.log()));
            match p {
                Ok(srs_client::Packet::Status {
                    code, description, ..
                }) => {
                    assert_eq!(code, "NetStream.Play.Failed", "{what}");
                    assert!(
                        description.contains(&upstream.to_string()),
                        "{what}: {description}"
                    );
                }
                // A close is clear too.
                Err(srs_client::ClientError::Closed) => {}
                other => panic!("{what}: {other:?}"),
            }
        });
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what}: {:?}",
            started.elapsed()
        );
        // The edge logged which origin failed and why.
        let log = e.log();
        assert!(
            log.lines().any(|l| l.contains("edge: origin failed")
                && l.contains(&upstream.to_string())
                && l.contains(why)),
            "{what}:\n{log}"
        );
        // Nothing left behind once the player is gone: the pull ends, its socket closes.
        assert!(
            wait_until(Duration::from_secs(10), || e
                .log()
                .contains("edge: pull stopped")),
            "{what}: the pull did not stop:\n{}",
            e.log()
        );
        assert!(
            wait_until(Duration::from_secs(5), || fds() <= base_fds),
            "{what}: backsource holds {} fds, {base_fds} before",
            fds()
        );
    }
}

#[test]
fn hls_players_on_an_edge_pull_too() {
    let o = origin();
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let e = Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; }} \
           hls {{ enabled on; hls_fragment 1; hls_window 6; hls_path {d}; }} }}\n",
        o.rtmp[0]
    ));
    // Nothing pulls the stream until a player asks for its playlist; the first request
    // waits for it rather than answering 404.
    assert_eq!(players_of(&o, STREAM), 0);
    let p = ffprobe(&e.http_url("/live/s.m3u8"), 2.0, Duration::from_secs(40))
        .unwrap_or_else(|err| panic!("ffprobe edge HLS: {err}\n{}", e.log()));
    p.assert_h264_aac(10);
    assert!(e
        .log()
        .contains("HLS player on an edge: pulling the stream"));
    assert_eq!(players_of(&o, STREAM), 1);
}
