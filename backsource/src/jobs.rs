//! The stream's jobs that run as child processes: `transcode` (one ffmpeg per engine for
//! each published stream), `exec` (a command per published stream) and `ingest` (an ffmpeg
//! pulling a source into a live stream, for as long as the server runs). They live in
//! backsource (DESIGN.md: per-stream jobs belong to the process that owns the streams),
//! and share one supervisor ([`Supervised`]):
//!
//! - the program is exec'd by its absolute path (searched in `PATH` when the config gives a
//!   bare name), with no shell, stdout and stderr into its log under `ff_log_dir`;
//! - it dies with backsource (`PR_SET_PDEATHSIG`), so a `kill -9` of the server leaves no
//!   orphan;
//! - it is restarted when it exits: after 3 s when it ran well (a file ingest that ended,
//!   as SRS checks every 3 s), else after 1, 2, 4 ... up to 30 s;
//! - a stop is SIGTERM, then SIGKILL after 1 s.
//!
//! Which jobs a stream has is worked out from the config each time ([`desired`]); a reload
//! compares that with what runs, by name and command line, and starts, stops or restarts
//! the difference.

use srs_conf::{Config, FfEngine, Vhost};
use srs_ipc::control::StreamKey;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{info, warn};

/// A command line to supervise, and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// For logs: `transcode vhost/app/stream sd`, `ingest cam`, ...
    pub name: String,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Its log file (None: discarded).
    pub log: Option<PathBuf>,
}

/// The program's absolute path: as written when absolute, else found in `PATH`.
pub fn resolve_program(p: &Path) -> Option<PathBuf> {
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    if p.components().count() > 1 {
        return std::env::current_dir()
            .ok()
            .map(|d| d.join(p))
            .filter(|x| x.is_file());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(p))
            .find(|x| x.is_file())
    })
}

/// A running supervised child; [`stop`](Self::stop) ends it.
#[derive(Debug)]
pub struct Supervised {
    job: Job,
    stop: watch::Sender<bool>,
    done: tokio::task::JoinHandle<()>,
}

impl Supervised {
    /// Start supervising `job`.
    pub fn start(job: Job) -> Supervised {
        let (tx, rx) = watch::channel(false);
        let j = job.clone();
        let done = tokio::spawn(async move { supervise(j, rx).await });
        Supervised {
            job,
            stop: tx,
            done,
        }
    }

    /// The job.
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// SIGTERM, SIGKILL after 1 s, no restart; resolves when the child is gone.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.done.await;
    }
}

/// Spawn, wait, restart, until told to stop.
async fn supervise(job: Job, mut stop: watch::Receiver<bool>) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        match spawn(&job) {
            Ok(mut child) => {
                let pid = child.id();
                info!(job = %job.name, pid = pid.unwrap_or(0), "job started");
                let exited = tokio::select! {
                    status = child.wait() => Some(status),
                    r = stop.wait_for(|s| *s) => {
                        let _ = r.is_ok();
                        None
                    }
                };
                match exited {
                    None => {
                        terminate(&mut child).await;
                        info!(job = %job.name, "job stopped");
                        return;
                    }
                    Some(status) => {
                        // What it started goes with it.
                        if let Some(pid) = pid {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(-(pid as i32)),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                        let ran = started.elapsed();
                        match status {
                            Ok(s) => {
                                let log = job.log.as_ref().map_or_else(
                                    || "none".to_string(),
                                    |l| l.display().to_string(),
                                );
                                warn!(job = %job.name, %s, ran_ms = ran.as_millis() as u64, log = %log, "job exited, restarting")
                            }
                            Err(e) => warn!(job = %job.name, "job wait failed: {e}"),
                        }
                        if ran > Duration::from_secs(10) {
                            failures = 0;
                        }
                    }
                }
            }
            Err(e) => warn!(job = %job.name, "job not started: {e}"),
        }
        // As SRS checks its ingesters: a job that ran well comes back in 3 s; one that
        // keeps failing waits longer each time (6, 12, 24 s), up to 30 s.
        let delay =
            (Duration::from_secs(3) * (1u32 << failures.min(4))).min(Duration::from_secs(30));
        failures = failures.saturating_add(1);
        let stopped = tokio::select! {
            _ = tokio::time::sleep(delay) => false,
            r = stop.wait_for(|s| *s) => {
                let stopped = r.is_ok();
                stopped
            }
        };
        if stopped {
            return;
        }
    }
}

