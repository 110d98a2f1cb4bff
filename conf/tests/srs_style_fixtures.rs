//! Configs an SRS operator would write for the usual setups (`fixtures/srs-style/`, ours,
//! written in SRS's syntax) load with at most warnings, keep their typed values, warn about
//! exactly the features we do not have yet, and survive a print → parse round trip.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use srs_conf::known::{contexts, srs_knows};
use srs_conf::{
    load_tree, parse_str, same_forest, to_text, Config, Directive, Hls, HlsOnError, HttpRemux,
    LogLevel, LogTank, Ratio, DEFAULT_CHUNK_SIZE, DEFAULT_VHOST,
};

/// Every file of the fixture folder; [`the_list_is_the_folder`] keeps the two in step.
const FIXTURES: &[&str] = &[
    "rtmp-origin.conf",
    "low-latency.conf",
    "hls.conf",
    "http-flv.conf",
    "edge.conf",
    "origin-cluster.conf",
    "dvr-segment.conf",
    "dvr-session.conf",
    "http-hooks.conf",
    "forward.conf",
    "transcode.conf",
    "transcode-audio-only.conf",
    "ingest.conf",
    "webrtc.conf",
    "srt.conf",
    "management.conf",
    "include.conf",
    "include.vhost.conf",
    "srs1-legacy.conf",
    "everything.conf",
];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/srs-style")
        .join(name)
}

fn load(name: &str) -> Config {
    match Config::load(path(name)) {
        Ok(c) => c,
        Err(e) => panic!("{name}: {e}"),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A warning about a directive's value (read, with a difference said), not its name.
fn is_about_a_value(m: &str) -> bool {
    m.starts_with("time_jitter zero:")
}

/// The names of the ignored directives, in file order (warnings about values, such as an
/// MP4 `dvr_path`, are not about names).
fn warned(c: &Config) -> Vec<&str> {
    c.warnings
        .iter()
        .filter(|w| !is_about_a_value(&w.message))
        .map(|w| {
            w.message
                .strip_prefix("directive \"")
                .and_then(|m| m.strip_suffix("\" is not supported yet, ignored"))
                .unwrap_or_else(|| panic!("unexpected warning: {w}"))
        })
        .collect()
}

fn vhost_names(c: &Config) -> Vec<&str> {
    c.vhosts.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn the_list_is_the_folder() {
    let dir = path("");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FIXTURES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn every_fixture_loads_with_at_most_warnings() {
    for name in FIXTURES {
        let c = load(name);
        // `warned` panics on any other kind of warning but an MP4 dvr_path's.
        let values = c
            .warnings
            .iter()
            .filter(|w| is_about_a_value(&w.message))
            .count();
        assert_eq!(warned(&c).len() + values, c.warnings.len());
        for w in &c.warnings {
            assert!(w.line >= 1, "{name}: {w}");
        }
    }
}

#[test]
fn every_fixture_round_trips_through_the_printer() {
    for name in FIXTURES {
        let tree = load_tree(&path(name)).unwrap();
        let text = to_text(&tree);
        let again = parse_str(&text, "printed.conf").unwrap();
        assert!(same_forest(&tree, &again), "{name}");
        // Printing is stable, and the printed config means the same.
        assert_eq!(to_text(&again), text, "{name}");
        assert_eq!(Config::from_tree(&again).unwrap(), load(name), "{name}");
    }
}

#[test]
fn rtmp_origin() {
    let c = load("rtmp-origin.conf");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.listen, [addr("0.0.0.0:1935"), addr("[::]:1935")]);
    assert_eq!(c.chunk_size, 4096);
    assert_eq!(c.max_connections, 2500);
    assert_eq!(c.pid, Path::new("/var/run/srs/origin.pid"));
    assert_eq!(c.log_tank, LogTank::File);
    assert_eq!(c.log_file, Path::new("/var/log/srs/origin.log"));
    assert_eq!(c.log_level, LogLevel::Warn);
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST, "tv.example.net"]);
    let v = c.vhost("anything").unwrap();
    assert_eq!(v.chunk_size, 4096);
    assert!(v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(20));
    assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(15));
    assert_eq!(v.publish.normal_timeout, Duration::from_secs(8));
    let tv = c.vhost("tv.example.net").unwrap();
    assert_eq!(tv.chunk_size, 1024);
    assert!(tv.refer.enabled);
    assert_eq!(tv.refer.all, ["example.net", "player.example.net"]);
}

