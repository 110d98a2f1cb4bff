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
//! `publish_1stpkt_timeout` directly in the vhost; `listen` at top level; SRS 1's
//! `http_stream { }` for `http_server { }`). Writing the same setting both ways is a duplicate.
//!
//! The HTTP side follows SRS 7's `trunk/src/app/srs_app_config.cpp` (`get_http_api_*`,
//! `get_http_stream_*`, `get_hls_*`, `get_vhost_http_remux_*`) and its documented
//! `full.conf`: the defaults below are the `DEFAULT` values of those getters.

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
/// Default `http_api { listen }` port (SRS `get_http_api_listens`: `"1985"`).
pub const DEFAULT_HTTP_API_PORT: u16 = 1985;
/// Default `http_server { listen }` port (SRS `get_http_stream_listens`: `"8080"`).
pub const DEFAULT_HTTP_SERVER_PORT: u16 = 8080;
/// Default `http_server { dir }` and `hls { hls_path }` (SRS `get_http_stream_dir` and
/// `get_hls_path`: `"./objs/nginx/html"`).
pub const DEFAULT_HTTP_DIR: &str = "./objs/nginx/html";
/// Default `hls { hls_fragment }` (SRS `get_hls_fragment`: 10 s).
pub const DEFAULT_HLS_FRAGMENT: Duration = Duration::from_secs(10);
/// Default `hls { hls_window }` (SRS `get_hls_window`: 60 s).
pub const DEFAULT_HLS_WINDOW: Duration = Duration::from_secs(60);
/// Default `hls { hls_dispose }` (SRS 7 `get_hls_dispose`: 120 s; older SRS defaulted to 0,
/// never).
pub const DEFAULT_HLS_DISPOSE: Duration = Duration::from_secs(120);
/// Default `hls { hls_m3u8_file }` (SRS `get_hls_m3u8_file`).
pub const DEFAULT_HLS_M3U8_FILE: &str = "[app]/[stream].m3u8";
/// Default `hls { hls_ts_file }` (SRS `get_hls_ts_file`).
pub const DEFAULT_HLS_TS_FILE: &str = "[app]/[stream]-[seq].ts";
/// Default `http_remux { mount }` (SRS `get_vhost_http_remux_mount`).
pub const DEFAULT_HTTP_REMUX_MOUNT: &str = "[vhost]/[app]/[stream].flv";

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

/// Default `ring_size`: a stream's ring grows up to 64 MiB of data (a 10 s GOP of a
/// 25 Mbps stream, twice over).
pub const DEFAULT_RING_SIZE: u64 = 64 << 20;

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
    /// The most data a stream's shared-memory ring may grow to, in bytes (`ring_size` in
    /// MiB, ours, 1..=4096). A ring starts at 256 KiB and grows to about twice the stream's
    /// GOP; this caps it (a GOP larger than that still plays, new players then start at the
    /// next keyframe). Default 64 MiB. A reload applies to rings as they grow.
    pub ring_size: u64,
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
    /// The HTTP API (`http_api { }`). Off unless the block says `enabled on`.
    pub http_api: HttpApi,
    /// The HTTP server for files, HLS and HTTP-FLV (`http_server { }`, SRS 1's
    /// `http_stream { }`). Off unless the block says `enabled on`.
    pub http_server: HttpServer,
    /// Where ffmpeg children (transcode, ingest) and exec'd commands write their logs
    /// (`ff_log_dir`); `/dev/null` for none. Default `./objs`, as SRS.
    pub ff_log_dir: PathBuf,
    /// ffmpeg's `-loglevel` for the children (`ff_log_level`). Default `info`, as SRS.
    pub ff_log_level: String,
    /// How often the periodic stats lines are logged (`pithy_print_ms`). Default 10 s, as
    /// SRS.
    pub pithy_print: Duration,
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
            ring_size,
            run_dir,
            grace_final_wait,
            grace_start_wait,
            force_grace_quit,
            http_api,
            http_server,
            ff_log_dir,
            ff_log_level,
            pithy_print,
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
            && *ring_size == other.ring_size
            && *run_dir == other.run_dir
            && *grace_final_wait == other.grace_final_wait
            && *grace_start_wait == other.grace_start_wait
            && *force_grace_quit == other.force_grace_quit
            && *http_api == other.http_api
            && *http_server == other.http_server
            && *ff_log_dir == other.ff_log_dir
            && *ff_log_level == other.ff_log_level
            && *pithy_print == other.pithy_print
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
            ring_size: DEFAULT_RING_SIZE,
            run_dir: PathBuf::from("./objs/run"),
            grace_final_wait: Duration::from_millis(3200),
            grace_start_wait: Duration::from_millis(2300),
            force_grace_quit: false,
            http_api: HttpApi::default(),
            http_server: HttpServer::default(),
            ff_log_dir: PathBuf::from("./objs"),
            ff_log_level: "info".into(),
            pithy_print: Duration::from_secs(10),
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
    /// HLS output (`hls { }`). Off by default.
    pub hls: Hls,
    /// HTTP-FLV / HTTP-TS live streams (`http_remux { }`). Off by default.
    pub http_remux: HttpRemux,
    /// Origin or edge (`cluster { }`, SRS 1's vhost-level `mode`, `origin`,
    /// `token_traverse`). An origin by default.
    pub cluster: Cluster,
    /// Relay every published stream to other servers (`forward { }`, SRS 1's
    /// `forward HOST:PORT ...;`). Off by default.
    pub forward: Forward,
    /// IP allow/deny lists for publishers and players (`security { }`). Off by default.
    pub security: Security,
    /// HTTP callbacks that decide about and learn of clients (`http_hooks { }`).
    pub http_hooks: HttpHooks,
    /// ffmpeg transcoders of the published streams (`transcode [scope] { }`), in order.
    pub transcodes: Vec<Transcode>,
    /// Supervised ffmpeg pulling a source into a live stream (`ingest NAME { }`).
    pub ingests: Vec<Ingest>,
    /// Commands run while a stream is published (`exec { publish ...; }`).
    pub exec: Exec,
    /// Recording of the published streams to files (`dvr { }`).
    pub dvr: Dvr,
    /// SRS's bandwidth check on this vhost (`bandcheck { }`).
    pub bandcheck: Bandcheck,
}

/// SRS's `bandcheck { enabled; key; interval; limit_kbps; }`: a client that connects with
/// `key=KEY` in its tcUrl gets the bandwidth check instead of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandcheck {
    /// Whether the vhost checks bandwidth (`enabled`). Default off.
    pub enabled: bool,
    /// What the tcUrl must carry as `key=...` (`key`). Default SRS's
    /// `35c9b402c12a7246868752e2878f7e0e`.
    pub key: String,
    /// Least time between two checks of one client (`interval`, seconds). Default 30 s.
    pub interval: Duration,
    /// The rate the server plays and reads at most (`limit_kbps`). Default 1000.
    pub limit_kbps: u32,
}

impl Default for Bandcheck {
    fn default() -> Self {
        Bandcheck {
            enabled: false,
            key: "35c9b402c12a7246868752e2878f7e0e".into(),
            interval: Duration::from_secs(30),
            limit_kbps: 1000,
        }
    }
}

/// SRS's `dvr { enabled; dvr_apply; dvr_plan; dvr_path; dvr_duration; dvr_wait_keyframe; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dvr {
    /// Whether streams are recorded. Default off.
    pub enabled: bool,
    /// Which streams (`dvr_apply`): `all` (empty list), else `app/stream` or
    /// `vhost/app/stream` entries.
    pub apply: Vec<String>,
    /// `segment` (a file per `dvr_duration`, cut at a keyframe) instead of `session` (a file
    /// per publish). Default session.
    pub segment: bool,
    /// The file name template (`dvr_path`), with `[vhost] [app] [stream] [2006] [01] [02]
    /// [15] [04] [05] [999] [timestamp]`. Default `./objs/nginx/html/[app]/[stream].[timestamp].flv`.
    pub path: String,
    /// Segment length (`dvr_duration`, seconds). Default 30 s.
    pub duration: Duration,
    /// Start a file at a keyframe (`dvr_wait_keyframe`). Default on.
    pub wait_keyframe: bool,
}

impl Default for Dvr {
    fn default() -> Self {
        Dvr {
            enabled: false,
            apply: Vec::new(),
            segment: false,
            path: "./objs/nginx/html/[app]/[stream].[timestamp].flv".into(),
            duration: Duration::from_secs(30),
            wait_keyframe: true,
        }
    }
}

impl Dvr {
    /// Whether a publish of `vhost`/`app`/`stream` is recorded.
    pub fn applies(&self, vhost: &str, app: &str, stream: &str) -> bool {
        self.enabled
            && (self.apply.is_empty()
                || self.apply.iter().any(|a| {
                    a == "all"
                        || *a == format!("{app}/{stream}")
                        || *a == format!("{vhost}/{app}/{stream}")
                }))
    }
}

/// One ffmpeg engine of a `transcode` or `ingest`: how SRS builds its command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FfEngine {
    /// The engine's name (`engine NAME { }`; empty in an ingest).
    pub name: String,
    /// Whether it runs. Default off, as SRS.
    pub enabled: bool,
    /// `-f` of the input (`iformat`). Default `flv`.
    pub iformat: String,
    /// Input options before the filters (`vfilter { name value; }`), in order.
    pub vfilter: Vec<(String, String)>,
    /// `vcodec`: a codec, `copy`, or `vn`.
    pub vcodec: String,
    /// kbps (`vbitrate`, 0: ffmpeg's default).
    pub vbitrate: u32,
    /// Frame rate as written (`vfps`; empty or 0: keep).
    pub vfps: String,
    /// Width and height (`vwidth`, `vheight`; 0: keep).
    pub vwidth: u32,
    /// Height.
    pub vheight: u32,
    /// Encoder threads (`vthreads`, 0: ffmpeg's default).
    pub vthreads: u32,
    /// `vprofile`.
    pub vprofile: String,
    /// `vpreset`.
    pub vpreset: String,
    /// More video options (`vparams { name value; }`), in order.
    pub vparams: Vec<(String, String)>,
    /// `acodec`: a codec, `copy`, or `an`.
    pub acodec: String,
    /// kbps (`abitrate`).
    pub abitrate: u32,
    /// Hz (`asample_rate`).
    pub asample_rate: u32,
    /// `achannels`.
    pub achannels: u32,
    /// More audio options (`aparams { name value; }`), in order.
    pub aparams: Vec<(String, String)>,
    /// `-f` of the output (`oformat`). Default `flv`.
    pub oformat: String,
    /// The output URL template (`output`), with `[vhost] [port] [app] [stream] [engine]`.
    pub output: String,
}

/// `transcode [app|app/stream] { enabled; ffmpeg; engine NAME { ... } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcode {
    /// Which streams: all of the vhost (empty), an app, or `app/stream`.
    pub scope: String,
    /// Whether it runs. Default off.
    pub enabled: bool,
    /// The ffmpeg binary (`ffmpeg`).
    pub ffmpeg: PathBuf,
    /// Its engines, in order.
    pub engines: Vec<FfEngine>,
}

impl Transcode {
    /// Whether the block applies to `app`/`stream`.
    pub fn applies(&self, app: &str, stream: &str) -> bool {
        self.scope.is_empty() || self.scope == app || self.scope == format!("{app}/{stream}")
    }
}

/// `ingest NAME { enabled; input { type; url; } ffmpeg; engine { ... } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingest {
    /// The ingester's name.
    pub name: String,
    /// Whether it runs. Default off.
    pub enabled: bool,
    /// `file`, `stream` or `device`.
    pub input_type: String,
    /// The input URL or path.
    pub input_url: String,
    /// The ffmpeg binary.
    pub ffmpeg: PathBuf,
    /// Its engines (one ffmpeg each); a disabled engine copies the codecs.
    pub engines: Vec<FfEngine>,
}

/// `exec { enabled on; publish /path/cmd [vhost] [app] [stream] ...; }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exec {
    /// Whether it runs. Default off.
    pub enabled: bool,
    /// One command line per `publish`, split as written.
    pub publish: Vec<Vec<String>>,
}

/// Default time a hook server has to answer: SRS 6's (30 s, for the connect and each read).
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound on hook requests in flight for one vhost in one process.
pub const DEFAULT_HOOK_MAX_IN_FLIGHT: u32 = 64;

