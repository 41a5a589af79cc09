//! Catalog and statistics reads behind the health audit and the index inventory.
//! Each function reads one source of [`pgpilot_health::HealthFacts`] with one
//! statement, so a missing privilege on one view costs only that source (see
//! [`crate::health::collect_health_facts`]).

pub(crate) mod activity;
pub(crate) mod indexes;
pub(crate) mod keys;
pub(crate) mod tables;

use tokio_postgres::types::FromSql;
use tokio_postgres::{Client, Row};

use crate::error::DbError;

/// Schemas that are never the user's.
pub(crate) const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'";

/// Runs one statement, naming the source in the error.
pub(crate) async fn query(client: &Client, source: &str, sql: &str) -> Result<Vec<Row>, DbError> {
    client
        .query(sql, &[])
        .await
        .map_err(|e| DbError::query(format!("reading {source}"), e))
}

/// One column of a row, with a typed error instead of a panic on a type mismatch.
pub(crate) fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    idx: usize,
    source: &str,
) -> Result<T, DbError> {
    row.try_get(idx).map_err(|e| DbError::Query {
        context: format!("decoding {source} (column {idx})"),
        message: e.to_string(),
        sqlstate: None,
    })
}
