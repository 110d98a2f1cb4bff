//! The SRS-compatible HTTP API (`http_api`), aggregated over every process of the tree:
//! the master lists the processes, each process's private API answers for itself, and this
//! module shapes the answers like SRS's (`code`, `server`, `service`, `pid`, ...), so that
//! SRS dashboards and scripts keep working.
//!
//! `/api/v1/versions`, `/summaries`, `/vhosts`, `/streams[/{id}]`, `/clients[/{id}]`
//! (`DELETE` kicks), `/raw?rpc=reload`, and `/metrics` in the Prometheus text format.
//! Errors are JSON with SRS-style codes and the matching HTTP status.

use crate::{sysinfo, HttpContext};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use srs_ipc::control::{
    ApiRequest, ApiResponse, ClientInfo, FromMaster, ProcessInfo, Role, StreamDetail, ToMaster,
};
use srs_ipc::link::{self, Link};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// SRS's error code for a stream that does not exist (`ERROR_RTMP_STREAM_NOT_FOUND`).
pub const ERROR_STREAM_NOT_FOUND: u32 = 2048;
/// SRS's error code for a client that does not exist (`ERROR_RTMP_CLIENT_NOT_FOUND`).
pub const ERROR_CLIENT_NOT_FOUND: u32 = 2049;
/// SRS's error code for a bad request (`ERROR_HTTP_DATA_INVALID`).
pub const ERROR_INVALID: u32 = 4026;
/// SRS's error code for a failed system call or an unreachable part of the tree.
pub const ERROR_SYSTEM: u32 = 1000;

fn server_id() -> String {
    // The same id as in hook bodies, for every process of the tree.
    srs_hooks::server_id()
}

fn envelope(mut body: Value) -> Value {
    if let Value::Object(m) = &mut body {
        m.insert("code".into(), json!(0));
        m.insert("server".into(), json!(server_id()));
        m.insert(
            "service".into(),
            json!(format!("srs-rs-{}", env!("CARGO_PKG_VERSION"))),
        );
        // A body that names the server's pid (the master's) keeps it.
        m.entry("pid")
            .or_insert_with(|| json!(std::process::id().to_string()));
    }
    body
}

fn ok(body: Value, crossdomain: bool) -> Response {
    with_cors(Json(envelope(body)).into_response(), crossdomain)
}

fn error(status: StatusCode, code: u32, why: &str, crossdomain: bool) -> Response {
    let r = (
        status,
        Json(json!({ "code": code, "server": server_id(), "error": why })),
    )
        .into_response();
    with_cors(r, crossdomain)
}

