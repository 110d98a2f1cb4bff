//! Live sources on the reading side: one per stream (vhost/app/stream) that has players in
//! this process, fed from the stream's ring by one [`Feed`], with any number of players.
//!
//! A source keeps a log of recent messages with sequence numbers, the newest metadata and
//! sequence headers aside, and the position of the newest keyframe (the GOP cache). Players
//! do not get a queue each: every player holds a cursor into the shared log, and copies out
//! reference-counted messages when woken.
//!
//! The messages arrive as the writer made them: timestamps corrected once (backsource's
//! jitter correction), metadata already in the form players take, and what each message is
//! in its flags. Nothing here parses a payload or touches a timestamp, except to stamp the
//! headers a late player gets with the time of the frame that follows them.
//!
//! Bounds: the log holds at most `queue_length` of stream time beyond the current GOP and at
//! most [`MAX_LOG_BYTES`]; a player whose cursor falls off the log, or lags by more than
//! `queue_length`, skips to the newest keyframe: it drops whole GOPs, never memory.

use crate::media::Media;
use srs_conf::Vhost;
use srs_ipc::control::StreamKey;
use srs_protocol::message::type_id;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;

/// Most bytes of messages a source keeps for its players, whatever `queue_length` says.
pub const MAX_LOG_BYTES: usize = 64 * 1024 * 1024;
/// Most messages a source keeps.
pub const MAX_LOG_MESSAGES: usize = 64 * 1024;

const HEADER_METADATA: usize = 0;
const HEADER_VIDEO: usize = 1;
const HEADER_AUDIO: usize = 2;

/// Sequence number of a source's first message: far from 0, so that a GOP read back from
/// the ring always fits in front of the log.
const FIRST_SEQ: u64 = 1 << 48;

/// Where a source fed from a ring reads the current GOP back when a new player needs it,
/// instead of keeping it: the ring holds it anyway, and a process with players of
/// thousands of streams then holds what its players have not taken yet, not a GOP of each.
pub trait Backfill: Send + Sync + std::fmt::Debug {
    /// The messages of the ring from its newest keyframe up to (not including) ring
    /// sequence number `before`, with their ring sequence numbers, as the feed would have
    /// pushed them (headers kept aside left out); `None` when the ring no longer holds them
    /// all, or has no keyframe before `before`.
    fn gop_before(&self, before: u64) -> Option<Vec<(Media, u64)>>;
}

/// Per-source settings (from the vhost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceConfig {
    /// Keep the last GOP for new players.
    pub gop_cache: bool,
    /// How far (stream time) a player may lag before it skips to the newest keyframe.
    pub queue_length: Duration,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            gop_cache: true,
            queue_length: Duration::from_secs(30),
        }
    }
}

impl SourceConfig {
    /// The settings a vhost gives its sources.
    pub fn of(v: &Vhost) -> SourceConfig {
        SourceConfig {
            gop_cache: v.play.gop_cache,
            queue_length: v.play.queue_length,
        }
    }
}

#[derive(Debug)]
struct State {
    config: SourceConfig,
    /// Bumps at every publish; players compare it to notice a republish.
    generation: u64,
    /// A feed is on (the stream is published and its ring is being read).
    publishing: bool,
    /// Metadata, video and audio sequence headers of the current publish, with the
    /// sequence number they were pushed at.
    headers: [Option<(u64, Arc<Media>)>; 3],
    log: VecDeque<Arc<Media>>,
    /// The ring sequence number of each message of `log` (`u64::MAX`: not from a ring).
    ring_seqs: VecDeque<u64>,
    /// The ring sequence number after the newest message fed.
    ring_next: u64,
    log_bytes: usize,
    /// Sequence number of `log[0]`. It starts high so that a GOP read back from the ring
    /// can go in front of the log (see [`Backfill`]).
    base_seq: u64,
    /// Where the GOP comes from when the log does not keep it.
    backfill: Option<Arc<dyn Backfill>>,
    /// Sequence number of the newest keyframe of the current publish, if still in the log.
    keyframe_seq: Option<u64>,
    /// Sequence number of the first message of the current publish.
    publish_start_seq: u64,
    /// Whether the current publish's messages start at its real beginning (false for a
    /// feed that joined a running stream in its middle).
    publish_complete: bool,
    players: usize,
    /// Where each player of this process reads (indexed by [`Player::slot`]; `u64::MAX`
    /// for a free slot or a player not positioned yet): the log keeps messages older than
    /// the current GOP only while a player still needs them.
    cursors: Vec<u64>,
    free_slots: Vec<usize>,
}

impl State {
    fn next_seq(&self) -> u64 {
        self.base_seq + self.log.len() as u64
    }

    fn at(&self, seq: u64) -> Option<&Arc<Media>> {
        seq.checked_sub(self.base_seq)
            .and_then(|i| self.log.get(i as usize))
    }

