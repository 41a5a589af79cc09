//! Shared set-up of the verify integration tests: the test table, plans and
//! recommendations built by hand, and what is left on a table afterwards.

#![allow(dead_code)]

use pgpilot_advisor::{
    AdvicePlan, AdviseSettings, DatabaseIdentity, IndexDef, IndexKey, PlanQuery, Recommendation,
    ServedQuery, Verification,
};
use pgpilot_cluster::Cluster;
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{ConnSpec, VerifyOptions};

/// `t`: `c` is selective (3 rows per value), `low` is not (2 values), `x` is a
/// permutation uncorrelated with the physical order, and the 16 rows where `r = 0`
/// are exactly those with the largest `x` — so an index on `x` makes
/// `WHERE r = 0 ORDER BY x LIMIT 10` walk nearly the whole index.
pub const SETUP: &str = "
    CREATE TABLE t (id int PRIMARY KEY, c int NOT NULL, low int NOT NULL, x int NOT NULL,
                    r int NOT NULL, filler text);
    INSERT INTO t
    SELECT g, g % 100000, g % 2, (g::bigint * 7919 % 300007)::int,
           CASE WHEN g::bigint * 7919 % 300007 > 299990 THEN 0 ELSE 1 + g % 1000 END,
           repeat('x', 40)
    FROM generate_series(1, 300000) g;
    ANALYZE t;";

pub async fn connect(cluster: &Cluster, db: &str) -> (ConnSpec, Client) {
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    let client = spec.connect().await.expect("connect");
    (spec, client)
}

pub fn query(id: &str, sql: &str, calls: f64, samples: &[&[&str]]) -> PlanQuery {
    PlanQuery {
        id: id.into(),
        sql: sql.into(),
        calls,
        samples: samples
            .iter()
            .map(|s| s.iter().map(|v| Some(v.to_string())).collect())
            .collect(),
    }
}

pub fn recommendation(table: &str, column: &str, served: &[&PlanQuery]) -> Recommendation {
    recommendation_on(table, vec![IndexKey::column(column)], served)
}

pub fn recommendation_on(
    table: &str,
    keys: Vec<IndexKey>,
    served: &[&PlanQuery],
) -> Recommendation {
    let index = IndexDef::btree("public", table, keys);
    let name = index.suggested_name();
    Recommendation {
        ddl: index.create_sql(&name, true, true),
        rollback_ddl: index.drop_sql(&name),
        name,
        table: format!("public.{table}"),
        columns: index.keys.iter().map(IndexKey::sql).collect(),
        kind: index.kind(),
        size_bytes: 0,
        queries: served
            .iter()
            .map(|q| ServedQuery {
                query: q.sql.clone(),
                id: q.id.clone(),
                calls: q.calls,
                cost_before: 100.0,
                cost_after: 1.0,
            })
            .collect(),
        index,
        benefit: 1.0,
        write_overhead: 0.0,
        reason: "test".into(),
        alternatives: Vec::new(),
        verification: None,
    }
}

pub fn plan(recommendations: Vec<Recommendation>, queries: Vec<PlanQuery>) -> AdvicePlan {
    AdvicePlan {
        version: 1,
        id: "test".into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        database: DatabaseIdentity {
            name: "x".into(),
            system_identifier: String::new(),
            server_version_num: 0,
        },
        tables: Vec::new(),
        settings: AdviseSettings {
            budget_bytes: None,
            max_columns: 3,
            min_gain: 0.1,
            whatif: "hypopg".into(),
        },
        workload_cost_before: 0.0,
        workload_cost_after: 0.0,
        whatif_plans: 0,
        advise_seconds: 0.0,
        recommendations,
        drops: Vec::new(),
        analyze: Vec::new(),
        skipped: Vec::new(),
        queries,
    }
}

pub fn verification<'a>(plan: &'a AdvicePlan, name: &str) -> &'a Verification {
    plan.recommendations
        .iter()
        .find(|r| r.name == name)
        .and_then(|r| r.verification.as_ref())
        .unwrap_or_else(|| panic!("a verification for {name}"))
}

/// Index names on `t`, and (rows, Σ c).
pub async fn table_state(client: &Client, table: &str) -> (Vec<String>, i64, i64) {
    let names: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = $1 ORDER BY 1",
            &[&table],
        )
        .await
        .expect("pg_indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let row = client
        .query_one(
            &format!("SELECT count(*), COALESCE(sum(c), 0)::bigint FROM {table}"),
            &[],
        )
        .await
        .expect("count");
    (names, row.get(0), row.get(1))
}

pub fn options(now: &str) -> VerifyOptions {
    VerifyOptions {
        now: now.into(),
        ..VerifyOptions::default()
    }
}

/// A cluster with databases `app` (the target) and `staging`, both loaded
/// with [`SETUP`], and a connection to each.
pub async fn app_and_staging() -> (Cluster, (ConnSpec, Client), (ConnSpec, Client)) {
    let cluster = Cluster::start(pgpilot_cluster::ClusterOptions {
        extensions: vec![],
        ..pgpilot_cluster::ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster");
    cluster.create_database("app").expect("create app");
    cluster.create_database("staging").expect("create staging");
    let app = connect(&cluster, "app").await;
    let staging = connect(&cluster, "staging").await;
    app.1.batch_execute(SETUP).await.expect("load app");
    staging.1.batch_execute(SETUP).await.expect("load staging");
    (cluster, app, staging)
}
