//! A workload query as the advisor sees it: normalized text, weight, parameter
//! samples and its shape.

use pgpilot_sql::QueryShape;
use serde::{Deserialize, Serialize};

/// One distinct statement of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvisorQuery {
    /// Stable id (the fingerprint, hex).
    pub id: String,
    /// Normalized SQL with `$n` placeholders (or literal SQL when it has none).
    pub sql: String,
    /// Executions in the workload: the weight of its cost.
    pub calls: f64,
    /// Mean measured execution time in ms, when known (for reports).
    pub mean_ms: Option<f64>,
    /// Captured parameter sets (text values, `None` = NULL), aligned with `$1..$n`.
    /// Empty when the workload had none: the advisor then draws values from the
    /// catalog's column statistics.
    pub samples: Vec<Vec<Option<String>>>,
    /// The statement's shape (tables, predicates, order, …).
    pub shape: QueryShape,
}

/// The advisable statements of a captured workload, heaviest (total time) first.
#[derive(Debug, Clone, Default)]
pub struct WorkloadQueries {
    /// Statements the advisor can reason on.
    pub queries: Vec<AdvisorQuery>,
    /// Statements left out, with why (unparsable SQL).
    pub skipped: Vec<crate::SkippedQuery>,
    /// Utility statements (BEGIN, SET, DDL, …) and statements that read only
    /// system catalogs (monitoring tools, pgpilot itself) left out: nothing to
    /// index.
    pub utility: usize,
    /// Statements beyond `max_queries` (the lightest) left out.
    pub beyond_limit: usize,
}

/// A relation of the system catalogs (in `pg_catalog` or `information_schema`,
/// or unqualified and named `pg_…`: the catalogs are found first on the path),
/// or pgpilot's own journal schema (`pgpilot.changes`).
fn is_system_relation(t: &pgpilot_sql::TableRef) -> bool {
    match t.schema.as_deref() {
        Some(s) => s == "pg_catalog" || s == "information_schema" || s == "pgpilot",
        None => t.name.starts_with("pg_"),
    }
}

impl WorkloadQueries {
    /// Converts a captured workload: every parsed SELECT / INSERT / UPDATE /
    /// DELETE with its calls and parameter samples; at most `max_queries`, by
    /// total time (calls when no time is known).
    pub fn from_workload(workload: &pgpilot_workload::Workload, max_queries: usize) -> Self {
        let mut out = WorkloadQueries::default();
        let mut stats: Vec<&pgpilot_workload::QueryStats> = workload.queries.values().collect();
        stats.sort_by(|a, b| {
            b.total_us
                .cmp(&a.total_us)
                .then(b.calls.cmp(&a.calls))
                .then(a.query.cmp(&b.query))
        });
        for q in stats {
            if let Some(err) = &q.parse_error {
                out.skipped.push(crate::SkippedQuery {
                    query: q.query.clone(),
                    reason: format!("unparsable SQL: {err}"),
                });
                continue;
            }
            let shape = match QueryShape::parse(&q.query) {
                Ok(s) => s,
                Err(e) => {
                    out.skipped.push(crate::SkippedQuery {
                        query: q.query.clone(),
                        reason: format!("unparsable SQL: {e}"),
                    });
                    continue;
                }
            };
            if matches!(
                shape.kind,
                pgpilot_sql::StatementKind::Utility | pgpilot_sql::StatementKind::Other
            ) || shape.relations().is_empty()
                || shape.relations().iter().all(|t| is_system_relation(t))
            {
                out.utility += 1;
                continue;
            }
            if out.queries.len() >= max_queries {
                out.beyond_limit += 1;
                continue;
            }
            let mean_ms =
                (q.timed_calls > 0).then(|| q.total_us as f64 / q.timed_calls as f64 / 1000.0);
            out.queries.push(AdvisorQuery {
                id: q.fingerprint.to_string(),
                sql: q.query.clone(),
                calls: q.calls.max(1) as f64,
                mean_ms,
                samples: q.samples.samples.iter().map(|s| s.values.clone()).collect(),
                shape,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_sql::Fingerprint;
    use pgpilot_workload::{QueryStats, Workload};

    #[test]
    fn catalog_reads_are_left_out_with_the_utility_statements() {
        let mut w = Workload::default();
        for (i, sql) in [
            "SELECT * FROM orders WHERE customer_id = $1",
            "SELECT relname FROM pg_catalog.pg_class WHERE oid = $1",
            "SELECT count(*) FROM pg_stat_activity",
            "SELECT * FROM information_schema.columns WHERE table_name = $1",
            "INSERT INTO pgpilot.changes (ddl, status) VALUES ($1, $2)",
            "BEGIN",
        ]
        .into_iter()
        .enumerate()
        {
            let mut q = QueryStats::new(Fingerprint(i as u64), sql.to_string(), None);
            q.calls = 1;
            w.queries.insert(Fingerprint(i as u64), q);
        }
        let out = WorkloadQueries::from_workload(&w, 100);
        let kept: Vec<&str> = out.queries.iter().map(|q| q.sql.as_str()).collect();
        assert_eq!(kept, ["SELECT * FROM orders WHERE customer_id = $1"]);
        assert_eq!(out.utility, 5);
    }
}
