//! The master of the process tree (DESIGN.md): starts backsource, the stream workers and
//! httpd (fork+exec of this binary with `--role`), hands them the listening sockets it bound,
//! restarts a child that dies, relays stream announcements from backsource to the readers,
//! answers `srs-cli`, and turns signals into reloads and stops. It never touches media.

use crate::listen::{self, Port};
use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use srs_conf::{Config, WorkerProcesses};
use srs_ipc::control::{
    FromMaster, ProcessInfo, PullRequest, Role, StreamKey, StreamUp, ToMaster, WorkerStats,
};
use srs_ipc::link::Link;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

/// How many deaths within [`DEATH_WINDOW`] still get an immediate restart.
const QUICK_RESTARTS: usize = 3;
/// Window for counting deaths.
const DEATH_WINDOW: Duration = Duration::from_secs(10);
/// Longest wait between restarts of a child that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long children get to stop on a fast stop before SIGKILL.
const FAST_STOP_WAIT: Duration = Duration::from_secs(3);

/// File names inside the run directory.
pub fn master_socket(run_dir: &Path) -> PathBuf {
    run_dir.join("master.sock")
}

/// The config the children run: the master's validated config, includes resolved, printed
/// to one file. Children never read the operator's file themselves, so a file edited (or
/// half-written) after the master validated it cannot reach them.
pub fn config_snapshot(run_dir: &Path) -> PathBuf {
    run_dir.join("config.snapshot")
}

/// Load and validate a config file, and write the snapshot the children will read
/// (atomically: a child starting at the same moment reads the old or the new one).
fn load_and_snapshot(path: Option<&Path>, run_dir: &Path) -> anyhow::Result<Config> {
    let tree = match path {
        Some(p) => srs_conf::load_tree(p)?,
        None => srs_conf::parse_str(srs_conf::BUILTIN_CONF, "conf/srs.conf")?,
    };
    let config = Config::from_tree(&tree)?;
    let snap = config_snapshot(run_dir);
    let tmp = snap.with_extension("tmp");
    std::fs::write(&tmp, srs_conf::to_text(&tree))
        .with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &snap).with_context(|| format!("rename to {}", snap.display()))?;
    Ok(config)
}

/// The connection counters shared by the stream workers.
pub fn counters_file(run_dir: &Path) -> PathBuf {
    run_dir.join("connections")
}

/// Backsource's handover socket.
pub fn handover_socket(run_dir: &Path) -> PathBuf {
    run_dir.join("backsource.sock")
}

/// The shared-memory directory of a tree: unique per run directory, so two servers with
/// different run directories never share rings, and a restart finds its own leftovers.
pub fn ring_dir(run_dir: &Path) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let abs = std::fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    abs.hash(&mut h);
    PathBuf::from(format!("/dev/shm/srs-rs-{:016x}", h.finish()))
}

/// Create the ring directory, removing the rings an earlier run left there.
pub fn fresh_dir(ring_dir: &Path) -> anyhow::Result<()> {
    if ring_dir.exists() {
        let n = std::fs::read_dir(ring_dir).map(|d| d.count()).unwrap_or(0);
        warn!(dir = %ring_dir.display(), files = n, "removing rings left by an earlier run");
        std::fs::remove_dir_all(ring_dir)
            .with_context(|| format!("clean {}", ring_dir.display()))?;
    }
    std::fs::create_dir_all(ring_dir).with_context(|| format!("create {}", ring_dir.display()))?;
    info!(dir = %ring_dir.display(), "stream rings in");
    Ok(())
}

/// Number of stream workers a config asks for.
pub fn worker_count(c: &Config) -> u32 {
    match c.worker_processes {
        WorkerProcesses::Count(n) => n.get(),
        WorkerProcesses::Auto => std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
    }
}

type Key = (Role, u32);

/// One child slot.
struct Slot {
    pid: u32,
    started: Instant,
    restarts: u32,
    deaths: VecDeque<Instant>,
    api_port: u16,
    stats: WorkerStats,
    /// When `stats` arrived, and the rates computed from the previous heartbeat.
    stats_at: Option<Instant>,
    kbps: (u64, u64),
    link: Option<mpsc::UnboundedSender<(FromMaster, Vec<OwnedFd>)>>,
    /// Being stopped on purpose: do not restart.
    retiring: bool,
    /// The reload generation it started with.
    config_gen: u64,
    /// How many RTMP listeners it inherited.
    listeners_at_spawn: usize,
    /// When to restart (after a death, with back-off).
    restart_at: Option<tokio::time::Instant>,
}

