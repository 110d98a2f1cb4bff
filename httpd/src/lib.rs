//! httpd: the SRS-compatible HTTP API, HLS, HTTP-FLV, static files and vod (DESIGN.md).
//!
//! Until the HTTP issue it is a member of the process tree that does no HTTP yet: it
//! registers with the master, reports heartbeats, and stops when told, so that the tree's
//! supervision, reload and stop paths already include it.

use srs_ipc::control::{ApiRequest, ApiResponse, FromMaster, Role, ToMaster, WorkerStats};
use srs_ipc::link::{self, Link};
use std::io;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{info, warn};

fn stats() -> WorkerStats {
    WorkerStats {
        rss_kib: link::own_rss_kib(),
        ..Default::default()
    }
}

/// Run httpd until the master says stop (or goes away).
pub async fn run(master_socket: &Path) -> io::Result<()> {
    let api = TcpListener::bind("127.0.0.1:0").await?;
    let api_port = api.local_addr()?.port();
    tokio::spawn(link::serve_api(api, |req| match req {
        ApiRequest::Stats => ApiResponse::Stats(stats()),
        ApiRequest::Streams => ApiResponse::Streams(Vec::new()),
        ApiRequest::Clients => ApiResponse::Clients(Vec::new()),
        ApiRequest::Kick(_) => ApiResponse::Kicked(false),
    }));
    let mut master = Link::connect(master_socket).await?;
    master
        .send(&ToMaster::Register {
            role: Role::Httpd,
            index: 0,
            pid: std::process::id(),
            api_port,
        })
        .await?;
    info!(api_port, "httpd ready (no HTTP service yet)");
    let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = heartbeat.tick() => master.send(&ToMaster::Heartbeat(stats())).await?,
            msg = master.recv::<FromMaster>() => match msg? {
                None => {
                    warn!("master went away, stopping");
                    return Ok(());
                }
                Some(FromMaster::Stop { .. }) => {
                    info!("stopping");
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }
}
