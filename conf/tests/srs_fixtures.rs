//! SRS's own example configs (see `fixtures/srs/README.md`) load with at most warnings, keep
//! their typed values, and survive a print → parse round trip.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use srs_conf::{load_tree, parse_str, same_forest, to_text, Config, LogTank, DEFAULT_VHOST};

const FIXTURES: &[&str] = &[
    "full.conf",
    "srs.conf",
    "rtmp.conf",
    "hls.conf",
    "http.flv.live.conf",
    "edge.conf",
    "origin.conf",
    "dvr.segment.conf",
    "dvr.session.conf",
    "http.hooks.callback.conf",
    "forward.master.conf",
    "transcode2hls.audio.only.conf",
    "realtime.conf",
    "rtc.conf",
    "include.conf",
    "console.conf",
    "docker.conf",
    "srt.conf",
    "ingest.conf",
    "conf/include.vhost.conf",
];

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/srs")
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

#[test]
fn every_fixture_loads_with_at_most_warnings() {
    assert!(FIXTURES.len() >= 15);
    for name in FIXTURES {
        let c = load(name);
        for w in &c.warnings {
            assert!(
                w.message.ends_with("is not supported yet, ignored"),
                "{name}: {w}"
            );
            assert!(w.line >= 1);
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
        // Printing is stable.
        assert_eq!(to_text(&again), text, "{name}");
    }
}

#[test]
fn full_conf_values() {
    let c = load("full.conf");
    // rtmp { listen 1935; chunk_size 60000; }
    assert_eq!(c.listen, [addr("0.0.0.0:1935")]);
    assert_eq!(c.chunk_size, 60000);
    assert_eq!(c.max_connections, 1000);
    assert!(!c.daemon);
    assert_eq!(c.log_tank, LogTank::Console);

    let v = c.vhost_named("rtmp.rtmps.vhost.srs.com").unwrap();
    assert_eq!(v.chunk_size, 128);
    assert!(!v.play.gop_cache);
    assert_eq!(v.play.queue_length, Duration::from_secs(10));
    assert_eq!(v.play.mw_latency, Duration::from_millis(350));
    assert_eq!(v.publish.firstpkt_timeout, Duration::from_secs(20));
    assert_eq!(v.publish.normal_timeout, Duration::from_secs(7));

    let r = &c.vhost_named("refer.anti_suck.com").unwrap().refer;
    assert!(r.enabled);
    assert_eq!(r.all, ["github.com", "github.io"]);
    assert_eq!(r.play, ["github.com", "github.io"]);

    let rtc = c.vhost_named("rtc.vhost.srs.com").unwrap();
    assert!(rtc.min_latency);
    assert_eq!(rtc.play.mw_latency, Duration::ZERO);

    // full.conf disables the default vhost, and includes conf/include.vhost.conf.
    assert!(!c.vhost_named(DEFAULT_VHOST).unwrap().enabled);
    assert!(c.vhost_named("include.srs.com").is_some());
    // A few of the many warnings.
    let has = |line_text: &str| c.warnings.iter().any(|w| w.message.contains(line_text));
    assert!(has("\"http_api\""));
    assert!(has("\"rtc_server\""));
    assert!(has("\"is_full\""));
    assert!(has("\"hls\""));
    assert!(has("\"mw_msgs\""));
}

#[test]
fn old_srs_conf_values() {
    let c = load("srs.conf");
    assert_eq!(c.max_connections, 2000);
    assert_eq!(c.chunk_size, 65000);
    assert_eq!(c.vhost_named("demo.srs.com").unwrap().chunk_size, 4096);
    assert_eq!(
        c.vhost_named("dev").unwrap().play.queue_length,
        Duration::from_secs(10)
    );
    assert!(!c.vhost_named("removed.vhost.com").unwrap().enabled);
    assert_eq!(c.vhost("removed.vhost.com").unwrap().name, DEFAULT_VHOST);
    let r = &c.vhost_named("refer.anti_suck.com").unwrap().refer;
    assert!(r.enabled);
    assert_eq!(r.publish, ["github.com", "github.io"]);
    let min = c.vhost_named("min.delay.com").unwrap();
    assert!(!min.play.gop_cache);
    // SRS 1.0 directives are warnings, not errors.
    let names: Vec<&str> = c.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(names.contains(&"directive \"log_dir\" is not supported yet, ignored"));
    assert!(names.contains(&"directive \"pithy_print\" is not supported yet, ignored"));
}

#[test]
fn small_fixtures_values() {
    let edge = load("edge.conf");
    assert_eq!(edge.listen, [addr("0.0.0.0:19350")]);
    assert_eq!(edge.pid, Path::new("objs/edge.pid"));
    assert_eq!(edge.log_file, Path::new("./objs/edge.log"));
    assert!(edge.vhost_named("encoder").is_some());

    let rt = load("realtime.conf");
    let v = rt.vhost("x").unwrap();
    assert!(!v.play.gop_cache && v.min_latency && v.tcp_nodelay);
    assert_eq!(v.play.queue_length, Duration::from_secs(10));
    assert_eq!(v.play.mw_latency, Duration::from_millis(100));

    let fwd = load("forward.master.conf");
    assert_eq!(fwd.log_tank, LogTank::File);
    assert_eq!(fwd.pid, Path::new("./objs/srs.master.pid"));

    let inc = load("include.conf");
    assert_eq!(inc.vhosts.len(), 1);
    assert_eq!(inc.vhosts[0].name, "include.srs.com");

    let rtmp = load("rtmp.conf");
    assert!(rtmp.warnings.is_empty());
    assert_eq!(rtmp.vhost("a").unwrap().name, DEFAULT_VHOST);
}
