//! cli: `srs-cli status|streams|clients|reload|stop`. It asks the master (on its control
//! socket in the run directory) which processes exist, asks every process's private API,
//! and prints one aggregated answer: a table for people, `--json` for tools.

use anyhow::{anyhow, Context};
use clap::{Parser, Subcommand};
use serde::Serialize;
use srs_ipc::control::{
    ApiRequest, ApiResponse, ClientInfo, FromMaster, ProcessInfo, Role, ToMaster,
};
use srs_ipc::link::{self, Link};
use std::path::PathBuf;
use std::process::ExitCode;

/// Exit code when the master is not running.
pub const EXIT_NOT_RUNNING: u8 = 2;

/// Command line of `srs-cli`.
#[derive(Debug, Parser)]
#[command(
    name = "srs-cli",
    version,
    about = "Inspect and control a running srs-rs"
)]
pub struct Args {
    /// The server's config file (to find its run_dir); default: the built-in config.
    #[arg(short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// The server's run directory (overrides the config's run_dir).
    #[arg(long, value_name = "DIR", global = true)]
    pub run_dir: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Every process of the tree with its counters, and totals.
    Status {
        /// Refresh every second, like `top`, until Ctrl-C.
        #[arg(long)]
        watch: bool,
    },
    /// Streams: publishing in backsource, played in the workers.
    Streams,
    /// Connected clients of every process.
    Clients,
    /// Reload the config (as SIGHUP).
    Reload,
    /// Stop the server (as SIGTERM; --graceful as SIGQUIT).
    Stop {
        /// Let players finish first.
        #[arg(long)]
        graceful: bool,
    },
}

/// A row of `status`.
#[derive(Debug, Serialize)]
pub struct StatusRow {
    /// Role name.
    pub role: String,
    /// Index within the role.
    pub index: u32,
    /// Pid.
    pub pid: u32,
    /// Uptime in seconds.
    pub uptime_s: u64,
    /// Restarts so far.
    pub restarts: u32,
    /// Open connections.
    pub connections: u64,
    /// Streams.
    pub streams: u64,
    /// Receive rate.
    pub kbps_in: u64,
    /// Send rate.
    pub kbps_out: u64,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Private API port.
    pub api_port: u16,
}

fn run_dir(args: &Args) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.run_dir {
        return Ok(d.clone());
    }
    let config = match &args.config {
        Some(p) => srs_conf::Config::load(p)?,
        None => srs_conf::Config::builtin()?,
    };
    Ok(config.run_dir)
}

async fn ask_master(sock: &std::path::Path, msg: ToMaster) -> anyhow::Result<FromMaster> {
    let mut link = Link::connect(sock)
        .await
        .map_err(|e| NotRunning(format!("{}: {e}", sock.display())))?;
    link.send(&msg).await?;
    link.recv::<FromMaster>()
        .await?
        .ok_or_else(|| anyhow!("the master closed the link without answering"))
}

#[derive(Debug)]
struct NotRunning(String);

impl std::fmt::Display for NotRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the master is not running (no answer on its control socket {})",
            self.0
        )
    }
}

impl std::error::Error for NotRunning {}

async fn processes(sock: &std::path::Path) -> anyhow::Result<Vec<ProcessInfo>> {
    match ask_master(sock, ToMaster::ListProcesses).await? {
        FromMaster::Processes(p) => Ok(p),
        other => Err(anyhow!("unexpected answer: {other:?}")),
    }
}

/// Ask every child that has a private API the same question.
async fn ask_all(
    procs: &[ProcessInfo],
    req: ApiRequest,
) -> Vec<(ProcessInfo, Option<ApiResponse>)> {
    let mut out = Vec::new();
    for p in procs.iter().filter(|p| p.api_port != 0) {
        out.push((p.clone(), link::query(p.api_port, &req).await.ok()));
    }
    out
}

fn name(p: &ProcessInfo) -> String {
    match p.role {
        Role::StreamWorker => format!("worker-{}", p.index),
        r => r.name().to_string(),
    }
}

