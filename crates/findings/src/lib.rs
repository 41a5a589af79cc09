//! `pgpilot-findings` owns the one [`Finding`] type that every diagnosis of pgpilot
//! produces — plan findings (`plan.*`), health checks (`health.*`) and query lints
//! (`lint.*`) — with its [`Severity`], the optional plan [`NodeLocation`] it points
//! at, and the ordering and `--fail-on` helpers the reports and the CLI share. It is
//! pure: plain serde types, no I/O. A finding serializes as `{"id", "severity",
//! "title", "table", "columns", "query", "evidence", "explanation", "fix_sql",
//! "fix_hint", "impact_ms", "node"}`.

pub mod ident;

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

/// Where in a query plan a finding points (plan findings only).
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

/// One finding: a plan problem, a health check that failed or a query lint.
/// Serializes as
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
    /// The plan node concerned; `None` for plan-wide findings and for findings that
    /// are not about a plan (health checks, lints).
    pub node: Option<NodeLocation>,
}

impl Finding {
    /// A finding with its id, severity, title and explanation; every other field
    /// empty, for the rule to fill.
    pub fn new(id: &str, severity: Severity, title: String, explanation: String) -> Finding {
        Finding {
            id: id.to_string(),
            severity,
            title,
            table: None,
            columns: Vec::new(),
            query: None,
            evidence: BTreeMap::new(),
            explanation,
            fix_sql: None,
            fix_hint: None,
            impact_ms: None,
            node: None,
        }
    }
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

impl std::str::FromStr for Severity {
    type Err = UnknownSeverity;

    /// Parses `info`, `warning` (or `warn`) and `critical`, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(UnknownSeverity(s.to_string())),
        }
    }
}

/// A severity name that is not `info`, `warning` or `critical`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeverity(pub String);

impl fmt::Display for UnknownSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown severity {:?}: use info, warning or critical",
            self.0
        )
    }
}

impl std::error::Error for UnknownSeverity {}

/// Sorts findings most important first: severity, then time attributable
/// (`impact_ms`, unknown last), then id, table and title so the order is stable.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| {
                let ia = a.impact_ms.unwrap_or(f64::NEG_INFINITY);
                let ib = b.impact_ms.unwrap_or(f64::NEG_INFINITY);
                ib.total_cmp(&ia)
            })
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.table.cmp(&b.table))
            .then_with(|| a.title.cmp(&b.title))
    });
}

/// True when at least one finding is at `level` or above — the `--fail-on` rule:
/// `reaches(&findings, Severity::Warning)` is true for a warning or a critical.
pub fn reaches(findings: &[Finding], level: Severity) -> bool {
    findings.iter().any(|f| f.severity >= level)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str, severity: Severity, impact_ms: Option<f64>) -> Finding {
        Finding {
            id: id.into(),
            severity,
            title: id.into(),
            table: None,
            columns: vec![],
            query: None,
            evidence: BTreeMap::new(),
            explanation: String::new(),
            fix_sql: None,
            fix_hint: None,
            impact_ms,
            node: None,
        }
    }

    #[test]
    fn sorted_by_severity_then_impact() {
        let mut v = vec![
            f("a", Severity::Info, Some(1000.0)),
            f("b", Severity::Critical, None),
            f("c", Severity::Warning, Some(1.0)),
            f("d", Severity::Warning, Some(50.0)),
            f("e", Severity::Warning, None),
        ];
        sort_findings(&mut v);
        let ids: Vec<&str> = v.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["b", "d", "c", "e", "a"]);
    }

    #[test]
    fn fail_on_levels() {
        let v = vec![
            f("a", Severity::Info, None),
            f("b", Severity::Warning, None),
        ];
        assert!(reaches(&v, Severity::Warning));
        assert!(!reaches(&v, Severity::Critical));
        assert!(!reaches(&[], Severity::Info));
    }

    #[test]
    fn severities_parse_and_serialize_lowercase() {
        assert_eq!("Warning".parse::<Severity>(), Ok(Severity::Warning));
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert!("fatal".parse::<Severity>().is_err());
        assert_eq!(
            serde_json::to_string(&Severity::Critical).ok().as_deref(),
            Some("\"critical\"")
        );
    }

    #[test]
    fn json_shape_is_stable() {
        let v = serde_json::to_value(f("x", Severity::Info, None)).unwrap_or_default();
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut expected = vec![
            "id",
            "severity",
            "title",
            "table",
            "columns",
            "query",
            "evidence",
            "explanation",
            "fix_sql",
            "fix_hint",
            "impact_ms",
            "node",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
    }
}
