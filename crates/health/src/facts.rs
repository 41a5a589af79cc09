//! [`HealthFacts`]: what the database crate reads from the catalog and the
//! statistics views, as plain serde structs. Counters are as PostgreSQL reports them
//! (cumulative since the last statistics reset); ages are in seconds, computed by
//! the server (`now() - timestamp`), so no clock is needed here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything the health checks and the index inventory look at, for one database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthFacts {
    /// Server and database identity.
    pub server: ServerFacts,
    /// User tables (and materialized views) of the current database.
    pub tables: Vec<TableFacts>,
    /// Indexes on those tables.
    pub indexes: Vec<IndexFacts>,
    /// Foreign keys whose referencing (child) table is a user table.
    pub foreign_keys: Vec<ForeignKeyFacts>,
    /// Sequences, with how far they have run.
    pub sequences: Vec<SequenceFacts>,
    /// Constraints marked NOT VALID.
    pub invalid_constraints: Vec<ConstraintFacts>,
    /// Transaction-id ages (wraparound); `None` when unreadable.
    pub transaction_ids: Option<XidFacts>,
    /// Sessions and connections; `None` when `pg_stat_activity` is unreadable.
    pub activity: Option<ActivityFacts>,
    /// Server settings the checks use (`max_connections`, `block_size`, …), by name.
    pub settings: BTreeMap<String, String>,
    /// What could not be read (missing privilege, missing view), so a report can say
    /// which checks did not run.
    pub unavailable: Vec<Unavailable>,
}

/// A source of facts that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unavailable {
    /// Which facts are missing (`tables`, `indexes`, `activity`, …).
    pub source: String,
    /// The server's message.
    pub reason: String,
    /// The SQLSTATE, when the server sent one (`42501`: insufficient privilege).
    pub sqlstate: Option<String>,
}

/// Server and database identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerFacts {
    /// `server_version_num` (e.g. 150004).
    pub version_num: i64,
    /// The current database.
    pub database: String,
    /// The connected user.
    pub user: String,
    /// Seconds since the database's statistics were last reset, when known.
    pub stats_reset_age_s: Option<f64>,
}

/// One table (`pg_stat_user_tables` joined with `pg_class` and `pg_statio_user_tables`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableFacts {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Heap size in bytes (`pg_relation_size`).
    pub table_bytes: i64,
    /// Heap + indexes + TOAST in bytes (`pg_total_relation_size`).
    pub total_bytes: i64,
    /// `pg_class.reltuples` (the planner's row estimate; `-1` when never analyzed or
    /// vacuumed on PostgreSQL 14+).
    pub reltuples: f64,
    /// `n_live_tup`.
    pub live_tuples: i64,
    /// `n_dead_tup`.
    pub dead_tuples: i64,
    /// `n_mod_since_analyze`: rows inserted, updated or deleted since the last ANALYZE.
    pub mod_since_analyze: i64,
    /// `seq_scan`.
    pub seq_scan: i64,
    /// `idx_scan` (`None` when the table has no index).
    pub idx_scan: Option<i64>,
    /// Heap blocks found in shared buffers.
    pub heap_blks_hit: i64,
    /// Heap blocks read from the kernel.
    pub heap_blks_read: i64,
    /// Seconds since the last manual ANALYZE.
    pub last_analyze_age_s: Option<f64>,
    /// Seconds since the last autoanalyze.
    pub last_autoanalyze_age_s: Option<f64>,
    /// Seconds since the last manual VACUUM.
    pub last_vacuum_age_s: Option<f64>,
    /// Seconds since the last autovacuum.
    pub last_autovacuum_age_s: Option<f64>,
    /// False when the table has `autovacuum_enabled = false`.
    pub autovacuum_enabled: bool,
    /// `age(relfrozenxid)`, when readable.
    pub frozen_xid_age: Option<i64>,
}