/// SRS's `http_hooks { enabled on; on_publish URL ...; ... }`: each event has its URLs,
/// called in order. `timeout` and `max_in_flight` are ours (SRS's are fixed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHooks {
    /// Whether hooks are called. Default off.
    pub enabled: bool,
    /// `on_connect` URLs (may deny).
    pub on_connect: Vec<String>,
    /// `on_close` URLs.
    pub on_close: Vec<String>,
    /// `on_publish` URLs (may deny).
    pub on_publish: Vec<String>,
    /// `on_unpublish` URLs.
    pub on_unpublish: Vec<String>,
    /// `on_play` URLs (may deny).
    pub on_play: Vec<String>,
    /// `on_stop` URLs.
    pub on_stop: Vec<String>,
    /// `on_dvr` URLs.
    pub on_dvr: Vec<String>,
    /// `on_hls` URLs.
    pub on_hls: Vec<String>,
    /// `on_hls_notify` URL templates (GET).
    pub on_hls_notify: Vec<String>,
    /// How long a hook server has to answer (`timeout`, seconds). Default 30 s, as SRS.
    pub timeout: Duration,
    /// Most hook requests in flight for this vhost in one process (`max_in_flight`); more
    /// wait for their turn within their timeout. Default 64.
    pub max_in_flight: u32,
}

impl Default for HttpHooks {
    fn default() -> Self {
        HttpHooks {
            enabled: false,
            on_connect: Vec::new(),
            on_close: Vec::new(),
            on_publish: Vec::new(),
            on_unpublish: Vec::new(),
            on_play: Vec::new(),
            on_stop: Vec::new(),
            on_dvr: Vec::new(),
            on_hls: Vec::new(),
            on_hls_notify: Vec::new(),
            timeout: DEFAULT_HOOK_TIMEOUT,
            max_in_flight: DEFAULT_HOOK_MAX_IN_FLIGHT,
        }
    }
}

impl HttpHooks {
    /// The URLs of `event` when hooks are on (empty otherwise).
    pub fn urls(&self, event: &str) -> &[String] {
        if !self.enabled {
            return &[];
        }
        match event {
            "on_connect" => &self.on_connect,
            "on_close" => &self.on_close,
            "on_publish" => &self.on_publish,
            "on_unpublish" => &self.on_unpublish,
            "on_play" => &self.on_play,
            "on_stop" => &self.on_stop,
            "on_dvr" => &self.on_dvr,
            "on_hls" => &self.on_hls,
            "on_hls_notify" => &self.on_hls_notify,
            _ => &[],
        }
    }
}

/// SRS's `security { enabled on; deny publish all; allow play 10.0.0.0/8; ... }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// Whether the rules apply. Default off (everyone may publish and play).
    pub enabled: bool,
    /// The rules, in the order written.
    pub rules: Vec<SecurityRule>,
}

/// One `allow` or `deny` rule. Two rules are equal when they say the same, wherever
/// they were written.
#[derive(Debug, Clone, Eq)]
pub struct SecurityRule {
    /// `allow` (else `deny`).
    pub allow: bool,
    /// For publishers (else players).
    pub publish: bool,
    /// `all`, an address or a network (`10.0.0.0/8`, `2001:db8::/32`), as written.
    pub target: String,
    /// Where the rule was written (`file:line`), for the log line of a refusal.
    pub at: String,
}

impl PartialEq for SecurityRule {
    fn eq(&self, o: &Self) -> bool {
        (self.allow, self.publish, &self.target) == (o.allow, o.publish, &o.target)
    }
}

impl SecurityRule {
    /// Whether the rule names `ip`.
    pub fn matches(&self, ip: std::net::IpAddr) -> bool {
        if self.target == "all" {
            return true;
        }
        let ip = canonical(ip);
        match self.target.split_once('/') {
            None => self
                .target
                .parse::<std::net::IpAddr>()
                .is_ok_and(|t| canonical(t) == ip),
            Some((net, bits)) => {
                let (Ok(net), Ok(bits)) = (net.parse::<std::net::IpAddr>(), bits.parse::<u32>())
                else {
                    return false;
                };
                match (canonical(net), ip) {
                    (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) if bits <= 32 => {
                        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                        u32::from(n) & mask == u32::from(a) & mask
                    }
                    (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) if bits <= 128 => {
                        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                        u128::from(n) & mask == u128::from(a) & mask
                    }
                    _ => false,
                }
            }
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:a.b.c.d`, how a dual-stack socket reports an
/// IPv4 peer) compares as the IPv4 address.
fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

impl Security {
    /// Whether a client at `ip` may publish (`publish`) or play, as SRS 6 decides
    /// (`SrsSecurity::do_check`): with the rules on, a matching `deny` refuses first; then
    /// a matching `allow` admits; with no match, the client is refused when any `allow`
    /// rule exists (or no rule at all), admitted when there are only `deny` rules. The
    /// error names the rule that refused, or says that none allowed.
    pub fn check(&self, publish: bool, ip: std::net::IpAddr) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let what = if publish { "publish" } else { "play" };
        if self.rules.is_empty() {
            return Err(format!(
                "security: no rules, {what} denied by default for {ip}"
            ));
        }
        if let Some(r) = self
            .rules
            .iter()
            .find(|r| !r.allow && r.publish == publish && r.matches(ip))
        {
            return Err(format!(
                "security: {what} denied for {ip} by rule \"deny {what} {}\" at {}",
                r.target, r.at
            ));
        }
        if self
            .rules
            .iter()
            .any(|r| r.allow && r.publish == publish && r.matches(ip))
        {
            return Ok(());
        }
        let allows = self.rules.iter().filter(|r| r.allow).count();
        let denies = self.rules.len() - allows;
        if allows > 0 {
            return Err(format!(
                "security: {what} not allowed for {ip} by any of {allows} allow rule(s) ({denies} deny)"
            ));
        }
        Ok(())
    }
}

/// Default port of an upstream or forward destination written without one.
pub const DEFAULT_UPSTREAM_PORT: u16 = 1935;

/// A vhost's place in a cluster: an origin (it has the streams), or an edge (`mode remote`)
/// that pulls a stream from its origins when a player asks for it and pushes what an encoder
/// publishes to them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    /// `mode remote`: an edge. Default `local`, an origin.
    pub edge: bool,
    /// Upstream servers as `host:port` (1935 when written without a port), tried in order.
    pub origins: Vec<String>,
    /// `token_traverse`: a client's `connect` is checked by the origin (its tcUrl and
    /// params passed through) before the edge accepts it. Default off.
    pub token_traverse: bool,
}

/// Forwarding: every stream published on the vhost is relayed to each destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forward {
    /// Whether it is on. Default off.
    pub enabled: bool,
    /// Destinations as `host:port` (1935 when written without a port).
    pub destinations: Vec<String>,
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
            hls: Hls::default(),
            http_remux: HttpRemux::default(),
            cluster: Cluster::default(),
            forward: Forward::default(),
            security: Security::default(),
            http_hooks: HttpHooks::default(),
            transcodes: Vec::new(),
            ingests: Vec::new(),
            exec: Exec::default(),
            dvr: Dvr::default(),
            bandcheck: Bandcheck::default(),
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
    /// How the stream's timestamps are corrected (`time_jitter`). Default `full`.
    pub time_jitter: TimeJitter,
    /// Put audio and video in timestamp order before anything else (`mix_correct`).
    /// Default off.
    pub mix_correct: bool,
    /// Absolute time: the encoder's timestamps as they are, for players and HLS, so that
    /// two origins fed the same stream agree (`atc`). Default off.
    pub atc: bool,
    /// Turn `atc` on for a stream whose metadata says `bravo_atc: "true"` (`atc_auto`).
    /// Default off.
    pub atc_auto: bool,
}

/// SRS's `time_jitter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeJitter {
    /// Continuous timestamps: jumps and republishes become one frame's step.
    #[default]
    Full,
    /// SRS starts each player at zero; our players share the stream's timeline, which
    /// starts at each publish's zero.
    Zero,
    /// The encoder's timestamps as they are.
    Off,
}

impl Default for Play {
    fn default() -> Self {
        Play {
            gop_cache: true,
            queue_length: DEFAULT_QUEUE_LENGTH,
            mw_latency: DEFAULT_MW_LATENCY,
            time_jitter: TimeJitter::Full,
            mix_correct: false,
            atc: false,
            atc_auto: false,
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

/// The HTTP API, SRS's top-level `http_api { }`.
///
/// Its other children (`raw_api`, `auth`, `https`) are accepted with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    /// Whether to serve the API (`enabled`). Default off, also when the block is absent
    /// (SRS `get_http_api_enabled`); SRS's own `srs.conf` and ours turn it on.
    pub enabled: bool,
    /// Where to listen (`listen`): a port, `ip:port` or `[ipv6]:port`; a bare port means
    /// `0.0.0.0:port`. Default `0.0.0.0:1985`. When it equals [`HttpServer::listen`], SRS
    /// serves the API on the HTTP server's port instead of opening a second one.
    pub listen: SocketAddr,
    /// Answer CORS requests (`crossdomain`). Default on (SRS `get_http_api_crossdomain`).
    pub crossdomain: bool,
    /// `/api/v1/raw` (`raw_api { }`): off by default, as SRS.
    pub raw_api: RawApi,
    /// Basic authentication of every API path (`auth { }`, SRS 5+). Off by default.
    pub auth: ApiAuth,
}

/// SRS's `http_api { raw_api { enabled; allow_reload; allow_query; allow_update; } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawApi {
    /// Whether `/api/v1/raw` answers at all. Default off.
    pub enabled: bool,
    /// Whether `rpc=reload` may reload the config. Default off.
    pub allow_reload: bool,
    /// `rpc=query` (SRS 4): read as SRS does; nothing here answers it. Default off.
    pub allow_query: bool,
    /// `rpc=update` (SRS 4): read as SRS does; nothing here answers it. Default off.
    pub allow_update: bool,
}

/// SRS 5's `http_api { auth { enabled on; username admin; password admin; } }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiAuth {
    /// Whether the API asks for credentials. Default off.
    pub enabled: bool,
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Default for HttpApi {
    fn default() -> Self {
        HttpApi {
            enabled: false,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_HTTP_API_PORT)),
            crossdomain: true,
            raw_api: RawApi::default(),
            auth: ApiAuth::default(),
        }
    }
}

/// The HTTP server for static files, HLS and HTTP-FLV, SRS's top-level `http_server { }`
/// (SRS 1: `http_stream { }`, which SRS 2+ renames to `http_server`).
///
/// Its `https` child is accepted with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpServer {
    /// Whether to serve HTTP (`enabled`). Default off, also when the block is absent (SRS
    /// `get_http_stream_enabled`); SRS's own `srs.conf` and ours turn it on.
    pub enabled: bool,
    /// Where to listen (`listen`), as [`HttpApi::listen`]. Default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// The document root (`dir`). Default `./objs/nginx/html` (SRS `get_http_stream_dir`),
    /// where HLS writes by default too.
    pub dir: PathBuf,
    /// Answer CORS requests (`crossdomain`), for files and live streams of every vhost.
    /// Default on (SRS `get_http_stream_crossdomain`).
    pub crossdomain: bool,
}

impl Default for HttpServer {
    fn default() -> Self {
        HttpServer {
            enabled: false,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_HTTP_SERVER_PORT)),
            dir: PathBuf::from(DEFAULT_HTTP_DIR),
            crossdomain: true,
        }
    }
}

/// What HLS does when writing a segment or playlist fails (`hls_on_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsOnError {
    /// `ignore`: turn HLS off for that stream and go on.
    Ignore,
    /// `disconnect`: drop the publisher, who has to publish again.
    Disconnect,
    /// `continue`: ignore the error and keep writing HLS. The default since SRS 3 (SRS
    /// `get_hls_on_error`; SRS 2 defaulted to `ignore`).
    Continue,
}

/// The audio codec HLS assumes before the stream says (`hls_acodec`); it goes into the
/// first PAT/PMT, so the right guess avoids a table change at the first audio frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsAcodec {
    /// `aac`, the default.
    Aac,
    /// `mp3`
    Mp3,
    /// `an`: no audio (video-only streams).
    An,
}

/// The video codec HLS assumes before the stream says (`hls_vcodec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HlsVcodec {
    /// `h264`, the default.
    H264,
    /// `vn`: no video (audio-only streams start in audio-only mode at once).
    Vn,
}

/// A positive, finite multiplier, such as `hls_td_ratio`. Comparable with `==` because the
/// parser never lets NaN through.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Ratio(f64);

// Sound: a Ratio is finite (checked by `Ratio::new`), so `==` is reflexive.
impl Eq for Ratio {}

impl Ratio {
    /// `value` if it is finite and above 0.
    pub fn new(value: f64) -> Option<Ratio> {
        (value.is_finite() && value > 0.0).then_some(Ratio(value))
    }

