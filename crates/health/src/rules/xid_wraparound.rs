//! `health.xid_wraparound`: transaction ids (or multixact ids) close to
//! wraparound. PgHero's danger threshold is 10 million transactions left; a warning
//! comes earlier, once more than half the 2³¹ range is used, which means
//! anti-wraparound vacuums are not keeping up.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, round1};
use crate::facts::HealthFacts;
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.xid_wraparound";
/// The usable transaction-id range (2³¹ − 1).
const XID_LIMIT: i64 = 2_147_483_647;
/// PgHero: critical with fewer transactions left than this.
const CRITICAL_LEFT: i64 = 10_000_000;
/// Warning once this share of the range is used.
const WARN_SHARE: f64 = 0.50;
/// Tables named in the fix.
const TABLES_IN_FIX: usize = 3;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let Some(x) = &facts.transaction_ids else {
        return vec![];
    };
    let xid_age = x.database_age.max(x.cluster_max_age);
    let mxid_age = x.database_multixact_age.unwrap_or(0);
    let age = xid_age.max(mxid_age);
    let left = XID_LIMIT - age;
    let share = age as f64 / XID_LIMIT as f64;
    let severity = if left < CRITICAL_LEFT {
        Severity::Critical
    } else if share >= WARN_SHARE {
        Severity::Warning
    } else {
        return vec![];
    };
    let kind = if mxid_age > xid_age {
        "multixact ids"
    } else {
        "transaction ids"
    };
    let mut f = finding(
        ID,
        severity,
        format!(
            "{left} {kind} left before wraparound ({:.0} % used)",
            share * 100.0
        ),
        format!(
            "PostgreSQL must freeze old rows before the 2³¹ {kind} range wraps around; at \
             about 3 million left it stops accepting writes until a VACUUM completes. \
             Anti-wraparound autovacuum (autovacuum_freeze_max_age = {}) is not keeping up: \
             look for long transactions, abandoned replication slots or prepared transactions \
             holding back the horizon.",
            x.autovacuum_freeze_max_age
        ),
    );
    let current_is_oldest = x.database_age >= x.cluster_max_age;
    let mut oldest: Vec<_> = facts
        .tables
        .iter()
        .filter_map(|t| t.frozen_xid_age.map(|a| (a, t)))
        .collect();
    oldest.sort_by_key(|(a, _)| std::cmp::Reverse(*a));
    let fix: Vec<String> = oldest
        .iter()
        .take(TABLES_IN_FIX)
        .map(|(_, t)| {
            format!(
                "VACUUM (FREEZE, VERBOSE) {};",
                qualified(&t.schema, &t.name)
            )
        })
        .collect();
    if current_is_oldest && !fix.is_empty() {
        f.fix_sql = Some(fix.join("\n"));
        f.fix_hint = Some("Then VACUUM (FREEZE) the rest of the database's tables.".into());
    } else {
        f.fix_hint = Some(
            "Another database on this server is the oldest: connect to it and run VACUUM \
             (FREEZE) there."
                .into(),
        );
    }
    if let Some((_, t)) = oldest.first() {
        f.table = Some(t.display_name());
    }
    ev(&mut f, "database_xid_age", x.database_age);
    ev(&mut f, "cluster_max_xid_age", x.cluster_max_age);
    ev(&mut f, "database_multixact_age", x.database_multixact_age);
    ev(&mut f, "left", left);
    ev(&mut f, "used_percent", round1(share * 100.0));
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::XidFacts;
    use crate::fixtures::table;

    fn facts(age: i64) -> HealthFacts {
        let mut old = table("events", 10);
        old.frozen_xid_age = Some(age);
        HealthFacts {
            tables: vec![table("young", 10), old],
            transaction_ids: Some(XidFacts {
                database_age: age,
                database_multixact_age: Some(5),
                cluster_max_age: age,
                autovacuum_freeze_max_age: 200_000_000,
            }),
            ..HealthFacts::default()
        }
    }

    #[test]
    fn fires_close_to_wraparound() {
        let v = check(&facts(2_140_000_000));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Critical);
        assert!(v[0]
            .fix_sql
            .as_deref()
            .unwrap_or("")
            .starts_with("VACUUM (FREEZE, VERBOSE) public.events;"));
        assert_eq!(check(&facts(1_500_000_000))[0].severity, Severity::Warning);
    }

    #[test]
    fn quiet_on_a_young_cluster() {
        assert!(check(&facts(1_000)).is_empty());
        assert!(check(&HealthFacts::default()).is_empty());
    }
}