fn with_cors(mut r: Response, on: bool) -> Response {
    if on {
        r.headers_mut().insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    r
}

/// A vhost's API id (`/api/v1/vhosts`, and `vhost` in streams and clients).
pub fn vhost_id(vhost: &str) -> String {
    stream_id(vhost, "", "")
}

/// A stream's API id: stable for a stream key.
pub fn stream_id(vhost: &str, app: &str, stream: &str) -> String {
    // The same id as in hook bodies.
    srs_hooks::stream_id(vhost, app, stream)
}

async fn processes(ctx: &HttpContext) -> Result<Vec<ProcessInfo>, String> {
    let mut link = Link::connect(&ctx.master_socket)
        .await
        .map_err(|e| e.to_string())?;
    link.send(&ToMaster::ListProcesses)
        .await
        .map_err(|e| e.to_string())?;
    match link.recv::<FromMaster>().await {
        Ok(Some(FromMaster::Processes(p))) => Ok(p),
        Ok(other) => Err(format!("unexpected answer {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}

async fn ask_all(procs: &[ProcessInfo], req: ApiRequest) -> Vec<(ProcessInfo, ApiResponse)> {
    let mut out = Vec::new();
    for p in procs.iter().filter(|p| p.api_port != 0 && p.pid != 0) {
        if let Ok(r) = link::query(p.api_port, &req).await {
            out.push((p.clone(), r));
        }
    }
    out
}

/// Everything the API aggregates, fetched once per request.
struct Snapshot {
    procs: Vec<ProcessInfo>,
    details: Vec<StreamDetail>,
    clients: Vec<(Role, ClientInfo)>,
    /// Players per stream (`vhost/app/stream`), summed over readers.
    players: HashMap<String, u64>,
    rates: Arc<Rates>,
}

async fn snapshot(ctx: &HttpContext) -> Result<Snapshot, String> {
    let procs = processes(ctx).await?;
    let mut details = Vec::new();
    let mut clients = Vec::new();
    let mut players: HashMap<String, u64> = HashMap::new();
    for (p, r) in ask_all(&procs, ApiRequest::StreamDetails).await {
        if let ApiResponse::StreamDetails(d) = r {
            if p.role == Role::Backsource {
                details.extend(d);
            }
        }
    }
    for (p, r) in ask_all(&procs, ApiRequest::Clients).await {
        if let ApiResponse::Clients(list) = r {
            for c in list {
                if c.kind == "play" {
                    *players.entry(c.stream.clone()).or_default() += 1;
                }
                clients.push((p.role, c));
            }
        }
    }
    details.sort_by(|a, b| (&a.vhost, &a.app, &a.stream).cmp(&(&b.vhost, &b.app, &b.stream)));
    Ok(Snapshot {
        procs,
        details,
        clients,
        players,
        rates: ctx.rates.clone(),
    })
}

/// Byte counters sampled at each API request, for SRS's `kbps.recv_30s`/`send_30s`: the
/// rate over the last 30 s of samples (the console asks every 3 s), or over the whole
/// life of a stream or client first seen less than a second ago.
#[derive(Debug, Default)]
pub struct Rates {
    samples: Mutex<HashMap<String, std::collections::VecDeque<(Instant, u64, u64)>>>,
}

/// The window of `kbps.*_30s`.
const RATE_WINDOW: Duration = Duration::from_secs(30);

impl Rates {
    /// (recv, send) kbps of `id` whose counters are `recv`/`send` bytes after `alive_s`.
    pub fn kbps(&self, id: &str, recv: u64, send: u64, alive_s: u64) -> (u64, u64) {
        let now = Instant::now();
        let mut all = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() > 4096 {
            // Streams and clients long gone.
            all.retain(|_, q| {
                q.back()
                    .is_some_and(|(t, ..)| now.duration_since(*t) < RATE_WINDOW * 2)
            });
        }
        let q = all.entry(id.to_string()).or_default();
        // Counters that went back: a new publish of the stream; start over.
        if q.back().is_some_and(|&(_, r, s)| recv < r || send < s) {
            q.clear();
        }
        while q
            .front()
            .is_some_and(|(t, ..)| now.duration_since(*t) > RATE_WINDOW)
        {
            q.pop_front();
        }
        let rate = match q.front() {
            Some(&(t, r, s)) if now.duration_since(t) >= Duration::from_secs(1) => {
                let ms = now.duration_since(t).as_millis().max(1) as u64;
                ((recv - r) * 8 / ms, (send - s) * 8 / ms)
            }
            _ => {
                let s = alive_s.max(1);
                (recv * 8 / 1000 / s, send * 8 / 1000 / s)
            }
        };
        if q.back().map_or(true, |(t, ..)| {
            now.duration_since(*t) >= Duration::from_secs(1)
        }) {
            q.push_back((now, recv, send));
        }
        rate
    }
}

/// A stream's bytes sent to its clients, and its (recv, send) kbps over the last 30 s.
fn stream_rates(d: &StreamDetail, snap: &Snapshot) -> (u64, (u64, u64)) {
    let key = format!("{}/{}/{}", d.vhost, d.app, d.stream);
    let send_bytes: u64 = snap
        .clients
        .iter()
        .filter(|(_, c)| c.stream == key)
        .map(|(_, c)| c.bytes_out)
        .sum();
    let alive_s = if d.live_ms == 0 {
        1
    } else {
        (now_ms().saturating_sub(d.live_ms) / 1000).max(1)
    };
    let id = stream_id(&d.vhost, &d.app, &d.stream);
    (
        send_bytes,
        snap.rates.kbps(&id, d.recv_bytes, send_bytes, alive_s),
    )
}

fn stream_json(d: &StreamDetail, snap: &Snapshot) -> Value {
    let key = format!("{}/{}/{}", d.vhost, d.app, d.stream);
    let clients = snap.players.get(&key).copied().unwrap_or(0) + 1;
    let (send_bytes, kbps) = stream_rates(d, snap);
    let id = stream_id(&d.vhost, &d.app, &d.stream);
    json!({
        "id": id,
        "name": d.stream,
        // SRS lists the vhost by the id `/api/v1/vhosts` gives it.
        "vhost": vhost_id(&d.vhost),
        "app": d.app,
        "tcUrl": d.tc_url,
        "url": format!("/{}/{}", d.app, d.stream),
        "live_ms": d.live_ms,
        "clients": clients,
        "frames": d.frames,
        "send_bytes": send_bytes,
        "recv_bytes": d.recv_bytes,
        "kbps": {
            "recv_30s": kbps.0,
            "send_30s": kbps.1,
        },
        // An edge's stream whose upstream is not delivering (yet) is listed, not active.
        "publish": { "active": d.live_ms > 0, "cid": d.publisher_cid },
        "video": d.video.as_ref().map(|v| json!({
            "codec": v.codec, "profile": v.profile, "level": v.level, "width": v.width, "height": v.height,
        })),
        "audio": d.audio.as_ref().map(|a| json!({
            "codec": a.codec, "sample_rate": a.sample_rate, "channel": a.channel, "profile": a.profile,
        })),
        // Ours: the stream's relays to or from other servers (edge pull from the origin,
        // edge push to it, forwards), with their state.
        "relays": d.relays.iter().map(|r| json!({
            "kind": r.kind, "server": r.server, "state": r.state, "since_ms": r.since_ms,
            "bytes_in": r.bytes_in, "bytes_out": r.bytes_out, "retries": r.retries,
            "last_error": r.last_error,
        })).collect::<Vec<_>>(),
    })
}

fn client_json(role: Role, c: &ClientInfo, snap: &Snapshot) -> Value {
    let (vhost, app, stream) = {
        let mut it = c.stream.splitn(3, '/');
        (
            it.next().unwrap_or("").to_string(),
            it.next().unwrap_or("").to_string(),
            it.next().unwrap_or("").to_string(),
        )
    };
    let publish = c.kind == "publish";
    let tc_url = snap
        .details
        .iter()
        .find(|d| d.vhost == vhost && d.app == app && d.stream == stream)
        .map(|d| d.tc_url.clone())
        .unwrap_or_default();
    let kbps = snap.rates.kbps(
        &format!("client {}", c.cid),
        c.bytes_in,
        c.bytes_out,
        c.alive_s,
    );
    json!({
        "id": c.cid,
        "vhost": vhost_id(&vhost),
        "stream": if stream.is_empty() { Value::Null } else { json!(stream_id(&vhost, &app, &stream)) },
        "ip": c.peer.rsplit_once(':').map(|(ip, _)| ip).unwrap_or(&c.peer),
        "tcUrl": tc_url,
        "url": if stream.is_empty() { String::new() } else { format!("/{app}/{stream}") },
        "name": stream,
        "type": match (publish, role) { (true, _) => "fmle-publish", (false, Role::Httpd) => "flv-play", _ => "rtmp-play" },
        "publish": publish,
        "alive": c.alive_s as f64,
        "send_bytes": c.bytes_out,
        "recv_bytes": c.bytes_in,
        "kbps": {
            "recv_30s": kbps.0,
            "send_30s": kbps.1,
        },
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

type Ctx = State<Arc<HttpContext>>;

async fn versions(State(ctx): Ctx) -> Response {
    let v: Vec<u64> = env!("CARGO_PKG_VERSION")
        .split('.')
        .filter_map(|x| x.parse().ok())
        .collect();
    ok(
        json!({ "data": {
            "major": v.first().copied().unwrap_or(0),
            "minor": v.get(1).copied().unwrap_or(0),
            "revision": v.get(2).copied().unwrap_or(0),
            "version": env!("CARGO_PKG_VERSION"),
        }}),
        ctx.config().http_api.crossdomain,
    )
}

async fn summaries(State(ctx): Ctx) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    let snap = match snapshot(&ctx).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    };
    let mem: u64 = snap.procs.iter().map(|p| p.stats.rss_kib).sum();
    let conns: u64 = snap.procs.iter().map(|p| p.stats.connections).sum();
    let master = snap.procs.iter().find(|p| p.role == Role::Master);
    let master_pid = master.map(|m| m.pid).unwrap_or(0);
    let uptime = master.map(|m| m.uptime_s).unwrap_or(0);
    let m = sysinfo::Machine::read();
    let r = ctx.sampler.rates();
    let ppid = std::fs::read_to_string(format!("/proc/{master_pid}/stat"))
        .ok()
        .and_then(|t| sysinfo::proc_stat(&t))
        .map_or(0, |(p, _)| p);
    let argv = std::fs::read(format!("/proc/{master_pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    let cwd = std::fs::read_link(format!("/proc/{master_pid}/cwd"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pct = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let bytes_in: u64 = snap.procs.iter().map(|p| p.stats.bytes_in).sum();
    let bytes_out: u64 = snap.procs.iter().map(|p| p.stats.bytes_out).sum();
    let now = now_ms();
    // SRS's fields, computed over every process of the tree (ratios as SRS gives them: a
    // CPU or memory share of 1 is all of it).
    let body = json!({ "pid": master_pid.to_string(), "data": {
        "ok": true,
        "now_ms": now,
        "self": {
            "version": env!("CARGO_PKG_VERSION"),
            "pid": master_pid,
            "ppid": ppid,
            "argv": argv,
            "cwd": cwd,
            "mem_kbyte": mem,
            "mem_percent": pct(mem, m.mem_total),
            "cpu_percent": r.tree_cpu,
            "srs_uptime": uptime,
            "processes": snap.procs.len(),
        },
        "system": {
            "cpu_percent": r.cpu,
            "disk_read_KBps": r.disk_read_kbps,
            "disk_write_KBps": r.disk_write_kbps,
            "disk_busy_percent": r.disk_busy_percent,
            "mem_ram_kbyte": m.mem_total,
            "mem_ram_percent": pct(m.mem_total.saturating_sub(m.mem_available), m.mem_total),
            "mem_swap_kbyte": m.swap_total,
            "mem_swap_percent": pct(m.swap_total.saturating_sub(m.swap_free), m.swap_total),
            "cpus": m.cpus.0,
            "cpus_online": m.cpus.1,
            "uptime": m.uptime.0,
            "ilde_time": m.uptime.1,
            "load_1m": m.load.0,
            "load_5m": m.load.1,
            "load_15m": m.load.2,
            "net_sample_time": now,
            "net_recv_bytes": m.net.0 .0,
            "net_send_bytes": m.net.0 .1,
            "net_recvi_bytes": m.net.1 .0,
            "net_sendi_bytes": m.net.1 .1,
            "srs_sample_time": now,
            "srs_recv_bytes": bytes_in,
            "srs_send_bytes": bytes_out,
            "conn_sys": m.sockets.0,
            "conn_sys_et": m.established,
            "conn_sys_tw": m.sockets.1,
            "conn_sys_udp": m.sockets.2,
            "conn_srs": conns,
            "kbps_in": snap.procs.iter().map(|p| p.kbps_in).sum::<u64>(),
            "kbps_out": snap.procs.iter().map(|p| p.kbps_out).sum::<u64>(),
        },
    }});
    // The top-level pid is the server's (the master's), as SRS's is its only process.
    ok(body, cross)
}

/// Pids of every process of the tree (for the CPU sample).
pub async fn tree_pids(ctx: &HttpContext) -> Vec<u32> {
    processes(ctx)
        .await
        .map(|p| p.iter().map(|p| p.pid).filter(|p| *p > 0).collect())
        .unwrap_or_default()
}

async fn vhosts(State(ctx): Ctx) -> Response {
    let config = ctx.config();
    let cross = config.http_api.crossdomain;
    let snap = match snapshot(&ctx).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    };
    let list: Vec<Value> = config
        .vhosts
        .iter()
        .map(|v| {
            let streams: Vec<&StreamDetail> = snap.details.iter().filter(|d| d.vhost == v.name).collect();
            let kbps: Vec<(u64, u64)> = streams
                .iter()
                .map(|d| stream_rates(d, &snap).1)
                .collect();
            let clients = snap
                .clients
                .iter()
                .filter(|(_, c)| c.stream.starts_with(&format!("{}/", v.name)))
                .count();
            json!({
                "id": vhost_id(&v.name),
                "name": v.name,
                "enabled": v.enabled,
                "clients": clients,
                "streams": streams.len(),
                "recv_bytes": streams.iter().map(|d| d.recv_bytes).sum::<u64>(),
                "kbps": {
                    "recv_30s": kbps.iter().map(|k| k.0).sum::<u64>(),
                    "send_30s": kbps.iter().map(|k| k.1).sum::<u64>(),
                },
                "hls": { "enabled": v.hls.enabled, "fragment": v.hls.hls_fragment.as_secs_f64(), "window": v.hls.hls_window.as_secs_f64() },
            })
        })
        .collect();
    ok(json!({ "vhosts": list }), cross)
}

/// `/api/v1/vhosts/{id}`: one vhost, by id (or name), as SRS answers it.
async fn vhost(State(ctx): Ctx, Path(id): Path<String>) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    let all = vhosts(State(ctx.clone())).await;
    let body = match axum::body::to_bytes(all.into_body(), 1 << 22).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ERROR_SYSTEM,
                &e.to_string(),
                cross,
            )
        }
    };
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let found = v["vhosts"].as_array().and_then(|l| {
        l.iter()
            .find(|x| x["id"] == id.as_str() || x["name"] == id.as_str())
            .cloned()
    });
    match found {
        Some(x) => ok(json!({ "vhost": x }), cross),
        None => error(StatusCode::NOT_FOUND, ERROR_INVALID, "no such vhost", cross),
    }
}

async fn streams(State(ctx): Ctx) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    match snapshot(&ctx).await {
        Ok(snap) => ok(
            json!({ "streams": snap.details.iter().map(|d| stream_json(d, &snap)).collect::<Vec<_>>() }),
            cross,
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    }
}

async fn stream(State(ctx): Ctx, Path(id): Path<String>) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    let snap = match snapshot(&ctx).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    };
    match snap
        .details
        .iter()
        .find(|d| stream_id(&d.vhost, &d.app, &d.stream) == id)
    {
        Some(d) => ok(json!({ "stream": stream_json(d, &snap) }), cross),
        None => error(
            StatusCode::NOT_FOUND,
            ERROR_STREAM_NOT_FOUND,
            "stream not found",
            cross,
        ),
    }
}

async fn clients(State(ctx): Ctx) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    match snapshot(&ctx).await {
        Ok(snap) => ok(
            json!({ "clients": snap.clients.iter().map(|(r, c)| client_json(*r, c, &snap)).collect::<Vec<_>>() }),
            cross,
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    }
}

/// `GET /api/v1/clients/{id}`, or a kick with `?method=DELETE` (how SRS's console kicks:
/// JSONP can only GET).
async fn client_or_kick(
    state: State<Arc<HttpContext>>,
    id: Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if q.get("method")
        .is_some_and(|m| m.eq_ignore_ascii_case("DELETE"))
    {
        return kick(state, id).await;
    }
    client(state, id).await
}

async fn client(State(ctx): Ctx, Path(id): Path<String>) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    let snap = match snapshot(&ctx).await {
        Ok(s) => s,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    };
    match snap.clients.iter().find(|(_, c)| c.cid == id) {
        Some((r, c)) => ok(json!({ "client": client_json(*r, c, &snap) }), cross),
        None => error(
            StatusCode::NOT_FOUND,
            ERROR_CLIENT_NOT_FOUND,
            "client not found",
            cross,
        ),
    }
}

