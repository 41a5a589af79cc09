//! Shared set-up of the CLI integration tests that need the ADX demo with a
//! captured workload: the binary, its output, and a server log of the scenario
//! workload driven by `pgpilot bench`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pgpilot_cluster::Cluster;
use serde_json::Value;

/// Runs the `pgpilot` binary.
pub fn pgpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args(args)
        .output()
        .expect("run pgpilot")
}

/// Its stderr, lossily.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Its stdout, lossily.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The built-in ADX Core workload file.
pub fn workload_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo/workload/adx-core.toml")
}

/// Bytes of the server log so far.
pub fn log_size(c: &Cluster) -> usize {
    std::fs::metadata(c.log_path()).map_or(0, |m| m.len() as usize)
}

/// Waits until the logging collector has written `marker`.
pub fn flush_log(c: &Cluster, marker: &str) {
    c.psql("postgres", &format!("SELECT '{marker}'"))
        .expect("marker");
    c.flush_log(std::time::Duration::from_secs(10))
        .expect("the collector writes");
}

/// Loads the demo at `cfg` into database `adx`, runs its workload for
/// `duration` with statement logging on (asserting that each of `must_run`
/// ran, via `json_ok` for the bench's output), ANALYZEs, and returns the part
/// of the server log the workload wrote.
pub fn demo_with_captured_workload(
    c: &Cluster,
    cfg: &pgpilot_demo::DemoConfig,
    duration: &str,
    must_run: &[&str],
    json_ok: fn(&str, &Output) -> Value,
) -> PathBuf {
    c.create_database("adx").expect("db");
    let url = c.url("adx");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let spec = pgpilot_db::ConnSpec::parse(&url).expect("spec");
        pgpilot_demo::load(&spec, cfg, &|_| {}).await.expect("load");
    });

    c.set_setting("log_min_duration_statement", "0")
        .expect("log on");
    flush_log(c, "before-adx-workload");
    let from = log_size(c);
    let workload = workload_file().display().to_string();
    let mut args: Vec<String> = [
        "bench",
        "--db",
        &url,
        "--workload",
        &workload,
        "--duration",
        duration,
        "--warmup",
        "0s",
        "--clients",
        "4",
        "--format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (k, v) in pgpilot_demo::workload_vars(cfg) {
        args.push("--var".into());
        args.push(format!("{k}={v}"));
    }
    // Rarely drawn queries (a report is 1 in ~200) may miss a short run on a
    // loaded machine: run again, adding to the same log, until each has run.
    let mut missing: Vec<&str> = must_run.to_vec();
    for _ in 0..4 {
        let out = Command::new(env!("CARGO_BIN_EXE_pgpilot"))
            .args(&args)
            .output()
            .expect("bench");
        let bench = json_ok("bench", &out);
        let ran = |name: &str| {
            bench["queries"]
                .as_array()
                .expect("queries")
                .iter()
                .find(|q| q["name"] == name)
                .and_then(|q| q["calls"].as_u64())
                .unwrap_or(0)
        };
        missing.retain(|name| ran(name) == 0);
        if missing.is_empty() {
            break;
        }
    }
    assert!(missing.is_empty(), "never ran in four runs: {missing:?}");
    flush_log(c, "after-adx-workload");
    let all = std::fs::read(c.log_path()).expect("log");
    let path = c.dir().join("adx-workload.log");
    std::fs::write(&path, &all[from..]).expect("log tail");
    c.set_setting("log_min_duration_statement", "-1")
        .expect("log off");
    // The demo leaves stale statistics on purpose; a DBA refreshes them before
    // any what-if planning, as `pgpilot demo` does.
    c.psql("adx", "ANALYZE").expect("analyze");
    path
}
