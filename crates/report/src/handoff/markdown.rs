//! The hand-off report as Markdown.

use pgpilot_bench_model::{BenchReport, QueryStats};

use super::plan_sections::{
    analyze_header, analyze_rows, drop_header, drop_rows, drop_statements, drops_intro,
    measured_rows, not_applied, plan_section_titles, rollback_unknown, skipped_rows, verify_header,
    verify_intro, verify_rows, VerifyRow, ANALYZE_INTRO, JOURNAL_NOT_READ, MEASURED_HEADER,
    SKIPPED_INTRO,
};
use super::{
    change_measured, change_status, change_title, change_views, change_why, maintenance,
    monitoring, plan_id, query_rows, ranked_findings, rollback_steps, status_paragraph,
    top_findings, ChangeView, Handoff,
};
use crate::advice::{index_label, md_code};
use crate::bench::slo_comparison;
use crate::format::duration_ms;
use crate::numbers::{speedup, thousands};
use crate::table::{render, Style};
use crate::top::one_line_sql;

fn section(out: &mut String, text: &str) {
    out.push_str(&format!("\n## {text}\n\n"));
}

fn sql_block(out: &mut String, sql: &str) {
    out.push_str(&format!(
        "```sql\n{};\n```\n\n",
        sql.trim().trim_end_matches(';')
    ));
}

/// One-line run description: `adx-core.toml · 8 clients · 60.0 s`.
pub(crate) fn run_line(r: &BenchReport) -> String {
    format!(
        "{} · {} client{} · {:.1} s measured after {:.1} s warm-up · {} statements",
        r.config.workload,
        r.config.clients,
        if r.config.clients == 1 { "" } else { "s" },
        r.summary.duration_s,
        r.config.warmup_s,
        thousands(r.summary.statements as f64)
    )
}

/// The runs given, named as the metric tables name them.
pub(crate) fn runs<'a>(h: &Handoff<'a>) -> Vec<(&'static str, &'a BenchReport)> {
    let mut runs = Vec::new();
    if let Some(b) = h.baseline {
        runs.push(("baseline", b));
    }
    if let Some(a) = h.after {
        runs.push(("after", a));
    }
    runs
}

/// Cells of one side of the per-query table: calls, avg, p95, p99.
pub(crate) fn side(q: Option<&QueryStats>) -> [String; 4] {
    match q {
        Some(q) => [
            thousands(q.calls as f64),
            duration_ms(q.avg_ms),
            duration_ms(q.p95_ms),
            duration_ms(q.p99_ms),
        ],
        None => ["—".into(), "—".into(), "—".into(), "—".into()],
    }
}

/// The avg speed-up of a matched query, or `—`.
pub(crate) fn ratio(b: Option<&QueryStats>, a: Option<&QueryStats>) -> String {
    match (b, a) {
        (Some(b), Some(a)) => speedup(b.avg_ms, a.avg_ms),
        _ => "—".into(),
    }
}

/// Header of the per-query table: with both runs, each cell reads
/// `before → after`.
pub(crate) fn query_header(both: bool) -> &'static [&'static str] {
    if both {
        &["query", "calls", "avg", "p95", "p99", "faster (avg)"]
    } else {
        &["query", "calls", "avg", "p95", "p99"]
    }
}

/// Figure cells of one per-query row (everything but the query).
pub(crate) fn query_cells(
    both: bool,
    b: Option<&QueryStats>,
    a: Option<&QueryStats>,
) -> Vec<String> {
    if !both {
        return side(b.or(a)).to_vec();
    }
    let (sb, sa) = (side(b), side(a));
    let mut row: Vec<String> = sb
        .iter()
        .zip(sa.iter())
        .map(|(x, y)| format!("{x} → {y}"))
        .collect();
    row.push(ratio(b, a));
    row
}

fn change_block(out: &mut String, h: &Handoff, n: usize, v: &ChangeView) {
    out.push_str(&format!("### 3.{n}. {}\n\n", change_title(v)));
    sql_block(out, &v.change.ddl);
    out.push_str(&format!("- **Why:** {}\n", change_why(h, v)));
    if let Some(m) = change_measured(v) {
        out.push_str(&format!("- **Measured:** {m}\n"));
    }
    out.push_str(&format!("- **Status:** {}\n\n", change_status(v.change)));
}

