//! The plumbing every reader process (stream worker, httpd) shares: its private API on
//! 127.0.0.1, registering with the master and a heartbeat every second, stream
//! announcements turned into ring mirrors, reloads and stops. A role supplies only what
//! differs ([`Reader`]).

use crate::demand::{DemandEvent, Demands};
use crate::mirror::Mirrors;
use crate::source::{Hub, SourceConfig};
use srs_conf::Config;
use srs_ipc::control::{
    ApiRequest, ApiResponse, ClientInfo, FromMaster, Role, StreamUp, ToMaster, WorkerStats,
};
use srs_ipc::link::{self, Link};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{error, info, warn};

/// How often a reader reports to the master (the master counts a silent child as hung
/// after a few of these).
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Where a reader process finds its peers.
#[derive(Debug, Clone)]
pub struct ReaderPaths {
    /// The config file it reloads (None: the built-in one, nothing to reload).
    pub config: Option<PathBuf>,
    /// The master's control socket.
    pub master_socket: PathBuf,
}

/// What a reader role adds to the common plumbing.
pub trait Reader: Send + Sync + 'static {
    /// The process's local sources.
    fn hub(&self) -> &Arc<Hub>;
    /// The ring mirrors feeding them.
    fn mirrors(&self) -> &Arc<Mirrors>;
    /// The streams of edge vhosts its players want.
    fn demands(&self) -> &Arc<Demands>;
    /// Open client connections.
    fn connections(&self) -> u64;
    /// Bytes received from and sent to clients since start.
    fn totals(&self) -> (u64, u64);
    /// Every client, for the API.
    fn clients(&self) -> Vec<ClientInfo>;
    /// Close a client by id; false if it is not here.
    fn kick(&self, cid: &str) -> bool;
    /// A reload loaded `config` (sources already reconfigured).
    fn reloaded(&self, config: Arc<Config>);
    /// A stream was (re)published; called before its mirror may start, so that a player
    /// made here waits for the publish from its first message.
    fn stream_up(self: &Arc<Self>, _up: &StreamUp) {}
    /// Accept on one more listening socket (a reload added a port).
    fn listen(self: &Arc<Self>, _listener: std::net::TcpListener) -> io::Result<()> {
        Ok(())
    }
    /// Accept on worker `index`'s sockets too, until [`release`](Self::release): it is
    /// down, and the connections queued on them must not wait for it.
    fn adopt(self: &Arc<Self>, _index: u32, _listeners: Vec<std::net::TcpListener>) {}
    /// Stop accepting on worker `index`'s sockets: it is back.
    fn release(&self, _index: u32) {}
    /// Stop: no new clients; when graceful, let the current ones finish for up to `grace`.
    fn stop(&self, graceful: bool, grace: Duration) -> impl Future<Output = ()> + Send;
}

/// The counters a reader reports.
pub fn stats<R: Reader>(r: &R) -> WorkerStats {
    let (bytes_in, bytes_out) = r.totals();
    WorkerStats {
        connections: r.connections(),
        streams: r.hub().len() as u64,
        bytes_in,
        bytes_out,
        rss_kib: link::own_rss_kib(),
    }
}

/// A reader's answer to its private API.
pub fn answer<R: Reader>(r: &R, req: ApiRequest) -> ApiResponse {
    match req {
        ApiRequest::Stats => ApiResponse::Stats(stats(r)),
        ApiRequest::Streams => ApiResponse::Streams(
            r.hub()
                .keys()
                .into_iter()
                .map(|k| {
                    let n = r.hub().players(&k) as u64;
                    (k.to_string(), n)
                })
                .collect(),
        ),
        ApiRequest::Clients => ApiResponse::Clients(r.clients()),
        ApiRequest::Kick(cid) => ApiResponse::Kicked(r.kick(&cid)),
        // Stream details are backsource's (it holds the publishers).
        ApiRequest::StreamDetails => ApiResponse::StreamDetails(Vec::new()),
    }
}

/// Run the reader `r` as process `role` number `index` until the master says stop (or goes
/// away).
pub async fn run<R: Reader>(
    r: Arc<R>,
    role: Role,
    index: u32,
    paths: ReaderPaths,
) -> io::Result<()> {
    let api = TcpListener::bind("127.0.0.1:0").await?;
    let api_port = api.local_addr()?.port();
    {
        let r = r.clone();
        tokio::spawn(link::serve_api(api, move |req| answer(&*r, req)));
    }
    let mut master = Link::connect(&paths.master_socket).await?;
    master
        .send(&ToMaster::Register {
            role,
            index,
            pid: std::process::id(),
            api_port,
        })
        .await?;
    info!(index, api_port, "{} ready", role.name());
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    let mut demands = r.demands().attach();
    loop {
        tokio::select! {
            Some(d) = demands.recv() => master.send(&match d {
                DemandEvent::Want(req) => ToMaster::Want(req),
                DemandEvent::Unwant(key) => ToMaster::Unwant(key),
            }).await?,
            _ = heartbeat.tick() => master.send(&ToMaster::Heartbeat(stats(&*r))).await?,
            msg = master.recv::<FromMaster>() => match msg? {
                None => {
                    warn!("master went away, stopping");
                    return Ok(());
                }
                Some(FromMaster::Welcome { streams }) => {
                    for up in streams {
                        r.stream_up(&up);
                        r.mirrors().stream_up(up);
                    }
                }
                Some(FromMaster::StreamUp(up)) => {
                    r.stream_up(&up);
                    r.mirrors().stream_up(up);
                }
                Some(FromMaster::StreamDown(key)) => r.mirrors().stream_down(&key),
                Some(FromMaster::PullFailed { key, reason }) => r.demands().fail(&key, &reason),
                Some(FromMaster::Listen(addrs)) => {
                    // The descriptors came with the message, one per address.
                    for addr in addrs {
                        match master.take_fd() {
                            Some(fd) => {
                                if let Err(e) = r.listen(std::net::TcpListener::from(fd)) {
                                    error!(%addr, "cannot accept on the new port: {e}");
                                }
                            }
                            None => error!(%addr, "new port announced without its socket"),
                        }
                    }
                }
                Some(FromMaster::Adopt { index, addrs }) => {
                    let listeners: Vec<std::net::TcpListener> = addrs
                        .iter()
                        .filter_map(|addr| match master.take_fd() {
                            Some(fd) => Some(std::net::TcpListener::from(fd)),
                            None => {
                                error!(%addr, index, "adopted port without its socket");
                                None
                            }
                        })
                        .collect();
                    r.adopt(index, listeners);
                }
                Some(FromMaster::Release { index }) => r.release(index),
                Some(FromMaster::Reload) => reload(&*r, paths.config.as_ref()),
                Some(FromMaster::Stop { graceful, grace_ms }) => {
                    r.stop(graceful, Duration::from_millis(grace_ms)).await;
                    info!(connections = r.connections(), "stopping");
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}

/// Load the config again (the master validated it); sources take their vhost's new
/// settings at once, new clients the whole config.
fn reload<R: Reader>(r: &R, path: Option<&PathBuf>) {
    let Some(p) = path else {
        info!("running on the built-in config, nothing to reload");
        return;
    };
    match Config::load(p) {
        Ok(c) => {
            r.hub()
                .reconfigure(|k| c.vhost(&k.vhost).map(SourceConfig::of));
            r.reloaded(Arc::new(c));
            info!("config reloaded");
        }
        Err(e) => error!("reload failed, keeping the running config: {e}"),
    }
}
