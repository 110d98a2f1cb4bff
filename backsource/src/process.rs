//! The backsource process of the tree (DESIGN.md): owns every live stream of the node. It
//! takes publishing connections over from the stream workers (descriptor + session state on
//! `backsource.sock`), runs them, writes each stream into its ring, and announces streams
//! to the master, which tells the readers.

use crate::dvr;
use crate::edge::Pulls;
use crate::forward::{self, Target};
use crate::jobs::Jobs;
use crate::publish::{self, PublishInfo};
use crate::relay::{self, Mode, RelayStatus};
use crate::streams::{RingSizing, StreamEvent, Streams, TapSlot};
use srs_conf::Config;
use srs_conf::Vhost;
use srs_ipc::control::{
    ApiRequest, ApiResponse, ClientInfo, FromMaster, PullRequest, Role, StreamDetail, StreamKey,
    ToMaster, WorkerStats,
};
use srs_ipc::handover::{self, HandoverFrame, PublishRequest};
use srs_ipc::link::{self, Link};
use srs_live::conn::reject;
use srs_live::conn::{ConnError, ConnStats, PublishFuture, Publishers};
use srs_live::Hub;
use srs_protocol::session::ServerSession;
use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::mpsc::UnboundedReceiver;
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
    key: StreamKey,
    tc_url: String,
    since: Instant,
    live_ms: u64,
    stats: Arc<ConnStats>,
    info: Arc<PublishInfo>,
    /// Woken to close the connection (kick).
    kick: Arc<tokio::sync::Notify>,
    /// Its relays (forwards, edge push).
    relays: Vec<Arc<RelayStatus>>,
    /// Where its publisher takes a tap from (a recorder started by a reload).
    slot: Arc<TapSlot>,
    /// Whether the publisher feeds `relay_hub` (relays or a recorder read it).
    tapped: bool,
    /// Who it is, for `on_dvr`.
    hook: srs_hooks::HookClient,
}

/// The backsource role: the streams, the publishers it runs, and the config they run with.
/// The process tree runs it in its own process ([`run`]); `--single-process` runs it
/// beside a stream worker and hands it publishers in memory ([`Backsource::take`]).
#[derive(Debug)]
pub struct Backsource {
    streams: Arc<Streams>,
    clients: Mutex<HashMap<String, Client>>,
    config: Mutex<Arc<Config>>,
    /// Streams of edge vhosts pulled from their origins.
    pulls: Arc<Pulls>,
    /// Where relays (forward, edge push) read the published streams.
    relay_hub: Arc<Hub>,
    /// The HTTP hook callers, per vhost.
    hooks: Arc<srs_hooks::HookPool>,
    /// Transcoders, exec'd commands and ingesters.
    jobs: Arc<Jobs>,
    /// The recorders (DVR) running, by publisher cid, with the settings they record with.
    recorders: Mutex<HashMap<String, (srs_conf::Dvr, dvr::DvrHandle)>>,
}

