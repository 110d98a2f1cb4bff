//! HLS (RFC 8216): a sans-I/O segmenter that cuts an RTMP stream into MPEG-TS segments and
//! keeps a sliding-window media playlist, with SRS's directives and file naming.
//!
//! [`HlsSegmenter::push`] takes one media message and returns [`HlsAction`]s for the caller
//! to perform: open a segment file, append bytes, close it, write the playlist, delete expired
//! segments. It never touches the file system or the clock.
//!
//! # When segments are cut
//!
//! - **Streams with video:** only at a video keyframe, and only once the segment is at least
//!   `hls_fragment` long (measured on DTS). A segment therefore always starts with PAT, PMT
//!   and a keyframe (with SPS/PPS in front of it), and lasts from one to about
//!   `hls_fragment` + one GOP. Until the first keyframe arrives, frames are dropped. If video
//!   stops for `hls_fragment` while audio goes on, the stream is treated as audio-only until
//!   video comes back, so segments keep being cut.
//! - **Audio-only streams:** at the first audio frame once the segment is at least
//!   `hls_fragment` long.
//! - A segment's duration is the DTS of the frame that starts the next one minus its own
//!   first DTS (so durations add up to the stream's time); the last segment before
//!   [`close`](HlsSegmenter::close) or [`discontinuity`](HlsSegmenter::discontinuity) ends at
//!   its last frame.
//! - With video, a segment is cut without a keyframe only as SRS does it: an audio frame
//!   once the segment is `hls_aof_ratio × hls_fragment` long (a GOP far longer than the
//!   fragment), or any frame past `hls_fragment` when `hls_wait_keyframe` is off. Otherwise a
//!   GOP longer than `hls_fragment` makes a longer segment, and the target duration grows to
//!   match.
//! - `hls_acodec an` / `hls_vcodec vn` leave that kind out of the segments.
//!
//! # Names and URIs
//!
//! `hls_ts_file` takes `[vhost] [app] [stream] [seq] [timestamp]` and SRS's date
//! placeholders `[2006] [01] [02] [15] [04] [05] [999]` (local time, from the offset the
//! caller gives); with `hls_ts_floor`, `[timestamp]` is the wall clock divided by
//! `hls_fragment` (the fragment's number). A segment's URI in the playlist is its path from
//! the playlist's directory; `hls_entry_prefix` goes before it as SRS writes it (a prefix
//! without a trailing `/` gets `/` and the playlist's directory added).
//!
//! # The playlist
//!
//! `EXT-X-TARGETDURATION` is `ceil(max(longest segment listed, hls_fragment ×
//! hls_td_ratio))` seconds, SRS's formula: never below any listed segment (RFC 8216
//! 4.3.3.1), and stable while GOPs are regular. After each segment closes, the oldest
//! segments leave the playlist as in SRS: counting back from the newest, every segment
//! older than the one that makes the total exceed `hls_window` is removed (so the listed
//! total is a little over `hls_window`). Removed segments are returned for deletion when
//! `hls_cleanup` is on. `EXT-X-DISCONTINUITY` precedes the first segment after
//! [`discontinuity`](HlsSegmenter::discontinuity) (a republish), and
//! `EXT-X-DISCONTINUITY-SEQUENCE` counts the ones that slid out.

pub mod m3u8;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

pub use m3u8::{fuzz_m3u8, M3u8Error, MediaPlaylist, MediaSegment};

use crate::ts::{MediaKind, Prepared, TsError, TsMuxer};

/// SRS's HLS directives that the segmenter uses.
#[derive(Debug, Clone, PartialEq)]
pub struct HlsConfig {
    /// `hls_fragment`: shortest segment (default 10 s).
    pub fragment: Duration,
    /// `hls_window`: total duration of the segments kept in the playlist (default 60 s).
    pub window: Duration,
    /// `hls_td_ratio`: the target duration is at least `fragment × td_ratio` (default 1.5).
    pub td_ratio: f64,
    /// `hls_cleanup`: delete segments that left the playlist (default on).
    pub cleanup: bool,
    /// `hls_m3u8_file`, relative to `hls_path` (default `[app]/[stream].m3u8`).
    pub m3u8_file: String,
    /// `hls_ts_file`, relative to `hls_path` (default `[app]/[stream]-[seq].ts`).
    pub ts_file: String,
    /// `hls_aof_ratio`: an audio frame cuts a segment this many fragments long, keyframe
    /// or not (default 2.1).
    pub aof_ratio: f64,
    /// `hls_wait_keyframe`: cut only at keyframes (default on).
    pub wait_keyframe: bool,
    /// `hls_ts_floor`: `[timestamp]` is the number of the fragment (default off).
    pub ts_floor: bool,
    /// `hls_entry_prefix`: written before each segment's URI (default none).
    pub entry_prefix: Option<String>,
    /// `hls_acodec` is not `an`: audio goes into the segments (default on).
    pub audio: bool,
    /// `hls_vcodec` is not `vn`: video goes into the segments (default on).
    pub video: bool,
    /// Seconds east of UTC for the date placeholders (the caller's local time zone).
    pub utc_offset_s: i64,
}

