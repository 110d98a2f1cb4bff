//! SRS's HTTP hooks (`vhost { http_hooks { on_publish URL ...; } }`): the JSON bodies SRS 6
//! posts, its rule for an answer that allows, and a caller every process of the tree uses
//! for the connections it holds.
//!
//! - **Bodies** ([`Body`]) keep SRS's field order and types: strings, except the integer
//!   byte counts of `on_close` and the numbers of `on_hls`.
//! - **Allow** ([`verdict`]) only on HTTP 200 or 201 whose body is `0` or a JSON object with
//!   `"code": 0`; anything else denies, a timeout and a refused connection included.
//! - **Bounded** ([`Hooks`]): at most `max_in_flight` requests of a process at once (the
//!   rest wait for a permit, within the same timeout), each within `timeout`. A slow or dead
//!   hook server delays only the connection it decides about: callers await it on that
//!   connection's own task, never on a shared one.
//! - Several URLs of one event are called in order; the first that denies decides.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::timeout_at;
use tracing::{info, warn};

/// Default time a hook has to answer (SRS 6 gives its hooks 30 s; a publisher or player
/// waiting that long has usually given up, so ours is shorter).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound on hook requests in flight in one process.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// Largest answer body read from a hook server.
const MAX_ANSWER: usize = 64 * 1024;

/// A hook body: fields in the order SRS sends them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body(Vec<(&'static str, Value)>);

impl Body {
    /// An empty body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a string field.
    pub fn s(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.0.push((k, Value::String(v.into())));
        self
    }

    /// Add an integer field.
    pub fn n(mut self, k: &'static str, v: i64) -> Self {
        self.0.push((k, Value::from(v)));
        self
    }

    /// Add a number field.
    pub fn f(mut self, k: &'static str, v: f64) -> Self {
        self.0.push((k, Value::from(v)));
        self
    }

    /// The value of field `k`.
    pub fn get(&self, k: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| *n == k).map(|(_, v)| v)
    }

    /// The JSON text, fields in order.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String((*k).to_string()).to_string());
            out.push(':');
            out.push_str(&v.to_string());
        }
        out.push('}');
        out
    }
}

/// What a hook server said, as SRS 6 reads it: allowed only on HTTP 200 or 201 whose body
/// is exactly `0`, or a JSON object whose `code` is the integer 0 (whitespace around the
/// JSON is fine; around the bare `0` it is not, as in SRS). The error says what came.
pub fn verdict(status: u16, body: &str) -> Result<(), String> {
    let b = body;
    let ok_body = b == "0"
        || serde_json::from_str::<Value>(b.trim())
            .ok()
            .filter(Value::is_object)
            .and_then(|v| v.get("code").and_then(Value::as_i64))
            == Some(0);
    if (status == 200 || status == 201) && ok_body {
        return Ok(());
    }
    let shown: String = body.chars().take(120).collect();
    Err(format!("HTTP {status} with body {shown:?}"))
}

/// Why a hook request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError(pub String);

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `http://host[:port]/path[?query]` split for a request.
fn split_url(url: &str) -> Result<(String, String, String), HookError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HookError(format!("{url}: only http:// hooks are supported")))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(HookError(format!("{url}: no host")));
    }
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string(), path.to_string()))
}

/// The hook caller of a process: a bound on requests in flight and a timeout for each.
#[derive(Debug)]
pub struct Hooks {
    /// For the hooks that decide (on_connect, on_publish, on_play).
    permits: Semaphore,
    /// For the hooks that only tell: a slow receiver of those never holds up a decision.
    tell_permits: Semaphore,
    max_in_flight: usize,
    timeout: Duration,
}

impl Default for Hooks {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_IN_FLIGHT, DEFAULT_TIMEOUT)
    }
}

