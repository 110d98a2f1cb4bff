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
use crate::source::{Hub, SourceConfig};
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
        let ring =
            RingReader::open(&up.ring).map_err(|e| format!("open {}: {e}", up.ring.display()))?;
        let config = self.lock().configs.get(key).copied().unwrap_or_default();
        let feed = self
            .hub
            .feed(key, config, from_start)
            .map_err(|e| e.to_string())?;
        info!(ring = %up.ring.display(), generation = up.generation, "mirroring");
        let mut buf = Vec::with_capacity(64 * 1024);
        let aside = ring.headers();
        // With the GOP cache on, the local source starts with the ring's newest GOP; with it
        // off, at the live point (players then wait for the next keyframe).
        let mut seq = match ring.keyframe_seq() {
            _ if from_start => ring.oldest_seq(),
            Some(k) if config.gop_cache => k,
            _ => ring.next_seq(),
        };
        // The headers go first, stamped with the time of the frame that follows them, so
        // that players do not see the clock jump from the headers' time to the GOP's.
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
        let mut last_stale_check = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) || self.hub.players(key) == 0 {
                return Ok(());
            }
            let seen = ring.wake_counter();
            match ring.read(seq, &mut buf) {
                ReadResult::Message {
                    timestamp,
                    type_id: ty,
                    flags: f,
                } => {
                    seq += 1;
                    // The headers kept aside went first; do not send the same ones twice.
                    if f & (flags::SEQUENCE_HEADER | flags::METADATA) != 0
                        && sent_aside.contains(&(seq - 1))
                    {
                        continue;
                    }
                    if matches!(ty, type_id::AUDIO | type_id::VIDEO | type_id::DATA_AMF0) {
                        feed.push(Media::new(
                            ty,
                            timestamp,
                            bytes::Bytes::copy_from_slice(&buf),
                            f,
                        ));
                    }
                }
                ReadResult::NotYet => {
                    let (publishing, generation) = ring.state();
                    // Whether the ring file was replaced takes a stat of its path: once per
                    // IDLE_CHECK, not after every message (a writer that died pushes nothing,
                    // so the wait below times out and the check comes as soon as before).
                    let stale = last_stale_check.elapsed() >= IDLE_CHECK && {
                        last_stale_check = Instant::now();
                        ring.is_stale()
                    };
                    if !publishing || generation != up.generation || stale {
                        info!("publisher left");
                        return Ok(());
                    }
                    ring.wait(seen, Some(IDLE_CHECK));
                }
                ReadResult::Lapped { oldest } => {
                    let resume = ring
                        .keyframe_seq()
                        .filter(|k| *k >= oldest)
                        .unwrap_or_else(|| ring.next_seq());
                    warn!(
                        lost = resume.saturating_sub(seq),
                        "lapped by the writer, resuming at a keyframe"
                    );
                    seq = resume;
                }
                ReadResult::Corrupt => return Err("corrupt ring".into()),
            }
        }
    }
}
