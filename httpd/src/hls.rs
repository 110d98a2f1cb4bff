//! HLS live (`hls { enabled on; }`): for every published stream of a vhost with HLS on,
//! httpd reads the stream (a player of its local source, fed from the ring) through the
//! protocol crate's segmenter and does the file I/O it asks for under `hls_path`: segments
//! written to a temporary name and renamed when complete, the playlist replaced atomically,
//! expired segments deleted (`hls_cleanup`), everything deleted `hls_dispose` after the
//! publisher left. A republish continues the same playlist after a discontinuity.

use crate::HttpContext;
use srs_conf::Vhost;
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
}

fn hls_config(v: &Vhost) -> HlsConfig {
    HlsConfig {
        fragment: v.hls.hls_fragment,
        window: v.hls.hls_window,
        td_ratio: v.hls.hls_td_ratio.get(),
        cleanup: v.hls.hls_cleanup,
        m3u8_file: v.hls.hls_m3u8_file.clone(),
        ts_file: v.hls.hls_ts_file.clone(),
    }
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
}

impl Files {
    fn apply(&mut self, actions: Vec<HlsAction>) {
        for a in actions {
            if let Err(e) = self.apply_one(a) {
                warn!("hls: {e}");
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
            HlsAction::SegmentClosed { .. } => {
                if let Some((p, f)) = self.open.take() {
                    drop(f);
                    fs::rename(tmp_name(&p), &p)?;
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
    pub fn stream_up(self: &Arc<Self>, ctx: &Arc<HttpContext>, key: StreamKey) {
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
        let mut files = Files {
            root: v.hls.hls_path.clone(),
            open: None,
        };
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
            for ev in player.poll(256, 1 << 20) {
                match ev {
                    PlayEvent::Published => {
                        if published_once {
                            let _ = io.send(seg.discontinuity()).await;
                        }
                        published_once = true;
                        unpublished_since = None;
                    }
                    PlayEvent::Unpublished => {
                        let _ = io.send(seg.close()).await;
                        unpublished_since = Some(tokio::time::Instant::now());
                    }
                    PlayEvent::Media(msgs) => {
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
