//! The catalog facts the index advisor reasons on ([`pgpilot_advisor::Catalog`]):
//! tables with rows, row width, heap size, write rate and column statistics, and
//! every index on them, decomposed from `pg_index` (keys, directions, INCLUDE
//! columns, predicate, method) rather than parsed from its text.

use std::collections::HashMap;

use pgpilot_advisor::{Catalog, ColumnInfo, ExistingIndex, IndexDef, IndexKey, KeyExpr, TableInfo};
use tokio_postgres::{Client, Row};

use crate::DbError;

/// Restricts a catalog query to `$1` (names as `table` or `schema.table`; empty =
/// every user table). `n` is the namespace alias, `c` the table's pg_class alias.
const TABLE_FILTER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
     AND (cardinality($1::text[]) = 0 OR c.relname = ANY($1::text[]) \
          OR n.nspname || '.' || c.relname = ANY($1::text[]))";

/// Most common values, then histogram bounds, kept per column as samples.
const MCV_SAMPLES: usize = 5;
const HISTOGRAM_SAMPLES: usize = 5;
/// PostgreSQL's heap tuple header and line pointer, roughly.
const TUPLE_OVERHEAD: f64 = 24.0;

fn decode<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    what: &str,
) -> Result<T, DbError> {
    row.try_get(idx).map_err(|e| DbError::Query {
        context: format!("decoding {what} (column {idx})"),
        message: e.to_string(),
        sqlstate: None,
    })
}

/// Reads the advisor's [`Catalog`] for `tables` (`name` or `schema.name`; empty =
/// every user table, materialized view and partitioned table).
///
/// * rows: `n_live_tup`, else `reltuples`; a partitioned table sums its leaves
///   (as do its heap size and write counters);
/// * row width: Σ `pg_stats.avg_width` (a column without statistics counts its
///   type's length, or 32 bytes for a variable-length type) + 24;
/// * writes per second: (inserts + non-HOT updates + deletes) of
///   `pg_stat_user_tables` over the age of the database's statistics
///   (`pg_stat_database.stats_reset`, else the server's start);
/// * column statistics and sample values from `pg_stats` (up to 5 most common
///   values, then up to 5 histogram bounds spread across the range), and the
///   correlation of physical and logical order (`pg_stats.correlation`, for
///   BRIN candidates). Without the privilege to read them, statistics are `None`.
pub async fn advisor_catalog(client: &Client, tables: &[String]) -> Result<Catalog, DbError> {
    // A table, or the leaves of a partitioned table (every level below it in
    // `pg_inherits`): ANALYZE also sets `reltuples` of partitioned tables
    // (PostgreSQL 14+), which would count their rows twice.
    let tables_sql = format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, agg.live, agg.reltuples, agg.bytes, \
                agg.writes, agg.modified, \
                extract(epoch FROM now() - COALESCE( \
                    (SELECT d.stats_reset FROM pg_stat_database d \
                     WHERE d.datname = current_database()), \
                    pg_postmaster_start_time()))::float8 \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         CROSS JOIN LATERAL ( \
             WITH RECURSIVE tree(relid) AS ( \
                 SELECT c.oid \
                 UNION ALL \
                 SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid \
                 WHERE c.relkind = 'p') \
             SELECT COALESCE(sum(s.n_live_tup), 0)::float8 AS live, \
                    COALESCE(sum(GREATEST(p.reltuples, 0)), 0)::float8 AS reltuples, \
                    COALESCE(sum(pg_relation_size(p.oid)), 0)::int8 AS bytes, \
                    COALESCE(sum(s.n_tup_ins + s.n_tup_upd - s.n_tup_hot_upd + s.n_tup_del), 0)::float8 \
                        AS writes, \
                    COALESCE(sum(s.n_mod_since_analyze), 0)::float8 AS modified \
             FROM tree JOIN pg_class p ON p.oid = tree.relid \
             LEFT JOIN pg_stat_user_tables s ON s.relid = p.oid \
             WHERE p.relkind <> 'p') agg \
         WHERE c.relkind IN ('r', 'p', 'm') AND {TABLE_FILTER} \
         ORDER BY 2, 3"
    );
    const TABLES: &str = "tables for the advisor";
    let rows = client
        .query(&tables_sql, &[&tables])
        .await
        .map_err(|e| DbError::query(format!("reading {TABLES}"), e))?;
    let mut out = Catalog::default();
    let mut oids: Vec<u32> = Vec::with_capacity(rows.len());
    for r in &rows {
        let live: f64 = decode(r, 3, TABLES)?;
        let reltuples: f64 = decode(r, 4, TABLES)?;
        let bytes: i64 = decode(r, 5, TABLES)?;
        let writes: f64 = decode(r, 6, TABLES)?;
        let age: Option<f64> = decode(r, 8, TABLES)?;
        oids.push(decode(r, 0, TABLES)?);
        out.tables.push(TableInfo {
            schema: decode(r, 1, TABLES)?,
            table: decode(r, 2, TABLES)?,
            rows: if live > 0.0 { live } else { reltuples },
            row_width: TUPLE_OVERHEAD,
            heap_bytes: u64::try_from(bytes).unwrap_or(0),
            writes_per_sec: writes.max(0.0) / age.unwrap_or(1.0).max(1.0),
            mod_since_analyze: decode(r, 7, TABLES)?,
            columns: Vec::new(),
        });
    }
    if oids.is_empty() {
        return Ok(out);
    }
    let by_oid: HashMap<u32, usize> = oids.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let lengths = read_columns(client, &oids, &by_oid, &mut out.tables).await?;
    read_statistics(client, &oids, &by_oid, &mut out.tables).await;
    for (t, lens) in out.tables.iter_mut().zip(&lengths) {
        t.row_width = TUPLE_OVERHEAD
            + t.columns
                .iter()
                .zip(lens)
                .map(|(c, len)| {
                    c.avg_width
                        .unwrap_or(if *len > 0 { f64::from(*len) } else { 32.0 })
                })
                .sum::<f64>();
    }
    out.indexes = read_indexes(client, &oids).await?;
    Ok(out)
}

