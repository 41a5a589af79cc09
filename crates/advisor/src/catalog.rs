//! Catalog facts the advisor reasons on: tables with their size, row width, write
//! rate and column statistics, and the existing indexes. `pgpilot-db` reads them
//! from the server; tests build them by hand.

use serde::{Deserialize, Serialize};

use crate::IndexDef;

/// One column of a table, with its planner statistics when analyzed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Column name.
    pub name: String,
    /// Type as `format_type` prints it (`bigint`, `timestamp with time zone`).
    pub type_name: String,
    /// NOT NULL.
    pub not_null: bool,
    /// `pg_stats.avg_width` in bytes.
    pub avg_width: Option<f64>,
    /// `pg_stats.n_distinct` (negative = fraction of rows).
    pub n_distinct: Option<f64>,
    /// `pg_stats.null_frac`.
    pub null_frac: Option<f64>,
    /// A few representative values as text (most common values, then histogram
    /// bounds), used as parameters for queries that have no captured samples.
    #[serde(default)]
    pub sample_values: Vec<String>,
    /// `pg_stats.correlation`: how closely the physical order of the rows
    /// follows the column's logical (sorted) order, from −1 (reversed) through
    /// 0 (scattered) to 1 (in order). Near ±1 (an append-only log's timestamp)
    /// a BRIN index's block ranges are narrow enough to serve range filters.
    #[serde(default)]
    pub correlation: Option<f64>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableInfo {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Live rows (`n_live_tup`, else `reltuples`).
    pub rows: f64,
    /// Average row width in bytes (sum of column widths plus tuple header).
    pub row_width: f64,
    /// Heap size in bytes.
    pub heap_bytes: u64,
    /// Rows written per second that touch every index (inserts, non-HOT updates,
    /// deletes), from `pg_stat_user_tables` over the statistics' age.
    pub writes_per_sec: f64,
    /// Rows changed since the last ANALYZE (stale statistics mislead what-if).
    pub mod_since_analyze: f64,
    /// Columns in attribute order.
    pub columns: Vec<ColumnInfo>,
}

impl TableInfo {
    /// `schema.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// An index that exists on the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExistingIndex {
    /// Index name.
    pub name: String,
    /// Its definition.
    pub def: IndexDef,
    /// `pg_get_indexdef`, for re-creating it after a drop.
    pub create_sql: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// `indisvalid` (an INVALID index is left over from a failed CONCURRENTLY build).
    pub valid: bool,
    /// Backs the primary key.
    pub primary: bool,
    /// Backs a constraint (primary key, unique, exclusion): never proposed for dropping.
    pub constraint: bool,
    /// `idx_scan` since the statistics reset.
    pub scans: u64,
}

/// Everything the advisor knows about the database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Tables (user tables only).
    pub tables: Vec<TableInfo>,
    /// Existing indexes on them.
    pub indexes: Vec<ExistingIndex>,
}

impl Catalog {
    /// A table by qualified name (`schema.table`), or by bare name when that is
    /// unambiguous.
    pub fn table(&self, name: &str) -> Option<&TableInfo> {
        if let Some(t) = self.tables.iter().find(|t| t.qualified_name() == name) {
            return Some(t);
        }
        let mut bare = self.tables.iter().filter(|t| t.table == name);
        match (bare.next(), bare.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }

    /// Existing valid indexes of a table (qualified name).
    pub fn indexes_on<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = &'a ExistingIndex> + 'a {
        self.indexes
            .iter()
            .filter(move |i| i.valid && i.def.qualified_table() == table)
    }
}
