//! Index advice for people: the recommendations ranked by benefit, each with its
//! DDL, reason, the queries it serves and what `verify` measured; then the
//! indexes to drop, the tables to analyze, the queries that could not be planned
//! and the workload totals.

use pgpilot_advisor::{
    AdvicePlan, IndexKind, MeasuredQuery, Recommendation, TimingStats, Verification, VerifyStatus,
};

use crate::format::duration_ms;
use crate::inventory::bytes;
use crate::numbers::{change_pct, cost, cut_pct, thousands};
use crate::table::{render, Style};
use crate::top::one_line_sql;

/// Longest value of one sample parameter shown with `show_sql_literals`.
const SAMPLE_VALUE_WIDTH: usize = 40;

/// `b-tree`, `partial`, `expression`, `covering`, or the access method.
pub(crate) fn kind_label(rec: &Recommendation) -> String {
    match rec.kind {
        IndexKind::Btree => "b-tree".into(),
        IndexKind::Partial => "partial".into(),
        IndexKind::Expression => "expression".into(),
        IndexKind::Covering => "covering".into(),
        IndexKind::Other => rec.index.method.clone(),
    }
}

/// `public.users (created_at, last_login DESC) INCLUDE (email) WHERE …`.
pub(crate) fn index_label(rec: &Recommendation) -> String {
    let mut s = format!("{} ({})", rec.table, rec.columns.join(", "));
    if !rec.index.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", rec.index.include.join(", ")));
    }
    if let Some(p) = &rec.index.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

/// `verified −92.0 %`, `no gain`, `REGRESSION`, `skipped`, `not verified`.
pub(crate) fn verify_label(v: Option<&Verification>) -> String {
    match v.map(|v| (v.status, v.gain)) {
        None => "not verified".into(),
        Some((VerifyStatus::Verified, gain)) => format!("verified −{} time", cut_pct(gain)),
        Some((VerifyStatus::NoGain, _)) => "no gain".into(),
        Some((VerifyStatus::Regression, _)) => "REGRESSION".into(),
        Some((VerifyStatus::Skipped, _)) => "skipped".into(),
    }
}

/// Calls, Σ calls × cost before and Σ calls × cost after over the served queries.
pub(crate) fn served_totals(rec: &Recommendation) -> (f64, f64, f64) {
    rec.queries.iter().fold((0.0, 0.0, 0.0), |(c, b, a), q| {
        (
            c + q.calls,
            b + q.calls * q.cost_before,
            a + q.calls * q.cost_after,
        )
    })
}

/// Calls-weighted mean of the measured medians, before and after, in ms.
pub(crate) fn measured_medians(v: &Verification) -> Option<(f64, f64)> {
    let calls: f64 = v.queries.iter().map(|q| q.calls.max(0.0)).sum();
    if v.queries.is_empty() {
        return None;
    }
    let weight = |q: &MeasuredQuery| {
        if calls > 0.0 {
            q.calls.max(0.0) / calls
        } else {
            1.0 / v.queries.len() as f64
        }
    };
    let before = v
        .queries
        .iter()
        .map(|q| weight(q) * q.before.median_ms)
        .sum();
    let after = v
        .queries
        .iter()
        .map(|q| weight(q) * q.after.median_ms)
        .sum();
    Some((before, after))
}

/// `230 ms (210 ms–260 ms, 5 runs)`.
fn timing(t: &TimingStats) -> String {
    if t.runs <= 1 {
        return duration_ms(t.median_ms);
    }
    format!(
        "{} ({}–{}, {} runs)",
        duration_ms(t.median_ms),
        duration_ms(t.min_ms),
        duration_ms(t.max_ms),
        t.runs
    )
}

/// What `verify` measured, in one line.
pub(crate) fn verification_line(v: &Verification) -> String {
    let mut parts = vec![format!("{} ({})", verify_label(Some(v)), v.method)];
    if v.real_size_bytes > 0 {
        parts.push(format!("real size {}", bytes(v.real_size_bytes as i64)));
    }
    if v.build_ms > 0.0 {
        parts.push(format!("built in {}", duration_ms(v.build_ms)));
    }
    if let Some((b, a)) = measured_medians(v) {
        parts.push(format!(
            "served queries {} → {} (calls-weighted medians)",
            duration_ms(b),
            duration_ms(a)
        ));
    }
    if let Some(w) = v.write_slowdown {
        parts.push(format!("writes {:+.1} %", w * 100.0));
    }
    let mut line = parts.join(", ");
    if !v.note.trim().is_empty() {
        line.push_str(&format!("; {}", v.note.trim()));
    }
    line
}

