//! Catalog and statistics facts around an EXPLAIN: statistics freshness per table
//! for the plan rules' [`Context`], and unique keys, indexes and columns per table
//! for the query lints' [`CatalogFacts`].

use std::collections::BTreeMap;

use pgpilot_lint::{CatalogFacts, IndexFacts, IndexKey, TableCatalog, UniqueKey};
use pgpilot_plan::{Context, TableFacts};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::DbError;

/// Restricts a catalog query to `$1` (names as `table` or `schema.table`; empty =
/// every user table). `n` is the namespace alias, `c` the table's pg_class alias.
const TABLE_FILTER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' \
     AND (cardinality($1::text[]) = 0 OR c.relname = ANY($1::text[]) \
          OR n.nspname || '.' || c.relname = ANY($1::text[]))";

/// Statistics freshness of one table, from `pg_stat_user_tables` and `pg_class`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableStats {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// `n_live_tup`.
    pub live_rows: f64,
    /// `n_mod_since_analyze`.
    pub mod_since_analyze: f64,
    /// Seconds since the last ANALYZE or autoanalyze, `None` when never analyzed.
    pub last_analyze_age_secs: Option<f64>,
    /// `pg_class.reltuples`: the planner's row count (`-1` when never analyzed or vacuumed).
    pub reltuples: f64,
}

impl TableStats {
    /// `schema.table`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The facts the plan rules read.
    pub fn to_plan_facts(&self) -> TableFacts {
        TableFacts {
            live_rows: Some(self.live_rows),
            mod_since_analyze: Some(self.mod_since_analyze),
            last_analyze_age_secs: self.last_analyze_age_secs,
            never_analyzed: self.last_analyze_age_secs.is_none(),
        }
    }
}

