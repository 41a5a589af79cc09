//! The benchmark runner: validates the script against the server (on a monitoring
//! connection), drives N clients, each a blocking wire-protocol connection on its
//! own OS thread (see [`crate::wire`]), samples the server while they run, and turns
//! the merged statistics into a [`BenchReport`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use pgpilot_bench_model::{BenchReport, RunConfig, SloTargets};
use pgpilot_db::{stats, ConnSpec};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Statement};

use crate::aggregate::{merge, pgss_check};
use crate::client::{run_client, ClientResult, Mode, Plan, PlanStep, Shared, Slot, Timing};
use crate::error::BenchError;
use crate::generator::{Generator, WeightedPicker};
use crate::param::{decodable, supports};
use crate::script::{Script, StepMode};
use crate::wire::{self, Conn, ExecError};

/// How to run a benchmark.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Concurrent client connections.
    pub clients: u32,
    /// Measured duration (after warm-up); `None` with `transactions: None` runs
    /// until `stop` resolves.
    pub duration: Option<Duration>,
    /// Total top-level picks (queries or whole sequences) over all clients, after
    /// warm-up.
    pub transactions: Option<u64>,
    /// Time to run before measuring.
    pub warmup: Duration,
    /// Seed of the parameter generators; each client derives its own stream.
    pub seed: u64,
    /// Objectives to judge the run by (also gives the slow threshold).
    pub slo: SloTargets,
    /// `application_name` of the benchmark connections.
    pub application_name: String,
    /// Ignored: every client is a blocking connection on its own OS thread.
    /// Kept so existing callers compile.
    pub threads: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            clients: 4,
            duration: Some(Duration::from_secs(30)),
            transactions: None,
            warmup: Duration::from_secs(5),
            seed: 1,
            slo: SloTargets::default(),
            application_name: "pgpilot-bench".into(),
            threads: 0,
        }
    }
}

/// A progress sample, reported about four times per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Time since measuring started (zero while warming up).
    pub elapsed: Duration,
    /// True during warm-up.
    pub warming_up: bool,
    /// Statements measured so far.
    pub statements: u64,
    /// Failed statements so far.
    pub errors: u64,
    /// Statements per second over the last interval.
    pub qps: f64,
}

/// Sets the stop flag when the run's future is dropped, so worker threads end too.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Relaxed);
    }
}

fn prepare_error(name: &str, e: tokio_postgres::Error) -> BenchError {
    match pgpilot_db::DbError::query(format!("preparing `{name}`"), e) {
        pgpilot_db::DbError::Query {
            message, sqlstate, ..
        } => BenchError::Prepare {
            name: name.to_string(),
            message,
            sqlstate,
        },
        other => BenchError::Db(other),
    }
}

