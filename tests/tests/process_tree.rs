//! The process tree with real processes and real clients: two stream workers share the
//! players; a worker or backsource killed with SIGKILL comes back within a second and harms
//! nobody else; SIGHUP changes ports, vhost settings and the worker count without dropping
//! players; SIGQUIT drains; no child and no ring file outlives a stop.

use nix::sys::signal::Signal;
use srs_protocol::session::ClientEvent;
use srs_tests::client::{publish_counted, RtmpClient};
use srs_tests::{ffmpeg_publish, ffprobe, rt, wait_publishing, wait_until, Proc, Server};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(30);

fn pid_of(p: &serde_json::Value) -> i32 {
    p["pid"].as_i64().unwrap_or(0) as i32
}

fn alive(pid: i32) -> bool {
    pid > 0 && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

/// Which worker serves the client whose local address is `addr`.
fn worker_of(server: &Server, addr: &str) -> Option<String> {
    let v = server.cli(&["clients"]).ok()?;
    v["clients"]
        .as_array()?
        .iter()
        .find(|c| c["peer"] == addr)
        .and_then(|c| c["process"].as_str().map(str::to_string))
}

#[test]
fn two_workers_share_forty_players_of_three_kinds() {
    let server = Server::start("worker_processes 2;\n");
    let url = server.url("live/forty");
    let _publisher = ffmpeg_publish(&url, 60);
    wait_publishing(&server, 1);
    let dir = tempfile::tempdir().unwrap();
    // 10 ffmpeg players decoding, 10 rtmpdump players, 20 of ours.
    let mut procs = Vec::new();
    for i in 0..10 {
        procs.push(Proc::spawn(
            "ffmpeg",
            &[
                "-hide_banner",
                "-nostats",
                "-loglevel",
                "error",
                "-i",
                &url,
                "-t",
                "20",
                "-f",
                "null",
                "-",
            ],
        ));
        let out = dir.path().join(format!("d{i}.flv"));
        procs.push(Proc::spawn(
            "rtmpdump",
            &[
                "-q",
                "-v",
                "-r",
                &url,
                "-B",
                "20",
                "--stop",
                "20",
                "-o",
                out.to_str().unwrap(),
            ],
        ));
    }
    let rt = rt();
    let during = rt.block_on(async {
        let mut ours = Vec::new();
        for _ in 0..20 {
            let mut c = RtmpClient::connect(&url).await.unwrap();
            c.play().await.unwrap();
            ours.push(c);
        }
        // Every one of ours gets video.
        for c in ours.iter_mut() {
            let mut frames = 0;
            while frames < 10 {
                if let ClientEvent::Media { type_id: 9, .. } = c.next_event(T).await.unwrap() {
                    frames += 1;
                }
            }
        }
        // While all 40 are on (the ffmpeg and rtmpdump players may take a moment to
        // start on a busy machine): both workers serve some.
        let mut workers = Vec::new();
        wait_until(T, || {
            workers = server.processes("stream-worker");
            workers
                .iter()
                .map(|w| w["connections"].as_u64().unwrap_or(0))
                .sum::<u64>()
                >= 40
        });
        (workers, ours)
    });
    let (workers, _ours) = during;
    assert_eq!(workers.len(), 2, "{workers:?}");
    let conns: Vec<u64> = workers
        .iter()
        .map(|w| w["connections"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        conns.iter().all(|c| *c > 0),
        "both workers serve players: {conns:?}"
    );
    assert!(
        conns.iter().sum::<u64>() >= 40,
        "{conns:?} {}",
        server.cli(&["clients"]).unwrap()
    );
    // Let them all play a little more, then stop them (SIGINT: rtmpdump closes its file).
    std::thread::sleep(Duration::from_secs(2));
    for p in procs.iter_mut() {
        assert!(p.is_running(), "a player quit early: {}", p.stderr());
    }
    for mut p in procs {
        p.interrupt();
    }
    // What rtmpdump wrote decodes.
    for i in 0..10 {
        let out = dir.path().join(format!("d{i}.flv"));
        ffprobe(out.to_str().unwrap(), 10.0, T)
            .unwrap()
            .assert_h264_aac(20);
    }
    ffprobe(&url, 2.0, T).unwrap().assert_h264_aac(10);
}

#[test]
fn killed_worker_is_back_within_a_second_and_others_lose_nothing() {
    let server = Server::start("worker_processes 2;\n");
    let url = server.url("live/kill");
    let rt = rt();
    rt.block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        // Players until both workers have some.
        let mut players = Vec::new();
        for _ in 0..40 {
            let mut c = RtmpClient::connect(&url).await.unwrap();
            c.play().await.unwrap();
            c.next_counted(T).await.unwrap();
            players.push(c);
            let mut by_worker = std::collections::HashMap::new();
            for c in &players {
                if let Some(w) = worker_of(&server, &c.local_addr()) {
                    *by_worker.entry(w).or_insert(0) += 1;
                }
            }
            if by_worker.len() == 2 && players.len() >= 6 {
                break;
            }
        }
        let placed: Vec<(String, RtmpClient)> = players
            .into_iter()
            .map(|c| (worker_of(&server, &c.local_addr()).unwrap_or_default(), c))
            .collect();
        let victim_name = placed[0].0.clone();
        let victim = server
            .processes("stream-worker")
            .into_iter()
            .find(|w| format!("worker-{}", w["index"]) == victim_name)
            .expect("victim worker");
        let victim_pid = pid_of(&victim);
        let (mut survivors, mut doomed): (Vec<_>, Vec<_>) =
            placed.into_iter().partition(|(w, _)| *w != victim_name);
        assert!(
            !survivors.is_empty() && !doomed.is_empty(),
            "players on both workers"
        );
        // Where each survivor is now.
        let mut last = Vec::new();
        for (_, c) in survivors.iter_mut() {
            last.push(c.next_counted(T).await.unwrap().0);
        }
        let killed_at = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim_pid), Signal::SIGKILL).unwrap();
        // Back within a second: a new pid for that index, registered with its API.
        let back = wait_until(Duration::from_secs(5), || {
            server.processes("stream-worker").iter().any(|w| {
                format!("worker-{}", w["index"]) == victim_name
                    && pid_of(w) != victim_pid
                    && pid_of(w) > 0
                    && w["api_port"].as_u64().unwrap_or(0) > 0
            })
        });
        let back_after = killed_at.elapsed();
        assert!(back, "worker not restarted");
        assert!(
            back_after < Duration::from_millis(1500),
            "restart took {back_after:?}"
        );
        // The victim's players were disconnected...
        for (_, c) in doomed.iter_mut() {
            let mut gone = false;
            for _ in 0..1000 {
                if c.next_event(T).await.is_err() {
                    gone = true;
                    break;
                }
            }
            assert!(gone);
        }
        // ...the others got every frame, in order, without a gap, through the kill.
        for ((_, c), mut prev) in survivors.iter_mut().zip(last) {
            for _ in 0..50 {
                let (n, _, _) = c.next_counted(T).await.unwrap();
                assert_eq!(n, prev + 1, "gap on a surviving worker");
                prev = n;
            }
        }
        // New players connect (on either worker).
        for i in 0..4 {
            let mut c = RtmpClient::connect(&url).await.unwrap();
            c.play().await.unwrap();
            if let Err(e) = c.next_counted(T).await {
                panic!(
                    "new player {i} ({}) got no frame: {e}\n{}",
                    c.local_addr(),
                    server.log()
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
        feed.await.unwrap().unwrap();
        eprintln!("worker back after {back_after:?}");
    });
    assert!(
        server.log().contains("child died, restarting"),
        "{}",
        server.log()
    );
}

#[test]
fn killed_backsource_is_back_and_the_encoder_republishes_at_once() {
    let server = Server::start("worker_processes 2;\n");
    let url = server.url("live/bs");
    let rt = rt();
    rt.block_on(async {
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        player.next_counted(T).await.unwrap();
        let bs = server.processes("backsource").pop().expect("backsource");
        let bs_pid = pid_of(&bs);
        let killed_at = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(bs_pid), Signal::SIGKILL).unwrap();
        // The publisher's connection died with it.
        assert!(
            feed.await.unwrap().is_err(),
            "publisher connection should drop with backsource"
        );
        let back = wait_until(Duration::from_secs(5), || {
            server.processes("backsource").iter().any(|b| {
                pid_of(b) != bs_pid && pid_of(b) > 0 && b["api_port"].as_u64().unwrap_or(0) > 0
            })
        });
        let back_after = killed_at.elapsed();
        assert!(
            back && back_after < Duration::from_millis(1500),
            "backsource back after {back_after:?}"
        );
        // The player is told the publisher left, and stays.
        player
            .expect_status("NetStream.Play.UnpublishNotify")
            .await
            .unwrap();
        // The encoder republishes at once.
        let started = Instant::now();
        let mut p2 = RtmpClient::connect(&url).await.unwrap();
        p2.publish().await.unwrap();
        let republish = started.elapsed();
        let stop2 = Arc::new(AtomicBool::new(false));
        let feed2 = tokio::spawn(publish_counted(p2, stop2.clone()));
        player
            .expect_status("NetStream.Play.PublishNotify")
            .await
            .unwrap();
        let (n, _, key) = player.next_counted(T).await.unwrap();
        assert!(
            key && n == 0,
            "the republish starts at its first keyframe: {n}"
        );
        stop2.store(true, Ordering::Relaxed);
        feed2.await.unwrap().unwrap();
        assert!(
            republish < Duration::from_secs(3),
            "republish took {republish:?}"
        );
        eprintln!("backsource back after {back_after:?}, republish accepted after {republish:?}");
    });
}