#[test]
fn low_latency() {
    let c = load("low-latency.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(c.chunk_size, DEFAULT_CHUNK_SIZE);
    assert_eq!(c.max_connections, 400);
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert!(v.min_latency && v.tcp_nodelay);
    assert!(!v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(4));
    assert_eq!(v.play.mw_latency, Duration::from_millis(40));
    assert_eq!(warned(&c), ["mw_msgs", "mr"]);
}

#[test]
fn hls() {
    let c = load("hls.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(c.max_connections, 1500);
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST]);
    assert!(c.vhosts[0].play.gop_cache);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.http_server.enabled);
    assert_eq!(c.http_server.listen, addr("0.0.0.0:8088"));
    assert_eq!(c.http_server.dir, Path::new("/srv/www"));
    assert!(c.http_server.crossdomain);
    assert!(!c.http_api.enabled);
    assert_eq!(
        c.vhosts[0].hls,
        Hls {
            enabled: true,
            hls_path: PathBuf::from("/srv/www"),
            hls_fragment: Duration::from_secs(4),
            hls_window: Duration::from_secs(40),
            hls_m3u8_file: "[app]/[stream]/index.m3u8".into(),
            hls_ts_file: "[app]/[stream]/[seq].ts".into(),
            hls_wait_keyframe: true,
            hls_cleanup: true,
            hls_dispose: Some(Duration::from_secs(120)),
            ..Hls::default()
        }
    );
}

#[test]
fn http_flv() {
    let c = load("http-flv.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(vhost_names(&c), ["live.example.net"]);
    // Only that vhost: a client asking for another one is refused.
    assert!(c.vhost("other.example.net").is_none());
    let v = c.vhost("live.example.net").unwrap();
    assert!(v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(12));
    assert_eq!(v.play.mw_latency, Duration::from_millis(200));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.http_server.enabled);
    assert_eq!(c.http_server.listen, addr("0.0.0.0:8080"));
    assert_eq!(c.http_server.dir, Path::new("./public"));
    assert_eq!(
        v.http_remux,
        HttpRemux {
            enabled: true,
            mount: "[vhost]/[app]/[stream].flv".into(),
            fast_cache: Duration::ZERO,
            drop_if_not_match: false,
            has_audio: true,
            has_video: true,
            guess_has_av: true,
        }
    );
    assert!(!v.hls.enabled);
}

#[test]
fn edge() {
    let c = load("edge.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:19350")]);
    assert_eq!(c.max_connections, 8000);
    assert_eq!(c.pid, Path::new("./objs/edge-fra1.pid"));
    assert_eq!(c.log_file, Path::new("./objs/edge-fra1.log"));
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert!(v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(15));
    assert!(v.cluster.edge);
    assert_eq!(v.cluster.origins, ["10.20.0.11:1935", "10.20.0.12:1935"]);
    assert!(!v.cluster.token_traverse);
    // protocol rtmp and follow_client off are what an edge of ours does.
    assert!(warned(&c).is_empty(), "{:?}", warned(&c));
}

#[test]
fn origin_cluster() {
    let c = load("origin-cluster.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:19351")]);
    assert_eq!(c.pid, Path::new("./objs/origin-b.pid"));
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(10));
    assert!(c.http_api.enabled);
    assert_eq!(c.http_api.listen, addr("0.0.0.0:9091"));
    assert!(!c.http_server.enabled);
    assert!(!v.cluster.edge);
    assert_eq!(warned(&c), ["origin_cluster", "coworkers"]);
}

