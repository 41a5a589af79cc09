//! The server's logging settings, so logs can be read with the exact
//! `log_line_prefix` they were written with.

use tokio_postgres::Client;

use crate::error::DbError;

/// How the server writes its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `log_line_prefix`.
    pub log_line_prefix: String,
    /// `log_destination` (e.g. `stderr`, `csvlog,jsonlog`).
    pub log_destination: String,
    /// `log_min_duration_statement` as shown (e.g. `-1`, `0`, `250ms`).
    pub log_min_duration_statement: String,
    /// `log_directory` (relative to the data directory unless absolute).
    pub log_directory: String,
    /// The server's major version number (e.g. 15).
    pub server_major: u32,
}

/// Reads the logging settings (any user can read them).
pub async fn log_settings(client: &Client) -> Result<LogSettings, DbError> {
    let row = client
        .query_one(
            "SELECT current_setting('log_line_prefix'), current_setting('log_destination'), \
                    current_setting('log_min_duration_statement'), current_setting('log_directory'), \
                    current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading the server's logging settings", e))?;
    Ok(LogSettings {
        log_line_prefix: row.get(0),
        log_destination: row.get(1),
        log_min_duration_statement: row.get(2),
        log_directory: row.get(3),
        server_major: u32::try_from(row.get::<_, i32>(4)).unwrap_or(0),
    })
}
