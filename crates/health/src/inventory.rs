//! The index inventory — "document the current index strategy": every index with
//! its table, definition, size and usage, flagged unused / duplicate / redundant /
//! invalid, the per-table split of sequential vs index scans, and the overall index
//! cache hit and index usage ratios. Built purely from [`HealthFacts`].

use serde::{Deserialize, Serialize};

use crate::facts::{HealthFacts, Unavailable};
use crate::redundancy::{redundant_indexes, RedundancyKind};
use crate::rules::fk_without_index::index_serves_fk;

/// Tables with fewer rows are left out of the index usage ratio, as PgHero does: a
/// sequential scan of a small table is the right plan.
pub const INDEX_USAGE_MIN_ROWS: i64 = 10_000;

/// What is notable about an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexFlag {
    /// Never scanned since the statistics were reset, and enforces nothing
    /// (not unique, primary or a constraint's).
    Unused,
    /// Same key columns, method and predicate as another index.
    Duplicate,
    /// Its key columns are a prefix of another index's (same method and predicate).
    Redundant,
    /// `indisvalid = false`: maintained on every write, never used by queries.
    Invalid,
}

/// One index of the inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryIndex {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Index name.
    pub name: String,
    /// `pg_get_indexdef`.
    pub definition: String,
    /// Access method.
    pub method: String,
    /// Key columns (or expressions), in order.
    pub columns: Vec<String>,
    /// WHERE clause of a partial index.
    pub predicate: Option<String>,
    /// UNIQUE.
    pub unique: bool,
    /// Primary key.
    pub primary: bool,
    /// Size in bytes.
    pub bytes: i64,
    /// Index scans.
    pub scans: i64,
    /// Index entries returned by scans.
    pub tuples_read: i64,
    /// Live table rows fetched by simple index scans.
    pub tuples_fetched: i64,
    /// Flags, in a stable order.
    pub flags: Vec<IndexFlag>,
    /// For a duplicate or redundant index, the index that covers it.
    pub covered_by: Option<String>,
    /// Foreign keys of its table this index can serve (their columns are its
    /// leading key columns): a delete or key update on the referenced table
    /// looks rows up through it, even when no query of the workload does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<String>,
}

/// Sequential vs index scans of one table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableScans {
    /// Schema.
    pub schema: String,
    /// Table.
    pub table: String,
    /// Estimated live rows.
    pub live_rows: i64,
    /// Heap size in bytes.
    pub table_bytes: i64,
    /// Size of all its indexes in bytes.
    pub index_bytes: i64,
    /// Sequential scans.
    pub seq_scan: i64,
    /// Index scans (0 when the table has no index).
    pub idx_scan: i64,
    /// Index scans ÷ all scans, percent; `None` before any scan.
    pub index_usage_percent: Option<f64>,
}

/// The whole inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexInventory {
    /// Every index, by schema, table and name.
    pub indexes: Vec<InventoryIndex>,
    /// Every table, by schema and name.
    pub tables: Vec<TableScans>,
    /// Index blocks found in shared buffers ÷ all index blocks touched, percent;
    /// `None` before any index block was touched.
    pub index_hit_ratio: Option<f64>,
    /// Index scans ÷ all scans over tables of at least [`INDEX_USAGE_MIN_ROWS`]
    /// rows, percent; `None` when there was no such scan.
    pub index_usage_ratio: Option<f64>,
    /// Total size of all indexes, bytes.
    pub total_index_bytes: i64,
    /// Facts that could not be read.
    pub unavailable: Vec<Unavailable>,
}

