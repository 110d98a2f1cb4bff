//! One RTMP connection: drives a [`ServerSession`] over a TCP socket, admits the client
//! (vhost, refer), then serves a player from its stream's local source, or passes a
//! publisher on to backsource ([`srs_live::conn::Publishers`]: the socket handed over to
//! the backsource process, or in memory in one process).
//!
//! The task `select!`s over the socket and the stream feed. What a slow player misses is
//! decided by the source (whole GOPs are skipped, see `srs_live::source`), so nothing here
//! queues without bound.

use crate::refer;
use crate::server::WorkerContext;
use bytes::Bytes;
use srs_conf::{Config, Vhost};
use srs_hooks::HookClient;
use srs_ipc::handover::PublishRequest;
use srs_live::conn::{flush, reject, ConnStats};
pub use srs_live::conn::{ConnError, SEND_TIMEOUT};
use srs_live::{PlayItem, Player, SourceConfig, StreamKey};
use srs_protocol::message::UserControl;
use srs_protocol::request::StreamRequest;
use srs_protocol::session::{ConnectRequest, ServerConfig, ServerEvent, ServerSession};
use std::io::{ErrorKind, IoSlice};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tracing::{debug, info, Instrument};

/// About how many bytes a player takes per wake-up: one write must finish well within
/// [`SEND_TIMEOUT`] even on a slow link.
const PLAY_BATCH_BYTES: usize = 256 * 1024;

/// Most bytes taken from the socket per read. The buffer is on the stack of the read, not
/// in the connection: a player almost never sends anything after `play`, so a thousand
/// players must not keep a thousand read buffers.
const READ_CHUNK: usize = 16 * 1024;

/// Most messages a player takes from its source per wake-up, so that one player cannot
/// hold the source lock for long.
const PLAY_BATCH: usize = 128;

/// A player's state.
struct Playing {
    player: Player,
    stream_id: u32,
    paused: bool,
    name: String,
    unpublished: bool,
    data_started: bool,
    /// The session's outgoing chunk size (what the shared chunked messages were built for).
    chunk_size: u32,
    /// What to send next, in order: control messages from the session and media chunks
    /// shared with every other player of the stream. Freed once written (see
    /// [`write_all_vectored`]).
    out: Vec<Bytes>,
    /// Merged writes: the player is fed about once per `mw_latency` (SRS), so that each
    /// wake-up sends many messages in one writev, on a clock shared by all the worker's
    /// players (see [`next_feed`]). Zero in low-latency mode.
    mw_latency: Duration,
    next_feed: Instant,
    /// The player's phase of the merged-write clock (see [`next_feed`]).
    phase: u32,
    /// On an edge: the player's claim on the pull of its stream from the origin (boxed:
    /// every player's task holds this struct, most players are on origins).
    demand: Option<Box<srs_live::DemandGuard>>,
}

/// Resolve the vhost a request gets, refusing disabled or unknown ones.
fn resolve_vhost<'c>(config: &'c Config, name: &str) -> Result<&'c Vhost, String> {
    if let Some(v) = config.vhost_named(name) {
        if !v.enabled {
            return Err(format!("vhost {name} is disabled"));
        }
    }
    match config.vhost(name) {
        Some(v) if v.enabled => Ok(v),
        Some(v) => Err(format!("vhost {} is disabled", v.name)),
        None => Err(format!("no vhost {name} and no __defaultVhost__")),
    }
}

/// A `connect` that an edge's origin must approve first (`token_traverse`).
struct Traverse {
    origins: Vec<String>,
    tc_url: String,
    app: String,
    page_url: String,
}

impl Traverse {
    /// Ask the origins, in order, whether they accept this client's `connect` (its tcUrl,
    /// with its params, and page URL): the first that answers decides, as SRS's
    /// `check_edge_token_traverse_auth`.
    async fn ask(self) -> Result<(), String> {
        let opts = srs_client::Options::relay(srs_live::conn::server_id(), &self.page_url);
        let mut unreachable = Vec::new();
        for origin in &self.origins {
            match srs_client::Client::connect(origin, &self.tc_url, &self.app, &opts).await {
                Ok(_) => {
                    info!(origin = %origin, "token traverse: the origin accepted the connect");
                    return Ok(());
                }
                Err(srs_client::ClientError::Refused { code, description }) => {
                    return Err(format!(
                        "token traverse: origin {origin} refused the connect: {code} ({description})"
                    ));
                }
                Err(e) => {
                    tracing::warn!(origin = %origin, "token traverse: origin failed: {e}");
                    unreachable.push(format!("{origin}: {e}"));
                }
            }
        }
        Err(format!(
            "token traverse: no origin answered ({})",
            unreachable.join("; ")
        ))
    }
}