/// Close client `cid` wherever it lives (a worker, or backsource for a publisher):
/// whether some process had it.
pub async fn kick_client(ctx: &Arc<HttpContext>, cid: &str) -> Result<bool, String> {
    let procs = processes(ctx).await?;
    Ok(ask_all(&procs, ApiRequest::Kick(cid.to_string()))
        .await
        .iter()
        .any(|(_, r)| *r == ApiResponse::Kicked(true)))
}

/// DELETE a client: wherever it lives (a worker, or backsource for a publisher).
async fn kick(State(ctx): Ctx, Path(id): Path<String>) -> Response {
    let cross = ctx.config().http_api.crossdomain;
    let found = match kick_client(&ctx, &id).await {
        Ok(f) => f,
        Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
    };
    if found {
        ok(json!({}), cross)
    } else {
        error(
            StatusCode::NOT_FOUND,
            ERROR_CLIENT_NOT_FOUND,
            "client not found",
            cross,
        )
    }
}

/// SRS's `ERROR_SYSTEM_CONFIG_RAW`: an rpc the raw API does not serve.
pub const ERROR_RAW: u32 = 1060;
/// SRS's `ERROR_SYSTEM_CONFIG_RAW_DISABLED`: the raw API, or this rpc of it, is off.
pub const ERROR_RAW_DISABLED: u32 = 1061;

