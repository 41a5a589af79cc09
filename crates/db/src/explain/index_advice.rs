//! `plan.index_advice`: the workload advisor ([`pgpilot_advisor::advise`]) run on
//! the one statement being diagnosed, with HypoPG what-if plans on the caller's
//! own connection, turned into one finding for the statement (with the DDL of
//! every index recommended for it, normally one) that replaces the per-node
//! `CREATE INDEX` suggestions of the plan rules on the same tables (see [`merge`]).
//!
//! **When.** After the EXPLAIN of a SELECT, UPDATE or DELETE that produced a plan,
//! and only when the `hypopg` extension is *created* in the database (checked in
//! the catalog; it is never created here: explain stays read-only). The statement
//! is the advisor's only query, with the given parameter values as its one sample
//! (literal SQL needs none, and its constants give partial and expression
//! candidates directly).
//!
//! **How, on the same connection.** The advisor and its [`WhatIf`] trait are
//! synchronous; the connection is async and borrowed. The advisor therefore runs
//! on Tokio's blocking pool with a proxy planner that sends each question over a
//! channel, and this task answers them with the caller's client, after the
//! EXPLAIN transaction ended (each what-if EXPLAIN is planned only, never
//! executed, outside any transaction, so no lock is held between questions).
//! Hypothetical indexes live only in this backend's memory: every one is removed
//! with `hypopg_reset()` before and after, and `statement_timeout` /
//! `lock_timeout`, set for the run, are restored. Expression, partial and other
//! non-plain candidates are checked as the CLI's advice does: on an empty
//! temporary copy of the table in a transaction that is always rolled back (on a
//! read-only server they are left out).
//!
//! **Budget.** At most [`MAX_PLANS`] what-if plans and [`BUDGET`] of wall time;
//! past either the run stops and nothing is reported. Any failure (no HypoPG, a
//! catalog error, the budget, an advisor error, no useful index) leaves the
//! diagnosis exactly as without this step, with a `debug` log line.

mod session;

use std::time::{Duration, Instant};

use pgpilot_advisor::advise::{bytes, human, Advice, AdviseOptions};
use pgpilot_advisor::{AdvisorQuery, IndexDef, Recommendation};
use pgpilot_plan::{Finding, Plan, Severity};
use pgpilot_sql::{QueryShape, StatementKind};
use serde_json::Value;
use tokio_postgres::Client;

use crate::whatif::{hypopg_status, quote, HypoStatus};

/// The finding id.
pub(crate) const ID: &str = "plan.index_advice";

/// Most what-if plans for one statement.
pub(crate) const MAX_PLANS: u64 = 150;
/// Wall time of the what-if run for one statement.
pub(crate) const BUDGET: Duration = Duration::from_millis(2500);
/// `statement_timeout` of each what-if statement.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_millis(1000);
/// `lock_timeout` of each what-if statement (planning takes AccessShare locks).
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_millis(500);
/// A statement that ran at least this long (or, not executed, is estimated at
/// least [`MIN_WARNING_COST`]) makes the advice a warning when no plan rule
/// flagged its table.
const MIN_WARNING_MS: f64 = 1.0;
/// See [`MIN_WARNING_MS`].
const MIN_WARNING_COST: f64 = 1000.0;