/// Admit a `connect`: its request and page URL, and whether an origin must approve it
/// first (token traverse); or why it was refused (the session then holds the refusal to
/// send).
/// What an admitted `connect` goes on to.
enum Admitted {
    /// Publish or play.
    Stream,
    /// An origin must approve it first.
    Traverse(Traverse),
    /// SRS's bandwidth check, on this connection.
    Bandcheck(srs_conf::Bandcheck),
}

fn admit_connect(
    config: &Config,
    session: &mut ServerSession,
    c: ConnectRequest,
    peer: &str,
) -> Result<(StreamRequest, String, Admitted), String> {
    if !c.relay_id.is_empty() && c.relay_id == srs_live::conn::server_id() {
        let e = "a relay of this very server came back to it (forward or edge loop)".to_string();
        session.reject_connect(&e);
        return Err(e);
    }
    let req = match StreamRequest::from_connect(&c.tc_url, Some(&c.app)) {
        Ok(r) => r,
        Err(e) => {
            session.reject_connect(&format!("bad tcUrl: {e}"));
            return Err(format!("bad tcUrl {:?}: {e}", c.tc_url));
        }
    };
    let v = match resolve_vhost(config, &req.vhost) {
        Ok(v) => v,
        Err(e) => {
            session.reject_connect(&e);
            return Err(e);
        }
    };
    if v.refer.enabled && !refer::allowed(&c.page_url, &v.refer.all) {
        let e = format!("refer check failed for pageUrl {:?}", c.page_url);
        session.reject_connect(&e);
        return Err(e);
    }
    info!(tc_url = %c.tc_url, vhost = %v.name, app = %req.app, flash_ver = %c.flash_ver,
        page_url = %c.page_url, handshake = ?session.handshake_kind(), "connect");
    if v.bandcheck.enabled {
        if let Err(e) = crate::bandcheck::admit(&v.bandcheck, &c.tc_url, peer) {
            session.reject_connect(&e);
            return Err(e);
        }
        session.use_chunk_size(v.chunk_size);
        session.accept_connect();
        return Ok((req, c.page_url, Admitted::Bandcheck(v.bandcheck.clone())));
    }
    // The vhost's chunk size (its own `chunk_size`, else the global one), as SRS sets it.
    session.use_chunk_size(v.chunk_size);
    if v.cluster.edge && v.cluster.token_traverse {
        let t = Traverse {
            origins: v.cluster.origins.clone(),
            tc_url: c.tc_url.clone(),
            app: c.app.clone(),
            page_url: c.page_url.clone(),
        };
        return Ok((req, c.page_url, Admitted::Traverse(t)));
    }
    session.accept_connect();
    Ok((req, c.page_url, Admitted::Stream))
}

/// A `publish` request with what the connection knew when it came.
struct Publish {
    stream_id: u32,
    name: String,
    publish_type: String,
    request: Option<StreamRequest>,
    page_url: String,
    peer: String,
}