/// Statistics freshness of `tables` (`table` or `schema.table`; empty = every
/// user table).
pub async fn table_stats(client: &Client, tables: &[String]) -> Result<Vec<TableStats>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, coalesce(s.n_live_tup, 0)::float8, \
                coalesce(s.n_mod_since_analyze, 0)::float8, \
                extract(epoch FROM now() - greatest(s.last_analyze, s.last_autoanalyze))::float8, \
                c.reltuples::float8 \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
         WHERE c.relkind IN ('r', 'p', 'm') AND {TABLE_FILTER} \
         ORDER BY 1, 2"
    );
    let rows = client
        .query(&sql, &[&tables])
        .await
        .map_err(|e| DbError::query("reading table statistics", e))?;
    rows.iter()
        .map(|r| {
            Ok(TableStats {
                schema: r.try_get(0)?,
                table: r.try_get(1)?,
                live_rows: r.try_get(2)?,
                mod_since_analyze: r.try_get(3)?,
                last_analyze_age_secs: r.try_get(4)?,
                reltuples: r.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(|e| DbError::query("reading table statistics", e))
}

/// The plan rules' [`Context`] for `tables` (empty = every user table): per
/// table, live rows, rows modified since the last ANALYZE and its age, so that
/// `plan.row_misestimate` can name stale statistics. Keyed by `schema.table`.
pub async fn table_facts(client: &Client, tables: &[String]) -> Result<Context, DbError> {
    let stats = table_stats(client, tables).await?;
    Ok(Context {
        tables: stats
            .iter()
            .map(|s| (s.qualified_name(), s.to_plan_facts()))
            .collect(),
    })
}

/// The query lints' [`CatalogFacts`] for `tables` (empty = every user table):
/// columns, valid indexes (with expression keys and operator classes) and the
/// unique keys behind non-partial unique indexes on plain columns.
pub async fn catalog_facts(client: &Client, tables: &[String]) -> Result<CatalogFacts, DbError> {
    let mut out: BTreeMap<String, TableCatalog> = BTreeMap::new();
    let cols_sql = format!(
        "SELECT n.nspname::text, c.relname::text, \
                array_agg(a.attname::text ORDER BY a.attnum) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f') AND {TABLE_FILTER} \
         GROUP BY 1, 2"
    );
    let rows = client
        .query(&cols_sql, &[&tables])
        .await
        .map_err(|e| DbError::query("reading table columns", e))?;
    for r in &rows {
        let read = || -> Result<(String, Vec<String>), tokio_postgres::Error> {
            let schema: String = r.try_get(0)?;
            let table: String = r.try_get(1)?;
            Ok((format!("{schema}.{table}"), r.try_get(2)?))
        };
        let (name, columns) = read().map_err(|e| DbError::query("reading table columns", e))?;
        out.insert(
            name,
            TableCatalog {
                column_count: columns.len(),
                columns,
                unique_keys: Vec::new(),
                indexes: Vec::new(),
            },
        );
    }
    let idx_sql = format!(
        "SELECT n.nspname::text, c.relname::text, ic.relname::text, am.amname::text, \
                x.indisunique, x.indisprimary, x.indpred IS NOT NULL, \
                ARRAY(SELECT CASE WHEN x.indkey[k - 1] = 0 \
                                  THEN 'e:' || pg_get_indexdef(x.indexrelid, k, true) \
                                  ELSE 'c:' || a.attname::text END \
                      FROM generate_series(1, x.indnkeyatts) k \
                      LEFT JOIN pg_attribute a \
                        ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1] \
                      ORDER BY k), \
                ARRAY(SELECT coalesce(oc.opcname::text, '') \
                      FROM generate_series(1, x.indnkeyatts) k \
                      LEFT JOIN pg_opclass oc ON oc.oid = x.indclass[k - 1] \
                      ORDER BY k), \
                coalesce((SELECT bool_and(a.attnotnull) \
                          FROM generate_series(1, x.indnkeyatts) k \
                          JOIN pg_attribute a \
                            ON a.attrelid = x.indrelid AND a.attnum = x.indkey[k - 1]), false) \
         FROM pg_index x \
         JOIN pg_class ic ON ic.oid = x.indexrelid \
         JOIN pg_class c ON c.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_am am ON am.oid = ic.relam \
         WHERE x.indisvalid AND {TABLE_FILTER} \
         ORDER BY 1, 2, x.indisprimary DESC, 3"
    );
    let rows = client
        .query(&idx_sql, &[&tables])
        .await
        .map_err(|e| DbError::query("reading indexes", e))?;
    for r in &rows {
        type Row = (String, IndexFacts, bool, bool);
        let read = || -> Result<Row, tokio_postgres::Error> {
            let schema: String = r.try_get(0)?;
            let table: String = r.try_get(1)?;
            let keys: Vec<String> = r.try_get(7)?;
            let keys = keys
                .into_iter()
                .map(|k| match k.split_once(':') {
                    Some(("c", c)) => IndexKey::Column(c.to_string()),
                    Some((_, e)) => IndexKey::Expression(e.to_string()),
                    None => IndexKey::Expression(k),
                })
                .collect();
            let opclasses: Vec<String> = r.try_get(8)?;
            Ok((
                format!("{schema}.{table}"),
                IndexFacts {
                    name: r.try_get(2)?,
                    method: r.try_get(3)?,
                    keys,
                    opclasses,
                    unique: r.try_get(4)?,
                    partial: r.try_get(6)?,
                },
                r.try_get(5)?,
                r.try_get(9)?,
            ))
        };
        let (name, index, primary, not_null) =
            read().map_err(|e| DbError::query("reading indexes", e))?;
        let entry = out.entry(name).or_default();
        if index.unique && !index.partial {
            let cols: Option<Vec<String>> = index
                .keys
                .iter()
                .map(|k| match k {
                    IndexKey::Column(c) => Some(c.clone()),
                    IndexKey::Expression(_) => None,
                })
                .collect();
            if let Some(columns) = cols {
                entry.unique_keys.push(UniqueKey {
                    name: index.name.clone(),
                    columns,
                    primary,
                    not_null: primary || not_null,
                });
            }
        }
        entry.indexes.push(index);
    }
    Ok(CatalogFacts { tables: out })
}
