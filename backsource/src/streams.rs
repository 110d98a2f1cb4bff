//! The writer side of every live stream of the node: one publisher per stream, its
//! timestamps corrected once (jitter), what each message is decided once (keyframe,
//! sequence header, metadata), and the messages written into the stream's shared-memory
//! ring, which the stream workers and httpd read (DESIGN.md, "Media path").

use crate::jitter::Jitter;
use bytes::Bytes;
use srs_ipc::control::{StreamKey, StreamUp};
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
    /// Geometry of a new ring.
    ring: RingConfig,
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
    pub fn new(dir: PathBuf, ring: RingConfig, events: UnboundedSender<StreamEvent>) -> Arc<Self> {
        Arc::new(Self {
            dir,
            ring,
            events,
            state: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        let ring = match RingWriter::create(&path, self.ring) {
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
        };
        p.jitter.new_session();
        p.ring.set_publishing(true, p.generation);
        let _ = self.events.send(StreamEvent::Up(StreamUp {
            key: key.clone(),
            ring: path,
            generation: p.generation,
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
        // Data messages (metadata, cue points) often carry 0 or a stale time: they take the
        // stream's current time and leave the jitter state alone.
        let timestamp = if ty == type_id::DATA_AMF0 {
            self.jitter.current().unwrap_or(timestamp)
        } else {
            self.jitter.correct(timestamp)
        };
        if let Err(e) = self.ring.push(timestamp, ty, f, &payload) {
            tracing::warn!(stream = %self.key, "message not written to the ring: {e}");
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
            Streams::new(
                dir.to_path_buf(),
                RingConfig {
                    index_slots: 64,
                    data_bytes: 64 << 10,
                    aside_bytes: 4096,
                },
                tx,
            ),
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