impl Slot {
    /// A slot for a child not started yet.
    fn new() -> Self {
        Slot {
            pid: 0,
            started: Instant::now(),
            restarts: 0,
            deaths: VecDeque::new(),
            api_port: 0,
            stats: WorkerStats::default(),
            stats_at: None,
            kbps: (0, 0),
            link: None,
            retiring: false,
            restart_at: None,
            config_gen: 0,
            listeners_at_spawn: 0,
        }
    }
}

enum Event {
    Exited {
        key: Key,
        pid: u32,
        status: String,
    },
    Registered {
        key: Key,
        pid: u32,
        api_port: u16,
        link: mpsc::UnboundedSender<(FromMaster, Vec<OwnedFd>)>,
    },
    FromChild {
        key: Key,
        pid: u32,
        msg: ToMaster,
    },
    LinkClosed {
        key: Key,
        pid: u32,
    },
    Request {
        msg: ToMaster,
        reply: oneshot::Sender<FromMaster>,
    },
}

/// The running tree.
pub struct Tree {
    config: Config,
    config_path: Option<PathBuf>,
    exe: PathBuf,
    run_dir: PathBuf,
    ring_dir: PathBuf,
    /// The RTMP ports, each a group of sockets, one per stream worker.
    ports: Vec<Port>,
    /// Sockets of a dead worker (by index) lent to a live one (the key) until the dead
    /// one is back: the connections queued on them are served meanwhile.
    lent: BTreeMap<u32, Key>,
    /// HTTP listeners for httpd: ("api" | "server" | "both", socket).
    http: Vec<(&'static str, std::net::TcpListener)>,
    slots: BTreeMap<Key, Slot>,
    streams: HashMap<srs_ipc::control::StreamKey, StreamUp>,
    /// Streams of edge vhosts that readers want pulled: the first request, and which
    /// readers want it. Backsource pulls while the set is not empty.
    demands: HashMap<StreamKey, (PullRequest, BTreeSet<Key>)>,
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
    ready_logged: bool,
    /// Bumped by every successful reload.
    config_gen: u64,
    /// When the master started.
    started: Instant,
}

impl Tree {
    /// Prepare the tree: run and ring directories (leftovers of a crashed run removed).
    pub fn new(
        config: Config,
        config_path: Option<PathBuf>,
        ports: Vec<Port>,
    ) -> anyhow::Result<Tree> {
        let run_dir = config.run_dir.clone();
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("run_dir {}", run_dir.display()))?;
        // What the children get is what the master runs: the snapshot's config.
        let config = load_and_snapshot(config_path.as_deref(), &run_dir)?;
        srs_ipc::counters::SharedCounters::create(&counters_file(&run_dir))
            .with_context(|| format!("create {}", counters_file(&run_dir).display()))?;
        let ring_dir = ring_dir(&run_dir);
        fresh_dir(&ring_dir)?;
        let exe = std::env::current_exe().context("own executable")?;
        let (events_tx, events) = mpsc::unbounded_channel();
        Ok(Tree {
            config,
            config_path,
            exe,
            run_dir,
            ring_dir,
            ports,
            lent: BTreeMap::new(),
            http: Vec::new(),
            slots: BTreeMap::new(),
            streams: HashMap::new(),
            demands: HashMap::new(),
            events_tx,
            events,
            ready_logged: false,
            config_gen: 0,
            started: Instant::now(),
        })
    }

    /// Bind the HTTP API and HTTP server ports of `config` (one socket when they share an
    /// address) for httpd.
    pub fn bind_http(&mut self) -> anyhow::Result<()> {
        let c = &self.config;
        let api = c.http_api.enabled.then_some(c.http_api.listen);
        let server = c.http_server.enabled.then_some(c.http_server.listen);
        let mut http = Vec::new();
        match (api, server) {
            (Some(a), Some(s)) if a == s => http.push((
                "both",
                listen::bind(a, false).with_context(|| format!("http listen {a}"))?,
            )),
            (a, s) => {
                if let Some(a) = a {
                    http.push((
                        "api",
                        listen::bind(a, false).with_context(|| format!("http_api listen {a}"))?,
                    ));
                }
                if let Some(s) = s {
                    http.push((
                        "server",
                        listen::bind(s, false)
                            .with_context(|| format!("http_server listen {s}"))?,
                    ));
                }
            }
        }
        for (what, l) in &http {
            if let Ok(addr) = l.local_addr() {
                info!(%addr, what, "HTTP listening");
            }
        }
        self.http = http;
        Ok(())
    }

