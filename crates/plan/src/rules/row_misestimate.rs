//! `plan.row_misestimate`: the planner's row estimate is off by 10× or more
//! (PEV2 flags 10 / 100 / 1000×), with the likely cause.

use crate::columns::columns_of;
use crate::rules::{finding, fmt_num, num, qualified, Input};
use crate::{Finding, Node, Severity};

pub(crate) const ID: &str = "plan.row_misestimate";
const MIN_FACTOR: f64 = 10.0;
/// Ignore misestimates smaller than this many rows in total.
const MIN_ROWS_OFF: f64 = 100.0;

/// Factor by which the estimate is off, and whether the plan under-estimated.
fn factor(n: &Node) -> Option<(f64, bool)> {
    let est = n.plan_rows?.max(1.0);
    let act = n.actual_rows?.max(1.0);
    if n.actual_loops? <= 0.0 {
        return None;
    }
    Some(if act >= est {
        (act / est, true)
    } else {
        (est / act, false)
    })
}

/// Nodes that only pass their child's rows on: their estimate is the child's.
fn mirrors_child(n: &Node) -> bool {
    matches!(
        n.base_type(),
        "Hash" | "Materialize" | "Gather" | "Gather Merge" | "Sort" | "Incremental Sort"
            | "Limit" | "Memoize" | "Unique" | "Result" | "LockRows"
            // An Append's estimate is the sum of its members' (each clamped to ≥ 1 row):
            // the members are reported instead.
            | "Append" | "Merge Append"
    )
}

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let tree = &input.tree;
    let mut out = Vec::new();
    for r in tree.nodes() {
        let n = r.node;
        let Some((f, under)) = factor(n) else {
            continue;
        };
        let loops = n.actual_loops.unwrap_or(1.0);
        let off = (n.actual_rows.unwrap_or(0.0) - n.plan_rows.unwrap_or(0.0)).abs() * loops;
        if f < MIN_FACTOR || off < MIN_ROWS_OFF || mirrors_child(n) || tree.cut_short(r.index) {
            continue;
        }
        // Report where the error starts, not every node it propagates through.
        let inherited = tree.children(r.index).iter().any(|&c| {
            let child = tree.nodes()[c].node;
            !tree.cut_short(c)
                && factor(child)
                    .is_some_and(|(cf, cu)| cu == under && cf >= MIN_FACTOR && f < cf * 10.0)
        });
        if inherited {
            continue;
        }
        out.push(build(input, r.index, n, f, under));
    }
    out
}

