//! The plan rules, one per file. Each rule reads the flattened plan and returns
//! its findings; [`crate::analyze`] runs them all.

use serde_json::Value;

use crate::columns::ColumnRef;
use crate::{Context, Finding, NodeLocation, Plan, PlanTree, Severity};

mod filter_removes_most_rows;
mod heap_fetches;
mod jit_overhead;
mod lossy_bitmap;
mod low_cache_hit;
mod nested_loop_inner_scan;
mod planning_dominates;
mod row_misestimate;
mod spill_to_disk;
mod top_n_sort;
mod workers_not_launched;

/// Time below which a node's share of the runtime does not raise its severity.
const MIN_ESCALATION_MS: f64 = 1.0;

/// What every rule reads.
pub(crate) struct Input<'a> {
    pub plan: &'a Plan,
    pub tree: PlanTree<'a>,
    pub ctx: &'a Context,
}

type Rule = fn(&Input<'_>) -> Vec<Finding>;

/// Stable ids of all plan rules, in the order they run.
pub const RULE_IDS: &[&str] = &[
    row_misestimate::ID,
    filter_removes_most_rows::ID,
    top_n_sort::ID,
    spill_to_disk::ID,
    nested_loop_inner_scan::ID,
    lossy_bitmap::ID,
    heap_fetches::ID,
    low_cache_hit::ID,
    workers_not_launched::ID,
    jit_overhead::ID,
    planning_dominates::ID,
];

const RULES: &[Rule] = &[
    row_misestimate::check,
    filter_removes_most_rows::check,
    top_n_sort::check,
    spill_to_disk::check,
    nested_loop_inner_scan::check,
    lossy_bitmap::check,
    heap_fetches::check,
    low_cache_hit::check,
    workers_not_launched::check,
    jit_overhead::check,
    planning_dominates::check,
];

/// Runs every rule on `plan` and returns the findings, most important first:
/// by severity, then by the time attributable to them.
pub fn analyze(plan: &Plan, ctx: &Context) -> Vec<Finding> {
    let input = Input {
        plan,
        tree: PlanTree::new(plan),
        ctx,
    };
    let mut findings: Vec<Finding> = RULES.iter().flat_map(|rule| rule(&input)).collect();
    if let Some(q) = plan.query_text.as_deref() {
        for f in &mut findings {
            f.query.get_or_insert_with(|| q.to_string());
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(
                b.impact_ms
                    .unwrap_or(0.0)
                    .total_cmp(&a.impact_ms.unwrap_or(0.0)),
            )
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| {
                let pa = a.node.as_ref().map(|n| n.path.clone());
                let pb = b.node.as_ref().map(|n| n.path.clone());
                pa.cmp(&pb)
            })
    });
    findings
}

/// A finding with the fields every rule fills the same way.
pub(crate) fn finding(id: &str, severity: Severity, title: String, explanation: String) -> Finding {
    Finding::new(id, severity, title, explanation)
}

impl Input<'_> {
    /// Location of the node at a pre-order index.
    pub fn location(&self, index: usize) -> Option<NodeLocation> {
        let r = self.tree.get(index)?;
        Some(NodeLocation {
            path: r.path.clone(),
            node_type: r.node.display_type(),
            label: r.node.label(),
            label_path: self.tree.label_path(index),
        })
    }

    /// Severity raised by the share of runtime: ≥ 90 % critical, ≥ 40 % warning
    /// (PEV2's duration thresholds).
    pub fn by_share(&self, base: Severity, ms: Option<f64>) -> Severity {
        // Sub-millisecond work never escalates, whatever its share.
        let share = ms
            .filter(|m| *m >= MIN_ESCALATION_MS)
            .and_then(|m| self.tree.share(m));
        let level = match share {
            Some(s) if s >= 0.9 => Severity::Critical,
            Some(s) if s >= 0.4 => Severity::Warning,
            _ => Severity::Info,
        };
        base.max(level)
    }
}

