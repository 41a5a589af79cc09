//! Running statements for `verify`: every statement is an `EXPLAIN (ANALYZE,
//! TIMING OFF, FORMAT JSON)` run inside a savepoint that is rolled back right
//! after, within a transaction the caller opened (so a write never persists and
//! a failing statement never aborts the enclosing transaction). Parameter samples
//! are bound as TEXT values, exactly as [`crate::explain`] does (a parameter whose
//! type the server cannot infer is declared `text`, and parameters standing for
//! numeric literals that leave an operator or function ambiguous are declared
//! the type their samples have as literals, see [`ParamTypes`]).

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

use crate::explain::{LiteralTypes, ParamTypes, RawText, TextParam, MAX_PARAMS};
use crate::DbError;

const SAVEPOINT: &str = "SAVEPOINT pgpilot_verify";
const UNDO: &str = "ROLLBACK TO SAVEPOINT pgpilot_verify; RELEASE SAVEPOINT pgpilot_verify";
const RELEASE: &str = "RELEASE SAVEPOINT pgpilot_verify";

/// A workload statement with its parameter samples.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sampled {
    /// Fingerprint id.
    pub id: String,
    /// SQL with `$n` placeholders.
    pub sql: String,
    /// Executions in the workload.
    pub calls: f64,
    /// Parameter samples (text values, `None` = NULL).
    pub samples: Vec<Vec<Option<String>>>,
}

/// A statement the server refused or cancelled (the savepoint was rolled back).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub sqlstate: Option<String>,
    pub message: String,
}

impl Failure {
    fn timed_out(&self) -> bool {
        self.sqlstate.as_deref() == Some("57014")
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(s) = &self.sqlstate {
            write!(f, " (SQLSTATE {s})")?;
        }
        Ok(())
    }
}

/// A server error becomes a [`Failure`]; a lost connection stays an error.
fn classify(context: &str, e: tokio_postgres::Error) -> Result<Failure, DbError> {
    let err = DbError::query(context, e);
    if err.is_connection_lost() {
        return Err(err);
    }
    Ok(match err {
        DbError::Query {
            message, sqlstate, ..
        } => Failure { sqlstate, message },
        other => Failure {
            sqlstate: None,
            message: other.to_string(),
        },
    })
}

async fn exec(client: &Client, sql: &str, context: &str) -> Result<(), DbError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| DbError::query(context, e))
}

/// Prepares `EXPLAIN (…) sql` inside a savepoint (a parse error would otherwise
/// abort the enclosing transaction), declaring the parameters the server needs
/// declared (see [`ParamTypes`]); parameters declared from literal syntax take
/// the widest type over `samples`, all of which the statement is run with.
async fn prepare(
    client: &Client,
    sql: &str,
    analyze: bool,
    samples: &[Vec<Option<String>>],
) -> Result<Result<Statement, Failure>, DbError> {
    let options = if analyze {
        "ANALYZE, TIMING OFF, FORMAT JSON"
    } else {
        "FORMAT JSON"
    };
    let text = format!("EXPLAIN ({options}) {sql}");
    let mut types = ParamTypes::default();
    let literals = LiteralTypes::widest(samples);
    loop {
        exec(client, SAVEPOINT, "setting a savepoint").await?;
        match client.prepare_typed(&text, types.types()).await {
            Ok(s) => {
                exec(client, RELEASE, "releasing a savepoint").await?;
                return Ok(Ok(s));
            }
            Err(e) => {
                let retry = types.learn_from(&e, &text, &literals, MAX_PARAMS);
                let f = classify("preparing a statement", e)?;
                exec(client, UNDO, "rolling back to a savepoint").await?;
                if !retry {
                    return Ok(Err(f));
                }
            }
        }
    }
}

