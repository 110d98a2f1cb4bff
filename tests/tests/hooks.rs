//! HTTP hooks with a recording hook server and real clients: bodies equal in fields, order
//! and types to what SRS 6 sends (SRS 6 runs beside us against the same recorder), the
//! order of events per client, denials (a body of `1`, a 403, a server that is down), and a
//! slow hook that delays only the client it decides about.

use serde_json::Value;
use srs_tests::{ffmpeg_publish, file_len, rtmpdump_play, wait_until, Proc, Server};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request the recorder got.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    body: Value,
    /// The body as sent (field order kept).
    raw: String,
}

/// A hook server that records every request and answers by a rule of the test.
struct Recorder {
    addr: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

type Rule = fn(&str, &Value) -> (u16, &'static str, Duration);

fn allow_all(_: &str, _: &Value) -> (u16, &'static str, Duration) {
    (200, "0", Duration::ZERO)
}

impl Recorder {
    fn start(rule: Rule) -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let h = hits.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let h = h.clone();
                std::thread::spawn(move || serve_one(s, h, rule));
            }
        });
        Recorder { addr, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// The actions recorded for client `cid`, in order.
    fn actions_of(&self, cid: &str) -> Vec<String> {
        self.hits()
            .iter()
            // on_hls and on_dvr come from the segmenter and the recorder, in their own
            // time (as SRS's).
            .filter(|h| {
                h.body["client_id"] == cid
                    && h.body["action"] != "on_hls"
                    && h.body["action"] != "on_dvr"
            })
            .map(|h| h.body["action"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn serve_one(s: std::net::TcpStream, hits: Arc<Mutex<Vec<Hit>>>, rule: Rule) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len];
    let _ = r.read_exact(&mut body);
    let raw = String::from_utf8_lossy(&body).to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    hits.lock().unwrap().push(Hit {
        method,
        path: path.clone(),
        body: body.clone(),
        raw,
    });
    let (status, text, delay) = rule(&path, &body);
    std::thread::sleep(delay);
    let mut s = s;
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

/// `on_hls` and `on_hls_notify` hooks to `rec`.
fn hls_hooks(rec: &Recorder) -> String {
    format!(
        "on_hls {}; on_hls_notify {}; on_dvr {};",
        rec.url("/on_hls"),
        rec.url("/notify/[app]/[stream]/[ts_url][param]"),
        rec.url("/on_dvr")
    )
}

/// `http_hooks { }` with every event posting to `rec` under `/EVENT`.
fn hooks_conf(rec: &Recorder, extra: &str) -> String {
    let mut c = String::from("http_hooks { enabled on; ");
    for e in [
        "on_connect",
        "on_close",
        "on_publish",
        "on_unpublish",
        "on_play",
        "on_stop",
    ] {
        c.push_str(&format!("{e} {}; ", rec.url(&format!("/{e}"))));
    }
    c.push_str(extra);
    c.push_str(" }");
    c
}

/// Field names in the order they were sent, with each value's JSON type.
fn shape(raw: &str) -> Vec<(String, &'static str)> {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Ordered;
    impl<'de> Visitor<'de> for Ordered {
        type Value = Vec<(String, &'static str)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = m.next_entry::<String, Value>()? {
                let t = match v {
                    Value::String(_) => "string",
                    Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "bool",
                    Value::Null => "null",
                    _ => "other",
                };
                out.push((k, t));
            }
            Ok(out)
        }
    }
    serde_json::Deserializer::from_str(raw)
        .deserialize_map(Ordered)
        .unwrap_or_default()
}

/// Publish 4 s with a token, play 3 s with a page URL and a token, against `rtmp` (a base
/// URL `rtmp://host:port`), then stop both.
fn one_publisher_one_player(rtmp: &str, dir: &std::path::Path) {
    let mut enc = ffmpeg_publish(&format!("{rtmp}/live/livestream?token=abc&x=1"), 6);
    std::thread::sleep(Duration::from_secs(2));
    let out = dir.join("p.flv");
    let _ = std::fs::remove_file(&out);
    let out_s = out.to_string_lossy().to_string();
    let mut p = Proc::spawn(
        "rtmpdump",
        &[
            "-q",
            "-v",
            "-r",
            &format!("{rtmp}/live/livestream?token=p1"),
            "-p",
            "http://example.com/page",
            "-o",
            &out_s,
        ],
    );
    assert!(
        wait_until(Duration::from_secs(15), || file_len(&out) > 10_000),
        "player got nothing"
    );
    p.interrupt();
    let _ = enc.wait(Duration::from_secs(20));
}

#[test]
fn bodies_and_order_match_srs6() {
    let dir = tempfile::tempdir().unwrap();
    // SRS 6 against its own recorder.
    let srs_rec = Recorder::start(allow_all);
    let port = srs_tests::free_port();
    let conf = dir.path().join("srs6.conf");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:{port};\nmax_connections 100;\ndaemon off;\nsrs_log_tank file;\n\
             srs_log_file {d}/srs6.log;\npid {d}/srs6.pid;\ninotify_auto_reload off;\n\
             vhost __defaultVhost__ {{ {} hls {{ enabled on; hls_fragment 1; hls_window 10; hls_path {d}/srs6-html; }} \
             dvr {{ enabled on; dvr_path {d}/srs6-dvr/[app]/[stream].[timestamp].flv; }} }}\n",
            hooks_conf(&srs_rec, &hls_hooks(&srs_rec)),
            d = dir.path().display()
        ),
    )
    .unwrap();
    let mut srs = std::process::Command::new(srs_tests::srs6_binary())
        .arg("-c")
        .arg(&conf)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn SRS 6");
    assert!(wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    one_publisher_one_player(&format!("rtmp://127.0.0.1:{port}"), dir.path());
    assert!(wait_until(Duration::from_secs(10), || srs_rec
        .hits()
        .iter()
        .filter(|h| h.body["action"] == "on_close")
        .count()
        >= 2
        && srs_rec.hits().iter().any(|h| h.body["action"] == "on_dvr")));
    let _ = srs.kill();
    let _ = srs.wait();

    // Us, the same way.
    let rec = Recorder::start(allow_all);
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ {} hls {{ enabled on; hls_fragment 1; hls_window 10; hls_path {d}/our-html; }} \
         dvr {{ enabled on; dvr_path {d}/our-dvr/[app]/[stream].[timestamp].flv; }} }}\n",
        hooks_conf(&rec, &hls_hooks(&rec)),
        d = dir.path().display()
    ));
    one_publisher_one_player(&format!("rtmp://{}", s.rtmp[0]), dir.path());
    assert!(
        wait_until(Duration::from_secs(10), || rec
            .hits()
            .iter()
            .filter(|h| h.body["action"] == "on_close")
            .count()
            >= 2
            && rec.hits().iter().any(|h| h.body["action"] == "on_dvr")),
        "{:?}\n{}",
        rec.hits(),
        s.log()
    );

    // Every action: the same fields, in the same order, of the same types.
    let first_of = |r: &Recorder| -> BTreeMap<String, Hit> {
        let mut m = BTreeMap::new();
        for h in r.hits().into_iter().filter(|h| h.method == "POST") {
            let a = h.body["action"].as_str().unwrap_or("").to_string();
            m.entry(a).or_insert(h);
        }
        m
    };
    let (theirs, ours) = (first_of(&srs_rec), first_of(&rec));
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "actions"
    );
    for (action, hit) in &theirs {
        let mine = &ours[action];
        assert_eq!(
            shape(&mine.raw),
            shape(&hit.raw),
            "{action}: ours {} vs SRS 6 {}",
            mine.raw,
            hit.raw
        );
        assert!(!shape(&hit.raw).is_empty());
    }
    let ours: BTreeMap<String, Value> = ours.into_iter().map(|(k, h)| (k, h.body)).collect();
    // POST, to the path configured; on_hls_notify a GET of the template, as SRS fills it.
    assert!(rec
        .hits()
        .iter()
        .filter(|h| h.method == "POST")
        .all(|h| h.path == format!("/{}", h.body["action"].as_str().unwrap())));
    let notified = |r: &Recorder| -> Vec<String> {
        r.hits()
            .into_iter()
            .filter(|h| h.method == "GET")
            .map(|h| h.path)
            .collect()
    };
    let (theirs_n, ours_n) = (notified(&srs_rec), notified(&rec));
    assert!(
        !ours_n.is_empty() && !theirs_n.is_empty(),
        "{ours_n:?} {theirs_n:?}"
    );
    assert_eq!(ours_n[0], theirs_n[0]);
    assert_eq!(
        ours_n[0],
        "/notify/live/livestream/livestream-0.ts?token=abc&x=1"
    );
    let hls = &ours["on_hls"];
    assert_eq!(hls["url"], "live/livestream-0.ts");
    assert_eq!(hls["m3u8_url"], "live/livestream.m3u8");
    assert!(
        hls["file"]
            .as_str()
            .unwrap()
            .ends_with("our-html/live/livestream-0.ts"),
        "{hls}"
    );
    assert!(std::path::Path::new(hls["file"].as_str().unwrap()).exists());
    let dvr = &ours["on_dvr"];
    assert!(
        dvr["file"]
            .as_str()
            .unwrap()
            .contains("our-dvr/live/livestream."),
        "{dvr}"
    );
    assert!(std::path::Path::new(dvr["file"].as_str().unwrap()).exists());

    // Values: the params, the tcUrl without query, the client ids of our logs.
    let publish = &ours["on_publish"];
    assert_eq!(publish["param"], "?token=abc&x=1");
    assert_eq!(publish["stream"], "livestream");
    assert_eq!(publish["stream_url"], "/live/livestream");
    assert_eq!(publish["tcUrl"], format!("rtmp://{}/live", s.rtmp[0]));
    let play = &ours["on_play"];
    assert_eq!(play["param"], "?token=p1");
    assert_eq!(play["pageUrl"], "http://example.com/page");
    let pub_cid = publish["client_id"].as_str().unwrap().to_string();
    let play_cid = play["client_id"].as_str().unwrap().to_string();
    assert!(s.log().contains(&format!("cid={pub_cid}")));
    assert!(s.log().contains(&format!("cid={play_cid}")));
    // Order per client.
    assert_eq!(
        rec.actions_of(&pub_cid),
        ["on_connect", "on_publish", "on_unpublish", "on_close"]
    );
    assert_eq!(
        rec.actions_of(&play_cid),
        ["on_connect", "on_play", "on_stop", "on_close"]
    );
    // on_close's bytes are true, also for the publisher handed over to backsource: at
    // least the media it sent (4 s at over 100 kbps).
    let close = rec
        .hits()
        .into_iter()
        .find(|h| h.body["action"] == "on_close" && h.body["client_id"] == pub_cid.as_str())
        .unwrap();
    assert!(
        close.body["recv_bytes"].as_u64().unwrap() > 50_000,
        "{}",
        close.body
    );
    assert!(
        close.body["send_bytes"].as_u64().unwrap() > 3000,
        "{}",
        close.body
    );
}