impl Default for HlsConfig {
    fn default() -> Self {
        Self {
            fragment: Duration::from_secs(10),
            window: Duration::from_secs(60),
            td_ratio: 1.5,
            cleanup: true,
            m3u8_file: "[app]/[stream].m3u8".into(),
            ts_file: "[app]/[stream]-[seq].ts".into(),
            aof_ratio: 2.1,
            wait_keyframe: true,
            ts_floor: false,
            entry_prefix: None,
            audio: true,
            video: true,
            utc_offset_s: 0,
        }
    }
}

/// SRS's date placeholders (`srs_path_build_timestamp`) for the local time `local_ms`
/// (milliseconds since the epoch, shifted to local time).
fn expand_date(template: &str, local_ms: i64) -> String {
    if !template.contains('[') {
        return template.to_string();
    }
    let secs = local_ms.div_euclid(1000);
    let (days, day_s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    template
        .replace("[2006]", &format!("{year:04}"))
        .replace("[01]", &format!("{month:02}"))
        .replace("[02]", &format!("{day:02}"))
        .replace("[15]", &format!("{:02}", day_s / 3600))
        .replace("[04]", &format!("{:02}", day_s / 60 % 60))
        .replace("[05]", &format!("{:02}", day_s % 60))
        .replace("[999]", &format!("{:03}", local_ms.rem_euclid(1000)))
}

/// One RTMP media message, as the server stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaMessage<'a> {
    /// Audio or video.
    pub kind: MediaKind,
    /// RTMP timestamp (DTS) in milliseconds.
    pub timestamp: u32,
    /// FLV tag body.
    pub body: &'a [u8],
}

/// What the caller must do, in order. Paths are relative to `hls_path`, with no `..`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HlsAction {
    /// Create (truncate) the segment file. Writing to `path + ".tmp"` and renaming on
    /// [`SegmentClosed`](Self::SegmentClosed) keeps players from reading half a file.
    SegmentStarted {
        /// Sequence number.
        seq: u64,
        /// File path.
        path: String,
    },
    /// Append bytes to the open segment.
    Append {
        /// Sequence number of the open segment.
        seq: u64,
        /// Whole TS packets.
        data: Bytes,
    },
    /// The segment is complete.
    SegmentClosed {
        /// Sequence number.
        seq: u64,
        /// File path.
        path: String,
        /// Its `EXTINF` duration.
        duration: Duration,
    },
    /// Replace the playlist file (write a temporary file and rename it over).
    WritePlaylist {
        /// `hls_m3u8_file`, expanded.
        path: String,
        /// Playlist text.
        text: String,
    },
    /// Delete a segment that left the playlist (`hls_cleanup`) or, on dispose, any segment.
    DeleteSegment {
        /// Sequence number.
        seq: u64,
        /// File path.
        path: String,
    },
    /// Delete the playlist ([`dispose`](HlsSegmenter::dispose)).
    DeletePlaylist {
        /// File path.
        path: String,
    },
}

