//! Feeding a process's local sources from the shared-memory rings (DESIGN.md, "Media
//! path").
//!
//! Each stream that has players here and a ring announced by backsource is mirrored: its
//! ring is read ([`RingFeed`]), each message copied out once into the local source, and
//! the players share it as reference-counted bytes. A mirror starts at the ring's newest
//! keyframe after the metadata and sequence headers kept aside, so the local source has a
//! GOP cache at once, and follows the ring when it grows. A reader lapped by the writer
//! resumes at the newest keyframe. A mirror ends when the publisher leaves (the local
//! players are told, and wait for a republish) or when the last local player is gone.
//!
//! The mirrors run on a few reader threads, not one per stream: each thread reads up to
//! [`WAIT_ANY_MAX`] rings and sleeps on all of their futexes at once (`futex_waitv`), so an
//! origin with thousands of streams costs a handful of threads per process, and a burst of
//! messages on several rings is one wake-up.

use crate::media::Media;
use crate::source::{Backfill, Feed, Hub, SourceConfig};
use srs_ipc::control::{StreamKey, StreamUp};
use srs_ipc::ring::{flags, wait_any, wake_private, ReadResult, RingReader, WAIT_ANY_MAX};
use srs_protocol::message::type_id;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{info, info_span, warn};

/// How often a reader thread looks whether its mirrors still have players (and whether a
/// ring whose writer died is stale) when nothing else wakes it.
const IDLE_CHECK: Duration = Duration::from_millis(500);

/// Clears a stream's mirror entry when its mirror ends, and starts the next publish's
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
    /// The reader thread it runs on.
    reader: Arc<ReaderThread>,
}

#[derive(Debug, Default)]
struct State {
    /// Streams published now, as announced, each with the version of its announcement:
    /// every StreamUp gets a new one, so a mirror that ended can tell a new publish from
    /// the one it just mirrored.
    up: HashMap<StreamKey, (u64, StreamUp)>,
    next_version: u64,
    /// Mirrors running, by stream.
    running: HashMap<StreamKey, Running>,
    /// Source settings (from the players' vhost) per stream.
    configs: HashMap<StreamKey, SourceConfig>,
    /// The reader threads.
    readers: Vec<Arc<ReaderThread>>,
}

/// One mirror to start or run on a reader thread.
struct Job {
    key: StreamKey,
    up: StreamUp,
    from_start: bool,
    stop: Arc<AtomicBool>,
    /// Opened by the reader thread (file I/O stays off the caller's runtime).
    feed: Option<RingFeed>,
    /// Caught up at the last look: the ring's wake-up counter from before it, to sleep on.
    seen: Option<u32>,
    /// The span of its log lines, made once: a reader thread steps every mirror at every
    /// wake-up.
    span: tracing::Span,
    /// Dropped with the job, however it ends.
    _ended: Ended,
}

/// A thread that runs mirrors: its new jobs, and a bell to wake it for them or for a stop.
#[derive(Debug, Default)]
struct ReaderThread {
    inbox: Mutex<Vec<Job>>,
    /// Rung (incremented, then woken) when a job arrives or a mirror must stop.
    bell: AtomicU32,
    /// Mirrors on this thread (running or in the inbox), to place new ones.
    load: AtomicUsize,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("key", &self.key).finish()
    }
}

impl ReaderThread {
    fn ring(&self) {
        self.bell.fetch_add(1, Ordering::SeqCst);
        wake_private(&self.bell);
    }
}