fn deny_some(path: &str, body: &Value) -> (u16, &'static str, Duration) {
    match (path, body["stream"].as_str().unwrap_or("")) {
        ("/on_publish", "denied") => (200, "1", Duration::ZERO),
        ("/on_play", "blocked") => (403, "no", Duration::ZERO),
        ("/on_play", "slow") => (200, "0", Duration::from_secs(5)),
        _ => (200, r#"{"code":0}"#, Duration::ZERO),
    }
}

#[test]
fn denials_close_the_client_and_others_play_on() {
    let rec = Recorder::start(deny_some);
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ {} }}\n",
        hooks_conf(&rec, "")
    ));
    let _ok = ffmpeg_publish(&s.url("live/fine"), 60);
    let _blocked_src = ffmpeg_publish(&s.url("live/blocked"), 60);
    let _slow_src = ffmpeg_publish(&s.url("live/slow"), 60);
    assert!(
        wait_until(Duration::from_secs(20), || s.count_log("publish start")
            >= 3),
        "{}",
        s.log()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fine.flv");
    let _fine = rtmpdump_play(&s.url("live/fine"), &out);
    assert!(wait_until(Duration::from_secs(15), || file_len(&out) > 20_000));

    // A publish the hook answers `1`: ffmpeg fails within a few seconds.
    let t = Instant::now();
    let mut denied = ffmpeg_publish(&s.url("live/denied"), 30);
    assert!(!denied.wait(Duration::from_secs(10)).unwrap().success());
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(s.wait_log("hook on_publish", Duration::from_secs(5)));
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("denied: HTTP 200 with body \"1\"")),
        "{}",
        s.log()
    );
    // A play the hook answers 403: the player is closed.
    let t = Instant::now();
    let blocked = dir.path().join("blocked.flv");
    let mut b = rtmpdump_play(&s.url("live/blocked"), &blocked);
    let _ = b.wait(Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(8));
    assert!(file_len(&blocked) < 1000, "the blocked player got media");
    assert!(
        s.log().lines().any(|l| l.contains("denied: HTTP 403")),
        "{}",
        s.log()
    );
    // A hook that takes 5 s: its player waits, everyone else's frames keep flowing.
    let slow = dir.path().join("slow.flv");
    let asked = Instant::now();
    let _sp = rtmpdump_play(&s.url("live/slow"), &slow);
    let before = file_len(&out);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        file_len(&out) > before + 30_000,
        "the other player stalled behind a slow hook"
    );
    assert_eq!(
        file_len(&slow),
        0,
        "the slow player got media before its hook answered"
    );
    assert!(wait_until(Duration::from_secs(15), || file_len(&slow) > 10_000));
    assert!(asked.elapsed() >= Duration::from_secs(5));
    // After a deny: on_close still, no on_unpublish / on_stop.
    let denied_cid = rec
        .hits()
        .iter()
        .find(|h| h.body["action"] == "on_publish" && h.body["stream"] == "denied")
        .map(|h| h.body["client_id"].as_str().unwrap().to_string())
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || rec
        .actions_of(&denied_cid)
        .last()
        .map(String::as_str)
        == Some("on_close")));
    assert_eq!(
        rec.actions_of(&denied_cid),
        ["on_connect", "on_publish", "on_close"]
    );
}

