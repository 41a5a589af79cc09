//! Parameters that normalization made of numeric literals, against a real
//! throwaway cluster: `$1 + $2`, `generate_series($1, $2)` and the QA workload's
//! `now() - (($2 + $5) || $6)::interval` cannot be prepared with every parameter
//! unspecified (42725, `unknown + unknown`); the explain path and both what-if
//! planners declare the parameters at the failing operator or call with the type
//! their sampled values have as literals and get a plan, with the values planned
//! as the original constants, and `verify` measures such a statement (one
//! prepared statement for all its samples: their widest literal type).
//! Statements that prepare as they are keep their inferred types (a text column
//! compared with `"123"` stays text).

use pgpilot_advisor::{Config, IndexDef, IndexKey, WhatIf, WhatIfError};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::explain::{ExplainedPlan, PlanMode};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{verify_plan, VerifyOptions, WhatIfOptions};

mod verify_support;
use pgpilot_db::{explain, ConnSpec, ExplainOptions, ExplainOutcome, HypoWhatIf, RealTxWhatIf};

const SCHEMA: &str = "
CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO orders SELECT g, g, now() - g * interval '1 minute' FROM generate_series(1, 20000) g;
CREATE TABLE products (id bigint PRIMARY KEY, category text NOT NULL);
INSERT INTO products SELECT g, 'cat' || g % 7 FROM generate_series(1, 100) g;
CREATE TABLE order_items (order_id bigint NOT NULL, product_id bigint NOT NULL, qty int NOT NULL);
INSERT INTO order_items SELECT g % 20000 + 1, g % 100 + 1, g % 5 + 1 FROM generate_series(1, 40000) g;
CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g;
";

const SUM_GT: &str = "SELECT count(*) FROM orders WHERE total > $1 + $2";
const SERIES: &str = "SELECT * FROM generate_series($1, $2)";
/// The QA workload's heaviest report, normalized: `$2 + $5` were `10 + 5`, `$6`
/// a quoted `' days'`; the other parameters are inferred from their columns.
const REPORT: &str = "SELECT p.category, sum(oi.qty) FROM order_items oi \
    JOIN orders o ON o.id = oi.order_id JOIN products p ON p.id = oi.product_id \
    WHERE o.created_at > now() - (($2 + $5) || $6)::interval AND oi.qty >= $1 \
      AND p.category <> $3 \
    GROUP BY p.category ORDER BY sum(oi.qty) DESC LIMIT $4";
const BY_NAME: &str = "SELECT * FROM t WHERE name = $1";
/// Only the parameters at the failing `+` may be declared: `$1`, a text column's
/// numeric-looking value, declared int4 would fail (`text = integer`).
const MIXED: &str = "SELECT count(*) FROM t WHERE name = $1 AND id > $2 + $3";

fn p(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_string())).collect()
}

fn report_params() -> Vec<Option<String>> {
    p(&["1", "10", "cat3", "10", "5", " days"])
}

fn setup(db: &str) -> (Cluster, ConnSpec) {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start a PostgreSQL cluster");
    cluster.create_database(db).expect("create database");
    cluster.psql(db, SCHEMA).expect("load the schema");
    cluster.psql(db, "VACUUM ANALYZE").expect("vacuum analyze");
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    (cluster, spec)
}

fn explained(o: &ExplainOutcome) -> &ExplainedPlan {
    match o {
        ExplainOutcome::Explained(p) => p,
        other => panic!("expected a plan, got {other:?}"),
    }
}

