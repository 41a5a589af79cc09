//! The explain runner and diagnosis against real PostgreSQL clusters started by
//! the tests: the ADX Core demo's problems are found, and the runner is safe (writes
//! rolled back, DDL refused, failures reported per query with the connection
//! still usable).

use std::time::Duration;

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::explain::{FailureKind, PlanMode, TxMode};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{
    catalog_facts, diagnose_query, explain, table_facts, ConnSpec, Diagnosis, ExplainOptions,
    ExplainOutcome,
};
use pgpilot_demo::{load, DemoConfig, WORKLOAD_TOML};

async fn connect(cluster: &Cluster, db: &str) -> (ConnSpec, Client) {
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    let client = spec.connect().await.expect("connect");
    (spec, client)
}

/// The SQL of a named query of the demo workload, verbatim.
fn workload_sql(name: &str) -> String {
    let doc: toml::Value = toml::from_str(WORKLOAD_TOML).expect("workload TOML");
    doc.get("query")
        .and_then(|q| q.as_array())
        .and_then(|qs| {
            qs.iter()
                .find(|q| q.get("name").and_then(|n| n.as_str()) == Some(name))
        })
        .and_then(|q| q.get("sql"))
        .and_then(|s| s.as_str())
        .unwrap_or_else(|| panic!("query {name} in adx-core.toml"))
        .to_string()
}

fn ids(d: &Diagnosis) -> Vec<&str> {
    d.findings.iter().map(|f| f.id.as_str()).collect()
}