impl Hooks {
    /// At most `max_in_flight` requests at once, each answered within `timeout`.
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        Hooks {
            permits: Semaphore::new(max_in_flight.max(1)),
            tell_permits: Semaphore::new(max_in_flight.max(1)),
            max_in_flight,
            timeout,
        }
    }

    /// POST `body` to `url` (GET with no body when `body` is None); the status and body of
    /// the answer.
    pub async fn request(
        &self,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, String), HookError> {
        self.request_with(&self.permits, url, body).await
    }

    async fn request_with(
        &self,
        permits: &Semaphore,
        url: &str,
        body: Option<String>,
    ) -> Result<(u16, String), HookError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let late = || HookError(format!("no answer within {:?}", self.timeout));
        let _permit = timeout_at(deadline, permits.acquire())
            .await
            .map_err(|_| late())?
            .map_err(|_| HookError("hooks are shutting down".into()))?;
        let (addr, host, path) = split_url(url)?;
        let work = async {
            let tcp = TcpStream::connect(&addr)
                .await
                .map_err(|e| HookError(format!("connect {addr}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| HookError(format!("http: {e}")))?;
            let conn = tokio::spawn(conn);
            let builder = hyper::Request::builder()
                .uri(path.as_str())
                .header(hyper::header::HOST, host.as_str())
                .header(
                    hyper::header::USER_AGENT,
                    concat!("srs-rs/", env!("CARGO_PKG_VERSION")),
                )
                .header(hyper::header::CONNECTION, "close");
            let req = match body {
                Some(b) => builder
                    .method(hyper::Method::POST)
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(b))),
                None => builder
                    .method(hyper::Method::GET)
                    .body(Full::new(Bytes::new())),
            }
            .map_err(|e| HookError(format!("request: {e}")))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| HookError(format!("http: {e}")))?;
            let status = resp.status().as_u16();
            let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| HookError(format!("reading the answer: {e}")))?
                .to_bytes();
            conn.abort();
            Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
        };
        timeout_at(deadline, work).await.map_err(|_| late())?
    }

    /// Ask every URL of `event` in order whether the client may go on; the first that
    /// denies (or does not answer) decides, and the error names it and its answer.
    pub async fn ask(&self, event: &str, urls: &[String], body: &Body) -> Result<(), String> {
        let json = body.to_json();
        for url in urls {
            let answer = self.request(url, Some(json.clone())).await;
            let decided = match answer {
                Ok((status, text)) => verdict(status, &text),
                Err(e) => Err(e.0),
            };
            if let Err(why) = decided {
                return Err(format!("hook {event} {url} denied: {why}"));
            }
            info!(event, url = %url, "hook allowed");
        }
        Ok(())
    }

    /// Tell every URL of `event` in order (the answer decides nothing; a failure is
    /// logged).
    pub async fn tell(&self, event: &str, urls: &[String], body: &Body) {
        let json = body.to_json();
        for url in urls {
            match self
                .request_with(&self.tell_permits, url, Some(json.clone()))
                .await
            {
                Ok((status, text)) => {
                    if let Err(why) = verdict(status, &text) {
                        warn!(event, url = %url, "hook answered {why}");
                    }
                }
                Err(e) => warn!(event, url = %url, "hook failed: {e}"),
            }
        }
    }

    /// GET `url` (`on_hls_notify`); a failure is logged.
    pub async fn get(&self, event: &str, url: &str) {
        if let Err(e) = self.request_with(&self.tell_permits, url, None).await {
            warn!(event, url = %url, "hook failed: {e}");
        }
    }
}

/// A shared caller.
pub type SharedHooks = Arc<Hooks>;

/// The callers of a process, one per vhost with that vhost's bound and timeout (a reload
/// that changes them makes a new one; requests in flight finish on the old).
#[derive(Debug, Default)]
pub struct HookPool {
    by_vhost: std::sync::Mutex<std::collections::HashMap<String, Arc<Hooks>>>,
}

impl HookPool {
    /// The caller of `vhost`.
    pub fn for_vhost(&self, vhost: &srs_conf::Vhost) -> Arc<Hooks> {
        let h = &vhost.http_hooks;
        let mut map = self.by_vhost.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(x) = map.get(&vhost.name) {
            if x.timeout == h.timeout && x.max_in_flight == h.max_in_flight as usize {
                return x.clone();
            }
        }
        let x = Arc::new(Hooks::new(h.max_in_flight as usize, h.timeout));
        map.insert(vhost.name.clone(), x.clone());
        x
    }
}

