//! `pg_stat_statements` snapshots, read with whatever columns the installed
//! version has (PostgreSQL 13's `total_exec_time`, 14's `toplevel`, 17's
//! `stats_since`; older `total_time`).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use pgpilot_workload::pgss::{PgssEntry, PgssSnapshot};
use tokio_postgres::Client;

use crate::error::DbError;

/// Reads every `pg_stat_statements` row visible to this user, with database and
/// user names resolved. Errors with [`DbError::MissingExtension`] when the
/// extension is not created in this database or not preloaded.
pub async fn pgss_snapshot(client: &Client) -> Result<PgssSnapshot, DbError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'), \
                    current_setting('shared_preload_libraries'), current_database()",
            &[],
        )
        .await
        .map_err(|e| DbError::query("looking for pg_stat_statements", e))?;
    let (created, preload, db): (bool, String, String) = (row.get(0), row.get(1), row.get(2));
    if !preload.split(',').any(|l| l.trim() == "pg_stat_statements") {
        return Err(DbError::MissingExtension {
            extension: "pg_stat_statements".into(),
            hint: "add it to shared_preload_libraries in postgresql.conf and restart the server, then run CREATE EXTENSION pg_stat_statements".into(),
        });
    }
    if !created {
        return Err(DbError::MissingExtension {
            extension: "pg_stat_statements".into(),
            hint: format!("run CREATE EXTENSION pg_stat_statements; in database {db:?}"),
        });
    }
    let cols: HashSet<String> = client
        .query(
            "SELECT attname::text FROM pg_attribute \
             WHERE attrelid = 'pg_stat_statements'::regclass AND attnum > 0 AND NOT attisdropped",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading the pg_stat_statements columns", e))?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let time = |new: &str, old: &str| -> String {
        if cols.contains(new) {
            format!("s.{new}")
        } else if cols.contains(old) {
            format!("s.{old}")
        } else {
            "0::float8".into()
        }
    };
    let toplevel = if cols.contains("toplevel") {
        "s.toplevel"
    } else {
        "true"
    };
    let since = if cols.contains("stats_since") {
        "(extract(epoch FROM s.stats_since) * 1e6)::int8"
    } else {
        "NULL::int8"
    };
    let sql = format!(
        "SELECT s.queryid, COALESCE(s.query, ''), COALESCE(d.datname::text, s.dbid::text), \
                COALESCE(u.rolname::text, s.userid::text), {toplevel}, s.calls, \
                {total}, {mean}, {min}, {max}, {stddev}, s.rows, s.shared_blks_hit, s.shared_blks_read, \
                {since} \
         FROM pg_stat_statements s \
         LEFT JOIN pg_database d ON d.oid = s.dbid \
         LEFT JOIN pg_roles u ON u.oid = s.userid",
        total = time("total_exec_time", "total_time"),
        mean = time("mean_exec_time", "mean_time"),
        min = time("min_exec_time", "min_time"),
        max = time("max_exec_time", "max_time"),
        stddev = time("stddev_exec_time", "stddev_time"),
    );
    let rows = client
        .query(sql.as_str(), &[])
        .await
        .map_err(|e| DbError::query("reading pg_stat_statements", e))?;
    let entries = rows
        .into_iter()
        .filter(|r| r.get::<_, Option<i64>>(0).is_some())
        .map(|r| PgssEntry {
            queryid: r.get::<_, Option<i64>>(0).unwrap_or_default(),
            query: r.get(1),
            database: r.get(2),
            user: r.get(3),
            toplevel: r.get(4),
            calls: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
            total_exec_time: r.get(6),
            mean_exec_time: r.get(7),
            min_exec_time: r.get(8),
            max_exec_time: r.get(9),
            stddev_exec_time: r.get(10),
            rows: u64::try_from(r.get::<_, i64>(11)).unwrap_or(0),
            shared_blks_hit: u64::try_from(r.get::<_, i64>(12)).unwrap_or(0),
            shared_blks_read: u64::try_from(r.get::<_, i64>(13)).unwrap_or(0),
            stats_since_us: r.get(14),
        })
        .collect();
    let stats_reset_us = match client
        .query_opt(
            "SELECT (extract(epoch FROM stats_reset) * 1e6)::int8 FROM pg_stat_statements_info",
            &[],
        )
        .await
    {
        Ok(row) => row.and_then(|r| r.get::<_, Option<i64>>(0)),
        // pg_stat_statements before 1.9 has no info view.
        Err(_) => None,
    };
    let taken_at_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok());
    Ok(PgssSnapshot {
        taken_at_us,
        stats_reset_us,
        entries,
    })
}
