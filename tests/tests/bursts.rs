//! A reconnect storm: every encoder of an origin comes back at once after a network blip.
//! 300 publishers arriving together (`srs-bench publish -m 300`) all publish, because the
//! handovers to backsource queue instead of failing, and their streams play (ffprobe).

use srs_tests::{bin, ffprobe, require_tool, wait_until, Proc, Server};
use std::process::Command;
use std::time::Duration;

#[test]
fn three_hundred_publishers_at_once_all_publish_and_play() {
    require_tool("ffmpeg");
    let server = Server::start("worker_processes 2;\nmax_connections 2000;\n");
    let dir = tempfile::tempdir().unwrap();
    let flv = dir.path().join("storm.flv");
    let bench = bin("srs-bench");
    // A light stream (100 kbps) so that 300 of them are a burst of handovers, not a
    // bandwidth test of this machine.
    let made = Command::new(&bench)
        .args([
            "make-flv",
            "--seconds",
            "6",
            "--kbps",
            "100",
            "--size",
            "160x120",
            "--out",
        ])
        .arg(&flv)
        .output()
        .expect("srs-bench make-flv");
    assert!(
        made.status.success(),
        "make-flv: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let json = dir.path().join("publish.json");
    let url = server.url("live/storm");
    let mut publishers = Proc::spawn(
        bench.to_str().unwrap(),
        &[
            "publish",
            "--url",
            &url,
            "-m",
            "300",
            "--ramp",
            "0",
            "--file",
            flv.to_str().unwrap(),
            "--duration",
            "120",
            "--json-out",
            json.to_str().unwrap(),
        ],
    );
    let all = wait_until(Duration::from_secs(60), || {
        server.count_log("publish start") >= 300
    });
    assert!(
        all,
        "{} of 300 publishers got through; srs-bench: {}\nserver:\n{}",
        server.count_log("publish start"),
        publishers.stderr(),
        server.log()
    );
    assert_eq!(server.count_log("handover to backsource failed"), 0);
    // A sample of the streams play, video and audio.
    for i in [0, 149, 299] {
        let probe = ffprobe(
            &server.url(&format!("live/storm{i}")),
            1.5,
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("storm{i}: {e}"));
        let codecs: Vec<&str> = probe.codecs.iter().map(|(_, c)| c.as_str()).collect();
        assert!(
            codecs.contains(&"h264") && codecs.contains(&"aac"),
            "storm{i}: {codecs:?}"
        );
        assert!(!probe.of("video").is_empty(), "storm{i}: no video frame");
    }
    // srs-bench's own count: every publisher reached NetStream.Publish.Start.
    publishers.interrupt();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("srs-bench report"))
            .expect("report JSON");
    assert_eq!(report["published"], 300, "{report}");
    assert_eq!(report["publish_failed"], 0, "{report}");
    eprintln!(
        "300 publishers: publish start p50 {} ms, p99 {} ms, max {} ms",
        report["publish_start_ms_p50"],
        report["publish_start_ms_p99"],
        report["publish_start_ms_max"]
    );
}
