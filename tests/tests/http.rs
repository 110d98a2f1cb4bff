//! httpd with real clients: ffmpeg/ffprobe read HTTP-FLV, the SRS HTTP API checked field by
//! field against a live publish, kicking a client with DELETE, reload through the API, and
//! malformed HTTP (oversized headers, slowloris, bad ranges, path traversal).

use srs_tests::client::RtmpClient;
use srs_tests::{ffmpeg_publish, ffprobe, rt, wait_publishing, wait_until, Proc, Server};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn http_server(extra_vhost: &str) -> (Server, tempfile::TempDir) {
    let html = tempfile::tempdir().unwrap();
    let d = html.path().display();
    let server = Server::start(&format!(
        "http_api {{ enabled on; listen 127.0.0.1:0; }}\n\
         http_server {{ enabled on; listen 127.0.0.2:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }} {extra_vhost} }}\n"
    ));
    (server, html)
}

/// Address of the HTTP listener `what` (`api`, `server` or `both`) from the master's log.
fn http_addr(server: &Server, what: &str) -> SocketAddr {
    assert!(wait_until(T, || server.log().contains("HTTP serving")
        || server.log().contains("HTTP API serving")));
    server
        .log()
        .lines()
        .filter(|l| l.contains("HTTP listening") && l.contains(&format!("what=\"{what}\"")))
        .filter_map(|l| {
            l.split("addr=")
                .nth(1)
                .and_then(|a| a.split_whitespace().next())
                .map(str::to_string)
        })
        .find_map(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP {what} listener in the log:\n{}", server.log()))
}

struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A plain HTTP/1.1 request (Connection: close), read to the end.
fn request(addr: SocketAddr, method: &str, path: &str, extra_headers: &str) -> HttpResponse {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {raw:?}"));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    // Undo chunked transfer encoding if used.
    let resp = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..p]).unwrap_or("0").trim(), 16)
                    .unwrap_or(0);
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[p + 2..p + 2 + n]);
            rest = &rest[p + 2 + n + 2..];
        }
        body = out;
    }
    HttpResponse { body, ..resp }
}

#[test]
fn http_flv_plays_in_ffmpeg_and_ffprobe() {
    let (server, _html) = http_server("");
    let http = http_addr(&server, "server");
    let _p = ffmpeg_publish(&server.url("live/flv"), 60);
    wait_publishing(&server, 1);
    let url = format!("http://{http}/live/flv.flv");
    let probe = ffprobe(&url, 3.0, T).unwrap();
    probe.assert_h264_aac(20);
    assert!(probe.of("video")[0].key_frame);
    assert!(
        probe
            .codecs
            .iter()
            .all(|(t, _)| t == "video" || t == "audio"),
        "no extra tracks: {:?}",
        probe.codecs
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.flv");
    let mut ff = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-i",
            &url,
            "-t",
            "3",
            "-c",
            "copy",
            "-y",
            out.to_str().unwrap(),
        ],
    );
    assert!(ff.wait(T).unwrap().success(), "{}", ff.stderr());
    ffprobe(out.to_str().unwrap(), 10.0, T)
        .unwrap()
        .assert_h264_aac(20);
    // A stream nobody publishes: the request waits (live); an unknown path is a 404.
    let r = request(http, "GET", "/nothing/here.txt", "");
    assert_eq!(r.status, 404);
}