impl TableFacts {
    /// `schema.name`, unquoted, for display.
    pub fn display_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }

    /// Seconds since the most recent ANALYZE, manual or automatic; `None` if never.
    pub fn last_analyzed_age_s(&self) -> Option<f64> {
        min_opt(self.last_analyze_age_s, self.last_autoanalyze_age_s)
    }

    /// Seconds since the most recent VACUUM, manual or automatic; `None` if never.
    pub fn last_vacuumed_age_s(&self) -> Option<f64> {
        min_opt(self.last_vacuum_age_s, self.last_autovacuum_age_s)
    }

    /// The best row count at hand: the larger of `n_live_tup` and `reltuples`.
    pub fn rows(&self) -> i64 {
        self.live_tuples.max(self.reltuples.max(0.0) as i64)
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One key or INCLUDE column of an index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumn {
    /// The column or expression as `pg_get_indexdef(index, n, true)` shows it.
    pub expr: String,
    /// The column's name when the key is a plain column, `None` for an expression.
    pub attname: Option<String>,
    /// The operator class (empty for INCLUDE columns).
    pub opclass: String,
    /// Sorted descending.
    pub descending: bool,
}

/// One index (`pg_index`, `pg_class`, `pg_stat_user_indexes`, `pg_statio_user_indexes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexFacts {
    /// Schema.
    pub schema: String,
    /// Table the index is on.
    pub table: String,
    /// Index name.
    pub name: String,
    /// `pg_get_indexdef(index)`.
    pub definition: String,
    /// Access method (`btree`, `gin`, …).
    pub method: String,
    /// Key columns, in order.
    pub columns: Vec<IndexColumn>,
    /// INCLUDE columns.
    pub include: Vec<IndexColumn>,
    /// The WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// UNIQUE.
    pub unique: bool,
    /// Backs the primary key.
    pub primary: bool,
    /// Backs a constraint (primary key, unique, exclusion).
    pub constraint: Option<String>,
    /// `indisvalid`: false after a failed `CREATE INDEX CONCURRENTLY`.
    pub valid: bool,
    /// A `CREATE INDEX` / `REINDEX` is building it right now.
    pub build_in_progress: bool,
    /// Size in bytes.
    pub bytes: i64,
    /// `idx_scan`.
    pub scans: i64,
    /// `idx_tup_read`.
    pub tuples_read: i64,
    /// `idx_tup_fetch`.
    pub tuples_fetched: i64,
    /// Index blocks found in shared buffers.
    pub blks_hit: i64,
    /// Index blocks read from the kernel.
    pub blks_read: i64,
    /// `pg_class.reltuples` of the index.
    pub reltuples: f64,
    /// `pg_class.relpages` of the index.
    pub relpages: i64,
    /// Sum of `pg_stats.avg_width` over the key columns, when every key column is a
    /// plain column with statistics (feeds the bloat estimate).
    pub key_avg_width: Option<f64>,
    /// Whether any key column is nullable (adds the null bitmap to the estimate).
    pub key_nullable: bool,
    /// The index's `fillfactor` (default 90 for B-trees).
    pub fillfactor: Option<i64>,
    /// Seconds since the index was created, when known: PostgreSQL does not
    /// record it, pgpilot's journal does for the indexes `apply` created.
    #[serde(default)]
    pub created_age_s: Option<f64>,
    /// Attached to a partitioned index (the index of a partition): it cannot be
    /// dropped on its own, so it is never called unused or a duplicate. The
    /// partitioned index carries the sizes and scans of all its partitions'.
    #[serde(default)]
    pub partition_of_index: bool,
}