    fn wanted(&self) -> Vec<Key> {
        let mut v = vec![(Role::Backsource, 0)];
        v.extend((0..worker_count(&self.config)).map(|i| (Role::StreamWorker, i)));
        v.push((Role::Httpd, 0));
        v
    }

    /// Start a child for `key`.
    fn spawn(&mut self, key: Key) {
        let (role, index) = key;
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.arg("--role")
            .arg(role.name())
            .arg("--index")
            .arg(index.to_string());
        cmd.arg("-c").arg(config_snapshot(&self.run_dir));
        if let Some(p) = &self.config_path {
            cmd.env("SRS_CONFIG_FILE", p);
        }
        cmd.env("SRS_RUN_DIR", &self.run_dir)
            .env("SRS_RING_DIR", &self.ring_dir);
        let fds: Vec<RawFd> = match role {
            Role::StreamWorker => self
                .ports
                .iter()
                .filter_map(|p| p.sockets.get(index as usize))
                .map(|l| l.as_raw_fd())
                .collect(),
            Role::Httpd => self.http.iter().map(|(_, l)| l.as_raw_fd()).collect(),
            _ => Vec::new(),
        };
        if role == Role::Httpd {
            cmd.env(
                "SRS_HTTP_FDS",
                self.http
                    .iter()
                    .map(|(what, l)| format!("{what}={}", l.as_raw_fd()))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        cmd.env(
            "SRS_LISTEN_FDS",
            fds.iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        let master_pid = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec; it only makes
        // async-signal-safe system calls (prctl, fcntl, getppid) and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                // Die with the master: no orphans if it is killed.
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
                if nix::unistd::getppid().as_raw() as u32 != master_pid {
                    // The master died before prctl took effect.
                    return Err(std::io::Error::other("master gone"));
                }
                for fd in &fds {
                    // Keep the listening sockets open across exec (they were bound CLOEXEC).
                    // SAFETY: these descriptors belong to the master's listeners, alive here.
                    let fd = std::os::fd::BorrowedFd::borrow_raw(*fd);
                    nix::fcntl::fcntl(
                        fd.as_raw_fd(),
                        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                    )
                    .map_err(std::io::Error::from)?;
                }
                Ok(())
            });
        }
        cmd.kill_on_drop(false);
        match cmd.spawn() {
            Ok(mut child) => {
                let pid = child.id().unwrap_or(0);
                info!(role = role.name(), index, pid, "child started");
                let slot = self.slots.entry(key).or_insert_with(Slot::new);
                slot.pid = pid;
                slot.started = Instant::now();
                slot.restart_at = None;
                slot.link = None;
                slot.stats = WorkerStats::default();
                slot.stats_at = None;
                slot.kbps = (0, 0);
                slot.config_gen = self.config_gen;
                slot.listeners_at_spawn = self.ports.len();
                let tx = self.events_tx.clone();
                tokio::spawn(async move {
                    let status = match child.wait().await {
                        Ok(s) => s.to_string(),
                        Err(e) => format!("wait failed: {e}"),
                    };
                    let _ = tx.send(Event::Exited { key, pid, status });
                });
            }
            Err(e) => {
                error!(role = role.name(), index, "cannot start child: {e}");
                // The slot must exist for its restart to be scheduled.
                self.slots.entry(key).or_insert_with(Slot::new);
                self.schedule_restart(key);
            }
        }
    }

    fn schedule_restart(&mut self, key: Key) {
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        let now = Instant::now();
        slot.deaths.push_back(now);
        while slot
            .deaths
            .front()
            .is_some_and(|t| now.duration_since(*t) > DEATH_WINDOW)
        {
            slot.deaths.pop_front();
        }
        let n = slot.deaths.len();
        let delay = if n <= QUICK_RESTARTS {
            Duration::ZERO
        } else {
            let d = Duration::from_secs(1 << (n - QUICK_RESTARTS - 1).min(5)).min(MAX_BACKOFF);
            warn!(
                role = key.0.name(),
                index = key.1,
                deaths = n,
                backoff_s = d.as_secs(),
                "child keeps dying, backing off"
            );
            d
        };
        slot.restarts += 1;
        slot.pid = 0;
        slot.restart_at = Some(tokio::time::Instant::now() + delay);
    }

    /// Hand worker `key` its sockets of the RTMP ports from index `first` on (a reload
    /// added ports).
    fn send_listeners(&self, key: &Key, first: usize) {
        self.send_sockets(key, key.1, first, FromMaster::Listen);
    }