#[test]
fn sighup_adds_a_port_turns_gop_cache_off_and_adds_a_worker_without_dropping_players() {
    let server =
        Server::start("worker_processes 1;\nvhost __defaultVhost__ { play { gop_cache on; } }\n");
    let url = server.url("live/hup");
    let rt = rt();
    rt.block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let feed = tokio::spawn(srs_tests::client::publish_counted_progress(
            p,
            stop.clone(),
            sent.clone(),
        ));
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        let (mut prev, _, _) = player.next_counted(T).await.unwrap();
        // Rewrite the config: a second port, gop_cache off, two workers.
        let conf = server.dir.path().join("srs.conf");
        let text = std::fs::read_to_string(&conf).unwrap();
        let text = text
            .replace("listen 127.0.0.1:0;", "listen 127.0.0.1:0 127.0.0.2:0;")
            .replace("worker_processes 1;", "worker_processes 2;")
            .replace("gop_cache on", "gop_cache off");
        std::fs::write(&conf, text).unwrap();
        server.signal(Signal::SIGHUP);
        assert!(server.wait_log("config reloaded", T), "{}", server.log());
        // Two workers now.
        assert!(wait_until(T, || server
            .processes("stream-worker")
            .iter()
            .filter(|w| w["api_port"].as_u64().unwrap_or(0) > 0)
            .count()
            == 2));
        // The existing player went on without a gap.
        for _ in 0..50 {
            let (n, _, _) = player.next_counted(T).await.unwrap();
            assert_eq!(n, prev + 1);
            prev = n;
        }
        // The new port serves.
        let new_addr = server
            .log()
            .lines()
            .filter(|l| l.contains("RTMP listening") && l.contains("127.0.0.2"))
            .filter_map(|l| {
                l.split("addr=")
                    .nth(1)
                    .and_then(|a| a.split_whitespace().next())
                    .map(str::to_string)
            })
            .last()
            .expect("new port logged");
        // Join in the middle of a GOP (keyframes every 25 frames).
        while prev % 25 != 10 {
            prev = player.next_counted(T).await.unwrap().0;
        }
        let mut late = RtmpClient::connect(&format!("rtmp://{new_addr}/live/hup"))
            .await
            .unwrap();
        late.play().await.unwrap();
        // Where the publisher is now (a frame may still be on its way).
        let live = sent.load(Ordering::Relaxed).saturating_sub(2);
        // gop_cache off: the late player does not get the cached GOP (which began about ten
        // frames before it joined); it waits for the next keyframe.
        let (first, _, key) = late.next_counted(T).await.unwrap();
        assert!(key, "first frame is a keyframe");
        assert!(
            first >= live,
            "no GOP cache: first frame {first} is older than the live point {live}"
        );
        stop.store(true, Ordering::Relaxed);
        feed.await.unwrap().unwrap();
    });
}

