//! `pgpilot health`, `indexes` and `explain` on the ADX Core demo database at its
//! slow baseline, through the binary.

use std::process::{Command, Output};

use pgpilot_cluster::{Cluster, ClusterOptions};

fn pgpilot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgpilot"))
        .args(args)
        .output()
        .expect("run pgpilot")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success() || o.status.code() == Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json output")
}

fn demo() -> (Cluster, String) {
    let c = Cluster::start(ClusterOptions::default()).expect("cluster");
    c.create_database("adx").expect("db");
    let url = c.url("adx");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let spec = pgpilot_db::ConnSpec::parse(&url).expect("spec");
        let cfg = pgpilot_demo::DemoConfig {
            scale: 0.05,
            seed: 3,
        };
        pgpilot_demo::load(&spec, &cfg, &|_| {})
            .await
            .expect("load");
    });
    (c, url)
}

fn ids(findings: &serde_json::Value) -> Vec<(String, String)> {
    findings
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap_or_default().to_string(),
                f["table"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_demo_baseline_is_diagnosed_with_fixes() {
    let (_c, url) = demo();

    let v = json(&pgpilot(&["health", "--db", &url, "--format", "json"]));
    let found = ids(&v["findings"]);
    assert!(
        found
            .iter()
            .any(|(id, t)| id == "health.fk_without_index" && t.ends_with("profiles")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|(id, _)| id == "health.stale_statistics"),
        "{found:?}"
    );
    let fk = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| {
            f["id"] == "health.fk_without_index"
                && f["table"].as_str().is_some_and(|t| t.ends_with("profiles"))
        })
        .expect("fk finding");
    assert!(
        fk["fix_sql"]
            .as_str()
            .is_some_and(|s| s.starts_with("CREATE INDEX CONCURRENTLY")),
        "{fk}"
    );
    let o = pgpilot(&["health", "--db", &url, "--fail-on", "warning"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "--fail-on warning with warnings present"
    );

    let v = json(&pgpilot(&["indexes", "--db", &url, "--format", "json"]));
    let names: Vec<&str> = v["indexes"]
        .as_array()
        .expect("indexes")
        .iter()
        .filter_map(|i| i["name"].as_str())
        .collect();
    assert!(
        names.contains(&"users_pkey") && names.contains(&"users_email_key"),
        "{names:?}"
    );

    let dashboard = "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id \
                     LEFT JOIN roles r ON u.role_id = r.id WHERE u.created_at > NOW() - INTERVAL '30 days' \
                     ORDER BY u.last_login DESC LIMIT 50";
    let v = json(&pgpilot(&[
        "explain", "--db", &url, "--query", dashboard, "--format", "json",
    ]));
    let found = ids(&v["findings"]);
    // With HypoPG the what-if advice (an index on users, and profiles by
    // user_id for the join) replaces the sort rule's single-column index.
    assert!(
        found
            .iter()
            .any(|(id, t)| id == "plan.index_advice" && t.contains("users")),
        "{found:?}"
    );
    let advice = v["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == "plan.index_advice"))
        .and_then(|f| f["fix_sql"].as_str())
        .unwrap_or_default();
    assert!(
        advice.contains("ON public.users") && advice.contains("ON public.profiles (user_id)"),
        "{advice}"
    );
    let distinct = "SELECT DISTINCT u.id, u.email, u.name, u.status, r.role_name FROM users u \
                    JOIN roles r ON r.id = u.role_id WHERE u.created_at > NOW() - INTERVAL '7 days' \
                    AND u.status = $1 ORDER BY u.id";
    let v = json(&pgpilot(&[
        "explain", "--db", &url, "--query", distinct, "--param", "active", "--format", "json",
    ]));
    let found = ids(&v["findings"]);
    assert!(
        found.iter().any(|(id, _)| id == "lint.needless_distinct"),
        "{found:?}"
    );
    let o = pgpilot(&["explain", "--db", &url, "--query", "DROP TABLE users"]);
    assert!(
        o.status.success(),
        "a refused statement is an outcome, not a crash"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("refused"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
