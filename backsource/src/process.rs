//! The backsource process of the tree (DESIGN.md): owns every live stream of the node. It
//! takes publishing connections over from the stream workers (descriptor + session state on
//! `backsource.sock`), runs them, writes each stream into its ring, and announces streams
//! to the master, which tells the workers.

use crate::publish::{self, ConnStats, HandoverFrame, PublishInfo};
use crate::{Hub, HubEvent, RingSink};
use srs_conf::Config;
use srs_ipc::control::{
    ApiRequest, ApiResponse, ClientInfo, FromMaster, Role, StreamDetail, StreamId, StreamUp,
    ToMaster, WorkerStats,
};
use srs_ipc::link::{self, Link};
use srs_ipc::ring::RingConfig;
use srs_protocol::session::ServerSession;
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, UnixListener};
use tracing::{error, info, info_span, warn, Instrument};

/// Where the process finds its peers and files.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config file (None: the built-in one).
    pub config: Option<PathBuf>,
    /// The master's control socket.
    pub master_socket: PathBuf,
    /// Where to listen for handovers.
    pub handover_socket: PathBuf,
    /// Where ring files go.
    pub ring_dir: PathBuf,
}

/// A publisher this process runs, for the private API.
#[derive(Debug)]
struct Client {
    peer: String,
    key: crate::StreamKey,
    tc_url: String,
    since: Instant,
    live_ms: u64,
    stats: Arc<ConnStats>,
    info: Arc<PublishInfo>,
}

type Clients = Arc<Mutex<HashMap<String, Client>>>;

fn lock(c: &Clients) -> std::sync::MutexGuard<'_, HashMap<String, Client>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

fn stream_id(k: &crate::StreamKey) -> StreamId {
    StreamId {
        vhost: k.vhost.clone(),
        app: k.app.clone(),
        stream: k.stream.clone(),
    }
}

/// Geometry of a stream's ring for `ring_size` bytes of data (16 MiB by default: several
/// GOPs of a high-bitrate stream, which is all a worker's mirror needs, its players' queues
/// living in the worker). An index slot per page of data (4096 at 16 MiB), within
/// 1024..=65536. 256 KiB for each header kept aside: sequence headers are bytes to a few
/// KiB and metadata a few KiB (a larger one still goes through the ring, it is only not
/// kept aside). The pages are reserved and mapped at publish (see RingWriter::create):
/// this is the stream's memory.
fn ring_config(ring_size: u64) -> RingConfig {
    let data_bytes = ring_size.max(1 << 20).next_multiple_of(4096);
    let slots = (data_bytes / 4096).clamp(1024, 65536).next_power_of_two();
    RingConfig {
        index_slots: u32::try_from(slots).unwrap_or(65536),
        data_bytes,
        aside_bytes: 256 << 10,
    }
}