impl Publish {
    /// Admit the publish, then serve it here or hand the connection to backsource.
    async fn run(
        self,
        mut socket: TcpStream,
        mut session: ServerSession,
        config: &Config,
        stats: &ConnStats,
        ctx: &WorkerContext,
        end: &mut Option<Box<HookEnd>>,
    ) -> Result<(), ConnError> {
        let (key, vhost) = match admit(
            config,
            self.request.as_ref(),
            (&self.page_url, &self.peer),
            &self.name,
            true,
        ) {
            Ok(x) => x,
            Err(e) => {
                session.reject_publish(self.stream_id, "NetStream.Publish.Rejected", &e);
                return reject(&mut socket, &mut session, e).await;
            }
        };
        let tc_url = self.request.map(|r| r.tc_url).unwrap_or_default();
        if vhost.http_hooks.enabled {
            let client = HookClient::new(
                &srs_live::conn::current_cid(),
                &self.peer,
                (&key.vhost, &key.app),
                &self.name,
                &tc_url,
                &self.page_url,
            );
            let asked = ask_hooks(ctx, &vhost, &client, true).await;
            *end = Some(Box::new(HookEnd {
                client,
                vhost,
                played: false,
            }));
            if let Err(why) = asked {
                session.reject_publish(self.stream_id, "NetStream.Publish.Rejected", &why);
                return reject(&mut socket, &mut session, why).await;
            }
        }
        // Replies to releaseStream/FCPublish go out before the connection moves.
        flush(&mut socket, &mut session, stats).await?;
        // From here on the connection's hooks (on_unpublish, on_close) are backsource's,
        // with the bytes counted here so far.
        *end = None;
        let req = PublishRequest {
            cid: srs_live::conn::current_cid(),
            peer: self.peer,
            stream_id: self.stream_id,
            name: self.name,
            publish_type: self.publish_type,
            key,
            tc_url,
            page_url: self.page_url,
            bytes_in: stats.bytes_in(),
            bytes_out: stats.bytes_out(),
        };
        ctx.describe(&req.cid, "publish", &req.key.to_string());
        ctx.publishers.publish(socket, session, req).await
    }
}

/// What a connection does after an event of its session.
enum Next {
    /// Go on.
    Go,
    /// Refuse the client (the session holds the refusal to send) and close.
    Reject(String),
    /// The client publishes: the connection goes to backsource.
    Publish(Box<Publish>),
    /// An origin must approve the `connect` first.
    Traverse(Box<Traverse>),
    /// The hooks must approve a `play` first.
    Play(Box<PendingPlay>),
    /// SRS's bandwidth check runs on the connection, then it closes.
    Bandcheck(Box<srs_conf::Bandcheck>),
}

/// One connection's state between events: the session, what its `connect` asked for, and
/// the player once it plays.
struct Conn {
    session: ServerSession,
    config: Arc<Config>,
    peer: String,
    request: Option<StreamRequest>,
    page_url: String,
    playing: Option<Playing>,
    /// Until it plays, a client must get there within `handshake_timeout`.
    deadline: Option<Instant>,
    /// The client is a relay of another server of ours (it marked its `connect`).
    relay: bool,
}

impl Conn {
    fn on_event(
        &mut self,
        ev: ServerEvent,
        socket: &TcpStream,
        ctx: &WorkerContext,
    ) -> Result<Next, ConnError> {
        match ev {
            ServerEvent::Connect(c) => {
                // A relay of another server of ours (an edge's pull, a forward) gets media
                // as it comes: it feeds players that merge writes themselves, and a second
                // merging stage here would only add latency to every tier.
                self.relay = !c.relay_id.is_empty();
                self.on_connect(c)
            }
            ServerEvent::Publish {
                stream_id,
                name,
                publish_type,
            } => self.on_publish(stream_id, name, publish_type),
            ServerEvent::Play {
                stream_id,
                name,
                start,
                duration,
                reset,
            } => {
                if self.playing.is_some() {
                    return Err(ConnError::Rejected("play while already playing".into()));
                }
                self.on_play(stream_id, name, (start, duration, reset), socket, ctx)
            }
            other => self.on_other(other),
        }
    }

    fn on_connect(&mut self, c: ConnectRequest) -> Result<Next, ConnError> {
        match admit_connect(&self.config, &mut self.session, c, &self.peer) {
            Ok((req, page, then)) => {
                self.request = Some(req);
                self.page_url = page;
                Ok(match then {
                    Admitted::Stream => Next::Go,
                    Admitted::Traverse(t) => Next::Traverse(Box::new(t)),
                    Admitted::Bandcheck(b) => Next::Bandcheck(Box::new(b)),
                })
            }
            Err(e) => Ok(Next::Reject(e)),
        }
    }

    fn on_publish(
        &mut self,
        stream_id: u32,
        name: String,
        publish_type: String,
    ) -> Result<Next, ConnError> {
        if self.playing.is_some() {
            return Err(ConnError::Rejected("publish while playing".into()));
        }
        Ok(Next::Publish(Box::new(Publish {
            stream_id,
            name,
            publish_type,
            request: self.request.take(),
            page_url: std::mem::take(&mut self.page_url),
            peer: std::mem::take(&mut self.peer),
        })))
    }

