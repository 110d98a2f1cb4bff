//! Configs written the way an SRS operator writes them, one directive at a time: the
//! shared part of the tests over `srs_conf::known` (known_directives.rs,
//! directive_table.rs).

#![allow(dead_code)]

use srs_conf::known::contexts;
use srs_conf::{parse_str, ConfError, Config};

/// Names SRS writes as a block although `known` does not list their children (it lists only
/// the contexts SRS checks name by name).
pub const OTHER_BLOCKS: &[(&str, &str)] = &[
    ("", "tencentcloud_apm"),
    ("", "tencentcloud_cls"),
    ("", "threads"),
    ("", "circuit_breaker"),
    ("", "pithy_print"),
    // SRS 1's spelling of http_server.
    ("", "http_stream"),
    ("http_api", "https"),
    ("http_server", "https"),
    ("rtc_server", "tcp"),
    ("rtc_server", "black_hole"),
    ("vhost", "hds"),
    ("vhost", "http"),
    ("vhost", "mr"),
    ("vhost", "nack"),
    ("vhost", "twcc"),
    ("vhost.ingest", "input"),
    ("vhost.ingest", "engine"),
    ("vhost.transcode.engine", "vfilter"),
    ("vhost.transcode.engine", "vparams"),
    ("vhost.transcode.engine", "aparams"),
    ("vhost.transcode.engine", "perfile"),
];

pub fn is_context(path: &str) -> bool {
    contexts().any(|(c, _)| c == path)
}

pub fn join(context: &str, name: &str) -> String {
    if context.is_empty() {
        name.to_string()
    } else {
        format!("{context}.{name}")
    }
}

/// Whether SRS writes `name` in `context` as a block.
pub fn is_block(context: &str, name: &str) -> bool {
    is_context(&join(context, name)) || OTHER_BLOCKS.contains(&(context, name))
}

/// The opening of a block, with the argument SRS requires for some of them.
pub fn block_head(name: &str) -> String {
    match name {
        "vhost" => "vhost generated.example.net".to_string(),
        "ingest" => "ingest generated-feed".to_string(),
        "engine" => "engine generated".to_string(),
        other => other.to_string(),
    }
}

