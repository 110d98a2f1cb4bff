//! Access control: SRS's `security` allow/deny lists, with a real encoder and exact
//! statuses from our client.

use srs_tests::{ffmpeg_publish, ffprobe, Server};
use std::time::Duration;

fn play_status(url: &str) -> Result<(), String> {
    srs_tests::rt().block_on(async {
        let u = srs_client::RtmpUrl::parse(url).map_err(|e| e.to_string())?;
        let mut c = srs_client::Client::connect_url(&u, &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        c.play(&u.stream).await.map_err(|e| e.to_string())
    })
}

#[test]
fn security_rules_refuse_and_say_which_rule() {
    // Loopback may publish, only 10/8 may play: our player is refused (allow rules exist,
    // none matched), the encoder is not.
    let a = Server::start(
        "vhost __defaultVhost__ { security { enabled on; allow publish 127.0.0.1; allow play 10.0.0.0/8; } }\n",
    );
    let _enc = ffmpeg_publish(&a.url("live/s"), 30);
    srs_tests::wait_publishing(&a, 1);
    let e = play_status(&a.url("live/s")).unwrap_err();
    assert!(e.contains("NetStream.Play.Rejected"), "{e}");
    assert!(
        a.wait_log("not allowed for 127.0.0.1", Duration::from_secs(5)),
        "{}",
        a.log()
    );

    // A deny names its rule; deny goes first, whatever allow follows.
    let b = Server::start(
        "vhost __defaultVhost__ { security { enabled on; deny play 127.0.0.0/8; allow play all; allow publish all; } }\n",
    );
    let _enc2 = ffmpeg_publish(&b.url("live/s"), 30);
    srs_tests::wait_publishing(&b, 1);
    let e = play_status(&b.url("live/s")).unwrap_err();
    assert!(e.contains("NetStream.Play.Rejected"), "{e}");
    assert!(
        b.wait_log(
            "denied for 127.0.0.1 by rule \"deny play 127.0.0.0/8\"",
            Duration::from_secs(5)
        ),
        "{}",
        b.log()
    );

    // Publishing denied: ffmpeg fails at once, nothing is published.
    let c = Server::start(
        "vhost __defaultVhost__ { security { enabled on; deny publish all; allow play all; } }\n",
    );
    let mut enc3 = ffmpeg_publish(&c.url("live/s"), 30);
    let status = enc3.wait(Duration::from_secs(10)).expect("ffmpeg gives up");
    assert!(!status.success());
    assert_eq!(c.count_log("publish start"), 0);

    // Security off (or allowing): plays, HTTP-FLV included.
    let d = Server::start(
        "http_server { enabled on; listen 127.0.0.1:0; }\n\
         vhost __defaultVhost__ { security { enabled on; allow play 127.0.0.1; allow publish 127.0.0.1; } http_remux { enabled on; } }\n",
    );
    let _enc4 = ffmpeg_publish(&d.url("live/s"), 30);
    srs_tests::wait_publishing(&d, 1);
    play_status(&d.url("live/s")).unwrap();
    ffprobe(&d.http_url("/live/s.flv"), 1.0, Duration::from_secs(20))
        .unwrap()
        .assert_h264_aac(5);
}
