//! `lint.n_plus_one`: a statement repeated in a tight loop right after a "parent"
//! statement of the same session (the capture's N+1 detector found the pairs).
//! Each repetition pays a network round trip and a planning/execution start; one
//! batched query (`= ANY($1)`) or a join does the same work once.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::QueryShape;
use pgpilot_workload::NPlusOne;
use serde_json::Value;

use crate::util::finding;
use crate::CatalogFacts;

pub(crate) const ID: &str = "lint.n_plus_one";

/// Below this many repeated calls in total a pattern is only information.
const MIN_WARNING_ROUND_TRIPS: u64 = 100;

/// One finding per parent → child pair of a workload. `catalog` is only used to
/// name the child's table when its shape is parseable (it may be empty).
pub fn lint_n_plus_one(pairs: &[NPlusOne], catalog: &CatalogFacts) -> Vec<Finding> {
    let _ = catalog;
    pairs.iter().map(one).collect()
}

fn one(p: &NPlusOne) -> Finding {
    let child_shape = QueryShape::parse(&p.child_query).ok();
    let table = child_shape
        .as_ref()
        .and_then(|s| s.relations().first().map(|t| t.qualified_name()));
    let columns: Vec<String> = child_shape
        .as_ref()
        .and_then(|s| s.blocks.first())
        .map(|b| {
            b.predicates
                .iter()
                .filter(|pr| {
                    pr.is_equality()
                        && pr
                            .values
                            .iter()
                            .any(|v| matches!(v, pgpilot_sql::Operand::Param(_)))
                })
                .filter_map(|pr| pr.target.column().map(|c| c.column.clone()))
                .collect()
        })
        .unwrap_or_default();
    let child_ms = p.child_time_us as f64 / 1000.0;
    let severity = if p.round_trips >= MIN_WARNING_ROUND_TRIPS {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut f = finding(
        ID,
        severity,
        format!(
            "N+1: {} repeated {} times in {} bursts after its parent query",
            table.as_deref().unwrap_or("a query"),
            p.round_trips,
            p.bursts
        ),
        format!(
            "After `{}` the application runs `{}` once per row, {:.1} times per burst on \
             average (largest burst: {}). Each call is a separate round trip with its own \
             parse/bind/execute overhead; one batched query, or a join folded into the parent \
             query, fetches the same rows at once.",
            p.parent_query.trim(),
            p.child_query.trim(),
            p.mean_burst(),
            p.max_burst
        ),
        None,
    );
    f.query = Some(p.child_query.trim().to_string());
    f.table = table;
    f.columns = columns;
    if let Some(s) = &p.suggestion {
        f.fix_sql = s.batched.clone();
        let mut hint = s.advice.clone();
        if let Some(j) = &s.join {
            hint.push_str(&format!(" Or fold it into the parent query: {j}"));
        }
        f.fix_hint = Some(hint);
    } else {
        f.fix_hint = Some(
            "Collect the parent rows' keys and fetch the children with one query \
             (`WHERE key = ANY($1)` with an array), or join the child table in the parent query."
                .to_string(),
        );
    }
    f.impact_ms = Some(child_ms);
    f.evidence
        .insert("parent_query".into(), Value::from(p.parent_query.trim()));
    f.evidence.insert("bursts".into(), Value::from(p.bursts));
    f.evidence
        .insert("round_trips".into(), Value::from(p.round_trips));
    f.evidence
        .insert("max_burst".into(), Value::from(p.max_burst));
    f.evidence.insert(
        "child_time_ms".into(),
        serde_json::Number::from_f64((child_ms * 1000.0).round() / 1000.0)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    );
    f.evidence.insert(
        "example_session".into(),
        Value::from(p.example.session.as_str()),
    );
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_workload::{BurstExample, Fingerprint, Suggestion};

    pub(crate) fn pair(round_trips: u64, suggestion: Option<Suggestion>) -> NPlusOne {
        NPlusOne {
            parent: Fingerprint(1),
            child: Fingerprint(2),
            parent_query: "SELECT id, user_id FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT $1"
                .into(),
            child_query: "SELECT id, name, email FROM users WHERE id = $1".into(),
            bursts: round_trips / 20,
            round_trips,
            child_time_us: round_trips * 50,
            max_burst: 20,
            example: BurstExample {
                session: "s1".into(),
                start_us: 0,
                size: 20,
                span_ms: 3.0,
            },
            suggestion,
        }
    }

    #[test]
    fn fires_with_the_batched_rewrite() {
        let s = Suggestion {
            batched: Some("SELECT id, name, email FROM users WHERE id = ANY($1)".into()),
            join: Some("JOIN users u ON u.id = audit_logs.user_id".into()),
            advice: "Fetch all users at once.".into(),
        };
        let f = lint_n_plus_one(&[pair(400, Some(s))], &CatalogFacts::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].id, ID);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].columns, ["id"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("SELECT id, name, email FROM users WHERE id = ANY($1)")
        );
        assert_eq!(f[0].evidence["round_trips"], 400);
        assert_eq!(f[0].impact_ms, Some(20.0));
    }

    #[test]
    fn quiet_without_pairs_and_mild_for_small_ones() {
        assert!(lint_n_plus_one(&[], &CatalogFacts::default()).is_empty());
        let f = lint_n_plus_one(&[pair(40, None)], &CatalogFacts::default());
        assert_eq!(f[0].severity, Severity::Info);
        assert!(f[0].fix_sql.is_none());
        assert!(f[0].fix_hint.is_some());
    }
}
