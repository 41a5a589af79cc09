//! Tests of what the hand-off shows of the plan itself: a plan with a
//! verification of every status, two drops, two tables to ANALYZE and skipped
//! queries; with the journal not read, read and empty, and read after an apply
//! and a rollback — in Markdown and HTML.

use pgpilot_advisor::{
    ChangeAction, DropRecommendation, IndexDef, IndexKey, MeasuredQuery, ServedQuery, SkippedQuery,
    TimingStats, Verification,
};

use super::plan_sections::JOURNAL_NOT_READ;
use super::*;
use crate::fixtures;

fn timing(median_ms: f64) -> TimingStats {
    TimingStats {
        median_ms,
        min_ms: median_ms * 0.95,
        max_ms: median_ms * 1.1,
        runs: 5,
    }
}

fn measured(sql: &str, calls: f64, before: f64, after: f64) -> MeasuredQuery {
    MeasuredQuery {
        id: format!("q-{}", sql.len()),
        query: sql.into(),
        calls,
        before: timing(before),
        after: timing(after),
        uses_index: true,
    }
}

fn verification(
    status: VerifyStatus,
    size: u64,
    queries: Vec<MeasuredQuery>,
    gain: f64,
    writes: Option<f64>,
    note: &str,
) -> Verification {
    Verification {
        status,
        method: "rolled-back transaction on target".into(),
        real_size_bytes: size,
        build_ms: if size > 0 { 900.0 } else { 0.0 },
        queries,
        gain,
        write_slowdown: writes,
        verified_at: "2024-05-01T11:40:00Z".into(),
        note: note.into(),
    }
}

fn rec(
    name: &str,
    index: IndexDef,
    sql: &str,
    size: u64,
    v: Option<Verification>,
) -> Recommendation {
    Recommendation {
        ddl: index.create_sql(name, true, true),
        rollback_ddl: index.drop_sql(name),
        name: name.into(),
        table: index.qualified_table(),
        columns: index.key_labels(),
        kind: index.kind(),
        index,
        size_bytes: size,
        queries: vec![ServedQuery {
            query: sql.into(),
            id: format!("q-{}", sql.len()),
            calls: 100.0,
            cost_before: 5000.0,
            cost_after: 50.0,
        }],
        benefit: 100.0 * 4950.0,
        write_overhead: 120.0,
        reason: format!("Serves {}.", crate::top::one_line_sql(sql, 40)),
        alternatives: Vec::new(),
        verification: v,
    }
}

const FEED: &str = "SELECT * FROM activity WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20";
const RECENT: &str = "SELECT count(*) FROM activity WHERE created_at > $1";
const MB: u64 = 1024 * 1024;