    /// Where a new reader starts: the newest keyframe when the GOP cache is on (kept in the
    /// log, or read back from the ring in front of it), else the live point. The flag says
    /// whether that is a keyframe.
    fn start_seq(&mut self) -> (u64, bool) {
        if !self.config.gop_cache {
            return (self.next_seq(), false);
        }
        if let Some(k) = self.keyframe_seq {
            return (k, true);
        }
        match self.backfill_gop() {
            Some(k) => (k, true),
            None => (self.next_seq(), false),
        }
    }

    /// Put the current GOP, read back from the ring, in front of the log; its keyframe's
    /// sequence number, or `None` when the ring no longer holds it.
    fn backfill_gop(&mut self) -> Option<u64> {
        // Headers the feed pushed before its first ring message have no ring number: the
        // GOP goes in front of them, which sends them again after it (harmless).
        let before = match self.ring_seqs.iter().find(|s| **s != u64::MAX) {
            Some(s) => *s,
            None => self.ring_next,
        };
        if before == u64::MAX {
            return None;
        }
        let gop = self.backfill.as_ref()?.gop_before(before)?;
        if gop.is_empty() || gop.len() as u64 > self.base_seq {
            return None;
        }
        for (m, ring_seq) in gop.into_iter().rev() {
            self.log_bytes += m.payload.len();
            self.log.push_front(Arc::new(m));
            self.ring_seqs.push_front(ring_seq);
            self.base_seq -= 1;
        }
        self.keyframe_seq = Some(self.base_seq);
        Some(self.base_seq)
    }

    /// Where a lagging reader at `cursor` skips to: the newest keyframe if it is ahead of
    /// the cursor (whatever `gop_cache` says: skipping is about dropping whole GOPs), else the
    /// live point. The flag says whether that is a keyframe.
    fn skip_seq(&self, cursor: u64) -> (u64, bool) {
        match self.keyframe_seq {
            Some(k) if k > cursor && k >= self.base_seq => (k, true),
            _ => (self.next_seq(), false),
        }
    }

    fn newest_ts(&self) -> Option<u32> {
        self.log.back().map(|m| m.timestamp)
    }

    /// A slot in `cursors` for a new player that needs the log from `needs` on until it
    /// is positioned (`u64::MAX`: nothing older than the GOP).
    fn add_player(&mut self, needs: u64) -> usize {
        self.players += 1;
        match self.free_slots.pop() {
            Some(slot) => {
                self.cursors[slot] = needs;
                slot
            }
            None => {
                self.cursors.push(needs);
                self.cursors.len() - 1
            }
        }
    }

    fn remove_player(&mut self, slot: usize) {
        self.players -= 1;
        if let Some(c) = self.cursors.get_mut(slot) {
            *c = u64::MAX;
            self.free_slots.push(slot);
        }
        if self.free_slots.len() == self.cursors.len() {
            self.cursors = Vec::new();
            self.free_slots = Vec::new();
        }
    }

    /// Drop old messages: those before the current GOP that no player still needs, those
    /// beyond `queue_length` of stream time (keeping the current GOP), and any beyond the
    /// hard byte and count limits (even inside the GOP). A stream whose players keep up
    /// thus holds its GOP cache and little more, as SRS does; `queue_length` bounds how far
    /// a slow or paused player may fall behind. With a ring to read the GOP back from
    /// ([`Backfill`]), the GOP is not kept either: only what players still need.
    fn trim(&mut self) {
        let keep_gop = self.backfill.is_none();
        let limit_ms = self.config.queue_length.as_millis().min(u32::MAX as u128) as u32;
        let newest = self.newest_ts().unwrap_or(0);
        // The oldest message a player still needs; computed once, when it matters.
        let mut needed: Option<u64> = None;
        while let Some(front) = self.log.front() {
            let age = newest.wrapping_sub(front.timestamp);
            let in_gop = keep_gop && self.keyframe_seq.is_some_and(|k| self.base_seq >= k);
            let too_old = age > limit_ms && age < u32::MAX / 2 && !in_gop;
            let too_big = self.log_bytes > MAX_LOG_BYTES || self.log.len() > MAX_LOG_MESSAGES;
            let unneeded = !in_gop
                && self.base_seq
                    < *needed.get_or_insert_with(|| {
                        self.cursors.iter().copied().min().unwrap_or(u64::MAX)
                    });
            if !(too_old || too_big || unneeded) {
                break;
            }
            if let Some(m) = self.log.pop_front() {
                self.log_bytes -= m.payload.len();
            }
            self.ring_seqs.pop_front();
            if self.keyframe_seq == Some(self.base_seq) {
                self.keyframe_seq = None;
            }
            self.base_seq += 1;
        }
    }
}

/// One stream's shared state.
#[derive(Debug)]
pub struct Source {
    key: StreamKey,
    state: Mutex<State>,
    /// Bumped on every change; players wait on it.
    changed: watch::Sender<u64>,
}

