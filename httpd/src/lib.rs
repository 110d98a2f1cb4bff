//! httpd: the SRS-compatible HTTP API, HTTP-FLV live streams, HLS and static files
//! (DESIGN.md). It is a ring reader like a stream worker (`srs_live`): live streams come
//! from the rings through mirrors into its own local sources.
//!
//! The master binds the HTTP ports (`http_api.listen`, `http_server.listen`) and hands them
//! over like the RTMP ports; when both name the same address one listener serves both.

pub mod api;
pub mod files;
pub mod flv;
pub mod hls;
pub mod mount;
pub mod sysinfo;
pub mod vod;
pub mod www;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use srs_conf::Config;
use srs_ipc::control::{ClientInfo, Role};
use srs_live::mirror::Mirrors;
use srs_live::reader::{self, Reader, ReaderPaths};
use srs_live::{Hub, SourceConfig, StreamKey};
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tracing::{error, info, warn};

/// The HTTP listening sockets the master handed over.
#[derive(Debug, Default)]
pub struct HttpListeners {
    /// `http_api.listen` (None: disabled, or shared with the server's).
    pub api: Option<std::net::TcpListener>,
    /// `http_server.listen` (None: disabled).
    pub server: Option<std::net::TcpListener>,
    /// The API is served on the server's listener too (same address).
    pub api_on_server: bool,
}

/// Where httpd finds its peers.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The config snapshot.
    pub config: Option<PathBuf>,
    /// The master's control socket.
    pub master_socket: PathBuf,
}

/// What every request handler shares.
pub struct HttpContext {
    config: Mutex<Arc<Config>>,
    /// Local sources fed by the mirrors (HTTP-FLV players read these).
    pub hub: Arc<Hub>,
    /// Ring mirrors.
    pub mirrors: Arc<Mirrors>,
    /// Streams of edge vhosts its players want pulled.
    pub demands: Arc<srs_live::Demands>,
    /// The master's control socket (for the API's aggregation and reload).
    pub master_socket: PathBuf,
    /// When httpd started.
    pub started: Instant,
    /// HTTP-FLV players now.
    pub flv_players: std::sync::atomic::AtomicU64,
    /// HLS writers of the published streams.
    pub hls: Arc<hls::HlsWriters>,
    /// The HTTP hook callers, per vhost.
    pub hooks: srs_hooks::HookPool,
    /// CPU and disk rates for `/api/v1/summaries`, sampled every second.
    pub sampler: sysinfo::Sampler,
    /// Byte counters of streams and clients, for the API's 30 s rates.
    pub rates: Arc<api::Rates>,
    /// Edge streams HLS players asked for, and until when they keep the pull going.
    pub hls_leases:
        Mutex<std::collections::HashMap<StreamKey, (srs_live::DemandGuard, std::time::Instant)>>,
    /// HTTP-FLV players by connection id.
    flv: Mutex<std::collections::HashMap<String, Arc<FlvClient>>>,
}

