use std::collections::BTreeMap;

use super::*;
use crate::ts::{parse_packet, validate_muxed, AUDIO_PID, PMT_PID, VIDEO_PID};

const AVC_SEQUENCE_HEADER: [u8; 51] = [
    0x17, 0x00, 0x00, 0x00, 0x00, 0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00,
    0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03,
    0x03, 0x20, 0xf1, 0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd,
    0xf8, 0xf8, 0x00,
];
const AAC_SEQUENCE_HEADER: [u8; 4] = [0xaf, 0x00, 0x12, 0x10];

fn video_body(keyframe: bool) -> Vec<u8> {
    let nal: &[u8] = if keyframe {
        &[0x65, 0x88, 1, 2]
    } else {
        &[0x41, 0x9a, 3]
    };
    let mut b = vec![if keyframe { 0x17 } else { 0x27 }, 1, 0, 0, 0];
    b.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    b.extend_from_slice(nal);
    b
}

/// Plays the caller's part: files in memory.
#[derive(Default)]
struct Disk {
    files: BTreeMap<String, Vec<u8>>,
    open: Option<(u64, String)>,
    closed: Vec<(u64, Duration)>,
    playlists: Vec<String>,
    deleted: Vec<u64>,
}

impl Disk {
    fn apply(&mut self, actions: Vec<HlsAction>) {
        for a in actions {
            match a {
                HlsAction::SegmentStarted { seq, path } => {
                    assert!(
                        self.open.is_none(),
                        "segment {seq} opened while one is open"
                    );
                    self.files.insert(path.clone(), Vec::new());
                    self.open = Some((seq, path));
                }
                HlsAction::Append { seq, data } => {
                    let (open, path) = self.open.as_ref().expect("open segment");
                    assert_eq!(*open, seq);
                    self.files.get_mut(path).unwrap().extend_from_slice(&data);
                }
                HlsAction::SegmentClosed {
                    seq,
                    path,
                    duration,
                } => {
                    assert_eq!(self.open.take(), Some((seq, path)));
                    self.closed.push((seq, duration));
                }
                HlsAction::WritePlaylist { path, text } => {
                    self.files.insert(path, text.clone().into_bytes());
                    self.playlists.push(text);
                }
                HlsAction::DeleteSegment { seq, path } => {
                    assert!(self.files.remove(&path).is_some(), "{path}");
                    self.deleted.push(seq);
                }
                HlsAction::DeletePlaylist { path } => {
                    assert!(self.files.remove(&path).is_some());
                }
            }
        }
    }
}

fn config(fragment_ms: u64, window_ms: u64) -> HlsConfig {
    HlsConfig {
        fragment: Duration::from_millis(fragment_ms),
        window: Duration::from_millis(window_ms),
        ..HlsConfig::default()
    }
}

fn push(h: &mut HlsSegmenter, disk: &mut Disk, kind: MediaKind, ts: u32, body: &[u8]) {
    let actions = h
        .push(
            MediaMessage {
                kind,
                timestamp: ts,
                body,
            },
            1_700_000_000_000,
        )
        .unwrap();
    disk.apply(actions);
}

/// 25 fps video with a keyframe every `gop` frames and AAC every 23 ms, for `ms`
/// milliseconds starting at `start`.
fn feed_av(h: &mut HlsSegmenter, disk: &mut Disk, start: u32, ms: u32, gop: u32) {
    push(h, disk, MediaKind::Video, start, &AVC_SEQUENCE_HEADER);
    push(h, disk, MediaKind::Audio, start, &AAC_SEQUENCE_HEADER);
    let mut audio = 0;
    for i in 0..ms / 40 {
        let t = i * 40;
        while audio * 23 <= t {
            push(
                h,
                disk,
                MediaKind::Audio,
                start.wrapping_add(audio * 23),
                &[0xaf, 1, 0x21, 0x10],
            );
            audio += 1;
        }
        push(
            h,
            disk,
            MediaKind::Video,
            start.wrapping_add(t),
            &video_body(i % gop == 0),
        );
    }
}