impl Source {
    fn new(key: StreamKey, config: SourceConfig) -> Self {
        Self {
            key,
            state: Mutex::new(State {
                config,
                generation: 0,
                publishing: false,
                headers: [None, None, None],
                log: VecDeque::new(),
                ring_seqs: VecDeque::new(),
                ring_next: u64::MAX,
                log_bytes: 0,
                base_seq: FIRST_SEQ,
                backfill: None,
                keyframe_seq: None,
                publish_start_seq: 0,
                publish_complete: true,
                players: 0,
                cursors: Vec::new(),
                free_slots: Vec::new(),
            }),
            changed: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than losing the stream, so recover from poisoning.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The stream key.
    pub fn key(&self) -> &StreamKey {
        &self.key
    }

    /// Whether a publisher is on.
    pub fn is_publishing(&self) -> bool {
        self.lock().publishing
    }
}

/// Why a feed could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// Another feed is on for this stream (the previous publish's reader has not let go).
    #[error("stream {0} is already fed")]
    Busy(StreamKey),
}

/// Every live source of the process, by key.
#[derive(Debug, Default)]
pub struct Hub {
    sources: Mutex<HashMap<StreamKey, Arc<Source>>>,
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Apply new settings (after a reload) to every source for which `f` gives some.
    pub fn reconfigure(&self, f: impl Fn(&StreamKey) -> Option<SourceConfig>) {
        for (key, source) in self.sources().iter() {
            if let Some(c) = f(key) {
                source.lock().config = c;
            }
        }
    }

    /// Keys of every source (published or waited for).
    pub fn keys(&self) -> Vec<StreamKey> {
        let mut v: Vec<StreamKey> = self.sources().keys().cloned().collect();
        v.sort();
        v
    }

    /// Messages the source of `key` keeps now.
    #[cfg(test)]
    pub(crate) fn logged(&self, key: &StreamKey) -> usize {
        self.sources().get(key).map_or(0, |s| s.lock().log.len())
    }

    /// Players of `key` in this process.
    pub fn players(&self, key: &StreamKey) -> usize {
        self.sources().get(key).map_or(0, |s| s.lock().players)
    }

    fn sources(&self) -> MutexGuard<'_, HashMap<StreamKey, Arc<Source>>> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Find or create the source of `key` and update its state while the map is locked, so
    /// that [`release`](Self::release) (which checks "unused" under the same lock) can never
    /// remove a source between a lookup and the claim of a publisher or player on it.
    fn claim<T>(
        &self,
        key: &StreamKey,
        config: SourceConfig,
        f: impl FnOnce(&mut State) -> T,
    ) -> (Arc<Source>, T) {
        let mut map = self.sources();
        let source = map
            .entry(key.clone())
            .or_insert_with(|| Arc::new(Source::new(key.clone(), config)))
            .clone();
        let r = f(&mut source.lock());
        (source, r)
    }

    /// Number of sources (publishing or waited for by players).
    pub fn len(&self) -> usize {
        self.sources().len()
    }

    /// Whether there are no sources.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys of the sources that are fed now.
    pub fn publishing(&self) -> Vec<StreamKey> {
        let mut v: Vec<StreamKey> = self
            .sources()
            .values()
            .filter(|s| s.is_publishing())
            .map(|s| s.key.clone())
            .collect();
        v.sort();
        v
    }

    /// Start feeding `key` (its publish began, or this process started reading its ring).
    /// `complete` says whether what will be pushed starts at the publish's real beginning:
    /// a feed that joins a running stream pushes from its middle, and players that waited
    /// must then start at a keyframe like late ones.
    pub fn feed(
        self: &Arc<Self>,
        key: &StreamKey,
        config: SourceConfig,
        complete: bool,
    ) -> Result<Feed, FeedError> {
        let (source, claimed) = self.claim(key, config, |st| {
            if st.publishing {
                return Err(FeedError::Busy(key.clone()));
            }
            st.config = config;
            st.publishing = true;
            st.generation += 1;
            st.publish_start_seq = st.next_seq();
            st.publish_complete = complete;
            // What an earlier publish left in the log came from another ring.
            st.ring_seqs.iter_mut().for_each(|s| *s = u64::MAX);
            Ok(())
        });
        claimed?;
        source.bump();
        Ok(Feed {
            hub: self.clone(),
            source,
        })
    }

    /// Start playing `key`; the player waits if nobody publishes yet.
    pub fn play(self: &Arc<Self>, key: &StreamKey, config: SourceConfig) -> Player {
        let (source, (waiting, slot)) = self.claim(key, config, |st| {
            // A player that waits for the publisher gets the publish from its first message
            // (audio before the first keyframe included): the log keeps what comes next
            // until the player has taken it.
            let waiting = !st.publishing;
            let needs = if waiting { st.next_seq() } else { u64::MAX };
            (waiting, st.add_player(needs))
        });
        let mut rx = source.changed.subscribe();
        // Poll once at once: the GOP cache is there to be sent now, not at the next frame.
        rx.mark_changed();
        Player {
            hub: self.clone(),
            source,
            rx,
            slot,
            cursor: None,
            generation: 0,
            was_publishing: false,
            waiting,
            sent: [None, None, None],
            need_keyframe: false,
            dropped: 0,
        }
    }

