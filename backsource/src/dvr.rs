//! DVR (`dvr { enabled on; dvr_plan session|segment; dvr_path ...; }`): the published stream
//! recorded to FLV files, off the publisher's path.
//!
//! The recorder reads the stream like a relay (a player of the publisher's tap), and a
//! thread of its own does the file I/O, so a slow disk never stalls the encoder or the
//! players: a recorder that falls behind skips whole GOPs in its own cursor.
//!
//! Each file:
//! - is written as `NAME.tmp` (the tags) and only becomes `NAME` when complete, so a crash
//!   never leaves a half file under the final name;
//! - starts with `onMetaData` (the stream's, with `duration`, `filesize` and a `keyframes {
//!   times, filepositions }` index written when the file closes, which SRS does not do: a
//!   player can seek in our recordings), then the sequence headers, then media from a
//!   keyframe at timestamp 0;
//! - in the segment plan, is cut at the first keyframe after `dvr_duration`, so no file is
//!   ever a tail without media.

use bytes::BytesMut;
use srs_conf::Dvr;
use srs_ipc::control::StreamKey;
use srs_live::{Media, PlayEvent, Player};
use srs_protocol::amf0::Amf0Value;
use srs_protocol::flv;
use srs_protocol::message::type_id;
use srs_protocol::mp4::{self, Mp4Muxer};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// Expand `dvr_path`'s placeholders for a file started at `now_ms` (local time, as SRS).
pub fn expand_path(template: &str, key: &StreamKey, now_ms: u64) -> String {
    let secs = (now_ms / 1000) as libc::time_t;
    // SAFETY: localtime_r writes into the struct we own and reads the time we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        tm
    };
    template
        .replace("[vhost]", &key.vhost)
        .replace("[app]", &key.app)
        .replace("[stream]", &key.stream)
        .replace("[2006]", &format!("{:04}", tm.tm_year + 1900))
        .replace("[01]", &format!("{:02}", tm.tm_mon + 1))
        .replace("[02]", &format!("{:02}", tm.tm_mday))
        .replace("[15]", &format!("{:02}", tm.tm_hour))
        .replace("[04]", &format!("{:02}", tm.tm_min))
        .replace("[05]", &format!("{:02}", tm.tm_sec))
        .replace("[999]", &format!("{:03}", now_ms % 1000))
        .replace("[timestamp]", &now_ms.to_string())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One file being written.
struct Segment {
    path: PathBuf,
    tmp: PathBuf,
    file: BufWriter<File>,
    /// Stream time of its first media message (its timestamp 0).
    start: u32,
    /// Newest timestamp written (relative).
    last: u32,
    /// Media messages written (headers not counted).
    media: u64,
    format: Format,
}

/// What a file is.
enum Format {
    Flv {
        /// Bytes of tags written to the temporary file.
        bytes: u64,
        /// Keyframes: relative time in ms, and offset of the tag in the tags.
        keyframes: Vec<(u32, u64)>,
    },
    Mp4 {
        mux: Box<Mp4Muxer>,
        /// A codec MP4 does not take was said once.
        said: bool,
    },
}

/// A finished recording, for `on_dvr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its final path.
    pub path: PathBuf,
}

/// The recorder of one publish: what it writes where.
pub struct Recorder {
    key: StreamKey,
    dvr: Dvr,
    metadata: Option<Media>,
    video_header: Option<Media>,
    audio_header: Option<Media>,
    has_video: bool,
    current: Option<Segment>,
    /// Files finished so far (their `on_dvr` is due).
    pub finished: Vec<Recorded>,
}

impl Recorder {
    /// A recorder of `key` with `dvr`'s settings.
    pub fn new(key: StreamKey, dvr: Dvr) -> Recorder {
        Recorder {
            key,
            dvr,
            metadata: None,
            video_header: None,
            audio_header: None,
            has_video: false,
            current: None,
            finished: Vec::new(),
        }
    }