async fn status(sock: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let procs = processes(sock).await?;
    let fresh = ask_all(&procs, ApiRequest::Stats).await;
    let rows: Vec<StatusRow> = procs
        .iter()
        .map(|p| {
            let s = fresh
                .iter()
                .find(|(q, _)| q.role == p.role && q.index == p.index)
                .and_then(|(_, r)| match r {
                    Some(ApiResponse::Stats(s)) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| p.stats.clone());
            StatusRow {
                role: p.role.name().to_string(),
                index: p.index,
                pid: p.pid,
                uptime_s: p.uptime_s,
                restarts: p.restarts,
                connections: s.connections,
                streams: s.streams,
                kbps_in: p.kbps_in,
                kbps_out: p.kbps_out,
                rss_kib: s.rss_kib,
                api_port: p.api_port,
            }
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({ "processes": rows, "totals": totals(&rows) })
        );
        return Ok(());
    }
    println!(
        "{:<14} {:>7} {:>9} {:>8} {:>6} {:>7} {:>10} {:>10} {:>9}",
        "PROCESS", "PID", "UPTIME", "RESTARTS", "CONNS", "STREAMS", "KBPS_IN", "KBPS_OUT", "RSS_MB"
    );
    for (r, p) in rows.iter().zip(&procs) {
        println!(
            "{:<14} {:>7} {:>9} {:>8} {:>6} {:>7} {:>10} {:>10} {:>9.1}",
            name(p),
            r.pid,
            format_uptime(r.uptime_s),
            r.restarts,
            r.connections,
            r.streams,
            r.kbps_in,
            r.kbps_out,
            r.rss_kib as f64 / 1024.0
        );
    }
    let t = totals(&rows);
    let n = |k: &str| t[k].as_u64().unwrap_or(0);
    println!(
        "{:<14} {:>7} {:>9} {:>8} {:>6} {:>7} {:>10} {:>10} {:>9.1}",
        "TOTAL",
        "",
        "",
        n("restarts"),
        n("connections"),
        "",
        n("kbps_in"),
        n("kbps_out"),
        n("rss_kib") as f64 / 1024.0
    );
    Ok(())
}

fn totals(rows: &[StatusRow]) -> serde_json::Value {
    serde_json::json!({
        "processes": rows.len(),
        "restarts": rows.iter().map(|r| r.restarts as u64).sum::<u64>(),
        "connections": rows.iter().map(|r| r.connections).sum::<u64>(),
        "kbps_in": rows.iter().map(|r| r.kbps_in).sum::<u64>(),
        "kbps_out": rows.iter().map(|r| r.kbps_out).sum::<u64>(),
        "rss_kib": rows.iter().map(|r| r.rss_kib).sum::<u64>(),
    })
}

fn format_uptime(s: u64) -> String {
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

async fn streams(sock: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let procs = processes(sock).await?;
    let mut rows = Vec::new();
    for (p, r) in ask_all(&procs, ApiRequest::Streams).await {
        if let Some(ApiResponse::Streams(list)) = r {
            for (stream, n) in list {
                rows.push(serde_json::json!({
                    "stream": stream,
                    "process": name(&p),
                    "role": p.role.name(),
                    "publishing": p.role == Role::Backsource,
                    "players": if p.role == Role::Backsource { 0 } else { n },
                }));
            }
        }
    }
    // Relays (edge pull and push, forwards) come from backsource's stream details.
    let mut relays = Vec::new();
    for (_, r) in ask_all(&procs, ApiRequest::StreamDetails).await {
        if let Some(ApiResponse::StreamDetails(list)) = r {
            for d in list {
                let stream = format!("{}/{}/{}", d.vhost, d.app, d.stream);
                for r in d.relays {
                    relays.push(serde_json::json!({
                        "stream": stream, "kind": r.kind, "server": r.server, "state": r.state,
                        "since_ms": r.since_ms, "bytes_in": r.bytes_in, "bytes_out": r.bytes_out,
                        "retries": r.retries, "last_error": r.last_error,
                    }));
                }
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::json!({ "streams": rows, "relays": relays })
        );
        return Ok(());
    }
    println!("{:<40} {:<14} {:>8}", "STREAM", "PROCESS", "PLAYERS");
    for r in &rows {
        let what = if r["publishing"].as_bool() == Some(true) {
            "publishing".to_string()
        } else {
            r["players"].to_string()
        };
        println!(
            "{:<40} {:<14} {:>8}",
            r["stream"].as_str().unwrap_or(""),
            r["process"].as_str().unwrap_or(""),
            what
        );
    }
    if !relays.is_empty() {
        println!();
        println!(
            "{:<40} {:<8} {:<22} {:<11} {:>8} {:>12} {:>12} {:>7}",
            "STREAM", "RELAY", "SERVER", "STATE", "SINCE", "BYTES_IN", "BYTES_OUT", "RETRIES"
        );
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for r in &relays {
            let since = now.saturating_sub(r["since_ms"].as_u64().unwrap_or(0)) / 1000;
            println!(
                "{:<40} {:<8} {:<22} {:<11} {:>8} {:>12} {:>12} {:>7}",
                r["stream"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["server"].as_str().unwrap_or(""),
                r["state"].as_str().unwrap_or(""),
                format_uptime(since),
                r["bytes_in"],
                r["bytes_out"],
                r["retries"]
            );
        }
    }
    Ok(())
}

async fn clients(sock: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let procs = processes(sock).await?;
    let mut rows: Vec<(String, ClientInfo)> = Vec::new();
    for (p, r) in ask_all(&procs, ApiRequest::Clients).await {
        if let Some(ApiResponse::Clients(list)) = r {
            rows.extend(list.into_iter().map(|c| (name(&p), c)));
        }
    }
    if json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(p, c)| {
                serde_json::json!({
                    "process": p, "cid": c.cid, "peer": c.peer, "type": c.kind, "stream": c.stream,
                    "alive_s": c.alive_s, "bytes_in": c.bytes_in, "bytes_out": c.bytes_out,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "clients": v }));
        return Ok(());
    }
    println!(
        "{:<10} {:<14} {:<22} {:<8} {:<36} {:>7}",
        "CID", "PROCESS", "PEER", "TYPE", "STREAM", "ALIVE"
    );
    for (p, c) in &rows {
        println!(
            "{:<10} {:<14} {:<22} {:<8} {:<36} {:>7}",
            c.cid,
            p,
            c.peer,
            c.kind,
            c.stream,
            format_uptime(c.alive_s)
        );
    }
    Ok(())
}

/// `status --watch`: the table again every second, on a cleared screen (JSON: one line a
/// second), until Ctrl-C, which leaves cleanly (the `ctrlc` crate).
async fn watch_status(sock: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::SeqCst))
            .context("Ctrl-C handler")?;
    }
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        if !json {
            // Home and clear, as top does.
            print!("\x1b[H\x1b[2J");
        }
        if let Err(e) = status(sock, json).await {
            println!("{e:#}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        for _ in 0..10 {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    println!();
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let sock = run_dir(&args)
        .context("finding the run directory")?
        .join("master.sock");
    match args.command {
        Command::Status { watch: false } => status(&sock, args.json).await,
        Command::Status { watch: true } => watch_status(&sock, args.json).await,
        Command::Streams => streams(&sock, args.json).await,
        Command::Clients => clients(&sock, args.json).await,
        Command::Reload | Command::Stop { .. } => {
            let msg = match args.command {
                Command::Reload => ToMaster::Reload,
                Command::Stop { graceful } => ToMaster::Stop { graceful },
                _ => unreachable!("matched above"),
            };
            match ask_master(&sock, msg).await? {
                FromMaster::Ok => {
                    if args.json {
                        println!("{}", serde_json::json!({ "ok": true }));
                    } else {
                        println!("ok");
                    }
                    Ok(())
                }
                FromMaster::Error(e) => Err(anyhow!("{e}")),
                other => Err(anyhow!("unexpected answer: {other:?}")),
            }
        }
    }
}

/// Entry point of the `srs-cli` binary.
pub fn main_with_args(args: Args) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("srs-cli: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<NotRunning>().is_some() => {
            eprintln!("srs-cli: {e}");
            ExitCode::from(EXIT_NOT_RUNNING)
        }
        Err(e) => {
            eprintln!("srs-cli: {e:#}");
            ExitCode::FAILURE
        }
    }
}