/// Runs a prepared EXPLAIN with `params` inside a savepoint that is always rolled
/// back; returns EXPLAIN's JSON document.
async fn run(
    client: &Client,
    stmt: &Statement,
    params: &[Option<String>],
) -> Result<Result<Value, Failure>, DbError> {
    exec(client, SAVEPOINT, "setting a savepoint").await?;
    let values: Vec<TextParam<'_>> = params.iter().map(|p| TextParam(p.as_deref())).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
    let result = client.query(stmt, &refs).await;
    let outcome = match result {
        Ok(rows) => {
            let mut text = String::new();
            for r in &rows {
                match r.try_get::<_, RawText>(0) {
                    Ok(t) => text.push_str(&t.0),
                    Err(e) => {
                        exec(client, UNDO, "rolling back to a savepoint").await?;
                        return Ok(Err(classify("reading EXPLAIN output", e)?));
                    }
                }
            }
            serde_json::from_str::<Value>(&text).map_err(|e| Failure {
                sqlstate: None,
                message: format!("unreadable EXPLAIN output: {e}"),
            })
        }
        Err(e) => Err(classify("running EXPLAIN ANALYZE", e)?),
    };
    exec(client, UNDO, "rolling back to a savepoint").await?;
    Ok(outcome)
}

/// `Execution Time` (ms) of an `EXPLAIN ANALYZE` JSON document.
pub(super) fn execution_ms(doc: &Value) -> Option<f64> {
    doc.get(0)?.get("Execution Time")?.as_f64()
}

/// Whether any node of the plan (sub-plans included) scans one of `names`.
pub(super) fn plan_uses(doc: &Value, names: &[String]) -> bool {
    match doc {
        Value::Object(map) => map.iter().any(|(k, v)| {
            (k == "Index Name" && v.as_str().is_some_and(|n| names.iter().any(|x| x == n)))
                || plan_uses(v, names)
        }),
        Value::Array(items) => items.iter().any(|v| plan_uses(v, names)),
        _ => false,
    }
}

/// The samples whose arity matches the statement (one empty sample when the
/// statement has no parameters).
fn usable_samples(samples: &[Vec<Option<String>>], expected: usize) -> Vec<Vec<Option<String>>> {
    if expected == 0 {
        return vec![Vec::new()];
    }
    samples
        .iter()
        .filter(|s| s.len() == expected)
        .cloned()
        .collect()
}

/// One phase (before or after) of one query.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum QueryPhase {
    /// Timings of the timed runs (a timed-out run counts as the timeout and ends
    /// the phase).
    Timed {
        times: Vec<f64>,
        uses_index: bool,
        timed_out: bool,
    },
    /// Placeholders without a sample of the right arity.
    NoSamples { expected: usize },
    /// The statement failed (not a timeout).
    Failed(Failure),
}

/// Measures one query: an un-timed warm-up pass over the samples the timed runs
/// will use (when `warm_up`), then `runs` timed runs cycling through the samples.
pub(super) async fn measure_query(
    client: &Client,
    q: &Sampled,
    runs: usize,
    warm_up: bool,
    index_names: &[String],
    timeout: Duration,
) -> Result<QueryPhase, DbError> {
    let stmt = match prepare(client, &q.sql, true, &q.samples).await? {
        Ok(s) => s,
        Err(f) => return Ok(QueryPhase::Failed(f)),
    };
    let expected = stmt.params().len();
    let samples = usable_samples(&q.samples, expected);
    if samples.is_empty() {
        return Ok(QueryPhase::NoSamples { expected });
    }
    let timeout_ms = timeout.as_secs_f64() * 1000.0;
    let timed_out = |uses_index| QueryPhase::Timed {
        times: vec![timeout_ms],
        uses_index,
        timed_out: true,
    };
    if warm_up {
        for s in samples.iter().take(runs) {
            if let Err(f) = run(client, &stmt, s).await? {
                if f.timed_out() {
                    return Ok(timed_out(probe(client, q, s, index_names).await?));
                }
                return Ok(QueryPhase::Failed(f));
            }
        }
    }
    let mut times = Vec::with_capacity(runs);
    let mut uses_index = false;
    for i in 0..runs {
        let s = &samples[i % samples.len()];
        match run(client, &stmt, s).await? {
            Ok(doc) => {
                let Some(ms) = execution_ms(&doc) else {
                    return Ok(QueryPhase::Failed(Failure {
                        sqlstate: None,
                        message: "EXPLAIN ANALYZE output has no \"Execution Time\"".into(),
                    }));
                };
                times.push(ms);
                uses_index |= plan_uses(&doc, index_names);
            }
            Err(f) if f.timed_out() => {
                times.push(timeout_ms);
                uses_index |= probe(client, q, s, index_names).await?;
                return Ok(QueryPhase::Timed {
                    times,
                    uses_index,
                    timed_out: true,
                });
            }
            Err(f) => return Ok(QueryPhase::Failed(f)),
        }
    }
    Ok(QueryPhase::Timed {
        times,
        uses_index,
        timed_out: false,
    })
}