    /// Send worker `to` the sockets of worker `of` in the ports from index `first` on, in
    /// messages made by `msg` from the addresses (descriptors attached, in batches the
    /// descriptor-passing limit allows).
    fn send_sockets(
        &self,
        to: &Key,
        of: u32,
        first: usize,
        msg: impl Fn(Vec<String>) -> FromMaster,
    ) {
        let Some(tx) = self.slots.get(to).and_then(|s| s.link.as_ref()) else {
            return;
        };
        for batch in self.ports[first..].chunks(srs_ipc::fdpass::MAX_FDS) {
            let mut fds = Vec::new();
            let mut names = Vec::new();
            for p in batch {
                let Some(l) = p.sockets.get(of as usize) else {
                    continue;
                };
                match l.as_fd().try_clone_to_owned() {
                    Ok(fd) => {
                        fds.push(fd);
                        names.push(p.addr.to_string());
                    }
                    Err(e) => error!(index = to.1, "cannot share a port: {e}"),
                }
            }
            let _ = tx.send((msg(names), fds));
        }
    }

    /// Worker `index` is down: lend its sockets to a live worker, so that the connections
    /// queued on them (and those the kernel keeps sending there) are served until it is
    /// back. Nobody to lend to (one worker): they wait in the queue for its restart.
    fn lend(&mut self, index: u32) {
        // The least busy live worker.
        let borrower = self
            .slots
            .iter()
            .filter(|(k, s)| {
                k.0 == Role::StreamWorker && k.1 != index && s.link.is_some() && !s.retiring
            })
            .min_by_key(|(_, s)| s.stats.connections)
            .map(|(k, _)| *k);
        let Some(to) = borrower else {
            return;
        };
        if (index as usize) >= self.ports.first().map_or(0, |p| p.sockets.len()) {
            return;
        }
        info!(
            index,
            borrower = to.1,
            "lending a dead worker's sockets until it is back"
        );
        self.send_sockets(&to, index, 0, |addrs| FromMaster::Adopt { index, addrs });
        self.lent.insert(index, to);
    }

    /// Worker `index` is back (or gone for good): whoever borrowed its sockets lets go.
    fn take_back(&mut self, index: u32) {
        if let Some(to) = self.lent.remove(&index) {
            self.send(&to, FromMaster::Release { index });
        }
    }

    /// A reader is gone: it wants nothing any more.
    fn forget_demands(&mut self, reader: Key) {
        let mut gone = Vec::new();
        for (id, (_, who)) in self.demands.iter_mut() {
            if who.remove(&reader) && who.is_empty() {
                gone.push(id.clone());
            }
        }
        for id in gone {
            self.demands.remove(&id);
            self.send(&(Role::Backsource, 0), FromMaster::Unpull(id));
        }
    }

    fn send(&self, key: &Key, msg: FromMaster) {
        if let Some(tx) = self.slots.get(key).and_then(|s| s.link.as_ref()) {
            let _ = tx.send((msg, Vec::new()));
        }
    }

    fn broadcast_readers(&self, msg: &FromMaster) {
        for (key, _) in self.slots.iter().filter(|(k, _)| k.0 != Role::Backsource) {
            self.send(key, msg.clone());
        }
    }

    /// The periodic stats lines (`pithy_print_ms`): one per process, and the totals.
    fn pithy_print(&self) {
        let procs = self.processes();
        let (mut conns, mut kin, mut kout, mut rss) = (0, 0, 0, 0);
        for p in procs.iter().filter(|p| p.role != Role::Master) {
            info!(
                role = p.role.name(),
                index = p.index,
                pid = p.pid,
                conns = p.stats.connections,
                streams = p.stats.streams,
                kbps_in = p.kbps_in,
                kbps_out = p.kbps_out,
                rss_kib = p.stats.rss_kib,
                "pithy"
            );
            conns += p.stats.connections;
            kin += p.kbps_in;
            kout += p.kbps_out;
            rss += p.stats.rss_kib;
        }
        info!(
            conns,
            kbps_in = kin,
            kbps_out = kout,
            rss_kib = rss,
            uptime_s = self.started.elapsed().as_secs(),
            "pithy: server"
        );
    }

    fn processes(&self) -> Vec<ProcessInfo> {
        let mut v = vec![ProcessInfo {
            role: Role::Master,
            index: 0,
            pid: std::process::id(),
            api_port: 0,
            uptime_s: self.started.elapsed().as_secs(),
            restarts: 0,
            stats: WorkerStats {
                rss_kib: srs_ipc::link::own_rss_kib(),
                ..Default::default()
            },
            kbps_in: 0,
            kbps_out: 0,
        }];
        v.extend(self.slots.iter().map(|((role, index), s)| ProcessInfo {
            role: *role,
            index: *index,
            pid: s.pid,
            api_port: s.api_port,
            uptime_s: if s.pid == 0 {
                0
            } else {
                s.started.elapsed().as_secs()
            },
            restarts: s.restarts,
            stats: s.stats.clone(),
            kbps_in: s.kbps.0,
            kbps_out: s.kbps.1,
        }));
        v
    }

