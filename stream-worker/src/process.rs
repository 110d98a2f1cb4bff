//! A stream worker process of the tree (DESIGN.md): accepts RTMP on the listening sockets
//! the master bound (inherited descriptors, or sent later on the control link when a reload
//! adds a port), serves players from rings mirrored into its local sources, hands
//! publishers to backsource, and answers its private API.

use crate::handover::Handover;
use crate::mirror::Mirrors;
use crate::server::{self, WorkerContext};
use srs_backsource::Hub;
use srs_conf::Config;
use srs_ipc::control::{ApiRequest, ApiResponse, FromMaster, Role, ToMaster, WorkerStats};
use srs_ipc::counters::SharedCounters;
use srs_ipc::link::{self, Link};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

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

fn stats(ctx: &WorkerContext) -> WorkerStats {
    let (bytes_in, bytes_out) = ctx.totals();
    WorkerStats {
        connections: ctx.connections() as u64,
        streams: ctx.hub.len() as u64,
        bytes_in,
        bytes_out,
        rss_kib: link::own_rss_kib(),
    }
}

fn answer(ctx: &WorkerContext, req: ApiRequest) -> ApiResponse {
    match req {
        ApiRequest::Stats => ApiResponse::Stats(stats(ctx)),
        ApiRequest::Streams => ApiResponse::Streams(
            ctx.hub
                .keys()
                .into_iter()
                .map(|k| {
                    let n = ctx.hub.players(&k) as u64;
                    (k.to_string(), n)
                })
                .collect(),
        ),
        ApiRequest::Clients => ApiResponse::Clients(ctx.client_list()),
        ApiRequest::Kick(cid) => ApiResponse::Kicked(ctx.kick(&cid)),
        ApiRequest::StreamDetails => ApiResponse::StreamDetails(Vec::new()),
    }
}

/// Run a stream worker until the master says stop (or goes away).
pub async fn run(
    config: Config,
    index: u32,
    listeners: Vec<std::net::TcpListener>,
    paths: Paths,
) -> io::Result<()> {
    let hub = Hub::new();
    let mirrors = Mirrors::new(hub.clone());
    let mut ctx = WorkerContext::with(
        Arc::new(config),
        hub,
        Some(Handover {
            socket_path: paths.handover_socket.clone(),
        }),
        Some(mirrors.clone()),
    );
    match SharedCounters::open(&paths.counters) {
        Ok(c) => ctx.share_counts(c, index as usize),
        Err(e) => {
            warn!("no shared connection counts ({e}): max_connections counts this worker only")
        }
    }
    let api = TcpListener::bind("127.0.0.1:0").await?;
    let api_port = api.local_addr()?.port();
    {
        let ctx = ctx.clone();
        tokio::spawn(link::serve_api(api, move |req| answer(&ctx, req)));
    }
    let mut master = Link::connect(&paths.master_socket).await?;
    master
        .send(&ToMaster::Register {
            role: Role::StreamWorker,
            index,
            pid: std::process::id(),
            api_port,
        })
        .await?;
    for l in listeners {
        server::spawn_listener(l, ctx.clone())?;
    }
    info!(index, api_port, "stream worker ready");
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = heartbeat.tick() => master.send(&ToMaster::Heartbeat(stats(&ctx))).await?,
            msg = master.recv::<FromMaster>() => match msg? {
                None => {
                    warn!("master went away, stopping");
                    return Ok(());
                }
                Some(FromMaster::Welcome { streams }) => {
                    for up in streams {
                        mirrors.stream_up(up);
                    }
                }
                Some(FromMaster::StreamUp(up)) => mirrors.stream_up(up),
                Some(FromMaster::StreamDown(id)) => mirrors.stream_down(&id),
                Some(FromMaster::Listen(addrs)) => {
                    // The descriptors came with the message, one per address.
                    for addr in addrs {
                        match master.take_fd() {
                            Some(fd) => {
                                let l = std::net::TcpListener::from(fd);
                                if let Err(e) = server::spawn_listener(l, ctx.clone()) {
                                    error!(%addr, "cannot accept on the new port: {e}");
                                }
                            }
                            None => error!(%addr, "new port announced without its socket"),
                        }
                    }
                }
                Some(FromMaster::Reload) => match &paths.config {
                    Some(p) => match Config::load(p) {
                        Ok(c) => {
                            ctx.hub.reconfigure(|k| c.vhost(&k.vhost).map(srs_backsource::publish::source_config));
                            ctx.set_config(Arc::new(c));
                            info!("config reloaded");
                        }
                        Err(e) => error!("reload failed, keeping the running config: {e}"),
                    },
                    None => info!("running on the built-in config, nothing to reload"),
                },
                Some(FromMaster::Stop { graceful, grace_ms }) => {
                    ctx.stop_accepting();
                    if graceful {
                        info!(grace_ms, connections = ctx.connections(), "graceful stop: no new clients, players may finish");
                        let deadline = tokio::time::Instant::now() + Duration::from_millis(grace_ms);
                        while ctx.connections() > 0 && tokio::time::Instant::now() < deadline {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    info!(connections = ctx.connections(), "stopping");
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}
