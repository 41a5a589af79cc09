//! `pgpilot-demo` owns the ADX Core demo database of the scenario pgpilot was built
//! for (see `docs/scenario-adx-core.md`): its schema in the scenario's slow state
//! (primary keys, unique constraints and foreign keys only, autovacuum off, stale
//! statistics), a deterministic server-side data generator at any scale (every value
//! depends only on the row id and the seed), the loader that builds it fast on two
//! connections, and the scenario's workload file for the benchmark.

mod load;
mod sqlfile;

pub use load::{load, LoadReport, LoadStep, StepKind, StepTiming, TableReport};

use pgpilot_db::DbError;

/// The scenario workload (format of `pgpilot-bench`); its `[vars]` are sized for
/// scale 1, use [`workload_vars`] for another scale.
pub const WORKLOAD_TOML: &str = include_str!("../workload/adx-core.toml");

/// The demo tables, in load order.
pub const TABLES: [&str; 5] = ["roles", "users", "profiles", "audit_logs", "sessions"];

/// The largest accepted scale (5 billion audit log rows): beyond it row counts and
/// generated ids would no longer be sensible.
pub const MAX_SCALE: f64 = 1000.0;

const AUTOVACUUM_ON_SQL: &str = include_str!("../sql/autovacuum_on.sql");

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoConfig {
    /// Size relative to scale 1 (1 M users and profiles, 5 M audit log entries, 1 M
    /// sessions); every table but `roles` scales linearly, with at least one row.
    pub scale: f64,
    /// Seed of the pseudo-random data: the same seed gives the same data.
    pub seed: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            scale: 1.0,
            seed: 42,
        }
    }
}

/// Rows per table at a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCounts {
    /// `roles` (fixed: a lookup table).
    pub roles: u64,
    /// `users`.
    pub users: u64,
    /// `profiles` (one per user).
    pub profiles: u64,
    /// `audit_logs`.
    pub audit_logs: u64,
    /// `sessions`.
    pub sessions: u64,
}

impl RowCounts {
    /// The rows of table `name`, if it is a demo table.
    pub fn of(&self, name: &str) -> Option<u64> {
        match name {
            "roles" => Some(self.roles),
            "users" => Some(self.users),
            "profiles" => Some(self.profiles),
            "audit_logs" => Some(self.audit_logs),
            "sessions" => Some(self.sessions),
            _ => None,
        }
    }
}

/// Rows at scale 1 of the tables that scale.
const USERS_AT_1: f64 = 1_000_000.0;
const AUDIT_LOGS_AT_1: f64 = 5_000_000.0;
const SESSIONS_AT_1: f64 = 1_000_000.0;
/// The fixed number of roles (see `sql/roles.sql`).
const ROLES: u64 = 12;

impl DemoConfig {
    /// Checks the scale: finite, greater than 0 and at most [`MAX_SCALE`].
    pub fn validate(&self) -> Result<(), DemoError> {
        if self.scale.is_finite() && self.scale > 0.0 && self.scale <= MAX_SCALE {
            Ok(())
        } else {
            Err(DemoError::InvalidScale(self.scale))
        }
    }

    /// Rows per table at this scale (call [`DemoConfig::validate`] first; an invalid
    /// scale gives one row per table).
    pub fn row_counts(&self) -> RowCounts {
        let scale = if self.validate().is_ok() {
            self.scale
        } else {
            0.0
        };
        let rows = |at_1: f64| -> u64 {
            // Bounded by MAX_SCALE * 5e6, far inside u64.
            (at_1 * scale).round().max(1.0) as u64
        };
        let users = rows(USERS_AT_1);
        RowCounts {
            roles: ROLES,
            users,
            profiles: users,
            audit_logs: rows(AUDIT_LOGS_AT_1),
            sessions: rows(SESSIONS_AT_1),
        }
    }
}

/// The workload variables for this scale: the row count of every demo table
/// (`users`, `profiles`, `audit_logs`, `sessions`, `roles`), which the workload
/// uses as the upper bound of id generators.
pub fn workload_vars(cfg: &DemoConfig) -> Vec<(String, String)> {
    let counts = cfg.row_counts();
    TABLES
        .iter()
        .filter_map(|t| counts.of(t).map(|n| (t.to_string(), n.to_string())))
        .collect()
}

