//! The typed, validated server config: what the server uses, with SRS's names and defaults.
//!
//! [`Config::from_tree`] walks a directive tree (includes already resolved) once:
//! - a directive this server implements is parsed into its typed field, with every bad value,
//!   wrong argument count or duplicate reported as [`ConfError::Invalid`] with `file:line`;
//! - a directive SRS knows but this server does not implement yet becomes a [`Warning`] and is
//!   ignored, children included (they are not validated);
//! - any other name is a typo: [`ConfError::UnknownDirective`].
//!
//! Both SRS layouts are read: the SRS 3+ one (`vhost { play { gop_cache on; } }`,
//! `refer { enabled on; all a.com; }`, `publish { firstpkt_timeout 20000; }`, SRS 7's
//! `rtmp { listen 1935; }`) and the SRS 1/2 one (`gop_cache`, `refer`, `refer_play`,
//! `publish_1stpkt_timeout` directly in the vhost; `listen` at top level). Writing the same
//! setting both ways is a duplicate.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{ConfError, Warning};
use crate::include::{load_tree, resolve_includes, RealFs};
use crate::known::srs_knows;
use crate::parser::{parse_str, Directive};

/// The name of the vhost that serves clients whose vhost is not configured (for example a
/// client that connects by IP address), as in SRS.
pub const DEFAULT_VHOST: &str = "__defaultVhost__";

/// The config that [`Config::builtin`] parses: the file `conf/srs.conf` of this crate.
pub const BUILTIN_CONF: &str = include_str!("../srs.conf");

/// Default RTMP port, as SRS.
pub const DEFAULT_RTMP_PORT: u16 = 1935;
/// Default `max_connections`, as SRS.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1000;
/// Default `chunk_size` (SRS's `SRS_CONSTS_RTMP_SRS_CHUNK_SIZE`).
pub const DEFAULT_CHUNK_SIZE: u32 = 60000;
/// Smallest `chunk_size` SRS accepts (`SRS_CONSTS_RTMP_MIN_CHUNK_SIZE`, the RTMP default).
pub const MIN_CHUNK_SIZE: u32 = 128;
/// Largest `chunk_size` SRS accepts (`SRS_CONSTS_RTMP_MAX_CHUNK_SIZE`).
pub const MAX_CHUNK_SIZE: u32 = 65536;
/// Default `handshake_timeout` (ours, not SRS's).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(30_000);
/// Default `play { queue_length }` (SRS's `SRS_PERF_PLAY_QUEUE`, 30 seconds).
pub const DEFAULT_QUEUE_LENGTH: Duration = Duration::from_secs(30);
/// Default `play { mw_latency }` (SRS's `SRS_PERF_MW_SLEEP`, 350 ms, for RTMP/HTTP-FLV).
pub const DEFAULT_MW_LATENCY: Duration = Duration::from_millis(350);
/// Default `publish { firstpkt_timeout }`, as SRS.
pub const DEFAULT_FIRSTPKT_TIMEOUT: Duration = Duration::from_millis(20_000);
/// Default `publish { normal_timeout }`, as SRS.
pub const DEFAULT_NORMAL_TIMEOUT: Duration = Duration::from_millis(5_000);

/// Where logs go (`srs_log_tank`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTank {
    /// Standard output (`console`). Our default; SRS defaults to `file`.
    Console,
    /// The file `srs_log_file` (`file`).
    File,
}

/// How much is logged (`srs_log_level`), least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `verbose`
    Verbose,
    /// `info`
    Info,
    /// `trace`, the default.
    Trace,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

/// How many stream workers the master starts (`worker_processes`, ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerProcesses {
    /// `auto`: one per CPU core, the default.
    Auto,
    /// A fixed number, at least 1.
    Count(NonZeroU32),
}

/// The whole server config.
///
/// `PartialEq` compares every setting and ignores [`Config::warnings`], so two configs that
/// differ only in comments or line numbers are equal: a reload can compare the old and the
/// new config, vhost by vhost.
#[derive(Debug, Clone)]
pub struct Config {
    /// RTMP listen addresses (`listen 1935 [::]:1935 127.0.0.1:19350;`, or `rtmp { listen }`).
    /// A bare port means `0.0.0.0:port`. Default: `0.0.0.0:1935`.
    pub listen: Vec<SocketAddr>,
    /// Connections above this number are dropped (`max_connections`). Default 1000.
    pub max_connections: u32,
    /// Global RTMP chunk size (`chunk_size`, 128..=65536). Default 60000, as SRS.
    pub chunk_size: u32,
    /// The pid file (`pid`). Default `./objs/srs.pid`.
    pub pid: PathBuf,
    /// Where logs go (`srs_log_tank`). Default console.
    pub log_tank: LogTank,
    /// The log file when `log_tank` is `file` (`srs_log_file`). Default `./objs/srs.log`.
    pub log_file: PathBuf,
    /// The log level (`srs_log_level`). Default trace.
    pub log_level: LogLevel,
    /// Whether to detach from the terminal (`daemon on|off`). Default **off**, unlike SRS
    /// (whose default is on): a server started by hand, by systemd or in a container should
    /// stay in the foreground unless asked.
    pub daemon: bool,
    /// How long a TCP client may take to finish the RTMP handshake and its
    /// connect/publish/play commands before it is closed (`handshake_timeout` in ms, ours).
    /// Default 30 s.
    pub handshake_timeout: Duration,
    /// Number of stream workers (`worker_processes auto|N`, ours). Default auto.
    pub worker_processes: WorkerProcesses,
    /// Where the process tree keeps its control sockets (`run_dir`, ours).
    /// Default `./objs/run`. Stream rings live in `/dev/shm`, named after this directory.
    pub run_dir: PathBuf,
    /// SIGQUIT (graceful stop): how long players may go on before the server quits
    /// (`grace_final_wait`, ms, SRS). Default 3200 ms.
    pub grace_final_wait: Duration,
    /// SIGQUIT: how long to wait before closing the listeners, so that a load balancer can
    /// take the node out first (`grace_start_wait`, ms, SRS). Default 2300 ms.
    pub grace_start_wait: Duration,
    /// Treat SIGTERM as a graceful stop too (`force_grace_quit`, SRS; Kubernetes sends
    /// SIGTERM). Default off.
    pub force_grace_quit: bool,
    /// The vhosts, in file order.
    pub vhosts: Vec<Vhost>,
    /// Directives that were accepted but ignored, and other things to tell the operator.
    pub warnings: Vec<Warning>,
}

