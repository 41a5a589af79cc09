//! The `pgpilot` binary end to end: exit codes, one-line errors, JSON shapes.

use std::path::PathBuf;
use std::process::{Command, Output};

use pgpilot_cluster::{Cluster, ClusterOptions};

fn pgpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("PGHOST")
        .env_remove("PGPORT")
        .env_remove("PGUSER")
        .env_remove("PGDATABASE")
        .output()
        .expect("run pgpilot")
}

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A user error: non-zero exit, one `error:` line naming the problem, no panic.
fn assert_user_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "should fail: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in: {err}"));
    assert!(line.contains(needle), "expected {needle:?} in {line:?}");
}

#[test]
fn demo_rejects_a_zero_or_negative_scale() {
    for scale in ["0", "-1", "nan"] {
        let o = pgpilot(&["demo", "--scale", scale]);
        assert_user_error(&o, "scale");
    }
}

#[test]
fn bench_without_any_database_says_how_to_give_one() {
    let o = pgpilot(&["bench", "--workload", &data("select_only.toml")]);
    assert_user_error(&o, "--db");
}

#[test]
fn an_empty_log_is_said_to_be_empty() {
    let dir = out_dir("empty-log");
    let _ = std::fs::create_dir_all(&dir);
    let log = dir.join("postgresql.log");
    std::fs::write(&log, "").expect("empty log");
    let o = pgpilot(&["top", "--logs", &log.display().to_string()]);
    assert!(
        stderr(&o).contains("held no log lines at all"),
        "{}",
        stderr(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logs_on_stdin_count_what_the_file_counts() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../logs/tests/data");
    let dir = out_dir("stdin-logs");
    let _ = std::fs::create_dir_all(&dir);
    let calls = |args: &[&str], stdin: Option<&std::path::Path>| -> u64 {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgpilot"));
        cmd.args(args);
        if let Some(path) = stdin {
            cmd.stdin(std::fs::File::open(path).expect("fixture"));
        }
        let o = cmd.output().expect("run pgpilot");
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        v["total_calls"].as_u64().expect("total_calls")
    };
    // A gzip copy too: its magic number is in the head read to detect it.
    let gz = dir.join("pg15.csv.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gzip -c {} > {}",
            fixtures.join("pg15.csv").display(),
            gz.display()
        ))
        .status()
        .expect("gzip");
    assert!(status.success());
    for file in [
        fixtures.join("pg15.log"),
        fixtures.join("pg15.csv"),
        fixtures.join("pg15.json"),
        gz.clone(),
    ] {
        let path = file.display().to_string();
        let direct = calls(&["top", "--logs", &path, "--format", "json"], None);
        assert!(direct > 0, "{path}");
        let piped = calls(&["top", "--logs", "-", "--format", "json"], Some(&file));
        assert_eq!(piped, direct, "{path} through stdin");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn workload_mistakes_name_the_file_and_line() {
    let o = pgpilot(&[
        "bench",
        "--db",
        "postgres://x@127.0.0.1:1/x",
        "--workload",
        &data("typo.toml"),
    ]);
    assert_user_error(&o, "typo.toml:4:");
    assert!(
        stderr(&o).contains("weight"),
        "suggests the right key: {}",
        stderr(&o)
    );
    let o = pgpilot(&[
        "bench",
        "--db",
        "postgres://x@127.0.0.1:1/x",
        "--workload",
        &data("missing_param.toml"),
    ]);
    assert_user_error(&o, "missing_param.toml:");
    assert!(stderr(&o).contains("$2"), "{}", stderr(&o));
    let o = pgpilot(&[
        "bench",
        "--db",
        "postgres://x@127.0.0.1:1/x",
        "--workload",
        "/nonexistent.toml",
    ]);
    assert_user_error(&o, "/nonexistent.toml");
}

#[test]
fn bench_reports_json_and_fails_a_missed_slo_with_code_3() {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    let url = c.url("postgres");
    let o = pgpilot(&[
        "bench",
        "--db",
        &url,
        "--workload",
        &data("select_only.toml"),
        "--clients",
        "2",
        "--transactions",
        "200",
        "--warmup",
        "0s",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let s = &v["summary"];
    for key in [
        "statements",
        "throughput_qps",
        "avg_ms",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "slow_pct",
        "index_hit_ratio",
        "index_usage_ratio",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}: {s}");
    }
    let statements = s["statements"].as_u64().expect("statements");
    let calls: u64 = v["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| q["calls"].as_u64().expect("calls"))
        .sum();
    assert_eq!(statements, calls);
    assert!(
        statements >= 200,
        "200 picks, some of them 4-statement sequences: {statements}"
    );
    for check in v["slo"].as_array().expect("slo") {
        for key in ["metric", "target", "actual", "pass"] {
            assert!(check.get(key).is_some(), "{check}");
        }
    }
    let o = pgpilot(&[
        "bench",
        "--db",
        &url,
        "--workload",
        &data("select_only.toml"),
        "--clients",
        "1",
        "--transactions",
        "20",
        "--warmup",
        "0s",
        "--slo",
        &data("strict_slo.toml"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("MISSED"));
}

#[test]
fn bench_against_a_server_that_is_not_there_is_one_line() {
    let o = pgpilot(&[
        "bench",
        "--db",
        "postgres://postgres@127.0.0.1:1/postgres",
        "--workload",
        &data("select_only.toml"),
        "--transactions",
        "1",
    ]);
    assert_user_error(&o, "cannot reach PostgreSQL at 127.0.0.1:1");
}

/// A fresh directory under the system temp dir for a demo's output files.
fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pgpilot-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn demo_end_to_end_at_a_tiny_scale() {
    let out = out_dir("demo-loop");
    let out_s = out.display().to_string();
    let o = pgpilot(&[
        "demo",
        "--scale",
        "0.01",
        "--duration",
        "3s",
        "--warmup",
        "1s",
        "--clients",
        "4",
        "--format",
        "json",
        "--out",
        &out_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["scale"], 0.01);
    let url = v["db_url"].as_str().expect("db_url");
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    let baseline = &v["baseline"];
    assert!(
        baseline["summary"]["statements"]
            .as_u64()
            .expect("statements")
            > 0
    );
    assert_eq!(baseline["slo"].as_array().expect("slo").len(), 5);
    let names: Vec<&str> = baseline["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert!(names.contains(&"dashboard"), "{names:?}");
    // The whole loop ran: the same benchmark after, journaled changes, a plan
    // whose applied indexes were all verified, and the hand-off report.
    let after = &v["after"];
    assert_eq!(after["config"], baseline["config"], "same benchmark after");
    assert!(after["summary"]["statements"].as_u64().expect("after") > 0);
    let changes = v["changes"].as_array().expect("changes");
    assert!(!changes.is_empty(), "nothing was changed");
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).expect("plan.json"))
            .expect("plan json");
    for c in changes.iter().filter(|c| c["action"] == "create_index") {
        let ddl = c["ddl"].as_str().expect("ddl");
        assert!(ddl.starts_with("CREATE INDEX CONCURRENTLY"), "{ddl}");
        let rec = plan["recommendations"]
            .as_array()
            .expect("recommendations")
            .iter()
            .find(|r| r["ddl"] == ddl)
            .expect("applied index is in the plan");
        assert_eq!(rec["verification"]["status"], "verified", "{ddl}");
        // The demo's apply reads each new index into shared_buffers.
        let detail = c["detail"].as_str().expect("detail");
        assert!(detail.contains("prewarmed"), "{detail}");
    }
    let report = v["report"].as_str().expect("report path");
    let html = std::fs::read_to_string(report).expect("report file");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    assert!(out.join("report.md").exists() && out.join("after.json").exists());
    let _ = std::fs::remove_dir_all(&out);
    // Nothing is left running: the port no longer answers.
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("port");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "demo server still up"
    );
}

/// Waits until the bench's clients are connected and have sent a statement,
/// then a little longer so some are measured: a fixed sleep from the spawn is
/// not enough on a loaded machine.
fn wait_for_bench_clients(c: &Cluster) {
    for _ in 0..600 {
        let n = c
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'pgpilot-bench' AND query <> ''",
            )
            .expect("pg_stat_activity");
        if n.trim().parse::<u32>().unwrap_or(0) > 0 {
            std::thread::sleep(std::time::Duration::from_millis(500));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the bench never connected");
}

/// Starts `pgpilot bench` for a long run in the background.
fn spawn_long_bench(url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args([
            "bench",
            "--db",
            url,
            "--workload",
            &data("select_only.toml"),
            "--clients",
            "2",
            "--duration",
            "60s",
            "--warmup",
            "0s",
            "--format",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn")
}

#[test]
fn ctrl_c_still_prints_what_was_measured() {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    let child = spawn_long_bench(&c.url("postgres"));
    wait_for_bench_clients(&c);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("partial report as json");
    assert_eq!(v["interrupted"], true);
    assert!(v["summary"]["statements"].as_u64().expect("statements") > 0);
}

#[test]
fn a_server_dying_mid_benchmark_is_reported_not_a_panic() {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    let child = spawn_long_bench(&c.url("postgres"));
    wait_for_bench_clients(&c);
    drop(c);
    let o = child.wait_with_output().expect("wait");
    assert_user_error(&o, "aborted");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("partial report as json");
    assert_eq!(v["interrupted"], true);
}

#[test]
fn ctrl_c_during_the_demo_leaves_no_server_or_directory() {
    let child = Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args([
            "demo",
            "--scale",
            "0.02",
            "--duration",
            "60s",
            "--warmup",
            "0s",
            "--out",
            &out_dir("demo-ctrl-c").display().to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    // Cluster directories carry their owner's pid.
    let prefix = format!("pgpilot-cluster-{pid}-");
    let ours = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .expect("tmp")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ours().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dirs = ours();
    assert_eq!(dirs.len(), 1, "the demo made its cluster directory");
    std::thread::sleep(std::time::Duration::from_secs(4));
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    let o = child.wait_with_output().expect("wait");
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(ours().is_empty(), "cluster directory left behind: {dirs:?}");
    let needle = dirs[0].display().to_string();
    let left: Vec<_> = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                .unwrap_or(false)
        })
        .collect();
    assert!(left.is_empty(), "server processes left behind");
}

#[test]
fn demo_stop_after_advise_ends_the_loop_with_a_plan_and_no_index() {
    let out = out_dir("demo-stop");
    let out_s = out.display().to_string();
    let o = pgpilot(&[
        "demo",
        "--scale",
        "0.01",
        "--duration",
        "2s",
        "--warmup",
        "0s",
        "--clients",
        "2",
        "--stop-after",
        "advise",
        "--format",
        "json",
        "--out",
        &out_s,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["stopped_after"], "advise");
    assert!(v["after"].is_null(), "no second benchmark");
    assert!(out.join("plan.json").exists());
    // Only statistics were refreshed: no index was created.
    assert!(v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .all(|c| c["action"] == "analyze"));
    let _ = std::fs::remove_dir_all(&out);
}