/// Prepares every statement on `client` to check it, resolves `row:` columns, and
/// builds the plan the clients share.
async fn compile(
    client: &Client,
    script: &Script,
    opts: &RunOptions,
) -> Result<(Plan, Vec<Option<String>>), BenchError> {
    let mut steps: Vec<PlanStep> = Vec::new();
    let mut sequences = Vec::new();
    let mut seq_names = Vec::new();
    for seq in &script.sequences {
        let base = steps.len();
        let mut stmts: Vec<Statement> = Vec::new();
        let mut indices = Vec::new();
        for step in &seq.steps {
            let stmt = client
                .prepare(&step.sql)
                .await
                .map_err(|e| prepare_error(&step.name, e))?;
            let mut row_slot = vec![None; step.params.len()];
            for (i, g) in step.params.iter().enumerate() {
                let ty = stmt
                    .params()
                    .get(i)
                    .cloned()
                    .unwrap_or(tokio_postgres::types::Type::UNKNOWN);
                let unsupported = || BenchError::UnsupportedParam {
                    name: step.name.clone(),
                    index: i + 1,
                    ty: ty.name().to_string(),
                };
                match g {
                    Generator::Null => {}
                    Generator::Row(col) => {
                        let StepMode::ForEachRow(p) = step.mode else {
                            return Err(unsupported());
                        };
                        let parent = &stmts[p];
                        let cols = parent.columns();
                        let idx = cols
                            .iter()
                            .position(|c| c.name() == col)
                            .or_else(|| {
                                cols.iter().position(|c| c.name().eq_ignore_ascii_case(col))
                            })
                            .ok_or_else(|| BenchError::UnknownColumn {
                                name: step.name.clone(),
                                column: col.clone(),
                                parent: seq.steps[p].name.clone(),
                                available: cols
                                    .iter()
                                    .map(|c| c.name())
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            })?;
                        let cty = cols[idx].type_();
                        let convertible = supports(&ty) && decodable(cty);
                        if cty != &ty && !convertible {
                            return Err(unsupported());
                        }
                        let keep = &mut steps[base + p].keep_cols;
                        let pos = keep.iter().position(|&k| k == idx).unwrap_or_else(|| {
                            keep.push(idx);
                            keep.len() - 1
                        });
                        row_slot[i] = Some(pos);
                    }
                    _ if !supports(&ty) => return Err(unsupported()),
                    _ => {}
                }
            }
            steps.push(PlanStep {
                name: step.name.clone(),
                sql: step.sql.clone(),
                gens: step.params.clone(),
                row_slot,
                mode: match step.mode {
                    StepMode::Once => Mode::Once,
                    StepMode::Repeat(n) => Mode::Repeat(n),
                    StepMode::ForEachRow(p) => Mode::ForEachRow(base + p),
                },
                keep_cols: Vec::new(),
                param_types: stmt.params().to_vec(),
                column_types: stmt.columns().iter().map(|c| c.type_().clone()).collect(),
            });
            seq_names.push((!seq.is_query).then(|| seq.name.clone()));
            indices.push(steps.len() - 1);
            stmts.push(stmt);
        }
        sequences.push(indices);
    }
    let weights: Vec<u32> = script.sequences.iter().map(|s| s.weight).collect();
    let picker = WeightedPicker::new(&weights)
        .ok_or_else(|| BenchError::Options("every weight is 0".into()))?;
    let slow_threshold_us = (opts.slo.slow_threshold_ms * 1000.0).max(0.0) as u64;
    Ok((
        Plan {
            steps,
            sequences,
            picker,
            slow_threshold_us,
        },
        seq_names,
    ))
}

/// The type the server described for a parameter or column, preferring the one
/// the plan resolved (which knows custom types) when the OIDs agree.
fn described_type(planned: Option<&Type>, oid: u32) -> Option<Type> {
    match planned {
        Some(t) if t.oid() == oid => Some(t.clone()),
        _ => Type::from_oid(oid),
    }
}

