//! The hand-off report (`pgpilot report`): the document the scenario's DBA was
//! writing — status, top problems found, what was changed and why, metrics
//! baseline vs after vs target, per-query before/after, the rollback procedure
//! and the next steps. This module derives what both renderers show (plain
//! text, no markup); `markdown` and `html` lay it out.

mod charts;
mod html;
mod markdown;
mod plan_sections;

use pgpilot_advisor::{
    AdvicePlan, ChangeAction, ChangeRecord, ChangeStatus, DropRecommendation, KeyExpr,
    Recommendation, VerifyStatus,
};
use pgpilot_bench_model::{BenchReport, QueryStats};
use pgpilot_findings::{sort_findings, Finding};

use crate::advice::{measured_medians, verify_label};
use crate::format::duration_ms;
use crate::inventory::bytes;
use crate::numbers::{change_pct, speedup, thousands};
use plan_sections::{verify_counts, JOURNAL_NOT_READ};

pub use html::handoff_html;
pub use markdown::handoff_markdown;

/// How many findings the "top problems" section lists; the rest are counted.
const TOP_FINDINGS: usize = 10;

/// Everything the hand-off report is made from. Every input but the title,
/// database and date may be absent; each section then says what is missing.
#[derive(Debug, Clone)]
pub struct Handoff<'a> {
    /// Document title.
    pub title: String,
    /// The target database, redacted (`user@host:port/db`, never a password).
    pub database: String,
    /// When the report was generated (RFC 3339).
    pub generated_at: String,
    /// The advice plan (with `verify` measurements when run).
    pub plan: Option<&'a AdvicePlan>,
    /// The benchmark before the changes.
    pub baseline: Option<&'a BenchReport>,
    /// The same benchmark after the changes.
    pub after: Option<&'a BenchReport>,
    /// The apply journal (`pgpilot.changes`), in any order: `None` when it was
    /// not read (no database given), and what was applied or rolled back is
    /// then unknown — the report says so instead of claiming nothing was done;
    /// `Some(&[])` when it was read and holds no change.
    pub changes: Option<&'a [ChangeRecord]>,
    /// Top problems found (health checks and plan findings).
    pub findings: &'a [Finding],
    /// Queries the indexes could not fix (see [`cache_candidates`]).
    pub cache_candidates: Vec<CacheCandidate>,
}

/// A query still slow after the changes: a candidate for a result cache.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheCandidate {
    /// The query's name (and sequence) in the benchmark, then its SQL.
    pub query: String,
    /// Executions in the after run.
    pub calls: u64,
    /// Mean latency after the changes, ms.
    pub avg_ms: f64,
    /// 99th percentile latency after the changes, ms.
    pub p99_ms: f64,
    /// Why it is listed, in a sentence.
    pub why: String,
}

/// True when the SQL text reads like an aggregation (GROUP BY, or an
/// aggregate function), whose result is a natural cache candidate.
fn is_aggregation(sql: &str) -> bool {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let lower = flat.to_lowercase();
    lower.contains("group by")
        || [
            "count(",
            "sum(",
            "avg(",
            "min(",
            "max(",
            "array_agg(",
            "string_agg(",
        ]
        .iter()
        .any(|f| lower.contains(f))
}

pub(crate) fn query_label(q: &QueryStats) -> String {
    match &q.sequence {
        Some(seq) => format!("{seq}/{}", q.name),
        None => q.name.clone(),
    }
}