impl Backsource {
    /// Backsource for `config`, writing rings in `ring_dir`. Stream announcements come out
    /// of the receiver, in order.
    pub fn new(config: Config, ring_dir: PathBuf) -> (Arc<Self>, UnboundedReceiver<StreamEvent>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let streams = Streams::new(ring_dir, RingSizing::new(config.ring_size), tx);
        let bs = Arc::new(Self {
            streams,
            clients: Mutex::default(),
            config: Mutex::new(Arc::new(config)),
            pulls: Arc::default(),
            relay_hub: Hub::new(),
            hooks: Arc::default(),
            jobs: Arc::default(),
            recorders: Mutex::default(),
        });
        (bs, rx)
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<String, Client>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stop: every job stopped (SIGTERM, SIGKILL after 1 s, their process groups too),
    /// every recording finished under its final name.
    pub async fn shutdown(&self) {
        let recs = std::mem::take(&mut *self.recorders());
        let finishing = async {
            for (_, (_, r)) in recs {
                r.finish().await;
            }
        };
        tokio::join!(self.jobs.shutdown(), finishing);
    }

    /// Start the ingesters of the config.
    pub fn start_jobs(&self) {
        self.jobs.start(&self.config());
    }

    /// Use `config` for publishers from now on; ingesters and the jobs of live streams
    /// follow it at once.
    pub fn reload(&self, config: Config) {
        self.jobs.reload(&config);
        self.streams.set_sizing(RingSizing::new(config.ring_size));
        self.reload_dvr(&config);
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    fn recorders(&self) -> MutexGuard<'_, HashMap<String, (srs_conf::Dvr, dvr::DvrHandle)>> {
        self.recorders.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record the publish `cid` of `key` that `player` reads, with `vhost`'s settings.
    fn record(
        &self,
        cid: &str,
        key: &StreamKey,
        vhost: &Vhost,
        hook: srs_hooks::HookClient,
        player: srs_live::Player,
    ) {
        let handle = dvr::spawn(
            key.clone(),
            vhost.dvr.clone(),
            player,
            self.on_dvr(vhost, hook),
        );
        let mut recs = self.recorders();
        recs.retain(|_, (_, r)| r.is_running());
        if let Some(h) = handle {
            recs.insert(cid.to_string(), (vhost.dvr.clone(), h));
        }
    }

    /// DVR turned on, off or changed by a reload applies to the live streams: a recorder
    /// starts (from the next keyframe), finishes its file, or finishes and starts anew.
    fn reload_dvr(&self, config: &Config) {
        let mut clients = self.clients();
        for (cid, c) in clients.iter_mut() {
            let vhost = config.vhost(&c.key.vhost);
            let wants =
                vhost.is_some_and(|v| v.dvr.applies(&c.key.vhost, &c.key.app, &c.key.stream));
            let running = {
                let mut recs = self.recorders();
                match recs.get(cid) {
                    Some((dvr, h))
                        if h.is_running() && (!wants || vhost.is_some_and(|v| *dvr != v.dvr)) =>
                    {
                        recs.remove(cid).map(|(_, h)| h)
                    }
                    Some((_, h)) if h.is_running() => {
                        continue;
                    }
                    _ => None,
                }
            };
            if let Some(h) = running {
                info!(stream = %c.key, "dvr: settings changed by a reload, the file is finished");
                tokio::spawn(h.finish());
            }
            let Some(vhost) = vhost.filter(|_| wants) else {
                continue;
            };
            let player = self.relay_hub.play(&c.key, forward::source_config());
            if !c.tapped {
                match self.relay_hub.feed(&c.key, forward::source_config(), false) {
                    Ok(feed) => {
                        c.slot.attach(feed);
                        c.tapped = true;
                    }
                    Err(e) => {
                        warn!(stream = %c.key, "dvr: not started by the reload: {e}");
                        continue;
                    }
                }
            }
            info!(stream = %c.key, "dvr: started by a reload");
            self.record(cid, &c.key, vhost, c.hook.clone(), player);
        }
    }

    /// Players of the node want `req.key` of an edge vhost: pull it from the origins.
    pub fn pull(self: &Arc<Self>, req: PullRequest) {
        let me = Arc::downgrade(self);
        self.pulls
            .want(req, &self.streams, move || match me.upgrade() {
                Some(bs) => bs.config(),
                // Backsource is going away: an empty config stops the pull.
                None => Arc::new(Config::default()),
            });
    }

    /// Nobody wants `key` any more: stop pulling it after the grace period.
    pub fn unpull(&self, key: &StreamKey) {
        self.pulls.unwant(key);
    }

    /// Counters for the master.
    pub fn stats(&self) -> WorkerStats {
        let c = self.clients();
        let relays: (u64, u64) = c
            .values()
            .flat_map(|c| c.relays.iter())
            .chain(self.pulls.list().iter().map(|p| &p.status))
            .map(|r| r.totals())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        WorkerStats {
            connections: c.len() as u64,
            streams: self.streams.publishing().len() as u64,
            bytes_in: c.values().map(|c| c.stats.bytes_in()).sum::<u64>() + relays.0,
            bytes_out: c.values().map(|c| c.stats.bytes_out()).sum::<u64>() + relays.1,
            rss_kib: link::own_rss_kib(),
        }
    }

    /// Close a publisher by cid; false if it is not here.
    pub fn kick(&self, cid: &str) -> bool {
        match self.clients().get(cid) {
            Some(c) => {
                c.kick.notify_one();
                true
            }
            None => false,
        }
    }

    /// The private API's answers.
    pub fn answer(&self, req: ApiRequest) -> ApiResponse {
        match req {
            ApiRequest::Stats => ApiResponse::Stats(self.stats()),
            ApiRequest::Streams => ApiResponse::Streams(
                self.streams
                    .publishing()
                    .iter()
                    .map(|k| (k.to_string(), 1))
                    .collect(),
            ),
            ApiRequest::Clients => ApiResponse::Clients(
                self.clients()
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
            ApiRequest::Kick(cid) => ApiResponse::Kicked(self.kick(&cid)),
            ApiRequest::StreamDetails => ApiResponse::StreamDetails(self.stream_details()),
        }
    }

    /// The periodic stats lines (`pithy_print_ms`): one per live stream.
    pub fn pithy_print(&self) {
        for d in self.stream_details() {
            let alive_s = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.as_millis() as u64)
                .saturating_sub(d.live_ms)
                / 1000)
                .max(1);
            let kbps = d.recv_bytes * 8 / 1000 / alive_s;
            let relays: Vec<String> = d
                .relays
                .iter()
                .map(|r| format!("{} {} {}", r.kind, r.server, r.state))
                .collect();
            info!(stream = %format!("{}/{}/{}", d.vhost, d.app, d.stream), cid = %d.publisher_cid,
                frames = d.frames, recv_bytes = d.recv_bytes, kbps_in = kbps, alive_s,
                relays = %relays.join(", "), "pithy: stream");
        }
    }

    fn stream_details(&self) -> Vec<StreamDetail> {
        let codec = |info: &PublishInfo| {
            (
                info.video.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                info.audio.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            )
        };
        let mut out: Vec<StreamDetail> = self
            .clients()
            .iter()
            .map(|(cid, c)| {
                let (video, audio) = codec(&c.info);
                StreamDetail {
                    vhost: c.key.vhost.clone(),
                    app: c.key.app.clone(),
                    stream: c.key.stream.clone(),
                    tc_url: c.tc_url.clone(),
                    live_ms: c.live_ms,
                    frames: c.info.frames.load(Ordering::Relaxed),
                    recv_bytes: c.stats.bytes_in(),
                    publisher_cid: cid.clone(),
                    video,
                    audio,
                    relays: c.relays.iter().map(|r| r.info()).collect(),
                }
            })
            .collect();
        // Pulled streams, with their upstream: also while they wait for (or retry) an
        // origin, with no live time (what an operator most wants to see then).
        for p in self.pulls.list() {
            let live_ms = p.live_ms.load(Ordering::Relaxed);
            let (video, audio) = codec(&p.info);
            let key = &p.request.key;
            let relay = p.status.info();
            out.push(StreamDetail {
                vhost: key.vhost.clone(),
                app: key.app.clone(),
                stream: key.stream.clone(),
                tc_url: p.request.tc_url.clone(),
                live_ms,
                frames: p.info.frames.load(Ordering::Relaxed),
                recv_bytes: relay.bytes_in,
                publisher_cid: p.cid.clone(),
                video,
                audio,
                relays: vec![relay],
            });
        }
        out
    }

    /// What a finished recording of `req`'s stream does: the `on_dvr` hook.
    fn on_dvr(
        &self,
        vhost: &Vhost,
        client: srs_hooks::HookClient,
    ) -> impl Fn(dvr::Recorded) + Send + 'static {
        let hooks = vhost
            .http_hooks
            .enabled
            .then(|| (self.hooks.for_vhost(vhost), vhost.http_hooks.on_dvr.clone()));
        let rt = tokio::runtime::Handle::current();
        move |rec: dvr::Recorded| {
            let Some((hooks, urls)) = hooks.clone() else {
                return;
            };
            let cwd = std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            let file = if rec.path.is_absolute() {
                rec.path.display().to_string()
            } else {
                std::path::Path::new(&cwd)
                    .join(&rec.path)
                    .display()
                    .to_string()
            };
            let body = client.on_dvr(&cwd, &file);
            rt.spawn(async move { hooks.tell("on_dvr", &urls, &body).await });
        }
    }