/// A SQL text literal, cut to a readable width.
fn literal(v: &Option<String>) -> String {
    match v {
        None => "NULL".into(),
        Some(s) => {
            let cut = one_line_sql(s, SAMPLE_VALUE_WIDTH);
            format!("'{}'", cut.replace('\'', "''"))
        }
    }
}

/// `$1 = '42', $2 = NULL` for the first parameter sample of a query.
fn sample_line(plan: &AdvicePlan, id: &str) -> Option<String> {
    let q = plan.queries.iter().find(|q| q.id == id)?;
    let first = q.samples.first().filter(|s| !s.is_empty())?;
    let values: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(i, v)| format!("${} = {}", i + 1, literal(v)))
        .collect();
    let more = q.samples.len() - 1;
    Some(if more > 0 {
        format!("{} (1 of {} samples)", values.join(", "), q.samples.len())
    } else {
        values.join(", ")
    })
}

/// Inline code for Markdown, safe when the text holds a backtick.
pub(crate) fn md_code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

/// Recommendations ordered by benefit, highest first (ties keep plan order).
fn ranked(plan: &AdvicePlan) -> Vec<&Recommendation> {
    let mut recs: Vec<&Recommendation> = plan.recommendations.iter().collect();
    recs.sort_by(|a, b| b.benefit.total_cmp(&a.benefit));
    recs
}

fn heading(out: &mut String, style: Style, text: &str) {
    match style {
        Style::Markdown => out.push_str(&format!("\n### {text}\n\n")),
        Style::Terminal => out.push_str(&format!("\n{text}\n")),
    }
}

/// The lines describing one served query (first line, then details).
fn served_lines(
    plan: &AdvicePlan,
    rec: &Recommendation,
    style: Style,
    show_sql_literals: bool,
) -> Vec<(String, Vec<String>)> {
    let width = if style == Style::Markdown { 200 } else { 100 };
    rec.queries
        .iter()
        .map(|q| {
            let sql = one_line_sql(&q.query, width);
            let sql = if style == Style::Markdown {
                md_code(&sql)
            } else {
                sql
            };
            let first = format!(
                "{sql} — {} calls, cost {} → {} ({})",
                thousands(q.calls),
                cost(q.cost_before),
                cost(q.cost_after),
                change_pct(q.cost_before, q.cost_after)
            );
            let mut details = Vec::new();
            let measured = rec
                .verification
                .as_ref()
                .and_then(|v| v.queries.iter().find(|m| m.id == q.id));
            if let Some(m) = measured {
                details.push(format!(
                    "measured median {} → {}{}",
                    timing(&m.before),
                    timing(&m.after),
                    if m.uses_index {
                        ""
                    } else {
                        " (the plan did not use the index)"
                    }
                ));
            }
            if show_sql_literals {
                if let Some(s) = sample_line(plan, &q.id) {
                    details.push(format!("sample parameters: {s}"));
                }
            }
            (first, details)
        })
        .collect()
}

fn recommendation_block(
    out: &mut String,
    plan: &AdvicePlan,
    rank: usize,
    rec: &Recommendation,
    style: Style,
    show_sql_literals: bool,
) {
    let size = format!(
        "est. {} · write overhead {}/s · benefit {} (Σ calls × cost cut)",
        bytes(rec.size_bytes as i64),
        bytes(rec.write_overhead as i64),
        cost(rec.benefit)
    );
    let served = served_lines(plan, rec, style, show_sql_literals);
    match style {
        Style::Markdown => {
            out.push_str(&format!(
                "\n#### {rank}. {} — {}, {}\n\n```sql\n{};\n```\n\n",
                md_code(&rec.name),
                index_label(rec),
                kind_label(rec),
                rec.ddl.trim_end_matches(';')
            ));
            out.push_str(&format!("- **Why:** {}\n", rec.reason));
            out.push_str(&format!("- **Size:** {size}\n"));
            if let Some(v) = &rec.verification {
                out.push_str(&format!("- **Verification:** {}\n", verification_line(v)));
            }
            if !served.is_empty() {
                out.push_str("- **Serves:**\n");
                for (first, details) in &served {
                    out.push_str(&format!("  - {first}\n"));
                    for d in details {
                        out.push_str(&format!("    - {d}\n"));
                    }
                }
            }
            if !rec.alternatives.is_empty() {
                out.push_str("- **Alternatives considered:**\n");
                for a in &rec.alternatives {
                    out.push_str(&format!("  - {a}\n"));
                }
            }
        }
        Style::Terminal => {
            out.push_str(&format!(
                "\n{rank}. {} — {}, {}\n",
                rec.name,
                index_label(rec),
                kind_label(rec)
            ));
            out.push_str(&format!("   {}\n", rec.ddl.trim_end_matches(';')));
            out.push_str(&format!("   why:      {}\n", rec.reason));
            out.push_str(&format!("   size:     {size}\n"));
            if let Some(v) = &rec.verification {
                out.push_str(&format!("   measured: {}\n", verification_line(v)));
            }
            for (i, (first, details)) in served.iter().enumerate() {
                let label = if i == 0 { "serves:  " } else { "         " };
                out.push_str(&format!("   {label} {first}\n"));
                for d in details {
                    out.push_str(&format!("             {d}\n"));
                }
            }
            for (i, a) in rec.alternatives.iter().enumerate() {
                let label = if i == 0 { "rejected:" } else { "         " };
                out.push_str(&format!("   {label} {a}\n"));
            }
        }
    }
}

