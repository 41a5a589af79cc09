//! `verify`: prove each recommended index with a real build and real timings.
//!
//! For every [`Recommendation`] of an [`AdvicePlan`], [`verify_plan`] builds the
//! index for real and measures, and writes a [`Verification`] into the plan:
//!
//! - **Context.** Each recommendation is measured with the rest of the plan that
//!   its served queries could use already in place (see `context`): the plan's
//!   other indexes on a table those queries read, except earlier ones that did
//!   not come out `verified` in this run. "Before" is the context alone, "after"
//!   adds the index — what `apply` will produce, since an index can pay off only
//!   next to another one (an ordered index is useless while the join beside it
//!   hashes a whole table). The note says what was in place.
//! - **Where.** With a staging database, the context and the index are built
//!   there with plain `CREATE INDEX` (committed); the context is kept while the
//!   next recommendations need it and everything is dropped by the end of the
//!   run, on every path; the target is not touched. Without one, everything
//!   happens on the target inside ONE transaction per recommendation that is
//!   always rolled back (`BEGIN; SET LOCAL lock_timeout …; CREATE INDEX <context>
//!   …; measure before; CREATE INDEX; measure after; ROLLBACK`), on every path; a
//!   dropped future drops the connection, which the server rolls back too. The
//!   plain builds hold SHARE locks on the index's table and on the context's
//!   tables from the first build to the rollback (writes wait; reads do not), so
//!   tables above [`VerifyOptions::max_table_bytes`] are refused (a context index
//!   on such a table is left out, and the note says so) unless
//!   [`VerifyOptions::force`].
//! - **Queries.** The recommendation's served queries, with their parameter
//!   samples bound as TEXT values, each run with `EXPLAIN (ANALYZE, TIMING OFF,
//!   FORMAT JSON)`: an un-timed warm-up over the samples, then `runs` timed runs
//!   cycling through the samples, before and after the build; "Execution Time"
//!   gives the timings, and the after plans are searched for the index's name.
//!   Every run is inside a savepoint rolled back right after, so writes never
//!   persist and a failure never aborts the enclosing transaction.
//! - **Verdict.** See [`judge`]: `regression` when a query using the index got
//!   slower (than with the context alone) beyond the tolerance and its noise,
//!   `verified` when the calls-weighted gain reaches `min_gain`, `no_gain`
//!   otherwise, `skipped` when nothing could be measured.
//! - **Costs.** The real index size, the build time, and the write overhead: a
//!   batch of the workload's INSERT / UPDATE / DELETE on the table (with their
//!   samples, each execution rolled back) timed before and after the build.
//!
//! A recommendation is `skipped`, with the reason in its note, when the table is
//! too big, an index of that name exists, the SHARE lock is not obtained within
//! `lock_timeout`, the build fails or times out, or PostgreSQL marks the new
//! index `indcheckxmin` (recently dead HOT chains: the building transaction
//! itself cannot use it — use staging). A context index that cannot be built
//! for one of these reasons is left out of the measurement and named in the note.

mod assemble;
mod context;
mod flow;
mod measure;
mod verdict;
mod workload;

use std::time::{Duration, Instant};

use pgpilot_advisor::{AdvicePlan, Recommendation, Verification, VerifyStatus};
use tokio_postgres::Client;

use crate::{ConnSpec, DbError};
use context::{Context, Staged, Where};
use flow::{millis, on_staging, on_target, Job};
use verdict::ms;

pub use verdict::{judge, regressed, timing_stats, weighted_gain, Judgement, VerdictRules};

