//! `plan.nested_loop_inner_scan`: a Nested Loop re-reads a whole table (Seq Scan,
//! possibly behind a Materialize) for each outer row. An index on the inner
//! table's join key turns each pass into a lookup.

use crate::columns::columns_of;
use crate::rules::{create_index_sql, finding, fmt_num, index_columns, num, Input};
use crate::{Finding, Node, Severity};

pub(crate) const ID: &str = "plan.nested_loop_inner_scan";
const MIN_LOOPS: f64 = 10.0;
const MIN_ROWS_SCANNED: f64 = 10_000.0;
const MIN_ROWS_PER_MATERIALIZED_PASS: f64 = 1_000.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let tree = &input.tree;
    let mut out = Vec::new();
    for r in tree.nodes() {
        let nl = r.node;
        if nl.base_type() != "Nested Loop" {
            continue;
        }
        let flow: Vec<&Node> = nl.flow_children().collect();
        let inner = flow
            .iter()
            .find(|c| c.parent_relationship.as_deref() == Some("Inner"))
            .or_else(|| flow.get(1))
            .copied();
        let outer = flow.first().copied();
        let (Some(inner), Some(outer)) = (inner, outer) else {
            continue;
        };
        let (scan, materialized) = if inner.base_type() == "Materialize" {
            match inner.flow_children().next() {
                Some(c) => (c, true),
                None => continue,
            }
        } else {
            (inner, false)
        };
        if !scan.is_seq_scan() {
            continue;
        }
        let (loops, scanned) = if inner.is_analyzed() {
            let loops = inner.actual_loops.unwrap_or(0.0);
            let scanned = if materialized {
                inner.total_rows().unwrap_or(0.0)
            } else {
                scan.total_rows_read().unwrap_or(0.0)
            };
            (loops, scanned)
        } else {
            let loops = outer.plan_rows.unwrap_or(0.0);
            (loops, loops * scan.plan_rows.unwrap_or(0.0))
        };
        if loops < MIN_LOOPS || scanned < MIN_ROWS_SCANNED {
            continue;
        }
        // A small table materialized once and re-read from memory is not the
        // problem (and an index on it may well exist already): only flag it when
        // each pass reads many rows.
        if materialized && scanned / loops.max(1.0) < MIN_ROWS_PER_MATERIALIZED_PASS {
            continue;
        }
        let alias = scan.alias.as_deref();
        let rel = scan.relation_name.as_deref();
        let mut cols = Vec::new();
        for cond in [nl.join_filter.as_deref(), scan.filter.as_deref()]
            .into_iter()
            .flatten()
        {
            cols.extend(columns_of(cond, alias, rel));
        }
        // Join filters name both sides; keep only the inner table's columns.
        let columns = index_columns(&cols);
        let table = scan.qualified_table();
        let ms = tree.inclusive_ms(r.index);
        let label = scan.label();
        let title = format!(
            "nested loop scans {label} {} times{}",
            fmt_num(loops),
            if columns.is_empty() {
                String::new()
            } else {
                format!(" (join key {})", columns.join(", "))
            }
        );
        let mut explanation = format!(
            "For each of {} outer rows the Nested Loop reads {label}{} again, {} rows in total{}. \
             The join has no index to look rows up by.",
            fmt_num(loops),
            if materialized {
                " (from a Materialize copy)"
            } else {
                ""
            },
            fmt_num(scanned),
            nl.rows_removed_by_join_filter
                .map(|x| format!(
                    ", of which the Join Filter discarded {}",
                    fmt_num(x * nl.actual_loops.unwrap_or(1.0))
                ))
                .unwrap_or_default()
        );
        let mut f = finding(
            ID,
            input.by_share(Severity::Warning, ms),
            title,
            String::new(),
        );
        if let (Some(t), false) = (&table, columns.is_empty()) {
            explanation.push_str(&format!(
                " An index on {t} ({}) lets each outer row find its matches directly (or lets the \
                 planner choose a hash join).",
                columns.join(", ")
            ));
            let spec: Vec<(String, Option<&str>)> =
                columns.iter().map(|c| (c.clone(), None)).collect();
            f.fix_sql = Some(create_index_sql(t, &spec));
        } else {
            f.fix_hint = Some(
                "Index the inner table on the join column, and check the row estimates of the \
                 outer side (a misestimate often causes this plan)."
                    .to_string(),
            );
        }
        f.explanation = explanation;
        f.table = table;
        f.columns = columns;
        f.evidence.insert("loops".into(), num(loops));
        f.evidence.insert("inner_rows_scanned".into(), num(scanned));
        f.evidence
            .insert("materialized".into(), materialized.into());
        if let Some(x) = nl.rows_removed_by_join_filter {
            f.evidence.insert(
                "rows_removed_by_join_filter".into(),
                num(x * nl.actual_loops.unwrap_or(1.0)),
            );
        }
        if let Some(jf) = &nl.join_filter {
            f.evidence.insert("join_filter".into(), jf.as_str().into());
        }
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
    fn fires_on_repeated_inner_seq_scan() {
        let f = run("nested_loop_seqscan.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("profiles"));
        assert_eq!(f[0].columns, ["user_id"]);
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY idx_profiles_user_id ON profiles (user_id);")
        );
        // The dashboard plan: a Materialize over profiles, re-read 50 times.
        let f = run("dashboard_indexed.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].columns, ["user_id"]);
    }

    #[test]
    fn quiet_with_an_index_on_the_join_key() {
        assert!(run("nested_loop_indexed.json", super::ID).is_empty());
        assert!(run("hash_in_memory.json", super::ID).is_empty());
    }
}
