//! `plan.filter_removes_most_rows`: a scan reads rows and then throws ≥ 90 % of them
//! away in its Filter (PEV2's upper threshold). An index on the filtered columns
//! would read only the rows needed.

use crate::columns::{columns_of, ColumnRef};
use crate::rules::{create_index_sql, finding, fmt_num, index_columns, num, qualified, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.filter_removes_most_rows";
const MIN_FRACTION: f64 = 0.9;
/// Below this many rows removed in total, reading them is cheap anyway.
const MIN_REMOVED: f64 = 1000.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in input.tree.nodes() {
        let n = r.node;
        if !n.is_table_scan() {
            continue;
        }
        let Some(filter) = n.filter.as_deref() else {
            continue;
        };
        let (Some(removed), Some(kept)) = (n.total_rows_removed_by_filter(), n.total_rows()) else {
            continue;
        };
        let read = removed + kept;
        if read <= 0.0 || removed < MIN_REMOVED || removed / read < MIN_FRACTION {
            continue;
        }
        let fraction = removed / read;
        let alias = n.alias.as_deref();
        let rel = n.relation_name.as_deref();
        let filter_cols = columns_of(filter, alias, rel);
        let mut cols: Vec<ColumnRef> = n
            .index_cond
            .as_deref()
            .map(|c| columns_of(c, alias, rel))
            .unwrap_or_default();
        cols.extend(filter_cols.iter().cloned());
        let columns = index_columns(&cols);
        let table = n.qualified_table();
        let label = n.label();
        let ms = input.tree.inclusive_ms(r.index);
        let title = format!(
            "{label} discards {:.1}% of the rows it reads{}",
            fraction * 100.0,
            if columns.is_empty() {
                String::new()
            } else {
                format!(" (filter on {})", columns.join(", "))
            }
        );
        let mut explanation = format!(
            "{label} read {} rows and its Filter {filter} removed {} of them ({:.1}%), keeping {}. \
             The work of reading and testing the discarded rows is wasted.",
            fmt_num(read),
            fmt_num(removed),
            fraction * 100.0,
            fmt_num(kept)
        );
        let mut f = finding(
            ID,
            input.by_share(Severity::Warning, ms),
            title,
            String::new(),
        );
        match (&table, columns.is_empty()) {
            (Some(t), false) => {
                explanation.push_str(&format!(
                    " An index on {} ({}) would let PostgreSQL read only the matching rows.",
                    qualified(t),
                    columns.join(", ")
                ));
                let spec: Vec<(String, Option<&str>)> =
                    columns.iter().map(|c| (c.clone(), None)).collect();
                f.fix_sql = Some(create_index_sql(t, &spec));
                f.fix_hint = Some(
                    "Equality columns come first in the index, range columns last; verify with \
                     EXPLAIN that the planner uses it."
                        .to_string(),
                );
            }
            _ if filter_cols.iter().any(|c| c.in_function) => {
                explanation.push_str(
                    " The filtered columns are wrapped in functions, so a plain index cannot serve it.",
                );
                f.fix_hint = Some(
                    "Rewrite the predicate to compare the bare column, or create an expression \
                     index matching the expression in the filter."
                        .to_string(),
                );
            }
            _ => {
                f.fix_hint = Some("Add an index matching the filter condition.".to_string());
            }
        }
        f.explanation = explanation;
        f.table = table;
        f.columns = columns;
        f.evidence.insert("rows_removed".into(), num(removed));
        f.evidence.insert("rows_returned".into(), num(kept));
        f.evidence.insert(
            "removed_fraction".into(),
            num((fraction * 1000.0).round() / 1000.0),
        );
        f.evidence
            .insert("loops".into(), num(n.actual_loops.unwrap_or(1.0)));
        f.evidence.insert("filter".into(), filter.into());
        f.impact_ms = ms;
        f.node = input.location(r.index);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::run;

    #[test]
    fn fires_on_seq_scan_discarding_most_rows() {
        let f = run("dashboard_stale.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].columns, ["created_at"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY idx_users_created_at ON users (created_at);")
        );
        let f = run("users_status_filter.json", super::ID);
        assert_eq!(f[0].columns, ["status"]);
    }

    #[test]
    fn quiet_with_an_index_or_a_small_table() {
        assert!(run("users_recent_indexed.json", super::ID).is_empty());
        assert!(run("cached_lookup.json", super::ID).is_empty());
        assert!(run("dashboard_indexed.json", super::ID).is_empty());
    }
}
