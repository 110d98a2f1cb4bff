//! The table of SRS directives in `docs/directives.md`, generated from the code: for every
//! name SRS knows (`srs_conf::known`), in its context, what a config with it (at a value
//! an operator writes) does here: implemented, warned at load (file:line), or rejected.
//!
//! It also holds that a directive marked implemented changes the loaded config: one that
//! is read and then dropped would be a silent no-op, which this server never has.
//!
//! `UPDATE_DIRECTIVES=1 cargo test -p srs-conf --test directive_table` rewrites the table;
//! without it, a table that differs from the code fails the test.

mod support;

use srs_conf::known::contexts;
use support::{block_head, directive, is_block, load, wrap};

/// A value other than the default, for the directives whose usual value (the table's) is
/// the default: the one the "changes the config" check writes.
fn other_value(context: &str, name: &str) -> Option<&'static str> {
    Some(match (context, name) {
        ("", "ff_log_dir") => "./other-logs",
        ("", "max_connections") => "77",
        ("", "srs_log_level") => "warn",
        ("", "srs_log_tank") => "file",
        ("http_api", "listen") => "127.0.0.1:1986",
        ("http_server", "listen") => "127.0.0.1:8081",
        (_, "crossdomain") => "off",
        ("vhost" | "vhost.play", "gop_cache") => "off",
        ("vhost" | "vhost.play", "mw_latency") => "100",
        ("vhost" | "vhost.play", "queue_length") => "10",
        ("vhost", "publish_normal_timeout") | ("vhost.publish", "normal_timeout") => "9000",
        ("vhost", "enabled") => "off",
        ("vhost.dvr", "dvr_apply") => "live/one",
        ("vhost" | "vhost.play", "time_jitter") => "off",
        ("vhost.bandcheck", "interval") => "10",
        ("vhost.bandcheck", "key") => "another-key",
        ("vhost.dvr", "dvr_wait_keyframe") => "off",
        ("vhost.ingest" | "vhost.transcode.engine", "enabled") => "on",
        ("vhost.http_remux", "mount") => "[app]/[stream].flv",
        ("vhost.http_remux", "drop_if_not_match" | "has_audio" | "has_video" | "guess_has_av") => {
            "off"
        }
        ("vhost.http_remux", "fast_cache") => "30",
        ("vhost.hls", "hls_acodec") => "an",
        ("vhost.hls", "hls_vcodec") => "vn",
        ("vhost.hls", "hls_cleanup" | "hls_wait_keyframe") => "off",
        ("vhost.hls", "hls_fragment") => "4",
        ("vhost.hls", "hls_on_error") => "ignore",
        ("vhost.transcode.engine", "iformat" | "oformat") => "mpegts",
        _ => return None,
    })
}

/// Directives with one value only, which is the default: accepted, nothing to change.
const ONLY_THE_DEFAULT: &[(&str, &str, &str)] = &[
    (
        "vhost.dvr",
        "time_jitter",
        "full is what every stream gets; zero and off warn",
    ),
    (
        "vhost.cluster",
        "protocol",
        "rtmp is the only upstream protocol; others warn",
    ),
];

#[derive(Debug, PartialEq, Eq)]
enum Status {
    Implemented,
    Warned(String),
    Rejected(String),
}

/// What a block needs beside a directive to be kept at all (written after it: the
/// directive's own line stays the first of the body).
fn siblings(context: &str, name: &str) -> String {
    match context {
        "vhost.ingest" => vec![
            ("input", "input { type file; url ./in.flv; }\n"),
            ("ffmpeg", "ffmpeg /usr/bin/ffmpeg;\n"),
            (
                "engine",
                "engine { enabled off; output rtmp://127.0.0.1/live/in; }\n",
            ),
        ],
        "vhost.transcode.engine" => {
            vec![(
                "output",
                "output rtmp://127.0.0.1:[port]/[app]/[stream]_[engine];\n",
            )]
        }
        _ => vec![],
    }
    .into_iter()
    .filter(|(n, _)| *n != name)
    .map(|(_, t)| t)
    .collect()
}

