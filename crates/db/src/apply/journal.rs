//! The change journal, `pgpilot.changes`: one row per change `apply` made or
//! found already in place (and per change it gave up on), with the statement
//! run, the statement that undoes it, the plan it came from and the measured
//! before/after times. Created on first approved use; `report` and `rollback`
//! read it with [`journal`].

use pgpilot_advisor::{ChangeAction, ChangeRecord, ChangeStatus};
use tokio_postgres::Client;

use crate::error::DbError;

/// The journal's DDL, run (idempotently) on first approved use.
const CREATE_JOURNAL: &str = "\
CREATE SCHEMA IF NOT EXISTS pgpilot;
CREATE TABLE IF NOT EXISTS pgpilot.changes (
    id bigserial PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by text NOT NULL DEFAULT current_user,
    action text,
    ddl text,
    rollback_ddl text,
    plan_id text,
    index_schema text,
    index_name text,
    table_name text,
    status text,
    detail text,
    before_ms float8,
    after_ms float8,
    rolled_back_at timestamptz
);
COMMENT ON TABLE pgpilot.changes IS 'Changes made by pgpilot apply / rollback (one row per change)';";

/// Which journal rows to read; the default reads them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalFilter {
    /// Only this change.
    pub id: Option<i64>,
    /// Only the changes of this plan.
    pub plan_id: Option<String>,
    /// Only changes in this state.
    pub status: Option<ChangeStatus>,
}

/// A journal row with the index it concerns (not part of [`ChangeRecord`]).
#[derive(Debug, Clone)]
pub(crate) struct JournalEntry {
    pub record: ChangeRecord,
    pub index_schema: String,
    pub index_name: String,
    pub table: String,
}

/// What a new journal row says.
#[derive(Debug, Clone)]
pub(crate) struct NewChange<'a> {
    pub action: ChangeAction,
    pub ddl: &'a str,
    pub rollback_ddl: &'a str,
    pub plan_id: &'a str,
    pub index_schema: &'a str,
    pub index_name: &'a str,
    pub table: &'a str,
    pub status: ChangeStatus,
    pub detail: &'a str,
    pub before_ms: Option<f64>,
    pub after_ms: Option<f64>,
}

pub(crate) fn action_text(a: ChangeAction) -> &'static str {
    match a {
        ChangeAction::CreateIndex => "create_index",
        ChangeAction::DropIndex => "drop_index",
        ChangeAction::Analyze => "analyze",
    }
}

pub(crate) fn status_text(s: ChangeStatus) -> &'static str {
    match s {
        ChangeStatus::Applied => "applied",
        ChangeStatus::AlreadyPresent => "already_present",
        ChangeStatus::Failed => "failed",
        ChangeStatus::RolledBack => "rolled_back",
    }
}

fn parse_action(s: &str) -> Option<ChangeAction> {
    Some(match s {
        "create_index" => ChangeAction::CreateIndex,
        "drop_index" => ChangeAction::DropIndex,
        "analyze" => ChangeAction::Analyze,
        _ => return None,
    })
}

fn parse_status(s: &str) -> Option<ChangeStatus> {
    Some(match s {
        "applied" => ChangeStatus::Applied,
        "already_present" => ChangeStatus::AlreadyPresent,
        "failed" => ChangeStatus::Failed,
        "rolled_back" => ChangeStatus::RolledBack,
        _ => return None,
    })
}

/// Creates the journal schema and table when missing.
pub(crate) async fn ensure_journal(client: &Client) -> Result<(), DbError> {
    client
        .batch_execute(CREATE_JOURNAL)
        .await
        .map_err(|e| DbError::query("creating the change journal pgpilot.changes", e))
}

/// Whether the journal table exists.
pub(crate) async fn journal_exists(client: &Client) -> Result<bool, DbError> {
    let row = client
        .query_one("SELECT to_regclass('pgpilot.changes') IS NOT NULL", &[])
        .await
        .map_err(|e| DbError::query("looking for the change journal", e))?;
    Ok(row.get(0))
}