/// The fixture plan (one verified index, one not verified) plus one index of
/// each other verdict, a second drop, a second table to ANALYZE and a second
/// skipped query whose text is too long to show whole.
fn every_status_plan() -> AdvicePlan {
    let mut plan = fixtures::plan();
    let no_gain = verification(
        VerifyStatus::NoGain,
        88 * MB,
        vec![measured(fixtures::REPORT, 50.0, 1900.0, 1850.0)],
        0.026,
        Some(0.021),
        "the aggregation reads 40 % of the table: the index only serves its filter",
    );
    let regression = verification(
        VerifyStatus::Regression,
        61 * MB,
        vec![
            measured(FEED, 6000.0, 4.2, 0.9),
            measured(RECENT, 400.0, 120.0, 310.0),
        ],
        -0.768,
        Some(0.12),
        "SELECT count(*) FROM activity WHERE created_at > $1 got 2.58× slower",
    );
    let skipped = verification(
        VerifyStatus::Skipped,
        0,
        Vec::new(),
        0.0,
        None,
        "estimated 3.1 GB on a 12 GB table: above --max-table-size 2GB (use --force, or verify on staging)",
    );
    plan.recommendations.extend([
        rec(
            "audit_logs_timestamp_idx",
            IndexDef::btree("public", "audit_logs", vec![IndexKey::column("timestamp")]),
            fixtures::REPORT,
            80 * MB,
            Some(no_gain),
        ),
        rec(
            "activity_created_at_user_id_idx",
            IndexDef::btree(
                "public",
                "activity",
                vec![IndexKey::column("created_at"), IndexKey::column("user_id")],
            ),
            FEED,
            58 * MB,
            Some(regression),
        ),
        rec(
            "events_payload_idx",
            IndexDef::btree("public", "events", vec![IndexKey::column("payload")]),
            "SELECT id FROM events WHERE payload = $1",
            3300 * MB,
            Some(skipped),
        ),
    ]);
    plan.drops.push(DropRecommendation {
        name: "sessions_token_old_idx".into(),
        table: "public.sessions".into(),
        reason: "unused".into(),
        detail: "0 scans in 41 days of statistics".into(),
        ddl: "DROP INDEX CONCURRENTLY IF EXISTS public.sessions_token_old_idx".into(),
        recreate_ddl:
            "CREATE UNIQUE INDEX CONCURRENTLY sessions_token_old_idx ON public.sessions USING btree (token)"
                .into(),
        size_bytes: 8 * MB,
    });
    plan.analyze.push("public.activity".into());
    plan.skipped.push(SkippedQuery {
        query: format!(
            "SELECT {} FROM wide_report WHERE tenant_id = $1",
            (1..=40)
                .map(|i| format!("col_{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        reason: "could not be planned: column \"col_40\" does not exist".into(),
    });
    plan
}

fn handoff<'a>(plan: &'a AdvicePlan, changes: Option<&'a [ChangeRecord]>) -> Handoff<'a> {
    Handoff {
        title: "Hand-off".into(),
        database: "adx".into(),
        generated_at: "2024-05-02T10:00:00Z".into(),
        plan: Some(plan),
        baseline: None,
        after: None,
        changes,
        findings: &[],
        cache_candidates: Vec::new(),
    }
}

/// The text of one Markdown section (`## N. title` up to the next `## `).
fn md_section<'t>(text: &'t str, title: &str) -> &'t str {
    let Some(start) = text.find(&format!(". {title}\n")) else {
        return "";
    };
    let rest = &text[start..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

/// The journal after applying the fixture plan and rolling back its dashboard
/// index; the regression index was applied from an earlier verification.
fn applied_then_rolled_back(plan: &AdvicePlan) -> Vec<ChangeRecord> {
    let mut changes = fixtures::changes();
    changes[0].status = ChangeStatus::RolledBack;
    changes[0].rolled_back_at = Some("2024-05-02T09:00:00Z".into());
    let regression = &plan.recommendations[3];
    let mut extra = changes[1].clone();
    extra.id = 15;
    extra.action = ChangeAction::CreateIndex;
    extra.ddl = regression.ddl.clone();
    extra.rollback_ddl = regression.rollback_ddl.clone();
    changes.push(extra);
    changes
}

#[test]
fn markdown_of_a_verified_plan_without_the_journal() {
    let plan = every_status_plan();
    let text = handoff_markdown(&handoff(&plan, None));
    assert!(!text.contains("No change has been applied"), "{text}");
    assert!(!text.contains("Nothing has been applied"), "{text}");
    assert!(!text.contains("Nothing was applied"), "{text}");
    assert!(!text.contains("nothing to roll back"), "{text}");
    let status = md_section(&text, "Status");
    assert!(status.contains(JOURNAL_NOT_READ), "{status}");
    assert!(
        status.contains(
            "The plan recommends 5 indexes (estimated workload cost −99.7 %); verify: \
             1 verified, 1 no gain, 1 regression, 1 skipped, 1 not verified"
        ),
        "{status}"
    );
    let changes = md_section(&text, "What was changed and why");
    assert!(changes.contains(JOURNAL_NOT_READ), "{changes}");
    assert!(!changes.contains("| journal |"), "{changes}");
    for (index, verdict, what) in [
        ("users_last_login_created_at_idx", "verified", "apply it"),
        ("profiles_user_id_idx", "not verified", "measure it first"),
        (
            "audit_logs_timestamp_idx",
            "no gain",
            "do not apply: the real index did not cut",
        ),
        (
            "activity_created_at_user_id_idx",
            "REGRESSION",
            "do not apply: a served query got slower",
        ),
        (
            "events_payload_idx",
            "skipped",
            "do not apply until measured",
        ),
    ] {
        let row = changes
            .lines()
            .find(|l| l.starts_with(&format!("| `{index}` |")))
            .unwrap_or_default();
        assert!(row.contains(&format!("| {verdict} |")), "{row}");
        assert!(row.contains(what), "{row}");
    }
    assert!(
        changes.contains("| 2.31 s → 0.85 ms (−99.96 %) | 23 MB (est. 22 MB) | +3.1 % |"),
        "{changes}"
    );
    assert!(
        changes.contains("| not measured | not built (est. 3.2 GB) | not measured |"),
        "{changes}"
    );
    assert!(
        changes.contains("| 11.4 ms → 20.2 ms (+76.8 %) |"),
        "{changes}"
    );
    assert!(
        changes.contains("120 ms → 310 ms | 2.58× slower |"),
        "{changes}"
    );
    assert!(
        changes.contains(
            "- `activity_created_at_user_id_idx` (REGRESSION): SELECT count(*) FROM activity \
             WHERE created_at > $1 got 2.58× slower\n"
        ),
        "{changes}"
    );
    assert!(
        !changes.contains("- `users_last_login_created_at_idx` (verified):"),
        "no empty note: {changes}"
    );
    let rollback = md_section(&text, "Rollback procedure");
    assert!(
        rollback.contains("which changes are in place is not known here"),
        "{rollback}"
    );
    assert!(
        rollback
            .contains("--plan plan.json --approve` (plan.json: the plan file with id 3f9a1c2e7b)"),
        "{rollback}"
    );
    let skipped = md_section(&text, "Queries left out of the advice");
    assert!(skipped.contains("col_1, col_2"), "{skipped}");
    assert!(
        !skipped.contains("col_40 FROM"),
        "long query cut: {skipped}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn an_empty_journal_says_nothing_was_applied() {
    let plan = every_status_plan();
    let text = handoff_markdown(&handoff(&plan, Some(&[])));
    assert!(!text.contains("was not read"), "{text}");
    assert!(
        md_section(&text, "Status").contains(
            "No change of this plan has been applied yet (the apply journal records none)"
        ),
        "{text}"
    );
    let changes = md_section(&text, "What was changed and why");
    assert!(
        changes.contains("Nothing has been applied yet. Plan `3f9a1c2e7b` recommends:"),
        "{changes}"
    );
    assert!(changes.contains("| journal |"), "{changes}");
    assert!(
        changes.contains("| +3.1 % | not applied | apply it |"),
        "{changes}"
    );
    assert!(
        md_section(&text, "Indexes to drop").contains("| 21 MB | its key (created_at) is a prefix of idx_users_created_login; 0 scans | not dropped |"),
        "{text}"
    );
    assert!(
        md_section(&text, "Tables to ANALYZE")
            .contains("| public.activity | `ANALYZE public.activity;` | not analyzed |"),
        "{text}"
    );
    assert!(
        md_section(&text, "Rollback procedure")
            .contains("Nothing was applied, so there is nothing to roll back."),
        "{text}"
    );
}

#[test]
fn markdown_after_an_apply_and_a_rollback() {
    let plan = every_status_plan();
    let changes = applied_then_rolled_back(&plan);
    let text = handoff_markdown(&handoff(&plan, Some(&changes)));
    let changes = md_section(&text, "What was changed and why");
    let row = |index: &str| {
        changes
            .lines()
            .find(|l| l.starts_with(&format!("| `{index}` |")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("users_last_login_created_at_idx").contains(
            "| rolled back (change #11) | rolled back after it was applied: apply it again only"
        ),
        "{changes}"
    );
    assert!(
        row("activity_created_at_user_id_idx").contains(
            "| created (change #15) | in place although verify advised against it: consider \
             undoing it (`pgpilot rollback --change 15`)"
        ),
        "{changes}"
    );
    assert!(
        row("profiles_user_id_idx")
            .contains("| created (change #12) | in place without a measurement"),
        "{changes}"
    );
    assert!(
        md_section(&text, "Indexes to drop").contains("| dropped (change #14) |"),
        "{text}"
    );
    assert!(
        md_section(&text, "Tables to ANALYZE").contains("| analyzed (change #13) |"),
        "{text}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn plan_sections_are_numbered_and_only_when_not_empty() {
    let mut plan = fixtures::plan();
    plan.drops.clear();
    plan.analyze.clear();
    let text = handoff_markdown(&handoff(&plan, None));
    assert!(!text.contains("Indexes to drop"), "{text}");
    assert!(!text.contains("Tables to ANALYZE"), "{text}");
    assert!(
        text.contains("## 6. Queries left out of the advice"),
        "{text}"
    );
    assert!(text.contains("## 7. Rollback procedure"), "{text}");
    assert!(text.contains("## 8. Next steps"), "{text}");
    plan.skipped.clear();
    let text = handoff_markdown(&handoff(&plan, None));
    assert!(text.contains("## 6. Rollback procedure"), "{text}");
    let html = handoff_html(&handoff(&plan, None));
    for id in ["drops", "analyze", "skipped"] {
        assert!(!html.contains(&format!("id=\"{id}\"")), "{id}");
        assert!(!html.contains(&format!("href=\"#{id}\"")), "{id}");
    }
    let plan = every_status_plan();
    let text = handoff_markdown(&handoff(&plan, None));
    let order: Vec<usize> = [
        "## 1. Status",
        "## 3. What was changed and why",
        "## 5. Per-query before/after",
        "## 6. Indexes to drop",
        "## 7. Tables to ANALYZE",
        "## 8. Queries left out of the advice",
        "## 9. Rollback procedure",
        "## 10. Next steps",
    ]
    .iter()
    .map(|h| text.find(h).unwrap_or(usize::MAX))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}\n{text}");
}

#[test]
fn many_skipped_queries_are_cut() {
    let mut plan = fixtures::plan();
    plan.skipped = (0..25)
        .map(|i| SkippedQuery {
            query: format!("SELECT * FROM t{i} WHERE id = $1"),
            reason: "relation does not exist".into(),
        })
        .collect();
    let text = handoff_markdown(&handoff(&plan, None));
    let skipped = md_section(&text, "Queries left out of the advice");
    assert!(
        skipped.contains("`SELECT * FROM t19 WHERE id = $1`"),
        "{skipped}"
    );
    assert!(!skipped.contains("FROM t20 "), "{skipped}");
    assert!(
        skipped.contains("… and 5 more (see the plan file)."),
        "{skipped}"
    );
}

#[test]
fn no_plan_and_no_journal_claims_nothing() {
    let plan = fixtures::plan();
    let h = Handoff {
        plan: None,
        ..handoff(&plan, None)
    };
    let text = handoff_markdown(&h);
    assert!(text.contains(JOURNAL_NOT_READ), "{text}");
    assert!(
        text.contains("No plan given, and the apply journal was not read"),
        "{text}"
    );
    assert!(!text.contains("nothing was changed"), "{text}");
    assert!(
        text.contains(
            "`pgpilot rollback --db <URL> --last --approve` undoes the most recently applied plan"
        ),
        "{text}"
    );
    let html = handoff_html(&h);
    assert!(html.contains("changes applied<b>unknown</b>"), "{html}");
}

/// The HTML between two section openings.
fn html_between<'t>(html: &'t str, from: &str, to: &str) -> &'t str {
    let start = html.find(&format!("<section id=\"{from}\">")).unwrap_or(0);
    let end = html
        .find(&format!("<section id=\"{to}\">"))
        .unwrap_or(html.len());
    html.get(start..end).unwrap_or("")
}

#[test]
fn html_of_the_plan_sections() {
    let plan = every_status_plan();
    let changes = applied_then_rolled_back(&plan);
    let html = handoff_html(&handoff(&plan, Some(&changes)));
    for id in ["drops", "analyze", "skipped"] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        assert!(html.contains(&format!("<li><a href=\"#{id}\">")), "{id}");
    }
    assert_eq!(
        html.matches("<section").count(),
        html.matches("</section>").count()
    );
    assert!(html.contains("<span class=\"pill bad\">REGRESSION</span>"));
    assert!(html.contains("<span class=\"pill warn\">no gain</span>"));
    assert!(html.contains("<h2>9. Rollback procedure</h2>"));
    let verification = html_between(&html, "changes", "metrics");
    let verification = verification
        .find("<h3>Verification")
        .and_then(|i| verification.get(i..))
        .unwrap_or("");
    let verification = verification.split("<figure>").next().unwrap_or("");
    insta::assert_snapshot!(
        "html_plan_sections",
        format!("{verification}{}", html_between(&html, "drops", "rollback"))
    );
}

#[test]
fn html_escapes_the_plan_sections() {
    let mut plan = every_status_plan();
    plan.drops[0].detail = "<script>alert('drop')</script>".into();
    plan.drops[0].recreate_ddl = "CREATE INDEX \"<b>x</b>\" ON t (a)".into();
    plan.skipped[0].reason = "<img src=x onerror=alert(1)>".into();
    plan.skipped[0].query = "SELECT '<i>' & 1".into();
    plan.analyze[0] = "public.\"<u>\"".into();
    if let Some(v) = plan.recommendations[2].verification.as_mut() {
        v.note = "<b>bold</b> & `code`".into();
    }
    let html = handoff_html(&handoff(&plan, None));
    for raw in ["<script", "<b>bold", "<b>x", "<img", "<i>", "<u>"] {
        assert!(!html.contains(raw), "unescaped {raw}");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;drop&#39;)&lt;/script&gt;"));
    assert!(html.contains("CREATE INDEX &quot;&lt;b&gt;x&lt;/b&gt;&quot; ON t (a);"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("<code>SELECT &#39;&lt;i&gt;&#39; &amp; 1</code>"));
    assert!(html.contains("<code>ANALYZE public.&quot;&lt;u&gt;&quot;;</code>"));
    assert!(html.contains("(no gain): &lt;b&gt;bold&lt;/b&gt; &amp; `code`</li>"));
}