impl PartialEq for Config {
    fn eq(&self, other: &Self) -> bool {
        // Destructure so that a new field cannot be forgotten here.
        let Config {
            listen,
            max_connections,
            chunk_size,
            pid,
            log_tank,
            log_file,
            log_level,
            daemon,
            handshake_timeout,
            worker_processes,
            run_dir,
            grace_final_wait,
            grace_start_wait,
            force_grace_quit,
            vhosts,
            warnings: _,
        } = self;
        *listen == other.listen
            && *max_connections == other.max_connections
            && *chunk_size == other.chunk_size
            && *pid == other.pid
            && *log_tank == other.log_tank
            && *log_file == other.log_file
            && *log_level == other.log_level
            && *daemon == other.daemon
            && *handshake_timeout == other.handshake_timeout
            && *worker_processes == other.worker_processes
            && *run_dir == other.run_dir
            && *grace_final_wait == other.grace_final_wait
            && *grace_start_wait == other.grace_start_wait
            && *force_grace_quit == other.force_grace_quit
            && *vhosts == other.vhosts
    }
}

impl Eq for Config {}

impl Default for Config {
    /// Every default, and no vhost at all.
    fn default() -> Self {
        Config {
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_RTMP_PORT))],
            max_connections: DEFAULT_MAX_CONNECTIONS,
            chunk_size: DEFAULT_CHUNK_SIZE,
            pid: PathBuf::from("./objs/srs.pid"),
            log_tank: LogTank::Console,
            log_file: PathBuf::from("./objs/srs.log"),
            log_level: LogLevel::Trace,
            daemon: false,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            worker_processes: WorkerProcesses::Auto,
            run_dir: PathBuf::from("./objs/run"),
            grace_final_wait: Duration::from_millis(3200),
            grace_start_wait: Duration::from_millis(2300),
            force_grace_quit: false,
            vhosts: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// One `vhost NAME { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vhost {
    /// The vhost name (a domain, or [`DEFAULT_VHOST`]).
    pub name: String,
    /// Whether clients may use it (`enabled`). Default on.
    pub enabled: bool,
    /// RTMP chunk size for this vhost: its own `chunk_size`, else the global one.
    pub chunk_size: u32,
    /// Minimal-latency mode (`min_latency`). Default off (for RTMP, as SRS).
    pub min_latency: bool,
    /// Set `TCP_NODELAY` on client sockets (`tcp_nodelay`). Default off.
    pub tcp_nodelay: bool,
    /// Referer (page URL) checks (`refer`).
    pub refer: Refer,
    /// Settings for players (`play { }`).
    pub play: Play,
    /// Settings for publishers (`publish { }`).
    pub publish: Publish,
}

impl Vhost {
    /// A vhost with every default, using `chunk_size` as the global chunk size.
    pub fn new(name: impl Into<String>, chunk_size: u32) -> Self {
        Vhost {
            name: name.into(),
            enabled: true,
            chunk_size,
            min_latency: false,
            tcp_nodelay: false,
            refer: Refer::default(),
            play: Play::default(),
            publish: Publish::default(),
        }
    }
}

/// Referer checks: a client whose page URL matches none of the listed domains is refused.
/// SRS 3+ writes `refer { enabled on; all a.com; publish b.com; play c.com; }`; SRS 1/2 wrote
/// `refer a.com;`, `refer_publish b.com;` and `refer_play c.com;` in the vhost, which turn the
/// check on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refer {
    /// Whether the check is on. Default off.
    pub enabled: bool,
    /// Domains allowed for both publishers and players (`all`).
    pub all: Vec<String>,
    /// Domains allowed for publishers (`publish`).
    pub publish: Vec<String>,
    /// Domains allowed for players (`play`).
    pub play: Vec<String>,
}

/// Settings for players, SRS 3+'s `play { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// Keep the last GOP and send it to a new player first (`gop_cache`). Default on.
    pub gop_cache: bool,
    /// The longest a player's queue may get, in time, before whole GOPs are dropped
    /// (`queue_length`, seconds, fractions allowed). Default 30 s.
    pub queue_length: Duration,
    /// Merged-write latency: how long to gather messages before one write to a player
    /// (`mw_latency`, ms). Default 350 ms.
    pub mw_latency: Duration,
}

impl Default for Play {
    fn default() -> Self {
        Play {
            gop_cache: true,
            queue_length: DEFAULT_QUEUE_LENGTH,
            mw_latency: DEFAULT_MW_LATENCY,
        }
    }
}

/// Settings for publishers, SRS 3+'s `publish { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// How long to wait for the first media packet after publish (`firstpkt_timeout`, ms).
    /// Default 20 s.
    pub firstpkt_timeout: Duration,
    /// How long to wait for any later packet (`normal_timeout`, ms). Default 5 s.
    pub normal_timeout: Duration,
}

impl Default for Publish {
    fn default() -> Self {
        Publish {
            firstpkt_timeout: DEFAULT_FIRSTPKT_TIMEOUT,
            normal_timeout: DEFAULT_NORMAL_TIMEOUT,
        }
    }
}

