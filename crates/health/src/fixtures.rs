//! Small [`HealthFacts`] builders for the rule tests.

use crate::facts::{HealthFacts, IndexColumn, IndexFacts, TableFacts};

/// A healthy, recently analyzed and vacuumed table in `public` with `rows` rows.
pub(crate) fn table(name: &str, rows: i64) -> TableFacts {
    TableFacts {
        schema: "public".into(),
        name: name.into(),
        table_bytes: rows * 100,
        total_bytes: rows * 150,
        reltuples: rows as f64,
        live_tuples: rows,
        dead_tuples: 0,
        mod_since_analyze: 0,
        seq_scan: 1,
        idx_scan: Some(0),
        heap_blks_hit: 0,
        heap_blks_read: 0,
        last_analyze_age_s: Some(3600.0),
        last_autoanalyze_age_s: None,
        last_vacuum_age_s: Some(3600.0),
        last_autovacuum_age_s: None,
        autovacuum_enabled: true,
        frozen_xid_age: Some(1000),
    }
}

/// A valid, used, non-unique B-tree on plain columns of `public.<table>`.
pub(crate) fn index(table: &str, name: &str, cols: &[&str]) -> IndexFacts {
    IndexFacts {
        schema: "public".into(),
        table: table.into(),
        name: name.into(),
        definition: format!(
            "CREATE INDEX {name} ON public.{table} USING btree ({})",
            cols.join(", ")
        ),
        method: "btree".into(),
        columns: cols
            .iter()
            .map(|c| IndexColumn {
                expr: (*c).into(),
                attname: Some((*c).into()),
                opclass: "int8_ops".into(),
                descending: false,
            })
            .collect(),
        include: vec![],
        predicate: None,
        unique: false,
        primary: false,
        constraint: None,
        valid: true,
        build_in_progress: false,
        bytes: 1 << 20,
        scans: 10,
        tuples_read: 10,
        tuples_fetched: 10,
        blks_hit: 0,
        blks_read: 0,
        reltuples: 1000.0,
        relpages: 10,
        key_avg_width: Some(8.0),
        key_nullable: false,
        fillfactor: None,
        created_age_s: None,
        partition_of_index: false,
    }
}

/// Facts holding just these tables and indexes.
pub(crate) fn facts(tables: Vec<TableFacts>, indexes: Vec<IndexFacts>) -> HealthFacts {
    HealthFacts {
        tables,
        indexes,
        ..HealthFacts::default()
    }
}
