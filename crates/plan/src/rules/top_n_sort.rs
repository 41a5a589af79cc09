//! `plan.top_n_sort`: a Sort feeding a LIMIT sorts far more rows than the limit
//! returns. An index on the ORDER BY columns, with their direction, lets the
//! planner read rows already in order and stop after the limit.

use crate::rules::{create_index_sql, finding, fmt_num, num, Input};
use crate::{Finding, PlanTree, Severity};

pub(crate) const ID: &str = "plan.top_n_sort";
/// The sort input must be at least this many times the limit…
const MIN_RATIO: f64 = 10.0;
/// …and at least this many rows.
const MIN_INPUT: f64 = 1000.0;

/// The Limit above a node, looking through nodes that stream rows unchanged.
fn limit_above(tree: &PlanTree<'_>, index: usize) -> Option<usize> {
    let mut cur = index;
    while let Some(p) = tree.get(cur)?.parent {
        let parent = tree.get(p)?.node;
        let child = tree.get(cur)?.node;
        match parent.base_type() {
            "Limit" => return Some(p),
            "Gather Merge" | "Result" | "Subquery Scan" | "Unique" | "Memoize" => {}
            "Nested Loop" | "Hash Join" | "Merge Join"
                if child.parent_relationship.as_deref() == Some("Outer") => {}
            _ => return None,
        }
        cur = p;
    }
    None
}

/// Splits `u.last_login DESC NULLS LAST` into (`u`, `last_login`, `DESC NULLS LAST`).
fn split_key(key: &str) -> Option<(Option<String>, String, Option<String>)> {
    let key = key.trim();
    let (expr, dir) = match key.find(' ') {
        Some(i) => (&key[..i], Some(key[i..].trim().to_string())),
        None => (key, None),
    };
    if expr.contains('(') || expr.contains("::") {
        return None;
    }
    let (q, col) = match expr.rsplit_once('.') {
        Some((q, c)) => (Some(q.trim_matches('"').to_string()), c),
        None => (None, expr),
    };
    let col = col.trim_matches('"').to_string();
    let dir = dir.filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("ASC"));
    Some((q, col, dir))
}

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let tree = &input.tree;
    let mut out = Vec::new();
    for r in tree.nodes() {
        let n = r.node;
        if n.base_type() != "Sort" || n.sort_key.is_empty() {
            continue;
        }
        let Some(limit_idx) = limit_above(tree, r.index) else {
            continue;
        };
        let limit_node = tree.nodes()[limit_idx].node;
        // The rows the Limit really returned when the plan was executed: its
        // estimate can be far off (stale statistics estimated 5 for LIMIT 50).
        let limit = limit_node
            .actual_rows
            .or(limit_node.plan_rows)
            .unwrap_or(1.0)
            .max(1.0);
        let Some(child) = n.flow_children().next() else {
            continue;
        };
        let input_rows = child.total_rows().or(child.plan_rows).unwrap_or(0.0);
        if input_rows < MIN_INPUT || input_rows < MIN_RATIO * limit {
            continue;
        }
        // Resolve the sort keys to one table's columns, when they are plain columns.
        let mut table: Option<String> = None;
        let mut keys_resolved: Vec<String> = Vec::new();
        let mut spec: Vec<(String, Option<String>)> = Vec::new();
        let mut single_table = true;
        for key in &n.sort_key {
            let Some((q, col, dir)) = split_key(key) else {
                single_table = false;
                keys_resolved.push(key.clone());
                continue;
            };
            let scan = match q.as_deref() {
                Some(a) => tree.table_for_alias(a, Some(r.index)),
                None => tree.table_for_alias_unique(r.index),
            };
            let t = scan.and_then(|s| s.qualified_table());
            match (&table, &t) {
                (None, Some(t)) => table = Some(t.clone()),
                (Some(a), Some(b)) if a == b => {}
                _ => single_table = false,
            }
            let shown = match (&t, &dir) {
                (Some(t), Some(d)) => format!("{t}.{col} {d}"),
                (Some(t), None) => format!("{t}.{col}"),
                (None, _) => key.clone(),
            };
            keys_resolved.push(shown);
            spec.push((col, dir));
        }
        let ms = tree.inclusive_ms(r.index);
        let title = format!(
            "sort of {} rows to return {} (ORDER BY {})",
            fmt_num(input_rows),
            fmt_num(limit),
            keys_resolved.join(", ")
        );
        let mut explanation = format!(
            "The query sorts {} rows ({}) only to keep the first {}. Every row must be read and \
             compared before the first one is returned.",
            fmt_num(input_rows),
            n.sort_method.as_deref().unwrap_or("sort"),
            fmt_num(limit)
        );
        let mut f = finding(
            ID,
            input.by_share(Severity::Warning, ms),
            title,
            String::new(),
        );
        if let (Some(t), true) = (&table, single_table && !spec.is_empty()) {
            explanation.push_str(&format!(
                " An index on {t} ({}) returns rows already in this order, so the scan can stop \
                 after {} rows and the sort disappears.",
                keys_resolved
                    .iter()
                    .map(|k| k.rsplit_once('.').map(|(_, c)| c).unwrap_or(k).to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                fmt_num(limit)
            ));
            let refs: Vec<(String, Option<&str>)> = spec
                .iter()
                .map(|(c, d)| (c.clone(), d.as_deref()))
                .collect();
            f.fix_sql = Some(create_index_sql(t, &refs));
            f.fix_hint = Some(
                "If the query also filters this table on a range, the index still helps when the \
                 filter keeps a good share of rows; put equality-filtered columns before the ORDER \
                 BY columns."
                    .to_string(),
            );
        } else {
            f.fix_hint = Some(
                "Index the ORDER BY expression (with its direction) on the table it comes from, \
                 or restrict the rows before sorting."
                    .to_string(),
            );
        }
        f.explanation = explanation;
        f.table = table;
        f.columns = spec.iter().map(|(c, _)| c.clone()).collect();
        f.evidence.insert("input_rows".into(), num(input_rows));
        f.evidence.insert("limit".into(), num(limit));
        f.evidence.insert(
            "sort_keys".into(),
            keys_resolved
                .iter()
                .map(|k| serde_json::Value::from(k.as_str()))
                .collect(),
        );
        if let Some(m) = &n.sort_method {
            f.evidence.insert("sort_method".into(), m.as_str().into());
        }
        f.impact_ms = ms;
        f.node = input.location(r.index);
        out.push(f);
    }
    out
}

impl PlanTree<'_> {
    /// The only table scanned under a node, when there is exactly one.
    pub(crate) fn table_for_alias_unique(&self, index: usize) -> Option<&crate::Node> {
        let mut found = None;
        for i in self.subtree(index) {
            let n = self.nodes()[i].node;
            if n.relation_name.is_some() {
                match found {
                    None => found = Some(n),
                    Some(f) if f.relation_name == n.relation_name => {}
                    Some(_) => return None,
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::run;

    #[test]
    fn fires_on_dashboard_sort_under_limit() {
        let f = run("dashboard_stale.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["sort_keys"][0], "users.last_login DESC");
        assert_eq!(
            f[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY idx_users_last_login ON users (last_login DESC);")
        );
        // The text plan auto_explain logged for the same query.
        assert_eq!(run("auto_explain_dashboard.txt", super::ID).len(), 1);
    }

    #[test]
    fn quiet_when_an_index_provides_the_order() {
        assert!(run("dashboard_indexed.json", super::ID).is_empty());
        // A full sort without LIMIT is not a top-N sort.
        assert!(run("sort_in_memory.json", super::ID).is_empty());
    }
}
