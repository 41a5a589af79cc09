//! `pgpilot-health` owns pgpilot's health audit and index inventory, as pure logic
//! over [`HealthFacts`] — plain serde structs describing what `pgpilot-db` reads from
//! the catalog and the statistics views (tables, indexes, foreign keys, sequences,
//! transaction-id ages, activity, settings, and which of those could not be read).
//! [`evaluate`] runs the health rules — one per file under `rules/`, each with a
//! stable id (`health.fk_without_index`, `health.stale_statistics`, …), PgHero's
//! default thresholds where it has them, and the SQL that fixes the problem where
//! one exists — and [`index_inventory`] documents every index with its usage and
//! flags (unused, duplicate, redundant, invalid). No I/O, no database client.
//!
//! ```
//! use pgpilot_health::{evaluate, fails_on, HealthFacts, Severity};
//! let facts = HealthFacts::default(); // normally pgpilot_db::collect_health_facts
//! let findings = evaluate(&facts);
//! assert!(!fails_on(&findings, Severity::Warning));
//! ```

pub mod drop_safety;
pub mod facts;
#[cfg(test)]
mod fixtures;
pub use pgpilot_findings::ident;
pub mod inventory;
pub mod redundancy;
mod rules;

pub use facts::{
    ActivityFacts, ConstraintFacts, ForeignKeyFacts, HealthFacts, IndexColumn, IndexFacts,
    SequenceFacts, SequenceOwner, ServerFacts, SessionFacts, TableFacts, Unavailable, XidFacts,
};
pub use inventory::{
    index_inventory, IndexFlag, IndexInventory, InventoryIndex, TableScans, INDEX_USAGE_MIN_ROWS,
};
pub use pgpilot_findings::{Finding, Severity};
pub use rules::{estimate_btree_bloat, evaluate, BloatEstimate, RULE_IDS};

/// The `--fail-on` rule: true when a finding is at `level` or above
/// (`--fail-on warning` fails on warnings and criticals).
pub fn fails_on(findings: &[Finding], level: Severity) -> bool {
    pgpilot_findings::reaches(findings, level)
}