impl Config {
    /// Reads the config file at `path`, resolves its includes and validates it.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfError> {
        Config::from_tree(&load_tree(path.as_ref())?)
    }

    /// Parses and validates config text. `file_name` names it in messages; `include`
    /// directives are resolved from the file system, relative to the working directory or to
    /// `file_name`'s directory (see [`crate::include`]).
    pub fn parse(text: &str, file_name: &str) -> Result<Config, ConfError> {
        let tree = parse_str(text, file_name)?;
        let tree = resolve_includes(&RealFs, tree, Path::new(file_name))?;
        Config::from_tree(&tree)
    }

    /// The built-in config, [`BUILTIN_CONF`] (this crate's `conf/srs.conf`): RTMP on 1935 in
    /// the foreground, logs to the console, one `__defaultVhost__`.
    ///
    /// It is tested to parse; the `Result` is only there so that no code path can panic.
    pub fn builtin() -> Result<Config, ConfError> {
        Config::from_tree(&parse_str(BUILTIN_CONF, "conf/srs.conf")?)
    }

    /// Validates a directive tree whose includes are already resolved. Pure.
    pub fn from_tree(tree: &[Directive]) -> Result<Config, ConfError> {
        Builder::default().build(tree)
    }

    /// The vhost a client asking for `name` gets: the vhost of that name if it exists and is
    /// enabled, else `__defaultVhost__` if it exists, else `None`.
    pub fn vhost(&self, name: &str) -> Option<&Vhost> {
        self.vhosts
            .iter()
            .find(|v| v.name == name && v.enabled)
            .or_else(|| self.vhosts.iter().find(|v| v.name == DEFAULT_VHOST))
    }

    /// The vhost of exactly that name, enabled or not.
    pub fn vhost_named(&self, name: &str) -> Option<&Vhost> {
        self.vhosts.iter().find(|v| v.name == name)
    }
}

/// A setting that may be written once, remembering where, to report duplicates.
struct Slot<'a, T> {
    value: Option<(T, &'a Directive)>,
}

impl<T> Default for Slot<'_, T> {
    fn default() -> Self {
        Slot { value: None }
    }
}

impl<'a, T> Slot<'a, T> {
    fn set(&mut self, d: &'a Directive, value: T) -> Result<(), ConfError> {
        if let Some((_, first)) = &self.value {
            return Err(invalid(
                d,
                format!(
                    "duplicate directive \"{}\" (first set at {})",
                    d.name,
                    first.location()
                ),
            ));
        }
        self.value = Some((value, d));
        Ok(())
    }

    fn get_or(self, default: T) -> T {
        self.value.map_or(default, |(v, _)| v)
    }
}

#[derive(Default)]
struct Builder<'a> {
    listen: Slot<'a, Vec<SocketAddr>>,
    max_connections: Slot<'a, u32>,
    chunk_size: Slot<'a, u32>,
    pid: Slot<'a, PathBuf>,
    log_tank: Slot<'a, LogTank>,
    log_file: Slot<'a, PathBuf>,
    log_level: Slot<'a, LogLevel>,
    daemon: Slot<'a, bool>,
    handshake_timeout: Slot<'a, Duration>,
    worker_processes: Slot<'a, WorkerProcesses>,
    run_dir: Slot<'a, PathBuf>,
    grace_final_wait: Slot<'a, Duration>,
    grace_start_wait: Slot<'a, Duration>,
    force_grace_quit: Slot<'a, bool>,
    vhosts: Vec<VhostBuilder<'a>>,
    warnings: Vec<Warning>,
}

#[derive(Default)]
struct VhostBuilder<'a> {
    at: Option<&'a Directive>,
    name: String,
    enabled: Slot<'a, bool>,
    chunk_size: Slot<'a, u32>,
    min_latency: Slot<'a, bool>,
    tcp_nodelay: Slot<'a, bool>,
    refer_enabled: Slot<'a, bool>,
    refer_all: Slot<'a, Vec<String>>,
    refer_publish: Slot<'a, Vec<String>>,
    refer_play: Slot<'a, Vec<String>>,
    /// An SRS 1/2 `refer`, `refer_publish` or `refer_play` was seen: it turns the check on.
    refer_legacy: bool,
    gop_cache: Slot<'a, bool>,
    queue_length: Slot<'a, Duration>,
    mw_latency: Slot<'a, Duration>,
    firstpkt_timeout: Slot<'a, Duration>,
    normal_timeout: Slot<'a, Duration>,
}

impl<'a> Builder<'a> {
    fn build(mut self, tree: &'a [Directive]) -> Result<Config, ConfError> {
        for d in tree {
            self.top(d)?;
        }
        let chunk_size = self.chunk_size.get_or(DEFAULT_CHUNK_SIZE);
        let defaults = Config::default();
        let vhosts = self
            .vhosts
            .into_iter()
            .map(|v| v.build(chunk_size))
            .collect();
        Ok(Config {
            listen: self.listen.get_or(defaults.listen),
            max_connections: self.max_connections.get_or(defaults.max_connections),
            chunk_size,
            pid: self.pid.get_or(defaults.pid),
            log_tank: self.log_tank.get_or(defaults.log_tank),
            log_file: self.log_file.get_or(defaults.log_file),
            log_level: self.log_level.get_or(defaults.log_level),
            daemon: self.daemon.get_or(defaults.daemon),
            handshake_timeout: self.handshake_timeout.get_or(defaults.handshake_timeout),
            worker_processes: self.worker_processes.get_or(defaults.worker_processes),
            run_dir: self.run_dir.get_or(defaults.run_dir),
            grace_final_wait: self.grace_final_wait.get_or(defaults.grace_final_wait),
            grace_start_wait: self.grace_start_wait.get_or(defaults.grace_start_wait),
            force_grace_quit: self.force_grace_quit.get_or(defaults.force_grace_quit),
            vhosts,
            warnings: self.warnings,
        })
    }

