//! Reads of the server's cumulative statistics views, taken before and after a run
//! so that ratios describe the run itself rather than the server's whole life.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::error::DbError;

/// Tables with fewer live rows than this are left out of the index usage ratio
/// (the same bound as the health audit's inventory).
pub use pgpilot_health::inventory::INDEX_USAGE_MIN_ROWS;

/// Cumulative per-table counters of one moment.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableCounters {
    /// `schema.table`.
    pub name: String,
    /// Estimated live rows.
    pub live_rows: i64,
    /// Sequential scans started.
    pub seq_scan: i64,
    /// Index scans started.
    pub idx_scan: i64,
    /// Index blocks found in shared buffers.
    pub idx_blks_hit: i64,
    /// Index blocks read from the kernel.
    pub idx_blks_read: i64,
    /// Heap blocks found in shared buffers.
    pub heap_blks_hit: i64,
    /// Heap blocks read from the kernel.
    pub heap_blks_read: i64,
}

/// Cumulative counters of all user tables of the current database, keyed by table oid.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Counters {
    /// Per table, keyed by `pg_class.oid`.
    pub tables: HashMap<u32, TableCounters>,
}

/// Ratios over the interval between two [`Counters`] snapshots, in percent.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct IntervalRatios {
    /// Index blocks hit ÷ (hit + read), percent; `None` when no index block was touched.
    pub index_hit_ratio: Option<f64>,
    /// Heap blocks hit ÷ (hit + read), percent; `None` when no heap block was touched.
    pub table_hit_ratio: Option<f64>,
    /// Index scans ÷ all scans on tables over [`INDEX_USAGE_MIN_ROWS`] rows, percent.
    pub index_usage_ratio: Option<f64>,
}

/// Reads the per-table counters of the current database.
pub async fn counters(client: &Client) -> Result<Counters, DbError> {
    let rows = client
        .query(
            "SELECT t.relid::oid::int8, t.schemaname || '.' || t.relname, \
                    COALESCE(t.n_live_tup, 0), COALESCE(t.seq_scan, 0), COALESCE(t.idx_scan, 0), \
                    COALESCE(io.idx_blks_hit, 0), COALESCE(io.idx_blks_read, 0), \
                    COALESCE(io.heap_blks_hit, 0), COALESCE(io.heap_blks_read, 0) \
             FROM pg_stat_user_tables t \
             JOIN pg_statio_user_tables io USING (relid)",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading pg_stat_user_tables", e))?;
    let mut tables = HashMap::with_capacity(rows.len());
    for r in rows {
        let oid: i64 = r.get(0);
        tables.insert(
            oid as u32,
            TableCounters {
                name: r.get(1),
                live_rows: r.get(2),
                seq_scan: r.get(3),
                idx_scan: r.get(4),
                idx_blks_hit: r.get(5),
                idx_blks_read: r.get(6),
                heap_blks_hit: r.get(7),
                heap_blks_read: r.get(8),
            },
        );
    }
    Ok(Counters { tables })
}

impl Counters {
    /// Ratios over the interval from `self` (earlier) to `later`. Tables created
    /// during the interval count from zero; counters that went backwards (a stats
    /// reset) count from zero too.
    pub fn ratios_until(&self, later: &Counters) -> IntervalRatios {
        let (mut ih, mut ir, mut hh, mut hr, mut is, mut ss) = (0i64, 0i64, 0i64, 0i64, 0i64, 0i64);
        for (oid, after) in &later.tables {
            let zero = TableCounters::default();
            let before = self.tables.get(oid).unwrap_or(&zero);
            let d = |a: i64, b: i64| if a >= b { a - b } else { a };
            ih += d(after.idx_blks_hit, before.idx_blks_hit);
            ir += d(after.idx_blks_read, before.idx_blks_read);
            hh += d(after.heap_blks_hit, before.heap_blks_hit);
            hr += d(after.heap_blks_read, before.heap_blks_read);
            if after.live_rows.max(before.live_rows) >= INDEX_USAGE_MIN_ROWS {
                is += d(after.idx_scan, before.idx_scan);
                ss += d(after.seq_scan, before.seq_scan);
            }
        }
        IntervalRatios {
            index_hit_ratio: percent(ih, ih + ir),
            table_hit_ratio: percent(hh, hh + hr),
            index_usage_ratio: percent(is, is + ss),
        }
    }
}

fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * 100.0 / whole as f64)
}

/// The server's `max_connections`.
pub async fn max_connections(client: &Client) -> Result<i64, DbError> {
    let row = client
        .query_one("SELECT current_setting('max_connections')::int8", &[])
        .await
        .map_err(|e| DbError::query("reading max_connections", e))?;
    Ok(row.get(0))
}

/// Client backends connected to the server right now (all databases).
pub async fn client_connections(client: &Client) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'",
            &[],
        )
        .await
        .map_err(|e| DbError::query("counting connections", e))?;
    Ok(row.get(0))
}

/// Client backends with the given `application_name`.
pub async fn connections_named(client: &Client, application_name: &str) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .map_err(|e| DbError::query("counting connections", e))?;
    Ok(row.get(0))
}

/// Calls per statement text in `pg_stat_statements` for the current database, summed
/// over users and top-level flags; `None` when the extension is not installed here.
pub async fn statement_calls(client: &Client) -> Result<Option<HashMap<String, i64>>, DbError> {
    let present = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')",
            &[],
        )
        .await
        .map_err(|e| DbError::query("looking for pg_stat_statements", e))?;
    if !present.get::<_, bool>(0) {
        return Ok(None);
    }
    let rows = client
        .query(
            "SELECT coalesce(query, ''), sum(calls)::int8 FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             GROUP BY 1",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading pg_stat_statements", e))?;
    Ok(Some(
        rows.into_iter().map(|r| (r.get(0), r.get(1))).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(rows: i64, seq: i64, idx: i64, ih: i64, ir: i64) -> TableCounters {
        TableCounters {
            name: "public.t".into(),
            live_rows: rows,
            seq_scan: seq,
            idx_scan: idx,
            idx_blks_hit: ih,
            idx_blks_read: ir,
            heap_blks_hit: 0,
            heap_blks_read: 0,
        }
    }

    #[test]
    fn ratios_are_over_the_interval_and_skip_small_tables() {
        let before = Counters {
            tables: [(1, t(50_000, 100, 0, 1000, 1000)), (2, t(10, 5, 0, 0, 0))].into(),
        };
        let after = Counters {
            tables: [
                (1, t(50_000, 110, 30, 1990, 1010)),
                (2, t(10, 500, 0, 0, 0)),
                (3, t(20_000, 0, 10, 0, 0)),
            ]
            .into(),
        };
        let r = before.ratios_until(&after);
        assert_eq!(r.index_hit_ratio, Some(99.0));
        // big tables: 40 index scans, 10 seq scans; the small table's 495 are ignored
        assert_eq!(r.index_usage_ratio, Some(80.0));
        assert_eq!(r.table_hit_ratio, None);
    }

    #[test]
    fn a_stats_reset_counts_from_zero() {
        let before = Counters {
            tables: [(1, t(50_000, 100, 100, 1000, 0))].into(),
        };
        let after = Counters {
            tables: [(1, t(50_000, 1, 3, 9, 1))].into(),
        };
        let r = before.ratios_until(&after);
        assert_eq!(r.index_hit_ratio, Some(90.0));
        assert_eq!(r.index_usage_ratio, Some(75.0));
    }
}
