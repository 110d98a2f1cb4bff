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

/// Publish `url` from a page (ffmpeg sends no pageUrl when it publishes, so our client
/// does): Ok once `NetStream.Publish.Start` came; AAC frames then go on for 20 s.
fn publish_from_page(url: &str, page: &str) -> Result<tokio::runtime::Runtime, String> {
    let rt = srs_tests::rt();
    let mut c = rt.block_on(async {
        let u = srs_client::RtmpUrl::parse(url).map_err(|e| e.to_string())?;
        let opts = srs_client::Options {
            page_url: page.into(),
            ..Default::default()
        };
        let mut c = srs_client::Client::connect_url(&u, &opts)
            .await
            .map_err(|e| e.to_string())?;
        c.publish(&u.stream).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(c)
    })?;
    rt.spawn(async move {
        // AAC LC 44.1 kHz stereo: the sequence header, then silent frames.
        let _ = c.write(8, 0, &[0xaf, 0x00, 0x12, 0x10]).await;
        for n in 0..870u32 {
            if c.write(8, n * 23, &[0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c])
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(23)).await;
        }
    });
    Ok(rt)
}

#[test]
fn refer_lists_check_the_page_domain_of_publish_and_play() {
    // SRS 3+ syntax on one vhost, SRS 1's refer_publish/refer_play on another.
    let s = Server::start(
        "vhost __defaultVhost__ { refer { enabled on; publish studio.example.com; play example.net; } }\n\
         vhost old.test { refer_publish studio.example.com; refer_play example.net; }\n",
    );
    for vhost in ["", "?vhost=old.test"] {
        let url = s.url(&format!("live{vhost}/s"));
        // A publisher on the wrong domain is refused; one on the right domain publishes.
        let e = publish_from_page(&url, "http://www.evil.example/studio.example.com").unwrap_err();
        assert!(e.contains("NetStream.Publish.Rejected"), "{e}");
        let _good = publish_from_page(&url, "https://studio.example.com/desk").unwrap();
        // rtmpdump as a player from the wrong domain is refused...
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.flv");
        let out_s = out.to_string_lossy().to_string();
        let mut p = srs_tests::Proc::spawn(
            "rtmpdump",
            &[
                "-q",
                "-v",
                "-r",
                &url,
                "-p",
                "http://studio.example.com/page",
                "-o",
                &out_s,
                "-B",
                "3",
            ],
        );
        let st = p.wait(Duration::from_secs(15)).unwrap();
        assert!(
            !st.success() || srs_tests::file_len(&out) < 1000,
            "refused player got media"
        );
        // ...and from the right one plays.
        let out2 = dir.path().join("q.flv");
        let out2_s = out2.to_string_lossy().to_string();
        let _q = srs_tests::Proc::spawn(
            "rtmpdump",
            &[
                "-q",
                "-v",
                "-r",
                &url,
                "-p",
                "http://www.example.net/watch",
                "-o",
                &out2_s,
            ],
        );
        assert!(
            srs_tests::wait_until(Duration::from_secs(15), || srs_tests::file_len(&out2)
                > 2000),
            "the allowed player got nothing:\n{}",
            s.log()
        );
    }
    assert!(s.count_log("refer check failed") >= 4, "{}", s.log());
}