impl IndexFacts {
    /// `schema.table`, unquoted, for display.
    pub fn table_display(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// One foreign key constraint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyFacts {
    /// Constraint name.
    pub name: String,
    /// Schema of the referencing (child) table.
    pub schema: String,
    /// Referencing (child) table.
    pub table: String,
    /// Referencing columns, in constraint order.
    pub columns: Vec<String>,
    /// Schema of the referenced (parent) table.
    pub referenced_schema: String,
    /// Referenced (parent) table.
    pub referenced_table: String,
    /// Referenced columns.
    pub referenced_columns: Vec<String>,
    /// `ON DELETE` action (`NO ACTION`, `CASCADE`, …).
    pub on_delete: String,
}

/// One sequence (`pg_sequences`), with the column it feeds when owned by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceFacts {
    /// Schema.
    pub schema: String,
    /// Sequence name.
    pub name: String,
    /// Data type (`integer`, `bigint`, `smallint`).
    pub data_type: String,
    /// `last_value` (`None` when never used or not readable).
    pub last_value: Option<i64>,
    /// `min_value`.
    pub min_value: i64,
    /// `max_value`.
    pub max_value: i64,
    /// `increment_by`.
    pub increment: i64,
    /// Wraps around at the end (CYCLE).
    pub cycle: bool,
    /// The column the sequence is owned by (serial / identity), when any.
    pub owned_by: Option<SequenceOwner>,
}

/// The column a sequence feeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceOwner {
    /// Schema of the table.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Column.
    pub column: String,
    /// The column's type (`integer`, `bigint`, `smallint`, …).
    pub data_type: String,
}

/// A constraint marked NOT VALID (`pg_constraint.convalidated = false`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintFacts {
    /// Schema of the table.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Constraint name.
    pub name: String,
    /// Kind: `foreign key` or `check`.
    pub kind: String,
    /// `pg_get_constraintdef`.
    pub definition: String,
}

/// Transaction-id and multixact ages (wraparound).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XidFacts {
    /// `age(datfrozenxid)` of the current database.
    pub database_age: i64,
    /// `mxid_age(datminmxid)` of the current database, when available.
    pub database_multixact_age: Option<i64>,
    /// The highest `age(datfrozenxid)` over all databases of the server.
    pub cluster_max_age: i64,
    /// `autovacuum_freeze_max_age`.
    pub autovacuum_freeze_max_age: i64,
}

/// Sessions and connections (`pg_stat_activity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityFacts {
    /// Client backends connected to the server (all databases).
    pub total_connections: i64,
    /// `max_connections`.
    pub max_connections: i64,
    /// `superuser_reserved_connections`.
    pub reserved_connections: i64,
    /// Client backends per state (`active`, `idle`, `idle in transaction`, …).
    pub by_state: BTreeMap<String, i64>,
    /// Whether other users' query texts were visible (superuser or `pg_read_all_stats`).
    pub all_queries_visible: bool,
    /// Client sessions other than pgpilot's own that are not idle: running a query
    /// or idle inside a transaction.
    pub sessions: Vec<SessionFacts>,
}

/// One client session that is not idle.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFacts {
    /// Backend pid.
    pub pid: i32,
    /// Database.
    pub database: Option<String>,
    /// User.
    pub user: Option<String>,
    /// `application_name`.
    pub application: Option<String>,
    /// `state` (`active`, `idle in transaction`, …).
    pub state: String,
    /// Seconds since the current query started.
    pub query_age_s: Option<f64>,
    /// Seconds since the transaction started.
    pub xact_age_s: Option<f64>,
    /// Seconds since the state last changed.
    pub state_age_s: Option<f64>,
    /// `wait_event_type: wait_event`, when waiting.
    pub wait: Option<String>,
    /// The query text (the last one when idle in transaction), when visible.
    pub query: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index, table};

    #[test]
    fn facts_round_trip_through_json() {
        let mut f = facts(vec![table("t", 10)], vec![index("t", "t_a_idx", &["a"])]);
        f.unavailable.push(Unavailable {
            source: "activity".into(),
            reason: "permission denied for view pg_stat_activity".into(),
            sqlstate: Some("42501".into()),
        });
        f.settings.insert("block_size".into(), "8192".into());
        let json = serde_json::to_string(&f).unwrap_or_default();
        let back: HealthFacts = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, f);
        assert!(f.tables[0].last_analyzed_age_s() == Some(3600.0));
        assert_eq!(f.tables[0].display_name(), "public.t");
    }
}