    fn on_other(&mut self, ev: ServerEvent) -> Result<Next, ConnError> {
        match ev {
            ServerEvent::Pause { pause, .. } => {
                if let Some(p) = self.playing.as_mut() {
                    info!(pause, "pause");
                    if !pause && p.paused {
                        p.player.seek_live();
                    }
                    p.paused = pause;
                }
                Ok(Next::Go)
            }
            ServerEvent::StopPlay { stream_id } => {
                if let Some(p) = self.playing.as_ref().filter(|p| p.stream_id == stream_id) {
                    info!(stream = %p.player.key(), dropped = p.player.dropped(), "stop playing");
                    self.playing = None;
                    self.deadline = Some(Instant::now() + self.config.handshake_timeout);
                }
                Ok(Next::Go)
            }
            // Media or unpublish without a publish, or what on_event handles: nothing to do.
            _ => Ok(Next::Go),
        }
    }

    /// Admit a `play` (its start, duration and reset arguments as the client sent them)
    /// and start the player on its stream's local source.
    fn on_play(
        &mut self,
        stream_id: u32,
        name: String,
        (start, duration, reset): (f64, f64, bool),
        socket: &TcpStream,
        ctx: &WorkerContext,
    ) -> Result<Next, ConnError> {
        let (key, v) = match admit(
            &self.config,
            self.request.as_ref(),
            (&self.page_url, &self.peer),
            &name,
            false,
        ) {
            Ok(x) => x,
            Err(e) => {
                self.session
                    .reject_play(stream_id, "NetStream.Play.Rejected", &e);
                return Ok(Next::Reject(e));
            }
        };
        let play = PendingPlay {
            stream_id,
            name,
            args: (start, duration, reset),
            key,
            vhost: v,
        };
        if play.vhost.http_hooks.enabled {
            // The hooks decide first (on the connection's own task, see `serve`).
            return Ok(Next::Play(Box::new(play)));
        }
        self.start_play(play, socket, ctx)?;
        Ok(Next::Go)
    }

    /// The hook client of this connection for `name` of `key`.
    fn hook_client(&self, key: &StreamKey, name: &str) -> HookClient {
        HookClient::new(
            &srs_live::conn::current_cid(),
            &self.peer,
            (&key.vhost, &key.app),
            name,
            self.request.as_ref().map_or("", |r| r.tc_url.as_str()),
            &self.page_url,
        )
    }

    /// Start an admitted player on its stream's local source.
    fn start_play(
        &mut self,
        play: PendingPlay,
        socket: &TcpStream,
        ctx: &WorkerContext,
    ) -> Result<(), ConnError> {
        let PendingPlay {
            stream_id,
            name,
            args: (start, duration, reset),
            key,
            vhost: v,
        } = play;
        info!(stream = %key, start, duration, reset, "play start");
        ctx.describe(&srs_live::conn::current_cid(), "play", &key.to_string());
        // An edge pulls the stream from its origin while players want it; the request
        // goes along (token traverse: the origin sees the player's tcUrl and params).
        let demand = v.cluster.edge.then(|| {
            Box::new(
                ctx.demands.want(srs_ipc::control::PullRequest {
                    key: key.clone(),
                    tc_url: self
                        .request
                        .as_ref()
                        .map(|r| r.tc_url.clone())
                        .unwrap_or_default(),
                    stream: name.clone(),
                    page_url: self.page_url.clone(),
                }),
            )
        });
        let player = ctx.play(&key, SourceConfig::of(&v));
        self.session.accept_play(stream_id, &name, reset);
        if v.tcp_nodelay || self.relay {
            socket.set_nodelay(true)?;
        }
        // The first feed at once (the GOP cache), later ones on the shared clock.
        self.playing = Some(Playing {
            player,
            stream_id,
            paused: false,
            name,
            unpublished: false,
            data_started: false,
            chunk_size: self.session.out_chunk_size(),
            out: Vec::new(),
            mw_latency: if v.min_latency || self.relay {
                Duration::ZERO
            } else {
                v.play.mw_latency
            },
            next_feed: Instant::now(),
            phase: next_phase(),
            demand,
        });
        self.deadline = None;
        Ok(())
    }
}

/// An admitted `play` that the hooks decide about before it starts.
struct PendingPlay {
    stream_id: u32,
    name: String,
    args: (f64, f64, bool),
    key: StreamKey,
    vhost: Vhost,
}

