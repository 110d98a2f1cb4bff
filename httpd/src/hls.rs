//! HLS live (`hls { enabled on; }`): for every published stream of a vhost with HLS on,
//! httpd reads the stream (a player of its local source, fed from the ring) through the
//! protocol crate's segmenter and does the file I/O it asks for under `hls_path`: segments
//! written to a temporary name and renamed when complete, the playlist replaced atomically,
//! expired segments deleted (`hls_cleanup`), everything deleted `hls_dispose` after the
//! publisher left. A republish continues the same playlist after a discontinuity.

use crate::HttpContext;
use srs_conf::{HlsOnError, Vhost};
use srs_live::{PlayEvent, SourceConfig, StreamKey};
use srs_protocol::hls::{HlsAction, HlsConfig, HlsSegmenter, MediaMessage};
use srs_protocol::message::type_id;
use srs_protocol::ts::MediaKind;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{info, info_span, warn, Instrument};

/// Streams with an HLS writer running.
#[derive(Debug, Default)]
pub struct HlsWriters {
    running: Mutex<HashSet<StreamKey>>,
    /// The current publisher of each stream (for `on_hls`).
    publishers: Arc<Mutex<std::collections::HashMap<StreamKey, srs_ipc::control::PublisherInfo>>>,
}

fn hls_config(v: &Vhost) -> HlsConfig {
    let h = &v.hls;
    HlsConfig {
        fragment: h.hls_fragment,
        window: h.hls_window,
        td_ratio: h.hls_td_ratio.get(),
        cleanup: h.hls_cleanup,
        m3u8_file: h.hls_m3u8_file.clone(),
        ts_file: h.hls_ts_file.clone(),
        aof_ratio: h.hls_aof_ratio.get(),
        wait_keyframe: h.hls_wait_keyframe,
        ts_floor: h.hls_ts_floor,
        entry_prefix: h.hls_entry_prefix.clone(),
        audio: h.hls_acodec != srs_conf::HlsAcodec::An,
        video: h.hls_vcodec != srs_conf::HlsVcodec::Vn,
        utc_offset_s: utc_offset_s(),
    }
}

/// This machine's offset from UTC now, in seconds (for the date placeholders, which SRS
/// fills in local time).
fn utc_offset_s() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r fills the struct we own from the time we pass.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    i64::from(tm.tm_gmtoff)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Files of one stream's HLS, with the I/O the segmenter asks for.
struct Files {
    root: PathBuf,
    open: Option<(PathBuf, File)>,
    /// Where finished segments are reported (for `on_hls`): sequence, path, duration.
    done: Option<tokio::sync::mpsc::Sender<(u64, String, std::time::Duration)>>,
    /// Set at a failed write, for `hls_on_error` (the writer task acts on it).
    failed: Arc<std::sync::atomic::AtomicBool>,
}

