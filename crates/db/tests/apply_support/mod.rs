//! Shared helpers of the apply / rollback integration tests: a throwaway
//! cluster, tables, hand-built plans whose identity and signatures come from the
//! database itself, and catalog probes.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pgpilot_advisor::{
    AdvicePlan, AdviseSettings, DropRecommendation, IndexDef, IndexKey, MeasuredQuery,
    Recommendation, ServedQuery, TimingStats, Verification, VerifyStatus, PLAN_FORMAT_VERSION,
};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::plan_identity::{database_identity, table_signatures};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{ApplyEvent, ApplyOptions, ConnSpec};

/// A cluster with database `app`.
pub async fn start() -> (Cluster, ConnSpec, Client) {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start a PostgreSQL cluster");
    cluster.create_database("app").expect("create database");
    let spec = ConnSpec::parse(&cluster.url("app")).expect("cluster URL");
    let client = spec.connect().await.expect("connect");
    (cluster, spec, client)
}

/// Another connection to the same database.
pub async fn connect(spec: &ConnSpec) -> Client {
    spec.connect().await.expect("connect")
}

/// `public.<name> (id int primary key, a int, b text)` with `rows` rows.
pub async fn make_table(client: &Client, name: &str, rows: i32) {
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (id int PRIMARY KEY, a int NOT NULL, b text);
             INSERT INTO {name} SELECT g, g % 1000, md5(g::text) FROM generate_series(1, {rows}) g;
             ANALYZE {name};"
        ))
        .await
        .expect("create table");
}

/// A table whose expression index on `slow_key(id)` takes about 1 ms per row to
/// build, so a test can catch the build in the act.
pub async fn make_slow_table(client: &Client, name: &str, rows: i32) {
    client
        .batch_execute(&format!(
            "CREATE OR REPLACE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS
               $$ BEGIN PERFORM pg_sleep(0.001); RETURN i; END $$;
             CREATE TABLE {name} (id int PRIMARY KEY, a int NOT NULL, b text);
             INSERT INTO {name} SELECT g, g % 1000, md5(g::text) FROM generate_series(1, {rows}) g;
             ANALYZE {name};"
        ))
        .await
        .expect("create slow table");
}

/// A recommendation for a B-tree on `keys` of `public.table`.
pub fn rec(table: &str, keys: Vec<IndexKey>, status: Option<VerifyStatus>) -> Recommendation {
    let def = IndexDef::btree("public", table, keys);
    let name = def.suggested_name();
    let measured = MeasuredQuery {
        id: "q1".into(),
        query: format!("SELECT * FROM {table} WHERE a = $1"),
        calls: 300.0,
        before: stats(12.0),
        after: stats(0.5),
        uses_index: true,
    };
    let other = MeasuredQuery {
        id: "q2".into(),
        calls: 100.0,
        before: stats(4.0),
        after: stats(0.5),
        ..measured.clone()
    };
    Recommendation {
        ddl: def.create_sql(&name, true, true),
        rollback_ddl: def.drop_sql(&name),
        name,
        table: format!("public.{table}"),
        columns: def.key_labels(),
        kind: def.kind(),
        size_bytes: 1 << 20,
        queries: vec![ServedQuery {
            query: measured.query.clone(),
            id: "q1".into(),
            calls: 300.0,
            cost_before: 1000.0,
            cost_after: 10.0,
        }],
        benefit: 297_000.0,
        write_overhead: 0.0,
        reason: "test".into(),
        alternatives: Vec::new(),
        verification: status.map(|status| Verification {
            status,
            method: "rolled-back transaction on target".into(),
            real_size_bytes: 1 << 20,
            build_ms: 50.0,
            queries: vec![measured, other],
            gain: 0.9,
            write_slowdown: None,
            verified_at: "2024-01-01T00:00:00Z".into(),
            note: String::new(),
        }),
        index: def,
    }
}

fn stats(ms: f64) -> TimingStats {
    TimingStats {
        median_ms: ms,
        min_ms: ms,
        max_ms: ms,
        runs: 5,
    }
}