    fn top(&mut self, d: &'a Directive) -> Result<(), ConfError> {
        match d.name.as_str() {
            "listen" => self.listen.set(d, listen(d)?),
            "rtmp" => {
                expect_block(d, 0)?;
                for c in &d.children {
                    match c.name.as_str() {
                        "listen" => self.listen.set(c, listen(c)?)?,
                        "chunk_size" => self.chunk_size.set(c, chunk_size(c)?)?,
                        _ => return Err(unknown(c, " in rtmp")),
                    }
                }
                Ok(())
            }
            "max_connections" => self.max_connections.set(d, number(d, 1, u32::MAX)?),
            "chunk_size" => self.chunk_size.set(d, chunk_size(d)?),
            "pid" => self.pid.set(d, path(d)?),
            "srs_log_file" => self.log_file.set(d, path(d)?),
            "srs_log_tank" => {
                let tank = match one_arg(d)? {
                    "console" => LogTank::Console,
                    "file" => LogTank::File,
                    other => return Err(bad_value(d, other, "console or file")),
                };
                self.log_tank.set(d, tank)
            }
            "srs_log_level" => {
                let level = match one_arg(d)? {
                    "verbose" => LogLevel::Verbose,
                    "info" => LogLevel::Info,
                    "trace" => LogLevel::Trace,
                    "warn" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    other => {
                        return Err(bad_value(d, other, "verbose, info, trace, warn or error"))
                    }
                };
                self.log_level.set(d, level)
            }
            "daemon" => self.daemon.set(d, on_off(d)?),
            "handshake_timeout" => self.handshake_timeout.set(d, millis(d, 1)?),
            "worker_processes" => {
                let workers = match one_arg(d)? {
                    "auto" => WorkerProcesses::Auto,
                    _ => match NonZeroU32::new(number(d, 1, u32::MAX)?) {
                        Some(n) => WorkerProcesses::Count(n),
                        None => return Err(bad_value(d, "0", "auto or a number of at least 1")),
                    },
                };
                self.worker_processes.set(d, workers)
            }
            "run_dir" => self.run_dir.set(d, path(d)?),
            "grace_final_wait" => self.grace_final_wait.set(d, millis(d, 0)?),
            "grace_start_wait" => self.grace_start_wait.set(d, millis(d, 0)?),
            "force_grace_quit" => self.force_grace_quit.set(d, on_off(d)?),
            "vhost" => self.vhost(d),
            name if srs_knows("", name) => {
                self.ignore(d);
                Ok(())
            }
            _ => Err(unknown(d, "")),
        }
    }

    fn ignore(&mut self, d: &Directive) {
        self.warnings.push(Warning {
            file: d.file.clone(),
            line: d.line,
            message: format!("directive \"{}\" is not supported yet, ignored", d.name),
        });
    }

    fn vhost(&mut self, d: &'a Directive) -> Result<(), ConfError> {
        expect_block(d, 1)?;
        let name = d.args[0].clone();
        if name.is_empty() {
            return Err(invalid(d, "vhost name is empty".to_string()));
        }
        if let Some(first) = self
            .vhosts
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.at)
        {
            return Err(invalid(
                d,
                format!(
                    "duplicate vhost \"{name}\" (first defined at {})",
                    first.location()
                ),
            ));
        }
        let mut v = VhostBuilder {
            at: Some(d),
            name,
            ..VhostBuilder::default()
        };
        for c in &d.children {
            match c.name.as_str() {
                "enabled" => v.enabled.set(c, on_off(c)?)?,
                "chunk_size" => v.chunk_size.set(c, chunk_size(c)?)?,
                "min_latency" => v.min_latency.set(c, on_off(c)?)?,
                "tcp_nodelay" => v.tcp_nodelay.set(c, on_off(c)?)?,
                // SRS 1/2 spellings of play { } and publish { } settings.
                "gop_cache" => v.gop_cache.set(c, on_off(c)?)?,
                "queue_length" => v.queue_length.set(c, seconds(c)?)?,
                "mw_latency" => v.mw_latency.set(c, millis(c, 0)?)?,
                "publish_1stpkt_timeout" => v.firstpkt_timeout.set(c, millis(c, 1)?)?,
                "publish_normal_timeout" => v.normal_timeout.set(c, millis(c, 1)?)?,
                "refer" if !c.block => {
                    v.refer_legacy = true;
                    v.refer_all.set(c, domains(c)?)?;
                }
                "refer_publish" => {
                    v.refer_legacy = true;
                    v.refer_publish.set(c, domains(c)?)?;
                }
                "refer_play" => {
                    v.refer_legacy = true;
                    v.refer_play.set(c, domains(c)?)?;
                }
                "refer" => {
                    expect_block(c, 0)?;
                    for r in &c.children {
                        match r.name.as_str() {
                            "enabled" => v.refer_enabled.set(r, on_off(r)?)?,
                            "all" => v.refer_all.set(r, domains(r)?)?,
                            "publish" => v.refer_publish.set(r, domains(r)?)?,
                            "play" => v.refer_play.set(r, domains(r)?)?,
                            _ => return Err(unknown(r, " in vhost.refer")),
                        }
                    }
                }
                "play" => {
                    expect_block(c, 0)?;
                    for p in &c.children {
                        match p.name.as_str() {
                            "gop_cache" => v.gop_cache.set(p, on_off(p)?)?,
                            "queue_length" => v.queue_length.set(p, seconds(p)?)?,
                            "mw_latency" => v.mw_latency.set(p, millis(p, 0)?)?,
                            name if srs_knows("vhost.play", name) => self.ignore(p),
                            _ => return Err(unknown(p, " in vhost.play")),
                        }
                    }
                }
                "publish" => {
                    expect_block(c, 0)?;
                    for p in &c.children {
                        match p.name.as_str() {
                            "firstpkt_timeout" => v.firstpkt_timeout.set(p, millis(p, 1)?)?,
                            "normal_timeout" => v.normal_timeout.set(p, millis(p, 1)?)?,
                            name if srs_knows("vhost.publish", name) => self.ignore(p),
                            _ => return Err(unknown(p, " in vhost.publish")),
                        }
                    }
                }
                name if srs_knows("vhost", name) => self.ignore(c),
                _ => return Err(unknown(c, " in vhost")),
            }
        }
        self.vhosts.push(v);
        Ok(())
    }
}