#[test]
fn a_hook_server_that_is_down_denies() {
    let dead = format!("http://127.0.0.1:{}/x", srs_tests::free_port());
    let s = Server::start(&format!(
        "vhost __defaultVhost__ {{ http_hooks {{ enabled on; on_publish {dead}; timeout 3; }} }}\n"
    ));
    let mut enc = ffmpeg_publish(&s.url("live/s"), 30);
    assert!(!enc.wait(Duration::from_secs(10)).unwrap().success());
    assert_eq!(s.count_log("publish start"), 0);
    assert!(
        s.log()
            .lines()
            .any(|l| l.contains("hook on_publish") && l.contains("connect")),
        "{}",
        s.log()
    );
}

#[test]
fn http_flv_players_get_on_play_and_on_stop() {
    let rec = Recorder::start(deny_some);
    let s = Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; }}\n\
         vhost __defaultVhost__ {{ http_remux {{ enabled on; }} {} }}\n",
        hooks_conf(&rec, "")
    ));
    let _enc = ffmpeg_publish(&s.url("live/fine"), 30);
    let _enc2 = ffmpeg_publish(&s.url("live/blocked"), 30);
    assert!(wait_until(Duration::from_secs(20), || s
        .count_log("publish start")
        >= 2));
    srs_tests::ffprobe(
        &s.http_url("/live/fine.flv?token=h1"),
        1.0,
        Duration::from_secs(20),
    )
    .unwrap()
    .assert_h264_aac(5);
    assert!(srs_tests::ffprobe(
        &s.http_url("/live/blocked.flv"),
        1.0,
        Duration::from_secs(20)
    )
    .is_err());
    assert!(wait_until(Duration::from_secs(5), || rec
        .hits()
        .iter()
        .any(
            |h| h.body["action"] == "on_stop" && h.body["stream"] == "fine"
        )));
    let play = rec
        .hits()
        .into_iter()
        .find(|h| h.body["action"] == "on_play" && h.body["stream"] == "fine")
        .unwrap();
    assert_eq!(play.body["param"], "?token=h1");
    assert_eq!(play.body["tcUrl"], "rtmp://__defaultVhost__/live");
}