#[test]
fn api_fields_against_a_live_publish_and_kick() {
    let (server, _html) = http_server("");
    let api = http_addr(&server, "api");
    let _p = ffmpeg_publish(&server.url("live/api"), 60);
    wait_publishing(&server, 1);
    let rt = rt();
    // A player of ours, to see it listed and to kick it.
    let mut player = rt.block_on(async {
        let mut c = RtmpClient::connect(&server.url("live/api")).await.unwrap();
        c.play().await.unwrap();
        c
    });
    // Let the stream run so that counters and codec details are there.
    std::thread::sleep(Duration::from_secs(2));

    let v = request(api, "GET", "/api/v1/versions", "").json();
    assert_eq!(v["code"], 0);
    assert!(v["server"].is_string() && v["pid"].is_string());
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));

    let r = request(api, "GET", "/api/v1/streams", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "crossdomain is on by default"
    );
    let s = r.json();
    assert_eq!(s["code"], 0);
    let streams = s["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{s}");
    let st = &streams[0];
    assert_eq!(st["name"], "api");
    assert_eq!(st["app"], "live");
    // The vhost by its id, as /api/v1/vhosts lists it (SRS's console joins on it).
    let vh = request(api, "GET", "/api/v1/vhosts/", "").json();
    assert_eq!(st["vhost"], vh["vhosts"][0]["id"]);
    let one = request(
        api,
        "GET",
        &format!("/api/v1/vhosts/{}", st["vhost"].as_str().unwrap()),
        "",
    );
    assert_eq!(one.json()["vhost"]["name"], "__defaultVhost__");
    // JSONP, as SRS's console calls every path.
    let js = request(
        api,
        "GET",
        "/api/v1/streams/?callback=angular.callbacks._1",
        "",
    );
    let text = String::from_utf8_lossy(&js.body).to_string();
    assert!(
        text.starts_with("angular.callbacks._1({") && text.ends_with(')'),
        "{text}"
    );
    assert!(js
        .header("content-type")
        .is_some_and(|t| t.contains("javascript")));
    assert_eq!(st["url"], "/live/api");
    assert!(
        st["tcUrl"]
            .as_str()
            .unwrap()
            .starts_with("rtmp://127.0.0.1:"),
        "{st}"
    );
    assert!(st["tcUrl"].as_str().unwrap().ends_with("/live"), "{st}");
    assert!(st["live_ms"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(
        st["clients"].as_u64().unwrap() >= 2,
        "publisher and our player: {st}"
    );
    assert!(st["frames"].as_u64().unwrap() > 25, "{st}");
    assert!(st["recv_bytes"].as_u64().unwrap() > 10_000, "{st}");
    assert!(st["kbps"]["recv_30s"].as_u64().unwrap() > 10, "{st}");
    assert_eq!(st["publish"]["active"], true);
    assert_eq!(st["video"]["codec"], "H264");
    // x264 ultrafast encodes Baseline (no CABAC, no 8x8 transform).
    assert_eq!(st["video"]["profile"], "Baseline", "{st}");
    assert!(
        !st["video"]["level"].as_str().unwrap_or("").is_empty(),
        "{st}"
    );
    assert_eq!(
        (
            st["video"]["width"].as_u64(),
            st["video"]["height"].as_u64()
        ),
        (Some(320), Some(240))
    );
    assert_eq!(st["audio"]["codec"], "AAC");
    assert_eq!(st["audio"]["sample_rate"], 44100, "{st}");
    assert_eq!(st["audio"]["channel"], 1, "{st}");
    assert_eq!(st["audio"]["profile"], "LC", "{st}");
    let id = st["id"].as_str().unwrap().to_string();
    let publisher_cid = st["publish"]["cid"].as_str().unwrap().to_string();

    let one = request(api, "GET", &format!("/api/v1/streams/{id}"), "").json();
    assert_eq!(one["stream"]["name"], "api");
    let missing = request(api, "GET", "/api/v1/streams/vid-nothing", "");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["code"], 2048);

    let c = request(api, "GET", "/api/v1/clients", "").json();
    let clients = c["clients"].as_array().unwrap();
    let publisher = clients
        .iter()
        .find(|c| c["id"] == publisher_cid.as_str())
        .expect("publisher listed");
    assert_eq!(publisher["type"], "fmle-publish");
    assert_eq!(publisher["publish"], true);
    assert_eq!(publisher["stream"], id.as_str());
    let players: Vec<_> = clients
        .iter()
        .filter(|c| c["type"] == "rtmp-play")
        .collect();
    assert_eq!(players.len(), 1, "{c}");
    assert_eq!(players[0]["url"], "/live/api");
    let player_cid = players[0]["id"].as_str().unwrap().to_string();

    let vh = request(api, "GET", "/api/v1/vhosts", "").json();
    assert_eq!(vh["vhosts"][0]["name"], "__defaultVhost__");
    let sum = request(api, "GET", "/api/v1/summaries", "").json();
    assert_eq!(sum["code"], 0);
    assert!(sum["data"]["self"]["mem_kbyte"].as_u64().unwrap() > 0);
    // SRS's summary fields, from /proc over the whole tree; the pid is the master's.
    let master_pid = server.pid() as u64;
    assert_eq!(
        sum["data"]["self"]["pid"].as_u64(),
        Some(master_pid),
        "{sum}"
    );
    assert_eq!(sum["pid"], master_pid.to_string());
    assert!(sum["data"]["self"]["ppid"].as_u64().unwrap_or(0) > 0);
    let sys = &sum["data"]["system"];
    assert!(sys["cpus"].as_u64().unwrap() >= 1 && sys["cpus_online"].as_u64().unwrap() >= 1);
    assert!(sys["mem_ram_kbyte"].as_u64().unwrap() > 0);
    assert!(sys["uptime"].as_f64().unwrap() > 0.0);
    for k in [
        "load_1m",
        "load_5m",
        "load_15m",
        "cpu_percent",
        "mem_ram_percent",
    ] {
        assert!(sys[k].is_number(), "{k}: {sys}");
    }
    assert!(sys["conn_sys"].as_u64().unwrap() >= 1, "{sys}");
    assert!(
        sys["net_recvi_bytes"].as_u64().unwrap() > 0,
        "loopback traffic: {sys}"
    );
    assert!(sys["srs_recv_bytes"].as_u64().unwrap() > 0, "{sys}");
    let m = request(api, "GET", "/metrics", "");
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(
        text.contains("srs_up 1") && text.contains("srs_streams 1"),
        "{text}"
    );

    // A kick as SRS's console sends it (GET with ?method=DELETE) kicks the player,
    // wherever it lives.
    let k = request(
        api,
        "GET",
        &format!("/api/v1/clients/{player_cid}?method=DELETE"),
        "",
    );
    assert_eq!(k.status, 200);
    assert_eq!(k.json()["code"], 0);
    rt.block_on(async {
        let mut closed = false;
        for _ in 0..10_000 {
            if player.next_event(T).await.is_err() {
                closed = true;
                break;
            }
        }
        assert!(closed, "kicked player still connected");
    });
    let again = request(api, "DELETE", &format!("/api/v1/clients/{player_cid}"), "");
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["code"], 2049);

    // The raw API is off by default, as SRS (1061); unknown paths are JSON errors.
    let r = request(api, "GET", "/api/v1/raw?rpc=reload", "");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], 1061);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!server.log().contains("config reloaded"));
    let nope = request(api, "GET", "/api/v1/nothing", "");
    assert_eq!(nope.status, 404);
    assert!(nope.json()["code"].as_u64().unwrap() > 0);
}

