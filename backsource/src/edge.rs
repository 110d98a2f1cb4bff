//! Edge pull (`cluster { mode remote; origin ...; }`): while players anywhere on the node
//! want a stream of an edge vhost, backsource plays it from the vhost's origins over one
//! RTMP connection and writes it into the stream's ring like a publisher, so every worker,
//! HTTP-FLV and HLS reads it from there. One upstream connection per stream per node.
//!
//! - **Origins in order:** the first that answers and accepts `play` serves; a refusal, a
//!   failure or an origin gone quiet moves on to the next. After a round where every
//!   origin failed, the next round waits ([`Backoff`]: 1, 2, 4, then 5 s).
//! - **Players stay:** when the upstream dies, the stream stays published for the players
//!   while the next origin is tried: they see a pause, then the stream again (new sequence
//!   headers, the clock continued), as SRS's edge players do. Only when every origin of a
//!   round failed does the publish end (players are told, as for an encoder that left).
//!   When the origin's own publisher leaves, the edge's players are told the same.
//! - **Last player:** the upstream stays up for [`EDGE_GRACE`] after the last player
//!   left, then closes. SRS 6 closes it at once (measured: 5 ms after its last player);
//!   one second more lets a player that reconnects (a page reload, ffprobe's probe then
//!   play) find it still there, and is all the difference.
//! - **Nothing comes:** players still waiting for their first frame when a whole round
//!   of origins failed are told (`NetStream.Play.Failed`, or the end of an HTTP-FLV
//!   response) and closed, rather than left in silence as SRS leaves them.

use crate::publish::PublishInfo;
use crate::relay::{self, Backoff, Mode, RelayStatus};
use crate::streams::{PublishError, Publisher, Streams};
use srs_client::{ClientError, Packet};
use srs_conf::Config;
use srs_ipc::control::{PullRequest, StreamKey};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tracing::{info, info_span, warn, Instrument};

/// How long an upstream outlives its last player.
pub const EDGE_GRACE: Duration = Duration::from_secs(1);

/// Longest silence from an origin (no media, while playing) before the edge tries the
/// next one: a dead link, or an origin that does not have the stream (any more). SRS's
/// edge waits as long.
pub const UPSTREAM_IDLE: Duration = Duration::from_secs(5);

/// One stream being pulled.
#[derive(Debug)]
pub struct Pull {
    /// The request it pulls with (the first player's).
    pub request: PullRequest,
    /// The request of the latest player that asked while the stream was not live: the next
    /// attempt uses it (a player whose params the origin refused must not spoil the pull
    /// for the next one).
    latest: std::sync::Mutex<PullRequest>,
    /// Connection id of the upstream connection, in logs and the API.
    pub cid: String,
    /// Whether players want it now.
    wanted: watch::Sender<bool>,
    /// Its state for the API.
    pub status: Arc<RelayStatus>,
    /// Codec details and frame count of what it received.
    pub info: Arc<PublishInfo>,
    /// When the stream went live here, ms since the Unix epoch (0: not live).
    pub live_ms: std::sync::atomic::AtomicU64,
}

/// Every pull of the node.
#[derive(Debug, Default)]
pub struct Pulls {
    pulls: Mutex<HashMap<StreamKey, Arc<Pull>>>,
}

impl Pulls {
    fn lock(&self) -> MutexGuard<'_, HashMap<StreamKey, Arc<Pull>>> {
        self.pulls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pulls now.
    pub fn list(&self) -> Vec<Arc<Pull>> {
        self.lock().values().cloned().collect()
    }

