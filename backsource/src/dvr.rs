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
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    file: File,
    /// Stream time of its first media message (its timestamp 0).
    start: u32,
    /// Newest timestamp written (relative).
    last: u32,
    /// Media messages written (headers not counted).
    media: u64,
    /// Bytes of the file written whole (a failed write leaves what follows to cut).
    good: u64,
    /// A write failed (the disk is full): the file is finished with what it has.
    failed: bool,
    format: Format,
}

/// What a file is.
enum Format {
    Flv {
        /// The metadata tag's body length, reserved at the start and rewritten in place.
        reserved: usize,
        /// The stream's metadata when the file started.
        meta: Option<Media>,
        has_audio: bool,
        has_video: bool,
        /// Keyframes: relative time in ms, and offset of the tag in the file.
        keyframes: Vec<(u32, u64)>,
    },
    Mp4 {
        mux: Box<Mp4Muxer>,
        /// A codec MP4 does not take was said once.
        said: bool,
    },
}

/// Keyframes the FLV index has room for, at most (about 18 bytes each): a session plan
/// reserves 36 KiB; past that the index keeps every other keyframe, and so on.
const MAX_INDEXED_KEYFRAMES: usize = 2048;

/// A finished recording, for `on_dvr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its final path.
    pub path: PathBuf,
}

