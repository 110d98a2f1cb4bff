//! Which live stream an HTTP path names, by each vhost's `http_remux { mount }` template
//! (SRS's default `[vhost]/[app]/[stream].flv`).
//!
//! As SRS mounts a stream: the template with `[vhost]`, `[app]` and `[stream]` replaced,
//! and `__defaultVhost__/` taken out, so the default vhost's streams are at
//! `/[app]/[stream].flv`. A path without the vhost finds it from `?vhost=` or the Host
//! header, as an RTMP URL does. The template's extension says what is served: `.flv`
//! (HTTP-FLV) or `.ts` (HTTP-TS).

use srs_conf::{Config, Vhost, DEFAULT_VHOST};
use srs_ipc::control::StreamKey;

/// What a mount serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remux {
    /// FLV (`.flv`).
    Flv,
    /// MPEG-TS (`.ts`).
    Ts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Text(String),
    Vhost,
    App,
    Stream,
}

fn tokens(template: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut rest = template.trim_start_matches('/');
    while !rest.is_empty() {
        let next = ["[vhost]", "[app]", "[stream]"]
            .iter()
            .filter_map(|p| rest.find(p).map(|i| (i, *p)))
            .min();
        match next {
            Some((i, p)) => {
                if i > 0 {
                    out.push(Token::Text(rest[..i].to_string()));
                }
                out.push(match p {
                    "[vhost]" => Token::Vhost,
                    "[app]" => Token::App,
                    _ => Token::Stream,
                });
                rest = &rest[i + p.len()..];
            }
            None => {
                out.push(Token::Text(rest.to_string()));
                rest = "";
            }
        }
    }
    out
}

#[derive(Debug, Default, Clone)]
struct Captures<'a> {
    vhost: Option<&'a str>,
    app: Option<&'a str>,
    stream: Option<&'a str>,
}

/// Match `path` against `tokens`: `[app]` takes one or more path segments, `[vhost]` and
/// `[stream]` one segment's worth (no `/`), text itself.
fn matches<'a>(tokens: &[Token], path: &'a str, caps: Captures<'a>) -> Option<Captures<'a>> {
    let Some((first, rest)) = tokens.split_first() else {
        return path.is_empty().then_some(caps);
    };
    match first {
        Token::Text(t) => matches(rest, path.strip_prefix(t.as_str())?, caps),
        var => {
            // Try the shortest capture first: the template's text after it decides.
            for end in 1..=path.len() {
                if !path.is_char_boundary(end) {
                    continue;
                }
                let (value, after) = path.split_at(end);
                if value.starts_with('/') {
                    break;
                }
                if value.ends_with('/') {
                    continue;
                }
                if *var != Token::App && value.contains('/') {
                    break;
                }
                let mut c = caps.clone();
                match var {
                    Token::Vhost => c.vhost = Some(value),
                    Token::App => c.app = Some(value),
                    _ => c.stream = Some(value),
                }
                if let Some(done) = matches(rest, after, c) {
                    return Some(done);
                }
            }
            None
        }
    }
}

/// What a mount template serves, by its extension.
pub fn remux_of(template: &str) -> Option<Remux> {
    if template.ends_with(".flv") {
        Some(Remux::Flv)
    } else if template.ends_with(".ts") {
        Some(Remux::Ts)
    } else {
        None
    }
}

/// The live stream `path` names (with the request's Host header `host` and `query`), on
/// the first vhost whose `http_remux` mount it matches.
pub fn match_stream(
    config: &Config,
    host: &str,
    path: &str,
    query: &str,
) -> Option<(Vhost, StreamKey, Remux)> {
    let path = path.trim_start_matches('/');
    let asked = srs_protocol::request::query_param(query, "vhost")
        .map(str::to_string)
        .unwrap_or_else(|| host.split(':').next().unwrap_or("").to_string());
    // The vhost a path without one is for: `?vhost=`, else the Host header, else default.
    let implied = config.vhost(&asked).map(|v| v.name.clone());
    let mounts: Vec<(&Vhost, Remux, Vec<Token>)> = config
        .vhosts
        .iter()
        .filter(|v| v.enabled && v.http_remux.enabled)
        .filter_map(|v| {
            Some((
                v,
                remux_of(&v.http_remux.mount)?,
                tokens(&v.http_remux.mount),
            ))
        })
        .collect();
    // First the paths that name their vhost, then those that do not (SRS mounts the
    // default vhost so, and a player may name the vhost by Host or `?vhost=` instead).
    let named = mounts.iter().find_map(|(v, remux, full)| {
        let c = matches(full, path, Captures::default())?;
        (c.vhost == Some(v.name.as_str())).then_some((*v, *remux, c))
    });
    let found = named.or_else(|| {
        mounts.iter().find_map(|(v, remux, full)| {
            if implied.as_deref() != Some(v.name.as_str()) {
                return None;
            }
            let c = matches(&without_vhost(full), path, Captures::default())?;
            Some((*v, *remux, c))
        })
    });
    let (v, remux, c) = found?;
    let (app, stream) = (c.app?, c.stream?);
    if app
        .split('/')
        .chain([stream])
        .any(|s| s == ".." || s == "." || s.is_empty())
    {
        return None;
    }
    Some((
        v.clone(),
        StreamKey {
            vhost: v.name.clone(),
            app: app.to_string(),
            stream: stream.to_string(),
        },
        remux,
    ))
}