/// Ring files of this server's tree (its ring directory is in its log).
fn ring_files(server: &Server) -> Vec<String> {
    let dir = server
        .log()
        .lines()
        .find(|l| l.contains("stream rings in"))
        .and_then(|l| l.split("dir=").nth(1))
        .and_then(|d| d.split_whitespace().next())
        .map(str::to_string)
        .expect("ring directory logged");
    std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path().display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigquit_drains_then_nothing_is_left() {
    let mut server =
        Server::start("worker_processes 2;\ngrace_start_wait 200;\ngrace_final_wait 3000;\n");
    let url = server.url("live/drain");
    let rt = rt();
    let children: Vec<i32> = server.cli(&["status"]).unwrap()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] != "master")
        .map(pid_of)
        .collect();
    assert_eq!(children.len(), 4);
    rt.block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        player.next_counted(T).await.unwrap();
        assert!(
            !ring_files(&server).is_empty(),
            "a ring exists while publishing"
        );
        let quit_at = Instant::now();
        server.signal(Signal::SIGQUIT);
        // The player keeps getting frames for a while (the grace period)...
        let (mut prev, _, _) = player.next_counted(T).await.unwrap();
        let mut frames = 0;
        loop {
            match player.next_counted(Duration::from_secs(10)).await {
                Ok((n, _, _)) => {
                    assert_eq!(n, prev + 1);
                    prev = n;
                    frames += 1;
                }
                Err(_) => break,
            }
        }
        let served_for = quit_at.elapsed();
        assert!(
            frames >= 25,
            "players went on during the grace period ({frames} frames)"
        );
        assert!(
            served_for < Duration::from_secs(10),
            "drain bounded: {served_for:?}"
        );
        stop.store(true, Ordering::Relaxed);
        let _ = feed.await;
    });
    let status = server.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "master exits cleanly: {status:?}"
    );
    assert!(
        wait_until(T, || children.iter().all(|p| !alive(*p))),
        "a child outlived the master"
    );
    assert!(
        ring_files(&server).is_empty(),
        "ring files left: {:?}",
        ring_files(&server)
    );
    assert!(!server.run_dir().join("master.sock").exists());
}

