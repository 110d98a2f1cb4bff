//! The directive names SRS itself knows, per context.
//!
//! Taken from ossrs/srs `trunk/src/app/srs_app_config.cpp` (SRS 7.0 era):
//! `SrsConfig::check_normal_config` lists what each context accepts, and
//! `srs_config_transform_vhost` lists the older spellings it still accepts and rewrites
//! (SRS 1/2 vhost-level `gop_cache`, `refer_play`, `mode`, ...; top-level `listen` and
//! `chunk_size` moved into `rtmp { }` in SRS 7; `http_stream` renamed `http_server` in SRS 2).
//! A few names only SRS 1.0 knew are kept in [`LEGACY_ROOT`] so that configs written for it
//! still load (with warnings).
//!
//! A directive that SRS knows but this server does not implement is accepted with a
//! [`crate::Warning`]; a name that is in none of these lists is a typo, and an error.
//!
//! Two tests keep these lists and [`crate::Config`] in step: `tests/known_directives.rs`
//! generates a config per context with every name in it, and
//! `tests/fixtures/srs-style/everything.conf` (our own, like every config there) uses every
//! name where an operator would write it.

/// Top-level directives of SRS.
pub const ROOT: &[&str] = &[
    "listen",
    "chunk_size",
    "pid",
    "ff_log_dir",
    "ff_log_level",
    "srs_log_tank",
    "srs_log_level",
    "srs_log_level_v2",
    "srs_log_file",
    "max_connections",
    "daemon",
    "heartbeat",
    "tencentcloud_apm",
    "tencentcloud_cls",
    "http_api",
    "http_server",
    "http_stream",
    "stats",
    "vhost",
    "pithy_print_ms",
    "stream_caster",
    "rtc_server",
    "srt_server",
    "rtsp_server",
    "rtmp",
    "rtmps",
    "exporter",
    "utc_time",
    "work_dir",
    "asprocess",
    "server_id",
    "grace_start_wait",
    "grace_final_wait",
    "force_grace_quit",
    "empty_ip_ok",
    "disable_daemon_for_docker",
    "inotify_auto_reload",
    "auto_reload_for_docker",
    "tcmalloc_release_rate",
    "query_latest_version",
    "first_wait_for_qlv",
    "threads",
    "circuit_breaker",
    "is_full",
    "in_docker",
];

/// Top-level directives of SRS 1.0 that later versions dropped.
pub const LEGACY_ROOT: &[&str] = &["log_dir", "pithy_print"];

/// `rtmp { }` (SRS 7).
pub const RTMP: &[&str] = &["listen", "chunk_size"];

/// `vhost NAME { }`, including the SRS 1/2 spellings that SRS 3+ rewrites.
pub const VHOST: &[&str] = &[
    "enabled",
    "chunk_size",
    "min_latency",
    "tcp_nodelay",
    "dvr",
    "ingest",
    "hls",
    "http_hooks",
    "refer",
    "forward",
    "transcode",
    "bandcheck",
    "play",
    "publish",
    "cluster",
    "security",
    "http_remux",
    "dash",
    "http_static",
    "hds",
    "exec",
    "in_ack_size",
    "out_ack_size",
    "rtc",
    "srt",
    "rtsp",
    // SRS 1/2 spellings, rewritten by srs_config_transform_vhost.
    "http",
    "refer_play",
    "refer_publish",
    "mr",
    "publish_1stpkt_timeout",
    "publish_normal_timeout",
    "time_jitter",
    "mix_correct",
    "atc",
    "atc_auto",
    "mw_latency",
    "gop_cache",
    "gop_cache_max_frames",
    "queue_length",
    "send_min_interval",
    "reduce_sequence_header",
    "mode",
    "origin",
    "token_traverse",
    "vhost",
    "debug_srs_upnode",
    "nack",
    "twcc",
];

/// `vhost { play { } }`.
pub const VHOST_PLAY: &[&str] = &[
    "time_jitter",
    "mix_correct",
    "atc",
    "atc_auto",
    "mw_latency",
    "gop_cache",
    "gop_cache_max_frames",
    "queue_length",
    "send_min_interval",
    "reduce_sequence_header",
    "mw_msgs",
];

/// `vhost { publish { } }`.
pub const VHOST_PUBLISH: &[&str] = &[
    "mr",
    "mr_latency",
    "firstpkt_timeout",
    "normal_timeout",
    "parse_sps",
    "try_annexb_first",
    "kickoff_for_idle",
];

