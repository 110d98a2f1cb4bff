//! `srs-master` as an operator uses it: `-v`, `-t`, the built-in config, daemon mode with a
//! log file and a pid file, SIGHUP reload, SIGTERM stop.

use nix::sys::signal::Signal;
use srs_tests::client::RtmpClient;
use srs_tests::{bin, wait_until, Server};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn master(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(bin("srs-master"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run srs-master")
}

#[test]
fn version_and_config_test() {
    let dir = tempfile::tempdir().unwrap();
    let out = master(&["-v"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        env!("CARGO_PKG_VERSION")
    );

    // The built-in config tests fine.
    let out = master(&["-t"], dir.path());
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("test is successful"));

    // A feature we do not have yet: accepted with a warning naming file and line.
    let good = dir.path().join("hds.conf");
    std::fs::write(
        &good,
        "listen 1935;\nvhost __defaultVhost__ {\n    hds { enabled on; }\n}\n",
    )
    .unwrap();
    let out = master(&["-t", "-c", good.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("hds.conf:3: directive \"hds\" is not supported yet"),
        "{err}"
    );

    // A misspelt directive: refused with file:line, exit 1.
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, "listen 1935;\n\nlisen 1936;\n").unwrap();
    let out = master(&["-t", "-c", bad.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.conf:3:") && err.contains("lisen"),
        "{err}"
    );
    assert!(err.contains("test failed"), "{err}");

    // Running with a broken config fails the same way instead of starting.
    let out = master(&["-c", bad.to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    // A missing file too.
    let out = master(&["-c", "/nonexistent/srs.conf"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/srs.conf"));
}

#[test]
fn builtin_default_runs_on_1935_with_its_pid_file() {
    // The built-in config is conf/srs.conf: RTMP on 1935, pid in ./objs/srs.pid.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("srs-master"))
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_file = dir.path().join("objs/srs.pid");
    // The pid is written once the server is ready to stop cleanly.
    let up = wait_until(T, || {
        std::net::TcpStream::connect("127.0.0.1:1935").is_ok()
            && std::fs::read_to_string(&pid_file).is_ok_and(|p| !p.trim().is_empty())
    });
    let pid_text = std::fs::read_to_string(&pid_file).unwrap_or_default();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGTERM,
    );
    let stopped = wait_until(T, || matches!(child.try_wait(), Ok(Some(_))));
    if !stopped {
        let _ = child.kill();
    }
    let _ = child.wait();
    assert!(up, "built-in config did not listen on 1935");
    assert_eq!(pid_text.trim(), child.id().to_string());
    assert!(stopped, "SIGTERM stops the server");
    assert!(!pid_file.exists(), "pid file removed at stop");
}

#[test]
fn daemon_with_log_file_and_locked_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = dir.path().join("daemon.conf");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:0;\ndaemon on;\nsrs_log_tank file;\nsrs_log_file {d}/logs/srs.log;\npid {d}/run/srs.pid;\nvhost __defaultVhost__ {{ }}\n"
        ),
    )
    .unwrap();
    // The foreground process returns at once; the daemon keeps running.
    let out = master(&["-c", conf.to_str().unwrap()], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid_file = dir.path().join("run/srs.pid");
    let log_file = dir.path().join("logs/srs.log");
    assert!(wait_until(T, || std::fs::read_to_string(&log_file)
        .is_ok_and(|l| l.contains("RTMP listening"))));
    // The pid file is written before that line is logged.
    let pid: i32 = match std::fs::read_to_string(&pid_file).map(|s| s.trim().parse()) {
        Ok(Ok(pid)) => pid,
        other => panic!("pid file after \"RTMP listening\": {other:?}"),
    };
    let log = std::fs::read_to_string(&log_file).unwrap();
    let addr = log
        .lines()
        .find(|l| l.contains("RTMP listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .unwrap()
        .to_string();
    // A second server on the same pid file refuses to start.
    // It says so on its terminal, before detaching.
    let out = master(&["-c", conf.to_str().unwrap()], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("another running server (pid {pid})")),
        "{err}"
    );
    // The daemon serves.
    let rt = srs_tests::rt();
    rt.block_on(async {
        let mut c = RtmpClient::connect(&format!("rtmp://{addr}/live/x"))
            .await
            .unwrap();
        c.play().await.unwrap();
    });
    // SIGTERM stops it and removes the pid file.
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM);
    assert!(wait_until(T, || !pid_file.exists()), "pid file removed");
    assert!(wait_until(T, || nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        None
    )
    .is_err()));
}

#[test]
fn sighup_reloads_and_a_broken_config_keeps_the_running_one() {
    let server = Server::start("vhost __defaultVhost__ { play { gop_cache on; } }\n");
    let conf = server.dir.path().join("srs.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, text.replace("gop_cache on", "gop_cache off")).unwrap();
    server.signal(Signal::SIGHUP);
    assert!(server.wait_log("config reloaded", T), "{}", server.log());
    // Broken: logged with file:line, and the server keeps serving.
    std::fs::write(&conf, format!("{text}\nbogus_directive 1;\n")).unwrap();
    server.signal(Signal::SIGHUP);
    assert!(server.wait_log("reload failed", T), "{}", server.log());
    let line = server
        .log()
        .lines()
        .find(|l| l.contains("reload failed"))
        .unwrap()
        .to_string();
    assert!(
        line.contains("srs.conf:") && line.contains("bogus_directive"),
        "{line}"
    );
    let rt = srs_tests::rt();
    rt.block_on(async {
        let mut c = RtmpClient::connect(&server.url("live/x")).await.unwrap();
        c.play().await.unwrap();
    });
}

#[test]
fn logrotate_with_sigusr1_and_the_s_signals() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = dir.path().join("rot.conf");
    std::fs::write(
        &conf,
        format!(
            "listen 127.0.0.1:0;\ndaemon on;\nsrs_log_tank file;\nsrs_log_file {d}/srs.log;\npid {d}/srs.pid;\n\
             run_dir {d}/run;\nvhost __defaultVhost__ {{ }}\n"
        ),
    )
    .unwrap();
    let c = conf.to_str().unwrap();
    assert!(master(&["-c", c], dir.path()).status.success());
    let log = dir.path().join("srs.log");
    assert!(wait_until(T, || std::fs::read_to_string(&log)
        .is_ok_and(|l| l.contains("srs-rs ready"))));
    let addr = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .find(|l| l.contains("RTMP listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .unwrap()
        .to_string();
    // logrotate: move the file, then `-s reopen` (SIGUSR1 to the master, which passes it on).
    let rotated = dir.path().join("srs.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let out = master(&["-c", c, "-s", "reopen"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(T, || std::fs::read_to_string(&log)
        .is_ok_and(|l| l.contains("log file reopened"))));
    // A worker's lines go to the new file too.
    srs_tests::rt().block_on(async {
        let mut cl = RtmpClient::connect(&format!("rtmp://{addr}/live/rot"))
            .await
            .unwrap();
        cl.play().await.unwrap();
    });
    assert!(wait_until(T, || std::fs::read_to_string(&log).is_ok_and(
        |l| l.contains("[worker-") && l.contains("play start")
    )));
    assert!(!std::fs::read_to_string(&rotated)
        .unwrap()
        .contains("play start"));
    // -s reload, then -s stop.
    assert!(master(&["-c", c, "-s", "reload"], dir.path())
        .status
        .success());
    assert!(wait_until(T, || std::fs::read_to_string(&log)
        .is_ok_and(|l| l.contains("config reloaded"))));
    assert!(master(&["-c", c, "-s", "stop"], dir.path())
        .status
        .success());
    let pid_file = dir.path().join("srs.pid");
    assert!(wait_until(T, || !pid_file.exists()), "stopped");
    // With nothing running, -s says so and fails.
    let out = master(&["-c", c, "-s", "stop"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the server running?"));
}

#[test]
fn the_service_files_verify_and_drive_the_server() {
    srs_tests::require_tool("systemd-analyze");
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::os::unix::fs::symlink(bin("srs-master"), r.join("srs-master")).unwrap();
    std::fs::create_dir_all(r.join("conf")).unwrap();
    std::fs::write(
        r.join("conf/srs.conf"),
        format!(
            "listen 127.0.0.1:0;\ndaemon off;\nsrs_log_tank file;\nsrs_log_file {d}/srs.log;\n\
             pid {d}/srs.pid;\nrun_dir {d}/run;\nvhost __defaultVhost__ {{ }}\n",
            d = r.display()
        ),
    )
    .unwrap();
    // The unit, pointed at this root, passes systemd-analyze verify.
    let unit = std::fs::read_to_string(repo.join("etc/systemd/srs-rs.service"))
        .unwrap()
        .replace("/usr/local/srs-rs", &r.display().to_string());
    let unit_path = r.join("srs-rs.service");
    std::fs::write(&unit_path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !err.contains("srs-rs.service:"),
        "systemd-analyze verify: {err}"
    );
    // The init.d script: start, status, reload, stop. Whatever happens, the server it
    // started is killed by its pid at the end.
    struct KillByPidFile(std::path::PathBuf);
    impl Drop for KillByPidFile {
        fn drop(&mut self) {
            if let Ok(Ok(pid)) = std::fs::read_to_string(&self.0).map(|p| p.trim().parse::<i32>()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
    let _guard = KillByPidFile(r.join("srs.pid"));
    let script = repo.join("etc/init.d/srs-rs");
    let run = |cmd: &str| {
        Command::new("sh")
            .arg(&script)
            .arg(cmd)
            .env("SRS_RS_ROOT", r)
            .output()
            .unwrap()
    };
    let started = run("start");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stdout)
    );
    assert_eq!(run("status").status.code(), Some(0));
    let log = r.join("srs.log");
    assert!(wait_until(T, || std::fs::read_to_string(&log)
        .is_ok_and(|l| l.contains("srs-rs ready"))));
    assert!(run("reload").status.success());
    assert!(wait_until(T, || std::fs::read_to_string(&log)
        .is_ok_and(|l| l.contains("config reloaded"))));
    assert!(run("stop").status.success());
    assert_eq!(run("status").status.code(), Some(3));
}

#[test]
fn status_watch_refreshes_until_ctrl_c() {
    let s = Server::start("vhost __defaultVhost__ { }\n");
    let child = Command::new(bin("srs-cli"))
        .arg("--run-dir")
        .arg(s.run_dir())
        .args(["--json", "status", "--watch"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "Ctrl-C leaves cleanly: {:?}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let frames: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(frames.len() >= 2, "refreshed: {text}");
    assert!(frames
        .iter()
        .all(|f| f["processes"].as_array().is_some_and(|p| p.len() >= 4)));
}