/// What a connection's hooks need once it ended: who, where, and whether it played.
struct HookEnd {
    client: HookClient,
    vhost: Vhost,
    played: bool,
}

/// `on_connect`, then `on_publish` or `on_play`: the first hook that denies decides.
async fn ask_hooks(
    ctx: &WorkerContext,
    vhost: &Vhost,
    client: &HookClient,
    publish: bool,
) -> Result<(), String> {
    let hooks = ctx.hooks.for_vhost(vhost);
    let h = &vhost.http_hooks;
    hooks
        .ask("on_connect", h.urls("on_connect"), &client.on_connect())
        .await?;
    if publish {
        hooks
            .ask(
                "on_publish",
                h.urls("on_publish"),
                &client.on_stream("on_publish"),
            )
            .await
    } else {
        hooks
            .ask("on_play", h.urls("on_play"), &client.on_play())
            .await
    }
}

/// The hooks decide about a `play`; then it starts, or the client is refused (the
/// connection's end is returned).
async fn play_with_hooks(
    c: &mut Conn,
    play: Box<PendingPlay>,
    socket: &mut TcpStream,
    ctx: &WorkerContext,
    end: &mut Option<Box<HookEnd>>,
) -> Result<Option<Result<(), ConnError>>, ConnError> {
    let client = c.hook_client(&play.key, &play.name);
    let asked = ask_hooks(ctx, &play.vhost, &client, false).await;
    *end = Some(Box::new(HookEnd {
        client,
        vhost: play.vhost.clone(),
        played: asked.is_ok(),
    }));
    if let Err(why) = asked {
        c.session
            .reject_play(play.stream_id, "NetStream.Play.Rejected", &why);
        return Ok(Some(reject(socket, &mut c.session, why).await));
    }
    c.start_play(*play, socket, ctx)?;
    Ok(None)
}

/// After the connection: `on_stop` (if it played), then `on_close` with its bytes.
async fn end_hooks(end: Box<HookEnd>, stats: Arc<ConnStats>, ctx: Arc<WorkerContext>) {
    let hooks = ctx.hooks.for_vhost(&end.vhost);
    let h = &end.vhost.http_hooks;
    if end.played {
        hooks
            .tell(
                "on_stop",
                h.urls("on_stop"),
                &end.client.on_stream("on_stop"),
            )
            .await;
    }
    hooks
        .tell(
            "on_close",
            h.urls("on_close"),
            &end.client.on_close(stats.bytes_out(), stats.bytes_in()),
        )
        .await;
}

/// Serve one accepted connection until it ends; then its closing hooks, on a task of
/// their own.
pub async fn serve(
    socket: TcpStream,
    peer: String,
    stats: Arc<ConnStats>,
    ctx: Arc<WorkerContext>,
) -> Result<(), ConnError> {
    let mut end = None;
    let r = serve_conn(socket, peer, &stats, &ctx, &mut end).await;
    if let Some(end) = end {
        tokio::spawn(end_hooks(end, stats, ctx).instrument(tracing::Span::current()));
    }
    r
}