/// Whether the plain (not executed) plan of a query that timed out uses the index.
async fn probe(
    client: &Client,
    q: &Sampled,
    params: &[Option<String>],
    index_names: &[String],
) -> Result<bool, DbError> {
    let Ok(stmt) = prepare(client, &q.sql, false, &q.samples).await? else {
        return Ok(false);
    };
    Ok(match run(client, &stmt, params).await? {
        Ok(doc) => plan_uses(&doc, index_names),
        Err(_) => false,
    })
}

/// The write statements of a batch and the order they run in.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct WritePlan {
    /// Statements that can run, with their usable samples.
    statements: Vec<Sampled>,
    /// `(statement, sample)` per execution, interleaved.
    sequence: Vec<(usize, usize)>,
    /// Statements left out, and why.
    pub left_out: Vec<String>,
}

impl WritePlan {
    /// Nothing to run.
    pub fn is_empty(&self) -> bool {
        self.sequence.is_empty()
    }

    /// Statements in the batch.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }
}

/// Prepares each write statement once to learn its parameter count, keeps those
/// that can run, and spreads `batch` executions over them in proportion to their
/// calls (at least one each), interleaved, each cycling through its samples.
pub(super) async fn plan_writes(
    client: &Client,
    writes: &[Sampled],
    batch: usize,
) -> Result<WritePlan, DbError> {
    let mut plan = WritePlan::default();
    for w in writes {
        let stmt = match prepare(client, &w.sql, true, &w.samples).await? {
            Ok(s) => s,
            Err(f) => {
                plan.left_out
                    .push(format!("{} (cannot be prepared: {f})", w.id));
                continue;
            }
        };
        let samples = usable_samples(&w.samples, stmt.params().len());
        if samples.is_empty() {
            plan.left_out
                .push(format!("{} (no parameter sample)", w.id));
            continue;
        }
        // A bulk statement (INSERT … SELECT of a load, a mass UPDATE) is not
        // the steady write traffic an index slows down, and replaying it would
        // leave that many dead rows (and sequence values) on the table even
        // though each run is rolled back.
        if let Some(rows) = bulk_rows(client, &w.sql, &samples).await? {
            plan.left_out.push(format!(
                "{} (a bulk write: about {rows:.0} rows per run, more than {MAX_WRITE_ROWS})",
                w.id
            ));
            continue;
        }
        plan.statements.push(Sampled {
            samples,
            ..w.clone()
        });
    }
    plan.sequence = interleave(&plan.statements, batch);
    Ok(plan)
}

/// Most rows one replayed write may touch, by the planner's estimate.
pub(super) const MAX_WRITE_ROWS: f64 = 100.0;

/// The planner's estimate of the rows the write touches with its first sample,
/// when above [`MAX_WRITE_ROWS`]; `None` when it is a small write (or the
/// estimate cannot be had: the batch then finds out for itself).
async fn bulk_rows(
    client: &Client,
    sql: &str,
    samples: &[Vec<Option<String>>],
) -> Result<Option<f64>, DbError> {
    let Ok(stmt) = prepare(client, sql, false, samples).await? else {
        return Ok(None);
    };
    let first = samples.first().cloned().unwrap_or_default();
    Ok(match run(client, &stmt, &first).await? {
        Ok(doc) => written_rows(&doc).filter(|r| *r > MAX_WRITE_ROWS),
        Err(_) => None,
    })
}

/// Rows a write's plan feeds its ModifyTable node (the node itself outputs
/// none without RETURNING).
pub(super) fn written_rows(doc: &Value) -> Option<f64> {
    let top = doc.get(0)?.get("Plan")?;
    let node = if top.get("Node Type").and_then(Value::as_str) == Some("ModifyTable") {
        top.get("Plans")?.get(0)?
    } else {
        top
    };
    node.get("Plan Rows").and_then(Value::as_f64)
}

