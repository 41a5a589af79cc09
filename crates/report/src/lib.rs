//! `pgpilot-report` owns how results read: terminal tables and Markdown for
//! benchmark reports, the scenario-style SLO table and the top-queries
//! report of a captured workload (`metric | baseline | … |
//! target | status`), index advice and draft evaluations, and the hand-off
//! report (Markdown, or one self-contained HTML file with inline SVG charts).
//! It is pure: it formats values it is given and does no I/O.

mod advice;
mod bench;
mod evaluation;
mod findings;
#[cfg(test)]
mod fixtures;
mod format;
mod handoff;
mod inventory;
mod numbers;
mod table;
mod top;

pub use advice::advice_report;
pub use bench::{bench_report, slo_comparison};
pub use evaluation::evaluation_report;
pub use findings::findings_report;
pub use format::{duration_ms, percent};
pub use handoff::{cache_candidates, handoff_html, handoff_markdown, CacheCandidate, Handoff};
pub use inventory::{bytes, inventory_report, unavailable_note};
pub use table::Style;
pub use top::{one_line_sql, top_report};