/// Columns in attribute order; returns each column's `attlen` (for widths
/// without statistics), parallel to `tables`.
async fn read_columns(
    client: &Client,
    oids: &[u32],
    by_oid: &HashMap<u32, usize>,
    tables: &mut [TableInfo],
) -> Result<Vec<Vec<i32>>, DbError> {
    const WHAT: &str = "columns for the advisor";
    let rows = client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), \
                    a.attnotnull, a.attlen::int4 \
             FROM pg_attribute a \
             WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(|e| DbError::query(format!("reading {WHAT}"), e))?;
    let mut lengths = vec![Vec::new(); tables.len()];
    for r in &rows {
        let oid: u32 = decode(r, 0, WHAT)?;
        let Some(&i) = by_oid.get(&oid) else { continue };
        tables[i].columns.push(ColumnInfo {
            name: decode(r, 1, WHAT)?,
            type_name: decode(r, 2, WHAT)?,
            not_null: decode(r, 3, WHAT)?,
            avg_width: None,
            n_distinct: None,
            null_frac: None,
            sample_values: Vec::new(),
            correlation: None,
        });
        lengths[i].push(decode(r, 4, WHAT)?);
    }
    Ok(lengths)
}

/// Fills column statistics from `pg_stats` (for a partitioned table, the
/// statistics of the whole inheritance tree, `inherited = true`, which ANALYZE
/// keeps on the parent; for other tables their own rows); on any failure (no privilege, a
/// value that cannot be read) statistics simply stay `None`.
async fn read_statistics(
    client: &Client,
    oids: &[u32],
    by_oid: &HashMap<u32, usize>,
    tables: &mut [TableInfo],
) {
    let rows = match client
        .query(
            "SELECT DISTINCT ON (c.oid, s.attname) c.oid, s.attname::text, \
                    s.avg_width::float8, s.n_distinct::float8, s.null_frac::float8, \
                    s.most_common_vals::text, s.histogram_bounds::text, \
                    COALESCE(ty.typdelim::text, ','), s.correlation::float8 \
             FROM pg_stats s \
             JOIN pg_namespace n ON n.nspname = s.schemaname \
             JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.tablename \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = s.attname \
             LEFT JOIN pg_type ty ON ty.oid = a.atttypid \
             WHERE c.oid = ANY($1::oid[]) \
             ORDER BY c.oid, s.attname, s.inherited <> (c.relkind = 'p')",
            &[&oids],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!("column statistics unavailable (pg_stats): {e}");
            return;
        }
    };
    for r in &rows {
        let read = || -> Result<_, tokio_postgres::Error> {
            Ok((
                r.try_get::<_, u32>(0)?,
                r.try_get::<_, String>(1)?,
                r.try_get::<_, Option<f64>>(2)?,
                r.try_get::<_, Option<f64>>(3)?,
                r.try_get::<_, Option<f64>>(4)?,
                r.try_get::<_, Option<String>>(5)?,
                r.try_get::<_, Option<String>>(6)?,
                r.try_get::<_, String>(7)?,
                r.try_get::<_, Option<f64>>(8)?,
            ))
        };
        let Ok((oid, name, width, n_distinct, null_frac, mcv, hist, delim, correlation)) = read()
        else {
            continue;
        };
        let Some(col) = by_oid
            .get(&oid)
            .and_then(|&i| tables[i].columns.iter_mut().find(|c| c.name == name))
        else {
            continue;
        };
        col.avg_width = width;
        col.n_distinct = n_distinct;
        col.null_frac = null_frac;
        col.correlation = correlation.filter(|c| c.is_finite());
        let delim = delim.chars().next().unwrap_or(',');
        col.sample_values = samples(mcv.as_deref(), hist.as_deref(), delim);
    }
}

