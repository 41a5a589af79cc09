//! Facts from outside the plan that sharpen the findings: per-table statistics
//! freshness, as read from `pg_stat_user_tables` by the caller.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Optional facts about the database the plan ran on. `Context::default()` is
/// fine: the rules then reason from the plan alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Facts per table, keyed by `schema.table` or bare `table`.
    pub tables: BTreeMap<String, TableFacts>,
}

/// Statistics freshness of one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableFacts {
    /// Live rows (`n_live_tup`).
    pub live_rows: Option<f64>,
    /// Rows modified since the last ANALYZE (`n_mod_since_analyze`).
    pub mod_since_analyze: Option<f64>,
    /// Seconds since the last (auto)analyze, when it ever ran.
    pub last_analyze_age_secs: Option<f64>,
    /// True when the table was never analyzed.
    pub never_analyzed: bool,
}

impl TableFacts {
    /// True when the planner's statistics are likely out of date: never analyzed,
    /// or more rows modified since the last ANALYZE than autovacuum's default
    /// analyze threshold (50 + 10 % of the table).
    pub fn stats_stale(&self) -> bool {
        if self.never_analyzed {
            return true;
        }
        match (self.mod_since_analyze, self.live_rows) {
            (Some(m), Some(live)) => m > 50.0 + 0.1 * live,
            (Some(m), None) => m > 1000.0,
            _ => false,
        }
    }
}

impl Context {
    /// Facts for a table: tried as `schema.table`, `table`, then `public.table`.
    pub fn table(&self, schema: Option<&str>, table: &str) -> Option<&TableFacts> {
        if let Some(s) = schema {
            if let Some(f) = self.tables.get(&format!("{s}.{table}")) {
                return Some(f);
            }
        }
        self.tables
            .get(table)
            .or_else(|| self.tables.get(&format!("public.{table}")))
    }

    /// Adds facts for a table (builder style).
    pub fn with_table(mut self, name: impl Into<String>, facts: TableFacts) -> Self {
        self.tables.insert(name.into(), facts);
        self
    }
}