/// Queries of `after` still slow: mean or p99 above `slow_threshold_ms`,
/// heaviest (total time) first — what indexes could not fix.
pub fn cache_candidates(after: &BenchReport, slow_threshold_ms: f64) -> Vec<CacheCandidate> {
    let mut slow: Vec<&QueryStats> = after
        .queries
        .iter()
        .filter(|q| q.calls > 0 && (q.avg_ms > slow_threshold_ms || q.p99_ms > slow_threshold_ms))
        .collect();
    slow.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    slow.into_iter()
        .map(|q| {
            let name = query_label(q);
            let query = if q.sql.trim().is_empty() {
                name
            } else {
                format!("{name}: {}", crate::top::one_line_sql(&q.sql, 160))
            };
            let level = if q.avg_ms > slow_threshold_ms {
                format!("still {} on average", duration_ms(q.avg_ms))
            } else {
                format!(
                    "{} on average but {} at p99",
                    duration_ms(q.avg_ms),
                    duration_ms(q.p99_ms)
                )
            };
            let first = q
                .sql
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            let kind = if matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "MERGE") {
                "a write, so no cache can help: check its plan (pgpilot explain) and the \
                 table's dead tuples (VACUUM, autovacuum settings); an index on its filter \
                 that verify could not prove may still be worth trying"
            } else if is_aggregation(&q.sql) {
                "an aggregation whose result can be cached: refreshing it every few minutes \
                 (materialized view or application cache) takes it off the hot path"
            } else {
                "indexes could not make it fast enough: cache its result if it may be a \
                 little stale, or rewrite it"
            };
            CacheCandidate {
                query,
                calls: q.calls,
                avg_ms: q.avg_ms,
                p99_ms: q.p99_ms,
                why: format!(
                    "{level} after the changes (over {} calls); {kind}",
                    thousands(q.calls as f64)
                ),
            }
        })
        .collect()
}

/// `20.4× faster`, `1.25× slower`, or `not comparable`.
pub(crate) fn faster(before: f64, after: f64) -> String {
    match speedup(before, after).as_str() {
        "—" => "not comparable".to_string(),
        s if s.ends_with("slower") => s.to_string(),
        s => format!("{s} faster"),
    }
}

/// One journaled change with what the plan says about it.
pub(crate) struct ChangeView<'a> {
    pub change: &'a ChangeRecord,
    pub rec: Option<&'a Recommendation>,
    pub drop: Option<&'a DropRecommendation>,
    /// For ANALYZE: the table analyzed.
    pub analyzed: Option<String>,
}

fn norm_sql(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(';')
        .to_lowercase()
}

/// True when `ddl` names `name` as a whole identifier (quoted or not).
fn names(ddl: &str, name: &str) -> bool {
    let name = name.to_lowercase();
    ddl.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .any(|tok| tok == name)
}

fn same_table(a: &str, b: &str) -> bool {
    let n = |s: &str| s.replace('"', "").to_lowercase();
    let (a, b) = (n(a), n(b));
    let tail = |s: &str| s.rsplit('.').next().unwrap_or("").to_string();
    a == b || ((!a.contains('.') || !b.contains('.')) && tail(&a) == tail(&b))
}

/// The table of `ANALYZE [VERBOSE] [(options)] table [(columns)]`.
pub(crate) fn analyzed_table(ddl: &str) -> Option<String> {
    let rest = ddl.trim().trim_end_matches(';').trim();
    let keyword = ["analyze", "analyse", "vacuum"].into_iter().find(|k| {
        rest.get(..k.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(k))
    })?;
    let mut tail = rest.get(keyword.len()..)?;
    if !tail.starts_with(char::is_whitespace) && !tail.starts_with('(') {
        return None;
    }
    tail = tail.trim_start();
    if tail.starts_with('(') {
        tail = tail.find(')').and_then(|i| tail.get(i + 1..)).unwrap_or("");
    }
    let word = tail.split_whitespace().find(|w| {
        !["verbose", "analyze", "analyse", "full", "freeze"]
            .iter()
            .any(|o| w.eq_ignore_ascii_case(o))
    })?;
    let name = word.split('(').next().unwrap_or(word).trim_end_matches(',');
    (!name.is_empty()).then(|| name.to_string())
}

pub(crate) fn change_views<'a>(h: &Handoff<'a>) -> Vec<ChangeView<'a>> {
    let mut changes: Vec<&ChangeRecord> = h.changes.unwrap_or_default().iter().collect();
    changes.sort_by_key(|c| c.id);
    changes
        .into_iter()
        .map(|c| {
            let recs = h.plan.map(|p| p.recommendations.as_slice()).unwrap_or(&[]);
            let drops = h.plan.map(|p| p.drops.as_slice()).unwrap_or(&[]);
            let (rec, drop, analyzed) = match c.action {
                ChangeAction::CreateIndex => (
                    recs.iter()
                        .find(|r| norm_sql(&r.ddl) == norm_sql(&c.ddl))
                        .or_else(|| recs.iter().find(|r| names(&c.ddl, &r.name))),
                    None,
                    None,
                ),
                ChangeAction::DropIndex => (
                    None,
                    drops
                        .iter()
                        .find(|d| norm_sql(&d.ddl) == norm_sql(&c.ddl))
                        .or_else(|| drops.iter().find(|d| names(&c.ddl, &d.name))),
                    None,
                ),
                ChangeAction::Analyze => (None, None, analyzed_table(&c.ddl)),
            };
            ChangeView {
                change: c,
                rec,
                drop,
                analyzed,
            }
        })
        .collect()
}

