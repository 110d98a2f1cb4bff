//! DVR to FLV: the session and segment plans, path templates, files that ffprobe reads
//! with metadata first and a keyframe index, no temporary file left behind.

use srs_tests::{ffmpeg_publish, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn files(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// ffprobe's view of a file: (duration in seconds, codec names, first video frame is key).
fn probe(f: &Path) -> (f64, String, bool) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_name",
            "-of",
            "default=nw=1",
        ])
        .arg(f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        f.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let duration = text
        .lines()
        .find_map(|l| l.strip_prefix("duration="))
        .and_then(|d| d.parse().ok())
        .unwrap_or(0.0);
    let key = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v",
            "-read_intervals",
            "%+#1",
            "-show_entries",
            "frame=key_frame",
            "-of",
            "csv=p=0",
        ])
        .arg(f)
        .output()
        .unwrap();
    let first_key = String::from_utf8_lossy(&key.stdout).trim().starts_with('1');
    (duration, text, first_key)
}

fn wait_files(d: &Path, n: usize) -> Vec<PathBuf> {
    assert!(
        srs_tests::wait_until(Duration::from_secs(20), || files(d)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "flv"))
            .count()
            >= n),
        "{:?}",
        files(d)
    );
    files(d)
}

#[test]
fn session_plan_records_a_publish_to_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_plan session; \
           dvr_path {d}/[vhost]/[app]/[stream].[2006][01][02].[timestamp].flv; }} }}\n"
    ));
    let mut enc = ffmpeg_publish(&s.url("live/rec"), 4);
    let _ = enc.wait(Duration::from_secs(20));
    let all = wait_files(dir.path(), 1);
    assert_eq!(all.len(), 1, "one file, no temporary file: {all:?}");
    let f = &all[0];
    let rel = f.strip_prefix(dir.path()).unwrap().display().to_string();
    assert!(rel.starts_with("__defaultVhost__/live/rec.20"), "{rel}");
    let (duration, codecs, first_key) = probe(f);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    assert!((3.0..5.5).contains(&duration), "{duration}");
    assert!(first_key, "a recording starts at a keyframe");
    // Metadata first, with the index players seek with.
    let bytes = std::fs::read(f).unwrap();
    assert_eq!(bytes[13], 18, "onMetaData is the first tag");
    let head = String::from_utf8_lossy(&bytes[..4096.min(bytes.len())]).to_string();
    assert!(
        head.contains("keyframes") && head.contains("filepositions") && head.contains("filesize")
    );
}

/// A 7 s publish with a GOP of 2 s (ffmpeg_publish) and `dvr_duration 2`: cuts at 2, 4
/// and 6 s, every file but the last 2 s long (within 15 %), each starting on a keyframe.
fn segment_plan(ext: &str) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_plan segment; dvr_duration 2; \
           dvr_path {d}/[stream]-[timestamp].{ext}; }} }}\n"
    ));
    let mut enc = ffmpeg_publish(&s.url("live/seg"), 7);
    let _ = enc.wait(Duration::from_secs(20));
    let ours = |p: &PathBuf| p.extension().is_some_and(|e| e == ext);
    assert!(
        srs_tests::wait_until(Duration::from_secs(20), || files(dir.path())
            .iter()
            .filter(|p| ours(p))
            .count()
            >= 4),
        "{:?}",
        files(dir.path())
    );
    std::thread::sleep(Duration::from_millis(500));
    let all = files(dir.path());
    assert!(all.iter().all(ours), "no temporary file: {all:?}");
    assert_eq!(all.len(), 4, "{all:?}");
    for (i, f) in all.iter().enumerate() {
        let (duration, codecs, first_key) = probe(f);
        assert!(
            codecs.contains("h264") && codecs.contains("aac"),
            "{codecs}"
        );
        assert!(first_key, "{}: starts at a keyframe", f.display());
        if i + 1 < all.len() {
            assert!(
                (1.7..2.3).contains(&duration),
                "{}: {duration} s, not 2 s",
                f.display()
            );
        } else {
            assert!(
                duration > 0.5,
                "{}: no empty tail file ({duration} s)",
                f.display()
            );
        }
    }
}

