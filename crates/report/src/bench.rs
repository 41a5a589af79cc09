//! Benchmark reports and the scenario-style SLO table.

use pgpilot_bench_model::{BenchReport, Comparison, SloCheck};

use crate::format::{duration_ms, percent};
use crate::table::{render, Style};

/// How a summary metric reads: its label and unit.
fn metric_label(metric: &str) -> (&'static str, Unit) {
    match metric {
        "avg_ms" => ("average query time", Unit::Ms),
        "p50_ms" => ("p50", Unit::Ms),
        "p95_ms" => ("p95", Unit::Ms),
        "p99_ms" => ("p99", Unit::Ms),
        "max_ms" => ("max", Unit::Ms),
        "slow_pct" => ("slow queries", Unit::Pct),
        "index_hit_ratio" => ("index hit ratio", Unit::Pct),
        "index_usage_ratio" => ("index usage ratio", Unit::Pct),
        "throughput_qps" => ("throughput", Unit::Qps),
        "error_pct" => ("failed statements", Unit::Pct),
        _ => ("", Unit::Plain),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Ms,
    Pct,
    Qps,
    Plain,
}

fn value(unit: Unit, v: Option<f64>) -> String {
    match (unit, v) {
        (_, None) => "—".into(),
        (Unit::Ms, Some(v)) => duration_ms(v),
        (Unit::Pct, Some(v)) => percent(Some(v)),
        (Unit::Qps, Some(v)) => format!("{v:.1}/s"),
        (Unit::Plain, Some(v)) => format!("{v}"),
    }
}

fn label_of(check: &SloCheck, slow_threshold_ms: f64) -> String {
    let (label, _) = metric_label(&check.metric);
    match check.metric.as_str() {
        "slow_pct" => format!("slow queries (> {})", duration_ms(slow_threshold_ms)),
        _ if label.is_empty() => check.metric.clone(),
        _ => label.to_string(),
    }
}

fn target_of(check: &SloCheck) -> String {
    let (_, unit) = metric_label(&check.metric);
    let op = match check.comparison {
        Comparison::Below => "<",
        Comparison::Above => ">",
    };
    format!("{op} {}", value(unit, Some(check.target)))
}

fn summary_value(r: &BenchReport, metric: &str) -> Option<f64> {
    let s = &r.summary;
    match metric {
        "avg_ms" => Some(s.avg_ms),
        "p50_ms" => Some(s.p50_ms),
        "p95_ms" => Some(s.p95_ms),
        "p99_ms" => Some(s.p99_ms),
        "max_ms" => Some(s.max_ms),
        "slow_pct" => Some(s.slow_pct),
        "index_hit_ratio" => s.index_hit_ratio,
        "index_usage_ratio" => s.index_usage_ratio,
        "throughput_qps" => Some(s.throughput_qps),
        "error_pct" => {
            let all = s.statements + s.errors;
            (all > 0).then(|| s.errors as f64 * 100.0 / all as f64)
        }
        _ => None,
    }
}

fn connections(r: &BenchReport) -> String {
    match (r.summary.peak_connections, r.summary.max_connections) {
        (Some(p), Some(m)) => format!("{p} / {m}"),
        (Some(p), None) => p.to_string(),
        _ => "—".into(),
    }
}

/// The scenario's table: one column per run (e.g. baseline, after), then the
/// target and whether the LAST run meets it. Targets come from the last run.
pub fn slo_comparison(runs: &[(&str, &BenchReport)], style: Style) -> String {
    let Some((_, last)) = runs.last() else {
        return String::new();
    };
    let mut header = vec!["metric"];
    header.extend(runs.iter().map(|(name, _)| *name));
    header.extend(["target", "status"]);
    let mut rows = Vec::new();
    for check in &last.slo {
        let (_, unit) = metric_label(&check.metric);
        let mut row = vec![label_of(check, last.config.slow_threshold_ms)];
        row.extend(
            runs.iter()
                .map(|(_, r)| value(unit, summary_value(r, &check.metric))),
        );
        row.push(target_of(check));
        row.push(status(check).into());
        rows.push(row);
    }
    let mut conn = vec!["connection use".to_string()];
    conn.extend(runs.iter().map(|(_, r)| connections(r)));
    conn.extend(["—".to_string(), String::new()]);
    rows.push(conn);
    let right: Vec<usize> = (1..=runs.len() + 1).collect();
    render(style, &header, &rows, &right)
}

fn status(check: &SloCheck) -> &'static str {
    match (check.actual, check.pass) {
        (None, _) => "not measured",
        (_, true) => "met",
        (_, false) => "MISSED",
    }
}