impl Files {
    fn apply(&mut self, actions: Vec<HlsAction>) {
        for a in actions {
            if let Err(e) = self.apply_one(a) {
                warn!("hls: {e}");
                self.failed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn apply_one(&mut self, a: HlsAction) -> std::io::Result<()> {
        match a {
            HlsAction::SegmentStarted { path, .. } => {
                let p = self.path(&path);
                if let Some(d) = p.parent() {
                    fs::create_dir_all(d)?;
                }
                let tmp = tmp_name(&p);
                self.open = Some((p, File::create(tmp)?));
            }
            HlsAction::Append { data, .. } => {
                if let Some((_, f)) = self.open.as_mut() {
                    f.write_all(&data)?;
                }
            }
            HlsAction::SegmentClosed {
                seq,
                path,
                duration,
            } => {
                if let Some((p, f)) = self.open.take() {
                    drop(f);
                    fs::rename(tmp_name(&p), &p)?;
                    // Bounded: hooks slower than segments drop reports, never grow memory.
                    if let Some(tx) = &self.done {
                        if tx.try_send((seq, path, duration)).is_err() {
                            warn!(seq, "hls: on_hls hooks lag behind, segment not reported");
                        }
                    }
                }
            }
            HlsAction::WritePlaylist { path, text } => {
                let p = self.path(&path);
                if let Some(d) = p.parent() {
                    fs::create_dir_all(d)?;
                }
                let tmp = tmp_name(&p);
                fs::write(&tmp, text)?;
                fs::rename(&tmp, &p)?;
            }
            HlsAction::DeleteSegment { path, .. } | HlsAction::DeletePlaylist { path } => {
                let p = self.path(&path);
                let _ = fs::remove_file(tmp_name(&p));
                match fs::remove_file(&p) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn tmp_name(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

impl HlsWriters {
    /// A stream was published: start its HLS writer if its vhost has HLS on and none runs.
    pub fn stream_up(self: &Arc<Self>, ctx: &Arc<HttpContext>, up: &srs_ipc::control::StreamUp) {
        let key = up.key.clone();
        self.publishers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), up.publisher.clone());
        let config = ctx.config();
        let Some(v) = config
            .vhost_named(&key.vhost)
            .or_else(|| config.vhost(&key.vhost))
            .cloned()
        else {
            return;
        };
        if !v.hls.enabled {
            return;
        }
        if !self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        // The player is made now, so that the mirror, started right after, sees it waiting
        // and gives it the publish from its start.
        let player = ctx.hub.play(&key, SourceConfig::of(&v));
        let me = self.clone();
        let ctx = ctx.clone();
        let span = info_span!("hls", stream = %key);
        tokio::spawn(
            async move {
                me.run(&ctx, &key, &v, player).await;
                me.running
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                me.publishers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
            }
            .instrument(span),
        );
    }

    async fn run(
        &self,
        ctx: &Arc<HttpContext>,
        key: &StreamKey,
        v: &Vhost,
        mut player: srs_live::Player,
    ) {
        let mut seg = match HlsSegmenter::new(hls_config(v), &key.vhost, &key.app, &key.stream) {
            Ok(s) => s,
            Err(e) => {
                warn!("hls: not writing this stream: {e}");
                return;
            }
        };
        // File I/O happens on a thread of its own: httpd's runtime has one thread, and a
        // slow disk must not stall every HTTP client. A bounded queue: a writer that cannot
        // keep up makes this task wait, and its player then skips GOPs.
        let (io, mut io_rx) = tokio::sync::mpsc::channel::<Vec<HlsAction>>(256);
        let h = &v.hls_hooks();
        let done = (!h.0.is_empty() || !h.1.is_empty()).then(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(256);
            tokio::spawn(
                hls_hooks(
                    ctx.clone(),
                    self.publishers_of(key),
                    (v.clone(), key.app.clone()),
                    seg.m3u8_path().to_string(),
                    rx,
                )
                .instrument(tracing::Span::current()),
            );
            tx
        });
        let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut files = Files {
            root: v.hls.hls_path.clone(),
            open: None,
            done,
            failed: failed.clone(),
        };
        // hls_on_error ignore: HLS stops for this publish at the first failed write.
        let mut disabled = false;
        let io_thread = std::thread::Builder::new()
            .name(format!("hls {}", key.stream))
            .spawn(move || {
                while let Some(acts) = io_rx.blocking_recv() {
                    files.apply(acts);
                }
            });
        if let Err(e) = io_thread {
            warn!("hls: cannot start the writer thread: {e}");
            return;
        }
        ctx.mirrors.ensure(key, Some(SourceConfig::of(v)));
        info!(path = %v.hls.hls_path.display(), m3u8 = seg.m3u8_path(), "hls writing");
        let dispose = v.hls.hls_dispose;
        let mut published_once = false;
        // Counted from now too: a publish that is gone before its ring could be read must
        // not leave this writer waiting forever.
        let mut unpublished_since = Some(tokio::time::Instant::now());
        let mut offset_at = std::time::Instant::now();
        loop {
            // After the publisher left: wait for a republish, up to hls_dispose.
            let woke = match (unpublished_since, dispose) {
                (Some(t), Some(d)) => tokio::time::timeout_at(t + d, player.changed())
                    .await
                    .is_ok(),
                (Some(_), None) => {
                    player.changed().await;
                    true
                }
                (None, _) => {
                    player.changed().await;
                    true
                }
            };
            if !woke {
                info!("hls: publisher gone for hls_dispose, removing the files");
                let _ = io.send(seg.dispose()).await;
                return;
            }
            if failed.swap(false, std::sync::atomic::Ordering::Relaxed) {
                match v.hls.hls_on_error {
                    HlsOnError::Continue => {}
                    HlsOnError::Ignore => {
                        if !disabled {
                            warn!("hls: a write failed, HLS stops for this publish (hls_on_error ignore)");
                            let _ = io.send(seg.close()).await;
                        }
                        disabled = true;
                    }
                    HlsOnError::Disconnect => {
                        let cid = self.publishers_of(key)().cid;
                        warn!(publisher = %cid, "hls: a write failed, the publisher is disconnected (hls_on_error disconnect)");
                        if let Err(e) = crate::api::kick_client(ctx, &cid).await {
                            warn!(publisher = %cid, "hls: the publisher could not be disconnected: {e}");
                        }
                    }
                }
            }
            for ev in player.poll(256, 1 << 20) {
                match ev {
                    PlayEvent::Published => {
                        if published_once {
                            let _ = io.send(seg.discontinuity()).await;
                        }
                        published_once = true;
                        unpublished_since = None;
                        disabled = false;
                    }
                    PlayEvent::Media(_) if disabled => {}
                    PlayEvent::Unpublished => {
                        let _ = io.send(seg.close()).await;
                        unpublished_since = Some(tokio::time::Instant::now());
                    }
                    PlayEvent::Media(msgs) => {
                        // Daylight saving changes the local offset the date placeholders
                        // use: looked up again once a minute.
                        if offset_at.elapsed() >= std::time::Duration::from_secs(60) {
                            offset_at = std::time::Instant::now();
                            seg.set_utc_offset(utc_offset_s());
                        }
                        for m in msgs {
                            let kind = match m.type_id {
                                type_id::AUDIO => MediaKind::Audio,
                                type_id::VIDEO => MediaKind::Video,
                                _ => continue,
                            };
                            match seg.push(
                                MediaMessage {
                                    kind,
                                    timestamp: m.timestamp,
                                    body: &m.payload,
                                },
                                now_ms(),
                            ) {
                                Ok(acts) if acts.is_empty() => {}
                                Ok(acts) => {
                                    let _ = io.send(acts).await;
                                }
                                Err(e) => warn!("hls: message dropped: {e}"),
                            }
                        }
                    }
                }
            }
        }
    }
}

impl HlsWriters {
    /// A reader of the current publisher of `key`.
    fn publishers_of(
        &self,
        key: &StreamKey,
    ) -> impl Fn() -> srs_ipc::control::PublisherInfo + Send + 'static {
        let map = self.publishers.clone();
        let key = key.clone();
        move || {
            map.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned()
                .unwrap_or_default()
        }
    }
}

/// The `on_hls` URLs and `on_hls_notify` templates of a vhost.
trait HlsHookUrls {
    fn hls_hooks(&self) -> (Vec<String>, Vec<String>);
}

impl HlsHookUrls for Vhost {
    fn hls_hooks(&self) -> (Vec<String>, Vec<String>) {
        let h = &self.http_hooks;
        (h.urls("on_hls").to_vec(), h.urls("on_hls_notify").to_vec())
    }
}

/// `on_hls` (POST) and `on_hls_notify` (GET of the template) for every finished segment,
/// in order, off the writer's path.
async fn hls_hooks(
    ctx: Arc<HttpContext>,
    publisher: impl Fn() -> srs_ipc::control::PublisherInfo + Send + 'static,
    (v, app): (Vhost, String),
    m3u8_rel: String,
    mut done: tokio::sync::mpsc::Receiver<(u64, String, std::time::Duration)>,
) {
    let hooks = ctx.hooks.for_vhost(&v);
    let (on_hls, notify) = v.hls_hooks();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let root = v.hls.hls_path.clone();
    let abs = |rel: &str| {
        let p = root.join(rel);
        if p.is_absolute() {
            p.display().to_string()
        } else {
            std::path::Path::new(&cwd).join(p).display().to_string()
        }
    };
    let m3u8_dir = std::path::Path::new(&m3u8_rel)
        .parent()
        .map(|p| p.to_path_buf());
    while let Some((seq, rel, duration)) = done.recv().await {
        let who = publisher();
        let client = srs_hooks::HookClient::new(
            &who.cid,
            &who.peer,
            (&v.name, &app),
            &who.name,
            &who.tc_url,
            "",
        );
        let seg = srs_hooks::HlsSegment {
            duration: duration.as_secs_f64(),
            cwd: cwd.clone(),
            file: abs(&rel),
            url: rel.clone(),
            m3u8: abs(&m3u8_rel),
            m3u8_url: m3u8_rel.clone(),
            seq_no: seq,
        };
        hooks.tell("on_hls", &on_hls, &client.on_hls(&seg)).await;
        // The segment as the playlist names it.
        let ts_url = match &m3u8_dir {
            Some(d) => std::path::Path::new(&rel)
                .strip_prefix(d)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| rel.clone()),
            None => rel.clone(),
        };
        for t in &notify {
            hooks
                .get("on_hls_notify", &client.hls_notify_url(t, &ts_url))
                .await;
        }
    }
}

/// Most streams HLS requests keep pulled on an edge at once: a request names any stream,
/// and each is an upstream connection.
const MAX_HLS_LEASES: usize = 1000;

/// How long an HLS player's request keeps an edge's pull going: players fetch the playlist
/// about once a segment, so a few segments without a request mean they are gone.
fn lease(v: &Vhost) -> std::time::Duration {
    (v.hls.hls_fragment * 3).max(std::time::Duration::from_secs(30))
}

/// The stream of an HLS playlist path, by the vhost's `hls_m3u8_file` template.
fn playlist_stream(template: &str, path: &str) -> Option<(String, String)> {
    // The matcher backtracks: a bounded path keeps it cheap whatever a client sends.
    if path.len() > 512 || path.matches('/').count() > 16 {
        return None;
    }
    // Placeholders match one path segment or part of one ([app] may span segments).
    fn go<'a>(
        t: &str,
        p: &'a str,
        app: &mut Option<&'a str>,
        stream: &mut Option<&'a str>,
    ) -> bool {
        if let Some(rest) = t.strip_prefix('[') {
            let Some((name, after)) = rest.split_once(']') else {
                return false;
            };
            for end in (1..=p.len()).rev() {
                if !p.is_char_boundary(end) {
                    continue;
                }
                let (val, tail) = p.split_at(end);
                if name != "app" && val.contains('/') {
                    continue;
                }
                let (a0, s0) = (*app, *stream);
                match name {
                    "app" => *app = Some(val),
                    "stream" => *stream = Some(val),
                    _ => {}
                }
                if go(after, tail, app, stream) {
                    return true;
                }
                (*app, *stream) = (a0, s0);
            }
            false
        } else if let Some(c) = t.chars().next() {
            p.starts_with(c) && go(&t[c.len_utf8()..], &p[c.len_utf8()..], app, stream)
        } else {
            p.is_empty()
        }
    }
    let (mut app, mut stream) = (None, None);
    if go(template, path, &mut app, &mut stream) {
        Some((app?.to_string(), stream?.to_string()))
    } else {
        None
    }
}

/// An HLS playlist request on an edge vhost: keep (or start) the pull of its stream for a
/// while, and give what to wait for before answering (the playlist written); `None` when
/// the path is no edge playlist.
pub fn edge_demand(
    ctx: &Arc<HttpContext>,
    config: &srs_conf::Config,
    host: &str,
    path: &str,
    query: &str,
) -> Option<impl std::future::Future<Output = ()>> {
    let name = srs_protocol::request::query_param(query, "vhost")
        .map(str::to_string)
        .unwrap_or_else(|| host.split(':').next().unwrap_or("").to_string());
    let v = config.vhost(&name)?;
    if !v.enabled || !v.hls.enabled || !v.cluster.edge {
        return None;
    }
    let rel = path.trim_start_matches('/');
    let template = v.hls.hls_m3u8_file.replace("[vhost]", &v.name);
    let (app, stream) = playlist_stream(&template, rel)?;
    let key = StreamKey {
        vhost: v.name.clone(),
        app,
        stream,
    };
    let until = std::time::Instant::now() + lease(v);
    {
        let mut leases = ctx.hls_leases.lock().unwrap_or_else(|e| e.into_inner());
        let full = leases.len() >= MAX_HLS_LEASES;
        match leases.get_mut(&key) {
            Some((_, t)) => *t = until,
            None if full => {
                warn!(stream = %key, "HLS player on an edge: too many pulled streams for HLS, not pulling");
                return None;
            }
            None => {
                info!(stream = %key, "HLS player on an edge: pulling the stream");
                let guard = ctx.demands.want(crate::pull_request(host, &key, query));
                leases.insert(key, (guard, until));
                if leases.len() == 1 {
                    tokio::spawn(sweep_leases(ctx.clone()));
                }
            }
        }
    }
    let file = v.hls.hls_path.join(rel);
    let wait = v.hls.hls_fragment + std::time::Duration::from_secs(10);
    Some(async move {
        let deadline = tokio::time::Instant::now() + wait;
        while !file.exists() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
}

/// Drop the leases nobody renewed; ends when none is left.
async fn sweep_leases(ctx: Arc<HttpContext>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let mut leases = ctx.hls_leases.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        leases.retain(|key, (_, until)| {
            let keep = *until > now;
            if !keep {
                info!(stream = %key, "no HLS request for a while: edge pull released");
            }
            keep
        });
        if leases.is_empty() {
            return;
        }
    }
}

#[cfg(test)]
mod edge_tests {
    use super::playlist_stream;

    #[test]
    fn playlist_paths_by_template() {
        let p = |t: &str, path: &str| playlist_stream(t, path);
        assert_eq!(
            p("[app]/[stream].m3u8", "live/cam.m3u8"),
            Some(("live".into(), "cam".into()))
        );
        assert_eq!(
            p("[app]/[stream].m3u8", "a/b/cam.m3u8"),
            Some(("a/b".into(), "cam".into()))
        );
        assert_eq!(
            p(
                "v.example/[app]/[stream]/index.m3u8",
                "v.example/live/cam/index.m3u8"
            ),
            Some(("live".into(), "cam".into()))
        );
        assert_eq!(p("[app]/[stream].m3u8", "cam.m3u8"), None);
        assert_eq!(p("[app]/[stream].m3u8", "live/cam.ts"), None);
        assert_eq!(p("[stream].m3u8", "cam.m3u8"), None, "no app");
    }
}
