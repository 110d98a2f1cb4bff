//! Vod: `GET /path/name.m3u8` where `name.m3u8` does not exist but `name.flv` does is
//! answered by slicing the recorded FLV into HLS on the fly: the playlist lists segments cut
//! at keyframes (the same segmenter as live HLS, `hls_fragment` of the default vhost, with
//! `#EXT-X-ENDLIST`), and `name.flv.ts?seg=N` muxes segment N from the file.
//!
//! Both requests read the file through the segmenter; nothing is written to disk. Files are
//! bounded ([`MAX_VOD_BYTES`]) so one request cannot make httpd hold a huge recording.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use srs_protocol::flv::{self, FlvReader};
use srs_protocol::hls::{HlsAction, HlsConfig, HlsSegmenter, MediaMessage};
use srs_protocol::ts::MediaKind;
use std::path::Path;
use std::time::Duration;

/// Largest recording sliced on request.
pub const MAX_VOD_BYTES: u64 = 512 * 1024 * 1024;

/// Segments of a recording: (duration, TS bytes if `want` is its index).
struct Sliced {
    durations: Vec<Duration>,
    segment: Option<BytesMut>,
}

fn slice(file: &Path, fragment: Duration, want: Option<usize>) -> Result<Sliced, String> {
    let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if meta.len() > MAX_VOD_BYTES {
        return Err(format!("recording larger than {MAX_VOD_BYTES} bytes"));
    }
    let data = std::fs::read(file).map_err(|e| e.to_string())?;
    let mut reader = FlvReader::new();
    reader.push(&data);
    let mut seg = HlsSegmenter::new(
        HlsConfig {
            fragment,
            // The whole recording in the playlist.
            window: Duration::from_secs(100 * 365 * 24 * 3600),
            cleanup: false,
            ..HlsConfig::default()
        },
        "vod",
        "vod",
        "vod",
    )
    .map_err(|e| e.to_string())?;
    let mut out = Sliced {
        durations: Vec::new(),
        segment: None,
    };
    let mut current: Option<u64> = None;
    let apply = |acts: Vec<HlsAction>, out: &mut Sliced, current: &mut Option<u64>| {
        for a in acts {
            match a {
                HlsAction::SegmentStarted { seq, .. } => {
                    *current = Some(seq);
                    if want == Some(seq as usize) {
                        out.segment = Some(BytesMut::new());
                    }
                }
                HlsAction::Append { seq, data } => {
                    if want == Some(seq as usize) {
                        if let Some(b) = out.segment.as_mut() {
                            b.extend_from_slice(&data);
                        }
                    }
                }
                HlsAction::SegmentClosed { duration, .. } => out.durations.push(duration),
                _ => {}
            }
        }
    };
    loop {
        match reader.next_tag() {
            Ok(Some(tag)) => {
                let kind = match tag.tag_type {
                    flv::tag_type::AUDIO => MediaKind::Audio,
                    flv::tag_type::VIDEO => MediaKind::Video,
                    _ => continue,
                };
                if let Ok(acts) = seg.push(
                    MediaMessage {
                        kind,
                        timestamp: tag.timestamp,
                        body: &tag.body,
                    },
                    0,
                ) {
                    apply(acts, &mut out, &mut current);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(format!("not a readable FLV: {e}")),
        }
    }
    let acts = seg.close();
    apply(acts, &mut out, &mut current);
    Ok(out)
}

/// The playlist of `flv` (whose URL file name is `name`).
pub fn playlist(flv: &Path, name: &str, fragment: Duration) -> Response {
    match slice(flv, fragment, None) {
        Ok(s) if !s.durations.is_empty() => {
            let target = s
                .durations
                .iter()
                .map(|d| d.as_secs_f64().ceil() as u64)
                .max()
                .unwrap_or(1)
                .max(1);
            let mut text = format!(
                "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
            );
            for (i, d) in s.durations.iter().enumerate() {
                text.push_str(&format!(
                    "#EXTINF:{:.3},\n{name}.ts?seg={i}\n",
                    d.as_secs_f64()
                ));
            }
            text.push_str("#EXT-X-ENDLIST\n");
            (
                [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
                text,
            )
                .into_response()
        }
        Ok(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "no media in the recording\n",
        )
            .into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
    }
}

/// Segment `n` of `flv` as MPEG-TS.
pub fn segment(flv: &Path, n: usize, fragment: Duration) -> Response {
    match slice(flv, fragment, Some(n)) {
        Ok(Sliced {
            segment: Some(bytes),
            ..
        }) => ([(header::CONTENT_TYPE, "video/mp2t")], bytes.freeze()).into_response(),
        Ok(_) => (StatusCode::NOT_FOUND, "no such segment\n").into_response(),
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
    }
}
