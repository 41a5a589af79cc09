//! `pgpilot-logs` owns reading PostgreSQL server logs: stderr logs with any
//! `log_line_prefix` (given or detected), csvlog and jsonlog, plain, gzip or
//! zstd (by magic bytes), from files, directories or stdin. It assembles
//! multi-line entries into [`LogRecord`]s, classifies them into [`Event`]s
//! (statements with exact execution accounting, errors, auto_explain plans,
//! other), counts every line it could not use in [`Counters`], and parses
//! large files in parallel by chunks with exact edges. It does no database
//! access and no async I/O.
//!
//! Entry point: [`for_each_event`] with one [`EventSink`] per work item (a
//! chunk of a file or a whole stream); events borrow the reader's buffer.

mod classify;
mod error;
mod event;
mod formats;
mod prefix;
mod reader;
mod record;
mod stderr;
mod time;

pub use error::LogError;
pub use event::{
    parse_params, Event, EventKind, Logged, OtherKind, Phase, Plan, PlanFormat, Statement,
};
pub use prefix::{Prefix, KNOWN_PREFIXES};
pub use reader::{expand_sources, for_each_event, Format, InputReport, Options, Progress, Summary};
pub use record::{Counters, LogRecord, Severity, SkipReason};
pub use stderr::{ASSOC_WINDOW, DURATION_WINDOW};

/// Receives events. One sink is made per work item and used by one thread;
/// events borrow the item's buffer, so copy what must outlive the call.
pub trait EventSink {
    /// Called once per entry, in order of process (per process: in log order).
    fn event(&mut self, ev: Event<'_>);
}
