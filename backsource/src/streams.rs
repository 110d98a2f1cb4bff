//! The writer side of every live stream of the node: one publisher per stream, its
//! timestamps corrected once (jitter), what each message is decided once (keyframe,
//! sequence header, metadata), and the messages written into the stream's shared-memory
//! ring, which the stream workers and httpd read (DESIGN.md, "Media path").

use crate::jitter::Jitter;
use bytes::Bytes;
use srs_ipc::control::{PublisherInfo, StreamKey, StreamUp};
use srs_ipc::ring::{flags, ring_file_name, RingConfig, RingWriter};
use srs_protocol::flv;
use srs_protocol::message::type_id;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// How long a stream's clock is remembered after its publisher left, so that a republish
/// continues it for the players still waiting. Players wait as long as they like; a
/// publisher gone for longer than this starts the clock afresh, and the readers' players
/// see the new publish as a new stream (a discontinuity), not as time going backwards.
pub const CLOCK_MEMORY: Duration = Duration::from_secs(3600);

/// How big a stream's ring is. It starts small and grows with the stream: what a ring must
/// hold is the current GOP (where a new reader starts, and where readers read it back for
/// their new players) and some slack for readers that are a few messages behind, so it
/// follows the stream's bitrate and GOP instead of reserving the worst case for every
/// stream. An origin with thousands of encoders pays per stream 1.3 to 1.5 times the GOP
/// of that stream, once for all its readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizing {
    /// The geometry of a new ring.
    pub initial: RingConfig,
    /// The most data a ring may grow to (`ring_size`).
    pub max_data: u64,
}

impl RingSizing {
    /// A 256 KiB ring to start with (two seconds of a 500 kbps stream with a 2 s GOP need
    /// 125 KB), 256 index slots (68 messages a second at 25 fps with AAC at 44.1 kHz), and
    /// 4 KiB for each header kept aside (sequence headers are bytes to a few hundred,
    /// metadata rarely past a kilobyte); at most `max_data` of data.
    pub fn new(max_data: u64) -> Self {
        let initial = RingConfig {
            index_slots: 256,
            data_bytes: 256 << 10,
            aside_bytes: 4 << 10,
        };
        Self {
            initial,
            max_data: max_data.max(initial.data_bytes).next_multiple_of(4096),
        }
    }

    /// The geometry a ring of geometry `cur` needs for a GOP of `gop_bytes` (payloads
    /// rounded to words) and `gop_msgs` messages, a message of `message` bytes (the ring
    /// takes at most half its data area at once) and a header of `header` bytes kept
    /// aside, or `None` if `cur` will do. A ring grows once its GOP passes three quarters
    /// of it, to one and a half times the GOP (so a GOP that wavers around a size does not
    /// grow it again and again), never past `max_data` nor the ring's own limits.
    pub fn fit(
        &self,
        cur: RingConfig,
        gop_bytes: u64,
        gop_msgs: u64,
        message: u64,
        header: u64,
    ) -> Option<RingConfig> {
        let mut next = cur;
        let too_small = gop_bytes > cur.data_bytes / 4 * 3 || message > cur.data_bytes / 2;
        if too_small && cur.data_bytes < self.max_data {
            // Half again the GOP (room for readers a little behind; the ring is where new
            // players read the GOP from), twice a large message, at least a quarter more
            // than the old size (no series of tiny steps), in whole 64 KiB.
            next.data_bytes = (gop_bytes / 2 * 3)
                .max(message * 2)
                .max(cur.data_bytes / 4 * 5)
                .next_multiple_of(64 << 10)
                .clamp(cur.data_bytes, self.max_data);
        }
        if gop_msgs > u64::from(cur.index_slots) / 4 * 3 && cur.index_slots < MAX_INDEX_SLOTS {
            next.index_slots = u32::try_from((gop_msgs * 2).next_power_of_two())
                .unwrap_or(MAX_INDEX_SLOTS)
                .clamp(cur.index_slots, MAX_INDEX_SLOTS);
        }
        if header > u64::from(cur.aside_bytes) && header <= u64::from(MAX_ASIDE_BYTES) {
            next.aside_bytes = u32::try_from(header.next_power_of_two())
                .unwrap_or(MAX_ASIDE_BYTES)
                .clamp(cur.aside_bytes, MAX_ASIDE_BYTES);
        }
        (next != cur).then_some(next)
    }
}