    /// Remove a source nobody uses any more.
    fn release(&self, source: &Arc<Source>) {
        let mut map = self.sources();
        let st = source.lock();
        if !st.publishing && st.players == 0 {
            drop(st);
            if map.get(&source.key).is_some_and(|s| Arc::ptr_eq(s, source)) {
                map.remove(&source.key);
            }
        }
    }
}

/// The writing side of a source: what the stream's ring hands over, in order. Dropping it
/// ends the publish for the players (they are told once they have taken what is left).
#[derive(Debug)]
pub struct Feed {
    hub: Arc<Hub>,
    source: Arc<Source>,
}

impl Feed {
    /// The stream key.
    pub fn key(&self) -> &StreamKey {
        &self.source.key
    }

    /// Read the GOP back from `backfill` when a new player needs it, instead of keeping it
    /// in the log.
    pub fn set_backfill(&self, backfill: Arc<dyn Backfill>) {
        self.source.lock().backfill = Some(backfill);
    }

    /// Add a message, as the writer made it. Metadata and sequence headers (by their flags)
    /// replace the ones kept aside; a keyframe starts the GOP new players get.
    pub fn push(&self, media: Media) {
        self.push_at(media, u64::MAX)
    }

    /// [`push`](Self::push) a message that has sequence number `ring_seq` in the ring the
    /// source is fed from.
    pub fn push_at(&self, media: Media, ring_seq: u64) {
        {
            let mut st = self.source.lock();
            if ring_seq != u64::MAX {
                st.ring_next = ring_seq + 1;
            }
            st.ring_seqs.push_back(ring_seq);
            let seq = st.next_seq();
            let header = if media.is_metadata() {
                Some(HEADER_METADATA)
            } else if media.is_sequence_header() && media.type_id == type_id::VIDEO {
                Some(HEADER_VIDEO)
            } else if media.is_sequence_header() {
                Some(HEADER_AUDIO)
            } else {
                None
            };
            let media = Arc::new(media);
            if let Some(h) = header {
                st.headers[h] = Some((seq, media.clone()));
            } else if media.is_keyframe() {
                st.keyframe_seq = Some(seq);
            }
            st.log_bytes += media.payload.len();
            st.log.push_back(media);
            st.trim();
        }
        self.source.bump();
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        {
            let mut st = self.source.lock();
            st.publishing = false;
            // As SRS: the GOP cache and the headers belong to the publish that ended; a
            // player arriving now waits for the next publish.
            st.keyframe_seq = None;
            st.headers = [None, None, None];
            st.backfill = None;
            st.ring_next = u64::MAX;
        }
        self.source.bump();
        self.hub.release(&self.source);
    }
}

/// What a player should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlayEvent {
    /// A publisher started (first publish or republish): tell the player.
    Published,
    /// The publisher left.
    Unpublished,
    /// Messages to send, in order.
    Media(Vec<Arc<Media>>),
}

/// One item of [`Player::poll_each`], in the order of [`PlayEvent`]s.
#[derive(Debug, Clone, Copy)]
pub enum PlayItem<'a> {
    /// A publisher started (first publish or republish).
    Published,
    /// The publisher left.
    Unpublished,
    /// A message to send.
    Media(&'a Arc<Media>),
}

/// The playing side of a source: a cursor into its log.
#[derive(Debug)]
pub struct Player {
    hub: Arc<Hub>,
    source: Arc<Source>,
    rx: watch::Receiver<u64>,
    /// This player's entry in the source's `cursors`.
    slot: usize,
    /// Next sequence number to read; `None` until positioned.
    cursor: Option<u64>,
    generation: u64,
    was_publishing: bool,
    /// The player arrived before the publisher: it gets the publish from its start.
    waiting: bool,
    /// The headers (same order as `State::headers`) this player last received.
    sent: [Option<Arc<Media>>; 3],
    /// Drop video until a keyframe (positioned at the live point, not at a keyframe).
    need_keyframe: bool,
    dropped: u64,
}

impl Player {
    /// The stream key.
    pub fn key(&self) -> &StreamKey {
        &self.source.key
    }

    /// Messages skipped because this player lagged.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Wait until the source changed since the last [`poll`](Self::poll).
    pub async fn changed(&mut self) {
        // The sender lives in the source, which we hold: this cannot fail.
        let _ = self.rx.changed().await;
    }

