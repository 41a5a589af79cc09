//! One change, tried until it sticks: `CREATE INDEX CONCURRENTLY`, `DROP INDEX
//! CONCURRENTLY` or `ANALYZE`, each try under `lock_timeout` /
//! `statement_timeout`, with an INVALID index left by a failed concurrent build
//! dropped (concurrently) before the next try, a lost connection re-established,
//! exponential backoff between tries, and a record of every try.

use std::time::{Duration, Instant};

use tokio::time::sleep;

use super::session::{blockers, index_state, FailureKind, IndexState, Session};
use super::{fmt_duration, ApplyEvent, Progress, TryRecord};
use crate::error::DbError;

/// The index a step is about: `schema.name` on `table` (`schema.table`).
#[derive(Debug, Clone)]
pub(crate) struct IndexTarget {
    pub schema: String,
    pub name: String,
    pub table: String,
}

impl IndexTarget {
    pub fn shown(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// Run this `CREATE [UNIQUE] INDEX CONCURRENTLY` statement.
    Create { ddl: String },
    /// Build this index on a partitioned table: `ON ONLY` the parent, then
    /// concurrently on each partition and attached (see `partitioned`).
    CreatePartitioned {
        index: Box<pgpilot_advisor::IndexDef>,
    },
    /// `DROP INDEX CONCURRENTLY` the target.
    Drop,
    /// `ANALYZE` the target's table.
    Analyze,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepOutcome {
    /// The change is in place now.
    Done,
    /// Nothing to do: it was already so before the first try.
    AlreadyThere,
    /// Given up.
    Failed,
}

/// A step's result.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub outcome: StepOutcome,
    pub tries: Vec<TryRecord>,
    /// One line for the report and the journal.
    pub message: String,
}

enum TryEnd {
    Done,
    AlreadyThere(String),
    GiveUp(String),
    Failed {
        kind: FailureKind,
        error: String,
        cleanup: Option<String>,
    },
}

/// The server's message of an error, without the context wrapper.
pub(crate) fn short(err: &DbError) -> String {
    match err {
        DbError::Query { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `schema.name` quoted as an identifier, by the server.
pub(crate) async fn quoted(sess: &Session, schema: &str, name: &str) -> Result<String, DbError> {
    let row = sess
        .client
        .query_one(
            "SELECT format('%I.%I', $1::text, $2::text)",
            &[&schema, &name],
        )
        .await
        .map_err(|e| DbError::query("quoting a name", e))?;
    Ok(row.get(0))
}

/// Runs `op` on `target` with retries; never leaves an INVALID index it made
/// unless it says so in the message.
pub(crate) async fn run_step(
    sess: &mut Session,
    op: &Op,
    target: &IndexTarget,
    progress: Progress<'_>,
) -> StepResult {
    let timing = sess.timing().clone();
    let total = timing.tries();
    let mut tries: Vec<TryRecord> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let shown = match op {
        Op::Analyze => target.table.clone(),
        _ => target.shown(),
    };
    for attempt in 1..=total {
        if attempt > 1 {
            sleep(timing.backoff_before(attempt)).await;
        }
        if sess.stop.requested() {
            break;
        }
        let started = Instant::now();
        let end = one_try(sess, op, target, attempt, &mut notes, progress).await;
        let elapsed = started.elapsed();
        let mut record = TryRecord {
            attempt,
            elapsed_ms: elapsed.as_secs_f64() * 1000.0,
            error: None,
            failure: None,
            cleanup: None,
        };
        match end {
            TryEnd::Done => {
                tries.push(record);
                let mut message = match op {
                    Op::Create { .. } | Op::CreatePartitioned { .. } => {
                        format!("created index {shown}")
                    }
                    Op::Drop => format!("dropped index {shown}"),
                    Op::Analyze => format!("analyzed {shown}"),
                };
                message.push_str(&format!(" in {}", fmt_duration(elapsed)));
                if attempt > 1 {
                    let mut why: Vec<String> =
                        tries.iter().filter_map(|t| t.failure.clone()).collect();
                    why.dedup();
                    let why = why.join(", ");
                    message.push_str(&format!(" (try {attempt} of {total}, after {why})"));
                }
                notes
                    .iter()
                    .for_each(|n| message.push_str(&format!("; {n}")));
                return StepResult {
                    outcome: StepOutcome::Done,
                    tries,
                    message,
                };
            }
            TryEnd::AlreadyThere(what) => {
                tries.push(record);
                let mut message = format!("nothing to do: {what}");
                notes
                    .iter()
                    .for_each(|n| message.push_str(&format!("; {n}")));
                return StepResult {
                    outcome: StepOutcome::AlreadyThere,
                    tries,
                    message,
                };
            }
            TryEnd::GiveUp(why) => {
                record.error = Some(why.clone());
                tries.push(record);
                return StepResult {
                    outcome: StepOutcome::Failed,
                    tries,
                    message: format!("gave up on {shown}: {why}"),
                };
            }
            TryEnd::Failed {
                kind,
                error,
                cleanup,
            } => {
                if kind == FailureKind::ConnectionLost
                    && sess.client.simple_query("SELECT 1").await.is_err()
                {
                    sess.mark_lost();
                }
                let retry = kind.retryable() && attempt < total && !sess.stop.requested();
                progress(ApplyEvent::TryFailed {
                    what: shown.clone(),
                    attempt,
                    tries: total,
                    error: error.clone(),
                    cleanup: cleanup.clone(),
                    retry_in: retry.then(|| timing.backoff_before(attempt + 1)),
                });
                record.error = Some(error);
                record.failure = Some(kind.label().to_string());
                record.cleanup = cleanup;
                tries.push(record);
                if !retry {
                    break;
                }
            }
        }
    }
    let last = tries
        .last()
        .and_then(|t| t.error.clone())
        .unwrap_or_default();
    let n = tries.len();
    let mut message = if sess.stop.requested() {
        format!("interrupted during {shown} (Ctrl-C): {last}")
    } else {
        format!(
            "gave up on {shown} after {n} {}: {last}",
            if n == 1 { "try" } else { "tries" }
        )
    };
    message.push_str(&leftover_note(sess, op, target, progress).await);
    StepResult {
        outcome: StepOutcome::Failed,
        tries,
        message,
    }
}

/// After giving up: whether an INVALID index remains, in words.
async fn leftover_note(
    sess: &mut Session,
    op: &Op,
    target: &IndexTarget,
    progress: Progress<'_>,
) -> String {
    if matches!(op, Op::Analyze) {
        return String::new();
    }
    if let Err(e) = sess.ensure_alive(progress).await {
        return format!("; could not check what was left behind: {e}");
    }
    match index_state(&sess.client, &target.schema, &target.name, &target.table).await {
        Ok(IndexState::Invalid) => format!(
            "; the INVALID index {} is still there (queries do not use it, writes maintain it): \
             the next apply drops it first, or run DROP INDEX CONCURRENTLY {} once the blocking \
             transaction has ended",
            target.shown(),
            target.shown()
        ),
        Ok(_) => match op {
            Op::Create { .. } => "; nothing was left behind".to_string(),
            _ => String::new(),
        },
        Err(e) => format!("; could not check what was left behind: {}", short(&e)),
    }
}

async fn one_try(
    sess: &mut Session,
    op: &Op,
    target: &IndexTarget,
    attempt: u32,
    notes: &mut Vec<String>,
    progress: Progress<'_>,
) -> TryEnd {
    if let Err(e) = sess.ensure_alive(progress).await {
        return TryEnd::Failed {
            kind: FailureKind::ConnectionLost,
            error: format!("could not reconnect: {e}"),
            cleanup: None,
        };
    }
    let failed = |e: DbError| TryEnd::Failed {
        kind: FailureKind::of(&e),
        error: short(&e),
        cleanup: None,
    };
    if matches!(op, Op::Analyze) {
        return match analyze(sess, &target.table).await {
            Ok(()) => TryEnd::Done,
            Err(e) => failed(e),
        };
    }
    let state = match index_state(&sess.client, &target.schema, &target.name, &target.table).await {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    match (op, state) {
        (_, IndexState::Other { what }) => TryEnd::GiveUp(what),
        (Op::Create { .. }, IndexState::Valid { definition }) => {
            if attempt == 1 {
                TryEnd::AlreadyThere(format!(
                    "index {} already exists ({definition})",
                    target.shown()
                ))
            } else {
                TryEnd::Done
            }
        }
        (Op::Drop, IndexState::Absent) if attempt == 1 => {
            TryEnd::AlreadyThere(format!("index {} is already gone", target.shown()))
        }
        (Op::Drop, IndexState::Absent) => TryEnd::Done,
        (Op::Create { ddl }, state) => {
            if state == IndexState::Invalid {
                match drop_index(sess, target).await {
                    Ok(()) => notes.push(format!(
                        "dropped the INVALID index {} left by an earlier failed build",
                        target.shown()
                    )),
                    Err(e) => {
                        return TryEnd::Failed {
                            kind: FailureKind::of(&e),
                            error: format!(
                                "could not drop the INVALID index {} left by an earlier failed build: {}",
                                target.shown(),
                                short(&e)
                            ),
                            cleanup: None,
                        }
                    }
                }
            }
            create(sess, target, ddl, progress).await
        }
        (Op::Drop, _) => {
            if let Some(end) = refuse_constraint_index(sess, target).await {
                return end;
            }
            if let Some(end) = preflight(sess, target, false).await {
                return end;
            }
            match drop_index(sess, target).await {
                Ok(()) => TryEnd::Done,
                Err(e) => failed(e),
            }
        }
        (Op::Analyze, _) => TryEnd::GiveUp("unreachable".into()),
        (Op::CreatePartitioned { .. }, _) => {
            TryEnd::GiveUp("a partitioned index is built by its own procedure".into())
        }
    }
}

/// One `CREATE INDEX CONCURRENTLY`, with the cleanup of what a failure leaves.
async fn create(
    sess: &mut Session,
    target: &IndexTarget,
    ddl: &str,
    progress: Progress<'_>,
) -> TryEnd {
    if let Some(end) = preflight(sess, target, true).await {
        return end;
    }
    let started = Instant::now();
    let result = sess.client.execute(ddl, &[]).await;
    let err = match result {
        Ok(_) => {
            return match index_state(&sess.client, &target.schema, &target.name, &target.table)
                .await
            {
                Ok(IndexState::Valid { .. }) => TryEnd::Done,
                Ok(other) => TryEnd::GiveUp(format!(
                    "the statement succeeded but {} is not a valid index on {} ({other:?}): \
                     check the plan's DDL",
                    target.shown(),
                    target.table
                )),
                Err(e) => TryEnd::Failed {
                    kind: FailureKind::of(&e),
                    error: short(&e),
                    cleanup: None,
                },
            };
        }
        Err(e) => DbError::query(format!("creating index {}", target.shown()), e),
    };
    let kind = FailureKind::of(&err);
    if kind == FailureKind::ConnectionLost {
        sess.mark_lost();
    }
    let mut error = format!("{} after {}", short(&err), fmt_duration(started.elapsed()));
    if kind == FailureKind::LockTimeout && !sess.client.is_closed() {
        if let Ok(found) = blockers(&sess.client, &target.table, Duration::ZERO, true).await {
            if !found.is_empty() {
                let who: Vec<String> = found.iter().map(|b| b.describe()).collect();
                error.push_str(&format!(" (waiting for {})", who.join("; ")));
            }
        }
    }
    let cleanup = cleanup_invalid(sess, target, progress).await;
    TryEnd::Failed {
        kind,
        error,
        cleanup,
    }
}

/// Drops the INVALID index a failed build left, reconnecting first if needed.
async fn cleanup_invalid(
    sess: &mut Session,
    target: &IndexTarget,
    progress: Progress<'_>,
) -> Option<String> {
    if let Err(e) = sess.ensure_alive(progress).await {
        return Some(format!("could not reconnect to clean up: {e}"));
    }
    match index_state(&sess.client, &target.schema, &target.name, &target.table).await {
        Ok(IndexState::Invalid) => {}
        Ok(_) => return None,
        Err(e) => {
            return Some(format!(
                "could not check for an INVALID index: {}",
                short(&e)
            ))
        }
    }
    Some(match drop_index(sess, target).await {
        Ok(()) => {
            progress(ApplyEvent::Cleanup {
                message: format!(
                    "dropped the INVALID index {} the failed build left",
                    target.shown()
                ),
            });
            format!("dropped the INVALID index {} it left", target.shown())
        }
        Err(e) => format!(
            "could not drop the INVALID index {} it left yet: {}",
            target.shown(),
            short(&e)
        ),
    })
}

/// Refuses to start a concurrent statement that would have to wait for a
/// transaction already open longer than `lock_timeout`: it would time out, and
/// a build timing out after its first phase leaves an INVALID index.
async fn preflight(sess: &Session, target: &IndexTarget, snapshots: bool) -> Option<TryEnd> {
    let lock_timeout = sess.timing().lock_timeout?;
    match blockers(&sess.client, &target.table, lock_timeout, snapshots).await {
        Ok(found) if !found.is_empty() => {
            let who: Vec<String> = found.iter().map(|b| b.describe()).collect();
            Some(TryEnd::Failed {
                kind: FailureKind::LockTimeout,
                error: format!(
                    "not started: it would wait longer than lock_timeout ({}) for {}",
                    fmt_duration(lock_timeout),
                    who.join("; ")
                ),
                cleanup: None,
            })
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!("preflight: {e}");
            None
        }
    }
}

/// Refuses to drop an index a constraint depends on.
async fn refuse_constraint_index(sess: &Session, target: &IndexTarget) -> Option<TryEnd> {
    let row = sess
        .client
        .query_opt(
            "SELECT co.conname FROM pg_constraint co \
             JOIN pg_class c ON c.oid = co.conindid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 LIMIT 1",
            &[&target.schema, &target.name],
        )
        .await;
    match row {
        Ok(Some(r)) => Some(TryEnd::GiveUp(format!(
            "index {} backs constraint {}; drop the constraint instead if it is really unused",
            target.shown(),
            r.get::<_, String>(0)
        ))),
        Ok(None) => None,
        Err(e) => Some(TryEnd::Failed {
            kind: FailureKind::of(&DbError::query("checking constraints", e)),
            error: "could not check the constraints using the index".into(),
            cleanup: None,
        }),
    }
}

/// `DROP INDEX CONCURRENTLY IF EXISTS schema.name`, or for a partitioned index
/// (which cannot be dropped concurrently) a plain `DROP INDEX IF EXISTS`, which
/// drops its partitions' indexes with it under a brief ACCESS EXCLUSIVE lock.
pub(crate) async fn drop_sql(sess: &Session, schema: &str, name: &str) -> Result<String, DbError> {
    let row = sess
        .client
        .query_one(
            "SELECT format('%I.%I', $1::text, $2::text), \
                    coalesce((SELECT c.relkind = 'I' FROM pg_class c \
                              JOIN pg_namespace n ON n.oid = c.relnamespace \
                              WHERE n.nspname = $1 AND c.relname = $2), false)",
            &[&schema, &name],
        )
        .await
        .map_err(|e| DbError::query(format!("looking up index {schema}.{name}"), e))?;
    let (q, partitioned): (String, bool) = (row.get(0), row.get(1));
    Ok(if partitioned {
        format!("DROP INDEX IF EXISTS {q}")
    } else {
        format!("DROP INDEX CONCURRENTLY IF EXISTS {q}")
    })
}

async fn drop_index(sess: &Session, target: &IndexTarget) -> Result<(), DbError> {
    let sql = drop_sql(sess, &target.schema, &target.name).await?;
    sess.client
        .execute(&sql, &[])
        .await
        .map_err(|e| DbError::query(format!("dropping index {}", target.shown()), e))?;
    Ok(())
}

async fn analyze(sess: &Session, table: &str) -> Result<(), DbError> {
    let row = sess
        .client
        .query_opt(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname || '.' || c.relname = $1",
            &[&table],
        )
        .await
        .map_err(|e| DbError::query(format!("looking up {table}"), e))?;
    let Some(row) = row else {
        return Err(DbError::Query {
            context: format!("analyzing {table}"),
            message: format!("table {table} does not exist"),
            sqlstate: Some("42P01".into()),
        });
    };
    let q: String = row.get(0);
    sess.client
        .execute(&format!("ANALYZE {q}"), &[])
        .await
        .map_err(|e| DbError::query(format!("analyzing {table}"), e))?;
    Ok(())
}