    fn all_registered(&self) -> bool {
        self.wanted()
            .iter()
            .all(|k| self.slots.get(k).is_some_and(|s| s.link.is_some()))
    }

    /// Run the tree until a stop. Signals: HUP reload, TERM/INT fast stop (graceful with
    /// `force_grace_quit`), QUIT graceful stop.
    pub async fn run(mut self, sig: crate::Signals) -> anyhow::Result<()> {
        let crate::Signals {
            mut term,
            mut int,
            mut quit,
            mut hup,
            mut usr1,
        } = sig;
        let sock_path = master_socket(&self.run_dir);
        let _ = std::fs::remove_file(&sock_path);
        let control = UnixListener::bind(&sock_path)
            .with_context(|| format!("control socket {}", sock_path.display()))?;
        tokio::spawn(accept_links(control, self.events_tx.clone()));
        for key in self.wanted() {
            self.spawn(key);
        }
        let mut pithy = tokio::time::interval(self.config.pithy_print);
        pithy.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let graceful = loop {
            let next_restart = self
                .slots
                .iter()
                .filter_map(|(k, s)| s.restart_at.map(|t| (t, *k)))
                .min();
            tokio::select! {
                _ = term.recv() => {
                    info!("SIGTERM: {}", if self.config.force_grace_quit { "graceful stop (force_grace_quit)" } else { "fast stop" });
                    break self.config.force_grace_quit;
                }
                _ = int.recv() => { info!("SIGINT: fast stop"); break false; }
                _ = quit.recv() => { info!("SIGQUIT: graceful stop"); break true; }
                _ = hup.recv() => self.reload(),
                _ = pithy.tick() => self.pithy_print(),
                _ = usr1.recv() => {
                    // logrotate moved the file: the master and every child reopen it.
                    match crate::logging::reopen() {
                        Ok(()) => info!("SIGUSR1: log file reopened"),
                        Err(e) => error!("SIGUSR1: cannot reopen the log file: {e}"),
                    }
                    // Only children that registered: their handler is installed by then
                    // (SIGUSR1's default would kill one still starting).
                    for s in self.slots.values().filter(|s| s.pid > 0 && s.link.is_some()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(s.pid as i32),
                            nix::sys::signal::Signal::SIGUSR1,
                        );
                    }
                }
                _ = async {
                    match next_restart {
                        Some((t, _)) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some((_, key)) = next_restart {
                        if self.slots.get(&key).is_some_and(|s| s.retiring) {
                            // A reload removed it while it waited to come back.
                            self.slots.remove(&key);
                        } else {
                            info!(role = key.0.name(), index = key.1, "restarting child");
                            self.spawn(key);
                        }
                    }
                }
                ev = self.events.recv() => {
                    if let Some(ev) = ev {
                        if let Some(stop) = self.on_event(ev) {
                            break stop;
                        }
                    }
                }
            }
        };
        self.stop(graceful).await;
        Ok(())
    }

