//! Workload capture against real servers: the executions counted from the
//! server log equal `pg_stat_statements` exactly, for pgbench in simple,
//! extended and prepared modes, in all three log formats; and the N+1 pattern
//! of the ADX Core activity feed is found in the demo's own server log.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use pgpilot_cluster::{Cluster, ClusterOptions, LogFormat};

mod support;
use support::{flush_log, log_size, pgpilot};

fn pgbench(c: &Cluster, args: &[&str]) {
    let out = Command::new(c.binaries().program("pgbench"))
        .arg("-h")
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", "postgres"])
        .args(args)
        .output()
        .expect("pgbench");
    assert!(
        out.status.success(),
        "pgbench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies the log from byte `from` to a file of its own.
fn log_tail(c: &Cluster, from: usize, name: &str) -> PathBuf {
    let all = std::fs::read(c.log_path()).expect("log");
    let path = c.dir().join(name);
    std::fs::write(&path, &all[from..]).expect("tail");
    path
}

/// Calls per fingerprint in database `db`, from `pgpilot top --format json`.
fn log_calls(log: &Path, db: &str) -> HashMap<String, u64> {
    let out = pgpilot(&[
        "top",
        "--logs",
        &log.display().to_string(),
        "--format",
        "json",
        "--limit",
        "100000",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        v["lines_skipped"], 0,
        "every line was read: {}",
        v["lines_skipped"]
    );
    v["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter_map(|q| {
            let n = q["databases"][db].as_u64()?;
            Some((q["fingerprint"].as_str()?.to_string(), n))
        })
        .collect()
}

/// Calls per fingerprint of `pg_stat_statements` entries of database `db`.
fn pgss_calls(c: &Cluster, db: &str) -> HashMap<String, u64> {
    let rows = c
        .psql(
            "postgres",
            &format!(
                "SELECT calls, query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
                 WHERE d.datname = '{db}'"
            ),
        )
        .expect("pgss");
    let mut out = HashMap::new();
    for line in rows.lines() {
        let (calls, query) = line.split_once('|').expect("calls|query");
        let fp = pgpilot_sql::fingerprint(query)
            .expect("pgss text parses")
            .to_string();
        *out.entry(fp).or_insert(0) += calls.parse::<u64>().expect("calls");
    }
    out
}

#[test]
fn log_call_counts_equal_pg_stat_statements_for_every_protocol_and_format() {
    for format in [LogFormat::Stderr, LogFormat::Csv, LogFormat::Json] {
        let c = Cluster::start(ClusterOptions {
            log_format: format,
            log_min_duration_statement: 0,
            ..ClusterOptions::default()
        })
        .expect("cluster");
        c.create_database("bench").expect("db");
        pgbench(&c, &["-i", "-q", "-s", "1", "bench"]);
        for mode in ["simple", "extended", "prepared"] {
            c.psql("postgres", "SELECT pg_stat_statements_reset()")
                .expect("reset");
            flush_log(&c, &format!("before-{mode}"));
            let from = log_size(&c);
            pgbench(&c, &["-M", mode, "-c", "2", "-t", "40", "bench"]);
            // A select-only script too: pgbench's -S mixes with the default one.
            pgbench(&c, &["-M", mode, "-S", "-c", "2", "-t", "30", "bench"]);
            flush_log(&c, &format!("after-{mode}"));
            let tail = log_tail(&c, from, &format!("tail-{mode}.log"));
            let mut logged = log_calls(&tail, "bench");
            let mut counted = pgss_calls(&c, "bench");
            assert!(!counted.is_empty());
            if mode == "prepared" {
                // PostgreSQL 15's pg_stat_statements counts a prepared utility
                // statement (pgbench's BEGIN; and END;) once per PREPARE, not per
                // execution. The log has every execution: check those against the
                // transactions pgbench ran (2 clients x 40) instead.
                for tx in ["BEGIN", "END"] {
                    let fp = pgpilot_sql::fingerprint(tx)
                        .expect("fingerprint")
                        .to_string();
                    assert_eq!(
                        logged.remove(&fp),
                        Some(80),
                        "{format:?}: {tx} executions in the log"
                    );
                    assert_eq!(
                        counted.remove(&fp),
                        Some(2),
                        "{format:?}: pgss counts {tx} per PREPARE"
                    );
                }
            }
            assert_eq!(
                logged, counted,
                "{format:?} log, {mode} protocol: calls per fingerprint differ"
            );
        }
    }
}

#[test]
fn the_demo_activity_feed_shows_up_as_an_n_plus_one_in_the_server_log() {
    let c = Cluster::start(ClusterOptions {
        log_min_duration_statement: 0,
        ..ClusterOptions::default()
    })
    .expect("cluster");
    c.create_database("adx").expect("db");
    let url = c.url("adx");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let spec = pgpilot_db::ConnSpec::parse(&url).expect("spec");
        pgpilot_demo::load(
            &spec,
            &pgpilot_demo::DemoConfig {
                scale: 0.01,
                seed: 7,
            },
            &|_| {},
        )
        .await
        .expect("load");
    });
    let workload = c.dir().join("adx-core.toml");
    std::fs::write(&workload, pgpilot_demo::WORKLOAD_TOML).expect("workload");
    flush_log(&c, "before-demo-workload");
    let from = log_size(&c);
    let vars = pgpilot_demo::workload_vars(&pgpilot_demo::DemoConfig {
        scale: 0.01,
        seed: 7,
    });
    let mut args: Vec<String> = [
        "bench",
        "--db",
        &url,
        "--workload",
        &workload.display().to_string(),
        "--clients",
        "2",
        "--transactions",
        "300",
        "--warmup",
        "0s",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in vars {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args(&args)
        .output()
        .expect("bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bench: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench json");
    let feeds = bench["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .find(|q| q["name"] == "feed")
        .and_then(|q| q["calls"].as_u64())
        .expect("feed ran");
    assert!(feeds > 0);
    flush_log(&c, "after-demo-workload");
    let tail = log_tail(&c, from, "demo.log");
    let out = pgpilot(&[
        "top",
        "--logs",
        &tail.display().to_string(),
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    // The bench's own monitor polls stay out of the log: only the clients' work.
    let all = pgpilot(&[
        "top",
        "--logs",
        &tail.display().to_string(),
        "--limit",
        "1000",
        "--format",
        "json",
    ]);
    let all: serde_json::Value = serde_json::from_slice(&all.stdout).expect("json");
    let polls: Vec<String> = all["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter_map(|q| q["query"].as_str())
        .filter(|q| q.contains("pg_stat_activity"))
        .map(str::to_string)
        .collect();
    assert!(polls.is_empty(), "{polls:?}");
    let found = v["n_plus_one"]
        .as_array()
        .expect("n_plus_one")
        .iter()
        .find(|n| {
            n["parent"]
                .as_str()
                .is_some_and(|p| p.contains("FROM audit_logs"))
                && n["child"]
                    .as_str()
                    .is_some_and(|c| c.contains("FROM users WHERE id = $1"))
        })
        .unwrap_or_else(|| panic!("activity feed N+1 not reported: {}", v["n_plus_one"]));
    assert_eq!(
        found["bursts"].as_u64(),
        Some(feeds),
        "one burst per feed: {found}"
    );
    assert!(found["round_trips"].as_u64().expect("round trips") >= 5 * feeds);
    assert!(
        found["suggestion"]["batched"]
            .as_str()
            .is_some_and(|s| s.contains("= ANY($1)")),
        "{found}"
    );
}

#[test]
fn top_reads_pg_stat_statements_and_says_when_it_is_missing() {
    let bare = Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("cluster");
    let out = pgpilot(&["top", "--db", &bare.url("postgres")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CREATE EXTENSION pg_stat_statements") && !err.contains("panicked"),
        "{err}"
    );

    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    c.create_database("bench").expect("db");
    pgbench(&c, &["-i", "-q", "-s", "1", "bench"]);
    c.psql("postgres", "SELECT pg_stat_statements_reset()")
        .expect("reset");
    pgbench(&c, &["-S", "-c", "2", "-t", "25", "bench"]);
    let out = pgpilot(&[
        "top",
        "--db",
        &c.url("bench"),
        "--format",
        "json",
        "--limit",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let select = v["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .find(|q| {
            q["query"]
                .as_str()
                .is_some_and(|s| s.contains("pgbench_accounts"))
        })
        .unwrap_or_else(|| panic!("select-only statement missing: {}", v["queries"]));
    assert_eq!(select["calls"], 50);
    assert_eq!(
        select["percentiles_estimated"], true,
        "pgss has no per-call latencies"
    );
}
