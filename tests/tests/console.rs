//! SRS's own web console (SRS 6's `trunk/research/console`, unchanged, from
//! `../shared/peers/srs6/console`) against our HTTP API in headless Chromium: the summary,
//! vhosts, streams and clients views fill in, the stream page opens, and its "Kickoff"
//! links disconnect a player and a publisher. `tests/browser/console.js` drives the page.
//!
//! Needs `chromium`, `node` and `npm` (as the player page's test): a missing one fails the
//! test with the command that installs it, never skips it.

use srs_tests::{
    browser_dir, ffmpeg_publish, require_browser, require_tool, wait_publishing, wait_until, Proc,
    Server, CHROMIUM,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The console as SRS 6 ships it.
fn console_dir() -> PathBuf {
    let dir = srs_tests::srs6_binary()
        .parent()
        .expect("SRS 6's folder")
        .join("console");
    assert!(
        dir.join("en_index.html").is_file(),
        "SRS's console not found at {}",
        dir.display()
    );
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn srs_console_shows_everything_and_kicks() {
    require_browser();
    require_tool("ffmpeg");
    let www = tempfile::tempdir().unwrap();
    copy_dir(&console_dir(), &www.path().join("console"));
    let d = www.path().display();
    // The API on 127.0.0.1 and the console on 127.0.0.2: two origins, as an operator has
    // them (the console calls the API by JSONP).
    let server = Server::start(&format!(
        "http_api {{ enabled on; listen 127.0.0.1:0; }}\n\
         http_server {{ enabled on; listen 127.0.0.2:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ }}\n"
    ));
    let api = server
        .http_addr("api")
        .unwrap_or_else(|| panic!("no API listener:\n{}", server.log()));
    let mut publisher = ffmpeg_publish(&server.url("live/console"), 120);
    wait_publishing(&server, 1);
    let mut player = Proc::spawn(
        "ffmpeg",
        &[
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-i",
            &server.url("live/console"),
            "-f",
            "null",
            "-",
        ],
    );
    assert!(
        wait_until(Duration::from_secs(20), || server
            .log()
            .contains("play start")),
        "{}",
        server.log()
    );
    let base = server.http_url("/console/en_index.html");
    let out_dir = tempfile::tempdir().unwrap();
    let (out, err) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new("node")
        .arg(browser_dir().join("console.js"))
        .args([
            base.as_str(),
            &api.ip().to_string(),
            &api.port().to_string(),
            "console",
        ])
        .args(["--chromium", CHROMIUM, "--timeout", "30"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn node console.js");
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("console.js ran over 180 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let report: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("console.js ({status}) printed no JSON\n{stdout}\n{stderr}"));
    eprintln!("{report:#}");
    assert_eq!(
        report["ok"],
        true,
        "SRS's console did not work against us: {report:#}\nserver log:\n{}",
        server.log()
    );
    // The summary: version, pid, uptime, CPU, memory, load.
    let summary = report["summary"].as_str().unwrap_or_default();
    for want in ["SRS/", "Alive", "CPU", "Memory", "Load", "Network"] {
        assert!(summary.contains(want), "summary lacks {want}: {summary}");
    }
    // The stream row: its codecs, and clients counted.
    let rows = report["streams"].to_string();
    assert!(rows.contains("H264") && rows.contains("AAC"), "{rows}");
    assert!(report["stream"]
        .as_str()
        .unwrap_or_default()
        .contains("console"));
    // The kicks reached the clients: both ffmpegs end.
    assert!(
        player.wait(Duration::from_secs(20)).is_ok(),
        "the player kicked from the console is still connected:\n{}",
        server.log()
    );
    assert!(
        publisher.wait(Duration::from_secs(20)).is_ok(),
        "the publisher kicked from the console is still connected:\n{}",
        server.log()
    );
}