#[test]
fn dvr_segment_and_session() {
    let seg = load("dvr-segment.conf");
    assert_eq!(seg.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(vhost_names(&seg), ["record.example.net"]);
    assert!(warned(&seg).is_empty(), "{:?}", warned(&seg));
    let d = &seg.vhosts[0].dvr;
    assert!(d.enabled && d.segment && d.wait_keyframe && d.apply.is_empty());
    assert_eq!(d.duration, Duration::from_secs(600));
    assert!(d.applies("record.example.net", "live", "any"));

    let ses = load("dvr-session.conf");
    assert_eq!(vhost_names(&ses), ["lectures.example.edu"]);
    assert_eq!(
        ses.vhosts[0].publish.normal_timeout,
        Duration::from_secs(30)
    );
    // An MP4 recording: no warning. time_jitter zero is not ours (we correct every stream
    // once, full).
    assert_eq!(warned(&ses), ["time_jitter"]);
    assert_eq!(ses.warnings.len(), 1, "{:?}", ses.warnings);
    assert!(ses.vhosts[0].dvr.path.ends_with(".mp4"));
}

#[test]
fn http_hooks() {
    let c = load("http-hooks.conf");
    assert_eq!(vhost_names(&c), ["hooks.example.net"]);
    assert!(warned(&c).is_empty(), "{:?}", warned(&c));
    assert!(!c.vhosts[0].hls.enabled);
    let h = &c.vhosts[0].http_hooks;
    assert!(h.enabled);
    assert_eq!(
        h.urls("on_publish"),
        [
            "http://control.internal:7000/srs/publish",
            "http://billing.internal:7100/start"
        ]
    );
    assert_eq!(
        h.urls("on_hls_notify"),
        ["http://cdn-warmup.internal:7200/warm/[app]/[stream]/[ts_url][param]"]
    );
    // Every hook SRS has is in the fixture.
    let tree = load_tree(&path("http-hooks.conf")).unwrap();
    let hooks = &tree.iter().find(|d| d.name == "vhost").unwrap().children[0];
    let names: Vec<&str> = hooks.children.iter().map(|d| d.name.as_str()).collect();
    for (context, known) in contexts() {
        if context == "vhost.http_hooks" {
            assert_eq!(names, known);
        }
    }
}

#[test]
fn forward() {
    let c = load("forward.conf");
    assert_eq!(c.log_tank, LogTank::File);
    assert_eq!(c.pid, Path::new("./objs/primary.pid"));
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST, "partners.example.net"]);
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert!(v.forward.enabled);
    assert_eq!(
        v.forward.destinations,
        ["10.30.0.2:1935", "10.30.0.9:19350"]
    );
    // Asking a backend for destinations is not supported: said so.
    assert_eq!(warned(&c), ["backend"]);
}

#[test]
fn transcode() {
    let c = load("transcode.conf");
    assert_eq!(c.max_connections, 800);
    assert_eq!(vhost_names(&c), ["transcode.example.net"]);
    assert!(warned(&c).is_empty(), "{:?}", warned(&c));
    assert_eq!(c.ff_log_dir, Path::new("./objs/ffmpeg-logs"));
    assert_eq!(c.ff_log_level, "warning");
    let t = &c.vhosts[0].transcodes[0];
    assert!(t.enabled && t.scope.is_empty());
    assert_eq!(t.ffmpeg, Path::new("/usr/local/bin/ffmpeg"));
    let e = &t.engines[0];
    assert_eq!(
        (e.name.as_str(), e.vbitrate, e.vwidth, e.vheight),
        ("sd", 900, 854, 480)
    );
    assert_eq!(
        e.vparams,
        [
            ("g".to_string(), "60".to_string()),
            ("bf".into(), "0".into())
        ]
    );

    let audio = load("transcode-audio-only.conf");
    assert_eq!(vhost_names(&audio), ["radio.example.net"]);
    assert!(warned(&audio).is_empty(), "{:?}", warned(&audio));
    assert!(!audio.vhosts[0].transcodes.is_empty());
    assert!(audio.http_server.enabled);
    let hls = &audio.vhosts[0].hls;
    assert!(hls.enabled);
    assert_eq!(hls.hls_path, Path::new("./public"));
    assert_eq!(hls.hls_fragment, Duration::from_secs(10));
    assert_eq!(hls.hls_window, Duration::from_secs(60));
    assert_eq!(hls.hls_aof_ratio, Ratio::new(2.0).unwrap());
}

#[test]
fn ingest() {
    let c = load("ingest.conf");
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST]);
    assert!(warned(&c).is_empty(), "{:?}", warned(&c));
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    let names: Vec<&str> = v.ingests.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["lobby-cam", "parking-cam", "promo-loop"]);
    assert_eq!(v.ingests[2].input_type, "file");
    assert_eq!(v.ingests[0].input_url, "rtsp://192.168.10.21:554/stream1");
    assert!(!v.ingests[0].engines[0].enabled);
}

