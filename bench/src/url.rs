//! Stream URLs the load tool understands, and the names of the M streams of a run.
//!
//! `rtmp://host[:port]/app/stream` (the last path segment is the stream, everything before it
//! the app, as ffmpeg splits it) and `http://host[:port]/app/stream.flv` (HTTP-FLV). A stream
//! name may carry a `?query` (`livestream?vhost=example.com`), which stays after the index
//! that [`StreamUrl::indexed`] inserts.

use crate::BenchError;

/// Default RTMP port (SRS `listen 1935;`).
pub const RTMP_PORT: u16 = 1935;
/// Default HTTP server port (SRS `http_server { listen 8080; }`).
pub const HTTP_PORT: u16 = 8080;

/// Which protocol a URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `rtmp://`.
    Rtmp,
    /// `http://` (HTTP-FLV).
    HttpFlv,
}

/// A parsed stream URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrl {
    /// Protocol.
    pub scheme: Scheme,
    /// `host:port` to connect to (port filled in with the default).
    pub addr: String,
    /// Host as written (for tcUrl and the HTTP `Host` header).
    pub host: String,
    /// RTMP app, or the HTTP path before the last segment (`live`).
    pub app: String,
    /// Stream name without the query and without `.flv` (`livestream`).
    pub stream: String,
    /// `.flv` for HTTP-FLV URLs that had it, else empty.
    pub extension: String,
    /// `?query` (with the `?`) or empty.
    pub query: String,
}

impl StreamUrl {
    /// Parse `rtmp://...` or `http://...`.
    pub fn parse(url: &str) -> Result<Self, BenchError> {
        let bad = |why: &str| BenchError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let (scheme, rest, port) = if let Some(r) = url.strip_prefix("rtmp://") {
            (Scheme::Rtmp, r, RTMP_PORT)
        } else if let Some(r) = url.strip_prefix("http://") {
            (Scheme::HttpFlv, r, HTTP_PORT)
        } else {
            return Err(bad("only rtmp:// and http:// (HTTP-FLV) are supported"));
        };
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("no path"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let addr = if host.starts_with('[') {
            // [v6]:port or [v6]
            match host.rsplit_once("]:") {
                Some(_) => host.to_string(),
                None => format!("{host}:{port}"),
            }
        } else if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:{port}")
        };
        // The query belongs to the stream; split it off before looking for the last segment
        // (a query may itself contain '/').
        let (path, query) = match path.find('?') {
            Some(i) => (&path[..i], path[i..].to_string()),
            None => (path, String::new()),
        };
        let (app, stream) = path
            .rsplit_once('/')
            .ok_or_else(|| bad("need app/stream in the path"))?;
        let (stream, extension) = match stream.strip_suffix(".flv") {
            Some(s) if scheme == Scheme::HttpFlv => (s, ".flv".to_string()),
            _ => (stream, String::new()),
        };
        if app.is_empty() || stream.is_empty() {
            return Err(bad("empty app or stream"));
        }
        Ok(Self {
            scheme,
            addr,
            host: host.to_string(),
            app: app.to_string(),
            stream: stream.to_string(),
            extension,
            query,
        })
    }

    /// The URL of stream `index` of `count`: the name itself when `count` is 1, otherwise
    /// the name with the index appended (`livestream0`, `livestream1`, ...).
    pub fn indexed(&self, index: usize, count: usize) -> StreamUrl {
        let mut u = self.clone();
        if count > 1 {
            u.stream = format!("{}{index}", self.stream);
        }
        u
    }

    /// RTMP tcUrl: `rtmp://host/app`.
    pub fn tc_url(&self) -> String {
        format!("rtmp://{}/{}", self.host, self.app)
    }

    /// What RTMP `play`/`publish` carry: the stream name with its query.
    pub fn rtmp_stream(&self) -> String {
        format!("{}{}", self.stream, self.query)
    }

    /// HTTP request target: `/app/stream.flv?query`.
    pub fn http_path(&self) -> String {
        format!(
            "/{}/{}{}{}",
            self.app, self.stream, self.extension, self.query
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_urls() {
        let u = StreamUrl::parse("rtmp://127.0.0.1:1936/live/livestream").unwrap();
        assert_eq!(u.scheme, Scheme::Rtmp);
        assert_eq!(u.addr, "127.0.0.1:1936");
        assert_eq!(u.app, "live");
        assert_eq!(u.rtmp_stream(), "livestream");
        assert_eq!(u.tc_url(), "rtmp://127.0.0.1:1936/live");

        let u = StreamUrl::parse("rtmp://example.com/a/b/cam?token=x/y").unwrap();
        assert_eq!(u.addr, "example.com:1935");
        assert_eq!(u.app, "a/b");
        assert_eq!(u.stream, "cam");
        assert_eq!(u.rtmp_stream(), "cam?token=x/y");
        assert_eq!(u.indexed(3, 5).rtmp_stream(), "cam3?token=x/y");
        assert_eq!(u.indexed(0, 1).rtmp_stream(), "cam?token=x/y");

        let u = StreamUrl::parse("rtmp://[::1]/live/s").unwrap();
        assert_eq!(u.addr, "[::1]:1935");
        let u = StreamUrl::parse("rtmp://[::1]:19350/live/s").unwrap();
        assert_eq!(u.addr, "[::1]:19350");
    }

    #[test]
    fn http_flv_urls() {
        let u = StreamUrl::parse("http://127.0.0.1:8080/live/livestream.flv?a=1").unwrap();
        assert_eq!(u.scheme, Scheme::HttpFlv);
        assert_eq!(u.stream, "livestream");
        assert_eq!(u.http_path(), "/live/livestream.flv?a=1");
        assert_eq!(u.indexed(7, 10).http_path(), "/live/livestream7.flv?a=1");
        assert_eq!(
            StreamUrl::parse("http://h/live/x.flv").unwrap().addr,
            "h:8080"
        );
    }

    #[test]
    fn bad_urls() {
        for u in [
            "rtsp://h/live/s",
            "rtmp://h",
            "rtmp://h/live",
            "rtmp:///live/s",
            "rtmp://h/live/",
        ] {
            assert!(StreamUrl::parse(u).is_err(), "{u}");
        }
    }
}