/// This server's id in hook bodies and the API (`server_id`): `vid-` and seven
/// characters, the same in every process of the tree and for the server's whole life.
pub fn server_id() -> String {
    let id = srs_live::conn::server_id();
    let tail: String = id.chars().rev().take(7).collect();
    format!("vid-{tail}")
}

/// The id of this run of the server (`service_id`): eight characters.
pub fn service_id() -> String {
    let id = srs_live::conn::server_id();
    id.chars().take(8).collect()
}

/// The id SRS gives a stream in the API and in hooks (`stream_id`): stable for a
/// vhost/app/stream, across processes and restarts.
pub fn stream_id(vhost: &str, app: &str, stream: &str) -> String {
    // FNV-1a.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{vhost}/{app}/{stream}").bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("vid-{:08x}", h as u32)
}

/// SRS's `stream_url`: `/app/stream` on the default vhost, `vhost/app/stream` elsewhere.
pub fn stream_url(vhost: &str, app: &str, stream: &str) -> String {
    if vhost == srs_conf::DEFAULT_VHOST {
        format!("/{app}/{stream}")
    } else {
        format!("{vhost}/{app}/{stream}")
    }
}

/// Who a hook is about: a client and the stream it asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookClient {
    /// Connection id (as in the logs and `/api/v1/clients`).
    pub cid: String,
    /// Client address, without the port.
    pub ip: String,
    /// Vhost.
    pub vhost: String,
    /// Application.
    pub app: String,
    /// Stream name, without its query.
    pub stream: String,
    /// The query, with its `?` (`""` when none), as SRS sends `param`.
    pub param: String,
    /// The client's tcUrl without its query.
    pub tc_url: String,
    /// The client's page URL.
    pub page_url: String,
}

impl HookClient {
    /// A client at `peer` (`ip:port` or an address) that asked for `name` (with its
    /// query) of `vhost`/`app` after connecting with `tc_url`.
    pub fn new(
        cid: &str,
        peer: &str,
        (vhost, app): (&str, &str),
        name: &str,
        tc_url: &str,
        page_url: &str,
    ) -> HookClient {
        let ip = peer
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|_| peer.to_string());
        let (stream, query) = name.split_once('?').unwrap_or((name, ""));
        let (tc, tc_query) = tc_url.split_once('?').unwrap_or((tc_url, ""));
        let query = if query.is_empty() { tc_query } else { query };
        HookClient {
            cid: cid.to_string(),
            ip,
            vhost: vhost.to_string(),
            app: app.to_string(),
            stream: stream.to_string(),
            param: if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            },
            tc_url: tc.to_string(),
            page_url: page_url.to_string(),
        }
    }

    fn head(&self, action: &str) -> Body {
        Body::new()
            .s("server_id", server_id())
            .s("service_id", service_id())
            .s("action", action)
            .s("client_id", self.cid.clone())
            .s("ip", self.ip.clone())
            .s("vhost", self.vhost.clone())
            .s("app", self.app.clone())
    }

    fn ids(&self, b: Body) -> Body {
        b.s(
            "stream_url",
            stream_url(&self.vhost, &self.app, &self.stream),
        )
        .s("stream_id", stream_id(&self.vhost, &self.app, &self.stream))
    }

    /// `on_connect`, as SRS 6 sends it.
    pub fn on_connect(&self) -> Body {
        self.head("on_connect")
            .s("stream", self.stream.clone())
            .s("param", self.param.clone())
            .s("tcUrl", self.tc_url.clone())
            .s("pageUrl", self.page_url.clone())
    }

    /// `on_publish`, `on_unpublish` or `on_stop` (`action`), as SRS 6 sends them.
    pub fn on_stream(&self, action: &str) -> Body {
        self.ids(
            self.head(action)
                .s("tcUrl", self.tc_url.clone())
                .s("stream", self.stream.clone())
                .s("param", self.param.clone()),
        )
    }

    /// `on_play`, as SRS 6 sends it (`stream` before `tcUrl`, and `pageUrl`).
    pub fn on_play(&self) -> Body {
        self.ids(
            self.head("on_play")
                .s("stream", self.stream.clone())
                .s("tcUrl", self.tc_url.clone())
                .s("param", self.param.clone())
                .s("pageUrl", self.page_url.clone()),
        )
    }

    /// `on_close` with the connection's byte counts.
    pub fn on_close(&self, send_bytes: u64, recv_bytes: u64) -> Body {
        self.head("on_close")
            .n("send_bytes", send_bytes as i64)
            .n("recv_bytes", recv_bytes as i64)
    }

    /// `on_dvr` for a finished recording (`file` as written, `cwd` the server's).
    pub fn on_dvr(&self, cwd: &str, file: &str) -> Body {
        self.ids(
            self.head("on_dvr")
                .s("tcUrl", self.tc_url.clone())
                .s("stream", self.stream.clone())
                .s("param", self.param.clone())
                .s("cwd", cwd)
                .s("file", file),
        )
    }

    /// `on_hls` for a finished segment.
    pub fn on_hls(&self, seg: &HlsSegment) -> Body {
        let b = self
            .head("on_hls")
            .s("tcUrl", self.tc_url.clone())
            .s("stream", self.stream.clone())
            .s("param", self.param.clone())
            // Two decimals, as SRS writes it.
            .f("duration", (seg.duration * 100.0).round() / 100.0)
            .s("cwd", seg.cwd.clone())
            .s("file", seg.file.clone())
            .s("url", seg.url.clone())
            .s("m3u8", seg.m3u8.clone())
            .s("m3u8_url", seg.m3u8_url.clone())
            .n("seq_no", seg.seq_no as i64);
        self.ids(b)
    }

    /// The `on_hls_notify` URL for a segment: SRS's placeholders replaced.
    pub fn hls_notify_url(&self, template: &str, ts_url: &str) -> String {
        template
            .replace("[server_id]", &server_id())
            .replace("[service_id]", &service_id())
            .replace("[app]", &self.app)
            .replace("[stream]", &self.stream)
            .replace("[ts_url]", ts_url)
            .replace("[param]", &self.param)
    }
}