fn failed(o: &ExplainOutcome) -> &pgpilot_db::explain::ExplainFailure {
    match o {
        ExplainOutcome::Failed(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn still_usable(client: &Client) {
    let row = client
        .query_one("SELECT 40 + 2", &[])
        .await
        .expect("usable");
    assert_eq!(row.get::<_, i32>(0), 42);
    // SAVEPOINT outside a transaction block fails: no transaction was left open.
    let err = client
        .batch_execute("SAVEPOINT pgpilot_probe")
        .await
        .expect_err("no transaction open");
    assert_eq!(err.code().map(|c| c.code()), Some("25P01"), "{err}");
}

/// At scale 0.01 only ~300 users signed up in the last 30 days, below
/// `plan.top_n_sort`'s 1000-row minimum; scale 0.05 gives ~1500 rows to sort.
const SCALE: f64 = 0.05;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adx_demo_problems_are_diagnosed() {
    // Without HypoPG: this test is about the plan rules; with it, the what-if
    // index advice replaces their CREATE INDEX findings (explain_index_advice.rs).
    let cluster = Cluster::start(ClusterOptions {
        extensions: vec!["pg_stat_statements".into()],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster");
    cluster.create_database("adx").expect("create database");
    let (spec, client) = connect(&cluster, "adx").await;
    let cfg = DemoConfig {
        scale: SCALE,
        seed: 42,
    };
    load(&spec, &cfg, &|_| {}).await.expect("load the demo");
    let opts = ExplainOptions::default();

    // The dashboard query, verbatim: the top-N sort on users.last_login DESC.
    let dashboard = workload_sql("dashboard");
    let d = diagnose_query(&client, &dashboard, &[], &opts)
        .await
        .expect("diagnose");
    assert!(d.plan.is_some(), "{:?}", d.outcome);
    let sort = d
        .findings
        .iter()
        .find(|f| f.id == "plan.top_n_sort")
        .unwrap_or_else(|| panic!("top-N sort in {:?}", ids(&d)));
    assert_eq!(sort.table.as_deref(), Some("users"));
    assert_eq!(sort.columns, ["last_login"]);
    assert_eq!(sort.evidence["sort_keys"][0], "users.last_login DESC");
    assert!(sort
        .query
        .as_deref()
        .is_some_and(|q| q.contains("LIMIT 50")));
    // table_facts feeds the plan rules: the misestimate names the stale statistics.
    assert!(
        d.findings.iter().any(|f| f.id == "plan.row_misestimate"
            && f.table.as_deref() == Some("users")
            && f.explanation.contains("stale statistics")),
        "{:#?}",
        d.findings
    );

    // The 7-day report: the audit_logs seq scan discards most rows; index "timestamp".
    let report = workload_sql("report_actions_7d");
    let d = diagnose_query(&client, &report, &[], &opts)
        .await
        .expect("diagnose");
    let filter = d
        .findings
        .iter()
        .find(|f| f.id == "plan.filter_removes_most_rows")
        .unwrap_or_else(|| panic!("filter finding in {:?}", ids(&d)));
    assert_eq!(filter.table.as_deref(), Some("audit_logs"));
    assert!(
        filter.columns.iter().any(|c| c == "timestamp"),
        "{filter:#?}"
    );
    assert!(filter
        .fix_sql
        .as_deref()
        .is_some_and(|s| s.contains("audit_logs (\"timestamp\")")));

    // The needless DISTINCT, with a real parameter sample.
    let distinct = workload_sql("recent_signups_distinct");
    let d = diagnose_query(&client, &distinct, &[Some("active".into())], &opts)
        .await
        .expect("diagnose");
    assert!(
        matches!(&d.outcome, ExplainOutcome::Explained(p) if p.mode == PlanMode::Custom && p.analyzed),
        "{:?}",
        d.outcome
    );
    let lint = d
        .findings
        .iter()
        .find(|f| f.id == "lint.needless_distinct")
        .unwrap_or_else(|| panic!("needless DISTINCT in {:?}", ids(&d)));
    assert!(lint
        .fix_sql
        .as_deref()
        .is_some_and(|q| q.starts_with("SELECT u.id")));

    // Facts: stale statistics of the baseline, keys and column counts.
    let ctx = table_facts(&client, &["users".into(), "audit_logs".into()])
        .await
        .expect("table facts");
    let users = ctx.table(None, "users").expect("users facts");
    assert!(users.stats_stale(), "{users:?}");
    let cat = catalog_facts(&client, &[]).await.expect("catalog facts");
    let u = cat.table("users").expect("users catalog");
    assert_eq!(u.column_count, 14);
    assert!(u
        .unique_keys
        .iter()
        .any(|k| k.primary && k.columns == ["id"]));
    assert!(u
        .unique_keys
        .iter()
        .any(|k| k.columns == ["email"] && k.not_null));
    assert!(cat
        .table("profiles")
        .is_some_and(|p| !p.has_index_leading_on("user_id")));
}

async fn small_db() -> (Cluster, Client) {
    let cluster = Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("cluster");
    let (_, client) = connect(&cluster, "postgres").await;
    client
        .batch_execute(
            "CREATE TABLE t (id int PRIMARY KEY, name text, tags int[]);
             INSERT INTO t SELECT g, 'n' || g, ARRAY[g] FROM generate_series(1, 100) g;
             CREATE INDEX t_lower ON t ((lower(name)));
             ANALYZE t;",
        )
        .await
        .expect("setup");
    (cluster, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_rolled_back_and_failures_are_clear() {
    let (cluster, client) = small_db().await;
    let opts = ExplainOptions::default();

    // UPDATE with ANALYZE: executed, then rolled back.
    let o = explain(
        &client,
        "UPDATE t SET name = 'changed' WHERE id = $1",
        &[Some("7".into())],
        &opts,
    )
    .await
    .expect("explain");
    let p = o.plan().unwrap_or_else(|| panic!("{o:?}"));
    assert!(p.analyzed);
    assert_eq!(p.transaction, TxMode::ReadWriteRolledBack);
    assert!(p.plan_json.contains("\"Actual Rows\""), "{}", p.plan_json);
    let name: String = client
        .query_one("SELECT name FROM t WHERE id = 7", &[])
        .await
        .expect("read")
        .get(0);
    assert_eq!(name, "n7");
    // DELETE and INSERT too.
    for sql in ["DELETE FROM t", "INSERT INTO t VALUES (1000, 'x')"] {
        let o = explain(&client, sql, &[], &opts).await.expect("explain");
        assert!(o.plan().is_some(), "{sql}: {o:?}");
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 100);

    // Parameters: arrays, NULLs, casts; a SELECT runs read-only.
    let o = explain(
        &client,
        "SELECT * FROM t WHERE id = ANY($1) AND name IS DISTINCT FROM $2 AND tags @> $3",
        &[Some("{1,2,3}".into()), None, Some("{2}".into())],
        &opts,
    )
    .await
    .expect("explain");
    let p = o.plan().unwrap_or_else(|| panic!("{o:?}"));
    assert_eq!(p.transaction, TxMode::ReadOnly);
    assert_eq!(p.mode, PlanMode::Custom);
    // FOR UPDATE is refused by a read-only transaction: retried and rolled back.
    let o = explain(
        &client,
        "SELECT * FROM t WHERE id = 1 FOR UPDATE",
        &[],
        &opts,
    )
    .await
    .expect("explain");
    assert_eq!(
        o.plan().map(|p| p.transaction),
        Some(TxMode::ReadWriteRolledBack),
        "{o:?}"
    );

    // No sample: the labelled generic plan, never executed; or "no samples".
    let o = explain(&client, "SELECT * FROM t WHERE id = $1", &[], &opts)
        .await
        .expect("explain");
    let p = o.plan().unwrap_or_else(|| panic!("{o:?}"));
    assert_eq!((p.mode, p.analyzed), (PlanMode::Generic, false));
    assert!(p.plan_json.contains("$1"), "{}", p.plan_json);
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'pgpilot_explain_generic'",
            &[],
        )
        .await
        .expect("prepared statements")
        .get(0);
    assert_eq!(left, 0, "the generic plan's prepared statement is removed");
    let strict = ExplainOptions {
        generic_fallback: false,
        ..ExplainOptions::default()
    };
    let o = explain(&client, "SELECT * FROM t WHERE id = $1", &[], &strict)
        .await
        .expect("explain");
    assert_eq!(
        o,
        ExplainOutcome::NoSamples {
            expected: 1,
            given: 0
        }
    );

    // Production mode: nothing executed.
    let no_analyze = ExplainOptions {
        analyze: false,
        ..ExplainOptions::default()
    };
    let o = explain(&client, "DELETE FROM t WHERE id = 1", &[], &no_analyze)
        .await
        .expect("explain");
    let p = o.plan().unwrap_or_else(|| panic!("{o:?}"));
    assert!(!p.analyzed && !p.plan_json.contains("Actual Rows"));

    // DDL is refused, before anything is sent.
    for sql in ["DROP TABLE t", "VACUUM t", "SET work_mem = '1GB'", "COMMIT"] {
        let o = explain(&client, sql, &[], &opts).await.expect("explain");
        assert!(matches!(o, ExplainOutcome::Refused { .. }), "{sql}: {o:?}");
    }
    still_usable(&client).await;

    // Failures: syntax, missing table, bad parameter, timeout — each a clear outcome.
    let f = failed(
        &explain(&client, "SELEC 1", &[], &opts)
            .await
            .expect("explain"),
    )
    .clone();
    assert_eq!(f.kind, FailureKind::Syntax);
    let f = failed(
        &explain(&client, "SELECT * FROM missing_table", &[], &opts)
            .await
            .expect("explain"),
    )
    .clone();
    assert_eq!(
        (f.kind, f.sqlstate.as_deref()),
        (FailureKind::UndefinedObject, Some("42P01"))
    );
    assert!(f.message.contains("missing_table"), "{f}");
    still_usable(&client).await;
    let f = failed(
        &explain(
            &client,
            "SELECT * FROM t WHERE id = $1",
            &[Some("not a number".into())],
            &opts,
        )
        .await
        .expect("explain"),
    )
    .clone();
    assert_eq!(f.kind, FailureKind::BadParameter, "{f}");
    let short = ExplainOptions {
        timeout: Duration::from_millis(100),
        ..ExplainOptions::default()
    };
    let f = failed(
        &explain(&client, "SELECT pg_sleep(5)", &[], &short)
            .await
            .expect("explain"),
    )
    .clone();
    assert_eq!(
        (f.kind, f.sqlstate.as_deref()),
        (FailureKind::Timeout, Some("57014"))
    );
    still_usable(&client).await;

    // Permission denied, as a role without access to t.
    client
        .batch_execute("CREATE ROLE nopriv LOGIN")
        .await
        .expect("role");
    let spec = ConnSpec::parse(&format!(
        "postgres://nopriv@127.0.0.1:{}/postgres",
        cluster.port()
    ))
    .expect("spec");
    let other = spec.connect().await.expect("connect as nopriv");
    let f = failed(
        &explain(&other, "SELECT * FROM t", &[], &opts)
            .await
            .expect("explain"),
    )
    .clone();
    assert_eq!(f.kind, FailureKind::Permission, "{f}");
    still_usable(&other).await;

    // The lints see the expression index: lower(name) is sargable here.
    let d = diagnose_query(
        &client,
        "SELECT id FROM t WHERE lower(name) = $1",
        &[Some("n1".into())],
        &opts,
    )
    .await
    .expect("diagnose");
    assert!(!ids(&d).contains(&"lint.non_sargable"), "{:?}", ids(&d));
    let d = diagnose_query(
        &client,
        "SELECT id FROM t WHERE id::text = $1",
        &[Some("1".into())],
        &opts,
    )
    .await
    .expect("diagnose");
    assert!(ids(&d).contains(&"lint.non_sargable"), "{:?}", ids(&d));
}

/// Statements as the workload reader normalizes them from an extended-protocol
/// log (parameters of their own plus inline literals, typed literals, `extract`
/// fields) are explained with their own bound values followed by their literals;
/// parameters whose type the server cannot infer (`jsonb_build_object($6, …)`)
/// are declared `text`, for custom and generic plans alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalized_workload_statements_are_explained() {
    let (_cluster, client) = small_db().await;
    client
        .batch_execute(
            "CREATE TABLE users (id bigint PRIMARY KEY, email text, status text,
                                 created_at timestamptz NOT NULL DEFAULT now());
             INSERT INTO users SELECT g, 'u' || g, 'active', now() - g * interval '1 hour'
               FROM generate_series(1, 500) g;
             CREATE TABLE sessions (user_id bigint, token text, expires_at timestamptz, data jsonb);
             CREATE TABLE audit_logs (user_id bigint, action text, entity text, entity_id bigint,
                                      details jsonb, ip inet);
             ANALYZE;",
        )
        .await
        .expect("schema");
    let opts = ExplainOptions::default();
    let mut normalizer = pgpilot_sql::Normalizer::new();
    let bound =
        |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some((*s).to_string())).collect() };
    let cases: [(&str, Vec<Option<String>>); 4] = [
        (
            "SELECT DISTINCT u.id, u.email FROM users u WHERE u.created_at > NOW() - INTERVAL '7 days' AND u.status = $1 ORDER BY u.id",
            bound(&["active"]),
        ),
        (
            "INSERT INTO sessions (user_id, token, expires_at, data) VALUES ($1, md5($2), NOW() + INTERVAL '30 days', '{\"a\": 1}')",
            bound(&["7", "secret"]),
        ),
        (
            "SELECT extract(day FROM created_at), count(*) FROM users WHERE status = $1 AND created_at > date '2020-01-01' GROUP BY 1",
            bound(&["active"]),
        ),
        (
            "INSERT INTO audit_logs (user_id, action, entity, entity_id, details, ip) VALUES ($1, $2, $3, $4, jsonb_build_object('status', 'shipped', 'items', '2'), '10.0.0.1'::inet + $5)",
            bound(&["7", "update", "order", "42", "3"]),
        ),
    ];
    for (sql, own) in cases {
        let a = normalizer.analyze(sql);
        let params = a.full_params(&own).unwrap_or_else(|| panic!("{a:?}"));
        let o = explain(&client, &a.normalized, &params, &opts)
            .await
            .expect("explain");
        let p = o
            .plan()
            .unwrap_or_else(|| panic!("{} -> {o:?}", a.normalized));
        assert_eq!((p.mode, p.analyzed), (PlanMode::Custom, true));
        // Without values: the generic plan, with the same declarations.
        let o = explain(&client, &a.normalized, &[], &opts)
            .await
            .expect("explain");
        assert_eq!(
            o.plan().map(|p| p.mode),
            Some(PlanMode::Generic),
            "{} -> {o:?}",
            a.normalized
        );
    }
    let audit = normalizer.analyze(
        "INSERT INTO audit_logs (user_id, action, entity, entity_id, details, ip) VALUES ($1, $2, $3, $4, jsonb_build_object('status', 'x', 'items', '3'), '10.0.0.2'::inet + $5)",
    );
    assert!(
        audit
            .normalized
            .contains("jsonb_build_object($6, $7, $8, $9)"),
        "{}",
        audit.normalized
    );
    // Everything was rolled back.
    let rows: i64 = client
        .query_one(
            "SELECT (SELECT count(*) FROM sessions) + (SELECT count(*) FROM audit_logs)",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0);
    // A bad value for an inferred parameter is still reported as such.
    let params = audit
        .full_params(&bound(&["7", "update", "order", "42", "not a number"]))
        .expect("aligned");
    let f = failed(
        &explain(&client, &audit.normalized, &params, &opts)
            .await
            .expect("explain"),
    )
    .clone();
    assert_eq!(f.kind, FailureKind::BadParameter, "{f}");
    still_usable(&client).await;
}
