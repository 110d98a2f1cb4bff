//! A child of the process tree: the same binary started by the master with `--role`.
//! Runs one role's `run` on a runtime shaped for it: a stream worker on one thread (one
//! worker per core is the point of having several), backsource on a few.

use crate::logging;
use crate::tree;
use srs_conf::Config;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use tracing::error;

/// Listening sockets inherited from the master (`SRS_LISTEN_FDS=3,4`).
fn inherited_listeners() -> Vec<std::net::TcpListener> {
    std::env::var("SRS_LISTEN_FDS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse::<RawFd>().ok())
        .filter(|fd| *fd > 2)
        .map(|fd| {
            // SAFETY: the master opened these listening sockets, cleared CLOEXEC on them
            // between fork and exec, and named them in SRS_LISTEN_FDS for this process;
            // nothing else in this process owns them.
            unsafe { std::net::TcpListener::from_raw_fd(fd) }
        })
        .collect()
}

/// HTTP listeners inherited from the master (`SRS_HTTP_FDS=api=5,server=6` or `both=5`).
fn inherited_http() -> srs_httpd::HttpListeners {
    let mut h = srs_httpd::HttpListeners::default();
    for item in std::env::var("SRS_HTTP_FDS").unwrap_or_default().split(',') {
        let Some((what, fd)) = item.split_once('=') else {
            continue;
        };
        let Ok(fd) = fd.parse::<RawFd>() else {
            continue;
        };
        if fd <= 2 {
            continue;
        }
        // SAFETY: as for the RTMP listeners: the master opened this socket, kept it open
        // across exec for us and named it here; nothing else in this process owns it.
        let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        match what {
            "api" => h.api = Some(l),
            "server" => h.server = Some(l),
            "both" => {
                h.server = Some(l);
                h.api_on_server = true;
            }
            _ => {}
        }
    }
    h
}

/// Run the role; the exit code tells the master how it ended.
pub fn main(role: &str, index: u32, config: Config, config_path: Option<PathBuf>) -> ExitCode {
    let tag = if role == "stream-worker" {
        format!("worker-{index}")
    } else {
        role.to_string()
    };
    let _guard = match logging::init(&config, &tag) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("srs-master --role {role}: log setup: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let run_dir = std::env::var_os("SRS_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| config.run_dir.clone());
    let ring_dir = std::env::var_os("SRS_RING_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tree::ring_dir(&run_dir));
    let master_socket = tree::master_socket(&run_dir);
    let handover_socket = tree::handover_socket(&run_dir);
    let runtime = match role {
        "backsource" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            error!("tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // SIGUSR1 from the master: reopen the log file (logrotate).
        if let Ok(mut usr1) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())
        {
            tokio::spawn(async move {
                while usr1.recv().await.is_some() {
                    if let Err(e) = logging::reopen() {
                        error!("cannot reopen the log file: {e}");
                    }
                }
            });
        }
        match role {
            "backsource" => {
                srs_backsource::process::run(
                    config,
                    srs_backsource::process::Paths {
                        config: config_path,
                        master_socket,
                        handover_socket,
                        ring_dir,
                    },
                )
                .await
            }
            "stream-worker" => {
                srs_stream_worker::process::run(
                    config,
                    index,
                    inherited_listeners(),
                    srs_stream_worker::process::Paths {
                        config: config_path,
                        master_socket,
                        handover_socket,
                        counters: tree::counters_file(&run_dir),
                    },
                )
                .await
            }
            "httpd" => {
                srs_httpd::run(
                    config,
                    srs_httpd::Paths {
                        config: config_path,
                        master_socket,
                    },
                    inherited_http(),
                )
                .await
            }
            other => Err(std::io::Error::other(format!("unknown role {other:?}"))),
        }
    });
    // Mirror threads and the like are not waited for: the process ends here.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{role} failed: {e}");
            ExitCode::FAILURE
        }
    }
}
