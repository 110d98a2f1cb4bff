//! The accept loops: take connections from the listening sockets, enforce
//! `max_connections`, and run each connection in its own task with a connection id on every
//! log line. Also the registry of live connections that the private API lists and kicks.

use crate::conn;
use srs_conf::Config;
use srs_ipc::control::ClientInfo;
use srs_ipc::counters::SharedCounters;
use srs_live::conn::{new_cid, ConnStats, Publishers, CID};
use srs_live::mirror::Mirrors;
use srs_live::{Demands, Hub, Player, SourceConfig, StreamKey};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{error, info, info_span, warn, Instrument};

/// One live connection, as the private API sees it.
#[derive(Debug)]
pub struct ClientEntry {
    /// Peer address.
    pub peer: String,
    /// When it connected.
    pub since: Instant,
    /// Byte counters.
    pub stats: Arc<ConnStats>,
    /// `play`/`publish` and the stream, once known.
    pub what: Mutex<(String, String)>,
    /// Woken to close the connection (kick).
    pub kick: Notify,
}

/// What every connection of a worker shares.
#[derive(Debug)]
pub struct WorkerContext {
    config: Mutex<Arc<Config>>,
    /// The live sources (local players' side).
    pub hub: Arc<Hub>,
    /// The ring mirrors feeding them.
    pub mirrors: Arc<Mirrors>,
    /// Streams of edge vhosts its players want pulled.
    pub demands: Arc<Demands>,
    /// The HTTP hook callers, per vhost.
    pub hooks: srs_hooks::HookPool,
    /// Where publishers go (backsource).
    pub publishers: Arc<dyn Publishers>,
    connections: AtomicUsize,
    clients: Mutex<HashMap<String, Arc<ClientEntry>>>,
    /// Totals of connections that ended.
    closed_stats: ConnStats,
    /// Set when the worker stops accepting (graceful stop).
    draining: AtomicBool,
    stop_accepting: watch::Sender<bool>,
    /// In the process tree: every worker's connection count, so that `max_connections`
    /// limits the whole server. (Slot `.1` is ours.)
    shared: Option<(SharedCounters, usize)>,
    /// Accept loops on the sockets of workers that are down, by their index.
    adopted: Mutex<HashMap<u32, Vec<tokio::task::JoinHandle<()>>>>,
}

impl WorkerContext {
    /// A context serving `config`, its sources fed from the rings, its publishers sent to
    /// `publishers`.
    pub fn new(config: Arc<Config>, publishers: Arc<dyn Publishers>) -> Arc<Self> {
        let hub = Hub::new();
        Arc::new(Self {
            config: Mutex::new(config),
            mirrors: Mirrors::new(hub.clone()),
            demands: Demands::new(),
            hooks: Default::default(),
            hub,
            publishers,
            connections: AtomicUsize::new(0),
            clients: Mutex::new(HashMap::new()),
            closed_stats: ConnStats::default(),
            draining: AtomicBool::new(false),
            stop_accepting: watch::channel(false).0,
            shared: None,
            adopted: Mutex::default(),
        })
    }

    /// Share connection counts with the other workers through `counters`, in slot `index`.
    pub fn share_counts(self: &mut Arc<Self>, counters: SharedCounters, index: usize) {
        counters.set(index, 0);
        if let Some(me) = Arc::get_mut(self) {
            me.shared = Some((counters, index));
        }
    }

    /// Connections open in the whole server (all workers in the tree).
    fn server_connections(&self) -> usize {
        match &self.shared {
            Some((c, _)) => c.sum() as usize,
            None => self.connections(),
        }
    }

    fn publish_count(&self) {
        if let Some((c, i)) = &self.shared {
            c.set(*i, self.connections() as u64);
        }
    }

