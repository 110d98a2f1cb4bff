//! Where a client wants to go: vhost, app and stream from the `connect` command's tcUrl and
//! the publish/play stream name, the way SRS resolves them.
//!
//! The vhost comes from, in order: a `vhost=` (or `domain=`) parameter in the stream name's
//! query, in the tcUrl's query, in the app's old-style `...vhost...NAME` suffix, and finally
//! the tcUrl's host. A host that is no configured vhost falls back to `__defaultVhost__`
//! (done by the server, which knows the config).

/// Name of the vhost that serves every host without a vhost of its own.
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// A parsed tcUrl (`rtmp://host[:port]/app[?query]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TcUrl {
    /// Scheme, e.g. `rtmp`.
    pub schema: String,
    /// Host as written (name or IP, without brackets for IPv6).
    pub host: String,
    /// Port, 1935 when absent.
    pub port: u16,
    /// Application path (may contain `/`), without query.
    pub app: String,
    /// Query string after `?`, without the `?` (empty when none).
    pub query: String,
}

/// Parse a tcUrl. Tolerant: missing parts become empty (as SRS does); only a port that is
/// not a number is an error.
pub fn parse_tc_url(tc_url: &str) -> Result<TcUrl, String> {
    let (schema, rest) = match tc_url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => (String::new(), tc_url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(authority)?;
    let (app, query) = match path.split_once('?') {
        Some((a, q)) => (a, q),
        None => (path, ""),
    };
    Ok(TcUrl {
        schema,
        host,
        port: port.unwrap_or(1935),
        app: app.trim_matches('/').to_string(),
        query: query.to_string(),
    })
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad IPv6 host in {authority:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| format!("bad port {p:?}"))?),
            None => None,
        };
        return Ok((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() => Ok((
            h.to_string(),
            Some(p.parse().map_err(|_| format!("bad port {p:?}"))?),
        )),
        Some((h, _)) => Ok((h.to_string(), None)),
        None => Ok((authority.to_string(), None)),
    }
}

/// Value of `key` in a `a=1&b=2` query (first match).
pub fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split(['&', '?'])
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// A client's full request: what it connected to and which stream it asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamRequest {
    /// tcUrl as the client sent it.
    pub tc_url: String,
    /// Host from the tcUrl.
    pub host: String,
    /// Port from the tcUrl.
    pub port: u16,
    /// Resolved vhost name (before the fallback to `__defaultVhost__`).
    pub vhost: String,
    /// Application.
    pub app: String,
    /// Stream name without its query.
    pub stream: String,
    /// Query of the stream name (and of the tcUrl), without `?`.
    pub param: String,
}

impl StreamRequest {
    /// Build from the connect command's `tcUrl` and `app` fields.
    pub fn from_connect(tc_url: &str, app_field: Option<&str>) -> Result<Self, String> {
        let u = parse_tc_url(tc_url)?;
        let mut app = if u.app.is_empty() {
            app_field
                .map(|a| {
                    a.split('?')
                        .next()
                        .unwrap_or("")
                        .trim_matches('/')
                        .to_string()
                })
                .unwrap_or_default()
        } else {
            u.app.clone()
        };
        let mut vhost = u.host.clone();
        // Old-style SRS vhost in the app: `live...vhost...example.com`.
        if let Some((a, v)) = app.split_once("...vhost...") {
            vhost = v.to_string();
            app = a.to_string();
        }
        let mut query = u.query.clone();
        if query.is_empty() {
            if let Some((_, q)) = app_field.and_then(|a| a.split_once('?')) {
                query = q.to_string();
            }
        }
        if let Some(v) = query_param(&query, "vhost").or_else(|| query_param(&query, "domain")) {
            vhost = v.to_string();
        }
        Ok(Self {
            tc_url: tc_url.to_string(),
            host: u.host,
            port: u.port,
            vhost,
            app,
            stream: String::new(),
            param: query,
        })
    }

    /// Set the stream from a publish/play name such as `livestream?vhost=a.com&token=x`.
    pub fn set_stream(&mut self, name: &str) {
        let (stream, query) = match name.split_once('?') {
            Some((s, q)) => (s, q),
            None => (name, ""),
        };
        self.stream = stream.trim_matches('/').to_string();
        if !query.is_empty() {
            if let Some(v) = query_param(query, "vhost").or_else(|| query_param(query, "domain")) {
                self.vhost = v.to_string();
            }
            self.param = query.to_string();
        }
    }

    /// `vhost/app/stream`, the key SRS logs and the HTTP API uses.
    pub fn stream_url(&self) -> String {
        format!("{}/{}/{}", self.vhost, self.app, self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_url_forms() {
        let u = parse_tc_url("rtmp://127.0.0.1:1936/live").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.app.as_str()),
            ("127.0.0.1", 1936, "live")
        );
        let u = parse_tc_url("rtmp://example.com/live/sub?vhost=v.com&a=1").unwrap();
        assert_eq!(
            (u.port, u.app.as_str(), u.query.as_str()),
            (1935, "live/sub", "vhost=v.com&a=1")
        );
        let u = parse_tc_url("rtmp://[::1]:19350/app").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 19350));
        assert!(parse_tc_url("rtmp://h:x/app").is_err());
    }

    #[test]
    fn vhost_resolution() {
        let r = StreamRequest::from_connect("rtmp://a.com/live", Some("live")).unwrap();
        assert_eq!(r.vhost, "a.com");
        let r = StreamRequest::from_connect("rtmp://1.2.3.4/live?vhost=b.com", None).unwrap();
        assert_eq!((r.vhost.as_str(), r.app.as_str()), ("b.com", "live"));
        let r = StreamRequest::from_connect("rtmp://1.2.3.4/live...vhost...c.com", None).unwrap();
        assert_eq!((r.vhost.as_str(), r.app.as_str()), ("c.com", "live"));
        let mut r = StreamRequest::from_connect("rtmp://1.2.3.4/live", None).unwrap();
        r.set_stream("cam1?vhost=d.com&token=t");
        assert_eq!((r.vhost.as_str(), r.stream.as_str()), ("d.com", "cam1"));
        assert_eq!(r.stream_url(), "d.com/live/cam1");
        assert_eq!(query_param(&r.param, "token"), Some("t"));
    }
}