fn build(input: &Input<'_>, index: usize, n: &Node, f: f64, under: bool) -> Finding {
    let severity = if f >= 1000.0 {
        Severity::Critical
    } else if f >= 100.0 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let table = n.qualified_table();
    let direction = if under { "under" } else { "over" };
    let est = n.plan_rows.unwrap_or(0.0);
    let act = n.actual_rows.unwrap_or(0.0);
    let label = n.label();
    let title = format!(
        "row estimate {}× too {} on {label} (estimated {}, actual {})",
        fmt_num(f.round()),
        if under { "low" } else { "high" },
        fmt_num(est),
        fmt_num(act)
    );
    let mut explanation = format!(
        "The planner expected {} rows per loop from {label} but got {} ({}× {}estimate). \
         Plan choices above this node (join method, join order, sort or hash sizing) were \
         made on the wrong number.",
        fmt_num(est),
        fmt_num(act),
        fmt_num(f.round()),
        direction
    );
    let mut fix_sql = None;
    let mut fix_hint = None;
    let mut columns = Vec::new();
    let facts = n
        .relation_name
        .as_deref()
        .and_then(|rel| input.ctx.table(n.schema.as_deref(), rel));
    let conds: Vec<&str> = [
        &n.filter,
        &n.index_cond,
        &n.recheck_cond,
        &n.hash_cond,
        &n.merge_cond,
        &n.join_filter,
    ]
    .into_iter()
    .filter_map(|c| c.as_deref())
    .collect();
    let cols: Vec<_> = conds
        .iter()
        .flat_map(|c| columns_of(c, n.alias.as_deref(), n.relation_name.as_deref()))
        .collect();
    let mut evidence = std::collections::BTreeMap::new();
    if let Some(t) = &table {
        let t = qualified(t);
        let mut distinct: Vec<String> = Vec::new();
        for c in cols.iter().filter(|c| !c.in_function) {
            if !distinct.contains(&c.name) {
                distinct.push(c.name.clone());
            }
        }
        columns = distinct.clone();
        if let Some(facts) = facts.filter(|f| f.stats_stale()) {
            explanation.push_str(" Likely cause: stale statistics — ");
            if facts.never_analyzed {
                explanation.push_str("the table was never analyzed.");
            } else {
                explanation.push_str(&format!(
                    "{} rows changed since the last ANALYZE.",
                    fmt_num(facts.mod_since_analyze.unwrap_or(0.0))
                ));
            }
            fix_sql = Some(format!("ANALYZE {t};"));
            if let Some(m) = facts.mod_since_analyze {
                evidence.insert("n_mod_since_analyze".into(), num(m));
            }
            if let Some(a) = facts.last_analyze_age_secs {
                evidence.insert("last_analyze_age_secs".into(), num(a));
            }
        } else if cols.iter().any(|c| c.in_function) {
            explanation.push_str(
                " Likely cause: a function or expression on a column in the condition; \
                 the planner has no statistics for the expression and falls back to a default selectivity.",
            );
            fix_hint = Some(format!(
                "Compare the column directly (rewrite the predicate), or create statistics on \
                 the expression (PostgreSQL 14+: CREATE STATISTICS … ON (expression) FROM {t}; \
                 ANALYZE {t};), or an expression index, which also gets statistics."
            ));
        } else if distinct.len() >= 2 {
            let cols_sql: Vec<String> = distinct.iter().map(|c| crate::rules::ident(c)).collect();
            let bare = t
                .rsplit('.')
                .next()
                .unwrap_or(&t)
                .trim_matches('"')
                .to_string();
            let stat_name = format!("{bare}_{}_stats", distinct.join("_"));
            explanation.push_str(&format!(
                " Likely cause: the condition combines {} columns of {t}, which the planner \
                 assumes independent; correlated columns multiply into a wrong estimate.",
                distinct.len()
            ));
            fix_sql = Some(format!(
                "CREATE STATISTICS {} (dependencies, ndistinct, mcv) ON {} FROM {t};\nANALYZE {t};",
                crate::rules::ident(&stat_name),
                cols_sql.join(", ")
            ));
        } else {
            explanation.push_str(
                " Likely cause: statistics that are out of date or too coarse for this column.",
            );
            fix_sql = Some(format!("ANALYZE {t};"));
            if let Some(c) = distinct.first() {
                fix_hint = Some(format!(
                    "If ANALYZE does not fix the estimate, raise the column's statistics target: \
                     ALTER TABLE {t} ALTER COLUMN {} SET STATISTICS 1000; ANALYZE {t};",
                    crate::rules::ident(c)
                ));
            }
        }
    } else if !conds.is_empty() {
        explanation.push_str(
            " Likely cause: the selectivity of the join or grouping condition; \
             correlated join keys or stale statistics on the joined tables.",
        );
        fix_hint = Some(
            "ANALYZE the joined tables; if the estimate stays wrong, CREATE STATISTICS on the \
             correlated columns of each table."
                .to_string(),
        );
    } else {
        fix_hint = Some("ANALYZE the tables below this node.".to_string());
    }
    evidence.insert("estimated_rows".into(), num(est));
    evidence.insert("actual_rows".into(), num(act));
    evidence.insert("loops".into(), num(n.actual_loops.unwrap_or(1.0)));
    evidence.insert("factor".into(), num((f * 10.0).round() / 10.0));
    evidence.insert("direction".into(), direction.into());
    let tree = &input.tree;
    let impact = tree
        .parent(index)
        .and_then(|p| tree.inclusive_ms(p.index))
        .or_else(|| tree.inclusive_ms(index));
    let mut f = finding(ID, severity, title, explanation);
    f.table = table;
    f.columns = columns;
    f.evidence = evidence;
    f.fix_sql = fix_sql;
    f.fix_hint = fix_hint;
    f.impact_ms = impact;
    f.node = input.location(index);
    f
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::{run, run_with};
    use crate::{Context, TableFacts};

    #[test]
    fn fires_on_stale_statistics() {
        let f = run("dashboard_stale.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].fix_sql.as_deref(), Some("ANALYZE users;"));
        let ctx = Context::default().with_table(
            "public.users",
            TableFacts {
                live_rows: Some(200_000.0),
                mod_since_analyze: Some(199_000.0),
                ..Default::default()
            },
        );
        let f = run_with("dashboard_stale.json", super::ID, &ctx);
        assert!(
            f[0].explanation.contains("stale statistics"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn quiet_after_analyze_and_under_limit() {
        assert!(run("dashboard_analyzed.json", super::ID).is_empty());
        // Under a LIMIT the index scan stops early: not a misestimate.
        assert!(run("dashboard_indexed.json", super::ID).is_empty());
        assert!(run("dashboard_plain.json", super::ID).is_empty());
    }
}
