//! Static files under `http_server.dir` (HLS segments and playlists live there too), with
//! Range requests and MIME types from tower-http's `ServeDir`. Paths that leave the
//! directory — `..` in any spelling, or a symlink pointing outside — are refused before
//! `ServeDir` sees them.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use srs_conf::Config;
use std::path::{Component, Path, PathBuf};
use tower::ServiceExt;
use tower_http::services::ServeDir;

/// Percent-decode a URL path once (as the file server will).
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The file a request path names inside `dir`, or None when the path tries to leave it.
pub fn confine(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let rel = Path::new(decoded.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let candidate = dir.join(rel);
    // A symlink (or a path through one) may point anywhere: resolve and check — also the
    // index.html the file server serves for a directory.
    if let Ok(root) = dir.canonicalize() {
        for p in [candidate.clone(), candidate.join("index.html")] {
            if let Ok(real) = p.canonicalize() {
                if !real.starts_with(&root) {
                    return None;
                }
            }
        }
    }
    Some(candidate)
}

/// Serve `req` from `http_server.dir`.
pub async fn serve(config: &Config, req: Request) -> Response {
    let dir = config.http_server.dir.clone();
    if confine(&dir, req.uri().path()).is_none() {
        return (StatusCode::FORBIDDEN, "forbidden path\n").into_response();
    }
    let (path, query) = (
        req.uri().path().to_string(),
        req.uri().query().map(str::to_string),
    );
    if let Some(r) = vod(config, &dir, &path, query.as_deref()).await {
        return r;
    }
    let mime = media_type(req.uri().path());
    match ServeDir::new(&dir).oneshot(req).await {
        Ok(r) => {
            let mut r = r.map(Body::new);
            if let (Some(m), true) = (mime, r.status().is_success()) {
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(m));
            }
            r
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// A `.m3u8` for a recorded `.flv` next to it (or one of its segments), sliced on the fly.
async fn vod(config: &Config, dir: &Path, path: &str, query: Option<&str>) -> Option<Response> {
    let fragment = config
        .vhost(srs_conf::DEFAULT_VHOST)
        .map_or(std::time::Duration::from_secs(10), |v| v.hls.hls_fragment);
    if let Some(stem) = path.strip_suffix(".m3u8") {
        let m3u8 = confine(dir, path)?;
        if m3u8.exists() {
            return None;
        }
        let flv = confine(dir, &format!("{stem}.flv"))?;
        if !flv.is_file() {
            return None;
        }
        let name = flv.file_name()?.to_string_lossy().to_string();
        let _turn = crate::vod::SLICERS.acquire().await.ok()?;
        return tokio::task::spawn_blocking(move || crate::vod::playlist(&flv, &name, fragment))
            .await
            .ok();
    }
    if let Some(flv_path) = path.strip_suffix(".flv.ts") {
        let flv = confine(dir, &format!("{flv_path}.flv"))?;
        if !flv.is_file() {
            return None;
        }
        let n = query
            .and_then(|q| srs_protocol::request::query_param(q, "seg"))
            .and_then(|n| n.parse::<usize>().ok());
        let Some(n) = n else {
            return Some((StatusCode::BAD_REQUEST, "missing ?seg=N\n").into_response());
        };
        let _turn = crate::vod::SLICERS.acquire().await.ok()?;
        return tokio::task::spawn_blocking(move || crate::vod::segment(&flv, n, fragment))
            .await
            .ok();
    }
    None
}

/// Streaming types that the generic MIME table gets wrong (it says `.ts` is a DLNA type):
/// the ones HLS and FLV players expect.
pub fn media_type(path: &str) -> Option<&'static str> {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "ts" => "video/mp2t",
        "m3u8" => "application/vnd.apple.mpegurl",
        "flv" => "video/x-flv",
        "mp4" | "m4s" => "video/mp4",
        "aac" => "audio/aac",
        "mp3" => "audio/mpeg",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_in_every_spelling_is_refused() {
        let dir = std::env::temp_dir();
        for bad in [
            "/../etc/passwd",
            "/a/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/%2E%2E%2Fetc%2Fpasswd",
            "/a/%2e%2e/%2e%2e/x",
            "/..%5c..%5cwindows",
            "/%00",
            "/%zz",
        ] {
            assert!(confine(&dir, bad).is_none(), "{bad}");
        }
        // Double-encoded dots decode once to a harmless literal name.
        let p = confine(&dir, "/%252e%252e/x").unwrap();
        assert!(p.ends_with("%2e%2e/x"));
        assert_eq!(
            confine(&dir, "/live/a.m3u8").unwrap(),
            dir.join("live/a.m3u8")
        );
    }

    #[test]
    fn symlink_out_of_the_directory_is_refused() {
        let root = std::env::temp_dir().join(format!("srs-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("html")).unwrap();
        std::fs::write(root.join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(root.join("secret"), root.join("html/link")).unwrap();
        std::fs::write(root.join("html/ok"), b"ok").unwrap();
        assert!(confine(&root.join("html"), "/link").is_none());
        assert!(confine(&root.join("html"), "/ok").is_some());
        let _ = std::fs::remove_dir_all(&root);
    }
}