/// Index advice for one explained statement: its `plan.index_advice` finding,
/// `None` when there is none or anything fails (logged at debug). `plan` is the
/// statement's parsed plan (for its measured time).
pub(crate) async fn index_advice(
    client: &Client,
    sql: &str,
    shape: &QueryShape,
    params: &[Option<String>],
    plan: Option<&Plan>,
) -> Option<Finding> {
    if !matches!(
        shape.kind,
        StatementKind::Select | StatementKind::Update | StatementKind::Delete
    ) {
        return None;
    }
    let mut tables: Vec<String> = shape
        .relations()
        .iter()
        .map(|t| t.qualified_name())
        .collect();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return None;
    }
    let schema = match hypopg_status(client).await {
        Ok(HypoStatus::Installed { schema, .. }) => quote(&schema),
        Ok(other) => {
            tracing::debug!("index advice skipped: {}", other.message());
            return None;
        }
        Err(e) => {
            tracing::debug!("index advice skipped: {e}");
            return None;
        }
    };
    let catalog = match crate::advisor_catalog(client, &tables).await {
        Ok(c) if !c.tables.is_empty() => c,
        Ok(_) => return None,
        Err(e) => {
            tracing::debug!("index advice skipped: {e}");
            return None;
        }
    };
    let query = AdvisorQuery {
        id: "explain".into(),
        sql: sql.trim().to_string(),
        calls: 1.0,
        mean_ms: None,
        samples: if params.is_empty() {
            Vec::new()
        } else {
            vec![params.to_vec()]
        },
        shape: shape.clone(),
    };
    let started = Instant::now();
    match session::run(client, schema, query, catalog).await {
        Ok(advice) => {
            tracing::debug!(
                "index advice: {} recommendation(s) from {} candidates, {} what-if plans in {:?}",
                advice.recommendations.len(),
                advice.candidates_considered,
                advice.whatif_plans,
                started.elapsed()
            );
            finding(&advice, plan)
        }
        Err(e) => {
            tracing::debug!("index advice skipped: {e}");
            None
        }
    }
}

/// Adds the `advice` finding to `findings` and drops the plan rules' findings
/// whose fix is a `CREATE INDEX` on a table the advice is about: one coherent
/// fix instead of several partial ones. Every other finding (lints included)
/// is kept. The advice names the findings it replaces and takes the highest
/// severity and impact of those and of the plan rules' other missing-index
/// findings on its tables.
pub(crate) fn merge(findings: &mut Vec<Finding>, advice: Option<Finding>) {
    let Some(mut a) = advice else {
        return;
    };
    let mut replaced: Vec<String> = Vec::new();
    let mut worst: Option<&Finding> = None;
    for f in findings.iter() {
        let replacing = replaces(&a, f);
        if replacing || missing_index(&a, f) {
            let rank = |x: &Finding| (x.severity, x.impact_ms.unwrap_or(0.0));
            if worst.map_or(true, |w| rank(f) > rank(w)) {
                worst = Some(f);
            }
            a.severity = a.severity.max(f.severity);
            a.impact_ms = match (a.impact_ms, f.impact_ms) {
                (Some(x), Some(y)) => Some(x.max(y)),
                (x, y) => x.or(y),
            };
        }
        if replacing && !replaced.contains(&f.id) {
            replaced.push(f.id.clone());
        }
    }
    if let Some(table) = worst.and_then(|w| w.table.as_deref()) {
        show_table(&mut a, table);
    }
    if !replaced.is_empty() {
        a.explanation.push_str(&format!(
            " It replaces the per-node index suggestions of {} on the same table.",
            replaced.join(", ")
        ));
        a.evidence.insert(
            "replaces".into(),
            Value::Array(replaced.into_iter().map(Value::from).collect()),
        );
    }
    findings.retain(|f| !replaces(&a, f));
    findings.push(a);
}

/// With several indexes, names the one on `table` (as a plan finding names it)
/// in the advice's `table` and `columns`.
fn show_table(a: &mut Finding, table: &str) {
    let tables = a.evidence.get("tables_qualified").and_then(Value::as_array);
    let keys = a.evidence.get("index_keys").and_then(Value::as_array);
    let (Some(tables), Some(keys)) = (tables, keys) else {
        return;
    };
    let Some(i) = tables
        .iter()
        .position(|q| q.as_str().is_some_and(|q| same_table(q, table)))
    else {
        return;
    };
    let Some(k) = keys.get(i) else {
        return;
    };
    let columns: Vec<String> = k["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(t) = k["table"].as_str() {
        a.table = Some(t.to_string());
        a.columns = columns;
    }
}

