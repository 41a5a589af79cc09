//! `health.dead_tuples`: a table where dead rows pile up because vacuum is overdue
//! (or disabled): scans read them, the table and its indexes bloat.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, human_secs, round1};
use crate::facts::HealthFacts;
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.dead_tuples";
/// At least this many dead rows…
const MIN_DEAD: i64 = 10_000;
/// …making up at least this share of all rows (autovacuum's default
/// `autovacuum_vacuum_scale_factor` is 0.2).
const MIN_DEAD_SHARE: f64 = 0.20;
/// Critical: half the table dead, a million dead rows, not vacuumed for a day.
const CRITICAL_DEAD_SHARE: f64 = 0.50;
const CRITICAL_DEAD: i64 = 1_000_000;
const CRITICAL_VACUUM_AGE_S: f64 = 86_400.0;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in &facts.tables {
        let dead = t.dead_tuples.max(0);
        let all = (t.live_tuples.max(0) + dead).max(1);
        let share = dead as f64 / all as f64;
        if dead < MIN_DEAD || share < MIN_DEAD_SHARE {
            continue;
        }
        let vacuum_age = t.last_vacuumed_age_s();
        let overdue = match vacuum_age {
            Some(a) => a >= CRITICAL_VACUUM_AGE_S,
            None => true,
        };
        let severity = if share >= CRITICAL_DEAD_SHARE && dead >= CRITICAL_DEAD && overdue {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let name = t.display_name();
        let mut f = finding(
            ID,
            severity,
            format!(
                "{name} has {dead} dead rows ({:.0} % of the table)",
                share * 100.0
            ),
            format!(
                "Deleted and updated rows stay in the table until VACUUM removes them; scans \
                 still read them and the table and its indexes grow. Last vacuum: {}. {}",
                vacuum_age.map_or("never".to_string(), |a| format!("{} ago", human_secs(a))),
                if t.autovacuum_enabled {
                    "Autovacuum has not caught up: a long transaction may hold it back, or its \
                     settings are too lax for this table's write rate."
                } else {
                    "Autovacuum is disabled on this table."
                }
            ),
        );
        f.fix_sql = Some(format!(
            "VACUUM (ANALYZE) {};",
            qualified(&t.schema, &t.name)
        ));
        f.fix_hint = Some(if t.autovacuum_enabled {
            "For a table with this write rate, lower its autovacuum_vacuum_scale_factor \
             (ALTER TABLE … SET (autovacuum_vacuum_scale_factor = 0.05))."
                .to_string()
        } else {
            format!(
                "Hand the table back to autovacuum: ALTER TABLE {} RESET (autovacuum_enabled);",
                qualified(&t.schema, &t.name)
            )
        });
        f.table = Some(name);
        ev(&mut f, "dead_rows", dead);
        ev(&mut f, "live_rows", t.live_tuples);
        ev(&mut f, "dead_percent", round1(share * 100.0));
        if let Some(a) = vacuum_age {
            ev(&mut f, "last_vacuum_age_s", a.round());
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
    fn fires_on_many_dead_rows() {
        let mut t = table("sessions", 1_000_000);
        t.dead_tuples = 2_000_000;
        t.last_vacuum_age_s = None;
        let v = check(&facts(vec![t], vec![]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("VACUUM (ANALYZE) public.sessions;")
        );
    }

    #[test]
    fn quiet_on_few_dead_rows() {
        let mut t = table("sessions", 1_000_000);
        t.dead_tuples = 50_000; // 5 %
        let mut small = table("roles", 100);
        small.dead_tuples = 900;
        assert!(check(&facts(vec![t, small], vec![])).is_empty());
    }
}