#[test]
fn exact_playlist_and_cuts_at_keyframes() {
    // GOP 1.2 s, fragment 2 s: cuts at the keyframes at 2.4 s, 4.8 s, 7.2 s.
    let mut h = HlsSegmenter::new(config(2000, 60_000), "__defaultVhost__", "live", "cam").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 9000, 30);
    assert_eq!(
        disk.closed,
        vec![
            (0, Duration::from_millis(2400)),
            (1, Duration::from_millis(2400)),
            (2, Duration::from_millis(2400)),
        ]
    );
    disk.apply(h.close());
    assert_eq!(disk.closed[3], (3, Duration::from_millis(8960 - 7200)));
    assert_eq!(
        disk.playlists.last().unwrap(),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:3\n\
         #EXTINF:2.400,\ncam-0.ts\n#EXTINF:2.400,\ncam-1.ts\n#EXTINF:2.400,\ncam-2.ts\n\
         #EXTINF:1.760,\ncam-3.ts\n"
    );
    assert_eq!(
        disk.files.keys().collect::<Vec<_>>(),
        vec![
            "live/cam-0.ts",
            "live/cam-1.ts",
            "live/cam-2.ts",
            "live/cam-3.ts",
            "live/cam.m3u8"
        ]
    );
    // Every segment: PAT, PMT, then the keyframe with a PCR.
    for seq in 0..4 {
        let ts = &disk.files[&format!("live/cam-{seq}.ts")];
        let s = validate_muxed(ts, true).unwrap();
        assert_eq!(s.video_keyframes, 2, "two GOPs per segment");
        let p = parse_packet(&ts[376..]).unwrap();
        assert_eq!(p.pid, VIDEO_PID);
        assert!(p.payload_unit_start);
        let af = p.adaptation.unwrap();
        assert!(af.random_access && af.pcr.is_some());
        assert_eq!(parse_packet(&ts[188..]).unwrap().pid, PMT_PID);
    }
}

#[test]
fn long_gop_makes_long_segments_and_target_follows() {
    // GOP 5 s with fragment 2 s: segments of 5 s; target 5 (above 2 × 1.5). An
    // hls_aof_ratio above the GOP (3 fragments) lets audio wait for the keyframes.
    let cfg = HlsConfig {
        aof_ratio: 3.0,
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 10_040, 125);
    assert_eq!(
        disk.closed,
        vec![(0, Duration::from_secs(5)), (1, Duration::from_secs(5))]
    );
    let p = MediaPlaylist::parse(disk.playlists.last().unwrap()).unwrap();
    assert_eq!(p.target_duration, 5);
    assert!(p
        .segments
        .iter()
        .all(|s| s.duration_ms <= p.target_duration * 1000));
}

#[test]
fn window_slides_and_expired_segments_are_deleted() {
    // 2 s segments, 5 s window: SRS keeps the newest segments up to the one that crosses 5 s.
    let mut h = HlsSegmenter::new(config(2000, 5000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 14_040, 50);
    assert_eq!(disk.closed.len(), 7);
    // After seg 3 closed: 2+2+2 > 5 at seg 1, so seg 0 expired; and so on.
    assert_eq!(disk.deleted, vec![0, 1, 2, 3]);
    assert_eq!(
        disk.playlists.last().unwrap(),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-TARGETDURATION:3\n\
         #EXTINF:2.000,\ns-4.ts\n#EXTINF:2.000,\ns-5.ts\n#EXTINF:2.000,\ns-6.ts\n"
    );
    assert!(!disk.files.contains_key("live/s-3.ts"));
    assert!(disk.files.contains_key("live/s-4.ts"));
    // Without cleanup the files stay.
    let mut h = HlsSegmenter::new(
        HlsConfig {
            cleanup: false,
            ..config(2000, 5000)
        },
        "v",
        "live",
        "s",
    )
    .unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 14_040, 50);
    assert!(disk.deleted.is_empty());
    assert!(disk
        .playlists
        .last()
        .unwrap()
        .contains("#EXT-X-MEDIA-SEQUENCE:4\n"));
}

#[test]
fn discontinuity_after_republish() {
    let mut h = HlsSegmenter::new(config(2000, 5000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 4000, 25);
    disk.apply(h.discontinuity());
    // Cut at 2 s; the second segment ends at its last frame (3.96 s).
    assert_eq!(disk.closed.len(), 2);
    // The new publisher starts again at 0 (and its codecs come again).
    feed_av(&mut h, &mut disk, 0, 4000, 25);
    disk.apply(h.close());
    assert_eq!(
        disk.playlists.last().unwrap(),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-TARGETDURATION:3\n\
         #EXTINF:1.960,\ns-1.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2.000,\ns-2.ts\n\
         #EXTINF:1.960,\ns-3.ts\n"
    );
    assert_eq!(disk.deleted, vec![0]);
    // More segments push the discontinuity out: it is counted.
    disk.apply(h.discontinuity());
    feed_av(&mut h, &mut disk, 50_000, 8000, 25);
    let p = MediaPlaylist::parse(disk.playlists.last().unwrap()).unwrap();
    assert_eq!(p.discontinuity_sequence, 1);
    assert!(p.segments[0].discontinuity, "{p:?}");
    assert_eq!(p.segments[0].uri, "s-4.ts");
}

#[test]
fn audio_only_cuts_by_duration() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "radio", "fm").unwrap();
    let mut disk = Disk::default();
    push(&mut h, &mut disk, MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER);
    // 1024 samples at 44.1 kHz: 23.2 ms, as RTMP's millisecond timestamps round them.
    for i in 0..300u32 {
        push(
            &mut h,
            &mut disk,
            MediaKind::Audio,
            i * 1024 * 1000 / 44100,
            &[0xaf, 1, 0x21, 0x10],
        );
    }
    disk.apply(h.close());
    let d: Vec<u128> = disk.closed.iter().map(|(_, d)| d.as_millis()).collect();
    // Cut at the first frame at or after 2 s: 2020 ms (frame 87), 4040 ms, 6060 ms.
    assert_eq!(d, vec![2020, 2020, 2020, 882]);
    for seq in 0..4 {
        let ts = &disk.files[&format!("radio/fm-{seq}.ts")];
        let s = validate_muxed(ts, false).unwrap();
        assert!(s.video_pts.is_empty());
        assert_eq!(s.streams.len(), 1);
        let p = parse_packet(&ts[376..]).unwrap();
        assert_eq!(p.pid, AUDIO_PID);
        assert!(p.adaptation.unwrap().pcr.is_some());
    }
}

