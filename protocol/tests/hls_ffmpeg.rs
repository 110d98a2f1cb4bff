//! End-to-end checks of the MPEG-TS muxer and the HLS segmenter against ffmpeg's own
//! reading of their output: FLV files made by ffmpeg are read with `FlvReader`, fed through
//! the muxer or segmenter as the server would feed RTMP messages, and the resulting .ts and
//! .m3u8 files are probed and decoded with ffprobe and ffmpeg. ffmpeg (with libx264 and
//! libx265) and ffprobe must be installed: these tests fail, loudly, without them.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::BytesMut;
use srs_protocol::codec::{audio_info, video_info, VideoCodec};
use srs_protocol::flv::{tag_type, FlvReader, Tag};
use srs_protocol::hls::{HlsAction, HlsConfig, HlsSegmenter, MediaMessage, MediaPlaylist};
use srs_protocol::ts::{
    parse_packet, validate_muxed, MediaKind, Prepared, Skipped, TsMuxer, PMT_PID, VIDEO_PID,
};

fn tool(name: &str) -> Command {
    let ok = Command::new(name)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{name}` is required by this test and was not found or does not run \
         (install ffmpeg, e.g. `apt-get install ffmpeg`)"
    );
    Command::new(name)
}

/// Run ffmpeg with `args` and return what it writes to stdout.
fn ffmpeg_stdout(args: &[&str]) -> Vec<u8> {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-nostdin"])
        .args(args)
        .arg("pipe:1")
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn read_flv(bytes: &[u8]) -> Vec<Tag> {
    let mut r = FlvReader::new();
    r.push(bytes);
    let mut tags = Vec::new();
    while let Some(t) = r.next_tag().expect("valid FLV") {
        tags.push(t);
    }
    assert!(!tags.is_empty());
    tags
}

fn kind(t: &Tag) -> Option<MediaKind> {
    match t.tag_type {
        tag_type::AUDIO => Some(MediaKind::Audio),
        tag_type::VIDEO => Some(MediaKind::Video),
        _ => None,
    }
}

/// A directory under the system temp dir, removed on drop (kept when `SRS_KEEP_TEST_DIRS`
/// is set, to look at the files after a failure).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("srs-protocol-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("SRS_KEEP_TEST_DIRS").is_some() {
            return;
        }
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// ffprobe's compact output as (section, key → value) rows.
fn ffprobe(args: &[&str], path: &Path) -> Vec<(String, HashMap<String, String>)> {
    let out = tool("ffprobe")
        .args(["-v", "error", "-of", "compact"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ffprobe failed: {stderr}");
    assert!(stderr.trim().is_empty(), "ffprobe reported: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('|');
            let section = parts.next()?.to_string();
            let kv = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Some((section, kv))
        })
        .collect()
}

/// Decode everything with ffmpeg: no error may be reported.
fn ffmpeg_decodes_cleanly(path: &Path) {
    let out = tool("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ffmpeg could not decode {path:?}: {stderr}"
    );
    assert!(
        stderr.trim().is_empty(),
        "ffmpeg reported errors on {path:?}: {stderr}"
    );
}

fn rows<'a>(
    probe: &'a [(String, HashMap<String, String>)],
    section: &str,
) -> Vec<&'a HashMap<String, String>> {
    probe
        .iter()
        .filter(|(s, _)| s == section)
        .map(|(_, kv)| kv)
        .collect()
}

fn num(kv: &HashMap<String, String>, key: &str) -> i64 {
    kv[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {:?}", kv[key]))
}

#[test]
fn ts_muxer_output_is_what_ffprobe_expects() {
    // The command from the brief (no -pix_fmt: libx264 encodes testsrc's RGB as 4:4:4).
    let flv = ffmpeg_stdout(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-f",
        "lavfi",
        "-i",
        "sine",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-f",
        "flv",
    ]);
    let tags = read_flv(&flv);

    let mut mux = TsMuxer::new();
    let mut out = BytesMut::new();
    // Expected (dts, pts) per video frame, in ms, and audio timestamps.
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for t in &tags {
        let Some(k) = kind(t) else { continue };
        if k == MediaKind::Video {
            if let Some(info) = video_info(&t.body).unwrap() {
                assert_eq!(info.codec, VideoCodec::Avc);
                assert_eq!((info.width, info.height), (Some(320), Some(240)));
                assert_eq!(info.profile, "High(444+Predictive)");
            }
        } else if let Some(info) = audio_info(&t.body).unwrap() {
            assert_eq!(
                (info.codec, info.sample_rate, info.channels, info.profile),
                ("AAC", Some(44100), Some(1), Some("LC"))
            );
        }
        match mux.push(k, t.timestamp, &t.body, &mut out).unwrap() {
            Prepared::Frame(f) if k == MediaKind::Video => video.push((f.dts_ms, f.pts_ms)),
            Prepared::Frame(f) => audio.push(f.dts_ms),
            Prepared::SequenceHeader => {}
            // ffmpeg ends the FLV with an AVC end-of-sequence message.
            Prepared::Skipped(Skipped::NotMedia) => assert_eq!(t.body[1], 2),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(video.len(), 100, "4 s at 25 fps");
    assert!(audio.len() > 150, "{}", audio.len());

    let summary = validate_muxed(&out, true).unwrap();
    assert_eq!(summary.video_pts.len(), video.len());
    assert_eq!(summary.audio_pts.len(), audio.len());
    assert_eq!(summary.video_keyframes, 4);

    let dir = TempDir::new("ts-e2e");
    let path = dir.0.join("out.ts");
    fs::write(&path, &out).unwrap();
    let probe = ffprobe(&["-show_packets", "-show_streams"], &path);
    let streams = rows(&probe, "stream");
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert_eq!(streams[0]["codec_name"], "h264");
    assert_eq!(
        (num(streams[0], "width"), num(streams[0], "height")),
        (320, 240)
    );
    assert_eq!(streams[1]["codec_name"], "aac");
    assert_eq!(
        (num(streams[1], "sample_rate"), num(streams[1], "channels")),
        (44100, 1)
    );

    let packets = rows(&probe, "packet");
    let vp: Vec<_> = packets
        .iter()
        .filter(|p| p["stream_index"] == "0")
        .collect();
    let ap: Vec<_> = packets
        .iter()
        .filter(|p| p["stream_index"] == "1")
        .collect();
    // One TS packet per frame: nothing lost, nothing split.
    assert_eq!(vp.len(), video.len());
    assert_eq!(ap.len(), audio.len());
    // Timestamps are the FLV's, in 90 kHz.
    for (p, (dts, pts)) in vp.iter().zip(&video) {
        assert_eq!((num(p, "dts"), num(p, "pts")), (dts * 90, pts * 90));
    }
    for (p, ts) in ap.iter().zip(&audio) {
        assert_eq!(num(p, "pts"), ts * 90);
    }
    assert!(vp.windows(2).all(|w| num(w[0], "dts") < num(w[1], "dts")));
    assert!(ap.windows(2).all(|w| num(w[0], "pts") < num(w[1], "pts")));
    let mut pts: Vec<i64> = vp.iter().map(|p| num(p, "pts")).collect();
    pts.sort_unstable();
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "video PTS repeat");
    assert_eq!(vp.iter().filter(|p| p["flags"].starts_with('K')).count(), 4);

    ffmpeg_decodes_cleanly(&path);
}

/// Performs the segmenter's actions under `root`, as httpd would.
struct Files<'a> {
    root: &'a Path,
    open: Option<fs::File>,
    closed: Vec<(u64, Duration)>,
}

impl Files<'_> {
    fn apply(&mut self, actions: Vec<HlsAction>) {
        use std::io::Write;
        for a in actions {
            match a {
                HlsAction::SegmentStarted { path, .. } => {
                    let p = self.root.join(path);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    assert!(self.open.is_none());
                    self.open = Some(fs::File::create(p).unwrap());
                }
                HlsAction::Append { data, .. } => {
                    self.open.as_mut().unwrap().write_all(&data).unwrap();
                }
                HlsAction::SegmentClosed { seq, duration, .. } => {
                    self.open.take().unwrap();
                    self.closed.push((seq, duration));
                }
                HlsAction::WritePlaylist { path, text } => {
                    let p = self.root.join(path);
                    fs::create_dir_all(p.parent().unwrap()).unwrap();
                    fs::write(p, text).unwrap();
                }
                HlsAction::DeleteSegment { path, .. } | HlsAction::DeletePlaylist { path } => {
                    fs::remove_file(self.root.join(path)).unwrap()
                }
            }
        }
    }
}

/// Drive a segmenter over FLV tags, writing files under `root`; returns the closed
/// segments' durations.
fn segment(root: &Path, h: &mut HlsSegmenter, tags: &[Tag]) -> Vec<(u64, Duration)> {
    let mut files = Files {
        root,
        open: None,
        closed: Vec::new(),
    };
    for t in tags {
        let Some(kind) = kind(t) else { continue };
        let msg = MediaMessage {
            kind,
            timestamp: t.timestamp,
            body: &t.body,
        };
        files.apply(h.push(msg, 0).unwrap());
    }
    files.apply(h.close());
    files.closed
}

/// ffmpeg keeps reloading a live playlist waiting for segments; decode a copy that ends
/// with `EXT-X-ENDLIST` instead, which plays the same segments once.
fn decode_playlist_segments(m3u8: &Path) {
    let vod = m3u8.with_extension("vod.m3u8");
    let mut text = fs::read_to_string(m3u8).unwrap();
    text.push_str("#EXT-X-ENDLIST\n");
    fs::write(&vod, text).unwrap();
    ffmpeg_decodes_cleanly(&vod);
}

#[test]
fn hls_segments_and_playlist_play_in_ffmpeg() {
    // 9 s, keyframe every 30 frames (1.2 s): with hls_fragment 2 the cuts land on the
    // keyframes at 2.4, 4.8 and 7.2 s.
    let flv = ffmpeg_stdout(&[
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
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-g",
        "30",
        "-c:a",
        "aac",
        "-f",
        "flv",
    ]);
    let tags = read_flv(&flv);
    let video_frames = tags
        .iter()
        .filter(|t| t.tag_type == tag_type::VIDEO && t.body[1] == 1)
        .count();
    let dir = TempDir::new("hls-e2e");
    let config = HlsConfig {
        fragment: Duration::from_secs(2),
        ..HlsConfig::default()
    };
    let mut h = HlsSegmenter::new(config, "__defaultVhost__", "live", "livestream").unwrap();
    let closed = segment(&dir.0, &mut h, &tags);

    let ms: Vec<u128> = closed.iter().map(|(_, d)| d.as_millis()).collect();
    assert_eq!(&ms[..3], &[2400, 2400, 2400], "{ms:?}");
    assert_eq!(ms.len(), 4, "{ms:?}");
    assert!(ms[3] < 2400 && ms[3] > 1500, "{ms:?}");

    let m3u8 = dir.0.join("live/livestream.m3u8");
    let playlist = MediaPlaylist::parse(&fs::read_to_string(&m3u8).unwrap()).unwrap();
    assert_eq!(playlist.segments.len(), 4);
    assert_eq!(playlist.target_duration, 3);
    assert_eq!(playlist.media_sequence, 0);
    let mut video_pes = 0;
    for (i, s) in playlist.segments.iter().enumerate() {
        assert_eq!(s.uri, format!("livestream-{i}.ts"));
        assert!(s.duration_ms <= playlist.target_duration * 1000);
        let ts = fs::read(dir.0.join("live").join(&s.uri)).unwrap();
        // PAT, PMT, then the keyframe (random access, PCR) in every segment.
        let summary = validate_muxed(&ts, true).unwrap_or_else(|e| panic!("{}: {e}", s.uri));
        assert_eq!(parse_packet(&ts[188..]).unwrap().pid, PMT_PID);
        let first = parse_packet(&ts[376..]).unwrap();
        assert!(first.pid == VIDEO_PID && first.payload_unit_start);
        let af = first.adaptation.unwrap();
        assert!(af.random_access && af.pcr.is_some(), "{}", s.uri);
        video_pes += summary.video_pts.len();
    }
    assert_eq!(video_pes, video_frames, "no frame lost at the cuts");

    let probe = ffprobe(&["-show_streams"], &m3u8);
    let streams = rows(&probe, "stream");
    let codecs: Vec<&str> = streams.iter().map(|s| s["codec_name"].as_str()).collect();
    assert_eq!(codecs, vec!["h264", "aac"]);
    decode_playlist_segments(&m3u8);
}

#[test]
fn hls_audio_only_plays_in_ffmpeg() {
    let flv = ffmpeg_stdout(&[
        "-f",
        "lavfi",
        "-i",
        "sine=sample_rate=48000",
        "-ac",
        "2",
        "-t",
        "7",
        "-c:a",
        "aac",
        "-f",
        "flv",
    ]);
    let tags = read_flv(&flv);
    let dir = TempDir::new("hls-audio");
    let config = HlsConfig {
        fragment: Duration::from_secs(2),
        ..HlsConfig::default()
    };
    let mut h = HlsSegmenter::new(config, "v", "radio", "fm").unwrap();
    let closed = segment(&dir.0, &mut h, &tags);
    let ms: Vec<u128> = closed.iter().map(|(_, d)| d.as_millis()).collect();
    assert_eq!(ms.len(), 4, "{ms:?}");
    // Cut at the first AAC frame (21.3 ms) at or after 2 s.
    assert!(ms[..3].iter().all(|&d| (2000..2022).contains(&d)), "{ms:?}");
    let m3u8 = dir.0.join("radio/fm.m3u8");
    let playlist = MediaPlaylist::parse(&fs::read_to_string(&m3u8).unwrap()).unwrap();
    for s in &playlist.segments {
        let ts = fs::read(dir.0.join("radio").join(&s.uri)).unwrap();
        let summary = validate_muxed(&ts, false).unwrap();
        assert!(summary.video_pts.is_empty() && !summary.audio_pts.is_empty());
    }
    let probe = ffprobe(&["-show_streams"], &m3u8);
    let streams = rows(&probe, "stream");
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["codec_name"], "aac");
    assert_eq!(num(streams[0], "sample_rate"), 48000);
    assert_eq!(num(streams[0], "channels"), 2);
    decode_playlist_segments(&m3u8);
}

/// Split an Annex B byte stream into NAL units.
fn annex_b_nalus(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let mut end = starts.get(n + 1).map_or(data.len(), |&e| e - 3);
            while end > s && data[end - 1] == 0 {
                end -= 1;
            }
            &data[s..end]
        })
        .collect()
}

#[test]
fn hevc_over_enhanced_rtmp_muxes_to_playable_ts() {
    let raw = ffmpeg_stdout(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25",
        "-t",
        "2",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx265",
        "-x265-params",
        "keyint=25:bframes=0:log-level=error",
        "-f",
        "hevc",
    ]);
    let nal_type = |n: &[u8]| (n[0] >> 1) & 0x3f;
    // Access units: a new one starts at a slice with first_slice_segment_in_pic_flag, or at
    // a parameter set / SEI / delimiter that follows a slice.
    let mut aus: Vec<Vec<&[u8]>> = Vec::new();
    let mut has_slice = false;
    for n in annex_b_nalus(&raw) {
        let t = nal_type(n);
        let vcl = t < 32;
        let starts = if vcl {
            n[2] & 0x80 != 0
        } else {
            matches!(t, 32..=35 | 39)
        };
        if aus.is_empty() || (starts && has_slice) {
            aus.push(Vec::new());
            has_slice = false;
        }
        has_slice |= vcl;
        aus.last_mut().unwrap().push(n);
    }
    assert_eq!(aus.len(), 50);
    // hvcC from the first access unit's VPS, SPS and PPS (Main, level 2.1).
    let mut record = vec![
        1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 63, 0xf0, 0x00, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0,
        0x0f, 3,
    ];
    for t in 32..=34 {
        let n = aus[0]
            .iter()
            .find(|n| nal_type(n) == t)
            .expect("parameter set");
        record.push(0x80 | t);
        record.extend_from_slice(&1u16.to_be_bytes());
        record.extend_from_slice(&(n.len() as u16).to_be_bytes());
        record.extend_from_slice(n);
    }
    let mut mux = TsMuxer::new();
    let mut out = BytesMut::new();
    let mut header = vec![0x80 | 0x10, b'h', b'v', b'c', b'1'];
    header.extend_from_slice(&record);
    assert_eq!(
        mux.push(MediaKind::Video, 0, &header, &mut out).unwrap(),
        Prepared::SequenceHeader
    );
    assert_eq!(video_info(&header).unwrap().unwrap().codec.name(), "H265");
    for (i, au) in aus.iter().enumerate() {
        let key = au.iter().any(|n| (16..=23).contains(&nal_type(n)));
        // Enhanced RTMP CodedFramesX: no composition time. Parameter sets and delimiters are
        // stripped as RTMP encoders do; the muxer puts them back.
        let mut body = vec![
            0x80 | if key { 0x10 } else { 0x20 } | 3,
            b'h',
            b'v',
            b'c',
            b'1',
        ];
        for n in au.iter().filter(|n| !(32..=35).contains(&nal_type(n))) {
            body.extend_from_slice(&(n.len() as u32).to_be_bytes());
            body.extend_from_slice(n);
        }
        let p = mux
            .push(MediaKind::Video, i as u32 * 40, &body, &mut out)
            .unwrap();
        assert!(matches!(p, Prepared::Frame(ref f) if f.keyframe == key));
    }
    let summary = validate_muxed(&out, true).unwrap();
    assert_eq!(summary.video_keyframes, 2);
    let dir = TempDir::new("hevc");
    let path = dir.0.join("hevc.ts");
    fs::write(&path, &out).unwrap();
    let probe = ffprobe(&["-show_streams", "-show_packets"], &path);
    let streams = rows(&probe, "stream");
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["codec_name"], "hevc");
    assert_eq!(
        (num(streams[0], "width"), num(streams[0], "height")),
        (320, 240)
    );
    assert_eq!(rows(&probe, "packet").len(), 50);
    ffmpeg_decodes_cleanly(&path);
}
