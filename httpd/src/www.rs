//! The player page (`httpd/www/players/`), built into the binary and served at
//! `/players/` by the HTTP server, so that it works with no file installed: the stream list
//! from the HTTP API, and HTTP-FLV (mpegts.js) or HLS (hls.js) players. The vendored
//! libraries and their licences are in `www/players/vendor/` (its README says where they
//! come from).
//!
//! Only the page's own files are answered here; any other path under `/players/` falls
//! through to `http_server.dir`, so a user's own files there still work.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

/// Where the page lives.
pub const PREFIX: &str = "/players/";

/// One embedded file: its path under [`PREFIX`], Content-Type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
/// README and licences: shown as text by a browser rather than downloaded.
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($path:literal, $ty:expr) => {
        Asset {
            path: $path,
            content_type: $ty,
            bytes: include_bytes!(concat!("../www/players/", $path)),
        }
    };
}

static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("players.js", JS),
    asset!("players.css", CSS),
    asset!("vendor/hls.min.js", JS),
    asset!("vendor/mpegts.js", JS),
    asset!("vendor/README.md", TEXT),
    asset!("vendor/hls.js.LICENSE", TEXT),
    asset!("vendor/mpegts.js.LICENSE", TEXT),
    asset!("vendor/mpegts.js.LICENSE.txt", TEXT),
];

fn find(rel: &str) -> Option<(usize, &'static Asset)> {
    let rel = if rel.is_empty() { "index.html" } else { rel };
    ASSETS.iter().enumerate().find(|(_, a)| a.path == rel)
}

/// Strong ETags of the assets (FNV-1a of the bytes, computed once): the files change only
/// with the binary, and a browser revalidating the 900 KB of players gets a 304.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let h = a.bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{h:016x}\"")
            })
            .collect()
    })[i]
}

/// The response for `uri` when it names the page or one of its files, else None.
pub fn serve(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let path = uri.path();
    if path == "/players" {
        // Relative links in the page need the trailing slash; keep ?url=... across.
        let to = match uri.query() {
            Some(q) => format!("{PREFIX}?{q}"),
            None => PREFIX.to_string(),
        };
        return Some(
            Response::builder()
                .status(StatusCode::MOVED_PERMANENTLY)
                .header(header::LOCATION, to)
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        );
    }
    let (i, asset) = find(path.strip_prefix(PREFIX)?)?;
    if method != Method::GET && method != Method::HEAD {
        return Some(
            (
                StatusCode::METHOD_NOT_ALLOWED,
                [(header::ALLOW, HeaderValue::from_static("GET, HEAD"))],
            )
                .into_response(),
        );
    }
    let tag = etag(i);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let builder = Response::builder()
        .header(header::ETAG, tag)
        .header(header::CACHE_CONTROL, "no-cache");
    let r = if fresh {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        // hyper leaves the body out of a HEAD response and keeps its Content-Length.
        builder
            .header(header::CONTENT_TYPE, asset.content_type)
            .body(Body::from(asset.bytes))
    };
    Some(r.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<Response> {
        serve(&Method::GET, &path.parse().unwrap(), &HeaderMap::new())
    }

    #[test]
    fn page_and_players_are_served_with_their_types() {
        for (path, ty) in [
            ("/players/", HTML),
            ("/players/index.html", HTML),
            ("/players/players.js", JS),
            ("/players/players.css", CSS),
            ("/players/vendor/hls.min.js", JS),
            ("/players/vendor/mpegts.js", JS),
            ("/players/vendor/hls.js.LICENSE", TEXT),
        ] {
            let r = get(path).unwrap_or_else(|| panic!("{path} not served"));
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert_eq!(r.headers()[header::CONTENT_TYPE], ty, "{path}");
        }
    }

    #[test]
    fn other_paths_fall_through_to_the_static_files() {
        for path in [
            "/",
            "/live/livestream.flv",
            "/players/mine.html",
            "/players/../index.html",
            "/playersx/index.html",
        ] {
            assert!(get(path).is_none(), "{path}");
        }
    }

    #[test]
    fn bare_prefix_redirects_keeping_the_query() {
        let r = get("/players?url=http://h/live/a.flv").unwrap();
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            r.headers()[header::LOCATION],
            "/players/?url=http://h/live/a.flv"
        );
    }

    #[test]
    fn etag_revalidates_and_other_methods_are_refused() {
        let r = get("/players/vendor/hls.min.js").unwrap();
        let tag = r.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        let r = serve(
            &Method::GET,
            &"/players/vendor/hls.min.js".parse().unwrap(),
            &h,
        )
        .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let r = serve(
            &Method::POST,
            &"/players/".parse().unwrap(),
            &HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn the_page_references_only_embedded_files() {
        let html = std::str::from_utf8(find("").unwrap().1.bytes).unwrap();
        for r in [
            "players.css",
            "players.js",
            "vendor/hls.min.js",
            "vendor/mpegts.js",
        ] {
            assert!(html.contains(&format!("\"{r}\"")), "{r}");
            assert!(find(r).is_some(), "{r}");
        }
    }
}
