//! The plan model: every fixture loads, JSON and text agree, time attribution,
//! lenient reading of unknown or mistyped fields, and no input panics.

use pgpilot_plan::{analyze, Context, Plan, PlanError, PlanSource, PlanTree};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn plan(name: &str) -> Plan {
    Plan::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_fixture_loads() {
    let dir = format!("{}/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("json" | "txt")
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let p = Plan::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!p.root.node_type.is_empty(), "{}", path.display());
        count += 1;
    }
    assert!(count >= 25);
}

#[test]
fn reads_analyze_buffers_settings_fields() {
    let p = plan("dashboard_stale.json");
    assert_eq!(p.source, PlanSource::Json);
    assert!(p.is_analyzed());
    assert!(p.planning_time_ms.is_some() && p.execution_time_ms.is_some());
    assert_eq!(p.settings.get("jit").map(String::as_str), Some("off"));
    let nodes = p.nodes();
    let scan = nodes
        .iter()
        .find(|r| r.node.relation_name.as_deref() == Some("users"))
        .expect("users scan");
    assert_eq!(scan.node.alias.as_deref(), Some("u"));
    assert_eq!(scan.node.parallel_aware, Some(true));
    assert_eq!(scan.node.rows_removed_by_filter, Some(99500.0));
    assert_eq!(scan.node.total_rows(), Some(1000.0));
    assert_eq!(scan.depth, 5);
    assert_eq!(scan.path, [0, 0, 0, 0, 0]);
    let parent = nodes[scan.parent.expect("parent")].node;
    assert_eq!(parent.node_type, "Hash Join");
    let sort = nodes
        .iter()
        .find(|r| r.node.node_type == "Sort")
        .expect("sort");
    assert_eq!(sort.node.sort_key, ["u.last_login DESC"]);
    assert_eq!(sort.node.sort_method.as_deref(), Some("top-N heapsort"));
    assert_eq!(sort.node.workers.len(), 1);
    let hash = nodes
        .iter()
        .find(|r| r.node.node_type == "Hash")
        .expect("hash");
    assert_eq!(hash.node.hash_batches, Some(1.0));
    assert_eq!(hash.node.peak_memory_usage, Some(303.0));
    // Known-but-unmodelled fields are kept.
    assert!(p.root.extra.contains_key("Async Capable"));
}

#[test]
fn reads_plain_explain_without_actuals() {
    let p = plan("dashboard_plain.json");
    assert!(!p.is_analyzed());
    assert_eq!(p.runtime_ms(), None);
    for r in p.nodes() {
        assert!(r.node.actual_rows.is_none() && r.node.total_rows().is_none());
        assert!(r.node.plan_rows.is_some() && r.node.total_cost.is_some());
    }
    let tree = PlanTree::new(&p);
    assert_eq!(tree.exclusive_ms(0), None);
}

#[test]
fn reads_jit_and_verbose() {
    let p = plan("jit_heavy.json");
    let jit = p.jit.as_ref().expect("jit");
    assert!(jit.functions.is_some());
    assert_eq!(jit.timing.total, Some(173.978));
    let v = plan("dashboard_verbose.json");
    assert!(v.nodes().iter().any(|r| !r.node.output.is_empty()));
    assert!(v
        .nodes()
        .iter()
        .any(|r| r.node.schema.as_deref() == Some("public")));
}

#[test]
fn reads_auto_explain_json_without_outer_array() {
    let p = plan("auto_explain_json.json");
    assert!(p
        .query_text
        .as_deref()
        .is_some_and(|q| q.contains("status = 'pending'")));
    assert_eq!(p.root.node_type, "Limit");
    assert_eq!(p.settings.get("jit").map(String::as_str), Some("off"));
}

