//! `rollback`: undoes journaled changes, newest first, concurrently and
//! idempotently. An index `apply` created is dropped (`DROP INDEX CONCURRENTLY`);
//! an index it dropped is re-created from the definition journaled at the time
//! (`CREATE INDEX CONCURRENTLY`); `ANALYZE` has nothing to undo. A change undone
//! by hand meanwhile (index already gone, or back) is marked rolled back too; a
//! change already rolled back is reported as such.

use std::time::{Duration, Instant};

use pgpilot_advisor::{ChangeAction, ChangeStatus};
use serde::Serialize;

use super::journal::{
    journal_entries, journal_exists, mark_rolled_back, JournalEntry, JournalFilter,
};
use super::session::{index_state, IndexState, Session, Timing};
use super::steps::{drop_sql, run_step, short, IndexTarget, Op, StepOutcome};
use super::{concurrent_create, ApplyError, ApplyEvent, Progress, TryRecord};
use crate::conn::ConnSpec;
use crate::error::DbError;

/// Which journaled changes to undo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackSelector {
    /// One change, by journal id.
    Change(i64),
    /// Every change of a plan, by plan id.
    Plan(String),
    /// Every change of the most recently applied plan.
    Last,
}

impl std::fmt::Display for RollbackSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RollbackSelector::Change(id) => write!(f, "change {id}"),
            RollbackSelector::Plan(p) => write!(f, "plan {p}"),
            RollbackSelector::Last => write!(f, "the last applied plan"),
        }
    }
}

