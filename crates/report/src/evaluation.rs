//! The judgement of a human's draft DDL for people: one row per statement in
//! file order, then each statement with its reason, the better index when it is
//! inferior and the queries it serves when it is useful.

use pgpilot_advisor::{Evaluation, Verdict};

use crate::advice::md_code;
use crate::numbers::{change_pct, cost, thousands};
use crate::table::{render, Style};
use crate::top::one_line_sql;

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Invalid => "INVALID",
        Verdict::Unused => "UNUSED",
        Verdict::Inferior => "INFERIOR",
        Verdict::Useful => "USEFUL",
        Verdict::NotAnIndex => "NOT AN INDEX",
    }
}

/// One-sentence summary of the counts: `4 statements: 1 invalid, 2 useful`.
fn summary(evals: &[Evaluation]) -> String {
    let order = [
        Verdict::Invalid,
        Verdict::Unused,
        Verdict::Inferior,
        Verdict::Useful,
        Verdict::NotAnIndex,
    ];
    let parts: Vec<String> = order
        .iter()
        .filter_map(|v| {
            let n = evals.iter().filter(|e| e.verdict == *v).count();
            (n > 0).then(|| format!("{n} {}", verdict(*v).to_lowercase()))
        })
        .collect();
    format!(
        "{} statement{} judged: {}\n",
        evals.len(),
        if evals.len() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

/// Detail items of one statement (without its reason), each a first line and
/// continuation lines: the better indexes for an inferior one, the queries and
/// their cost cut for a useful one.
fn details(e: &Evaluation, style: Style) -> Vec<(String, Vec<String>)> {
    let md = style == Style::Markdown;
    let width = if md { 160 } else { 110 };
    let code = |s: String| if md { md_code(&s) } else { s };
    let mut items = Vec::new();
    match e.verdict {
        Verdict::Inferior => {
            for b in &e.better {
                let ddl = b.ddl.trim().trim_end_matches(';').to_string();
                let costs = format!(
                    "cost {} with this index, {} ({}) with",
                    cost(b.cost_with_draft),
                    cost(b.cost_with_better),
                    change_pct(b.cost_with_draft, b.cost_with_better)
                );
                let query = code(one_line_sql(&b.query, width));
                if md {
                    items.push((format!("query {query}: {costs} {}", code(ddl)), vec![]));
                } else {
                    items.push((format!("query {query}"), vec![format!("{costs}:"), ddl]));
                }
            }
        }
        Verdict::Useful => {
            let mut cut = 0.0;
            for q in &e.queries {
                cut += q.calls * (q.cost_before - q.cost_after);
                items.push((
                    format!(
                        "serves {}: {} calls, cost {} → {} ({})",
                        code(one_line_sql(&q.query, width)),
                        thousands(q.calls),
                        cost(q.cost_before),
                        cost(q.cost_after),
                        change_pct(q.cost_before, q.cost_after)
                    ),
                    vec![],
                ));
            }
            if e.queries.len() > 1 {
                items.push((
                    format!("workload cost cut: {} (Σ calls × cost)", cost(cut)),
                    vec![],
                ));
            }
        }
        Verdict::Invalid | Verdict::Unused | Verdict::NotAnIndex => {}
    }
    items
}

/// Renders the judgement of a draft, one entry per statement in file order:
/// line, verdict (INVALID / UNUSED / INFERIOR / USEFUL / NOT AN INDEX), the
/// statement on one line and the reason; then, per statement, the better index
/// and both costs when inferior, the queries served and the cost cut when useful.
pub fn evaluation_report(evals: &[Evaluation], style: Style) -> String {
    if evals.is_empty() {
        return "The draft holds no statement to judge.\n".into();
    }
    let mut out = summary(evals);
    out.push('\n');
    let rows: Vec<Vec<String>> = evals
        .iter()
        .map(|e| {
            vec![
                e.line.to_string(),
                verdict(e.verdict).to_string(),
                one_line_sql(&e.statement, 70),
                one_line_sql(&e.reason, 90),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &["line", "verdict", "statement", "reason"],
        &rows,
        &[0],
    ));
    out.push('\n');
    for e in evals {
        let lines = details(e, style);
        match style {
            Style::Markdown => {
                out.push_str(&format!(
                    "\n#### Line {} — {}\n\n```sql\n{}\n```\n\n{}\n",
                    e.line,
                    verdict(e.verdict),
                    e.statement.trim(),
                    e.reason
                ));
                if !lines.is_empty() {
                    out.push('\n');
                    for (l, _) in lines {
                        out.push_str(&format!("- {l}\n"));
                    }
                }
            }
            Style::Terminal => {
                out.push_str(&format!(
                    "\nline {} · {} — {}\n   why: {}\n",
                    e.line,
                    verdict(e.verdict),
                    one_line_sql(&e.statement, 120),
                    e.reason
                ));
                for (l, more) in lines {
                    out.push_str(&format!("   - {l}\n"));
                    for m in more {
                        out.push_str(&format!("     {m}\n"));
                    }
                }
            }
        }
    }
    crate::advice::tidy(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_advisor::{BetterIndex, EvaluatedQuery};

    fn draft() -> Vec<Evaluation> {
        let dashboard = "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id \
                         WHERE u.created_at > NOW() - INTERVAL '30 days' ORDER BY u.last_login DESC LIMIT $1";
        vec![
            Evaluation {
                statement: "CREATE INDEX CONCURRENTLY idx_users_created_login ON users (created_at, last_login DESC);".into(),
                line: 1,
                verdict: Verdict::Inferior,
                reason: "The dashboard query still sorts every user of the 30-day range: \
                         an index led by last_login DESC returns the 50 rows in order."
                    .into(),
                queries: vec![EvaluatedQuery {
                    query: dashboard.into(),
                    calls: 1200.0,
                    cost_before: 187_654.3,
                    cost_after: 41_230.0,
                }],
                better: vec![BetterIndex {
                    query: dashboard.into(),
                    ddl: "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_last_login_created_at_idx ON public.users (last_login DESC, created_at)".into(),
                    cost_with_draft: 41_230.0,
                    cost_with_better: 92.4,
                }],
            },
            Evaluation {
                statement: "CREATE INDEX CONCURRENTLY idx_profiles_user_id ON profiles (user_id);".into(),
                line: 2,
                verdict: Verdict::Useful,
                reason: "Every profile lookup probes it instead of hashing the whole table.".into(),
                queries: vec![
                    EvaluatedQuery {
                        query: "SELECT * FROM profiles WHERE user_id = $1".into(),
                        calls: 9000.0,
                        cost_before: 21_980.0,
                        cost_after: 8.45,
                    },
                    EvaluatedQuery {
                        query: dashboard.into(),
                        calls: 1200.0,
                        cost_before: 187_654.3,
                        cost_after: 186_001.0,
                    },
                ],
                better: vec![],
            },
            Evaluation {
                statement: "CREATE INDEX CONCURRENTLY idx_audit_logs_timestamp ON audit_logs (timestamp DESC);".into(),
                line: 3,
                verdict: Verdict::Unused,
                reason: "No workload query filters or sorts audit_logs on timestamp.".into(),
                queries: vec![],
                better: vec![],
            },
            Evaluation {
                statement: "CREATE INDEX CONCURRENTLY idx_sessions_expires_user ON sessions (expires_at, user_id)\n  WHERE expires_at > NOW();".into(),
                line: 4,
                verdict: Verdict::Invalid,
                reason: "PostgreSQL rejects it: functions in an index predicate must be marked \
                         IMMUTABLE, and now() is STABLE (SQLSTATE 42P17)."
                    .into(),
                queries: vec![],
                better: vec![],
            },
            Evaluation {
                statement: "VACUUM ANALYZE users;".into(),
                line: 6,
                verdict: Verdict::NotAnIndex,
                reason: "Not a CREATE INDEX statement: not judged.".into(),
                queries: vec![],
                better: vec![],
            },
        ]
    }

    #[test]
    fn evaluation_renders_for_a_terminal() {
        insta::assert_snapshot!(evaluation_report(&draft(), Style::Terminal));
    }

    #[test]
    fn evaluation_renders_as_markdown() {
        insta::assert_snapshot!(evaluation_report(&draft(), Style::Markdown));
    }

    #[test]
    fn empty_draft_says_so() {
        assert_eq!(
            evaluation_report(&[], Style::Terminal),
            "The draft holds no statement to judge.\n"
        );
    }
}
