//! The plan file (`plan.json`): what `advise` recommends, what `verify` measured
//! and what `apply` reads. Plain serde types, versioned, so a plan can be
//! reviewed, approved and applied later — and refused when it no longer matches
//! the database it was made for.

use serde::{Deserialize, Serialize};

use crate::IndexDef;

/// Version of the plan file format written by this build.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvicePlan {
    /// Format version ([`PLAN_FORMAT_VERSION`]).
    pub version: u32,
    /// Content id (hex hash of the recommendations), recorded in the journal.
    pub id: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// The database it was made for.
    pub database: DatabaseIdentity,
    /// Signature of each table the plan touches, to refuse a stale plan.
    pub tables: Vec<TableSignature>,
    /// The settings it was made with.
    pub settings: AdviseSettings,
    /// Estimated workload cost (Σ calls × plan cost) under the existing indexes.
    pub workload_cost_before: f64,
    /// Estimated workload cost with every recommendation.
    pub workload_cost_after: f64,
    /// What-if plans made.
    pub whatif_plans: u64,
    /// Seconds the advice took.
    pub advise_seconds: f64,
    /// Indexes to create, best first.
    pub recommendations: Vec<Recommendation>,
    /// Indexes to drop (unused, duplicate, redundant, invalid).
    pub drops: Vec<DropRecommendation>,
    /// Tables whose statistics are stale: `ANALYZE` them (apply `--analyze`).
    pub analyze: Vec<String>,
    /// Queries that could not be planned, with the reason.
    pub skipped: Vec<SkippedQuery>,
    /// The workload queries the recommendations serve, with their samples, so
    /// `verify` can run them with real parameters.
    pub queries: Vec<PlanQuery>,
}

/// Which database a plan belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseIdentity {
    /// `current_database()`.
    pub name: String,
    /// `pg_control_system().system_identifier` as text (empty when unreadable).
    pub system_identifier: String,
    /// `server_version_num`.
    pub server_version_num: i32,
}

/// What a table looked like when the plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSignature {
    /// `schema.table`.
    pub table: String,
    /// `name type` of every column, in order.
    pub columns: Vec<String>,
}

/// Settings of the advice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdviseSettings {
    /// Storage budget in bytes (`None` = unlimited).
    pub budget_bytes: Option<u64>,
    /// Most key columns per index.
    pub max_columns: usize,
    /// Least relative workload gain for an index to be kept (0.10 = 10 %).
    pub min_gain: f64,
    /// What-if backend (`hypopg` or `real-tx`).
    pub whatif: String,
}

/// A workload query as recorded in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanQuery {
    /// Fingerprint id.
    pub id: String,
    /// Normalized SQL.
    pub sql: String,
    /// Executions in the workload.
    pub calls: f64,
    /// Parameter samples (text values).
    pub samples: Vec<Vec<Option<String>>>,
}

/// One index to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS …`.
    pub ddl: String,
    /// `DROP INDEX CONCURRENTLY IF EXISTS …`.
    pub rollback_ddl: String,
    /// Index name.
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// Key columns for display (`last_login DESC`).
    pub columns: Vec<String>,
    /// Kind.
    pub kind: crate::IndexKind,
    /// The definition.
    pub index: IndexDef,
    /// Estimated size in bytes.
    pub size_bytes: u64,
    /// Queries whose plan uses it, with costs before and after.
    pub queries: Vec<ServedQuery>,
    /// Σ calls × (cost before − cost after) over its queries.
    pub benefit: f64,
    /// Estimated write overhead: extra index-entry bytes written per second.
    pub write_overhead: f64,
    /// Why it was chosen, in a sentence.
    pub reason: String,
    /// Alternatives considered and why they lost.
    #[serde(default)]
    pub alternatives: Vec<String>,
    /// What `verify` measured, once run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// A query a recommendation serves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedQuery {
    /// Normalized SQL.
    pub query: String,
    /// Fingerprint id (see [`AdvicePlan::queries`]).
    pub id: String,
    /// Executions in the workload.
    pub calls: f64,
    /// Estimated cost under the existing indexes.
    pub cost_before: f64,
    /// Estimated cost with the recommended set.
    pub cost_after: f64,
}