#[test]
fn segment_plan_cuts_at_keyframes_past_the_duration() {
    segment_plan("flv");
}

#[test]
fn segment_plan_to_mp4() {
    segment_plan("mp4");
}

#[test]
fn a_stop_finishes_the_recording_under_its_final_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let mut s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {d}/[stream].flv; }} }}\n"
    ));
    let _enc = ffmpeg_publish(&s.url("live/stopped"), 30);
    srs_tests::wait_publishing(&s, 1);
    std::thread::sleep(Duration::from_secs(3));
    // A fast stop (SIGTERM) while recording.
    let status = s.stop();
    assert!(status.is_some_and(|st| st.success()), "{status:?}");
    let all = files(dir.path());
    assert_eq!(all, vec![dir.path().join("stopped.flv")], "{all:?}");
    let (duration, codecs, first_key) = probe(&all[0]);
    assert!(
        codecs.contains("h264") && first_key && duration > 1.0,
        "{codecs} {duration}"
    );
}

/// ffmpeg publishing `seconds` of H.264 with B-frames (composition offsets) and AAC.
fn publish_with_b_frames(url: &str, seconds: u32) -> srs_tests::Proc {
    srs_tests::ffmpeg_publish_x264(
        url,
        seconds,
        "320x240",
        &["-preset", "veryfast", "-bf", "2"],
    )
}

/// Seek with ffmpeg into the middle of `f`: the first frame shown is a keyframe near
/// `at` seconds, and what follows decodes without an error.
fn seeks(f: &Path, at: f64) {
    let at_s = format!("{at}");
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-read_intervals"])
        .arg(format!("{at}%+#1"))
        .args([
            "-show_entries",
            "frame=pts_time,key_frame",
            "-of",
            "csv=p=0",
        ])
        .arg(f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let first = text.lines().next().unwrap_or_default().to_string();
    let mut parts = first.split(',');
    let key = parts.next().unwrap_or_default();
    let pts: f64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(-1.0);
    assert_eq!(
        key,
        "1",
        "{}: seek to {at} s lands on a keyframe: {text}",
        f.display()
    );
    assert!(
        (at - 2.1..=at + 0.1).contains(&pts),
        "{}: seek to {at} s lands at {pts} s",
        f.display()
    );
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-ss", &at_s, "-i"])
        .arg(f)
        .args(["-t", "1", "-f", "null", "-"])
        .status()
        .unwrap();
    assert!(status.success(), "{}: decoding from {at} s", f.display());
}

/// The `onMetaData` of an FLV file: (duration, filesize).
fn flv_meta(f: &Path) -> (f64, f64) {
    let mut r = srs_protocol::flv::FlvReader::new();
    r.push(&std::fs::read(f).unwrap());
    let tag = r.next_tag().unwrap().unwrap();
    assert_eq!(tag.tag_type, srs_protocol::flv::tag_type::SCRIPT);
    let v = srs_protocol::amf0::decode_all(&tag.body).unwrap();
    let props = v[1].properties().unwrap();
    let num = |k: &str| {
        props
            .iter()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.as_f64())
            .unwrap_or(-1.0)
    };
    (num("duration"), num("filesize"))
}