    /// The multiplier.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// HLS output of a vhost, SRS's `vhost { hls { } }`. Field names are SRS's directive names.
///
/// The paths are templates: `[vhost]`, `[app]`, `[stream]`, `[seq]` (segment number),
/// `[timestamp]` and the date parts `[2006]`, `[01]`, `[02]`, `[15]`, `[04]`, `[05]`,
/// `[999]`, as in SRS. The other children SRS knows (`hls_keys` and the key settings,
/// `hls_nb_notify`, `hls_dts_directly`, `hls_ctx`, `hls_ts_ctx`, `hls_use_fmp4`,
/// `hls_fmp4_file`, `hls_init_file`, `hls_recover`, `hls_master_m3u8_path_relative`, and
/// `hls_storage`/`hls_mount`, which SRS 3 removed) are accepted with a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hls {
    /// Whether to write HLS (`enabled`). Default off.
    pub enabled: bool,
    /// The shortest segment (`hls_fragment`, seconds, fractions allowed, above 0); a segment
    /// ends at the first keyframe after it (see `hls_wait_keyframe`). Default 10 s.
    pub hls_fragment: Duration,
    /// `EXT-X-TARGETDURATION` is `hls_td_ratio × hls_fragment` (`hls_td_ratio`, at least 1,
    /// so that a segment of `hls_fragment` fits its target duration). Default 1.0 (SRS 7
    /// `get_hls_td_ratio` and `full.conf`; SRS 2 used 1.5).
    pub hls_td_ratio: Ratio,
    /// An audio-only segment ends after `hls_aof_ratio × hls_fragment` (`hls_aof_ratio`,
    /// above 0). Default 2.1 (SRS 7 `get_hls_aof_ratio` and `full.conf`; SRS 2 used 2.0).
    pub hls_aof_ratio: Ratio,
    /// How much media the playlist holds, as the sum of its segment durations
    /// (`hls_window`, seconds, fractions allowed, at least `hls_fragment`). Default 60 s.
    pub hls_window: Duration,
    /// What to do when writing fails (`hls_on_error`). Default `continue`.
    pub hls_on_error: HlsOnError,
    /// The directory the playlist and segment paths are relative to (`hls_path`).
    /// Default `./objs/nginx/html`, the HTTP server's default `dir`.
    pub hls_path: PathBuf,
    /// The playlist path under `hls_path` (`hls_m3u8_file`). Default `[app]/[stream].m3u8`.
    pub hls_m3u8_file: String,
    /// The segment path under `hls_path` (`hls_ts_file`). Default `[app]/[stream]-[seq].ts`.
    pub hls_ts_file: String,
    /// Compute `[timestamp]` as `floor(timestamp / hls_fragment)` (`hls_ts_floor`).
    /// Default off.
    pub hls_ts_floor: bool,
    /// A base URL written before each segment name in the playlist (`hls_entry_prefix`).
    /// Default none (SRS: empty string); an empty value is none.
    pub hls_entry_prefix: Option<String>,
    /// The audio codec assumed at the start (`hls_acodec`). Default `aac`.
    pub hls_acodec: HlsAcodec,
    /// The video codec assumed at the start (`hls_vcodec`). Default `h264`.
    pub hls_vcodec: HlsVcodec,
    /// Delete segments that have left the window (`hls_cleanup`). Default on.
    pub hls_cleanup: bool,
    /// After a publisher has been gone this long, delete the stream's playlist and segments
    /// (`hls_dispose`, whole seconds; `0` is `None`, never). Default 120 s (SRS 7).
    pub hls_dispose: Option<Duration>,
    /// End a segment only at a keyframe (`hls_wait_keyframe`). Default on.
    pub hls_wait_keyframe: bool,
}

impl Default for Hls {
    fn default() -> Self {
        Hls {
            enabled: false,
            hls_fragment: DEFAULT_HLS_FRAGMENT,
            hls_td_ratio: Ratio(1.0),
            hls_aof_ratio: Ratio(2.1),
            hls_window: DEFAULT_HLS_WINDOW,
            hls_on_error: HlsOnError::Continue,
            hls_path: PathBuf::from(DEFAULT_HTTP_DIR),
            hls_m3u8_file: DEFAULT_HLS_M3U8_FILE.to_string(),
            hls_ts_file: DEFAULT_HLS_TS_FILE.to_string(),
            hls_ts_floor: false,
            hls_entry_prefix: None,
            hls_acodec: HlsAcodec::Aac,
            hls_vcodec: HlsVcodec::H264,
            hls_cleanup: true,
            hls_dispose: Some(DEFAULT_HLS_DISPOSE),
            hls_wait_keyframe: true,
        }
    }
}

/// Live streams over HTTP for a vhost, SRS's `vhost { http_remux { } }`: each published
/// stream is mounted on the HTTP server at `mount`. Defaults are SRS's
/// `get_vhost_http_remux_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRemux {
    /// Whether to serve the vhost's streams over HTTP (`enabled`). Default off.
    pub enabled: bool,
    /// The URL path template (`mount`): `[vhost]` (optional, to serve only requests for
    /// that host), `[app]` and `[stream]`, ending in `.flv` (HTTP-FLV) or `.ts` (HTTP-TS).
    /// SRS's `.mp3` and `.aac` audio-only mounts are refused (not implemented). Default
    /// `[vhost]/[app]/[stream].flv`.
    pub mount: String,
    /// Audio gathered before the first write to an mp3/aac player (`fast_cache`, seconds,
    /// fractions allowed). SRS ignores it for FLV and TS, the only mounts here, so a
    /// value above 0 is kept but warned about. Default 0.
    pub fast_cache: Duration,
    /// Drop audio or video packets that the FLV header said the stream would not have
    /// (`drop_if_not_match`). Default on.
    pub drop_if_not_match: bool,
    /// Whether the stream has audio, when not guessed (`has_audio`). Default on.
    pub has_audio: bool,
    /// Whether the stream has video, when not guessed (`has_video`). Default on.
    pub has_video: bool,
    /// Guess the FLV header's audio/video flags from the sequence headers and the GOP
    /// cache instead of using `has_audio`/`has_video` (`guess_has_av`). Default on.
    pub guess_has_av: bool,
}

impl Default for HttpRemux {
    fn default() -> Self {
        HttpRemux {
            enabled: false,
            mount: DEFAULT_HTTP_REMUX_MOUNT.to_string(),
            fast_cache: Duration::ZERO,
            drop_if_not_match: true,
            has_audio: true,
            has_video: true,
            guess_has_av: true,
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

    /// Where the setting was written, if it was.
    fn at(&self) -> Option<&'a Directive> {
        self.value.as_ref().map(|(_, d)| *d)
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
    ring_size: Slot<'a, u64>,
    run_dir: Slot<'a, PathBuf>,
    grace_final_wait: Slot<'a, Duration>,
    grace_start_wait: Slot<'a, Duration>,
    force_grace_quit: Slot<'a, bool>,
    http_api: HttpApiBuilder<'a>,
    http_server: HttpServerBuilder<'a>,
    ff_log_dir: Slot<'a, PathBuf>,
    ff_log_level: Slot<'a, String>,
    pithy_print: Slot<'a, Duration>,
    vhosts: Vec<VhostBuilder<'a>>,
    warnings: Vec<Warning>,
}

#[derive(Default)]
struct HttpApiBuilder<'a> {
    enabled: Slot<'a, bool>,
    listen: Slot<'a, SocketAddr>,
    crossdomain: Slot<'a, bool>,
    raw_enabled: Slot<'a, bool>,
    raw_reload: Slot<'a, bool>,
    raw_query: Slot<'a, bool>,
    raw_update: Slot<'a, bool>,
    auth_enabled: Slot<'a, bool>,
    auth_username: Slot<'a, String>,
    auth_password: Slot<'a, String>,
}

#[derive(Default)]
struct HttpServerBuilder<'a> {
    enabled: Slot<'a, bool>,
    listen: Slot<'a, SocketAddr>,
    dir: Slot<'a, PathBuf>,
    crossdomain: Slot<'a, bool>,
}

#[derive(Default)]
struct HlsBuilder<'a> {
    enabled: Slot<'a, bool>,
    hls_fragment: Slot<'a, Duration>,
    hls_td_ratio: Slot<'a, Ratio>,
    hls_aof_ratio: Slot<'a, Ratio>,
    hls_window: Slot<'a, Duration>,
    hls_on_error: Slot<'a, HlsOnError>,
    hls_path: Slot<'a, PathBuf>,
    hls_m3u8_file: Slot<'a, String>,
    hls_ts_file: Slot<'a, String>,
    hls_ts_floor: Slot<'a, bool>,
    hls_entry_prefix: Slot<'a, Option<String>>,
    hls_acodec: Slot<'a, HlsAcodec>,
    hls_vcodec: Slot<'a, HlsVcodec>,
    hls_cleanup: Slot<'a, bool>,
    hls_dispose: Slot<'a, Option<Duration>>,
    hls_wait_keyframe: Slot<'a, bool>,
}

#[derive(Default)]
struct HttpRemuxBuilder<'a> {
    enabled: Slot<'a, bool>,
    mount: Slot<'a, String>,
    fast_cache: Slot<'a, Duration>,
    drop_if_not_match: Slot<'a, bool>,
    has_audio: Slot<'a, bool>,
    has_video: Slot<'a, bool>,
    guess_has_av: Slot<'a, bool>,
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
    time_jitter: Slot<'a, TimeJitter>,
    mix_correct: Slot<'a, bool>,
    atc: Slot<'a, bool>,
    atc_auto: Slot<'a, bool>,
    firstpkt_timeout: Slot<'a, Duration>,
    normal_timeout: Slot<'a, Duration>,
    hls: HlsBuilder<'a>,
    http_remux: HttpRemuxBuilder<'a>,
    mode_remote: Slot<'a, bool>,
    origins: Slot<'a, Vec<String>>,
    token_traverse: Slot<'a, bool>,
    forward_enabled: Slot<'a, bool>,
    forward_destinations: Slot<'a, Vec<String>>,
    /// `forward { backend URL; }` was written (asked for destinations; not supported).
    forward_backend: bool,
    security_enabled: Slot<'a, bool>,
    security_rules: Vec<SecurityRule>,
    http_hooks: HttpHooks,
    http_hooks_seen: Vec<&'a str>,
    transcodes: Vec<Transcode>,
    ingests: Vec<Ingest>,
    exec: Exec,
    dvr: Dvr,
    bandcheck: Bandcheck,
}

