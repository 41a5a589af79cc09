//! `plan.jit_overhead`: JIT compilation took a large share of the execution time
//! (> 10 % and > 50 ms): the query is too short for JIT to pay off.

use crate::rules::{finding, num, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.jit_overhead";
const MIN_SHARE: f64 = 0.1;
const MIN_MS: f64 = 50.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let plan = input.plan;
    let Some(jit) = &plan.jit else {
        return Vec::new();
    };
    let Some(total) = jit.timing.total else {
        return Vec::new();
    };
    let Some(exec) = plan.execution_time_ms.filter(|e| *e > 0.0) else {
        return Vec::new();
    };
    let share = total / exec;
    if total < MIN_MS || share < MIN_SHARE {
        return Vec::new();
    }
    let t = &jit.timing;
    let heavy = t.inlining.unwrap_or(0.0) + t.optimization.unwrap_or(0.0);
    let severity = if share >= 0.4 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let severity = input.by_share(severity, Some(total)).min(Severity::Warning);
    let mut f = finding(
        ID,
        severity,
        format!(
            "JIT compilation took {total:.1} ms of {exec:.1} ms ({:.0}%)",
            share * 100.0
        ),
        format!(
            "PostgreSQL compiled {} functions with LLVM because the plan's cost passed \
             jit_above_cost, and that took {total:.1} ms — {:.0}% of the execution time. {}",
            jit.functions
                .map(|f| format!("{f:.0}"))
                .unwrap_or_else(|| "some".into()),
            share * 100.0,
            if heavy > total / 2.0 {
                "Most of it went into inlining and optimization, which the jit_inline_above_cost \
                 and jit_optimize_above_cost thresholds control."
            } else {
                "The query runs too briefly for compiled code to pay off."
            }
        ),
    );
    f.fix_sql = Some("SET jit = off;".to_string());
    f.fix_hint = Some(
        "Turn JIT off for this query or role, or raise jit_above_cost (and \
         jit_inline_above_cost / jit_optimize_above_cost) so only long-running queries are compiled."
            .to_string(),
    );
    for (k, v) in [
        ("jit_functions", jit.functions),
        ("generation_ms", t.generation),
        ("inlining_ms", t.inlining),
        ("optimization_ms", t.optimization),
        ("emission_ms", t.emission),
        ("jit_total_ms", t.total),
        ("execution_ms", Some(exec)),
        ("plan_total_cost", plan.root.total_cost),
    ] {
        if let Some(v) = v {
            f.evidence.insert(k.into(), num(v));
        }
    }
    f.impact_ms = Some(total);
    vec![f]
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::run;

    #[test]
    fn fires_when_jit_dominates() {
        let f = run("jit_heavy.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].fix_sql.as_deref(), Some("SET jit = off;"));
    }

    #[test]
    fn quiet_when_jit_is_cheap_or_off() {
        assert!(run("jit_light.json", super::ID).is_empty());
        assert!(run("dashboard_stale.json", super::ID).is_empty());
    }
}
