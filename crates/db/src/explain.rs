//! EXPLAIN with real parameter values, safely: [`explain`] runs
//! `EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON)` (or plain `EXPLAIN (FORMAT
//! JSON, SETTINGS)`, which executes nothing) on one statement, inside a
//! transaction that is always rolled back, and turns every failure of the
//! statement into an [`ExplainOutcome`] instead of an error.
//!
//! **Parameters.** The statement keeps its `$n` placeholders and is prepared
//! server-side (extended protocol), so PostgreSQL infers each parameter's type
//! exactly as for the application; the sampled values are then sent in *text*
//! format, whatever the inferred type, and the server converts them with the type's
//! own input function. This is the robust choice over substituting quoted
//! literals: no quoting or escaping, the same type resolution as the real query
//! (an untyped literal can resolve differently from a parameter), arrays work
//! (`= ANY($1)` with `{1,2,3}`), and NULL samples are real NULLs. Bound values
//! are planned as constants (a custom plan), like the application's executions.
//! Normalization turned literals into parameters, and a literal's type came from
//! its syntax: when the server cannot prepare the statement for want of it (a
//! parameter of undeterminable type, an operator or function that `unknown`
//! arguments leave ambiguous, such as `$1 + $2`), the parameters concerned are
//! declared (`text`, or the type the sampled value has as an unquoted literal)
//! and the statement prepared again, a bounded number of times (see
//! [`ParamTypes`]); a statement that prepares as it is is never affected.
//! When a statement has parameters but no sample, nothing is made up: with
//! [`ExplainOptions::generic_fallback`] the *generic* plan is shown instead
//! (`EXPLAIN (GENERIC_PLAN)` on PostgreSQL 16+, `plan_cache_mode =
//! force_generic_plan` + `PREPARE` / `EXPLAIN EXECUTE` before), labelled
//! [`PlanMode::Generic`] and never executed; otherwise the outcome is
//! [`ExplainOutcome::NoSamples`].
//!
//! **Safety.** SELECTs run in `BEGIN READ ONLY` (retried read-write, still rolled
//! back, when the read-only transaction refuses them: `FOR UPDATE`, writing CTEs);
//! INSERT / UPDATE / DELETE / MERGE run in a transaction that is rolled back on
//! every path (sequences advanced by `nextval` are not rolled back — PostgreSQL
//! never does). `statement_timeout` and `lock_timeout` are set with `SET LOCAL`.
//! DDL and other utility statements are refused before anything is sent. The
//! client must not be inside a transaction of its own; dropping the future
//! mid-way leaves the transaction open (the connection should then be dropped).

mod catalog;
mod diagnose;
mod index_advice;
mod param_types;

use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use pgpilot_sql::{QueryShape, StatementKind};
use serde::{Deserialize, Serialize};
use tokio_postgres::types::{to_sql_checked, Format, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::DbError;

pub use catalog::{catalog_facts, table_facts, table_stats, TableStats};
pub use diagnose::{diagnose_query, diagnose_workload, Diagnosis, WorkloadDiagnosis};
pub(crate) use param_types::{LiteralTypes, ParamTypes, MAX_PARAMS};

/// How to run [`explain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainOptions {
    /// Execute the statement (`EXPLAIN ANALYZE`, with BUFFERS). `false` for
    /// production: plain EXPLAIN, nothing is executed.
    pub analyze: bool,
    /// `statement_timeout` for the EXPLAIN (default 30 s).
    pub timeout: Duration,
    /// `lock_timeout` (default 5 s): a write waiting on a row lock gives up.
    pub lock_timeout: Duration,
    /// More settings applied with `SET LOCAL` (e.g. `("work_mem", "64MB")`).
    pub settings: Vec<(String, String)>,
    /// When the statement has parameters and no values are given, show the
    /// generic plan (labelled) instead of returning [`ExplainOutcome::NoSamples`].
    pub generic_fallback: bool,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        ExplainOptions {
            analyze: true,
            timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(5),
            settings: Vec::new(),
            generic_fallback: true,
        }
    }
}

