//! The prove-and-apply loop through the `pgpilot` binary on the ADX Core demo
//! with its own captured workload: `advise` writes a plan, `apply` without
//! approval (and before `verify`) changes nothing, `verify` measures every
//! recommendation with real builds that leave nothing behind, `apply --approve`
//! creates only the verified indexes (valid, journaled, idempotent), `report`
//! writes the hand-off document, `rollback` undoes the changes (dry run first,
//! idempotent), and corrupt, foreign or missing plans are clear errors.

use std::path::Path;
use std::process::Output;

use pgpilot_cluster::{Cluster, ClusterOptions};
use serde_json::Value;

mod support;
use support::{demo_with_captured_workload, pgpilot, stderr, stdout};

/// Demo scale: 50 000 users and profiles, 250 000 audit entries, 50 000 sessions.
const SCALE: f64 = 0.05;
const SEED: u64 = 17;

/// A successful run: exit 0, no panic.
fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstderr: {}\nstdout: {}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
    assert!(!stderr(o).contains("panicked"), "{what}: {}", stderr(o));
}

/// The JSON of a successful run.
fn json_ok(what: &str, o: &Output) -> Value {
    ok(what, o);
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", stdout(o)))
}

/// A failed run with a clear message: non-zero exit, no panic, one error line.
fn clear_error(what: &str, o: &Output) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "{what}: expected a failure, got success\nstderr: {err}\nstdout: {}",
        stdout(o)
    );
    assert!(!err.contains("panicked"), "{what}: panicked: {err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("error: "),
        "{what}: the error should be one line: {err}"
    );
    eprintln!("{what}: {}", lines[0]);
    lines[0].to_string()
}

/// Number of indexes in the demo's schema.
fn index_count(c: &Cluster) -> String {
    c.psql(
        "adx",
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'",
    )
    .expect("index count")
}

/// `true`/`false` when the index `schema.name` exists and is valid / invalid;
/// empty when it does not exist.
fn index_valid(c: &Cluster, qualified: &str) -> String {
    c.psql(
        "adx",
        &format!(
            "SELECT i.indisvalid::text FROM pg_index i \
             JOIN pg_class x ON x.oid = i.indexrelid \
             JOIN pg_namespace n ON n.oid = x.relnamespace \
             WHERE n.nspname || '.' || x.relname = '{}'",
            qualified.replace('\'', "''")
        ),
    )
    .expect("index state")
}

fn no_journal_schema(c: &Cluster) -> bool {
    c.psql("adx", "SELECT to_regnamespace('pgpilot') IS NULL")
        .expect("schema")
        == "t"
}

fn read_plan(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("plan file")).expect("plan JSON")
}

fn recs(plan: &Value) -> &Vec<Value> {
    plan["recommendations"].as_array().expect("recommendations")
}

/// `schema.name` of a recommendation, as apply items name it.
fn qualified(r: &Value) -> String {
    format!(
        "{}.{}",
        r["index"]["schema"].as_str().expect("schema"),
        r["name"].as_str().expect("name")
    )
}

fn status(r: &Value) -> &str {
    r["verification"]["status"].as_str().unwrap_or("")
}

fn items(report: &Value) -> &Vec<Value> {
    report["items"].as_array().expect("items")
}