    /// Handle one event; `Some(graceful)` asks for a stop.
    fn on_event(&mut self, ev: Event) -> Option<bool> {
        match ev {
            Event::Exited { key, pid, status } => {
                let Some(slot) = self.slots.get_mut(&key) else {
                    return None;
                };
                if slot.pid != pid {
                    return None;
                }
                slot.link = None;
                let retiring = slot.retiring;
                if key.0 == Role::StreamWorker {
                    // What it had borrowed goes to another live worker.
                    let borrowed: Vec<u32> = self
                        .lent
                        .iter()
                        .filter(|(_, to)| **to == key)
                        .map(|(i, _)| *i)
                        .collect();
                    for i in borrowed {
                        self.lent.remove(&i);
                        self.lend(i);
                    }
                }
                if key.0 != Role::Backsource {
                    self.forget_demands(key);
                }
                if retiring {
                    info!(role = key.0.name(), index = key.1, pid, %status, "child stopped");
                    self.slots.remove(&key);
                    return None;
                }
                warn!(role = key.0.name(), index = key.1, pid, %status, "child died, restarting");
                if key.0 == Role::StreamWorker {
                    self.lend(key.1);
                }
                if key.0 == Role::Backsource {
                    // Its rings are dead: remove them, so readers see their files gone
                    // (`is_stale`), and the next backsource starts clean.
                    if let Ok(dir) = std::fs::read_dir(&self.ring_dir) {
                        for f in dir.flatten() {
                            let _ = std::fs::remove_file(f.path());
                        }
                    }
                    // Its streams died with it: tell the readers.
                    for (id, _) in self.streams.drain() {
                        let msg = FromMaster::StreamDown(id);
                        for (k, s) in self.slots.iter().filter(|(k, _)| k.0 != Role::Backsource) {
                            if let Some(tx) = &s.link {
                                let _ = tx.send((msg.clone(), Vec::new()));
                            }
                            let _ = k;
                        }
                    }
                }
                self.schedule_restart(key);
            }
            Event::Registered {
                key,
                pid,
                api_port,
                link,
            } => {
                let Some(slot) = self.slots.get_mut(&key) else {
                    warn!(
                        role = key.0.name(),
                        index = key.1,
                        pid,
                        "registration from an unknown child"
                    );
                    return None;
                };
                if slot.pid != pid {
                    // The registration of a child that already died (its Exited came first).
                    return None;
                }
                slot.api_port = api_port;
                slot.link = Some(link);
                if slot.retiring {
                    // Asked to stop while it was still starting.
                    let grace_ms = self.config.grace_final_wait.as_millis() as u64;
                    self.send(
                        &key,
                        FromMaster::Stop {
                            graceful: true,
                            grace_ms,
                        },
                    );
                    return None;
                }
                // It started before the last reload took effect: bring it up to date.
                let (spawn_gen, spawn_listeners) = (slot.config_gen, slot.listeners_at_spawn);
                if spawn_gen != self.config_gen {
                    self.send(&key, FromMaster::Reload);
                }
                if key.0 == Role::StreamWorker {
                    if self.ports.len() > spawn_listeners {
                        self.send_listeners(&key, spawn_listeners);
                    }
                    // Its sockets are its own again.
                    self.take_back(key.1);
                }
                info!(
                    role = key.0.name(),
                    index = key.1,
                    pid,
                    api_port,
                    "child registered"
                );
                if key.0 != Role::Backsource {
                    let streams = self.streams.values().cloned().collect();
                    self.send(&key, FromMaster::Welcome { streams });
                } else {
                    // A new backsource: what readers want pulled, again.
                    let pulls: Vec<PullRequest> =
                        self.demands.values().map(|(r, _)| r.clone()).collect();
                    for req in pulls {
                        self.send(&key, FromMaster::Pull(req));
                    }
                }
                if !self.ready_logged && self.all_registered() {
                    self.ready_logged = true;
                    info!(
                        workers = worker_count(&self.config),
                        "srs-rs ready: every child registered"
                    );
                }
            }
            Event::LinkClosed { key, pid } => {
                if let Some(s) = self.slots.get_mut(&key).filter(|s| s.pid == pid) {
                    s.link = None;
                }
            }
            // A message from a child that has since died (and maybe been replaced) is stale:
            // a dead backsource's StreamUp must not announce a stream that no longer exists.
            Event::FromChild { key, pid, .. }
                if self.slots.get(&key).map_or(true, |s| s.pid != pid) =>
            {
                warn!(
                    role = key.0.name(),
                    index = key.1,
                    pid,
                    "message from a dead child, ignored"
                );
            }
            Event::FromChild { key, msg, .. } => match msg {
                ToMaster::Heartbeat(stats) => {
                    if let Some(s) = self.slots.get_mut(&key) {
                        let now = Instant::now();
                        if let Some(at) = s.stats_at {
                            let ms = now.duration_since(at).as_millis().max(1) as u64;
                            let rate = |new: u64, old: u64| new.saturating_sub(old) * 8 / ms;
                            s.kbps = (
                                rate(stats.bytes_in, s.stats.bytes_in),
                                rate(stats.bytes_out, s.stats.bytes_out),
                            );
                        }
                        s.stats = stats;
                        s.stats_at = Some(now);
                    }
                }
                ToMaster::StreamUp(up) if key.0 == Role::Backsource => {
                    info!(stream = %up.key, generation = up.generation, "stream up");
                    self.streams.insert(up.key.clone(), up.clone());
                    self.broadcast_readers(&FromMaster::StreamUp(up));
                }
                ToMaster::StreamDown(id) if key.0 == Role::Backsource => {
                    self.streams.remove(&id);
                    self.broadcast_readers(&FromMaster::StreamDown(id));
                }
                ToMaster::PullFailed { key: id, reason } if key.0 == Role::Backsource => {
                    self.broadcast_readers(&FromMaster::PullFailed { key: id, reason });
                }
                ToMaster::Want(req) if key.0 != Role::Backsource => {
                    let entry = self
                        .demands
                        .entry(req.key.clone())
                        .or_insert_with(|| (req.clone(), BTreeSet::new()));
                    let first = entry.1.is_empty();
                    entry.1.insert(key);
                    if first {
                        info!(stream = %req.key, "edge stream wanted: pull");
                        self.send(&(Role::Backsource, 0), FromMaster::Pull(req));
                    }
                }
                ToMaster::Unwant(id) if key.0 != Role::Backsource => {
                    let empty = self.demands.get_mut(&id).is_some_and(|(_, who)| {
                        who.remove(&key);
                        who.is_empty()
                    });
                    if empty {
                        self.demands.remove(&id);
                        info!(stream = %id, "edge stream no longer wanted");
                        self.send(&(Role::Backsource, 0), FromMaster::Unpull(id));
                    }
                }
                other => {
                    warn!(role = key.0.name(), index = key.1, msg = ?other, "unexpected message from a child")
                }
            },
            Event::Request { msg, reply } => {
                let answer = match msg {
                    ToMaster::ListProcesses => FromMaster::Processes(self.processes()),
                    ToMaster::Reload => {
                        self.reload();
                        FromMaster::Ok
                    }
                    ToMaster::Stop { graceful } => {
                        let _ = reply.send(FromMaster::Ok);
                        return Some(graceful);
                    }
                    other => FromMaster::Error(format!("not a request: {other:?}")),
                };
                let _ = reply.send(answer);
            }
        }
        None
    }