    /// The relays a publish of `req` on `vhost` gets: its forward destinations (a
    /// destination that is this server is refused: a loop), and on an edge the push to
    /// the origins.
    async fn relay_targets(&self, vhost: &Vhost, req: &PublishRequest) -> Vec<Target> {
        let mut out = Vec::new();
        if vhost.forward.enabled {
            let listen = self.config().listen.clone();
            for dest in &vhost.forward.destinations {
                if relay::is_self(dest, &listen).await {
                    error!(destination = %dest, stream = %req.key,
                        "forward refused: the destination is this server (a loop)");
                    continue;
                }
                out.push(Target {
                    key: req.key.clone(),
                    stream: relay::upstream_stream(&req.name, &req.tc_url),
                    servers: vec![dest.clone()],
                    kind: "forward",
                });
            }
        }
        if vhost.cluster.edge {
            out.push(Target {
                key: req.key.clone(),
                stream: relay::upstream_stream(&req.name, &req.tc_url),
                servers: vhost.cluster.origins.clone(),
                kind: "push",
            });
        }
        out
    }

    /// Run one publishing connection until it ends: `session` holds its pending `publish`.
    /// The caller's span carries the connection's cid.
    pub async fn take(
        &self,
        socket: TcpStream,
        session: ServerSession,
        req: PublishRequest,
    ) -> Result<(), ConnError> {
        let cfg = self.config();
        let Some(vhost) = cfg
            .vhost_named(&req.key.vhost)
            .or_else(|| cfg.vhost(&req.key.vhost))
            .cloned()
        else {
            return Err(ConnError::Rejected(format!(
                "vhost {} is gone from the config",
                req.key.vhost
            )));
        };
        // The connection's closing hooks are ours since the handover (with the bytes the
        // stream worker counted before it).
        let hook = vhost
            .http_hooks
            .enabled
            .then(|| (hook_client(&req), (req.bytes_in, req.bytes_out)));
        let stats = Arc::new(ConnStats::default());
        let info = Arc::new(PublishInfo::default());
        // The stream's jobs (transcode, exec) start once the publish is accepted, and stop
        // when it ends.
        let key = req.key.clone();
        let param = req
            .name
            .split_once('?')
            .map_or(String::new(), |(_, q)| format!("?{q}"));
        let starter = {
            let (info, jobs, cfg, key, cid) = (
                info.clone(),
                self.jobs.clone(),
                self.config(),
                key.clone(),
                req.cid.clone(),
            );
            tokio::spawn(async move {
                info.on_accept.notified().await;
                jobs.publish_started(&cfg, &key, &param, &cid);
            })
        };
        // The publish's end (an unpublish, before the connection lingers, or the
        // connection's end): its jobs stop and on_unpublish goes, before any republish of
        // the stream can be told apart from it.
        let ender = {
            let (info, jobs, key, cid) = (
                info.clone(),
                self.jobs.clone(),
                key.clone(),
                req.cid.clone(),
            );
            let unpublish = hook
                .as_ref()
                .map(|(client, _)| (client.clone(), self.hooks.for_vhost(&vhost), vhost.clone()));
            tokio::spawn(
                async move {
                    info.ended.notified().await;
                    jobs.publish_ended(&key, &cid);
                    // SRS sends on_unpublish once on_publish allowed (the stream worker
                    // asked it before the handover), whatever came after.
                    if let Some((client, hooks, vhost)) = unpublish {
                        let body = client.on_stream("on_unpublish");
                        let urls = vhost.http_hooks.urls("on_unpublish");
                        hooks.tell("on_unpublish", urls, &body).await;
                    }
                }
                .instrument(tracing::Span::current()),
            )
        };
        let served = self
            .run_publish(socket, session, req, &vhost, &stats, &info)
            .await;
        starter.abort();
        let _ = starter.await;
        info.ended.notify_one();
        let _ = ender.await;
        if let Some((client, (bytes_in, bytes_out))) = hook {
            let hooks = self.hooks.for_vhost(&vhost);
            let (stats, vhost) = (stats.clone(), vhost.clone());
            tokio::spawn(
                async move {
                    let h = &vhost.http_hooks;
                    let body =
                        client.on_close(bytes_out + stats.bytes_out(), bytes_in + stats.bytes_in());
                    hooks.tell("on_close", h.urls("on_close"), &body).await;
                }
                .instrument(tracing::Span::current()),
            );
        }
        served
    }

