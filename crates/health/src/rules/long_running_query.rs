//! `health.long_running_query`: PgHero's rule — a query running for a minute or
//! more. It holds locks and snapshots (blocking vacuum) and may be stuck.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, human_secs};
use crate::facts::HealthFacts;

/// Rule id.
pub(crate) const ID: &str = "health.long_running_query";
/// PgHero's threshold, seconds.
const MIN_AGE_S: f64 = 60.0;
/// Critical from this age, seconds.
const CRITICAL_AGE_S: f64 = 3_600.0;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let Some(a) = &facts.activity else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in &a.sessions {
        let Some(age) = s.query_age_s else {
            continue;
        };
        if s.state != "active" || age < MIN_AGE_S {
            continue;
        }
        let severity = if age >= CRITICAL_AGE_S {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let who = format!(
            "pid {}{}{}",
            s.pid,
            s.user
                .as_ref()
                .map(|u| format!(", user {u}"))
                .unwrap_or_default(),
            s.application
                .as_ref()
                .filter(|a| !a.is_empty())
                .map(|a| format!(", {a}"))
                .unwrap_or_default()
        );
        let mut f = finding(
            ID,
            severity,
            format!("Query running for {} ({who})", human_secs(age)),
            format!(
                "A query has been running for {}{}. Long queries hold their locks and keep \
                 an old snapshot, which stops VACUUM from removing dead rows everywhere.",
                human_secs(age),
                s.wait
                    .as_ref()
                    .map(|w| format!(", now waiting on {w}"))
                    .unwrap_or_default()
            ),
        );
        f.fix_sql = Some(format!("SELECT pg_cancel_backend({});", s.pid));
        f.fix_hint = Some(format!(
            "Check what it is first (a report or a migration may be expected to run long). \
             pg_cancel_backend cancels the query; SELECT pg_terminate_backend({}); ends the \
             session. Set statement_timeout for the application's role to bound queries.",
            s.pid
        ));
        f.query = s.query.clone();
        f.impact_ms = Some(age * 1000.0);
        ev(&mut f, "pid", s.pid);
        ev(&mut f, "duration_s", age.round());
        ev(&mut f, "user", s.user.clone());
        ev(&mut f, "database", s.database.clone());
        ev(&mut f, "application", s.application.clone());
        ev(&mut f, "wait", s.wait.clone());
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ActivityFacts, SessionFacts};

    fn with(state: &str, age: f64) -> HealthFacts {
        HealthFacts {
            activity: Some(ActivityFacts {
                sessions: vec![SessionFacts {
                    pid: 42,
                    state: state.into(),
                    query_age_s: Some(age),
                    query: Some("SELECT pg_sleep(1000)".into()),
                    ..SessionFacts::default()
                }],
                ..ActivityFacts::default()
            }),
            ..HealthFacts::default()
        }
    }

    #[test]
    fn fires_after_a_minute() {
        let v = check(&with("active", 120.0));
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("SELECT pg_cancel_backend(42);")
        );
        assert_eq!(v[0].impact_ms, Some(120_000.0));
    }

    #[test]
    fn quiet_for_short_or_idle_sessions() {
        assert!(check(&with("active", 5.0)).is_empty());
        assert!(check(&with("idle in transaction", 500.0)).is_empty());
    }
}
