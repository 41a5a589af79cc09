//! The hand-off report as one self-contained HTML file: inline stylesheet,
//! inline SVG charts, no script and no external resource, so it opens offline
//! and can be mailed as an attachment. Every inserted text is escaped.

use pgpilot_findings::{Finding, Severity};

use super::charts::{cost_chart, latency_chart, percentile_chart, MAX_QUERIES};
use super::markdown::{query_cells, query_header, run_line, runs};
use super::plan_sections::{
    not_applied, plan_section_titles, rollback_unknown, verify_rows, JOURNAL_NOT_READ,
};
use super::{
    change_measured, change_status, change_title, change_views, change_why, faster, maintenance,
    monitoring, plan_id, query_rows, ranked_findings, rollback_steps, status_paragraph,
    top_findings, ChangeView, Handoff,
};
use crate::advice::index_label;
use crate::bench::slo_comparison;
use crate::format::duration_ms;
use crate::numbers::thousands;
use crate::table::Style;
use crate::top::one_line_sql;
use plan::{plan_sections, verification};

mod plan;

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --zebra: #f6f8fa; --head: #eef1f4;
        --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --na: #6e7781; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); background: #fff; line-height: 1.5; margin: 0 auto; max-width: 1120px; padding: 2rem 1.5rem 4rem; }
h1 { font-size: 1.9rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; margin: 2.4rem 0 .8rem; padding-bottom: .3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
.meta, figcaption, .note { color: var(--muted); font-size: .9rem; }
nav ol { display: flex; flex-wrap: wrap; gap: .2rem 1.8rem; padding-left: 1.2rem; margin: 1rem 0; }
nav a, a { color: #0969da; text-decoration: none; }
.scroll { overflow-x: auto; margin: .8rem 0 1.2rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { border: 1px solid var(--line); padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85em; }
pre { background: var(--zebra); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .8rem;
      white-space: pre-wrap; word-break: break-word; margin: .5rem 0; }
.pill { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-size: .78rem;
        font-weight: 600; color: #fff; white-space: nowrap; }
.ok { background: var(--ok); } .bad { background: var(--bad); } .warn { background: var(--warn); } .na { background: var(--na); }
.kpis { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: .6rem 1rem; min-width: 10rem; }
.kpi b { display: block; font-size: 1.35rem; }
.change { border: 1px solid var(--line); border-radius: 8px; padding: .2rem 1rem .6rem; margin: 1rem 0; }
.change p { margin: .3rem 0; }
.label { display: inline-block; min-width: 6.5rem; color: var(--muted); }
table.queries td:first-child { min-width: 16rem; }
td .sql { display: block; color: var(--muted); font-size: .8rem; margin-top: .15rem; }
figure { margin: 1rem 0; overflow-x: auto; }
svg.chart { width: 100%; max-width: 880px; height: auto; }
@media print { body { max-width: none; padding: 0; } h2 { break-after: avoid; } .change, figure { break-inside: avoid; } }
"#;

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table cell: text (escaped), a right-aligned number, or ready-made HTML.
enum Cell {
    Text(String),
    Num(String),
    Html(String),
}

fn table(header: &[&str], right: &[usize], rows: Vec<Vec<Cell>>) -> String {
    table_class("", header, right, rows)
}

/// A table with a class on its `<table>` element.
fn table_class(class: &str, header: &[&str], right: &[usize], rows: Vec<Vec<Cell>>) -> String {
    let class = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{}\"", escape_html(class))
    };
    let mut s = format!("<div class=\"scroll\"><table{class}>\n<thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if right.contains(&i) {
            " class=\"num\""
        } else {
            ""
        };
        s.push_str(&format!("<th{class}>{}</th>", escape_html(h)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(t) => s.push_str(&format!("<td>{}</td>", escape_html(&t))),
                Cell::Num(t) => s.push_str(&format!("<td class=\"num\">{}</td>", escape_html(&t))),
                Cell::Html(h) => s.push_str(&format!("<td>{h}</td>")),
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table></div>\n");
    s
}

fn pill(class: &str, text: &str) -> String {
    format!("<span class=\"pill {class}\">{}</span>", escape_html(text))
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape_html(s))
}

fn pre(s: &str) -> String {
    format!("<pre><code>{}</code></pre>\n", escape_html(s))
}

/// Escaped text where `backticked` spans become `<code>`.
fn rich(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len() % 2 == 0 {
        return escape_html(s);
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i % 2 == 1 { code(p) } else { escape_html(p) })
        .collect()
}

fn para(s: &str) -> String {
    format!("<p>{}</p>\n", rich(s))
}

fn list(items: &[String]) -> String {
    let mut s = String::from("<ul>\n");
    for i in items {
        s.push_str(&format!("<li>{}</li>\n", rich(i)));
    }
    s.push_str("</ul>\n");
    s
}

fn figure(svg: String, caption: &str) -> String {
    if svg.is_empty() {
        return String::new();
    }
    format!(
        "<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n",
        escape_html(caption)
    )
}

fn section(out: &mut String, id: &str, title: &str) {
    out.push_str(&format!(
        "</section>\n<section id=\"{id}\">\n<h2>{}</h2>\n",
        escape_html(title)
    ));
}

fn severity_pill(s: Severity) -> String {
    match s {
        Severity::Critical => pill("bad", "critical"),
        Severity::Warning => pill("warn", "warning"),
        Severity::Info => pill("na", "info"),
    }
}

/// The SLO table of [`slo_comparison`] (the Markdown one, so both documents
/// agree cell for cell) as HTML, with the status as a pill.
fn slo_table(md: &str) -> String {
    let split = |line: &str| -> Vec<String> {
        let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
        let mut cells = vec![String::new()];
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&'|') => {
                    chars.next();
                    if let Some(s) = cells.last_mut() {
                        s.push('|');
                    }
                }
                '|' => cells.push(String::new()),
                c => {
                    if let Some(s) = cells.last_mut() {
                        s.push(c);
                    }
                }
            }
        }
        cells.into_iter().map(|c| c.trim().to_string()).collect()
    };
    let mut lines = md.lines().filter(|l| l.trim_start().starts_with('|'));
    let Some(head) = lines.next() else {
        return String::new();
    };
    let header = split(head);
    let _separator = lines.next();
    let last = header.len().saturating_sub(1);
    let right: Vec<usize> = (1..last).collect();
    let rows = lines
        .map(|l| {
            split(l)
                .into_iter()
                .enumerate()
                .map(|(i, c)| match (i, c.as_str()) {
                    (i, "met") if i == last => Cell::Html(pill("ok", "met")),
                    (i, "MISSED") if i == last => Cell::Html(pill("bad", "missed")),
                    (i, "not measured") if i == last => Cell::Html(pill("na", "not measured")),
                    (i, _) if i > 0 && i < last => Cell::Num(c),
                    _ => Cell::Text(c),
                })
                .collect()
        })
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    table(&header, &right, rows)
}