/// Up to [`MCV_SAMPLES`] most common values, then up to [`HISTOGRAM_SAMPLES`]
/// histogram bounds evenly spaced (first and last included), without repeats.
fn samples(mcv: Option<&str>, hist: Option<&str>, delim: char) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |v: String, out: &mut Vec<String>| {
        if !out.contains(&v) {
            out.push(v);
        }
    };
    if let Some(values) = mcv.and_then(|s| parse_array(s, delim)) {
        for v in values.into_iter().flatten().take(MCV_SAMPLES) {
            push(v, &mut out);
        }
    }
    if let Some(values) = hist.and_then(|s| parse_array(s, delim)) {
        let values: Vec<String> = values.into_iter().flatten().collect();
        let n = values.len();
        if n > 0 {
            let k = HISTOGRAM_SAMPLES.min(n);
            for i in 0..k {
                let idx = if k == 1 { 0 } else { i * (n - 1) / (k - 1) };
                if let Some(v) = values.get(idx) {
                    push(v.clone(), &mut out);
                }
            }
        }
    }
    out
}

/// Parses a one-dimensional array literal as `array_out` prints it
/// (`{a,"b c",NULL}`); `None` for anything else (nested arrays included).
fn parse_array(s: &str, delim: char) -> Option<Vec<Option<String>>> {
    let s = s.trim();
    // Non-default bounds are printed first: `[0:2]={…}`.
    let s = if s.starts_with('[') {
        &s[s.find('=')? + 1..]
    } else {
        s
    };
    let body = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if body.is_empty() {
        return Some(out);
    }
    let mut chars = body.chars().peekable();
    loop {
        match chars.peek() {
            Some('{') => return None,
            Some('"') => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next()? {
                        '\\' => v.push(chars.next()?),
                        '"' => break,
                        c => v.push(c),
                    }
                }
                out.push(Some(v));
            }
            _ => {
                let mut v = String::new();
                while let Some(&c) = chars.peek() {
                    if c == delim {
                        break;
                    }
                    v.push(c);
                    chars.next();
                }
                let v = v.trim().to_string();
                out.push(if v.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(v)
                });
            }
        }
        match chars.next() {
            None => return Some(out),
            Some(c) if c == delim => {}
            Some(_) => return None,
        }
    }
}

