//! Server identity, settings, transaction-id ages and sessions.

use std::collections::BTreeMap;

use pgpilot_health::{ActivityFacts, ServerFacts, SessionFacts, XidFacts};
use tokio_postgres::Client;

use super::{get, query};
use crate::error::DbError;

const SERVER: &str = "server identity";
const STATS_RESET: &str = "statistics reset time (pg_stat_database)";
const SETTINGS: &str = "settings (pg_settings)";
const XID: &str = "transaction-id ages (pg_database)";
const ACTIVITY: &str = "sessions (pg_stat_activity)";

/// Settings the checks use.
const SETTING_NAMES: &str = "'max_connections', 'superuser_reserved_connections', 'block_size', \
     'shared_buffers', 'autovacuum', 'autovacuum_freeze_max_age', \
     'autovacuum_vacuum_scale_factor', 'autovacuum_analyze_scale_factor', 'track_counts', \
     'work_mem', 'server_version_num', 'statement_timeout', \
     'idle_in_transaction_session_timeout'";

/// Longest query text kept per session.
const QUERY_TEXT_MAX: i32 = 2_000;

/// Version, database and user.
pub(crate) async fn server(client: &Client) -> Result<ServerFacts, DbError> {
    let rows = query(
        client,
        SERVER,
        "SELECT current_setting('server_version_num')::int8, current_database()::text, \
                current_user::text",
    )
    .await?;
    let mut s = ServerFacts::default();
    if let Some(r) = rows.first() {
        s.version_num = get(r, 0, SERVER)?;
        s.database = get(r, 1, SERVER)?;
        s.user = get(r, 2, SERVER)?;
    }
    Ok(s)
}

/// Seconds since the current database's statistics were reset.
pub(crate) async fn stats_reset_age(client: &Client) -> Result<Option<f64>, DbError> {
    let rows = query(
        client,
        STATS_RESET,
        "SELECT extract(epoch FROM now() - stats_reset)::float8 FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .await?;
    match rows.first() {
        Some(r) => get(r, 0, STATS_RESET),
        None => Ok(None),
    }
}

/// The settings the checks use, by name.
pub(crate) async fn settings(client: &Client) -> Result<BTreeMap<String, String>, DbError> {
    let rows = query(
        client,
        SETTINGS,
        &format!(
            "SELECT name::text, setting::text FROM pg_settings WHERE name IN ({SETTING_NAMES})"
        ),
    )
    .await?;
    rows.iter()
        .map(|r| Ok((get(r, 0, SETTINGS)?, get(r, 1, SETTINGS)?)))
        .collect()
}

/// Transaction-id and multixact ages.
pub(crate) async fn xid(client: &Client) -> Result<XidFacts, DbError> {
    let rows = query(
        client,
        XID,
        "SELECT age(d.datfrozenxid)::int8, mxid_age(d.datminmxid)::int8, \
                (SELECT max(age(datfrozenxid))::int8 FROM pg_database WHERE datallowconn), \
                current_setting('autovacuum_freeze_max_age')::int8 \
         FROM pg_database d WHERE d.datname = current_database()",
    )
    .await?;
    let mut x = XidFacts::default();
    if let Some(r) = rows.first() {
        x.database_age = get(r, 0, XID)?;
        x.database_multixact_age = get(r, 1, XID)?;
        x.cluster_max_age = get::<Option<i64>>(r, 2, XID)?.unwrap_or(x.database_age);
        x.autovacuum_freeze_max_age = get(r, 3, XID)?;
    }
    Ok(x)
}

/// Connection counts and the sessions that are not idle (other than this one).
pub(crate) async fn activity(client: &Client) -> Result<ActivityFacts, DbError> {
    let mut a = ActivityFacts::default();
    let counts = query(
        client,
        ACTIVITY,
        "SELECT COALESCE(state, 'unknown')::text, count(*)::int8 FROM pg_stat_activity \
         WHERE backend_type = 'client backend' GROUP BY 1",
    )
    .await?;
    for r in &counts {
        let state: String = get(r, 0, ACTIVITY)?;
        let n: i64 = get(r, 1, ACTIVITY)?;
        a.total_connections += n;
        a.by_state.insert(state, n);
    }
    let limits = query(
        client,
        ACTIVITY,
        "SELECT current_setting('max_connections')::int8, \
                current_setting('superuser_reserved_connections')::int8, \
                pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')",
    )
    .await?;
    if let Some(r) = limits.first() {
        a.max_connections = get(r, 0, ACTIVITY)?;
        a.reserved_connections = get(r, 1, ACTIVITY)?;
        a.all_queries_visible = get(r, 2, ACTIVITY)?;
    }
    let sessions = query(
        client,
        ACTIVITY,
        &format!(
            "SELECT pid, datname::text, usename::text, application_name::text, state::text, \
                    extract(epoch FROM now() - query_start)::float8, \
                    extract(epoch FROM now() - xact_start)::float8, \
                    extract(epoch FROM now() - state_change)::float8, \
                    CASE WHEN wait_event IS NOT NULL THEN wait_event_type || ': ' || wait_event END, \
                    left(query, {QUERY_TEXT_MAX}) \
             FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() \
               AND state IS NOT NULL AND state <> 'idle' \
             ORDER BY query_start NULLS LAST"
        ),
    )
    .await?;
    for r in &sessions {
        a.sessions.push(SessionFacts {
            pid: get(r, 0, ACTIVITY)?,
            database: get(r, 1, ACTIVITY)?,
            user: get(r, 2, ACTIVITY)?,
            application: get(r, 3, ACTIVITY)?,
            state: get(r, 4, ACTIVITY)?,
            query_age_s: get(r, 5, ACTIVITY)?,
            xact_age_s: get(r, 6, ACTIVITY)?,
            state_age_s: get(r, 7, ACTIVITY)?,
            wait: get(r, 8, ACTIVITY)?,
            query: get(r, 9, ACTIVITY)?,
        });
    }
    Ok(a)
}