/// A full benchmark report: what ran, the summary against the SLOs, per-query
/// figures (slowest total first) and the errors.
pub fn bench_report(r: &BenchReport, style: Style) -> String {
    let c = &r.config;
    let mut out = String::new();
    let heading = |out: &mut String, text: &str| match style {
        Style::Markdown => out.push_str(&format!("\n### {text}\n\n")),
        Style::Terminal => out.push_str(&format!("\n{text}\n")),
    };
    out.push_str(&format!(
        "{} · {} client{} · {:.1} s measured after {:.1} s warm-up · {}\n",
        c.workload,
        c.clients,
        if c.clients == 1 { "" } else { "s" },
        r.summary.duration_s,
        c.warmup_s,
        c.target
    ));
    if r.interrupted {
        out.push_str(&format!(
            "run ended early: {}; figures cover what was measured until then\n",
            r.aborted_reason.as_deref().unwrap_or("interrupted")
        ));
    }
    let s = &r.summary;
    heading(&mut out, "Summary");
    let mut rows = vec![
        vec![
            "statements".to_string(),
            s.statements.to_string(),
            String::new(),
            String::new(),
        ],
        vec![
            "throughput".into(),
            value(Unit::Qps, Some(s.throughput_qps)),
            String::new(),
            String::new(),
        ],
    ];
    let shown: Vec<&str> = r.slo.iter().map(|c| c.metric.as_str()).collect();
    for check in &r.slo {
        let (_, unit) = metric_label(&check.metric);
        rows.push(vec![
            label_of(check, c.slow_threshold_ms),
            value(unit, summary_value(r, &check.metric)),
            target_of(check),
            status(check).into(),
        ]);
    }
    for metric in ["p50_ms", "max_ms", "index_usage_ratio"] {
        if !shown.contains(&metric) {
            let (label, unit) = metric_label(metric);
            rows.push(vec![
                label.into(),
                value(unit, summary_value(r, metric)),
                String::new(),
                String::new(),
            ]);
        }
    }
    rows.push(vec![
        "connection use".into(),
        connections(r),
        String::new(),
        String::new(),
    ]);
    rows.push(vec![
        "failed statements".into(),
        s.errors.to_string(),
        String::new(),
        String::new(),
    ]);
    out.push_str(&render(
        style,
        &["metric", "value", "target", "status"],
        &rows,
        &[1],
    ));
    out.push('\n');

    heading(&mut out, "Queries (by total time)");
    let mut queries: Vec<_> = r.queries.iter().collect();
    queries.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
    let rows: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            let name = match &q.sequence {
                Some(seq) => format!("{seq}/{}", q.name),
                None => q.name.clone(),
            };
            vec![
                name,
                q.calls.to_string(),
                duration_ms(q.total_ms),
                duration_ms(q.avg_ms),
                duration_ms(q.p50_ms),
                duration_ms(q.p95_ms),
                duration_ms(q.p99_ms),
                duration_ms(q.max_ms),
                q.slow.to_string(),
                q.errors.to_string(),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &[
            "query", "calls", "total", "avg", "p50", "p95", "p99", "max", "slow", "errors",
        ],
        &rows,
        &[1, 2, 3, 4, 5, 6, 7, 8, 9],
    ));
    out.push('\n');

    if !r.errors.is_empty() {
        heading(&mut out, "Errors");
        let rows: Vec<Vec<String>> = r
            .errors
            .iter()
            .map(|e| {
                vec![
                    e.query.clone(),
                    e.sqlstate.clone().unwrap_or_default(),
                    e.count.to_string(),
                    e.message.clone(),
                ]
            })
            .collect();
        out.push_str(&render(
            style,
            &["query", "sqlstate", "count", "message"],
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
    use pgpilot_bench_model::{ErrorCount, QueryStats, RunConfig, SloTargets, Summary};

    fn report(avg: f64, p95: f64, p99: f64, slow: f64, hit: Option<f64>) -> BenchReport {
        let summary = Summary {
            statements: 12_345,
            throughput_qps: 411.5,
            avg_ms: avg,
            p50_ms: avg / 3.0,
            p95_ms: p95,
            p99_ms: p99,
            max_ms: p99 * 2.0,
            slow_pct: slow,
            index_hit_ratio: hit,
            index_usage_ratio: Some(61.25),
            duration_s: 30.0,
            peak_connections: Some(9),
            max_connections: Some(100),
            ..Summary::default()
        };
        let slo = SloTargets::default().evaluate(&summary);
        BenchReport {
            config: RunConfig {
                workload: "adx-core.toml".into(),
                clients: 8,
                duration_s: Some(30.0),
                warmup_s: 5.0,
                slow_threshold_ms: 1000.0,
                target: "127.0.0.1:5432".into(),
                ..RunConfig::default()
            },
            summary,
            queries: vec![
                QueryStats {
                    name: "profile_by_user".into(),
                    calls: 9000,
                    total_ms: 900_000.0,
                    avg_ms: 100.0,
                    p50_ms: 90.0,
                    p95_ms: 180.0,
                    p99_ms: 250.0,
                    max_ms: 400.0,
                    ..QueryStats::default()
                },
                QueryStats {
                    name: "feed_user".into(),
                    sequence: Some("activity_feed".into()),
                    calls: 3000,
                    total_ms: 300.0,
                    avg_ms: 0.1,
                    p50_ms: 0.09,
                    p95_ms: 0.2,
                    p99_ms: 0.3,
                    max_ms: 1.5,
                    ..QueryStats::default()
                },
            ],
            slo,
            errors: vec![ErrorCount {
                query: "cleanup".into(),
                sqlstate: Some("40P01".into()),
                message: "deadlock detected".into(),
                count: 2,
            }],
            ..BenchReport::default()
        }
    }

    #[test]
    fn baseline_vs_after_table() {
        let before = report(245.0, 1200.0, 3100.0, 23.0, Some(94.2));
        let after = report(12.0, 45.0, 300.0, 0.5, Some(99.3));
        insta::assert_snapshot!(slo_comparison(
            &[("baseline", &before), ("after", &after)],
            Style::Markdown
        ));
        insta::assert_snapshot!(slo_comparison(&[("baseline", &before)], Style::Terminal));
    }

    #[test]
    fn unmeasured_ratio_is_not_a_pass() {
        let r = report(12.0, 45.0, 300.0, 0.5, None);
        let text = slo_comparison(&[("baseline", &r)], Style::Markdown);
        assert!(
            text.contains("| index hit ratio | — | > 98.0 % | not measured |"),
            "{text}"
        );
    }

    #[test]
    fn full_bench_report() {
        let r = report(245.0, 1200.0, 3100.0, 23.0, Some(94.2));
        insta::assert_snapshot!(bench_report(&r, Style::Terminal));
        insta::assert_snapshot!(bench_report(&r, Style::Markdown));
    }
}
