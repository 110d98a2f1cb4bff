//! The player page (`/players/`, built into httpd) in a real browser: headless Chromium,
//! driven by `tests/browser/check.js` (playwright-core), loads the page while ffmpeg
//! publishes and checks that the video's currentTime advances, over HTTP-FLV (mpegts.js)
//! and over HLS (hls.js). The page reads the stream list from the HTTP API on another
//! address (`?api=`, so CORS is exercised too).
//!
//! Needs `chromium` (Debian's package, at /usr/bin/chromium), `node` and `npm`: a missing
//! one fails the test with the command that installs it (`.ci/run` does), never skips it.

use srs_tests::{
    browser_dir, ffmpeg_publish, require_browser, require_tool, wait_publishing, wait_until,
    Server, CHROMIUM,
};

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How much of the video must play.
const MIN_ADVANCE_S: u32 = 2;
/// How long check.js waits for it (Chromium's start included).
const PLAY_TIMEOUT_S: u32 = 30;
/// Hard bound on check.js itself (a hung Chromium is killed).
const CHECK_KILL_AFTER: Duration = Duration::from_secs(75);

/// One browser at a time: Chromium, ffmpeg and the server tree share two cores, and the
/// first test may run `npm ci`.
static BROWSER: Mutex<()> = Mutex::new(());

/// Percent-encode a query parameter's value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Run check.js on `page`; its JSON report, whatever the outcome.
fn check(page: &str, expect_stream: Option<&str>) -> serde_json::Value {
    let out_dir = tempfile::tempdir().unwrap();
    let (out, err) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let mut child = Command::new("node")
        .arg(browser_dir().join("check.js"))
        .arg(page)
        .args(["--min-advance", &MIN_ADVANCE_S.to_string()])
        .args(["--timeout", &PLAY_TIMEOUT_S.to_string()])
        .args(["--chromium", CHROMIUM])
        .args(expect_stream.map_or(vec![], |s| vec!["--expect-stream", s]))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("spawn node check.js");
    let deadline = Instant::now() + CHECK_KILL_AFTER;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for check.js") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let Some(status) = status else {
        panic!("check.js ran over {CHECK_KILL_AFTER:?} and was killed\nstdout: {stdout}\nstderr: {stderr}");
    };
    let report = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| {
            panic!("check.js ({status}) printed no JSON\nstdout: {stdout}\nstderr: {stderr}")
        });
    assert!(
        status.code() != Some(2),
        "check.js could not drive Chromium: {report}\nstderr: {stderr}"
    );
    report
}

/// Start a server with HTTP-FLV and HLS, publish, and play `ext` (`flv`, `m3u8`) in
/// Chromium through the player page.
fn plays_in_chromium(ext: &str, engine: &str) {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    require_browser();
    require_tool("ffmpeg");

    let www = tempfile::tempdir().unwrap();
    let d = www.path().display();
    // The API on 127.0.0.1 and the page on 127.0.0.2: two origins, as with SRS's 1985/8080.
    let server = Server::start(&format!(
        "http_api {{ enabled on; listen 127.0.0.1:0; }}\n\
         http_server {{ enabled on; listen 127.0.0.2:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{\n\
             http_remux {{ enabled on; mount [vhost]/[app]/[stream].flv; }}\n\
             hls {{ enabled on; hls_fragment 2; hls_window 10; hls_path {d}; }}\n\
         }}\n"
    ));
    let api = server
        .http_addr("api")
        .unwrap_or_else(|| panic!("no HTTP API listener in the log:\n{}", server.log()));
    let _publisher = ffmpeg_publish(&server.url("live/livestream"), 120);
    wait_publishing(&server, 1);
    if ext == "m3u8" {
        // Not required by the page (it retries), but a missing playlist says more here
        // than a browser that never started playing.
        let playlist = www.path().join("live/livestream.m3u8");
        assert!(
            wait_until(Duration::from_secs(20), || playlist.is_file()),
            "no HLS playlist at {} 20 s after publishing: is HLS implemented?\n{}",
            playlist.display(),
            server.log()
        );
    }

    let stream = server.http_url(&format!("/live/livestream.{ext}"));
    let page = server.http_url(&format!(
        "/players/?api={}&url={}",
        encode(&format!("http://{api}")),
        encode(&stream)
    ));
    let report = check(&page, Some("live/livestream"));
    eprintln!("{ext}: {report}");
    assert_eq!(
        report["ok"],
        true,
        "the {ext} stream did not play in Chromium: {report:#}\nserver log:\n{}",
        server.log()
    );
    assert_eq!(report["state"]["engine"], engine, "{report:#}");
    assert!(report["advanced"].as_f64().unwrap_or(0.0) >= f64::from(MIN_ADVANCE_S));
    assert_eq!(report["streamListed"], true, "{report:#}");
    // The publisher's 320x240 picture reached the video element.
    assert_eq!(report["state"]["videoWidth"], 320, "{report:#}");
}

#[test]
fn http_flv_plays_in_chromium_with_mpegts_js() {
    plays_in_chromium("flv", "mpegts.js");
}

#[test]
fn hls_plays_in_chromium_with_hls_js() {
    plays_in_chromium("m3u8", "hls.js");
}

/// A DVR recording to MP4, served by the HTTP server from its directory, plays in
/// Chromium by itself (no MediaSource player): the file is one a browser takes.
#[test]
fn dvr_mp4_recording_plays_in_chromium() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    require_browser();
    require_tool("ffmpeg");
    let www = tempfile::tempdir().unwrap();
    let d = www.path().display();
    let server = Server::start(&format!(
        "http_server {{ enabled on; listen 127.0.0.1:0; dir {d}; }}\n\
         vhost __defaultVhost__ {{ dvr {{ enabled on; dvr_path {d}/rec/[stream].mp4; }} }}\n"
    ));
    let mut enc = ffmpeg_publish(&server.url("live/recorded"), 6);
    let _ = enc.wait(Duration::from_secs(30));
    let file = www.path().join("rec/recorded.mp4");
    assert!(
        wait_until(Duration::from_secs(20), || file.is_file()),
        "no recording at {}:\n{}",
        file.display(),
        server.log()
    );
    let url = server.http_url("/rec/recorded.mp4");
    let page = server.http_url(&format!("/players/?url={}", encode(&url)));
    let report = check(&page, None);
    eprintln!("mp4: {report}");
    assert_eq!(
        report["ok"], true,
        "the recording did not play in Chromium: {report:#}"
    );
    assert_eq!(report["state"]["engine"], "native", "{report:#}");
    assert_eq!(report["state"]["videoWidth"], 320, "{report:#}");
}