/// How to roll back.
#[derive(Debug, Clone)]
pub struct RollbackOptions {
    /// Only describe (no `--approve`); the default.
    pub dry_run: bool,
    /// `lock_timeout` of every statement (`None` = wait forever). Default 5 s.
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` (`None` = no limit, the default).
    pub statement_timeout: Option<Duration>,
    /// Tries after the first on a passing failure. Default 3.
    pub max_retries: u32,
    /// Wait before the first retry, doubled each time. Default 1 s.
    pub backoff: Duration,
    /// How long to wait for a running apply / rollback. Default 30 s.
    pub wait_for_lock: Duration,
}

impl Default for RollbackOptions {
    fn default() -> Self {
        RollbackOptions {
            dry_run: true,
            lock_timeout: Some(Duration::from_secs(5)),
            statement_timeout: None,
            max_retries: 3,
            backoff: Duration::from_secs(1),
            wait_for_lock: Duration::from_secs(30),
        }
    }
}

/// How undoing one change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackOutcome {
    /// Dry run: would be undone.
    WouldRollBack,
    /// Undone now.
    RolledBack,
    /// Already undone by hand (index already gone, or back); marked rolled back.
    AlreadyUndone,
    /// Rolled back earlier.
    AlreadyRolledBack,
    /// Nothing to undo (ANALYZE, a failed change, an index found already there).
    NothingToUndo,
    /// Given up; see the message.
    Failed,
}

/// One journaled change and what rollback did with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackItem {
    /// Journal id.
    pub change_id: i64,
    /// What the change was.
    pub action: ChangeAction,
    /// Index (`schema.name`) or table.
    pub name: String,
    /// The statement that undoes it (empty when nothing is to be undone).
    pub ddl: String,
    /// How it ended.
    pub outcome: RollbackOutcome,
    /// In words.
    pub message: String,
    /// Every try.
    pub tries: Vec<TryRecord>,
}

/// What `rollback` did (or would do).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackReport {
    /// The database.
    pub database: String,
    /// What was asked for, in words.
    pub selector: String,
    /// The plan rolled back (for a plan or `--last`).
    pub plan_id: Option<String>,
    /// Nothing was changed.
    pub dry_run: bool,
    /// Newest change first.
    pub items: Vec<RollbackItem>,
    /// Total time.
    pub elapsed_ms: f64,
    /// Stopped by Ctrl-C: the change running was cancelled, later ones not
    /// undone (they stay journaled as applied).
    pub interrupted: bool,
}

impl RollbackReport {
    /// True when nothing failed.
    pub fn succeeded(&self) -> bool {
        !self
            .items
            .iter()
            .any(|i| i.outcome == RollbackOutcome::Failed)
    }
}

/// Undoes the selected journaled changes (see the module documentation).
pub async fn rollback(
    spec: &ConnSpec,
    selector: &RollbackSelector,
    options: &RollbackOptions,
    progress: Progress<'_>,
) -> Result<RollbackReport, ApplyError> {
    rollback_until(spec, selector, options, progress, std::future::pending()).await
}

/// [`rollback`] that stops when `stop` resolves (Ctrl-C): the statement
/// running is cancelled and cleaned up, no further try starts, and every
/// change not undone is reported (and stays journaled as applied).
pub async fn rollback_until(
    spec: &ConnSpec,
    selector: &RollbackSelector,
    options: &RollbackOptions,
    progress: Progress<'_>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<RollbackReport, ApplyError> {
    let started = Instant::now();
    let timing = Timing {
        lock_timeout: options.lock_timeout.filter(|d| !d.is_zero()),
        statement_timeout: options.statement_timeout.filter(|d| !d.is_zero()),
        max_retries: options.max_retries,
        backoff: options.backoff,
        wait_for_lock: options.wait_for_lock,
    };
    let mut sess = Session::open(spec, timing).await?;
    let signal = sess.stop.clone();
    let work = async {
        if options.dry_run {
            undo(&mut sess, selector, true, progress).await
        } else {
            sess.refuse_standby().await?;
            sess.acquire_lock(progress).await?;
            let r = undo(&mut sess, selector, false, progress).await;
            sess.release_lock().await;
            r
        }
    };
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        _ = stop => {
            // Cancel what runs and let the work finish its clean-up.
            signal.request().await;
            work.await
        }
    };
    let (plan_id, items) = result?;
    Ok(RollbackReport {
        database: spec.dbname().to_string(),
        selector: selector.to_string(),
        plan_id,
        dry_run: options.dry_run,
        items,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        interrupted: signal.requested(),
    })
}

async fn select(
    sess: &Session,
    selector: &RollbackSelector,
) -> Result<(Option<String>, Vec<JournalEntry>), ApplyError> {
    let nothing = |reason: String| ApplyError::NothingToRollBack { reason };
    if !journal_exists(&sess.client).await? {
        return Err(nothing(
            "this database has no pgpilot.changes journal: pgpilot never applied anything here"
                .into(),
        ));
    }
    match selector {
        RollbackSelector::Change(id) => {
            let filter = JournalFilter {
                id: Some(*id),
                ..Default::default()
            };
            let found = journal_entries(&sess.client, &filter).await?;
            if found.is_empty() {
                return Err(nothing(format!("there is no change {id} in the journal")));
            }
            Ok((None, found))
        }
        RollbackSelector::Plan(plan_id) => {
            let filter = JournalFilter {
                plan_id: Some(plan_id.clone()),
                ..Default::default()
            };
            let found = journal_entries(&sess.client, &filter).await?;
            if found.is_empty() {
                return Err(nothing(format!(
                    "the journal has no change of plan {plan_id}"
                )));
            }
            Ok((Some(plan_id.clone()), found))
        }
        RollbackSelector::Last => {
            let all = journal_entries(&sess.client, &JournalFilter::default()).await?;
            let last = all.iter().rev().find(|e| {
                matches!(
                    e.record.status,
                    ChangeStatus::Applied | ChangeStatus::RolledBack
                )
            });
            let Some(plan_id) = last.map(|e| e.record.plan_id.clone()) else {
                return Err(nothing("the journal has no applied change".into()));
            };
            let found = all
                .into_iter()
                .filter(|e| e.record.plan_id == plan_id)
                .collect();
            Ok((Some(plan_id), found))
        }
    }
}

async fn undo(
    sess: &mut Session,
    selector: &RollbackSelector,
    dry_run: bool,
    progress: Progress<'_>,
) -> Result<(Option<String>, Vec<RollbackItem>), ApplyError> {
    let (plan_id, mut entries) = select(sess, selector).await?;
    entries.reverse();
    let total = entries
        .iter()
        .filter(|e| {
            e.record.status == ChangeStatus::Applied && e.record.action != ChangeAction::Analyze
        })
        .count();
    let mut position = 0;
    let mut items = Vec::new();
    for e in entries {
        let r = &e.record;
        let mut item = RollbackItem {
            change_id: r.id,
            action: r.action,
            name: if r.action == ChangeAction::Analyze {
                e.table.clone()
            } else {
                format!("{}.{}", e.index_schema, e.index_name)
            },
            ddl: String::new(),
            outcome: RollbackOutcome::NothingToUndo,
            message: String::new(),
            tries: Vec::new(),
        };
        item.message = match (r.action, r.status) {
            (_, ChangeStatus::RolledBack) => {
                item.outcome = RollbackOutcome::AlreadyRolledBack;
                format!(
                    "change {} was already rolled back{}",
                    r.id,
                    r.rolled_back_at
                        .as_deref()
                        .map(|t| format!(" at {t}"))
                        .unwrap_or_default()
                )
            }
            (_, ChangeStatus::Failed) => {
                format!("nothing to undo: change {} failed and left nothing", r.id)
            }
            (_, ChangeStatus::AlreadyPresent) => format!(
                "nothing to undo: change {} found {} already in place and changed nothing",
                r.id, item.name
            ),
            (ChangeAction::Analyze, ChangeStatus::Applied) => format!(
                "nothing to undo: ANALYZE of {} cannot be rolled back (it only refreshed statistics)",
                e.table
            ),
            (_, ChangeStatus::Applied) => String::new(),
        };
        if item.message.is_empty() {
            position += 1;
            // A dry run changes nothing: its report says it all, once.
            if !dry_run {
                progress(ApplyEvent::Started {
                    position,
                    total,
                    description: format!("roll back change {} ({})", r.id, item.name),
                });
            }
            undo_one(sess, &e, &mut item, dry_run, progress).await?;
            if !dry_run {
                progress(ApplyEvent::Finished {
                    ok: item.outcome != RollbackOutcome::Failed,
                    message: item.message.clone(),
                });
            }
        }
        items.push(item);
    }
    Ok((plan_id, items))
}

async fn undo_one(
    sess: &mut Session,
    e: &JournalEntry,
    item: &mut RollbackItem,
    dry_run: bool,
    progress: Progress<'_>,
) -> Result<(), ApplyError> {
    let target = IndexTarget {
        schema: e.index_schema.clone(),
        name: e.index_name.clone(),
        table: e.table.clone(),
    };
    let op = match e.record.action {
        ChangeAction::CreateIndex => {
            item.ddl = drop_sql(sess, &target.schema, &target.name).await?;
            Op::Drop
        }
        _ => match concurrent_create(&e.record.rollback_ddl) {
            Some(ddl) => {
                item.ddl = ddl.clone();
                Op::Create { ddl }
            }
            None => {
                item.outcome = RollbackOutcome::Failed;
                item.message = format!(
                    "change {} has no usable re-create statement in the journal ({:?}); \
                     re-create {} by hand",
                    e.record.id, e.record.rollback_ddl, item.name
                );
                return Ok(());
            }
        },
    };
    if dry_run {
        let state = index_state(&sess.client, &target.schema, &target.name, &target.table).await?;
        item.outcome = RollbackOutcome::WouldRollBack;
        item.message = match (&op, state) {
            (Op::Drop, IndexState::Absent) => format!(
                "index {} was already gone; would mark change {} rolled back",
                item.name, e.record.id
            ),
            (Op::Create { .. }, IndexState::Valid { .. }) => format!(
                "index {} already exists again; would mark change {} rolled back",
                item.name, e.record.id
            ),
            _ => format!("would run: {}", item.ddl),
        };
        return Ok(());
    }
    let result = run_step(sess, &op, &target, progress).await;
    item.tries = result.tries;
    let note = match (result.outcome, &op) {
        (StepOutcome::Failed, _) => {
            item.outcome = RollbackOutcome::Failed;
            item.message = result.message;
            return Ok(());
        }
        (StepOutcome::AlreadyThere, Op::Drop) => {
            item.outcome = RollbackOutcome::AlreadyUndone;
            format!("index {} was already gone (dropped by hand?)", item.name)
        }
        (StepOutcome::AlreadyThere, _) => {
            item.outcome = RollbackOutcome::AlreadyUndone;
            format!("index {} already exists again", item.name)
        }
        (StepOutcome::Done, _) => {
            item.outcome = RollbackOutcome::RolledBack;
            result.message
        }
    };
    let marked: Result<(), DbError> = match sess.ensure_alive(progress).await {
        Ok(()) => {
            mark_rolled_back(&sess.client, e.record.id, &format!("rolled back: {note}")).await
        }
        Err(err) => Err(DbError::ConnectionLost {
            context: "marking the change rolled back".into(),
            reason: err.to_string(),
        }),
    };
    item.message = match marked {
        Ok(()) => format!("{note}; change {} marked rolled back", e.record.id),
        Err(err) => format!(
            "{note}; but change {} could not be marked rolled back: {}",
            e.record.id,
            short(&err)
        ),
    };
    Ok(())
}
