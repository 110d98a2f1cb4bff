//! HLS with real clients: ffprobe reads the live m3u8 over HTTP and decodes H.264 + AAC;
//! every segment starts with PAT/PMT and a keyframe, carries PCR and continuous counters,
//! and none exceeds the target duration; expired segments are deleted; a republish adds a
//! discontinuity; audio-only streams segment too; a recorded FLV is served as a vod m3u8.

use srs_protocol::hls::MediaPlaylist;
use srs_protocol::ts::validate_muxed;
use srs_tests::{ffmpeg_publish, ffprobe, wait_publishing, wait_until, Proc, Server};
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(40);

fn hls_server(html: &Path, window: u32) -> Server {
    let d = html.display();
    Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ hls {{ enabled on; hls_fragment 2; hls_window {window}; hls_path {d}; hls_dispose 30; }} }}\n"
    ))
}

fn playlist(path: &Path) -> Option<MediaPlaylist> {
    MediaPlaylist::parse(&std::fs::read_to_string(path).ok()?).ok()
}

fn segment_path(m3u8: &Path, uri: &str) -> PathBuf {
    m3u8.parent().unwrap().join(uri)
}

#[test]
fn live_hls_segments_are_well_formed_and_play() {
    let html = tempfile::tempdir().unwrap();
    let server = hls_server(html.path(), 6);
    let _p = ffmpeg_publish(&server.url("live/hls"), 60);
    wait_publishing(&server, 1);
    let m3u8 = html.path().join("live/hls.m3u8");
    assert!(
        wait_until(T, || playlist(&m3u8).is_some_and(|p| p.segments.len() >= 3)),
        "no playlist with 3 segments:\n{}",
        server.log()
    );
    let pl = playlist(&m3u8).unwrap();
    assert!(!pl.end_list, "a live playlist has no ENDLIST");
    for s in &pl.segments {
        assert!(
            s.duration_ms <= pl.target_duration * 1000,
            "{s:?} exceeds {}",
            pl.target_duration
        );
        let data = std::fs::read(segment_path(&m3u8, &s.uri)).unwrap();
        let sum = validate_muxed(&data, true).unwrap_or_else(|e| panic!("{}: {e}", s.uri));
        assert!(
            sum.video_keyframes >= 1 && !sum.audio_pts.is_empty(),
            "{}: {sum:?}",
            s.uri
        );
        assert_eq!(data[0], 0x47);
    }
    // A real client: ffprobe over HTTP decodes H.264 and AAC from the playlist, and a single
    // segment on its own.
    let url = server.http_url("/live/hls.m3u8");
    ffprobe(&url, 3.0, T).unwrap().assert_h264_aac(20);
    let seg0 = segment_path(&m3u8, &pl.segments[0].uri);
    let probe = ffprobe(seg0.to_str().unwrap(), 10.0, T).unwrap();
    probe.assert_h264_aac(10);
    assert!(
        probe.of("video")[0].key_frame,
        "a segment starts with a keyframe"
    );
    // The window slides and what leaves it is deleted.
    let first = segment_path(&m3u8, &pl.segments[0].uri);
    assert!(
        wait_until(T, || playlist(&m3u8).is_some_and(|p| p.media_sequence > 0)
            && !first.exists()),
        "expired segment {} not deleted",
        first.display()
    );
    let pl = playlist(&m3u8).unwrap();
    let listed: f64 = pl
        .segments
        .iter()
        .map(|s| s.duration_ms as f64 / 1000.0)
        .sum();
    assert!(
        listed <= 6.0 + 2.5 * pl.target_duration as f64,
        "window {listed} s"
    );
}