/// Executions per statement in proportion to calls (≥ 1 each), round-robin.
fn interleave(statements: &[Sampled], batch: usize) -> Vec<(usize, usize)> {
    if statements.is_empty() || batch == 0 {
        return Vec::new();
    }
    let total: f64 = statements.iter().map(|s| s.calls.max(0.0)).sum();
    let mut left: Vec<usize> = statements
        .iter()
        .map(|s| {
            let share = if total > 0.0 {
                s.calls.max(0.0) / total
            } else {
                1.0 / statements.len() as f64
            };
            ((batch as f64 * share).round() as usize).max(1)
        })
        .collect();
    let mut done = vec![0usize; statements.len()];
    let mut seq = Vec::new();
    while left.iter().any(|&n| n > 0) {
        for (i, n) in left.iter_mut().enumerate() {
            if *n > 0 {
                *n -= 1;
                seq.push((i, done[i] % statements[i].samples.len().max(1)));
                done[i] += 1;
            }
        }
    }
    seq
}

/// One timed batch of writes: per execution its time (ms), or `None` when it
/// failed (a unique violation from replaying a sample, …). `limit` runs exactly
/// that many (the "after" batch repeats the "before" one); without it, the batch
/// stops early once `budget` is spent. The first failure is kept for the note.
pub(super) struct BatchTimes {
    pub times: Vec<Option<f64>>,
    pub first_failure: Option<String>,
}

/// Runs the batch (see [`BatchTimes`]), each execution in its own rolled-back
/// savepoint; with `warm_up`, every distinct `(statement, sample)` pair first
/// runs once, un-timed.
pub(super) async fn run_writes(
    client: &Client,
    plan: &WritePlan,
    limit: Option<usize>,
    budget: Duration,
    warm_up: bool,
) -> Result<BatchTimes, DbError> {
    let mut out = BatchTimes {
        times: Vec::new(),
        first_failure: None,
    };
    let mut prepared = Vec::with_capacity(plan.statements.len());
    for s in &plan.statements {
        match prepare(client, &s.sql, true, &s.samples).await? {
            Ok(p) => prepared.push(Some(p)),
            Err(f) => {
                out.first_failure.get_or_insert_with(|| f.to_string());
                prepared.push(None);
            }
        }
    }
    let n = limit
        .unwrap_or(plan.sequence.len())
        .min(plan.sequence.len());
    let started = Instant::now();
    if warm_up {
        // The whole batch once, un-timed (within half the budget): the first
        // writes pay for relation extension and cold pages, which the second
        // batch would otherwise be spared.
        for &(i, j) in &plan.sequence[..n] {
            if started.elapsed() > budget / 2 {
                break;
            }
            if let Some(stmt) = &prepared[i] {
                let _ = run(client, stmt, &plan.statements[i].samples[j]).await?;
            }
        }
    }
    let started = Instant::now();
    for &(i, j) in &plan.sequence[..n] {
        if limit.is_none() && started.elapsed() > budget {
            break;
        }
        let Some(stmt) = &prepared[i] else {
            out.times.push(None);
            continue;
        };
        match run(client, stmt, &plan.statements[i].samples[j]).await? {
            Ok(doc) => out.times.push(execution_ms(&doc)),
            Err(f) => {
                out.first_failure.get_or_insert_with(|| f.to_string());
                out.times.push(None);
            }
        }
    }
    Ok(out)
}

/// The write batches compared: per statement, the median time of its executions
/// that succeeded in both batches, weighted by how many there were (medians, so
/// one hiccup among hundreds of sub-millisecond writes does not decide).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct WriteComparison {
    /// Σ executions × median before (ms).
    pub before_ms: f64,
    /// Σ executions × median after (ms).
    pub after_ms: f64,
    /// Executions that succeeded in both batches.
    pub compared: usize,
    /// Executions that failed in either batch.
    pub failed: usize,
}

impl WriteComparison {
    /// `after / before − 1`, when something was compared.
    pub fn slowdown(&self) -> Option<f64> {
        (self.compared > 0 && self.before_ms > 0.0).then(|| self.after_ms / self.before_ms - 1.0)
    }
}

