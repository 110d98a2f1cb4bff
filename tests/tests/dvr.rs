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

#[test]
fn segment_plan_cuts_at_keyframes_past_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_plan segment; dvr_duration 2; \
           dvr_path {d}/[stream]-[timestamp].flv; }} }}\n"
    ));
    // A GOP of 2 s (ffmpeg_publish): cuts at 2 s, 4 s, 6 s of an 7 s publish.
    let mut enc = ffmpeg_publish(&s.url("live/seg"), 7);
    let _ = enc.wait(Duration::from_secs(20));
    wait_files(dir.path(), 3);
    std::thread::sleep(Duration::from_millis(500));
    let all: Vec<_> = files(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "flv"))
        .collect();
    assert!(all.len() >= 3, "{all:?}");
    assert!(files(dir.path())
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".tmp")));
    for f in &all {
        let (duration, codecs, first_key) = probe(f);
        assert!(codecs.contains("h264"), "{codecs}");
        assert!(first_key, "{}: starts at a keyframe", f.display());
        assert!(
            duration > 0.5,
            "{}: no empty tail file ({duration} s)",
            f.display()
        );
    }
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
