//! `health.connections`: the server is close to `max_connections` (new clients get
//! "too many clients already"), or has more connections than PgHero's healthy
//! total of 500.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, round1};
use crate::facts::HealthFacts;

/// Rule id.
pub(crate) const ID: &str = "health.connections";
/// Warning from this share of the usable connections.
const WARN_SHARE: f64 = 0.80;
/// Critical from this share.
const CRITICAL_SHARE: f64 = 0.95;
/// PgHero's `total_connections_threshold`.
const PGHERO_TOTAL: i64 = 500;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let Some(a) = &facts.activity else {
        return vec![];
    };
    let usable = (a.max_connections - a.reserved_connections).max(1);
    let share = a.total_connections as f64 / usable as f64;
    let severity = if a.max_connections > 0 && share >= CRITICAL_SHARE {
        Severity::Critical
    } else if (a.max_connections > 0 && share >= WARN_SHARE) || a.total_connections > PGHERO_TOTAL {
        Severity::Warning
    } else {
        return vec![];
    };
    let mut f = finding(
        ID,
        severity,
        format!(
            "{} connections of {usable} available ({:.0} %)",
            a.total_connections,
            share * 100.0
        ),
        format!(
            "Each connection is a server process with its own memory; near max_connections \
             ({}) new clients are refused, and hundreds of mostly idle connections cost memory \
             and snapshot overhead.",
            a.max_connections
        ),
    );
    f.fix_hint = Some(
        "Put a connection pooler (PgBouncer in transaction mode) in front of the server, and \
         shrink the applications' pool sizes; raise max_connections only with the memory to \
         back it."
            .into(),
    );
    ev(&mut f, "connections", a.total_connections);
    ev(&mut f, "max_connections", a.max_connections);
    ev(&mut f, "reserved_connections", a.reserved_connections);
    ev(&mut f, "used_percent", round1(share * 100.0));
    ev(
        &mut f,
        "by_state",
        serde_json::to_value(&a.by_state).unwrap_or_default(),
    );
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::ActivityFacts;

    fn with(total: i64, max: i64) -> HealthFacts {
        HealthFacts {
            activity: Some(ActivityFacts {
                total_connections: total,
                max_connections: max,
                reserved_connections: 3,
                ..ActivityFacts::default()
            }),
            ..HealthFacts::default()
        }
    }

    #[test]
    fn fires_near_the_limit() {
        assert_eq!(check(&with(90, 100))[0].severity, Severity::Warning);
        assert_eq!(check(&with(97, 100))[0].severity, Severity::Critical);
        assert_eq!(check(&with(600, 5000))[0].severity, Severity::Warning);
    }

    #[test]
    fn quiet_with_room() {
        assert!(check(&with(3, 100)).is_empty());
        assert!(check(&HealthFacts::default()).is_empty());
    }
}