/// Compares two batches of the same [`WritePlan`] (see [`WriteComparison`]).
pub(super) fn compare_writes(
    plan: &WritePlan,
    before: &BatchTimes,
    after: &BatchTimes,
) -> WriteComparison {
    let mut per: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); plan.statements.len()];
    let mut out = WriteComparison {
        before_ms: 0.0,
        after_ms: 0.0,
        compared: 0,
        failed: 0,
    };
    for ((b, a), &(i, _)) in before.times.iter().zip(&after.times).zip(&plan.sequence) {
        match (b, a) {
            (Some(b), Some(a)) => {
                per[i].0.push(*b);
                per[i].1.push(*a);
                out.compared += 1;
            }
            _ => out.failed += 1,
        }
    }
    for (b, a) in &per {
        let n = b.len() as f64;
        out.before_ms += n * super::verdict::timing_stats(b).median_ms;
        out.after_ms += n * super::verdict::timing_stats(a).median_ms;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampled(id: &str, calls: f64, samples: usize) -> Sampled {
        Sampled {
            id: id.into(),
            sql: String::new(),
            calls,
            samples: (0..samples).map(|k| vec![Some(k.to_string())]).collect(),
        }
    }

    #[test]
    fn batches_follow_calls_and_cycle_samples() {
        let seq = interleave(&[sampled("a", 300.0, 2), sampled("b", 100.0, 1)], 8);
        assert_eq!(seq.iter().filter(|(i, _)| *i == 0).count(), 6);
        assert_eq!(seq.iter().filter(|(i, _)| *i == 1).count(), 2);
        assert_eq!(&seq[..4], &[(0, 0), (1, 0), (0, 1), (1, 0)]);
        // A rare statement still runs once.
        let seq = interleave(&[sampled("a", 1e6, 1), sampled("b", 1.0, 1)], 10);
        assert!(seq.contains(&(1, 0)));
        assert!(interleave(&[], 10).is_empty());
    }

    #[test]
    fn written_rows_read_below_the_modify_table_node() {
        let insert_select: Value = serde_json::json!([{"Plan": {
            "Node Type": "ModifyTable", "Plan Rows": 0,
            "Plans": [{"Node Type": "Function Scan", "Plan Rows": 500000}]}}]);
        assert_eq!(written_rows(&insert_select), Some(500_000.0));
        let plain: Value = serde_json::json!([{"Plan": {"Node Type": "Result", "Plan Rows": 1}}]);
        assert_eq!(written_rows(&plain), Some(1.0));
        assert_eq!(written_rows(&serde_json::json!({})), None);
    }

    #[test]
    fn plan_walk_finds_index_names_in_sub_plans() {
        let doc: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Limit", "Plans": [
                  {"Node Type": "Index Scan", "Index Name": "t_c_idx"}]},
                 "Execution Time": 0.25}]"#,
        )
        .unwrap_or_default();
        assert!(plan_uses(&doc, &["t_c_idx".into()]));
        assert!(!plan_uses(&doc, &["t_x_idx".into()]));
        assert_eq!(execution_ms(&doc), Some(0.25));
    }

    #[test]
    fn write_batches_compare_medians_per_statement() {
        let plan = WritePlan {
            statements: vec![sampled("a", 1.0, 1), sampled("b", 1.0, 1)],
            sequence: vec![(0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)],
            left_out: Vec::new(),
        };
        let before = BatchTimes {
            times: vec![Some(1.0), Some(2.0), Some(1.0), None, Some(50.0), Some(2.0)],
            first_failure: None,
        };
        let after = BatchTimes {
            times: vec![
                Some(1.5),
                Some(2.0),
                Some(1.5),
                Some(2.0),
                Some(1.5),
                Some(2.0),
            ],
            first_failure: None,
        };
        let c = compare_writes(&plan, &before, &after);
        // a: 3 × median(1, 1, 50) = 3 → 3 × 1.5 = 4.5; b: 2 × 2 = 4 → 4.
        assert_eq!((c.compared, c.failed), (5, 1));
        assert_eq!((c.before_ms, c.after_ms), (7.0, 8.5));
        assert!(c.slowdown().is_some_and(|s| (s - 1.5 / 7.0).abs() < 1e-9));
    }

    #[test]
    fn samples_must_match_the_parameter_count() {
        let s = vec![vec![Some("1".into())], vec![Some("1".into()), None]];
        assert_eq!(usable_samples(&s, 2).len(), 1);
        assert_eq!(usable_samples(&s, 0), vec![Vec::<Option<String>>::new()]);
        assert!(usable_samples(&s, 3).is_empty());
    }
}