/// After a file could not be started (a path that cannot be written), the next try
/// waits this long, doubling up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The recorder of one publish: what it writes where.
pub struct Recorder {
    key: StreamKey,
    dvr: Dvr,
    metadata: Option<Media>,
    video_header: Option<Media>,
    audio_header: Option<Media>,
    has_video: bool,
    current: Option<Segment>,
    /// No new file before this (after a failed start), and the wait after the next failure.
    retry: Option<(Instant, Duration)>,
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
            retry: None,
            finished: Vec::new(),
        }
    }

    /// Take one message of the stream. A failed write finishes the file with what it
    /// has and returns the error; a file that cannot be started is tried again after a
    /// back-off (1 s, doubling to 30 s), one error per try.
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
                if let Err(e) = seg.write(&self.key, m, ts) {
                    self.close()?;
                    return Err(e);
                }
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
            if self.retry.is_some_and(|(at, _)| Instant::now() < at) {
                return Ok(());
            }
            match self.open(m.timestamp) {
                Ok(()) => self.retry = None,
                Err(e) => {
                    let wait = self.retry.map_or(FIRST_RETRY, |(_, w)| w);
                    self.retry = Some((Instant::now() + wait, (wait * 2).min(MAX_RETRY)));
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!(
                            "cannot start a file (next try in {} s): {e}",
                            wait.as_secs()
                        ),
                    ));
                }
            }
        }
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        let ts = m.timestamp.wrapping_sub(seg.start);
        // Timestamps run forward in a file (jitter already made them monotonic).
        let ts = if ts > 0x7fff_ffff { 0 } else { ts };
        match seg.write(&self.key, m, ts) {
            Ok(true) => {
                seg.media += 1;
                seg.last = seg.last.max(ts);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(e) => {
                self.close()?;
                Err(e)
            }
        }
    }

    fn open(&mut self, start: u32) -> std::io::Result<()> {
        let path = PathBuf::from(expand_path(&self.dvr.path, &self.key, now_ms()));
        if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp)?;
        let format = if is_mp4(&self.dvr) {
            Format::Mp4 {
                mux: Box::default(),
                said: false,
            }
        } else {
            let capacity = if self.dvr.segment {
                // Keyframes at most twice a second.
                (self.dvr.duration.as_secs() as usize * 2).clamp(16, MAX_INDEXED_KEYFRAMES)
            } else {
                MAX_INDEXED_KEYFRAMES
            };
            let meta = self.metadata.clone();
            let reserved = metadata_body(meta.as_ref(), 0, &[], 0, 0, None).map_or(0, |b| b.len())
                + INDEX_ENTRY * capacity
                + PAD_OVERHEAD;
            Format::Flv {
                reserved,
                meta,
                has_audio: self.audio_header.is_some(),
                has_video: self.has_video,
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
            good: 0,
            failed: false,
            format,
        };
        let started = (|| {
            seg.start_file()?;
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

    /// Finish the current file under its final name (a file without media is removed).
    /// Nothing is copied, and a file whose disk filled up is finished within the space
    /// it already has:
    /// - FLV: the metadata reserved at the start is rewritten in place (duration, size,
    ///   keyframe index), and a tag cut by a failed write is cut off;
    /// - MP4: the `moov` goes after the samples and the `mdat` size is patched in place;
    ///   on a full disk, the last samples make room for the `moov`.
    pub fn close(&mut self) -> std::io::Result<()> {
        let Some(mut seg) = self.current.take() else {
            return Ok(());
        };
        if seg.media == 0 {
            let _ = std::fs::remove_file(&seg.tmp);
            return Ok(());
        }
        let finished = seg.finish(self.video_header.is_some() || self.has_video);
        if let Err(e) = finished {
            // Left as NAME.tmp: a half file never takes the final name.
            return Err(std::io::Error::new(
                e.kind(),
                format!(
                    "{} not finished, left as {}: {e}",
                    seg.path.display(),
                    seg.tmp.display()
                ),
            ));
        }
        std::fs::rename(&seg.tmp, &seg.path)?;
        info!(stream = %self.key, file = %seg.path.display(), duration_ms = seg.last, cut_short = seg.failed, "dvr: file complete");
        self.finished.push(Recorded { path: seg.path });
        Ok(())
    }
}

/// Bytes of one keyframe in the FLV index: a number in `times`, one in `filepositions`.
const INDEX_ENTRY: usize = 18;
/// Bytes of the padding property with an empty string: name, object, string, end.
const PAD_OVERHEAD: usize = 64;

impl Segment {
    /// The first bytes: FLV's header and reserved metadata, or MP4's `ftyp` and `mdat`.
    fn start_file(&mut self) -> std::io::Result<()> {
        let head = match &self.format {
            Format::Flv {
                reserved,
                meta,
                has_audio,
                has_video,
                ..
            } => {
                let body = metadata_body(meta.as_ref(), 0, &[], 0, 0, Some(*reserved))
                    .ok_or_else(|| std::io::Error::other("metadata larger than its room"))?;
                let mut b = BytesMut::from(&flv::file_header(*has_audio, *has_video)[..]);
                flv::write_tag(&mut b, flv::tag_type::SCRIPT, 0, &body);
                b.to_vec()
            }
            Format::Mp4 { .. } => Mp4Muxer::head(),
        };
        self.put(&head)
    }

    /// Write bytes at the end; on a failure the file is cut back to what was whole.
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other("an earlier write failed"));
        }
        if let Err(e) = self.file.write_all(b) {
            self.failed = true;
            let _ = self.file.set_len(self.good);
            return Err(e);
        }
        self.good += b.len() as u64;
        Ok(())
    }

    /// Write one message at `ts` (relative); whether it was a sample of the file.
    fn write(&mut self, key: &StreamKey, m: &Media, ts: u32) -> std::io::Result<bool> {
        let at = self.good;
        match &mut self.format {
            Format::Flv { keyframes, .. } => {
                if m.type_id == type_id::VIDEO && m.is_keyframe() && !m.is_sequence_header() {
                    keyframes.push((ts, at));
                }
                let mut b = BytesMut::with_capacity(15 + m.payload.len());
                flv::write_tag(&mut b, m.type_id, ts, &m.payload);
                let written = self.put(&b);
                if written.is_err() {
                    if let Format::Flv { keyframes, .. } = &mut self.format {
                        keyframes.retain(|(_, p)| *p < at);
                    }
                }
                written.map(|()| true)
            }
            Format::Mp4 { mux, said } => {
                let sample = match m.type_id {
                    type_id::VIDEO => mux.video(ts, &m.payload),
                    type_id::AUDIO => mux.audio(ts, &m.payload),
                    _ => return Ok(false),
                };
                match sample {
                    Ok(Some((s, data))) => {
                        // `data` is the message's own bytes (no copy), unless an in-band
                        // stream's Annex B frame had to be length-prefixed.
                        self.put(&data)?;
                        if let Format::Mp4 { mux, .. } = &mut self.format {
                            mux.add(s);
                        }
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

    /// Make the file whole: FLV's metadata rewritten in place; MP4's `moov` and `mdat`
    /// size.
    fn finish(&mut self, has_video: bool) -> std::io::Result<()> {
        let good = self.good;
        match &mut self.format {
            Format::Flv {
                reserved,
                meta,
                has_audio,
                keyframes,
                ..
            } => {
                let base = 13 + 11;
                let body = metadata_body(
                    meta.as_ref(),
                    self.last,
                    keyframes,
                    good,
                    0,
                    Some(*reserved),
                )
                .ok_or_else(|| std::io::Error::other("metadata larger than its room"))?;
                self.file.seek(SeekFrom::Start(4))?;
                self.file
                    .write_all(&[(u8::from(*has_audio)) << 2 | u8::from(has_video)])?;
                self.file.seek(SeekFrom::Start(base))?;
                self.file.write_all(&body)?;
            }
            Format::Mp4 { mux, .. } => {
                // The moov after the samples; on a full disk, within the space the file
                // has: samples from the end give their room to the moov.
                let mut end = mp4::DATA_AT + mux.data_len();
                loop {
                    let moov = mux.moov();
                    self.file.seek(SeekFrom::Start(end))?;
                    match self.file.write_all(&moov) {
                        Ok(()) => {
                            end += moov.len() as u64;
                            break;
                        }
                        Err(e) if mux.is_empty() => return Err(e),
                        Err(e) => {
                            let room = good.max(end).saturating_sub(moov.len() as u64 + 4096);
                            if room <= mp4::DATA_AT {
                                return Err(e);
                            }
                            warn!(file = %self.path.display(), "dvr: {e}: the last samples make room for the moov");
                            mux.cut(room);
                            end = mp4::DATA_AT + mux.data_len();
                            self.failed = true;
                        }
                    }
                }
                self.file.set_len(end)?;
                self.file.seek(SeekFrom::Start(mp4::MDAT_SIZE_AT))?;
                self.file.write_all(&mux.mdat_size())?;
            }
        }
        self.file.flush()
    }
}

/// The `onMetaData` body of a file: the stream's own properties, with `duration`,
/// `filesize` and `keyframes { times, filepositions }` (positions from the file's start,
/// `base` added), padded to exactly `size` bytes when given (None when it does not fit
/// even with the index thinned to nothing).
fn metadata_body(
    stream_meta: Option<&Media>,
    duration_ms: u32,
    keyframes: &[(u32, u64)],
    filesize: u64,
    base: u64,
    size: Option<usize>,
) -> Option<BytesMut> {
    let mut props: Vec<(String, Amf0Value)> = stream_meta
        .and_then(|m| srs_protocol::amf0::decode_all(&m.payload).ok())
        .and_then(|v| v.into_iter().nth(1))
        .and_then(|v| match v {
            Amf0Value::Object(p) | Amf0Value::EcmaArray(p) => Some(p),
            _ => None,
        })
        .unwrap_or_default();
    props.retain(|(k, _)| {
        !matches!(
            k.as_str(),
            "duration" | "filesize" | "keyframes" | "srs_rs_reserved"
        )
    });
    props.push((
        "duration".into(),
        Amf0Value::Number(f64::from(duration_ms) / 1000.0),
    ));
    props.push(("filesize".into(), Amf0Value::Number(filesize as f64)));
    let encode = |props: &[(String, Amf0Value)], kf: &[(u32, u64)], pad: usize| {
        let mut props = props.to_vec();
        props.push((
            "keyframes".into(),
            Amf0Value::Object(vec![
                (
                    "times".into(),
                    Amf0Value::StrictArray(
                        kf.iter()
                            .map(|(t, _)| Amf0Value::Number(f64::from(*t) / 1000.0))
                            .collect(),
                    ),
                ),
                (
                    "filepositions".into(),
                    Amf0Value::StrictArray(
                        kf.iter()
                            .map(|(_, p)| Amf0Value::Number((base + p) as f64))
                            .collect(),
                    ),
                ),
            ]),
        ));
        if size.is_some() {
            // Room kept for the index, inside an object that players do not show: an
            // array of numbers (9 bytes) and nulls (1 byte). Strings would show, and
            // ffmpeg refuses those past 255 bytes.
            let mut fill = vec![Amf0Value::Number(0.0); pad / 9];
            fill.extend(std::iter::repeat(Amf0Value::Null).take(pad % 9));
            props.push((
                "srs_rs_reserved".into(),
                Amf0Value::Object(vec![("pad".into(), Amf0Value::StrictArray(fill))]),
            ));
        }
        srs_protocol::amf0::encode_all(&[
            Amf0Value::string("onMetaData"),
            Amf0Value::EcmaArray(props),
        ])
    };
    let Some(size) = size else {
        return Some(encode(&props, keyframes, 0));
    };
    // Every keyframe if it fits, else every 2nd, 3rd, ... (the first always).
    let mut step = 1;
    loop {
        let kf: Vec<(u32, u64)> = keyframes.iter().step_by(step).copied().collect();
        let len = encode(&props, &kf, 0).len();
        if len <= size {
            return Some(encode(&props, &kf, size - len));
        }
        if kf.len() <= 1 {
            return None;
        }
        step += 1;
    }
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
                    warn!(stream = %k, "dvr: {e}");
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

    /// An AVC sequence header (640x360 High) and an AAC one, as the encoder sends them.
    fn headers() -> [Media; 2] {
        let hex = "6764001eacd940a02ff97011000003000100000300320f162d96";
        let sps: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let pps = [0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];
        let mut v = vec![0x17, 0, 0, 0, 0, 1, sps[1], sps[2], sps[3], 0xff, 0xe1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(&sps);
        v.push(1);
        v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        v.extend_from_slice(&pps);
        [
            Media::new(
                type_id::VIDEO,
                0,
                Bytes::from(v),
                flags::SEQUENCE_HEADER | flags::KEYFRAME,
            ),
            Media::new(
                type_id::AUDIO,
                0,
                Bytes::from_static(&[0xaf, 0, 0x12, 0x10]),
                flags::SEQUENCE_HEADER,
            ),
        ]
    }

    /// A frame of `len` bytes: one NAL unit.
    fn big_video(ts: u32, key: bool, len: usize) -> Media {
        let mut body = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        body.extend_from_slice(&((len - 9) as u32).to_be_bytes());
        body.resize(len, 0x41);
        Media::new(
            type_id::VIDEO,
            ts,
            Bytes::from(body),
            if key { flags::KEYFRAME } else { 0 },
        )
    }

    const FULL_DISK_CHILD: &str = "SRS_RS_DVR_FULL_DISK_CHILD";
    /// The "disk" the child has: a file may grow to this many bytes.
    const DISK: u64 = 300_000;

    /// In a child process whose files may not grow past [`DISK`] bytes (RLIMIT_FSIZE,
    /// which fails a write the way a full disk does): record until a write fails.
    fn full_disk_child(path: &str) {
        // SAFETY: setting a signal disposition and a resource limit of this (child) process.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: DISK,
                rlim_max: DISK,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        let dvr = Dvr {
            enabled: true,
            path: path.to_string(),
            ..Dvr::default()
        };
        let mut r = Recorder::new(key(), dvr);
        for h in headers() {
            r.push(&h).unwrap();
        }
        let mut failed = false;
        for i in 0..400u32 {
            if r.push(&big_video(i * 40, i % 25 == 0, 1500)).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "the disk never filled");
        assert_eq!(r.finished.len(), 1, "the file was finished at the failure");
    }

    /// A disk that fills up while recording: the file is finished under its final name
    /// with what fit, whole (FLV: every tag complete, metadata telling its real size;
    /// MP4: ftyp, mdat and moov filling the file exactly), within the space it had.
    #[test]
    fn a_full_disk_finishes_the_file_with_what_it_has() {
        if let Ok(path) = std::env::var(FULL_DISK_CHILD) {
            full_disk_child(&path);
            return;
        }
        for ext in ["flv", "mp4"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("full.{ext}"));
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "dvr::tests::a_full_disk_finishes_the_file_with_what_it_has",
                ])
                .args(["--test-threads", "1", "--nocapture"])
                .env(FULL_DISK_CHILD, &path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{ext}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                walk(dir.path()),
                vec![path.clone()],
                "{ext}: no temporary file"
            );
            let bytes = std::fs::read(&path).unwrap();
            let len = bytes.len() as u64;
            assert!(len <= DISK && len > DISK / 2, "{ext}: {len} bytes");
            if ext == "flv" {
                let mut rd = flv::FlvReader::new();
                rd.push(&bytes);
                let mut n = 0;
                let mut first = None;
                while let Some(t) = rd.next_tag().unwrap() {
                    first.get_or_insert(t.clone());
                    n += 1;
                }
                assert!(n > 100, "{n} tags");
                let meta = srs_protocol::amf0::decode_all(&first.unwrap().body).unwrap();
                assert_eq!(meta[1].get_f64("filesize"), Some(len as f64));
                assert!(meta[1].get_f64("duration").unwrap() > 4.0);
            } else {
                let size =
                    |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as u64;
                assert_eq!(&bytes[36..40], b"mdat");
                let mdat = u64::from_be_bytes(bytes[40..48].try_into().unwrap());
                let moov_at = (32 + mdat) as usize;
                assert_eq!(&bytes[moov_at + 4..moov_at + 8], b"moov");
                assert_eq!(32 + mdat + size(moov_at), len, "the boxes fill the file");
            }
        }
    }

    /// A path that cannot be written: one error per try, the tries backing off.
    #[test]
    fn an_unwritable_path_is_tried_again_after_a_back_off() {
        let dvr = Dvr {
            enabled: true,
            path: "/dev/null/cannot/x.flv".into(),
            ..Dvr::default()
        };
        let mut r = Recorder::new(key(), dvr);
        let errors: Vec<String> = (0..200u32)
            .filter_map(|i| r.push(&video(i * 40, true)).err().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("next try in 1 s"), "{errors:?}");
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
