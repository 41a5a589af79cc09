//! [`collect_health_facts`]: reads everything the health audit needs from the
//! current database. Each source is one statement; a source the user may not read
//! (a revoked view, a missing function on an old server) is recorded in
//! [`HealthFacts::unavailable`] and the rest is still collected. Only a lost
//! connection ends the run.

use pgpilot_health::{evaluate, Finding, HealthFacts, Unavailable};
use tokio_postgres::Client;

use crate::catalog::{activity, indexes, keys, tables};
use crate::error::DbError;

/// Keeps a source's value, or records why it is missing; a lost connection is
/// the one error that stops the collection.
fn soft<T>(
    facts: &mut HealthFacts,
    source: &str,
    r: Result<T, DbError>,
) -> Result<Option<T>, DbError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_connection_lost() => Err(e),
        Err(e) => {
            tracing::debug!("health: {source} unavailable: {e}");
            facts.unavailable.push(Unavailable {
                source: source.to_string(),
                reason: e.to_string(),
                sqlstate: e.sqlstate().map(str::to_string),
            });
            Ok(None)
        }
    }
}

/// Reads the catalog and statistics facts of the current database: tables,
/// indexes (with bloat inputs when `pg_stats` is readable), foreign keys, NOT VALID
/// constraints, sequences, transaction-id ages, sessions and settings.
///
/// Never fails for one unreadable view; errors only when the connection is lost.
pub async fn collect_health_facts(client: &Client) -> Result<HealthFacts, DbError> {
    let mut f = HealthFacts::default();
    if let Some(s) = soft(&mut f, "server", activity::server(client).await)? {
        f.server = s;
    }
    if let Some(age) = soft(
        &mut f,
        "stats_reset",
        activity::stats_reset_age(client).await,
    )? {
        f.server.stats_reset_age_s = age;
    }
    if let Some(s) = soft(&mut f, "settings", activity::settings(client).await)? {
        f.settings = s;
    }
    if let Some(t) = soft(&mut f, "tables", tables::tables(client).await)? {
        f.tables = t;
    }
    let building = soft(
        &mut f,
        "index_builds",
        indexes::builds_in_progress(client).await,
    )?
    .unwrap_or_default();
    let widths = soft(
        &mut f,
        "index_key_widths",
        indexes::key_widths(client).await,
    )?
    .unwrap_or_default();
    let created = soft(
        &mut f,
        "pgpilot_journal",
        indexes::created_by_pgpilot(client).await,
    )?
    .unwrap_or_default();
    if let Some(list) = soft(&mut f, "indexes", indexes::indexes(client).await)? {
        f.indexes = list
            .into_iter()
            .map(|(oid, mut i)| {
                i.build_in_progress = building.contains(&oid);
                i.key_avg_width = widths.get(&oid).copied();
                i.created_age_s = created.get(&oid).copied();
                i
            })
            .collect();
    }
    if let Some(v) = soft(&mut f, "foreign_keys", keys::foreign_keys(client).await)? {
        f.foreign_keys = v;
    }
    if let Some(v) = soft(
        &mut f,
        "invalid_constraints",
        keys::invalid_constraints(client).await,
    )? {
        f.invalid_constraints = v;
    }
    if let Some(v) = soft(&mut f, "sequences", keys::sequences(client).await)? {
        f.sequences = v;
    }
    f.transaction_ids = soft(&mut f, "transaction_ids", activity::xid(client).await)?;
    f.activity = soft(&mut f, "activity", activity::activity(client).await)?;
    Ok(f)
}

/// Collects the facts and runs every health rule: the findings, most important
/// first, with the facts they came from (for `unavailable` and for reports).
pub async fn health_check(client: &Client) -> Result<(HealthFacts, Vec<Finding>), DbError> {
    let facts = collect_health_facts(client).await?;
    let findings = evaluate(&facts);
    Ok((facts, findings))
}