#[test]
fn waits_for_the_first_keyframe() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    push(&mut h, &mut disk, MediaKind::Video, 0, &AVC_SEQUENCE_HEADER);
    push(&mut h, &mut disk, MediaKind::Audio, 0, &AAC_SEQUENCE_HEADER);
    push(&mut h, &mut disk, MediaKind::Video, 0, &video_body(false));
    push(&mut h, &mut disk, MediaKind::Audio, 10, &[0xaf, 1, 1]);
    assert!(disk.files.is_empty());
    push(&mut h, &mut disk, MediaKind::Video, 40, &video_body(true));
    assert_eq!(h.current_segment(), Some((0, "live/s-0.ts")));
    let ts = &disk.files["live/s-0.ts"];
    assert_eq!(validate_muxed(ts, true).unwrap().pes_count, 1);
}

#[test]
fn video_that_stops_hands_cutting_to_audio() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 3000, 25);
    assert_eq!(disk.closed.len(), 1);
    // Audio only from 3 s to 12 s: video last seen at 2.96 s.
    for i in 0..400u32 {
        push(
            &mut h,
            &mut disk,
            MediaKind::Audio,
            3000 + i * 23,
            &[0xaf, 1, 7],
        );
    }
    let d: Vec<u128> = disk.closed.iter().map(|(_, d)| d.as_millis()).collect();
    // Seg 1 starts at 2 s and is cut by the first audio frame 2 s after the last video
    // frame (4978 ms); then audio cuts every 2 s.
    assert_eq!(d, vec![2000, 2978, 2001, 2001, 2001]);
}

#[test]
fn templates_and_relative_uris() {
    let cfg = HlsConfig {
        m3u8_file: "[vhost]/[app]/[stream].m3u8".into(),
        ts_file: "[vhost]/[app]/[stream]/[seq]-[timestamp].ts".into(),
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "example.com", "live", "cam[seq]").unwrap();
    assert_eq!(h.m3u8_path(), "example.com/live/cam[seq].m3u8");
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 2040, 25);
    disk.apply(h.close());
    assert_eq!(h.playlist().segments[0].uri, "cam[seq]/0-1700000000000.ts");
    assert_eq!(relative_uri("a/b/x.m3u8", "a/ts/x-1.ts"), "../ts/x-1.ts");
    assert_eq!(relative_uri("x.m3u8", "a/x-1.ts"), "a/x-1.ts");
    assert_eq!(relative_uri("a/x.m3u8", "x-1.ts"), "../x-1.ts");
    assert_eq!(
        expand("[app]/[stream]-[seq].[ext]-[", ["v", "a", "s"], 7, 0),
        "a/s-7.[ext]-["
    );
    // Names from clients cannot escape hls_path.
    for (app, stream) in [
        ("live", "../etc"),
        ("..", "s"),
        ("live", "a/../../b"),
        ("", "s"),
    ] {
        assert!(matches!(
            HlsSegmenter::new(HlsConfig::default(), "v", app, stream),
            Err(HlsError::UnsafePath(_))
        ));
    }
    assert!(HlsSegmenter::new(
        HlsConfig {
            ts_file: "/abs/[seq].ts".into(),
            ..HlsConfig::default()
        },
        "v",
        "live",
        "s"
    )
    .is_err());
    assert!(HlsSegmenter::new(config(0, 1), "v", "a", "s").is_err());
}

#[test]
fn dispose_deletes_everything() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 5040, 25);
    disk.apply(h.dispose());
    assert!(disk.files.is_empty(), "{:?}", disk.files.keys());
}