fn in_place(c: &ChangeRecord) -> bool {
    matches!(
        c.status,
        ChangeStatus::Applied | ChangeStatus::AlreadyPresent
    )
}

/// `Index users_x on public.users (a, b DESC)`, `ANALYZE public.users`, …
pub(crate) fn change_title(v: &ChangeView) -> String {
    match (v.change.action, v.rec, v.drop) {
        (ChangeAction::CreateIndex, Some(r), _) => {
            format!("Index {} on {} ({})", r.name, r.table, r.columns.join(", "))
        }
        (ChangeAction::CreateIndex, None, _) => "New index".into(),
        (ChangeAction::DropIndex, _, Some(d)) => format!("Drop index {} on {}", d.name, d.table),
        (ChangeAction::DropIndex, _, None) => "Drop index".into(),
        (ChangeAction::Analyze, _, _) => match &v.analyzed {
            Some(t) => format!("ANALYZE {t}"),
            None => "ANALYZE".into(),
        },
    }
}

/// Why the change was made.
pub(crate) fn change_why(h: &Handoff, v: &ChangeView) -> String {
    match (v.change.action, v.rec, v.drop) {
        (ChangeAction::CreateIndex, Some(r), _) => r.reason.clone(),
        (ChangeAction::DropIndex, _, Some(d)) => {
            format!(
                "{} index: {}; frees {}",
                d.reason,
                d.detail,
                bytes(d.size_bytes as i64)
            )
        }
        (ChangeAction::Analyze, _, _) => {
            let listed = match (&v.analyzed, h.plan) {
                (Some(t), Some(p)) => p.analyze.iter().any(|a| same_table(a, t)),
                _ => false,
            };
            if listed {
                "stale statistics: the planner misjudged row counts on this table".into()
            } else {
                "its statistics were stale when the change was made (pgpilot ANALYZEs only \
                 tables a plan found stale): the planner misjudged row counts, and every \
                 what-if estimate with them"
                    .into()
            }
        }
        _ if h.plan.is_none() => "no plan given: the reason is in the plan file".into(),
        _ => "not in the given plan".into(),
    }
}