async fn serve_conn(
    mut socket: TcpStream,
    peer: String,
    stats: &Arc<ConnStats>,
    ctx: &Arc<WorkerContext>,
    end: &mut Option<Box<HookEnd>>,
) -> Result<(), ConnError> {
    let stats = stats.clone();
    let ctx = ctx.clone();
    let config = ctx.config();
    let mut c = Conn {
        session: ServerSession::new(ServerConfig {
            out_chunk_size: config.chunk_size,
            server_pid: std::process::id(),
            connection_id: srs_live::conn::current_cid(),
            ..Default::default()
        }),
        deadline: Some(Instant::now() + config.handshake_timeout),
        config,
        peer,
        request: None,
        page_url: String::new(),
        playing: None,
        relay: false,
    };
    loop {
        flush(&mut socket, &mut c.session, &stats).await?;
        if let Some(p) = c.playing.as_mut().filter(|p| !p.out.is_empty()) {
            write_all_vectored(&socket, &mut p.out, &stats).await?;
        }
        let feeding = c.playing.as_ref().is_some_and(|p| !p.paused);
        // Whether the session got bytes: only then can it have events.
        let mut got_input = false;
        let edge_failure = c
            .playing
            .as_ref()
            .filter(|p| !p.data_started)
            .and_then(|p| p.demand.as_ref())
            .map(|d| Box::pin(d.failed()));
        let waits_on_edge = edge_failure.is_some();
        tokio::select! {
            r = socket.readable() => {
                r?;
                match read_some(&socket, &mut c.session, &stats)? {
                    Some(0) => {
                        debug!("client closed the connection");
                        return Ok(());
                    }
                    Some(_) => got_input = true,
                    None => {}
                }
            }
            _ = async {
                if let Some(p) = c.playing.as_mut() {
                    tokio::time::sleep_until(p.next_feed).await;
                    p.player.changed().await
                }
            }, if feeding => {
                if let Some(p) = c.playing.as_mut() {
                    feed_player(&mut c.session, p);
                    // Until the first media went out, the next change is fed at once: the
                    // first frame must not wait for the clock.
                    p.next_feed = if p.data_started {
                        next_feed(Instant::now(), p.mw_latency, p.phase)
                    } else {
                        Instant::now()
                    };
                }
            }
            _ = async {
                match c.deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {
                return Err(ConnError::HandshakeTimeout(c.config.handshake_timeout));
            }
            // An edge whose origins could not deliver the stream: a player still waiting
            // for its first frame is told and closed (one that played waits for the
            // stream to come back).
            why = async {
                match edge_failure {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            }, if waits_on_edge => {
                if let Some(p) = c.playing.as_ref() {
                    let why = format!("edge: no origin delivered the stream ({why})");
                    c.session.reject_play(p.stream_id, "NetStream.Play.Failed", &why);
                    return Box::pin(reject(&mut socket, &mut c.session, why)).await;
                }
            }
        }
        while got_input {
            let Some(ev) = c.session.poll_event()? else {
                break;
            };
            match c.on_event(ev, &socket, &ctx)? {
                Next::Go => {}
                // Boxed: refusals and publishers are rare next to players, and every
                // connection's task would otherwise be as large as their futures.
                Next::Reject(why) => {
                    return Box::pin(reject(&mut socket, &mut c.session, why)).await
                }
                Next::Publish(p) => {
                    let config = c.config.clone();
                    return Box::pin(Publish::run(
                        *p, socket, c.session, &config, &stats, &ctx, end,
                    ))
                    .await;
                }
                Next::Play(play) => {
                    if let Some(done) =
                        Box::pin(play_with_hooks(&mut c, play, &mut socket, &ctx, end)).await?
                    {
                        return done;
                    }
                }
                Next::Bandcheck(b) => {
                    return Box::pin(crate::bandcheck::run(
                        &mut socket,
                        &mut c.session,
                        &b,
                        &stats,
                    ))
                    .await;
                }
                Next::Traverse(t) => match Box::pin(t.ask()).await {
                    Ok(()) => c.session.accept_connect(),
                    Err(why) => {
                        c.session.reject_connect(&why);
                        return Box::pin(reject(&mut socket, &mut c.session, why)).await;
                    }
                },
            }
        }
    }
}

/// Move what the source has for a player into its output list.
fn feed_player(session: &mut ServerSession, p: &mut Playing) {
    let Playing {
        player,
        stream_id,
        name,
        unpublished,
        data_started,
        chunk_size,
        out,
        ..
    } = p;
    // Session output (status messages) and media chunks go into one ordered list.
    let take = |session: &mut ServerSession, out: &mut Vec<Bytes>| {
        if session.has_output() {
            out.push(session.take_output());
        }
    };
    take(session, out);
    // What to log once the source is unlocked: (published, unpublished) in order.
    let mut notes: Vec<bool> = Vec::new();
    player.poll_each(PLAY_BATCH, PLAY_BATCH_BYTES, |item| match item {
        PlayItem::Published => {
            if *unpublished {
                session.notify_publish(*stream_id, name);
                session.send_user_control(UserControl::StreamBegin(*stream_id));
                *unpublished = false;
                take(session, out);
            }
            notes.push(true);
        }
        PlayItem::Unpublished => {
            session.notify_unpublish(*stream_id, name);
            session.send_user_control(UserControl::StreamEof(*stream_id));
            *unpublished = true;
            take(session, out);
            notes.push(false);
        }
        PlayItem::Media(m) => {
            if !*data_started {
                session.send_play_data_start(*stream_id, m.timestamp);
                *data_started = true;
                take(session, out);
            }
            // The message's payload and chunk headers are shared by every player: only
            // refcounts here, two buffers for a message within one chunk.
            m.push_chunks(*chunk_size, *stream_id, out);
        }
    });
    for published in notes {
        if published {
            info!(stream = %player.key(), "publisher is on, playing");
        } else {
            info!(stream = %player.key(), "publisher left, waiting for a republish");
        }
    }
}

/// Players of a process are spread over this many phases of the `mw_latency` period.
const FEED_PHASES: u32 = 8;

/// The phase of the next player: round robin, so that each phase holds an equal share.
fn next_phase() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed) % FEED_PHASES
}