#[test]
fn static_files_ranges_and_traversal() {
    let (server, html) = http_server("");
    let http = http_addr(&server, "server");
    std::fs::create_dir_all(html.path().join("live")).unwrap();
    std::fs::write(html.path().join("live/a.m3u8"), b"#EXTM3U\n").unwrap();
    std::fs::write(html.path().join("live/a-0.ts"), vec![0x47u8; 188 * 4]).unwrap();
    std::fs::write(html.path().join("index.html"), b"<html>hello</html>").unwrap();
    let outside = html
        .path()
        .parent()
        .unwrap()
        .join(format!("secret-{}", std::process::id()));
    std::fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, html.path().join("link")).unwrap();

    let r = request(http, "GET", "/index.html", "");
    assert_eq!((r.status, &r.body[..]), (200, &b"<html>hello</html>"[..]));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let m = request(http, "GET", "/live/a.m3u8", "");
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type").unwrap().contains("mpegurl"),
        "{:?}",
        m.header("content-type")
    );
    let ts = request(http, "GET", "/live/a-0.ts", "Range: bytes=0-3\r\n");
    assert_eq!(ts.status, 206);
    assert_eq!(ts.body, vec![0x47; 4]);
    assert_eq!(ts.header("content-type"), Some("video/mp2t"));
    // Ranges beyond the end are refused; a malformed range is ignored (whole file).
    assert_eq!(
        request(http, "GET", "/live/a-0.ts", "Range: bytes=99999-\r\n").status,
        416
    );
    let bad = request(http, "GET", "/live/a-0.ts", "Range: bytes=zz\r\n");
    assert!(bad.status == 200 || bad.status == 416, "{}", bad.status);
    // Traversal in every spelling, and a symlink out of the directory.
    for p in [
        "/../secret",
        "/%2e%2e/secret",
        "/live/%2E%2E/%2E%2E/secret",
        "/%252e%252e/secret",
        "/link",
        "/..%2f..%2fsecret",
    ] {
        let r = request(http, "GET", p, "");
        assert!(
            r.status == 403 || r.status == 404 || r.status == 400,
            "{p}: {}",
            r.status
        );
        assert!(
            !String::from_utf8_lossy(&r.body).contains("secret"),
            "{p} leaked the file"
        );
    }
    let _ = std::fs::remove_file(&outside);
}