/// How long after a failed grow the next try comes.
const GROW_RETRY: Duration = Duration::from_secs(5);

/// Most index slots a ring grows to: a GOP of half a million messages (an hour at 68
/// messages a second) is not a stream a player can start on anyway.
const MAX_INDEX_SLOTS: u32 = 1 << 20;
/// Largest header kept aside (metadata of a few MiB exists, as cover art in MP3 streams).
const MAX_ASIDE_BYTES: u32 = 8 << 20;

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Another client is publishing this stream.
    #[error("stream {0} is already publishing (by client {1})")]
    Busy(StreamKey, String),
    /// The stream's ring could not be created (shared memory full or not writable).
    #[error("cannot create the stream's ring: {0}")]
    Ring(String),
}

/// A stream started or stopped (announced to the other processes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Published (or republished, with a new generation).
    Up(StreamUp),
    /// The publisher left.
    Down(StreamKey),
    /// An edge could not pull a wanted stream from any origin.
    PullFailed {
        /// Which stream.
        key: StreamKey,
        /// What the origins answered.
        reason: String,
    },
}

#[derive(Debug, Default)]
struct State {
    /// Streams being published, with the publisher's connection id.
    publishing: HashMap<StreamKey, String>,
    /// Each stream's clock after its last publish, and when that publish ended.
    clocks: HashMap<StreamKey, (Jitter, Instant)>,
}

/// Every stream published on this node.
#[derive(Debug)]
pub struct Streams {
    /// Directory of the ring files (one per stream).
    dir: PathBuf,
    /// How big the rings are (`ring_size` changes on reload).
    sizing: Mutex<RingSizing>,
    events: UnboundedSender<StreamEvent>,
    state: Mutex<State>,
}