/// A drop recommendation for an existing index.
pub fn drop_rec(name: &str, table: &str, recreate: &str) -> DropRecommendation {
    DropRecommendation {
        name: name.into(),
        table: format!("public.{table}"),
        reason: "unused".into(),
        detail: "0 scans".into(),
        ddl: format!("DROP INDEX CONCURRENTLY IF EXISTS public.{name}"),
        recreate_ddl: recreate.into(),
        size_bytes: 8192,
    }
}

/// A plan for the connected database with these items; identity and table
/// signatures are read from the database.
pub async fn plan(
    client: &Client,
    id: &str,
    recommendations: Vec<Recommendation>,
    drops: Vec<DropRecommendation>,
    analyze: Vec<String>,
) -> AdvicePlan {
    let mut tables: Vec<String> = recommendations.iter().map(|r| r.table.clone()).collect();
    tables.extend(drops.iter().map(|d| d.table.clone()));
    tables.extend(analyze.iter().cloned());
    tables.sort();
    tables.dedup();
    AdvicePlan {
        version: PLAN_FORMAT_VERSION,
        id: id.into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        database: database_identity(client).await.expect("identity"),
        tables: table_signatures(client, &tables).await.expect("signatures"),
        settings: AdviseSettings {
            budget_bytes: None,
            max_columns: 3,
            min_gain: 0.1,
            whatif: "hypopg".into(),
        },
        workload_cost_before: 1000.0,
        workload_cost_after: 10.0,
        whatif_plans: 1,
        advise_seconds: 0.1,
        recommendations,
        drops,
        analyze,
        skipped: Vec::new(),
        queries: Vec::new(),
    }
}

/// Approved options with short timeouts and backoff.
pub fn fast() -> ApplyOptions {
    ApplyOptions {
        dry_run: false,
        lock_timeout: Some(Duration::from_secs(1)),
        max_retries: 2,
        backoff: Duration::from_millis(100),
        wait_for_lock: Duration::from_secs(30),
        ..ApplyOptions::default()
    }
}

/// Indexes of `public.table`: (name, valid).
pub async fn indexes(client: &Client, table: &str) -> Vec<(String, bool)> {
    client
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = $1::text::regclass ORDER BY 1",
            &[&format!("public.{table}")],
        )
        .await
        .expect("list indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Every INVALID index in the database.
pub async fn invalid_indexes(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid",
            &[],
        )
        .await
        .expect("list invalid indexes")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Whether the journal schema exists.
pub async fn has_pgpilot_schema(client: &Client) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgpilot')",
            &[],
        )
        .await
        .expect("schema probe")
        .get(0)
}

/// A progress sink that keeps the events.
pub fn recorder() -> (
    Arc<Mutex<Vec<ApplyEvent>>>,
    impl FnMut(ApplyEvent) + Send + 'static,
) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |e: ApplyEvent| {
        eprintln!("{e}");
        sink.lock().expect("events").push(e);
    })
}

/// The pid of the `pgpilot apply` backend running `CREATE INDEX CONCURRENTLY`
/// once its build is scanning the table (the catalog entry exists by then).
pub async fn building_pid(client: &Client, deadline: Duration) -> Option<i32> {
    let start = std::time::Instant::now();
    while start.elapsed() < deadline {
        let row = client
            .query_opt(
                "SELECT a.pid FROM pg_stat_activity a \
                 JOIN pg_stat_progress_create_index p ON p.pid = a.pid \
                 WHERE a.application_name = 'pgpilot apply' AND a.state = 'active' \
                   AND p.phase LIKE 'building index%' LIMIT 1",
                &[],
            )
            .await
            .expect("progress probe");
        if let Some(r) = row {
            return Some(r.get(0));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The journal rows of one plan.
pub async fn journal_of(client: &Client, plan_id: &str) -> Vec<pgpilot_advisor::ChangeRecord> {
    pgpilot_db::journal(
        client,
        &pgpilot_db::JournalFilter {
            plan_id: Some(plan_id.into()),
            ..Default::default()
        },
    )
    .await
    .expect("journal")
}
