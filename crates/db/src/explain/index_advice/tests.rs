//! Unit tests of [`super`]: merging the advice with the plan rules' findings,
//! table matching and labels.

use super::*;
use pgpilot_advisor::IndexKey;

fn heuristic(id: &str, table: &str, fix: Option<&str>, severity: Severity) -> Finding {
    let mut f = Finding::new(id, severity, id.into(), String::new());
    f.table = Some(table.into());
    f.fix_sql = fix.map(str::to_string);
    f.impact_ms = Some(40.0);
    f
}

fn advice_on(qualified: &str) -> Finding {
    let mut f = Finding::new(ID, Severity::Info, "advice".into(), "E.".into());
    f.table = qualified.rsplit('.').next().map(str::to_string);
    f.evidence.insert(
        "tables_qualified".into(),
        Value::Array(vec![Value::from(qualified)]),
    );
    f
}

#[test]
fn advice_replaces_the_plan_rules_index_suggestions_on_its_table_only() {
    let mut findings = vec![
        heuristic(
            "plan.filter_removes_most_rows",
            "orders",
            Some("CREATE INDEX CONCURRENTLY idx_orders_status ON orders (status);"),
            Severity::Critical,
        ),
        heuristic(
            "plan.top_n_sort",
            "orders",
            Some("create index concurrently idx_orders_created_at ON orders (created_at);"),
            Severity::Warning,
        ),
        // Another table, a finding without DDL, a lint with DDL: all kept.
        heuristic(
            "plan.filter_removes_most_rows",
            "customers",
            Some("CREATE INDEX CONCURRENTLY idx_customers_x ON customers (x);"),
            Severity::Warning,
        ),
        heuristic("plan.row_misestimate", "orders", None, Severity::Warning),
        heuristic(
            "lint.non_sargable",
            "orders",
            Some("CREATE INDEX CONCURRENTLY i ON orders ((lower(note)));"),
            Severity::Warning,
        ),
        // The same name in another schema, printed qualified: kept.
        heuristic(
            "plan.filter_removes_most_rows",
            "archive.orders",
            Some("CREATE INDEX CONCURRENTLY i ON archive.orders (status);"),
            Severity::Warning,
        ),
    ];
    merge(&mut findings, Some(advice_on("public.orders")));
    let kept: Vec<(&str, Option<&str>)> = findings
        .iter()
        .map(|f| (f.id.as_str(), f.table.as_deref()))
        .collect();
    assert_eq!(
        kept,
        [
            ("plan.filter_removes_most_rows", Some("customers")),
            ("plan.row_misestimate", Some("orders")),
            ("lint.non_sargable", Some("orders")),
            ("plan.filter_removes_most_rows", Some("archive.orders")),
            (ID, Some("orders")),
        ]
    );
    let a = findings.last().expect("advice");
    assert_eq!(
        a.severity,
        Severity::Critical,
        "takes the replaced severity"
    );
    assert_eq!(a.impact_ms, Some(40.0));
    assert_eq!(
        a.evidence["replaces"],
        serde_json::json!(["plan.filter_removes_most_rows", "plan.top_n_sort"])
    );
    assert!(a.explanation.contains("replaces"), "{}", a.explanation);
}

#[test]
fn without_advice_nothing_changes() {
    let mut findings = vec![heuristic(
        "plan.filter_removes_most_rows",
        "orders",
        Some("CREATE INDEX CONCURRENTLY idx_orders_status ON orders (status);"),
        Severity::Warning,
    )];
    let before = findings.clone();
    merge(&mut findings, None);
    assert_eq!(findings, before);
}

#[test]
fn tables_match_with_or_without_schema_and_quotes() {
    assert!(same_table("public.orders", "orders"));
    assert!(same_table("public.orders", "public.orders"));
    assert!(same_table("Sales.Order Lines", "\"Sales\".\"Order Lines\""));
    assert!(!same_table("public.orders", "archive.orders"));
    assert!(!same_table("public.orders", "orders_2024"));
}

#[test]
fn labels_read_like_the_ddl() {
    let mut d = IndexDef::btree("public", "orders", vec![IndexKey::column("created_at")]);
    d.predicate = Some("status = 'pending'".into());
    assert_eq!(label(&d), "orders (created_at) WHERE status = 'pending'");
    let mut e = IndexDef::btree(
        "crm",
        "customers",
        vec![IndexKey::expression("lower(email)")],
    );
    e.include = vec!["name".into()];
    assert_eq!(label(&e), "crm.customers (lower(email)) INCLUDE (name)");
}