/// `{"code": N}` with HTTP 200, as SRS's `srs_api_response_code` answers.
fn code_only(code: u32, cross: bool) -> Response {
    with_cors(Json(json!({ "code": code })).into_response(), cross)
}

/// `/api/v1/raw`, as SRS 6: off unless `raw_api { enabled on; }`; `rpc=reload` also needs
/// `allow_reload on`. Refusals are SRS's codes (1061 disabled, 1060 unknown rpc).
async fn raw(State(ctx): Ctx, Query(q): Query<HashMap<String, String>>) -> Response {
    let config = ctx.config();
    let cross = config.http_api.crossdomain;
    let raw_api = &config.http_api.raw_api;
    if !raw_api.enabled {
        tracing::warn!("raw api refused: http_api.raw_api is off");
        return code_only(ERROR_RAW_DISABLED, cross);
    }
    match q.get("rpc").map(String::as_str) {
        Some("reload") if !raw_api.allow_reload => {
            tracing::warn!("raw api refused: rpc=reload needs raw_api.allow_reload on");
            code_only(ERROR_RAW_DISABLED, cross)
        }
        Some("reload") => {
            let r = async {
                let mut link = Link::connect(&ctx.master_socket)
                    .await
                    .map_err(|e| e.to_string())?;
                link.send(&ToMaster::Reload)
                    .await
                    .map_err(|e| e.to_string())?;
                match link.recv::<FromMaster>().await {
                    Ok(Some(FromMaster::Ok)) => Ok(()),
                    Ok(other) => Err(format!("{other:?}")),
                    Err(e) => Err(e.to_string()),
                }
            }
            .await;
            match r {
                Ok(()) => ok(json!({}), cross),
                Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, ERROR_SYSTEM, &e, cross),
            }
        }
        _ => code_only(ERROR_RAW, cross),
    }
}