#[test]
fn republish_adds_a_discontinuity_and_audio_only_segments() {
    let html = tempfile::tempdir().unwrap();
    let server = hls_server(html.path(), 20);
    let url = server.url("live/again");
    let m3u8 = html.path().join("live/again.m3u8");
    let mut first = ffmpeg_publish(&url, 6);
    wait_publishing(&server, 1);
    assert!(wait_until(T, || playlist(&m3u8)
        .is_some_and(|p| !p.segments.is_empty())));
    first.wait(T).unwrap();
    let _second = ffmpeg_publish(&url, 60);
    wait_publishing(&server, 2);
    assert!(
        wait_until(T, || playlist(&m3u8).is_some_and(|p| p
            .segments
            .iter()
            .any(|s| s.discontinuity)
            && p.segments.iter().skip_while(|s| !s.discontinuity).count() >= 2)),
        "no discontinuity after the republish: {:?}",
        std::fs::read_to_string(&m3u8)
    );
    // ffprobe still reads the playlist across the discontinuity.
    ffprobe(&server.http_url("/live/again.m3u8"), 2.0, T)
        .unwrap()
        .assert_h264_aac(10);

    // Audio only.
    let mut audio = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100",
            "-t",
            "30",
            "-c:a",
            "aac",
            "-f",
            "flv",
            &server.url("live/radio"),
        ],
    );
    let radio = html.path().join("live/radio.m3u8");
    assert!(
        wait_until(T, || playlist(&radio)
            .is_some_and(|p| p.segments.len() >= 2)),
        "audio-only stream not segmented:\n{}",
        server.log()
    );
    let pl = playlist(&radio).unwrap();
    let data = std::fs::read(segment_path(&radio, &pl.segments[0].uri)).unwrap();
    let sum = validate_muxed(&data, false).unwrap();
    assert!(sum.video_pts.is_empty() && !sum.audio_pts.is_empty());
    let probe = ffprobe(&server.http_url("/live/radio.m3u8"), 2.0, T).unwrap();
    assert_eq!(probe.codec("audio"), Some("aac"));
    assert_eq!(probe.codec("video"), None);
    audio.kill();
}

#[test]
fn a_recorded_flv_is_served_as_vod_hls() {
    let html = tempfile::tempdir().unwrap();
    let server = hls_server(html.path(), 60);
    std::fs::create_dir_all(html.path().join("rec")).unwrap();
    let flv = html.path().join("rec/show.flv");
    let mut mk = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "9",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-y",
            flv.to_str().unwrap(),
        ],
    );
    assert!(mk.wait(T).unwrap().success(), "{}", mk.stderr());
    let url = server.http_url("/rec/show.m3u8");
    let probe = ffprobe(&url, 30.0, T).unwrap();
    probe.assert_h264_aac(100);
    let last = probe.of("video").last().unwrap().pts_time - probe.of("video")[0].pts_time;
    assert!(last > 8.0, "the whole recording is there: {last} s");
}

/// `hls_ts_file` with SRS's date placeholders, `hls_entry_prefix` before each URI, and
/// `hls_acodec an` leaving audio out.
#[test]
fn date_placeholders_entry_prefix_and_no_audio() {
    let html = tempfile::tempdir().unwrap();
    let d = html.path().display();
    let server = Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ hls {{ enabled on; hls_fragment 2; hls_window 20; hls_path {d}; \
           hls_ts_file [app]/[2006]/[stream]-[seq].ts; hls_entry_prefix http://cdn.example.net; hls_acodec an; }} }}\n"
    ));
    let _p = ffmpeg_publish(&server.url("live/dated"), 60);
    wait_publishing(&server, 1);
    let m3u8 = html.path().join("live/dated.m3u8");
    assert!(
        wait_until(T, || playlist(&m3u8).is_some_and(|p| p.segments.len() >= 2)),
        "no playlist:\n{}",
        server.log()
    );
    let year = std::process::Command::new("date")
        .arg("+%Y")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap();
    let pl = playlist(&m3u8).unwrap();
    for s in &pl.segments {
        let want = format!("http://cdn.example.net/live/{year}/dated-");
        assert!(s.uri.starts_with(&want), "{} (want {want}...)", s.uri);
        let file = html
            .path()
            .join("live")
            .join(s.uri.trim_start_matches("http://cdn.example.net/live/"));
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let sum = validate_muxed(&data, true).unwrap_or_else(|e| panic!("{}: {e}", s.uri));
        assert!(sum.video_keyframes >= 1, "{sum:?}");
        assert!(sum.audio_pts.is_empty(), "hls_acodec an: {sum:?}");
    }
}

