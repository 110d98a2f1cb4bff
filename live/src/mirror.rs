//! Feeding a worker's local sources from the shared-memory rings (DESIGN.md, "Media path").
//!
//! For each stream that has players in this worker and a ring announced by backsource, one
//! thread reads the ring (sleeping on its futex between messages), copies each message out
//! once, and pushes it into the local source; the worker's players then share it as
//! reference-counted bytes. The thread starts at the ring's newest keyframe after the
//! metadata and sequence headers kept aside, so the local source has a GOP cache at once. A
//! reader lapped by the writer resumes at the newest keyframe. The thread ends when the
//! publisher leaves (the local players are told, and wait for a republish) or when the last
//! local player is gone.

use crate::media::Media;
use crate::source::{Feed, Hub, SourceConfig};
use srs_ipc::control::{StreamKey, StreamUp};
use srs_ipc::ring::{flags, ReadResult, RingReader};
use srs_protocol::message::type_id;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn};

/// How often a mirror thread with nothing to read checks whether it should stop.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Clears a stream's mirror entry when its thread ends, and starts the next publish's
/// mirror if one was announced meanwhile and players are still there.
struct Ended {
    mirrors: Arc<Mirrors>,
    key: StreamKey,
    version: u64,
}

impl Drop for Ended {
    fn drop(&mut self) {
        let newer = {
            let mut st = self.mirrors.lock();
            st.running.remove(&self.key);
            let newer = st
                .up
                .get(&self.key)
                .is_some_and(|(v, _)| *v != self.version);
            if !newer && self.mirrors.hub.players(&self.key) == 0 {
                st.configs.remove(&self.key);
            }
            newer
        };
        // Only a new announcement restarts: the ring just read is finished (or gone), and
        // reopening it would replay or spin.
        if newer && self.mirrors.hub.players(&self.key) > 0 {
            self.mirrors.ensure_from(&self.key, None, true);
        }
    }
}

