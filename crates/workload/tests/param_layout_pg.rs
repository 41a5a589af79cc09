//! Against a real server: pgbench runs the same statements through the
//! extended and the simple protocol, so one fingerprint is logged with two
//! numberings (`lower($2 || $1 || $3)` and `lower($1 || $2 || $3)`). Every
//! parameter sample of the workload built from the log must execute when bound
//! to the representative text (`PREPARE … ; EXECUTE …(sample)`), with the
//! values at the right placeholders, whether the log is read in one piece or
//! in tiny parallel chunks.

use std::process::Command;
use std::time::Duration;

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_logs::Options;
use pgpilot_sql::{scan, LiteralKind};
use pgpilot_workload::{workload_from_logs, BuildOptions, QueryStats, Workload};

const SCRIPT: &str = "\\set id random(1, 500)
SELECT * FROM customers WHERE lower(email) = lower('user' || :id || '@example.com');
UPDATE orders SET status = 'shipped' WHERE id = :id;
";

fn pgbench(c: &Cluster, script: &std::path::Path, mode: &str) {
    let out = Command::new(c.binaries().program("pgbench"))
        .arg("-h")
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", "postgres", "-n"])
        .args(["-M", mode, "-c", "1", "-t", "40", "-f"])
        .arg(script)
        .arg("shop")
        .output()
        .expect("pgbench runs");
    assert!(
        out.status.success(),
        "pgbench {mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn literal(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("'{}'", v.replace('\'', "''")),
        None => "NULL".into(),
    }
}

/// The values a consumer binding `values[n-1]` to `$n` puts at each
/// placeholder of `text`, in order of appearance.
fn as_bound(text: &str, values: &[Option<String>]) -> Vec<Option<String>> {
    scan(text)
        .literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .map(|l| {
            let n: usize = l.raw(text)[1..].parse().unwrap_or(0);
            values.get(n.wrapping_sub(1)).cloned().flatten()
        })
        .collect()
}

fn find<'a>(w: &'a Workload, needle: &str) -> &'a QueryStats {
    let found: Vec<&QueryStats> = w
        .queries
        .values()
        .filter(|q| q.query.contains(needle) && q.calls > 0)
        .collect();
    assert_eq!(found.len(), 1, "one fingerprint for {needle}");
    found[0]
}

#[test]
fn samples_of_both_protocols_execute_against_the_representative_text() {
    let c = Cluster::start(ClusterOptions {
        log_min_duration_statement: 0,
        ..ClusterOptions::default()
    })
    .expect("cluster starts");
    c.create_database("shop").expect("database");
    c.psql(
        "shop",
        "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
         INSERT INTO customers SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 500) i;
         CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL);
         INSERT INTO orders SELECT i, 'new' FROM generate_series(1, 500) i;",
    )
    .expect("schema");
    let script = c.dir().join("mixed.sql");
    std::fs::write(&script, SCRIPT).expect("script");
    c.psql("postgres", "SELECT 'before'").expect("marker");
    c.flush_log(Duration::from_secs(10)).expect("log flushed");
    let from = std::fs::metadata(c.log_path()).map_or(0, |m| m.len() as usize);
    // Extended first: its numbering is the representative one, and the simple
    // protocol's samples must be renumbered for it.
    pgbench(&c, &script, "extended");
    pgbench(&c, &script, "simple");
    c.psql("postgres", "SELECT 'after'").expect("marker");
    c.flush_log(Duration::from_secs(10)).expect("log flushed");
    let all = std::fs::read(c.log_path()).expect("log");
    let log = c.dir().join("mixed.log");
    std::fs::write(&log, &all[from..]).expect("log tail");

    let read = |opts: Options| {
        let (w, s) =
            workload_from_logs(std::slice::from_ref(&log), &opts, &BuildOptions::default());
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        w
    };
    let one = read(Options {
        threads: 1,
        ..Options::default()
    });
    let chunked = read(Options {
        threads: 2,
        chunk_size: 997,
        ..Options::default()
    });
    assert_eq!(chunked.queries, one.queries, "chunking changes nothing");

    let email = find(&one, "FROM customers");
    // (pgbench sends the script's `;`, kept in the normalized text)
    assert_eq!(
        email.query.trim_end_matches(';'),
        "SELECT * FROM customers WHERE lower(email) = lower($2 || $1 || $3)"
    );
    let update = find(&one, "UPDATE orders");
    assert_eq!(
        update.query.trim_end_matches(';'),
        "UPDATE orders SET status = $2 WHERE id = $1"
    );
    for q in [email, update] {
        assert_eq!(q.calls, 80, "{}", q.query);
        assert_eq!(q.samples.offered, 80, "{}", q.query);
        assert_eq!(q.samples.mismatched, 0, "{}", q.query);
        assert_eq!(q.samples.samples.len(), 20, "{}", q.query);
        let mut sql = format!("PREPARE p AS {};\n", q.query.trim_end_matches(';'));
        for s in &q.samples.samples {
            let bound = as_bound(&q.query, &s.values);
            let id = bound
                .iter()
                .flatten()
                .find(|v| v.parse::<u32>().is_ok())
                .cloned();
            let id = id.unwrap_or_else(|| panic!("{}: no id in {bound:?}", q.query));
            let want: Vec<Option<String>> = if q.query.starts_with("UPDATE") {
                vec![Some("shipped".into()), Some(id)]
            } else {
                vec![Some("user".into()), Some(id), Some("@example.com".into())]
            };
            assert_eq!(bound, want, "{}: sample {:?}", q.query, s.values);
            let args: Vec<String> = s.values.iter().map(literal).collect();
            sql.push_str(&format!("EXECUTE p({});\n", args.join(", ")));
        }
        sql.push_str("DEALLOCATE p;");
        let out = c.psql("shop", &sql);
        assert!(out.is_ok(), "{}: {out:?}", q.query);
    }
}