/// Opens one benchmark connection and prepares the plan's statements on it, each
/// under its own name.
fn setup(spec: &ConnSpec, plan: &Plan) -> Result<(Conn, Vec<wire::Statement>), BenchError> {
    let mut conn = wire::connect(spec)?;
    let mut stmts = Vec::with_capacity(plan.steps.len());
    for (i, s) in plan.steps.iter().enumerate() {
        let name = format!("pgpilot_{i}");
        let d = conn.prepare(&name, &s.sql).map_err(|e| match e {
            ExecError::Server { sqlstate, message } => BenchError::Prepare {
                name: s.name.clone(),
                message,
                sqlstate: Some(sqlstate),
            },
            ExecError::Encode(message) => BenchError::Prepare {
                name: s.name.clone(),
                message,
                sqlstate: None,
            },
            ExecError::Lost(reason) => BenchError::Db(pgpilot_db::DbError::ConnectionLost {
                context: format!("preparing `{}`", s.name),
                reason,
            }),
        })?;
        let changed = |what: String| BenchError::Prepare {
            name: s.name.clone(),
            message: format!("{what} changed since the script was checked"),
            sqlstate: None,
        };
        let params = d
            .params
            .iter()
            .enumerate()
            .map(|(k, &oid)| {
                described_type(s.param_types.get(k), oid)
                    .ok_or_else(|| changed(format!("the type of ${}", k + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let columns = d
            .columns
            .iter()
            .enumerate()
            .map(|(k, (col, oid))| {
                described_type(s.column_types.get(k), *oid)
                    .ok_or_else(|| changed(format!("the type of column {col}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        stmts.push(wire::Statement {
            name,
            params,
            columns,
        });
    }
    Ok((conn, stmts))
}

/// One client's thread: connect and prepare, report ready, wait for the start
/// signal, run, and hand back the result.
struct ClientThread {
    id: usize,
    spec: ConnSpec,
    plan: Arc<Plan>,
    shared: Arc<Shared>,
    seed: u64,
    start: std::sync::mpsc::Receiver<Option<Timing>>,
    ready: mpsc::UnboundedSender<Result<(), BenchError>>,
    done: oneshot::Sender<ClientResult>,
}

impl ClientThread {
    fn run(self) {
        let (mut conn, stmts) = match setup(&self.spec, &self.plan) {
            Ok(c) => c,
            Err(e) => {
                let _ = self.ready.send(Err(e));
                return;
            }
        };
        let _ = self.ready.send(Ok(()));
        // `None` or a dropped sender: the run was called off before it started.
        let Ok(Some(timing)) = self.start.recv() else {
            conn.terminate();
            return;
        };
        let r = run_client(
            &mut conn,
            &stmts,
            &self.plan,
            &self.shared,
            self.id,
            self.seed,
            timing,
        );
        conn.terminate();
        let _ = self.done.send(r);
    }
}

/// Runs the script and returns its report. `stop` ends the run early (Ctrl-C):
/// clients finish their current statement and the report has `interrupted: true`.
/// A lost connection ends the run with [`BenchError::Aborted`], which carries the
/// report of what was measured until then.
pub async fn run(
    spec: &ConnSpec,
    script: &Script,
    opts: &RunOptions,
    progress: Option<&(dyn Fn(&Progress) + Sync)>,
    stop: impl Future<Output = ()>,
) -> Result<BenchReport, BenchError> {
    if opts.clients == 0 {
        return Err(BenchError::Options("--clients must be at least 1".into()));
    }
    if opts.transactions == Some(0) {
        return Err(BenchError::Options(
            "--transactions must be at least 1".into(),
        ));
    }
    let monitor = spec
        .with_application_name(&format!("{}-monitor", opts.application_name))
        .connect()
        .await?;
    // The monitor's own polls are not the workload: keep them out of the server
    // log when the role may (superusers), so a capture of the run sees only the
    // clients' statements. Refused for other roles, which changes nothing.
    let _ = monitor
        .batch_execute("SET log_min_duration_statement = -1; SET log_statement = 'none'")
        .await;
    let (plan, seq_names) = compile(&monitor, script, opts).await?;
    let plan = Arc::new(plan);
    let max_connections = stats::max_connections(&monitor).await.ok();
    let pgss_before = stats::statement_calls(&monitor).await.ok().flatten();

    let clients = opts.clients as usize;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        remaining: opts
            .transactions
            .map(|n| AtomicI64::new(i64::try_from(n).unwrap_or(i64::MAX))),
        slots: (0..clients).map(|_| Slot::default()).collect(),
    });
    let _guard = StopOnDrop(shared.clone());
    let bench_spec = spec.with_application_name(&opts.application_name);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut done = Vec::with_capacity(clients);
    let mut starts = Vec::with_capacity(clients);
    for id in 0..clients {
        let (done_tx, done_rx) = oneshot::channel();
        let (start_tx, start_rx) = std::sync::mpsc::sync_channel(1);
        done.push(done_rx);
        starts.push(start_tx);
        let client = ClientThread {
            id,
            spec: bench_spec.clone(),
            plan: plan.clone(),
            shared: shared.clone(),
            seed: opts.seed,
            start: start_rx,
            ready: ready_tx.clone(),
            done: done_tx,
        };
        std::thread::Builder::new()
            .name(format!("pgpilot-bench-{id}"))
            .spawn(move || client.run())
            .map_err(|e| BenchError::Worker(e.to_string()))?;
    }
    drop(ready_tx);
    // Returning early drops `starts`, which tells the clients to hang up.
    for _ in 0..clients {
        match ready_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(e),
            None => {
                return Err(BenchError::Worker(
                    "a client thread ended during setup".into(),
                ))
            }
        }
    }

    let too_long = || BenchError::Options("the warm-up or duration is too long".into());
    let measure_start = Instant::now()
        .checked_add(opts.warmup)
        .ok_or_else(too_long)?;
    let deadline = match opts.duration {
        Some(d) => Some(measure_start.checked_add(d).ok_or_else(too_long)?),
        None => None,
    };
    let mut counters_before = if opts.warmup.is_zero() {
        stats::counters(&monitor).await.ok()
    } else {
        None
    };
    let timing = Timing {
        measure_start,
        deadline,
    };
    for tx in &starts {
        let _ = tx.send(Some(timing));
    }

    let results = join_all(done);
    tokio::pin!(results);
    tokio::pin!(stop);
    let mut stop_fired = false;
    let mut need_before = !opts.warmup.is_zero();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut ticks = 0u64;
    let mut peak: Option<i64> = None;
    let (mut last_n, mut last_t) = (0u64, Instant::now());
    let results = loop {
        tokio::select! {
            r = &mut results => break r,
            _ = &mut stop, if !stop_fired => {
                stop_fired = true;
                shared.stop.store(true, Relaxed);
            }
            _ = tokio::time::sleep_until(measure_start.into()), if need_before => {
                need_before = false;
                counters_before = stats::counters(&monitor).await.ok();
            }
            _ = tick.tick() => {
                ticks += 1;
                if ticks % 2 == 0 {
                    if let Ok(n) = stats::client_connections(&monitor).await {
                        peak = Some(peak.map_or(n, |p| p.max(n)));
                    }
                }
                if let Some(cb) = progress {
                    let now = Instant::now();
                    let n: u64 = shared.slots.iter().map(|s| s.statements.load(Relaxed)).sum();
                    let errors = shared.slots.iter().map(|s| s.errors.load(Relaxed)).sum();
                    let dt = now.duration_since(last_t).as_secs_f64();
                    let p = Progress {
                        elapsed: now.saturating_duration_since(measure_start),
                        warming_up: now < measure_start,
                        statements: n,
                        errors,
                        qps: if dt > 0.0 { (n - last_n.min(n)) as f64 / dt } else { 0.0 },
                    };
                    (last_n, last_t) = (n, now);
                    cb(&p);
                }
            }
        }
    };
    let mut all: Vec<ClientResult> = Vec::with_capacity(clients);
    let mut worker_failed = false;
    for r in results {
        match r {
            Ok(v) => all.push(v),
            Err(_) => worker_failed = true,
        }
    }

    worker_failed |= all.len() < clients;
    // Backends flush their table statistics when they exit: wait for them.
    let wait_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_until {
        match stats::connections_named(&monitor, &opts.application_name).await {
            Ok(0) | Err(_) => break,
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let counters_after = stats::counters(&monitor).await.ok();
    let pgss_after = stats::statement_calls(&monitor).await.ok().flatten();

    let end = all.iter().map(|r| r.end).max().unwrap_or(measure_start);
    let duration_s = end.saturating_duration_since(measure_start).as_secs_f64();
    let (mut summary, queries, errors) = merge(&plan, &seq_names, &all, duration_s);
    if let (Some(b), Some(a)) = (&counters_before, &counters_after) {
        let r = b.ratios_until(a);
        summary.index_hit_ratio = r.index_hit_ratio;
        summary.index_usage_ratio = r.index_usage_ratio;
        summary.table_hit_ratio = r.table_hit_ratio;
    }
    summary.peak_connections = peak;
    summary.max_connections = max_connections;
    summary.connection_use_pct = match (peak, max_connections) {
        (Some(p), Some(m)) if m > 0 => Some(p as f64 * 100.0 / m as f64),
        _ => None,
    };
    let lost = all
        .iter()
        .find_map(|r| r.lost.clone())
        .or_else(|| worker_failed.then(|| "a client thread failed".to_string()));
    let pg_stat_statements_check = match (&pgss_before, &pgss_after) {
        (Some(b), Some(a)) => Some(pgss_check(&plan, &all, b, a)),
        _ => None,
    };
    let report = BenchReport {
        config: RunConfig {
            workload: script.path.clone(),
            clients: opts.clients,
            duration_s: opts.duration.map(|d| d.as_secs_f64()),
            transactions: opts.transactions,
            warmup_s: opts.warmup.as_secs_f64(),
            seed: opts.seed,
            application_name: opts.application_name.clone(),
            slow_threshold_ms: opts.slo.slow_threshold_ms,
            vars: script.vars.clone(),
            target: spec.target(),
        },
        slo: opts.slo.evaluate(&summary),
        summary,
        queries,
        errors,
        interrupted: stop_fired || lost.is_some(),
        aborted_reason: lost.clone(),
        pg_stat_statements_check,
    };
    match lost {
        Some(reason) => Err(BenchError::Aborted {
            reason,
            report: Box::new(report),
        }),
        None => Ok(report),
    }
}