#[test]
fn webrtc() {
    let c = load("webrtc.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert!(v.min_latency);
    assert!(!v.play.gop_cache);
    assert_eq!(v.play.mw_latency, Duration::ZERO);
    assert!(c.http_api.enabled && c.http_server.enabled);
    assert_eq!(c.http_api.listen, addr("0.0.0.0:1985"));
    assert_eq!(c.http_server.listen, addr("0.0.0.0:8080"));
    assert_eq!(warned(&c), ["rtc_server", "rtc"]);
}

#[test]
fn srt() {
    let c = load("srt.conf");
    assert_eq!(c.max_connections, 600);
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST]);
    assert_eq!(warned(&c), ["srt_server", "srt"]);
    assert!(c.http_server.enabled);
    let remux = &c.vhosts[0].http_remux;
    assert!(remux.enabled);
    assert_eq!(remux.mount, "[vhost]/[app]/[stream].flv");
}

#[test]
fn management() {
    let c = load("management.conf");
    assert!(c.daemon);
    assert_eq!(c.max_connections, 5000);
    assert_eq!(c.log_file, Path::new("/var/log/srs/srs.log"));
    assert_eq!(c.pid, Path::new("/var/run/srs/srs.pid"));
    assert!(c.http_api.enabled);
    assert_eq!(c.http_api.listen, addr("127.0.0.1:1985"));
    assert!(!c.http_api.crossdomain);
    assert!(c.http_server.enabled);
    assert_eq!(c.http_server.dir, Path::new("/srv/www"));
    assert_eq!(warned(&c), ["stats", "heartbeat", "exporter"]);
}

#[test]
fn include_pair() {
    let c = load("include.conf");
    assert_eq!(c.chunk_size, 8192);
    assert_eq!(vhost_names(&c), ["customer-42.example.net"]);
    let v = &c.vhosts[0];
    assert_eq!(v.chunk_size, 8192);
    assert!(!v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(8));
    // HLS comes from the included file.
    assert!(v.hls.enabled);
    assert_eq!(v.hls.hls_fragment, Duration::from_secs(4));
    assert_eq!(v.hls.hls_window, Duration::from_secs(20));
    // The hooks come from the included file too.
    assert!(warned(&c).is_empty(), "{:?}", warned(&c));
    assert_eq!(
        v.http_hooks.urls("on_publish"),
        ["http://auth.customer-42.example.net/srs/publish"]
    );

    // The vhost file alone is a config too, with the global defaults.
    let alone = load("include.vhost.conf");
    assert_eq!(alone.vhosts[0].chunk_size, DEFAULT_CHUNK_SIZE);
    assert_eq!(alone.vhosts[0].play, v.play);
}

#[test]
fn srs1_legacy() {
    let c = load("srs1-legacy.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(c.chunk_size, 65000);
    assert_eq!(c.max_connections, 2000);
    assert_eq!(vhost_names(&c), ["old.example.net", "old-edge.example.net"]);
    let v = &c.vhosts[0];
    assert!(!v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(12));
    assert_eq!(v.play.mw_latency, Duration::from_millis(100));
    assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(25));
    assert_eq!(v.publish.normal_timeout, Duration::from_secs(6));
    // refer_* in the vhost turn the check on.
    assert!(v.refer.enabled);
    assert_eq!(v.refer.all, ["example.net"]);
    assert_eq!(v.refer.play, ["example.net", "example.org"]);
    assert_eq!(v.refer.publish, ["example.net"]);
    // SRS 1's http_stream is read as http_server.
    assert!(c.http_server.enabled);
    assert_eq!(c.http_server.listen, addr("0.0.0.0:8080"));
    assert_eq!(c.http_server.dir, Path::new("./objs/nginx/html"));
    assert_eq!(warned(&c), ["log_dir", "pithy_print", "http"]);
    // SRS 1's vhost-level time_jitter and atc are read.
    assert!(!v.play.atc);
    assert_eq!(v.play.time_jitter, srs_conf::TimeJitter::Full);
}