#[test]
fn malformed_http_is_refused_and_others_are_unharmed() {
    let (server, _html) = http_server("");
    let http = http_addr(&server, "server");
    // Oversized headers: refused (431) or closed, never buffered without bound.
    let big = format!("X-Big: {}\r\n", "a".repeat(200_000));
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    let _ = write!(s, "GET / HTTP/1.1\r\nHost: x\r\n{big}\r\n");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.is_empty() || head.starts_with("HTTP/1.1 431") || head.starts_with("HTTP/1.1 400"),
        "{head}"
    );
    // Garbage instead of a request line.
    let mut g = TcpStream::connect(http).unwrap();
    g.set_read_timeout(Some(T)).unwrap();
    g.write_all(b"\x16\x03\x01garbage\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = g.read_to_end(&mut buf);
    assert!(buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 400"));
    // Slowloris: a request head that never ends is cut off after the header timeout.
    let mut slow = TcpStream::connect(http).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(25)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    let mut b = [0u8; 256];
    let n = slow.read(&mut b).unwrap_or(0);
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&b[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        took < Duration::from_secs(20),
        "slowloris kept for {took:?}"
    );
    // Meanwhile and after, normal requests are served.
    assert_eq!(request(http, "GET", "/nothing", "").status, 404);
    assert!(!server.log().contains("panicked"));
}

#[test]
fn http_flv_players_are_listed_and_kicked() {
    let (server, _html) = http_server("");
    let api = http_addr(&server, "api");
    let http = http_addr(&server, "server");
    let _p = ffmpeg_publish(&server.url("live/kickme"), 60);
    wait_publishing(&server, 1);
    let mut s = TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(s, "GET /live/kickme.flv HTTP/1.1\r\nHost: {http}\r\n\r\n").unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).unwrap();
    assert!(String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 200"));
    let mut cid = String::new();
    assert!(wait_until(T, || {
        let c = request(api, "GET", "/api/v1/clients", "").json();
        if let Some(p) = c["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "flv-play")
        {
            cid = p["id"].as_str().unwrap().to_string();
            assert_eq!(p["url"], "/live/kickme");
            return true;
        }
        false
    }));
    assert_eq!(
        request(api, "DELETE", &format!("/api/v1/clients/{cid}"), "").status,
        200
    );
    // The response ends: reads reach EOF (after the data already in flight).
    let started = Instant::now();
    let mut buf = vec![0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => assert!(started.elapsed() < T, "kicked FLV player still fed"),
        }
    }
}

#[test]
fn raw_api_switches_and_basic_auth() {
    let html = tempfile::tempdir().unwrap();
    let server = Server::start(&format!(
        "http_api {{ enabled on; listen 127.0.0.1:0; raw_api {{ enabled on; allow_reload off; }} }}\n\
         http_server {{ enabled on; listen 127.0.0.2:0; dir {}; }}\n\
         vhost __defaultVhost__ {{ }}\n",
        html.path().display()
    ));
    let api = http_addr(&server, "api");
    // On, but reload not allowed: 1061; an rpc it does not serve: 1060.
    assert_eq!(
        request(api, "GET", "/api/v1/raw?rpc=reload", "").json()["code"],
        1061
    );
    assert_eq!(
        request(api, "GET", "/api/v1/raw?rpc=format", "").json()["code"],
        1060
    );
    assert!(!server.log().contains("config reloaded"));

    // Reload allowed, behind credentials.
    let conf = server.dir.path().join("srs.conf");
    let text = std::fs::read_to_string(&conf).unwrap().replace(
        "raw_api { enabled on; allow_reload off; }",
        "raw_api { enabled on; allow_reload on; } auth { enabled on; username ops; password \"p w\"; }",
    );
    std::fs::write(&conf, text).unwrap();
    server.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(server.wait_log("config reloaded", T));
    std::thread::sleep(Duration::from_millis(500));
    let before = server.count_log("config reloaded");
    // No or wrong credentials: 401 with SRS's challenge, on every API path, kicks,
    // reload and /metrics included.
    for (method, path) in [
        ("GET", "/api/v1/versions"),
        ("GET", "/api/v1/raw?rpc=reload"),
        ("DELETE", "/api/v1/clients/abc"),
        ("GET", "/metrics"),
    ] {
        let r = request(api, method, path, "");
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
                .map(|(_, v)| v.as_str()),
            Some("Basic realm=\"SRS\""),
            "{method} {path}: {:?}",
            r.headers
        );
        // "ops:wrong"
        let bad = request(api, method, path, "Authorization: Basic b3BzOndyb25n\r\n");
        assert_eq!(bad.status, 401, "{method} {path}");
    }
    assert_eq!(server.count_log("config reloaded"), before);
    // "ops:p w"
    let good = "Authorization: Basic b3BzOnAgdw==\r\n";
    assert_eq!(request(api, "GET", "/api/v1/versions", good).status, 200);
    let r = request(api, "GET", "/api/v1/raw?rpc=reload", good);
    assert_eq!(r.json()["code"], 0);
    assert!(wait_until(T, || server.count_log("config reloaded") > before));
    assert_eq!(request(api, "GET", "/metrics", good).status, 200);
    // The HTTP server's files need no credentials.
    std::fs::write(html.path().join("a.txt"), b"hi").unwrap();
    assert_eq!(
        request(http_addr(&server, "server"), "GET", "/a.txt", "").status,
        200
    );
}