/// Renders an [`AdvicePlan`]: recommendations ranked by benefit (a table, then
/// one block each with the full DDL, the reason, the served queries with their
/// estimated and measured costs, and the alternatives), the indexes to drop
/// with their re-create statement, the tables to analyze, the queries that
/// could not be planned and the workload totals. Parameter samples are only
/// printed when `show_sql_literals` is set: they may hold personal data.
pub fn advice_report(plan: &AdvicePlan, style: Style, show_sql_literals: bool) -> String {
    let mut out = format!(
        "Index advice for database {} · plan {} · made {}\n",
        plan.database.name, plan.id, plan.created_at
    );
    let recs = ranked(plan);
    if recs.is_empty() {
        let budget = plan
            .settings
            .budget_bytes
            .map(|b| format!(" within the {} budget", bytes(b as i64)))
            .unwrap_or_default();
        out.push_str(&format!(
            "\nNo index would cut the workload's cost by at least {:.0} %{budget}: nothing to create.\n",
            plan.settings.min_gain * 100.0
        ));
    } else {
        let total: u64 = recs.iter().map(|r| r.size_bytes).sum();
        heading(
            &mut out,
            style,
            &format!(
                "{} index{} to create ({} in all), by benefit",
                recs.len(),
                if recs.len() == 1 { "" } else { "es" },
                bytes(total as i64)
            ),
        );
        let rows: Vec<Vec<String>> = recs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (calls, before, after) = served_totals(r);
                vec![
                    (i + 1).to_string(),
                    one_line_sql(&index_label(r), 70),
                    kind_label(r),
                    bytes(r.size_bytes as i64),
                    r.queries.len().to_string(),
                    thousands(calls),
                    format!(
                        "{} → {} ({})",
                        cost(before),
                        cost(after),
                        change_pct(before, after)
                    ),
                    format!("{}/s", bytes(r.write_overhead as i64)),
                    verify_label(r.verification.as_ref()),
                ]
            })
            .collect();
        out.push_str(&render(
            style,
            &[
                "#",
                "index",
                "kind",
                "est. size",
                "queries",
                "calls",
                "cost before → after (Σ calls × cost)",
                "write overhead",
                "verification",
            ],
            &rows,
            &[0, 3, 4, 5, 6, 7],
        ));
        out.push('\n');
        for (i, r) in recs.iter().enumerate() {
            recommendation_block(&mut out, plan, i + 1, r, style, show_sql_literals);
        }
    }
    drops_section(&mut out, plan, style);
    if !plan.analyze.is_empty() {
        heading(&mut out, style, "Tables to ANALYZE");
        for t in &plan.analyze {
            let (stmt, cmd) = match style {
                Style::Markdown => (
                    md_code(&format!("ANALYZE {t};")),
                    md_code("pgpilot apply --analyze"),
                ),
                Style::Terminal => (
                    format!("ANALYZE {t};"),
                    "pgpilot apply --analyze".to_string(),
                ),
            };
            out.push_str(&format!(
                "- {stmt} — its statistics are stale: the planner misjudges row counts (and so \
                 plans and what-if costs) until they are refreshed ({cmd})\n"
            ));
        }
    }
    if !plan.skipped.is_empty() {
        heading(
            &mut out,
            style,
            "Queries that could not be planned (skipped)",
        );
        let rows: Vec<Vec<String>> = plan
            .skipped
            .iter()
            .map(|s| vec![one_line_sql(&s.query, 80), one_line_sql(&s.reason, 100)])
            .collect();
        out.push_str(&render(style, &["query", "reason"], &rows, &[]));
        out.push('\n');
    }
    totals(&mut out, plan, style, show_sql_literals);
    tidy(&out)
}

/// At most one blank line in a row.
pub(crate) fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
    }
    out
}

