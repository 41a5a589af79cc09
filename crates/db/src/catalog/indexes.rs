//! Indexes with definition, columns, flags, size and usage counters; the key
//! widths from `pg_stats` that feed the bloat estimate; indexes being built;
//! the age of the indexes pgpilot created.

use std::collections::{HashMap, HashSet};

use pgpilot_health::{IndexColumn, IndexFacts};
use tokio_postgres::Client;

use super::{get, query, USER_SCHEMAS};
use crate::error::DbError;

const SOURCE: &str = "indexes (pg_index, pg_stat_user_indexes)";
const WIDTHS: &str = "index key widths (pg_stats)";
const PROGRESS: &str = "index builds in progress (pg_stat_progress_create_index)";
const JOURNAL: &str = "indexes created by pgpilot (pgpilot.changes)";

/// Every index on a user table, with its oid (to match builds in progress).
pub(crate) async fn indexes(client: &Client) -> Result<Vec<(i64, IndexFacts)>, DbError> {
    let sql = format!(
        "SELECT i.indexrelid::oid::int8, n.nspname::text, t.relname::text, ic.relname::text, \
                pg_get_indexdef(i.indexrelid), am.amname::text, i.indnkeyatts::int4, \
                pg_get_expr(i.indpred, i.indrelid), i.indisunique, i.indisprimary, \
                (SELECT con.conname::text FROM pg_constraint con \
                 WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
                   AND con.contype IN ('p', 'u', 'x') LIMIT 1), \
                i.indisvalid, \
                COALESCE(part.bytes, pg_relation_size(i.indexrelid))::int8, \
                COALESCE(part.scans, s.idx_scan, 0)::int8, \
                COALESCE(part.tup_read, s.idx_tup_read, 0)::int8, \
                COALESCE(part.tup_fetch, s.idx_tup_fetch, 0)::int8, \
                COALESCE(part.blks_hit, io.idx_blks_hit, 0)::int8, \
                COALESCE(part.blks_read, io.idx_blks_read, 0)::int8, \
                ic.reltuples::float8, ic.relpages::int8, \
                (SELECT split_part(o, '=', 2)::int8 FROM unnest(ic.reloptions) o \
                 WHERE o LIKE 'fillfactor=%' LIMIT 1), \
                cols.exprs, cols.attnames, cols.opclasses, cols.descs, cols.nullable, \
                EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_am am ON am.oid = ic.relam \
         LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid \
         LEFT JOIN pg_statio_user_indexes io ON io.indexrelid = i.indexrelid \
         LEFT JOIN LATERAL ( \
             SELECT sum(pg_relation_size(pt.relid))::int8 AS bytes, \
                    sum(COALESCE(ps.idx_scan, 0))::int8 AS scans, \
                    sum(COALESCE(ps.idx_tup_read, 0))::int8 AS tup_read, \
                    sum(COALESCE(ps.idx_tup_fetch, 0))::int8 AS tup_fetch, \
                    sum(COALESCE(pio.idx_blks_hit, 0))::int8 AS blks_hit, \
                    sum(COALESCE(pio.idx_blks_read, 0))::int8 AS blks_read \
             FROM pg_partition_tree(i.indexrelid) pt \
             LEFT JOIN pg_stat_user_indexes ps ON ps.indexrelid = pt.relid \
             LEFT JOIN pg_statio_user_indexes pio ON pio.indexrelid = pt.relid \
             WHERE pt.isleaf \
         ) part ON ic.relkind = 'I' \
         CROSS JOIN LATERAL ( \
             SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) AS exprs, \
                    array_agg(a.attname::text ORDER BY k) AS attnames, \
                    array_agg(COALESCE(oc.opcname::text, '') ORDER BY k) AS opclasses, \
                    array_agg(k <= i.indnkeyatts AND (i.indoption[k - 1]::int & 1) = 1 ORDER BY k) AS descs, \
                    COALESCE(bool_or(k <= i.indnkeyatts AND NOT COALESCE(a.attnotnull, false)), false) AS nullable \
             FROM generate_series(1, i.indnatts::int) AS k \
             LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1] \
                                     AND i.indkey[k - 1] <> 0 \
             LEFT JOIN pg_opclass oc ON k <= i.indnkeyatts AND oc.oid = i.indclass[k - 1] \
         ) cols \
         WHERE t.relkind IN ('r', 'm', 'p') AND {USER_SCHEMAS} \
         ORDER BY 2, 3, 4"
    );
    let rows = query(client, SOURCE, &sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let nkey: i32 = get(r, 6, SOURCE)?;
        let exprs: Vec<String> = get::<Option<Vec<String>>>(r, 21, SOURCE)?.unwrap_or_default();
        let attnames: Vec<Option<String>> =
            get::<Option<Vec<Option<String>>>>(r, 22, SOURCE)?.unwrap_or_default();
        let opclasses: Vec<String> = get::<Option<Vec<String>>>(r, 23, SOURCE)?.unwrap_or_default();
        let descs: Vec<bool> = get::<Option<Vec<bool>>>(r, 24, SOURCE)?.unwrap_or_default();
        let mut columns = Vec::new();
        let mut include = Vec::new();
        for (k, expr) in exprs.into_iter().enumerate() {
            let col = IndexColumn {
                expr,
                attname: attnames.get(k).cloned().flatten(),
                opclass: opclasses.get(k).cloned().unwrap_or_default(),
                descending: descs.get(k).copied().unwrap_or(false),
            };
            if (k as i64) < i64::from(nkey) {
                columns.push(col);
            } else {
                include.push(col);
            }
        }
        let oid: i64 = get(r, 0, SOURCE)?;
        out.push((
            oid,
            IndexFacts {
                schema: get(r, 1, SOURCE)?,
                table: get(r, 2, SOURCE)?,
                name: get(r, 3, SOURCE)?,
                definition: get(r, 4, SOURCE)?,
                method: get(r, 5, SOURCE)?,
                columns,
                include,
                predicate: get(r, 7, SOURCE)?,
                unique: get(r, 8, SOURCE)?,
                primary: get(r, 9, SOURCE)?,
                constraint: get(r, 10, SOURCE)?,
                valid: get(r, 11, SOURCE)?,
                build_in_progress: false,
                bytes: get(r, 12, SOURCE)?,
                scans: get(r, 13, SOURCE)?,
                tuples_read: get(r, 14, SOURCE)?,
                tuples_fetched: get(r, 15, SOURCE)?,
                blks_hit: get(r, 16, SOURCE)?,
                blks_read: get(r, 17, SOURCE)?,
                reltuples: get(r, 18, SOURCE)?,
                relpages: get(r, 19, SOURCE)?,
                fillfactor: get(r, 20, SOURCE)?,
                key_avg_width: None,
                key_nullable: get(r, 25, SOURCE)?,
                created_age_s: None,
                partition_of_index: get(r, 26, SOURCE)?,
            },
        ));
    }
    Ok(out)
}

