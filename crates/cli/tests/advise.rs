//! `pgpilot advise` on the ADX Core demo database with its own workload, captured
//! from the server log: the recommended index set serves the scenario's problem
//! queries (verified with real indexes and EXPLAIN), the plan file and migration
//! are written, the scenario's draft is judged truthfully, and bad input gets a
//! clear error rather than a crash.

use std::path::{Path, PathBuf};
use std::process::Output;

use pgpilot_cluster::{Cluster, ClusterOptions};
use serde_json::Value;

mod support;
use support::{demo_with_captured_workload, pgpilot, stderr, stdout, workload_file};

/// Demo scale: 50 000 users and profiles, 250 000 audit entries, 50 000 sessions.
const SCALE: f64 = 0.05;
const SEED: u64 = 11;

/// The JSON of a successful run.
fn json_ok(what: &str, o: &Output) -> Value {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstderr: {}\nstdout: {}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", stdout(o)))
}

/// A failed run with a clear message: non-zero exit, no panic, one short error.
fn clear_error(what: &str, o: &Output) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "{what}: expected a failure, got success\nstdout: {}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    assert!(
        !err.trim().is_empty() && err.trim().lines().count() <= 3,
        "{what}: the error should be a short message: {err}"
    );
    eprintln!("{what}: {}", err.trim());
    err
}

fn draft_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/adx-draft.sql")
}

/// The SQL of query `name` in the workload file, verbatim (without the final `;`).
fn workload_sql(name: &str) -> String {
    let text = std::fs::read_to_string(workload_file()).expect("workload file");
    let at = text
        .find(&format!("name = \"{name}\""))
        .unwrap_or_else(|| panic!("query {name} in the workload"));
    let rest = &text[at..];
    let start = rest.find("sql = \"\"\"").expect("multi-line sql") + "sql = \"\"\"".len();
    let end = rest[start..].find("\"\"\"").expect("end of sql") + start;
    rest[start..end].trim().trim_end_matches(';').to_string()
}

/// Every node of an EXPLAIN (FORMAT JSON) plan tree.
fn plan_nodes(node: &Value, out: &mut Vec<Value>) {
    out.push(node.clone());
    if let Some(children) = node["Plans"].as_array() {
        for child in children {
            plan_nodes(child, out);
        }
    }
}

fn explain(c: &Cluster, sql: &str) -> Vec<Value> {
    let text = c
        .psql("adx", &format!("EXPLAIN (FORMAT JSON) {sql}"))
        .expect("explain");
    let v: Value = serde_json::from_str(&text).expect("explain json");
    let mut nodes = Vec::new();
    plan_nodes(&v[0]["Plan"], &mut nodes);
    nodes
}

/// Sort / Incremental Sort nodes whose key mentions `column`.
fn sorts_on(nodes: &[Value], column: &str) -> Vec<Value> {
    nodes
        .iter()
        .filter(|n| {
            n["Node Type"].as_str().is_some_and(|t| t.ends_with("Sort"))
                && n["Sort Key"].as_array().is_some_and(|k| {
                    k.iter()
                        .any(|s| s.as_str().is_some_and(|s| s.contains(column)))
                })
        })
        .cloned()
        .collect()
}

/// First key column of a recommendation (from its structured definition).
fn first_key(r: &Value) -> Option<&str> {
    let key = &r["index"]["keys"][0]["expr"];
    (key["type"] == "column")
        .then(|| key["value"].as_str())
        .flatten()
}

