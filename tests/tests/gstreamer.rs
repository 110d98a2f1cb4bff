//! GStreamer as a client: `rtmp2sink` publishes until end of stream and gst-launch exits 0
//! (the server answers the client's whole unpublish sequence before it closes), and
//! `rtmp2src` plays and decodes.

use srs_tests::{ffmpeg_publish, require_tool, wait_until, Server};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn rtmp2sink_publishes_to_the_end_and_exits_0() {
    require_tool("gst-launch-1.0");
    let s = Server::start("vhost __defaultVhost__ { }\n");
    let url = s.url("live/gst");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("p.flv");
    let mut child = Command::new("gst-launch-1.0")
        .args([
            "-q",
            "videotestsrc",
            "num-buffers=100",
            "!",
            "video/x-raw,width=320,height=240,framerate=25/1",
            "!",
            "openh264enc",
            "!",
            "h264parse",
            "!",
            "flvmux",
            "streamable=true",
            "!",
            "rtmp2sink",
        ])
        .arg(format!("location={url}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gst-launch-1.0");
    assert!(
        s.wait_log("publish start", Duration::from_secs(20)),
        "{}",
        s.log()
    );
    let _player = srs_tests::rtmpdump_play(&url, &out);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gst-launch did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "gst-launch: {status}: {err}\n{}", s.log());
    assert!(s.wait_log("unpublish", Duration::from_secs(5)));
}

#[test]
fn rtmp2src_plays_and_decodes() {
    require_tool("gst-launch-1.0");
    let s = Server::start("vhost __defaultVhost__ { }\n");
    let _enc = ffmpeg_publish(&s.url("live/src"), 60);
    srs_tests::wait_publishing(&s, 1);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("gst.txt");
    // Each decoded frame reaches fakesink, which says so on stdout (-v, silent=false).
    let mut child = Command::new("gst-launch-1.0")
        .args(["-v", "rtmp2src"])
        .arg(format!("location={}", s.url("live/src")))
        .args([
            "!",
            "flvdemux",
            "name=d",
            "d.video",
            "!",
            "h264parse",
            "!",
            "openh264dec",
            "!",
            "fakesink",
            "silent=false",
        ])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("gst-launch-1.0");
    let frames = || {
        std::fs::read_to_string(&log)
            .map(|t| t.matches("chain").count())
            .unwrap_or(0)
    };
    let ok = wait_until(Duration::from_secs(20), || frames() >= 25);
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "rtmp2src decoded {} frames:\n{}", frames(), s.log());
}
