//! Errors of this crate.

use std::path::PathBuf;

/// What can go wrong while reading logs. Per-line problems are never errors:
/// they are counted in [`crate::Counters`] instead.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// An input could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The input.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A `log_line_prefix` given by the user cannot be used.
    #[error("invalid log_line_prefix {prefix:?}: {reason}")]
    BadPrefix {
        /// The prefix as given.
        prefix: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// No known prefix matched the first lines of a stderr log.
    #[error("{path}: could not detect the log_line_prefix (give it with --prefix)")]
    PrefixNotDetected {
        /// The input.
        path: PathBuf,
    },
    /// The input was declared as one format but holds another.
    #[error("{path}: declared as {declared} but looks like {detected}")]
    FormatMismatch {
        /// The input.
        path: PathBuf,
        /// The format the caller asked for.
        declared: &'static str,
        /// The format found in the file.
        detected: &'static str,
    },
    /// A file found in a directory holds the same records as another one in
    /// another format (PostgreSQL writes `X.csv` and `X.json` side by side
    /// with `log_destination = 'csvlog,jsonlog'`): it was not read.
    #[error("skipped {skipped}: the same records as {kept} in another format (pass it explicitly to read it instead)")]
    SameRecords {
        /// The file not read.
        skipped: PathBuf,
        /// The file read in its place.
        kept: PathBuf,
    },
    /// A worker thread panicked (a bug: reported instead of propagated).
    #[error("internal error: a parser thread panicked")]
    WorkerPanic,
}