/// The SQLSTATE of preparing `sql` with every parameter unspecified.
async fn untyped_prepare_error(client: &Client, sql: &str) -> Option<String> {
    client
        .prepare(sql)
        .await
        .err()
        .and_then(|e| e.code().map(|c| c.code().to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_declares_parameters_standing_for_numeric_literals() {
    let (_cluster, spec) = setup("shop");
    let client = spec.connect().await.expect("connect");
    // The shapes really are unpreparable as they are, on this server.
    for sql in [SUM_GT, SERIES, REPORT] {
        assert_eq!(
            untyped_prepare_error(&client, sql).await.as_deref(),
            Some("42725"),
            "{sql}"
        );
    }
    assert_eq!(untyped_prepare_error(&client, BY_NAME).await, None);
    let opts = ExplainOptions::default();

    // `10 + 5` is 15: planned, and executed, with the values as constants.
    let o = explain(&client, SUM_GT, &p(&["10", "5"]), &opts)
        .await
        .expect("explain");
    let plan = explained(&o);
    assert!(plan.analyzed && plan.mode == PlanMode::Custom, "{plan:?}");
    assert!(
        plan.plan_json.contains("(total > '15'::numeric)"),
        "{}",
        plan.plan_json
    );
    // Past int4: the literal would have been int8, and so is the parameter.
    let o = explain(&client, SUM_GT, &p(&["3000000000", "-2999990000"]), &opts)
        .await
        .expect("explain");
    assert!(
        explained(&o)
            .plan_json
            .contains("(total > '10000'::numeric)"),
        "{o:?}"
    );

    // generate_series(1, 3): three rows.
    let o = explain(&client, SERIES, &p(&["1", "3"]), &opts)
        .await
        .expect("explain");
    let json: serde_json::Value =
        serde_json::from_str(&explained(&o).plan_json).expect("EXPLAIN JSON");
    assert_eq!(json[0]["Plan"]["Node Type"], "Function Scan", "{json}");
    assert_eq!(json[0]["Plan"]["Actual Rows"], 3, "{json}");
    // Decimal values: numeric.
    let o = explain(&client, SERIES, &p(&["0.5", "2.5"]), &opts)
        .await
        .expect("explain");
    let json: serde_json::Value =
        serde_json::from_str(&explained(&o).plan_json).expect("EXPLAIN JSON");
    assert_eq!(json[0]["Plan"]["Actual Rows"], 3, "{json}");

    // The QA workload's report: only `$2` and `$5` needed declaring.
    let o = explain(&client, REPORT, &report_params(), &opts)
        .await
        .expect("explain");
    let plan = explained(&o);
    assert_eq!(plan.params, report_params());
    assert!(plan.plan_json.contains("15 days"), "{}", plan.plan_json);

    // Mixed: `$2 + $3` declared, `$1` still inferred text.
    let o = explain(&client, MIXED, &p(&["123", "100", "20"]), &opts)
        .await
        .expect("explain");
    let plan = explained(&o);
    assert!(
        plan.plan_json.contains("(id > 120)") && plan.plan_json.contains("'123'::text"),
        "{}",
        plan.plan_json
    );

    // No regression: a text column compared with a numeric-looking value stays text.
    let o = explain(&client, BY_NAME, &p(&["123"]), &opts)
        .await
        .expect("explain");
    let plan = explained(&o);
    assert!(plan.plan_json.contains("'123'::text"), "{}", plan.plan_json);
    assert!(
        plan.plan_json.contains("\"Actual Rows\": 1"),
        "{}",
        plan.plan_json
    );

    // Nothing to go on (no values even with the generic fallback, values that are
    // no numbers): the server's own error.
    let o = explain(&client, SUM_GT, &[], &opts).await.expect("explain");
    assert!(
        matches!(&o, ExplainOutcome::Failed(f) if f.sqlstate.as_deref() == Some("42725")),
        "{o:?}"
    );
    let o = explain(&client, SUM_GT, &p(&["ten", "five"]), &opts)
        .await
        .expect("explain");
    assert!(
        matches!(&o, ExplainOutcome::Failed(f) if f.message.contains("unknown + unknown")),
        "{o:?}"
    );
    // Declarations that do not make it preparable (`to_char('5', '999')` was
    // ambiguous with its literals too): the statement's own error is reported,
    // not one about the declared types.
    let o = explain(&client, "SELECT to_char($1, $2)", &p(&["5", "999"]), &opts)
        .await
        .expect("explain");
    match &o {
        ExplainOutcome::Failed(f) => {
            assert_eq!(f.sqlstate.as_deref(), Some("42725"), "{f:?}");
            assert!(f.message.contains("to_char(unknown, unknown)"), "{f:?}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    // The connection is still usable, outside any transaction.
    let row = client
        .query_one("SELECT 40 + 2", &[])
        .await
        .expect("usable");
    assert_eq!(row.get::<_, i32>(0), 42);
}

fn none() -> Config<'static> {
    Config::default()
}

/// Both what-if planners plan the three shapes, learn the declarations once per
/// statement (re-typed for each sample), and leave other statements alone.
#[test]
fn whatif_planners_declare_parameters_standing_for_numeric_literals() {
    let (_cluster, spec) = setup("shop");
    let by_total = [IndexDef::btree(
        "public",
        "orders",
        vec![IndexKey::column("total")],
    )];
    let check = |w: &mut dyn WhatIf| {
        // `total > 19990 + 5`: a handful of rows, so the index on total pays.
        let before = w.plans_made();
        let seq = w
            .plan(SUM_GT, &p(&["19990", "5"]), none())
            .expect("planned with $1 and $2 declared int4");
        assert!(w.plans_made() - before > 1, "the first plan is retried");
        let before = w.plans_made();
        let indexed = w
            .plan(
                SUM_GT,
                &p(&["19990", "5"]),
                Config {
                    hypothetical: &by_total,
                    hidden: &[],
                },
            )
            .expect("plan with the index");
        assert_eq!(w.plans_made() - before, 1, "learned for the statement");
        assert_eq!(indexed.used_hypothetical, vec![0], "{indexed:?}");
        assert!(indexed.total_cost < seq.total_cost, "{seq:?} {indexed:?}");
        // Another sample, past int4: the learned declaration follows its values
        // (int8), still in one plan.
        let before = w.plans_made();
        w.plan(SUM_GT, &p(&["3000000000", "-2999980010"]), none())
            .expect("int8 values");
        assert_eq!(w.plans_made() - before, 1);

        let series = w.plan(SERIES, &p(&["1", "3"]), none()).expect("series");
        assert!(series.total_cost > 0.0, "{series:?}");
        let report = w.plan(REPORT, &report_params(), none()).expect("report");
        assert!(report.total_cost > 0.0, "{report:?}");

        let mixed = w
            .plan(MIXED, &p(&["123", "100", "20"]), none())
            .expect("mixed");
        assert!(mixed.total_cost > 0.0, "{mixed:?}");

        // No regression: planned in one go, `$1` inferred text.
        let before = w.plans_made();
        let by_name = w.plan(BY_NAME, &p(&["123"]), none()).expect("by name");
        assert!(by_name.total_cost > 0.0);
        assert_eq!(w.plans_made() - before, 1);

        // Values that are no numbers: the server's ambiguity, as a query error.
        match w.plan(SUM_GT, &p(&["ten", "five"]), none()) {
            Err(WhatIfError::Query(m)) => assert!(m.contains("not unique"), "{m}"),
            other => panic!("expected the ambiguity, got {other:?}"),
        }
    };
    let mut hypo = HypoWhatIf::connect(&spec, WhatIfOptions::default()).expect("HypoPG what-if");
    check(&mut hypo);
    let mut real = RealTxWhatIf::connect(&spec, WhatIfOptions::default()).expect("real-tx what-if");
    check(&mut real);
    real.close().expect("rolled back");
}

/// `verify` prepares each query once and runs it with all its samples: the
/// parameters at the ambiguous `+` are declared the widest type of their samples
/// (int8 here), and the query is measured with the index, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_measures_queries_with_parameters_standing_for_numeric_literals() {
    let (_cluster, spec) = setup("shop");
    let q = verify_support::query(
        "sum_gt",
        SUM_GT,
        100.0,
        &[&["19990", "5"], &["3000000000", "-2999980005"]],
    );
    let rec = verify_support::recommendation("orders", "total", &[&q]);
    let mut plan = verify_support::plan(vec![rec], vec![q]);
    let opts = VerifyOptions {
        force: true,
        runs: 3,
        ..verify_support::options("2024-01-02T00:00:00Z")
    };
    verify_plan(&spec, None, &mut plan, &opts, &mut |_| {})
        .await
        .expect("verify");
    let v = verify_support::verification(&plan, "orders_total_idx");
    let m = v
        .queries
        .iter()
        .find(|m| m.id == "sum_gt")
        .unwrap_or_else(|| panic!("sum_gt measured: {v:#?}"));
    assert!(m.uses_index, "{m:#?}");
    assert_eq!((m.before.runs, m.after.runs), (3, 3), "{m:#?}");
    assert!(!v.note.contains("not unique"), "{}", v.note);
}