/// When a player that was just fed is fed next: the first time after `now` that falls on
/// the player's `phase` of a clock shared by every connection of the process (period
/// `mw_latency`, [`FEED_PHASES`] phases). Players of a phase wake up together, so a single
/// timer tick and poll of the runtime serves a whole group instead of one wake-up per
/// player spread over the interval; and the groups take turns, so the burst of writes at a
/// tick is an eighth of the players, short enough that a new player's handshake is not
/// stuck behind the writes to every player (first-frame latency). No wait is longer than
/// `mw_latency`; the first after a feed off the clock (the first one, or one that waited
/// for the publisher) is shorter.
fn next_feed(now: Instant, mw_latency: Duration, phase: u32) -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    if mw_latency.is_zero() {
        return now;
    }
    let epoch = *EPOCH.get_or_init(|| now);
    if now < epoch {
        // A clock that runs behind the shared one (tokio's paused clock in tests).
        return now + mw_latency;
    }
    let q = mw_latency.as_nanos();
    let offset = q * u128::from(phase % FEED_PHASES) / u128::from(FEED_PHASES);
    let since = (now - epoch).as_nanos();
    // The first tick of this phase strictly after `now`.
    let periods = if since < offset {
        0
    } else {
        (since - offset) / q + 1
    };
    epoch + Duration::from_nanos((offset + periods * q).min(u64::MAX as u128) as u64)
}