fn key_columns(r: &Value) -> Vec<String> {
    r["index"]["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["expr"]["value"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn serves(r: &Value, needle: &str) -> bool {
    r["queries"].as_array().is_some_and(|qs| {
        qs.iter()
            .any(|q| q["query"].as_str().is_some_and(|s| s.contains(needle)))
    })
}

fn summary(plan: &Value) -> String {
    let mut s = String::new();
    for r in plan["recommendations"].as_array().into_iter().flatten() {
        s.push_str(&format!("{}\n", r["ddl"]));
        for q in r["queries"].as_array().into_iter().flatten() {
            s.push_str(&format!(
                "    {} calls {} cost {} -> {}\n",
                q["query"], q["calls"], q["cost_before"], q["cost_after"]
            ));
        }
    }
    s
}

fn index_count(c: &Cluster, db: &str) -> String {
    c.psql(
        db,
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'",
    )
    .expect("index count")
}

fn verdicts(v: &Value) -> Vec<(String, String)> {
    v["evaluated"]
        .as_array()
        .expect("evaluated")
        .iter()
        .map(|e| {
            (
                e["verdict"].as_str().unwrap_or_default().to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_demo_workload_gets_the_index_set_a_dba_would_write() {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    let log = demo_with_captured_workload(
        &c,
        &pgpilot_demo::DemoConfig {
            scale: SCALE,
            seed: SEED,
        },
        "8s",
        &[
            "dashboard",
            "profile_by_user",
            "session_cleanup",
            "report_actions_7d",
        ],
        json_ok,
    );
    let log_arg = log.display().to_string();
    let dashboard = workload_sql("dashboard");

    // A database with the same tables and data but no hypopg extension (the
    // cluster creates the extensions in template1, so the copy drops it), made
    // before any recommended index exists.
    c.psql("postgres", "CREATE DATABASE nohypo TEMPLATE adx")
        .expect("copy");
    c.psql("nohypo", "DROP EXTENSION IF EXISTS hypopg")
        .expect("drop hypopg");
    assert_eq!(
        c.psql(
            "nohypo",
            "SELECT count(*) FROM pg_extension WHERE extname = 'hypopg'"
        )
        .expect("ext"),
        "0"
    );

    // The draft is judged on the database without the recommended indexes.
    judges_the_scenario_draft(&c, &log_arg);
    recommends_and_verifies_the_index_set(&c, &log_arg, &dashboard);
    bad_input_is_a_clear_error(&c, &log_arg);
}

/// `--evaluate` on the scenario's draft, in every format, and on a draft that is
/// not an index.
fn judges_the_scenario_draft(c: &Cluster, log_arg: &str) {
    let url = c.url("adx");
    let draft = draft_file().display().to_string();
    let v = json_ok(
        "evaluate",
        &pgpilot(&[
            "advise",
            "--db",
            &url,
            "--logs",
            log_arg,
            "--evaluate",
            &draft,
            "--format",
            "json",
        ]),
    );
    let evals = v["evaluated"].as_array().expect("evaluated");
    let verdict = verdicts(&v);
    assert_eq!(evals.len(), 4, "{v:#}");
    for (e, name) in evals.iter().zip([
        "idx_users_created_login",
        "idx_profiles_user_id",
        "idx_audit_logs_timestamp",
        "idx_sessions_expires_user",
    ]) {
        assert!(
            e["statement"].as_str().is_some_and(|s| s.contains(name)),
            "file order: {} should be {name}",
            e["statement"]
        );
    }
    assert_eq!(verdict[3].0, "invalid", "{v:#}");
    assert!(verdict[3].1.contains("IMMUTABLE"), "{}", verdict[3].1);
    assert!(
        verdict[0].0 == "inferior" || verdict[0].0 == "unused",
        "(created_at, last_login DESC) does not serve the dashboard's ORDER BY: {v:#}"
    );
    if verdict[0].0 == "inferior" {
        let better = evals[0]["better"].as_array().expect("better");
        assert!(
            better.iter().any(|b| {
                b["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("last_login"))
                    && b["cost_with_better"].as_f64() < b["cost_with_draft"].as_f64()
            }),
            "inferior must name a cheaper index for the dashboard: {:#}",
            evals[0]
        );
    }
    assert_eq!(verdict[1].0, "useful", "{v:#}");
    assert!(
        evals[1]["queries"]
            .as_array()
            .is_some_and(|qs| qs.iter().any(|q| {
                q["query"]
                    .as_str()
                    .is_some_and(|s| s.contains("FROM profiles WHERE user_id"))
                    && q["cost_after"].as_f64() < q["cost_before"].as_f64()
            })),
        "profiles(user_id) serves the profile page: {:#}",
        evals[1]
    );
    for (v, why) in &verdict {
        eprintln!("draft: {v}: {why}");
    }

    let o = pgpilot(&[
        "advise",
        "--db",
        &url,
        "--logs",
        log_arg,
        "--evaluate",
        &draft,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("INVALID"), "{}", stdout(&o));
    let o = pgpilot(&[
        "advise",
        "--db",
        &url,
        "--logs",
        log_arg,
        "--evaluate",
        &draft,
        "--format",
        "markdown",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("INVALID"), "{}", stdout(&o));

    // A draft with a statement that is not an index.
    let other = c.dir().join("other.sql");
    std::fs::write(&other, "DROP TABLE x;\n").expect("draft");
    let v = json_ok(
        "evaluate non-index",
        &pgpilot(&[
            "advise",
            "--db",
            &url,
            "--logs",
            log_arg,
            "--evaluate",
            &other.display().to_string(),
            "--format",
            "json",
        ]),
    );
    let verdict = verdicts(&v);
    assert_eq!(verdict.len(), 1, "{v:#}");
    assert_eq!(verdict[0].0, "not_an_index", "{v:#}");
}

/// The recommendations, the plan file, the migration, and the dashboard's plan
/// before and after the recommended indexes are built for real.
fn recommends_and_verifies_the_index_set(c: &Cluster, log_arg: &str, dashboard: &str) {
    let url = c.url("adx");
    // Before the recommended indexes: the dashboard sorts the recent users.
    let before = explain(c, dashboard);
    assert!(
        !sorts_on(&before, "last_login").is_empty(),
        "the baseline dashboard plan sorts by last_login: {before:#?}"
    );

    let out_dir = c.dir().join("advice");
    let plan_path = out_dir.join("plan.json");
    let migration = out_dir.join("migration");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let o = pgpilot(&[
        "advise",
        "--db",
        &url,
        "--logs",
        log_arg,
        "--format",
        "json",
        "--out",
        &plan_path.display().to_string(),
        "--migration",
        &migration.display().to_string(),
    ]);
    let plan = json_ok("advise", &o);
    eprintln!(
        "advise stderr: {}\nskipped: {}\ndrops: {}",
        stderr(&o).trim(),
        plan["skipped"],
        plan["drops"]
    );
    let recs = plan["recommendations"].as_array().expect("recommendations");
    let shown = summary(&plan);
    eprintln!(
        "advice: cost {} -> {}, {} what-if plans, {:.1}s\n{shown}",
        plan["workload_cost_before"],
        plan["workload_cost_after"],
        plan["whatif_plans"],
        plan["advise_seconds"].as_f64().unwrap_or_default()
    );
    assert!(!recs.is_empty(), "{plan:#}");
    for r in recs {
        assert!(
            r["ddl"]
                .as_str()
                .is_some_and(|d| d.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS")),
            "{}",
            r["ddl"]
        );
        assert!(r["size_bytes"].as_u64().is_some_and(|s| s > 0), "{r:#}");
        let qs = r["queries"].as_array().expect("queries");
        assert!(!qs.is_empty(), "{r:#}");
        assert!(
            qs.iter()
                .any(|q| q["cost_after"].as_f64() < q["cost_before"].as_f64()),
            "{r:#}"
        );
    }
    assert!(
        plan["workload_cost_after"].as_f64() < plan["workload_cost_before"].as_f64(),
        "{shown}"
    );
    let on = |table: &'static str| recs.iter().filter(move |r| r["table"] == table);
    assert!(
        on("public.profiles").any(|r| first_key(r) == Some("user_id")),
        "profiles.user_id:\n{shown}"
    );
    assert!(
        on("public.audit_logs").any(|r| first_key(r) == Some("timestamp") && serves(r, "GROUP BY")),
        "the audit_logs reporting range:\n{shown}"
    );
    assert!(
        on("public.sessions").any(|r| key_columns(r).iter().any(|k| k == "expires_at")
            && serves(r, "DELETE FROM sessions")),
        "the session cleanup:\n{shown}"
    );
    let dashboard_index = on("public.users")
        .find(|r| serves(r, "last_login DESC"))
        .unwrap_or_else(|| panic!("no users index serves the dashboard:\n{shown}"));

    // The plan file parses back and the migration holds every statement.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).expect("plan.json"))
            .expect("plan.json parses");
    assert_eq!(saved["recommendations"], plan["recommendations"]);
    let up = std::fs::read_to_string(migration.join("up.sql")).expect("up.sql");
    let down = std::fs::read_to_string(migration.join("down.sql")).expect("down.sql");
    for r in recs {
        let ddl = r["ddl"].as_str().expect("ddl");
        assert!(up.contains(ddl), "up.sql lacks {ddl}:\n{up}");
        let name = r["name"].as_str().expect("name");
        let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}");
        assert!(
            down.contains(&drop)
                || down.contains(&format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS public.\"{name}\""
                )),
            "down.sql lacks {drop}:\n{down}"
        );
        assert_eq!(
            r["rollback_ddl"].as_str().map(|d| down.contains(d)),
            Some(true)
        );
    }

    // The recommended indexes for real: the dashboard no longer sorts.
    for r in recs {
        c.psql("adx", r["ddl"].as_str().expect("ddl"))
            .unwrap_or_else(|e| panic!("{}: {e}", r["ddl"]));
    }
    let after = explain(c, dashboard);
    assert!(
        sorts_on(&after, "last_login").is_empty(),
        "with {} the dashboard still sorts: {after:#?}",
        dashboard_index["ddl"]
    );
    let users_index = dashboard_index["name"].as_str().expect("name");
    assert!(
        after
            .iter()
            .any(|n| n["Relation Name"] == "users" && n["Index Name"] == users_index),
        "the dashboard plan uses {users_index}: {after:#?}"
    );
}

/// Each bad input is one clear error (or verdict), never a panic; without HypoPG
/// the error names the fix and the fallback, and the fallback works.
fn bad_input_is_a_clear_error(c: &Cluster, log_arg: &str) {
    let url = c.url("adx");
    let err = clear_error(
        "missing draft",
        &pgpilot(&[
            "advise",
            "--db",
            &url,
            "--logs",
            log_arg,
            "--evaluate",
            "/nonexistent/draft.sql",
        ]),
    );
    assert!(err.contains("/nonexistent/draft.sql"), "{err}");
    let err = clear_error("no workload", &pgpilot(&["advise", "--db", &url]));
    assert!(
        err.contains("--logs") && err.contains("--workload"),
        "{err}"
    );
    let err = clear_error(
        "missing log",
        &pgpilot(&[
            "advise",
            "--db",
            &url,
            "--logs",
            "/nonexistent/postgresql.log",
        ]),
    );
    assert!(err.contains("/nonexistent/postgresql.log"), "{err}");

    let nohypo = c.url("nohypo");
    let err = clear_error(
        "no hypopg",
        &pgpilot(&["advise", "--db", &nohypo, "--logs", log_arg]),
    );
    assert!(
        err.contains("CREATE EXTENSION hypopg")
            && err.contains("--create-extension")
            && err.contains("--whatif real-tx"),
        "{err}"
    );
    let indexes_before = index_count(c, "nohypo");
    let o = pgpilot(&[
        "advise", "--db", &nohypo, "--logs", log_arg, "--whatif", "real-tx", "--format", "json",
    ]);
    eprintln!("real-tx stderr: {}", stderr(&o).trim());
    let v = json_ok("real-tx", &o);
    eprintln!("real-tx advice:\n{}", summary(&v));
    assert_eq!(v["settings"]["whatif"], "real-tx");
    let real = v["recommendations"].as_array().expect("recommendations");
    assert!(
        real.iter()
            .any(|r| r["table"] == "public.profiles" && first_key(r) == Some("user_id")),
        "real-tx:\n{}",
        summary(&v)
    );
    assert_eq!(
        index_count(c, "nohypo"),
        indexes_before,
        "the rolled-back builds left nothing behind"
    );
}
