//! The one error type of this crate, and the warnings a valid config may still carry.

use std::fmt;
use std::io;
use std::sync::Arc;

/// Everything that can go wrong while reading, parsing or validating a config.
///
/// Every variant except [`ConfError::Io`] knows the file and line it is about, and its
/// `Display` is `file:line: message`, the way compilers and nginx report, so an operator can
/// jump straight to the line. `Io` is about a whole file that could not be read, so it has no
/// line: it displays as `file: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// The top-level config file could not be read (missing, unreadable, a directory, ...).
    #[error("{file}: cannot read config file: {source}")]
    Io {
        /// The path as given by the caller.
        file: Arc<str>,
        /// What the operating system said.
        source: io::Error,
    },

    /// The text is not valid SRS config syntax: unexpected `}`, unterminated block, missing
    /// `;`, unterminated string, empty directive, invalid UTF-8.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The file the text came from.
        file: Arc<str>,
        /// 1-based line of the offending token (or of the directive it belongs to).
        line: usize,
        /// What is wrong, in words.
        message: String,
    },

    /// One of the parser's size limits was exceeded (file size, token length, block nesting);
    /// see [`crate::limits`].
    #[error("{file}:{line}: {message}")]
    Limit {
        /// The file the text came from.
        file: Arc<str>,
        /// 1-based line where the limit was crossed.
        line: usize,
        /// Which limit, and its value.
        message: String,
    },

    /// An `include` directive could not be honoured: file not found or unreadable, include
    /// loop, includes nested too deep.
    #[error("{file}:{line}: {message}")]
    Include {
        /// The file holding the `include` directive.
        file: Arc<str>,
        /// Line of the `include` directive.
        line: usize,
        /// What went wrong.
        message: String,
    },

    /// A directive that SRS does not know at all in this context (most often a typo).
    #[error("{file}:{line}: unknown directive \"{name}\"{context}")]
    UnknownDirective {
        /// The file holding the directive.
        file: Arc<str>,
        /// Line of the directive.
        line: usize,
        /// The directive name as written.
        name: String,
        /// Where it was found, e.g. ` in vhost` (empty at top level).
        context: String,
    },

    /// A known directive with a bad value: not a number, out of range, unknown on/off value,
    /// wrong number of arguments, duplicate, block where a value is expected, ...
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file holding the directive.
        file: Arc<str>,
        /// Line of the directive.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ConfError::Io { file, .. }
            | ConfError::Syntax { file, .. }
            | ConfError::Limit { file, .. }
            | ConfError::Include { file, .. }
            | ConfError::UnknownDirective { file, .. }
            | ConfError::Invalid { file, .. } => file,
        }
    }

    /// The 1-based line the error is about, `None` for [`ConfError::Io`].
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfError::Io { .. } => None,
            ConfError::Syntax { line, .. }
            | ConfError::Limit { line, .. }
            | ConfError::Include { line, .. }
            | ConfError::UnknownDirective { line, .. }
            | ConfError::Invalid { line, .. } => Some(*line),
        }
    }
}

/// Something in a valid config that the operator should know about, typically a directive
/// that SRS supports but this server does not implement yet (it is ignored).
///
/// `Display` is `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file holding the directive.
    pub file: Arc<str>,
    /// Line of the directive.
    pub line: usize,
    /// What the operator should know.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