fn changes_section(out: &mut String, h: &Handoff, views: &[ChangeView]) {
    section(out, "3. What was changed and why");
    let journal_read = h.changes.is_some();
    match (h.plan, views.is_empty()) {
        (None, true) => {
            out.push_str(if journal_read {
                "No plan given and no change recorded: nothing was changed.\n"
            } else {
                "No plan given, and the apply journal was not read (no `--db` given): what was \
                 changed is not known here. Pass `--db <URL>` to include it.\n"
            });
            return;
        }
        (Some(p), true) => {
            let lead = if journal_read {
                "Nothing has been applied yet.".to_string()
            } else {
                JOURNAL_NOT_READ.to_string()
            };
            out.push_str(&format!("{lead} Plan {} recommends:\n\n", md_code(&p.id)));
            for (i, r) in p.recommendations.iter().enumerate() {
                out.push_str(&format!(
                    "{}. {} — {}: {}\n",
                    i + 1,
                    md_code(&r.name),
                    index_label(r),
                    r.reason
                ));
            }
            if p.recommendations.is_empty() {
                out.push_str("- no index (none would cut the workload's cost enough)\n");
            }
        }
        (None, false) => {
            out.push_str(
                "No plan given: the reasons and measurements of each change are in its plan file.\n\n",
            );
        }
        (Some(_), false) => {}
    }
    for (i, v) in views.iter().enumerate() {
        change_block(out, h, i + 1, v);
    }
    let verified = verify_rows(h, views);
    if let (Some(plan), false) = (h.plan, verified.is_empty()) {
        verification(out, plan, &verified, journal_read);
        return;
    }
    let pending = not_applied(h, views);
    if !views.is_empty() && !pending.is_empty() {
        out.push_str("**Recommended but not applied:**\n\n");
        for p in pending {
            out.push_str(&format!("- {p}\n"));
        }
    }
}

/// What `verify` measured: one row per recommendation, then every timed query.
fn verification(
    out: &mut String,
    plan: &pgpilot_advisor::AdvicePlan,
    rows: &[VerifyRow],
    journal_read: bool,
) {
    out.push_str("\n### Verification: measured with a real index\n\n");
    out.push_str(&format!("{}\n\n", verify_intro(plan)));
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![md_code(&r.index), r.verdict.label().to_string()];
            row.extend(r.tail(journal_read));
            row
        })
        .collect();
    out.push_str(&render(
        Style::Markdown,
        &verify_header(journal_read),
        &table,
        &[2, 3, 4],
    ));
    let notes: Vec<&VerifyRow> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push_str("\nNotes from verify:\n\n");
        for r in notes {
            out.push_str(&format!(
                "- {} ({}): {}\n",
                md_code(&r.index),
                r.verdict.label(),
                r.note
            ));
        }
    }
    let measured = measured_rows(plan);
    if !measured.is_empty() {
        out.push_str("\nEach query timed:\n\n");
        let table: Vec<Vec<String>> = measured
            .iter()
            .map(|m| {
                let mut c = m.cells();
                c[0] = md_code(&c[0]);
                c[1] = md_code(&c[1]);
                c
            })
            .collect();
        out.push_str(&render(
            Style::Markdown,
            &MEASURED_HEADER,
            &table,
            &[2, 3, 4],
        ));
    }
}