/// Every index on the tables, decomposed from `pg_index`. An index on a
/// partitioned table (relkind `I`) has no storage of its own: its size and scans
/// are those of its inheritance tree (the partitions' indexes attached to it).
async fn read_indexes(client: &Client, oids: &[u32]) -> Result<Vec<ExistingIndex>, DbError> {
    const WHAT: &str = "indexes for the advisor";
    let rows = client
        .query(
            "SELECT n.nspname::text, t.relname::text, ic.relname::text, am.amname::text, \
                    i.indisunique, i.indisprimary, i.indisvalid, \
                    EXISTS (SELECT 1 FROM pg_constraint con \
                            WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid \
                              AND con.contype IN ('p', 'u', 'x')), \
                    tree.bytes, tree.scans, \
                    pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid, true), \
                    i.indnkeyatts::int4, cols.attnames, cols.exprs, cols.options \
             FROM pg_index i \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             JOIN pg_am am ON am.oid = ic.relam \
             CROSS JOIN LATERAL ( \
                 WITH RECURSIVE parts(relid) AS ( \
                     SELECT i.indexrelid \
                     UNION ALL \
                     SELECT inh.inhrelid FROM pg_inherits inh \
                     JOIN parts p ON inh.inhparent = p.relid) \
                 SELECT COALESCE(sum(pg_relation_size(p.relid)), 0)::int8 AS bytes, \
                        COALESCE(sum(s.idx_scan), 0)::int8 AS scans \
                 FROM parts p LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = p.relid \
             ) tree \
             CROSS JOIN LATERAL ( \
                 SELECT array_agg(a.attname::text ORDER BY k) AS attnames, \
                        array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) AS exprs, \
                        array_agg(COALESCE(i.indoption[k - 1], 0)::int4 ORDER BY k) AS options \
                 FROM generate_series(1, i.indnatts::int) AS k \
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid \
                                         AND a.attnum = i.indkey[k - 1] AND i.indkey[k - 1] > 0 \
             ) cols \
             WHERE i.indrelid = ANY($1::oid[]) \
             ORDER BY 1, 2, 3",
            &[&oids],
        )
        .await
        .map_err(|e| DbError::query(format!("reading {WHAT}"), e))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let nkey: i32 = decode(r, 12, WHAT)?;
        let attnames: Vec<Option<String>> = decode::<Option<_>>(r, 13, WHAT)?.unwrap_or_default();
        let exprs: Vec<Option<String>> = decode::<Option<_>>(r, 14, WHAT)?.unwrap_or_default();
        let options: Vec<i32> = decode::<Option<_>>(r, 15, WHAT)?.unwrap_or_default();
        let mut keys = Vec::new();
        let mut include = Vec::new();
        for (k, attname) in attnames.into_iter().enumerate() {
            let expr = match (attname, exprs.get(k).cloned().flatten()) {
                (Some(col), _) => KeyExpr::Column(col),
                (None, Some(e)) => KeyExpr::Expression(e),
                (None, None) => continue,
            };
            if i32::try_from(k).unwrap_or(i32::MAX) < nkey {
                let opt = options.get(k).copied().unwrap_or(0);
                let descending = opt & 1 != 0;
                let nulls_first = opt & 2 != 0;
                keys.push(IndexKey {
                    expr,
                    descending,
                    nulls_first: (nulls_first != descending).then_some(nulls_first),
                });
            } else if let KeyExpr::Column(c) = expr {
                include.push(c);
            }
        }
        let size: i64 = decode(r, 8, WHAT)?;
        let scans: i64 = decode(r, 9, WHAT)?;
        out.push(ExistingIndex {
            name: decode(r, 2, WHAT)?,
            def: IndexDef {
                schema: decode(r, 0, WHAT)?,
                table: decode(r, 1, WHAT)?,
                method: decode(r, 3, WHAT)?,
                keys,
                include,
                predicate: decode(r, 11, WHAT)?,
                unique: decode(r, 4, WHAT)?,
            },
            create_sql: decode(r, 10, WHAT)?,
            size_bytes: u64::try_from(size).unwrap_or(0),
            valid: decode(r, 6, WHAT)?,
            primary: decode(r, 5, WHAT)?,
            constraint: decode(r, 7, WHAT)?,
            scans: u64::try_from(scans).unwrap_or(0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_are_parsed_with_quotes_nulls_and_delimiters() {
        assert_eq!(
            parse_array(r#"{pending,"a b","x\"y",NULL}"#, ','),
            Some(vec![
                Some("pending".into()),
                Some("a b".into()),
                Some("x\"y".into()),
                None
            ])
        );
        assert_eq!(
            parse_array("{(1,1),(0,0);(2,2),(1,1)}", ';'),
            Some(vec![Some("(1,1),(0,0)".into()), Some("(2,2),(1,1)".into())])
        );
        assert_eq!(
            parse_array("[0:1]={1,2}", ','),
            Some(vec![Some("1".into()), Some("2".into())])
        );
        assert_eq!(parse_array("{{1,2},{3,4}}", ','), None);
        assert_eq!(parse_array("{}", ','), Some(vec![]));
        assert_eq!(parse_array("nonsense", ','), None);
    }

    #[test]
    fn samples_take_common_values_then_spread_bounds() {
        let hist = format!(
            "{{{}}}",
            (0..=100)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let s = samples(Some("{a,b}"), Some(&hist), ',');
        assert_eq!(s, vec!["a", "b", "0", "25", "50", "75", "100"]);
        let few = samples(None, Some("{x,y}"), ',');
        assert_eq!(few, vec!["x", "y"]);
        assert!(samples(None, None, ',').is_empty());
    }
}
