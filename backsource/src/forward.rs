//! Relays of a published stream to other servers: `forward` (every destination gets every
//! stream of the vhost) and an edge's push to its origin (an encoder publishing to an edge).
//!
//! A relay reads the stream like a player: the publisher hands every message to a local
//! source beside the ring ([`crate::streams::Publisher::tap`]), and each relay has its own
//! cursor there. A destination that is slow skips whole GOPs in its own cursor; the
//! encoder and the other relays never wait for it. After a reconnect the relay starts over
//! as a new player does: metadata and sequence headers first, then the stream from its
//! newest keyframe.
//!
//! Reconnects go through the relay's list of servers in order (one destination for a
//! forward, the origins for an edge push), with [`Backoff`] between rounds.

use crate::relay::{self, Backoff, Mode, RelayStatus};
use srs_client::{Client, ClientError};
use srs_ipc::control::StreamKey;
use srs_live::{Hub, PlayEvent, Player, SourceConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};
use tracing::{info, info_span, warn, Instrument};

/// Longest a write to a destination may take: past it the destination is too slow (or
/// gone), and the relay reconnects.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Most messages taken per wake-up.
const BATCH: usize = 256;

/// What one relay sends where.
#[derive(Debug, Clone)]
pub struct Target {
    /// The stream.
    pub key: StreamKey,
    /// Stream name to publish (with the publisher's query).
    pub stream: String,
    /// Servers, tried in order (`host:port`).
    pub servers: Vec<String>,
    /// `forward` or `push`.
    pub kind: &'static str,
}

/// Settings of the local source relays read from: the GOP cache (a relay that reconnects
/// starts at a keyframe) and how far a relay may lag before it skips ahead.
pub fn source_config() -> SourceConfig {
    SourceConfig {
        gop_cache: true,
        queue_length: Duration::from_secs(10),
    }
}

/// Start a relay of `target`, reading the stream through `player` (made before the feed
/// started, so it gets the publish from its first message). `first` is an upstream already
/// connected and publishing (an edge push opens it before it accepts the encoder). It
/// ends when the stream's publish ends (`live` goes false).
pub fn spawn(
    hub: Arc<Hub>,
    target: Target,
    player: Player,
    first: Option<(Client, usize)>,
    live: Arc<AtomicBool>,
    status: Arc<RelayStatus>,
) {
    let span = info_span!("relay", kind = target.kind, stream = %target.key);
    tokio::spawn(
        async move {
            run(&hub, &target, player, first, &live, &status).await;
        }
        .instrument(span),
    );
}

async fn run(
    hub: &Arc<Hub>,
    target: &Target,
    mut player: Player,
    mut first: Option<(Client, usize)>,
    live: &AtomicBool,
    status: &RelayStatus,
) {
    let mut next = 0usize;
    let mut backoff = Backoff::default();
    let mut failed_in_round = 0usize;
    let mut fresh = false;
    while live.load(Ordering::Relaxed) {
        let (client, at) = match first.take() {
            Some(c) => c,
            None => {
                let server = &target.servers[next % target.servers.len()];
                status.set(server, "connecting");
                match relay::open(server, &target.key, &target.stream, Mode::Publish, "").await {
                    Ok(c) => (c, next % target.servers.len()),
                    Err(e) => {
                        warn!(server = %server, "{}: cannot publish there: {e}", target.kind);
                        status.failed(server, &e.to_string());
                        // What piled up meanwhile is stale: the connection that works
                        // starts from the headers and the newest keyframe.
                        fresh = true;
                        next += 1;
                        failed_in_round += 1;
                        if failed_in_round >= target.servers.len() {
                            failed_in_round = 0;
                            wait_while_live(backoff.next_delay(), live).await;
                        }
                        continue;
                    }
                }
            }
        };
        let server = target.servers[at].clone();
        next = at;
        if !live.load(Ordering::Relaxed) {
            // The publish ended while this connection was being made.
            client.close(&target.stream).await;
            return;
        }
        if fresh {
            // A new connection starts as a new player: headers, then the newest keyframe.
            player = hub.play(&target.key, source_config());
        }
        fresh = true;
        info!(server = %server, "{}: publishing", target.kind);
        status.set(&server, "active");
        backoff.reset();
        failed_in_round = 0;
        let connected = Instant::now();
        match pump(client, &mut player, status, target, live).await {
            Ok(()) => {
                info!(server = %server, "{}: the stream ended, relay closed", target.kind);
                return;
            }
            Err(e) => {
                warn!(server = %server, "{}: connection lost: {e}", target.kind);
                status.failed(&server, &e.to_string());
                next += 1;
                failed_in_round += 1;
                // After a long healthy connection the next try goes at once (to the next
                // server, if any); one that keeps dropping soon after it is made backs off.
                if connected.elapsed() < Duration::from_secs(10) || target.servers.len() == 1 {
                    failed_in_round = 0;
                    wait_while_live(backoff.next_delay(), live).await;
                }
            }
        }
    }
}

async fn wait_while_live(delay: Duration, live: &AtomicBool) {
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline && live.load(Ordering::Relaxed) {
        sleep(Duration::from_millis(100).min(deadline - Instant::now())).await;
    }
}

/// Send what the player gets until the publish ends (`Ok`) or the connection fails.
async fn pump(
    mut client: Client,
    player: &mut Player,
    status: &RelayStatus,
    target: &Target,
    live: &AtomicBool,
) -> Result<(), ClientError> {
    let base = status.totals();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = player.changed() => {}
            _ = check.tick() => {
                if !live.load(Ordering::Relaxed) {
                    client.close(&target.stream).await;
                    return Ok(());
                }
                continue;
            }
            r = client.readable() => {
                r.map_err(|e| ClientError::Io { what: "read", source: e })?;
                client.drain_input()?;
                continue;
            }
        }
        let mut ended = false;
        for ev in player.poll(BATCH, 1 << 20) {
            match ev {
                PlayEvent::Media(msgs) => {
                    for m in msgs {
                        client.queue(m.type_id, m.timestamp, &m.payload);
                    }
                }
                PlayEvent::Unpublished => ended = true,
                PlayEvent::Published => {}
            }
        }
        timeout(WRITE_TIMEOUT, client.flush())
            .await
            .map_err(|_| ClientError::Timeout("a write (the server reads too slowly)"))??;
        client.drain_input()?;
        status.bytes(base, &client);
        if ended {
            client.close(&target.stream).await;
            return Ok(());
        }
    }
}