/// The drops, tables to ANALYZE and skipped queries, each a numbered section
/// when the plan has any; returns the next section number.
fn plan_sections(out: &mut String, h: &Handoff, views: &[ChangeView], mut n: usize) -> usize {
    let Some(plan) = h.plan else {
        return n;
    };
    let journal_read = h.changes.is_some();
    for (id, title) in plan_section_titles(h) {
        section(out, &format!("{n}. {title}"));
        n += 1;
        match id {
            "drops" => {
                out.push_str(&format!("{}\n\n", drops_intro(plan)));
                let rows: Vec<Vec<String>> = drop_rows(h, views)
                    .iter()
                    .map(|d| d.cells(journal_read))
                    .collect();
                out.push_str(&render(
                    Style::Markdown,
                    &drop_header(journal_read),
                    &rows,
                    &[3],
                ));
                out.push('\n');
                out.push_str(&format!("```sql\n{}\n```\n", drop_statements(plan)));
            }
            "analyze" => {
                out.push_str(&format!("{ANALYZE_INTRO}\n\n"));
                let rows: Vec<Vec<String>> = analyze_rows(h, views)
                    .into_iter()
                    .map(|mut r| {
                        r[1] = md_code(&r[1]);
                        r
                    })
                    .collect();
                out.push_str(&render(
                    Style::Markdown,
                    &analyze_header(journal_read),
                    &rows,
                    &[],
                ));
            }
            _ => {
                out.push_str(&format!("{SKIPPED_INTRO}\n\n"));
                let (rows, more) = skipped_rows(plan);
                let rows: Vec<Vec<String>> = rows
                    .into_iter()
                    .map(|mut r| {
                        r[0] = md_code(&r[0]);
                        r
                    })
                    .collect();
                out.push_str(&render(Style::Markdown, &["query", "reason"], &rows, &[]));
                if more > 0 {
                    out.push_str(&format!("\n… and {more} more (see the plan file).\n"));
                }
            }
        }
    }
    n
}

fn queries_section(out: &mut String, h: &Handoff) {
    section(out, "5. Per-query before/after");
    let rows = query_rows(h);
    if rows.is_empty() {
        out.push_str("No benchmark given: no per-query figures.\n");
        return;
    }
    let both = h.baseline.is_some() && h.after.is_some();
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(label, b, a)| {
            let mut row = vec![label.clone()];
            row.extend(query_cells(both, *b, *a));
            row
        })
        .collect();
    let header = query_header(both);
    let right: Vec<usize> = (1..header.len()).collect();
    out.push_str(&render(Style::Markdown, header, &table, &right));
}

fn rollback_section(out: &mut String, h: &Handoff, views: &[ChangeView], n: usize) {
    section(out, &format!("{n}. Rollback procedure"));
    if h.changes.is_none() {
        out.push_str(&format!("{}\n", rollback_unknown(h)));
        return;
    }
    let steps = rollback_steps(views);
    if steps.is_empty() {
        out.push_str(if views.is_empty() {
            "Nothing was applied, so there is nothing to roll back.\n"
        } else {
            "No change in place needs undoing (an ANALYZE has no rollback).\n"
        });
        return;
    }
    out.push_str(
        "Everything applied can be undone with one command (indexes are dropped \
         concurrently, newest change first; repeating it is harmless):\n\n",
    );
    out.push_str("```sh\n");
    if let Some(id) = plan_id(h) {
        out.push_str(&format!(
            "pgpilot rollback --db <URL> --plan plan.json --approve   # plan.json: the plan file with id {id}\n"
        ));
    }
    out.push_str(
        "pgpilot rollback --db <URL> --last --approve   # the most recently applied plan\n",
    );
    out.push_str(
        "pgpilot rollback --db <URL> --change <ID> --approve   # one change by journal id\n",
    );
    out.push_str("```\n\n");
    out.push_str(&format!(
        "`<URL>` is the connection URL of {} with its credentials. By hand, newest first:\n\n",
        md_code(&h.database)
    ));
    out.push_str("```sql\n");
    for c in steps {
        out.push_str(&format!(
            "-- change #{}: undoes {}\n{};\n",
            c.id,
            one_line_sql(&c.ddl, 120),
            c.rollback_ddl.trim().trim_end_matches(';')
        ));
    }
    out.push_str("```\n");
}