/// How the plan was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// Planned with the real parameter values (or the statement has none).
    Custom,
    /// The generic plan, for want of parameter values: estimates only, not executed.
    Generic,
}

/// The transaction the EXPLAIN ran in (always rolled back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxMode {
    /// `BEGIN READ ONLY` … `ROLLBACK`.
    ReadOnly,
    /// `BEGIN` … `ROLLBACK` (writes, or SELECTs a read-only transaction refuses).
    ReadWriteRolledBack,
}

/// A plan obtained by [`explain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExplainedPlan {
    /// EXPLAIN's JSON output, as PostgreSQL printed it (feed it to `pgpilot_plan::Plan::parse`).
    pub plan_json: String,
    /// The statement was executed (EXPLAIN ANALYZE) — and rolled back.
    pub analyzed: bool,
    /// Custom (real values) or generic plan.
    pub mode: PlanMode,
    /// The transaction it ran in.
    pub transaction: TxMode,
    /// Parameter values used (`None` = NULL); empty for a generic plan.
    pub params: Vec<Option<String>>,
    /// What the statement does.
    pub kind: StatementKind,
}

/// What kind of failure an [`ExplainFailure`] is, from its SQLSTATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The SQL does not parse (42601).
    Syntax,
    /// A table, column, function or schema does not exist (42P01, 42703, 42883, 3F000, 42704).
    UndefinedObject,
    /// Permission denied (42501).
    Permission,
    /// `statement_timeout` cancelled it (57014).
    Timeout,
    /// `lock_timeout` expired (55P03).
    LockTimeout,
    /// A parameter value does not fit its type (class 22), or the value count is wrong.
    BadParameter,
    /// Anything else.
    Other,
}

/// A statement that could not be explained, with the server's words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainFailure {
    /// Classification, for messages and exit codes.
    pub kind: FailureKind,
    /// Five-character SQLSTATE, when the server (or the parser) gave one.
    pub sqlstate: Option<String>,
    /// The error message.
    pub message: String,
    /// DETAIL / HINT lines, when sent.
    pub detail: Option<String>,
}

impl std::fmt::Display for ExplainFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.sqlstate {
            write!(f, " (SQLSTATE {s})")?;
        }
        if let Some(d) = &self.detail {
            write!(f, "; {d}")?;
        }
        Ok(())
    }
}

/// The result of explaining one statement. Only a lost connection is an `Err`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ExplainOutcome {
    /// The plan.
    Explained(ExplainedPlan),
    /// Not a statement pgpilot explains (DDL, SET, transaction control, EXPLAIN, …).
    Refused {
        /// Its kind.
        kind: StatementKind,
        /// Why, in one line.
        reason: String,
    },
    /// The statement has parameters but no usable values were given (and the
    /// generic fallback is off), or the number of values does not match.
    NoSamples {
        /// `$n` parameters of the statement.
        expected: usize,
        /// Values given.
        given: usize,
    },
    /// PostgreSQL refused or cancelled it; the transaction was rolled back and
    /// the connection is usable.
    Failed(ExplainFailure),
}

impl ExplainOutcome {
    /// The plan, when there is one.
    pub fn plan(&self) -> Option<&ExplainedPlan> {
        match self {
            ExplainOutcome::Explained(p) => Some(p),
            _ => None,
        }
    }

    /// One line for reports: `explained (analyzed)`, `failed: …`, ….
    pub fn summary(&self) -> String {
        match self {
            ExplainOutcome::Explained(p) => format!(
                "explained ({}{})",
                if p.analyzed { "analyzed" } else { "not executed" },
                match p.mode {
                    PlanMode::Custom => "",
                    PlanMode::Generic => ", generic plan: no parameter samples",
                }
            ),
            ExplainOutcome::Refused { reason, .. } => format!("refused: {reason}"),
            ExplainOutcome::NoSamples { expected, given } => format!(
                "not explained: the statement has {expected} parameter(s) and {given} value(s) were given"
            ),
            ExplainOutcome::Failed(f) => format!("failed: {f}"),
        }
    }
}

/// A parameter sent in text format, whatever its type: the server parses it with
/// the type's input function. `None` is NULL.
#[derive(Debug)]
pub(crate) struct TextParam<'a>(pub(crate) Option<&'a str>);

