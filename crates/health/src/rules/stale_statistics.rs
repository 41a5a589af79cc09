//! `health.stale_statistics`: many rows changed since the table's last ANALYZE
//! (or it was never analyzed), so the planner estimates from old numbers.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, human_secs, round1};
use crate::facts::HealthFacts;
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.stale_statistics";
/// At least this many rows modified since the last ANALYZE…
const MIN_MODIFIED: i64 = 1_000;
/// …and at least this share of the table's live rows (autoanalyze's default
/// `autovacuum_analyze_scale_factor` is 0.1).
const MIN_MODIFIED_SHARE: f64 = 0.10;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in &facts.tables {
        let age = t.last_analyzed_age_s();
        let modified = t.mod_since_analyze.max(0);
        let base = t.live_tuples.max(1) as f64;
        let share = modified as f64 / base;
        let never = age.is_none() && t.live_tuples.max(modified) >= MIN_MODIFIED;
        let stale = age.is_some() && modified >= MIN_MODIFIED && share > MIN_MODIFIED_SHARE;
        if !never && !stale {
            continue;
        }
        let name = t.display_name();
        let title = if never {
            format!("{name} has never been analyzed ({} rows)", t.live_tuples)
        } else {
            format!(
                "Statistics of {name} are stale: {modified} rows modified since the last ANALYZE ({:.0} % of the table)",
                share * 100.0
            )
        };
        let mut f = finding(
            ID,
            Severity::Warning,
            title,
            format!(
                "The planner estimates row counts from the statistics ANALYZE gathered{}; \
                 the table has changed a lot since, so estimates (and the plans chosen from \
                 them: join order, index vs sequential scan, memory for sorts and hashes) can \
                 be far off. {}",
                match age {
                    Some(a) => format!(" {} ago", human_secs(a)),
                    None => String::new(),
                },
                if t.autovacuum_enabled {
                    "Autoanalyze should catch up; a manual ANALYZE fixes it now."
                } else {
                    "Autovacuum and autoanalyze are disabled on this table, so nothing will \
                     refresh them unless someone runs ANALYZE."
                }
            ),
        );
        f.fix_sql = Some(format!("ANALYZE {};", qualified(&t.schema, &t.name)));
        if !t.autovacuum_enabled {
            f.fix_hint = Some(format!(
                "Hand the table back to autovacuum: ALTER TABLE {} RESET (autovacuum_enabled);",
                qualified(&t.schema, &t.name)
            ));
        }
        f.table = Some(name);
        ev(&mut f, "rows_modified_since_analyze", modified);
        ev(&mut f, "live_rows", t.live_tuples);
        ev(&mut f, "planner_rows", t.reltuples.round());
        ev(&mut f, "modified_percent", round1(share * 100.0));
        if let Some(a) = age {
            ev(&mut f, "last_analyze_age_s", a.round());
        }
        ev(&mut f, "autovacuum_enabled", t.autovacuum_enabled);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, table};

    #[test]
    fn fires_when_most_rows_changed_since_analyze() {
        let mut t = table("users", 10_000);
        t.reltuples = 800.0;
        t.mod_since_analyze = 9_200;
        t.autovacuum_enabled = false;
        let mut never = table("sessions", 5_000);
        never.last_analyze_age_s = None;
        let v = check(&facts(vec![t, never], vec![]));
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].fix_sql.as_deref(), Some("ANALYZE public.users;"));
        assert!(v[0].fix_hint.as_deref().unwrap_or("").contains("RESET"));
        assert!(v[1].title.contains("never been analyzed"));
    }

    #[test]
    fn quiet_on_fresh_or_small_changes() {
        let mut few = table("a", 100_000);
        few.mod_since_analyze = 5_000; // 5 %
        let mut small = table("b", 500);
        small.mod_since_analyze = 500; // 100 % but tiny
        let mut tiny_never = table("c", 10);
        tiny_never.last_analyze_age_s = None;
        assert!(check(&facts(vec![few, small, tiny_never], vec![])).is_empty());
    }
}
