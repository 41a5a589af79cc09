//! `lint.non_sargable`: a function or cast wrapped around an indexed column in a
//! predicate (`lower(email) = $1`, `created_at::date = $1`). A B-tree on the
//! column cannot be searched for the value of an expression over it, so the
//! planner reads the whole table (or the whole index) instead.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{BlockShape, Predicate, PredicateKind, Target};
use serde_json::Value;

use crate::util::{finding, index_name, qualified, table_ref, unqualify};
use crate::LintInput;

pub(crate) const ID: &str = "lint.non_sargable";

/// Aggregates (in HAVING) are not row predicates.
const AGGREGATES: &[&str] = &[
    "sum(",
    "count(",
    "avg(",
    "min(",
    "max(",
    "array_agg(",
    "string_agg(",
    "bool_and(",
    "bool_or(",
    "every(",
    "json_agg(",
    "jsonb_agg(",
];

/// A date/time truncation: best rewritten as a range on the bare column (the
/// `timestamptz` → `date` cast is not immutable, so it cannot be indexed as is).
fn is_date_truncation(text: &str) -> bool {
    let t = text.to_ascii_lowercase().replace(' ', "");
    t.contains("::date")
        || t.starts_with("date(")
        || t.starts_with("date_trunc(")
        || t.starts_with("cast(") && t.ends_with("asdate)")
        || t.starts_with("extract(")
        || t.starts_with("date_part(")
}

fn comparable(p: &Predicate) -> bool {
    matches!(
        p.kind,
        PredicateKind::Eq | PredicateKind::Range | PredicateKind::In | PredicateKind::Like
    ) && !p.negated
}

fn check_pred(input: &LintInput<'_>, block: &BlockShape, p: &Predicate) -> Option<Finding> {
    let Target::Expression { text, columns } = &p.target else {
        return None;
    };
    if !comparable(p) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if AGGREGATES.iter().any(|a| lower.starts_with(a)) || lower.contains(" over ") {
        return None;
    }
    // One column, of one table, that a plain index could have served.
    let [col] = columns.as_slice() else {
        return None;
    };
    let table = col.table.as_deref()?;
    let facts = input.catalog.table(table)?;
    if !facts.has_index_leading_on(&col.column) {
        return None;
    }
    let tref = table_ref(block, table)?;
    let bare_expr = unqualify(text, tref);
    if facts.expression_index(&bare_expr).is_some() {
        return None;
    }
    let date = is_date_truncation(text);
    let mut f = finding(
        ID,
        if p.in_or {
            Severity::Info
        } else {
            Severity::Warning
        },
        format!(
            "{text} {} … cannot use the index on {table}.{}",
            p.op, col.column
        ),
        format!(
            "The predicate compares {text}, an expression over {table}.{col_name}, so the \
             index on {col_name} cannot be searched: PostgreSQL evaluates the expression for \
             every row it reads.",
            col_name = col.column
        ),
        Some(input),
    );
    if date {
        f.explanation.push_str(
            " Comparing a truncated date or timestamp is best rewritten as a half-open range on \
             the bare column, which the existing index serves.",
        );
        f.fix_hint = Some(format!(
            "Rewrite `{text} = $1` as `{c} >= $1::date AND {c} < $1::date + 1` (or the \
             matching range for date_trunc); the index on {c} is then used.",
            c = col.column
        ));
    } else {
        f.explanation.push_str(&format!(
            " An expression index on ({bare_expr}) makes the same predicate indexable, or \
             compare the bare column instead when the data allows it."
        ));
        f.fix_sql = Some(format!(
            "CREATE INDEX CONCURRENTLY {} ON {} (({bare_expr}));",
            index_name(table, &[&bare_expr]),
            qualified(table)
        ));
        f.fix_hint = Some(format!(
            "The expression in the query must match the index expression exactly; \
             alternatively store the value normalized and compare {} directly.",
            col.column
        ));
    }
    f.table = Some(table.to_string());
    f.columns = vec![col.column.clone()];
    f.evidence
        .insert("expression".into(), Value::from(text.as_str()));
    f.evidence
        .insert("operator".into(), Value::from(p.op.as_str()));
    let indexes: Vec<Value> = facts
        .indexes
        .iter()
        .filter(|i| {
            i.is_ordered_lookup()
                && matches!(i.leading(), Some(crate::IndexKey::Column(c)) if *c == col.column)
        })
        .map(|i| Value::from(i.name.as_str()))
        .collect();
    f.evidence
        .insert("indexes_on_column".into(), Value::Array(indexes));
    Some(f)
}

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for b in &input.shape.blocks {
        for p in &b.predicates {
            if let Some(f) = check_pred(input, b, p) {
                if !out
                    .iter()
                    .any(|o| o.evidence.get("expression") == f.evidence.get("expression"))
                {
                    out.push(f);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::{run, run_with};
    use crate::util::test_support::{adx, btree};
    use crate::{IndexFacts, IndexKey};

    #[test]
    fn fires_on_function_around_indexed_column() {
        let f = run("SELECT id FROM users u WHERE lower(u.email) = $1", check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].columns, ["email"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY idx_users_lower_email ON users ((lower(email)));")
        );
    }

    #[test]
    fn fires_on_date_cast_with_range_advice() {
        let mut cat = adx();
        if let Some(t) = cat.tables.get_mut("public.users") {
            t.indexes
                .push(btree("idx_users_created_at", &["created_at"]));
        }
        let f = run_with(
            "SELECT id FROM users WHERE created_at::date = $1",
            &cat,
            None,
            &[],
            check,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].fix_sql.is_none());
        assert!(f[0]
            .fix_hint
            .as_deref()
            .is_some_and(|h| h.contains("created_at >= $1::date")));
    }

    #[test]
    fn quiet_without_index_with_expression_index_or_bare_column() {
        // No index on users.name: the plan rules speak about the scan instead.
        assert!(run("SELECT id FROM users WHERE lower(name) = 'x'", check).is_empty());
        assert!(run("SELECT id FROM users WHERE email = $1", check).is_empty());
        assert!(run(
            "SELECT role_id, count(*) FROM users GROUP BY role_id HAVING count(id) > 5",
            check
        )
        .is_empty());
        let mut cat = adx();
        if let Some(t) = cat.tables.get_mut("public.users") {
            t.indexes.push(IndexFacts {
                name: "users_lower_email".into(),
                method: "btree".into(),
                keys: vec![IndexKey::Expression("lower(email)".into())],
                opclasses: vec![],
                unique: false,
                partial: false,
            });
        }
        assert!(run_with(
            "SELECT id FROM users WHERE lower(email) = $1",
            &cat,
            None,
            &[],
            check
        )
        .is_empty());
    }
}