/// SRS 5's API authentication: with `http_api { auth { enabled on; } }`, every path under
/// `/api/` (and `/metrics`, which SRS serves on its exporter port) needs HTTP Basic
/// credentials; without them: 401 and `WWW-Authenticate: Basic realm="SRS"`.
async fn authenticate(
    State(ctx): Ctx,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let config = ctx.config();
    let auth = &config.http_api.auth;
    let path = req.uri().path();
    if !auth.enabled || !(path.contains("/api/") || path == "/metrics") {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{}:{}", auth.username, auth.password);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), expected.as_bytes()) => next.run(req).await,
        other => {
            tracing::warn!(
                path,
                given = other.is_some(),
                "API request refused: bad or no credentials"
            );
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"SRS\""),
            );
            r
        }
    }
}

/// JSONP, as SRS serves every API path: with `?callback=NAME`, the JSON answer comes as
/// `NAME(...)` in JavaScript (what SRS's console loads its data with).
async fn jsonp(
    State(ctx): Ctx,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // A script any page can load: only when the API is open to other origins.
    if !ctx.config().http_api.crossdomain {
        return next.run(req).await;
    }
    let callback = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "callback")
            .map(|(_, v)| v.to_string())
    });
    let r = next.run(req).await;
    let Some(cb) = callback.filter(|c| {
        !c.is_empty()
            && c.len() <= 128
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.$".contains(&b))
    }) else {
        return r;
    };
    let (mut parts, body) = r.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut out = Vec::with_capacity(bytes.len() + cb.len() + 3);
    out.extend_from_slice(cb.as_bytes());
    out.push(b'(');
    out.extend_from_slice(&bytes);
    out.extend_from_slice(b")");
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    // A JSONP answer is a script: the browser loads it whatever the status.
    parts.status = StatusCode::OK;
    Response::from_parts(parts, axum::body::Body::from(out))
}