    /// Admit and run a publish on `vhost`: its relays, then the connection.
    async fn run_publish(
        &self,
        socket: TcpStream,
        session: ServerSession,
        req: PublishRequest,
        vhost: &Vhost,
        stats: &Arc<ConnStats>,
        info: &Arc<PublishInfo>,
    ) -> Result<(), ConnError> {
        let targets = self.relay_targets(vhost, &req).await;
        // An edge accepts a publish once its origin did (SRS's edge publish): the
        // encoder learns at once when no origin takes the stream.
        let mut pushed = None;
        if let Some(push) = targets.iter().find(|t| t.kind == "push") {
            let mut errors = Vec::new();
            for (i, origin) in push.servers.iter().enumerate() {
                match relay::open(origin, &push.key, &push.stream, Mode::Publish, "").await {
                    Ok(c) => {
                        pushed = Some((c, i));
                        break;
                    }
                    Err(e) => {
                        warn!(origin = %origin, "edge push: origin failed: {e}");
                        errors.push(format!("{origin}: {e}"));
                    }
                }
            }
            if pushed.is_none() {
                let mut socket = socket;
                let mut session = session;
                let why = format!("no origin took the stream ({})", errors.join("; "));
                session.reject_publish(req.stream_id, "NetStream.Publish.Rejected", &why);
                return reject(&mut socket, &mut session, why).await;
            }
        }
        let live = Arc::new(AtomicBool::new(true));
        let mut relays = Vec::new();
        let record = vhost
            .dvr
            .applies(&req.key.vhost, &req.key.app, &req.key.stream);
        let slot = Arc::new(TapSlot::default());
        let mut tapped = false;
        if !targets.is_empty() || record {
            // Relays (and the recorder) are players made before the feed, so each gets the
            // publish from its first message.
            let players: Vec<_> = targets
                .iter()
                .map(|t| self.relay_hub.play(&t.key, forward::source_config()))
                .collect();
            let recorder = record.then(|| self.relay_hub.play(&req.key, forward::source_config()));
            match self
                .relay_hub
                .feed(&req.key, forward::source_config(), true)
            {
                Ok(feed) => {
                    slot.attach(feed);
                    tapped = true;
                    if let Some(player) = recorder {
                        self.record(&req.cid, &req.key, vhost, hook_client(&req), player);
                    }
                    for (t, player) in targets.into_iter().zip(players) {
                        let status = Arc::new(RelayStatus::new(t.kind));
                        let first = if t.kind == "push" {
                            pushed.take()
                        } else {
                            None
                        };
                        relays.push(status.clone());
                        forward::spawn(
                            self.relay_hub.clone(),
                            t,
                            player,
                            first,
                            live.clone(),
                            status,
                        );
                    }
                }
                Err(e) => warn!("relays not started: {e}"),
            }
        }
        let kick = Arc::new(tokio::sync::Notify::new());
        let cid = req.cid.clone();
        self.clients().insert(
            cid.clone(),
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
                kick: kick.clone(),
                relays,
                slot: slot.clone(),
                tapped,
                hook: hook_client(&req),
            },
        );
        let served = tokio::select! {
            r = publish::serve(socket, session, req, vhost, &self.streams, stats, info, slot) => r,
            _ = kick.notified() => Err(ConnError::Rejected("kicked by the API".into())),
        };
        live.store(false, Ordering::Relaxed);
        self.clients().remove(&cid);
        served
    }
}