fn spawn(job: &Job) -> std::io::Result<tokio::process::Child> {
    let (program, args) = job
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("empty command line"))?;
    let (out, err) = match &job.log {
        Some(path) => {
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            (Stdio::from(f.try_clone()?), Stdio::from(f))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true);
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe system calls (setpgid, prctl).
    unsafe {
        cmd.pre_exec(|| {
            // A process group of its own: a stop reaches what a script started too.
            nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))
                .map_err(std::io::Error::from)?;
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}

/// SIGTERM to the job's process group, then SIGKILL after 1 s.
async fn terminate(child: &mut tokio::process::Child) {
    let group = child
        .id()
        .map(|pid| nix::unistd::Pid::from_raw(-(pid as i32)));
    if let Some(g) = group {
        let _ = nix::sys::signal::kill(g, nix::sys::signal::Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(1), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
    // What it started and left behind goes too.
    if let Some(g) = group {
        let _ = nix::sys::signal::kill(g, nix::sys::signal::Signal::SIGKILL);
    }
}

/// SRS's ffmpeg command line for `engine` from `input` (SrsFFMPEG: input format and URL,
/// the filters, the video codec and its settings unless copied or dropped, the same for
/// audio, then the output format and URL).
pub fn ffmpeg_argv(
    ffmpeg: &Path,
    log_level: &str,
    e: &FfEngine,
    input_args: &[String],
    output: &str,
) -> Vec<String> {
    let mut v: Vec<String> = vec![
        ffmpeg.display().to_string(),
        "-loglevel".into(),
        log_level.into(),
    ];
    v.extend(input_args.iter().cloned());
    for (k, val) in &e.vfilter {
        v.push(format!("-{k}"));
        v.extend(val.split_whitespace().map(str::to_string));
    }
    let vcodec = if e.vcodec.is_empty() {
        "copy"
    } else {
        e.vcodec.as_str()
    };
    if vcodec == "vn" {
        v.push("-vn".into());
    } else {
        v.extend(["-vcodec".to_string(), vcodec.to_string()]);
    }
    if vcodec != "copy" && vcodec != "vn" {
        if e.vbitrate > 0 {
            v.extend(["-b:v".to_string(), (e.vbitrate * 1000).to_string()]);
        }
        if !e.vfps.is_empty() && e.vfps != "0" {
            v.extend(["-r".to_string(), e.vfps.clone()]);
        }
        if e.vwidth > 0 && e.vheight > 0 {
            v.extend(["-s".to_string(), format!("{}x{}", e.vwidth, e.vheight)]);
            v.extend(["-aspect".to_string(), format!("{}:{}", e.vwidth, e.vheight)]);
        }
        if e.vthreads > 0 {
            v.extend(["-threads".to_string(), e.vthreads.to_string()]);
        }
        if !e.vprofile.is_empty() {
            v.extend(["-profile:v".to_string(), e.vprofile.clone()]);
        }
        if !e.vpreset.is_empty() {
            v.extend(["-preset".to_string(), e.vpreset.clone()]);
        }
        for (k, val) in &e.vparams {
            v.push(format!("-{k}"));
            v.extend(val.split_whitespace().map(str::to_string));
        }
    }
    let acodec = if e.acodec.is_empty() {
        "copy"
    } else {
        e.acodec.as_str()
    };
    if acodec == "an" {
        v.push("-an".into());
    } else {
        v.extend(["-acodec".to_string(), acodec.to_string()]);
    }
    if acodec != "copy" && acodec != "an" {
        if e.abitrate > 0 {
            v.extend(["-b:a".to_string(), (e.abitrate * 1000).to_string()]);
        }
        if e.asample_rate > 0 {
            v.extend(["-ar".to_string(), e.asample_rate.to_string()]);
        }
        if e.achannels > 0 {
            v.extend(["-ac".to_string(), e.achannels.to_string()]);
        }
        for (k, val) in &e.aparams {
            v.push(format!("-{k}"));
            v.extend(val.split_whitespace().map(str::to_string));
        }
    }
    if !e.oformat.is_empty() && e.oformat != "off" {
        v.extend(["-f".to_string(), e.oformat.clone()]);
    }
    v.extend(["-y".to_string(), output.to_string()]);
    v
}

/// `[vhost] [port] [app] [stream] [engine] [param]` in a template.
fn expand(t: &str, vhost: &str, port: u16, app: &str, stream: &str, engine: &str) -> String {
    t.replace("[vhost]", vhost)
        .replace("[port]", &port.to_string())
        .replace("[app]", app)
        .replace("[stream]", stream)
        .replace("[engine]", engine)
}

/// Where children reach this server over RTMP: the first listen address (loopback when
/// it listens on every address).
fn local_rtmp(config: &Config) -> (String, u16) {
    let bound = std::env::var(srs_live::conn::RTMP_ADDR_ENV)
        .ok()
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
    match bound.as_ref().or(config.listen.first()) {
        Some(a) if !a.ip().is_unspecified() => (a.ip().to_string(), a.port()),
        Some(a) => ("127.0.0.1".into(), a.port()),
        None => ("127.0.0.1".into(), srs_conf::DEFAULT_RTMP_PORT),
    }
}

fn log_path(config: &Config, name: &str) -> Option<PathBuf> {
    if config.ff_log_dir == Path::new("/dev/null") {
        return None;
    }
    Some(config.ff_log_dir.join(name))
}

/// The stream key an output URL publishes to (for the loop guard).
fn output_key(url: &str, default_vhost: &str) -> Option<StreamKey> {
    let u = srs_client::RtmpUrl::parse(url).ok()?;
    let mut req =
        srs_protocol::request::StreamRequest::from_connect(&u.tc_url, Some(&u.app)).ok()?;
    req.set_stream(&u.stream);
    let vhost = if req.vhost.parse::<std::net::IpAddr>().is_ok() || req.vhost == "localhost" {
        default_vhost.to_string()
    } else {
        req.vhost
    };
    Some(StreamKey {
        vhost,
        app: req.app,
        stream: req.stream,
    })
}

/// The jobs a publish of `key` (whose vhost is `v`) gets: each enabled engine of each
/// transcode that applies, and each `exec publish` line.
pub fn desired(config: &Config, v: &Vhost, key: &StreamKey, param: &str) -> Vec<(String, Job)> {
    let (host, port) = local_rtmp(config);
    let mut out = Vec::new();
    for t in v
        .transcodes
        .iter()
        .filter(|t| t.enabled && t.applies(&key.app, &key.stream))
    {
        let Some(ffmpeg) = resolve_program(&t.ffmpeg) else {
            warn!(ffmpeg = %t.ffmpeg.display(), "transcode: ffmpeg not found, not started");
            continue;
        };
        for e in t.engines.iter().filter(|e| e.enabled) {
            let input = format!(
                "rtmp://{host}:{port}/{}?vhost={}/{}",
                key.app, key.vhost, key.stream
            );
            let mut input_args = Vec::new();
            if !e.iformat.is_empty() && e.iformat != "off" {
                input_args.extend(["-f".to_string(), e.iformat.clone()]);
            }
            input_args.extend(["-i".to_string(), input]);
            let output = expand(&e.output, &key.vhost, port, &key.app, &key.stream, &e.name);
            let id = format!("transcode {}", e.name);
            let log = log_path(
                config,
                &format!(
                    "ffmpeg-encoder-{}-{}-{}-{}.log",
                    key.vhost, key.app, key.stream, e.name
                ),
            );
            out.push((
                id.clone(),
                Job {
                    name: format!("{id} {key}"),
                    argv: ffmpeg_argv(&ffmpeg, &config.ff_log_level, e, &input_args, &output),
                    log,
                },
            ));
        }
    }
    if v.exec.enabled {
        for (i, line) in v.exec.publish.iter().enumerate() {
            let url = format!(
                "rtmp://{host}:{port}/{}?vhost={}/{}",
                key.app, key.vhost, key.stream
            );
            let mut argv: Vec<String> = line
                .iter()
                .map(|a| {
                    expand(a, &key.vhost, port, &key.app, &key.stream, "")
                        .replace("[param]", param)
                        .replace("[url]", &url)
                        .replace("[tcUrl]", &format!("rtmp://{host}:{port}/{}", key.app))
                })
                .collect();
            let Some(program) = argv.first().and_then(|p| resolve_program(Path::new(p))) else {
                warn!(command = %line.join(" "), "exec: program not found, not started");
                continue;
            };
            argv[0] = program.display().to_string();
            let log = log_path(
                config,
                &format!("exec-{}-{}-{}-{i}.log", key.vhost, key.app, key.stream),
            );
            out.push((
                format!("exec {i}"),
                Job {
                    name: format!("exec {i} {key}"),
                    argv,
                    log,
                },
            ));
        }
    }
    out
}

/// The ingesters of `config`: one job per enabled engine of each enabled ingest.
pub fn desired_ingests(config: &Config) -> Vec<(String, Job)> {
    let (_, port) = local_rtmp(config);
    let mut out = Vec::new();
    for v in &config.vhosts {
        for ing in v.ingests.iter().filter(|i| i.enabled) {
            let Some(ffmpeg) = resolve_program(&ing.ffmpeg) else {
                warn!(ingest = %ing.name, ffmpeg = %ing.ffmpeg.display(), "ingest: ffmpeg not found, not started");
                continue;
            };
            for (n, e) in ing.engines.iter().enumerate() {
                // A disabled engine copies the codecs (SRS: "no transcode").
                let e = if e.enabled {
                    e.clone()
                } else {
                    FfEngine {
                        vcodec: "copy".into(),
                        acodec: "copy".into(),
                        oformat: "flv".into(),
                        ..e.clone()
                    }
                };
                let mut input_args = Vec::new();
                match ing.input_type.as_str() {
                    // A file plays in real time, as a live source.
                    "file" => {
                        input_args.extend(["-re".to_string(), "-i".into(), ing.input_url.clone()])
                    }
                    _ => input_args.extend(["-i".to_string(), ing.input_url.clone()]),
                }
                let output = expand(&e.output, &v.name, port, "", "", &e.name);
                let id = format!("ingest {} {} {n}", v.name, ing.name);
                out.push((
                    id.clone(),
                    Job {
                        name: id,
                        argv: ffmpeg_argv(&ffmpeg, &config.ff_log_level, &e, &input_args, &output),
                        log: log_path(
                            config,
                            &format!("ffmpeg-ingest-{}-{}-{n}.log", v.name, ing.name),
                        ),
                    },
                ));
            }
        }
    }
    out
}

/// Start what is desired and not running, stop what runs and is not desired (or whose
/// command line changed).
fn apply(
    running: &mut BTreeMap<String, Supervised>,
    desired: Vec<(String, Job)>,
) -> Vec<Supervised> {
    let want: HashMap<String, Job> = desired.into_iter().collect();
    let mut stopping = Vec::new();
    let ids: Vec<String> = running.keys().cloned().collect();
    for id in ids {
        let keep = want
            .get(&id)
            .is_some_and(|j| running.get(&id).is_some_and(|r| r.job() == j));
        if !keep {
            if let Some(s) = running.remove(&id) {
                stopping.push(s);
            }
        }
    }
    for (id, job) in want {
        running.entry(id).or_insert_with(|| Supervised::start(job));
    }
    stopping
}

fn stop_all(list: Vec<Supervised>) {
    for s in list {
        tokio::spawn(s.stop());
    }
}

#[derive(Debug, Default)]
struct StreamJobs {
    param: String,
    /// The publisher whose jobs these are (a republish's end must not stop the next's).
    cid: String,
    running: BTreeMap<String, Supervised>,
}

/// Every supervised job of backsource.
#[derive(Debug, Default)]
pub struct Jobs {
    streams: Mutex<HashMap<StreamKey, StreamJobs>>,
    ingests: Mutex<BTreeMap<String, Supervised>>,
    /// The streams transcoders publish (not transcoded again).
    outputs: Mutex<HashSet<StreamKey>>,
}

impl Jobs {
    fn streams(&self) -> MutexGuard<'_, HashMap<StreamKey, StreamJobs>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn desired_for(&self, config: &Config, key: &StreamKey, param: &str) -> Vec<(String, Job)> {
        let Some(v) = config
            .vhost_named(&key.vhost)
            .or_else(|| config.vhost(&key.vhost))
        else {
            return Vec::new();
        };
        if self
            .outputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
        {
            // A transcoder's own output: transcoding it again would loop.
            return Vec::new();
        }
        let jobs = desired(config, v, key, param);
        let mut outputs = self.outputs.lock().unwrap_or_else(|e| e.into_inner());
        for (id, job) in &jobs {
            if id.starts_with("transcode ") {
                if let Some(k) = job
                    .argv
                    .last()
                    .and_then(|u| output_key(u, srs_conf::DEFAULT_VHOST))
                {
                    outputs.insert(k);
                }
            }
        }
        jobs
    }

    /// A publish of `key` started.
    pub fn publish_started(&self, config: &Config, key: &StreamKey, param: &str, cid: &str) {
        let desired = self.desired_for(config, key, param);
        if desired.is_empty() {
            return;
        }
        let mut map = self.streams();
        let entry = map.entry(key.clone()).or_default();
        entry.param = param.to_string();
        entry.cid = cid.to_string();
        stop_all(apply(&mut entry.running, desired));
    }

    /// The publish of `key` by `cid` ended: its jobs stop.
    pub fn publish_ended(&self, key: &StreamKey, cid: &str) {
        let mut map = self.streams();
        if map.get(key).is_some_and(|j| j.cid == cid) {
            if let Some(j) = map.remove(key) {
                stop_all(j.running.into_values().collect());
            }
        }
    }

    /// Stop every job and wait for them (backsource stops).
    pub async fn shutdown(&self) {
        let mut all: Vec<Supervised> = self
            .streams()
            .drain()
            .flat_map(|(_, j)| j.running.into_values())
            .collect();
        all.extend(
            std::mem::take(&mut *self.ingests.lock().unwrap_or_else(|e| e.into_inner()))
                .into_values(),
        );
        let mut set = tokio::task::JoinSet::new();
        for s in all {
            set.spawn(s.stop());
        }
        while set.join_next().await.is_some() {}
    }

    /// The config changed: ingesters and the jobs of live streams follow it.
    pub fn reload(&self, config: &Config) {
        {
            let mut ing = self.ingests.lock().unwrap_or_else(|e| e.into_inner());
            stop_all(apply(&mut ing, desired_ingests(config)));
        }
        let keys: Vec<(StreamKey, String)> = self
            .streams()
            .iter()
            .map(|(k, j)| (k.clone(), j.param.clone()))
            .collect();
        for (key, param) in keys {
            let desired = self.desired_for(config, &key, &param);
            let mut map = self.streams();
            if let Some(entry) = map.get_mut(&key) {
                stop_all(apply(&mut entry.running, desired));
            }
        }
    }

    /// Start the ingesters of `config` (backsource start).
    pub fn start(&self, config: &Config) {
        let mut ing = self.ingests.lock().unwrap_or_else(|e| e.into_inner());
        stop_all(apply(&mut ing, desired_ingests(config)));
    }

    /// Jobs running now (for tests and logs).
    pub fn running(&self) -> usize {
        self.streams()
            .values()
            .map(|j| j.running.len())
            .sum::<usize>()
            + self.ingests.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The shared jobs of a backsource.
pub type SharedJobs = Arc<Jobs>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_srs_builds() {
        let e = FfEngine {
            name: "sd".into(),
            enabled: true,
            iformat: "flv".into(),
            oformat: "flv".into(),
            vcodec: "libx264".into(),
            vbitrate: 300,
            vfps: "20".into(),
            vwidth: 320,
            vheight: 240,
            vthreads: 2,
            vprofile: "baseline".into(),
            vpreset: "superfast".into(),
            vparams: vec![("g".into(), "40".into())],
            acodec: "aac".into(),
            abitrate: 48,
            asample_rate: 44100,
            achannels: 2,
            output: "rtmp://127.0.0.1:[port]/[app]?vhost=[vhost]/[stream]_[engine]".into(),
            ..FfEngine::default()
        };
        let input = [
            "-f".to_string(),
            "flv".into(),
            "-i".into(),
            "rtmp://127.0.0.1:1935/live?vhost=v/s".into(),
        ];
        let out = expand(&e.output, "v", 1935, "live", "s", "sd");
        assert_eq!(out, "rtmp://127.0.0.1:1935/live?vhost=v/s_sd");
        let argv = ffmpeg_argv(Path::new("/usr/bin/ffmpeg"), "warning", &e, &input, &out);
        assert_eq!(
            argv.join(" "),
            "/usr/bin/ffmpeg -loglevel warning -f flv -i rtmp://127.0.0.1:1935/live?vhost=v/s \
             -vcodec libx264 -b:v 300000 -r 20 -s 320x240 -aspect 320:240 -threads 2 \
             -profile:v baseline -preset superfast -g 40 -acodec aac -b:a 48000 -ar 44100 -ac 2 \
             -f flv -y rtmp://127.0.0.1:1935/live?vhost=v/s_sd"
        );
        let copy = FfEngine {
            vcodec: "copy".into(),
            acodec: "an".into(),
            vbitrate: 300,
            ..e.clone()
        };
        let argv = ffmpeg_argv(Path::new("/usr/bin/ffmpeg"), "info", &copy, &input, &out);
        assert!(
            argv.join(" ").contains("-vcodec copy -an -f flv"),
            "{argv:?}"
        );
        assert!(!argv.contains(&"-b:v".to_string()));
    }

    #[test]
    fn outputs_are_recognised_for_the_loop_guard() {
        assert_eq!(
            output_key(
                "rtmp://127.0.0.1:1935/live?vhost=v.test/s_sd",
                "__defaultVhost__"
            ),
            Some(StreamKey {
                vhost: "v.test".into(),
                app: "live".into(),
                stream: "s_sd".into()
            })
        );
        assert_eq!(
            output_key("rtmp://127.0.0.1:1935/live/s_hd", "__defaultVhost__").map(|k| k.vhost),
            Some("__defaultVhost__".into())
        );
    }

    #[tokio::test]
    async fn a_supervised_child_restarts_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("job.log");
        // Prints a line and exits: restarted after 1 s... (it failed fast) then stopped.
        let job = Job {
            name: "echo".into(),
            argv: vec![
                resolve_program(Path::new("sh"))
                    .unwrap()
                    .display()
                    .to_string(),
                "-c".into(),
                "echo ran".into(),
            ],
            log: Some(log.clone()),
        };
        let s = Supervised::start(job);
        tokio::time::sleep(Duration::from_millis(4500)).await;
        s.stop().await;
        let runs = std::fs::read_to_string(&log).unwrap().lines().count();
        assert!(runs >= 2, "restarted: {runs}");
        // A long runner is stopped by SIGTERM at once.
        let job = Job {
            name: "sleep".into(),
            argv: vec![
                resolve_program(Path::new("sleep"))
                    .unwrap()
                    .display()
                    .to_string(),
                "60".into(),
            ],
            log: None,
        };
        let s = Supervised::start(job);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        s.stop().await;
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