/// The first `n` bytes of a live HTTP response body (its head skipped; not chunked).
fn read_live(addr: SocketAddr, path: &str, n: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    // HTTP/1.0: the body comes as is, not chunked, until the connection closes.
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        let got = s.read(&mut buf).unwrap_or(0);
        if got == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..got]);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..p]).to_lowercase();
            assert!(
                head.lines().next().is_some_and(|l| l.contains(" 200")),
                "{head}"
            );
            assert!(!head.contains("chunked"), "{head}");
            if raw.len() >= p + 4 + n {
                return raw[p + 4..p + 4 + n].to_vec();
            }
        }
    }
    panic!("{path}: not {n} bytes in {T:?}: {} bytes", raw.len());
}

/// The tag types of an FLV byte stream (the last tag may be cut).
fn flv_tag_types(b: &[u8]) -> Vec<u8> {
    let mut r = srs_protocol::flv::FlvReader::new();
    r.push(b);
    let mut out = Vec::new();
    while let Ok(Some(t)) = r.next_tag() {
        out.push(t.tag_type);
    }
    out
}

#[test]
fn http_ts_and_mount_templates() {
    let server = Server::start(
        "http_server { enabled on; listen 127.0.0.1:0; }\n\
         vhost __defaultVhost__ { http_remux { enabled on; mount [vhost]/[app]/[stream].ts; } }\n\
         vhost tv.example { http_remux { enabled on; mount /tv/[app]/[stream]-hd.flv; } }\n",
    );
    let http = server.http_addr("server").expect("HTTP server listener");
    let _a = ffmpeg_publish(&server.url("live/ts"), 60);
    let _b = ffmpeg_publish(&server.url("live?vhost=tv.example/show"), 60);
    wait_publishing(&server, 2);
    // HTTP-TS: ffprobe decodes it.
    let ts = ffprobe(&format!("http://{http}/live/ts.ts"), 3.0, T).unwrap();
    ts.assert_h264_aac(20);
    let head = read_live(http, "/live/ts.ts", 188 * 20);
    assert!(
        head.chunks(188).all(|p| p[0] == 0x47),
        "188-byte TS packets"
    );
    // The other vhost's template, the vhost named by ?vhost= (or the Host header).
    let hd = ffprobe(
        &format!("http://{http}/tv/live/show-hd.flv?vhost=tv.example"),
        3.0,
        T,
    )
    .unwrap();
    hd.assert_h264_aac(20);
    // Paths the templates do not make are not streams.
    for p in [
        "/live/ts.flv",
        "/tv/live/show.flv?vhost=tv.example",
        "/live/show-hd.flv",
    ] {
        assert_eq!(request(http, "GET", p, "").status, 404, "{p}");
    }
}