    /// Take one message of the stream.
    pub fn push(&mut self, m: &Media) -> std::io::Result<()> {
        if m.is_metadata() {
            self.metadata = Some(m.clone());
            return Ok(());
        }
        if m.is_sequence_header() {
            if m.type_id == type_id::VIDEO {
                self.has_video = true;
                self.video_header = Some(m.clone());
            } else {
                self.audio_header = Some(m.clone());
            }
            // A new header mid-file goes into the file too (a codec change; MP4 keeps
            // the first).
            if let Some(seg) = self.current.as_mut() {
                let ts = m.timestamp.wrapping_sub(seg.start);
                seg.write(&self.key, m, ts)?;
            }
            return Ok(());
        }
        if m.type_id == type_id::VIDEO {
            self.has_video = true;
        }
        let keyframe = m.type_id == type_id::VIDEO && m.is_keyframe();
        // The segment plan cuts at the first keyframe past the duration.
        // Audio-only streams are cut at any audio message.
        let cut_point = keyframe || (!self.has_video && m.type_id == type_id::AUDIO);
        if cut_point && self.dvr.segment {
            let cut = self.current.as_ref().is_some_and(|s| {
                u64::from(m.timestamp.wrapping_sub(s.start)) >= self.dvr.duration.as_millis() as u64
                    && s.media > 0
            });
            if cut {
                self.close()?;
            }
        }
        if self.current.is_none() {
            // Start at a keyframe (or at once for a stream without video, or when told not
            // to wait).
            let may_start = keyframe || !self.dvr.wait_keyframe || !self.has_video;
            if !may_start || (m.type_id == type_id::DATA_AMF0) {
                return Ok(());
            }
            self.open(m.timestamp)?;
        }
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        let ts = m.timestamp.wrapping_sub(seg.start);
        // Timestamps run forward in a file (jitter already made them monotonic).
        let ts = if ts > 0x7fff_ffff { 0 } else { ts };
        if seg.write(&self.key, m, ts)? {
            seg.media += 1;
            seg.last = seg.last.max(ts);
        }
        Ok(())
    }

    fn open(&mut self, start: u32) -> std::io::Result<()> {
        let path = PathBuf::from(expand_path(&self.dvr.path, &self.key, now_ms()));
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = BufWriter::with_capacity(64 * 1024, File::create(&tmp)?);
        let format = if is_mp4(&self.dvr) {
            Format::Mp4 {
                mux: Box::default(),
                said: false,
            }
        } else {
            Format::Flv {
                bytes: 0,
                keyframes: Vec::new(),
            }
        };
        let mut seg = Segment {
            path,
            tmp,
            file,
            start,
            last: 0,
            media: 0,
            format,
        };
        let started = (|| {
            if matches!(seg.format, Format::Mp4 { .. }) {
                seg.file.write_all(&Mp4Muxer::head())?;
            }
            for h in [&self.video_header, &self.audio_header]
                .into_iter()
                .flatten()
            {
                seg.write(&self.key, h, 0)?;
            }
            Ok(())
        })();
        if let Err(e) = started {
            let _ = std::fs::remove_file(&seg.tmp);
            return Err(e);
        }
        info!(stream = %self.key, file = %seg.path.display(), "dvr: recording");
        self.current = Some(seg);
        Ok(())
    }

    /// Finish the current file under its final name (a file without media is removed):
    /// - FLV: metadata first (with its duration, size and keyframe index), then the tags;
    /// - MP4: the `moov` after the samples, and the `mdat` size patched in place.
    pub fn close(&mut self) -> std::io::Result<()> {
        let Some(mut seg) = self.current.take() else {
            return Ok(());
        };
        let flushed = seg.file.flush();
        if seg.media == 0 {
            let _ = std::fs::remove_file(&seg.tmp);
            return flushed;
        }
        flushed?;
        match &seg.format {
            Format::Flv { .. } => self.close_flv(&seg)?,
            Format::Mp4 { mux, .. } => {
                let moov = mux.moov();
                let file = seg.file.get_mut();
                file.write_all(&moov)?;
                file.seek(SeekFrom::Start(mp4::MDAT_SIZE_AT))?;
                file.write_all(&mux.mdat_size())?;
                file.flush()?;
                std::fs::rename(&seg.tmp, &seg.path)?;
            }
        }
        info!(stream = %self.key, file = %seg.path.display(), duration_ms = seg.last, "dvr: file complete");
        self.finished.push(Recorded { path: seg.path });
        Ok(())
    }