/// The ring mirrors of a process.
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

    /// Backsource announced that a stream's publisher left. The mirror sees it in the ring
    /// too; this only forgets the ring.
    pub fn stream_down(&self, key: &StreamKey) {
        let mut st = self.lock();
        st.up.remove(key);
        // Normally the ring already says so; if its writer died, this is how we learn.
        if let Some(r) = st.running.get(key) {
            r.stop.store(true, Ordering::Relaxed);
            r.reader.ring();
        }
    }

    /// Make sure `key` is mirrored if it is published (a player just arrived, with the
    /// settings of its vhost).
    pub fn ensure(self: &Arc<Self>, key: &StreamKey, config: Option<SourceConfig>) {
        self.ensure_from(key, config, false)
    }

    /// Reader threads running now (for tests and the API).
    pub fn reader_threads(&self) -> usize {
        self.lock().readers.len()
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
            if r.version != version {
                // A republish while the old mirror still runs: it stops, then starts this
                // one.
                r.stop.store(true, Ordering::Relaxed);
                r.reader.ring();
            }
            return;
        }
        let Some(reader) = self.reader_for(&mut st) else {
            return;
        };
        let stop = Arc::new(AtomicBool::new(false));
        st.running.insert(
            key.clone(),
            Running {
                version,
                stop: stop.clone(),
                reader: reader.clone(),
            },
        );
        drop(st);
        let job = Job {
            key: key.clone(),
            up,
            from_start,
            stop,
            feed: None,
            seen: None,
            span: info_span!("mirror", stream = %key),
            _ended: Ended {
                mirrors: self.clone(),
                key: key.clone(),
                version,
            },
        };
        reader.load.fetch_add(1, Ordering::Relaxed);
        reader
            .inbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(job);
        reader.ring();
    }

    /// The least loaded reader thread with room, or a new one.
    fn reader_for(self: &Arc<Self>, st: &mut State) -> Option<Arc<ReaderThread>> {
        if let Some(r) = st
            .readers
            .iter()
            .filter(|r| r.load.load(Ordering::Relaxed) < WAIT_ANY_MAX)
            .min_by_key(|r| r.load.load(Ordering::Relaxed))
        {
            return Some(r.clone());
        }
        let reader = Arc::new(ReaderThread::default());
        let (me, r) = (self.clone(), reader.clone());
        let n = st.readers.len();
        match std::thread::Builder::new()
            .name(format!("ring-reader-{n}"))
            .spawn(move || me.run_reader(&r))
        {
            Ok(_) => {
                st.readers.push(reader.clone());
                Some(reader)
            }
            Err(e) => {
                warn!("cannot start a ring reader thread: {e}");
                None
            }
        }
    }

    /// A reader thread: take new jobs, copy what every ring has into its source, sleep on
    /// all the rings and the bell at once. Mirrors whose publish ended, that were told to
    /// stop, or whose players are all gone (looked at every [`IDLE_CHECK`]) are dropped.
    fn run_reader(&self, me: &ReaderThread) {
        let mut jobs: Vec<Job> = Vec::new();
        let mut last_check = Instant::now();
        let mut polling = false;
        loop {
            let bell = me.bell.load(Ordering::SeqCst);
            jobs.extend(me.inbox.lock().unwrap_or_else(|e| e.into_inner()).drain(..));
            let check_players = last_check.elapsed() >= IDLE_CHECK;
            if check_players {
                last_check = Instant::now();
            }
            let mut busy = false;
            jobs.retain_mut(|job| {
                let keep = self.step(job, check_players);
                busy |= keep && job.seen.is_none();
                if !keep {
                    me.load.fetch_sub(1, Ordering::Relaxed);
                }
                keep
            });
            if busy {
                continue;
            }
            let rings: Vec<(&RingReader, u32)> = jobs
                .iter()
                .filter_map(|j| Some((&*j.feed.as_ref()?.ring, j.seen?)))
                .collect();
            let timeout = if polling {
                Duration::from_millis(5)
            } else {
                IDLE_CHECK
            };
            if polling {
                std::thread::sleep(timeout);
            } else if let Err(e) = wait_any(&rings, Some((&me.bell, bell)), Some(timeout)) {
                // A kernel without futex_waitv (before 5.16): look every few milliseconds.
                warn!("ring reader cannot sleep on many rings ({e}): polling every 5 ms");
                polling = true;
            }
        }
    }

    /// Run one mirror a little: open it if new, drop it if it ended; copy what its ring
    /// has (`job.seen` says whether it caught up). Returns whether to keep it.
    fn step(&self, job: &mut Job, check_players: bool) -> bool {
        let Job {
            key,
            up,
            from_start,
            stop,
            feed,
            seen,
            span,
            ..
        } = job;
        let _g = span.enter();
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if (feed.is_none() || check_players) && self.hub.players(key) == 0 {
            return false;
        }
        let feed = match feed {
            Some(f) => f,
            None => {
                let config = self.lock().configs.get(key).copied().unwrap_or_default();
                match RingFeed::open(&self.hub, up, config, *from_start) {
                    Ok(f) => {
                        info!(ring = %up.ring.display(), generation = up.generation, "mirroring");
                        feed.insert(f)
                    }
                    Err(e) => {
                        warn!("mirror ended: {e}");
                        return false;
                    }
                }
            }
        };
        *seen = None;
        match feed.pump(PUMP_BATCH) {
            Ok(Pumped::More) => true,
            Ok(Pumped::CaughtUp(s)) => {
                *seen = Some(s);
                true
            }
            Ok(Pumped::Ended) => {
                info!("publisher left");
                false
            }
            Err(e) => {
                warn!("mirror ended: {e}");
                false
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

/// A stream's ring as the place its source reads the current GOP back from
/// ([`Backfill`]): the ring holds the GOP anyway, so the source need not.
#[derive(Debug)]
struct RingGop {
    /// The ring now (a grown ring's successor replaces it).
    ring: Mutex<Arc<RingReader>>,
}

impl Backfill for RingGop {
    fn gop_before(&self, before: u64) -> Option<Vec<(Media, u64)>> {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let k = ring.keyframe_seq().filter(|k| *k < before)?;
        let mut out = Vec::with_capacity((before - k).min(4096) as usize);
        for seq in k..before {
            let mut buf = Vec::new();
            match ring.read(seq, &mut buf) {
                ReadResult::Message {
                    timestamp,
                    type_id: ty,
                    flags: f,
                } => {
                    // As the feed pushes them; the source sends its headers kept aside
                    // before the GOP itself.
                    let header = f & (flags::SEQUENCE_HEADER | flags::METADATA) != 0;
                    if !header && matches!(ty, type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0)
                    {
                        out.push((Media::new(ty, timestamp, bytes::Bytes::from(buf), f), seq));
                    }
                }
                // Overwritten meanwhile (or never there): a player starts at the live point.
                _ => return None,
            }
        }
        Some(out)
    }
}

/// One stream's ring read into the local source: the reader, its cursor, and the feed.
#[derive(Debug)]
pub struct RingFeed {
    ring: Arc<RingReader>,
    /// The same ring, for the source to read the GOP back from when a new player needs it.
    gop: Arc<RingGop>,
    generation: u64,
    seq: u64,
    feed: Feed,
    /// Where the next message is copied to; handed to the source as it is (no second
    /// copy), so a mirror holds no buffer of its own between messages.
    buf: Vec<u8>,
    /// Sequence numbers of the headers sent from the ring's aside copies before the first
    /// message, not to be sent twice when the reader meets them in the ring.
    sent_aside: Vec<u64>,
    /// After a lap with no keyframe left to resume at: drop video until the next one, so
    /// that no player's decoder gets frames whose references were lost.
    need_keyframe: bool,
    last_stale_check: Instant,
    /// The writer was seen stopped, and the ring read once more after that.
    drained_after_stop: bool,
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
        let ring = Arc::new(
            RingReader::open(&up.ring).map_err(|e| format!("open {}: {e}", up.ring.display()))?,
        );
        let feed = hub
            .feed(&up.key, config, from_start)
            .map_err(|e| e.to_string())?;
        let gop = Arc::new(RingGop {
            ring: Mutex::new(ring.clone()),
        });
        feed.set_backfill(gop.clone());
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
            gop,
            generation: up.generation,
            seq,
            feed,
            buf,
            sent_aside,
            need_keyframe: false,
            last_stale_check: Instant::now(),
            drained_after_stop: false,
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
                        let payload = bytes::Bytes::from(std::mem::take(&mut self.buf));
                        self.feed
                            .push_at(Media::new(ty, timestamp, payload, f), self.seq - 1);
                    }
                }
                ReadResult::NotYet => {
                    if self.ring.is_closed() {
                        // Read to its end: a ring that grew goes on in its successor, at
                        // the same sequence numbers; any other closed ring is finished.
                        match self.ring.successor() {
                            Some(next) => {
                                self.ring = Arc::new(next);
                                *self.gop.ring.lock().unwrap_or_else(|e| e.into_inner()) =
                                    self.ring.clone();
                                continue;
                            }
                            // Read once more after seeing it closed: what came just
                            // before the close is not lost.
                            None if !self.drained_after_stop => {
                                self.drained_after_stop = true;
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
                        // The writer adds its last messages, then says it stopped: what
                        // it wrote between our last read and that flag is read first.
                        if !self.drained_after_stop {
                            self.drained_after_stop = true;
                            continue;
                        }
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

    /// A source fed from a ring keeps only what its players have not taken: a new player
    /// gets the GOP read back from the ring, then the live stream.
    #[test]
    fn the_gop_is_read_back_from_the_ring_for_a_new_player() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ring");
        let cfg = RingConfig {
            index_slots: 64,
            data_bytes: 64 << 10,
            aside_bytes: 4096,
        };
        let mut w = RingWriter::create(&path, cfg).unwrap();
        w.set_publishing(true, 3);
        w.push(
            0,
            type_id::VIDEO,
            flags::SEQUENCE_HEADER,
            &[0x17, 0, 0, 0, 0, 1],
        )
        .unwrap();
        let mut n = 0u32;
        let mut push = |w: &mut RingWriter, count: u32| {
            for _ in 0..count {
                let key = n % 10 == 0;
                let f = if key { flags::KEYFRAME } else { 0 };
                w.push(n * 40, type_id::VIDEO, f, &frame(key, n)).unwrap();
                n += 1;
            }
        };
        push(&mut w, 14);
        let hub = Hub::new();
        let config = SourceConfig::default();
        let mut first = hub.play(&key(), config);
        let up = StreamUp {
            key: key(),
            ring: path,
            generation: 3,
            publisher: Default::default(),
        };
        let mut feed = RingFeed::open(&hub, &up, config, false).unwrap();
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        let got = frames(&first.poll(1000, usize::MAX));
        assert_eq!(
            got.iter().map(|f| f.0).collect::<Vec<_>>(),
            (10..14).collect::<Vec<_>>()
        );
        // Caught up, the source keeps nothing of the GOP (a push trims).
        push(&mut w, 3);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        first.poll(1000, usize::MAX);
        push(&mut w, 1);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        assert_eq!(hub.logged(&key()), 1, "what the player has not taken yet");
        // A new player: the headers, the GOP from its keyframe (frame 10), then on.
        let mut second = hub.play(&key(), config);
        let ev = second.poll(1000, usize::MAX);
        let headers = ev
            .iter()
            .flat_map(|e| match e {
                PlayEvent::Media(m) => m.clone(),
                _ => vec![],
            })
            .take_while(|m| m.is_sequence_header())
            .count();
        assert_eq!(headers, 1);
        let got = frames(&ev);
        assert_eq!(
            got.iter().map(|f| f.0).collect::<Vec<_>>(),
            (10..18).collect::<Vec<_>>()
        );
        assert!(got[0].2, "starts on the keyframe");
        push(&mut w, 2);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        assert_eq!(frames(&first.poll(1000, usize::MAX)).len(), 3);
        assert_eq!(frames(&second.poll(1000, usize::MAX)).len(), 2);
        push(&mut w, 1);
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        assert_eq!(
            hub.logged(&key()),
            1,
            "the GOP read back is dropped once taken"
        );
        // The ring overwrote its GOP (no keyframe left) while the mirror and the players
        // kept up: a new player starts at the next keyframe.
        let mut n2 = n;
        for _ in 0..80 {
            w.push(n2 * 40, type_id::VIDEO, 0, &frame(false, n2))
                .unwrap();
            n2 += 1;
            assert!(matches!(feed.pump(1000).unwrap(), Pumped::CaughtUp(_)));
            first.poll(10_000, usize::MAX);
            second.poll(10_000, usize::MAX);
        }
        assert_eq!(feed.ring.keyframe_seq(), None);
        assert_eq!(hub.logged(&key()), 1);
        let mut third = hub.play(&key(), config);
        assert_eq!(frames(&third.poll(1000, usize::MAX)), vec![]);
        w.push(n2 * 40, type_id::VIDEO, flags::KEYFRAME, &frame(true, n2))
            .unwrap();
        assert!(matches!(feed.pump(100).unwrap(), Pumped::CaughtUp(_)));
        assert_eq!(
            frames(&third.poll(1000, usize::MAX)),
            vec![(n2, n2 * 40, true)]
        );
    }

    /// Many streams share a few reader threads (one per 127 rings); every player gets its
    /// stream; the mirrors end when the players leave, and a push after that reaches
    /// nobody.
    #[test]
    fn many_streams_on_a_few_reader_threads() {
        let dir = tempfile::tempdir().unwrap();
        let hub = Hub::new();
        let mirrors = Mirrors::new(hub.clone());
        let cfg = RingConfig {
            index_slots: 16,
            data_bytes: 16 << 10,
            aside_bytes: 64,
        };
        let n = 200;
        let mut writers = Vec::new();
        let mut players = Vec::new();
        for i in 0..n {
            let key = StreamKey {
                vhost: "v".into(),
                app: "live".into(),
                stream: format!("s{i}"),
            };
            let path = dir.path().join(format!("ring{i}"));
            let mut w = RingWriter::create(&path, cfg).unwrap();
            w.set_publishing(true, 1);
            w.push(0, type_id::VIDEO, flags::KEYFRAME, &frame(true, i))
                .unwrap();
            mirrors.stream_up(StreamUp {
                key: key.clone(),
                ring: path,
                generation: 1,
                publisher: Default::default(),
            });
            players.push(hub.play(&key, SourceConfig::default()));
            mirrors.ensure(&key, None);
            writers.push(w);
        }
        assert_eq!(mirrors.reader_threads(), 2);
        // Each player gets its stream's keyframe, then what is pushed next.
        for w in writers.iter_mut() {
            w.push(40, type_id::VIDEO, 0, &frame(false, 9999)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for (i, p) in players.iter_mut().enumerate() {
            let mut got = Vec::new();
            while got.len() < 2 && Instant::now() < deadline {
                got.extend(frames(&p.poll(100, usize::MAX)));
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(
                got,
                vec![(i as u32, 0, true), (9999, 40, false)],
                "stream {i}"
            );
        }
        drop(players);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !mirrors.lock().running.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            mirrors.lock().running.is_empty(),
            "mirrors end with their players"
        );
        assert!(hub.is_empty());
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
            publisher: Default::default(),
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