/// Why the segmenter refused a configuration or a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HlsError {
    /// A file template expands to an absolute path or one with `.`/`..`/empty components:
    /// the vhost, app or stream name (from the client) or the configuration is unsafe.
    #[error("hls: unsafe path {0:?}")]
    UnsafePath(String),
    /// A configuration value out of range.
    #[error("hls: bad configuration: {0}")]
    BadConfig(&'static str),
    /// The message could not be muxed (the publisher's data).
    #[error("hls: {0}")]
    Mux(#[from] TsError),
}

#[derive(Debug, Clone)]
struct Segment {
    seq: u64,
    path: String,
    uri: String,
    duration_ms: u64,
    discontinuity: bool,
}

#[derive(Debug, Clone)]
struct OpenSegment {
    seq: u64,
    path: String,
    uri: String,
    start_dts: i64,
    last_dts: i64,
    discontinuity: bool,
}

/// The HLS segmenter of one stream. See the [module docs](self) for when segments are cut.
#[derive(Debug)]
pub struct HlsSegmenter {
    config: HlsConfig,
    fragment_ms: i64,
    window_ms: u64,
    vhost: String,
    app: String,
    stream: String,
    m3u8_path: String,
    muxer: TsMuxer,
    current: Option<OpenSegment>,
    segments: VecDeque<Segment>,
    next_seq: u64,
    discontinuity_sequence: u64,
    discontinuity_pending: bool,
    last_video_dts: Option<i64>,
    waiting_since: Option<i64>,
    buf: BytesMut,
}

/// Expand `[vhost]`, `[app]`, `[stream]`, `[seq]` and `[timestamp]` in one pass (a name that
/// itself contains `[seq]` is not expanded again). Unknown placeholders stay as they are.
fn expand(template: &str, names: [&str; 3], seq: u64, timestamp: u64) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let Some(close) = rest.find(']') else { break };
        match &rest[..=close] {
            "[vhost]" => out.push_str(names[0]),
            "[app]" => out.push_str(names[1]),
            "[stream]" => out.push_str(names[2]),
            "[seq]" => out.push_str(&seq.to_string()),
            "[timestamp]" => out.push_str(&timestamp.to_string()),
            other => out.push_str(other),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A relative path with no empty, `.` or `..` component and no backslash or NUL.
fn check_path(p: &str) -> Result<(), HlsError> {
    let ok = !p.is_empty()
        && !p.contains(['\\', '\0'])
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(HlsError::UnsafePath(p.to_string()))
    }
}

/// `target` as seen from the directory of `playlist` (both relative to `hls_path`).
fn relative_uri(playlist: &str, target: &str) -> String {
    let from: Vec<&str> = playlist.split('/').collect();
    let from = &from[..from.len() - 1];
    let to: Vec<&str> = target.split('/').collect();
    let common = from
        .iter()
        .zip(&to[..to.len() - 1])
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend_from_slice(&to[common..]);
    parts.join("/")
}

impl HlsSegmenter {
    /// A segmenter for `vhost/app/stream`. Fails if the templates make unsafe paths with these
    /// names, or the configuration is out of range.
    pub fn new(config: HlsConfig, vhost: &str, app: &str, stream: &str) -> Result<Self, HlsError> {
        if config.fragment < Duration::from_millis(1) {
            return Err(HlsError::BadConfig("hls_fragment must be positive"));
        }
        if !config.td_ratio.is_finite() || config.td_ratio < 0.0 {
            return Err(HlsError::BadConfig(
                "hls_td_ratio must be a non-negative number",
            ));
        }
        let names = [vhost, app, stream];
        let m3u8_path = expand(&config.m3u8_file, names, 0, 0);
        check_path(&m3u8_path)?;
        // [seq] and [timestamp] only add digits: checking one expansion checks them all.
        check_path(&expand(&config.ts_file, names, 0, 0))?;
        Ok(Self {
            fragment_ms: config.fragment.as_millis().min(i64::MAX as u128) as i64,
            window_ms: config.window.as_millis().min(u64::MAX as u128) as u64,
            config,
            vhost: vhost.into(),
            app: app.into(),
            stream: stream.into(),
            m3u8_path,
            muxer: TsMuxer::new(),
            current: None,
            segments: VecDeque::new(),
            next_seq: 0,
            discontinuity_sequence: 0,
            discontinuity_pending: false,
            last_video_dts: None,
            waiting_since: None,
            buf: BytesMut::new(),
        })
    }

    /// The machine's offset from UTC changed (daylight saving): segments opened from now
    /// on are named in the new local time.
    pub fn set_utc_offset(&mut self, utc_offset_s: i64) {
        self.config.utc_offset_s = utc_offset_s;
    }

    /// The playlist path (`hls_m3u8_file` expanded).
    pub fn m3u8_path(&self) -> &str {
        &self.m3u8_path
    }

    /// The muxer, for the codecs seen so far.
    pub fn muxer(&self) -> &TsMuxer {
        &self.muxer
    }

    /// Sequence number and path of the open segment.
    pub fn current_segment(&self) -> Option<(u64, &str)> {
        self.current.as_ref().map(|c| (c.seq, c.path.as_str()))
    }

    /// Feed one message. `now_unix_ms` (wall clock) only names files with `[timestamp]`.
    /// A message that cannot be muxed is refused with an error and changes nothing.
    pub fn push(
        &mut self,
        msg: MediaMessage<'_>,
        now_unix_ms: u64,
    ) -> Result<Vec<HlsAction>, HlsError> {
        let wanted = match msg.kind {
            MediaKind::Audio => self.config.audio,
            MediaKind::Video => self.config.video,
        };
        if !wanted {
            return Ok(Vec::new());
        }
        let Prepared::Frame(frame) = self.muxer.prepare(msg.kind, msg.timestamp, msg.body)? else {
            return Ok(Vec::new());
        };
        let dts = frame.dts_ms;
        let mut actions = Vec::new();
        match &self.current {
            None => {
                let waited = dts - *self.waiting_since.get_or_insert(dts);
                let starts = !self.muxer.has_video()
                    || (frame.kind == MediaKind::Video && frame.keyframe)
                    || !self.config.wait_keyframe
                    || waited >= self.fragment_ms;
                if !starts {
                    return Ok(actions);
                }
                self.open_segment(dts, now_unix_ms, &mut actions);
            }
            Some(cur) => {
                let length = dts - cur.start_dts;
                let long_enough = length >= self.fragment_ms;
                let cut_here = match frame.kind {
                    MediaKind::Video => frame.keyframe || !self.config.wait_keyframe,
                    MediaKind::Audio => {
                        self.audio_only_at(dts)
                            || !self.config.wait_keyframe
                            || length as f64 >= self.fragment_ms as f64 * self.config.aof_ratio
                    }
                };
                if long_enough && cut_here {
                    self.close_segment(Some(dts), &mut actions);
                    self.open_segment(dts, now_unix_ms, &mut actions);
                }
            }
        }
        if frame.kind == MediaKind::Video {
            self.last_video_dts = Some(dts);
        }
        self.muxer.write(&frame, &mut self.buf);
        let cur = self.current.as_mut().expect("a segment is open");
        cur.last_dts = cur.last_dts.max(dts);
        actions.push(HlsAction::Append {
            seq: cur.seq,
            data: self.buf.split().freeze(),
        });
        Ok(actions)
    }

    /// Audio decides cuts when there is no video, or video has been silent for a fragment.
    // `map_or(true, ..)`, not `is_none_or` (Rust 1.82): the workspace supports 1.80.
    #[allow(unknown_lints, clippy::unnecessary_map_or)]
    fn audio_only_at(&self, dts: i64) -> bool {
        !self.muxer.has_video()
            || self
                .last_video_dts
                .map_or(true, |v| dts - v >= self.fragment_ms)
    }

    fn open_segment(&mut self, dts: i64, now_unix_ms: u64, actions: &mut Vec<HlsAction>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let names = [self.vhost.as_str(), self.app.as_str(), self.stream.as_str()];
        let local_ms = now_unix_ms as i64 + self.config.utc_offset_s * 1000;
        let dated = expand_date(&self.config.ts_file, local_ms);
        let timestamp = if self.config.ts_floor {
            now_unix_ms / (self.fragment_ms.max(1) as u64)
        } else {
            now_unix_ms
        };
        let path = expand(&dated, names, seq, timestamp);
        let mut uri = relative_uri(&self.m3u8_path, &path);
        if let Some(prefix) = self
            .config
            .entry_prefix
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            // As SRS writes it: a prefix ending in `/` is used as is; otherwise `/` and
            // the playlist's directory follow it.
            let mut full = prefix.to_string();
            if !prefix.ends_with('/') {
                full.push('/');
                if let Some((dir, _)) = self.m3u8_path.rsplit_once('/') {
                    full.push_str(dir);
                    full.push('/');
                }
            }
            full.push_str(&uri);
            uri = full;
        }
        self.current = Some(OpenSegment {
            seq,
            path: path.clone(),
            uri,
            start_dts: dts,
            last_dts: dts,
            discontinuity: std::mem::take(&mut self.discontinuity_pending),
        });
        self.waiting_since = None;
        self.muxer.start_segment();
        actions.push(HlsAction::SegmentStarted { seq, path });
    }

    /// Close the open segment (ending at `end_dts`, or at its last frame), add it to the
    /// playlist, slide the window, write the playlist, delete what expired.
    fn close_segment(&mut self, end_dts: Option<i64>, actions: &mut Vec<HlsAction>) {
        let Some(cur) = self.current.take() else {
            return;
        };
        let end = end_dts.unwrap_or(cur.last_dts);
        let duration_ms = u64::try_from(end - cur.start_dts).unwrap_or(0);
        actions.push(HlsAction::SegmentClosed {
            seq: cur.seq,
            path: cur.path.clone(),
            duration: Duration::from_millis(duration_ms),
        });
        self.segments.push_back(Segment {
            seq: cur.seq,
            path: cur.path,
            uri: cur.uri,
            duration_ms,
            discontinuity: cur.discontinuity,
        });
        let expired = self.shrink();
        actions.push(HlsAction::WritePlaylist {
            path: self.m3u8_path.clone(),
            text: self.playlist().render(),
        });
        if self.config.cleanup {
            actions.extend(expired.into_iter().map(|s| HlsAction::DeleteSegment {
                seq: s.seq,
                path: s.path,
            }));
        }
    }

    /// SRS's `SrsFragmentWindow::shrink`: keep the newest segments up to and including the
    /// one that makes their total exceed the window.
    fn shrink(&mut self) -> Vec<Segment> {
        let mut total = 0u64;
        let mut keep_from = 0;
        for (i, s) in self.segments.iter().enumerate().rev() {
            total = total.saturating_add(s.duration_ms);
            if total > self.window_ms {
                keep_from = i;
                break;
            }
        }
        let expired: Vec<Segment> = self.segments.drain(..keep_from).collect();
        self.discontinuity_sequence += expired.iter().filter(|s| s.discontinuity).count() as u64;
        expired
    }

    /// The playlist as it stands (closed segments only).
    pub fn playlist(&self) -> MediaPlaylist {
        let longest = self
            .segments
            .iter()
            .map(|s| s.duration_ms)
            .max()
            .unwrap_or(0);
        let floor = (self.fragment_ms as f64 * self.config.td_ratio) as u64;
        MediaPlaylist {
            version: Some(3),
            target_duration: longest.max(floor).div_ceil(1000),
            media_sequence: self.segments.front().map_or(self.next_seq, |s| s.seq),
            discontinuity_sequence: self.discontinuity_sequence,
            segments: self
                .segments
                .iter()
                .map(|s| MediaSegment {
                    duration_ms: s.duration_ms,
                    title: String::new(),
                    uri: s.uri.clone(),
                    discontinuity: s.discontinuity,
                })
                .collect(),
            end_list: false,
        }
    }

    /// A new publish of the same stream is about to start (republish): close the open
    /// segment, mark the next one with `EXT-X-DISCONTINUITY`, and forget the codecs and the
    /// timeline — feed the new publisher's sequence headers next. Sequence numbers go on.
    pub fn discontinuity(&mut self) -> Vec<HlsAction> {
        let mut actions = Vec::new();
        self.close_segment(None, &mut actions);
        if self.next_seq > 0 {
            self.discontinuity_pending = true;
        }
        self.muxer.reset_stream();
        self.last_video_dts = None;
        self.waiting_since = None;
        actions
    }

    /// The publisher left: close the open segment and write the playlist. The playlist stays
    /// live (no `EXT-X-ENDLIST`), as in SRS, so a republish continues it.
    pub fn close(&mut self) -> Vec<HlsAction> {
        let mut actions = Vec::new();
        self.close_segment(None, &mut actions);
        actions
    }

    /// `hls_dispose`: delete every segment (the open one too) and the playlist.
    pub fn dispose(&mut self) -> Vec<HlsAction> {
        let mut actions: Vec<HlsAction> = self
            .segments
            .drain(..)
            .map(|s| HlsAction::DeleteSegment {
                seq: s.seq,
                path: s.path,
            })
            .collect();
        if let Some(cur) = self.current.take() {
            actions.push(HlsAction::DeleteSegment {
                seq: cur.seq,
                path: cur.path,
            });
        }
        actions.push(HlsAction::DeletePlaylist {
            path: self.m3u8_path.clone(),
        });
        self.buf.clear();
        actions
    }
}

#[cfg(test)]
mod tests;