#[test]
fn bad_message_changes_nothing() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 1000, 25);
    let before = h.current_segment().map(|(s, p)| (s, p.to_string()));
    let r = h.push(
        MediaMessage {
            kind: MediaKind::Video,
            timestamp: 3000,
            body: &[0x17, 1, 0, 0, 0, 0, 0, 0, 9, 0x65],
        },
        0,
    );
    assert!(matches!(r, Err(HlsError::Mux(_))));
    assert_eq!(h.current_segment().map(|(s, p)| (s, p.to_string())), before);
}

#[test]
fn timestamps_across_the_rtmp_wrap() {
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, u32::MAX - 3000, 8040, 25);
    let d: Vec<u128> = disk.closed.iter().map(|(_, d)| d.as_millis()).collect();
    assert_eq!(d, vec![2000, 2000, 2000, 2000]);
    for seq in 0..4 {
        validate_muxed(&disk.files[&format!("live/s-{seq}.ts")], true).unwrap();
    }
}

fn keyframes(h: &mut HlsSegmenter, disk: &mut Disk, n: u32, every_ms: u32) {
    push(h, disk, MediaKind::Video, 0, &AVC_SEQUENCE_HEADER);
    for i in 0..n {
        push(h, disk, MediaKind::Video, i * every_ms, &video_body(true));
    }
}

#[test]
fn dates_floor_and_entry_prefix() {
    // 2023-11-14 22:13:20.123 UTC, and a leap day.
    assert_eq!(
        super::expand_date("[2006]-[01]-[02]_[15]-[04]-[05].[999]", 1_700_000_000_123),
        "2023-11-14_22-13-20.123"
    );
    assert_eq!(
        super::expand_date("[2006][01][02]", 951_782_400_000),
        "20000229"
    );
    let cfg = HlsConfig {
        ts_file: "[app]/[2006][01][02][15]/[stream]-[timestamp].ts".into(),
        ts_floor: true,
        entry_prefix: Some("http://cdn.example.net".into()),
        utc_offset_s: 3600,
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    keyframes(&mut h, &mut disk, 3, 2000);
    let text = String::from_utf8_lossy(&disk.files["live/s.m3u8"]).to_string();
    // The fragment's number: 1_700_000_000_000 ms / 2000 ms; the hour one east of UTC.
    assert!(
        text.contains("\nhttp://cdn.example.net/live/2023111423/s-850000000.ts"),
        "{text}"
    );
    // A prefix ending in `/` is written as is.
    let cfg = HlsConfig {
        entry_prefix: Some("http://cdn/hls/".into()),
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    keyframes(&mut h, &mut disk, 3, 2000);
    let text = String::from_utf8_lossy(&disk.files["live/s.m3u8"]).to_string();
    assert!(text.contains("\nhttp://cdn/hls/s-0.ts"), "{text}");
}

/// A change of the local offset (daylight saving) during a publish names the segments
/// opened after it in the new local time.
#[test]
fn utc_offset_change_names_later_segments() {
    let cfg = HlsConfig {
        ts_file: "[app]/[15]/[stream]-[seq].ts".into(),
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    keyframes(&mut h, &mut disk, 2, 2000);
    h.set_utc_offset(3600);
    push(&mut h, &mut disk, MediaKind::Video, 4000, &video_body(true));
    for f in ["live/22/s-0.ts", "live/22/s-1.ts", "live/23/s-2.ts"] {
        assert!(disk.files.contains_key(f), "{f}: {:?}", disk.files.keys());
    }
}

#[test]
fn wait_keyframe_off_aof_ratio_and_codecs_left_out() {
    // GOP 10 s, fragment 2 s.
    // hls_wait_keyframe on: one segment per GOP; audio cuts at 2.1 fragments (4.2 s).
    let mut h = HlsSegmenter::new(config(2000, 60_000), "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 9000, 250);
    let d: Vec<u128> = disk.closed.iter().map(|(_, d)| d.as_millis()).collect();
    assert!(d.iter().all(|&ms| (4200..4300).contains(&ms)), "{d:?}");
    // hls_wait_keyframe off: cut at any frame past the fragment.
    let cfg = HlsConfig {
        wait_keyframe: false,
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 9000, 250);
    let d: Vec<u128> = disk.closed.iter().map(|(_, d)| d.as_millis()).collect();
    assert!(
        d.len() >= 3 && d.iter().all(|&ms| (2000..2100).contains(&ms)),
        "{d:?}"
    );
    // hls_acodec an: no audio PID in the segments.
    let cfg = HlsConfig {
        audio: false,
        ..config(2000, 60_000)
    };
    let mut h = HlsSegmenter::new(cfg, "v", "live", "s").unwrap();
    let mut disk = Disk::default();
    feed_av(&mut h, &mut disk, 0, 5000, 25);
    assert!(!h.muxer().has_audio() && h.muxer().has_video());
}
