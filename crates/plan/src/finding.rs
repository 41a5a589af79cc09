//! [`Finding`]: one problem found in a plan, with its evidence and its fix.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How much a finding matters. Ordered: `Info < Warning < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; unlikely to be the main cost.
    Info,
    /// A real cost worth fixing.
    Warning,
    /// The dominant cost of the query, or a severe misjudgement.
    Critical,
}

impl Severity {
    /// Lowercase name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the plan a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLocation {
    /// Child positions from the root down to the node (empty for the root).
    pub path: Vec<usize>,
    /// The node's type as EXPLAIN's text shows it (`Parallel Seq Scan`).
    pub node_type: String,
    /// The node's one-line label (`Seq Scan on users u`).
    pub label: String,
    /// Labels from the root down to the node, joined by ` > `.
    pub label_path: String,
}

/// One finding on a plan. Serializes as
/// `{"id", "severity", "title", "table", "columns", "query", "evidence",
/// "explanation", "fix_sql", "fix_hint", "impact_ms", "node"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, e.g. `plan.top_n_sort`.
    pub id: String,
    /// Severity.
    pub severity: Severity,
    /// One-line summary.
    pub title: String,
    /// Table concerned, when one is.
    pub table: Option<String>,
    /// Columns concerned (index candidates, sort keys, join keys…).
    pub columns: Vec<String>,
    /// The query, when the caller knows it (auto_explain's `Query Text` is used
    /// when the plan carries one).
    pub query: Option<String>,
    /// The numbers behind the finding.
    pub evidence: BTreeMap<String, Value>,
    /// Plain-language explanation.
    pub explanation: String,
    /// SQL that fixes the problem, where one exists.
    pub fix_sql: Option<String>,
    /// What to do when no single statement fixes it.
    pub fix_hint: Option<String>,
    /// Time attributable to the finding, in ms, when known; used for ordering.
    pub impact_ms: Option<f64>,
    /// The plan node concerned; `None` for plan-wide findings.
    pub node: Option<NodeLocation>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.severity, self.id, self.title)?;
        if let Some(ms) = self.impact_ms {
            write!(f, " ({ms:.1} ms)")?;
        }
        Ok(())
    }
}
