//! master: reads and validates the config, binds every listening socket, and runs the
//! process tree of DESIGN.md ([`tree`]): backsource, the stream workers and httpd are this
//! same binary started with `--role` ([`child`]). `--single-process` runs backsource and one
//! stream worker in one process instead, over the same rings (for debugging and
//! comparisons).

pub mod child;
pub mod listen;
pub mod logging;
pub mod pidfile;
pub mod tree;

use anyhow::Context;
use clap::Parser;
use srs_backsource::{Backsource, StreamEvent};
use srs_conf::Config;
use srs_live::SourceConfig;
use srs_stream_worker::WorkerContext;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{error, info, warn};

/// Command line of `srs-master`, in the style of SRS and nginx.
#[derive(Debug, Parser)]
#[command(
    name = "srs-master",
    disable_version_flag = true,
    about = "srs-rs live streaming server"
)]
pub struct Args {
    /// Config file; without it the built-in default (equal to conf/srs.conf) is used.
    #[arg(short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Test the config and exit, like `nginx -t`.
    #[arg(short = 't')]
    pub test: bool,
    /// Print the version and exit.
    #[arg(short = 'v', short_alias = 'V', long = "version")]
    pub version: bool,
    /// Run the whole server in one process instead of the process tree.
    #[arg(long)]
    pub single_process: bool,
    /// Signal the running server through its pid file, like nginx: `stop` (fast),
    /// `quit` (graceful), `reload`, `reopen` (the log file, for logrotate).
    #[arg(short = 's', value_name = "SIGNAL", value_parser = ["stop", "quit", "reload", "reopen"])]
    pub signal: Option<String>,
    /// (internal) Run as a child of the tree: backsource, stream-worker or httpd.
    #[arg(long, hide = true)]
    pub role: Option<String>,
    /// (internal) Index of the child within its role.
    #[arg(long, hide = true, default_value_t = 0)]
    pub index: u32,
}

/// The version users see.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn load(args: &Args) -> Result<(Config, String), srs_conf::ConfError> {
    match &args.config {
        Some(p) => Ok((Config::load(p)?, p.display().to_string())),
        None => Ok((Config::builtin()?, "(built-in conf/srs.conf)".to_string())),
    }
}

