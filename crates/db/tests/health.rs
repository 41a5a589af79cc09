//! The health audit and the index inventory against real clusters started by the
//! tests: the ADX Core demo's baseline problems are found, a freshly loaded and
//! analyzed pgbench database raises no critical finding, invalid and duplicate
//! indexes are reported, and a user without privileges on some views still gets a
//! result.

use std::process::Command;
use std::time::Duration;

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::pgpilot_health::{evaluate, Finding, HealthFacts, IndexFlag, Severity};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{collect_health_facts, index_inventory, ConnSpec};
use pgpilot_demo::{load, DemoConfig};

fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("cluster")
}

async fn connect(url: &str) -> Client {
    ConnSpec::parse(url)
        .expect("URL")
        .connect()
        .await
        .expect("connect")
}

fn summary(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{f} [{}] {:?}",
                f.table.as_deref().unwrap_or("-"),
                f.evidence
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn find<'a>(findings: &'a [Finding], id: &str, table: &str) -> Option<&'a Finding> {
    findings
        .iter()
        .find(|f| f.id == id && f.table.as_deref() == Some(table))
}

#[tokio::test]
async fn demo_baseline_reports_the_unindexed_fk_and_stale_statistics() {
    let c = cluster();
    c.create_database("adx").expect("create database");
    let spec = ConnSpec::parse(&c.url("adx")).expect("URL");
    load(
        &spec,
        &DemoConfig {
            scale: 0.01,
            seed: 42,
        },
        &|_| {},
    )
    .await
    .expect("demo load");
    let client = spec.connect().await.expect("connect");

    // The load's sessions publish their table counters as they exit: wait for them.
    let stale_tables = ["users", "profiles", "audit_logs", "sessions"];
    let mut findings = Vec::new();
    for _ in 0..20 {
        let facts = collect_health_facts(&client).await.expect("facts");
        assert!(facts.unavailable.is_empty(), "{:?}", facts.unavailable);
        findings = evaluate(&facts);
        let all_stale = stale_tables
            .iter()
            .all(|t| find(&findings, "health.stale_statistics", &format!("public.{t}")).is_some());
        if all_stale {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let text = summary(&findings);
    eprintln!("demo baseline findings:\n{text}");

    let fk = find(&findings, "health.fk_without_index", "public.profiles")
        .unwrap_or_else(|| panic!("profiles.user_id FK finding missing:\n{text}"));
    assert_eq!(fk.columns, vec!["user_id".to_string()]);
    assert_eq!(fk.severity, Severity::Warning);
    let fix = fk.fix_sql.as_deref().unwrap_or("");
    assert!(
        fix.starts_with("CREATE INDEX CONCURRENTLY ")
            && fix.ends_with(" ON public.profiles (user_id);"),
        "{fix}"
    );
    for t in stale_tables {
        let f = find(&findings, "health.stale_statistics", &format!("public.{t}"))
            .unwrap_or_else(|| panic!("stale statistics of {t} missing:\n{text}"));
        assert_eq!(
            f.fix_sql.as_deref(),
            Some(format!("ANALYZE public.{t};").as_str())
        );
    }
    // The suggested index really is creatable, and then the finding goes away.
    c.psql("adx", fix).expect("suggested fix runs");
    let after = evaluate(&collect_health_facts(&client).await.expect("facts"));
    assert!(find(&after, "health.fk_without_index", "public.profiles").is_none());
}

#[tokio::test]
async fn fresh_analyzed_pgbench_has_no_critical_finding() {
    let c = cluster();
    c.create_database("bench").expect("create database");
    let out = Command::new(c.binaries().program("pgbench"))
        .arg("-i")
        .args(["-s", "1", "-q", "-h"])
        .arg(c.socket_dir())
        .args(["-p", &c.port().to_string(), "-U", "postgres", "bench"])
        .output()
        .expect("run pgbench");
    assert!(
        out.status.success(),
        "pgbench -i: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.psql("bench", "VACUUM ANALYZE").expect("vacuum analyze");
    let client = connect(&c.url("bench")).await;
    let facts = collect_health_facts(&client).await.expect("facts");
    assert!(facts.unavailable.is_empty(), "{:?}", facts.unavailable);
    assert!(facts.tables.iter().any(|t| t.name == "pgbench_accounts"));
    assert!(facts.activity.is_some() && facts.transaction_ids.is_some());
    let findings = evaluate(&facts);
    eprintln!("pgbench findings:\n{}", summary(&findings));
    let critical: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .collect();
    assert!(critical.is_empty(), "false alarms:\n{}", summary(&findings));
    assert!(
        !pgpilot_db::pgpilot_health::fails_on(&findings, Severity::Critical),
        "{}",
        summary(&findings)
    );
    let inv = index_inventory(&client).await.expect("inventory");
    let pk = inv
        .indexes
        .iter()
        .find(|i| i.name == "pgbench_accounts_pkey")
        .expect("pgbench_accounts_pkey in the inventory");
    assert!(pk.primary && pk.flags.is_empty() && pk.bytes > 0, "{pk:?}");
}

#[tokio::test]
async fn invalid_and_duplicate_indexes_and_not_valid_constraints_are_reported() {
    let c = cluster();
    c.create_database("idx").expect("create database");
    c.psql(
        "idx",
        "CREATE TABLE items (id int PRIMARY KEY, code int, grp int, \"Weird Col\" int); \
         INSERT INTO items SELECT g, g % 10, g % 7, g FROM generate_series(1, 1000) g; \
         CREATE INDEX items_grp_idx ON items (grp); \
         CREATE INDEX items_grp_idx2 ON items (grp); \
         CREATE INDEX items_grp_code_idx ON items (grp, code); \
         CREATE INDEX items_weird_idx ON items (\"Weird Col\"); \
         ALTER TABLE items ADD CONSTRAINT items_code_check CHECK (code >= 0) NOT VALID;",
    )
    .expect("schema");
    // Fails on the duplicate codes and leaves an INVALID index behind.
    let failed = c.psql(
        "idx",
        "CREATE UNIQUE INDEX CONCURRENTLY items_code_key ON items (code)",
    );
    assert!(failed.is_err(), "the unique build should fail");

    let client = connect(&c.url("idx")).await;
    let facts = collect_health_facts(&client).await.expect("facts");
    let findings = evaluate(&facts);
    let text = summary(&findings);
    let by_index = |id: &str, index: &str| {
        findings
            .iter()
            .find(|f| f.id == id && f.evidence.get("index").and_then(|v| v.as_str()) == Some(index))
    };

    let invalid = by_index("health.invalid_index", "items_code_key")
        .unwrap_or_else(|| panic!("invalid index missing:\n{text}"));
    assert_eq!(
        invalid.fix_sql.as_deref(),
        Some(
            "DROP INDEX CONCURRENTLY IF EXISTS public.items_code_key;\n\
             CREATE UNIQUE INDEX CONCURRENTLY items_code_key ON public.items USING btree (code);"
        )
    );
    let dup = by_index("health.duplicate_index", "items_grp_idx2")
        .unwrap_or_else(|| panic!("duplicate index missing:\n{text}"));
    assert_eq!(dup.evidence["kind"], "duplicate");
    assert_eq!(
        dup.fix_sql.as_deref(),
        Some("DROP INDEX CONCURRENTLY public.items_grp_idx2;")
    );
    let red = by_index("health.duplicate_index", "items_grp_idx")
        .unwrap_or_else(|| panic!("redundant index missing:\n{text}"));
    assert_eq!(red.evidence["kind"], "redundant");
    assert_eq!(red.evidence["covered_by"], "items_grp_code_idx");
    assert!(by_index("health.duplicate_index", "items_grp_code_idx").is_none());
    assert!(by_index("health.duplicate_index", "items_weird_idx").is_none());

    let nv = find(&findings, "health.invalid_constraint", "public.items")
        .unwrap_or_else(|| panic!("NOT VALID constraint missing:\n{text}"));
    let validate = nv.fix_sql.clone().unwrap_or_default();
    assert_eq!(
        validate,
        "ALTER TABLE public.items VALIDATE CONSTRAINT items_code_check;"
    );
    c.psql("idx", &validate).expect("VALIDATE runs");

    // Every DROP / re-create statement offered is valid SQL on this server.
    c.psql("idx", dup.fix_sql.as_deref().unwrap_or_default())
        .expect("drop duplicate");

    let inv = index_inventory(&client).await.expect("inventory");
    let flags = |n: &str| {
        inv.indexes
            .iter()
            .find(|i| i.name == n)
            .map(|i| i.flags.clone())
            .unwrap_or_else(|| panic!("{n} not in the inventory"))
    };
    assert!(flags("items_code_key").contains(&IndexFlag::Invalid));
    assert!(flags("items_grp_idx").contains(&IndexFlag::Redundant));
    assert!(flags("items_pkey").is_empty());
    assert!(inv.indexes.iter().all(|i| i.name != "items_grp_idx2"));
    let weird = inv.indexes.iter().find(|i| i.name == "items_weird_idx");
    assert_eq!(
        weird.map(|i| i.columns.clone()),
        Some(vec!["\"Weird Col\"".to_string()])
    );
    assert_eq!(inv.tables.len(), 1);
}

#[tokio::test]
async fn a_user_without_privileges_on_some_views_still_gets_a_result() {
    let c = cluster();
    c.create_database("locked").expect("create database");
    c.psql(
        "locked",
        "CREATE TABLE orders (id serial PRIMARY KEY, note text); \
         INSERT INTO orders (note) SELECT 'n' FROM generate_series(1, 100); \
         ANALYZE orders; \
         CREATE ROLE auditor LOGIN; \
         REVOKE SELECT ON pg_catalog.pg_stat_activity FROM PUBLIC; \
         REVOKE SELECT ON pg_catalog.pg_stats FROM PUBLIC; \
         REVOKE SELECT ON pg_catalog.pg_stat_progress_create_index FROM PUBLIC;",
    )
    .expect("setup");
    let url = format!("postgres://auditor@127.0.0.1:{}/locked", c.port());
    let client = connect(&url).await;
    let facts: HealthFacts = collect_health_facts(&client).await.expect("a result");
    let missing: Vec<&str> = facts
        .unavailable
        .iter()
        .map(|u| u.source.as_str())
        .collect();
    assert!(missing.contains(&"activity"), "{missing:?}");
    assert!(missing.contains(&"index_key_widths"), "{missing:?}");
    assert!(
        facts
            .unavailable
            .iter()
            .all(|u| u.sqlstate.as_deref() == Some("42501")),
        "{:?}",
        facts.unavailable
    );
    assert!(facts.activity.is_none());
    assert!(facts.tables.iter().any(|t| t.name == "orders"));
    assert!(facts.indexes.iter().any(|i| i.name == "orders_pkey"));
    let seq = facts.sequences.iter().find(|s| s.name == "orders_id_seq");
    assert!(seq.is_some(), "{:?}", facts.sequences);
    // The checks still run on what was readable.
    let _ = evaluate(&facts);
    let inv = index_inventory(&client).await.expect("inventory");
    assert!(!inv.unavailable.is_empty());
}