/// Appends a row and returns its id.
pub(crate) async fn record_change(client: &Client, c: &NewChange<'_>) -> Result<i64, DbError> {
    let row = client
        .query_one(
            "INSERT INTO pgpilot.changes (action, ddl, rollback_ddl, plan_id, index_schema, \
                 index_name, table_name, status, detail, before_ms, after_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &action_text(c.action),
                &c.ddl,
                &c.rollback_ddl,
                &c.plan_id,
                &c.index_schema,
                &c.index_name,
                &c.table,
                &status_text(c.status),
                &c.detail,
                &c.before_ms,
                &c.after_ms,
            ],
        )
        .await
        .map_err(|e| DbError::query("writing to the change journal", e))?;
    Ok(row.get(0))
}

/// Marks a change rolled back, appending `note` to its detail.
pub(crate) async fn mark_rolled_back(client: &Client, id: i64, note: &str) -> Result<(), DbError> {
    client
        .execute(
            "UPDATE pgpilot.changes SET status = 'rolled_back', rolled_back_at = now(), \
                    detail = concat_ws(E'\\n', nullif(detail, ''), $2::text) \
             WHERE id = $1",
            &[&id, &note],
        )
        .await
        .map_err(|e| DbError::query("marking a change rolled back in the journal", e))?;
    Ok(())
}

/// Reads journal rows (oldest first). A database without a journal has none.
pub async fn journal(
    client: &Client,
    filter: &JournalFilter,
) -> Result<Vec<ChangeRecord>, DbError> {
    Ok(journal_entries(client, filter)
        .await?
        .into_iter()
        .map(|e| e.record)
        .collect())
}

/// Like [`journal`], with the index each row concerns.
pub(crate) async fn journal_entries(
    client: &Client,
    filter: &JournalFilter,
) -> Result<Vec<JournalEntry>, DbError> {
    if !journal_exists(client).await? {
        return Ok(Vec::new());
    }
    let status = filter.status.map(status_text);
    let rows = client
        .query(
            "SELECT id, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    applied_by, coalesce(action, ''), coalesce(ddl, ''), \
                    coalesce(rollback_ddl, ''), coalesce(plan_id, ''), coalesce(status, ''), \
                    coalesce(detail, ''), before_ms, after_ms, \
                    to_char(rolled_back_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    coalesce(index_schema, ''), coalesce(index_name, ''), coalesce(table_name, '') \
             FROM pgpilot.changes \
             WHERE ($1::bigint IS NULL OR id = $1) AND ($2::text IS NULL OR plan_id = $2) \
               AND ($3::text IS NULL OR status = $3) \
             ORDER BY id",
            &[&filter.id, &filter.plan_id, &status],
        )
        .await
        .map_err(|e| DbError::query("reading the change journal", e))?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: i64 = row.get(0);
        let action: String = row.get(3);
        let status: String = row.get(7);
        let unreadable = |what: &str, v: &str| DbError::Query {
            context: "reading the change journal".into(),
            message: format!(
                "change {id} has an unknown {what} {v:?} (written by a newer pgpilot?)"
            ),
            sqlstate: None,
        };
        let action = parse_action(&action).ok_or_else(|| unreadable("action", &action))?;
        let status = parse_status(&status).ok_or_else(|| unreadable("status", &status))?;
        out.push(JournalEntry {
            record: ChangeRecord {
                id,
                applied_at: row.get(1),
                applied_by: row.get(2),
                action,
                ddl: row.get(4),
                rollback_ddl: row.get(5),
                plan_id: row.get(6),
                status,
                detail: row.get(8),
                before_ms: row.get(9),
                after_ms: row.get(10),
                rolled_back_at: row.get(11),
            },
            index_schema: row.get(12),
            index_name: row.get(13),
            table: row.get(14),
        });
    }
    Ok(out)
}