/// Re-enables autovacuum and autoanalyze on the demo tables (the load turns them
/// off so that the statistics stay stale until pgpilot fixes them).
pub async fn enable_autovacuum(client: &tokio_postgres::Client) -> Result<(), DemoError> {
    client.batch_execute(AUTOVACUUM_ON_SQL).await.map_err(|e| {
        DemoError::Db(DbError::query(
            "re-enabling autovacuum on the demo tables",
            e,
        ))
    })
}

/// Everything that can go wrong while building the demo database.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The scale is not a finite number in (0, [`MAX_SCALE`]].
    #[error("invalid demo scale {0}: use a number greater than 0 and at most {MAX_SCALE} (1 = 1 M users, 5 M audit log rows; 0.01 for a quick try)")]
    InvalidScale(f64),
    /// The target database already has (some of) the demo tables.
    #[error("database {database:?} already has the demo tables {tables}: load the demo into an empty database (or drop it and create it again)")]
    AlreadyLoaded {
        /// The database name.
        database: String,
        /// The demo tables found, comma-separated.
        tables: String,
    },
    /// A statement of the load failed; the database is left half-built.
    #[error("{source} (the demo database is incomplete: drop it and load again)")]
    Load {
        /// The failure.
        #[source]
        source: DbError,
    },
    /// Connecting or another database operation failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A SQL file of this crate lacks a step the loader needs (a bug).
    #[error("internal error: step {0:?} missing from the demo's SQL files")]
    MissingStep(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_must_be_finite_and_positive() {
        for bad in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            MAX_SCALE * 2.0,
        ] {
            let cfg = DemoConfig {
                scale: bad,
                seed: 1,
            };
            assert!(
                matches!(cfg.validate(), Err(DemoError::InvalidScale(_))),
                "{bad}"
            );
        }
        for good in [0.000_001, 0.01, 1.0, 2.5, MAX_SCALE] {
            assert!(
                DemoConfig {
                    scale: good,
                    seed: 1
                }
                .validate()
                .is_ok(),
                "{good}"
            );
        }
        let msg = DemoError::InvalidScale(-1.0).to_string();
        assert!(msg.contains("greater than 0"), "{msg}");
    }

    #[test]
    fn rows_scale_linearly_with_at_least_one() {
        let c = DemoConfig {
            scale: 1.0,
            seed: 1,
        }
        .row_counts();
        assert_eq!(
            (c.users, c.profiles, c.audit_logs, c.sessions),
            (1_000_000, 1_000_000, 5_000_000, 1_000_000)
        );
        assert_eq!(c.roles, 12);
        let c = DemoConfig {
            scale: 0.01,
            seed: 1,
        }
        .row_counts();
        assert_eq!(
            (c.users, c.audit_logs, c.sessions),
            (10_000, 50_000, 10_000)
        );
        let c = DemoConfig {
            scale: 1e-9,
            seed: 1,
        }
        .row_counts();
        assert_eq!(
            (c.users, c.profiles, c.audit_logs, c.sessions),
            (1, 1, 1, 1)
        );
        let c = DemoConfig {
            scale: f64::NAN,
            seed: 1,
        }
        .row_counts();
        assert_eq!(c.users, 1);
    }

    #[test]
    fn vars_name_every_table_with_its_rows() {
        let vars = workload_vars(&DemoConfig {
            scale: 0.5,
            seed: 7,
        });
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("users"), Some("500000"));
        assert_eq!(get("profiles"), Some("500000"));
        assert_eq!(get("audit_logs"), Some("2500000"));
        assert_eq!(get("sessions"), Some("500000"));
        assert_eq!(get("roles"), Some("12"));
        assert_eq!(vars.len(), TABLES.len());
    }

    #[test]
    fn roles_file_has_the_fixed_role_count() {
        let roles = include_str!("../sql/roles.sql");
        let rows = roles
            .lines()
            .filter(|l| l.trim_start().starts_with('(') && l.contains("', '"))
            .count();
        assert_eq!(rows as u64, ROLES);
    }
}