    /// Take what is new: a publish that started, then up to `max` messages (and about
    /// `max_bytes` of them), then a publish that ended once its messages are all taken.
    /// Returns an empty vector when there is nothing to do.
    pub fn poll(&mut self, max: usize, max_bytes: usize) -> Vec<PlayEvent> {
        let mut events = Vec::new();
        self.poll_each(max, max_bytes, |item| match item {
            PlayItem::Published => events.push(PlayEvent::Published),
            PlayItem::Unpublished => events.push(PlayEvent::Unpublished),
            PlayItem::Media(m) => match events.last_mut() {
                Some(PlayEvent::Media(v)) => v.push(m.clone()),
                _ => events.push(PlayEvent::Media(vec![m.clone()])),
            },
        });
        events
    }

    /// What [`poll`](Self::poll) takes, in the same order, handed to `f` one item at a time
    /// instead of collected: the fan-out path calls this for every player at every wake-up,
    /// and needs neither the vectors nor a reference count per message. `f` runs with the
    /// source locked, so it must be quick and must not touch this source.
    pub fn poll_each(&mut self, max: usize, max_bytes: usize, mut f: impl FnMut(PlayItem<'_>)) {
        self.rx.borrow_and_update();
        let mut st = self.source.lock();
        if st.publishing && st.generation != self.generation {
            // Waited for this publish, or followed an earlier one: it gets this one from its
            // first message.
            let followed = self.waiting || self.generation != 0;
            if self.was_publishing {
                // A republish happened while this player was still behind on the old one.
                f(PlayItem::Unpublished);
            }
            f(PlayItem::Published);
            self.generation = st.generation;
            self.was_publishing = true;
            // A player that waited for this publish (or played the previous one) gets it
            // from its first message; one that joins a running publish starts at its GOP
            // (or the live point).
            let from_start = followed && st.publish_complete && st.publish_start_seq >= st.base_seq;
            let (seq, key) = if from_start {
                (st.publish_start_seq, true)
            } else {
                st.start_seq()
            };
            self.cursor = Some(seq);
            self.need_keyframe = !key;
            self.waiting = false;
        }
        let Some(mut cursor) = self.cursor else {
            return;
        };
        // Lapped (fell off the log) or lagging more than queue_length: skip whole GOPs.
        let limit_ms = st.config.queue_length.as_millis().min(u32::MAX as u128) as u32;
        let lag_ms = match (st.at(cursor), st.newest_ts()) {
            (Some(m), Some(n)) => n.wrapping_sub(m.timestamp),
            _ => 0,
        };
        if cursor < st.base_seq || (lag_ms > limit_ms && lag_ms < u32::MAX / 2) {
            let (target, key) = st.skip_seq(cursor);
            self.dropped += target.saturating_sub(cursor);
            cursor = target.max(cursor);
            self.need_keyframe = !key;
        }
        let mut taken = 0;
        // A player that starts (or restarts after skipping) needs the current metadata and
        // sequence headers before any frame, unless it already has exactly those. Headers
        // still ahead of the cursor arrive in order with the other messages.
        if st.publishing {
            // Stamp them with the time of the frame that follows, so the player's clock does
            // not jump from the headers' old time to the GOP's (players such as ffprobe measure
            // from the first timestamp they see).
            let now = st.at(cursor).map(|m| m.timestamp).or(st.newest_ts());
            for (i, (sent, cur)) in self.sent.iter_mut().zip(&st.headers).enumerate() {
                if let Some((seq, h)) = cur {
                    if *seq < cursor && !sent.as_ref().is_some_and(|s| Arc::ptr_eq(s, h)) {
                        // Metadata goes at time 0, where players (ffmpeg's FLV reader among
                        // them) take it as stream metadata; at any other time they turn it
                        // into a data or subtitle track. The sequence headers go at the time
                        // of the frame that follows.
                        let timestamp = if i == HEADER_METADATA {
                            0
                        } else {
                            now.unwrap_or(h.timestamp)
                        };
                        if timestamp == h.timestamp {
                            f(PlayItem::Media(h));
                        } else {
                            f(PlayItem::Media(&Arc::new(h.restamped(timestamp))));
                        }
                        taken += 1;
                        *sent = Some(h.clone());
                    }
                }
            }
        }
        let mut bytes = 0;
        while taken < max && bytes < max_bytes {
            let Some(m) = st.at(cursor) else { break };
            cursor += 1;
            for (sent, cur) in self.sent.iter_mut().zip(&st.headers) {
                if matches!(cur, Some((seq, _)) if *seq == cursor - 1) {
                    *sent = Some(m.clone());
                }
            }
            // After starting or skipping off a keyframe, video waits for the next keyframe
            // (a decoder cannot start on a P-frame); audio and data go on.
            if self.need_keyframe && m.type_id == type_id::VIDEO && !m.is_sequence_header() {
                if !m.is_keyframe() {
                    self.dropped += 1;
                    continue;
                }
                self.need_keyframe = false;
            }
            bytes += m.payload.len();
            taken += 1;
            f(PlayItem::Media(m));
        }
        self.cursor = Some(cursor);
        if let Some(c) = st.cursors.get_mut(self.slot) {
            *c = cursor;
        }
        let drained = st.at(cursor).is_none();
        if !st.publishing && self.was_publishing && drained {
            f(PlayItem::Unpublished);
            self.was_publishing = false;
        }
        if !drained {
            // More left than `max`: make sure the next `changed()` returns at once.
            self.rx.mark_changed();
        }
    }

    /// Skip ahead to the newest keyframe (after a pause), if it is ahead; never backwards:
    /// a player resuming inside the GOP it paused in goes on where it stopped.
    pub fn seek_live(&mut self) {
        let mut st = self.source.lock();
        if let Some(cursor) = self.cursor {
            let (target, key) = st.skip_seq(cursor);
            if key {
                self.dropped += target - cursor;
                self.cursor = Some(target);
                if let Some(c) = st.cursors.get_mut(self.slot) {
                    *c = target;
                }
            }
        }
        drop(st);
        self.rx.mark_changed();
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.source.lock().remove_player(self.slot);
        self.hub.release(&self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bytes::Bytes;
    use srs_ipc::ring::flags;
    use srs_protocol::flv;

    fn key(s: &str) -> StreamKey {
        StreamKey {
            vhost: "__defaultVhost__".into(),
            app: "live".into(),
            stream: s.into(),
        }
    }

    /// Metadata as the writer puts it in the ring (`@setDataFrame` stripped).
    const META: &[u8] = b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x00\x00\x00\x09";
    const VSH: &[u8] = &[0x17, 0, 0, 0, 0, 1, 0x64];
    const ASH: &[u8] = &[0xaf, 0, 0x12, 0x10];

    fn key_frame(n: u8) -> Bytes {
        Bytes::from(vec![0x17, 1, 0, 0, 0, n])
    }
    fn inter(n: u8) -> Bytes {
        Bytes::from(vec![0x27, 1, 0, 0, 0, n])
    }

    /// Push a message the way backsource would flag it.
    fn push(p: &Feed, ty: u8, ts: u32, payload: Bytes) {
        let f = match ty {
            type_id::VIDEO => flv::video_info(&payload),
            type_id::AUDIO => flv::audio_info(&payload),
            _ => flv::FrameInfo::default(),
        };
        let mut fl = 0;
        if f.keyframe {
            fl |= flags::KEYFRAME;
        }
        if f.sequence_header {
            fl |= flags::SEQUENCE_HEADER;
        }
        if ty == type_id::DATA_AMF0 && payload.starts_with(b"\x02\x00\x0aonMetaData") {
            fl |= flags::METADATA;
        }
        p.push(Media::new(ty, ts, payload, fl));
    }

    fn start(p: &Feed) {
        push(&p, type_id::DATA_AMF0, 0, Bytes::from_static(META));
        push(&p, type_id::VIDEO, 0, Bytes::from_static(VSH));
        push(&p, type_id::AUDIO, 0, Bytes::from_static(ASH));
    }

    fn media(events: &[PlayEvent]) -> Vec<Arc<Media>> {
        events
            .iter()
            .flat_map(|e| match e {
                PlayEvent::Media(m) => m.clone(),
                _ => vec![],
            })
            .collect()
    }

    #[test]
    fn late_player_gets_headers_then_last_gop() {
        let hub = Hub::new();
        let p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        start(&p);
        let mut ts = 0;
        for g in 0..3u8 {
            push(&p, type_id::VIDEO, ts, key_frame(g));
            ts += 40;
            for i in 0..5 {
                push(&p, type_id::VIDEO, ts, inter(i));
                push(&p, type_id::AUDIO, ts, Bytes::from_static(&[0xaf, 1, 9]));
                ts += 40;
            }
        }
        let mut pl = hub.play(&key("a"), SourceConfig::default());
        let ev = pl.poll(1000, usize::MAX);
        assert_eq!(ev[0], PlayEvent::Published);
        let m = media(&ev);
        // metadata (as onMetaData), video sh, audio sh, then the third GOP from its keyframe.
        assert_eq!(m[0].type_id, type_id::DATA_AMF0);
        assert!(m[0].payload.starts_with(b"\x02\x00\x0aonMetaData"));
        assert!(m[1].is_sequence_header() && m[1].type_id == type_id::VIDEO);
        assert!(m[2].is_sequence_header() && m[2].type_id == type_id::AUDIO);
        assert!(m[3].is_keyframe());
        assert_eq!(&m[3].payload[..], &key_frame(2)[..]);
        // The sequence headers carry the keyframe's time, not the time they were published
        // at; the metadata carries 0.
        assert_eq!(m[0].timestamp, 0);
        assert!(
            m[1..3].iter().all(|h| h.timestamp == m[3].timestamp),
            "{m:?}"
        );
        assert_eq!(m.len(), 3 + 1 + 10);
        // Nothing more until the publisher sends.
        assert!(pl.poll(1000, usize::MAX).is_empty());
        push(&p, type_id::VIDEO, ts, inter(9));
        assert_eq!(media(&pl.poll(1000, usize::MAX)).len(), 1);
    }

    #[test]
    fn gop_cache_off_starts_at_live_point() {
        let hub = Hub::new();
        let cfg = SourceConfig {
            gop_cache: false,
            ..Default::default()
        };
        let p = hub.feed(&key("a"), cfg, true).unwrap();
        start(&p);
        push(&p, type_id::VIDEO, 0, key_frame(0));
        push(&p, type_id::VIDEO, 40, inter(0));
        let mut pl = hub.play(&key("a"), cfg);
        let m = media(&pl.poll(100, usize::MAX));
        // Only the headers.
        assert_eq!(m.len(), 3);
        // Video waits for the next keyframe; audio does not.
        push(&p, type_id::VIDEO, 80, inter(1));
        push(&p, type_id::AUDIO, 80, Bytes::from_static(&[0xaf, 1, 7]));
        let m = media(&pl.poll(100, usize::MAX));
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].type_id, type_id::AUDIO);
        push(&p, type_id::VIDEO, 120, key_frame(1));
        push(&p, type_id::VIDEO, 160, inter(2));
        let m = media(&pl.poll(100, usize::MAX));
        assert_eq!(m.len(), 2);
        assert!(m[0].is_keyframe());
    }

    #[test]
    fn player_before_publisher_then_unpublish_and_republish() {
        let hub = Hub::new();
        let mut pl = hub.play(&key("a"), SourceConfig::default());
        assert!(pl.poll(100, usize::MAX).is_empty());
        let p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        start(&p);
        push(&p, type_id::VIDEO, 1000, key_frame(0));
        let ev = pl.poll(100, usize::MAX);
        assert_eq!(ev[0], PlayEvent::Published);
        assert_eq!(media(&ev).len(), 4);
        push(&p, type_id::VIDEO, 1040, inter(1));
        drop(p);
        let ev = pl.poll(100, usize::MAX);
        // The last frame first, then the unpublish.
        assert_eq!(media(&ev).len(), 1);
        assert_eq!(ev.last(), Some(&PlayEvent::Unpublished));
        assert_eq!(hub.len(), 1, "the waiting player keeps the source");
        // Republish (the writer continues the stream's clock): the waiting player gets it
        // from its start.
        let p2 = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        start(&p2);
        push(&p2, type_id::VIDEO, 1050, key_frame(5));
        let ev = pl.poll(100, usize::MAX);
        assert_eq!(ev[0], PlayEvent::Published);
        let m = media(&ev);
        assert_eq!(m.len(), 4);
        assert!(m[3].is_keyframe() && m[3].timestamp == 1050, "{m:?}");
        drop(pl);
        drop(p2);
        assert!(hub.is_empty());
    }

    #[test]
    fn log_keeps_only_what_players_need() {
        let hub = Hub::new();
        let cfg = SourceConfig {
            gop_cache: true,
            queue_length: Duration::from_secs(30),
        };
        let p = hub.feed(&key("a"), cfg, true).unwrap();
        start(&p);
        // 25 fps, a keyframe every second.
        let push = |from: u32, to: u32| {
            for i in from..to {
                let f = if i % 25 == 0 {
                    key_frame(i as u8)
                } else {
                    inter(i as u8)
                };
                push(&p, type_id::VIDEO, i * 40, f);
            }
        };
        let log_len = || p.source.lock().log.len();
        // Nobody plays: the GOP cache alone (the current GOP), not 30 s of stream.
        push(0, 250);
        assert_eq!(log_len(), 25, "10 s pushed, one GOP kept");
        // A player that keeps up: still the current GOP only.
        let mut fast = hub.play(&key("a"), cfg);
        fast.poll(10_000, usize::MAX);
        push(250, 310);
        fast.poll(10_000, usize::MAX);
        push(310, 330);
        assert_eq!(log_len(), 20, "what the player has not read yet (from 310)");
        // A second player that stops reading holds the log from its cursor on, so it
        // misses nothing within queue_length ...
        let mut slow = hub.play(&key("a"), cfg);
        slow.poll(10, usize::MAX);
        let at = p.source.lock().players;
        assert_eq!(at, 2);
        push(330, 400);
        fast.poll(10_000, usize::MAX);
        let m = media(&slow.poll(10_000, usize::MAX));
        let ts: Vec<u32> = m.iter().map(|m| m.timestamp).collect();
        assert!(ts.windows(2).all(|w| w[1] == w[0] + 40), "no gap: {ts:?}");
        assert_eq!(ts.last(), Some(&(399 * 40)));
        // ... and once it has caught up, or left, the log is back to the current GOP.
        push(400, 410);
        assert_eq!(log_len(), 10, "the GOP at 400");
        drop(slow);
        push(410, 420);
        assert_eq!(log_len(), 20);
        drop(fast);
        push(420, 430);
        assert_eq!(log_len(), 5, "the GOP at 425");
    }

    #[test]
    fn waiting_player_gets_the_publish_from_its_first_message() {
        let hub = Hub::new();
        let cfg = SourceConfig::default();
        let mut pl = hub.play(&key("a"), cfg);
        assert!(pl.poll(100, usize::MAX).is_empty());
        let p = hub.feed(&key("a"), cfg, true).unwrap();
        start(&p);
        // Audio before the first keyframe, pushed before the player is woken.
        for i in 0..5u32 {
            push(
                &p,
                type_id::AUDIO,
                i * 20,
                Bytes::from_static(&[0xaf, 1, 0x21]),
            );
        }
        push(&p, type_id::VIDEO, 100, key_frame(0));
        let m = media(&pl.poll(100, usize::MAX));
        let audio = m
            .iter()
            .filter(|m| m.type_id == type_id::AUDIO && !m.is_sequence_header())
            .count();
        assert_eq!(audio, 5, "{m:?}");
        // Positioned and caught up: the log is back to the GOP.
        push(&p, type_id::VIDEO, 140, inter(1));
        assert_eq!(p.source.lock().log.len(), 2);
    }

    #[test]
    fn second_publisher_is_busy() {
        let hub = Hub::new();
        let _p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        let e = hub
            .feed(&key("a"), SourceConfig::default(), true)
            .unwrap_err();
        assert_eq!(e, FeedError::Busy(key("a")));
        assert!(hub.feed(&key("b"), SourceConfig::default(), true).is_ok());
    }

    #[test]
    fn slow_player_skips_whole_gops_and_log_is_bounded() {
        let hub = Hub::new();
        let cfg = SourceConfig {
            gop_cache: true,
            queue_length: Duration::from_secs(2),
        };
        let p = hub.feed(&key("a"), cfg, true).unwrap();
        start(&p);
        let mut pl = hub.play(&key("a"), cfg);
        pl.poll(10, usize::MAX); // positioned, got the headers
                                 // 60 seconds of 25 fps video with a keyframe every second; the player never reads.
        for i in 0..1500u32 {
            let f = if i % 25 == 0 {
                key_frame(i as u8)
            } else {
                inter(i as u8)
            };
            push(&p, type_id::VIDEO, i * 40, f);
        }
        {
            let st = p.source.lock();
            // At most queue_length (2 s) plus the current GOP of 1 s of frames is kept.
            assert!(st.log.len() <= 3 * 25 + 1, "log len {}", st.log.len());
        }
        let m = media(&pl.poll(10_000, usize::MAX));
        assert!(m[0].is_keyframe(), "resumes on a keyframe");
        assert!(m.len() <= 25, "got {}", m.len());
        assert!(pl.dropped() > 1000);
    }

    #[test]
    fn unpause_never_goes_backwards_and_skips_forward_to_a_new_gop() {
        let hub = Hub::new();
        let p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        start(&p);
        push(&p, type_id::VIDEO, 0, key_frame(0));
        let mut pl = hub.play(&key("a"), SourceConfig::default());
        pl.poll(100, usize::MAX);
        push(&p, type_id::VIDEO, 40, inter(1));
        pl.poll(100, usize::MAX);
        // Pause and resume inside the same GOP: nothing is sent twice.
        pl.seek_live();
        assert!(pl.poll(100, usize::MAX).is_empty());
        // Resume after a new GOP began: jump to its keyframe.
        push(&p, type_id::VIDEO, 80, inter(2));
        push(&p, type_id::VIDEO, 120, key_frame(3));
        push(&p, type_id::VIDEO, 160, inter(4));
        pl.seek_live();
        let m = media(&pl.poll(100, usize::MAX));
        assert_eq!(m.len(), 2);
        assert!(m[0].is_keyframe() && m[0].timestamp == 120);
    }

    #[test]
    fn batch_is_limited_by_bytes_too() {
        let hub = Hub::new();
        let p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        let mut pl = hub.play(&key("a"), SourceConfig::default());
        pl.poll(10, usize::MAX);
        push(&p, type_id::VIDEO, 0, key_frame(0));
        for i in 1..10 {
            push(&p, type_id::VIDEO, i * 40, inter(i as u8));
        }
        // Each frame is 6 bytes: 13 bytes allow three (the third crosses the line).
        assert_eq!(media(&pl.poll(100, 13)).len(), 3);
        assert_eq!(media(&pl.poll(100, usize::MAX)).len(), 7);
    }

    #[test]
    fn max_batch_and_mark_changed() {
        let hub = Hub::new();
        let p = hub.feed(&key("a"), SourceConfig::default(), true).unwrap();
        let mut pl = hub.play(&key("a"), SourceConfig::default());
        pl.poll(10, usize::MAX);
        push(&p, type_id::VIDEO, 0, key_frame(0));
        for i in 1..10 {
            push(&p, type_id::VIDEO, i * 40, inter(i as u8));
        }
        assert_eq!(media(&pl.poll(4, usize::MAX)).len(), 4);
        assert!(pl.rx.has_changed().unwrap());
        assert_eq!(media(&pl.poll(100, usize::MAX)).len(), 6);
    }
}