fn token_rule(path: &str, body: &Value) -> (u16, &'static str, Duration) {
    let param = body["param"].as_str().unwrap_or("");
    if path == "/on_play" && !param.contains("token=good") {
        return (200, "1", Duration::ZERO);
    }
    (200, "0", Duration::ZERO)
}

#[test]
fn an_edge_players_params_reach_the_origins_hooks() {
    let rec = Recorder::start(token_rule);
    let o = Server::start(&format!(
        "vhost __defaultVhost__ {{ http_hooks {{ enabled on; on_play {}; }} }}\n",
        rec.url("/on_play")
    ));
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let e = Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; token_traverse on; }} }}\n",
        o.rtmp[0]
    ));
    // A bad token: the origin's hook refuses the edge's pull, the player is told.
    let status = srs_tests::rt().block_on(async {
        let u = srs_client::RtmpUrl::parse(&e.url("live/s?token=bad")).unwrap();
        let mut c = srs_client::Client::connect_url(&u, &Default::default())
            .await
            .unwrap();
        c.play(&u.stream).await.unwrap();
        tokio::time::timeout(Duration::from_secs(20), c.read()).await
    });
    match status {
        Ok(Ok(srs_client::Packet::Status { code, .. })) => {
            assert_eq!(code, "NetStream.Play.Failed")
        }
        Ok(Err(srs_client::ClientError::Closed)) => {}
        other => panic!("{other:?}"),
    }
    assert!(rec.hits().iter().any(|h| h.body["param"] == "?token=bad"));
    // A good one plays, and the origin's hook saw the player's own param.
    srs_tests::ffprobe(&e.url("live/s?token=good"), 1.0, Duration::from_secs(30))
        .unwrap()
        .assert_h264_aac(5);
    assert!(
        rec.hits().iter().any(|h| h.body["param"] == "?token=good"),
        "{:?}",
        rec.hits()
    );
}