    /// Players want `req.key`: pull it, or keep pulling it.
    pub fn want(
        self: &Arc<Self>,
        req: PullRequest,
        streams: &Arc<Streams>,
        config: impl Fn() -> Arc<Config> + Send + Sync + 'static,
    ) {
        let mut map = self.lock();
        if let Some(p) = map.get(&req.key) {
            if p.live_ms.load(std::sync::atomic::Ordering::Relaxed) == 0 {
                *p.latest.lock().unwrap_or_else(|e| e.into_inner()) = req;
            }
            p.wanted.send_replace(true);
            return;
        }
        let (tx, rx) = watch::channel(true);
        let pull = Arc::new(Pull {
            request: req.clone(),
            latest: std::sync::Mutex::new(req.clone()),
            cid: srs_live::conn::new_cid(),
            wanted: tx,
            status: Arc::new(RelayStatus::new("pull")),
            info: Arc::default(),
            live_ms: Default::default(),
        });
        map.insert(req.key.clone(), pull.clone());
        let span = info_span!("conn", cid = %pull.cid);
        let (me, streams) = (self.clone(), streams.clone());
        tokio::spawn(
            async move {
                info!(stream = %pull.request.key, "edge: pulling from the origin");
                loop {
                    if run(&pull, rx.clone(), &streams, &config).await == Stop::GiveUp {
                        break;
                    }
                    // Wanted again meanwhile (a player came as the grace ran out, or the
                    // stream's local publisher left): pull on. The master sends `Pull`
                    // only when nobody wanted the stream before, so nobody else would.
                    let mut map = me.lock();
                    if *pull.wanted.borrow() {
                        drop(map);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                    if map
                        .get(&pull.request.key)
                        .is_some_and(|p| Arc::ptr_eq(p, &pull))
                    {
                        map.remove(&pull.request.key);
                    }
                    break;
                }
                let mut map = me.lock();
                if map
                    .get(&pull.request.key)
                    .is_some_and(|p| Arc::ptr_eq(p, &pull))
                {
                    map.remove(&pull.request.key);
                }
                drop(map);
                info!(stream = %pull.request.key, "edge: pull stopped");
            }
            .instrument(span),
        );
    }

    /// No player wants `key` any more: the pull ends after [`EDGE_GRACE`] unless wanted
    /// again.
    pub fn unwant(&self, key: &StreamKey) {
        if let Some(p) = self.lock().get(key) {
            p.wanted.send_replace(false);
        }
    }
}

/// Why one upstream connection ended.
enum End {
    /// Nobody wanted the stream for the grace period.
    Unwanted,
    /// The connection failed.
    Failed(ClientError),
    /// The origin sent nothing for too long.
    Idle,
}

/// Wait while nobody wants the stream, for at most `EDGE_GRACE`; false when the grace
/// ran out.
async fn still_wanted(wanted: &mut watch::Receiver<bool>) -> bool {
    if *wanted.borrow() {
        return true;
    }
    matches!(
        tokio::time::timeout(EDGE_GRACE, wanted.wait_for(|w| *w)).await,
        Ok(Ok(_))
    )
}

/// Why a pull's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Nobody wanted it (or it lost to a local publisher): pull again if wanted again.
    Done,
    /// It cannot pull any more (the vhost is no edge now): never again.
    GiveUp,
}

async fn run(
    pull: &Pull,
    mut wanted: watch::Receiver<bool>,
    streams: &Arc<Streams>,
    config: &impl Fn() -> Arc<Config>,
) -> Stop {
    let key = &pull.request.key;
    let mut next = 0usize;
    let mut backoff = Backoff::default();
    let mut failed_in_round = 0usize;
    let mut round_errors: Vec<String> = Vec::new();
    // The stream's publish here: it outlives one upstream connection (failover).
    let mut publisher: Option<Publisher> = None;
    loop {
        if !still_wanted(&mut wanted).await {
            return Stop::Done;
        }
        let cfg = config();
        let origins = match cfg
            .vhost_named(&key.vhost)
            .or_else(|| cfg.vhost(&key.vhost))
        {
            Some(v) if v.cluster.edge && !v.cluster.origins.is_empty() => v.cluster.origins.clone(),
            _ => {
                warn!(stream = %key, "edge: the vhost is no edge any more, not pulling");
                return Stop::GiveUp;
            }
        };
        // An encoder publishing this stream here is the stream: nothing to pull.
        if publisher.is_none() && streams.is_publishing(key) {
            let deadline = Instant::now() + Duration::from_secs(1);
            tokio::select! {
                _ = sleep_until(deadline) => {}
                _ = wanted.changed() => {}
            }
            continue;
        }
        let origin = origins[next % origins.len()].clone();
        pull.status.set(&origin, "connecting");
        // The player's params (from its stream name and tcUrl) go to the origin.
        let req = pull
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let upstream_name = relay::upstream_stream(&req.stream, &req.tc_url);
        let opened = tokio::select! {
            r = relay::open(&origin, key, &upstream_name, Mode::Play, &req.page_url) => Some(r),
            _ = wanted.wait_for(|w| !*w) => None,
        };
        let end = match opened {
            // Nobody wants it any more: the grace check above decides.
            None => continue,
            Some(Err(e)) => End::Failed(e),
            Some(Ok(client)) => {
                info!(origin = %origin, "edge: upstream playing");
                pull.status.set(&origin, "waiting");
                backoff.reset();
                failed_in_round = 0;
                round_errors.clear();
                pump(pull, client, &origin, streams, &mut wanted, &mut publisher).await
            }
        };
        match end {
            End::Unwanted => {
                info!(origin = %origin, grace_ms = EDGE_GRACE.as_millis() as u64,
                    "edge: no player for the grace period, upstream closed");
                return Stop::Done;
            }
            End::Failed(e) => {
                warn!(origin = %origin, stream = %key, "edge: origin failed: {e}");
                pull.status.failed(&origin, &e.to_string());
                round_errors.push(format!("{origin}: {e}"));
            }
            End::Idle => {
                warn!(origin = %origin, stream = %key, idle_s = UPSTREAM_IDLE.as_secs(),
                    "edge: origin sent nothing, trying the next");
                pull.status.failed(&origin, "no media from the origin");
                round_errors.push(format!("{origin}: no media"));
            }
        }
        next += 1;
        failed_in_round += 1;
        if failed_in_round >= origins.len() {
            failed_in_round = 0;
            // No origin has it now: the players are told the stream is gone.
            if publisher.take().is_some() {
                pull.live_ms.store(0, std::sync::atomic::Ordering::Relaxed);
            }
            streams.pull_failed(key, round_errors.join("; "));
            round_errors.clear();
            let delay = backoff.next_delay();
            pull.status.set(&origin, "retrying");
            let deadline = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = sleep_until(deadline) => break,
                    r = wanted.changed() => if r.is_err() { return Stop::Done },
                }
            }
        }
    }
}

