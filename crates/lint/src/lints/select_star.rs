//! `lint.select_star`: `SELECT *` (or `t.*`) on a wide table in a hot query.
//! Every call reads, detoasts and sends all columns, and index-only scans become
//! impossible; naming the columns the caller uses avoids that and keeps the query
//! stable when columns are added.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{BlockOrigin, SelectItem, StatementKind};
use serde_json::Value;

use crate::util::{finding, relations};
use crate::LintInput;

pub(crate) const ID: &str = "lint.select_star";

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    let cfg = input.config;
    let hot = match input.calls {
        Some(c) if c < cfg.hot_query_calls => return Vec::new(),
        Some(_) => true,
        None => false,
    };
    let mut out = Vec::new();
    for b in &input.shape.blocks {
        let top = match b.origin {
            BlockOrigin::Statement => true,
            BlockOrigin::Operand => input.shape.kind == StatementKind::Select,
            _ => false,
        };
        if !top {
            continue;
        }
        let mut starred: Vec<String> = Vec::new();
        for item in &b.select_list {
            match item {
                SelectItem::Star { table: None } => {
                    starred.extend(relations(b).map(|t| t.qualified_name()));
                }
                SelectItem::Star { table: Some(t) } => starred.push(t.clone()),
                _ => {}
            }
        }
        starred.dedup();
        for t in starred {
            let Some(facts) = input.catalog.table(&t) else {
                continue;
            };
            let cols = facts.column_count.max(facts.columns.len());
            if cols < cfg.wide_table_columns {
                continue;
            }
            let calls_text = match input.calls {
                Some(c) => format!(" and runs {c} times"),
                None => String::new(),
            };
            let mut f = finding(
                ID,
                if hot {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                format!("SELECT * on {t} ({cols} columns){calls_text}"),
                format!(
                    "The query selects every one of the {cols} columns of {t}{calls_text}. Each \
                     call reads and sends columns the caller may not use (large text and jsonb \
                     values are detoasted), and an index-only scan is impossible. Listing the \
                     needed columns makes the result smaller, allows covering indexes and keeps \
                     the query stable when columns are added."
                ),
                Some(input),
            );
            f.fix_hint = Some(if facts.columns.is_empty() {
                format!("List only the columns of {t} the application reads.")
            } else {
                format!(
                    "List only the columns the application reads, out of: {}.",
                    facts.columns.join(", ")
                )
            });
            f.evidence.insert("columns".into(), Value::from(cols));
            f.evidence
                .insert("wide_threshold".into(), Value::from(cfg.wide_table_columns));
            f.table = Some(t);
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::run_with;
    use crate::util::test_support::adx;
    use crate::TableCatalog;

    fn wide() -> crate::CatalogFacts {
        adx().with_table(
            "public.events",
            TableCatalog {
                column_count: 40,
                ..TableCatalog::default()
            },
        )
    }

    #[test]
    fn fires_on_wide_table_in_hot_query() {
        let f = run_with(
            "SELECT * FROM events WHERE id = $1",
            &wide(),
            Some(50_000),
            &[],
            check,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].evidence["columns"], 40);
        // An ad-hoc query (calls unknown) is reported as information.
        let f = run_with("SELECT e.* FROM events e", &wide(), None, &[], check);
        assert_eq!(f[0].severity, Severity::Info);
    }

    #[test]
    fn quiet_on_narrow_tables_cold_queries_and_exists() {
        // users has 14 columns: below the default threshold of 15.
        assert!(run_with("SELECT * FROM users", &wide(), Some(1_000_000), &[], check).is_empty());
        assert!(run_with("SELECT * FROM events", &wide(), Some(3), &[], check).is_empty());
        assert!(run_with(
            "SELECT id FROM users u WHERE EXISTS (SELECT * FROM events e WHERE e.id = u.id)",
            &wide(),
            Some(1_000_000),
            &[],
            check
        )
        .is_empty());
    }
}