fn next_steps(
    out: &mut String,
    h: &Handoff,
    ranked: &[(pgpilot_findings::Finding, Option<String>)],
    n: usize,
) {
    section(out, &format!("{n}. Next steps"));
    out.push_str("### What the indexes could not fix: cache candidates\n\n");
    if !h.cache_candidates.is_empty() {
        let rows: Vec<Vec<String>> = h
            .cache_candidates
            .iter()
            .map(|c| {
                vec![
                    one_line_sql(&c.query, 120),
                    thousands(c.calls as f64),
                    duration_ms(c.avg_ms),
                    duration_ms(c.p99_ms),
                    c.why.clone(),
                ]
            })
            .collect();
        out.push_str(&render(
            Style::Markdown,
            &["query", "calls", "avg", "p99", "why"],
            &rows,
            &[1, 2, 3],
        ));
    } else if h.after.is_some() {
        out.push_str("No query is still slow after the changes.\n");
    } else {
        out.push_str("Not known yet: no benchmark after the changes was given.\n");
    }
    out.push_str("\n### Remaining findings\n\n");
    let remaining: Vec<_> = ranked.iter().filter(|(_, by)| by.is_none()).collect();
    if ranked.is_empty() {
        out.push_str("No findings were given.\n");
    } else if remaining.is_empty() {
        out.push_str("Every finding listed above is addressed by a change.\n");
    }
    for (f, _) in remaining {
        let fix = f
            .fix_hint
            .as_deref()
            .map(|h| format!(" — {h}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "- [{}] {}{} — {}{fix}\n",
            f.severity,
            f.title,
            f.table
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            md_code(&f.id)
        ));
    }
    out.push_str("\n### Maintenance\n\n");
    for m in maintenance(h, ranked) {
        out.push_str(&format!("- {m}\n"));
    }
    out.push_str("\n### Monitoring\n\n");
    for m in monitoring(h) {
        out.push_str(&format!("- {m}\n"));
    }
}

/// The hand-off report as Markdown: status, top problems, what was changed and
/// why, metrics baseline vs after vs target, per-query before/after, rollback
/// procedure and next steps. Each section says so when its input is absent.
pub fn handoff_markdown(h: &Handoff) -> String {
    let views = change_views(h);
    let ranked = ranked_findings(h, &views);
    let mut out = format!("# {}\n\n", h.title);
    let mut meta = format!(
        "Database {} · generated {}",
        md_code(&h.database),
        h.generated_at
    );
    if let Some(p) = h.plan {
        meta.push_str(&format!(" · plan {} made {}", md_code(&p.id), p.created_at));
    }
    out.push_str(&format!("{meta}\n"));

    section(&mut out, "1. Status");
    out.push_str(&format!("{}\n", status_paragraph(h, &views)));

    section(&mut out, "2. Top problems found");
    let (top, more) = top_findings(&ranked);
    if top.is_empty() {
        out.push_str("No diagnosis was given.\n");
    } else {
        let rows: Vec<Vec<String>> = top
            .iter()
            .enumerate()
            .map(|(i, (f, by))| {
                vec![
                    (i + 1).to_string(),
                    f.severity.to_string(),
                    f.title.clone(),
                    f.table.clone().unwrap_or_else(|| "—".into()),
                    one_line_sql(&f.explanation, 120),
                    by.clone().unwrap_or_else(|| "not yet".into()),
                ]
            })
            .collect();
        out.push_str(&render(
            Style::Markdown,
            &["#", "severity", "problem", "object", "detail", "fixed by"],
            &rows,
            &[0],
        ));
        if more > 0 {
            out.push_str(&format!("\n… and {more} more (see next steps).\n"));
        }
    }

    changes_section(&mut out, h, &views);

    section(&mut out, "4. Metrics");
    let runs = runs(h);
    if runs.is_empty() {
        out.push_str("No benchmark given: no metrics.\n");
    } else {
        for (name, r) in &runs {
            out.push_str(&format!("- {name}: {}\n", run_line(r)));
        }
        out.push('\n');
        out.push_str(&slo_comparison(&runs, Style::Markdown));
    }

    queries_section(&mut out, h);
    let n = plan_sections(&mut out, h, &views, 6);
    rollback_section(&mut out, h, &views, n);
    next_steps(&mut out, h, &ranked, n + 1);
    crate::advice::tidy(&out)
}