#[test]
fn mp4_session_is_a_seekable_isom_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {d}/[app]/[stream].mp4; }} }}\n"
    ));
    let mut enc = publish_with_b_frames(&s.url("live/mp4"), 6);
    let _ = enc.wait(Duration::from_secs(30));
    let want = dir.path().join("live/mp4.mp4");
    assert!(
        srs_tests::wait_until(Duration::from_secs(20), || want.exists()),
        "{:?}",
        files(dir.path())
    );
    assert_eq!(
        files(dir.path()),
        vec![want.clone()],
        "no temporary file left"
    );
    let bytes = std::fs::read(&want).unwrap();
    assert_eq!(&bytes[4..12], b"ftypisom");
    for b in [b"moov", b"stss", b"ctts", b"stco", b"avcC", b"esds"] {
        assert!(
            bytes.windows(4).any(|w| w == b),
            "{} box missing",
            String::from_utf8_lossy(b)
        );
    }
    let (duration, codecs, first_key) = probe(&want);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    assert!(first_key, "starts at a keyframe");
    assert!((6.0 * 0.85..6.0 * 1.15).contains(&duration), "{duration}");
    // Every frame is there and decodes.
    let frames = srs_tests::count_frames(&want, "v");
    assert!((130..=155).contains(&frames), "{frames} frames of 150");
    seeks(&want, 3.0);
}

#[test]
fn flv_session_metadata_matches_the_file_and_seeks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {d}/[stream].flv; }} }}\n"
    ));
    let mut enc = publish_with_b_frames(&s.url("live/b"), 6);
    let _ = enc.wait(Duration::from_secs(30));
    let all = wait_files(dir.path(), 1);
    let f = &all[0];
    let (meta_duration, meta_size) = flv_meta(f);
    assert_eq!(meta_size, std::fs::metadata(f).unwrap().len() as f64);
    let (duration, _, first_key) = probe(f);
    assert!(first_key);
    assert!((6.0 * 0.85..6.0 * 1.15).contains(&duration), "{duration}");
    assert!(
        (meta_duration - duration).abs() < 0.15,
        "metadata says {meta_duration} s, ffprobe {duration} s"
    );
    seeks(f, 3.0);
}

/// DVR turned on by a reload records a stream that is already live (from its next
/// keyframe); turned off, the file is finished under its final name while the publish
/// goes on.
#[test]
fn reload_turns_dvr_on_and_off_for_a_live_stream() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let dvr = |on: &str| format!("dvr {{ enabled {on}; dvr_path {d}/[stream].[timestamp].flv; }}");
    let s = Server::start(&format!("vhost __defaultVhost__ {{ {} }}\n", dvr("off")));
    let conf = s.dir.path().join("srs.conf");
    let rewrite = |from: &str, to: &str| {
        let t = std::fs::read_to_string(&conf).unwrap().replace(from, to);
        std::fs::write(&conf, t).unwrap();
        s.signal(nix::sys::signal::Signal::SIGHUP);
    };
    let _enc = ffmpeg_publish(&s.url("live/later"), 60);
    srs_tests::wait_publishing(&s, 1);
    std::thread::sleep(Duration::from_secs(1));
    assert!(files(dir.path()).is_empty(), "recording while off");
    rewrite(&dvr("off"), &dvr("on"));
    assert!(
        srs_tests::wait_until(Duration::from_secs(15), || !files(dir.path()).is_empty()),
        "a reload did not start the recording:\n{}",
        s.log()
    );
    std::thread::sleep(Duration::from_secs(5));
    rewrite(&dvr("on"), &dvr("off"));
    let done = |p: &PathBuf| p.extension().is_some_and(|e| e == "flv");
    assert!(
        srs_tests::wait_until(Duration::from_secs(15), || {
            let f = files(dir.path());
            f.len() == 1 && done(&f[0])
        }),
        "a reload did not finish the recording: {:?}\n{}",
        files(dir.path()),
        s.log()
    );
    let f = files(dir.path()).remove(0);
    let (duration, codecs, first_key) = probe(&f);
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    assert!(first_key, "starts at a keyframe");
    assert!((2.5..8.0).contains(&duration), "{duration}");
    let (meta_duration, meta_size) = flv_meta(&f);
    assert_eq!(meta_size, std::fs::metadata(&f).unwrap().len() as f64);
    assert!(
        (meta_duration - duration).abs() < 0.15,
        "{meta_duration} vs {duration}"
    );
    // The publish goes on, and no new file starts.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(files(dir.path()), vec![f]);
    assert_eq!(s.count_log("unpublish"), 0, "{}", s.log());
}

