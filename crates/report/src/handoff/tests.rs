//! Tests of the hand-off report: Markdown snapshots with everything and with a
//! baseline only, graceful degradation, the HTML page's structure, escaping and
//! one chart's SVG.

use super::charts::percentile_chart;
use super::plan_sections::not_applied;
use super::*;
use crate::fixtures;

fn full<'a>(
    plan: &'a AdvicePlan,
    baseline: &'a BenchReport,
    after: &'a BenchReport,
    changes: &'a [ChangeRecord],
    findings: &'a [Finding],
) -> Handoff<'a> {
    Handoff {
        title: "ADX Core — database performance hand-off".into(),
        database: "dba@db.internal:5432/adx".into(),
        generated_at: "2024-05-01T12:00:00Z".into(),
        plan: Some(plan),
        baseline: Some(baseline),
        after: Some(after),
        changes: Some(changes),
        findings,
        cache_candidates: cache_candidates(after, 100.0),
    }
}

fn bare(baseline: Option<&BenchReport>) -> Handoff<'_> {
    Handoff {
        title: "Hand-off".into(),
        database: "127.0.0.1:5432/adx".into(),
        generated_at: "2024-05-01T12:00:00Z".into(),
        plan: None,
        baseline,
        after: None,
        changes: Some(&[]),
        findings: &[],
        cache_candidates: Vec::new(),
    }
}

#[test]
fn markdown_with_everything() {
    let (plan, b, a, c, f) = (
        fixtures::plan(),
        fixtures::baseline(),
        fixtures::after(),
        fixtures::changes(),
        fixtures::findings(),
    );
    insta::assert_snapshot!(handoff_markdown(&full(&plan, &b, &a, &c, &f)));
}

