//! Snapshot tests: the JSON findings of every fixture plan, and their one-line
//! summaries.

use pgpilot_plan::{analyze, Context, Finding, Plan, TableFacts};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn findings(name: &str, ctx: &Context) -> Vec<Finding> {
    let plan = Plan::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    analyze(&plan, ctx)
}

fn snapshot(name: &str) {
    let f = findings(name, &Context::default());
    let summary: Vec<String> = f.iter().map(ToString::to_string).collect();
    let json = serde_json::json!({ "summary": summary, "findings": f });
    let snap = name.replace('.', "_");
    insta::assert_json_snapshot!(snap, json);
}

macro_rules! snapshots {
    ($($test:ident => $file:literal),* $(,)?) => {
        $(#[test] fn $test() { snapshot($file); })*
    };
}

snapshots! {
    dashboard_stale => "dashboard_stale.json",
    dashboard_analyzed => "dashboard_analyzed.json",
    dashboard_indexed => "dashboard_indexed.json",
    dashboard_plain => "dashboard_plain.json",
    sort_spill => "sort_spill.json",
    hash_spill => "hash_spill.json",
    hash_spill_text => "hash_spill.txt",
    auto_explain_sort_spill => "auto_explain_sort_spill.txt",
    auto_explain_dashboard => "auto_explain_dashboard.txt",
    auto_explain_json => "auto_explain_json.json",
    nested_loop_seqscan => "nested_loop_seqscan.json",
    bitmap_lossy => "bitmap_lossy.json",
    index_only_heap_fetches => "index_only_heap_fetches.json",
    low_cache_hit => "low_cache_hit.json",
    workers_not_launched => "workers_not_launched.json",
    jit_heavy => "jit_heavy.json",
    planning_heavy => "planning_heavy.json",
    users_status_filter => "users_status_filter.json",
}

#[test]
fn stale_statistics_context_names_analyze() {
    let ctx = Context::default().with_table(
        "users",
        TableFacts {
            live_rows: Some(200_000.0),
            mod_since_analyze: Some(199_000.0),
            last_analyze_age_secs: Some(86_400.0 * 30.0),
            never_analyzed: false,
        },
    );
    let f = findings("dashboard_stale.json", &ctx);
    let mis = f
        .iter()
        .find(|f| f.id == "plan.row_misestimate")
        .expect("a misestimate");
    insta::assert_json_snapshot!("dashboard_stale_with_context", mis);
}

#[test]
fn findings_are_ordered_by_severity_then_impact() {
    for name in ["dashboard_stale.json", "hash_spill.json", "jit_heavy.json"] {
        let f = findings(name, &Context::default());
        for w in f.windows(2) {
            assert!(
                w[0].severity > w[1].severity
                    || (w[0].severity == w[1].severity
                        && w[0].impact_ms.unwrap_or(0.0) >= w[1].impact_ms.unwrap_or(0.0)),
                "{name}: {} before {}",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn finding_json_has_the_issue_keys() {
    let f = findings("dashboard_stale.json", &Context::default());
    let v = serde_json::to_value(&f[0]).expect("serializable");
    for key in [
        "id",
        "severity",
        "table",
        "columns",
        "query",
        "evidence",
        "explanation",
        "fix_sql",
        "node",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let back: Finding = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, f[0]);
}