impl<'a> Builder<'a> {
    fn build(mut self, tree: &'a [Directive]) -> Result<Config, ConfError> {
        for d in tree {
            self.top(d)?;
        }
        let chunk_size = self.chunk_size.get_or(DEFAULT_CHUNK_SIZE);
        let defaults = Config::default();
        let mut warnings = Vec::new();
        let vhosts = std::mem::take(&mut self.vhosts)
            .into_iter()
            .map(|v| v.build(chunk_size, &mut warnings))
            .collect::<Result<Vec<_>, _>>()?;
        self.warnings.extend(warnings);
        let rtmp_at = self.listen.at();
        let listen = self.listen.get_or(defaults.listen);
        let http_api_at = http_listen_at(&self.http_api.listen, &self.http_api.enabled);
        let http_api = self.http_api.build();
        let http_server_at = http_listen_at(&self.http_server.listen, &self.http_server.enabled);
        let http_server = self.http_server.build();
        check_http_listens(
            &listen,
            rtmp_at,
            (&http_api, http_api_at),
            (&http_server, http_server_at),
        )?;
        Ok(Config {
            listen,
            max_connections: self.max_connections.get_or(defaults.max_connections),
            chunk_size,
            pid: self.pid.get_or(defaults.pid),
            log_tank: self.log_tank.get_or(defaults.log_tank),
            log_file: self.log_file.get_or(defaults.log_file),
            log_level: self.log_level.get_or(defaults.log_level),
            daemon: self.daemon.get_or(defaults.daemon),
            handshake_timeout: self.handshake_timeout.get_or(defaults.handshake_timeout),
            worker_processes: self.worker_processes.get_or(defaults.worker_processes),
            ring_size: self.ring_size.get_or(defaults.ring_size),
            run_dir: self.run_dir.get_or(defaults.run_dir),
            grace_final_wait: self.grace_final_wait.get_or(defaults.grace_final_wait),
            grace_start_wait: self.grace_start_wait.get_or(defaults.grace_start_wait),
            force_grace_quit: self.force_grace_quit.get_or(defaults.force_grace_quit),
            http_api,
            http_server,
            ff_log_dir: self.ff_log_dir.get_or(defaults.ff_log_dir),
            ff_log_level: self.ff_log_level.get_or(defaults.ff_log_level),
            pithy_print: self.pithy_print.get_or(defaults.pithy_print),
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
            "ring_size" => self.ring_size.set(d, u64::from(number(d, 1, 4096)?) << 20),
            "run_dir" => self.run_dir.set(d, path(d)?),
            "ff_log_dir" => self.ff_log_dir.set(d, path(d)?),
            "pithy_print_ms" => self.pithy_print.set(d, millis(d, 100)?),
            "ff_log_level" => {
                let level = match one_arg(d)? {
                    l @ ("quiet" | "panic" | "fatal" | "error" | "warning" | "info" | "verbose"
                    | "debug" | "trace") => l.to_string(),
                    other => {
                        return Err(bad_value(
                            d,
                            other,
                            "an ffmpeg log level (quiet, error, warning, info, ...)",
                        ))
                    }
                };
                self.ff_log_level.set(d, level)
            }
            "grace_final_wait" => self.grace_final_wait.set(d, millis(d, 0)?),
            "grace_start_wait" => self.grace_start_wait.set(d, millis(d, 0)?),
            "force_grace_quit" => self.force_grace_quit.set(d, on_off(d)?),
            "http_api" => {
                expect_block(d, 0)?;
                for c in &d.children {
                    let api = &mut self.http_api;
                    match c.name.as_str() {
                        "enabled" => api.enabled.set(c, on_off(c)?)?,
                        "listen" => api.listen.set(c, one_listen(c)?)?,
                        "crossdomain" => api.crossdomain.set(c, on_off(c)?)?,
                        "raw_api" => {
                            expect_block(c, 0)?;
                            for r in &c.children {
                                match r.name.as_str() {
                                    "enabled" => api.raw_enabled.set(r, on_off(r)?)?,
                                    "allow_reload" => api.raw_reload.set(r, on_off(r)?)?,
                                    "allow_query" => api.raw_query.set(r, on_off(r)?)?,
                                    "allow_update" => api.raw_update.set(r, on_off(r)?)?,
                                    _ => return Err(unknown(r, " in http_api.raw_api")),
                                }
                            }
                        }
                        "auth" => {
                            expect_block(c, 0)?;
                            for r in &c.children {
                                match r.name.as_str() {
                                    "enabled" => api.auth_enabled.set(r, on_off(r)?)?,
                                    "username" => {
                                        api.auth_username.set(r, one_arg(r)?.to_string())?
                                    }
                                    "password" => {
                                        api.auth_password.set(r, one_arg(r)?.to_string())?
                                    }
                                    _ => return Err(unknown(r, " in http_api.auth")),
                                }
                            }
                        }
                        name if srs_knows("http_api", name) => self.ignore(c),
                        _ => return Err(unknown(c, " in http_api")),
                    }
                }
                Ok(())
            }
            // SRS 2+ reads SRS 1's `http_stream` as `http_server`; both fill the same settings.
            "http_server" | "http_stream" => {
                expect_block(d, 0)?;
                for c in &d.children {
                    let server = &mut self.http_server;
                    match c.name.as_str() {
                        "enabled" => server.enabled.set(c, on_off(c)?)?,
                        "listen" => server.listen.set(c, one_listen(c)?)?,
                        "dir" => server.dir.set(c, path(c)?)?,
                        "crossdomain" => server.crossdomain.set(c, on_off(c)?)?,
                        name if srs_knows("http_server", name) => self.ignore(c),
                        _ => return Err(unknown(c, &format!(" in {}", d.name))),
                    }
                }
                Ok(())
            }
            "vhost" => self.vhost(d),
            name if srs_knows("", name) => {
                self.ignore(d);
                Ok(())
            }
            _ => Err(unknown(d, "")),
        }
    }

    fn warn(&mut self, d: &Directive, message: String) {
        self.warnings.push(Warning {
            file: d.file.clone(),
            line: d.line,
            message,
        });
    }

    /// An enabled engine without an output cannot run: said, and turned off.
    fn check_engines(&mut self, d: &Directive, engines: &mut [FfEngine]) {
        for e in engines
            .iter_mut()
            .filter(|e| e.enabled && e.output.is_empty())
        {
            self.warn(
                d,
                format!("engine {}: enabled without an output, not started", e.name),
            );
            e.enabled = false;
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
                "time_jitter" => v.time_jitter.set(c, time_jitter_warned(self, c)?)?,
                "mix_correct" => v.mix_correct.set(c, on_off(c)?)?,
                "atc" => v.atc.set(c, on_off(c)?)?,
                "atc_auto" => v.atc_auto.set(c, on_off(c)?)?,
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
                            "time_jitter" => v.time_jitter.set(p, time_jitter_warned(self, p)?)?,
                            "mix_correct" => v.mix_correct.set(p, on_off(p)?)?,
                            "atc" => v.atc.set(p, on_off(p)?)?,
                            "atc_auto" => v.atc_auto.set(p, on_off(p)?)?,
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
                "hls" => self.hls(&mut v.hls, c)?,
                "http_remux" => self.http_remux(&mut v.http_remux, c)?,
                // SRS 1 spellings of cluster { }.
                "mode" => v.mode_remote.set(c, mode(c)?)?,
                "origin" => v.origins.set(c, upstreams(c)?)?,
                "token_traverse" => v.token_traverse.set(c, on_off(c)?)?,
                "cluster" => {
                    expect_block(c, 0)?;
                    for k in &c.children {
                        match k.name.as_str() {
                            "mode" => v.mode_remote.set(k, mode(k)?)?,
                            "origin" => v.origins.set(k, upstreams(k)?)?,
                            "token_traverse" => v.token_traverse.set(k, on_off(k)?)?,
                            // What we do anyway: pull over RTMP from the listed origins.
                            "protocol" if !k.block && k.args == ["rtmp"] => {}
                            "follow_client" if !k.block && k.args == ["off"] => {}
                            name if srs_knows("vhost.cluster", name) => self.ignore(k),
                            _ => return Err(unknown(k, " in vhost.cluster")),
                        }
                    }
                }
                // SRS 1: `forward 127.0.0.1:19360 ...;` turns forwarding on.
                "forward" if !c.block => {
                    v.forward_enabled.set(c, true)?;
                    v.forward_destinations.set(c, upstreams(c)?)?;
                }
                "forward" => {
                    expect_block(c, 0)?;
                    for f in &c.children {
                        match f.name.as_str() {
                            "enabled" => v.forward_enabled.set(f, on_off(f)?)?,
                            "destination" => v.forward_destinations.set(f, upstreams(f)?)?,
                            "backend" => {
                                v.forward_backend = true;
                                self.ignore(f);
                            }
                            _ => return Err(unknown(f, " in vhost.forward")),
                        }
                    }
                }
                "http_hooks" => {
                    expect_block(c, 0)?;
                    for h in &c.children {
                        if v.http_hooks_seen.contains(&h.name.as_str()) {
                            return Err(invalid(h, format!("duplicate directive \"{}\"", h.name)));
                        }
                        v.http_hooks_seen.push(h.name.as_str());
                        let hooks = &mut v.http_hooks;
                        match h.name.as_str() {
                            "enabled" => hooks.enabled = on_off(h)?,
                            "timeout" => hooks.timeout = positive_seconds(h)?,
                            "max_in_flight" => hooks.max_in_flight = number(h, 1, 100_000)?,
                            "on_connect" => hooks.on_connect = hook_urls(h)?,
                            "on_close" => hooks.on_close = hook_urls(h)?,
                            "on_publish" => hooks.on_publish = hook_urls(h)?,
                            "on_unpublish" => hooks.on_unpublish = hook_urls(h)?,
                            "on_play" => hooks.on_play = hook_urls(h)?,
                            "on_stop" => hooks.on_stop = hook_urls(h)?,
                            "on_hls" => hooks.on_hls = hook_urls(h)?,
                            "on_hls_notify" => hooks.on_hls_notify = hook_urls(h)?,
                            "on_dvr" => {
                                hooks.on_dvr = hook_urls(h)?;
                            }
                            _ => return Err(unknown(h, " in vhost.http_hooks")),
                        }
                        if h.args.iter().any(|u| u.starts_with("https://")) {
                            self.warn(
                                h,
                                format!("{}: https hooks are not supported, every call of it fails (and a deciding hook denies)", h.name),
                            );
                        }
                    }
                }
                "transcode" => {
                    let mut t = transcode(c, &mut self.warnings)?;
                    self.check_engines(c, &mut t.engines);
                    v.transcodes.push(t);
                }
                "ingest" => {
                    let mut i = ingest(c, &mut self.warnings)?;
                    self.check_engines(c, &mut i.engines);
                    if i.enabled && (i.input_url.is_empty() || i.engines.is_empty()) {
                        self.warn(
                            c,
                            format!("ingest {}: no input url or no engine, not started", i.name),
                        );
                        i.enabled = false;
                    }
                    if v.ingests.iter().any(|o| o.name == i.name) {
                        return Err(invalid(c, format!("duplicate ingest \"{}\"", i.name)));
                    }
                    v.ingests.push(i);
                }
                "bandcheck" => {
                    expect_block(c, 0)?;
                    for e in &c.children {
                        let b = &mut v.bandcheck;
                        match e.name.as_str() {
                            "enabled" => b.enabled = on_off(e)?,
                            "key" => b.key = one_arg(e)?.to_string(),
                            "interval" => b.interval = positive_seconds(e)?,
                            "limit_kbps" => {
                                b.limit_kbps = whole(e, 1, 100_000_000)? as u32;
                            }
                            _ => return Err(unknown(e, " in vhost.bandcheck")),
                        }
                    }
                }
                "dvr" => {
                    expect_block(c, 0)?;
                    for e in &c.children {
                        let dvr = &mut v.dvr;
                        match e.name.as_str() {
                            "enabled" => dvr.enabled = on_off(e)?,
                            "dvr_apply" => {
                                not_block(e)?;
                                dvr.apply =
                                    e.args.iter().filter(|a| *a != "all").cloned().collect();
                            }
                            "dvr_plan" => {
                                dvr.segment = match one_arg(e)? {
                                    "segment" => true,
                                    "session" => false,
                                    other => return Err(bad_value(e, other, "session or segment")),
                                }
                            }
                            "dvr_path" => {
                                dvr.path = one_arg(e)?.to_string();
                                // As SRS: `.mp4` records MP4, anything else FLV.
                                let lower = dvr.path.to_ascii_lowercase();
                                if !lower.ends_with(".flv") && !lower.ends_with(".mp4") {
                                    self.warn(
                                        e,
                                        format!("dvr_path {}: neither .flv nor .mp4, recorded as FLV (as SRS does)", dvr.path),
                                    );
                                }
                            }
                            "dvr_duration" => dvr.duration = positive_seconds(e)?,
                            "dvr_wait_keyframe" => dvr.wait_keyframe = on_off(e)?,
                            // Backsource corrects every stream's timestamps once (full).
                            "time_jitter" if !e.block && e.args == ["full"] => {}
                            "time_jitter" => self.ignore(e),
                            _ => return Err(unknown(e, " in vhost.dvr")),
                        }
                    }
                }
                "exec" => {
                    expect_block(c, 0)?;
                    for e in &c.children {
                        match e.name.as_str() {
                            "enabled" => v.exec.enabled = on_off(e)?,
                            "publish" => {
                                not_block(e)?;
                                if e.args.is_empty() {
                                    return Err(invalid(e, "publish needs a command".into()));
                                }
                                v.exec.publish.push(e.args.clone());
                            }
                            _ => return Err(unknown(e, " in vhost.exec")),
                        }
                    }
                }
                "security" => {
                    expect_block(c, 0)?;
                    for r in &c.children {
                        match r.name.as_str() {
                            "enabled" => v.security_enabled.set(r, on_off(r)?)?,
                            "allow" | "deny" => v.security_rules.push(security_rule(r)?),
                            _ => return Err(unknown(r, " in vhost.security")),
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

    fn hls(&mut self, hls: &mut HlsBuilder<'a>, d: &'a Directive) -> Result<(), ConfError> {
        expect_block(d, 0)?;
        for c in &d.children {
            match c.name.as_str() {
                "enabled" => hls.enabled.set(c, on_off(c)?)?,
                "hls_fragment" => hls.hls_fragment.set(c, positive_seconds(c)?)?,
                // Below 1 the target duration would be shorter than a segment of
                // hls_fragment, which RFC 8216 section 4.3.3.1 forbids.
                "hls_td_ratio" => hls.hls_td_ratio.set(c, ratio(c, 1.0)?)?,
                "hls_aof_ratio" => hls.hls_aof_ratio.set(c, ratio(c, 0.0)?)?,
                "hls_window" => hls.hls_window.set(c, positive_seconds(c)?)?,
                "hls_on_error" => {
                    let on_error = match one_arg(c)? {
                        "ignore" => HlsOnError::Ignore,
                        "disconnect" => HlsOnError::Disconnect,
                        "continue" => HlsOnError::Continue,
                        other => return Err(bad_value(c, other, "ignore, disconnect or continue")),
                    };
                    hls.hls_on_error.set(c, on_error)?;
                }
                "hls_path" => hls.hls_path.set(c, path(c)?)?,
                "hls_m3u8_file" => hls.hls_m3u8_file.set(c, template(c)?)?,
                "hls_ts_file" => hls.hls_ts_file.set(c, template(c)?)?,
                "hls_ts_floor" => hls.hls_ts_floor.set(c, on_off(c)?)?,
                "hls_entry_prefix" => {
                    let prefix = one_arg(c)?;
                    let prefix = (!prefix.is_empty()).then(|| prefix.to_string());
                    hls.hls_entry_prefix.set(c, prefix)?;
                }
                "hls_acodec" => {
                    let acodec = match one_arg(c)? {
                        "aac" => HlsAcodec::Aac,
                        "mp3" => HlsAcodec::Mp3,
                        "an" => HlsAcodec::An,
                        other => return Err(bad_value(c, other, "aac, mp3 or an")),
                    };
                    hls.hls_acodec.set(c, acodec)?;
                }
                "hls_vcodec" => {
                    let vcodec = match one_arg(c)? {
                        "h264" => HlsVcodec::H264,
                        "vn" => HlsVcodec::Vn,
                        other => return Err(bad_value(c, other, "h264 or vn")),
                    };
                    hls.hls_vcodec.set(c, vcodec)?;
                }
                "hls_cleanup" => hls.hls_cleanup.set(c, on_off(c)?)?,
                "hls_dispose" => {
                    // Whole seconds, as SRS reads it (atoi); a day is plenty.
                    let secs = whole(c, 0, 86_400)?;
                    let dispose = (secs > 0).then(|| Duration::from_secs(secs));
                    hls.hls_dispose.set(c, dispose)?;
                }
                "hls_wait_keyframe" => hls.hls_wait_keyframe.set(c, on_off(c)?)?,
                name if srs_knows("vhost.hls", name) => self.ignore(c),
                _ => return Err(unknown(c, " in vhost.hls")),
            }
        }
        Ok(())
    }

    fn http_remux(
        &mut self,
        remux: &mut HttpRemuxBuilder<'a>,
        d: &'a Directive,
    ) -> Result<(), ConfError> {
        expect_block(d, 0)?;
        for c in &d.children {
            match c.name.as_str() {
                "enabled" => remux.enabled.set(c, on_off(c)?)?,
                "mount" => remux.mount.set(c, mount(c)?)?,
                "fast_cache" => {
                    let cache = seconds(c)?;
                    remux.fast_cache.set(c, cache)?;
                    // It only applies to mp3/aac mounts, which are refused: say so.
                    if !cache.is_zero() {
                        self.ignore(c);
                    }
                }
                "drop_if_not_match" => remux.drop_if_not_match.set(c, on_off(c)?)?,
                "has_audio" => remux.has_audio.set(c, on_off(c)?)?,
                "has_video" => remux.has_video.set(c, on_off(c)?)?,
                "guess_has_av" => remux.guess_has_av.set(c, on_off(c)?)?,
                _ => return Err(unknown(c, " in vhost.http_remux")),
            }
        }
        Ok(())
    }
}

impl HttpApiBuilder<'_> {
    fn build(self) -> HttpApi {
        let defaults = HttpApi::default();
        HttpApi {
            enabled: self.enabled.get_or(defaults.enabled),
            listen: self.listen.get_or(defaults.listen),
            crossdomain: self.crossdomain.get_or(defaults.crossdomain),
            raw_api: RawApi {
                enabled: self.raw_enabled.get_or(false),
                allow_reload: self.raw_reload.get_or(false),
                allow_query: self.raw_query.get_or(false),
                allow_update: self.raw_update.get_or(false),
            },
            auth: ApiAuth {
                enabled: self.auth_enabled.get_or(false),
                username: self.auth_username.get_or(String::new()),
                password: self.auth_password.get_or(String::new()),
            },
        }
    }
}

impl HttpServerBuilder<'_> {
    fn build(self) -> HttpServer {
        let defaults = HttpServer::default();
        HttpServer {
            enabled: self.enabled.get_or(defaults.enabled),
            listen: self.listen.get_or(defaults.listen),
            dir: self.dir.get_or(defaults.dir),
            crossdomain: self.crossdomain.get_or(defaults.crossdomain),
        }
    }
}

impl HlsBuilder<'_> {
    fn build(self) -> Result<Hls, ConfError> {
        let defaults = Hls::default();
        let fragment_at = self.hls_fragment.at();
        let window_at = self.hls_window.at();
        let hls = Hls {
            enabled: self.enabled.get_or(defaults.enabled),
            hls_fragment: self.hls_fragment.get_or(defaults.hls_fragment),
            hls_td_ratio: self.hls_td_ratio.get_or(defaults.hls_td_ratio),
            hls_aof_ratio: self.hls_aof_ratio.get_or(defaults.hls_aof_ratio),
            hls_window: self.hls_window.get_or(defaults.hls_window),
            hls_on_error: self.hls_on_error.get_or(defaults.hls_on_error),
            hls_path: self.hls_path.get_or(defaults.hls_path),
            hls_m3u8_file: self.hls_m3u8_file.get_or(defaults.hls_m3u8_file),
            hls_ts_file: self.hls_ts_file.get_or(defaults.hls_ts_file),
            hls_ts_floor: self.hls_ts_floor.get_or(defaults.hls_ts_floor),
            hls_entry_prefix: self.hls_entry_prefix.get_or(defaults.hls_entry_prefix),
            hls_acodec: self.hls_acodec.get_or(defaults.hls_acodec),
            hls_vcodec: self.hls_vcodec.get_or(defaults.hls_vcodec),
            hls_cleanup: self.hls_cleanup.get_or(defaults.hls_cleanup),
            hls_dispose: self.hls_dispose.get_or(defaults.hls_dispose),
            hls_wait_keyframe: self.hls_wait_keyframe.get_or(defaults.hls_wait_keyframe),
        };
        // A window shorter than one segment would hold no segment at all. The defaults
        // (10 s, 60 s) pass, so one of the two was written.
        if hls.hls_window < hls.hls_fragment {
            let (w, f) = (hls.hls_window, hls.hls_fragment);
            if let Some(at) = window_at {
                return Err(invalid(
                    at,
                    format!("hls_window {w:?} is shorter than hls_fragment {f:?}"),
                ));
            }
            if let Some(at) = fragment_at {
                return Err(invalid(
                    at,
                    format!("hls_fragment {f:?} is longer than hls_window {w:?} (the default)"),
                ));
            }
        }
        Ok(hls)
    }
}

impl<'a> HttpRemuxBuilder<'a> {
    /// The settings, and where `mount` was written.
    fn build(self) -> (HttpRemux, Option<&'a Directive>) {
        let defaults = HttpRemux::default();
        let mount_at = self.mount.at();
        let remux = HttpRemux {
            enabled: self.enabled.get_or(defaults.enabled),
            mount: self.mount.get_or(defaults.mount),
            fast_cache: self.fast_cache.get_or(defaults.fast_cache),
            drop_if_not_match: self.drop_if_not_match.get_or(defaults.drop_if_not_match),
            has_audio: self.has_audio.get_or(defaults.has_audio),
            has_video: self.has_video.get_or(defaults.has_video),
            guess_has_av: self.guess_has_av.get_or(defaults.guess_has_av),
        };
        (remux, mount_at)
    }
}

impl VhostBuilder<'_> {
    fn build(
        self,
        global_chunk_size: u32,
        warnings: &mut Vec<Warning>,
    ) -> Result<Vhost, ConfError> {
        let hls_enabled_at = self.hls.enabled.at();
        let hls = self.hls.build()?;
        let (http_remux, mount_at) = self.http_remux.build();
        // SRS refuses HTTP-TS and HLS together in one vhost (check_normal_config: "vhost.hls
        // conflict with vhost.http-ts"). A .ts mount was written, the default is .flv.
        if hls.enabled && http_remux.enabled && http_remux.mount.ends_with(".ts") {
            if let (Some(at), Some(hls_at)) = (mount_at, hls_enabled_at) {
                return Err(invalid(
                    at,
                    format!(
                        "HTTP-TS mount \"{}\" conflicts with hls enabled at {}: SRS allows one of them per vhost",
                        http_remux.mount,
                        hls_at.location()
                    ),
                ));
            }
        }
        let refer_enabled = match self.refer_enabled.value {
            Some((on, _)) => on,
            None => self.refer_legacy,
        };
        let mut edge = self.mode_remote.value.as_ref().is_some_and(|(on, _)| *on);
        let origins = self.origins.get_or(Vec::new());
        if edge && origins.is_empty() {
            if let Some((_, at)) = &self.mode_remote.value {
                warnings.push(Warning {
                    file: at.file.clone(),
                    line: at.line,
                    message: "mode remote without an origin: the vhost stays an origin".into(),
                });
            }
            edge = false;
        }
        let forward_at = self.forward_enabled.at();
        let forward = Forward {
            enabled: self.forward_enabled.get_or(false),
            destinations: self.forward_destinations.get_or(Vec::new()),
        };
        if let (true, Some(at)) = (
            forward.enabled && forward.destinations.is_empty() && !self.forward_backend,
            forward_at,
        ) {
            warnings.push(Warning {
                file: at.file.clone(),
                line: at.line,
                message: "forward enabled without a destination: nothing is forwarded".into(),
            });
        }
        let defaults = Vhost::new(self.name, global_chunk_size);
        Ok(Vhost {
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
                time_jitter: self.time_jitter.get_or(defaults.play.time_jitter),
                mix_correct: self.mix_correct.get_or(defaults.play.mix_correct),
                atc: self.atc.get_or(defaults.play.atc),
                atc_auto: self.atc_auto.get_or(defaults.play.atc_auto),
            },
            publish: Publish {
                firstpkt_timeout: self
                    .firstpkt_timeout
                    .get_or(defaults.publish.firstpkt_timeout),
                normal_timeout: self.normal_timeout.get_or(defaults.publish.normal_timeout),
            },
            hls,
            http_remux,
            cluster: Cluster {
                edge,
                origins,
                token_traverse: self.token_traverse.get_or(false),
            },
            forward,
            security: Security {
                enabled: self.security_enabled.get_or(false),
                rules: self.security_rules,
            },
            http_hooks: self.http_hooks,
            transcodes: self.transcodes,
            ingests: self.ingests,
            exec: self.exec,
            dvr: self.dvr,
            bandcheck: self.bandcheck,
            name: defaults.name,
        })
    }
}

/// Where an HTTP block's listen address came from, for messages: its `listen`, else its
/// `enabled` (the address is the default). `None` when the block is not enabled.
fn http_listen_at<'a>(
    listen: &Slot<'a, SocketAddr>,
    enabled: &Slot<'a, bool>,
) -> Option<&'a Directive> {
    match &enabled.value {
        Some((true, at)) => Some(listen.at().unwrap_or(at)),
        _ => None,
    }
}