#[test]
fn everything_values() {
    let c = load("everything.conf");
    assert_eq!(c.listen, [addr("0.0.0.0:1935"), addr("[::]:1935")]);
    assert_eq!(c.chunk_size, 16384);
    assert_eq!(c.max_connections, 3000);
    assert!(!c.daemon);
    assert_eq!(c.log_tank, LogTank::Console);
    assert_eq!(c.log_level, LogLevel::Trace);
    assert_eq!(vhost_names(&c), [DEFAULT_VHOST, "legacy.example.com"]);

    let v = c.vhost(DEFAULT_VHOST).unwrap();
    assert_eq!(v.chunk_size, 8192);
    assert!(!v.min_latency && v.tcp_nodelay);
    assert!(v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(25));
    assert_eq!(v.play.mw_latency, Duration::from_millis(300));
    assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(25));
    assert_eq!(v.publish.normal_timeout, Duration::from_secs(6));
    assert!(!v.refer.enabled);
    assert_eq!(v.refer.play, ["www.example.com", "m.example.com"]);

    let old = c.vhost("legacy.example.com").unwrap();
    assert_eq!(old.chunk_size, 16384);
    assert!(!old.play.gop_cache);
    assert_eq!(old.play.queue_length, Duration::from_secs(10));
    assert_eq!(old.publish.firstpkt_timeout, Duration::from_secs(30));
    assert!(old.refer.enabled);
    assert_eq!(old.refer.publish, ["studio.example.com"]);

    assert!(c.http_api.enabled && c.http_api.crossdomain);
    assert_eq!(c.http_api.listen, addr("0.0.0.0:1985"));
    assert!(c.http_server.enabled && c.http_server.crossdomain);
    assert_eq!(c.http_server.listen, addr("0.0.0.0:8080"));
    assert_eq!(c.http_server.dir, Path::new("./public"));
    assert_eq!(
        v.hls,
        Hls {
            enabled: true,
            hls_entry_prefix: Some("https://cdn.example.com".into()),
            hls_path: PathBuf::from("./public"),
            hls_fragment: Duration::from_secs(6),
            hls_window: Duration::from_secs(30),
            hls_td_ratio: Ratio::new(1.5).unwrap(),
            hls_aof_ratio: Ratio::new(2.5).unwrap(),
            hls_on_error: HlsOnError::Continue,
            hls_dispose: Some(Duration::from_secs(90)),
            ..Hls::default()
        }
    );
    assert_eq!(
        v.http_remux,
        HttpRemux {
            enabled: true,
            fast_cache: Duration::from_secs(10),
            drop_if_not_match: false,
            ..HttpRemux::default()
        }
    );

    // Among the many warnings, the big features we do not have yet.
    let names = warned(&c);
    for feature in [
        "https",
        "hls_keys",
        "fast_cache",
        "rtc_server",
        "srt_server",
        "coworkers",
        "backend",
        "rtc",
        "mw_msgs",
        "log_dir",
    ] {
        assert!(names.contains(&feature), "{feature}");
    }
    // And none for what srs-rs reads.
    for read in [
        "http_api",
        "http_server",
        "hls",
        "http_remux",
        "hls_fragment",
        "mount",
        "cluster",
        "forward",
        "raw_api",
        "auth",
        "security",
        "http_hooks",
        "mode",
        "origin",
        "token_traverse",
    ] {
        assert!(!names.contains(&read), "{read}");
    }
}

/// Every directive of `tree` with its context: the dotted path of the blocks around it.
fn walk<'a>(context: &str, tree: &'a [Directive], out: &mut BTreeSet<(String, &'a str)>) {
    for d in tree {
        out.insert((context.to_string(), d.name.as_str()));
        let inner = if context.is_empty() {
            d.name.clone()
        } else {
            format!("{context}.{}", d.name)
        };
        walk(&inner, &d.children, out);
    }
}

#[test]
fn everything_uses_every_directive_srs_knows() {
    let mut seen = BTreeSet::new();
    let tree = load_tree(&path("everything.conf")).unwrap();
    walk("", &tree, &mut seen);

    // The SRS 1-6 top-level spellings of `rtmp { listen; chunk_size; }` and SRS 1's
    // `http_stream` for `http_server`: writing both is a duplicate, so they are in the legacy
    // fixture.
    let legacy_tree = load_tree(&path("srs1-legacy.conf")).unwrap();
    let mut legacy = BTreeSet::new();
    walk("", &legacy_tree, &mut legacy);
    let elsewhere = [("", "listen"), ("", "chunk_size"), ("", "http_stream")];

    let mut missing = Vec::new();
    for (context, names) in contexts() {
        for &name in names {
            let key = (context.to_string(), name);
            if elsewhere.contains(&(context, name)) {
                assert!(
                    !seen.contains(&key),
                    "{context}.{name} is in everything.conf"
                );
                assert!(legacy.contains(&key), "{context}.{name}");
            } else if !seen.contains(&key) {
                missing.push(format!("{context}.{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in everything.conf: {missing:?}");

    // And nothing misspelt in a context SRS checks, even where we ignore the whole block.
    let checked: BTreeSet<&str> = contexts().map(|(c, _)| c).collect();
    for (context, name) in &seen {
        if checked.contains(context.as_str()) {
            assert!(srs_knows(context, name), "{context}.{name}");
        }
    }
}
