//! Errors of this crate.

/// What can go wrong when reading or writing workload files. Aggregation itself
/// never fails: problems with individual events are counted, not raised.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The file is not JSON, or not shaped like a workload.
    #[error("invalid workload file: {0}")]
    Json(#[from] serde_json::Error),
    /// The file is JSON but not a pgpilot workload.
    #[error(
        "not a pgpilot workload file (\"format\" is {found:?}, expected \"pgpilot-workload\")"
    )]
    NotAWorkload {
        /// The `format` field found, if any.
        found: Option<String>,
    },
    /// The file was written by another version of the format.
    #[error("unsupported workload file version {found} (this pgpilot reads version {expected}); re-create it with a matching pgpilot")]
    UnsupportedVersion {
        /// The version in the file.
        found: u64,
        /// The version this crate reads.
        expected: u32,
    },
    /// A serialized histogram could not be decoded.
    #[error("invalid histogram in workload file: {0}")]
    Histogram(String),
    /// Reading or writing failed.
    #[error("workload file I/O: {0}")]
    Io(#[from] std::io::Error),
}