fn rec(def: IndexDef, size: u64, before: f64, after: f64) -> Recommendation {
    let name = def.suggested_name();
    Recommendation {
        ddl: def.create_sql(&name, true, true),
        rollback_ddl: def.drop_sql(&name),
        name,
        table: def.qualified_table(),
        columns: def.key_labels(),
        kind: def.kind(),
        index: def,
        size_bytes: size,
        queries: vec![pgpilot_advisor::ServedQuery {
            query: "SELECT …".into(),
            id: "explain".into(),
            calls: 1.0,
            cost_before: before,
            cost_after: after,
        }],
        benefit: before - after,
        write_overhead: 0.0,
        reason: String::new(),
        alternatives: vec![
            "public.users (created_at) INCLUDE (email): cost 60 vs 50 per call".into(),
            "public.profiles (user_id, bio): cost 70 vs 50 per call".into(),
        ],
        verification: None,
    }
}

fn advice_of(recommendations: Vec<Recommendation>) -> Advice {
    Advice {
        recommendations,
        workload_cost_before: 0.0,
        workload_cost_after: 0.0,
        skipped: Vec::new(),
        whatif_plans: 12,
        candidates_considered: 5,
        notes: vec!["what-if estimates for public.users rely on stale statistics".into()],
    }
}

#[test]
fn indexes_recommended_together_make_one_finding() {
    let users = IndexDef::btree("public", "users", vec![IndexKey::column("created_at")]);
    let profiles = IndexDef::btree("public", "profiles", vec![IndexKey::column("user_id")]);
    let advice = advice_of(vec![
        rec(users, 1000, 4900.0, 50.0),
        rec(profiles, 3000, 4900.0, 50.0),
    ]);
    let f = finding(&advice, None).expect("a finding");
    assert_eq!(
        f.title,
        "Indexes on users (created_at) and profiles (user_id) would cut this query's \
         estimated cost 98 %"
    );
    assert_eq!(f.table.as_deref(), Some("users"));
    let ddl = f.fix_sql.as_deref().unwrap_or_default();
    assert_eq!(ddl.lines().count(), 2, "{ddl}");
    assert!(ddl
        .lines()
        .all(|l| l.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS")));
    assert_eq!(f.evidence["estimated_size_bytes"], 4000);
    assert_eq!(
        f.evidence["tables_qualified"],
        serde_json::json!(["public.users", "public.profiles"])
    );
    // Each recommendation keeps only the runners-up of its own table.
    assert_eq!(
        f.evidence["alternatives"],
        serde_json::json!([
            "public.users (created_at) INCLUDE (email): cost 60 vs 50 per call",
            "public.profiles (user_id, bio): cost 70 vs 50 per call"
        ])
    );
    assert!(f.explanation.contains("these indexes together"));
    assert!(f.explanation.contains("stale statistics"));
    // Not executed, estimated at 4900: a warning.
    assert_eq!(f.severity, Severity::Warning);

    // Both tables' plan-rule suggestions are replaced.
    let mut findings = vec![
        heuristic(
            "plan.top_n_sort",
            "users",
            Some("CREATE INDEX CONCURRENTLY i ON users (last_login DESC);"),
            Severity::Warning,
        ),
        heuristic(
            "plan.nested_loop_inner_scan",
            "profiles",
            Some("CREATE INDEX CONCURRENTLY i ON profiles (user_id);"),
            Severity::Warning,
        ),
    ];
    findings[1].severity = Severity::Critical;
    merge(&mut findings, Some(f));
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].id, ID);
    // Shown on the table the plan rules flagged most.
    assert_eq!(findings[0].table.as_deref(), Some("profiles"));
    assert_eq!(findings[0].columns, ["user_id"]);
    assert_eq!(findings[0].severity, Severity::Critical);
}

#[test]
fn a_small_cut_or_a_cheap_statement_is_not_a_warning() {
    let orders = || IndexDef::btree("public", "orders", vec![IndexKey::column("status")]);
    // Below the advisor's default minimum gain: nothing.
    assert!(finding(&advice_of(vec![rec(orders(), 10, 100.0, 95.0)]), None).is_none());
    assert!(finding(&advice_of(Vec::new()), None).is_none());
    // A big relative cut of a cheap statement: information only.
    let f = finding(&advice_of(vec![rec(orders(), 10, 40.0, 8.0)]), None).expect("finding");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.title.starts_with("An index on orders (status) would cut"),
        "{}",
        f.title
    );
    assert!(
        f.explanation.contains("With this index"),
        "{}",
        f.explanation
    );
}

#[test]
fn a_missing_index_finding_without_ddl_is_kept_and_lifts_the_advice() {
    let mut findings = vec![
        heuristic(
            "plan.filter_removes_most_rows",
            "customers",
            None,
            Severity::Critical,
        ),
        heuristic("plan.row_misestimate", "customers", None, Severity::Warning),
    ];
    merge(&mut findings, Some(advice_on("public.customers")));
    let ids: Vec<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(
        ids,
        ["plan.filter_removes_most_rows", "plan.row_misestimate", ID]
    );
    assert_eq!(findings[2].severity, Severity::Critical);
    assert!(!findings[2].evidence.contains_key("replaces"));
}
