//! [`lint_workload`]: every lint over every statement of a captured workload.

use pgpilot_plan::Finding;
use pgpilot_sql::QueryShape;
use pgpilot_workload::Workload;
use serde::{Deserialize, Serialize};

use crate::lints::{lint_n_plus_one, lint_query};
use crate::{CatalogFacts, LintConfig, LintInput};

/// What [`lint_workload`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadLints {
    /// Findings of all statements and the N+1 pairs, most severe first, then by
    /// the statement's total time.
    pub findings: Vec<Finding>,
    /// Statements linted.
    pub statements: usize,
    /// Statements skipped because PostgreSQL's parser rejected them.
    pub unparsable: usize,
}

/// Runs every lint over every statement of `workload` with the default thresholds.
pub fn lint_workload(workload: &Workload, catalog: &CatalogFacts) -> WorkloadLints {
    lint_workload_with(workload, catalog, &LintConfig::default())
}

/// Like [`lint_workload`] with explicit thresholds.
pub fn lint_workload_with(
    workload: &Workload,
    catalog: &CatalogFacts,
    config: &LintConfig,
) -> WorkloadLints {
    let mut out = WorkloadLints::default();
    let mut ranked: Vec<(f64, Finding)> = Vec::new();
    for q in workload.queries.values() {
        if q.parse_error.is_some() {
            out.unparsable += 1;
            continue;
        }
        let Ok(shape) = QueryShape::parse(&q.query) else {
            out.unparsable += 1;
            continue;
        };
        out.statements += 1;
        let samples: Vec<Vec<Option<String>>> =
            q.samples.samples.iter().map(|s| s.values.clone()).collect();
        let input = LintInput {
            calls: Some(q.calls),
            samples: &samples,
            ..LintInput::new(&q.query, &shape, catalog, config)
        };
        let total_ms = q.total_ms();
        for mut f in lint_query(&input) {
            f.evidence
                .entry("fingerprint".to_string())
                .or_insert_with(|| serde_json::Value::from(q.fingerprint.to_string()));
            ranked.push((total_ms, f));
        }
    }
    for f in lint_n_plus_one(&workload.n_plus_one, catalog) {
        ranked.push((f.impact_ms.unwrap_or(0.0), f));
    }
    ranked.sort_by(|(ta, a), (tb, b)| {
        b.severity
            .cmp(&a.severity)
            .then(tb.total_cmp(ta))
            .then_with(|| a.id.cmp(&b.id))
    });
    out.findings = ranked.into_iter().map(|(_, f)| f).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::test_support::adx;
    use pgpilot_workload::{Fingerprint, QueryStats};

    #[test]
    fn lints_every_statement_and_counts_unparsable_ones() {
        let mut w = Workload::default();
        let good = QueryStats::new(
            Fingerprint(1),
            "SELECT DISTINCT u.id, r.role_name FROM users u JOIN roles r ON r.id = u.role_id"
                .into(),
            None,
        );
        let like = QueryStats::new(
            Fingerprint(2),
            "SELECT id FROM users WHERE name LIKE '%x'".into(),
            None,
        );
        let bad = QueryStats::new(Fingerprint(3), "SELEC oops".into(), Some("syntax".into()));
        let bad2 = QueryStats::new(Fingerprint(4), "SELECT FROM WHERE (".into(), None);
        for q in [good, like, bad, bad2] {
            w.queries.insert(q.fingerprint, q);
        }
        let r = lint_workload(&w, &adx());
        assert_eq!((r.statements, r.unparsable), (2, 2));
        let ids: Vec<&str> = r.findings.iter().map(|f| f.id.as_str()).collect();
        assert!(ids.contains(&"lint.needless_distinct"), "{ids:?}");
        assert!(ids.contains(&"lint.leading_wildcard"), "{ids:?}");
        assert!(r.findings.iter().all(|f| f.query.is_some()));
    }

    #[test]
    fn an_empty_workload_has_no_findings() {
        let r = lint_workload(&Workload::default(), &CatalogFacts::default());
        assert!(r.findings.is_empty());
        assert_eq!(r.statements, 0);
    }
}