/// `vhost { refer { } }`.
pub const VHOST_REFER: &[&str] = &["enabled", "all", "publish", "play"];

/// The other contexts SRS checks. [`crate::Config`] reads `http_api`, `http_server` (also
/// for SRS 1's `http_stream`), `vhost.hls` and `vhost.http_remux` name by name, and warns
/// about the names it does not implement there; children of a block it ignores altogether
/// (the rest) are not validated.
pub const OTHER_CONTEXTS: &[(&str, &[&str])] = &[
    (
        "http_api",
        &[
            "enabled",
            "listen",
            "crossdomain",
            "raw_api",
            "auth",
            "https",
        ],
    ),
    (
        "http_api.raw_api",
        &["enabled", "allow_reload", "allow_query", "allow_update"],
    ),
    ("http_api.auth", &["enabled", "username", "password"]),
    (
        "http_server",
        &["enabled", "listen", "dir", "crossdomain", "https"],
    ),
    (
        "srt_server",
        &[
            "enabled",
            "listen",
            "maxbw",
            "mss",
            "latency",
            "recvlatency",
            "peerlatency",
            "connect_timeout",
            "peer_idle_timeout",
            "sendbuf",
            "recvbuf",
            "payloadsize",
            "default_app",
            "sei_filter",
            "mix_correct",
            "tlpktdrop",
            "tsbpdmode",
            "passphrase",
            "pbkeylen",
            "default_streamid",
        ],
    ),
    (
        "heartbeat",
        &[
            "enabled",
            "interval",
            "url",
            "device_id",
            "summaries",
            "ports",
        ],
    ),
    ("stats", &["enabled", "network", "disk"]),
    (
        "rtc_server",
        &[
            "enabled",
            "listen",
            "dir",
            "candidate",
            "ecdsa",
            "tcp",
            "encrypt",
            "reuseport",
            "merge_nalus",
            "black_hole",
            "protocol",
            "ip_family",
            "api_as_candidates",
            "resolve_api_domain",
            "keep_api_domain",
            "use_auto_detect_network_ip",
        ],
    ),
    ("rtsp_server", &["enabled", "listen"]),
    ("rtmps", &["enabled", "listen", "key", "cert"]),
    ("exporter", &["enabled", "listen", "label", "tag"]),
    (
        "stream_caster",
        &["enabled", "caster", "output", "listen", "sip"],
    ),
    (
        "stream_caster.sip",
        &["enabled", "listen", "timeout", "reinvite", "candidate"],
    ),
    (
        "vhost.bandcheck",
        &["enabled", "key", "interval", "limit_kbps"],
    ),
    (
        "vhost.dvr",
        &[
            "enabled",
            "dvr_apply",
            "dvr_path",
            "dvr_plan",
            "dvr_duration",
            "dvr_wait_keyframe",
            "time_jitter",
        ],
    ),
    ("vhost.exec", &["enabled", "publish"]),
    (
        "vhost.cluster",
        &[
            "mode",
            "origin",
            "token_traverse",
            "vhost",
            "debug_srs_upnode",
            "coworkers",
            "origin_cluster",
            "protocol",
            "follow_client",
        ],
    ),
    ("vhost.ingest", &["enabled", "input", "ffmpeg", "engine"]),
    ("vhost.http_static", &["enabled", "mount", "dir"]),
    (
        "vhost.http_remux",
        &[
            "enabled",
            "mount",
            "fast_cache",
            "drop_if_not_match",
            "has_audio",
            "has_video",
            "guess_has_av",
        ],
    ),
    (
        "vhost.dash",
        &[
            "enabled",
            "dash_fragment",
            "dash_update_period",
            "dash_timeshift",
            "dash_path",
            "dash_mpd_file",
            "dash_window_size",
            "dash_dispose",
            "dash_cleanup",
        ],
    ),
    (
        "vhost.hls",
        &[
            "enabled",
            "hls_entry_prefix",
            "hls_path",
            "hls_fragment",
            "hls_window",
            "hls_on_error",
            "hls_storage",
            "hls_mount",
            "hls_td_ratio",
            "hls_aof_ratio",
            "hls_acodec",
            "hls_vcodec",
            "hls_m3u8_file",
            "hls_ts_file",
            "hls_ts_floor",
            "hls_cleanup",
            "hls_nb_notify",
            "hls_wait_keyframe",
            "hls_dispose",
            "hls_keys",
            "hls_fragments_per_key",
            "hls_key_file",
            "hls_key_file_path",
            "hls_key_url",
            "hls_dts_directly",
            "hls_ctx",
            "hls_ts_ctx",
            "hls_use_fmp4",
            "hls_fmp4_file",
            "hls_init_file",
            "hls_recover",
            "hls_master_m3u8_path_relative",
        ],
    ),
    (
        "vhost.http_hooks",
        &[
            "enabled",
            "on_connect",
            "on_close",
            "on_publish",
            "on_unpublish",
            "on_play",
            "on_stop",
            "on_dvr",
            "on_hls",
            "on_hls_notify",
        ],
    ),
    ("vhost.forward", &["enabled", "destination", "backend"]),
    ("vhost.security", &["enabled", "deny", "allow"]),
    ("vhost.transcode", &["enabled", "ffmpeg", "engine"]),
    (
        "vhost.transcode.engine",
        &[
            "enabled",
            "vfilter",
            "vcodec",
            "vbitrate",
            "vfps",
            "vwidth",
            "vheight",
            "vthreads",
            "vprofile",
            "vpreset",
            "vparams",
            "acodec",
            "abitrate",
            "asample_rate",
            "achannels",
            "aparams",
            "output",
            "perfile",
            "iformat",
            "oformat",
        ],
    ),
    (
        "vhost.rtc",
        &[
            "enabled",
            "nack",
            "twcc",
            "nack_no_copy",
            "bframe",
            "aac",
            "stun_timeout",
            "stun_strict_check",
            "dtls_role",
            "dtls_version",
            "drop_for_pt",
            "rtc_to_rtmp",
            "pli_for_rtmp",
            "rtmp_to_rtc",
            "keep_bframe",
            "opus_bitrate",
            "aac_bitrate",
            "keep_avc_nalu_sei",
            "init_rate_from_sdp",
            "keep_original_ssrc",
        ],
    ),
    ("vhost.srt", &["enabled", "srt_to_rtmp"]),
    ("vhost.rtsp", &["enabled", "rtmp_to_rtsp"]),
];