/// Compare without an early exit, so that timing does not tell how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Prometheus text format.
async fn metrics(State(ctx): Ctx) -> Response {
    let snap = match snapshot(&ctx).await {
        Ok(s) => s,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    };
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, kind: &str, rows: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    let proc_label =
        |p: &ProcessInfo| format!("{{role=\"{}\",index=\"{}\"}}", p.role.name(), p.index);
    metric(
        "srs_up",
        "The server answers.",
        "gauge",
        vec![(String::new(), 1)],
    );
    metric(
        "srs_process_rss_kibibytes",
        "Resident memory of each process of the tree.",
        "gauge",
        snap.procs
            .iter()
            .map(|p| (proc_label(p), p.stats.rss_kib))
            .collect(),
    );
    metric(
        "srs_process_connections",
        "Client connections of each process.",
        "gauge",
        snap.procs
            .iter()
            .map(|p| (proc_label(p), p.stats.connections))
            .collect(),
    );
    metric(
        "srs_process_restarts_total",
        "Restarts of each child.",
        "counter",
        snap.procs
            .iter()
            .map(|p| (proc_label(p), p.restarts as u64))
            .collect(),
    );
    metric(
        "srs_receive_bytes_total",
        "Bytes received from clients.",
        "counter",
        snap.procs
            .iter()
            .map(|p| (proc_label(p), p.stats.bytes_in))
            .collect(),
    );
    metric(
        "srs_send_bytes_total",
        "Bytes sent to clients.",
        "counter",
        snap.procs
            .iter()
            .map(|p| (proc_label(p), p.stats.bytes_out))
            .collect(),
    );
    metric(
        "srs_streams",
        "Published streams.",
        "gauge",
        vec![(String::new(), snap.details.len() as u64)],
    );
    metric(
        "srs_stream_clients",
        "Clients of each stream (players and the publisher).",
        "gauge",
        snap.details
            .iter()
            .map(|d| {
                let key = format!("{}/{}/{}", d.vhost, d.app, d.stream);
                (
                    format!(
                        "{{vhost=\"{}\",app=\"{}\",stream=\"{}\"}}",
                        d.vhost, d.app, d.stream
                    ),
                    snap.players.get(&key).copied().unwrap_or(0) + 1,
                )
            })
            .collect(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn not_found(State(ctx): Ctx) -> Response {
    error(
        StatusCode::NOT_FOUND,
        ERROR_INVALID,
        "no such API",
        ctx.config().http_api.crossdomain,
    )
}

/// The API routes.
pub fn router(ctx: Arc<HttpContext>) -> axum::Router {
    Router::new()
        .route("/api/v1/versions", get(versions))
        .route("/api/v1/summaries", get(summaries))
        .route("/api/v1/vhosts", get(vhosts))
        .route("/api/v1/vhosts/", get(vhosts))
        .route("/api/v1/vhosts/:id", get(vhost))
        .route("/api/v1/streams", get(streams))
        .route("/api/v1/streams/", get(streams))
        .route("/api/v1/streams/:id", get(stream))
        .route("/api/v1/clients", get(clients))
        .route("/api/v1/clients/", get(clients))
        .route("/api/v1/clients/:id", get(client_or_kick).delete(kick))
        .route("/api/v1/raw", get(raw))
        .route("/metrics", get(metrics))
        .route(
            "/api/*rest",
            get(not_found).post(not_found).delete(not_found),
        )
        .layer(axum::middleware::from_fn_with_state(ctx.clone(), jsonp))
        .layer(axum::middleware::from_fn_with_state(
            ctx.clone(),
            authenticate,
        ))
        .with_state(ctx)
}