fn status_section(out: &mut String, h: &Handoff, views: &[ChangeView]) {
    out.push_str("<section id=\"status\">\n<h2>1. Status</h2>\n");
    let mut kpis = Vec::new();
    if let Some(r) = h.after.or(h.baseline) {
        let met = r.slo.iter().filter(|c| c.pass).count();
        let class = if met == r.slo.len() && met > 0 {
            "ok"
        } else {
            "bad"
        };
        let which = if h.after.is_some() {
            "after"
        } else {
            "baseline"
        };
        kpis.push(format!(
            "<div class=\"kpi\">targets met ({which})<b>{met} / {}</b>{}</div>",
            r.slo.len(),
            pill(
                class,
                if class == "ok" {
                    "all met"
                } else {
                    "not all met"
                }
            )
        ));
    }
    match (h.baseline, h.after) {
        (Some(b), Some(a)) => {
            kpis.push(format!(
                "<div class=\"kpi\">average query time<b>{} → {}</b>{}</div>",
                escape_html(&duration_ms(b.summary.avg_ms)),
                escape_html(&duration_ms(a.summary.avg_ms)),
                escape_html(&faster(b.summary.avg_ms, a.summary.avg_ms))
            ));
            kpis.push(format!(
                "<div class=\"kpi\">p99<b>{} → {}</b></div>",
                escape_html(&duration_ms(b.summary.p99_ms)),
                escape_html(&duration_ms(a.summary.p99_ms))
            ));
        }
        (Some(r), None) | (None, Some(r)) => kpis.push(format!(
            "<div class=\"kpi\">average query time<b>{}</b></div>",
            escape_html(&duration_ms(r.summary.avg_ms))
        )),
        (None, None) => {}
    }
    if h.changes.is_some() {
        let applied = views
            .iter()
            .filter(|v| v.change.status == pgpilot_advisor::ChangeStatus::Applied)
            .count();
        kpis.push(format!(
            "<div class=\"kpi\">changes applied<b>{applied}</b></div>"
        ));
    } else {
        kpis.push(format!(
            "<div class=\"kpi\">changes applied<b>unknown</b>{}</div>",
            pill("na", "journal not read")
        ));
    }
    out.push_str(&format!("<div class=\"kpis\">{}</div>\n", kpis.join("")));
    out.push_str(&para(&status_paragraph(h, views)));
}