#[test]
fn sigterm_leaves_no_child_and_no_ring() {
    let mut server = Server::start("worker_processes 2;\n");
    let url = server.url("live/term");
    let children: Vec<i32> = server.cli(&["status"]).unwrap()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] != "master")
        .map(pid_of)
        .collect();
    let _publisher = ffmpeg_publish(&url, 60);
    wait_publishing(&server, 1);
    assert!(wait_until(T, || !ring_files(&server).is_empty()));
    // The master's uptime counts (srs-cli status used to show 0s).
    std::thread::sleep(Duration::from_millis(1100));
    let master = server.processes("master");
    assert!(
        master[0]["uptime_s"].as_u64().unwrap_or(0) >= 1,
        "{master:?}"
    );
    let status = server.stop();
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(
        wait_until(T, || children.iter().all(|p| !alive(*p))),
        "a child outlived the master"
    );
    // A normal stop is no warning.
    assert!(
        !server
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("control link closed")),
        "{}",
        server.log()
    );
    assert!(
        ring_files(&server).is_empty(),
        "ring files left: {:?}",
        ring_files(&server)
    );
}

#[test]
fn malformed_control_frames_close_that_link_only() {
    let server = Server::start("worker_processes 1;\n");
    let sock = server.run_dir().join("master.sock");
    let rt = rt();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // An oversized frame, then bytes that are no message at all.
        for junk in [
            vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3],
            vec![0, 0, 0, 3, 0xee, 0xee, 0xee],
        ] {
            let mut s = tokio::net::UnixStream::connect(&sock).await.unwrap();
            s.write_all(&junk).await.unwrap();
            let mut b = [0u8; 16];
            let r = tokio::time::timeout(T, s.read(&mut b))
                .await
                .expect("link closed");
            assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        }
    });
    assert!(
        server.wait_log("control link closed", T),
        "{}",
        server.log()
    );
    // The master is fine: it answers and serves.
    assert_eq!(server.processes("stream-worker").len(), 1);
    rt.block_on(async {
        let mut c = RtmpClient::connect(&server.url("live/x")).await.unwrap();
        c.play().await.unwrap();
    });
}

