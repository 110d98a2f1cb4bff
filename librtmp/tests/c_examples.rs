//! The C examples (`librtmp/examples/*.c`), built with `cc` against `include/srs_librtmp.h`
//! and the static (or shared) library, run against our server: publish an FLV file, dump
//! the stream to FLV (ffprobe reads it), publish raw H.264, and every bad call an error.

use srs_tests::{require_tool, wait_publishing, Proc, Server};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Build example `name` into `out`, linked with the static library, or the shared one.
fn build(name: &str, out: &Path, shared: bool) -> PathBuf {
    require_tool("cc");
    let lib_dir = srs_tests::bin_dir();
    let exe = out.join(name);
    let mut cc = Command::new("cc");
    cc.args(["-Wall", "-Werror", "-std=gnu99", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join(format!("examples/{name}.c")));
    if shared {
        cc.arg("-L").arg(&lib_dir).arg("-lsrs_librtmp");
    } else {
        let a = lib_dir.join("libsrs_librtmp.a");
        assert!(
            a.is_file(),
            "{} not built: `cargo build --release --workspace --bins --lib` builds it (scripts/test.sh does)",
            a.display()
        );
        cc.arg(a).args(["-lpthread", "-ldl", "-lm"]);
    }
    let o = cc.arg("-o").arg(&exe).output().expect("run cc");
    assert!(
        o.status.success(),
        "cc {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    exe
}

fn run(exe: &Path, args: &[&str]) -> std::process::Output {
    Command::new(exe)
        .args(args)
        .env("LD_LIBRARY_PATH", srs_tests::bin_dir())
        .output()
        .expect("run the example")
}

/// Run an example that must succeed; its standard output.
fn run_ok(exe: &Path, args: &[&str]) -> String {
    let o = run(exe, args);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{}: {out}{}",
        exe.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn write_flv(path: &Path, seconds: u32) {
    srs_tests::write_test_flv(path, seconds, "320x240", true);
}

#[test]
fn c_programs_publish_dump_and_raw_h264() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let publish = build("publish_flv", dir.path(), false);
    let dump = build("dump_flv", dir.path(), true);
    let h264 = build("publish_h264", dir.path(), false);
    let s = Server::start("vhost __defaultVhost__ { }\n");
    let input = dir.path().join("in.flv");
    write_flv(&input, 6);
    // A player first (it gets the publish from its start), then the publisher.
    let out = dir.path().join("dump.flv");
    let url = s.url("live/c");
    let dumper = {
        let (dump, url, out) = (dump.clone(), url.clone(), out.clone());
        std::thread::spawn(move || run(&dump, &[&url, out.to_str().unwrap(), "200"]))
    };
    std::thread::sleep(Duration::from_millis(800));
    let o = run(&publish, &[input.to_str().unwrap(), &url]);
    assert!(
        o.status.success(),
        "publish_flv: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(text.contains("published"), "{text}");
    let o = dumper.join().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "dump_flv: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The server said who it is; packets were described as SRS describes them.
    assert!(
        text.contains("server sig=SRS pid=") && text.contains("version=0.1.0"),
        "{text}"
    );
    assert!(
        text.contains("Video packet type=Video") || text.contains("Data packet"),
        "{text}"
    );
    let p = srs_tests::ffprobe(out.to_str().unwrap(), 5.0, Duration::from_secs(30)).unwrap();
    p.assert_h264_aac(20);

    // Raw H.264 (Annex B), with the sequence header built by the library.
    let raw = dir.path().join("in.h264");
    srs_tests::ffmpeg_write(
        &raw,
        4,
        "176x144",
        false,
        &["-preset", "ultrafast", "-g", "25"],
        &["-bsf:v", "h264_mp4toannexb", "-f", "h264"],
    );
    let mut pub_raw = Proc::spawn(
        h264.to_str().unwrap(),
        &[raw.to_str().unwrap(), &s.url("live/raw"), "25"],
    );
    wait_publishing(&s, 2);
    let p = srs_tests::ffprobe(&s.url("live/raw"), 1.5, Duration::from_secs(30)).unwrap();
    assert_eq!(p.codec("video"), Some("h264"), "{p:?}");
    assert_eq!(p.size, Some((176, 144)));
    assert!(p.of("video").len() >= 20, "{p:?}");
    assert!(
        pub_raw.wait(Duration::from_secs(30)).unwrap().success(),
        "{}",
        pub_raw.stderr()
    );
}

/// An MP4 made by ffmpeg (B-frames, AAC; `moov` after `mdat`, and before it with
/// `+faststart`) read with `srs_mp4_*`: to an FLV file with every frame, and published to the
/// server, whose DVR records every frame too.
#[test]
fn c_mp4_reader_to_flv_and_to_the_server() {
    require_tool("ffmpeg");
    let dir = tempfile::tempdir().unwrap();
    let exe = build("ingest_mp4", dir.path(), false);
    let frames = srs_tests::count_frames;
    for faststart in [false, true] {
        let mp4 = dir.path().join(format!("in-{faststart}.mp4"));
        let out: &[&str] = if faststart {
            &["-b:a", "64k", "-movflags", "+faststart"]
        } else {
            &["-b:a", "64k"]
        };
        srs_tests::ffmpeg_write(
            &mp4,
            4,
            "320x240",
            true,
            &["-preset", "veryfast", "-bf", "2", "-g", "50"],
            out,
        );
        let (v, a) = (frames(&mp4, "v"), frames(&mp4, "a"));
        assert!(v >= 95, "{v} video frames in the MP4");
        let flv = dir.path().join(format!("out-{faststart}.flv"));
        let text = run_ok(&exe, &[mp4.to_str().unwrap(), flv.to_str().unwrap()]);
        let count = |k: &str| -> u32 {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        // ffmpeg's AAC starts with a priming frame that the MP4's edit list hides from
        // ffprobe's count; the reader gives every sample, as SRS's does.
        assert!(
            count("headers=") == 2
                && count("video=") == v
                && (a..=a + 1).contains(&count("audio=")),
            "{text} (ffprobe: video={v} audio={a})"
        );
        assert_eq!(
            frames(&flv, "v"),
            v,
            "every video frame decodes from the FLV"
        );
        assert_eq!(
            frames(&flv, "a"),
            count("audio="),
            "every audio frame decodes from the FLV"
        );
        // The edit lists (the video's B-frame delay, the AAC priming) keep audio and video
        // in step: both start within a frame of each other.
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,start_time",
            ])
            .args(["-of", "csv=p=0"])
            .arg(&flv)
            .output()
            .unwrap();
        let starts = String::from_utf8_lossy(&o.stdout).to_string();
        let start = |kind: &str| -> f64 {
            starts
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{kind},")))
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(f64::NAN)
        };
        assert!(
            (start("video") - start("audio")).abs() <= 0.03,
            "A/V start times differ: {starts}"
        );
        let p = srs_tests::ffprobe(flv.to_str().unwrap(), 10.0, Duration::from_secs(30)).unwrap();
        p.assert_h264_aac(50);
        // B-frames: composition offsets survive the conversion (some packet's PTS is not
        // its DTS).
        let o = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "v",
                "-show_entries",
                "packet=pts,dts",
            ])
            .args(["-of", "csv=p=0"])
            .arg(&flv)
            .output()
            .unwrap();
        let packets = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            packets.lines().any(|l| {
                let mut it = l.split(',');
                it.next() != it.next()
            }),
            "no composition offsets: {packets}"
        );
    }

    // Published to the server and recorded by its DVR: every frame.
    let rec = tempfile::tempdir().unwrap();
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {}/[stream].flv; }} }}\n",
        rec.path().display()
    ));
    let mp4 = dir.path().join("in-true.mp4");
    run_ok(&exe, &[mp4.to_str().unwrap(), &s.url("live/mp4")]);
    let want = rec.path().join("mp4.flv");
    assert!(
        srs_tests::wait_until(Duration::from_secs(20), || want.exists()),
        "{}",
        s.log()
    );
    assert_eq!(frames(&want, "v"), frames(&mp4, "v"));

    // Not an MP4: a clear error, no crash.
    let o = run(
        &exe,
        &[
            exe.to_str().unwrap(),
            dir.path().join("x.flv").to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not an MP4"));
}

#[test]
fn c_amf0_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build("amf0", dir.path(), true);
    run_ok(&exe, &[]);
}

#[test]
fn c_bad_calls_are_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = build("bad_input", dir.path(), false);
    run_ok(&bad, &[]);
}

#[test]
fn c_bandwidth_check() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build("bandwidth_check", dir.path(), false);
    let s = Server::start(
        "worker_processes 1;\n\
         vhost bandcheck.srs.com { bandcheck { enabled on; key \"k1\"; interval 30; limit_kbps 2000; } }\n",
    );
    let url = format!("rtmp://{}/app?key=k1&vhost=bandcheck.srs.com", s.rtmp[0]);
    let text = run_ok(&exe, &[&url]);
    let kbps: i64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("play_kbps="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!((1400..=2200).contains(&kbps), "{text}");
}