impl ToSql for TextParam<'_> {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self.0 {
            None => Ok(IsNull::Yes),
            Some(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

/// EXPLAIN's output column (`json`, or `text` for other formats) as a string.
pub(crate) struct RawText(pub(crate) String);

impl<'a> FromSql<'a> for RawText {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        let raw = if *ty == Type::JSONB && raw.first() == Some(&1) {
            &raw[1..]
        } else {
            raw
        };
        Ok(RawText(String::from_utf8_lossy(raw).into_owned()))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Explains `sql` with `params` as `$1..$n` (`None` = NULL). See the module
/// documentation for how parameters are sent and how the statement is contained.
/// Every failure of the statement itself (syntax, missing table, permission,
/// timeout, bad value) is an [`ExplainOutcome::Failed`]; `Err` means the
/// connection was lost.
pub async fn explain(
    client: &Client,
    sql: &str,
    params: &[Option<String>],
    opts: &ExplainOptions,
) -> Result<ExplainOutcome, DbError> {
    let shape = match QueryShape::parse(sql) {
        Ok(s) => s,
        Err(e) => {
            return Ok(ExplainOutcome::Failed(ExplainFailure {
                kind: FailureKind::Syntax,
                sqlstate: Some("42601".into()),
                message: e.to_string(),
                detail: None,
            }))
        }
    };
    explain_shaped(client, sql, shape.kind, params, opts).await
}

/// [`explain`] for a statement already parsed (its kind known).
pub(crate) async fn explain_shaped(
    client: &Client,
    sql: &str,
    kind: StatementKind,
    params: &[Option<String>],
    opts: &ExplainOptions,
) -> Result<ExplainOutcome, DbError> {
    if kind == StatementKind::Utility {
        return Ok(ExplainOutcome::Refused {
            kind,
            reason: "only SELECT, INSERT, UPDATE, DELETE and MERGE are explained; DDL, SET, \
                     transaction control and other utility statements are never run"
                .into(),
        });
    }
    let read_only = kind == StatementKind::Select;
    let mut types = ParamTypes::default();
    let first = contained(client, sql, kind, params, opts, read_only, &mut types).await?;
    match &first {
        ExplainOutcome::Failed(f) if read_only && f.sqlstate.as_deref() == Some("25006") => {
            contained(client, sql, kind, params, opts, false, &mut types).await
        }
        _ => Ok(first),
    }
}

/// [`attempt`], again after each failure to prepare that [`ParamTypes`] learns
/// from (a parameter whose type the server could not determine, an operator or
/// function that parameters standing for numeric literals left ambiguous). When
/// declarations from literal syntax did not make the statement preparable, the
/// server's first words about the statement itself are reported.
async fn contained(
    client: &Client,
    sql: &str,
    kind: StatementKind,
    params: &[Option<String>],
    opts: &ExplainOptions,
    read_only: bool,
    types: &mut ParamTypes,
) -> Result<ExplainOutcome, DbError> {
    let mut unresolved: Option<ExplainOutcome> = None;
    loop {
        let before = types.clone();
        let outcome = attempt(client, sql, kind, params, opts, read_only, types).await?;
        if *types != before {
            // Learned something: prepare again (every change declares one more
            // parameter, so this ends).
            if types.literal_rounds() > 0 && before.literal_rounds() == 0 {
                unresolved = Some(outcome);
            }
            continue;
        }
        return Ok(match (outcome, unresolved) {
            (ExplainOutcome::Failed(f), Some(first)) if unresolved_call(&f) => first,
            (outcome, _) => outcome,
        });
    }
}

/// A failure to resolve a function or operator (42725, 42883).
fn unresolved_call(f: &ExplainFailure) -> bool {
    matches!(f.sqlstate.as_deref(), Some("42725" | "42883"))
}

/// One attempt inside its own transaction, rolled back whatever happens.
async fn attempt(
    client: &Client,
    sql: &str,
    kind: StatementKind,
    params: &[Option<String>],
    opts: &ExplainOptions,
    read_only: bool,
    types: &mut ParamTypes,
) -> Result<ExplainOutcome, DbError> {
    let begin = if read_only {
        "BEGIN READ ONLY"
    } else {
        "BEGIN READ WRITE"
    };
    client
        .batch_execute(begin)
        .await
        .map_err(|e| DbError::query("starting the EXPLAIN transaction", e))?;
    let tx = if read_only {
        TxMode::ReadOnly
    } else {
        TxMode::ReadWriteRolledBack
    };
    let mut generic_prepared = false;
    let result = inside(
        client,
        sql,
        kind,
        (params, types),
        opts,
        tx,
        &mut generic_prepared,
    )
    .await;
    let rollback = client.batch_execute("ROLLBACK").await;
    if generic_prepared {
        // PREPARE is not transactional: remove it after the rollback.
        let _ = client
            .batch_execute(&format!("DEALLOCATE {GENERIC_NAME}"))
            .await;
    }
    match (result, rollback) {
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(DbError::query("rolling back the EXPLAIN transaction", e)),
        (Ok(o), Ok(())) => Ok(o),
    }
}

const GENERIC_NAME: &str = "pgpilot_explain_generic";

/// A server error becomes a per-query outcome; a lost connection stays an error.
fn failure(context: &str, e: tokio_postgres::Error) -> Result<ExplainOutcome, DbError> {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code().to_string();
        let kind = match code.as_str() {
            "42601" => FailureKind::Syntax,
            "42P01" | "42703" | "42883" | "3F000" | "42704" => FailureKind::UndefinedObject,
            "42501" => FailureKind::Permission,
            "57014" => FailureKind::Timeout,
            "55P03" => FailureKind::LockTimeout,
            c if c.starts_with("22") => FailureKind::BadParameter,
            _ => FailureKind::Other,
        };
        let detail = match (db.detail(), db.hint()) {
            (Some(d), Some(h)) => Some(format!("{d} {h}")),
            (Some(d), None) => Some(d.to_string()),
            (None, Some(h)) => Some(h.to_string()),
            (None, None) => None,
        };
        let message = if kind == FailureKind::Timeout {
            format!("{} (statement_timeout)", db.message())
        } else {
            db.message().to_string()
        };
        return Ok(ExplainOutcome::Failed(ExplainFailure {
            kind,
            sqlstate: Some(code),
            message,
            detail,
        }));
    }
    let err = DbError::query(context, e);
    if err.is_connection_lost() {
        return Err(err);
    }
    Ok(ExplainOutcome::Failed(ExplainFailure {
        kind: FailureKind::Other,
        sqlstate: err.sqlstate().map(str::to_string),
        message: err.to_string(),
        detail: None,
    }))
}

fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

async fn inside(
    client: &Client,
    sql: &str,
    kind: StatementKind,
    (params, types): (&[Option<String>], &mut ParamTypes),
    opts: &ExplainOptions,
    tx: TxMode,
    generic_prepared: &mut bool,
) -> Result<ExplainOutcome, DbError> {
    let timeout = millis(opts.timeout);
    let lock_timeout = millis(opts.lock_timeout);
    let row = match client
        .query_one(
            "SELECT current_setting('server_version_num')::int, \
             set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)",
            &[&timeout, &lock_timeout],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return failure("setting the EXPLAIN timeouts", e),
    };
    let version: i32 = row.try_get(0).unwrap_or(0);
    for (name, value) in &opts.settings {
        if let Err(e) = client
            .query_one("SELECT set_config($1, $2, true)", &[name, value])
            .await
        {
            return failure("applying a setting", e);
        }
    }
    let settings = if version >= 120_000 { ", SETTINGS" } else { "" };
    let options = if opts.analyze {
        format!("ANALYZE, BUFFERS{settings}, FORMAT JSON")
    } else {
        format!("FORMAT JSON{settings}")
    };
    let text = format!("EXPLAIN ({options}) {sql}");
    let stmt = match client.prepare_typed(&text, types.types()).await {
        Ok(s) => s,
        Err(e) => {
            // The caller sees `types` change and prepares again.
            types.learn_from(&e, &text, &LiteralTypes::of(params), MAX_PARAMS);
            return failure("preparing the statement", e);
        }
    };
    let expected = stmt.params().len();
    if expected > 0 && params.is_empty() {
        if !opts.generic_fallback {
            return Ok(ExplainOutcome::NoSamples { expected, given: 0 });
        }
        return generic(
            client,
            sql,
            kind,
            expected,
            (version, settings),
            types,
            tx,
            generic_prepared,
        )
        .await;
    }
    if params.len() != expected {
        return Ok(ExplainOutcome::NoSamples {
            expected,
            given: params.len(),
        });
    }
    let values: Vec<TextParam<'_>> = params.iter().map(|p| TextParam(p.as_deref())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let rows = match client.query(&stmt, &refs).await {
        Ok(r) => r,
        Err(e) => return failure("running EXPLAIN", e),
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        match r.try_get::<_, RawText>(0) {
            Ok(t) => out.push(t.0),
            Err(e) => return failure("reading the EXPLAIN output", e),
        }
    }
    Ok(ExplainOutcome::Explained(ExplainedPlan {
        plan_json: out.join("\n"),
        analyzed: opts.analyze,
        mode: PlanMode::Custom,
        transaction: tx,
        params: params.to_vec(),
        kind,
    }))
}

