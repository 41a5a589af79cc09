//! `lint.leading_wildcard`: `LIKE '%x'` (or `ILIKE`, or a parameter whose sampled
//! values start with `%` or `_`). A B-tree can only search a LIKE pattern by its
//! fixed prefix; without one every row is read. A pg_trgm GIN index serves
//! patterns with wildcards anywhere.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{Operand, PredicateKind, Target};
use serde_json::Value;

use crate::util::{finding, index_name, qualified, table_ref, unqualify};
use crate::LintInput;

pub(crate) const ID: &str = "lint.leading_wildcard";

fn wild(s: &str) -> bool {
    s.starts_with('%') || s.starts_with('_')
}

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for b in &input.shape.blocks {
        for p in &b.predicates {
            if p.kind != PredicateKind::Like || p.negated {
                continue;
            }
            let pattern: Option<String> = match (p.leading_wildcard, p.values.first()) {
                (Some(true), Some(Operand::Const(c))) => Some(c.clone()),
                (_, Some(Operand::Param(n))) => input
                    .param_values(*n)
                    .find(|v| wild(v))
                    .map(|v| format!("{v} (sampled value of ${n})")),
                _ => None,
            };
            let Some(pattern) = pattern else { continue };
            let (table, column, expr) = match &p.target {
                Target::Column(c) => (c.table.clone(), Some(c.column.clone()), c.column.clone()),
                Target::Expression { text, columns } => {
                    let t = match columns.as_slice() {
                        [c] => c.table.clone(),
                        _ => None,
                    };
                    let e = match t.as_deref().and_then(|t| table_ref(b, t)) {
                        Some(tr) => unqualify(text, tr),
                        None => text.clone(),
                    };
                    (t, None, e)
                }
            };
            let facts = table.as_deref().and_then(|t| input.catalog.table(t));
            if let (Some(f), Some(c)) = (facts, &column) {
                if f.indexes.iter().any(|i| i.serves_infix_like(c)) {
                    continue;
                }
            }
            let op = if p.case_insensitive { "ILIKE" } else { "LIKE" };
            let mut f = finding(
                ID,
                if p.in_or {
                    Severity::Info
                } else {
                    Severity::Warning
                },
                format!("{expr} {op} '{pattern}' starts with a wildcard"),
                format!(
                    "The pattern starts with a wildcard, so no B-tree index can narrow the \
                     search: PostgreSQL reads every row{} and tests the pattern on each. A \
                     trigram (pg_trgm) GIN index finds rows containing the fixed part of the \
                     pattern wherever it appears, for LIKE and ILIKE alike.",
                    table
                        .as_deref()
                        .map(|t| format!(" of {t}"))
                        .unwrap_or_default()
                ),
                Some(input),
            );
            if let Some(t) = &table {
                let key = match &column {
                    Some(c) => crate::util::ident(c),
                    None => format!("({expr})"),
                };
                f.fix_sql = Some(format!(
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY {} ON {} USING gin ({key} gin_trgm_ops);",
                    index_name(t, &[&expr, "trgm"]),
                    qualified(t)
                ));
            }
            f.fix_hint = Some(
                "For suffix-only searches an index on reverse(column) with `reverse(column) LIKE \
                 reverse('%x')` also works; for words, full-text search may fit better."
                    .to_string(),
            );
            f.table = table;
            f.columns = column.into_iter().collect();
            f.evidence.insert("pattern".into(), Value::from(pattern));
            f.evidence.insert("operator".into(), Value::from(op));
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::{run, run_with};
    use crate::util::test_support::adx;
    use crate::IndexFacts;
    use crate::IndexKey;

    #[test]
    fn fires_on_constant_and_sampled_patterns() {
        let f = run("SELECT id FROM users u WHERE u.name LIKE '%son'", check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].columns, ["name"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some(
                "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE INDEX CONCURRENTLY \
                 idx_users_name_trgm ON users USING gin (name gin_trgm_ops);"
            )
        );
        let samples = vec![vec![Some("%@example.com".to_string())]];
        let f = run_with(
            "SELECT id FROM users WHERE email ILIKE $1",
            &adx(),
            None,
            &samples,
            check,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["operator"], "ILIKE");
    }

    #[test]
    fn quiet_on_prefix_patterns_negations_and_trigram_indexes() {
        assert!(run("SELECT id FROM users WHERE name LIKE 'Jo%'", check).is_empty());
        assert!(run("SELECT id FROM users WHERE name NOT LIKE '%x'", check).is_empty());
        let samples = vec![vec![Some("Jo%".to_string())]];
        assert!(run_with(
            "SELECT id FROM users WHERE name LIKE $1",
            &adx(),
            None,
            &samples,
            check
        )
        .is_empty());
        let mut cat = adx();
        if let Some(t) = cat.tables.get_mut("public.users") {
            t.indexes.push(IndexFacts {
                name: "users_name_trgm".into(),
                method: "gin".into(),
                keys: vec![IndexKey::Column("name".into())],
                opclasses: vec!["gin_trgm_ops".into()],
                unique: false,
                partial: false,
            });
        }
        assert!(run_with(
            "SELECT id FROM users WHERE name LIKE '%x%'",
            &cat,
            None,
            &[],
            check
        )
        .is_empty());
    }
}