#[cfg(test)]
mod workload_tests {
    use super::WORKLOAD_TOML;

    /// The dashboard query of docs/scenario-adx-core.md, character for character.
    const DASHBOARD: &str = "SELECT u.*, p.*, r.role_name
FROM users u
LEFT JOIN profiles p ON u.id = p.user_id
LEFT JOIN roles r ON u.role_id = r.id
WHERE u.created_at > NOW() - INTERVAL '30 days'
ORDER BY u.last_login DESC
LIMIT 50;";

    fn parsed() -> toml::Table {
        WORKLOAD_TOML
            .parse::<toml::Table>()
            .expect("the workload file is TOML")
    }

    /// The highest `$n` in `sql` (0 when there is none).
    fn max_placeholder(sql: &str) -> usize {
        let b = sql.as_bytes();
        let mut max = 0;
        for (i, _) in sql.match_indices('$') {
            let digits: String = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .map(|&c| c as char)
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                max = max.max(n);
            }
        }
        max
    }

    /// Every statement of the file: (name, sql, number of params).
    fn statements() -> Vec<(String, String, usize)> {
        let t = parsed();
        let mut out = Vec::new();
        let mut add = |q: &toml::Value| {
            let name = q
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            let sql = q
                .get("sql")
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            let params = q
                .get("params")
                .and_then(|v| v.as_array())
                .map_or(0, |a| a.len());
            out.push((name, sql, params));
        };
        for q in t
            .get("query")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            add(q);
        }
        for s in t
            .get("sequence")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            for q in s
                .get("step")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
            {
                add(q);
            }
        }
        out
    }

    #[test]
    fn contains_the_scenario_dashboard_query_verbatim() {
        let t = parsed();
        let queries = t.get("query").and_then(|v| v.as_array()).expect("queries");
        assert!(queries
            .iter()
            .any(|q| q.get("sql").and_then(|s| s.as_str()).map(str::trim) == Some(DASHBOARD)));
    }

    #[test]
    fn every_placeholder_has_a_generator() {
        let stmts = statements();
        assert!(stmts.len() >= 12, "{}", stmts.len());
        for (name, sql, params) in stmts {
            assert!(!sql.is_empty(), "{name}");
            assert_eq!(
                max_placeholder(&sql),
                params,
                "{name}: placeholders vs params"
            );
        }
        assert_eq!(max_placeholder("SELECT $1, $12, '$'"), 12);
    }

    #[test]
    fn vars_cover_what_the_generators_use() {
        let t = parsed();
        let vars = t.get("vars").and_then(|v| v.as_table()).expect("[vars]");
        for var in ["users", "profiles", "audit_logs", "sessions", "roles"] {
            assert!(vars.contains_key(var), "{var}");
        }
        for (k, v) in super::workload_vars(&super::DemoConfig::default()) {
            assert_eq!(
                vars.get(&k)
                    .and_then(|x| x.as_integer())
                    .map(|n| n.to_string()),
                Some(v),
                "{k}"
            );
        }
        let uses = WORKLOAD_TOML.matches("${").count();
        assert!(uses > 0);
        for part in WORKLOAD_TOML.split("${").skip(1) {
            let var = part.split('}').next().unwrap_or("");
            assert!(vars.contains_key(var), "undefined variable ${{{var}}}");
        }
    }

    #[test]
    fn weights_make_an_application_mix() {
        let t = parsed();
        let weight = |q: &toml::Value| q.get("weight").and_then(|w| w.as_integer()).unwrap_or(0);
        let queries = t.get("query").and_then(|v| v.as_array()).expect("queries");
        let total: i64 = queries.iter().map(weight).sum::<i64>()
            + t.get("sequence")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .map(weight)
                .sum::<i64>();
        let by_pk = queries
            .iter()
            .find(|q| q.get("name").and_then(|n| n.as_str()) == Some("user_by_id"))
            .map(weight)
            .unwrap_or(0);
        assert!(
            by_pk * 3 >= total,
            "point lookups dominate: {by_pk} of {total}"
        );
    }
}