fn findings_section(out: &mut String, ranked: &[(Finding, Option<String>)]) {
    section(out, "problems", "2. Top problems found");
    let (top, more) = top_findings(ranked);
    if top.is_empty() {
        out.push_str(&para("No diagnosis was given."));
        return;
    }
    let rows = top
        .iter()
        .enumerate()
        .map(|(i, (f, by))| {
            vec![
                Cell::Num((i + 1).to_string()),
                Cell::Html(severity_pill(f.severity)),
                Cell::Html(format!(
                    "{}<br><span class=\"note\">{}</span>",
                    escape_html(&f.title),
                    escape_html(&f.id)
                )),
                Cell::Text(f.table.clone().unwrap_or_else(|| "—".into())),
                Cell::Text(one_line_sql(&f.explanation, 160)),
                Cell::Html(match by {
                    Some(b) => format!("{} {}", pill("ok", "fixed"), escape_html(b)),
                    None => pill("na", "not yet"),
                }),
            ]
        })
        .collect();
    out.push_str(&table(
        &["#", "severity", "problem", "object", "detail", "fixed by"],
        &[0],
        rows,
    ));
    if more > 0 {
        out.push_str(&para(&format!("… and {more} more (see next steps).")));
    }
}

fn changes_section(out: &mut String, h: &Handoff, views: &[ChangeView]) {
    section(out, "changes", "3. What was changed and why");
    let journal_read = h.changes.is_some();
    match (h.plan, views.is_empty()) {
        (None, true) => {
            out.push_str(&para(if journal_read {
                "No plan given and no change recorded: nothing was changed."
            } else {
                "No plan given, and the apply journal was not read (no `--db` given): what was \
                 changed is not known here. Pass `--db <URL>` to include it."
            }));
            return;
        }
        (Some(p), true) => {
            let lead = if journal_read {
                "Nothing has been applied yet."
            } else {
                JOURNAL_NOT_READ
            };
            out.push_str(&para(&format!("{lead} Plan `{}` recommends:", p.id)));
            let items: Vec<String> = p
                .recommendations
                .iter()
                .map(|r| format!("{} — {}: {}", r.name, index_label(r), r.reason))
                .collect();
            out.push_str(&list(&items));
        }
        (None, false) => out.push_str(&para(
            "No plan given: the reasons and measurements of each change are in its plan file.",
        )),
        (Some(_), false) => {}
    }
    for v in views {
        out.push_str(&format!(
            "<div class=\"change\">\n<h3>{}</h3>\n{}<p><span class=\"label\">why</span>{}</p>\n",
            escape_html(&change_title(v)),
            pre(&v.change.ddl),
            escape_html(&change_why(h, v))
        ));
        if let Some(m) = change_measured(v) {
            out.push_str(&format!(
                "<p><span class=\"label\">measured</span>{}</p>\n",
                escape_html(&m)
            ));
        }
        out.push_str(&format!(
            "<p><span class=\"label\">status</span>{}</p>\n</div>\n",
            escape_html(&change_status(v.change))
        ));
    }
    let verified = verify_rows(h, views);
    let pending = not_applied(h, views);
    if let (Some(plan), false) = (h.plan, verified.is_empty()) {
        verification(out, plan, &verified, journal_read);
    } else if !views.is_empty() && !pending.is_empty() {
        out.push_str("<h3>Recommended but not applied</h3>\n");
        out.push_str(&list(&pending));
    }
    if let Some(p) = h.plan {
        out.push_str(&figure(
            cost_chart(p),
            "Estimated cost (Σ calls × planner cost) of the queries each recommended index serves, before and with it.",
        ));
    }
}