/// Whether two listen addresses would take the same port: same family, same port (not 0,
/// which asks for a free one) and the same IP or a wildcard on either side. Dual-stack
/// overlaps (`[::]` taking IPv4 too) depend on socket options and are left to `bind`.
fn listens_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
        && a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The enabled HTTP listeners must not take an RTMP port, nor each other's unless they are
/// the very same address, which SRS reads as "serve the API on the HTTP server's port".
fn check_http_listens(
    rtmp: &[SocketAddr],
    rtmp_at: Option<&Directive>,
    (api, api_at): (&HttpApi, Option<&Directive>),
    (server, server_at): (&HttpServer, Option<&Directive>),
) -> Result<(), ConfError> {
    let enabled = [
        ("http_api", api.listen, api_at),
        ("http_server", server.listen, server_at),
    ];
    for (name, addr, at) in enabled {
        let Some(at) = at else { continue };
        if let Some(r) = rtmp.iter().find(|r| listens_overlap(addr, **r)) {
            let rtmp_where = rtmp_at.map_or("the default".to_string(), Directive::location);
            return Err(invalid(
                at,
                format!("{name} listen {addr} takes the port of RTMP listen {r} ({rtmp_where})"),
            ));
        }
    }
    if let (Some(at), Some(_)) = (api_at, server_at) {
        if api.listen != server.listen && listens_overlap(api.listen, server.listen) {
            return Err(invalid(
                at,
                format!(
                    "http_api listen {} takes the port of http_server listen {}: write the same address to share it",
                    api.listen, server.listen
                ),
            ));
        }
    }
    Ok(())
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

/// A plain decimal number (digits and a dot: no sign, exponent, `inf` or `nan`).
fn decimal(d: &Directive) -> Result<Option<f64>, ConfError> {
    let s = one_arg(d)?;
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    Ok(s.parse::<f64>().ok().filter(|_| ok))
}

/// Seconds, fractions allowed (`queue_length 0.5;`), at most a day.
fn seconds(d: &Directive) -> Result<Duration, ConfError> {
    match decimal(d)? {
        Some(v) if (0.0..=86_400.0).contains(&v) => Ok(Duration::from_secs_f64(v)),
        _ => Err(bad_value(
            d,
            &d.args[0],
            "a number of seconds between 0 and 86400",
        )),
    }
}

/// Seconds as [`seconds`], but more than 0 (`hls_fragment 0.5;`).
fn positive_seconds(d: &Directive) -> Result<Duration, ConfError> {
    match decimal(d)? {
        Some(v) if v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(bad_value(
            d,
            &d.args[0],
            "a number of seconds above 0, at most 86400",
        )),
    }
}

/// A multiplier, at least `min` (and above 0), at most 100.
fn ratio(d: &Directive, min: f64) -> Result<Ratio, ConfError> {
    match decimal(d)?
        .filter(|v| *v >= min && *v <= 100.0)
        .and_then(Ratio::new)
    {
        Some(r) => Ok(r),
        None if min > 0.0 => Err(bad_value(
            d,
            &d.args[0],
            &format!("a number between {min} and 100"),
        )),
        None => Err(bad_value(d, &d.args[0], "a number above 0, at most 100")),
    }
}

/// A non-empty path template (`[app]/[stream]-[seq].ts`).
fn template(d: &Directive) -> Result<String, ConfError> {
    let s = one_arg(d)?;
    if s.is_empty() {
        return Err(invalid(
            d,
            format!("directive \"{}\" needs a non-empty value", d.name),
        ));
    }
    Ok(s.to_string())
}

/// An `http_remux` mount: a template ending in `.flv` or `.ts`.
/// `zero` is read, with the difference from SRS said at load.
fn time_jitter_warned(b: &mut Builder<'_>, d: &Directive) -> Result<TimeJitter, ConfError> {
    let t = time_jitter(d)?;
    if t == TimeJitter::Zero {
        b.warn(
            d,
            "time_jitter zero: each publish starts at zero for every player of it; SRS starts each player at zero".into(),
        );
    }
    Ok(t)
}

fn time_jitter(d: &Directive) -> Result<TimeJitter, ConfError> {
    match one_arg(d)? {
        "full" => Ok(TimeJitter::Full),
        "zero" => Ok(TimeJitter::Zero),
        "off" => Ok(TimeJitter::Off),
        other => Err(bad_value(d, other, "full, zero or off")),
    }
}

fn mount(d: &Directive) -> Result<String, ConfError> {
    let s = template(d)?;
    if s.ends_with(".flv") || s.ends_with(".ts") {
        return Ok(s);
    }
    let expected = if s.ends_with(".mp3") || s.ends_with(".aac") {
        "a path ending in .flv or .ts (srs-rs does not serve .mp3 or .aac streams)"
    } else {
        "a path ending in .flv or .ts, such as [vhost]/[app]/[stream].flv"
    };
    Err(bad_value(d, &s, expected))
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

/// `name value;` pairs of an engine's `vfilter`, `vparams` or `aparams` block.
fn ff_params(d: &Directive) -> Result<Vec<(String, String)>, ConfError> {
    expect_block(d, 0)?;
    d.children
        .iter()
        .map(|c| {
            not_block(c)?;
            Ok((c.name.clone(), c.args.join(" ")))
        })
        .collect()
}

/// An `engine [NAME] { ... }` block.
fn ff_engine(d: &Directive, w: &mut Vec<Warning>) -> Result<FfEngine, ConfError> {
    if !d.block || d.args.len() > 1 {
        return Err(invalid(
            d,
            "engine takes at most a name and a block { ... }".into(),
        ));
    }
    let mut e = FfEngine {
        name: d.args.first().cloned().unwrap_or_default(),
        iformat: "flv".into(),
        oformat: "flv".into(),
        ..FfEngine::default()
    };
    let num = |c: &Directive| number(c, 0, 1_000_000);
    for c in &d.children {
        match c.name.as_str() {
            "enabled" => e.enabled = on_off(c)?,
            "iformat" => e.iformat = one_arg(c)?.to_string(),
            "oformat" => e.oformat = one_arg(c)?.to_string(),
            "vfilter" => e.vfilter = ff_params(c)?,
            "vcodec" => e.vcodec = one_arg(c)?.to_string(),
            "vbitrate" => e.vbitrate = num(c)?,
            "vfps" => {
                e.vfps = match decimal(c)? {
                    Some(v) if (0.0..=1000.0).contains(&v) => one_arg(c)?.to_string(),
                    _ => return Err(bad_value(c, one_arg(c)?, "a frame rate")),
                }
            }
            "vwidth" => e.vwidth = num(c)?,
            "vheight" => e.vheight = num(c)?,
            "vthreads" => e.vthreads = num(c)?,
            "vprofile" => e.vprofile = one_arg(c)?.to_string(),
            "vpreset" => e.vpreset = one_arg(c)?.to_string(),
            "vparams" => e.vparams = ff_params(c)?,
            "acodec" => e.acodec = one_arg(c)?.to_string(),
            "abitrate" => e.abitrate = num(c)?,
            "asample_rate" => e.asample_rate = num(c)?,
            "achannels" => e.achannels = num(c)?,
            "aparams" => e.aparams = ff_params(c)?,
            "output" => e.output = one_arg(c)?.to_string(),
            // SRS's per-file output (HLS per segment): not here.
            "perfile" => w.push(Warning {
                file: c.file.clone(),
                line: c.line,
                message: "directive \"perfile\" is not supported yet, ignored".into(),
            }),
            _ => return Err(unknown(c, " in an engine")),
        }
    }
    Ok(e)
}

/// `transcode [scope] { ... }`.
fn transcode(d: &Directive, w: &mut Vec<Warning>) -> Result<Transcode, ConfError> {
    if !d.block || d.args.len() > 1 {
        return Err(invalid(
            d,
            "transcode takes at most a scope and a block { ... }".into(),
        ));
    }
    let mut t = Transcode {
        scope: d.args.first().cloned().unwrap_or_default(),
        ffmpeg: PathBuf::from("ffmpeg"),
        ..Transcode::default()
    };
    for c in &d.children {
        match c.name.as_str() {
            "enabled" => t.enabled = on_off(c)?,
            "ffmpeg" => t.ffmpeg = path(c)?,
            "engine" => t.engines.push(ff_engine(c, w)?),
            _ => return Err(unknown(c, " in vhost.transcode")),
        }
    }
    Ok(t)
}

/// `ingest NAME { ... }`.
fn ingest(d: &Directive, w: &mut Vec<Warning>) -> Result<Ingest, ConfError> {
    expect_block(d, 1)?;
    let mut i = Ingest {
        name: d.args[0].clone(),
        ffmpeg: PathBuf::from("ffmpeg"),
        ..Ingest::default()
    };
    for c in &d.children {
        match c.name.as_str() {
            "enabled" => i.enabled = on_off(c)?,
            "ffmpeg" => i.ffmpeg = path(c)?,
            "engine" => i.engines.push(ff_engine(c, w)?),
            "input" => {
                expect_block(c, 0)?;
                for x in &c.children {
                    match x.name.as_str() {
                        "type" => {
                            i.input_type = match one_arg(x)? {
                                t @ ("file" | "stream" | "device") => t.to_string(),
                                other => return Err(bad_value(x, other, "file, stream or device")),
                            }
                        }
                        "url" => i.input_url = one_arg(x)?.to_string(),
                        _ => return Err(unknown(x, " in ingest input")),
                    }
                }
            }
            _ => return Err(unknown(c, " in vhost.ingest")),
        }
    }
    Ok(i)
}

/// The URLs of a hook event: `http://` or `https://` each (https hooks are refused when
/// called, with a log line: no TLS client here).
fn hook_urls(d: &Directive) -> Result<Vec<String>, ConfError> {
    not_block(d)?;
    if d.args.is_empty() {
        return Err(invalid(d, format!("\"{}\" needs at least one URL", d.name)));
    }
    for u in &d.args {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(bad_value(d, u, "an http:// URL"));
        }
    }
    Ok(d.args.clone())
}

/// `allow|deny publish|play all|IP|CIDR;`
fn security_rule(d: &Directive) -> Result<SecurityRule, ConfError> {
    not_block(d)?;
    let [action, target] = d.args.as_slice() else {
        return Err(invalid(
            d,
            format!(
                "\"{}\" takes 2 arguments: publish|play and all|IP|CIDR",
                d.name
            ),
        ));
    };
    let publish = match action.as_str() {
        "publish" => true,
        "play" => false,
        other => return Err(bad_value(d, other, "publish or play")),
    };
    let valid = target == "all"
        || target.parse::<std::net::IpAddr>().is_ok()
        || target.split_once('/').is_some_and(|(n, b)| {
            match (n.parse::<std::net::IpAddr>(), b.parse::<u32>()) {
                (Ok(std::net::IpAddr::V4(_)), Ok(b)) => b <= 32,
                (Ok(std::net::IpAddr::V6(_)), Ok(b)) => b <= 128,
                _ => false,
            }
        });
    if !valid {
        return Err(bad_value(
            d,
            target,
            "all, an IP address or a network such as 10.0.0.0/8",
        ));
    }
    Ok(SecurityRule {
        allow: d.name == "allow",
        publish,
        target: target.clone(),
        at: d.location(),
    })
}

/// `mode local|remote`: whether the vhost is an edge.
fn mode(d: &Directive) -> Result<bool, ConfError> {
    match one_arg(d)? {
        "remote" => Ok(true),
        "local" => Ok(false),
        other => Err(bad_value(d, other, "local or remote")),
    }
}

/// Upstream servers (`origin`, `destination`, SRS 1 `forward`): `host[:port]` each, as
/// `host:port` with SRS's default port 1935.
fn upstreams(d: &Directive) -> Result<Vec<String>, ConfError> {
    not_block(d)?;
    if d.args.is_empty() {
        return Err(invalid(
            d,
            format!("\"{}\" needs at least one HOST[:PORT]", d.name),
        ));
    }
    d.args
        .iter()
        .map(|a| upstream(a).map_err(|m| invalid(d, m)))
        .collect()
}

/// One `host[:port]`, `[v6]:port` or bare IPv6 address, normalised to `host:port`.
pub fn upstream(arg: &str) -> Result<String, String> {
    let bad = || format!("invalid server \"{arg}\": expected HOST or HOST:PORT");
    if arg.is_empty() || arg.contains('/') || arg.contains(char::is_whitespace) {
        return Err(bad());
    }
    if let Ok(ip) = arg.parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{ip}]:{DEFAULT_UPSTREAM_PORT}"));
    }
    let (host, port) = if let Some(rest) = arg.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (format!("[{h}]"), Some(p)),
            None if after.is_empty() => (format!("[{h}]"), None),
            None => return Err(bad()),
        }
    } else {
        match arg.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (arg.to_string(), None),
        }
    };
    if host.is_empty() || host.contains(':') && !host.starts_with('[') {
        return Err(bad());
    }
    let port = match port {
        None => DEFAULT_UPSTREAM_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(format!("invalid port in server \"{arg}\"")),
        },
    };
    Ok(format!("{host}:{port}"))
}

