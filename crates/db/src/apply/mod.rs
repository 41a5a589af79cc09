//! `apply` and `rollback`: the only code in pgpilot that changes a database.
//!
//! [`apply_plan`] checks that the plan still fits the database
//! ([`crate::plan_identity::check_plan`]), and without approval
//! ([`ApplyOptions::dry_run`], the default) only describes what it would do,
//! writing nothing at all. With approval it works on one dedicated connection:
//! it takes an advisory lock ([`APPLY_LOCK_KEY`]) so two runs never race, creates
//! the journal `pgpilot.changes` on first use, and then, per change, runs
//! `CREATE INDEX CONCURRENTLY` (or `DROP INDEX CONCURRENTLY`, `ANALYZE`) under
//! `lock_timeout` / `statement_timeout`. A failed try (lock timeout, statement
//! timeout, cancel, deadlock, lost connection) has the INVALID index it left
//! dropped concurrently and is retried with exponential backoff; a try that
//! would have to wait for a transaction already open longer than `lock_timeout`
//! is not started at all (it could only time out after its first phase and
//! leave an INVALID index). Every outcome is journaled: `applied`,
//! `already_present` (an index of that name already existed: nothing to undo)
//! or `failed` (with every try's error); items not selected (unverified, no
//! gain, regression, drops or ANALYZE not requested) are reported but not
//! journaled.
//!
//! [`rollback()`] undoes journaled changes concurrently, idempotently.

mod items;
mod journal;
mod partitioned;
pub use partitioned::partitioned_index_script;
mod rollback;
mod session;
mod steps;

use std::time::{Duration, Instant};

use pgpilot_advisor::{AdvicePlan, ChangeAction, ChangeStatus};
use serde::Serialize;

use crate::conn::ConnSpec;
use crate::error::DbError;
use crate::plan_identity::{check_plan, PlanMismatch};
pub(crate) use items::concurrent_create;
use items::{plan_items, Planned};
use journal::{ensure_journal, record_change, NewChange};
pub use journal::{journal, JournalFilter};
pub use rollback::{
    rollback, rollback_until, RollbackItem, RollbackOptions, RollbackOutcome, RollbackReport,
    RollbackSelector,
};
pub use session::APPLY_LOCK_KEY;
use session::{index_state, IndexState, Session, Timing};
use steps::{run_step, short, IndexTarget, Op, StepOutcome};

/// Where progress goes: called with each [`ApplyEvent`] as it happens.
pub type Progress<'a> = &'a mut (dyn FnMut(ApplyEvent) + Send);

