//! The typed log record and the counters of what was (not) read.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Serialize;

/// Severity (`error_severity`) of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Severity {
    /// DEBUG1..DEBUG5.
    Debug,
    /// LOG.
    Log,
    /// INFO.
    Info,
    /// NOTICE.
    Notice,
    /// WARNING.
    Warning,
    /// ERROR.
    Error,
    /// FATAL.
    Fatal,
    /// PANIC.
    Panic,
}

impl Severity {
    /// Parses a severity word (`LOG`, `ERROR`, `DEBUG1`, ...).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "LOG" => Severity::Log,
            "ERROR" => Severity::Error,
            "FATAL" => Severity::Fatal,
            "PANIC" => Severity::Panic,
            "WARNING" => Severity::Warning,
            "NOTICE" => Severity::Notice,
            "INFO" => Severity::Info,
            "DEBUG" | "DEBUG1" | "DEBUG2" | "DEBUG3" | "DEBUG4" | "DEBUG5" => Severity::Debug,
            _ => return None,
        })
    }

    /// True for ERROR, FATAL and PANIC.
    pub fn is_error(self) -> bool {
        matches!(self, Severity::Error | Severity::Fatal | Severity::Panic)
    }
}

/// One log entry (a message with its DETAIL/HINT/CONTEXT/STATEMENT parts),
/// borrowing from the reader's buffer where it can.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogRecord<'a> {
    /// Index of the input in the list given to the reader.
    pub input: u32,
    /// Byte offset of the entry's first line in its (decompressed) input.
    pub offset: u64,
    /// Time of the entry, microseconds since the Unix epoch (UTC).
    pub time_us: Option<i64>,
    /// Process id (`%p`).
    pub pid: Option<u32>,
    /// Session id (`%c`).
    pub session_id: Option<&'a str>,
    /// Session line number (`%l`).
    pub line_num: Option<u64>,
    /// User name (`%u`).
    pub user: Option<&'a str>,
    /// Database (`%d`).
    pub db: Option<&'a str>,
    /// application_name (`%a`).
    pub app: Option<&'a str>,
    /// Client host (`%h`, or the host of `%r`).
    pub client: Option<&'a str>,
    /// Severity; `None` only for records the reader could not classify.
    pub severity: Option<Severity>,
    /// SQLSTATE (`%e`, csv/json `state_code`, or verbose `LOG:  00000:`).
    pub sqlstate: Option<&'a str>,
    /// Query id (`%Q`, csv/json `query_id`); 0 means none.
    pub query_id: Option<i64>,
    /// Backend type (`%b`, csv/json `backend_type`).
    pub backend_type: Option<&'a str>,
    /// The primary message.
    pub message: Cow<'a, str>,
    /// DETAIL.
    pub detail: Option<Cow<'a, str>>,
    /// HINT.
    pub hint: Option<Cow<'a, str>>,
    /// CONTEXT.
    pub context: Option<Cow<'a, str>>,
    /// STATEMENT (the query that caused the message).
    pub statement: Option<Cow<'a, str>>,
    /// QUERY (internal query).
    pub internal_query: Option<Cow<'a, str>>,
}

impl LogRecord<'_> {
    /// The key that identifies the process/session: pid when known, else a
    /// hash of the session id.
    pub fn process_key(&self) -> u64 {
        if let Some(p) = self.pid {
            return u64::from(p);
        }
        match self.session_id {
            Some(s) => fx_hash(s.as_bytes()) | (1 << 63),
            None => 0,
        }
    }
}

pub(crate) fn fx_hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &c in b {
        h = (h ^ u64::from(c)).wrapping_mul(0x100000001b3);
    }
    h
}

/// Why a line was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum SkipReason {
    /// The line does not start with the log_line_prefix (and is not a
    /// continuation line).
    NoPrefixMatch,
    /// A TAB continuation line with no entry before it.
    OrphanContinuation,
    /// A DETAIL/HINT/CONTEXT/STATEMENT/QUERY line with no entry of the same
    /// process before it (within the association window).
    OrphanSecondary,
    /// A csvlog row that could not be parsed.
    BadCsvRow,
    /// A jsonlog line that is not a JSON object of the expected shape.
    BadJson,
    /// An empty line.
    Empty,
    /// The last line of an input that ended without a newline after being cut
    /// by truncation of a compressed stream.
    Truncated,
}

/// What was read and what could not be, for one chunk, input or run.
/// Counters add up exactly across chunks.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// Bytes read (decompressed).
    pub bytes_read: u64,
    /// Lines read (every physical line, including continuation lines).
    pub lines_read: u64,
    /// Lines that were not part of any entry, by reason.
    pub lines_skipped: BTreeMap<SkipReason, u64>,
    /// Lines that held bytes that are not UTF-8 (decoded lossily, not dropped).
    pub non_utf8_lines: u64,
    /// Inputs that ended early: a compressed stream cut short, or a file that
    /// shrank while it was read (rotated by copytruncate). The readable part was used.
    pub truncated_inputs: u64,
    /// Entries (records) produced.
    pub records: u64,
    /// Events by kind ("statement", "error", "plan", or the kind of `Other`).
    pub events: BTreeMap<&'static str, u64>,
    /// `duration: X ms` lines that could not be attributed to a statement.
    pub unattributed_durations: u64,
    /// Timestamps whose zone abbreviation was unknown (read as UTC).
    pub unknown_timezones: u64,
}

impl Counters {
    /// Counts one skipped line.
    pub fn skip(&mut self, reason: SkipReason) {
        *self.lines_skipped.entry(reason).or_insert(0) += 1;
    }

    /// Total of skipped lines.
    pub fn skipped_total(&self) -> u64 {
        self.lines_skipped.values().sum()
    }

    /// Adds another counter set into this one.
    pub fn merge(&mut self, o: &Counters) {
        self.bytes_read += o.bytes_read;
        self.lines_read += o.lines_read;
        for (k, v) in &o.lines_skipped {
            *self.lines_skipped.entry(*k).or_insert(0) += v;
        }
        self.non_utf8_lines += o.non_utf8_lines;
        self.truncated_inputs += o.truncated_inputs;
        self.records += o.records;
        for (k, v) in &o.events {
            *self.events.entry(k).or_insert(0) += v;
        }
        self.unattributed_durations += o.unattributed_durations;
        self.unknown_timezones += o.unknown_timezones;
    }
}