/// The plan rules whose findings are about a missing index (they propose one
/// when they can name its columns).
const INDEX_RULES: &[&str] = &[
    "plan.filter_removes_most_rows",
    "plan.nested_loop_inner_scan",
    "plan.top_n_sort",
];

/// `f` is a missing-index finding of the plan rules on a table of advice `a`
/// (e.g. a filter on `lower(email)` it could not propose an index for): kept,
/// and the advice is at least as severe.
fn missing_index(a: &Finding, f: &Finding) -> bool {
    INDEX_RULES.contains(&f.id.as_str())
        && f.table.as_deref().is_some_and(|t| on_advice_table(a, t))
}

/// `f` is a plan rule's `CREATE INDEX` suggestion on a table of advice `a`.
fn replaces(a: &Finding, f: &Finding) -> bool {
    if f.id == ID || !f.id.starts_with("plan.") {
        return false;
    }
    let creates_index = f.fix_sql.as_deref().is_some_and(|s| {
        let s = s.trim_start().to_ascii_uppercase();
        s.starts_with("CREATE INDEX") || s.starts_with("CREATE UNIQUE INDEX")
    });
    creates_index && f.table.as_deref().is_some_and(|t| on_advice_table(a, t))
}

/// `table` (as a plan finding names it) is one the advice `a` indexes.
fn on_advice_table(a: &Finding, table: &str) -> bool {
    match a.evidence.get("tables_qualified").and_then(Value::as_array) {
        Some(tables) => tables
            .iter()
            .filter_map(Value::as_str)
            .any(|q| same_table(q, table)),
        None => a.table.as_deref().is_some_and(|q| same_table(q, table)),
    }
}

