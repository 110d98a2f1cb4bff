//! Vod: `GET /path/name.m3u8` where `name.m3u8` does not exist but `name.flv` does is
//! answered by slicing the recorded FLV into HLS on the fly: the playlist lists segments cut
//! at keyframes (the same segmenter as live HLS, `hls_fragment` of the default vhost, with
//! `#EXT-X-ENDLIST`), and `name.flv.ts?seg=N` muxes segment N from the file.
//!
//! A recording is sliced once (at most [`SLICERS`] at a time, files up to [`MAX_VOD_BYTES`])
//! and the last few are kept in memory, so playing one through costs one slicing, and a
//! burst of requests cannot make httpd hold many copies.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use srs_protocol::flv::{self, FlvReader};
use srs_protocol::hls::{HlsAction, HlsConfig, HlsSegmenter, MediaMessage};
use srs_protocol::ts::MediaKind;
use std::collections::VecDeque;
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::time::SystemTime;

/// Largest recording sliced on request.
pub const MAX_VOD_BYTES: u64 = 256 * 1024 * 1024;

/// A recording sliced into segments.
struct Sliced {
    durations: Vec<Duration>,
    segments: Vec<Bytes>,
}

/// Recordings sliced recently, keyed by path, size and modification time: playing a file
/// through asks for its playlist and every segment, and each must not slice it again.
static CACHE: Mutex<VecDeque<(PathBuf, u64, SystemTime, Arc<Sliced>)>> =
    Mutex::new(VecDeque::new());
/// Most recordings kept sliced.
const CACHE_ENTRIES: usize = 2;

fn sliced(file: &Path, fragment: Duration) -> Result<Arc<Sliced>, String> {
    let meta = std::fs::metadata(file).map_err(|e| e.to_string())?;
    if meta.len() > MAX_VOD_BYTES {
        return Err(format!("recording larger than {MAX_VOD_BYTES} bytes"));
    }
    let mtime = meta.modified().map_err(|e| e.to_string())?;
    let key = (file.to_path_buf(), meta.len(), mtime);
    {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, _, s)) = cache
            .iter()
            .find(|(p, l, m, _)| (p, *l, *m) == (&key.0, key.1, key.2))
        {
            return Ok(s.clone());
        }
    }
    let s = Arc::new(slice(file, fragment)?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.push_back((key.0, key.1, key.2, s.clone()));
    while cache.len() > CACHE_ENTRIES {
        cache.pop_front();
    }
    Ok(s)
}

fn slice(file: &Path, fragment: Duration) -> Result<Sliced, String> {
    let data = std::fs::read(file).map_err(|e| e.to_string())?;
    let mut reader = FlvReader::new();
    reader.push(&data);
    drop(data);
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
        segments: Vec::new(),
    };
    let mut open = BytesMut::new();
    let mut apply = |acts: Vec<HlsAction>, out: &mut Sliced| {
        for a in acts {
            match a {
                HlsAction::Append { data, .. } => open.extend_from_slice(&data),
                HlsAction::SegmentClosed { duration, .. } => {
                    out.durations.push(duration);
                    out.segments.push(open.split().freeze());
                }
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
                    apply(acts, &mut out);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(format!("not a readable FLV: {e}")),
        }
    }
    let acts = seg.close();
    apply(acts, &mut out);
    Ok(out)
}

/// The playlist of `flv` (whose URL file name is `name`).
pub fn playlist(flv: &Path, name: &str, fragment: Duration) -> Response {
    match sliced(flv, fragment) {
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
    match sliced(flv, fragment) {
        Ok(s) => match s.segments.get(n) {
            Some(b) => ([(header::CONTENT_TYPE, "video/mp2t")], b.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, "no such segment\n").into_response(),
        },
        Err(e) => (StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")).into_response(),
    }
}

/// At most this many recordings are sliced at once; more requests wait their turn.
pub static SLICERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