/// A JSON number rounded to 3 decimals (integers stay integers).
pub(crate) fn num(x: f64) -> Value {
    if !x.is_finite() {
        return Value::Null;
    }
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        return Value::from(x as i64);
    }
    serde_json::Number::from_f64((x * 1000.0).round() / 1000.0)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Human figure for a row count or ratio: `1 234 567` → `1234567`, `12.5`.
pub(crate) fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 || x.abs() >= 100.0 {
        format!("{:.0}", x)
    } else {
        format!("{:.1}", x)
    }
}

/// Quotes an identifier when PostgreSQL would need it.
pub(crate) fn ident(name: &str) -> String {
    pgpilot_findings::ident::quote_ident(name)
}

/// `schema.table` quoted part by part.
pub(crate) fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((s, t)) => format!("{}.{}", ident(s), ident(t)),
        None => ident(table),
    }
}

/// `CREATE INDEX CONCURRENTLY idx_t_a_b ON t (a, b);` — `cols` may carry a direction.
pub(crate) fn create_index_sql(table: &str, cols: &[(String, Option<&str>)]) -> String {
    let bare = table.rsplit('.').next().unwrap_or(table);
    let mut name = format!("idx_{bare}");
    for (c, _) in cols {
        name.push('_');
        name.push_str(c);
    }
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    let list: Vec<String> = cols
        .iter()
        .map(|(c, dir)| match dir {
            Some(d) => format!("{} {d}", ident(c)),
            None => ident(c),
        })
        .collect();
    format!(
        "CREATE INDEX CONCURRENTLY {} ON {} ({});",
        ident(&name),
        qualified(table),
        list.join(", ")
    )
}

/// Index column order for conditions: equality columns first, then the others,
/// without duplicates and without columns hidden inside a function.
pub(crate) fn index_columns(cols: &[ColumnRef]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for pass_equality in [true, false] {
        for c in cols {
            if c.in_function || c.is_equality() != pass_equality || out.contains(&c.name) {
                continue;
            }
            out.push(c.name.clone());
        }
    }
    out
}

/// A work_mem value that fits `kb` kilobytes, rounded up to a sensible step
/// (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256 … MB).
pub(crate) fn work_mem_for(kb: f64) -> String {
    let mb = (kb / 1024.0).max(1.0);
    let mut step = 1.0_f64;
    loop {
        if step >= mb {
            break;
        }
        let half = step * 1.5;
        if step >= 32.0 && half >= mb {
            step = half;
            break;
        }
        step *= 2.0;
        if step > 1_048_576.0 {
            break;
        }
    }
    if step >= 1024.0 && (step / 1024.0).fract() == 0.0 {
        format!("{}GB", step / 1024.0)
    } else {
        format!("{step}MB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_mem_steps() {
        assert_eq!(work_mem_for(100.0), "1MB");
        assert_eq!(work_mem_for(13056.0), "16MB");
        assert_eq!(work_mem_for(84720.0), "96MB");
        assert_eq!(work_mem_for(40.0 * 1024.0), "48MB");
        assert_eq!(work_mem_for(1500.0 * 1024.0), "1536MB");
        assert_eq!(work_mem_for(1900.0 * 1024.0), "2GB");
    }

    #[test]
    fn identifiers_are_quoted_when_needed() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("timestamp"), "\"timestamp\"");
        assert_eq!(ident("Mixed"), "\"Mixed\"");
        assert_eq!(
            create_index_sql("public.audit_logs", &[("timestamp".into(), None)]),
            "CREATE INDEX CONCURRENTLY idx_audit_logs_timestamp ON public.audit_logs (\"timestamp\");"
        );
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::{analyze, Context, Finding, Plan};

    /// Reads a fixture from `tests/data`.
    pub fn fixture(name: &str) -> String {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Findings of one rule on a fixture plan.
    pub fn run_with(name: &str, id: &str, ctx: &Context) -> Vec<Finding> {
        let plan = Plan::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        analyze(&plan, ctx)
            .into_iter()
            .filter(|f| f.id == id)
            .collect()
    }

    /// Findings of one rule on a fixture plan, without context.
    pub fn run(name: &str, id: &str) -> Vec<Finding> {
        run_with(name, id, &Context::default())
    }
}
