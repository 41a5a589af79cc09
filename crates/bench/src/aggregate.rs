//! Merging the clients' local statistics into the report's summary, per-query
//! figures, error counts, and the `pg_stat_statements` cross-check.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use pgpilot_bench_model::{ErrorCount, PgssCheck, PgssQueryCheck, QueryStats, Summary};

use crate::client::{new_histogram, ClientResult, Plan};
use crate::sqlscan::normalize;

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        ms(h.value_at_quantile(q))
    }
}

/// Per-step figures merged over clients, in plan order, plus the summary's
/// latency and count fields (ratios and connections are filled in by the runner).
pub(crate) fn merge(
    plan: &Plan,
    sequence_of_step: &[Option<String>],
    results: &[ClientResult],
    duration_s: f64,
) -> (Summary, Vec<QueryStats>, Vec<ErrorCount>) {
    let mut overall = new_histogram();
    let mut queries = Vec::with_capacity(plan.steps.len());
    let (mut statements, mut errors, mut slow, mut total_us, mut max_us) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for (i, step) in plan.steps.iter().enumerate() {
        let mut h = new_histogram();
        let mut q = QueryStats {
            name: step.name.clone(),
            sequence: sequence_of_step.get(i).cloned().flatten(),
            sql: step.sql.clone(),
            ..QueryStats::default()
        };
        let mut step_total_us = 0u64;
        let mut step_max_us = 0u64;
        for r in results {
            let s = &r.steps[i];
            // Same bounds everywhere, so adding cannot fail.
            let _ = h.add(&s.hist);
            q.calls += s.calls;
            q.errors += s.errors;
            q.slow += s.slow;
            q.rows += s.rows;
            step_total_us += s.total_us;
            step_max_us = step_max_us.max(s.max_us);
        }
        q.total_ms = ms(step_total_us);
        q.avg_ms = if q.calls > 0 {
            q.total_ms / q.calls as f64
        } else {
            0.0
        };
        q.p50_ms = pct(&h, 0.50);
        q.p95_ms = pct(&h, 0.95);
        q.p99_ms = pct(&h, 0.99);
        q.max_ms = ms(step_max_us);
        statements += q.calls;
        errors += q.errors;
        slow += q.slow;
        total_us += step_total_us;
        max_us = max_us.max(step_max_us);
        queries.push(q);
    }
    for r in results {
        let _ = overall.add(&r.overall);
    }
    let summary = Summary {
        statements,
        throughput_qps: if duration_s > 0.0 {
            statements as f64 / duration_s
        } else {
            0.0
        },
        avg_ms: if statements > 0 {
            ms(total_us) / statements as f64
        } else {
            0.0
        },
        p50_ms: pct(&overall, 0.50),
        p95_ms: pct(&overall, 0.95),
        p99_ms: pct(&overall, 0.99),
        max_ms: ms(max_us),
        slow_pct: if statements > 0 {
            slow as f64 * 100.0 / statements as f64
        } else {
            0.0
        },
        duration_s,
        transactions: results.iter().map(|r| r.transactions).sum(),
        errors,
        ..Summary::default()
    };
    let mut merged: BTreeMap<(usize, Option<String>), (String, u64)> = BTreeMap::new();
    for r in results {
        for (k, (msg, n)) in &r.errors {
            let e = merged.entry(k.clone()).or_insert_with(|| (msg.clone(), 0));
            e.1 += n;
        }
    }
    let mut errs: Vec<ErrorCount> = merged
        .into_iter()
        .map(|((s, sqlstate), (message, count))| ErrorCount {
            query: plan.steps[s].name.clone(),
            sqlstate,
            message,
            count,
        })
        .collect();
    errs.sort_by_key(|e| std::cmp::Reverse(e.count));
    (summary, queries, errs)
}

/// Compares executions (warm-up included) with the growth of `pg_stat_statements`
/// calls, matching statements by normalized text.
pub(crate) fn pgss_check(
    plan: &Plan,
    results: &[ClientResult],
    before: &HashMap<String, i64>,
    after: &HashMap<String, i64>,
) -> PgssCheck {
    let mut server: HashMap<String, i64> = HashMap::new();
    for (text, calls) in after {
        let d = calls - before.get(text).copied().unwrap_or(0);
        *server.entry(normalize(text)).or_insert(0) += d.max(0);
    }
    let mut ours: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
    let mut order = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let key = normalize(&step.sql);
        let e = ours.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            (Vec::new(), 0)
        });
        e.0.push(step.name.clone());
        e.1 += results.iter().map(|r| r.steps[i].calls_all).sum::<u64>();
    }
    let queries: Vec<PgssQueryCheck> = order
        .iter()
        .filter_map(|k| ours.get(k).map(|v| (k, v)))
        .map(|(k, (names, measured))| {
            let pgss = server.get(k).copied();
            PgssQueryCheck {
                names: names.clone(),
                measured_calls: *measured,
                pgss_calls: pgss,
                matches: pgss.unwrap_or(0) == *measured as i64,
            }
        })
        .collect();
    PgssCheck {
        all_match: queries.iter().all(|q| q.matches),
        queries,
    }
}