fn drops_section(out: &mut String, plan: &AdvicePlan, style: Style) {
    if plan.drops.is_empty() {
        return;
    }
    let freed: u64 = plan.drops.iter().map(|d| d.size_bytes).sum();
    heading(
        out,
        style,
        &format!(
            "{} index{} to drop ({} freed)",
            plan.drops.len(),
            if plan.drops.len() == 1 { "" } else { "es" },
            bytes(freed as i64)
        ),
    );
    let rows: Vec<Vec<String>> = plan
        .drops
        .iter()
        .map(|d| {
            vec![
                d.name.clone(),
                d.table.clone(),
                d.reason.clone(),
                bytes(d.size_bytes as i64),
                one_line_sql(&d.detail, 80),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &["index", "table", "reason", "size", "detail"],
        &rows,
        &[3],
    ));
    out.push('\n');
    for d in &plan.drops {
        match style {
            Style::Markdown => out.push_str(&format!(
                "\n{} ({}):\n\n```sql\n{};\n-- to re-create it:\n{};\n```\n",
                md_code(&d.name),
                d.reason,
                d.ddl.trim_end_matches(';'),
                d.recreate_ddl.trim_end_matches(';')
            )),
            Style::Terminal => out.push_str(&format!(
                "\n{} ({}):\n   {}\n   re-create: {}\n",
                d.name,
                d.reason,
                d.ddl.trim_end_matches(';'),
                d.recreate_ddl.trim_end_matches(';')
            )),
        }
    }
}

fn totals(out: &mut String, plan: &AdvicePlan, style: Style, show_sql_literals: bool) {
    heading(out, style, "Totals");
    let s = &plan.settings;
    out.push_str(&format!(
        "- estimated workload cost (Σ calls × plan cost): {} → {} ({}) with every recommendation\n",
        cost(plan.workload_cost_before),
        cost(plan.workload_cost_after),
        change_pct(plan.workload_cost_before, plan.workload_cost_after)
    ));
    out.push_str(&format!(
        "- {} what-if plans made in {:.1} s (what-if through {})\n",
        thousands(plan.whatif_plans as f64),
        plan.advise_seconds,
        s.whatif
    ));
    out.push_str(&format!(
        "- settings: budget {}, at most {} key column{}, minimum gain {:.0} %\n",
        s.budget_bytes
            .map(|b| bytes(b as i64))
            .unwrap_or_else(|| "unlimited".into()),
        s.max_columns,
        if s.max_columns == 1 { "" } else { "s" },
        s.min_gain * 100.0
    ));
    let has_samples = plan.queries.iter().any(|q| !q.samples.is_empty());
    if has_samples && !show_sql_literals {
        out.push_str(
            "- parameter samples are not shown: they may hold personal data (ask for SQL literals to see them)\n",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn advice_renders_for_a_terminal() {
        let plan = fixtures::plan();
        insta::assert_snapshot!(advice_report(&plan, Style::Terminal, false));
    }

    #[test]
    fn advice_renders_as_markdown() {
        let plan = fixtures::plan();
        insta::assert_snapshot!(advice_report(&plan, Style::Markdown, false));
    }

    #[test]
    fn samples_only_with_literals() {
        let plan = fixtures::plan();
        let hidden = advice_report(&plan, Style::Terminal, false);
        assert!(!hidden.contains("alice@example.com"), "{hidden}");
        assert!(
            hidden.contains("parameter samples are not shown"),
            "{hidden}"
        );
        let shown = advice_report(&plan, Style::Terminal, true);
        assert!(
            shown.contains("sample parameters: $1 = 'alice@example.com'"),
            "{shown}"
        );
        assert!(
            !shown.contains("parameter samples are not shown"),
            "{shown}"
        );
    }

    #[test]
    fn ranked_by_benefit_not_plan_order() {
        let mut plan = fixtures::plan();
        plan.recommendations.reverse();
        let text = advice_report(&plan, Style::Markdown, false);
        let first = text.find("#### 1. `users_last_login_created_at_idx`");
        assert!(first.is_some(), "{text}");
    }

    #[test]
    fn empty_plan_says_so() {
        let mut plan = fixtures::plan();
        plan.recommendations.clear();
        plan.drops.clear();
        plan.analyze.clear();
        plan.skipped.clear();
        plan.settings.budget_bytes = None;
        let text = advice_report(&plan, Style::Terminal, false);
        assert!(
            text.contains(
                "No index would cut the workload's cost by at least 10 %: nothing to create."
            ),
            "{text}"
        );
        assert!(!text.contains("to drop"), "{text}");
    }
}