    /// SIGHUP: load and validate the config; a broken one is logged with file:line and the
    /// running one kept. Then: new listen ports go to every worker, the worker count is
    /// adjusted, and every child re-reads the file.
    fn reload(&mut self) {
        let Some(path) = self.config_path.clone() else {
            info!("reload: running on the built-in config, nothing to reload");
            return;
        };
        let new = match load_and_snapshot(Some(&path), &self.run_dir) {
            Ok(c) => c,
            Err(e) => {
                error!("reload failed, keeping the running config: {e:#}");
                return;
            }
        };
        for w in &new.warnings {
            warn!("config {w}");
        }
        // New ports: bind here (a socket per worker), hand to every worker. Removed ports
        // keep accepting until a restart (their sockets are shared with running workers).
        let new_workers = worker_count(&new) as usize;
        let first_new = self.ports.len();
        for addr in &new.listen {
            if self
                .ports
                .iter()
                .any(|p| p.addr == *addr || (addr.port() == 0 && p.addr.ip() == addr.ip()))
            {
                continue;
            }
            let workers = new_workers.max(self.ports.first().map_or(0, |p| p.sockets.len()));
            match Port::bind(*addr, workers) {
                Ok(p) => {
                    info!(addr = %p.addr, sockets = p.sockets.len(), "RTMP listening");
                    self.ports.push(p);
                }
                Err(e) => error!(%addr, "reload: cannot listen: {e:#}"),
            }
        }
        if self.ports.len() > first_new {
            let workers: Vec<Key> = self
                .slots
                .keys()
                .filter(|k| k.0 == Role::StreamWorker)
                .copied()
                .collect();
            for key in workers {
                self.send_listeners(&key, first_new);
            }
        }
        let old_workers = worker_count(&self.config);
        self.config = new;
        self.config_gen += 1;
        let new_workers = worker_count(&self.config);
        // New workers need their sockets before they start. Retired workers' sockets close
        // here (the kernel stops sending them connections once the worker closes its copy
        // too), and whoever borrowed them lets go.
        for p in self.ports.iter_mut() {
            if let Err(e) = p.resize(new_workers as usize) {
                error!("reload: {e:#}");
            }
        }
        for i in new_workers..old_workers {
            self.take_back(i);
        }
        for (_, s) in self.slots.iter() {
            if let Some(tx) = &s.link {
                let _ = tx.send((FromMaster::Reload, Vec::new()));
            }
        }
        for i in old_workers..new_workers {
            let key = (Role::StreamWorker, i);
            if let Some(s) = self.slots.get_mut(&key).filter(|s| s.pid != 0) {
                // Still alive (retiring from an earlier shrink): let it exit; not retiring
                // any more, it is then restarted like any child that ends.
                s.retiring = false;
                continue;
            }
            self.spawn(key);
        }
        for i in new_workers..old_workers {
            let key = (Role::StreamWorker, i);
            if let Some(s) = self.slots.get_mut(&key) {
                s.retiring = true;
            }
            self.send(
                &key,
                FromMaster::Stop {
                    graceful: true,
                    grace_ms: self.config.grace_final_wait.as_millis() as u64,
                },
            );
        }
        info!(config = %path.display(), workers = new_workers, "config reloaded");
    }