/// How to verify.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyOptions {
    /// Timed runs of each query before and after the index (default 5).
    pub runs: u32,
    /// Least calls-weighted relative gain for `verified` (default 0.10).
    pub min_gain: f64,
    /// A query using the index is a regression when its median grows by more than
    /// this fraction *and* by more than its spread before the index (default
    /// 0.10); a sub-millisecond query must also grow by 0.5 ms or more (see
    /// [`regressed`]).
    pub regression_tolerance: f64,
    /// Refuse to build on a target table bigger than this (bytes, heap + TOAST)
    /// unless [`Self::force`] (default 2 GiB); a context index on such a table is
    /// left out of the measurement. Not applied on staging.
    pub max_table_bytes: u64,
    /// Build on the target even above [`Self::max_table_bytes`].
    pub force: bool,
    /// `statement_timeout` of every statement, the build included (default 60 s;
    /// zero disables it).
    pub statement_timeout: Duration,
    /// `lock_timeout` of the build (default 5 s; zero disables it).
    pub lock_timeout: Duration,
    /// Executions in each write-overhead batch (default 200).
    pub write_batch: usize,
    /// Timestamp stamped on each verification (RFC 3339, supplied by the caller).
    pub now: String,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            runs: 5,
            min_gain: 0.10,
            regression_tolerance: 0.10,
            max_table_bytes: 2 * 1024 * 1024 * 1024,
            force: false,
            statement_timeout: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(5),
            write_batch: 200,
            now: String::new(),
        }
    }
}

impl VerifyOptions {
    fn rules(&self) -> VerdictRules {
        VerdictRules {
            min_gain: self.min_gain,
            regression_tolerance: self.regression_tolerance,
        }
    }

    fn runs(&self) -> usize {
        usize::try_from(self.runs.max(1)).unwrap_or(1)
    }

    /// Wall-clock budget of one write batch.
    fn batch_budget(&self) -> Duration {
        if self.statement_timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            self.statement_timeout
        }
    }
}

/// Progress of [`verify_plan`], one event per step.
#[derive(Debug, Clone, PartialEq)]
pub enum VerifyEvent {
    /// Starting on a recommendation.
    Started {
        /// 1-based position.
        position: usize,
        /// Recommendations in the plan.
        total: usize,
        /// Index name.
        index: String,
        /// `schema.table`.
        table: String,
        /// Where and how it is measured (says that the target builds hold
        /// SHARE locks on the table and on the context's tables, and names the
        /// context indexes).
        method: String,
    },
    /// One of the plan's other indexes was built as context for the
    /// recommendation being measured.
    ContextBuilt {
        /// Index name.
        index: String,
        /// Build time in ms.
        build_ms: f64,
    },
    /// The index was built.
    Built {
        /// Index name.
        index: String,
        /// Build time in ms.
        build_ms: f64,
    },
    /// The recommendation's verdict.
    Finished {
        /// Index name.
        index: String,
        /// The verification written into the plan.
        verification: Box<Verification>,
    },
}

impl std::fmt::Display for VerifyEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyEvent::Started {
                position,
                total,
                index,
                method,
                ..
            } => write!(f, "[{position}/{total}] {index}: {method}"),
            VerifyEvent::Built { index, build_ms } => {
                write!(f, "{index}: built in {} ms", ms(*build_ms))
            }
            VerifyEvent::ContextBuilt { index, build_ms } => {
                write!(f, "  context {index}: built in {} ms", ms(*build_ms))
            }
            VerifyEvent::Finished {
                index,
                verification: v,
            } => {
                let status = match v.status {
                    VerifyStatus::Verified => "verified",
                    VerifyStatus::NoGain => "no gain",
                    VerifyStatus::Regression => "REGRESSION",
                    VerifyStatus::Skipped => "skipped",
                };
                write!(f, "{index}: {status}")?;
                if v.status != VerifyStatus::Skipped {
                    write!(f, ", gain {:.1} %", v.gain * 100.0)?;
                }
                if !v.note.is_empty() {
                    write!(f, " — {}", v.note)?;
                }
                Ok(())
            }
        }
    }
}

/// What [`verify_plan`] did, in counts.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifySummary {
    /// `staging` or `target (rolled-back transactions)`.
    pub method: String,
    /// Recommendations verified.
    pub verified: usize,
    /// … measured without enough gain.
    pub no_gain: usize,
    /// … that made some query slower.
    pub regression: usize,
    /// … not measured (see their notes).
    pub skipped: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Verifies every recommendation of `plan` (see the module documentation) and
