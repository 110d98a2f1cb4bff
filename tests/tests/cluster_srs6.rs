//! Cluster interop with the real SRS 6 (`../shared/peers/srs6`, or `$SRS6_DIR`): our edge on
//! an SRS 6 origin and an SRS 6 edge on our origin, forwards both ways, and a publish
//! through our edge into an SRS 6 origin. Judged by ffprobe decoding the stream at the far
//! end.

use srs_tests::{ffmpeg_publish, ffprobe, Server, Srs6};
use std::time::Duration;

fn probe_ok(url: &str, what: &str) {
    match ffprobe(url, 2.0, Duration::from_secs(30)) {
        Ok(p) => p.assert_h264_aac(10),
        Err(e) => panic!("{what}: ffprobe {url}: {e}"),
    }
}

#[test]
fn our_edge_pulls_from_an_srs6_origin() {
    let srs = Srs6::start("");
    let _enc = ffmpeg_publish(&srs.url("live/s"), 60);
    let e = Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; }} }}\n",
        srs.addr()
    ));
    // The encoder needs a moment to reach SRS; the edge retries meanwhile.
    std::thread::sleep(Duration::from_secs(2));
    probe_ok(&e.url("live/s"), "our edge on SRS 6");
    assert!(e.log().contains("edge: stream live from the origin"));
}

#[test]
fn an_srs6_edge_pulls_from_our_origin() {
    let o = Server::start("vhost __defaultVhost__ { }\n");
    let _enc = ffmpeg_publish(&o.url("live/s"), 60);
    srs_tests::wait_publishing(&o, 1);
    let srs = Srs6::start(&format!("cluster {{ mode remote; origin {}; }}", o.rtmp[0]));
    probe_ok(&srs.url("live/s"), "SRS 6 edge on our origin");
    // SRS's edge is one play client of ours.
    let plays = o
        .cli(&["clients"])
        .map(|v| {
            v["clients"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["type"] == "play")
                .count()
        })
        .unwrap_or(0);
    assert!(plays <= 1, "{plays}");
}

#[test]
fn we_forward_into_srs6() {
    let srs = Srs6::start("");
    let a = Server::start(&format!(
        "vhost __defaultVhost__ {{ forward {{ enabled on; destination {}; }} }}\n",
        srs.addr()
    ));
    let _enc = ffmpeg_publish(&a.url("live/s"), 60);
    srs_tests::wait_publishing(&a, 1);
    probe_ok(&srs.url("live/s"), "our forward into SRS 6");
}

#[test]
fn srs6_forwards_into_us() {
    let us = Server::start("vhost __defaultVhost__ { }\n");
    let srs = Srs6::start(&format!(
        "forward {{ enabled on; destination {}; }}",
        us.rtmp[0]
    ));
    let _enc = ffmpeg_publish(&srs.url("live/s"), 60);
    assert!(
        us.wait_log("publish start", Duration::from_secs(20)),
        "SRS 6's forward did not arrive:\n{}",
        srs.log()
    );
    probe_ok(&us.url("live/s"), "SRS 6 forward into us");
}

#[test]
fn publishing_through_our_edge_into_an_srs6_origin() {
    let srs = Srs6::start("");
    let e = Server::start(&format!(
        "vhost __defaultVhost__ {{ cluster {{ mode remote; origin {}; }} }}\n",
        srs.addr()
    ));
    let _enc = ffmpeg_publish(&e.url("live/pushed"), 60);
    assert!(
        e.wait_log("push: publishing", Duration::from_secs(20)),
        "{}",
        e.log()
    );
    probe_ok(&srs.url("live/pushed"), "our edge push into SRS 6");
}
