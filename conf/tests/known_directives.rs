//! Generated configs: every directive name of `srs_conf::known`, in its context, loads with
//! warnings at most. This proves that the known list and the validator agree: a name SRS
//! knows is never "unknown" to us, whatever shape it is written in, and the argument shapes
//! an SRS operator writes pass our checks.

mod support;

use srs_conf::known::contexts;
use srs_conf::{ConfError, Config};
use support::{directive, is_block, load, wrap};

/// The contexts `Config` reads name by name; children of any other block are ignored with it.
const VALIDATED: &[&str] = &[
    "",
    "rtmp",
    "http_api",
    "http_server",
    "vhost",
    "vhost.play",
    "vhost.publish",
    "vhost.refer",
    "vhost.hls",
    "vhost.http_remux",
    "vhost.cluster",
    "vhost.forward",
    "vhost.security",
    "http_api.raw_api",
    "http_api.auth",
    "vhost.http_hooks",
    "vhost.transcode",
    "vhost.transcode.engine",
    "vhost.ingest",
    "vhost.exec",
    "vhost.dvr",
    "vhost.bandcheck",
];

/// The names of the ignored directives (other warnings, such as an edge without an
/// origin, are about values, not names).
fn warned(c: &Config) -> Vec<String> {
    c.warnings
        .iter()
        .filter(|w| {
            !w.message.starts_with("mode remote without an origin")
                && !w.message.contains("not started")
                && !w
                    .message
                    .starts_with("forward enabled without a destination")
        })
        .map(|w| {
            w.message
                .strip_prefix("directive \"")
                .and_then(|m| m.strip_suffix("\" is not supported yet, ignored"))
                .unwrap_or_else(|| panic!("unexpected warning: {w}"))
                .to_string()
        })
        .collect()
}

#[test]
fn every_known_directive_loads_in_its_context() {
    let mut configs = 0;
    for (context, names) in contexts() {
        let body: String = names
            .iter()
            .map(|n| directive(context, n, is_block(context, n)))
            .collect();
        let text = wrap(context, &body);
        let config = match load(&text) {
            Ok(c) => c,
            Err(e) => panic!("context {context:?}: {e}\n{text}"),
        };
        // The warnings name directives of this context, or a block around it.
        let around: Vec<&str> = context.split('.').collect();
        let warned = warned(&config);
        for w in &warned {
            assert!(
                names.contains(&w.as_str()) || around.contains(&w.as_str()),
                "context {context:?}: warning for {w}"
            );
        }
        if !VALIDATED.contains(&context) {
            // The whole block is ignored, once, at its outermost unsupported level.
            assert_eq!(warned.len(), 1, "context {context:?}: {warned:?}");
        }
        configs += 1;
    }
    assert_eq!(configs, contexts().count());
}

#[test]
fn a_known_name_is_never_unknown_whatever_its_shape() {
    let mut checked = 0;
    for (context, names) in contexts() {
        for &name in names {
            let natural = is_block(context, name);
            let text = wrap(context, &directive(context, name, natural));
            let config = match load(&text) {
                Ok(c) => c,
                Err(e) => panic!("{context:?} {name}: {e}\n{text}"),
            };
            let ignored = warned(&config).iter().any(|w| w == name);

            let text = wrap(context, &directive(context, name, !natural));
            match load(&text) {
                // A directive we ignore is ignored whatever its shape.
                Ok(_) => {}
                Err(e @ ConfError::Invalid { .. }) if !ignored => {
                    // One we read says what shape it wants.
                    let m = e.to_string();
                    assert!(
                        m.contains("block") || m.contains("needs a value"),
                        "{context:?} {name}: {m}"
                    );
                }
                Err(e) => panic!("{context:?} {name} (ignored: {ignored}): {e}\n{text}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}

#[test]
fn a_typo_in_a_validated_context_is_still_an_error() {
    for context in VALIDATED {
        let text = wrap(context, "enabledd on;\n");
        match load(&text) {
            Err(ConfError::UnknownDirective { name, .. }) => assert_eq!(name, "enabledd"),
            other => panic!("{context:?}: {other:?}"),
        }
    }
}