#[test]
fn text_plan_matches_json_plan() {
    let t = plan("hash_spill.txt");
    let j = plan("hash_spill.json");
    assert_eq!(t.source, PlanSource::Text);
    let tn = t.nodes();
    let jn = j.nodes();
    assert_eq!(tn.len(), jn.len());
    for (a, b) in tn.iter().zip(jn.iter()) {
        assert_eq!(a.node.node_type, b.node.node_type);
        assert_eq!(a.node.relation_name, b.node.relation_name);
        assert_eq!(a.node.plan_rows, b.node.plan_rows);
        assert_eq!(a.node.actual_rows, b.node.actual_rows);
        assert_eq!(a.node.hash_batches, b.node.hash_batches);
        assert_eq!(a.node.parent_relationship, b.node.parent_relationship);
        assert_eq!(a.path, b.path);
    }
    let hash = tn
        .iter()
        .find(|r| r.node.node_type == "Hash")
        .expect("hash");
    assert_eq!(hash.node.hash_buckets, Some(4096.0));
    assert_eq!(hash.node.peak_memory_usage, Some(102.0));
    assert_eq!(hash.node.temp_written_blocks, Some(727.0));
    assert_eq!(t.root.strategy.as_deref(), Some("Hashed"));
    assert_eq!(t.root.group_key, ["u.status"]);
    assert_eq!(t.execution_time_ms, Some(288.473));
    assert_eq!(t.settings.get("work_mem").map(String::as_str), Some("64kB"));
    assert!(t.extra.contains_key("Planning"));
}

#[test]
fn text_auto_explain_block() {
    let p = plan("auto_explain_dashboard.txt");
    assert_eq!(p.duration_ms, Some(52.162));
    assert!(p
        .query_text
        .as_deref()
        .is_some_and(|q| q.starts_with("SELECT u.*")));
    let nodes = p.nodes();
    let ix = nodes
        .iter()
        .find(|r| r.node.index_name.as_deref() == Some("profiles_user_id"))
        .expect("index scan");
    assert_eq!(ix.node.node_type, "Index Scan");
    assert_eq!(ix.node.relation_name.as_deref(), Some("profiles"));
    assert_eq!(ix.node.alias.as_deref(), Some("p"));
    assert_eq!(ix.node.actual_loops, Some(50.0));
    assert_eq!(ix.node.parent_relationship.as_deref(), Some("Inner"));
    let nl = &p.root.plans[0];
    assert_eq!(
        (nl.node_type.as_str(), nl.join_type.as_deref()),
        ("Nested Loop", Some("Left"))
    );
    let sort = nodes
        .iter()
        .find(|r| r.node.node_type == "Sort")
        .expect("sort");
    assert_eq!(sort.node.sort_space_type.as_deref(), Some("Memory"));
    assert_eq!(sort.node.sort_space_used, Some(125.0));
    // The per-worker line is not modelled: kept verbatim.
    assert!(sort
        .node
        .raw_lines
        .iter()
        .any(|l| l.starts_with("Worker 0:")));
    let memo = nodes
        .iter()
        .find(|r| r.node.node_type == "Memoize")
        .expect("memoize");
    assert!(memo.node.extra.contains_key("Cache Key"));
    let gm = nodes
        .iter()
        .find(|r| r.node.node_type == "Gather Merge")
        .expect("gather");
    assert_eq!(gm.node.workers_launched, Some(1.0));
    let seq = nodes
        .iter()
        .find(|r| r.node.is_seq_scan())
        .expect("seq scan");
    assert_eq!(seq.node.parallel_aware, Some(true));
    assert_eq!(
        seq.node.filter.as_deref(),
        Some("(created_at > (now() - '30 days'::interval))")
    );
    assert_eq!(seq.processes, 2.0);
}

#[test]
fn exclusive_times_add_up() {
    let p = plan("sort_spill.json");
    let tree = PlanTree::new(&p);
    let sum: f64 = (0..tree.nodes().len())
        .filter_map(|i| tree.exclusive_ms(i))
        .sum();
    let root = tree.inclusive_ms(0).expect("root time");
    assert!((sum - root).abs() < 1e-6, "{sum} vs {root}");
    // Parallel: 3 processes ran the scan; its wall time is not tripled.
    let p = plan("workers_launched.json");
    let tree = PlanTree::new(&p);
    let scan = tree
        .nodes()
        .iter()
        .position(|r| r.node.is_seq_scan())
        .expect("scan");
    assert_eq!(tree.nodes()[scan].processes, 3.0);
    let incl = tree.inclusive_ms(scan).expect("time");
    assert!(incl < p.execution_time_ms.expect("exec"));
}