#[test]
fn flv_header_flags_follow_has_audio_has_video_and_the_guess() {
    let server = Server::start(
        "http_server { enabled on; listen 127.0.0.1:0; }\n\
         vhost __defaultVhost__ { http_remux { enabled on; } }\n\
         vhost fixed.example { http_remux { enabled on; guess_has_av off; has_audio off; } }\n",
    );
    let http = server.http_addr("server").expect("HTTP server listener");
    // Video only: the default guess says so in the header.
    let _v = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=25",
            "-t",
            "60",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "25",
            "-an",
            "-f",
            "flv",
            &server.url("live/video"),
        ],
    );
    // Audio and video on a vhost that says "no audio": the header says so, and no audio
    // tag is sent (drop_if_not_match, on by default).
    let _av = ffmpeg_publish(&server.url("live?vhost=fixed.example/both"), 60);
    wait_publishing(&server, 2);
    std::thread::sleep(Duration::from_secs(2));
    let guessed = read_live(http, "/live/video.flv", 20_000);
    assert_eq!(guessed[4], 1, "guessed: video only");
    let fixed = read_live(http, "/fixed.example/live/both.flv", 60_000);
    assert_eq!(fixed[4], 1, "has_audio off: video only");
    let types = flv_tag_types(&fixed);
    assert!(types.contains(&9) && !types.contains(&8), "{types:?}");
    // The default vhost, audio and video, guessed: both flags.
    let _both = ffmpeg_publish(&server.url("live/both"), 60);
    wait_publishing(&server, 3);
    std::thread::sleep(Duration::from_secs(2));
    let both = read_live(http, "/live/both.flv", 60_000);
    assert_eq!(both[4], 5, "audio and video");
    assert!(flv_tag_types(&both).contains(&8));
}