/// One process: a stream worker hands its publishers to backsource in memory.
impl Publishers for Backsource {
    fn publish(
        &self,
        socket: TcpStream,
        session: ServerSession,
        request: PublishRequest,
    ) -> PublishFuture<'_> {
        Box::pin(self.take(socket, session, request))
    }
}

/// Run backsource until the master says stop (or goes away).
pub async fn run(config: Config, paths: Paths) -> io::Result<()> {
    let (bs, mut events) = Backsource::new(config, paths.ring_dir.clone());
    bs.start_jobs();
    let _ = std::fs::remove_file(&paths.handover_socket);
    let handovers = UnixListener::bind(&paths.handover_socket)?;
    let api = TcpListener::bind("127.0.0.1:0").await?;
    let api_port = api.local_addr()?.port();
    {
        let bs = bs.clone();
        tokio::spawn(link::serve_api(api, move |req| bs.answer(req)));
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
    tokio::spawn(accept_handovers(handovers, bs.clone()));
    let mut heartbeat = tokio::time::interval(srs_live::reader::HEARTBEAT);
    // A fast stop's SIGTERM: jobs and recordings are finished first, not abandoned.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut pithy = tokio::time::interval(bs.config().pithy_print);
    pithy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = pithy.tick() => bs.pithy_print(),
            _ = term.recv() => {
                info!("SIGTERM: stopping");
                bs.shutdown().await;
                return Ok(());
            }
            ev = events.recv() => {
                let msg = match ev {
                    Some(StreamEvent::Up(up)) => ToMaster::StreamUp(up),
                    Some(StreamEvent::Down(key)) => ToMaster::StreamDown(key),
                    Some(StreamEvent::PullFailed { key, reason }) => {
                        ToMaster::PullFailed { key, reason }
                    }
                    None => continue,
                };
                master.send(&msg).await?;
            }
            _ = heartbeat.tick() => master.send(&ToMaster::Heartbeat(bs.stats())).await?,
            msg = master.recv::<FromMaster>() => match msg? {
                None => {
                    warn!("master went away, stopping");
                    return Ok(());
                }
                Some(FromMaster::Reload) => match &paths.config {
                    Some(p) => match Config::load(p) {
                        Ok(c) => {
                            bs.reload(c);
                            info!("config reloaded");
                        }
                        Err(e) => error!("reload failed, keeping the running config: {e}"),
                    },
                    None => {}
                },
                Some(FromMaster::Pull(req)) => bs.pull(req),
                Some(FromMaster::Unpull(key)) => bs.unpull(&key),
                Some(FromMaster::Stop { graceful, grace_ms }) => {
                    if graceful {
                        info!(grace_ms, "graceful stop: publishers go on for the grace period");
                        tokio::time::sleep(Duration::from_millis(grace_ms)).await;
                    }
                    info!("stopping");
                    bs.shutdown().await;
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}

async fn accept_handovers(listener: UnixListener, bs: Arc<Backsource>) {
    loop {
        let sock = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("handover accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let bs = bs.clone();
        tokio::spawn(async move {
            match handover::receive(sock).await {
                Ok((frame, fd)) => {
                    let span = info_span!("conn", cid = %frame.request.cid);
                    take_handed_over(bs, frame, fd).instrument(span).await;
                }
                Err(e) => warn!("handover failed: {e}"),
            }
        });
    }
}

/// Run a publisher a stream worker handed over, and log how it ended.
async fn take_handed_over(bs: Arc<Backsource>, frame: HandoverFrame, fd: OwnedFd) {
    let socket = match into_tokio(fd) {
        Ok(s) => s,
        Err(e) => {
            warn!("closed: handed-over socket unusable: {e}");
            return;
        }
    };
    let session = match ServerSession::import(frame.state) {
        Ok(s) => s,
        Err(e) => {
            warn!("closed: bad handed-over state: {e}");
            return;
        }
    };
    let req = frame.request;
    info!(peer = %req.peer, stream = %req.key, "publisher taken over from a stream worker");
    match bs.take(socket, session, req).await {
        Ok(()) => info!("closed"),
        Err(ConnError::Rejected(why)) => warn!("closed: rejected: {why}"),
        Err(e) => warn!("closed: {e}"),
    }
}

/// Who a handed-over publisher is, for its hooks.
fn hook_client(req: &PublishRequest) -> srs_hooks::HookClient {
    srs_hooks::HookClient::new(
        &req.cid,
        &req.peer,
        (&req.key.vhost, &req.key.app),
        &req.name,
        &req.tc_url,
        &req.page_url,
    )
}

fn into_tokio(fd: OwnedFd) -> io::Result<TcpStream> {
    let socket = std::net::TcpStream::from(fd);
    socket.set_nonblocking(true)?;
    TcpStream::from_std(socket)
}