/// writes its [`Verification`] into it. Measures on `staging` when given (the
/// target is then not touched), else on `target` in rolled-back transactions.
/// Per-recommendation problems (a lock not obtained, a failed build, a query
/// that fails) are recorded in the verification's note; `Err` means the
/// connection could not be made or was lost (verifications made so far stay in
/// the plan).
pub async fn verify_plan(
    target: &ConnSpec,
    staging: Option<&ConnSpec>,
    plan: &mut AdvicePlan,
    options: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
) -> Result<VerifySummary, DbError> {
    verify_plan_until(
        target,
        staging,
        plan,
        options,
        progress,
        std::future::pending(),
    )
    .await
}

/// [`verify_plan`] that stops when `stop` resolves (Ctrl-C): the statement
/// running is cancelled, an open transaction rolled back, the indexes built on
/// staging dropped, and [`DbError::Interrupted`] returned. The recommendations
/// measured so far keep their verification in `plan`.
pub async fn verify_plan_until(
    target: &ConnSpec,
    staging: Option<&ConnSpec>,
    plan: &mut AdvicePlan,
    options: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
    stop: impl std::future::Future<Output = ()>,
) -> Result<VerifySummary, DbError> {
    let started = Instant::now();
    let spec = staging.unwrap_or(target);
    let client = spec
        .with_application_name("pgpilot verify")
        .connect()
        .await?;
    let place = match staging {
        Some(s) => Place::Staging(s.redacted_url()),
        None => Place::Target,
    };
    if matches!(place, Place::Staging(_)) {
        // The staging build runs outside a transaction: session-level limits.
        client
            .batch_execute(&format!(
                "SET statement_timeout = '{}'; SET lock_timeout = '{}'",
                millis(options.statement_timeout),
                millis(options.lock_timeout)
            ))
            .await
            .map_err(|e| DbError::query("setting the staging timeouts", e))?;
    }
    let mut summary = VerifySummary {
        method: match &place {
            Place::Staging(_) => "staging".into(),
            Place::Target => "target (rolled-back transactions)".into(),
        },
        verified: 0,
        no_gain: 0,
        regression: 0,
        skipped: 0,
        seconds: 0.0,
    };
    let mut staged = Staged::default();
    let result = {
        let each = verify_each(
            &client,
            &place,
            plan,
            options,
            progress,
            &mut summary,
            &mut staged,
        );
        tokio::pin!(each);
        tokio::select! {
            r = &mut each => r,
            _ = stop => Err(DbError::Interrupted),
        }
    };
    if matches!(result, Err(DbError::Interrupted)) {
        // The dropped future may have left a statement running (a backend does
        // not notice a vanished client until it next talks to it) and a
        // transaction open.
        let cancelled = client
            .cancel_token()
            .cancel_query(tokio_postgres::NoTls)
            .await;
        if let Err(e) = cancelled {
            tracing::warn!(error = %e, "could not cancel the running verify statement");
        }
        // Let the cancel land on that statement, not on the clean-up's.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = client.batch_execute("ROLLBACK").await;
    }
    let cleaned = clean_up(&client, spec, &mut staged, options, result.as_ref().err()).await;
    result?;
    cleaned?;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The loop of [`verify_plan`]: every recommendation in plan order.
async fn verify_each(
    client: &Client,
    place: &Place,
    plan: &mut AdvicePlan,
    options: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
    summary: &mut VerifySummary,
    staged: &mut Staged,
) -> Result<(), DbError> {
    let all_writes = workload::writes(plan);
    let mut resolver = workload::SchemaResolver::default();
    let total = plan.recommendations.len();
    for position in 0..total {
        let rec = plan.recommendations[position].clone();
        let served = workload::served(plan, &rec);
        let mut referenced = match context::referenced_tables(client, &served).await {
            Ok(r) => r,
            Err(e) if e.is_connection_lost() => return Err(e),
            Err(e) => {
                tracing::warn!(index = %rec.name, error = %e, "tables of the served queries unknown: measuring with the context on its own table only");
                Default::default()
            }
        };
        referenced.insert((rec.index.schema.clone(), rec.index.table.clone()));
        let candidates = context::candidates(&plan.recommendations, position, &referenced)
            .into_iter()
            .map(|j| plan.recommendations[j].clone())
            .collect();
        let vet_where = match place {
            Place::Target => Where::Target,
            Place::Staging(_) => Where::Staging(staged),
        };
        let ctx = context::vet(client, candidates, vet_where, options).await?;
        let job = Job {
            served,
            writes: resolver
                .writes_on(client, &all_writes, &rec.index.schema, &rec.index.table)
                .await?,
            method: place.method(&rec, &ctx),
            rec: &rec,
            context: ctx,
        };
        progress(VerifyEvent::Started {
            position: position + 1,
            total,
            index: rec.name.clone(),
            table: rec.table.clone(),
            method: job.method.clone(),
        });
        let v = match place {
            Place::Target => on_target(client, &job, options, progress).await?,
            Place::Staging(_) => on_staging(client, &job, options, progress, staged).await?,
        };
        match v.status {
            VerifyStatus::Verified => summary.verified += 1,
            VerifyStatus::NoGain => summary.no_gain += 1,
            VerifyStatus::Regression => summary.regression += 1,
            VerifyStatus::Skipped => summary.skipped += 1,
        }
        progress(VerifyEvent::Finished {
            index: rec.name.clone(),
            verification: Box::new(v.clone()),
        });
        plan.recommendations[position].verification = Some(v);
    }
    Ok(())
}

/// Drops the indexes still built on staging, whatever happened; after a lost
/// connection, through a new one (and, failing that, names them in the log).
async fn clean_up(
    client: &Client,
    spec: &ConnSpec,
    staged: &mut Staged,
    options: &VerifyOptions,
    failure: Option<&DbError>,
) -> Result<(), DbError> {
    if staged.names().is_empty() {
        return Ok(());
    }
    if !failure.is_some_and(DbError::is_connection_lost) {
        return staged.drop_all(client, options).await;
    }
    let dropped = match spec.with_application_name("pgpilot verify").connect().await {
        Ok(fresh) => staged.drop_all(&fresh, options).await,
        Err(e) => Err(e),
    };
    if let Err(e) = dropped {
        tracing::warn!(
            indexes = %staged.names().join(", "),
            error = %e,
            "could not drop the verify indexes left on staging: drop them by hand"
        );
    }
    Ok(())
}

enum Place {
    Target,
    Staging(String),
}

impl Place {
    fn method(&self, rec: &Recommendation, ctx: &Context) -> String {
        match self {
            Place::Target if ctx.build.is_empty() => format!(
                "rolled-back transaction on target: the plain CREATE INDEX holds a SHARE lock \
                 on {} until the rollback (writes to it wait; reads do not)",
                rec.table
            ),
            Place::Target => {
                let mut tables = vec![rec.table.clone()];
                tables.extend(ctx.other_tables(&rec.table));
                format!(
                    "rolled-back transaction on target, with the plan's other indexes its \
                     queries could use built first ({}): the plain CREATE INDEX statements hold \
                     SHARE locks on {} until the rollback (writes to them wait; reads do not)",
                    ctx.names(),
                    tables.join(", ")
                )
            }
            Place::Staging(url) if ctx.build.is_empty() => {
                format!("staging ({url}): real CREATE INDEX, dropped after measuring")
            }
            Place::Staging(url) => format!(
                "staging ({url}): real CREATE INDEX, dropped after measuring, with the plan's \
                 other indexes its queries could use in place ({})",
                ctx.names()
            ),
        }
    }
}