impl HttpContext {
    /// The current config.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn flv_clients(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Arc<FlvClient>>> {
        self.flv.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The HTTP-FLV players, as the private API lists them.
    fn client_list(&self) -> Vec<ClientInfo> {
        self.flv_clients()
            .iter()
            .map(|(cid, c)| ClientInfo {
                cid: cid.clone(),
                peer: c.peer.clone(),
                kind: "play".into(),
                stream: c.stream.clone(),
                alive_s: c.since.elapsed().as_secs(),
                bytes_in: 0,
                bytes_out: c.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }

    /// End an HTTP-FLV player's response.
    fn kick(&self, cid: &str) -> bool {
        match self.flv_clients().get(cid) {
            Some(c) => {
                c.kick.notify_one();
                true
            }
            None => false,
        }
    }

    fn set_config(&self, c: Arc<Config>) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }
}

/// Add `Access-Control-Allow-Origin: *` when `crossdomain` is on.
fn cors(mut r: Response, on: bool) -> Response {
    if on {
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    r
}

/// Which live stream an HTTP path names (see [`mount`]).
pub use mount::{match_stream, Remux};

/// What an edge's pull passes to the origin for an HTTP player: a tcUrl made of the
/// request's host and app, and the stream with the request's query.
pub fn pull_request(host: &str, key: &StreamKey, query: &str) -> srs_ipc::control::PullRequest {
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let host = host.split(':').next().unwrap_or(host);
    srs_ipc::control::PullRequest {
        key: key.clone(),
        tc_url: format!("rtmp://{host}/{}", key.app),
        stream: if query.is_empty() {
            key.stream.clone()
        } else {
            format!("{}?{query}", key.stream)
        },
        page_url: String::new(),
    }
}

/// HTTP-FLV if the path is a live mount, else a static file (or a vod m3u8).
async fn serve_http(
    State(ctx): State<Arc<HttpContext>>,
    headers: HeaderMap,
    req: Request,
) -> Response {
    let config = ctx.config();
    let crossdomain = config.http_server.crossdomain;
    if req.method() == Method::OPTIONS {
        return cors(StatusCode::OK.into_response(), crossdomain);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    if req.method() == Method::GET {
        if let Some((v, key, remux)) = match_stream(&config, &host, &path, &query) {
            let peer_ip = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
            if v.security.enabled {
                let checked = match peer_ip {
                    Some(ip) => v.security.check(false, ip),
                    None => Err("security: unknown client address".to_string()),
                };
                if let Err(why) = checked {
                    tracing::warn!(stream = %key, %path, "HTTP-FLV play refused: {why}");
                    return cors(StatusCode::FORBIDDEN.into_response(), crossdomain);
                }
            }
            let cid = srs_live::conn::new_cid();
            let peer = req
                .extensions()
                .get::<PeerAddr>()
                .map(|p| p.0.to_string())
                .unwrap_or_default();
            // Hooks, as SRS calls them for HTTP-FLV: on_play decides, on_stop follows.
            let hook = v.http_hooks.enabled.then(|| {
                let name = if query.is_empty() {
                    key.stream.clone()
                } else {
                    format!("{}?{query}", key.stream)
                };
                let tc_url = format!("rtmp://{}/{}", key.vhost, key.app);
                srs_hooks::HookClient::new(&cid, &peer, (&key.vhost, &key.app), &name, &tc_url, "")
            });
            if let Some(client) = &hook {
                let hooks = ctx.hooks.for_vhost(&v);
                let urls = v.http_hooks.urls("on_play");
                if let Err(why) = hooks.ask("on_play", urls, &client.on_play()).await {
                    tracing::warn!(stream = %key, %path, "HTTP-FLV play refused: {why}");
                    return cors(StatusCode::FORBIDDEN.into_response(), crossdomain);
                }
            }
            info!(stream = %key, %path, "HTTP-FLV play");
            // An edge pulls the stream from its origin while players want it.
            let demand = v
                .cluster
                .edge
                .then(|| ctx.demands.want(pull_request(&host, &key, &query)));
            let player = ctx.hub.play(&key, SourceConfig::of(&v));
            ctx.mirrors.ensure(&key, Some(SourceConfig::of(&v)));
            let mut counted = FlvCount::new(ctx.clone(), cid, peer, key.to_string());
            counted.stop_hook = hook.map(|c| (c, v.clone()));
            let sent = counted.entry.bytes_out.clone();
            let kick = counted.entry.kick.clone();
            // An edge whose origins could not deliver the stream ends the response of a
            // player that got nothing yet.
            let failed = demand.as_ref().map(|d| d.failed());
            let got_media = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let seen = got_media.clone();
            let stop = async move {
                let fail = async move {
                    match failed {
                        Some(f) => {
                            let why = f.await;
                            if !seen.load(std::sync::atomic::Ordering::Relaxed) {
                                tracing::warn!("HTTP-FLV player closed: edge: no origin delivered the stream ({why})");
                                return;
                            }
                            std::future::pending::<()>().await
                        }
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = kick.notified() => {}
                    _ = fail => {}
                }
            };
            // The body ends when the client goes away (hyper drops it) or is kicked.
            let (media, content_type) = match remux {
                Remux::Flv => (
                    futures_util::StreamExt::boxed(flv::body(
                        player,
                        flv::FlvOptions::of(&v.http_remux),
                    )),
                    "video/x-flv",
                ),
                Remux::Ts => (
                    futures_util::StreamExt::boxed(flv::ts_body(player)),
                    "video/MP2T",
                ),
            };
            let body = futures_util::StreamExt::take_until(
                futures_util::StreamExt::map(media, move |b| {
                    let _keep = (&counted, &demand);
                    if let Ok(bytes) = &b {
                        let total = sent
                            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        // Past the FLV header and the first tag: media flows.
                        if total > 4096 {
                            got_media.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    b
                }),
                stop,
            );
            let r = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, content_type)
                .header(header::CACHE_CONTROL, "no-cache")
                .body(Body::from_stream(body))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            return cors(r, crossdomain);
        }
    }
    if req.method() == Method::GET && path.ends_with(".m3u8") {
        if let Some(wait) = hls::edge_demand(&ctx, &config, &host, &path, &query) {
            // The playlist appears once the pull delivered a segment's worth: wait a
            // little for it rather than send the player away with a 404.
            wait.await;
        }
    }
    if let Some(r) = www::serve(req.method(), req.uri(), &headers) {
        return cors(r, crossdomain);
    }
    cors(files::serve(&config, req).await, crossdomain)
}

/// The peer address of a request's connection (set by the accept loop).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// An HTTP-FLV player, for the API's client list and kicks.
#[derive(Debug)]
pub struct FlvClient {
    /// Peer address.
    pub peer: String,
    /// `vhost/app/stream`.
    pub stream: String,
    /// When it started.
    pub since: Instant,
    /// Body bytes sent.
    pub bytes_out: Arc<std::sync::atomic::AtomicU64>,
    /// Woken to end the response (kick).
    pub kick: Arc<tokio::sync::Notify>,
}

/// Registers an HTTP-FLV player while its body lives.
struct FlvCount {
    ctx: Arc<HttpContext>,
    cid: String,
    entry: Arc<FlvClient>,
    /// `on_stop` to tell when the player goes.
    stop_hook: Option<(srs_hooks::HookClient, srs_conf::Vhost)>,
}

impl FlvCount {
    fn new(ctx: Arc<HttpContext>, cid: String, peer: String, stream: String) -> FlvCount {
        let entry = Arc::new(FlvClient {
            peer,
            stream,
            since: Instant::now(),
            bytes_out: Default::default(),
            kick: Default::default(),
        });
        ctx.flv_clients().insert(cid.clone(), entry.clone());
        ctx.flv_players
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FlvCount {
            ctx,
            cid,
            entry,
            stop_hook: None,
        }
    }
}

impl Drop for FlvCount {
    fn drop(&mut self) {
        if let Some((client, vhost)) = self.stop_hook.take() {
            let hooks = self.ctx.hooks.for_vhost(&vhost);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let urls = vhost.http_hooks.urls("on_stop");
                    hooks
                        .tell("on_stop", urls, &client.on_stream("on_stop"))
                        .await;
                });
            }
        }
        self.ctx.flv_clients().remove(&self.cid);
        self.ctx
            .flv_players
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long a client may take to send a request's headers (slowloris).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head we buffer (oversized headers are refused).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most HTTP connections at once; more are closed at accept.
pub const MAX_HTTP_CONNECTIONS: usize = 10_000;

async fn serve_on(listener: std::net::TcpListener, router: Router, what: &'static str) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            error!("{what}: cannot use the listening socket: {e}");
            return;
        }
    };
    if let Ok(a) = listener.local_addr() {
        info!(addr = %a, "{what} serving");
    }
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!("{what}: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_HTTP_CONNECTIONS {
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            warn!(%peer, "{what}: too many connections, closing the new one");
            continue;
        }
        let router = router.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let mut req = req.map(axum::body::Body::new);
                    req.extensions_mut().insert(PeerAddr(peer));
                    tower::ServiceExt::oneshot(router.clone(), req)
                });
            // Bounded heads and a deadline for them: a slow or hostile client costs one
            // small buffer for at most HEADER_READ_TIMEOUT.
            let r = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(io, svc)
                .await;
            if let Err(e) = r {
                tracing::debug!(%peer, "{what}: connection ended: {e}");
            }
            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }
}