/// A plausible argument for a plain directive, as an SRS operator would write it.
pub fn sample(context: &str, name: &str) -> &'static str {
    match (context, name) {
        (_, "enabled" | "min_latency") => "on",
        (_, "mw_latency" | "mr_latency") => "350",
        ("srt_server", "latency" | "recvlatency" | "peerlatency") => "120",
        ("vhost", "refer_play" | "refer_publish") => "example.net www.example.net",
        ("" | "rtmp", "listen") => "1935 [::]:1935",
        ("http_api", "listen") => "1985",
        ("http_server", "listen") => "8080",
        ("rtc_server", "listen") => "8000",
        ("srt_server", "listen") => "10080",
        ("rtsp_server", "listen") => "8554",
        ("rtmps", "listen") => "1443",
        ("exporter", "listen") => "9972",
        ("stream_caster", "listen") => "8935",
        ("stream_caster.sip", "listen") => "5060",
        ("vhost.refer", _) => "example.net www.example.net",
        ("vhost.exec", "publish") => {
            "/usr/local/bin/ffmpeg -i rtmp://127.0.0.1/[app]/[stream] -c copy -f flv /dev/null"
        }
        ("vhost.security", "allow") => "play all",
        ("vhost.security", "deny") => "publish 192.0.2.0/24",
        ("vhost.dvr", "dvr_apply") => "all",
        ("vhost.bandcheck", "key") => "\"35c9b402c12a7246868752e2878f7e0e\"",
        ("vhost.bandcheck", "limit_kbps") => "4000",
        ("vhost.dvr", "dvr_plan") => "segment",
        ("vhost.dvr", "dvr_duration") => "600",
        ("vhost.dvr", "dvr_path") => "./recordings/[app]/[stream].[timestamp].flv",
        ("vhost" | "vhost.cluster", "mode") => "remote",
        ("vhost" | "vhost.cluster", "origin") => "10.0.0.1:1935 10.0.0.2:1935",
        ("vhost" | "vhost.cluster", "vhost") => "upstream.example.net",
        ("vhost.cluster", "coworkers") => "10.0.0.1:1985 10.0.0.2:1985",
        ("vhost.cluster", "protocol") => "rtmp",
        ("rtc_server", "protocol") => "udp",
        ("vhost.forward", "destination") => "10.0.0.3:1935",
        ("vhost.forward", "backend") => "http://control.example.net/forward",
        ("vhost.http_static", "mount") => "[vhost]/static",
        ("vhost.http_remux", "mount") => "[vhost]/[app]/[stream].flv",
        (_, "dir") => "./public",
        ("vhost.http_hooks", _) => "http://hooks.example.net/srs",
        (_, "ffmpeg") => "/usr/local/bin/ffmpeg",
        ("vhost.transcode.engine", "output") => "rtmp://127.0.0.1:[port]/[app]/[stream]_[engine]",
        ("vhost.transcode.engine", "vcodec") => "libx264",
        ("vhost.transcode.engine", "acodec") => "libfdk_aac",
        ("vhost.transcode.engine", "vprofile") => "main",
        ("vhost.transcode.engine", "vpreset") => "veryfast",
        ("vhost.transcode.engine", "iformat" | "oformat") => "flv",
        ("vhost.transcode.engine", "vbitrate") => "1200",
        ("vhost.transcode.engine", "abitrate") => "96",
        ("vhost.transcode.engine", "asample_rate") => "44100",
        ("vhost.transcode.engine", "achannels") => "2",
        ("vhost.transcode.engine", "vwidth") => "1280",
        ("vhost.transcode.engine", "vheight") => "720",
        ("vhost.transcode.engine", "vfps") => "30",
        ("vhost.transcode.engine", "vthreads") => "4",
        ("stream_caster", "caster") => "mpegts_over_udp",
        ("stream_caster", "output") => "rtmp://127.0.0.1/live/[stream]",
        (_, "candidate") => "192.0.2.10",
        (_, "key") => "./certs/server.key",
        (_, "cert") => "./certs/server.crt",
        (_, "username") => "ops",
        (_, "password") => "\"not a secret\"",
        (_, "passphrase") => "\"srt passphrase\"",
        (_, "url") => "http://fleet.example.net/heartbeat",
        (_, "device_id") => "\"node-1\"",
        (_, "label" | "tag") => "lab",
        (_, "disk") => "sda nvme0n1",
        (_, "ip_family") => "ipv4",
        (_, "dtls_role") => "passive",
        (_, "dtls_version") => "auto",
        (_, "bframe") => "discard",
        (_, "aac") => "transcode",
        (_, "time_jitter") => "full",
        (_, "hls_on_error") => "continue",
        (_, "hls_storage") => "disk",
        (_, "hls_acodec") => "aac",
        (_, "hls_vcodec") => "h264",
        (_, "hls_mount") => "[vhost]/[app]/[stream].m3u8",
        (_, "hls_entry_prefix" | "hls_key_url") => "https://cdn.example.net",
        (_, "default_app") => "live",
        (_, "default_streamid") => "\"#!::r=live/livestream,m=request\"",
        (_, "server_id") => "generated-node",
        (_, "srs_log_tank") => "console",
        (_, "srs_log_level" | "srs_log_level_v2") => "trace",
        (_, "ff_log_level") => "warning",
        (_, "pid") => "./objs/generated.pid",
        (_, "srs_log_file") => "./objs/generated.log",
        (_, "ff_log_dir" | "log_dir") => "./objs",
        (_, "work_dir") => "./",
        (_, n) if n.ends_with("_path") || n.ends_with("_file") => "./public/[app]/[stream]",
        (_, "chunk_size") => "4096",
        (_, "max_connections") => "1000",
        (_, "in_ack_size" | "out_ack_size") => "2500000",
        (_, "maxbw") => "1000000000",
        (_, "mss") => "1500",
        (_, "payloadsize") => "1316",
        (_, "pbkeylen") => "16",
        (_, "sendbuf" | "recvbuf") => "2000000",
        (_, "gop_cache_max_frames") => "2500",
        (_, "opus_bitrate") => "48000",
        (_, "aac_bitrate") => "64000",
        (_, "queue_length" | "send_min_interval" | "interval" | "hls_dispose" | "dash_dispose") => {
            "30"
        }
        (_, "stun_timeout" | "timeout" | "reinvite") => "30",
        (_, "first_wait_for_qlv") => "300",
        (_, "tcmalloc_release_rate" | "hls_td_ratio" | "hls_aof_ratio" | "pli_for_rtmp") => "1.5",
        // fast_cache above 0 is read but warned about (it only applies to mp3/aac mounts).
        (
            _,
            "mw_msgs" | "reuseport" | "network" | "drop_for_pt" | "kickoff_for_idle" | "fast_cache",
        ) => "0",
        (_, n)
            if n.contains("timeout")
                || n.contains("latency")
                || n.starts_with("grace_")
                || n.ends_with("_ms") =>
        {
            "5000"
        }
        (
            _,
            "hls_fragment"
            | "hls_window"
            | "hls_nb_notify"
            | "hls_fragments_per_key"
            | "dash_fragment"
            | "dash_update_period"
            | "dash_timeshift"
            | "dash_window_size",
        ) => "10",
        // Everything else SRS knows is a switch.
        _ => "on",
    }
}

/// One directive in its natural shape (`block` false) or the other one.
pub fn directive(context: &str, name: &str, block: bool) -> String {
    if block {
        format!("{} {{ }}\n", block_head(name))
    } else {
        format!("{name} {};\n", sample(context, name))
    }
}

/// `body` inside the blocks of `context`.
pub fn wrap(context: &str, body: &str) -> String {
    let segments: Vec<&str> = context.split('.').filter(|s| !s.is_empty()).collect();
    let mut text = String::new();
    for s in &segments {
        text.push_str(&block_head(s));
        text.push_str(" {\n");
    }
    text.push_str(body);
    for _ in &segments {
        text.push_str("}\n");
    }
    text
}

pub fn load(text: &str) -> Result<Config, ConfError> {
    Config::from_tree(&parse_str(text, "generated.conf")?)
}