    /// The current config (new connections pick up a reload; existing ones keep theirs).
    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the config (reload).
    pub fn set_config(&self, config: Arc<Config>) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Start playing `key`: a player on the local source, fed from the stream's ring.
    pub fn play(&self, key: &StreamKey, config: SourceConfig) -> Player {
        let player = self.hub.play(key, config);
        self.mirrors.ensure(key, Some(config));
        player
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ClientEntry>>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Describe the current connection (for the private API).
    pub fn describe(&self, cid: &str, kind: &str, stream: &str) {
        if let Some(c) = self.clients().get(cid) {
            *c.what.lock().unwrap_or_else(|e| e.into_inner()) =
                (kind.to_string(), stream.to_string());
        }
    }

    /// The live connections.
    pub fn client_list(&self) -> Vec<ClientInfo> {
        let mut v: Vec<ClientInfo> = self
            .clients()
            .iter()
            .map(|(cid, c)| {
                let (kind, stream) = c.what.lock().unwrap_or_else(|e| e.into_inner()).clone();
                ClientInfo {
                    cid: cid.clone(),
                    peer: c.peer.clone(),
                    kind: if kind.is_empty() { "idle".into() } else { kind },
                    stream,
                    alive_s: c.since.elapsed().as_secs(),
                    bytes_in: c.stats.bytes_in(),
                    bytes_out: c.stats.bytes_out(),
                }
            })
            .collect();
        v.sort_by(|a, b| a.cid.cmp(&b.cid));
        v
    }

    /// Close a connection by id; false if there is none.
    pub fn kick(&self, cid: &str) -> bool {
        match self.clients().get(cid) {
            Some(c) => {
                c.kick.notify_one();
                true
            }
            None => false,
        }
    }

    /// Bytes received and sent since start (closed connections included).
    pub fn totals(&self) -> (u64, u64) {
        let live = self.clients();
        let (mut i, mut o) = (self.closed_stats.bytes_in(), self.closed_stats.bytes_out());
        for c in live.values() {
            i += c.stats.bytes_in();
            o += c.stats.bytes_out();
        }
        (i, o)
    }

    /// Accept on worker `index`'s sockets too (it is down).
    pub fn adopt(self: &Arc<Self>, index: u32, listeners: Vec<std::net::TcpListener>) {
        let mut loops = Vec::new();
        for l in listeners {
            match spawn_listener(l, self.clone()) {
                Ok(h) => loops.push(h),
                Err(e) => error!(index, "cannot accept on a dead worker's socket: {e}"),
            }
        }
        info!(
            index,
            sockets = loops.len(),
            "accepting for a worker that is down"
        );
        let old = self
            .adopted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(index, loops);
        for h in old.into_iter().flatten() {
            h.abort();
        }
    }

    /// Stop accepting on worker `index`'s sockets (it is back). An accept in progress is
    /// cancelled without losing its connection: it stays queued for the owner.
    pub fn release(&self, index: u32) {
        let loops = self
            .adopted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&index);
        if let Some(loops) = loops {
            info!(index, "worker is back, its sockets are its own again");
            for h in loops {
                h.abort();
            }
        }
    }

    /// Stop accepting new connections (graceful stop); existing ones go on.
    pub fn stop_accepting(&self) {
        self.draining.store(true, Ordering::Relaxed);
        self.stop_accepting.send_replace(true);
    }
}

/// Gives back the connection slot and the registry entry when a connection task ends,
/// however it ends.
struct ConnectionSlot {
    ctx: Arc<WorkerContext>,
    cid: Option<String>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.ctx.connections.fetch_sub(1, Ordering::Relaxed);
        self.ctx.publish_count();
        if let Some(cid) = &self.cid {
            if let Some(c) = self.ctx.clients().remove(cid) {
                self.ctx.closed_stats.add(&c.stats);
            }
        }
    }
}

/// Accept on every listener until the process ends or stops accepting.
pub async fn run(
    listeners: Vec<std::net::TcpListener>,
    ctx: Arc<WorkerContext>,
) -> std::io::Result<()> {
    let mut tasks = Vec::new();
    for l in listeners {
        tasks.push(spawn_listener(l, ctx.clone())?);
    }
    for t in tasks {
        if let Err(e) = t.await {
            error!("accept loop ended: {e}");
        }
    }
    Ok(())
}

/// Start accepting on one more listener.
pub fn spawn_listener(
    l: std::net::TcpListener,
    ctx: Arc<WorkerContext>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    l.set_nonblocking(true)?;
    let l = TcpListener::from_std(l)?;
    info!(addr = %l.local_addr()?, "accepting RTMP connections");
    Ok(tokio::spawn(accept_loop(l, ctx)))
}

async fn accept_loop(listener: TcpListener, ctx: Arc<WorkerContext>) {
    let mut stop = ctx.stop_accepting.subscribe();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => {
                info!(addr = ?listener.local_addr().ok(), "stopped accepting");
                return;
            }
        };
        let (socket, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or a transient network error: back off instead of
                // spinning, and keep accepting.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let max = ctx.config().max_connections as usize;
        let before = ctx.server_connections();
        ctx.connections.fetch_add(1, Ordering::Relaxed);
        ctx.publish_count();
        let mut slot = ConnectionSlot {
            ctx: ctx.clone(),
            cid: None,
        };
        if before >= max {
            warn!(%peer, connections = before, max_connections = max, "too many connections, closing the new one");
            drop(socket);
            drop(slot);
            continue;
        }
        let cid = new_cid();
        let entry = Arc::new(ClientEntry {
            peer: peer.to_string(),
            since: Instant::now(),
            stats: Arc::new(ConnStats::default()),
            what: Mutex::new((String::new(), String::new())),
            kick: Notify::new(),
        });
        ctx.clients().insert(cid.clone(), entry.clone());
        slot.cid = Some(cid.clone());
        let span = info_span!("conn", cid = %cid);
        let ctx = ctx.clone();
        tokio::spawn(CID.scope(
            cid,
            async move {
                let _slot = slot;
                info!(%peer, "accepted");
                let served = tokio::select! {
                    r = conn::serve(socket, peer.to_string(), entry.stats.clone(), ctx) => r,
                    _ = entry.kick.notified() => Err(conn::ConnError::Rejected("kicked by the API".into())),
                };
                match served {
                    Ok(()) => info!("closed"),
                    Err(conn::ConnError::Rejected(why)) => warn!("closed: rejected: {why}"),
                    Err(e) => warn!("closed: {e}"),
                }
            }
            .instrument(span),
        ));
    }
}