fn metrics_section(out: &mut String, h: &Handoff) {
    section(out, "metrics", "4. Metrics: baseline, after and target");
    let runs = runs(h);
    if runs.is_empty() {
        out.push_str(&para("No benchmark given: no metrics."));
        return;
    }
    let items: Vec<String> = runs
        .iter()
        .map(|(n, r)| format!("{n}: {}", run_line(r)))
        .collect();
    out.push_str(&list(&items));
    out.push_str(&slo_table(&slo_comparison(&runs, Style::Markdown)));
    out.push_str(&figure(
        percentile_chart(&runs),
        "Latency percentiles of each run; dashed red lines are the targets.",
    ));
}

fn queries_section(out: &mut String, h: &Handoff) {
    section(out, "queries", "5. Per-query before/after");
    let rows = query_rows(h);
    if rows.is_empty() {
        out.push_str(&para("No benchmark given: no per-query figures."));
        return;
    }
    let both = h.baseline.is_some() && h.after.is_some();
    let series: Vec<&str> = runs(h).iter().map(|(n, _)| *n).collect();
    let caption = if rows.len() > MAX_QUERIES {
        format!(
            "Mean latency of the {MAX_QUERIES} heaviest of {} queries.",
            rows.len()
        )
    } else {
        "Mean latency per query.".to_string()
    };
    out.push_str(&figure(latency_chart(&series, &rows), &caption));
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|(label, b, a)| {
            let sql = b
                .or(*a)
                .map(|q| one_line_sql(&q.sql, 90))
                .unwrap_or_default();
            let mut row = vec![Cell::Html(format!(
                "{}<code class=\"sql\">{}</code>",
                escape_html(label),
                escape_html(&sql)
            ))];
            row.extend(query_cells(both, *b, *a).into_iter().map(Cell::Num));
            row
        })
        .collect();
    let header = query_header(both);
    let right: Vec<usize> = (1..header.len()).collect();
    out.push_str(&table_class("queries", header, &right, cells));
}

fn rollback_section(out: &mut String, h: &Handoff, views: &[ChangeView], n: usize) {
    section(out, "rollback", &format!("{n}. Rollback procedure"));
    if h.changes.is_none() {
        out.push_str(&para(&rollback_unknown(h)));
        return;
    }
    let steps = rollback_steps(views);
    if steps.is_empty() {
        out.push_str(&para(if views.is_empty() {
            "Nothing was applied, so there is nothing to roll back."
        } else {
            "No change in place needs undoing (an ANALYZE has no rollback)."
        }));
        return;
    }
    out.push_str(&para(
        "Everything applied can be undone with one command (indexes are dropped concurrently, \
         newest change first; repeating it is harmless):",
    ));
    let mut cmds = String::new();
    if let Some(id) = plan_id(h) {
        cmds.push_str(&format!(
            "pgpilot rollback --db <URL> --plan plan.json --approve   # plan.json: the plan file with id {id}\n"
        ));
    }
    cmds.push_str(
        "pgpilot rollback --db <URL> --last --approve   # the most recently applied plan\n",
    );
    cmds.push_str(
        "pgpilot rollback --db <URL> --change <ID> --approve   # one change by journal id",
    );
    out.push_str(&pre(&cmds));
    out.push_str(&format!(
        "<p>{} is the connection URL of {} with its credentials. By hand, newest first:</p>\n",
        code("<URL>"),
        code(&h.database)
    ));
    let manual: Vec<String> = steps
        .iter()
        .map(|c| {
            format!(
                "-- change #{}: undoes {}\n{};",
                c.id,
                one_line_sql(&c.ddl, 120),
                c.rollback_ddl.trim().trim_end_matches(';')
            )
        })
        .collect();
    out.push_str(&pre(&manual.join("\n")));
}

