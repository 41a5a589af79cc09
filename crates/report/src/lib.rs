//! `pgpilot-report` owns how results read: terminal tables and Markdown for
//! benchmark reports and the scenario-style SLO table (`metric | baseline | … |
//! target | status`). It is pure: it formats values it is given and does no I/O.

mod bench;
mod format;
mod table;

pub use bench::{bench_report, slo_comparison};
pub use format::{duration_ms, percent};
pub use table::Style;
