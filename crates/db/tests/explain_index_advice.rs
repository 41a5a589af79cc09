//! `plan.index_advice` against real throwaway clusters: after the EXPLAIN, the
//! index advisor runs on the statement with HypoPG on the same connection and
//! its one recommendation replaces the plan rules' per-node `CREATE INDEX`
//! suggestions on that table (composite or partial for a two-column filter,
//! expression for `lower(email)`); a statement an index already serves gets
//! none; a database without HypoPG gets the findings it always had; and the
//! session is left as found (no hypothetical index, settings restored).

use std::time::Instant;

use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{diagnose_query, ConnSpec, Diagnosis, ExplainOptions};
use pgpilot_plan::Finding;

const ADVICE: &str = "plan.index_advice";

/// Orders over two years; most pending orders are recent (new orders wait), a
/// few old ones are stuck: `status = 'pending' AND created_at < now() - 30 days`
/// is ~0.4 % of the table, and neither column alone is selective enough.
/// Customers with mixed-case e-mail addresses.
const SCHEMA: &str = "
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id int NOT NULL,
    status text NOT NULL,
    total numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL,
    note text
);
INSERT INTO orders (customer_id, status, total, created_at, note)
SELECT g % 5000,
       CASE WHEN d < 30 AND g % 2 = 0 THEN 'pending'
            WHEN g % 250 = 0 THEN 'pending'
            WHEN g % 10 = 0 THEN 'cancelled'
            WHEN d < 60 THEN 'shipped'
            ELSE 'delivered' END,
       (g % 1000) / 10.0,
       now() - d * interval '1 day' - (g % 1440) * interval '1 minute',
       CASE WHEN g % 7 = 0 THEN 'gift' END
FROM (SELECT g, (g * 7919) % 730 AS d FROM generate_series(1, 200000) g) s;
CREATE TABLE customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (email, name)
SELECT 'User' || g || '@Example.COM', 'Customer ' || g FROM generate_series(1, 100000) g;
";

const PENDING: &str = "SELECT * FROM orders WHERE status = 'pending' \
                       AND created_at < now() - interval '30 days'";

fn cluster() -> Cluster {
    Cluster::start(ClusterOptions::default()).expect("start a PostgreSQL cluster")
}

/// A database with the schema, vacuumed and analyzed.
fn database(cluster: &Cluster, db: &str) {
    cluster.create_database(db).expect("create database");
    cluster.psql(db, SCHEMA).expect("load the schema");
    cluster.psql(db, "VACUUM ANALYZE").expect("vacuum analyze");
}

async fn connect(cluster: &Cluster, db: &str) -> Client {
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    spec.connect().await.expect("connect")
}

fn summary(d: &Diagnosis) -> Vec<String> {
    d.findings
        .iter()
        .map(|f| {
            format!(
                "{} [{}] {}",
                f.id,
                f.table.as_deref().unwrap_or("-"),
                f.fix_sql.as_deref().unwrap_or("")
            )
        })
        .collect()
}

fn creates_index(f: &Finding) -> bool {
    f.fix_sql.as_deref().is_some_and(|s| {
        s.trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE INDEX")
    })
}

fn on_table(f: &Finding, table: &str) -> bool {
    f.table
        .as_deref()
        .is_some_and(|t| t == table || t.ends_with(&format!(".{table}")))
}

/// The index findings (fix = CREATE INDEX) on `table`.
fn index_findings<'d>(d: &'d Diagnosis, table: &str) -> Vec<&'d Finding> {
    d.findings
        .iter()
        .filter(|f| creates_index(f) && on_table(f, table))
        .collect()
}

fn advice(d: &Diagnosis) -> Vec<&Finding> {
    d.findings.iter().filter(|f| f.id == ADVICE).collect()
}

async fn hypothetical_left(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM hypopg_list_indexes", &[])
        .await
        .expect("hypopg_list_indexes")
        .get(0)
}