#[test]
fn markdown_with_only_a_baseline() {
    let b = fixtures::baseline();
    let text = handoff_markdown(&bare(Some(&b)));
    assert!(!text.contains("| after |"), "{text}");
    assert!(!text.contains("avg after"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn markdown_with_nothing_says_what_is_missing() {
    let text = handoff_markdown(&bare(None));
    for expected in [
        "No benchmark was given",
        "No diagnosis was given.",
        "No plan given and no change recorded",
        "No benchmark given: no metrics.",
        "No benchmark given: no per-query figures.",
        "Nothing was applied, so there is nothing to roll back.",
        "Not known yet: no benchmark after the changes was given.",
        "No findings were given.",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn changes_without_a_plan_are_still_listed() {
    let changes = fixtures::changes();
    let mut h = bare(None);
    h.changes = Some(&changes);
    let text = handoff_markdown(&h);
    assert!(text.contains("No plan given: the reasons"), "{text}");
    assert!(text.contains("### 3.4. Drop index"), "{text}");
    assert!(text.contains("-- change #14: undoes DROP INDEX"), "{text}");
    assert!(
        text.contains("--plan plan.json --approve   # plan.json: the plan file with id 3f9a1c2e7b"),
        "{text}"
    );
}

#[test]
fn plan_without_changes_lists_the_recommendations() {
    let plan = fixtures::plan();
    let mut h = bare(None);
    h.plan = Some(&plan);
    let text = handoff_markdown(&h);
    assert!(
        text.contains("Nothing has been applied yet. Plan `3f9a1c2e7b` recommends:"),
        "{text}"
    );
    assert!(
        text.contains("1. `users_last_login_created_at_idx`"),
        "{text}"
    );
    assert!(
        text.contains("the plan recommends 2 indexes (estimated workload cost −99.7 %)"),
        "{text}"
    );
}

#[test]
fn findings_are_matched_with_the_changes_that_fix_them() {
    let (plan, b, a, c, f) = (
        fixtures::plan(),
        fixtures::baseline(),
        fixtures::after(),
        fixtures::changes(),
        fixtures::findings(),
    );
    let h = full(&plan, &b, &a, &c, &f);
    let views = change_views(&h);
    let ranked = ranked_findings(&h, &views);
    let by: Vec<(&str, Option<&str>)> = ranked
        .iter()
        .map(|(f, by)| (f.id.as_str(), by.as_deref()))
        .collect();
    assert_eq!(
        by,
        [
            (
                "plan.top_n_sort",
                Some("index users_last_login_created_at_idx")
            ),
            ("health.dead_tuples", None),
            (
                "health.fk_without_index",
                Some("index profiles_user_id_idx")
            ),
            ("health.stale_statistics", Some("ANALYZE public.users")),
            ("lint.needless_distinct", None),
        ]
    );
    let mut failed = c.clone();
    failed[1].status = ChangeStatus::Failed;
    let h = full(&plan, &b, &a, &failed, &f);
    let views = change_views(&h);
    let ranked = ranked_findings(&h, &views);
    assert!(ranked
        .iter()
        .any(|(f, by)| f.id == "health.fk_without_index" && by.is_none()));
    assert!(not_applied(&h, &views)[0]
        .starts_with("index profiles_user_id_idx (user_id): not verified yet"));
}

#[test]
fn cache_candidates_are_the_queries_still_slow() {
    let after = fixtures::after();
    let c = cache_candidates(&after, 100.0);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].query.starts_with("audit_report: SELECT date_trunc"),
        "{c:?}"
    );
    assert!(
        c[0].why.starts_with(
            "still 850 ms on average after the changes (over 50 calls); an aggregation"
        ),
        "{c:?}"
    );
    let c = cache_candidates(&after, 1000.0);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(
        c[0].why.starts_with("850 ms on average but 1.30 s at p99"),
        "{c:?}"
    );
    assert!(cache_candidates(&after, 5000.0).is_empty());
}

#[test]
fn html_is_one_offline_file() {
    let (plan, b, a, c, f) = (
        fixtures::plan(),
        fixtures::baseline(),
        fixtures::after(),
        fixtures::changes(),
        fixtures::findings(),
    );
    let html = handoff_html(&full(&plan, &b, &a, &c, &f));
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
        "{html}"
    );
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    for banned in [
        "http://", "https://", "<script", "<link", "<img", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(banned), "{banned} in the page");
    }
    for id in [
        "status", "problems", "changes", "metrics", "queries", "drops", "analyze", "skipped",
        "rollback", "next",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert_eq!(
        html.matches("<section").count(),
        html.matches("</section>").count()
    );
    assert!(html.contains("<span class=\"pill ok\">met</span>"));
    assert!(html.contains("<td class=\"num\">245 ms</td><td class=\"num\">12.0 ms</td>"));
    assert!(
        html.contains("DROP INDEX CONCURRENTLY IF EXISTS public.users_last_login_created_at_idx;")
    );
}

#[test]
fn html_with_a_baseline_only_has_no_after_columns() {
    let b = fixtures::baseline();
    let html = handoff_html(&bare(Some(&b)));
    assert!(!html.contains("avg after"));
    assert!(!html.contains("<th class=\"num\">after</th>"));
    assert_eq!(html.matches("<svg").count(), 2, "latency and percentiles");
    assert!(html.contains("No plan given and no change recorded"));
}

#[test]
fn html_escapes_every_inserted_text() {
    let mut b = fixtures::baseline();
    b.queries[0].name = "evil<script>alert(1)</script>".into();
    b.queries[0].sql = "SELECT '<script>alert(\"x\")</script>' & 1".into();
    let mut a = fixtures::after();
    a.queries[0].name = b.queries[0].name.clone();
    a.queries[0].sql = b.queries[0].sql.clone();
    a.queries[0].avg_ms = 900.0;
    let mut findings = fixtures::findings();
    findings[0].title = "<b>bold</b> & \"quoted\"".into();
    let plan = fixtures::plan();
    let changes = fixtures::changes();
    let mut h = full(&plan, &b, &a, &changes, &findings);
    h.title = "<script>document.title</script>".into();
    h.database = "x@host/<db>".into();
    let html = handoff_html(&h);
    assert!(!html.contains("<script"), "unescaped script");
    assert!(!html.contains("<b>bold"), "unescaped markup");
    assert!(html.contains("evil&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"));
    assert!(
        html.contains("SELECT &#39;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; &amp; 1")
    );
    assert!(html.contains("<code>x@host/&lt;db&gt;</code>"));
}

#[test]
fn percentile_chart_svg() {
    let (b, a) = (fixtures::baseline(), fixtures::after());
    let svg = percentile_chart(&[("baseline", &b), ("after", &a)]);
    assert!(svg.contains("logarithmic scale"));
    assert_eq!(
        svg.matches("stroke-dasharray").count(),
        3,
        "p95, p99, avg targets"
    );
    insta::assert_snapshot!(svg);
}

#[test]
fn analyzed_tables_are_read_from_the_statement() {
    assert_eq!(
        analyzed_table("ANALYZE public.users;").as_deref(),
        Some("public.users")
    );
    assert_eq!(
        analyzed_table("analyze verbose users").as_deref(),
        Some("users")
    );
    assert_eq!(
        analyzed_table("ANALYZE (VERBOSE, SKIP_LOCKED) t (a, b)").as_deref(),
        Some("t")
    );
    assert_eq!(analyzed_table("ANALYZE users(a)").as_deref(), Some("users"));
    assert_eq!(analyzed_table("VACUUM ANALYZE s.t").as_deref(), Some("s.t"));
    assert_eq!(analyzed_table("ANALYZE"), None);
    assert_eq!(analyzed_table("ANALYZEusers"), None);
    assert_eq!(analyzed_table("DROP INDEX x"), None);
}

#[test]
fn after_only_and_failed_changes_degrade_gracefully() {
    let (plan, a) = (fixtures::plan(), fixtures::after());
    let mut changes = fixtures::changes();
    changes[0].status = ChangeStatus::Failed;
    changes[0].detail = "lock_timeout after 3 tries".into();
    changes[3].status = ChangeStatus::RolledBack;
    changes[3].rolled_back_at = Some("2024-05-02T09:00:00Z".into());
    let mut h = bare(None);
    h.plan = Some(&plan);
    h.after = Some(&a);
    h.changes = Some(&changes);
    let text = handoff_markdown(&h);
    assert!(
        text.contains(
            "5 of 5 targets met (average 12.0 ms, p95 45.0 ms, p99 870 ms). No baseline was given"
        ),
        "{text}"
    );
    assert!(
        text.contains("| query | calls | avg | p95 | p99 |"),
        "{text}"
    );
    assert!(
        text.contains("FAILED (lock_timeout after 3 tries)"),
        "{text}"
    );
    assert!(text.contains("rolled back 2024-05-02T09:00:00Z"), "{text}");
    assert!(
        text.contains("1 failed and left nothing behind; 1 rolled back"),
        "{text}"
    );
    assert!(
        text.contains(
            "| `users_last_login_created_at_idx` | verified | 2.31 s → 0.85 ms (−99.96 %) | \
             23 MB (est. 22 MB) | +3.1 % | FAILED (change #11) | apply it again: the last try failed"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Recommended but not applied"),
        "the verification table says it: {text}"
    );
    assert!(
        text.contains("; 0 scans | re-created by rollback (change #14) |"),
        "{text}"
    );
    let rollback = text.split("## 9. Rollback procedure").nth(1).unwrap_or("");
    assert!(rollback.contains("-- change #12"), "{rollback}");
    assert!(
        !rollback.contains("-- change #11") && !rollback.contains("-- change #14"),
        "{rollback}"
    );
    let html = handoff_html(&h);
    assert_eq!(
        html.matches("<svg").count(),
        3,
        "cost, percentiles (one run), latency"
    );
    // Without any verification in the plan, what was not applied is a list.
    let mut unverified = plan.clone();
    for r in &mut unverified.recommendations {
        r.verification = None;
    }
    h.plan = Some(&unverified);
    let text = handoff_markdown(&h);
    assert!(!text.contains("### Verification"), "{text}");
    assert!(
        text.contains(
            "**Recommended but not applied:**\n\n- index users_last_login_created_at_idx \
             (last_login DESC, created_at): not verified yet (`pgpilot verify`)\n\
             - drop of idx_users_created (redundant, 21 MB): not applied\n"
        ),
        "{text}"
    );
}

#[test]
fn many_findings_are_cut_to_the_top_ten() {
    let mut many = Vec::new();
    for i in 0..14 {
        let mut f = fixtures::findings()[4].clone();
        f.title = format!("finding {i:02}");
        many.push(f);
    }
    let mut h = bare(None);
    h.findings = &many;
    let text = handoff_markdown(&h);
    assert!(text.contains("| 10 | info | finding 09 |"), "{text}");
    assert!(!text.contains("| 11 |"), "{text}");
    assert!(text.contains("… and 4 more (see next steps)."), "{text}");
    assert!(
        text.contains("finding 13 — `lint.needless_distinct`"),
        "{text}"
    );
}

#[test]
fn a_slow_write_is_not_called_cacheable() {
    let mut after = fixtures::after();
    let mut q = after.queries[0].clone();
    q.name = "cleanup".into();
    q.sql = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() LIMIT 500)".into();
    q.avg_ms = 500.0;
    q.p99_ms = 700.0;
    q.total_ms = 1e9;
    after.queries = vec![q];
    let c = cache_candidates(&after, 100.0);
    assert_eq!(c.len(), 1, "{c:?}");
    assert!(c[0].why.contains("a write, so no cache can help"), "{c:?}");
    assert!(!c[0].why.contains("cache its result"), "{c:?}");
}