    /// The FLV file: header and metadata (its numbers known now), then the tags copied
    /// from the temporary file.
    fn close_flv(&self, seg: &Segment) -> std::io::Result<()> {
        let Format::Flv { bytes, keyframes } = &seg.format else {
            return Ok(());
        };
        let has_audio = self.audio_header.is_some();
        let meta = |size: u64, base: u64| -> BytesMut {
            metadata_tag(self.metadata.as_ref(), seg.last, keyframes, size, base)
        };
        // The metadata's length does not depend on the numbers in it: measure, then fill.
        let meta_len = meta(0, 0).len() as u64;
        let total = 13 + meta_len + bytes;
        let head = meta(total, 13 + meta_len);
        let mut final_tmp = seg.path.clone().into_os_string();
        final_tmp.push(".tmp.flv");
        let final_tmp = PathBuf::from(final_tmp);
        let copied = (|| {
            let mut out = BufWriter::new(File::create(&final_tmp)?);
            out.write_all(&flv::file_header(has_audio, self.has_video))?;
            out.write_all(&head)?;
            let mut tags = File::open(&seg.tmp)?;
            std::io::copy(&mut tags, &mut out)?;
            out.flush()?;
            std::fs::rename(&final_tmp, &seg.path)
        })();
        if let Err(e) = copied {
            let _ = std::fs::remove_file(&final_tmp);
            return Err(e);
        }
        let _ = std::fs::remove_file(&seg.tmp);
        Ok(())
    }
}

impl Segment {
    /// Write one message at `ts` (relative); whether it was a sample of the file.
    fn write(&mut self, key: &StreamKey, m: &Media, ts: u32) -> std::io::Result<bool> {
        match &mut self.format {
            Format::Flv { bytes, keyframes } => {
                if m.type_id == type_id::VIDEO && m.is_keyframe() && !m.is_sequence_header() {
                    keyframes.push((ts, *bytes));
                }
                let mut b = BytesMut::with_capacity(15 + m.payload.len());
                flv::write_tag(&mut b, m.type_id, ts, &m.payload);
                self.file.write_all(&b)?;
                *bytes += b.len() as u64;
                Ok(true)
            }
            Format::Mp4 { mux, said } => {
                let sample = match m.type_id {
                    type_id::VIDEO => mux.video(ts, &m.payload),
                    type_id::AUDIO => mux.audio(ts, &m.payload),
                    _ => return Ok(false),
                };
                match sample {
                    Ok(Some((s, data))) => {
                        self.file.write_all(data)?;
                        mux.add(s);
                        Ok(true)
                    }
                    Ok(None) => Ok(false),
                    Err(e) => {
                        if !*said {
                            *said = true;
                            warn!(stream = %key, file = %self.path.display(), "dvr: {e}; that track is left out");
                        }
                        Ok(false)
                    }
                }
            }
        }
    }
}

/// The `onMetaData` tag of a file: the stream's own properties, with `duration`,
/// `filesize` and `keyframes { times, filepositions }` (positions from the file's start;
/// `base` is where the tags start).
fn metadata_tag(
    stream_meta: Option<&Media>,
    duration_ms: u32,
    keyframes: &[(u32, u64)],
    filesize: u64,
    base: u64,
) -> BytesMut {
    let mut props: Vec<(String, Amf0Value)> = stream_meta
        .and_then(|m| srs_protocol::amf0::decode_all(&m.payload).ok())
        .and_then(|v| v.into_iter().nth(1))
        .and_then(|v| match v {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            _ => None,
        })
        .unwrap_or_default();
    props.retain(|(k, _)| !matches!(k.as_str(), "duration" | "filesize" | "keyframes"));
    props.push((
        "duration".into(),
        Amf0Value::Number(f64::from(duration_ms) / 1000.0),
    ));
    props.push(("filesize".into(), Amf0Value::Number(filesize as f64)));
    props.push((
        "keyframes".into(),
        Amf0Value::Object(vec![
            (
                "times".into(),
                Amf0Value::StrictArray(
                    keyframes
                        .iter()
                        .map(|(t, _)| Amf0Value::Number(f64::from(*t) / 1000.0))
                        .collect(),
                ),
            ),
            (
                "filepositions".into(),
                Amf0Value::StrictArray(
                    keyframes
                        .iter()
                        .map(|(_, p)| Amf0Value::Number((base + p) as f64))
                        .collect(),
                ),
            ),
        ]),
    ));
    let body = srs_protocol::amf0::encode_all(&[
        Amf0Value::string("onMetaData"),
        Amf0Value::EcmaArray(props),
    ]);
    let mut out = BytesMut::new();
    flv::write_tag(&mut out, flv::tag_type::SCRIPT, 0, &body);
    out
}

