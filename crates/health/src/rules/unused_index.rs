//! `health.unused_index`: PgHero's rule — an index never scanned since the
//! statistics were reset, at least 10 MB, enforcing nothing (not unique, primary or
//! a constraint's). It costs writes, space and cache for nothing.

use pgpilot_findings::{Finding, Severity};

use super::{concurrent_create, ev, finding, human_bytes, human_secs};
use crate::facts::HealthFacts;
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.unused_index";
/// PgHero's minimum size.
const MIN_BYTES: i64 = 10 * 1024 * 1024;
/// With statistics younger than this, "never scanned" means little: info only.
const MIN_STATS_AGE_S: f64 = 7.0 * 86_400.0;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let young_stats = facts
        .server
        .stats_reset_age_s
        .is_some_and(|a| a < MIN_STATS_AGE_S);
    let mut out = Vec::new();
    for i in &facts.indexes {
        if i.scans != 0
            || i.bytes < MIN_BYTES
            || i.unique
            || i.primary
            || i.constraint.is_some()
            || !i.valid
            || i.partition_of_index
        {
            continue;
        }
        // Too young to judge: statistics reset lately, or an index pgpilot
        // created lately (PostgreSQL keeps no creation time; the journal does).
        let young_index = i.created_age_s.is_some_and(|a| a < MIN_STATS_AGE_S);
        let severity = if young_stats || young_index {
            Severity::Info
        } else {
            Severity::Warning
        };
        let mut f = finding(
            ID,
            severity,
            format!(
                "Index {}.{} ({}) has never been used",
                i.schema,
                i.name,
                human_bytes(i.bytes)
            ),
            format!(
                "No query has scanned {} since the statistics were last reset, yet every \
                 INSERT, UPDATE and DELETE on {} maintains it and it takes {} of disk and cache. \
                 Scans on standbys are not counted here: check them before dropping.{}",
                i.name,
                i.table_display(),
                human_bytes(i.bytes),
                match i.created_age_s {
                    Some(a) if a < MIN_STATS_AGE_S => format!(
                        " pgpilot created it only {} ago: give the workload time to use it.",
                        human_secs(a)
                    ),
                    _ => String::new(),
                }
            ),
        );
        f.fix_sql = Some(format!(
            "DROP INDEX CONCURRENTLY {};",
            qualified(&i.schema, &i.name)
        ));
        if let Some(create) = concurrent_create(&i.definition) {
            f.fix_hint = Some(format!("To roll back: {create}"));
            ev(&mut f, "rollback_sql", create);
        }
        f.table = Some(i.table_display());
        f.columns = i.columns.iter().map(|c| c.expr.clone()).collect();
        ev(&mut f, "index", i.name.clone());
        ev(&mut f, "index_bytes", i.bytes);
        ev(&mut f, "scans", i.scans);
        if let Some(a) = facts.server.stats_reset_age_s {
            ev(&mut f, "stats_age", human_secs(a));
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    #[test]
    fn fires_on_a_big_unscanned_plain_index() {
        let mut i = index("t", "t_a_idx", &["a"]);
        i.scans = 0;
        i.bytes = 20 << 20;
        let v = check(&facts(vec![], vec![i]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("DROP INDEX CONCURRENTLY public.t_a_idx;")
        );
        assert!(v[0]
            .fix_hint
            .as_deref()
            .unwrap_or("")
            .contains("CREATE INDEX CONCURRENTLY t_a_idx ON public.t"));
    }

    #[test]
    fn quiet_on_small_unique_or_used_indexes() {
        let mut small = index("t", "small", &["a"]);
        small.scans = 0;
        let mut uniq = index("t", "uniq", &["b"]);
        uniq.scans = 0;
        uniq.bytes = 20 << 20;
        uniq.unique = true;
        let mut used = index("t", "used", &["c"]);
        used.bytes = 20 << 20;
        assert!(check(&facts(vec![], vec![small, uniq, used])).is_empty());
    }

    #[test]
    fn an_index_pgpilot_just_created_is_only_info() {
        let mut i = index("t", "t_a_idx", &["a"]);
        i.scans = 0;
        i.bytes = 20 << 20;
        i.created_age_s = Some(600.0);
        let v = check(&facts(vec![], vec![i.clone()]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Info);
        assert!(
            v[0].explanation.contains("only 10 min ago"),
            "{}",
            v[0].explanation
        );
        // Created long ago: a warning again.
        i.created_age_s = Some(30.0 * 86_400.0);
        assert_eq!(
            check(&facts(vec![], vec![i]))[0].severity,
            Severity::Warning
        );
    }

    #[test]
    fn quiet_on_the_index_of_a_partition() {
        let mut i = index("t_2024", "t_2024_a_idx", &["a"]);
        i.scans = 0;
        i.bytes = 20 << 20;
        i.partition_of_index = true;
        assert!(check(&facts(vec![], vec![i])).is_empty());
    }
}