#[test]
fn a_killed_master_leaves_no_orphans_and_the_next_start_cleans_its_rings() {
    let base = tempfile::tempdir().unwrap();
    let conf = base.path().join("srs.conf");
    let run_dir = base.path().join("run");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:0;\npid {d}/srs.pid;\nrun_dir {r};\nworker_processes 1;\nvhost __defaultVhost__ {{ }}\n",
            d = base.path().display(),
            r = run_dir.display()
        ),
    )
    .unwrap();
    let mut first = Server::start_config(&conf, tempfile::tempdir().unwrap(), 1);
    first.run_dir_override = Some(run_dir.clone());
    let children: Vec<i32> = first.cli(&["status"]).unwrap()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] != "master")
        .map(pid_of)
        .collect();
    assert_eq!(children.len(), 3);
    let url = first.url("live/orphan");
    let mut publisher = ffmpeg_publish(&url, 60);
    wait_publishing(&first, 1);
    assert!(wait_until(T, || !ring_files(&first).is_empty()));
    let rings = ring_files(&first);
    // A crash of the whole tree: backsource frozen (it cannot clean up), the master killed.
    let backsource = pid_of(&first.processes("backsource")[0]);
    let bs = nix::unistd::Pid::from_raw(backsource);
    nix::sys::signal::kill(bs, Signal::SIGSTOP).unwrap();
    first.signal(Signal::SIGKILL);
    // The children die with the master (its control link closes and the parent-death
    // signal follows)...
    assert!(
        wait_until(T, || children
            .iter()
            .filter(|p| **p != backsource)
            .all(|p| !alive(*p))),
        "orphans left"
    );
    // ...even a frozen one: SIGKILL needs no cooperation.
    let _ = nix::sys::signal::kill(bs, Signal::SIGCONT);
    assert!(
        wait_until(T, || !alive(backsource)),
        "backsource survived the master"
    );
    publisher.kill();
    // The killed backsource could not remove its ring...
    assert!(
        rings.iter().all(|r| std::path::Path::new(r).exists()),
        "ring expected to survive a SIGKILL"
    );
    // ...the next start on the same run_dir does.
    let second = Server::start_config(&conf, tempfile::tempdir().unwrap(), 1);
    assert!(
        second
            .log()
            .contains("removing rings left by an earlier run"),
        "{}",
        second.log()
    );
    assert!(
        rings.iter().all(|r| !std::path::Path::new(r).exists()),
        "stale rings not removed"
    );
    drop(second);
    drop(first);
}

/// A child that keeps dying is restarted at once the first times, then after a growing
/// delay with a log line that says so, and still comes back and serves.
#[test]
fn a_child_that_keeps_dying_is_restarted_with_backoff() {
    let server = Server::start("worker_processes 1;\n");
    let registered = |old: i32| {
        server
            .processes("stream-worker")
            .iter()
            .find(|w| pid_of(w) > 0 && pid_of(w) != old && w["api_port"].as_u64().unwrap_or(0) > 0)
            .map(pid_of)
    };
    let mut pid = 0;
    assert!(
        wait_until(Duration::from_secs(20), || {
            pid = registered(0).unwrap_or(0);
            pid > 0
        }),
        "worker registered"
    );
    // Deaths within 10 s: the first three restart at once, the next one waits 1 s. On a
    // slow machine an early death may leave the window, so kill until the master says it
    // backs off (at most 8 times).
    let mut backed_off = None;
    for _ in 0..8 {
        let before = server.count_log("child keeps dying, backing off");
        let killed_at = Instant::now();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let old = pid;
        assert!(
            wait_until(Duration::from_secs(60), || {
                pid = registered(old).unwrap_or(0);
                pid > 0
            }),
            "worker back after a kill"
        );
        let back_after = killed_at.elapsed();
        if server.count_log("child keeps dying, backing off") > before {
            backed_off = Some(back_after);
            break;
        }
        assert!(
            back_after < Duration::from_secs(5),
            "a quick restart took {back_after:?}"
        );
    }
    let back_after = backed_off.expect("the master backs off a child that keeps dying");
    eprintln!("back {back_after:?} after the kill that made the master back off");
    assert!(
        back_after >= Duration::from_millis(900),
        "the restart after the back-off log came {back_after:?} after the kill"
    );
    // The restarted worker serves.
    let url = server.url("live/backoff");
    rt().block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        let mut c = RtmpClient::connect(&url).await.unwrap();
        c.play().await.unwrap();
        c.next_counted(T).await.unwrap();
        stop.store(true, Ordering::Relaxed);
        let _ = feed.await;
    });
}

