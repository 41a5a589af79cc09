//! Loads the demo at scale 0.01 into a real PostgreSQL started by the test (needs
//! the PostgreSQL server binaries, see pgpilot-cluster).

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::ConnSpec;
use pgpilot_demo::{enable_autovacuum, load, workload_vars, DemoConfig, DemoError, TABLES};
use tokio_postgres::Client;

/// Checksum of the generated data of the tables, independent of the load time
/// (timestamps are taken relative to demo_meta.reference_now).
const CHECKSUM_SQL: &str = "
SELECT md5(
  (SELECT string_agg(concat_ws('|', u.id, u.email, u.name, u.status, u.role_id,
            m.reference_now - u.created_at, m.reference_now - u.last_login, u.phone,
            u.locale, u.timezone, u.email_verified, u.failed_logins, u.password_hash), ','
            ORDER BY u.id) FROM users u, demo_meta m)
  || (SELECT string_agg(concat_ws('|', a.id, a.user_id, a.action, a.entity, a.entity_id,
            m.reference_now - a.\"timestamp\", a.details, a.ip), ',' ORDER BY a.id)
      FROM audit_logs a, demo_meta m)
  || (SELECT string_agg(concat_ws('|', p.id, p.user_id, p.bio, p.avatar_url, p.settings), ','
            ORDER BY p.id) FROM profiles p)
  || (SELECT string_agg(concat_ws('|', s.id, s.user_id, s.token,
            m.reference_now - s.expires_at, s.data), ',' ORDER BY s.id)
      FROM sessions s, demo_meta m))";

async fn connect(cluster: &Cluster, db: &str) -> (ConnSpec, Client) {
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    let client = spec.connect().await.expect("connect");
    (spec, client)
}

async fn scalar_i64(client: &Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.expect(sql).get(0)
}

async fn checksum(client: &Client) -> String {
    client
        .query_one(CHECKSUM_SQL, &[])
        .await
        .expect("checksum")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_at_scale_001_deterministically_with_stale_statistics() {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start a PostgreSQL cluster");
    for db in ["demo_a", "demo_b", "demo_c"] {
        cluster.create_database(db).expect("create database");
    }
    let cfg = DemoConfig {
        scale: 0.01,
        seed: 7,
    };
    let (spec_a, a) = connect(&cluster, "demo_a").await;
    let steps = std::sync::Mutex::new(0usize);
    let report = load(&spec_a, &cfg, &|_| {
        if let Ok(mut n) = steps.lock() {
            *n += 1;
        }
    })
    .await
    .expect("load scale 0.01");
    assert!(*steps.lock().expect("lock") > 10, "progress is reported");
    assert!(
        report.total_seconds < 60.0,
        "scale 0.01 loads fast: {report:?}"
    );

    // Row counts: the report, the tables and the workload variables agree.
    let vars = workload_vars(&cfg);
    for table in TABLES {
        let rows = scalar_i64(&a, &format!("SELECT count(*) FROM {table}")).await;
        let reported = report
            .tables
            .iter()
            .find(|t| t.name == table)
            .expect("table in report");
        assert_eq!(rows as u64, reported.rows, "{table}");
        assert!(reported.total_bytes > 0, "{table}");
        let var = vars
            .iter()
            .find(|(k, _)| k == table)
            .expect("var")
            .1
            .clone();
        assert_eq!(var, rows.to_string(), "{table}");
    }
    assert_eq!(scalar_i64(&a, "SELECT count(*) FROM users").await, 10_000);
    assert_eq!(
        scalar_i64(&a, "SELECT count(*) FROM audit_logs").await,
        50_000
    );
    assert_eq!(
        scalar_i64(&a, "SELECT count(*) FROM sessions").await,
        10_000
    );

    // Only primary keys and unique constraints are indexed.
    let rows = a
        .query(
            "SELECT i.indexrelid::regclass::text, i.indisunique
             FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
             WHERE c.relname = ANY($1) ORDER BY 1",
            &[&TABLES.to_vec()],
        )
        .await
        .expect("indexes");
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert!(rows.iter().all(|r| r.get::<_, bool>(1)), "{names:?}");
    assert_eq!(
        names,
        [
            "audit_logs_pkey",
            "profiles_pkey",
            "roles_pkey",
            "roles_role_name_key",
            "sessions_pkey",
            "users_email_key",
            "users_pkey"
        ]
    );

    // The foreign keys exist and are validated.
    let fks: Vec<String> = a
        .query(
            "SELECT conname::text FROM pg_constraint WHERE contype = 'f' AND convalidated ORDER BY 1",
            &[],
        )
        .await
        .expect("fks")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        fks,
        [
            "audit_logs_user_id_fkey",
            "profiles_user_id_fkey",
            "sessions_user_id_fkey",
            "users_role_id_fkey"
        ]
    );

    // Stale statistics: analyzed early, most rows modified since, autovacuum off.
    for table in ["users", "profiles", "audit_logs", "sessions"] {
        let row = a
            .query_one(
                "SELECT n_live_tup, n_mod_since_analyze, last_analyze IS NOT NULL,
                        c.reloptions::text
                 FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
                 WHERE s.relname = $1",
                &[&table],
            )
            .await
            .expect("stats");
        let (live, modified): (i64, i64) = (row.get(0), row.get(1));
        assert!(row.get::<_, bool>(2), "{table} was analyzed once");
        assert!(
            modified * 10 >= live * 8,
            "{table}: {modified} of {live} rows modified since ANALYZE"
        );
        let options: Option<String> = row.get(3);
        assert_eq!(
            options.as_deref(),
            Some("{autovacuum_enabled=false}"),
            "{table}"
        );
    }

    // A second load into the same database is refused.
    let again = load(&spec_a, &cfg, &|_| {}).await;
    assert!(
        matches!(again, Err(DemoError::AlreadyLoaded { .. })),
        "{again:?}"
    );

    // Same seed, same data; another seed, other data.
    let (spec_b, b) = connect(&cluster, "demo_b").await;
    let (spec_c, c) = connect(&cluster, "demo_c").await;
    load(&spec_b, &cfg, &|_| {}).await.expect("load b");
    load(&spec_c, &DemoConfig { seed: 8, ..cfg }, &|_| {})
        .await
        .expect("load c");
    let (sa, sb, sc) = (checksum(&a).await, checksum(&b).await, checksum(&c).await);
    assert_eq!(sa, sb, "same seed, same data");
    assert_ne!(sa, sc, "another seed, other data");

    enable_autovacuum(&a).await.expect("enable autovacuum");
    let off = scalar_i64(
        &a,
        "SELECT count(*) FROM pg_class WHERE reloptions::text LIKE '%autovacuum_enabled=false%'",
    )
    .await;
    assert_eq!(off, 0);
}