pub(crate) fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// Builds the inventory from collected facts.
pub fn index_inventory(facts: &HealthFacts) -> IndexInventory {
    let redundancy = redundant_indexes(&facts.indexes);
    let mut indexes: Vec<InventoryIndex> = facts
        .indexes
        .iter()
        .enumerate()
        .map(|(pos, i)| {
            let mut flags = Vec::new();
            if i.valid
                && i.scans == 0
                && !i.unique
                && !i.primary
                && i.constraint.is_none()
                && !i.partition_of_index
            {
                flags.push(IndexFlag::Unused);
            }
            let mut covered_by = None;
            if let Some(r) = redundancy.iter().find(|r| r.index == pos) {
                flags.push(match r.kind {
                    RedundancyKind::Duplicate => IndexFlag::Duplicate,
                    RedundancyKind::Redundant => IndexFlag::Redundant,
                });
                covered_by = facts.indexes.get(r.covered_by).map(|c| c.name.clone());
            }
            if !i.valid {
                flags.push(IndexFlag::Invalid);
            }
            flags.sort_unstable();
            InventoryIndex {
                schema: i.schema.clone(),
                table: i.table.clone(),
                name: i.name.clone(),
                definition: i.definition.clone(),
                method: i.method.clone(),
                columns: i.columns.iter().map(|c| c.expr.clone()).collect(),
                predicate: i.predicate.clone(),
                unique: i.unique,
                primary: i.primary,
                bytes: i.bytes,
                scans: i.scans,
                tuples_read: i.tuples_read,
                tuples_fetched: i.tuples_fetched,
                flags,
                covered_by,
                foreign_keys: facts
                    .foreign_keys
                    .iter()
                    .filter(|fk| index_serves_fk(i, fk))
                    .map(|fk| fk.name.clone())
                    .collect(),
            }
        })
        .collect();
    indexes.sort_by(|a, b| (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name)));

    let mut tables: Vec<TableScans> = facts
        .tables
        .iter()
        .map(|t| {
            let idx_scan = t.idx_scan.unwrap_or(0);
            TableScans {
                schema: t.schema.clone(),
                table: t.name.clone(),
                live_rows: t.live_tuples,
                table_bytes: t.table_bytes,
                index_bytes: facts
                    .indexes
                    .iter()
                    .filter(|i| i.schema == t.schema && i.table == t.name)
                    .map(|i| i.bytes)
                    .sum(),
                seq_scan: t.seq_scan,
                idx_scan,
                index_usage_percent: percent(idx_scan, idx_scan + t.seq_scan),
            }
        })
        .collect();
    tables.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)));

    let (hit, read) = facts
        .indexes
        .iter()
        .fold((0i64, 0i64), |(h, r), i| (h + i.blks_hit, r + i.blks_read));
    let (is, ss) = facts
        .tables
        .iter()
        .filter(|t| t.rows() >= INDEX_USAGE_MIN_ROWS)
        .fold((0i64, 0i64), |(is, ss), t| {
            (is + t.idx_scan.unwrap_or(0), ss + t.seq_scan)
        });
    IndexInventory {
        total_index_bytes: facts.indexes.iter().map(|i| i.bytes).sum(),
        indexes,
        tables,
        index_hit_ratio: percent(hit, hit + read),
        index_usage_ratio: percent(is, is + ss),
        unavailable: facts.unavailable.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index, table};

    #[test]
    fn flags_and_ratios() {
        let mut unused = index("t", "t_c_idx", &["c"]);
        unused.scans = 0;
        let mut invalid = index("t", "t_d_idx", &["d"]);
        invalid.valid = false;
        let mut pk = index("t", "t_pkey", &["id"]);
        pk.primary = true;
        pk.unique = true;
        pk.scans = 0;
        pk.blks_hit = 990;
        pk.blks_read = 10;
        let mut big = table("t", 20_000);
        big.seq_scan = 1;
        big.idx_scan = Some(3);
        let mut small = table("s", 10);
        small.seq_scan = 100;
        let f = facts(
            vec![big, small],
            vec![
                index("t", "t_a_idx", &["a"]),
                index("t", "t_a_b_idx", &["a", "b"]),
                unused,
                invalid,
                pk,
            ],
        );
        let inv = index_inventory(&f);
        let flags = |n: &str| {
            inv.indexes
                .iter()
                .find(|i| i.name == n)
                .map(|i| i.flags.clone())
                .unwrap_or_default()
        };
        assert_eq!(flags("t_a_idx"), vec![IndexFlag::Redundant]);
        assert_eq!(flags("t_a_b_idx"), vec![]);
        assert_eq!(flags("t_c_idx"), vec![IndexFlag::Unused]);
        assert_eq!(flags("t_d_idx"), vec![IndexFlag::Invalid]);
        assert_eq!(flags("t_pkey"), vec![]);
        assert_eq!(inv.index_hit_ratio, Some(99.0));
        assert_eq!(
            inv.index_usage_ratio,
            Some(75.0),
            "the small table is left out"
        );
        assert_eq!(inv.tables[0].table, "s");
        let json = serde_json::to_value(&inv).unwrap_or_default();
        assert_eq!(json["indexes"][1]["name"], "t_a_idx");
        assert_eq!(json["indexes"][1]["flags"][0], "redundant");
    }

    #[test]
    fn indexes_name_the_foreign_keys_they_serve() {
        let mut f = facts(
            vec![table("t", 1000)],
            vec![
                index("t", "t_a_b_idx", &["a", "b"]),
                index("t", "t_b_idx", &["b"]),
                index("t", "t_c_idx", &["c"]),
            ],
        );
        f.foreign_keys.push(crate::facts::ForeignKeyFacts {
            name: "t_b_a_fkey".into(),
            schema: "public".into(),
            table: "t".into(),
            columns: vec!["b".into(), "a".into()],
            referenced_schema: "public".into(),
            referenced_table: "p".into(),
            referenced_columns: vec!["x".into(), "y".into()],
            on_delete: "NO ACTION".into(),
        });
        let inv = index_inventory(&f);
        let fks = |n: &str| {
            inv.indexes
                .iter()
                .find(|i| i.name == n)
                .map(|i| i.foreign_keys.clone())
                .unwrap_or_default()
        };
        // (a, b) leads with the key's columns in another order: it serves it.
        assert_eq!(fks("t_a_b_idx"), vec!["t_b_a_fkey".to_string()]);
        assert!(fks("t_b_idx").is_empty() && fks("t_c_idx").is_empty());
    }
}