/// Read once from a socket that polled readable and feed the bytes to the session:
/// `Some(0)` when the peer closed, `None` when the readiness was stale.
fn read_some(
    socket: &TcpStream,
    session: &mut ServerSession,
    stats: &ConnStats,
) -> Result<Option<usize>, ConnError> {
    let mut buf = [0u8; READ_CHUNK];
    match socket.try_read(&mut buf) {
        Ok(n) => {
            stats.add_in(n);
            if n > 0 {
                session.feed(&buf[..n])?;
            }
            Ok(Some(n))
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Most buffers handed to one writev (Linux allows 1024). A message is two buffers (its
/// chunk header and payload) when it fits one chunk; a player's merged write is about 25
/// messages at 500 kbps and the default `mw_latency`, 70 at 1 s, and the GOP cache at the
/// start a few hundred: each writev costs some 30 µs of kernel time here and filling the
/// (stack) array a few ns per entry, so it is sized for whole merged writes.
const MAX_IOV: usize = 512;

/// Write every buffer in `out` (in order) with as few writev calls as the socket allows,
/// waiting for the socket at most [`SEND_TIMEOUT`]. `out` is left empty and without
/// capacity: a player's list is a few dozen buffers every `mw_latency` (more for the GOP
/// cache at the start), not worth keeping between writes for thousands of players.
async fn write_all_vectored(
    socket: &TcpStream,
    out: &mut Vec<Bytes>,
    stats: &ConnStats,
) -> Result<(), ConnError> {
    let mut deadline = None;
    let mut first = 0;
    while first < out.len() {
        let n = match write_some(socket, &out[first..]) {
            Ok(0) => return Err(ConnError::Io(ErrorKind::WriteZero.into())),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let d = *deadline.get_or_insert_with(|| Instant::now() + SEND_TIMEOUT);
                match tokio::time::timeout_at(d, socket.writable()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(ConnError::SendTimeout(SEND_TIMEOUT)),
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stats.add_out(n);
        // Drop what was written: whole buffers, then the front of a partial one.
        let mut left = n;
        while left > 0 {
            let len = out[first].len();
            if left >= len {
                left -= len;
                first += 1;
            } else {
                out[first] = out[first].slice(left..);
                left = 0;
            }
        }
    }
    *out = Vec::new();
    Ok(())
}

/// One writev of the front of `bufs`, without waiting. The slices live on this stack
/// frame, not in the connection's future.
fn write_some(socket: &TcpStream, bufs: &[Bytes]) -> std::io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_IOV];
    let n = bufs.len().min(MAX_IOV);
    for (s, b) in slices.iter_mut().zip(bufs) {
        *s = IoSlice::new(b);
    }
    socket.try_write_vectored(&slices[..n])
}

/// Work out the stream key for a publish/play and check vhost and refer again (the stream
/// name may carry its own `?vhost=`).
fn admit(
    config: &Config,
    request: Option<&StreamRequest>,
    (page_url, peer): (&str, &str),
    name: &str,
    publish: bool,
) -> Result<(StreamKey, Vhost), String> {
    let mut req = request
        .cloned()
        .ok_or_else(|| "publish/play before connect".to_string())?;
    req.set_stream(name);
    if req.stream.is_empty() {
        return Err("empty stream name".into());
    }
    // Names become file paths (DVR, HLS, job logs): no way out of their directory, no
    // control characters.
    let bad =
        |s: &str| s.split('/').any(|c| c == ".." || c == ".") || s.chars().any(|c| c.is_control());
    if bad(&req.stream) || bad(&req.app) {
        return Err(format!(
            "invalid app or stream name {:?}/{:?}",
            req.app, req.stream
        ));
    }
    let v = resolve_vhost(config, &req.vhost)?;
    // The page URL was checked against `all` at connect; publish and play have lists of
    // their own.
    let list = if publish {
        &v.refer.publish
    } else {
        &v.refer.play
    };
    if v.refer.enabled && !refer::allowed(page_url, list) {
        return Err(format!("refer check failed for pageUrl {page_url:?}"));
    }
    // SRS's `security` allow/deny lists, by the client's address.
    if v.security.enabled {
        let ip = peer
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .map_err(|_| format!("security: unknown client address {peer:?}"))?;
        v.security.check(publish, ip)?;
    }
    Ok((
        StreamKey {
            vhost: v.name.clone(),
            app: req.app.clone(),
            stream: req.stream.clone(),
        },
        v.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task holds this future for as long as it plays: the rare paths
    /// (publish, handover, refusals) are boxed so that it stays small.
    #[tokio::test]
    async fn serve_future_stays_small() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let publishers = crate::handover::HandOver::new(
            std::path::PathBuf::from("/nonexistent"),
            Default::default(),
        );
        let ctx = WorkerContext::new(Arc::new(Config::builtin().unwrap()), Arc::new(publishers));
        let f = serve(c, String::new(), Arc::new(ConnStats::default()), ctx);
        let size = std::mem::size_of_val(&f);
        assert!(size <= 2048, "serve future: {size} bytes");
    }

    #[test]
    fn feeds_fall_on_a_shared_clock() {
        let mw = Duration::from_millis(350);
        let t0 = Instant::now();
        let a = next_feed(t0, mw, 0);
        assert!(a > t0 && a <= t0 + mw);
        // Players of a phase fed at different moments of one period wake up together.
        let b = next_feed(t0 + Duration::from_millis(1), mw, 0);
        let c = next_feed(a - Duration::from_millis(1), mw, 0);
        assert!(b == a || b == a + mw);
        assert_eq!(c, a);
        // Fed on the clock: the next feed is one whole period later.
        assert_eq!(next_feed(a, mw, 0), a + mw);
        // Each phase is its own tick, an eighth of the period after the one before, and
        // no wait is longer than the period.
        let ticks: Vec<Instant> = (0..FEED_PHASES).map(|p| next_feed(a, mw, p)).collect();
        assert_eq!(ticks[0], a + mw);
        for p in 1..FEED_PHASES {
            let want = a + mw * p / FEED_PHASES;
            let got = ticks[p as usize];
            assert!(got > a && got.max(want) - got.min(want) < Duration::from_micros(1));
        }
        assert_eq!(next_feed(ticks[3], mw, 3), ticks[3] + mw);
        // Low-latency mode: no wait.
        assert_eq!(next_feed(t0, Duration::ZERO, 5), t0);
    }
}