/// One index to drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DropRecommendation {
    /// Index name.
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// `unused`, `duplicate`, `redundant`, `invalid`.
    pub reason: String,
    /// Detail (which index makes it redundant, scans, …).
    pub detail: String,
    /// `DROP INDEX CONCURRENTLY IF EXISTS …`.
    pub ddl: String,
    /// The statement that re-creates it.
    pub recreate_ddl: String,
    /// Size in bytes freed.
    pub size_bytes: u64,
}

/// A query the advisor could not plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedQuery {
    /// Normalized SQL.
    pub query: String,
    /// Why.
    pub reason: String,
}

/// Outcome of verifying one recommendation with a real index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyStatus {
    /// Measured real gain at least the threshold, and no query slower.
    Verified,
    /// Measured gain below the threshold.
    NoGain,
    /// Some query got slower.
    Regression,
    /// Not measured (too large without `--force`, failed build, …; see the note).
    Skipped,
}

/// Median and spread of repeated timings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimingStats {
    /// Median.
    pub median_ms: f64,
    /// Fastest.
    pub min_ms: f64,
    /// Slowest.
    pub max_ms: f64,
    /// Runs.
    pub runs: u32,
}

/// One query measured before and after a real index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredQuery {
    /// Fingerprint id.
    pub id: String,
    /// Normalized SQL.
    pub query: String,
    /// Executions in the workload.
    pub calls: f64,
    /// EXPLAIN ANALYZE execution time without the index.
    pub before: TimingStats,
    /// With it.
    pub after: TimingStats,
    /// The plan used the new index.
    pub uses_index: bool,
}

/// What `verify` measured for one recommendation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Verdict.
    pub status: VerifyStatus,
    /// Where it was measured (`rolled-back transaction on target` or `staging`).
    pub method: String,
    /// Real index size in bytes.
    pub real_size_bytes: u64,
    /// Real build time in ms.
    pub build_ms: f64,
    /// Per query timings.
    pub queries: Vec<MeasuredQuery>,
    /// Relative gain over the served queries, calls-weighted (0.9 = 90 % less time).
    pub gain: f64,
    /// Relative slowdown of a batch of representative writes with the index
    /// (0.05 = 5 % slower), when measured.
    pub write_slowdown: Option<f64>,
    /// When (RFC 3339).
    pub verified_at: String,
    /// Anything worth saying (why skipped, which query regressed).
    pub note: String,
}

/// What a journaled change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// CREATE INDEX CONCURRENTLY.
    CreateIndex,
    /// DROP INDEX CONCURRENTLY.
    DropIndex,
    /// ANALYZE of a table.
    Analyze,
}

/// Where a journaled change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatus {
    /// Done and in place.
    Applied,
    /// Nothing to do: it was already in place.
    AlreadyPresent,
    /// Gave up (the detail says why); nothing was left behind.
    Failed,
    /// Undone by `pgpilot rollback`.
    RolledBack,
}

/// One row of the apply journal (`pgpilot.changes`), as reports read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Journal id.
    pub id: i64,
    /// When it was applied (RFC 3339).
    pub applied_at: String,
    /// Database role that applied it.
    pub applied_by: String,
    /// What kind of change.
    pub action: ChangeAction,
    /// The statement run.
    pub ddl: String,
    /// The statement that undoes it (empty for ANALYZE).
    pub rollback_ddl: String,
    /// The plan it came from.
    pub plan_id: String,
    /// Where it stands.
    pub status: ChangeStatus,
    /// Tries, errors, timings.
    pub detail: String,
    /// Verified calls-weighted median time of the served queries before, in ms.
    pub before_ms: Option<f64>,
    /// … and after.
    pub after_ms: Option<f64>,
    /// When it was rolled back (RFC 3339).
    pub rolled_back_at: Option<String>,
}