fn outcome(item: &Value) -> &str {
    item["outcome"].as_str().unwrap_or("")
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn advise_verify_apply_report_and_roll_back_through_the_binary() {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    let log = demo_with_captured_workload(
        &c,
        &pgpilot_demo::DemoConfig {
            scale: SCALE,
            seed: SEED,
        },
        "6s",
        &["profile_by_user"],
        json_ok,
    );
    let url = c.url("adx");
    let dir = c.dir().join("prove");
    std::fs::create_dir_all(&dir).expect("dir");
    let plan_path = dir.join("plan.json");
    let plan_arg = path_arg(&plan_path);

    // 1. The plan.
    let o = pgpilot(&[
        "advise",
        "--db",
        &url,
        "--logs",
        &path_arg(&log),
        "--out",
        &plan_arg,
        "--format",
        "json",
    ]);
    let advised = json_ok("advise", &o);
    assert!(!recs(&advised).is_empty(), "no recommendation: {advised:#}");
    for r in recs(&advised) {
        eprintln!("recommended: {}", r["ddl"]);
    }
    let decoy = add_decoy(&plan_path);
    let baseline_indexes = index_count(&c);

    apply_before_verify_is_a_dry_run(&c, &url, &plan_arg, &baseline_indexes);
    let plan = verify_measures_every_recommendation(&c, &url, &plan_path, &baseline_indexes);
    let judged = recs(&plan)
        .iter()
        .find(|r| r["name"] == decoy.as_str())
        .expect("the decoy is still in the plan");
    assert_eq!(status(judged), "no_gain", "{judged:#}");
    assert!(
        judged["verification"]["note"]
            .as_str()
            .is_some_and(|n| n.contains("did not use the index")),
        "{judged:#}"
    );
    let applied = apply_creates_only_verified_indexes(&c, &url, &plan_arg, &plan);
    report_names_the_changes(&url, &plan_arg, &dir, &applied);
    rollback_undoes_the_changes(&c, &url, &plan_arg, &applied, &baseline_indexes);
    bad_plans_are_refused(&c, &url, &plan_path, &dir);
}

/// Adds to the plan file a recommendation whose estimate is wrong: an index on
/// `profiles (updated_at)` said to serve the profile page, which looks profiles
/// up by `user_id` — what a misleading what-if estimate would look like. Real
/// measurement must reject it and `apply` must never build it. Returns its name.
fn add_decoy(plan_path: &Path) -> String {
    let mut plan = read_plan(plan_path);
    let mut decoy = recs(&plan)
        .iter()
        .find(|r| {
            r["table"] == "public.profiles" && r["index"]["keys"][0]["expr"]["value"] == "user_id"
        })
        .cloned()
        .unwrap_or_else(|| panic!("no profiles(user_id) recommendation: {plan:#}"));
    let name = "profiles_updated_at_idx";
    decoy["name"] = Value::from(name);
    decoy["ddl"] = Value::from(format!(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON public.profiles (updated_at)"
    ));
    decoy["rollback_ddl"] = Value::from(format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}"));
    decoy["columns"] = serde_json::json!(["updated_at"]);
    decoy["index"]["keys"] =
        serde_json::json!([{"expr": {"type": "column", "value": "updated_at"}}]);
    decoy["index"]["include"] = serde_json::json!([]);
    decoy["reason"] = Value::from("a wrong estimate (test decoy)");
    plan["recommendations"]
        .as_array_mut()
        .expect("recommendations")
        .push(decoy);
    std::fs::write(plan_path, plan.to_string()).expect("plan with the decoy");
    name.to_string()
}

/// `apply` without `--approve`, on a plan not yet verified: says so, changes
/// nothing (no journal schema, no index).
fn apply_before_verify_is_a_dry_run(c: &Cluster, url: &str, plan: &str, baseline: &str) {
    let o = pgpilot(&["apply", "--db", url, "--plan", plan, "--format", "json"]);
    let report = json_ok("dry-run apply", &o);
    let err = stderr(&o);
    eprintln!("dry-run apply stderr:\n{}", err.trim());
    assert!(err.contains("dry run"), "{err}");
    assert!(err.contains("not verified"), "{err}");
    assert_eq!(report["dry_run"], true, "{report:#}");
    assert!(!items(&report).is_empty(), "{report:#}");
    for item in items(&report) {
        assert_ne!(outcome(item), "applied", "{item:#}");
        assert_eq!(item["change_id"], Value::Null, "{item:#}");
    }
    assert!(no_journal_schema(c), "a dry run created the journal");
    assert_eq!(index_count(c), baseline, "a dry run created an index");

    // The text form says the same.
    let o = pgpilot(&["apply", "--db", url, "--plan", plan]);
    ok("dry-run apply (text)", &o);
    assert!(stderr(&o).contains("dry run"), "{}", stderr(&o));
    assert!(stdout(&o).contains("0 applied"), "{}", stdout(&o));
    assert!(no_journal_schema(c));
    assert_eq!(index_count(c), baseline);
}

/// `verify --runs 3`: every recommendation gets a measured verdict, the
/// profile page's index is verified, and no index is left behind.
fn verify_measures_every_recommendation(
    c: &Cluster,
    url: &str,
    plan_path: &Path,
    baseline: &str,
) -> Value {
    let before = read_plan(plan_path);
    let started = std::time::Instant::now();
    let o = pgpilot(&[
        "verify",
        "--db",
        url,
        "--plan",
        &path_arg(plan_path),
        "--runs",
        "3",
        "--format",
        "json",
    ]);
    let printed = json_ok("verify", &o);
    eprintln!(
        "verify ({:.1} s) stderr:\n{}",
        started.elapsed().as_secs_f64(),
        stderr(&o).trim()
    );
    let plan = read_plan(plan_path);
    assert_eq!(printed, plan, "verify prints the plan it saved");
    assert_eq!(plan["id"], before["id"], "verify keeps the plan id");
    assert_eq!(recs(&plan).len(), recs(&before).len());
    for r in recs(&plan) {
        let v = &r["verification"];
        eprintln!(
            "verify: {} -> {} (gain {}, size {}, write slowdown {}) {}",
            r["name"], v["status"], v["gain"], v["real_size_bytes"], v["write_slowdown"], v["note"]
        );
        assert!(
            ["verified", "no_gain", "regression", "skipped"].contains(&status(r)),
            "{r:#}"
        );
        if status(r) != "skipped" {
            assert!(
                v["real_size_bytes"].as_u64().is_some_and(|s| s > 0),
                "{v:#}"
            );
            let qs = v["queries"].as_array().expect("measured queries");
            assert!(!qs.is_empty(), "{v:#}");
            for q in qs {
                assert_eq!(q["before"]["runs"], 3, "{q:#}");
                assert_eq!(q["after"]["runs"], 3, "{q:#}");
            }
        }
    }
    assert!(
        recs(&plan).iter().any(|r| status(r) == "verified"),
        "nothing verified: {plan:#}"
    );
    let profile = recs(&plan)
        .iter()
        .find(|r| {
            r["table"] == "public.profiles" && r["index"]["keys"][0]["expr"]["value"] == "user_id"
        })
        .unwrap_or_else(|| panic!("no profiles(user_id) recommendation: {plan:#}"));
    assert_eq!(status(profile), "verified", "{profile:#}");
    assert_eq!(index_count(c), baseline, "verify left an index behind");
    assert!(no_journal_schema(c), "verify created the journal");
    for r in recs(&plan) {
        assert_eq!(index_valid(c, &qualified(r)), "", "{} exists", r["name"]);
    }
    plan
}

/// `apply --approve`: exactly the verified recommendations become valid
/// indexes, journaled; a second run is a no-op. Returns the applied
/// `schema.name`s.
fn apply_creates_only_verified_indexes(
    c: &Cluster,
    url: &str,
    plan_arg: &str,
    plan: &Value,
) -> Vec<String> {
    let o = pgpilot(&[
        "apply",
        "--db",
        url,
        "--plan",
        plan_arg,
        "--approve",
        "--format",
        "json",
    ]);
    let report = json_ok("apply", &o);
    eprintln!("apply stderr:\n{}", stderr(&o).trim());
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["plan_id"], plan["id"]);
    let mut applied = Vec::new();
    for r in recs(plan) {
        let name = qualified(r);
        let item = items(&report)
            .iter()
            .find(|i| i["action"] == "create_index" && i["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no item for {name}: {report:#}"));
        match status(r) {
            "verified" => {
                assert_eq!(outcome(item), "applied", "{item:#}");
                assert!(item["change_id"].as_i64().is_some(), "{item:#}");
                assert_eq!(index_valid(c, &name), "true", "{name} valid");
                applied.push(name);
            }
            other => {
                assert_eq!(outcome(item), "skipped", "{other}: {item:#}");
                assert!(
                    item["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("not applied")),
                    "{item:#}"
                );
                assert_eq!(index_valid(c, &name), "", "{other} {name} was built");
            }
        }
    }
    for item in items(&report) {
        if outcome(item) == "applied" {
            assert!(
                applied.iter().any(|a| item["name"] == a.as_str()),
                "{item:#}"
            );
        }
    }
    assert!(!applied.is_empty());
    let journal = c
        .psql(
            "adx",
            &format!(
                "SELECT index_schema || '.' || index_name FROM pgpilot.changes \
                 WHERE plan_id = '{}' AND status = 'applied' AND action = 'create_index' \
                 ORDER BY 1",
                plan["id"].as_str().expect("plan id")
            ),
        )
        .expect("journal");
    let mut expected = applied.clone();
    expected.sort();
    assert_eq!(
        journal.lines().collect::<Vec<_>>(),
        expected,
        "journal rows"
    );
    let invalid = c
        .psql(
            "adx",
            "SELECT count(*) FROM pg_index WHERE NOT indisvalid OR NOT indisready",
        )
        .expect("invalid");
    assert_eq!(invalid, "0", "an invalid index was left");

    // Again: nothing to do.
    let count = c.psql("adx", "SELECT count(*) FROM pg_index").expect("n");
    let o = pgpilot(&[
        "apply",
        "--db",
        url,
        "--plan",
        plan_arg,
        "--approve",
        "--format",
        "json",
    ]);
    let again = json_ok("apply again", &o);
    for item in items(&again) {
        assert_ne!(outcome(item), "applied", "{item:#}");
        if applied.iter().any(|a| item["name"] == a.as_str()) {
            assert_eq!(outcome(item), "already_present", "{item:#}");
            assert!(
                item["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("already exists")),
                "{item:#}"
            );
        }
    }
    assert_eq!(
        c.psql("adx", "SELECT count(*) FROM pg_index").expect("n"),
        count
    );
    let o = pgpilot(&["apply", "--db", url, "--plan", plan_arg, "--approve"]);
    ok("apply again (text)", &o);
    let text = stdout(&o);
    assert!(
        text.contains("0 applied") && text.contains(&format!("{} already present", applied.len())),
        "{text}"
    );
    applied
}

/// The hand-off document in HTML (file) and Markdown (stdout).
fn report_names_the_changes(url: &str, plan_arg: &str, dir: &Path, applied: &[String]) {
    let html_path = dir.join("report.html");
    let o = pgpilot(&[
        "report",
        "--db",
        url,
        "--plan",
        plan_arg,
        "--format",
        "html",
        "--out",
        &path_arg(&html_path),
    ]);
    ok("report html", &o);
    let html = std::fs::read_to_string(&html_path).expect("report.html");
    assert!(
        html.starts_with("<!DOCTYPE html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    for name in applied {
        let bare = name.rsplit('.').next().unwrap_or(name);
        assert!(html.contains(bare), "the HTML report lacks {bare}");
    }
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "the HTML report loads something from the network"
    );

    let o = pgpilot(&[
        "report", "--db", url, "--plan", plan_arg, "--format", "markdown",
    ]);
    ok("report markdown", &o);
    let md = stdout(&o);
    assert!(md.to_lowercase().contains("rollback"), "{md}");
    for name in applied {
        let bare = name.rsplit('.').next().unwrap_or(name);
        assert!(md.contains(bare), "the Markdown report lacks {bare}:\n{md}");
        // `apply` ran more than once; each change is described once.
        let sections = md
            .lines()
            .filter(|l| l.starts_with("### ") && l.contains(&format!(" {bare} ")))
            .count();
        assert_eq!(sections, 1, "{bare} is described {sections} times:\n{md}");
    }
}

/// `rollback --last` (dry run) changes nothing; `rollback --plan --approve`
/// drops the applied indexes; a second run has nothing to do.
fn rollback_undoes_the_changes(
    c: &Cluster,
    url: &str,
    plan_arg: &str,
    applied: &[String],
    baseline: &str,
) {
    let o = pgpilot(&["rollback", "--db", url, "--last"]);
    ok("rollback --last (dry run)", &o);
    eprintln!("rollback --last:\n{}", stdout(&o).trim());
    assert!(stderr(&o).contains("dry run"), "{}", stderr(&o));
    assert!(stdout(&o).contains("would undo"), "{}", stdout(&o));
    for name in applied {
        assert_eq!(index_valid(c, name), "true", "the dry run dropped {name}");
    }

    let o = pgpilot(&[
        "rollback",
        "--db",
        url,
        "--plan",
        plan_arg,
        "--approve",
        "--format",
        "json",
    ]);
    let report = json_ok("rollback", &o);
    eprintln!("rollback stderr:\n{}", stderr(&o).trim());
    assert_eq!(report["dry_run"], false);
    for name in applied {
        assert_eq!(index_valid(c, name), "", "{name} is still there");
        assert!(
            items(&report)
                .iter()
                .any(|i| i["name"] == name.as_str() && outcome(i) == "rolled_back"),
            "{name}: {report:#}"
        );
    }
    assert_eq!(index_count(c), baseline, "rollback left an index");
    let left = c
        .psql(
            "adx",
            "SELECT count(*) FROM pgpilot.changes \
             WHERE status = 'applied' AND action = 'create_index'",
        )
        .expect("journal");
    assert_eq!(left, "0", "every applied change is marked rolled back");

    let o = pgpilot(&["rollback", "--db", url, "--plan", plan_arg, "--approve"]);
    ok("rollback again", &o);
    let text = stdout(&o);
    eprintln!("rollback again:\n{}", text.trim());
    assert!(text.contains("already rolled back"), "{text}");
    assert!(!text.contains("undone "), "{text}");
    assert_eq!(index_count(c), baseline);
}

/// A corrupt plan, a plan of another database, a stale plan and a missing
/// plan: each one clear line, no panic, nothing changed.
fn bad_plans_are_refused(c: &Cluster, url: &str, plan_path: &Path, dir: &Path) {
    let baseline = index_count(c);
    let corrupt = dir.join("corrupt.json");
    std::fs::write(&corrupt, r#"{"not": "a plan"}"#).expect("corrupt");
    let err = clear_error(
        "corrupt plan",
        &pgpilot(&[
            "apply",
            "--db",
            url,
            "--plan",
            &path_arg(&corrupt),
            "--approve",
        ]),
    );
    assert!(err.contains("not a pgpilot plan"), "{err}");
    assert!(err.contains("corrupt.json"), "{err}");

    let mut other = read_plan(plan_path);
    other["database"]["name"] = Value::from("billing");
    let other_path = dir.join("other-db.json");
    std::fs::write(&other_path, other.to_string()).expect("other");
    for cmd in ["apply", "verify"] {
        let mut args = vec!["--db", url, "--plan"];
        let p = path_arg(&other_path);
        args.push(&p);
        if cmd == "apply" {
            args.push("--approve");
        }
        let err = clear_error(
            &format!("{cmd} on another database's plan"),
            &pgpilot(&[&[cmd][..], &args].concat()),
        );
        assert!(
            err.contains("billing") && err.contains("adx") && err.contains("refusing"),
            "{err}"
        );
    }

    let mut stale = read_plan(plan_path);
    let table = stale["tables"][0]["table"]
        .as_str()
        .expect("a table signature")
        .to_string();
    stale["tables"][0]["columns"]
        .as_array_mut()
        .expect("columns")
        .push(Value::from("gone_column text"));
    let stale_path = dir.join("stale.json");
    std::fs::write(&stale_path, stale.to_string()).expect("stale");
    let err = clear_error(
        "stale plan",
        &pgpilot(&[
            "apply",
            "--db",
            url,
            "--plan",
            &path_arg(&stale_path),
            "--approve",
        ]),
    );
    assert!(
        err.contains(&table) && err.contains("gone_column") && err.contains("stale"),
        "{err}"
    );

    let err = clear_error(
        "missing plan",
        &pgpilot(&["verify", "--db", url, "--plan", "/nonexistent/plan.json"]),
    );
    assert!(err.contains("/nonexistent/plan.json"), "{err}");
    assert_eq!(index_count(c), baseline, "a refused plan changed something");
}