/// Record the stream `player` reads until its publish ends, on a thread of its own; each
/// finished file goes to `on_file` (the `on_dvr` hook).
pub fn spawn(
    key: StreamKey,
    dvr: Dvr,
    mut player: Player,
    on_file: impl Fn(Recorded) + Send + 'static,
) -> Option<DvrHandle> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Option<Arc<Media>>>(1024);
    let stop = tx.clone();
    let k = key.clone();
    let thread = std::thread::Builder::new()
        .name(format!("dvr {}", key.stream))
        .spawn(move || {
            let mut rec = Recorder::new(k.clone(), dvr);
            while let Some(m) = rx.blocking_recv() {
                let Some(m) = m else { break };
                if let Err(e) = rec.push(&m) {
                    warn!(stream = %k, "dvr: write failed, file closed: {e}");
                    let _ = rec.close();
                }
                for f in rec.finished.drain(..) {
                    on_file(f);
                }
            }
            if let Err(e) = rec.close() {
                warn!(stream = %k, "dvr: closing the file failed: {e}");
            }
            for f in rec.finished.drain(..) {
                on_file(f);
            }
        });
    let thread = match thread {
        Ok(t) => t,
        Err(e) => {
            warn!(stream = %key, "dvr: no recorder thread: {e}");
            return None;
        }
    };
    tokio::spawn(async move {
        loop {
            player.changed().await;
            for ev in player.poll(256, 1 << 20) {
                match ev {
                    PlayEvent::Media(msgs) => {
                        for m in msgs {
                            // Waits when the disk is slow: this cursor lags, and the
                            // source makes it skip GOPs rather than hold the publisher.
                            if tx.send(Some(m)).await.is_err() {
                                return;
                            }
                        }
                    }
                    PlayEvent::Unpublished => {
                        let _ = tx.send(None).await;
                        return;
                    }
                    PlayEvent::Published => {}
                }
            }
        }
    });
    Some(DvrHandle { stop, thread })
}

/// A running recorder, to finish its file when backsource stops.
#[derive(Debug)]
pub struct DvrHandle {
    stop: tokio::sync::mpsc::Sender<Option<Arc<Media>>>,
    thread: std::thread::JoinHandle<()>,
}

impl DvrHandle {
    /// Whether it still records.
    pub fn is_running(&self) -> bool {
        !self.thread.is_finished()
    }

