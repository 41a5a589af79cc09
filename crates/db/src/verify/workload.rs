//! Which statements `verify` runs for a recommendation: the queries it serves
//! (with their samples from [`AdvicePlan::queries`]) and the workload's writes on
//! its table (INSERT / UPDATE / DELETE whose target is that table).

use std::collections::HashMap;

use pgpilot_advisor::{AdvicePlan, Recommendation};
use pgpilot_sql::{BlockOrigin, QueryShape, StatementKind};
use tokio_postgres::Client;

use super::measure::Sampled;
use crate::DbError;

/// The served queries of `rec`, once each, with SQL and samples from the plan's
/// query list (or the served query's own text, without samples, when the plan
/// does not list it).
pub(super) fn served(plan: &AdvicePlan, rec: &Recommendation) -> Vec<Sampled> {
    let mut out: Vec<Sampled> = Vec::new();
    for s in &rec.queries {
        if out.iter().any(|o| o.id == s.id) {
            continue;
        }
        let q = plan.queries.iter().find(|q| q.id == s.id);
        out.push(Sampled {
            id: s.id.clone(),
            sql: q.map_or_else(|| s.query.clone(), |q| q.sql.clone()),
            calls: if s.calls > 0.0 {
                s.calls
            } else {
                q.map_or(0.0, |q| q.calls)
            },
            samples: q.map(|q| q.samples.clone()).unwrap_or_default(),
        });
    }
    out
}

/// A write statement of the workload and the table it writes (as written).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Write {
    pub statement: Sampled,
    pub schema: Option<String>,
    pub table: String,
}

/// Every INSERT / UPDATE / DELETE of the plan's queries with its target table.
pub(super) fn writes(plan: &AdvicePlan) -> Vec<Write> {
    let mut out = Vec::new();
    for q in &plan.queries {
        let Ok(shape) = QueryShape::parse(&q.sql) else {
            continue;
        };
        if !matches!(
            shape.kind,
            StatementKind::Insert | StatementKind::Update | StatementKind::Delete
        ) {
            continue;
        }
        // CTE blocks come first; the statement's own block is the last one whose
        // origin is `Statement`, and its first table is the target.
        let Some(target) = shape
            .blocks
            .iter()
            .rev()
            .find(|b| b.origin == BlockOrigin::Statement)
            .and_then(|b| b.tables.first())
        else {
            continue;
        };
        out.push(Write {
            statement: Sampled {
                id: q.id.clone(),
                sql: q.sql.clone(),
                calls: q.calls,
                samples: q.samples.clone(),
            },
            schema: target.schema.clone(),
            table: target.name.clone(),
        });
    }
    out
}

/// Resolves unqualified table names through the connection's `search_path`,
/// remembering the answers.
#[derive(Debug, Default)]
pub(super) struct SchemaResolver {
    known: HashMap<String, Option<String>>,
}

impl SchemaResolver {
    /// The schema an unqualified `table` resolves to, if it exists.
    async fn schema_of(&mut self, client: &Client, table: &str) -> Result<Option<String>, DbError> {
        if let Some(s) = self.known.get(table) {
            return Ok(s.clone());
        }
        let row = client
            .query_opt(
                "SELECT n.nspname::text FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid = to_regclass(quote_ident($1))",
                &[&table],
            )
            .await
            .map_err(|e| DbError::query("resolving a table name", e))?;
        let schema = row.map(|r| r.get::<_, String>(0));
        self.known.insert(table.to_string(), schema.clone());
        Ok(schema)
    }

    /// The writes of `all` whose target is `schema.table`.
    pub(super) async fn writes_on(
        &mut self,
        client: &Client,
        all: &[Write],
        schema: &str,
        table: &str,
    ) -> Result<Vec<Sampled>, DbError> {
        let mut out = Vec::new();
        for w in all {
            if w.table != table {
                continue;
            }
            let resolved = match &w.schema {
                Some(s) => Some(s.clone()),
                None => self.schema_of(client, &w.table).await?,
            };
            if resolved.as_deref() == Some(schema) {
                out.push(w.statement.clone());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_advisor::PlanQuery;

    fn plan_with(queries: &[(&str, &str)]) -> AdvicePlan {
        let json = serde_json::json!({
            "version": 1, "id": "x", "created_at": "",
            "database": {"name": "d", "system_identifier": "", "server_version_num": 0},
            "tables": [],
            "settings": {"budget_bytes": null, "max_columns": 3, "min_gain": 0.1, "whatif": "hypopg"},
            "workload_cost_before": 0.0, "workload_cost_after": 0.0, "whatif_plans": 0,
            "advise_seconds": 0.0, "recommendations": [], "drops": [], "analyze": [],
            "skipped": [], "queries": []
        });
        let mut plan: AdvicePlan = serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"));
        plan.queries = queries
            .iter()
            .map(|(id, sql)| PlanQuery {
                id: id.to_string(),
                sql: sql.to_string(),
                calls: 1.0,
                samples: Vec::new(),
            })
            .collect();
        plan
    }

    #[test]
    fn write_targets_are_found_through_ctes() {
        let plan = plan_with(&[
            ("sel", "SELECT * FROM t WHERE c = $1"),
            ("ins", "INSERT INTO app.t (c) VALUES ($1)"),
            ("upd", "UPDATE t SET c = $1 WHERE id = $2"),
            (
                "cte",
                "WITH old AS (SELECT id FROM u WHERE x < $1) DELETE FROM t USING old WHERE t.id = old.id",
            ),
            ("bad", "NOT SQL AT ALL"),
        ]);
        let w = writes(&plan);
        let got: Vec<(&str, Option<&str>, &str)> = w
            .iter()
            .map(|w| {
                (
                    w.statement.id.as_str(),
                    w.schema.as_deref(),
                    w.table.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ins", Some("app"), "t"),
                ("upd", None, "t"),
                ("cte", None, "t")
            ]
        );
    }
}