/// The ring file of `stream` (in app `live`) in this server's ring directory, with its size.
fn ring_file(server: &Server, stream: &str) -> Option<(u64, std::path::PathBuf)> {
    let dir = std::fs::read_dir("/dev/shm")
        .ok()?
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("srs-rs-"))
        .map(|d| d.path())
        .find(|d| {
            // Ours: the master logged this directory.
            server.log().contains(&d.display().to_string())
        })?;
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter(|f| {
            let n = f.file_name().to_string_lossy().to_string();
            n.ends_with(&format!("_live_{stream}")) && !n.contains(".tmp")
        })
        .find_map(|f| Some((f.metadata().ok()?.len(), f.path())))
}

/// A stream's ring starts small and grows with its GOP, up to `ring_size`; players are fed
/// through every growth without losing a frame; the ring goes with the publisher.
#[test]
fn a_ring_grows_with_the_gop_up_to_ring_size() {
    let server = Server::start("ring_size 2;\nworker_processes 1;\n");
    let url = server.url("live/grow");
    rt().block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        p.send_media(9, 0, srs_tests::client::AVC_SH).await.unwrap();
        p.send_media(9, 0, &srs_tests::client::counted_frame(true, 0, 1000))
            .await
            .unwrap();
        wait_publishing(&server, 1);
        let (small, path) = ring_file(&server, "grow").expect("the stream's ring file in /dev/shm");
        assert!(small < 512 << 10, "a new ring is small: {small} bytes");
        let mut player = RtmpClient::connect(&url).await.unwrap();
        player.play().await.unwrap();
        assert_eq!(player.next_counted(T).await.unwrap().0, 0);
        // A 5 s GOP of 8 KB frames (1.6 Mbps): 1 MB, four times the first ring.
        let mut sizes = vec![small];
        for n in 1..125u32 {
            p.send_media(9, n * 40, &srs_tests::client::counted_frame(false, n, 8000))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            if let Some((len, _)) = ring_file(&server, "grow") {
                if sizes.last() != Some(&len) {
                    sizes.push(len);
                }
            }
        }
        for n in 1..125u32 {
            let (got, _, _) = player.next_counted(T).await.unwrap();
            assert_eq!(got, n, "every frame, in order, through the growths");
        }
        let grown = *sizes.last().unwrap();
        assert!(sizes.len() >= 2, "the ring grew: {sizes:?}");
        assert!(grown > 2 * small && grown < 3 << 20, "{sizes:?}");
        assert!(server.log().contains("ring grown"), "{}", server.log());
        // A new player gets the whole GOP from the grown ring.
        let mut late = RtmpClient::connect(&url).await.unwrap();
        late.play().await.unwrap();
        assert_eq!(
            late.next_counted(T).await.unwrap().0,
            0,
            "starts at the GOP's keyframe"
        );
        // A GOP beyond ring_size: the ring stops at it.
        for n in 125..400u32 {
            p.send_media(9, n * 40, &srs_tests::client::counted_frame(false, n, 8000))
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for n in 125..400u32 {
            assert_eq!(player.next_counted(T).await.unwrap().0, n);
        }
        let (capped, _) = ring_file(&server, "grow").unwrap();
        assert!(
            capped < (2 << 20) + (256 << 10),
            "capped by ring_size 2: {capped}"
        );
        assert!(
            server.log().contains("larger than ring_size"),
            "{}",
            server.log()
        );
        drop(p);
        assert!(
            wait_until(Duration::from_secs(10), || !path.exists()),
            "the ring goes with its publisher"
        );
    });
}