impl VhostBuilder<'_> {
    fn build(self, global_chunk_size: u32) -> Vhost {
        let refer_enabled = match self.refer_enabled.value {
            Some((on, _)) => on,
            None => self.refer_legacy,
        };
        let defaults = Vhost::new(self.name, global_chunk_size);
        Vhost {
            enabled: self.enabled.get_or(defaults.enabled),
            chunk_size: self.chunk_size.get_or(defaults.chunk_size),
            min_latency: self.min_latency.get_or(defaults.min_latency),
            tcp_nodelay: self.tcp_nodelay.get_or(defaults.tcp_nodelay),
            refer: Refer {
                enabled: refer_enabled,
                all: self.refer_all.get_or(Vec::new()),
                publish: self.refer_publish.get_or(Vec::new()),
                play: self.refer_play.get_or(Vec::new()),
            },
            play: Play {
                gop_cache: self.gop_cache.get_or(defaults.play.gop_cache),
                queue_length: self.queue_length.get_or(defaults.play.queue_length),
                mw_latency: self.mw_latency.get_or(defaults.play.mw_latency),
            },
            publish: Publish {
                firstpkt_timeout: self
                    .firstpkt_timeout
                    .get_or(defaults.publish.firstpkt_timeout),
                normal_timeout: self.normal_timeout.get_or(defaults.publish.normal_timeout),
            },
            name: defaults.name,
        }
    }
}

// ----------------------------------------------------------------------------------------
// Value parsers: each takes the directive, so that every error names its file and line.

fn invalid(d: &Directive, message: String) -> ConfError {
    ConfError::Invalid {
        file: d.file.clone(),
        line: d.line,
        message,
    }
}

fn unknown(d: &Directive, context: &str) -> ConfError {
    ConfError::UnknownDirective {
        file: d.file.clone(),
        line: d.line,
        name: d.name.clone(),
        context: context.to_string(),
    }
}

fn bad_value(d: &Directive, value: &str, expected: &str) -> ConfError {
    invalid(
        d,
        format!(
            "invalid value \"{value}\" for \"{}\": expected {expected}",
            d.name
        ),
    )
}

/// A block with exactly `nargs` arguments.
fn expect_block(d: &Directive, nargs: usize) -> Result<(), ConfError> {
    if !d.block {
        return Err(invalid(
            d,
            format!("directive \"{}\" must be a block {{ ... }}", d.name),
        ));
    }
    if d.args.len() != nargs {
        return Err(invalid(
            d,
            format!(
                "directive \"{}\" takes {nargs} argument(s), got {}",
                d.name,
                d.args.len()
            ),
        ));
    }
    Ok(())
}

/// A plain directive (not a block), with at least one argument.
fn not_block(d: &Directive) -> Result<(), ConfError> {
    if d.block {
        return Err(invalid(
            d,
            format!("directive \"{}\" is not a block", d.name),
        ));
    }
    if d.args.is_empty() {
        return Err(invalid(
            d,
            format!("directive \"{}\" needs a value", d.name),
        ));
    }
    Ok(())
}

/// The single argument of a plain directive.
fn one_arg(d: &Directive) -> Result<&str, ConfError> {
    not_block(d)?;
    match d.args.as_slice() {
        [one] => Ok(one),
        more => Err(invalid(
            d,
            format!(
                "directive \"{}\" takes 1 argument, got {}",
                d.name,
                more.len()
            ),
        )),
    }
}

fn on_off(d: &Directive) -> Result<bool, ConfError> {
    match one_arg(d)? {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(bad_value(d, other, "on or off")),
    }
}

/// A whole decimal number in `min..=max`.
fn number(d: &Directive, min: u32, max: u32) -> Result<u32, ConfError> {
    let v = whole(d, min.into(), max.into())?;
    // `whole` checked the range, so the conversion cannot fail.
    Ok(u32::try_from(v).unwrap_or(max))
}

fn whole(d: &Directive, min: u64, max: u64) -> Result<u64, ConfError> {
    let s = one_arg(d)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_value(d, s, "a whole number"));
    }
    match s.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(invalid(
            d,
            format!(
                "value {s} for \"{}\" is out of range ({min}..={max})",
                d.name
            ),
        )),
    }
}

fn chunk_size(d: &Directive) -> Result<u32, ConfError> {
    number(d, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE)
}

/// Milliseconds, a whole number of at least `min`.
fn millis(d: &Directive, min: u64) -> Result<Duration, ConfError> {
    // A day is far beyond any sane timeout and keeps every later sum far from overflow.
    whole(d, min, 86_400_000).map(Duration::from_millis)
}

/// Seconds, fractions allowed (`queue_length 0.5;`), at most a day.
fn seconds(d: &Directive) -> Result<Duration, ConfError> {
    let s = one_arg(d)?;
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match s.parse::<f64>() {
        Ok(v) if ok && (0.0..=86_400.0).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(bad_value(d, s, "a number of seconds between 0 and 86400")),
    }
}

fn path(d: &Directive) -> Result<PathBuf, ConfError> {
    let s = one_arg(d)?;
    if s.is_empty() {
        return Err(invalid(
            d,
            format!("directive \"{}\" needs a non-empty path", d.name),
        ));
    }
    Ok(PathBuf::from(s))
}

fn domains(d: &Directive) -> Result<Vec<String>, ConfError> {
    not_block(d)?;
    Ok(d.args.clone())
}

fn listen(d: &Directive) -> Result<Vec<SocketAddr>, ConfError> {
    not_block(d)?;
    let mut out: Vec<SocketAddr> = Vec::with_capacity(d.args.len());
    for arg in &d.args {
        let addr = endpoint(arg).map_err(|m| invalid(d, m))?;
        if out.contains(&addr) {
            return Err(invalid(d, format!("listen address {addr} given twice")));
        }
        out.push(addr);
    }
    Ok(out)
}