/// The generic plan of a statement with parameters and no values; never executed.
/// Parameters declared in `types` need `PREPARE`, whatever the server version.
#[allow(clippy::too_many_arguments)]
async fn generic(
    client: &Client,
    sql: &str,
    kind: StatementKind,
    expected: usize,
    (version, settings): (i32, &str),
    types: &ParamTypes,
    tx: TxMode,
    generic_prepared: &mut bool,
) -> Result<ExplainOutcome, DbError> {
    let explained = |plan_json: String| {
        Ok(ExplainOutcome::Explained(ExplainedPlan {
            plan_json,
            analyzed: false,
            mode: PlanMode::Generic,
            transaction: tx,
            params: Vec::new(),
            kind,
        }))
    };
    if version >= 160_000 && !types.any_declared() {
        let text = format!("EXPLAIN (GENERIC_PLAN, FORMAT JSON{settings}) {sql}");
        return match client.simple_query(&text).await {
            Ok(msgs) => explained(simple_rows(&msgs)),
            Err(e) => failure("explaining the generic plan", e),
        };
    }
    if let Err(e) = client
        .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
    {
        return failure("forcing a generic plan", e);
    }
    // The statement is known to be a single, valid one: it was prepared above.
    if let Err(e) = client
        .batch_execute(&format!(
            "PREPARE {GENERIC_NAME}{} AS {sql}",
            types.prepare_list()
        ))
        .await
    {
        return failure("preparing the generic plan", e);
    }
    *generic_prepared = true;
    let nulls = vec!["NULL"; expected].join(", ");
    let text = format!("EXPLAIN (FORMAT JSON{settings}) EXECUTE {GENERIC_NAME}({nulls})");
    match client.simple_query(&text).await {
        Ok(msgs) => explained(simple_rows(&msgs)),
        Err(e) => failure("explaining the generic plan", e),
    }
}

fn simple_rows(msgs: &[SimpleQueryMessage]) -> String {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_summarize_in_one_line() {
        let f = ExplainOutcome::Failed(ExplainFailure {
            kind: FailureKind::Timeout,
            sqlstate: Some("57014".into()),
            message: "canceling statement due to statement timeout".into(),
            detail: None,
        });
        assert_eq!(
            f.summary(),
            "failed: canceling statement due to statement timeout (SQLSTATE 57014)"
        );
        let n = ExplainOutcome::NoSamples {
            expected: 2,
            given: 0,
        };
        assert!(n.summary().contains("2 parameter(s)"));
        assert!(n.plan().is_none());
        let json = serde_json::to_string(&n).unwrap_or_default();
        assert!(json.contains("\"outcome\":\"no_samples\""), "{json}");
    }

    #[test]
    fn timeouts_are_written_in_milliseconds() {
        assert_eq!(millis(Duration::from_secs(30)), "30000ms");
        assert_eq!(millis(Duration::from_micros(10)), "1ms");
    }
}