/// What was measured for the change, in one line, when anything was.
pub(crate) fn change_measured(v: &ChangeView) -> Option<String> {
    let verification = v.rec.and_then(|r| r.verification.as_ref());
    let medians = match (v.change.before_ms, v.change.after_ms) {
        (Some(b), Some(a)) => Some((b, a)),
        _ => verification.and_then(measured_medians),
    };
    let mut parts = Vec::new();
    if let Some((b, a)) = medians {
        parts.push(format!(
            "median of the served queries {} → {} ({})",
            duration_ms(b),
            duration_ms(a),
            faster(b, a)
        ));
    }
    if let Some(ver) = verification {
        parts.push(verify_label(Some(ver)));
        if ver.real_size_bytes > 0 {
            parts.push(format!("size {}", bytes(ver.real_size_bytes as i64)));
        }
        if let Some(w) = ver.write_slowdown {
            parts.push(format!("writes {:+.1} %", w * 100.0));
        }
    } else if let Some(r) = v.rec {
        parts.push(format!(
            "not verified; est. size {}",
            bytes(r.size_bytes as i64)
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `applied 2024-05-01T11:52:10Z by dba (change #11)`, or why it is not in place.
pub(crate) fn change_status(c: &ChangeRecord) -> String {
    let state = match c.status {
        ChangeStatus::Applied => "applied".to_string(),
        ChangeStatus::AlreadyPresent => "already in place".to_string(),
        ChangeStatus::Failed => format!("FAILED ({})", c.detail),
        ChangeStatus::RolledBack => format!(
            "rolled back{}",
            c.rolled_back_at
                .as_deref()
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        ),
    };
    format!(
        "{state} · {} by {} (change #{})",
        c.applied_at, c.applied_by, c.id
    )
}

/// Normalized key name: `"Last_Login" DESC` → `last_login`.
fn key_name(s: &str) -> String {
    let mut s = s.replace('"', "").to_lowercase();
    for suffix in [" nulls first", " nulls last", " desc", " asc"] {
        if let Some(cut) = s.strip_suffix(suffix) {
            s = cut.to_string();
        }
    }
    s.split_whitespace().collect()
}

/// The change that addresses a finding, if any: an index on its table holding
/// its columns, an ANALYZE of its table for statistics problems, or a change
/// whose statement is the finding's fix.
fn addressed_by(f: &Finding, views: &[ChangeView]) -> Option<String> {
    for v in views.iter().filter(|v| in_place(v.change)) {
        if let Some(fix) = &f.fix_sql {
            if norm_sql(fix) == norm_sql(&v.change.ddl) {
                return Some(change_title(v));
            }
        }
        let table = f.table.as_deref();
        match v.change.action {
            ChangeAction::CreateIndex => {
                let Some(r) = v.rec else { continue };
                if f.columns.is_empty() || !table.is_some_and(|t| same_table(t, &r.table)) {
                    continue;
                }
                let stored: Vec<String> = r
                    .index
                    .keys
                    .iter()
                    .map(|k| match &k.expr {
                        KeyExpr::Column(c) | KeyExpr::Expression(c) => key_name(c),
                    })
                    .chain(r.index.include.iter().map(|c| key_name(c)))
                    .collect();
                if f.columns.iter().all(|c| stored.contains(&key_name(c))) {
                    return Some(format!("index {}", r.name));
                }
            }
            ChangeAction::Analyze => {
                let stats = f.id.contains("stale_statistics") || f.id.contains("misestimate");
                if let (true, Some(t), Some(a)) = (stats, table, &v.analyzed) {
                    if same_table(t, a) {
                        return Some(format!("ANALYZE {a}"));
                    }
                }
            }
            ChangeAction::DropIndex => {
                let Some(d) = v.drop else { continue };
                let mentions = names(&f.title, &d.name)
                    || f.evidence
                        .values()
                        .any(|e| e.as_str() == Some(d.name.as_str()));
                if mentions {
                    return Some(format!("drop of {}", d.name));
                }
            }
        }
    }
    None
}

/// Findings most important first, each with the change that addressed it.
pub(crate) fn ranked_findings(h: &Handoff, views: &[ChangeView]) -> Vec<(Finding, Option<String>)> {
    let mut all = h.findings.to_vec();
    sort_findings(&mut all);
    all.into_iter()
        .map(|f| {
            let by = addressed_by(&f, views);
            (f, by)
        })
        .collect()
}

/// Queries matched by name between baseline and after, heaviest baseline first,
/// then those only in the after run.
pub(crate) fn query_rows<'a>(
    h: &Handoff<'a>,
) -> Vec<(String, Option<&'a QueryStats>, Option<&'a QueryStats>)> {
    let key = |q: &QueryStats| (q.sequence.clone(), q.name.clone());
    let base: Vec<&QueryStats> = h
        .baseline
        .map(|b| b.queries.iter().collect())
        .unwrap_or_default();
    let after: Vec<&QueryStats> = h
        .after
        .map(|a| a.queries.iter().collect())
        .unwrap_or_default();
    let mut rows: Vec<(String, Option<&QueryStats>, Option<&QueryStats>)> = base
        .iter()
        .map(|b| {
            (
                query_label(b),
                Some(*b),
                after.iter().copied().find(|a| key(a) == key(b)),
            )
        })
        .collect();
    rows.sort_by(|x, y| {
        let t = |r: &Option<&QueryStats>| r.map_or(0.0, |q| q.total_ms);
        t(&y.1).total_cmp(&t(&x.1))
    });
    let mut only_after: Vec<&QueryStats> = after
        .iter()
        .copied()
        .filter(|a| !base.iter().any(|b| key(b) == key(a)))
        .collect();
    only_after.sort_by(|x, y| y.total_ms.total_cmp(&x.total_ms));
    rows.extend(
        only_after
            .into_iter()
            .map(|a| (query_label(a), None, Some(a))),
    );
    rows
}

fn met(r: &BenchReport) -> (usize, usize) {
    (r.slo.iter().filter(|c| c.pass).count(), r.slo.len())
}

fn changes_sentence(h: &Handoff, views: &[ChangeView]) -> String {
    let count = |a: ChangeAction, s: ChangeStatus| {
        views
            .iter()
            .filter(|v| v.change.action == a && v.change.status == s)
            .count()
    };
    let applied: Vec<String> = [
        (
            ChangeAction::CreateIndex,
            "index created",
            "indexes created",
        ),
        (ChangeAction::Analyze, "table analyzed", "tables analyzed"),
        (ChangeAction::DropIndex, "index dropped", "indexes dropped"),
    ]
    .iter()
    .filter_map(|(a, one, many)| {
        let n = count(*a, ChangeStatus::Applied);
        (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
    })
    .collect();
    let failed = views
        .iter()
        .filter(|v| v.change.status == ChangeStatus::Failed)
        .count();
    let rolled = views
        .iter()
        .filter(|v| v.change.status == ChangeStatus::RolledBack)
        .count();
    let plan_line = h.plan.map(|p| {
        let n = p.recommendations.len();
        let verify = verify_counts(p)
            .map(|c| format!("; verify: {c} (only verified indexes are to be applied)"))
            .unwrap_or_default();
        format!(
            "recommends {n} index{} (estimated workload cost {}){verify}",
            if n == 1 { "" } else { "es" },
            change_pct(p.workload_cost_before, p.workload_cost_after)
        )
    });
    if h.changes.is_none() {
        return match plan_line {
            Some(l) => format!("{JOURNAL_NOT_READ} The plan {l}."),
            None => JOURNAL_NOT_READ.into(),
        };
    }
    if views.is_empty() {
        return match plan_line {
            Some(l) => format!(
                "No change of this plan has been applied yet (the apply journal records none); \
                 the plan {l}."
            ),
            None => "The apply journal records no change.".into(),
        };
    }
    let mut s = if applied.is_empty() {
        "No change is in place".to_string()
    } else {
        format!("Changed: {}", applied.join(", "))
    };
    let created: Vec<&ChangeView> = views
        .iter()
        .filter(|v| {
            v.change.action == ChangeAction::CreateIndex && v.change.status == ChangeStatus::Applied
        })
        .collect();
    let verified = created
        .iter()
        .filter(|v| {
            v.rec
                .and_then(|r| r.verification.as_ref())
                .is_some_and(|x| x.status == VerifyStatus::Verified)
        })
        .count();
    if !created.is_empty() {
        s.push_str(&format!(
            " ({verified} of {} new index{} verified by real measurement before apply)",
            created.len(),
            if created.len() == 1 { "" } else { "es" }
        ));
    }
    let against = created
        .iter()
        .filter(|v| {
            v.rec
                .and_then(|r| r.verification.as_ref())
                .is_some_and(|x| {
                    matches!(x.status, VerifyStatus::NoGain | VerifyStatus::Regression)
                })
        })
        .count();
    if against > 0 {
        s.push_str(&format!(
            "; {against} new index{} in place although verify measured no gain or a \
             regression (see the verification table)",
            if against == 1 { "" } else { "es" }
        ));
    }
    if failed > 0 {
        s.push_str(&format!("; {failed} failed and left nothing behind"));
    }
    if rolled > 0 {
        s.push_str(&format!("; {rolled} rolled back"));
    }
    s.push_str(". Every change is journaled and can be rolled back.");
    s
}

/// The status paragraph: targets met, average before → after, what changed.
pub(crate) fn status_paragraph(h: &Handoff, views: &[ChangeView]) -> String {
    let lat = |r: &BenchReport| {
        format!(
            "average {}, p95 {}, p99 {}",
            duration_ms(r.summary.avg_ms),
            duration_ms(r.summary.p95_ms),
            duration_ms(r.summary.p99_ms)
        )
    };
    let bench = match (h.baseline, h.after) {
        (Some(b), Some(a)) => {
            let (bm, bt) = met(b);
            let (am, at) = met(a);
            let (x, y) = (b.summary.avg_ms, a.summary.avg_ms);
            format!(
                "After the changes {am} of {at} targets are met (baseline: {bm} of {bt}). \
                 Average query time went from {} to {} ({}); p95 {} → {}, p99 {} → {}.",
                duration_ms(x),
                duration_ms(y),
                faster(x, y),
                duration_ms(b.summary.p95_ms),
                duration_ms(a.summary.p95_ms),
                duration_ms(b.summary.p99_ms),
                duration_ms(a.summary.p99_ms),
            )
        }
        (Some(b), None) => {
            let (m, t) = met(b);
            format!(
                "Baseline only: {m} of {t} targets met ({}). No benchmark after the changes \
                 was given, so no improvement is claimed.",
                lat(b)
            )
        }
        (None, Some(a)) => {
            let (m, t) = met(a);
            format!(
                "{m} of {t} targets met ({}). No baseline was given to compare with.",
                lat(a)
            )
        }
        (None, None) => "No benchmark was given: targets and latencies are not reported.".into(),
    };
    format!("{bench} {}", changes_sentence(h, views))
}

/// Applied changes that can be undone, newest first (the order to undo them).
pub(crate) fn rollback_steps<'a>(views: &'a [ChangeView<'a>]) -> Vec<&'a ChangeRecord> {
    let mut steps: Vec<&ChangeRecord> = views
        .iter()
        .map(|v| v.change)
        .filter(|c| in_place(c) && !c.rollback_ddl.trim().is_empty())
        .collect();
    steps.sort_by_key(|c| std::cmp::Reverse(c.id));
    steps
}

/// The plan id for the rollback command: the plan's, else the journal's.
pub(crate) fn plan_id(h: &Handoff) -> Option<String> {
    h.plan
        .map(|p| p.id.clone())
        .or_else(|| h.changes.and_then(|c| c.first()).map(|c| c.plan_id.clone()))
        .filter(|id| !id.is_empty())
}

/// The top-problems cut: the first [`TOP_FINDINGS`] and how many more there are.
pub(crate) fn top_findings(
    ranked: &[(Finding, Option<String>)],
) -> (&[(Finding, Option<String>)], usize) {
    let n = ranked.len().min(TOP_FINDINGS);
    (&ranked[..n], ranked.len() - n)
}

/// Maintenance advice drawn from the plan, the changes and the findings.
pub(crate) fn maintenance(h: &Handoff, ranked: &[(Finding, Option<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stale: Vec<String> = h.plan.map(|p| p.analyze.clone()).unwrap_or_default();
    for (f, _) in ranked {
        if f.id.contains("stale_statistics") {
            if let Some(t) = &f.table {
                if !stale.iter().any(|s| same_table(s, t)) {
                    stale.push(t.clone());
                }
            }
        }
    }
    if !stale.is_empty() {
        out.push(format!(
            "Statistics went stale on {}: make autovacuum analyze these tables sooner \
             (a lower autovacuum_analyze_scale_factor per table) and run ANALYZE after bulk loads.",
            stale.join(", ")
        ));
    }
    let dead: Vec<String> = ranked
        .iter()
        .filter(|(f, _)| f.id.contains("dead_tuples") || f.id.contains("bloat"))
        .filter_map(|(f, _)| f.table.clone())
        .collect();
    if !dead.is_empty() {
        out.push(format!(
            "Dead rows or bloat on {}: check that autovacuum keeps up (n_dead_tup, \
             last_autovacuum in pg_stat_user_tables) and tune its per-table settings.",
            dead.join(", ")
        ));
    }
    out.push(
        "Check autovacuum and autoanalyze weekly on the write-heavy tables; a new index \
         adds work to every INSERT and UPDATE of its table."
            .into(),
    );
    out.push(
        "Re-check index use after a full business cycle (`pgpilot indexes`): drop indexes \
         that stay unused, and any INVALID index a failed build left."
            .into(),
    );
    out
}

/// Monitoring advice: what to keep measuring.
pub(crate) fn monitoring(h: &Handoff) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(r) = h.after.or(h.baseline) {
        out.push(format!(
            "Re-run the same benchmark (`pgpilot bench`, workload {}, {} client{}) after each \
             release and compare it with this report's figures.",
            r.config.workload,
            r.config.clients,
            if r.config.clients == 1 { "" } else { "s" }
        ));
    }
    out.push(
        "Keep pg_stat_statements enabled and review the top queries regularly \
         (`pgpilot top --db <URL>`); investigate any query whose mean time grows."
            .into(),
    );
    out.push(
        "Watch the index hit ratio (target above 98 %) and the health checks \
         (`pgpilot health --db <URL> --fail-on critical` in a scheduled job)."
            .into(),
    );
    out
}

#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod tests;