fn next_section(out: &mut String, h: &Handoff, ranked: &[(Finding, Option<String>)], n: usize) {
    section(out, "next", &format!("{n}. Next steps"));
    out.push_str("<h3>What the indexes could not fix: cache candidates</h3>\n");
    if !h.cache_candidates.is_empty() {
        let rows = h
            .cache_candidates
            .iter()
            .map(|c| {
                vec![
                    Cell::Html(code(&one_line_sql(&c.query, 160))),
                    Cell::Num(thousands(c.calls as f64)),
                    Cell::Num(duration_ms(c.avg_ms)),
                    Cell::Num(duration_ms(c.p99_ms)),
                    Cell::Text(c.why.clone()),
                ]
            })
            .collect();
        out.push_str(&table(
            &["query", "calls", "avg", "p99", "why"],
            &[1, 2, 3],
            rows,
        ));
    } else if h.after.is_some() {
        out.push_str(&para("No query is still slow after the changes."));
    } else {
        out.push_str(&para(
            "Not known yet: no benchmark after the changes was given.",
        ));
    }
    out.push_str("<h3>Remaining findings</h3>\n");
    let remaining: Vec<String> = ranked
        .iter()
        .filter(|(_, by)| by.is_none())
        .map(|(f, _)| {
            format!(
                "[{}] {}{} — {}{}",
                f.severity,
                f.title,
                f.table
                    .as_deref()
                    .map(|t| format!(" ({t})"))
                    .unwrap_or_default(),
                f.id,
                f.fix_hint
                    .as_deref()
                    .map(|h| format!(" — {h}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if ranked.is_empty() {
        out.push_str(&para("No findings were given."));
    } else if remaining.is_empty() {
        out.push_str(&para(
            "Every finding listed above is addressed by a change.",
        ));
    } else {
        out.push_str(&list(&remaining));
    }
    out.push_str("<h3>Maintenance</h3>\n");
    out.push_str(&list(&maintenance(h, ranked)));
    out.push_str("<h3>Monitoring</h3>\n");
    out.push_str(&list(&monitoring(h)));
}

/// The hand-off report as one self-contained HTML page (inline CSS and SVG
/// charts, no script, no external resource): the same sections as
/// [`handoff_markdown`](super::handoff_markdown), with charts of the latency
/// per query, the percentiles against the targets and the estimated cost per
/// recommended index.
pub fn handoff_html(h: &Handoff) -> String {
    let views = change_views(h);
    let ranked = ranked_findings(h, &views);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<header>\n<h1>{}</h1>\n",
        escape_html(&h.title),
        escape_html(&h.title)
    );
    let mut meta = format!(
        "Database {} · generated {}",
        code(&h.database),
        escape_html(&h.generated_at)
    );
    if let Some(p) = h.plan {
        meta.push_str(&format!(
            " · plan {} made {}",
            code(&p.id),
            escape_html(&p.created_at)
        ));
    }
    out.push_str(&format!("<p class=\"meta\">{meta}</p>\n</header>\n"));
    let mut nav = vec![
        ("status", "Status"),
        ("problems", "Top problems found"),
        ("changes", "What was changed and why"),
        ("metrics", "Metrics"),
        ("queries", "Per-query before/after"),
    ];
    nav.extend(plan_section_titles(h));
    nav.extend([("rollback", "Rollback procedure"), ("next", "Next steps")]);
    out.push_str("<nav><ol>\n");
    for (id, title) in nav {
        out.push_str(&format!(
            "<li><a href=\"#{id}\">{}</a></li>\n",
            escape_html(title)
        ));
    }
    out.push_str("</ol></nav>\n");
    status_section(&mut out, h, &views);
    findings_section(&mut out, &ranked);
    changes_section(&mut out, h, &views);
    metrics_section(&mut out, h);
    queries_section(&mut out, h);
    let n = plan_sections(&mut out, h, &views, 6);
    rollback_section(&mut out, h, &views, n);
    next_section(&mut out, h, &ranked, n + 1);
    out.push_str("</section>\n</body>\n</html>\n");
    out
}