#[test]
fn cte_subplans_are_not_subtracted_twice() {
    let json = r#"[{"Plan": {"Node Type": "CTE Scan", "CTE Name": "x", "Actual Total Time": 10.0,
        "Actual Loops": 1, "Actual Rows": 5, "Plan Rows": 5,
        "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "InitPlan",
                   "Subplan Name": "CTE x", "Relation Name": "t",
                   "Actual Total Time": 8.0, "Actual Loops": 1, "Actual Rows": 5, "Plan Rows": 5}]},
        "Execution Time": 10.5}]"#;
    let p = Plan::from_json(json).expect("plan");
    let tree = PlanTree::new(&p);
    assert_eq!(tree.exclusive_ms(0), Some(10.0));
    assert_eq!(tree.exclusive_ms(1), Some(8.0));
}

#[test]
fn unknown_and_mistyped_fields_are_tolerated() {
    let json = r#"{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t",
        "Plan Rows": "not a number", "Actual Rows": 3, "Actual Loops": 1,
        "Some Future Field": {"a": [1, 2]}, "Sort Key": "single",
        "Plans": [42, {"Node Type": "Result"}]},
        "JIT": {"Functions": 4, "Timing": {"Generation": {"Deform": 0.1, "Total": 0.5},
                "Inlining": 1, "Total": 2.5}},
        "Triggers": [{"Trigger Name": "t", "Time": 1.5, "Calls": 2}, "junk"],
        "Settings": {"work_mem": "64kB", "weird": 3},
        "Query Identifier": 123, "Planning": {"Shared Hit Blocks": 3}}"#;
    let p = Plan::from_json(json).expect("plan");
    assert_eq!(p.root.plan_rows, None);
    assert_eq!(p.root.actual_rows, Some(3.0));
    assert!(p.root.extra.contains_key("Some Future Field"));
    assert_eq!(p.root.sort_key, ["single"]);
    assert_eq!(p.root.plans.len(), 1);
    let jit = p.jit.as_ref().expect("jit");
    assert_eq!(jit.timing.generation, Some(0.5));
    assert_eq!(jit.timing.total, Some(2.5));
    assert_eq!(p.triggers.len(), 1);
    assert_eq!(p.settings.get("weird").map(String::as_str), Some("3"));
    assert!(p.extra.contains_key("Query Identifier"));
    let _ = analyze(&p, &Context::default());
    // Round trip through serde keeps the data.
    let again = Plan::from_json(&serde_json::to_string(&p).expect("ser")).expect("de");
    assert_eq!(again.root, p.root);
}

#[test]
fn psql_wrapped_json_and_errors() {
    let wrapped = " QUERY PLAN \n----------\n [                  +\n   {                +\n     \"Plan\": {     +\n       \"Node Type\": \"Result\"+\n     }              +\n   }                +\n ]\n(1 row)\n";
    let p = Plan::parse(wrapped).expect("psql output");
    assert_eq!(p.root.node_type, "Result");
    assert!(matches!(Plan::parse("  "), Err(PlanError::Empty)));
    assert!(matches!(Plan::parse("[1, 2]"), Err(PlanError::NoPlan)));
    assert!(matches!(
        Plan::parse("{\"Plan\": "),
        Err(PlanError::Json(_))
    ));
    assert!(matches!(
        Plan::from_text("Planning Time: 1 ms"),
        Err(PlanError::NoTextNode) | Ok(_)
    ));
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let mut s = String::new();
    for _ in 0..5000 {
        s.push_str("{\"Node Type\": \"Result\", \"Plans\": [");
    }
    assert!(Plan::parse(&format!("{{\"Plan\": {s}")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
        if let Ok(p) = Plan::parse(&s) {
            let _ = analyze(&p, &Context::default());
        }
    }

    #[test]
    fn truncated_or_mangled_fixtures_never_panic(cut in 0usize..4000, which in 0usize..5, junk in "[ \\t\\->():=a-z0-9]{0,20}") {
        let names = ["hash_spill.txt", "auto_explain_dashboard.txt", "dashboard_stale.json",
                     "auto_explain_sort_spill.txt", "jit_heavy.json"];
        let text = fixture(names[which]);
        let mut cut = cut.min(text.len());
        while !text.is_char_boundary(cut) { cut -= 1; }
        let mangled = format!("{}{}{}", &text[..cut], junk, &text[cut..]);
        for input in [&text[..cut], mangled.as_str()] {
            if let Ok(p) = Plan::parse(input) {
                let _ = analyze(&p, &Context::default());
                let _ = PlanTree::new(&p);
            }
        }
    }
}