/// A `dvr_path` that cannot be written: one clear log line per try, the tries backing
/// off (1, 2, 4 s), and the stream plays on.
#[test]
fn an_unwritable_dvr_path_backs_off_and_the_stream_plays_on() {
    let s = Server::start(
        "vhost __defaultVhost__ { dvr { enabled on; dvr_path /dev/null/cannot/[stream].flv; } }\n",
    );
    let _enc = ffmpeg_publish(&s.url("live/nodisk"), 30);
    srs_tests::wait_publishing(&s, 1);
    let probe = srs_tests::ffprobe(&s.url("live/nodisk"), 2.0, Duration::from_secs(20))
        .expect("the stream plays while DVR fails");
    probe.assert_h264_aac(10);
    std::thread::sleep(Duration::from_secs(5));
    // Keyframes every 2 s: tries at the first keyframe, then waiting 1, 2, 4, 8 s between
    // tries (so at most 5 in the first 16 s, not one per keyframe).
    let tries = s.count_log("cannot start a file");
    assert!((1..=5).contains(&tries), "{tries} tries:\n{}", s.log());
    assert!(s.log().contains("Not a directory"), "{}", s.log());
}

/// An encoder that sends its SPS and PPS in band, after an empty AVC sequence header
/// (ffmpeg's tee muxer without `global_header` does): HLS and an MP4 recording still carry
/// decodable video, the MP4's `avcC` built from the first keyframe, and the API reports
/// the picture size from the in-band SPS.
#[test]
fn in_band_parameter_sets_reach_hls_and_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "http_api {{ enabled on; listen 127.0.0.1:0; }}\n\
         vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {d}/[app]/[stream].mp4; }} \
           hls {{ enabled on; hls_fragment 2; hls_window 20; hls_path {d}/hls; }} }}\n"
    ));
    let mut enc = srs_tests::ffmpeg_tee_publish(&[s.url("live/inband")], 6, &["-bf", "2"]);
    srs_tests::wait_publishing(&s, 1);
    let api = s.http_addr("api").expect("API listener");
    let video = || -> serde_json::Value {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(api).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = write!(
            c,
            "GET /api/v1/streams HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let mut raw = String::new();
        let _ = c.read_to_string(&mut raw);
        let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
        serde_json::from_str::<serde_json::Value>(body).unwrap_or_default()["streams"][0]["video"]
            .clone()
    };
    assert!(
        srs_tests::wait_until(Duration::from_secs(10), || video()["width"] == 320),
        "API video: {}",
        video()
    );
    assert_eq!(video()["height"], 240);
    let _ = enc.wait(Duration::from_secs(30));
    let mp4 = dir.path().join("live/inband.mp4");
    assert!(
        srs_tests::wait_until(Duration::from_secs(20), || mp4.exists()),
        "{:?}\n{}",
        files(dir.path()),
        s.log()
    );
    let count = |f: &Path| srs_tests::count_frames(f, "v");
    let frames = count(&mp4);
    assert!(
        (130..=155).contains(&frames),
        "{frames} frames of 150 in the MP4"
    );
    let (_, codecs, first_key) = probe(&mp4);
    assert!(codecs.contains("h264") && first_key, "{codecs}");
    seeks(&mp4, 3.0);
    let segments: Vec<PathBuf> = files(&dir.path().join("hls"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ts"))
        .collect();
    assert!(segments.len() >= 2, "{segments:?}");
    for seg in &segments {
        let data = std::fs::read(seg).unwrap();
        let sum = srs_protocol::ts::validate_muxed(&data, true)
            .unwrap_or_else(|e| panic!("{}: {e}", seg.display()));
        assert!(sum.video_keyframes >= 1, "{}: {sum:?}", seg.display());
        assert!(count(seg) >= 25, "{}: video decodes", seg.display());
    }
}