    /// Finish the file now (what came so far), and wait for it.
    pub async fn finish(self) {
        let _ = self.stop.send(None).await;
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// Whether `dvr_path` names an MP4 file (else the recording is FLV, as in SRS).
fn is_mp4(dvr: &Dvr) -> bool {
    Path::new(&dvr.path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("mp4"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use srs_ipc::ring::flags;

    fn key() -> StreamKey {
        StreamKey {
            vhost: "v".into(),
            app: "live".into(),
            stream: "s".into(),
        }
    }

    fn video(ts: u32, key: bool) -> Media {
        let body = if key {
            vec![0x17, 1, 0, 0, 0, 0xaa]
        } else {
            vec![0x27, 1, 0, 0, 0, 0xbb]
        };
        Media::new(
            type_id::VIDEO,
            ts,
            Bytes::from(body),
            if key { flags::KEYFRAME } else { 0 },
        )
    }

    fn tags(path: &Path) -> Vec<flv::Tag> {
        let mut r = flv::FlvReader::new();
        r.push(&std::fs::read(path).unwrap());
        let mut out = Vec::new();
        while let Ok(Some(t)) = r.next_tag() {
            out.push(t);
        }
        out
    }

    #[test]
    fn segments_cut_at_keyframes_with_metadata_first_and_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let dvr = Dvr {
            enabled: true,
            segment: true,
            duration: std::time::Duration::from_secs(2),
            path: format!(
                "{}/[app]/[stream]-[999][timestamp].flv",
                dir.path().display()
            ),
            ..Dvr::default()
        };
        let mut r = Recorder::new(key(), dvr);
        let meta = srs_protocol::amf0::encode_all(&[
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(vec![("width".into(), Amf0Value::Number(320.0))]),
        ]);
        r.push(&Media::new(
            type_id::DATA_AMF0,
            0,
            meta.freeze(),
            flags::METADATA,
        ))
        .unwrap();
        r.push(&Media::new(
            type_id::VIDEO,
            0,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
            flags::SEQUENCE_HEADER | flags::KEYFRAME,
        ))
        .unwrap();
        // Before the first keyframe: nothing is written.
        r.push(&video(500, false)).unwrap();
        for i in 0..30u32 {
            let ts = 1000 + i * 200;
            r.push(&video(ts, i % 5 == 0)).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        r.close().unwrap();
        let files: Vec<_> = r.finished.iter().map(|f| f.path.clone()).collect();
        // 6 s of stream, keyframes every second, cut past 2 s: 3 files.
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            assert!(f.exists());
            let t = tags(f);
            assert_eq!(t[0].tag_type, flv::tag_type::SCRIPT);
            let meta = srs_protocol::amf0::decode_all(&t[0].body).unwrap();
            let props = meta[1].properties().unwrap();
            let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(get("width"), Some(Amf0Value::Number(320.0)));
            assert_eq!(
                get("filesize"),
                Some(Amf0Value::Number(std::fs::metadata(f).unwrap().len() as f64))
            );
            // The sequence header, then a keyframe at 0.
            assert_eq!(t[1].body[1], 0, "sequence header second");
            assert_eq!((t[2].timestamp, t[2].body[0]), (0, 0x17));
            // The index points at keyframe tags.
            let kf = get("keyframes").unwrap();
            let pos = kf.get("filepositions").cloned().unwrap();
            let Amf0Value::StrictArray(pos) = pos else {
                panic!()
            };
            let bytes = std::fs::read(f).unwrap();
            for p in pos {
                let p = p.as_f64().unwrap() as usize;
                assert_eq!(bytes[p], flv::tag_type::VIDEO);
                assert_eq!(bytes[p + 11], 0x17, "a keyframe at {p}");
            }
        }
        // No temporary file left.
        let left: Vec<_> = walk(dir.path())
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(".tmp"))
            })
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    fn walk(d: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn a_publish_without_media_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let dvr = Dvr {
            enabled: true,
            path: format!("{}/x.flv", dir.path().display()),
            ..Dvr::default()
        };
        let mut r = Recorder::new(key(), dvr);
        r.push(&video(0, false)).unwrap();
        r.close().unwrap();
        assert!(r.finished.is_empty());
        assert!(walk(dir.path()).is_empty());
    }

    #[test]
    fn path_templates() {
        let p = expand_path(
            "/r/[vhost]/[app]/[stream].[timestamp].flv",
            &key(),
            1_700_000_000_123,
        );
        assert_eq!(p, "/r/v/live/s.1700000000123.flv");
        let p = expand_path(
            "[2006]-[01]-[02]_[15]-[04]-[05].[999]",
            &key(),
            1_700_000_000_123,
        );
        assert_eq!(p.len(), "2023-11-14_22-13-20.123".len(), "{p}");
        assert!(p.ends_with(".123") && p.starts_with("2023-11-1"), "{p}");
    }
}