/// `port`, `ip:port` or `[ipv6]:port`, as SRS's `srs_parse_endpoint`. Port 0 is allowed: it
/// asks the system for a free port (for tests).
fn endpoint(arg: &str) -> Result<SocketAddr, String> {
    let port_of = |s: &str| -> Result<Option<u16>, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        match s.parse::<u16>() {
            Ok(p) => Ok(Some(p)),
            Err(_) => Err(format!("listen port {s} out of range (0..=65535)")),
        }
    };
    if let Some(port) = port_of(arg)? {
        return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)));
    }
    if let Ok(addr) = arg.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some((_, port)) = arg.rsplit_once(':') {
        // Report a bad port as such, not as a bad address.
        port_of(port)?;
    }
    Err(format!(
        "invalid listen address \"{arg}\": expected port, ip:port or [ipv6]:port"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        match Config::parse(text, "x.conf") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    fn error(text: &str) -> String {
        match Config::parse(text, "x.conf") {
            Ok(c) => panic!("parsed: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults() {
        let c = parse("");
        assert_eq!(c, Config::default());
        assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
        assert_eq!(c.max_connections, 1000);
        assert_eq!(c.chunk_size, 60000);
        assert_eq!(c.pid, Path::new("./objs/srs.pid"));
        assert_eq!(c.log_tank, LogTank::Console);
        assert_eq!(c.log_file, Path::new("./objs/srs.log"));
        assert_eq!(c.log_level, LogLevel::Trace);
        assert!(!c.daemon);
        assert_eq!(c.handshake_timeout, Duration::from_secs(30));
        assert_eq!(c.worker_processes, WorkerProcesses::Auto);
        assert!(c.vhosts.is_empty() && c.warnings.is_empty());

        let v = &parse("vhost a {}").vhosts[0];
        assert_eq!(*v, Vhost::new("a", 60000));
        assert!(v.enabled && !v.min_latency && !v.tcp_nodelay);
        assert!(v.play.gop_cache);
        assert_eq!(v.play.queue_length, Duration::from_secs(30));
        assert_eq!(v.play.mw_latency, Duration::from_millis(350));
        assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(20));
        assert_eq!(v.publish.normal_timeout, Duration::from_secs(5));
        assert_eq!(v.refer, Refer::default());
    }

    #[test]
    fn global_settings() {
        let c = parse(
            "listen 1936;\nmax_connections 10;\nchunk_size 4096;\npid /run/srs.pid;\n\
             srs_log_tank file;\nsrs_log_file /var/log/srs.log;\nsrs_log_level warn;\ndaemon on;\n\
             handshake_timeout 1500;\nworker_processes 4;\n",
        );
        assert_eq!(c.listen, [addr("0.0.0.0:1936")]);
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.chunk_size, 4096);
        assert_eq!(c.pid, Path::new("/run/srs.pid"));
        assert_eq!(c.log_tank, LogTank::File);
        assert_eq!(c.log_file, Path::new("/var/log/srs.log"));
        assert_eq!(c.log_level, LogLevel::Warn);
        assert!(c.daemon);
        assert_eq!(c.handshake_timeout, Duration::from_millis(1500));
        assert_eq!(
            c.worker_processes,
            WorkerProcesses::Count(NonZeroU32::new(4).unwrap())
        );
        for (text, level) in [
            ("verbose", LogLevel::Verbose),
            ("info", LogLevel::Info),
            ("trace", LogLevel::Trace),
            ("error", LogLevel::Error),
        ] {
            assert_eq!(parse(&format!("srs_log_level {text};")).log_level, level);
        }
        assert_eq!(
            parse("worker_processes auto;").worker_processes,
            WorkerProcesses::Auto
        );
    }

    #[test]
    fn listen_forms() {
        let c = parse("listen 1935 127.0.0.1:19350 [::]:1935 [::1]:1936 0;");
        assert_eq!(
            c.listen,
            [
                addr("0.0.0.0:1935"),
                addr("127.0.0.1:19350"),
                addr("[::]:1935"),
                addr("[::1]:1936"),
                addr("0.0.0.0:0")
            ]
        );
        // SRS 7's rtmp { } block.
        let c = parse("rtmp {\n  listen 1937;\n  chunk_size 4096;\n}\nvhost a {}");
        assert_eq!(c.listen, [addr("0.0.0.0:1937")]);
        assert_eq!(c.chunk_size, 4096);
        assert_eq!(c.vhosts[0].chunk_size, 4096);
    }

    #[test]
    fn listen_errors() {
        assert_eq!(
            error("\nlisten 70000;"),
            "x.conf:2: listen port 70000 out of range (0..=65535)"
        );
        assert_eq!(
            error("listen 127.0.0.1:65536;"),
            "x.conf:1: listen port 65536 out of range (0..=65535)"
        );
        assert_eq!(
            error("listen localhost:1935;"),
            "x.conf:1: invalid listen address \"localhost:1935\": expected port, ip:port or [ipv6]:port"
        );
        assert_eq!(
            error("listen -1;"),
            "x.conf:1: invalid listen address \"-1\": expected port, ip:port or [ipv6]:port"
        );
        assert_eq!(
            error("listen;"),
            "x.conf:1: directive \"listen\" needs a value"
        );
        assert_eq!(
            error("listen 1935 1935;"),
            "x.conf:1: listen address 0.0.0.0:1935 given twice"
        );
        assert_eq!(
            error("listen 1935;\nrtmp {\n listen 1936;\n}"),
            "x.conf:3: duplicate directive \"listen\" (first set at x.conf:1)"
        );
        assert_eq!(
            error("rtmp {\n  lisen 1;\n}"),
            "x.conf:2: unknown directive \"lisen\" in rtmp"
        );
        assert_eq!(
            error("rtmp;"),
            "x.conf:1: directive \"rtmp\" must be a block { ... }"
        );
    }

    #[test]
    fn number_and_switch_errors() {
        assert_eq!(
            error("max_connections abc;"),
            "x.conf:1: invalid value \"abc\" for \"max_connections\": expected a whole number"
        );
        assert_eq!(
            error("max_connections 0;"),
            "x.conf:1: value 0 for \"max_connections\" is out of range (1..=4294967295)"
        );
        assert_eq!(
            error("max_connections 99999999999999999999999;"),
            "x.conf:1: value 99999999999999999999999 for \"max_connections\" is out of range (1..=4294967295)"
        );
        assert_eq!(
            error("max_connections 1 2;"),
            "x.conf:1: directive \"max_connections\" takes 1 argument, got 2"
        );
        assert_eq!(
            error("max_connections { }"),
            "x.conf:1: directive \"max_connections\" is not a block"
        );
        assert_eq!(
            error("daemon yes;"),
            "x.conf:1: invalid value \"yes\" for \"daemon\": expected on or off"
        );
        assert_eq!(
            error("daemon ON;"),
            "x.conf:1: invalid value \"ON\" for \"daemon\": expected on or off"
        );
        assert_eq!(
            error("srs_log_tank syslog;"),
            "x.conf:1: invalid value \"syslog\" for \"srs_log_tank\": expected console or file"
        );
        assert_eq!(
            error("srs_log_level debug;"),
            "x.conf:1: invalid value \"debug\" for \"srs_log_level\": expected verbose, info, trace, warn or error"
        );
        assert_eq!(
            error("worker_processes 0;"),
            "x.conf:1: value 0 for \"worker_processes\" is out of range (1..=4294967295)"
        );
        assert_eq!(
            error("worker_processes many;"),
            "x.conf:1: invalid value \"many\" for \"worker_processes\": expected a whole number"
        );
        assert_eq!(
            error("handshake_timeout 0;"),
            "x.conf:1: value 0 for \"handshake_timeout\" is out of range (1..=86400000)"
        );
        assert_eq!(
            error("pid \"\";"),
            "x.conf:1: directive \"pid\" needs a non-empty path"
        );
        assert_eq!(
            error("daemon off;\n\ndaemon on;"),
            "x.conf:3: duplicate directive \"daemon\" (first set at x.conf:1)"
        );
    }

    #[test]
    fn chunk_size_range() {
        assert_eq!(parse("chunk_size 128;").chunk_size, 128);
        assert_eq!(parse("chunk_size 65536;").chunk_size, 65536);
        assert_eq!(
            error("chunk_size 127;"),
            "x.conf:1: value 127 for \"chunk_size\" is out of range (128..=65536)"
        );
        assert_eq!(
            error("vhost a {\n  chunk_size 65537;\n}"),
            "x.conf:2: value 65537 for \"chunk_size\" is out of range (128..=65536)"
        );
        let c = parse("chunk_size 4096;\nvhost a { chunk_size 128; }\nvhost b {}");
        assert_eq!(
            (c.vhosts[0].chunk_size, c.vhosts[1].chunk_size),
            (128, 4096)
        );
    }

    #[test]
    fn vhost_settings_new_layout() {
        let c = parse(
            "vhost a.com {\n enabled off;\n min_latency on;\n tcp_nodelay on;\n\
             play { gop_cache off; queue_length 0.5; mw_latency 100; }\n\
             publish { firstpkt_timeout 30000; normal_timeout 7000; }\n\
             refer { enabled on; all a.com b.com; publish p.com; play q.com; }\n}",
        );
        let v = &c.vhosts[0];
        assert_eq!(v.name, "a.com");
        assert!(!v.enabled && v.min_latency && v.tcp_nodelay);
        assert_eq!(
            v.play,
            Play {
                gop_cache: false,
                queue_length: Duration::from_millis(500),
                mw_latency: Duration::from_millis(100)
            }
        );
        assert_eq!(
            v.publish,
            Publish {
                firstpkt_timeout: Duration::from_secs(30),
                normal_timeout: Duration::from_secs(7)
            }
        );
        assert_eq!(
            v.refer,
            Refer {
                enabled: true,
                all: vec!["a.com".into(), "b.com".into()],
                publish: vec!["p.com".into()],
                play: vec!["q.com".into()],
            }
        );
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn vhost_settings_old_layout() {
        let c = parse(
            "vhost a.com {\n gop_cache off;\n queue_length 10;\n mw_latency 0;\n\
             publish_1stpkt_timeout 1000;\n publish_normal_timeout 2000;\n\
             refer a.com;\n refer_publish p.com;\n refer_play q.com r.com;\n}",
        );
        let v = &c.vhosts[0];
        assert!(!v.play.gop_cache);
        assert_eq!(v.play.queue_length, Duration::from_secs(10));
        assert_eq!(v.play.mw_latency, Duration::ZERO);
        assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(1));
        assert_eq!(v.publish.normal_timeout, Duration::from_secs(2));
        assert!(v.refer.enabled);
        assert_eq!(v.refer.all, ["a.com"]);
        assert_eq!(v.refer.publish, ["p.com"]);
        assert_eq!(v.refer.play, ["q.com", "r.com"]);
        // A block refer that does not say `enabled` is off, as in SRS.
        assert!(
            !parse("vhost a { refer { all a.com; } }").vhosts[0]
                .refer
                .enabled
        );
    }

    #[test]
    fn vhost_errors() {
        assert_eq!(
            error("vhost a {\n gop_cache on;\n play {\n  gop_cache off;\n }\n}"),
            "x.conf:4: duplicate directive \"gop_cache\" (first set at x.conf:2)"
        );
        assert_eq!(
            error("vhost a {}\nvhost b {}\nvhost a {}"),
            "x.conf:3: duplicate vhost \"a\" (first defined at x.conf:1)"
        );
        assert_eq!(
            error("vhost a;"),
            "x.conf:1: directive \"vhost\" must be a block { ... }"
        );
        assert_eq!(
            error("vhost {}"),
            "x.conf:1: directive \"vhost\" takes 1 argument(s), got 0"
        );
        assert_eq!(
            error("vhost a b {}"),
            "x.conf:1: directive \"vhost\" takes 1 argument(s), got 2"
        );
        assert_eq!(error("vhost \"\" {}"), "x.conf:1: vhost name is empty");
        assert_eq!(
            error("vhost a {\n play {\n  queue_length -1;\n }\n}"),
            "x.conf:3: invalid value \"-1\" for \"queue_length\": expected a number of seconds between 0 and 86400"
        );
        assert_eq!(
            error("vhost a { queue_length inf; }"),
            "x.conf:1: invalid value \"inf\" for \"queue_length\": expected a number of seconds between 0 and 86400"
        );
        assert_eq!(
            error("vhost a {\n publish { normal_timeout 0; }\n}"),
            "x.conf:2: value 0 for \"normal_timeout\" is out of range (1..=86400000)"
        );
        assert_eq!(
            error("vhost a { play; }"),
            "x.conf:1: directive \"play\" must be a block { ... }"
        );
        assert_eq!(
            error("vhost a { refer { } refer_play; }"),
            "x.conf:1: directive \"refer_play\" needs a value"
        );
        assert_eq!(
            error("vhost a {\n enabled maybe;\n}"),
            "x.conf:2: invalid value \"maybe\" for \"enabled\": expected on or off"
        );
    }

    #[test]
    fn unknown_directives_are_errors() {
        assert_eq!(
            error("lisen 1935;"),
            "x.conf:1: unknown directive \"lisen\""
        );
        assert_eq!(
            error("vhost a {\n  gop_cach on;\n}"),
            "x.conf:2: unknown directive \"gop_cach\" in vhost"
        );
        assert_eq!(
            error("vhost a { play { mr on; } }"),
            "x.conf:1: unknown directive \"mr\" in vhost.play"
        );
        assert_eq!(
            error("vhost a { publish { gop_cache on; } }"),
            "x.conf:1: unknown directive \"gop_cache\" in vhost.publish"
        );
        assert_eq!(
            error("vhost a { refer { deny x; } }"),
            "x.conf:1: unknown directive \"deny\" in vhost.refer"
        );
        // `include` must have been resolved before; Config::parse does it.
        assert!(error("include /nonexistent/srs-conf-test.conf;").contains("include file"));
    }

    #[test]
    fn known_but_unsupported_directives_are_warnings() {
        let c = parse(
            "listen 1935;\nhttp_api {\n  enabled on;\n  anything goes here;\n}\nvhost a {\n  hls { whatever; }\n  \
             play { time_jitter full; }\n  publish { mr on; }\n  mode remote;\n}\nff_log_dir ./objs;\n",
        );
        let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "x.conf:2: directive \"http_api\" is not supported yet, ignored",
                "x.conf:7: directive \"hls\" is not supported yet, ignored",
                "x.conf:8: directive \"time_jitter\" is not supported yet, ignored",
                "x.conf:9: directive \"mr\" is not supported yet, ignored",
                "x.conf:10: directive \"mode\" is not supported yet, ignored",
                "x.conf:12: directive \"ff_log_dir\" is not supported yet, ignored",
            ]
        );
    }

    #[test]
    fn vhost_lookup() {
        let c = parse(
            "vhost __defaultVhost__ { play { gop_cache off; } }\nvhost a.com {}\nvhost off.com { enabled off; }",
        );
        assert_eq!(c.vhost("a.com").map(|v| v.name.as_str()), Some("a.com"));
        assert_eq!(
            c.vhost("other.com").map(|v| v.name.as_str()),
            Some(DEFAULT_VHOST)
        );
        assert_eq!(
            c.vhost("off.com").map(|v| v.name.as_str()),
            Some(DEFAULT_VHOST)
        );
        assert_eq!(c.vhost_named("off.com").map(|v| v.enabled), Some(false));
        // Names are compared exactly.
        assert_eq!(
            c.vhost("A.COM").map(|v| v.name.as_str()),
            Some(DEFAULT_VHOST)
        );

        let c = parse("vhost a.com {}");
        assert!(c.vhost("b.com").is_none());
        assert!(c.vhost("a.com").is_some());
        assert!(parse("").vhost("a.com").is_none());
    }

    #[test]
    fn equality_ignores_comments_lines_and_warnings() {
        let a = parse("listen 1935;\nvhost a { gop_cache off; }");
        let b = parse("# a comment\n\nlisten   1935 ;\nvhost a {\n  play { gop_cache off; }\n}\nhttp_api { enabled on; }");
        assert_eq!(a, b);
        assert_ne!(a.warnings, b.warnings);
        let c = parse("listen 1935;\nvhost a { gop_cache on; }");
        assert_ne!(a, c);
        assert_ne!(a.vhosts[0], c.vhosts[0]);
    }

    #[test]
    fn builtin_config() {
        let c = Config::builtin().unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
        assert!(!c.daemon);
        assert_eq!(c.log_tank, LogTank::Console);
        let v = c.vhost("any").unwrap();
        assert_eq!(v.name, DEFAULT_VHOST);
        assert!(v.play.gop_cache);
        // The built-in config spells out every default.
        let mut defaults = Config::default();
        defaults
            .vhosts
            .push(Vhost::new(DEFAULT_VHOST, DEFAULT_CHUNK_SIZE));
        assert_eq!(c, defaults);
        // And it is the file conf/srs.conf (tests run in the crate's folder).
        assert_eq!(Config::load("srs.conf").unwrap(), c);
        assert_eq!(std::fs::read_to_string("srs.conf").unwrap(), BUILTIN_CONF);
    }
}
