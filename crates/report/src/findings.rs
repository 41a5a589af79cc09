//! Findings (plan rules, health checks, query lints) for people: a summary table,
//! then each finding with its evidence, explanation and the SQL that fixes it.

use pgpilot_findings::{Finding, Severity};

use crate::table::{render, Style};
use crate::top::one_line_sql;

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

fn evidence(f: &Finding) -> String {
    f.evidence
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() != 0.0 => format!("{k}={x:.2}"),
                _ => format!("{k}={n}"),
            },
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders findings: one summary row each, then the details in the same order.
/// `empty` is what to say when there are none.
pub fn findings_report(findings: &[&Finding], style: Style, empty: &str) -> String {
    if findings.is_empty() {
        return format!("{empty}\n");
    }
    let rows: Vec<Vec<String>> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                (i + 1).to_string(),
                severity(f.severity).to_string(),
                f.id.clone(),
                f.table.clone().unwrap_or_default(),
                f.columns.join(", "),
                one_line_sql(&f.title, 90),
            ]
        })
        .collect();
    let mut out = render(
        style,
        &["#", "severity", "id", "table", "columns", "finding"],
        &rows,
        &[0],
    );
    out.push('\n');
    for (i, f) in findings.iter().enumerate() {
        match style {
            Style::Markdown => {
                out.push_str(&format!("\n#### {}. `{}` — {}\n\n", i + 1, f.id, f.title));
                if let Some(q) = &f.query {
                    out.push_str(&format!("Query: `{}`\n\n", one_line_sql(q, 200)));
                }
                out.push_str(&format!("{}\n\n", f.explanation));
                if !f.evidence.is_empty() {
                    out.push_str(&format!("Evidence: {}\n\n", evidence(f)));
                }
                if let Some(sql) = &f.fix_sql {
                    out.push_str(&format!("```sql\n{sql}\n```\n"));
                } else if let Some(hint) = &f.fix_hint {
                    out.push_str(&format!("Fix: {hint}\n"));
                }
            }
            Style::Terminal => {
                out.push_str(&format!(
                    "\n{}. [{}] {} — {}\n",
                    i + 1,
                    severity(f.severity),
                    f.id,
                    f.title
                ));
                if let Some(q) = &f.query {
                    out.push_str(&format!("   query:    {}\n", one_line_sql(q, 120)));
                }
                out.push_str(&format!("   why:      {}\n", f.explanation));
                if !f.evidence.is_empty() {
                    out.push_str(&format!("   evidence: {}\n", evidence(f)));
                }
                if let Some(sql) = &f.fix_sql {
                    let indented = sql.lines().collect::<Vec<_>>().join("\n             ");
                    out.push_str(&format!("   fix:      {indented}\n"));
                } else if let Some(hint) = &f.fix_hint {
                    out.push_str(&format!("   fix:      {hint}\n"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_render_with_their_fix() {
        let json = r#"[
          {"id": "health.fk_without_index", "severity": "warning", "title": "foreign key profiles(user_id) has no index",
           "table": "public.profiles", "columns": ["user_id"], "query": null,
           "evidence": {"table_rows": 1000000, "referenced": "public.users"},
           "explanation": "Joins and cascading deletes on this key scan the whole table.",
           "fix_sql": "CREATE INDEX CONCURRENTLY ON public.profiles (user_id);", "fix_hint": null, "impact_ms": null, "node": null},
          {"id": "plan.top_n_sort", "severity": "critical", "title": "sort of 30012 rows to return 50",
           "table": "public.users", "columns": ["last_login DESC"], "query": "SELECT * FROM users ORDER BY last_login DESC LIMIT 50",
           "evidence": {"sort_rows": 30012, "limit": 50, "ms": 412.5},
           "explanation": "The planner sorts every matching row to keep 50.",
           "fix_sql": null, "fix_hint": "index the ORDER BY columns", "impact_ms": 412.5, "node": null}
        ]"#;
        let findings: Vec<Finding> = serde_json::from_str(json).expect("fixture");
        let refs: Vec<&Finding> = findings.iter().collect();
        insta::assert_snapshot!(findings_report(&refs, Style::Terminal, "no findings"));
        insta::assert_snapshot!(findings_report(&refs, Style::Markdown, "no findings"));
        assert_eq!(
            findings_report(&[], Style::Terminal, "all clear"),
            "all clear\n"
        );
    }
}
