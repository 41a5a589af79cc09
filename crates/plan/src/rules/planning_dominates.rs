//! `plan.planning_dominates`: planning took longer than execution (and > 10 ms):
//! the query is cheap to run but expensive to plan.

use crate::rules::{finding, num, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.planning_dominates";
const MIN_PLANNING_MS: f64 = 10.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let plan = input.plan;
    let (Some(planning), Some(exec)) = (plan.planning_time_ms, plan.execution_time_ms) else {
        return Vec::new();
    };
    if planning <= exec || planning < MIN_PLANNING_MS {
        return Vec::new();
    }
    let nodes = input.tree.nodes();
    let scans = nodes
        .iter()
        .filter(|r| r.node.relation_name.is_some())
        .count();
    let appends = nodes
        .iter()
        .filter(|r| matches!(r.node.base_type(), "Append" | "Merge Append"))
        .map(|r| r.node.plans.len())
        .max()
        .unwrap_or(0);
    let cause = if appends >= 50 {
        format!(
            "The plan appends {appends} partitions: planning opens and plans every one. A \
             condition on the partition key lets the planner prune them."
        )
    } else if scans >= 8 {
        format!("The plan scans {scans} relations; join order search grows fast with every table.")
    } else {
        "Complex expressions, many indexes to consider or large statistics can make planning slow."
            .to_string()
    };
    let severity = if planning >= 100.0 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let mut f = finding(
        ID,
        severity.max(Severity::Info),
        format!("planning took {planning:.1} ms, execution {exec:.1} ms"),
        format!(
            "PostgreSQL spent {planning:.1} ms planning this query and {exec:.1} ms running it. \
             {cause}"
        ),
    );
    f.fix_hint = Some(
        "Use prepared statements so the plan is reused (plan_cache_mode = auto picks a generic \
         plan after 5 runs); filter on the partition key or use fewer partitions; simplify the \
         query (fewer joins, or lower join_collapse_limit / from_collapse_limit)."
            .to_string(),
    );
    f.evidence.insert("planning_ms".into(), num(planning));
    f.evidence.insert("execution_ms".into(), num(exec));
    f.evidence
        .insert("relations_scanned".into(), num(scans as f64));
    if appends > 0 {
        f.evidence
            .insert("append_members".into(), num(appends as f64));
    }
    f.impact_ms = Some(planning);
    vec![f]
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::run;

    #[test]
    fn fires_on_many_partitions() {
        let f = run("planning_heavy.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["append_members"], 500);
    }

    #[test]
    fn quiet_when_planning_is_fast() {
        // Planning 1.6 ms > execution 0.03 ms, but under 10 ms.
        assert!(run("planning_light.json", super::ID).is_empty());
        assert!(run("sort_spill.json", super::ID).is_empty());
    }
}
