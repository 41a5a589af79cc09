//! The benchmark clients' own wire-protocol connections against a real server:
//! password authentication (SCRAM-SHA-256 and md5) over TCP, and the Unix socket.

use std::time::Duration;

use pgpilot_bench::{run, RunOptions, Script};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::ConnSpec;

fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        extensions: vec!["pg_stat_statements".into()],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster")
}

fn opts(transactions: u64) -> RunOptions {
    RunOptions {
        clients: 2,
        duration: None,
        transactions: Some(transactions),
        warmup: Duration::ZERO,
        seed: 3,
        ..RunOptions::default()
    }
}

const SCRIPT: &str = r#"
[[query]]
name = "by_id"
sql = "SELECT name FROM items WHERE id = $1"
params = ["int:1..50"]

[[sequence]]
name = "list_then_get"
  [[sequence.step]]
  name = "list"
  sql = "SELECT id FROM items ORDER BY id LIMIT 3"
  [[sequence.step]]
  name = "get"
  sql = "SELECT name FROM items WHERE id = $1"
  for_each_row = "list"
  params = ["row:id"]
"#;

async fn run_checked(url: &str, transactions: u64) {
    let spec = ConnSpec::parse(url).expect("valid url");
    let script = Script::parse(SCRIPT, "items.toml", &[]).expect("valid script");
    let report = run(
        &spec,
        &script,
        &opts(transactions),
        None,
        std::future::pending(),
    )
    .await
    .unwrap_or_else(|e| panic!("{url}: {e}"));
    assert_eq!(report.summary.transactions, transactions);
    assert_eq!(report.summary.errors, 0, "{:?}", report.errors);
    let calls = |name: &str| {
        report
            .queries
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.calls)
            .expect("query present")
    };
    assert_eq!(calls("get"), 3 * calls("list"));
    assert_eq!(calls("by_id") + calls("list"), transactions);
    let check = report
        .pg_stat_statements_check
        .as_ref()
        .expect("pg_stat_statements is installed");
    assert!(check.all_match, "{check:?}");
}

fn setup(c: &Cluster) {
    c.psql(
        "postgres",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO items SELECT g, 'item' || g FROM generate_series(1, 50) g;",
    )
    .expect("create table");
}

#[tokio::test]
async fn scram_and_md5_passwords_over_tcp() {
    let c = cluster();
    setup(&c);
    c.psql(
        "postgres",
        "SET password_encryption = 'scram-sha-256';
         CREATE ROLE app_scram LOGIN PASSWORD 'scram-secret';
         SET password_encryption = 'md5';
         CREATE ROLE app_md5 LOGIN PASSWORD 'md5-secret';
         GRANT SELECT ON items TO app_scram, app_md5;
         GRANT pg_read_all_stats TO app_scram, app_md5;",
    )
    .expect("roles");
    let hba = c.data_dir().join("pg_hba.conf");
    let old = std::fs::read_to_string(&hba).expect("hba");
    std::fs::write(
        &hba,
        format!(
            "host all app_scram 127.0.0.1/32 scram-sha-256\nhost all app_md5 127.0.0.1/32 md5\n{old}"
        ),
    )
    .expect("hba");
    c.psql("postgres", "SELECT pg_reload_conf()")
        .expect("reload");

    let port = c.port();
    run_checked(
        &format!("postgres://app_scram:scram-secret@127.0.0.1:{port}/postgres"),
        60,
    )
    .await;
    run_checked(
        &format!("postgres://app_md5:md5-secret@127.0.0.1:{port}/postgres"),
        60,
    )
    .await;
}

#[tokio::test]
async fn over_the_unix_socket() {
    let c = cluster();
    setup(&c);
    run_checked(&c.socket_url("postgres"), 80).await;
}
