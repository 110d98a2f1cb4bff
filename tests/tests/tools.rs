//! srs-tools (srs-librtmp's tools over the srs-client crate) against our server and SRS 6:
//! an FLV file published and dumped back has the same frames at the same timestamps;
//! detect names the server; relay moves a stream from us to SRS 6; flv-parse reads a file
//! tag by tag.

use srs_client::flv::FlvReader;
use srs_tests::{bin, Proc, Server, Srs6};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write_flv(path: &Path, seconds: u32) {
    srs_tests::write_test_flv(path, seconds, "320x240", true);
}

/// The audio and video frames of an FLV file (sequence headers and the AVC end of
/// sequence left out: neither server forwards the latter): (type, ts, size).
fn frames(path: &Path) -> Vec<(u8, u32, usize)> {
    let mut r = FlvReader::new(std::fs::File::open(path).unwrap());
    let mut out = Vec::new();
    while let Some(t) = r.next_tag().unwrap() {
        let header = t.body.get(1) == Some(&0) && matches!(t.body.first(), Some(0xaf | 0x17));
        let end = t.tag_type == 9 && t.body.get(1) == Some(&2);
        if matches!(t.tag_type, 8 | 9) && !header && !end {
            out.push((t.tag_type, t.timestamp, t.body.len()));
        }
    }
    out
}