#[derive(Debug)]
struct Running {
    /// Which announcement it mirrors (see `State::up`).
    version: u64,
    stop: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct State {
    /// Streams published now, as announced, each with the version of its announcement:
    /// every StreamUp gets a new one, so a mirror that ended can tell a new publish from
    /// the one it just mirrored.
    up: HashMap<StreamKey, (u64, StreamUp)>,
    next_version: u64,
    /// Mirror threads running, by stream.
    running: HashMap<StreamKey, Running>,
    /// Source settings (from the players' vhost) per stream.
    configs: HashMap<StreamKey, SourceConfig>,
}

/// The mirror threads of a worker.
#[derive(Debug)]
pub struct Mirrors {
    hub: Arc<Hub>,
    state: Mutex<State>,
}

impl Mirrors {
    /// Mirrors feeding `hub`.
    pub fn new(hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Self {
            hub,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Backsource announced a (re)published stream.
    pub fn stream_up(self: &Arc<Self>, up: StreamUp) {
        let key = up.key.clone();
        {
            let mut st = self.lock();
            st.next_version += 1;
            let v = st.next_version;
            st.up.insert(key.clone(), (v, up));
        }
        if self.hub.players(&key) > 0 {
            // Players were waiting for this publish: they get it from its start.
            self.ensure_from(&key, None, true);
        }
    }

    /// Backsource announced that a stream's publisher left. The mirror thread sees it in
    /// the ring too; this only forgets the ring.
    pub fn stream_down(&self, key: &StreamKey) {
        let mut st = self.lock();
        st.up.remove(key);
        // Normally the ring already says so; if its writer died, this is how we learn.
        if let Some(r) = st.running.get(key) {
            r.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Make sure `key` is mirrored if it is published (a player just arrived, with the
    /// settings of its vhost).
    pub fn ensure(self: &Arc<Self>, key: &StreamKey, config: Option<SourceConfig>) {
        self.ensure_from(key, config, false)
    }

    /// `from_start`: read the ring from its oldest message (players were waiting for the
    /// publish), else from its newest keyframe (a player joins a running stream).
    fn ensure_from(
        self: &Arc<Self>,
        key: &StreamKey,
        config: Option<SourceConfig>,
        from_start: bool,
    ) {
        let mut st = self.lock();
        let Some((version, up)) = st.up.get(key).cloned() else {
            // Not published: nothing to remember (a request for a name nobody publishes
            // must not leave state behind).
            return;
        };
        if let Some(c) = config {
            st.configs.insert(key.clone(), c);
        }
        if let Some(r) = st.running.get(key) {
            if r.version == version {
                return;
            }
            // A republish while the old mirror still runs: it stops, then starts this one.
            r.stop.store(true, Ordering::Relaxed);
            return;
        }
        let stop = Arc::new(AtomicBool::new(false));
        st.running.insert(
            key.clone(),
            Running {
                version,
                stop: stop.clone(),
            },
        );
        drop(st);
        let me = self.clone();
        let k = key.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("mirror {}", key.stream))
            .spawn(move || {
                let span = info_span!("mirror", stream = %k);
                let _g = span.enter();
                // Whatever happens (a panic too), the stream is not left marked as mirrored.
                let _done = Ended {
                    mirrors: me.clone(),
                    key: k.clone(),
                    version,
                };
                if let Err(e) = me.mirror(&k, &up, &stop, from_start) {
                    warn!("mirror ended: {e}");
                }
            });
        if let Err(e) = spawned {
            warn!("cannot start a mirror thread: {e}");
            self.lock().running.remove(key);
        }
    }

    /// Copy the ring into the local source until the publish ends or nobody plays.
    fn mirror(
        &self,
        key: &StreamKey,
        up: &StreamUp,
        stop: &AtomicBool,
        from_start: bool,
    ) -> Result<(), String> {
        let config = self.lock().configs.get(key).copied().unwrap_or_default();
        let mut feed = RingFeed::open(&self.hub, up, config, from_start)?;
        info!(ring = %up.ring.display(), generation = up.generation, "mirroring");
        loop {
            if stop.load(Ordering::Relaxed) || self.hub.players(key) == 0 {
                return Ok(());
            }
            match feed.pump(PUMP_BATCH)? {
                Pumped::More => {}
                Pumped::CaughtUp(seen) => feed.ring.wait(seen, Some(IDLE_CHECK)),
                Pumped::Ended => {
                    info!("publisher left");
                    return Ok(());
                }
            }
        }
    }
}

/// Most messages copied between two looks at whether the mirror should stop.
const PUMP_BATCH: usize = 256;

/// What [`RingFeed::pump`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// Copied as many messages as asked; there may be more.
    More,
    /// Copied everything there was; the value is the ring's wake-up counter from before
    /// looking, to wait on.
    CaughtUp(u32),
    /// The publish is over (or its ring is gone).
    Ended,
}

/// One stream's ring read into the local source: the reader, its cursor, and the feed.
#[derive(Debug)]
pub struct RingFeed {
    ring: RingReader,
    generation: u64,
    seq: u64,
    feed: Feed,
    buf: Vec<u8>,
    /// Sequence numbers of the headers sent from the ring's aside copies before the first
    /// message, not to be sent twice when the reader meets them in the ring.
    sent_aside: Vec<u64>,
    /// After a lap with no keyframe left to resume at: drop video until the next one, so
    /// that no player's decoder gets frames whose references were lost.
    need_keyframe: bool,
    last_stale_check: Instant,
}

impl RingFeed {
    /// Open the ring `up` announces and start feeding its stream's source in `hub`.
    /// `from_start`: from the ring's oldest message (players were waiting for the publish);
    /// else from its newest keyframe with the GOP cache on (a player joins a running
    /// stream), or the live point with it off. The metadata and sequence headers kept aside
    /// go first, stamped with the time of the message that follows them, so that players do
    /// not see the clock jump from the headers' time to the GOP's.
    pub fn open(
        hub: &Arc<Hub>,
        up: &StreamUp,
        config: SourceConfig,
        from_start: bool,
    ) -> Result<RingFeed, String> {
        let ring =
            RingReader::open(&up.ring).map_err(|e| format!("open {}: {e}", up.ring.display()))?;
        let feed = hub
            .feed(&up.key, config, from_start)
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let aside = ring.headers();
        let seq = match ring.keyframe_seq() {
            _ if from_start => ring.oldest_seq(),
            Some(k) if config.gop_cache => k,
            _ => ring.next_seq(),
        };
        let start_ts = match ring.read(seq, &mut buf) {
            ReadResult::Message { timestamp, .. } => Some(timestamp),
            _ => None,
        };
        let mut sent_aside = Vec::new();
        for h in [aside.metadata, aside.video, aside.audio]
            .into_iter()
            .flatten()
        {
            sent_aside.push(h.seq);
            // Metadata at time 0, where players take it for stream metadata (see the
            // source's header handling); sequence headers at the start frame's time.
            let ts = if h.flags & flags::METADATA != 0 {
                0
            } else {
                start_ts.unwrap_or(h.timestamp)
            };
            feed.push(Media::new(
                h.type_id,
                ts,
                bytes::Bytes::from(h.payload),
                h.flags,
            ));
        }
        Ok(RingFeed {
            ring,
            generation: up.generation,
            seq,
            feed,
            buf,
            sent_aside,
            need_keyframe: false,
            last_stale_check: Instant::now(),
        })
    }

    /// Copy up to `max` messages from the ring into the source.
    pub fn pump(&mut self, max: usize) -> Result<Pumped, String> {
        for _ in 0..max {
            let seen = self.ring.wake_counter();
            match self.ring.read(self.seq, &mut self.buf) {
                ReadResult::Message {
                    timestamp,
                    type_id: ty,
                    flags: f,
                } => {
                    self.seq += 1;
                    // The headers kept aside went first; do not send the same ones twice.
                    if f & (flags::SEQUENCE_HEADER | flags::METADATA) != 0
                        && self.sent_aside.contains(&(self.seq - 1))
                    {
                        continue;
                    }
                    if self.need_keyframe && ty == type_id::VIDEO {
                        if f & flags::KEYFRAME == 0 && f & flags::SEQUENCE_HEADER == 0 {
                            continue;
                        }
                        self.need_keyframe = f & flags::KEYFRAME == 0;
                    }
                    if matches!(ty, type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0) {
                        let payload = bytes::Bytes::copy_from_slice(&self.buf);
                        self.feed.push(Media::new(ty, timestamp, payload, f));
                    }
                    // A large message (a keyframe of a high-bitrate stream) leaves a large
                    // buffer behind: give it back rather than hold it for every stream.
                    if self.buf.capacity() > KEEP_BUFFER {
                        self.buf = Vec::new();
                    }
                }
                ReadResult::NotYet => {
                    if self.ring.is_closed() {
                        // Read to its end: a ring that grew goes on in its successor, at
                        // the same sequence numbers; any other closed ring is finished.
                        match self.ring.successor() {
                            Some(next) => {
                                self.ring = next;
                                continue;
                            }
                            None => return Ok(Pumped::Ended),
                        }
                    }
                    let (publishing, generation) = self.ring.state();
                    // Whether the ring file was replaced takes a stat of its path: once per
                    // IDLE_CHECK, not after every message (a writer that died pushes
                    // nothing, so the wait times out and the check comes as soon as before).
                    let stale = self.last_stale_check.elapsed() >= IDLE_CHECK && {
                        self.last_stale_check = Instant::now();
                        self.ring.is_stale()
                    };
                    if !publishing || generation != self.generation || stale {
                        return Ok(Pumped::Ended);
                    }
                    return Ok(Pumped::CaughtUp(seen));
                }
                ReadResult::Lapped { oldest } => {
                    // Lost messages are lost for good: go on at the newest keyframe (the
                    // players then drop video until it), or the live point. Timestamps are
                    // the writer's, so they only jump forward by the time lost.
                    let keyframe = self.ring.keyframe_seq().filter(|k| *k >= oldest);
                    let resume = keyframe.unwrap_or_else(|| self.ring.next_seq());
                    self.need_keyframe = keyframe.is_none();
                    warn!(
                        lost = resume.saturating_sub(self.seq),
                        "lapped by the writer, resuming at a keyframe"
                    );
                    self.seq = resume;
                }
                ReadResult::Corrupt => return Err("corrupt ring".into()),
            }
        }
        Ok(Pumped::More)
    }
}

/// Largest copy buffer a ring reader keeps between messages.
const KEEP_BUFFER: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::PlayEvent;
    use srs_ipc::ring::{RingConfig, RingWriter};

    fn key() -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: "lap".into(),
        }
    }