/// Connections spread over the workers whatever the arrival pattern: players connecting
/// one after another (the pattern that sent all of them to one worker when the workers
/// shared one listening socket) land on every one of 4 workers.
#[test]
fn four_workers_each_get_players() {
    let server = Server::start("worker_processes 4;\n");
    let url = server.url("live/spread");
    rt().block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        let mut players = Vec::new();
        for _ in 0..60 {
            let mut c = RtmpClient::connect(&url).await.unwrap();
            c.play().await.unwrap();
            c.next_counted(T).await.unwrap();
            players.push(c);
        }
        let mut by_worker = std::collections::BTreeMap::new();
        for c in &players {
            let w = worker_of(&server, &c.local_addr()).expect("the player's worker");
            *by_worker.entry(w).or_insert(0) += 1;
        }
        eprintln!("players per worker: {by_worker:?}");
        // 15 expected each; a worker with none is 10^-7 likely with the kernel's hash.
        assert_eq!(by_worker.len(), 4, "{by_worker:?}");
        stop.store(true, Ordering::Relaxed);
        let _ = feed.await;
    });
}

/// While a killed worker is down (here held back by the restart back-off after repeated
/// deaths), the connections the kernel queues on its socket are served by another worker:
/// none is refused, none waits for the restart.
#[test]
fn a_dead_workers_connections_are_served_while_it_is_down() {
    let server = Server::start("worker_processes 2;\n");
    let url = server.url("live/lend");
    rt().block_on(async {
        let mut p = RtmpClient::connect(&url).await.unwrap();
        p.publish().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let feed = tokio::spawn(publish_counted(p, stop.clone()));
        let worker1 = || {
            server
                .processes("stream-worker")
                .into_iter()
                .find(|w| w["index"] == 1)
                .map(|w| pid_of(&w))
                .unwrap_or(0)
        };
        // Six deaths in a row: the sixth restart waits 4 s (back-off).
        for round in 0..6 {
            let pid = if round == 0 {
                worker1()
            } else {
                let mut pid = 0;
                assert!(
                    wait_until(Duration::from_secs(20), || {
                        pid = worker1();
                        pid > 0 && alive(pid)
                    }),
                    "worker 1 back for round {round}"
                );
                pid
            };
            assert!(pid > 0);
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL).unwrap();
            assert!(wait_until(Duration::from_secs(5), || !alive(pid) || worker1() != pid));
        }
        assert!(
            wait_until(Duration::from_secs(5), || server
                .log()
                .contains("backing off")),
            "{}",
            server.log()
        );
        // Worker 1 is down for seconds: 30 players arriving now all play at once.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let t0 = Instant::now();
                let mut c = RtmpClient::connect(&url).await?;
                c.play().await?;
                c.next_counted(Duration::from_secs(10)).await?;
                anyhow::Ok(t0.elapsed())
            }));
        }
        let mut slowest = Duration::ZERO;
        for t in tasks {
            slowest = slowest.max(t.await.unwrap().expect("a player while worker 1 is down"));
        }
        let down = worker1() == 0;
        eprintln!(
            "30 players in {:?}, slowest {slowest:?}, worker 1 still down: {down}",
            started.elapsed()
        );
        assert!(
            slowest < Duration::from_millis(2500),
            "a player waited {slowest:?}: its connection waited for the dead worker\n{}",
            server.log()
        );
        assert!(server.log().contains("lending a dead worker's sockets"));
        // Back from the back-off, worker 1 takes its socket back and serves again.
        assert!(wait_until(Duration::from_secs(30), || {
            let pid = worker1();
            pid > 0 && alive(pid)
        }));
        assert!(wait_until(Duration::from_secs(10), || server
            .log()
            .contains("its sockets are its own again")));
        stop.store(true, Ordering::Relaxed);
        let _ = feed.await;
    });
}

#[test]
fn pithy_print_logs_processes_and_streams_periodically() {
    let server = Server::start("pithy_print_ms 500;\nvhost __defaultVhost__ { }\n");
    let _publisher = ffmpeg_publish(&server.url("live/pithy"), 30);
    wait_publishing(&server, 1);
    assert!(
        wait_until(T, || server
            .log()
            .lines()
            .any(|l| l.contains("pithy: stream")
                && l.contains("__defaultVhost__/live/pithy")
                && !l.contains("frames=0"))),
        "{}",
        server.log()
    );
    let n = server.count_log("pithy: server");
    assert!(wait_until(T, || server.count_log("pithy: server") >= n + 2));
    assert!(server
        .log()
        .lines()
        .any(|l| l.contains("pithy") && l.contains("role=\"stream-worker\"")));
}