fn tools(args: &[&str]) -> String {
    let o = Command::new(bin("srs-tools")).args(args).output().unwrap();
    assert!(
        o.status.success(),
        "srs-tools {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Publish `input` to `url` with ingest-flv while dump records it; the frames match, all
/// of them (`tail` 0), or all but the last `tail` (SRS 6 ends its players' streams before
/// the publish's last audio frames).
fn round_trip(url: &str, dir: &Path, input: &Path, tail: usize) {
    let out = dir.join(format!("dump-{}.flv", url.len()));
    let mut dump = Proc::spawn(
        bin("srs-tools").to_str().unwrap(),
        &["dump", "-i", url, "-o", out.to_str().unwrap(), "-d", "30"],
    );
    std::thread::sleep(Duration::from_millis(800));
    tools(&["ingest-flv", "-i", input.to_str().unwrap(), "-y", url]);
    assert!(
        dump.wait(Duration::from_secs(40)).unwrap().success(),
        "{}",
        dump.stderr()
    );
    let (sent, got) = (frames(input), frames(&out));
    assert!(sent.len() > 100, "{}", sent.len());
    let missing: Vec<_> = sent.iter().filter(|f| !got.contains(f)).collect();
    let extra: Vec<_> = got.iter().filter(|f| !sent.contains(f)).collect();
    assert!(
        got.len() <= sent.len() && got.len() + tail >= sent.len(),
        "{url}: {} frames of {}; missing {missing:?}, extra {extra:?}",
        got.len(),
        sent.len()
    );
    assert_eq!(got, sent[..got.len()], "{url}: frames and timestamps");
    srs_tests::ffprobe(out.to_str().unwrap(), 5.0, Duration::from_secs(30))
        .unwrap()
        .assert_h264_aac(20);
}

#[test]
fn publish_and_dump_back_against_us_and_srs6() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.flv");
    write_flv(&input, 4);
    let ours = Server::start("vhost __defaultVhost__ { }\n");
    round_trip(&ours.url("live/rt"), dir.path(), &input, 0);
    let srs6 = Srs6::start("");
    round_trip(&srs6.url("live/rt"), dir.path(), &input, 3);
}

#[test]
fn detect_names_the_server_and_relay_reaches_srs6() {
    let ours = Server::start("vhost __defaultVhost__ { }\n");
    let srs6 = Srs6::start("");
    let _enc = srs_tests::ffmpeg_publish(&ours.url("live/src"), 60);
    srs_tests::wait_publishing(&ours, 1);
    let report: serde_json::Value =
        serde_json::from_str(tools(&["detect", "-i", &ours.url("live/src"), "-d", "2"]).trim())
            .unwrap();
    assert_eq!(report["server"]["srs_server"], "srs-rs/0.1.0", "{report}");
    assert!(
        report["server"]["srs_pid"].as_u64().unwrap_or(0) > 0,
        "{report}"
    );
    assert_eq!(report["video"]["codec"], "H264", "{report}");
    assert_eq!(report["audio"]["codec"], "AAC", "{report}");
    assert!(
        report["packets"]["video"].as_u64().unwrap_or(0) > 10,
        "{report}"
    );
    assert!(report["first_packet_ms"].as_u64().is_some(), "{report}");
    // SRS 6 names itself too (it answers the same way).
    let _relay = Proc::spawn(
        bin("srs-tools").to_str().unwrap(),
        &[
            "ingest-rtmp",
            "-i",
            &ours.url("live/src"),
            "-y",
            &srs6.url("live/relayed"),
        ],
    );
    srs_tests::ffprobe(&srs6.url("live/relayed"), 2.0, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("relay to SRS 6: {e}\n{}", srs6.log()))
        .assert_h264_aac(10);
    let report: serde_json::Value =
        serde_json::from_str(tools(&["detect", "-i", &srs6.url("live/relayed"), "-d", "1"]).trim())
            .unwrap();
    assert!(
        report["server"]["srs_server"]
            .as_str()
            .unwrap_or("")
            .starts_with("SRS/6"),
        "{report}"
    );
}

#[test]
fn flv_parse_reads_a_file_tag_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.flv");
    write_flv(&input, 2);
    let text = tools(&["flv-parse", input.to_str().unwrap()]);
    assert!(text.contains("FLV header: audio=true video=true"), "{text}");
    assert!(text.contains("onMetaData"), "{text}");
    assert!(text.contains("AVC sequence header: H264 High"), "{text}");
    assert!(
        text.contains("AAC sequence header: AAC Some(44100)"),
        "{text}"
    );
    let mut r = FlvReader::new(std::fs::File::open(&input).unwrap());
    let n = std::iter::from_fn(|| r.next_tag().unwrap()).count();
    assert!(text.contains(&format!("{n} tags")), "{n}: {text}");
    // Not FLV: a clear error, exit 1.
    let o = Command::new(bin("srs-tools"))
        .args(["flv-parse", "/etc/hostname"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("flv"), "{o:?}");
}

/// SRS's bandwidth check: the whole exchange on a `bandcheck` vhost, figures near the
/// limit, a wrong key refused, a second check within the interval refused.
#[test]
fn bandwidth_check_end_to_end() {
    // One worker: the interval is remembered per worker process.
    let s = Server::start(
        "worker_processes 1;\n\
         vhost bandcheck.srs.com { enabled on; chunk_size 65000; \
           bandcheck { enabled on; key \"35c9b402c12a7246868752e2878f7e0e\"; interval 30; limit_kbps 4000; } }\n",
    );
    let tc = |key: &str| format!("rtmp://{}/app?key={key}&vhost=bandcheck.srs.com", s.rtmp[0]);
    // A wrong key: refused at connect.
    let o = Command::new(bin("srs-tools"))
        .args(["bandwidth-check", "-i", &tc("wrong")])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("refused"),
        "{o:?}"
    );
    let report: serde_json::Value = serde_json::from_str(
        tools(&[
            "bandwidth-check",
            "-i",
            &tc("35c9b402c12a7246868752e2878f7e0e"),
        ])
        .trim(),
    )
    .unwrap();
    eprintln!("{report}");
    let n = |k: &str| report[k].as_i64().unwrap_or(-1);
    // Measured, and near the limit: 4000 kbps for about 3 s each way.
    assert!((2800..=4400).contains(&n("play_kbps")), "{report}");
    assert!((2000..=4800).contains(&n("publish_kbps")), "{report}");
    assert!((2900..=4000).contains(&n("play_time")), "{report}");
    assert!((2900..=4500).contains(&n("publish_time")), "{report}");
    assert_eq!(
        n("play_kbps"),
        n("play_bytes") * 8 / n("play_time"),
        "{report}"
    );
    assert!(n("end_time") - n("start_time") >= 6000, "{report}");
    // Again within the interval: NetConnection.Connect.Rejected.
    let o = Command::new(bin("srs-tools"))
        .args([
            "bandwidth-check",
            "-i",
            &tc("35c9b402c12a7246868752e2878f7e0e"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(err.contains("NetConnection.Connect.Rejected"), "{err}");
    assert!(s.log().contains("bandcheck done"), "{}", s.log());
}

/// The client crate's examples (built by `cargo test`): record_flv records what
/// publish_flv publishes, frame for frame.
#[test]
fn client_examples_publish_and_record() {
    let examples = srs_tests::bin_dir().join("examples");
    let (publish, record) = (examples.join("publish_flv"), examples.join("record_flv"));
    assert!(
        publish.is_file() && record.is_file(),
        "the srs-client examples are not built in {} (cargo test builds them)",
        examples.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.flv");
    write_flv(&input, 3);
    let s = Server::start("vhost __defaultVhost__ { }\n");
    let url = s.url("live/ex");
    let out = dir.path().join("out.flv");
    let mut rec = Proc::spawn(record.to_str().unwrap(), &[&url, out.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(800));
    let o = Command::new(&publish)
        .args([input.to_str().unwrap(), &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        rec.wait(Duration::from_secs(30)).unwrap().success(),
        "{}",
        rec.stderr()
    );
    assert_eq!(frames(&out), frames(&input));
}
