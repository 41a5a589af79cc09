//! Tables with sizes, tuple counters, scan counters and maintenance ages.

use pgpilot_health::TableFacts;
use tokio_postgres::Client;

use super::{get, query, USER_SCHEMAS};
use crate::error::DbError;

const SOURCE: &str = "tables (pg_stat_user_tables)";

/// Every user table, materialized view and partitioned table of the current database.
pub(crate) async fn tables(client: &Client) -> Result<Vec<TableFacts>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, \
                pg_relation_size(c.oid)::int8, pg_total_relation_size(c.oid)::int8, \
                c.reltuples::float8, COALESCE(s.n_live_tup, 0)::int8, \
                COALESCE(s.n_dead_tup, 0)::int8, COALESCE(s.n_mod_since_analyze, 0)::int8, \
                COALESCE(s.seq_scan, 0)::int8, s.idx_scan::int8, \
                COALESCE(io.heap_blks_hit, 0)::int8, COALESCE(io.heap_blks_read, 0)::int8, \
                extract(epoch FROM now() - s.last_analyze)::float8, \
                extract(epoch FROM now() - s.last_autoanalyze)::float8, \
                extract(epoch FROM now() - s.last_vacuum)::float8, \
                extract(epoch FROM now() - s.last_autovacuum)::float8, \
                NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) o \
                            WHERE lower(o) IN ('autovacuum_enabled=false', 'autovacuum_enabled=off', \
                                               'autovacuum_enabled=0', 'autovacuum_enabled=no', \
                                               'autovacuum_enabled=f')), \
                CASE WHEN c.relkind IN ('r', 'm', 't') THEN age(c.relfrozenxid)::int8 END \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
         LEFT JOIN pg_statio_user_tables io ON io.relid = c.oid \
         WHERE c.relkind IN ('r', 'm', 'p') AND {USER_SCHEMAS} \
         ORDER BY 1, 2"
    );
    let rows = query(client, SOURCE, &sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(TableFacts {
            schema: get(r, 0, SOURCE)?,
            name: get(r, 1, SOURCE)?,
            table_bytes: get(r, 2, SOURCE)?,
            total_bytes: get(r, 3, SOURCE)?,
            reltuples: get(r, 4, SOURCE)?,
            live_tuples: get(r, 5, SOURCE)?,
            dead_tuples: get(r, 6, SOURCE)?,
            mod_since_analyze: get(r, 7, SOURCE)?,
            seq_scan: get(r, 8, SOURCE)?,
            idx_scan: get(r, 9, SOURCE)?,
            heap_blks_hit: get(r, 10, SOURCE)?,
            heap_blks_read: get(r, 11, SOURCE)?,
            last_analyze_age_s: get(r, 12, SOURCE)?,
            last_autoanalyze_age_s: get(r, 13, SOURCE)?,
            last_vacuum_age_s: get(r, 14, SOURCE)?,
            last_autovacuum_age_s: get(r, 15, SOURCE)?,
            autovacuum_enabled: get(r, 16, SOURCE)?,
            frozen_xid_age: get(r, 17, SOURCE)?,
        });
    }
    Ok(out)
}
