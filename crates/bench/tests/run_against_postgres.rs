//! End-to-end runs against a real PostgreSQL started by the test itself.

use std::time::Duration;

use pgpilot_bench::{run, BenchError, RunOptions, Script};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::ConnSpec;

fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        extensions: vec!["pg_stat_statements".into()],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster")
}

fn setup(c: &Cluster) -> ConnSpec {
    c.psql(
        "postgres",
        "CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, score numeric);
         INSERT INTO users SELECT g, 'user' || g, g * 1.5 FROM generate_series(1, 200) g;
         CREATE TABLE audit_logs (id bigserial PRIMARY KEY, user_id int NOT NULL, \"timestamp\" timestamptz NOT NULL);
         INSERT INTO audit_logs (user_id, \"timestamp\")
           SELECT 1 + g % 200, now() - g * interval '1 minute' FROM generate_series(1, 500) g;",
    )
    .expect("create tables");
    ConnSpec::parse(&c.url("postgres")).expect("valid url")
}

/// Resolves once a bench client is running (or has run) a statement containing
/// `needle`, so a test that stops or kills the run knows it measured something;
/// a fixed sleep is not enough on a loaded machine.
async fn bench_has_run(url: &str, needle: &str) {
    let client = ConnSpec::parse(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    for _ in 0..1200 {
        let row = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'pgpilot-bench' AND strpos(query, $1) > 0",
                &[&needle],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no bench client ran {needle:?} within a minute");
}

fn opts(transactions: u64) -> RunOptions {
    RunOptions {
        clients: 3,
        duration: None,
        transactions: Some(transactions),
        warmup: Duration::ZERO,
        seed: 7,
        ..RunOptions::default()
    }
}

const SCRIPT: &str = r#"
[vars]
users = 200

[[query]]
name = "user_by_id"
sql = "SELECT name FROM users WHERE id = $1"
weight = 5
params = ["zipf:1..${users}"]

[[query]]
name = "user_by_name"
sql = "SELECT count(*) FROM users WHERE name = $1 AND score > $2"
weight = 2
params = ["choice:user1,user2,nobody", "float:0..10"]

[[sequence]]
name = "activity_feed"
weight = 3
  [[sequence.step]]
  name = "feed"
  sql = "SELECT id, user_id, \"timestamp\" FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT 20"
  [[sequence.step]]
  name = "feed_user"
  sql = "SELECT id, name FROM users WHERE id = $1"
  for_each_row = "feed"
  params = ["row:user_id"]
  [[sequence.step]]
  name = "feed_entry"
  sql = "SELECT user_id FROM audit_logs WHERE id = $1 AND \"timestamp\" <= $2"
  for_each_row = "feed"
  params = ["row:id", "row:timestamp"]
  [[sequence.step]]
  name = "touch"
  sql = "UPDATE users SET score = score + $2 WHERE id = $1"
  repeat = 2
  params = ["int:1..${users}", "const:0.5"]
"#;

#[tokio::test]
async fn statement_counts_equal_pg_stat_statements_exactly() {
    let c = cluster();
    let spec = setup(&c);
    let script = Script::parse(SCRIPT, "feed.toml", &[]).expect("valid script");
    let report = run(&spec, &script, &opts(300), None, std::future::pending())
        .await
        .expect("run succeeds");

    assert!(!report.interrupted);
    assert_eq!(report.summary.transactions, 300);
    assert_eq!(report.summary.errors, 0, "{:?}", report.errors);
    let calls = |name: &str| {
        report
            .queries
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.calls)
            .expect("query present")
    };
    let feeds = calls("feed");
    assert!(feeds > 0);
    assert_eq!(calls("user_by_id") + calls("user_by_name") + feeds, 300);
    assert_eq!(calls("feed_user"), 20 * feeds, "one child per row (N+1)");
    assert_eq!(calls("feed_entry"), 20 * feeds);
    assert_eq!(calls("touch"), 2 * feeds);
    let total: u64 = report.queries.iter().map(|q| q.calls).sum();
    assert_eq!(report.summary.statements, total);

    let check = report
        .pg_stat_statements_check
        .as_ref()
        .expect("pg_stat_statements is installed");
    assert_eq!(check.queries.len(), 6, "{check:?}");
    for q in &check.queries {
        assert_eq!(q.pgss_calls, Some(q.measured_calls as i64), "{q:?}");
    }
    assert!(check.all_match);
    for q in &report.queries {
        assert!(
            q.p50_ms <= q.p95_ms && q.p95_ms <= q.p99_ms && q.p99_ms <= q.max_ms * 1.001 + 0.001,
            "{q:?}"
        );
    }
    assert!(
        report.summary.index_hit_ratio.is_some(),
        "{:?}",
        report.summary
    );
    assert!(report.summary.peak_connections.is_some() || report.summary.duration_s < 0.6);
    let json = serde_json::to_value(&report).expect("json");
    assert!(json["summary"]["p99_ms"].is_number());
}

#[tokio::test]
async fn statement_errors_are_counted_and_the_run_goes_on() {
    let c = cluster();
    let spec = setup(&c);
    let script = Script::parse(
        "[[query]]\nname = \"maybe_divide\"\nsql = \"SELECT 10 / ($1::int % 2)\"\nparams = [\"int:0..1\"]\n",
        "err.toml",
        &[],
    )
    .expect("valid script");
    let report = run(&spec, &script, &opts(200), None, std::future::pending())
        .await
        .expect("statement errors do not end the run");
    let q = &report.queries[0];
    assert!(q.errors > 20 && q.calls > 20, "{q:?}");
    assert_eq!(q.calls + q.errors, 200);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].sqlstate.as_deref(), Some("22012"));
    assert_eq!(report.errors[0].count, q.errors);
    assert!(report.errors[0].message.contains("division by zero"));

    // Ctrl-C: clients stop after their current statement; the report is kept.
    let mut o = opts(1);
    o.transactions = None;
    o.duration = Some(Duration::from_secs(60));
    let url = c.url("postgres");
    let ctrl_c = async {
        bench_has_run(&url, "10 /").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let started = std::time::Instant::now();
    let report = run(&spec, &script, &o, None, ctrl_c)
        .await
        .expect("interrupted runs still report");
    assert!(report.interrupted);
    assert!(started.elapsed() < Duration::from_secs(50));
    assert!(report.summary.statements > 0);

    // Problems the server finds are reported before the run starts.
    let bad = Script::parse(
        "[[query]]\nname = \"q\"\nsql = \"SELECT * FROM nope\"\n",
        "b.toml",
        &[],
    )
    .expect("parses");
    let err = run(&spec, &bad, &opts(1), None, std::future::pending())
        .await
        .expect_err("no table");
    assert!(
        matches!(err, BenchError::Prepare { ref sqlstate, .. } if sqlstate.as_deref() == Some("42P01")),
        "{err}"
    );
    let bad = Script::parse(
        "[[sequence]]\nname = \"s\"\n[[sequence.step]]\nname = \"a\"\nsql = \"SELECT id FROM users LIMIT 2\"\n[[sequence.step]]\nname = \"b\"\nsql = \"SELECT $1::int\"\nfor_each_row = \"a\"\nparams = [\"row:uid\"]\n",
        "b.toml",
        &[],
    )
    .expect("parses");
    let err = run(&spec, &bad, &opts(1), None, std::future::pending())
        .await
        .expect_err("no column");
    assert!(
        err.to_string()
            .contains("row:uid is not a column of step `a` (it returns: id)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_goes_away_aborts_with_a_partial_report() {
    let c = cluster();
    let spec = setup(&c);
    let script = Script::parse(
        "[[query]]\nname = \"slowish\"\nsql = \"SELECT pg_sleep(0.01), $1::int\"\nparams = [\"int:1..10\"]\n",
        "s.toml",
        &[],
    )
    .expect("valid script");
    let mut o = opts(1);
    o.transactions = None;
    o.duration = Some(Duration::from_secs(60));
    let killer = {
        let url = c.url("postgres");
        tokio::spawn(async move {
            bench_has_run(&url, "pg_sleep").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let client = ConnSpec::parse(&url)
                .expect("url")
                .connect()
                .await
                .expect("connect");
            let _ = client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgpilot-bench'",
                    &[],
                )
                .await;
        })
    };
    let err = run(&spec, &script, &o, None, std::future::pending())
        .await
        .expect_err("aborted");
    killer.await.expect("killer ran");
    let partial = err.partial_report().expect("partial report");
    assert!(partial.interrupted);
    assert!(partial.aborted_reason.is_some());
    assert!(partial.summary.statements > 0, "{:?}", partial.summary);
    assert!(err.to_string().contains("aborted"), "{err}");
}
