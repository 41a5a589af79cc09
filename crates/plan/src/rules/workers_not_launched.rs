//! `plan.workers_not_launched`: a Gather planned parallel workers but fewer were
//! launched (max_parallel_workers / max_worker_processes exhausted), so the leader
//! did the work planned for several processes.

use crate::rules::{finding, fmt_num, num, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.workers_not_launched";

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in input.tree.nodes() {
        let n = r.node;
        let (Some(planned), Some(launched)) = (n.workers_planned, n.workers_launched) else {
            continue;
        };
        if launched >= planned {
            continue;
        }
        let ms = input.tree.inclusive_ms(r.index);
        let base = if launched == 0.0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let label = n.label();
        let settings = &input.plan.settings;
        let mut f = finding(
            ID,
            base,
            format!(
                "{label} launched {} of {} planned workers",
                fmt_num(launched),
                fmt_num(planned)
            ),
            format!(
                "{label} was planned with {} parallel workers but only {} started, so the \
                 remaining processes did the work of the missing ones. Workers come from a pool \
                 shared by all queries: max_parallel_workers (and max_worker_processes) was \
                 exhausted, or set too low, when this query ran.",
                fmt_num(planned),
                fmt_num(launched)
            ),
        );
        let mpw = settings
            .get("max_parallel_workers")
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = mpw.filter(|v| *v < planned) {
            f.fix_sql = Some(format!(
                "ALTER SYSTEM SET max_parallel_workers = {};\nSELECT pg_reload_conf();",
                fmt_num(planned.max(8.0))
            ));
            f.evidence.insert("max_parallel_workers".into(), num(v));
        }
        f.fix_hint = Some(
            "Raise max_parallel_workers (bounded by max_worker_processes, which needs a restart), \
             or run fewer parallel queries at once; if workers are never available, lower \
             max_parallel_workers_per_gather so plans don't count on them."
                .to_string(),
        );
        f.evidence.insert("workers_planned".into(), num(planned));
        f.evidence.insert("workers_launched".into(), num(launched));
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
    fn fires_when_no_worker_started() {
        let f = run("workers_not_launched.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["workers_launched"], 0);
        assert!(f[0].fix_sql.is_some());
    }

    #[test]
    fn quiet_when_all_workers_started() {
        assert!(run("workers_launched.json", super::ID).is_empty());
        assert!(run("dashboard_stale.json", super::ID).is_empty());
    }
}
