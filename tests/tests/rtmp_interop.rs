//! RTMP origin end to end with real clients we did not write: ffmpeg publishes; ffmpeg,
//! ffprobe and rtmpdump play.

use srs_protocol::session::ClientEvent;
use srs_tests::client::RtmpClient;
use srs_tests::{ffmpeg_publish, ffmpeg_publish_sized, ffprobe, wait_publishing, Proc, Server};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn ffmpeg_publishes_and_ffprobe_ffmpeg_rtmpdump_play() {
    let server = Server::start("");
    let url = server.url("live/livestream");
    let _publisher = ffmpeg_publish(&url, 30);
    wait_publishing(&server, 1);

    // ffprobe decodes H.264 and AAC with increasing timestamps.
    let probe = ffprobe(&url, 3.0, T).expect("ffprobe");
    probe.assert_h264_aac(20);
    let video = probe.of("video");
    assert!(video[0].key_frame, "first decoded frame is a keyframe");

    // ffmpeg plays (remuxes 3 s into a file), and the file decodes.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ffmpeg.flv");
    let out_s = out.to_str().unwrap();
    let mut player = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-i",
            &url,
            "-t",
            "3",
            "-c",
            "copy",
            "-y",
            out_s,
        ],
    );
    let status = player.wait(T).expect("ffmpeg player");
    assert!(
        status.success(),
        "ffmpeg player failed: {}",
        player.stderr()
    );
    ffprobe(out_s, 10.0, T)
        .expect("probe ffmpeg output")
        .assert_h264_aac(20);

    // rtmpdump plays live (-v) and stops after 3 s of stream time.
    let out2 = dir.path().join("rtmpdump.flv");
    let out2_s = out2.to_str().unwrap();
    let mut dump = Proc::spawn(
        "rtmpdump",
        &[
            "-q", "-v", "-r", &url, "-B", "3", "--stop", "3", "-o", out2_s,
        ],
    );
    let _ = dump.wait(T).expect("rtmpdump");
    let probe = ffprobe(out2_s, 10.0, T).expect("probe rtmpdump output");
    probe.assert_h264_aac(20);
    assert!(
        probe.of("video")[0].key_frame,
        "rtmpdump's first frame is a keyframe"
    );
}

#[test]
fn late_player_starts_at_a_keyframe_with_headers_first() {
    let server = Server::start("");
    let url = server.url("live/late");
    let _publisher = ffmpeg_publish(&url, 30);
    wait_publishing(&server, 1);
    // Join in the middle of a GOP (GOP is 2 s).
    std::thread::sleep(Duration::from_millis(3100));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let started = std::time::Instant::now();
        let mut c = RtmpClient::connect(&url).await.unwrap();
        c.play().await.unwrap();
        let mut got_meta = false;
        let mut got_avc_sh = false;
        let mut got_aac_sh = false;
        loop {
            let e = c.next_event(T).await.unwrap();
            if let ClientEvent::Media {
                type_id, payload, ..
            } = e
            {
                match type_id {
                    18 if payload.windows(10).any(|w| w == b"onMetaData") => got_meta = true,
                    9 if payload.get(1) == Some(&0) => got_avc_sh = true,
                    8 if payload.get(1) == Some(&0) => got_aac_sh = true,
                    9 => {
                        assert!(
                            got_meta && got_avc_sh && got_aac_sh,
                            "headers before the first frame"
                        );
                        assert_eq!(payload[0] >> 4, 1, "first video frame is a keyframe");
                        break;
                    }
                    _ => {}
                }
            }
        }
        // The GOP cache makes the first frame immediate, not a wait for the next keyframe.
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "first frame after {:?}",
            started.elapsed()
        );
    });
    // ffprobe agrees: its first decoded frame is a keyframe.
    let probe = ffprobe(&url, 2.0, T).unwrap();
    assert!(probe.of("video")[0].key_frame);
}

#[test]
fn two_streams_on_two_apps_at_once() {
    let server = Server::start("");
    let a = server.url("app1/cam");
    let b = server.url("app2/cam");
    let _pa = ffmpeg_publish_sized(&a, 30, "320x240");
    let _pb = ffmpeg_publish_sized(&b, 30, "160x120");
    wait_publishing(&server, 2);
    let pa = ffprobe(&a, 2.0, T).unwrap();
    let pb = ffprobe(&b, 2.0, T).unwrap();
    pa.assert_h264_aac(10);
    pb.assert_h264_aac(10);
    assert_eq!(pa.size, Some((320, 240)));
    assert_eq!(pb.size, Some((160, 120)));
}

#[test]
fn publisher_and_player_on_two_listen_ports() {
    let server = Server::start_ports(2, "");
    assert_ne!(server.rtmp[0], server.rtmp[1]);
    let _p = ffmpeg_publish(&server.url_on(0, "live/two"), 30);
    wait_publishing(&server, 1);
    ffprobe(&server.url_on(1, "live/two"), 2.0, T)
        .unwrap()
        .assert_h264_aac(10);
}

#[test]
fn player_before_publisher_starts_when_it_arrives() {
    let server = Server::start("");
    let url = server.url("live/early");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("early.flv");
    let out_s = out.to_str().unwrap();
    let mut player = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-rw_timeout",
            "30000000",
            "-i",
            &url,
            "-t",
            "3",
            "-c",
            "copy",
            "-y",
            out_s,
        ],
    );
    assert!(
        srs_tests::wait_until(T, || server.count_log("play start") >= 1),
        "{}",
        server.log()
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(player.is_running(), "the player waits for the publisher");
    let _p = ffmpeg_publish(&url, 30);
    let status = player.wait(T).unwrap();
    assert!(status.success(), "{}", player.stderr());
    let probe = ffprobe(out_s, 10.0, T).unwrap();
    probe.assert_h264_aac(20);
    assert!(probe.of("video")[0].key_frame);
}

#[test]
fn second_publisher_is_refused() {
    let server = Server::start("");
    let url = server.url("live/busy");
    let _first = ffmpeg_publish(&url, 30);
    wait_publishing(&server, 1);
    // ffmpeg as a second publisher fails.
    let mut second = ffmpeg_publish(&url, 5);
    let status = second.wait(T).unwrap();
    assert!(!status.success(), "second ffmpeg publisher must fail");
    assert!(server.wait_log("already publishing", T), "{}", server.log());
    // Our client sees the status code.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut c = RtmpClient::connect(&url).await.unwrap();
        let err = c.publish().await.unwrap_err();
        assert!(
            format!("{err:#}").contains("NetStream.Publish.BadName"),
            "{err:#}"
        );
    });
    // The first publisher is unharmed.
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
}