/// Every context SRS checks, with the names it knows there, in this order: the top level
/// (`""`, twice: [`ROOT`], then [`LEGACY_ROOT`]), `rtmp`, `vhost`, `vhost.play`,
/// `vhost.publish`, `vhost.refer`, then [`OTHER_CONTEXTS`]. A context is the dotted path of
/// the blocks around a directive, so a name `n` in context `c` whose path `c.n` (or `n` at
/// the top level) is itself a context is written as a block.
pub fn contexts() -> impl Iterator<Item = (&'static str, &'static [&'static str])> {
    [
        ("", ROOT),
        ("", LEGACY_ROOT),
        ("rtmp", RTMP),
        ("vhost", VHOST),
        ("vhost.play", VHOST_PLAY),
        ("vhost.publish", VHOST_PUBLISH),
        ("vhost.refer", VHOST_REFER),
    ]
    .into_iter()
    .chain(OTHER_CONTEXTS.iter().copied())
}

/// Whether SRS knows the directive `name` in `context`, a dotted path such as `""` (top
/// level), `"vhost"`, `"vhost.play"` or `"http_api.auth"`. Unknown contexts know nothing.
pub fn srs_knows(context: &str, name: &str) -> bool {
    contexts().any(|(c, names)| c == context && names.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_per_context() {
        assert!(srs_knows("", "http_api"));
        assert!(srs_knows("", "log_dir"));
        assert!(!srs_knows("", "lisen"));
        assert!(srs_knows("vhost", "gop_cache"));
        assert!(srs_knows("vhost.play", "mw_latency"));
        assert!(!srs_knows("vhost.play", "mr"));
        assert!(srs_knows("vhost.hls", "hls_fragment"));
        assert!(srs_knows("http_api.auth", "password"));
        assert!(!srs_knows("nowhere", "enabled"));
    }

    #[test]
    fn contexts_are_listed_once_and_have_parents() {
        let all: Vec<&str> = contexts().map(|(c, _)| c).collect();
        for (i, c) in all.iter().enumerate() {
            // The top level is listed twice (current and SRS 1.0 names); no other context is.
            if !c.is_empty() {
                assert!(!all[..i].contains(c), "{c} listed twice");
            }
            // Every context is a directive its parent context knows.
            let (parent, name) = c.rsplit_once('.').unwrap_or(("", c));
            assert!(c.is_empty() || srs_knows(parent, name), "{c}");
        }
        for (c, names) in contexts() {
            for (i, n) in names.iter().enumerate() {
                assert!(!names[..i].contains(n), "{n} twice in {c:?}");
            }
        }
    }
}
