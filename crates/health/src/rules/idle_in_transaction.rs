//! `health.idle_in_transaction`: a session that opened a transaction and has done
//! nothing for a minute or more. It holds its locks and its snapshot: VACUUM cannot
//! clean up behind it and DDL queues up behind its locks.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, human_secs};
use crate::facts::HealthFacts;

/// Rule id.
pub(crate) const ID: &str = "health.idle_in_transaction";
/// Threshold, seconds idle.
const MIN_IDLE_S: f64 = 60.0;
/// Critical from this, seconds idle.
const CRITICAL_IDLE_S: f64 = 3_600.0;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let Some(a) = &facts.activity else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in &a.sessions {
        let Some(idle) = s.state_age_s else {
            continue;
        };
        if !s.state.starts_with("idle in transaction") || idle < MIN_IDLE_S {
            continue;
        }
        let severity = if idle >= CRITICAL_IDLE_S {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut f = finding(
            ID,
            severity,
            format!(
                "Session {} idle in transaction for {}",
                s.pid,
                human_secs(idle)
            ),
            format!(
                "Session {} ({}) opened a transaction{} and has been idle for {}. It keeps \
                 its locks and its snapshot: VACUUM cannot remove rows deleted since, and any \
                 ALTER TABLE on what it touched waits (and makes every later query wait).",
                s.pid,
                s.application
                    .as_deref()
                    .filter(|a| !a.is_empty())
                    .or(s.user.as_deref())
                    .unwrap_or("unknown client"),
                s.xact_age_s
                    .map(|x| format!(" {} ago", human_secs(x)))
                    .unwrap_or_default(),
                human_secs(idle)
            ),
        );
        f.fix_sql = Some(format!("SELECT pg_terminate_backend({});", s.pid));
        f.fix_hint = Some(
            "Fix the application (a missing COMMIT, or work done between queries inside a \
             transaction); set idle_in_transaction_session_timeout (e.g. ALTER ROLE app SET \
             idle_in_transaction_session_timeout = '5min') as a safety net."
                .into(),
        );
        f.query = s.query.clone();
        f.impact_ms = Some(idle * 1000.0);
        ev(&mut f, "pid", s.pid);
        ev(&mut f, "idle_s", idle.round());
        ev(&mut f, "transaction_age_s", s.xact_age_s.map(f64::round));
        ev(&mut f, "user", s.user.clone());
        ev(&mut f, "application", s.application.clone());
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{ActivityFacts, SessionFacts};

    fn with(state: &str, idle: f64) -> HealthFacts {
        HealthFacts {
            activity: Some(ActivityFacts {
                sessions: vec![SessionFacts {
                    pid: 7,
                    state: state.into(),
                    state_age_s: Some(idle),
                    ..SessionFacts::default()
                }],
                ..ActivityFacts::default()
            }),
            ..HealthFacts::default()
        }
    }

    #[test]
    fn fires_after_a_minute_idle() {
        let v = check(&with("idle in transaction", 4_000.0));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("SELECT pg_terminate_backend(7);")
        );
    }

    #[test]
    fn quiet_for_short_idle_or_active() {
        assert!(check(&with("idle in transaction", 10.0)).is_empty());
        assert!(check(&with("active", 4_000.0)).is_empty());
    }
}