/// Run httpd until the master says stop (or goes away).
pub async fn run(config: Config, paths: Paths, listeners: HttpListeners) -> io::Result<()> {
    let hub = Hub::new();
    let mirrors = Mirrors::new(hub.clone());
    let ctx = Arc::new(HttpContext {
        config: Mutex::new(Arc::new(config)),
        hub,
        mirrors: mirrors.clone(),
        demands: srs_live::Demands::new(),
        master_socket: paths.master_socket.clone(),
        started: Instant::now(),
        flv_players: Default::default(),
        hls: Arc::default(),
        hls_leases: Mutex::default(),
        hooks: Default::default(),
        sampler: Default::default(),
        rates: Arc::default(),
        flv: Mutex::default(),
    });
    // The rates /api/v1/summaries reports (CPU, disks): a sample a second.
    if ctx.config().http_api.enabled {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let pids = api::tree_pids(&ctx).await;
                ctx.sampler.sample(&pids);
            }
        });
    }
    let server_router = Router::new().fallback(serve_http).with_state(ctx.clone());
    let api_router = api::router(ctx.clone());
    if let Some(l) = listeners.server {
        let r = if listeners.api_on_server {
            api_router.clone().merge(server_router.clone())
        } else {
            server_router.clone()
        };
        tokio::spawn(serve_on(l, r, "HTTP server"));
    }
    if let Some(l) = listeners.api {
        tokio::spawn(serve_on(l, api_router, "HTTP API"));
    }
    reader::run(
        ctx,
        Role::Httpd,
        0,
        ReaderPaths {
            config: paths.config,
            master_socket: paths.master_socket,
        },
    )
    .await
}

impl Reader for HttpContext {
    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn mirrors(&self) -> &Arc<Mirrors> {
        &self.mirrors
    }

    fn demands(&self) -> &Arc<srs_live::Demands> {
        &self.demands
    }

    fn connections(&self) -> u64 {
        self.flv_players.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn totals(&self) -> (u64, u64) {
        (0, 0)
    }

    fn clients(&self) -> Vec<ClientInfo> {
        self.client_list()
    }

    fn kick(&self, cid: &str) -> bool {
        HttpContext::kick(self, cid)
    }

    fn reloaded(&self, config: Arc<Config>) {
        self.set_config(config);
    }

    fn stream_up(self: &Arc<Self>, up: &srs_ipc::control::StreamUp) {
        // The HLS writer first: its player is then waiting when the mirror starts, and
        // gets the publish from its very start.
        self.hls.stream_up(self, up);
    }

    async fn stop(&self, _graceful: bool, _grace: Duration) {}
}