    fn frame(key: bool, n: u32) -> Vec<u8> {
        let mut v = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
        v.extend_from_slice(&n.to_be_bytes());
        v.resize(600, 0);
        v
    }

    /// Video frames a player got: (frame number, timestamp, keyframe).
    fn frames(events: &[PlayEvent]) -> Vec<(u32, u32, bool)> {
        events
            .iter()
            .flat_map(|e| match e {
                PlayEvent::Media(m) => m.clone(),
                _ => vec![],
            })
            .filter(|m| m.type_id == type_id::VIDEO && !m.is_sequence_header())
            .map(|m| {
                let n =
                    u32::from_be_bytes([m.payload[5], m.payload[6], m.payload[7], m.payload[8]]);
                (n, m.timestamp, m.is_keyframe())
            })
            .collect()
    }

    /// A reader lapped by the writer resumes at the newest keyframe; its players' timestamps
    /// are the writer's, only jumping forward by the time lost, never corrected again.
    #[test]
    fn a_lapped_reader_resyncs_at_a_keyframe_with_the_writers_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let mut w = RingWriter::create(
            &path,
            RingConfig {
                index_slots: 16,
                data_bytes: 64 << 10,
                aside_bytes: 4096,
            },
        )
        .unwrap();
        w.set_publishing(true, 9);
        w.push(
            0,
            type_id::VIDEO,
            flags::SEQUENCE_HEADER,
            &[0x17, 0, 0, 0, 0, 1],
        )
        .unwrap();
        let mut n = 0u32;
        // `count` frames, a keyframe every `gop` (none for 0).
        fn push(w: &mut RingWriter, n: &mut u32, count: u32, gop: u32) {
            for _ in 0..count {
                let key = gop != 0 && *n % gop == 0;
                let f = if key { flags::KEYFRAME } else { 0 };
                w.push(1000 + *n * 40, type_id::VIDEO, f, &frame(key, *n))
                    .unwrap();
                *n += 1;
            }
        }
        let mut all = Vec::new();
        push(&mut w, &mut n, 8, 5);
        let hub = Hub::new();
        let config = SourceConfig::default();
        let mut player = hub.play(&key(), config);
        let up = StreamUp {
            key: key(),
            ring: path.clone(),
            generation: 9,
        };
        let mut feed = RingFeed::open(&hub, &up, config, false).unwrap();
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        let got = frames(&player.poll(1000, usize::MAX));
        assert_eq!(
            got.first(),
            Some(&(5, 1200, true)),
            "starts at the GOP: {got:?}"
        );
        all.extend(got);
        // The writer runs 3 whole rings ahead (GOPs of 5): the reader is lapped.
        push(&mut w, &mut n, 48, 5);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        let got = frames(&player.poll(1000, usize::MAX));
        assert_eq!(got.first(), Some(&(55, 1000 + 55 * 40, true)), "{got:?}");
        assert_eq!(got.last().map(|f| f.0), Some(55));
        all.extend(got);
        // Then on as the writer pushes, every timestamp the writer's.
        push(&mut w, &mut n, 7, 5);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        let got = frames(&player.poll(1000, usize::MAX));
        let want: Vec<(u32, u32, bool)> =
            (56..63).map(|i| (i, 1000 + i * 40, i % 5 == 0)).collect();
        assert_eq!(got, want);
        all.extend(got);
        // Lapped with no keyframe left in the ring: video waits for the next one.
        push(&mut w, &mut n, 40, 0);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        assert_eq!(frames(&player.poll(1000, usize::MAX)), vec![]);
        push(&mut w, &mut n, 3, 0);
        let k = n;
        w.push(
            1000 + n * 40,
            type_id::VIDEO,
            flags::KEYFRAME,
            &frame(true, n),
        )
        .unwrap();
        n += 1;
        push(&mut w, &mut n, 2, 0);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        let got = frames(&player.poll(1000, usize::MAX));
        assert_eq!(got.first(), Some(&(k, 1000 + k * 40, true)), "{got:?}");
        assert_eq!(got.len(), 3);
        all.extend(got);
        // The player's clock never went backwards, and every frame carries the time the
        // writer gave it.
        assert!(all.windows(2).all(|p| p[0].1 < p[1].1), "{all:?}");
        assert!(all.iter().all(|f| f.1 == 1000 + f.0 * 40));
        drop(w);
        assert_eq!(feed.pump(100).unwrap(), Pumped::Ended);
    }
}