/// Run backsource until the master says stop (or goes away).
pub async fn run(config: Config, paths: Paths) -> io::Result<()> {
    let ring = ring_config(config.ring_size);
    let config = Arc::new(Mutex::new(Arc::new(config)));
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let hub = Hub::with_rings(RingSink {
        dir: paths.ring_dir.clone(),
        config: ring,
        events: events_tx,
    });
    let clients: Clients = Arc::default();

    let _ = std::fs::remove_file(&paths.handover_socket);
    let handovers = UnixListener::bind(&paths.handover_socket)?;
    let api = TcpListener::bind("127.0.0.1:0").await?;
    let api_port = api.local_addr()?.port();
    {
        let hub = hub.clone();
        let clients = clients.clone();
        tokio::spawn(link::serve_api(api, move |req| answer(&hub, &clients, req)));
    }
    let mut master = Link::connect(&paths.master_socket).await?;
    master
        .send(&ToMaster::Register {
            role: Role::Backsource,
            index: 0,
            pid: std::process::id(),
            api_port,
        })
        .await?;
    info!(api_port, socket = %paths.handover_socket.display(), "backsource ready");

    {
        let hub = hub.clone();
        let config = config.clone();
        let clients = clients.clone();
        tokio::spawn(accept_handovers(handovers, hub, config, clients));
    }
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            ev = events_rx.recv() => {
                let msg = match ev {
                    Some(HubEvent::Up { key, ring, generation }) => ToMaster::StreamUp(StreamUp { id: stream_id(&key), ring, generation }),
                    Some(HubEvent::Down(key)) => ToMaster::StreamDown(stream_id(&key)),
                    None => continue,
                };
                master.send(&msg).await?;
            }
            _ = heartbeat.tick() => master.send(&ToMaster::Heartbeat(stats(&hub, &clients))).await?,
            msg = master.recv::<FromMaster>() => match msg? {
                None => {
                    warn!("master went away, stopping");
                    return Ok(());
                }
                Some(FromMaster::Reload) => match &paths.config {
                    Some(p) => match Config::load(p) {
                        Ok(c) => {
                            hub.reconfigure(|k| c.vhost(&k.vhost).map(publish::source_config));
                            *config.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(c);
                            info!("config reloaded");
                        }
                        Err(e) => error!("reload failed, keeping the running config: {e}"),
                    },
                    None => {}
                },
                Some(FromMaster::Stop { graceful, grace_ms }) => {
                    if graceful {
                        info!(grace_ms, "graceful stop: publishers go on for the grace period");
                        tokio::time::sleep(Duration::from_millis(grace_ms)).await;
                    }
                    info!("stopping");
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}

fn stats(hub: &Hub, clients: &Clients) -> WorkerStats {
    // One lock for the whole snapshot (a second lock in the same expression would deadlock).
    let c = lock(clients);
    WorkerStats {
        connections: c.len() as u64,
        streams: hub.publishing().len() as u64,
        bytes_in: c.values().map(|c| c.stats.bytes_in()).sum(),
        bytes_out: c.values().map(|c| c.stats.bytes_out()).sum(),
        rss_kib: link::own_rss_kib(),
    }
}

/// Kick switches of the publishers, by cid.
fn lock_kicks() -> std::sync::MutexGuard<'static, HashMap<String, Arc<tokio::sync::Notify>>> {
    static KICKS: std::sync::OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Notify>>>> =
        std::sync::OnceLock::new();
    KICKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn kick(cid: &str) -> bool {
    match lock_kicks().get(cid) {
        Some(n) => {
            n.notify_one();
            true
        }
        None => false,
    }
}

fn answer(hub: &Hub, clients: &Clients, req: ApiRequest) -> ApiResponse {
    match req {
        ApiRequest::Stats => ApiResponse::Stats(stats(hub, clients)),
        ApiRequest::Streams => ApiResponse::Streams(
            hub.publishing()
                .iter()
                .map(|k| (k.to_string(), 1))
                .collect(),
        ),
        ApiRequest::Clients => ApiResponse::Clients(
            lock(clients)
                .iter()
                .map(|(cid, c)| ClientInfo {
                    cid: cid.clone(),
                    peer: c.peer.clone(),
                    kind: "publish".into(),
                    stream: c.key.to_string(),
                    alive_s: c.since.elapsed().as_secs(),
                    bytes_in: c.stats.bytes_in(),
                    bytes_out: c.stats.bytes_out(),
                })
                .collect(),
        ),
        ApiRequest::Kick(cid) => ApiResponse::Kicked(kick(&cid)),
        ApiRequest::StreamDetails => ApiResponse::StreamDetails(
            lock(clients)
                .iter()
                .map(|(cid, c)| StreamDetail {
                    vhost: c.key.vhost.clone(),
                    app: c.key.app.clone(),
                    stream: c.key.stream.clone(),
                    tc_url: c.tc_url.clone(),
                    live_ms: c.live_ms,
                    frames: c.info.frames.load(std::sync::atomic::Ordering::Relaxed),
                    recv_bytes: c.stats.bytes_in(),
                    publisher_cid: cid.clone(),
                    video: c
                        .info
                        .video
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                    audio: c
                        .info
                        .audio
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                })
                .collect(),
        ),
    }
}

async fn accept_handovers(
    listener: UnixListener,
    hub: Arc<Hub>,
    config: Arc<Mutex<Arc<Config>>>,
    clients: Clients,
) {
    loop {
        let sock = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("handover accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let hub = hub.clone();
        let config = config.clone();
        let clients = clients.clone();
        tokio::spawn(async move {
            if let Err(e) = take_over(sock, hub, config, clients).await {
                warn!("handover failed: {e}");
            }
        });
    }
}

/// Receive one handed-over publisher and run it.
async fn take_over(
    sock: tokio::net::UnixStream,
    hub: Arc<Hub>,
    config: Arc<Mutex<Arc<Config>>>,
    clients: Clients,
) -> io::Result<()> {
    let mut link = Link::new(sock);
    let frame: HandoverFrame = link
        .recv()
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no handover frame"))?;
    let fd = link.take_fd().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "handover frame without a socket",
        )
    })?;
    let socket = std::net::TcpStream::from(fd);
    socket.set_nonblocking(true)?;
    let socket = tokio::net::TcpStream::from_std(socket)?;
    let req = frame.request;
    let span = info_span!("conn", cid = %req.cid);
    // The worker lets go of the socket once we confirm we hold it: one byte.
    link.send_raw(&[1]).await?;
    drop(link);
    async move {
        let session = match ServerSession::import(frame.state) {
            Ok(s) => s,
            Err(e) => {
                warn!("closed: bad handed-over state: {e}");
                return;
            }
        };
        let cfg = config.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(vhost) = cfg
            .vhost_named(&req.key.vhost)
            .or_else(|| cfg.vhost(&req.key.vhost))
            .cloned()
        else {
            warn!("closed: vhost {} is gone from the config", req.key.vhost);
            return;
        };
        info!(peer = %req.peer, stream = %req.key, "publisher taken over from a stream worker");
        let stats = Arc::new(ConnStats::default());
        let info = Arc::new(PublishInfo::default());
        let kicked = Arc::new(tokio::sync::Notify::new());
        lock(&clients).insert(
            req.cid.clone(),
            Client {
                peer: req.peer.clone(),
                key: req.key.clone(),
                tc_url: req.tc_url.clone(),
                since: Instant::now(),
                live_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                stats: stats.clone(),
                info: info.clone(),
            },
        );
        lock_kicks().insert(req.cid.clone(), kicked.clone());
        let cid = req.cid.clone();
        let served = tokio::select! {
            r = publish::serve(socket, session, req, &vhost, &hub, &stats, Some(&info)) => r,
            _ = kicked.notified() => Err(publish::ConnError::Rejected("kicked by the API".into())),
        };
        lock_kicks().remove(&cid);
        match served {
            Ok(()) => info!("closed"),
            Err(publish::ConnError::Rejected(why)) => warn!("closed: rejected: {why}"),
            Err(e) => warn!("closed: {e}"),
        }
        lock(&clients).remove(&cid);
    }
    .instrument(span)
    .await;
    Ok(())
}

#[cfg(test)]
mod ring_tests {
    use super::ring_config;

    #[test]
    fn ring_geometry_follows_ring_size() {
        let d = ring_config(srs_conf::DEFAULT_RING_SIZE);
        assert_eq!((d.data_bytes, d.index_slots), (16 << 20, 4096));
        let small = ring_config(1 << 20);
        assert_eq!((small.data_bytes, small.index_slots), (1 << 20, 1024));
        let big = ring_config(4096 << 20);
        assert_eq!((big.data_bytes, big.index_slots), (4096 << 20, 65536));
        for c in [d, small, big, ring_config(3 << 20 | 5)] {
            assert!(
                c.index_slots.is_power_of_two() && c.data_bytes % 4096 == 0,
                "{c:?}"
            );
        }
    }
}