/// The status of `name` in `context` as the table writes it, and whether the config
/// with it (at a value other than the default) differs from the config without it.
fn status(context: &str, name: &str) -> (Status, bool) {
    let natural = is_block(context, name);
    let depth = context.split('.').filter(|s| !s.is_empty()).count();
    let line = depth + 1;
    let around = siblings(context, name);
    let text = wrap(
        context,
        &format!("{}{around}", directive(context, name, natural)),
    );
    let config = match load(&text) {
        Ok(c) => c,
        Err(e) => return (Status::Rejected(e.to_string()), false),
    };
    let at_line: Vec<String> = config
        .warnings
        .iter()
        .filter(|w| w.line == line)
        .map(|w| w.message.clone())
        .collect();
    if !at_line.is_empty() {
        return (Status::Warned(at_line.join("; ")), false);
    }
    let outer: Vec<String> = config
        .warnings
        .iter()
        .filter(|w| w.line < line && w.message.contains("is not supported yet"))
        .map(|w| w.message.clone())
        .collect();
    if !outer.is_empty() {
        return (
            Status::Warned(format!("inside an ignored block: {}", outer.join("; "))),
            false,
        );
    }
    let changed_text = match other_value(context, name) {
        Some(v) if !natural => wrap(context, &format!("{name} {v};\n{around}")),
        _ => text,
    };
    let baseline = load(&wrap(context, &around)).expect("the contexts load empty");
    let changed = load(&changed_text).is_ok_and(|c| c != baseline);
    (Status::Implemented, changed)
}

fn table() -> (String, Vec<String>) {
    let mut out = String::from(
        "# SRS directives in srs-rs\n\n\
         Generated from the code by `conf/tests/directive_table.rs` (`UPDATE_DIRECTIVES=1 cargo test -p srs-conf --test directive_table`);\n\
         do not edit. Every directive SRS knows, in its context, written the way an operator writes it:\n\n\
         - **implemented**: read and acted on;\n\
         - **warned**: accepted so that SRS configs load, with a warning naming file and line at load and on reload;\n\
         - **rejected**: an error at load.\n\n\
         A status is for the value in the \"as written\" column; some directives take some values and warn about others (the note says which).\n",
    );
    let mut silent = Vec::new();
    let (mut n_impl, mut n_warn, mut n_rej) = (0, 0, 0);
    let mut body = String::new();
    for (context, names) in contexts() {
        let title = if context.is_empty() {
            "top level".to_string()
        } else {
            context.replace('.', " › ")
        };
        body.push_str(&format!(
            "\n## {title}\n\n| directive | as written | status | note |\n|---|---|---|---|\n"
        ));
        let mut names: Vec<&str> = names.to_vec();
        names.sort_unstable();
        for name in names {
            let natural = is_block(context, name);
            let written = if natural {
                format!("`{} {{ }}`", block_head(name))
            } else {
                format!(
                    "`{}`",
                    directive(context, name, false).trim().trim_end_matches(';')
                )
            };
            let (st, changed) = status(context, name);
            let (word, note) = match &st {
                Status::Implemented => {
                    n_impl += 1;
                    let only = ONLY_THE_DEFAULT
                        .iter()
                        .find(|(c, n, _)| *c == context && *n == name);
                    if !changed && !natural && only.is_none() {
                        silent.push(format!("{context} {name}"));
                    }
                    (
                        "implemented",
                        only.map_or(String::new(), |(_, _, why)| why.to_string()),
                    )
                }
                Status::Warned(m) => {
                    n_warn += 1;
                    ("warned", m.clone())
                }
                Status::Rejected(m) => {
                    n_rej += 1;
                    ("rejected", m.clone())
                }
            };
            let note = note.replace('|', "\\|").replace("generated.conf:", "line ");
            body.push_str(&format!(
                "| `{name}` | {} | {word} | {note} |\n",
                written.replace('|', "\\|")
            ));
        }
    }
    out.push_str(&format!(
        "\nIn all: {n_impl} implemented, {n_warn} warned, {n_rej} rejected.\n"
    ));
    out.push_str(&body);
    (out, silent)
}

#[test]
fn the_directive_table_is_the_code_s() {
    let (text, _) = table();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/directives.md");
    if std::env::var_os("UPDATE_DIRECTIVES").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is not what the code does: run `UPDATE_DIRECTIVES=1 cargo test -p srs-conf --test directive_table` and commit it",
        path.display()
    );
}

#[test]
fn every_implemented_directive_changes_the_config() {
    let (_, silent) = table();
    assert!(
        silent.is_empty(),
        "accepted without a warning but the loaded config is the same as without them \
         (a silent no-op, or a value equal to the default: see other_value): {silent:#?}"
    );
}