/// The template without its `[vhost]` part (and the `/` after it).
fn without_vhost(full: &[Token]) -> Vec<Token> {
    let mut short = full.to_vec();
    if let Some(i) = short.iter().position(|t| *t == Token::Vhost) {
        short.remove(i);
        if let Some(Token::Text(t)) = short.get(i) {
            let t = t.trim_start_matches('/').to_string();
            if t.is_empty() {
                short.remove(i);
            } else {
                short[i] = Token::Text(t);
            }
        }
    }
    short
}

/// The URL path a stream of `vhost` is served at by `template`, as SRS mounts it.
pub fn mounted_path(template: &str, key: &StreamKey) -> String {
    let p = template
        .replace("[vhost]", &key.vhost)
        .replace("[app]", &key.app)
        .replace("[stream]", &key.stream);
    let p = p.trim_start_matches('/');
    let p = p.strip_prefix(&format!("{DEFAULT_VHOST}/")).unwrap_or(p);
    format!("/{p}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_tree(&srs_conf::parse_str(text, "t.conf").unwrap()).unwrap()
    }

    fn key(m: Option<(Vhost, StreamKey, Remux)>) -> Option<(String, Remux)> {
        m.map(|(_, k, r)| (k.to_string(), r))
    }

    #[test]
    fn the_default_mount() {
        let c = config(
            "vhost __defaultVhost__ { http_remux { enabled on; } }\n\
             vhost v1 { http_remux { enabled on; mount [vhost]/[app]/[stream].flv; } }\n",
        );
        let m = |host: &str, path: &str, q: &str| key(match_stream(&c, host, path, q));
        let flv = Remux::Flv;
        assert_eq!(
            m("", "/live/s.flv", ""),
            Some(("__defaultVhost__/live/s".into(), flv))
        );
        assert_eq!(m("", "/v1/live/s.flv", ""), Some(("v1/live/s".into(), flv)));
        assert_eq!(
            m("v1:8080", "/live/s.flv", ""),
            Some(("v1/live/s".into(), flv))
        );
        assert_eq!(
            m("", "/live/s.flv", "vhost=v1"),
            Some(("v1/live/s".into(), flv))
        );
        // An app of two segments.
        assert_eq!(
            m("", "/a/b/s.flv", ""),
            Some(("__defaultVhost__/a/b/s".into(), flv))
        );
        assert_eq!(m("", "/live/s.ts", ""), None);
        assert_eq!(m("", "/s.flv", ""), None);
        assert_eq!(m("", "/../x/s.flv", ""), None);
    }

    #[test]
    fn other_templates_and_http_ts() {
        let c = config(
            "vhost __defaultVhost__ { http_remux { enabled on; mount /tv/[app]/[stream]/live.ts; } }\n\
             vhost v2 { http_remux { enabled on; mount [vhost]/[app]/[stream]-hd.flv; } }\n",
        );
        let m = |path: &str| key(match_stream(&c, "", path, ""));
        assert_eq!(
            m("/tv/live/s/live.ts"),
            Some(("__defaultVhost__/live/s".into(), Remux::Ts))
        );
        // The template's text must be there.
        assert_eq!(m("/live/s.ts"), None);
        assert_eq!(m("/live/s.flv"), None);
        assert_eq!(
            m("/v2/live/s-hd.flv"),
            Some(("v2/live/s".into(), Remux::Flv))
        );
        assert_eq!(m("/v2/live/s.flv"), None);
        assert_eq!(
            mounted_path(
                "[vhost]/[app]/[stream].flv",
                &StreamKey {
                    vhost: DEFAULT_VHOST.into(),
                    app: "live".into(),
                    stream: "s".into()
                }
            ),
            "/live/s.flv"
        );
    }
}
