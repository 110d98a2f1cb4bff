//! The accept loops: take connections from the listening sockets, enforce
//! `max_connections`, and run each connection in its own task with a connection id on every
//! log line.

use crate::conn;
use rand::Rng;
use srs_backsource::Hub;
use srs_conf::Config;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, info_span, warn, Instrument};

tokio::task_local! {
    /// The id of the connection the current task serves (SRS's "cid").
    pub static CID: String;
}

/// A new connection id: 8 lowercase letters and digits, as SRS prints them.
pub fn new_cid() -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What every connection of a worker shares.
#[derive(Debug)]
pub struct WorkerContext {
    config: Mutex<Arc<Config>>,
    /// The live sources.
    pub hub: Arc<Hub>,
    connections: AtomicUsize,
}

impl WorkerContext {
    /// A context serving `config` with the sources of `hub`.
    pub fn new(config: Arc<Config>, hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Self {
            config: Mutex::new(config),
            hub,
            connections: AtomicUsize::new(0),
        })
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
}

/// Decrements the connection count when a connection task ends, however it ends.
struct ConnectionSlot(Arc<WorkerContext>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept on every listener until the process ends.
pub async fn run(
    listeners: Vec<std::net::TcpListener>,
    ctx: Arc<WorkerContext>,
) -> std::io::Result<()> {
    let mut tasks = Vec::new();
    for l in listeners {
        l.set_nonblocking(true)?;
        let l = TcpListener::from_std(l)?;
        info!(addr = %l.local_addr()?, "RTMP listening");
        tasks.push(tokio::spawn(accept_loop(l, ctx.clone())));
    }
    for t in tasks {
        if let Err(e) = t.await {
            error!("accept loop ended: {e}");
        }
    }
    Ok(())
}

async fn accept_loop(listener: TcpListener, ctx: Arc<WorkerContext>) {
    loop {
        let (socket, peer) = match listener.accept().await {
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
        let n = ctx.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = ConnectionSlot(ctx.clone());
        if n > max {
            warn!(%peer, connections = n - 1, max_connections = max, "too many connections, closing the new one");
            drop(socket);
            drop(slot);
            continue;
        }
        let cid = new_cid();
        let span = info_span!("conn", cid = %cid);
        let ctx = ctx.clone();
        tokio::spawn(
            CID.scope(
                cid,
                async move {
                    let _slot = slot;
                    info!(%peer, "accepted");
                    match conn::serve(socket, ctx).await {
                        Ok(()) => info!("closed"),
                        Err(conn::ConnError::Rejected(why)) => warn!("closed: rejected: {why}"),
                        Err(e) => warn!("closed: {e}"),
                    }
                }
                .instrument(span),
            ),
        );
    }
}
