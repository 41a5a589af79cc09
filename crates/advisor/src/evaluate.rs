//! Judging a human's draft DDL statement by statement: `invalid` (PostgreSQL would
//! reject it), `unused` (no workload query would use it), `inferior` (a query it
//! targets is better served by another index) or `useful`.

use serde::{Deserialize, Serialize};

/// The verdict on one draft statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// PostgreSQL would reject it.
    Invalid,
    /// No workload query would use it.
    Unused,
    /// A query it targets is better served by another index.
    Inferior,
    /// It helps: see the queries.
    Useful,
    /// Not a CREATE INDEX statement.
    NotAnIndex,
}

/// A workload query as seen by a judged statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatedQuery {
    /// Normalized SQL.
    pub query: String,
    /// Executions in the workload.
    pub calls: f64,
    /// Estimated cost under the existing indexes.
    pub cost_before: f64,
    /// Estimated cost with the draft index.
    pub cost_after: f64,
}

/// A better index for a query the draft statement targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetterIndex {
    /// Normalized SQL of the query.
    pub query: String,
    /// DDL of the better index.
    pub ddl: String,
    /// The query's estimated cost with the draft index.
    pub cost_with_draft: f64,
    /// With the better index.
    pub cost_with_better: f64,
}

/// The judgement of one statement of the draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The statement as written (trimmed).
    pub statement: String,
    /// 1-based line where it starts in the file.
    pub line: usize,
    /// Verdict.
    pub verdict: Verdict,
    /// Why, in a sentence a DBA can act on.
    pub reason: String,
    /// Queries it serves (useful / inferior) or targets.
    pub queries: Vec<EvaluatedQuery>,
    /// Better indexes for the queries it targets (inferior).
    pub better: Vec<BetterIndex>,
}