/// The one address of an `http_api` or `http_server` `listen`.
fn one_listen(d: &Directive) -> Result<SocketAddr, ConfError> {
    endpoint(one_arg(d)?).map_err(|m| invalid(d, m))
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
    fn ring_size_in_mib() {
        assert_eq!(parse("listen 1935;").ring_size, DEFAULT_RING_SIZE);
        assert_eq!(parse("ring_size 2;").ring_size, 2 << 20);
        assert_eq!(parse("ring_size 4096;").ring_size, 4096 << 20);
        assert_eq!(
            error("ring_size 0;"),
            "x.conf:1: value 0 for \"ring_size\" is out of range (1..=4096)"
        );
        assert!(error("ring_size 4097;").contains("out of range"));
        assert!(error("ring_size 1.5;").contains("ring_size"));
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
                mw_latency: Duration::from_millis(100),
                ..Play::default()
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
    fn http_hooks_urls_in_order() {
        let c = parse(
            "vhost a { http_hooks { enabled on; on_publish http://127.0.0.1:8085/a http://h/b; \
             on_close http://h/c; timeout 5; max_in_flight 8; } }\n\
             vhost b { http_hooks { enabled off; on_play http://h/p; } }\n",
        );
        let a = &c.vhost("a").unwrap().http_hooks;
        assert_eq!(
            a.urls("on_publish"),
            ["http://127.0.0.1:8085/a", "http://h/b"]
        );
        assert_eq!(a.urls("on_close"), ["http://h/c"]);
        assert!(a.urls("on_play").is_empty());
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.max_in_flight, 8);
        assert!(
            c.vhost("b").unwrap().http_hooks.urls("on_play").is_empty(),
            "off"
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(HttpHooks::default().timeout, Duration::from_secs(30));
        for bad in [
            "vhost a { http_hooks { on_publish; } }",
            "vhost a { http_hooks { on_publish ftp://h/x; } }",
            "vhost a { http_hooks { on_play http://h/a; on_play http://h/b; } }",
            "vhost a { http_hooks { on_whatever http://h/a; } }",
        ] {
            assert!(Config::parse(bad, "x.conf").is_err(), "{bad}");
        }
        let c = parse("vhost a { http_hooks { enabled on; on_dvr https://h/d; } }");
        assert_eq!(c.warnings.len(), 1, "https hooks are said to fail");
        assert_eq!(c.vhosts[0].http_hooks.urls("on_dvr"), ["https://h/d"]);
    }

    #[test]
    fn security_rules_as_srs_decides() {
        let c = parse(
            "vhost a { security { enabled on; deny publish all; allow publish 127.0.0.1; allow play all; } }\n\
             vhost b { security { enabled on; allow publish 10.0.0.0/8; deny play 192.168.1.0/24; } }\n\
             vhost c { security { enabled on; deny play 10.1.1.1; } }\n\
             vhost d { security { enabled on; } }\n\
             vhost e { security { enabled off; deny publish all; } }\n",
        );
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let sec = |v: &str| c.vhost(v).unwrap().security.clone();
        // Deny first: nobody publishes on a, whatever the allow after it.
        let e = sec("a").check(true, ip("127.0.0.1")).unwrap_err();
        assert!(
            e.contains("deny publish all") && e.contains("x.conf:1"),
            "{e}"
        );
        assert!(sec("a").check(false, ip("8.8.8.8")).is_ok());
        assert!(sec("b").check(true, ip("10.2.3.4")).is_ok());
        assert!(
            sec("b").check(true, ip("::ffff:10.2.3.4")).is_ok(),
            "mapped v4"
        );
        assert!(
            sec("b").check(true, ip("11.0.0.1")).is_err(),
            "no allow matched"
        );
        assert!(sec("b").check(false, ip("192.168.1.7")).is_err());
        // Plays on b: no allow for play, but allow rules exist: refused, as SRS.
        assert!(sec("b").check(false, ip("8.8.8.8")).is_err());
        // Only deny rules: what they do not name is allowed.
        assert!(sec("c").check(false, ip("10.1.1.2")).is_ok());
        assert!(sec("c").check(false, ip("10.1.1.1")).is_err());
        // On without rules: everything refused.
        assert!(sec("d").check(false, ip("127.0.0.1")).is_err());
        assert!(sec("e").check(true, ip("127.0.0.1")).is_ok());
        for bad in [
            "vhost a { security { allow publish; } }",
            "vhost a { security { allow record all; } }",
            "vhost a { security { deny play 10.0.0.0/40; } }",
            "vhost a { security { deny play example.com; } }",
        ] {
            assert!(Config::parse(bad, "x.conf").is_err(), "{bad}");
        }
    }

    #[test]
    fn cluster_and_forward_in_both_syntaxes() {
        let c = parse(
            "vhost a { cluster { mode remote; origin 127.0.0.1:19350 10.0.0.1 [::1]:7 ::2; token_traverse on; } \
               forward { enabled on; destination 127.0.0.1:19360 h.example; } }\n\
             vhost b { mode remote; origin 10.0.0.5; forward 127.0.0.1:19361; }\n\
             vhost c { cluster { mode local; } forward { enabled off; destination 1.2.3.4; } }\n",
        );
        let a = c.vhost("a").unwrap();
        assert!(a.cluster.edge && a.cluster.token_traverse);
        assert_eq!(
            a.cluster.origins,
            ["127.0.0.1:19350", "10.0.0.1:1935", "[::1]:7", "[::2]:1935"]
        );
        assert!(a.forward.enabled);
        assert_eq!(
            a.forward.destinations,
            ["127.0.0.1:19360", "h.example:1935"]
        );
        let b = c.vhost("b").unwrap();
        assert!(b.cluster.edge && !b.cluster.token_traverse);
        assert_eq!(b.cluster.origins, ["10.0.0.5:1935"]);
        assert!(b.forward.enabled);
        assert_eq!(b.forward.destinations, ["127.0.0.1:19361"]);
        let cc = c.vhost("c").unwrap();
        assert!(!cc.cluster.edge && !cc.forward.enabled);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        for bad in [
            "vhost a { cluster { mode far; origin h; } }",
            "vhost a { cluster { mode remote; origin h:0; } }",
            "vhost a { cluster { mode remote; origin h:99999; } }",
            "vhost a { cluster { mode remote; origin rtmp://h/live; } }",
            "vhost a { forward { enabled on; destination; } }",
        ] {
            assert!(Config::parse(bad, "x.conf").is_err(), "{bad}");
        }
        // An edge without an origin, forward without a destination: said, not silent.
        let c = parse("vhost a { mode remote; forward { enabled on; } }");
        let w: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            w,
            [
                "x.conf:1: mode remote without an origin: the vhost stays an origin",
                "x.conf:1: forward enabled without a destination: nothing is forwarded"
            ]
        );
        assert!(!c.vhost("a").unwrap().cluster.edge);
    }

    #[test]
    fn known_but_unsupported_directives_are_warnings() {
        let c = parse(
            "listen 1935;\nheartbeat {\n  enabled on;\n  anything goes here;\n}\nvhost a {\n  hds { whatever; }\n  \
             play { time_jitter full; }\n  publish { mr on; }\n  atc on;\n}\nff_log_dir ./objs;\n\
             http_api {\n  auth { enabled on; }\n}\nvhost b {\n  hls { hls_keys on; }\n  http_remux { fast_cache 1; }\n}\n",
        );
        let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "x.conf:2: directive \"heartbeat\" is not supported yet, ignored",
                "x.conf:7: directive \"hds\" is not supported yet, ignored",
                "x.conf:9: directive \"mr\" is not supported yet, ignored",
                "x.conf:17: directive \"hls_keys\" is not supported yet, ignored",
                "x.conf:18: directive \"fast_cache\" is not supported yet, ignored",
            ]
        );
        // fast_cache is still read; time_jitter and atc are ours now.
        assert_eq!(c.vhosts[1].http_remux.fast_cache, Duration::from_secs(1));
        assert!(c.vhosts[0].play.atc);
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
        let b = parse("# a comment\n\nlisten   1935 ;\nvhost a {\n  play { gop_cache off; }\n}\nstats { enabled on; }");
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
        // HTTP API on 1985 and HTTP server on 8080, as SRS's own srs.conf.
        assert!(c.http_api.enabled);
        assert_eq!(c.http_api.listen, addr("0.0.0.0:1985"));
        assert!(c.http_server.enabled);
        assert_eq!(c.http_server.listen, addr("0.0.0.0:8080"));
        assert_eq!(c.http_server.dir, Path::new("./objs/nginx/html"));
        let v = c.vhost("any").unwrap();
        assert_eq!(v.name, DEFAULT_VHOST);
        assert!(v.play.gop_cache);
        assert!(v.hls.enabled);
        assert!(v.http_remux.enabled);
        assert_eq!(v.http_remux.mount, "[vhost]/[app]/[stream].flv");
        // The built-in config spells out every default, but for the four `enabled on`.
        let mut defaults = Config::default();
        defaults.http_api.enabled = true;
        defaults.http_server.enabled = true;
        let mut vhost = Vhost::new(DEFAULT_VHOST, DEFAULT_CHUNK_SIZE);
        vhost.hls.enabled = true;
        vhost.http_remux.enabled = true;
        defaults.vhosts.push(vhost);
        assert_eq!(c, defaults);
        // And it is the file conf/srs.conf (tests run in the crate's folder).
        assert_eq!(Config::load("srs.conf").unwrap(), c);
        assert_eq!(std::fs::read_to_string("srs.conf").unwrap(), BUILTIN_CONF);
    }

    #[test]
    fn http_api_and_server_defaults() {
        let c = parse("");
        assert_eq!(
            c.http_api,
            HttpApi {
                enabled: false,
                listen: addr("0.0.0.0:1985"),
                crossdomain: true,
                raw_api: RawApi::default(),
                auth: ApiAuth::default(),
            }
        );
        assert_eq!(
            c.http_server,
            HttpServer {
                enabled: false,
                listen: addr("0.0.0.0:8080"),
                dir: PathBuf::from("./objs/nginx/html"),
                crossdomain: true
            }
        );
        // A block that does not say `enabled on` is off, as in SRS.
        let c = parse("http_api { listen 1986; }\nhttp_server { dir /srv; }");
        assert!(!c.http_api.enabled && !c.http_server.enabled);
        assert_eq!(c.http_api.listen, addr("0.0.0.0:1986"));
        assert_eq!(c.http_server.dir, Path::new("/srv"));
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn raw_api_and_auth() {
        let c = parse(
            "http_api { enabled on; raw_api { enabled on; allow_reload on; allow_query off; } \
             auth { enabled on; username ops; password \"s3 cret\"; } }",
        );
        assert_eq!(
            c.http_api.raw_api,
            RawApi {
                enabled: true,
                allow_reload: true,
                allow_query: false,
                allow_update: false
            }
        );
        assert_eq!(
            c.http_api.auth,
            ApiAuth {
                enabled: true,
                username: "ops".into(),
                password: "s3 cret".into()
            }
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(Config::parse("http_api { auth { enabled on; user x; } }", "x.conf").is_err());
    }

    #[test]
    fn http_api_and_server_settings() {
        let c = parse(
            "http_api {\n enabled on;\n listen 127.0.0.1:9985;\n crossdomain off;\n}\n\
             http_server {\n enabled on;\n listen [::]:8081;\n dir /var/www;\n crossdomain off;\n\
             https { enabled on; }\n}",
        );
        assert_eq!(
            c.http_api,
            HttpApi {
                enabled: true,
                listen: addr("127.0.0.1:9985"),
                crossdomain: false,
                raw_api: RawApi::default(),
                auth: ApiAuth::default(),
            }
        );
        assert_eq!(
            c.http_server,
            HttpServer {
                enabled: true,
                listen: addr("[::]:8081"),
                dir: PathBuf::from("/var/www"),
                crossdomain: false
            }
        );
        assert_eq!(
            c.warnings[0].to_string(),
            "x.conf:11: directive \"https\" is not supported yet, ignored"
        );
        // SRS 1's http_stream is http_server.
        let c = parse("http_stream {\n enabled on;\n listen 8082;\n dir ./html;\n}");
        assert!(c.http_server.enabled);
        assert_eq!(c.http_server.listen, addr("0.0.0.0:8082"));
        assert_eq!(c.http_server.dir, Path::new("./html"));
        assert!(c.warnings.is_empty());
        // Sharing one address between the API and the server is how SRS serves both on
        // one port.
        let c = parse("http_api { enabled on; listen 8080; }\nhttp_server { enabled on; }");
        assert_eq!(c.http_api.listen, c.http_server.listen);
        // Reload diffing sees every field.
        let mut other = c.clone();
        other.http_api.crossdomain = false;
        assert_ne!(c, other);
        let mut other = c.clone();
        other.http_server.dir = PathBuf::from("/elsewhere");
        assert_ne!(c, other);
    }

    #[test]
    fn http_api_and_server_errors() {
        assert_eq!(
            error("http_api {\n  listen 65536;\n}"),
            "x.conf:2: listen port 65536 out of range (0..=65535)"
        );
        assert_eq!(
            error("http_server {\n  listen localhost:8080;\n}"),
            "x.conf:2: invalid listen address \"localhost:8080\": expected port, ip:port or [ipv6]:port"
        );
        assert_eq!(
            error("http_server {\n  listen 8080 8081;\n}"),
            "x.conf:2: directive \"listen\" takes 1 argument, got 2"
        );
        assert_eq!(
            error("http_api {\n enabled yes;\n}"),
            "x.conf:2: invalid value \"yes\" for \"enabled\": expected on or off"
        );
        assert_eq!(
            error("http_api {\n crossdomain;\n}"),
            "x.conf:2: directive \"crossdomain\" needs a value"
        );
        assert_eq!(
            error("http_server {\n dir \"\";\n}"),
            "x.conf:2: directive \"dir\" needs a non-empty path"
        );
        assert_eq!(
            error("http_api on;"),
            "x.conf:1: directive \"http_api\" must be a block { ... }"
        );
        assert_eq!(
            error("http_api {\n  lisen 1985;\n}"),
            "x.conf:2: unknown directive \"lisen\" in http_api"
        );
        assert_eq!(
            error("http_stream {\n  crossdomian on;\n}"),
            "x.conf:2: unknown directive \"crossdomian\" in http_stream"
        );
        // Both spellings of one setting are a duplicate.
        assert_eq!(
            error("http_server { listen 8080; }\nhttp_stream {\n listen 8081;\n}"),
            "x.conf:3: duplicate directive \"listen\" (first set at x.conf:1)"
        );
        // An enabled HTTP listener cannot take an RTMP port...
        assert_eq!(
            error("listen 1935;\nhttp_server {\n enabled on;\n listen 1935;\n}"),
            "x.conf:4: http_server listen 0.0.0.0:1935 takes the port of RTMP listen 0.0.0.0:1935 (x.conf:1)"
        );
        assert_eq!(
            error("http_api {\n enabled on;\n listen 127.0.0.1:1935;\n}"),
            "x.conf:3: http_api listen 127.0.0.1:1935 takes the port of RTMP listen 0.0.0.0:1935 (the default)"
        );
        // ... nor, when it is not the same address, the other one's.
        assert_eq!(
            error("http_api {\n enabled on;\n listen 127.0.0.1:8080;\n}\nhttp_server { enabled on; }"),
            "x.conf:3: http_api listen 127.0.0.1:8080 takes the port of http_server listen 0.0.0.0:8080: write the same address to share it"
        );
        // With the default address, the error points at `enabled`.
        assert_eq!(
            error("listen 8080;\nhttp_server {\n enabled on;\n}"),
            "x.conf:3: http_server listen 0.0.0.0:8080 takes the port of RTMP listen 0.0.0.0:8080 (x.conf:1)"
        );
        // Disabled blocks, port 0 (a free port) and other addresses do not clash.
        parse("listen 8080;\nhttp_server { listen 8080; }");
        parse(
            "listen 0;\nhttp_api { enabled on; listen 0; }\nhttp_server { enabled on; listen 0; }",
        );
        parse("listen 127.0.0.1:8080;\nhttp_server { enabled on; listen 127.0.0.2:8080; }");
        parse("listen 0.0.0.0:8080;\nhttp_server { enabled on; listen [::1]:8080; }");
    }

    #[test]
    fn hls_defaults() {
        let h = &parse("vhost a { hls { } }").vhosts[0].hls;
        assert_eq!(*h, Hls::default());
        assert_eq!(parse("vhost a {}").vhosts[0].hls, Hls::default());
        assert!(!h.enabled);
        assert_eq!(h.hls_fragment, Duration::from_secs(10));
        assert_eq!(h.hls_td_ratio.get(), 1.0);
        assert_eq!(h.hls_aof_ratio.get(), 2.1);
        assert_eq!(h.hls_window, Duration::from_secs(60));
        assert_eq!(h.hls_on_error, HlsOnError::Continue);
        assert_eq!(h.hls_path, Path::new("./objs/nginx/html"));
        assert_eq!(h.hls_m3u8_file, "[app]/[stream].m3u8");
        assert_eq!(h.hls_ts_file, "[app]/[stream]-[seq].ts");
        assert!(!h.hls_ts_floor);
        assert_eq!(h.hls_entry_prefix, None);
        assert_eq!(h.hls_acodec, HlsAcodec::Aac);
        assert_eq!(h.hls_vcodec, HlsVcodec::H264);
        assert!(h.hls_cleanup);
        assert_eq!(h.hls_dispose, Some(Duration::from_secs(120)));
        assert!(h.hls_wait_keyframe);
    }

    #[test]
    fn hls_settings() {
        let c = parse(
            "vhost a {\n hls {\n  enabled on;\n  hls_fragment 2.5;\n  hls_td_ratio 1.5;\n\
             hls_aof_ratio 0.8;\n  hls_window 20;\n  hls_on_error disconnect;\n  hls_path /srv/hls;\n\
             hls_m3u8_file [vhost]/[app]/[stream]/index.m3u8;\n  hls_ts_file [app]/[stream]/[timestamp]-[seq].ts;\n\
             hls_ts_floor on;\n  hls_entry_prefix https://cdn.example.com;\n  hls_acodec mp3;\n  hls_vcodec vn;\n\
             hls_cleanup off;\n  hls_dispose 0;\n  hls_wait_keyframe off;\n }\n}",
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            c.vhosts[0].hls,
            Hls {
                enabled: true,
                hls_fragment: Duration::from_millis(2500),
                hls_td_ratio: Ratio::new(1.5).unwrap(),
                hls_aof_ratio: Ratio::new(0.8).unwrap(),
                hls_window: Duration::from_secs(20),
                hls_on_error: HlsOnError::Disconnect,
                hls_path: PathBuf::from("/srv/hls"),
                hls_m3u8_file: "[vhost]/[app]/[stream]/index.m3u8".into(),
                hls_ts_file: "[app]/[stream]/[timestamp]-[seq].ts".into(),
                hls_ts_floor: true,
                hls_entry_prefix: Some("https://cdn.example.com".into()),
                hls_acodec: HlsAcodec::Mp3,
                hls_vcodec: HlsVcodec::Vn,
                hls_cleanup: false,
                hls_dispose: None,
                hls_wait_keyframe: false,
            }
        );
        let h = |body: &str| {
            parse(&format!("vhost a {{ hls {{ {body} }} }}")).vhosts[0]
                .hls
                .clone()
        };
        assert_eq!(h("hls_on_error ignore;").hls_on_error, HlsOnError::Ignore);
        assert_eq!(
            h("hls_on_error continue;").hls_on_error,
            HlsOnError::Continue
        );
        assert_eq!(h("hls_acodec an;").hls_acodec, HlsAcodec::An);
        assert_eq!(h("hls_acodec aac;").hls_acodec, HlsAcodec::Aac);
        assert_eq!(h("hls_vcodec h264;").hls_vcodec, HlsVcodec::H264);
        assert_eq!(h("hls_entry_prefix \"\";").hls_entry_prefix, None);
        assert_eq!(
            h("hls_dispose 30;").hls_dispose,
            Some(Duration::from_secs(30))
        );
        // The window may equal one fragment.
        assert_eq!(h("hls_fragment 60;").hls_window, Duration::from_secs(60));
        // Reload diffing sees the block.
        let a = parse("vhost a { hls { hls_window 30; } }");
        let b = parse("vhost a { hls { hls_window 31; } }");
        assert_ne!(a, b);
        assert_ne!(a.vhosts[0], b.vhosts[0]);
    }

    #[test]
    fn hls_errors() {
        let e = |body: &str| error(&format!("vhost a {{\n hls {{\n  {body}\n }}\n}}"));
        assert_eq!(
            e("hls_fragment 0;"),
            "x.conf:3: invalid value \"0\" for \"hls_fragment\": expected a number of seconds above 0, at most 86400"
        );
        assert_eq!(
            e("hls_fragment -1;"),
            "x.conf:3: invalid value \"-1\" for \"hls_fragment\": expected a number of seconds above 0, at most 86400"
        );
        assert_eq!(
            e("hls_window 1e3;"),
            "x.conf:3: invalid value \"1e3\" for \"hls_window\": expected a number of seconds above 0, at most 86400"
        );
        assert_eq!(
            e("hls_window 5;"),
            "x.conf:3: hls_window 5s is shorter than hls_fragment 10s"
        );
        assert_eq!(
            e("hls_fragment 90;"),
            "x.conf:3: hls_fragment 90s is longer than hls_window 60s (the default)"
        );
        assert_eq!(
            error("vhost a {\n hls {\n  hls_fragment 4;\n  hls_window 3.5;\n }\n}"),
            "x.conf:4: hls_window 3.5s is shorter than hls_fragment 4s"
        );
        assert_eq!(
            e("hls_td_ratio 0.5;"),
            "x.conf:3: invalid value \"0.5\" for \"hls_td_ratio\": expected a number between 1 and 100"
        );
        assert_eq!(
            e("hls_aof_ratio 0;"),
            "x.conf:3: invalid value \"0\" for \"hls_aof_ratio\": expected a number above 0, at most 100"
        );
        assert_eq!(
            e("hls_aof_ratio nan;"),
            "x.conf:3: invalid value \"nan\" for \"hls_aof_ratio\": expected a number above 0, at most 100"
        );
        assert_eq!(
            e("hls_on_error retry;"),
            "x.conf:3: invalid value \"retry\" for \"hls_on_error\": expected ignore, disconnect or continue"
        );
        assert_eq!(
            e("hls_acodec opus;"),
            "x.conf:3: invalid value \"opus\" for \"hls_acodec\": expected aac, mp3 or an"
        );
        assert_eq!(
            e("hls_vcodec hevc;"),
            "x.conf:3: invalid value \"hevc\" for \"hls_vcodec\": expected h264 or vn"
        );
        assert_eq!(
            e("hls_dispose -5;"),
            "x.conf:3: invalid value \"-5\" for \"hls_dispose\": expected a whole number"
        );
        assert_eq!(
            e("hls_dispose 1.5;"),
            "x.conf:3: invalid value \"1.5\" for \"hls_dispose\": expected a whole number"
        );
        assert_eq!(
            e("hls_ts_file \"\";"),
            "x.conf:3: directive \"hls_ts_file\" needs a non-empty value"
        );
        assert_eq!(
            e("hls_path \"\";"),
            "x.conf:3: directive \"hls_path\" needs a non-empty path"
        );
        assert_eq!(
            e("hls_cleanup maybe;"),
            "x.conf:3: invalid value \"maybe\" for \"hls_cleanup\": expected on or off"
        );
        assert_eq!(
            e("hls_fragmnet 10;"),
            "x.conf:3: unknown directive \"hls_fragmnet\" in vhost.hls"
        );
        assert_eq!(
            error("vhost a {\n hls { hls_fragment 5; }\n hls {\n  hls_fragment 6;\n }\n}"),
            "x.conf:4: duplicate directive \"hls_fragment\" (first set at x.conf:2)"
        );
        assert_eq!(
            error("vhost a {\n hls on;\n}"),
            "x.conf:2: directive \"hls\" must be a block { ... }"
        );
    }

    #[test]
    fn http_remux_defaults_and_settings() {
        let r = &parse("vhost a { http_remux { } }").vhosts[0].http_remux;
        assert_eq!(*r, HttpRemux::default());
        assert_eq!(
            parse("vhost a {}").vhosts[0].http_remux,
            HttpRemux::default()
        );
        assert!(!r.enabled);
        assert_eq!(r.mount, "[vhost]/[app]/[stream].flv");
        assert_eq!(r.fast_cache, Duration::ZERO);
        assert!(r.drop_if_not_match && r.has_audio && r.has_video && r.guess_has_av);

        let c = parse(
            "vhost a {\n http_remux {\n  enabled on;\n  mount /[app]/[stream].ts;\n  fast_cache 0;\n\
             drop_if_not_match off;\n  has_audio off;\n  has_video off;\n  guess_has_av off;\n }\n}",
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert_eq!(
            c.vhosts[0].http_remux,
            HttpRemux {
                enabled: true,
                mount: "/[app]/[stream].ts".into(),
                fast_cache: Duration::ZERO,
                drop_if_not_match: false,
                has_audio: false,
                has_video: false,
                guess_has_av: false,
            }
        );
        // HTTP-FLV next to HLS is fine.
        let c = parse("vhost a { hls { enabled on; } http_remux { enabled on; } }");
        assert!(c.vhosts[0].hls.enabled && c.vhosts[0].http_remux.enabled);
        // Reload diffing sees the block.
        let a = parse("vhost a { http_remux { mount [app]/[stream].flv; } }");
        assert_ne!(a, parse("vhost a { http_remux { } }"));
    }

    #[test]
    fn http_remux_errors() {
        let e = |body: &str| error(&format!("vhost a {{\n http_remux {{\n  {body}\n }}\n}}"));
        assert_eq!(
            e("mount [vhost]/[app]/[stream];"),
            "x.conf:3: invalid value \"[vhost]/[app]/[stream]\" for \"mount\": expected a path ending in .flv or .ts, such as [vhost]/[app]/[stream].flv"
        );
        assert_eq!(
            e("mount [vhost]/[app]/[stream].mp3;"),
            "x.conf:3: invalid value \"[vhost]/[app]/[stream].mp3\" for \"mount\": expected a path ending in .flv or .ts (srs-rs does not serve .mp3 or .aac streams)"
        );
        assert_eq!(
            e("mount \"\";"),
            "x.conf:3: directive \"mount\" needs a non-empty value"
        );
        assert_eq!(
            e("fast_cache -1;"),
            "x.conf:3: invalid value \"-1\" for \"fast_cache\": expected a number of seconds between 0 and 86400"
        );
        assert_eq!(
            e("has_audio 1;"),
            "x.conf:3: invalid value \"1\" for \"has_audio\": expected on or off"
        );
        assert_eq!(
            e("hstrs on;"),
            "x.conf:3: unknown directive \"hstrs\" in vhost.http_remux"
        );
        assert_eq!(
            error("vhost a {\n http_remux { enabled on; }\n http_remux {\n  enabled off;\n }\n}"),
            "x.conf:4: duplicate directive \"enabled\" (first set at x.conf:2)"
        );
        // SRS refuses HTTP-TS and HLS together in one vhost.
        assert_eq!(
            error("vhost a {\n hls {\n  enabled on;\n }\n http_remux {\n  enabled on;\n  mount [vhost]/[app]/[stream].ts;\n }\n}"),
            "x.conf:7: HTTP-TS mount \"[vhost]/[app]/[stream].ts\" conflicts with hls enabled at x.conf:3: SRS allows one of them per vhost"
        );
        // Unless one of them is off.
        parse(
            "vhost a { hls { enabled off; } http_remux { enabled on; mount [app]/[stream].ts; } }",
        );
        parse("vhost a { hls { enabled on; } http_remux { mount [app]/[stream].ts; } }");
    }
}