/// Read the upstream into the stream's ring until it fails, goes quiet or nobody wants
/// the stream for the grace period.
async fn pump(
    pull: &Pull,
    mut client: srs_client::Client,
    origin: &str,
    streams: &Arc<Streams>,
    wanted: &mut watch::Receiver<bool>,
    publisher: &mut Option<Publisher>,
) -> End {
    let key = &pull.request.key;
    let base = pull.status.totals();
    let mut unwanted_since: Option<Instant> = (!*wanted.borrow()).then(Instant::now);
    let mut last_media = Instant::now();
    loop {
        let grace_end = unwanted_since.map(|t| t + EDGE_GRACE);
        tokio::select! {
            r = client.read() => {
                let packet = match r {
                    Ok(p) => p,
                    Err(e) => return End::Failed(e),
                };
                pull.status.bytes(base, &client);
                match packet {
                    Packet::Media { type_id, timestamp, payload } => {
                        last_media = Instant::now();
                        if publisher.is_none() {
                            let who = srs_ipc::control::PublisherInfo {
                                cid: pull.cid.clone(),
                                peer: origin.to_string(),
                                name: pull.request.stream.clone(),
                                tc_url: pull.request.tc_url.clone(),
                            };
                            match streams.publish_from(key, who) {
                                Ok(p) => {
                                    info!(origin = %origin, "edge: stream live from the origin");
                                    pull.status.set(origin, "active");
                                    pull.live_ms.store(
                                        std::time::SystemTime::now()
                                            .duration_since(std::time::UNIX_EPOCH)
                                            .map_or(0, |d| d.as_millis() as u64),
                                        std::sync::atomic::Ordering::Relaxed,
                                    );
                                    *publisher = Some(p);
                                }
                                // An encoder published it here meanwhile: it wins.
                                Err(PublishError::Busy(..)) => {
                                    info!("edge: the stream is published here, upstream closed");
                                    return End::Unwanted;
                                }
                                Err(e @ PublishError::Ring(..)) => {
                                    warn!("edge: {e}");
                                    return End::Failed(ClientError::Closed);
                                }
                            }
                        }
                        pull.info.note(type_id, &payload);
                        if let Some(p) = publisher.as_mut() {
                            p.push(type_id, timestamp, payload);
                        }
                    }
                    Packet::Status { code, description, .. } => {
                        if code == "NetStream.Play.UnpublishNotify" {
                            if publisher.take().is_some() {
                                info!(origin = %origin, "edge: the origin's publisher left; players wait");
                                pull.live_ms.store(0, std::sync::atomic::Ordering::Relaxed);
                                pull.status.set(origin, "waiting");
                            }
                            last_media = Instant::now();
                        } else if code.ends_with(".Failed") || code.ends_with(".StreamNotFound") {
                            return End::Failed(ClientError::Refused { code, description });
                        }
                    }
                }
            }
            _ = sleep_until(last_media + UPSTREAM_IDLE) => return End::Idle,
            _ = async {
                match grace_end {
                    Some(t) => sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => return End::Unwanted,
            r = wanted.changed() => {
                if r.is_err() {
                    return End::Unwanted;
                }
                let w = *wanted.borrow();
                unwanted_since = if w { None } else { Some(Instant::now()) };
            }
        }
    }
}
