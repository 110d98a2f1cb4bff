//! The SRS config: syntax, includes, and the typed server config.
//!
//! Layers, each usable alone:
//! 1. [`parse_str`] / [`parse_bytes`]: text → [`Directive`] tree. Sans-I/O, with `file:line`
//!    in every error and hard [`limits`]. [`to_text`] prints a tree back.
//! 2. [`include`]: expands `include path;` from the file system ([`RealFs`]) or any
//!    [`IncludeFs`]; [`load_tree`] reads a file and does both.
//! 3. [`Config`]: the validated settings the server uses, with SRS's names and defaults.
//!    Directives SRS knows but we do not implement yet become [`Warning`]s; unknown names and
//!    bad values are [`ConfError`]s.
//!
//! ```
//! let config = srs_conf::Config::parse(
//!     "listen 1935;\nvhost __defaultVhost__ { play { gop_cache off; } hls { enabled on; } }\n\
//!      vhost rec.example.com { hds { enabled on; } }\n",
//!     "example.conf",
//! )
//! .unwrap();
//! let vhost = config.vhost("any.host").unwrap();
//! assert!(!vhost.play.gop_cache && vhost.hls.enabled);
//! assert_eq!(
//!     config.warnings[0].to_string(),
//!     "example.conf:3: directive \"hds\" is not supported yet, ignored"
//! );
//! ```

#![warn(missing_docs)]

mod config;
mod error;
pub mod include;
pub mod known;
mod parser;
mod printer;

pub use config::{
    upstream, ApiAuth, Bandcheck, Cluster, Config, Dvr, Exec, FfEngine, Forward, Hls, HlsAcodec,
    HlsOnError, HlsVcodec, HttpApi, HttpHooks, HttpRemux, HttpServer, Ingest, LogLevel, LogTank,
    Play, Publish, Ratio, RawApi, Refer, Security, SecurityRule, TimeJitter, Transcode, Vhost,
    WorkerProcesses, BUILTIN_CONF, DEFAULT_CHUNK_SIZE, DEFAULT_FIRSTPKT_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_HLS_DISPOSE, DEFAULT_HLS_FRAGMENT, DEFAULT_HLS_M3U8_FILE,
    DEFAULT_HLS_TS_FILE, DEFAULT_HLS_WINDOW, DEFAULT_HTTP_API_PORT, DEFAULT_HTTP_DIR,
    DEFAULT_HTTP_REMUX_MOUNT, DEFAULT_HTTP_SERVER_PORT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MW_LATENCY, DEFAULT_NORMAL_TIMEOUT, DEFAULT_QUEUE_LENGTH, DEFAULT_RING_SIZE,
    DEFAULT_RTMP_PORT, DEFAULT_UPSTREAM_PORT, DEFAULT_VHOST, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE,
};
pub use error::{ConfError, Warning};
pub use include::{load_tree, load_tree_with, resolve_includes, IncludeFs, MemFs, RealFs};
pub use parser::{parse_bytes, parse_str, same_forest, Directive};
pub use printer::to_text;

/// The parser's limits. A config is written by a person; anything beyond these is a mistake
/// or an attack, and is refused with a clear error rather than eating memory or stack.
pub mod limits {
    /// Largest config file, in bytes (4 MiB).
    pub const MAX_FILE_SIZE: usize = 4 * 1024 * 1024;
    /// Largest total of all files read through includes, in bytes (16 MiB).
    pub const MAX_TOTAL_SIZE: usize = 16 * 1024 * 1024;
    /// Deepest nesting of blocks (`a { b { ... } }`).
    pub const MAX_DEPTH: usize = 32;
    /// Longest word, in characters (after removing quotes and escapes).
    pub const MAX_TOKEN_CHARS: usize = 4096;
    /// Deepest chain of includes (a file that includes a file that includes ...).
    pub const MAX_INCLUDE_DEPTH: usize = 16;
}

/// The invariant shared by the fuzz target and the property tests: parsing arbitrary bytes
/// never panics, and whatever parses prints back to text that parses to the same tree.
///
/// # Panics
///
/// When the invariant is broken, which is the point: the fuzzer reports it.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(tree) = parse_bytes(data, "fuzz.conf") else {
        return;
    };
    let text = to_text(&tree);
    // Indentation can make the printed text longer than the input; past the size limit the
    // re-parse would rightly refuse it, which says nothing about the printer.
    if text.len() > limits::MAX_FILE_SIZE {
        return;
    }
    match parse_str(&text, "fuzz.conf") {
        Ok(again) => assert!(
            same_forest(&tree, &again),
            "printed config parses to a different tree:\n{text}"
        ),
        Err(e) => panic!("printed config does not parse: {e}\n{text}"),
    }
}
