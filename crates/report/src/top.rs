//! The "top N problem queries" report of a captured workload.

use pgpilot_workload::{TopBy, TopReport};

use crate::format::duration_ms;
use crate::table::{render, Style};

/// Longest query text shown in a table cell; the JSON output has it whole.
const QUERY_WIDTH: usize = 100;

/// One line of SQL, whitespace collapsed, cut at `width` characters.
pub fn one_line_sql(sql: &str, width: usize) -> String {
    let flat = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= width {
        flat
    } else {
        let cut: String = flat.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

fn opt_ms(v: Option<f64>) -> String {
    v.map(duration_ms).unwrap_or_else(|| "—".into())
}

/// Renders a [`TopReport`]: the queries, the N+1 patterns and the errors.
pub fn top_report(r: &TopReport, style: Style) -> String {
    let mut out = String::new();
    let heading = |out: &mut String, text: &str| match style {
        Style::Markdown => out.push_str(&format!("\n### {text}\n\n")),
        Style::Terminal => out.push_str(&format!("\n{text}\n")),
    };
    let by = match r.by {
        TopBy::Total => "total time",
        TopBy::Mean => "mean time",
        TopBy::P95 => "p95",
        TopBy::Calls => "calls",
    };
    out.push_str(&format!(
        "{} executions of {} distinct statements · {} lines read, {} skipped\n",
        r.total_calls, r.fingerprints, r.lines_read, r.lines_skipped
    ));
    heading(
        &mut out,
        &format!("Top {} queries by {by}", r.queries.len()),
    );
    let estimated = r.queries.iter().any(|q| q.percentiles_estimated);
    let rows: Vec<Vec<String>> = r
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mark = if q.percentiles_estimated { "~" } else { "" };
            vec![
                (i + 1).to_string(),
                q.calls.to_string(),
                duration_ms(q.total_ms),
                opt_ms(q.mean_ms),
                format!("{mark}{}", opt_ms(q.p50_ms)),
                format!("{mark}{}", opt_ms(q.p95_ms)),
                format!("{mark}{}", opt_ms(q.p99_ms)),
                opt_ms(q.max_ms),
                one_line_sql(&q.query, QUERY_WIDTH),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &[
            "#", "calls", "total", "mean", "p50", "p95", "p99", "max", "query",
        ],
        &rows,
        &[0, 1, 2, 3, 4, 5, 6, 7],
    ));
    out.push('\n');
    if estimated {
        out.push_str(
            "~ estimated from pg_stat_statements' mean and stddev (no per-call latencies there)\n",
        );
    }
    if !r.n_plus_one.is_empty() {
        heading(
            &mut out,
            "N+1 patterns (a statement repeated right after another, per session)",
        );
        let rows: Vec<Vec<String>> = r
            .n_plus_one
            .iter()
            .map(|n| {
                let fix = n
                    .suggestion
                    .as_ref()
                    .map(|s| match (&s.batched, &s.join) {
                        (Some(b), _) => one_line_sql(b, 70),
                        (None, Some(j)) => one_line_sql(j, 70),
                        _ => one_line_sql(&s.advice, 70),
                    })
                    .unwrap_or_default();
                vec![
                    one_line_sql(&n.parent, 50),
                    one_line_sql(&n.child, 50),
                    n.bursts.to_string(),
                    n.round_trips.to_string(),
                    format!("{:.1}", n.mean_burst),
                    duration_ms(n.child_ms),
                    fix,
                ]
            })
            .collect();
        out.push_str(&render(
            style,
            &[
                "parent",
                "repeated child",
                "bursts",
                "round trips",
                "per burst",
                "child time",
                "one query instead",
            ],
            &rows,
            &[2, 3, 4, 5],
        ));
        out.push('\n');
    }
    if !r.errors.is_empty() {
        heading(&mut out, "Errors");
        let rows: Vec<Vec<String>> = r
            .errors
            .iter()
            .map(|e| {
                vec![
                    e.sqlstate.clone().unwrap_or_default(),
                    e.severity.clone(),
                    e.count.to_string(),
                    one_line_sql(
                        e.query.as_deref().or(e.message.as_deref()).unwrap_or(""),
                        QUERY_WIDTH,
                    ),
                ]
            })
            .collect();
        out.push_str(&render(
            style,
            &["sqlstate", "severity", "count", "statement or message"],
            &rows,
            &[2],
        ));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_sql_is_flattened_and_cut() {
        assert_eq!(one_line_sql("SELECT *\n\t FROM  t", 80), "SELECT * FROM t");
        assert_eq!(one_line_sql("SELECT abcdef", 8), "SELECT …");
    }

    #[test]
    fn top_report_renders() {
        let json = r#"{
          "lines_read": 1200, "lines_skipped": 3, "total_calls": 1040, "fingerprints": 2, "by": "total",
          "queries": [
            {"fingerprint": "0123456789abcdef", "query": "SELECT * FROM profiles WHERE user_id = $1", "calls": 1000,
             "total_ms": 150000.0, "mean_ms": 150.0, "p50_ms": 140.0, "p95_ms": 210.0, "p99_ms": 260.0, "max_ms": 400.0,
             "min_ms": 90.0, "percentiles_estimated": false, "rows": 1000, "parse_ms": 0.0, "bind_ms": 0.0,
             "databases": {"adx": 1000}, "users": {"app": 1000}, "applications": {}, "first_seen": null, "last_seen": null, "plans": 0},
            {"fingerprint": "fedcba9876543210", "query": "SELECT count(*) FROM audit_logs", "calls": 40,
             "total_ms": 4000.0, "mean_ms": 100.0, "p50_ms": 95.0, "p95_ms": 130.0, "p99_ms": 150.0, "max_ms": 150.0,
             "min_ms": 80.0, "percentiles_estimated": true, "rows": null, "parse_ms": 0.0, "bind_ms": 0.0,
             "databases": {}, "users": {}, "applications": {}, "first_seen": null, "last_seen": null, "plans": 0}
          ],
          "n_plus_one": [
            {"parent": "SELECT id, user_id FROM audit_logs ORDER BY timestamp DESC LIMIT $1",
             "child": "SELECT name FROM users WHERE id = $1", "bursts": 12, "round_trips": 240, "mean_burst": 20.0,
             "child_ms": 24.0, "example": {"session": "65f0.1", "start_us": 0, "size": 20, "span_ms": 3.5},
             "suggestion": {"batched": "SELECT name FROM users WHERE id = ANY($1)", "advice": "batch it"}}
          ],
          "errors": [{"sqlstate": "22012", "severity": "ERROR", "count": 2, "query": "SELECT 1/0", "message": null}]
        }"#;
        let r: TopReport = serde_json::from_str(json).expect("fixture");
        insta::assert_snapshot!(top_report(&r, Style::Terminal));
        insta::assert_snapshot!(top_report(&r, Style::Markdown));
    }
}
