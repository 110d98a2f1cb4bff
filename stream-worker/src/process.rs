//! A stream worker process of the tree (DESIGN.md): accepts RTMP on the listening sockets
//! the master bound (inherited descriptors, or sent later on the control link when a reload
//! adds a port), serves players from rings mirrored into its local sources, hands
//! publishers to backsource, and answers its private API. The plumbing it shares with
//! httpd is `srs_live::reader`.

use crate::handover::HandOver;
use crate::server::{self, WorkerContext};
use srs_conf::Config;
use srs_ipc::control::{ClientInfo, Role};
use srs_ipc::counters::SharedCounters;
use srs_ipc::handover::HandoverLimits;
use srs_live::mirror::Mirrors;
use srs_live::reader::{self, Reader, ReaderPaths};
use srs_live::{Demands, Hub};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Where the process finds its peers.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (None: the built-in one).
    pub config: Option<PathBuf>,
    /// The master's control socket.
    pub master_socket: PathBuf,
    /// Backsource's handover socket.
    pub handover_socket: PathBuf,
    /// The shared connection counters.
    pub counters: PathBuf,
}

impl Reader for WorkerContext {
    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn mirrors(&self) -> &Arc<Mirrors> {
        &self.mirrors
    }

    fn demands(&self) -> &Arc<Demands> {
        &self.demands
    }

    fn connections(&self) -> u64 {
        WorkerContext::connections(self) as u64
    }

    fn totals(&self) -> (u64, u64) {
        WorkerContext::totals(self)
    }

    fn clients(&self) -> Vec<ClientInfo> {
        self.client_list()
    }

    fn kick(&self, cid: &str) -> bool {
        WorkerContext::kick(self, cid)
    }

    fn reloaded(&self, config: Arc<Config>) {
        self.set_config(config);
    }

    fn listen(self: &Arc<Self>, listener: std::net::TcpListener) -> io::Result<()> {
        server::spawn_listener(listener, self.clone()).map(|_| ())
    }

    fn adopt(self: &Arc<Self>, index: u32, listeners: Vec<std::net::TcpListener>) {
        WorkerContext::adopt(self, index, listeners);
    }

    fn release(&self, index: u32) {
        WorkerContext::release(self, index);
    }

    async fn stop(&self, graceful: bool, grace: Duration) {
        self.stop_accepting();
        if graceful {
            info!(
                grace_ms = grace.as_millis() as u64,
                connections = WorkerContext::connections(self),
                "graceful stop: no new clients, players may finish"
            );
            let deadline = tokio::time::Instant::now() + grace;
            while WorkerContext::connections(self) > 0 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Run a stream worker until the master says stop (or goes away).
pub async fn run(
    config: Config,
    index: u32,
    listeners: Vec<std::net::TcpListener>,
    paths: Paths,
) -> io::Result<()> {
    let publishers = HandOver::new(paths.handover_socket.clone(), HandoverLimits::default());
    let mut ctx = WorkerContext::new(Arc::new(config), Arc::new(publishers));
    match SharedCounters::open(&paths.counters) {
        Ok(c) => ctx.share_counts(c, index as usize),
        Err(e) => {
            warn!("no shared connection counts ({e}): max_connections counts this worker only")
        }
    }
    for l in listeners {
        server::spawn_listener(l, ctx.clone())?;
    }
    reader::run(
        ctx,
        Role::StreamWorker,
        index,
        ReaderPaths {
            config: paths.config,
            master_socket: paths.master_socket,
        },
    )
    .await
}