/// Entry point of the `srs-master` binary.
pub fn main_with_args(args: Args) -> ExitCode {
    if args.version {
        println!("{VERSION}");
        return ExitCode::SUCCESS;
    }
    let (config, name) = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("srs-master: [emerg] {e}");
            if args.test {
                eprintln!("srs-master: configuration file test failed");
            }
            return ExitCode::FAILURE;
        }
    };
    if args.test {
        for w in &config.warnings {
            eprintln!("srs-master: [warn] {w}");
        }
        eprintln!("srs-master: the configuration file {name} syntax is ok");
        eprintln!("srs-master: configuration file {name} test is successful");
        return ExitCode::SUCCESS;
    }
    if let Some(role) = &args.role {
        return child::main(role, args.index, config, args.config);
    }
    if let Some(sig) = &args.signal {
        return signal_running(&config, sig);
    }
    match run(config, name, args.config, args.single_process) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Logging may not be up (or may go to a file): say it on stderr too.
            error!("{e:#}");
            eprintln!("srs-master: [emerg] {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `-s SIGNAL`: send it to the master named by the config's pid file.
fn signal_running(config: &Config, what: &str) -> ExitCode {
    use nix::sys::signal::Signal;
    let sig = match what {
        "stop" => Signal::SIGTERM,
        "quit" => Signal::SIGQUIT,
        "reload" => Signal::SIGHUP,
        _ => Signal::SIGUSR1,
    };
    let pid = match std::fs::read_to_string(&config.pid) {
        Ok(t) => match t.trim().parse::<i32>() {
            Ok(p) if p > 0 => p,
            _ => {
                eprintln!(
                    "srs-master: [emerg] invalid pid file {}",
                    config.pid.display()
                );
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!(
                "srs-master: [emerg] open pid file {}: {e} (is the server running?)",
                config.pid.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // The master holds the pid file's lock for its whole life: a file we can lock was
    // left by a server that is gone, and its pid may be another process's now.
    if let Ok(f) = std::fs::File::open(&config.pid) {
        if nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok() {
            eprintln!(
                "srs-master: [emerg] pid file {} is stale: the server is not running",
                config.pid.display()
            );
            return ExitCode::FAILURE;
        }
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("srs-master: [emerg] kill({pid}, {sig}): {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run the server until a stop signal.
fn run(config: Config, name: String, path: Option<PathBuf>, single: bool) -> anyhow::Result<()> {
    // Lock the pid file and bind before daemonizing, so that a second server or a port in
    // use is reported on the terminal.
    let mut pid = pidfile::PidFile::lock(&config.pid)
        .with_context(|| format!("pid file {}", config.pid.display()))?;
    // One socket per stream worker and port (SO_REUSEPORT), one per port in one process.
    let workers = if single {
        1
    } else {
        tree::worker_count(&config) as usize
    };
    let ports = listen::bind_all(&config.listen, workers)?;
    // Before any thread: the children inherit it (relays mark their connects with it).
    srs_live::conn::init_server_id();
    // Where children (transcoders, ingesters) reach this server: the first RTMP address as
    // bound (a `listen` of port 0 gets its port here).
    if let Some(p) = ports.first() {
        std::env::set_var(srs_live::conn::RTMP_ADDR_ENV, p.addr.to_string());
    }
    if config.daemon {
        // Fork before any thread exists (the runtime starts below).
        nix::unistd::daemon(true, false).context("daemon: fork failed")?;
    }
    let _log_guard = logging::init(&config, "master").context("log setup")?;
    for w in &config.warnings {
        warn!("config {w}");
    }
    listen::raise_nofile_limit();
    let runtime = if single {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("srs-worker")
            .build()
    } else {
        // The master never touches media: one thread is plenty.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .context("tokio runtime")?;
    let result = runtime.block_on(async {
        // Signal handlers first: once the pid file names us, a SIGTERM must mean a clean stop
        // (pid file removed), not the default action.
        let signals = Signals::install().context("signal handlers")?;
        pid.write_pid()
            .with_context(|| format!("pid file {}", config.pid.display()))?;
        info!(version = VERSION, config = %name, pid = std::process::id(), single, "srs-rs starting");
        // Only now: whoever sees this line (a supervisor, a test) finds the pid file written.
        for p in &ports {
            info!(addr = %p.addr, sockets = p.sockets.len(), "RTMP listening");
        }
        if single {
            let listeners = ports.into_iter().flat_map(|p| p.sockets).collect();
            serve_single(config, listeners, path, signals).await
        } else {
            let mut tree = tree::Tree::new(config, path, ports)?;
            tree.bind_http()?;
            tree.run(signals).await
        }
    });
    drop(pid);
    result
}

/// The signals the master acts on.
pub struct Signals {
    /// SIGTERM.
    pub term: tokio::signal::unix::Signal,
    /// SIGINT.
    pub int: tokio::signal::unix::Signal,
    /// SIGQUIT.
    pub quit: tokio::signal::unix::Signal,
    /// SIGHUP.
    pub hup: tokio::signal::unix::Signal,
    /// SIGUSR1.
    pub usr1: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }
}

/// Everything in this process: backsource writing the rings and one stream worker reading
/// them, the same code paths as the tree without the process boundaries.
async fn serve_single(
    config: Config,
    listeners: Vec<std::net::TcpListener>,
    path: Option<PathBuf>,
    mut sig: Signals,
) -> anyhow::Result<()> {
    let ring_dir = tree::ring_dir(&config.run_dir);
    tree::fresh_dir(&ring_dir)?;
    let (bs, mut streams) = Backsource::new(config.clone(), ring_dir.clone());
    bs.start_jobs();
    // Publishers go to backsource in memory.
    let ctx = WorkerContext::new(Arc::new(config), bs.clone());
    let mut server = tokio::spawn(srs_stream_worker::run(listeners, ctx.clone()));
    let mut demands = ctx.demands.attach();
    info!("srs-rs ready: one process");
    loop {
        tokio::select! {
            Some(d) = demands.recv() => match d {
                srs_live::DemandEvent::Want(req) => bs.pull(req),
                srs_live::DemandEvent::Unwant(key) => bs.unpull(&key),
            },
            r = &mut server => {
                // The accept loops never end on their own: this is a failure to set them up.
                return match r {
                    Ok(Ok(())) => Err(anyhow::anyhow!("the RTMP listeners stopped")),
                    Ok(Err(e)) => Err(anyhow::Error::new(e).context("RTMP listeners")),
                    Err(e) => Err(anyhow::anyhow!("RTMP listeners task failed: {e}")),
                };
            }
            ev = streams.recv() => match ev {
                Some(StreamEvent::Up(up)) => ctx.mirrors.stream_up(up),
                Some(StreamEvent::Down(key)) => ctx.mirrors.stream_down(&key),
                Some(StreamEvent::PullFailed { key, reason }) => ctx.demands.fail(&key, &reason),
                None => {}
            },
            _ = sig.term.recv() => { info!("SIGTERM: fast stop"); break; }
            _ = sig.int.recv() => { info!("SIGINT: fast stop"); break; }
            _ = sig.quit.recv() => { info!("SIGQUIT: stop"); break; }
            _ = sig.hup.recv() => reload(&ctx, &bs, path.as_ref()),
            _ = sig.usr1.recv() => match logging::reopen() {
                Ok(()) => info!("SIGUSR1: log file reopened"),
                Err(e) => error!("SIGUSR1: cannot reopen the log file: {e}"),
            },
        }
    }
    server.abort();
    // Jobs stopped, recordings finished.
    bs.shutdown().await;
    let _ = std::fs::remove_dir_all(&ring_dir);
    info!("stopped");
    Ok(())
}

/// SIGHUP in one process: load the config again; new connections use it. A broken config is
/// logged with file:line and the running one is kept.
fn reload(ctx: &Arc<WorkerContext>, bs: &Backsource, path: Option<&PathBuf>) {
    let Some(path) = path else {
        info!("SIGHUP: running on the built-in config, nothing to reload");
        return;
    };
    match Config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                warn!("config {w}");
            }
            if c.listen != ctx.config().listen {
                warn!("SIGHUP: listen changed; in one process new ports need a restart");
            }
            ctx.hub
                .reconfigure(|k| c.vhost(&k.vhost).map(SourceConfig::of));
            bs.reload(c.clone());
            ctx.set_config(Arc::new(c));
            info!(config = %path.display(), "SIGHUP: config reloaded");
        }
        Err(e) => error!("SIGHUP: reload failed, keeping the running config: {e}"),
    }
}
