//! `lint.not_in_subquery`: `x NOT IN (SELECT y …)`. If the subquery returns a
//! single NULL the condition is never true (no row at all comes back), and the
//! planner cannot turn it into an anti-join: it runs a hashed subplan when the
//! subquery fits in work_mem and a per-row scan of the subquery otherwise.
//! `NOT EXISTS` has the intended meaning and is planned as an anti-join.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{BlockOrigin, PredicateKind, SelectItem, Target};
use serde_json::Value;

use crate::util::{finding, relations};
use crate::LintInput;

pub(crate) const ID: &str = "lint.not_in_subquery";

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    let preds: Vec<_> = input
        .shape
        .blocks
        .iter()
        .flat_map(|b| b.predicates.iter())
        .filter(|p| p.kind == PredicateKind::NotInSubquery)
        .collect();
    // With a single NOT IN and a single one-column subquery we can name both sides.
    let subqueries: Vec<_> = input
        .shape
        .blocks
        .iter()
        .filter(|b| b.origin == BlockOrigin::Subquery)
        .filter_map(|b| match (b.select_list.as_slice(), relations(b).next()) {
            ([SelectItem::Column(c)], Some(t)) => Some((c.clone(), t.clone())),
            _ => None,
        })
        .collect();
    let single = preds.len() == 1 && subqueries.len() == 1;
    let mut out = Vec::new();
    for p in preds {
        let (target, table, column) = match &p.target {
            Target::Column(c) => (
                match &c.table {
                    Some(t) => format!("{t}.{}", c.column),
                    None => c.column.clone(),
                },
                c.table.clone(),
                Some(c.column.clone()),
            ),
            Target::Expression { text, .. } => (text.clone(), None, None),
        };
        let mut f = finding(
            ID,
            Severity::Warning,
            format!("{target} NOT IN (subquery): NULL trap and no anti-join"),
            "NOT IN (SELECT …) returns no row at all as soon as the subquery yields one NULL \
             (x NOT IN (1, NULL) is never true), which is rarely what was meant. It also cannot \
             be planned as an anti-join: PostgreSQL runs the subquery as a hashed SubPlan when \
             it fits in work_mem, and re-scans it for every outer row when it does not, which \
             grows quadratically. NOT EXISTS means what was intended and becomes a hash or \
             merge anti-join."
                .to_string(),
            Some(input),
        );
        let hint = match (single, subqueries.first()) {
            (true, Some((sub_col, sub_table))) => {
                let alias = sub_table.alias.clone().unwrap_or_else(|| "s".to_string());
                format!(
                    "Rewrite as: NOT EXISTS (SELECT 1 FROM {} {alias} WHERE {alias}.{} = {target} \
                     AND <the subquery's other conditions>)",
                    sub_table.qualified_name(),
                    sub_col.column
                )
            }
            _ => format!(
                "Rewrite `{target} NOT IN (SELECT y FROM t WHERE …)` as `NOT EXISTS (SELECT 1 \
                 FROM t WHERE t.y = {target} AND …)`."
            ),
        };
        f.fix_hint = Some(hint);
        f.table = table;
        f.columns = column.into_iter().collect();
        f.evidence.insert("target".into(), Value::from(target));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::run;

    #[test]
    fn fires_on_not_in_subquery() {
        let f = run(
            "SELECT * FROM users u WHERE u.id NOT IN (SELECT user_id FROM audit_logs a WHERE a.action = 'ban')",
            check,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert!(f[0].fix_hint.as_deref().is_some_and(
            |h| h.contains("NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.user_id = users.id")
        ));
    }

    #[test]
    fn quiet_on_not_exists_in_subquery_and_not_in_lists() {
        assert!(run(
            "SELECT * FROM users u WHERE NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.user_id = u.id)",
            check
        )
        .is_empty());
        assert!(run(
            "SELECT * FROM users WHERE id IN (SELECT user_id FROM audit_logs)",
            check
        )
        .is_empty());
        assert!(run("SELECT * FROM users WHERE id NOT IN (1, 2)", check).is_empty());
    }
}