    /// Stop every child: graceful lets players finish (bounded), fast does not. Then the
    /// rings and sockets go.
    async fn stop(&mut self, graceful: bool) {
        let grace = self.config.grace_final_wait;
        // Our copies of the listening sockets go first: once the workers stop accepting, the
        // kernel must refuse new clients, not queue them for nobody.
        self.ports.clear();
        self.http.clear();
        if graceful {
            info!(
                wait_ms = self.config.grace_start_wait.as_millis() as u64,
                "graceful stop: waiting before closing the listeners"
            );
            tokio::time::sleep(self.config.grace_start_wait).await;
        }
        for s in self.slots.values_mut() {
            s.retiring = true;
            s.restart_at = None;
        }
        let keys: Vec<Key> = self.slots.keys().copied().collect();
        for key in &keys {
            self.send(
                key,
                FromMaster::Stop {
                    graceful,
                    grace_ms: grace.as_millis() as u64,
                },
            );
        }
        if !graceful {
            for s in self.slots.values() {
                if s.pid != 0 {
                    let _ = kill(Pid::from_raw(s.pid as i32), Signal::SIGTERM);
                }
            }
        }
        let limit = if graceful {
            grace + FAST_STOP_WAIT
        } else {
            FAST_STOP_WAIT
        };
        let deadline = tokio::time::Instant::now() + limit;
        while self.slots.values().any(|s| s.pid != 0) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(Event::Exited { key, pid, status })) => {
                    if let Some(s) = self.slots.get_mut(&key).filter(|s| s.pid == pid) {
                        info!(role = key.0.name(), index = key.1, pid, %status, "child stopped");
                        s.pid = 0;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        for (key, s) in &self.slots {
            if s.pid != 0 {
                warn!(
                    role = key.0.name(),
                    index = key.1,
                    pid = s.pid,
                    "child did not stop, killing it"
                );
                let _ = kill(Pid::from_raw(s.pid as i32), Signal::SIGKILL);
            }
        }
        let _ = std::fs::remove_dir_all(&self.ring_dir);
        let _ = std::fs::remove_file(master_socket(&self.run_dir));
        let _ = std::fs::remove_file(handover_socket(&self.run_dir));
        let _ = std::fs::remove_file(config_snapshot(&self.run_dir));
        let _ = std::fs::remove_file(counters_file(&self.run_dir));
        info!("stopped");
    }
}

/// Accept control links: children register on them; tools ask questions.
async fn accept_links(listener: UnixListener, events: mpsc::UnboundedSender<Event>) {
    loop {
        let sock = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("control accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let events = events.clone();
        tokio::spawn(async move {
            match serve_link(Link::new(sock), events).await {
                Ok(()) => {}
                // A child that went away (a stop, a restart): nothing wrong.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset
                            | std::io::ErrorKind::BrokenPipe
                            | std::io::ErrorKind::UnexpectedEof
                    ) =>
                {
                    info!("control link closed: {e}");
                }
                Err(e) => warn!("control link closed: {e}"),
            }
        });
    }
}

async fn serve_link(mut link: Link, events: mpsc::UnboundedSender<Event>) -> std::io::Result<()> {
    let Some(first) = link.recv::<ToMaster>().await? else {
        return Ok(());
    };
    let ToMaster::Register {
        role,
        index,
        pid,
        api_port,
    } = first
    else {
        // A tool: one request, one answer.
        let (tx, rx) = oneshot::channel();
        let _ = events.send(Event::Request {
            msg: first,
            reply: tx,
        });
        if let Ok(answer) = rx.await {
            link.send(&answer).await?;
        }
        return Ok(());
    };
    let key = (role, index);
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<(FromMaster, Vec<OwnedFd>)>();
    let _ = events.send(Event::Registered {
        key,
        pid,
        api_port,
        link: out_tx,
    });
    let result = loop {
        tokio::select! {
            out = out_rx.recv() => {
                let Some((msg, fds)) = out else { break Ok(()) };
                let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
                let r = if borrowed.is_empty() { link.send(&msg).await } else { link.send_with_fds(&msg, &borrowed).await };
                if let Err(e) = r {
                    break Err(e);
                }
            }
            msg = link.recv::<ToMaster>() => match msg {
                Ok(Some(msg)) => { let _ = events.send(Event::FromChild { key, pid, msg }); }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        }
    };
    let _ = events.send(Event::LinkClosed { key, pid });
    result
}