/// A number that changes on every publish, also across restarts of backsource (it starts
/// at the time in milliseconds), so that a reader never mistakes a new publish for the one
/// it was reading.
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64);
    let _ = NEXT.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Streams {
    /// Streams written as rings in `dir`, announced on `events`.
    pub fn new(
        dir: PathBuf,
        sizing: RingSizing,
        events: UnboundedSender<StreamEvent>,
    ) -> Arc<Self> {
        Arc::new(Self {
            dir,
            sizing: Mutex::new(sizing),
            events,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How big rings are from now on (a reload changed `ring_size`).
    pub fn set_sizing(&self, sizing: RingSizing) {
        *self.sizing.lock().unwrap_or_else(|e| e.into_inner()) = sizing;
    }

    fn sizing(&self) -> RingSizing {
        *self.sizing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tell the readers that no origin could deliver `key`.
    pub fn pull_failed(&self, key: &StreamKey, reason: String) {
        let _ = self.events.send(StreamEvent::PullFailed {
            key: key.clone(),
            reason,
        });
    }

    /// Whether `key` is being published (or pulled) here now.
    pub fn is_publishing(&self, key: &StreamKey) -> bool {
        self.lock().publishing.contains_key(key)
    }

    /// Keys of the streams being published.
    pub fn publishing(&self) -> Vec<StreamKey> {
        let mut v: Vec<StreamKey> = self.lock().publishing.keys().cloned().collect();
        v.sort();
        v
    }

    /// Start publishing `key` for client `cid`: claim the stream, create its ring, announce
    /// it.
    pub fn publish(
        self: &Arc<Self>,
        key: &StreamKey,
        cid: &str,
    ) -> Result<Publisher, PublishError> {
        self.publish_from(
            key,
            PublisherInfo {
                cid: cid.to_string(),
                ..Default::default()
            },
        )
    }

    /// [`publish`](Self::publish) for the publisher `who`, which the announcement names.
    pub fn publish_from(
        self: &Arc<Self>,
        key: &StreamKey,
        who: PublisherInfo,
    ) -> Result<Publisher, PublishError> {
        let cid = who.cid.as_str();
        let jitter = {
            let mut st = self.lock();
            if let Some(owner) = st.publishing.get(key) {
                return Err(PublishError::Busy(key.clone(), owner.clone()));
            }
            st.publishing.insert(key.clone(), cid.to_string());
            st.clocks.retain(|_, (_, at)| at.elapsed() < CLOCK_MEMORY);
            st.clocks.remove(key).map(|(j, _)| j).unwrap_or_default()
        };
        let path = self.dir.join(ring_file_name(&key.to_string()));
        let ring = match RingWriter::create(&path, self.sizing().initial) {
            Ok(r) => r,
            Err(e) => {
                self.lock().publishing.remove(key);
                return Err(PublishError::Ring(e.to_string()));
            }
        };
        let mut p = Publisher {
            streams: self.clone(),
            key: key.clone(),
            ring,
            jitter,
            generation: next_generation(),
            gop: Gop::default(),
            at_limit: false,
            retry_grow: None,
            tap: None,
            slot: None,
            headers: [None, None, None],
            atc_auto: false,
        };
        p.jitter.new_session();
        p.ring.set_publishing(true, p.generation);
        let _ = self.events.send(StreamEvent::Up(StreamUp {
            key: key.clone(),
            ring: path,
            generation: p.generation,
            publisher: who,
        }));
        Ok(p)
    }
}

/// The one publisher of a stream. Dropping it unpublishes.
#[derive(Debug)]
pub struct Publisher {
    streams: Arc<Streams>,
    key: StreamKey,
    ring: RingWriter,
    jitter: Jitter,
    generation: u64,
    gop: Gop,
    /// The ring is as big as it may get and the GOP still does not fit (said once).
    at_limit: bool,
    /// After a failed grow (shared memory full), when to try again.
    retry_grow: Option<Instant>,
    /// Where the stream's relays (forward, edge push) and its recorder read it, besides
    /// the ring.
    tap: Option<srs_live::Feed>,
    /// Where a tap may come from while the publish goes on (a reload turning DVR on).
    slot: Option<Arc<TapSlot>>,
    /// The newest metadata, video and audio sequence headers, for a tap attached late.
    headers: [Option<srs_live::Media>; 3],
    /// `atc_auto`: metadata with `bravo_atc: "true"` turns absolute time on.
    atc_auto: bool,
}

/// Where a publisher takes its tap from: given at the start, or later (a reload that
/// turns DVR on for a live stream). The publisher looks at one flag per message.
#[derive(Debug, Default)]
pub struct TapSlot {
    pending: std::sync::atomic::AtomicBool,
    feed: Mutex<Option<srs_live::Feed>>,
}

impl TapSlot {
    /// Hand `feed` to the publisher: it gets the stream's headers at once, then every
    /// message from the next one on.
    pub fn attach(&self, feed: srs_live::Feed) {
        *self.feed.lock().unwrap_or_else(|e| e.into_inner()) = Some(feed);
        self.pending
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn take(&self) -> Option<srs_live::Feed> {
        // One plain load per message; the swap only when a feed is there.
        if !self.pending.load(std::sync::atomic::Ordering::Acquire)
            || !self
                .pending
                .swap(false, std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        self.feed.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The current GOP: from the newest keyframe on (nothing before the first keyframe).
#[derive(Debug, Default, Clone, Copy)]
struct Gop {
    /// Ring bytes of its payloads (whole 8-byte words, as the ring stores them).
    bytes: u64,
    messages: u64,
}

impl Publisher {
    /// The stream key.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Add a message from the encoder: audio 8, video 9 or data 18. Its timestamp is
    /// corrected, metadata (`@setDataFrame`) becomes the `onMetaData` players take, and the
    /// ring records what it is. Data messages take the stream's current time.
    pub fn push(&mut self, ty: u8, timestamp: u32, payload: Bytes) {
        // Empty bodies carry nothing a player can use.
        if payload.is_empty() {
            return;
        }
        let (payload, f) = classify(ty, payload);
        if self.atc_auto
            && f & flags::METADATA != 0
            && self.jitter.mode() != crate::jitter::Mode::Off
        {
            let atc = srs_protocol::amf0::decode_all(&payload)
                .ok()
                .and_then(|v| v.into_iter().nth(1))
                .is_some_and(|m| m.get_str("bravo_atc") == Some("true"));
            if atc {
                tracing::info!(stream = %self.key, "atc_auto: the metadata asks for absolute time (bravo_atc)");
                self.jitter.set_mode(crate::jitter::Mode::Off);
            }
        }
        // Data messages (metadata, cue points) often carry 0 or a stale time: they take the
        // stream's current time and leave the jitter state alone.
        let timestamp = if ty == type_id::DATA_AMF0 {
            self.jitter.current().unwrap_or(timestamp)
        } else {
            self.jitter.correct(timestamp)
        };
        self.make_room(f, payload.len());
        if let Err(e) = self.ring.push(timestamp, ty, f, &payload) {
            tracing::warn!(stream = %self.key, "message not written to the ring: {e}");
        }
        let header = if f & flags::METADATA != 0 {
            Some(0)
        } else if f & flags::SEQUENCE_HEADER != 0 {
            Some(if ty == type_id::VIDEO { 1 } else { 2 })
        } else {
            None
        };
        if let Some(feed) = self.slot.as_ref().and_then(|s| s.take()) {
            // A tap attached while live: the headers first, as a new player needs them.
            for h in self.headers.iter().flatten() {
                feed.push(h.clone());
            }
            self.tap = Some(feed);
        }
        if self.tap.is_none() && header.is_none() {
            return;
        }
        let m = srs_live::Media::new(ty, timestamp, payload, f);
        if let Some(i) = header {
            self.headers[i] = Some(m.clone());
        }
        if let Some(tap) = &self.tap {
            tap.push(m);
        }
    }

    /// Correct timestamps with `mode` (`time_jitter`, `atc`); with `atc_auto`, metadata
    /// saying `bravo_atc: "true"` switches to absolute time.
    pub fn set_time(&mut self, mode: crate::jitter::Mode, atc_auto: bool) {
        self.jitter.set_mode(mode);
        self.atc_auto = atc_auto;
    }

    /// Also hand every message, as the ring gets it, to the feed `slot` gets (the
    /// stream's relays and recorder read it there: a slow reader skips GOPs in its own
    /// cursor, never stalls this).
    pub fn tap(&mut self, slot: Arc<TapSlot>) {
        if let Some(feed) = slot.take() {
            self.tap = Some(feed);
        }
        self.slot = Some(slot);
    }

    /// Count a message of `len` bytes with flags `f` into the GOP, and grow the ring when
    /// the GOP (or a header kept aside) needs more than it has.
    fn make_room(&mut self, f: u8, len: usize) {
        let words = (len as u64).div_ceil(8) * 8;
        if f & flags::KEYFRAME != 0 {
            self.gop = Gop {
                bytes: words,
                messages: 1,
            };
        } else if self.gop.messages > 0 {
            self.gop.bytes += words;
            self.gop.messages += 1;
        }
        let header = if f & (flags::SEQUENCE_HEADER | flags::METADATA) != 0 {
            len as u64
        } else {
            0
        };
        if self.retry_grow.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let cur = self.ring.config();
        let Some(next) =
            self.streams
                .sizing()
                .fit(cur, self.gop.bytes, self.gop.messages, len as u64, header)
        else {
            if self.gop.bytes > cur.data_bytes && !self.at_limit {
                self.at_limit = true;
                tracing::warn!(stream = %self.key, gop_bytes = self.gop.bytes,
                    ring_bytes = cur.data_bytes,
                    "the GOP is larger than ring_size allows: new players start at the next keyframe");
            }
            return;
        };
        match self.ring.grow(next) {
            Ok(()) => {
                self.retry_grow = None;
                tracing::info!(stream = %self.key, data_bytes = next.data_bytes,
                    index_slots = next.index_slots, aside_bytes = next.aside_bytes,
                    gop_bytes = self.gop.bytes, "ring grown");
            }
            // Shared memory is full: the stream goes on in its ring, new players may
            // start at the next keyframe rather than this one; other streams are not
            // touched. Tried again in a while, not at every message.
            Err(e) => {
                self.retry_grow = Some(Instant::now() + GROW_RETRY);
                tracing::warn!(stream = %self.key, "ring not grown: {e}");
            }
        }
    }
}

/// What a message from an encoder is, as ring flags, and the payload players get.
pub fn classify(ty: u8, payload: Bytes) -> (Bytes, u8) {
    let mut f = 0;
    let info = match ty {
        type_id::VIDEO => flv::video_info(&payload),
        type_id::AUDIO => flv::audio_info(&payload),
        _ => flv::FrameInfo::default(),
    };
    if info.keyframe {
        f |= flags::KEYFRAME;
    }
    if info.sequence_header {
        f |= flags::SEQUENCE_HEADER;
    }
    if ty != type_id::DATA_AMF0 {
        return (payload, f);
    }
    match flv::metadata_for_players(&payload) {
        Some(m) => (m, f | flags::METADATA),
        None => (flv::strip_set_data_frame(&payload), f),
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // Readers see the end in the ring; the file goes when the writer drops.
        self.ring.set_publishing(false, self.generation);
        let mut st = self.streams.lock();
        st.publishing.remove(&self.key);
        st.clocks.insert(
            self.key.clone(),
            (std::mem::take(&mut self.jitter), Instant::now()),
        );
        drop(st);
        let _ = self
            .streams
            .events
            .send(StreamEvent::Down(self.key.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use srs_ipc::ring::{ReadResult, RingReader};

    fn key(s: &str) -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: s.into(),
        }
    }

    fn streams(
        dir: &std::path::Path,
    ) -> (
        Arc<Streams>,
        tokio::sync::mpsc::UnboundedReceiver<StreamEvent>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (
            Streams::new(dir.to_path_buf(), RingSizing::new(64 << 20), tx),
            rx,
        )
    }

    fn read_all(path: &std::path::Path) -> Vec<(u32, u8, u8, Vec<u8>)> {
        let r = RingReader::open(path).unwrap();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut seq = r.oldest_seq();
        while let ReadResult::Message {
            timestamp,
            type_id,
            flags,
        } = r.read(seq, &mut buf)
        {
            out.push((timestamp, type_id, flags, buf.clone()));
            seq += 1;
        }
        out
    }

    #[test]
    fn rings_grow_with_the_gop_and_stop_at_the_limit() {
        let s = RingSizing::new(4 << 20);
        let c = s.initial;
        assert_eq!(s.fit(c, 100 << 10, 100, 0, 0), None, "a 500 kbps GOP fits");
        let g = s.fit(c, 200 << 10, 150, 0, 0).unwrap();
        assert_eq!(g.data_bytes, 320 << 10);
        assert_eq!(g.index_slots, c.index_slots);
        let g = s.fit(c, 100 << 10, 300, 0, 0).unwrap();
        assert_eq!((g.data_bytes, g.index_slots), (c.data_bytes, 1024));
        // A 150 KB keyframe does not fit half the ring: grown for it alone.
        let g = s.fit(c, 150 << 10, 1, 150 << 10, 0).unwrap();
        assert_eq!(g.data_bytes, 320 << 10);
        // A quarter more at least.
        let g = s.fit(c, 193 << 10, 1, 0, 0).unwrap();
        assert_eq!(g.data_bytes, 320 << 10);
        // 2 Mbps with a 6 s GOP, 1.5 MB.
        let g = s.fit(c, 1_500_000, 700, 0, 0).unwrap();
        assert_eq!((g.data_bytes, g.index_slots), (2240 << 10, 2048));
        // Never past the limit, and at the limit no change is asked for.
        let g = s.fit(c, 10 << 20, 700, 0, 0).unwrap();
        assert_eq!(g.data_bytes, 4 << 20);
        assert_eq!(
            s.fit(
                RingConfig {
                    index_slots: 2048,
                    ..g
                },
                10 << 20,
                700,
                0,
                0
            ),
            None
        );
        // A large header kept aside.
        let g = s.fit(c, 0, 0, 0, 10_000).unwrap();
        assert_eq!(g.aside_bytes, 16 << 10);
    }

    #[test]
    fn a_long_gop_grows_the_ring_and_readers_follow() {
        let dir = tempfile::tempdir().unwrap();
        let (s, mut events) = streams(dir.path());
        let mut p = s.publish(&key("a"), "c1").unwrap();
        let Ok(StreamEvent::Up(up)) = events.try_recv() else {
            panic!()
        };
        let mut r = RingReader::open(&up.ring).unwrap();
        let mut seq = 0;
        let mut buf = Vec::new();
        let mut got = 0u32;
        // 6 s GOPs of a 2 Mbps stream: 25 fps, 10 KB frames.
        for i in 0..400u32 {
            let mut frame = vec![if i % 150 == 0 { 0x17 } else { 0x27 }, 1, 0, 0, 0];
            frame.resize(10_000, i as u8);
            p.push(type_id::VIDEO, i * 40, Bytes::from(frame));
            loop {
                match r.read(seq, &mut buf) {
                    ReadResult::Message { timestamp, .. } => {
                        assert_eq!(timestamp, got * 40, "every message, in order");
                        got += 1;
                        seq += 1;
                    }
                    ReadResult::NotYet => match r.successor() {
                        Some(next) => r = next,
                        None => break,
                    },
                    other => panic!("{other:?} at {seq}"),
                }
            }
        }
        assert_eq!(got, 400);
        let len = std::fs::metadata(&up.ring).unwrap().len();
        assert!(
            (2 << 20..3 << 20).contains(&len),
            "ring of {len} bytes for a 1.5 MB GOP"
        );
        // A new reader gets the whole current GOP.
        let fresh = RingReader::open(&up.ring).unwrap();
        assert_eq!(fresh.keyframe_seq(), Some(300));
        assert!(matches!(
            fresh.read(300, &mut buf),
            ReadResult::Message { .. }
        ));
    }

    const SET_DATA_FRAME: &[u8] =
        b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09";

    #[test]
    fn the_ring_gets_corrected_times_flags_and_player_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (s, mut events) = streams(dir.path());
        let mut p = s.publish(&key("a"), "c1").unwrap();
        let Ok(StreamEvent::Up(up)) = events.try_recv() else {
            panic!("no announcement")
        };
        p.push(type_id::DATA_AMF0, 0, Bytes::from_static(SET_DATA_FRAME));
        p.push(
            type_id::VIDEO,
            5000,
            Bytes::from_static(&[0x17, 0, 0, 0, 0, 1]),
        );
        p.push(
            type_id::VIDEO,
            5000,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 9]),
        );
        p.push(
            type_id::VIDEO,
            5040,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 9]),
        );
        // A cue point at a stale time takes the stream's; an encoder clock jump is one frame.
        p.push(
            type_id::DATA_AMF0,
            0,
            Bytes::from_static(b"\x02\x00\x0aonCuePoint"),
        );
        p.push(
            type_id::VIDEO,
            99_000,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 9]),
        );
        p.push(type_id::AUDIO, 5000, Bytes::new());
        let got = read_all(&up.ring);
        let summary: Vec<(u32, u8, u8)> = got.iter().map(|m| (m.0, m.1, m.2)).collect();
        assert_eq!(
            summary,
            vec![
                (0, type_id::DATA_AMF0, flags::METADATA),
                (5000, type_id::VIDEO, flags::SEQUENCE_HEADER),
                (5000, type_id::VIDEO, flags::KEYFRAME),
                (5040, type_id::VIDEO, 0),
                (5040, type_id::DATA_AMF0, 0),
                (5050, type_id::VIDEO, 0),
            ]
        );
        assert!(
            got[0].3.starts_with(b"\x02\x00\x0aonMetaData"),
            "@setDataFrame stripped"
        );
    }

    #[test]
    fn one_publisher_per_stream_and_a_republish_continues_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let (s, mut events) = streams(dir.path());
        let mut p = s.publish(&key("a"), "c1").unwrap();
        let e = s.publish(&key("a"), "c2").unwrap_err();
        assert_eq!(e, PublishError::Busy(key("a"), "c1".into()));
        assert!(s.publish(&key("b"), "c2").is_ok(), "another stream is free");
        p.push(
            type_id::VIDEO,
            1000,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 1]),
        );
        p.push(
            type_id::VIDEO,
            1040,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 1]),
        );
        let Ok(StreamEvent::Up(first)) = events.try_recv() else {
            panic!()
        };
        drop(p);
        assert_eq!(s.publishing(), vec![]);
        let downs: Vec<StreamEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert!(downs.contains(&StreamEvent::Down(key("a"))), "{downs:?}");
        assert!(!first.ring.exists(), "the ring goes with its publisher");
        // The encoder comes back with a clock that restarts at 0: the stream goes on.
        let mut p = s.publish(&key("a"), "c3").unwrap();
        let Ok(StreamEvent::Up(second)) = events.try_recv() else {
            panic!()
        };
        assert!(second.generation > first.generation);
        p.push(
            type_id::VIDEO,
            0,
            Bytes::from_static(&[0x17, 1, 0, 0, 0, 1]),
        );
        p.push(
            type_id::VIDEO,
            40,
            Bytes::from_static(&[0x27, 1, 0, 0, 0, 1]),
        );
        let ts: Vec<u32> = read_all(&second.ring).iter().map(|m| m.0).collect();
        assert_eq!(ts, vec![1050, 1090]);
    }
}