/// The pending-orders index a DBA would write: `(status, created_at)` or
/// `(created_at) WHERE status = 'pending'`.
fn assert_pending_index(f: &Finding, d: &Diagnosis) {
    let ddl = f.fix_sql.as_deref().expect("DDL");
    assert!(
        ddl.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS "),
        "{ddl}"
    );
    let compact: String = ddl.chars().filter(|c| *c != '"').collect();
    let composite = compact.contains("(status, created_at)") && !compact.contains(" WHERE ");
    let partial = compact.contains("(created_at)") && compact.contains(" WHERE status = 'pending'");
    assert!(
        composite || partial,
        "neither composite nor partial: {ddl}\n{:#?}",
        summary(d)
    );
    assert!(
        f.title.starts_with("An index on orders (")
            && f.title.contains("would cut this query's estimated cost"),
        "{}",
        f.title
    );
    let before = f.evidence["estimated_cost_before"]
        .as_f64()
        .expect("cost before");
    let after = f.evidence["estimated_cost_after"]
        .as_f64()
        .expect("cost after");
    assert!(after < 0.5 * before, "{before} → {after}");
    assert!(f.evidence["estimated_size_bytes"].as_u64().unwrap_or(0) > 0);
    assert!(f.evidence["whatif_plans"].as_u64().unwrap_or(0) > 0);
    assert!(
        f.explanation.contains("HypoPG") && f.explanation.contains("pgpilot verify"),
        "{}",
        f.explanation
    );
    assert!(f.severity >= pgpilot_plan::Severity::Warning, "{f:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_coherent_index_replaces_the_per_node_suggestions() {
    let cluster = cluster();
    database(&cluster, "shop");
    let client = connect(&cluster, "shop").await;
    client
        .batch_execute("SET statement_timeout = '45s'; SET lock_timeout = '7s'")
        .await
        .expect("session settings");
    let opts = ExplainOptions::default();

    // Literal SQL: one index on orders, composite or partial, and no other
    // CREATE INDEX suggestion for orders.
    let started = Instant::now();
    let d = diagnose_query(&client, PENDING, &[], &opts)
        .await
        .expect("diagnose");
    eprintln!("pending query diagnosed in {:?}", started.elapsed());
    assert!(d.plan.is_some(), "{:?}", d.outcome);
    let on_orders = index_findings(&d, "orders");
    assert_eq!(on_orders.len(), 1, "{:#?}", summary(&d));
    assert_eq!(on_orders[0].id, ADVICE, "{:#?}", summary(&d));
    assert_pending_index(on_orders[0], &d);
    assert_eq!(advice(&d).len(), 1, "{:#?}", summary(&d));
    assert!(
        on_orders[0].query.as_deref() == Some(PENDING),
        "{:?}",
        on_orders[0].query
    );

    // The session is left as found.
    assert_eq!(hypothetical_left(&client).await, 0);
    let row = client
        .query_one(
            "SELECT current_setting('statement_timeout'), current_setting('lock_timeout')",
            &[],
        )
        .await
        .expect("settings");
    assert_eq!(row.get::<_, String>(0), "45s");
    assert_eq!(row.get::<_, String>(1), "7s");

    // The same statement with parameters: the sample is the advisor's values.
    let with_params =
        "SELECT * FROM orders WHERE status = $1 AND created_at < now() - $2::interval";
    let d = diagnose_query(
        &client,
        with_params,
        &[Some("pending".into()), Some("30 days".into())],
        &opts,
    )
    .await
    .expect("diagnose");
    let on_orders = index_findings(&d, "orders");
    assert_eq!(on_orders.len(), 1, "{:#?}", summary(&d));
    assert_pending_index(on_orders[0], &d);
    assert_eq!(hypothetical_left(&client).await, 0);

    // lower(email): an expression index.
    let by_email = "SELECT id, name FROM customers WHERE lower(email) = 'user4242@example.com'";
    let d = diagnose_query(&client, by_email, &[], &opts)
        .await
        .expect("diagnose");
    let a = advice(&d);
    assert_eq!(a.len(), 1, "{:#?}", summary(&d));
    let ddl = a[0].fix_sql.as_deref().expect("DDL");
    assert!(
        ddl.contains("((lower(email)))") || ddl.contains("(lower(email))"),
        "{ddl}"
    );
    assert!(on_table(a[0], "customers"), "{:?}", a[0].table);
    assert_eq!(a[0].columns, ["lower(email)"]);
    assert_eq!(a[0].evidence["index_kind"], "expression");
    // The plan rule could name no index for the wrapped column: its finding is
    // kept, and the advice is at least as severe.
    let filter = d
        .findings
        .iter()
        .find(|f| f.id == "plan.filter_removes_most_rows")
        .unwrap_or_else(|| panic!("filter finding in {:#?}", summary(&d)));
    assert!(filter.fix_sql.is_none(), "{filter:#?}");
    assert!(a[0].severity >= filter.severity, "{:#?}", summary(&d));
    assert_eq!(hypothetical_left(&client).await, 0);

    // Once the index exists, the same statement gets no advice; nor does a
    // primary-key lookup.
    cluster
        .psql(
            "shop",
            "CREATE INDEX customers_lower_email ON customers (lower(email)); ANALYZE customers",
        )
        .expect("build the expression index");
    let d = diagnose_query(&client, by_email, &[], &opts)
        .await
        .expect("diagnose");
    assert!(advice(&d).is_empty(), "{:#?}", summary(&d));
    let d = diagnose_query(&client, "SELECT * FROM orders WHERE id = 4242", &[], &opts)
        .await
        .expect("diagnose");
    assert!(advice(&d).is_empty(), "{:#?}", summary(&d));
    assert_eq!(hypothetical_left(&client).await, 0);

    // Utility statements are refused before anything, advice included.
    let d = diagnose_query(&client, "DROP TABLE orders", &[], &opts)
        .await
        .expect("diagnose");
    assert!(advice(&d).is_empty(), "{:#?}", summary(&d));
}

/// The default (current-thread) test runtime: the advisor runs on the blocking
/// pool and the connection is driven by this one thread.
#[tokio::test]
async fn without_hypopg_the_findings_are_as_before() {
    let cluster = cluster();
    database(&cluster, "shop");
    let opts = ExplainOptions::default();

    // With HypoPG: the advice, in place of the plan rules' index suggestions.
    let hypo = connect(&cluster, "shop").await;
    let h = diagnose_query(&hypo, PENDING, &[], &opts)
        .await
        .expect("diagnose");
    let on_orders = index_findings(&h, "orders");
    assert_eq!(on_orders.len(), 1, "{:#?}", summary(&h));
    assert_pending_index(on_orders[0], &h);
    assert_eq!(hypothetical_left(&hypo).await, 0);
    drop(hypo);

    // The same database, statistics and statement without the extension.
    cluster
        .psql("shop", "DROP EXTENSION hypopg")
        .expect("drop hypopg");
    let plain = connect(&cluster, "shop").await;
    let d = diagnose_query(&plain, PENDING, &[], &opts)
        .await
        .expect("diagnose");
    assert!(d.plan.is_some(), "{:?}", d.outcome);
    assert!(advice(&d).is_empty(), "{:#?}", summary(&d));
    let heuristic = index_findings(&d, "orders");
    assert!(
        !heuristic.is_empty() && heuristic.iter().all(|f| f.id.starts_with("plan.")),
        "the plan rules' own index suggestions remain: {:#?}",
        summary(&d)
    );

    // What the advice replaced are exactly those suggestions; every finding
    // that proposes no index is in both.
    let mut replaced: Vec<&str> = on_orders[0].evidence["replaces"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut suggested: Vec<&str> = heuristic.iter().map(|f| f.id.as_str()).collect();
    replaced.sort_unstable();
    suggested.sort_unstable();
    suggested.dedup();
    assert_eq!(replaced, suggested, "{:#?}", summary(&h));
    let others = |x: &Diagnosis| -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = x
            .findings
            .iter()
            .filter(|f| !creates_index(f))
            .map(|f| (f.id.clone(), f.table.clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(others(&d), others(&h));
}