/// A finished HLS segment, for `on_hls`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HlsSegment {
    /// Seconds.
    pub duration: f64,
    /// The server's working directory.
    pub cwd: String,
    /// The segment's path.
    pub file: String,
    /// Its path relative to the HTTP root (`live/livestream-0.ts`).
    pub url: String,
    /// The playlist's path.
    pub m3u8: String,
    /// The playlist's path relative to the HTTP root.
    pub m3u8_url: String,
    /// Sequence number.
    pub seq_no: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn srs_allows_only_code_zero_on_200_or_201() {
        assert!(verdict(200, "0").is_ok());
        assert!(verdict(200, " {\"code\": 0}\n").is_ok());
        assert!(verdict(201, "0").is_ok());
        assert!(verdict(200, r#"{"code":0}"#).is_ok());
        assert!(verdict(200, r#"{"code": 0, "data": null}"#).is_ok());
        for (s, b) in [
            (200, "1"),
            (200, " 0\n"),
            (200, "0\n"),
            (200, "0.0"),
            (200, r#"{"code":"0"}"#),
            (200, r#"{"code":0.0}"#),
            (200, "{}"),
            (200, r#"{"code":1}"#),
            (200, ""),
            (200, "ok"),
            (200, r#"{"data":0}"#),
            (204, "0"),
            (403, "0"),
            (500, r#"{"code":0}"#),
        ] {
            assert!(verdict(s, b).is_err(), "{s} {b:?}");
        }
    }

    #[test]
    fn bodies_keep_srs_order_and_types() {
        let b = Body::new()
            .s("server_id", "vid-1")
            .s("action", "on_close")
            .n("send_bytes", 42)
            .s("tcUrl", "rtmp://h/live");
        assert_eq!(
            b.to_json(),
            r#"{"server_id":"vid-1","action":"on_close","send_bytes":42,"tcUrl":"rtmp://h/live"}"#
        );
    }

    #[test]
    fn bodies_as_srs6_sends_them() {
        let c = HookClient::new(
            "i8bzh4pb",
            "127.0.0.1:50000",
            ("__defaultVhost__", "live"),
            "livestream?token=p1",
            "rtmp://127.0.0.1:31935/live",
            "http://example.com/page",
        );
        let fields = |b: &Body| b.0.iter().map(|(k, _)| *k).collect::<Vec<_>>();
        assert_eq!(
            fields(&c.on_connect()),
            [
                "server_id",
                "service_id",
                "action",
                "client_id",
                "ip",
                "vhost",
                "app",
                "stream",
                "param",
                "tcUrl",
                "pageUrl"
            ]
        );
        assert_eq!(
            fields(&c.on_play()),
            [
                "server_id",
                "service_id",
                "action",
                "client_id",
                "ip",
                "vhost",
                "app",
                "stream",
                "tcUrl",
                "param",
                "pageUrl",
                "stream_url",
                "stream_id"
            ]
        );
        assert_eq!(
            fields(&c.on_stream("on_publish")),
            [
                "server_id",
                "service_id",
                "action",
                "client_id",
                "ip",
                "vhost",
                "app",
                "tcUrl",
                "stream",
                "param",
                "stream_url",
                "stream_id"
            ]
        );
        let close = c.on_close(107962, 3553);
        assert_eq!(
            fields(&close),
            [
                "server_id",
                "service_id",
                "action",
                "client_id",
                "ip",
                "vhost",
                "app",
                "send_bytes",
                "recv_bytes"
            ]
        );
        assert_eq!(close.get("send_bytes"), Some(&Value::from(107962)));
        let p = c.on_play();
        assert_eq!(p.get("param"), Some(&Value::from("?token=p1")));
        assert_eq!(p.get("ip"), Some(&Value::from("127.0.0.1")));
        assert_eq!(p.get("stream_url"), Some(&Value::from("/live/livestream")));
        assert!(server_id().starts_with("vid-") && server_id().len() == 11);
        let hls = c.on_hls(&HlsSegment {
            duration: 2.016,
            seq_no: 3,
            ..Default::default()
        });
        assert_eq!(hls.get("duration"), Some(&Value::from(2.02)));
        assert_eq!(hls.get("seq_no"), Some(&Value::from(3)));
        assert_eq!(
            c.hls_notify_url(
                "http://h/[app]/[stream]/[ts_url][param]?[seq]",
                "livestream-0.ts"
            ),
            "http://h/live/livestream/livestream-0.ts?token=p1?[seq]"
        );
        // No query: param is empty, not "?".
        let d = HookClient::new("x", "10.0.0.1", ("v.test", "a"), "s", "rtmp://h/a", "");
        assert_eq!(d.param, "");
        assert_eq!(
            d.on_play().get("stream_url"),
            Some(&Value::from("v.test/a/s"))
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8085/api/v1/streams?x=1").unwrap(),
            (
                "127.0.0.1:8085".into(),
                "127.0.0.1:8085".into(),
                "/api/v1/streams?x=1".into()
            )
        );
        assert_eq!(split_url("http://h").unwrap().0, "h:80");
        assert!(split_url("https://h/x").is_err());
        assert!(split_url("http:///x").is_err());
    }

    /// A server answering each connection with `answer` after `delay`.
    async fn server(answer: &'static str, delay: Duration) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = s.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        format!("http://{addr}/hook")
    }

    #[tokio::test]
    async fn answers_down_servers_and_timeouts() {
        let hooks = Hooks::new(4, Duration::from_millis(500));
        let body = Body::new().s("action", "on_publish");
        let ok = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n0",
            Duration::ZERO,
        )
        .await;
        let deny = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
            Duration::ZERO,
        )
        .await;
        let slow = server(
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n0",
            Duration::from_secs(3),
        )
        .await;
        assert!(hooks.ask("on_publish", &[ok.clone()], &body).await.is_ok());
        let e = hooks
            .ask("on_publish", &[ok.clone(), deny.clone()], &body)
            .await
            .unwrap_err();
        assert!(e.contains(&deny) && e.contains("body \"1\""), "{e}");
        let t = std::time::Instant::now();
        let e = hooks.ask("on_publish", &[slow], &body).await.unwrap_err();
        assert!(e.contains("no answer within"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(2));
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let down = format!("http://{}/x", l.local_addr().unwrap());
        drop(l);
        let e = hooks.ask("on_publish", &[down], &body).await.unwrap_err();
        assert!(e.contains("connect"), "{e}");
    }
}