/// Sum of `pg_stats.avg_width` over the key columns of every B-tree whose key
/// columns are all plain columns with statistics, by index oid.
pub(crate) async fn key_widths(client: &Client) -> Result<HashMap<i64, f64>, DbError> {
    let sql = format!(
        "SELECT i.indexrelid::oid::int8, sum(st.avg_width)::float8 \
         FROM pg_index i \
         JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree' \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         CROSS JOIN generate_series(1, i.indnkeyatts::int) AS k \
         LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1] \
         LEFT JOIN pg_stats st ON st.schemaname = n.nspname AND st.tablename = t.relname \
                              AND st.attname = a.attname AND NOT st.inherited \
         WHERE {USER_SCHEMAS} \
         GROUP BY i.indexrelid, i.indnkeyatts \
         HAVING count(st.avg_width) = i.indnkeyatts"
    );
    let rows = query(client, WIDTHS, &sql).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        let w: Option<f64> = get(r, 1, WIDTHS)?;
        if let Some(w) = w {
            out.insert(get(r, 0, WIDTHS)?, w);
        }
    }
    Ok(out)
}

/// Oids of indexes a `CREATE INDEX` / `REINDEX` is building right now.
pub(crate) async fn builds_in_progress(client: &Client) -> Result<HashSet<i64>, DbError> {
    let rows = query(
        client,
        PROGRESS,
        "SELECT index_relid::oid::int8 FROM pg_stat_progress_create_index \
         WHERE index_relid <> 0",
    )
    .await?;
    rows.iter().map(|r| get(r, 0, PROGRESS)).collect()
}

/// Age in seconds of the indexes pgpilot's `apply` created and that are still
/// in place, by oid, from its journal (`pgpilot.changes`); empty when there is
/// no journal.
pub(crate) async fn created_by_pgpilot(client: &Client) -> Result<HashMap<i64, f64>, DbError> {
    let rows = query(
        client,
        JOURNAL,
        "SELECT to_regclass(quote_ident(j.index_schema) || '.' || quote_ident(j.index_name))::oid::int8, \
                extract(epoch FROM now() - max(j.applied_at))::float8 \
         FROM pgpilot.changes j \
         WHERE j.action = 'create_index' AND j.status = 'applied' AND j.rolled_back_at IS NULL \
           AND to_regclass(quote_ident(j.index_schema) || '.' || quote_ident(j.index_name)) IS NOT NULL \
         GROUP BY 1",
    )
    .await;
    let rows = match rows {
        Ok(rows) => rows,
        // No journal: pgpilot never applied anything here.
        Err(e) if e.sqlstate() == Some("42P01") => return Ok(HashMap::new()),
        Err(e) => return Err(e),
    };
    rows.iter()
        .map(|r| Ok((get(r, 0, JOURNAL)?, get(r, 1, JOURNAL)?)))
        .collect()
}