/// `qualified` (`schema.table`) and a plan's table name (`table`, or
/// `schema.table` when EXPLAIN printed the schema) are the same table.
fn same_table(qualified: &str, plan_table: &str) -> bool {
    let unquote = |s: &str| s.trim_matches('"').to_string();
    let split = |s: &str| -> (Option<String>, String) {
        match s.rsplit_once('.') {
            Some((sch, t)) => (Some(unquote(sch)), unquote(t)),
            None => (None, unquote(s)),
        }
    };
    let (qs, qt) = split(qualified);
    let (ps, pt) = split(plan_table);
    qt == pt
        && match (qs, ps) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

/// The finding for the statement: every recommended index (normally one) that
/// its final what-if plan uses, when together they cut its estimated cost by
/// at least the advisor's default minimum gain.
fn finding(advice: &Advice, plan: Option<&Plan>) -> Option<Finding> {
    let recs: Vec<&Recommendation> = advice
        .recommendations
        .iter()
        .filter(|r| !r.queries.is_empty())
        .collect();
    // Every served query is this statement, planned under all the recommendations.
    let served = recs.first()?.queries.first()?;
    let (before, after) = (served.cost_before, served.cost_after);
    let cut = (before - after) / before;
    if !(before > 0.0 && after.is_finite() && cut >= AdviseOptions::default().min_gain) {
        return None;
    }
    let labels: Vec<String> = recs.iter().map(|r| label(&r.index)).collect();
    let size: u64 = recs.iter().map(|r| r.size_bytes).sum();
    // Rounded down: never more than the planner estimated.
    let pct = (cut * 100.0).floor().max(1.0);
    let (title, with) = match labels.as_slice() {
        [one] => (format!("An index on {one}"), "this index"),
        [init @ .., last] => (
            format!("Indexes on {} and {last}", init.join(", ")),
            "these indexes together",
        ),
        [] => return None,
    };
    let title = format!("{title} would cut this query's estimated cost {pct:.0} %");
    let mut explanation = format!(
        "With {with} PostgreSQL's planner estimates the statement at {} cost units instead of \
         {} (−{pct:.0} %); {} would take about {}. This is a what-if estimate: HypoPG planned \
         the statement as if {} existed (hypothetical, nothing was built) and the planner \
         chose to use {}. Prove it before relying on it: `pgpilot advise` then `pgpilot \
         verify` measure real timings with and without it, or build it and run this explain \
         again.",
        human(after),
        human(before),
        if recs.len() == 1 { "the index" } else { "they" },
        bytes(size as f64),
        if recs.len() == 1 { "the index" } else { "they" },
        if recs.len() == 1 { "it" } else { "them" },
    );
    for note in &advice.notes {
        explanation.push_str(&format!(" Note: {note}."));
    }
    let exec_ms = plan.and_then(|p| p.execution_time_ms);
    let heavy = match exec_ms {
        Some(ms) => ms >= MIN_WARNING_MS,
        None => before >= MIN_WARNING_COST,
    };
    let severity = if heavy {
        Severity::Warning
    } else {
        Severity::Info
    };
    let first = recs[0];
    let mut f = Finding::new(ID, severity, title, explanation);
    f.table = Some(display_table(&first.index));
    f.columns = first.columns.clone();
    let ddl: Vec<String> = recs
        .iter()
        .map(|r| format!("{};", r.ddl.trim_end_matches(';')))
        .collect();
    f.fix_sql = Some(ddl.join("\n"));
    let undo: Vec<&str> = recs.iter().map(|r| r.rollback_ddl.as_str()).collect();
    f.fix_hint = Some(format!(
        "Run it on its own (CREATE INDEX CONCURRENTLY cannot run inside a transaction block \
         and does not block writes); if it does not pay off, undo it with {};",
        undo.join("; ")
    ));
    f.impact_ms = exec_ms.map(|ms| round3(ms * cut));
    let e = &mut f.evidence;
    let tables: Vec<Value> = recs.iter().map(|r| Value::from(r.table.clone())).collect();
    e.insert("tables_qualified".into(), Value::Array(tables));
    if recs.len() > 1 {
        // Per index, aligned with `tables_qualified`: `merge` shows the one on
        // the table the plan rules flagged most.
        let keys: Vec<Value> = recs
            .iter()
            .map(|r| serde_json::json!({"table": display_table(&r.index), "columns": r.columns}))
            .collect();
        e.insert("index_keys".into(), Value::Array(keys));
    }
    e.insert(
        "index_kind".into(),
        serde_json::to_value(first.kind).unwrap_or(Value::Null),
    );
    e.insert("estimated_cost_before".into(), num(before));
    e.insert("estimated_cost_after".into(), num(after));
    e.insert("estimated_cost_cut_pct".into(), num(cut * 100.0));
    e.insert("estimated_size_bytes".into(), Value::from(size));
    e.insert("whatif".into(), Value::from("hypopg"));
    e.insert("whatif_plans".into(), Value::from(advice.whatif_plans));
    e.insert(
        "candidates_considered".into(),
        Value::from(advice.candidates_considered),
    );
    // The advisor's runners-up, each under the recommendation of its own table.
    let alternatives: Vec<Value> = recs
        .iter()
        .flat_map(|r| {
            let prefix = format!("{} ", r.table);
            r.alternatives
                .iter()
                .filter(move |a| a.starts_with(&prefix) || a.starts_with("extended from"))
                .cloned()
                .map(Value::from)
        })
        .collect();
    if !alternatives.is_empty() {
        e.insert("alternatives".into(), Value::Array(alternatives));
    }
    Some(f)
}

/// `orders (status, created_at) INCLUDE (total) WHERE …`, the schema shown only
/// when it is not `public`.
fn label(def: &IndexDef) -> String {
    let mut s = display_table(def);
    if def.method != "btree" {
        s.push_str(&format!(" USING {}", def.method));
    }
    s.push_str(&format!(" ({})", def.key_labels().join(", ")));
    if !def.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", def.include.join(", ")));
    }
    if let Some(p) = &def.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

fn display_table(def: &IndexDef) -> String {
    if def.schema == "public" {
        def.table.clone()
    } else {
        def.qualified_table()
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn num(x: f64) -> Value {
    serde_json::Number::from_f64(round3(x))
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