/// How to apply a plan.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Only describe what would be done, touching nothing (no `--approve`).
    /// The default.
    pub dry_run: bool,
    /// `lock_timeout` of every statement (`None` = wait forever). Default 5 s.
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` of every statement (`None` = no limit, the default:
    /// an index build takes what it takes).
    pub statement_timeout: Option<Duration>,
    /// Tries after the first when a try fails for a reason that may pass (lock
    /// or statement timeout, cancel, deadlock, lost connection). Default 3.
    pub max_retries: u32,
    /// Wait before the first retry, doubled before each further one. Default 1 s.
    pub backoff: Duration,
    /// How long to wait for another `apply` / `rollback` of the same database
    /// to finish before refusing. Default 30 s.
    pub wait_for_lock: Duration,
    /// Also `ANALYZE` the plan's tables with stale statistics.
    pub analyze: bool,
    /// Apply only recommendations `verify` measured as `verified` (default).
    /// When false, unverified ones are applied too; `no_gain` and `regression`
    /// never are.
    pub only_verified: bool,
    /// Also apply the plan's index drops (default false).
    pub include_drops: bool,
    /// Load each new index into shared_buffers with `pg_prewarm` (when that
    /// extension is installed), so the first queries do not pay cold reads:
    /// a concurrent build writes the index around the buffer cache.
    pub prewarm: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            dry_run: true,
            lock_timeout: Some(Duration::from_secs(5)),
            statement_timeout: None,
            max_retries: 3,
            backoff: Duration::from_secs(1),
            wait_for_lock: Duration::from_secs(30),
            analyze: false,
            only_verified: true,
            include_drops: false,
            prewarm: false,
        }
    }
}

impl ApplyOptions {
    fn timing(&self) -> Timing {
        Timing {
            lock_timeout: self.lock_timeout.filter(|d| !d.is_zero()),
            statement_timeout: self.statement_timeout.filter(|d| !d.is_zero()),
            max_retries: self.max_retries,
            backoff: self.backoff,
            wait_for_lock: self.wait_for_lock,
        }
    }
}

/// Why `apply` or `rollback` refused or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Connecting or a query failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The plan does not fit this database.
    #[error(transparent)]
    Plan(#[from] PlanMismatch),
    /// Another apply or rollback of this database holds the lock.
    #[error("another pgpilot apply is running{} (waited {} for it): try again when it has finished", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), fmt_duration(*.waited))]
    Busy {
        /// The backend holding the lock, when visible.
        pid: Option<i32>,
        /// How long this run waited.
        waited: Duration,
    },
    /// The server is a standby.
    #[error("{target} is a standby (read-only): apply to the primary")]
    Standby {
        /// Host and port.
        target: String,
    },
    /// The rollback selector matched nothing that could be rolled back.
    #[error("nothing to roll back: {reason}")]
    NothingToRollBack {
        /// Why, in words.
        reason: String,
    },
}

/// Something that happened while applying or rolling back, for progress output.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyEvent {
    /// The plan fits the database.
    PlanChecked {
        /// The plan's id.
        plan_id: String,
    },
    /// Another run holds the lock; waiting.
    WaitingForLock {
        /// Its backend, when visible.
        holder_pid: Option<i32>,
        /// How long this run will wait at most.
        up_to: Duration,
    },
    /// The lock was taken after waiting.
    LockAcquired {
        /// How long it took.
        waited: Duration,
    },
    /// A change starts.
    Started {
        /// 1-based position.
        position: usize,
        /// Number of changes.
        total: usize,
        /// What it is.
        description: String,
    },
    /// A try failed.
    TryFailed {
        /// Index or table.
        what: String,
        /// Which try (1-based).
        attempt: u32,
        /// Tries allowed.
        tries: u32,
        /// The error.
        error: String,
        /// What was cleaned up after it.
        cleanup: Option<String>,
        /// When the next try starts, if there is one.
        retry_in: Option<Duration>,
    },
    /// An INVALID index was dropped.
    Cleanup {
        /// What was done.
        message: String,
    },
    /// The connection was lost and re-established.
    Reconnected,
    /// A part of a change is done (a partition's index of a partitioned index).
    Progress {
        /// What was done.
        message: String,
    },
    /// A change ended.
    Finished {
        /// Whether it is in place (or was already).
        ok: bool,
        /// What happened.
        message: String,
    },
}

impl std::fmt::Display for ApplyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyEvent::PlanChecked { plan_id } => {
                write!(f, "plan {plan_id} matches this database")
            }
            ApplyEvent::WaitingForLock { holder_pid, up_to } => write!(
                f,
                "another pgpilot apply is running{}; waiting up to {}",
                holder_pid
                    .map(|p| format!(" (pid {p})"))
                    .unwrap_or_default(),
                fmt_duration(*up_to)
            ),
            ApplyEvent::LockAcquired { waited } => {
                write!(f, "the other run finished after {}", fmt_duration(*waited))
            }
            ApplyEvent::Started {
                position,
                total,
                description,
            } => write!(f, "[{position}/{total}] {description}"),
            ApplyEvent::TryFailed {
                what,
                attempt,
                tries,
                error,
                cleanup,
                retry_in,
            } => {
                write!(f, "  try {attempt} of {tries} on {what} failed: {error}")?;
                if let Some(c) = cleanup {
                    write!(f, "; {c}")?;
                }
                match retry_in {
                    Some(d) => write!(f, "; retrying in {}", fmt_duration(*d)),
                    None => Ok(()),
                }
            }
            ApplyEvent::Cleanup { message } | ApplyEvent::Progress { message } => {
                write!(f, "  {message}")
            }
            ApplyEvent::Reconnected => write!(f, "  connection lost: reconnected"),
            ApplyEvent::Finished { ok, message } => {
                write!(f, "  {} {message}", if *ok { "ok:" } else { "FAILED:" })
            }
        }
    }
}

/// How one item of a plan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyOutcome {
    /// Dry run: would be applied.
    WouldApply,
    /// Applied now.
    Applied,
    /// Nothing to do: already in place.
    AlreadyPresent,
    /// Not selected (unverified, no gain, regression, not requested, bad DDL).
    Skipped,
    /// Given up; see the message and the tries.
    Failed,
}

/// One try of a change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TryRecord {
    /// 1-based.
    pub attempt: u32,
    /// How long it took.
    pub elapsed_ms: f64,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The kind of failure (`lock timeout`, `cancelled`, …).
    pub failure: Option<String>,
    /// What was cleaned up after the failure.
    pub cleanup: Option<String>,
}

/// One item of a plan and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyItem {
    /// What kind of change.
    pub action: ChangeAction,
    /// The index (`schema.name`), or the table for ANALYZE.
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// The statement (to be) run.
    pub ddl: String,
    /// The statement that undoes it (empty when there is nothing to undo).
    pub rollback_ddl: String,
    /// How it ended.
    pub outcome: ApplyOutcome,
    /// In words.
    pub message: String,
    /// Every try.
    pub tries: Vec<TryRecord>,
    /// Time spent on it.
    pub elapsed_ms: f64,
    /// Its journal row.
    pub change_id: Option<i64>,
    /// Verified calls-weighted time of the served queries before, in ms.
    pub before_ms: Option<f64>,
    /// … and after.
    pub after_ms: Option<f64>,
}

/// What `apply` did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApplyReport {
    /// The plan's id.
    pub plan_id: String,
    /// The database.
    pub database: String,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Every item, in the order handled: index builds, drops, ANALYZE.
    pub items: Vec<ApplyItem>,
    /// Total time.
    pub elapsed_ms: f64,
    /// Stopped by Ctrl-C: the change running was cancelled (and journaled),
    /// the ones after it not started.
    pub interrupted: bool,
}

impl ApplyReport {
    /// Items with this outcome.
    pub fn count(&self, outcome: ApplyOutcome) -> usize {
        self.items.iter().filter(|i| i.outcome == outcome).count()
    }

    /// True when nothing failed.
    pub fn succeeded(&self) -> bool {
        self.count(ApplyOutcome::Failed) == 0
    }
}

/// `1.2 s`, `850 ms`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else if d < Duration::from_secs(120) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// Applies `plan` to the database of `spec` (see the module documentation), or
/// in a dry run describes what it would do without writing anything.
pub async fn apply_plan(
    spec: &ConnSpec,
    plan: &AdvicePlan,
    options: &ApplyOptions,
    progress: Progress<'_>,
) -> Result<ApplyReport, ApplyError> {
    apply_plan_until(spec, plan, options, progress, std::future::pending()).await
}

/// [`apply_plan`] that stops when `stop` resolves (Ctrl-C): the statement
/// running is cancelled, what it left (an INVALID index) cleaned up and the
/// change journaled as failed; later changes are not started. A stop while
/// waiting for another run's lock ends with [`DbError::Interrupted`].
pub async fn apply_plan_until(
    spec: &ConnSpec,
    plan: &AdvicePlan,
    options: &ApplyOptions,
    progress: Progress<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<ApplyReport, ApplyError> {
    tokio::pin!(stop);
    let started = Instant::now();
    let mut sess = Session::open(spec, options.timing()).await?;
    check_plan(&sess.client, plan).await?;
    progress(ApplyEvent::PlanChecked {
        plan_id: plan.id.clone(),
    });
    let planned = plan_items(&sess, plan, options).await?;
    let items = if options.dry_run {
        describe(&sess, planned).await?
    } else {
        sess.refuse_standby().await?;
        let waited = tokio::select! {
            w = sess.acquire_lock(progress) => w?,
            _ = stop.as_mut() => return Err(DbError::Interrupted.into()),
        };
        let result = apply_items(
            &mut sess,
            plan,
            planned,
            waited,
            options.prewarm,
            progress,
            stop,
        )
        .await;
        sess.release_lock().await;
        result?
    };
    let interrupted = sess.stop.requested();
    Ok(ApplyReport {
        plan_id: plan.id.clone(),
        database: spec.dbname().to_string(),
        dry_run: options.dry_run,
        items,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        interrupted,
    })
}

/// Runs one step; when `stop` fires meanwhile, the session's stop is requested
/// (the statement cancelled, no further try) and the step left to finish its
/// clean-up.
pub(crate) async fn step_until(
    sess: &mut Session,
    op: &Op,
    target: &IndexTarget,
    progress: Progress<'_>,
    stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> steps::StepResult {
    let signal = sess.stop.clone();
    if signal.requested() {
        return dispatch(sess, op, target, progress).await;
    }
    let step = dispatch(sess, op, target, progress);
    tokio::pin!(step);
    tokio::select! {
        r = &mut step => return r,
        _ = stop.as_mut() => signal.request().await,
    }
    step.await
}

/// Runs one step, a partitioned index by its own procedure.
async fn dispatch(
    sess: &mut Session,
    op: &Op,
    target: &IndexTarget,
    progress: Progress<'_>,
) -> steps::StepResult {
    match op {
        Op::CreatePartitioned { index } => partitioned::run(sess, index, target, progress).await,
        _ => run_step(sess, op, target, progress).await,
    }
}

/// Dry run: what would be done, from read-only look-ups.
async fn describe(sess: &Session, planned: Vec<Planned>) -> Result<Vec<ApplyItem>, DbError> {
    let mut out = Vec::new();
    for Planned { mut item, step } in planned {
        if let Some((op, t)) = step {
            let state = match op {
                Op::Analyze => IndexState::Absent,
                _ => index_state(&sess.client, &t.schema, &t.name, &t.table).await?,
            };
            (item.outcome, item.message) = match (&op, state) {
                (Op::Create { .. } | Op::CreatePartitioned { .. }, IndexState::Valid { .. }) => (
                    ApplyOutcome::AlreadyPresent,
                    format!("nothing to do: index {} already exists", t.shown()),
                ),
                (Op::Drop, IndexState::Absent) => (
                    ApplyOutcome::AlreadyPresent,
                    format!("nothing to do: index {} is already gone", t.shown()),
                ),
                (_, IndexState::Other { what }) => {
                    (ApplyOutcome::Failed, format!("would fail: {what}"))
                }
                (Op::CreatePartitioned { index }, state) => {
                    match partitioned::describe(sess, index, &t, &state).await {
                        Ok(m) => (ApplyOutcome::WouldApply, m),
                        Err(e) => (ApplyOutcome::Failed, format!("would fail: {}", short(&e))),
                    }
                }
                (Op::Create { .. }, IndexState::Invalid) => (
                    ApplyOutcome::WouldApply,
                    format!(
                        "would drop the INVALID index {} left by an earlier failed build, then run: {}",
                        t.shown(),
                        item.ddl
                    ),
                ),
                _ => (ApplyOutcome::WouldApply, format!("would run: {}", item.ddl)),
            };
        }
        out.push(item);
    }
    Ok(out)
}

/// With the lock held: journal, then each selected item.
async fn apply_items(
    sess: &mut Session,
    plan: &AdvicePlan,
    planned: Vec<Planned>,
    waited: bool,
    prewarm: bool,
    progress: Progress<'_>,
    mut stop: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) -> Result<Vec<ApplyItem>, ApplyError> {
    if waited {
        // Another run changed the database meanwhile: check again.
        check_plan(&sess.client, plan).await?;
    }
    let total = planned.iter().filter(|p| p.step.is_some()).count();
    if total > 0 {
        ensure_journal(&sess.client).await?;
    }
    let mut position = 0;
    let mut out = Vec::new();
    for Planned { mut item, step } in planned {
        let Some((op, target)) = step else {
            out.push(item);
            continue;
        };
        if sess.stop.requested() {
            item.outcome = ApplyOutcome::Skipped;
            item.message = "not started: interrupted (Ctrl-C)".into();
            out.push(item);
            continue;
        }
        position += 1;
        progress(ApplyEvent::Started {
            position,
            total,
            description: item.ddl.clone(),
        });
        let started = Instant::now();
        if let (Op::Drop, Ok(IndexState::Valid { definition })) = (
            &op,
            index_state(&sess.client, &target.schema, &target.name, &target.table).await,
        ) {
            // Recreate it exactly as it is now, not as the plan saw it.
            item.rollback_ddl = concurrent_create(&definition).unwrap_or(item.rollback_ddl);
        }
        let result = step_until(sess, &op, &target, progress, &mut stop).await;
        item.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        item.tries = result.tries;
        item.message = result.message;
        let status = match result.outcome {
            StepOutcome::Done => {
                item.outcome = ApplyOutcome::Applied;
                if prewarm && matches!(op, Op::Create { .. } | Op::CreatePartitioned { .. }) {
                    let partitioned = matches!(op, Op::CreatePartitioned { .. });
                    let note = prewarm_index(&sess.client, &target, partitioned).await;
                    item.message = format!("{}; {note}", item.message);
                }
                ChangeStatus::Applied
            }
            StepOutcome::AlreadyThere => {
                item.outcome = ApplyOutcome::AlreadyPresent;
                item.rollback_ddl.clear();
                ChangeStatus::AlreadyPresent
            }
            StepOutcome::Failed => {
                item.outcome = ApplyOutcome::Failed;
                item.rollback_ddl.clear();
                ChangeStatus::Failed
            }
        };
        if matches!(op, Op::Analyze) {
            item.rollback_ddl.clear();
        }
        journal_item(sess, plan, &mut item, &target, status, progress).await;
        progress(ApplyEvent::Finished {
            ok: item.outcome != ApplyOutcome::Failed,
            message: item.message.clone(),
        });
        out.push(item);
    }
    Ok(out)
}

/// Reads a new index into shared_buffers with `pg_prewarm`, and says what happened.
/// A partitioned index has no storage of its own: each of its leaf indexes is
/// read instead.
async fn prewarm_index(
    client: &tokio_postgres::Client,
    target: &IndexTarget,
    partitioned: bool,
) -> String {
    let installed = client
        .query_one("SELECT to_regproc('pg_prewarm') IS NOT NULL", &[])
        .await
        .ok()
        .and_then(|r| r.try_get::<_, bool>(0).ok())
        .unwrap_or(false);
    if !installed {
        return "not prewarmed: the pg_prewarm extension is not installed (the index starts cold)"
            .into();
    }
    if partitioned {
        return match partitioned::prewarm(client, target).await {
            Ok((blocks, n)) => {
                format!("prewarmed {blocks} blocks of {n} partition indexes into shared_buffers")
            }
            Err(e) => format!("not prewarmed: {e}"),
        };
    }
    match client
        .query_one(
            "SELECT pg_prewarm((quote_ident($1) || '.' || quote_ident($2))::regclass)",
            &[&target.schema, &target.name],
        )
        .await
        .and_then(|r| r.try_get::<_, i64>(0))
    {
        Ok(blocks) => format!("prewarmed {blocks} blocks into shared_buffers"),
        Err(e) => format!("not prewarmed: {}", crate::DbError::query("pg_prewarm", e)),
    }
}

/// Writes an item's journal row; a failure to do so is said in its message.
async fn journal_item(
    sess: &mut Session,
    plan: &AdvicePlan,
    item: &mut ApplyItem,
    target: &IndexTarget,
    status: ChangeStatus,
    progress: Progress<'_>,
) {
    let mut detail = item.message.clone();
    for t in item.tries.iter().filter(|t| t.error.is_some()) {
        detail.push_str(&format!(
            "\ntry {}: {}{}",
            t.attempt,
            t.error.as_deref().unwrap_or_default(),
            t.cleanup
                .as_deref()
                .map(|c| format!("; {c}"))
                .unwrap_or_default()
        ));
    }
    let change = NewChange {
        action: item.action,
        ddl: &item.ddl,
        rollback_ddl: &item.rollback_ddl,
        plan_id: &plan.id,
        index_schema: &target.schema,
        index_name: &target.name,
        table: &target.table,
        status,
        detail: &detail,
        before_ms: item.before_ms,
        after_ms: item.after_ms,
    };
    let written = match sess.ensure_alive(progress).await {
        Ok(()) => record_change(&sess.client, &change)
            .await
            .map_err(|e| short(&e)),
        Err(e) => Err(e.to_string()),
    };
    match written {
        Ok(id) => item.change_id = Some(id),
        Err(e) => item.message.push_str(&format!(
            " (NOT journaled: {e}; roll it back by hand with: {})",
            item.rollback_ddl
        )),
    }
}