/// `hls_on_error`: `disconnect` closes the publisher when HLS cannot be written;
/// `ignore` stops HLS for the publish and the stream plays on.
#[test]
fn hls_on_error_disconnect_and_ignore() {
    let server = Server::start(
        "http_api { enabled on; listen 127.0.0.1:0; }\n\
         vhost __defaultVhost__ { hls { enabled on; hls_fragment 1; hls_path /dev/null/cannot; hls_on_error disconnect; } }\n\
         vhost quiet.example { hls { enabled on; hls_fragment 1; hls_path /dev/null/cannot; hls_on_error ignore; } }\n",
    );
    let mut kicked = ffmpeg_publish(&server.url("live/kicked"), 60);
    let _kept = ffmpeg_publish(&server.url("live?vhost=quiet.example/kept"), 60);
    wait_publishing(&server, 2);
    let status = kicked.wait(T).expect("the publisher was disconnected");
    assert!(!status.success(), "{status:?}");
    assert!(
        server.log().contains("the publisher is disconnected"),
        "{}",
        server.log()
    );
    assert!(
        wait_until(T, || server.log().contains("HLS stops for this publish")),
        "{}",
        server.log()
    );
    ffprobe(&server.url("live/kept?vhost=quiet.example"), 2.0, T)
        .unwrap()
        .assert_h264_aac(10);
    assert_eq!(
        server.count_log("HLS stops for this publish"),
        1,
        "{}",
        server.log()
    );
}

/// The segments after a playlist's last discontinuity: (first video DTS in 90 kHz, duration
/// in ms).
fn segment_starts(m3u8: &Path) -> Vec<(u64, u64)> {
    let pl = playlist(m3u8).unwrap();
    let last = pl
        .segments
        .iter()
        .rposition(|s| s.discontinuity)
        .unwrap_or(0);
    pl.segments[last..]
        .iter()
        .map(|s| {
            let data = std::fs::read(segment_path(m3u8, &s.uri)).unwrap();
            let sum = validate_muxed(&data, true).unwrap_or_else(|e| panic!("{}: {e}", s.uri));
            let start = *sum
                .video_dts
                .first()
                .unwrap_or_else(|| panic!("{}: no video", s.uri));
            (start, s.duration_ms)
        })
        .collect()
}

/// `atc on`: two origins fed the same stream write HLS with the encoder's timestamps, so
/// their segments line up (same start times, same durations) even though one of them had
/// an earlier publish of the stream, after which `time_jitter full` would go on from
/// that publish's end.
#[test]
fn atc_lines_up_two_origins() {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let servers: Vec<Server> = dirs
        .iter()
        .map(|d| {
            let d = d.path().display();
            Server::start(&format!(
                "vhost __defaultVhost__ {{ play {{ atc on; }} hls {{ enabled on; hls_fragment 2; hls_window 60; hls_path {d}; }} }}\n"
            ))
        })
        .collect();
    // The second origin had the stream before.
    let mut early = ffmpeg_publish(&servers[1].url("live/atc"), 3);
    let _ = early.wait(T);
    std::thread::sleep(Duration::from_secs(1));
    // One encoder, both origins. The tee muxer does not ask for global headers: without
    // them FLV gets an empty AVC sequence header.
    let mut enc = srs_tests::ffmpeg_tee_publish(
        &[servers[0].url("live/atc"), servers[1].url("live/atc")],
        9,
        &["-tune", "zerolatency", "-flags", "+global_header"],
    );
    assert!(enc.wait(T).unwrap().success(), "{}", enc.stderr());
    let m3u8: Vec<PathBuf> = dirs
        .iter()
        .map(|d| d.path().join("live/atc.m3u8"))
        .collect();
    assert!(
        wait_until(T, || m3u8
            .iter()
            .all(|p| playlist(p).is_some_and(|pl| pl.segments.len() >= 3))),
        "no playlists"
    );
    let a = segment_starts(&m3u8[0]);
    let b = segment_starts(&m3u8[1]);
    let common: Vec<&(u64, u64)> = a.iter().filter(|s| b.contains(s)).collect();
    eprintln!("A {a:?}\nB {b:?}");
    assert!(
        common.len() >= 3,
        "the origins' segments do not line up:\nA {a:?}\nB {b:?}"
    );
}
