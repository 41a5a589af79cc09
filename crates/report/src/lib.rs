//! `pgpilot-report` owns how results read: terminal tables and Markdown for
//! benchmark reports, the scenario-style SLO table and the top-queries
//! report of a captured workload (`metric | baseline | … |
//! target | status`). It is pure: it formats values it is given and does no I/O.

mod bench;
mod findings;
mod format;
mod inventory;
mod table;
mod top;

pub use bench::{bench_report, slo_comparison};
pub use findings::findings_report;
pub use format::{duration_ms, percent};
pub use inventory::{bytes, inventory_report, unavailable_note};
pub use table::Style;
pub use top::{one_line_sql, top_report};
