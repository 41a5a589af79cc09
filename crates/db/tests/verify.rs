//! `verify` against a real throwaway cluster: a helpful index is verified with
//! real timings, a useless one is not, an index that makes the planner walk the
//! wrong order is caught as a regression, the write overhead is measured, nothing
//! is left behind on the target (or on staging), the size limit is enforced
//! unless forced, an index PostgreSQL cannot use inside its own building
//! transaction is reported instead of being judged, and each index is measured
//! with the plan's other indexes its queries could use already in place.

use pgpilot_advisor::{IndexKey, VerifyStatus};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{verify_plan, VerifyEvent, VerifyOptions};

mod verify_support;
use verify_support::{
    app_and_staging, connect, options, plan, query, recommendation, recommendation_on, table_state,
    verification,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexes_are_proved_with_real_builds_and_nothing_is_left_behind() {
    let (_cluster, (spec, client), (staging_spec, staging)) = app_and_staging().await;

    let q_c = query(
        "q_c",
        "SELECT * FROM t WHERE c = $1",
        1000.0,
        &[&["17"], &["4242"], &["99999"]],
    );
    // Reads every row: the planner keeps the sequential scan whatever the index.
    let q_low = query(
        "q_low",
        "SELECT sum(x) FROM t WHERE low >= $1",
        10.0,
        &[&["0"]],
    );
    let q_r = query(
        "q_r",
        "SELECT * FROM t WHERE r = $1 ORDER BY x LIMIT 10",
        100.0,
        &[&["0"]],
    );
    let q_nosample = query(
        "q_nosample",
        "SELECT * FROM t WHERE c = $1 AND id > 0",
        5.0,
        &[],
    );
    // Writes on t: an UPDATE of the indexed column c, and an INSERT replayed
    // with one sample that violates the primary key.
    let q_upd = query(
        "q_upd",
        "UPDATE t SET c = c + 1 WHERE id = $1",
        500.0,
        &[&["5"], &["77"], &["123456"]],
    );
    let q_ins = query(
        "q_ins",
        "INSERT INTO t (id, c, low, x, r, filler) VALUES ($1, $2, 0, 0, 7, 'new')",
        100.0,
        &[&["900001", "3"], &["5", "3"]],
    );
    // A one-off bulk load of 200 000 rows: never replayed.
    let q_bulk = query(
        "q_bulk",
        "INSERT INTO t (id, c, low, x, r, filler) \
         SELECT g, 1, 0, 0, 7, 'bulk' FROM generate_series($1::int, $2::int) g",
        1.0,
        &[&["1000001", "1200000"]],
    );
    let recs = vec![
        recommendation("t", "c", &[&q_c, &q_nosample]),
        recommendation("t", "low", &[&q_low]),
        recommendation("t", "x", &[&q_r]),
    ];
    let queries = vec![q_c, q_low, q_r, q_nosample, q_upd, q_ins, q_bulk];
    let before_state = table_state(&client, "t").await;
    assert_eq!(before_state.0, ["t_pkey"]);
    assert_eq!(before_state.1, 300_000);

    // (e) Above the size limit: refused, nothing measured.
    let mut refused = plan(recs.clone(), queries.clone());
    let tiny = VerifyOptions {
        max_table_bytes: 1024,
        ..options("2024-01-02T00:00:00Z")
    };
    let summary = verify_plan(&spec, None, &mut refused, &tiny, &mut |_| {})
        .await
        .expect("verify");
    assert_eq!(summary.skipped, 3, "{summary:?}");
    let v = verification(&refused, "t_c_idx");
    assert_eq!(v.status, VerifyStatus::Skipped);
    assert!(
        v.note.contains("table public.t is") && v.note.contains("pass --force or --staging"),
        "{}",
        v.note
    );
    assert!(v.queries.is_empty());

    // … unless forced: the real measurement on the target.
    let mut p = plan(recs.clone(), queries.clone());
    let forced = VerifyOptions {
        force: true,
        ..tiny
    };
    let mut events = Vec::new();
    let summary = verify_plan(&spec, None, &mut p, &forced, &mut |e| events.push(e))
        .await
        .expect("verify");
    assert_eq!(summary.skipped, 0, "{summary:?}");

    // The progress says where it runs and that writes wait on the SHARE lock.
    let started: Vec<&VerifyEvent> = events
        .iter()
        .filter(|e| matches!(e, VerifyEvent::Started { .. }))
        .collect();
    assert_eq!(started.len(), 3);
    assert!(
        started[0].to_string().contains("SHARE lock"),
        "{}",
        started[0]
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, VerifyEvent::Built { index, .. } if index == "t_c_idx")));

    // (a) The selective index: verified, used, much faster, real size.
    let v = verification(&p, "t_c_idx");
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    assert!(v.gain > 0.5, "{v:#?}");
    assert!(v.real_size_bytes > 0 && v.build_ms > 0.0, "{v:#?}");
    assert!(
        v.method.contains("rolled-back transaction on target") && v.method.contains("SHARE lock")
    );
    assert_eq!(v.verified_at, "2024-01-02T00:00:00Z");
    let m = v
        .queries
        .iter()
        .find(|q| q.id == "q_c")
        .expect("q_c measured");
    assert!(m.uses_index, "{m:#?}");
    assert!(m.after.median_ms < m.before.median_ms, "{m:#?}");
    assert_eq!((m.before.runs, m.after.runs), (5, 5));
    assert!(m.before.min_ms <= m.before.median_ms && m.before.median_ms <= m.before.max_ms);
    // The query without samples is not measured, and the note says so.
    assert!(!v.queries.iter().any(|q| q.id == "q_nosample"));
    assert!(
        v.note.contains("q_nosample not measured") && v.note.contains("no sample"),
        "{}",
        v.note
    );
    // (c) Write overhead from the workload's writes on t, failures counted.
    assert!(v.write_slowdown.is_some(), "{}", v.note);
    assert!(v.note.contains("write overhead"), "{}", v.note);
    assert!(v.note.contains("failed and were not counted"), "{}", v.note);
    assert!(
        v.note
            .contains("q_bulk (a bulk write: about 200000 rows per run"),
        "{}",
        v.note
    );
    assert!(
        v.note.contains("held the SHARE lock on public.t"),
        "{}",
        v.note
    );
    // Measured with the rest of the plan on t in place: the later ones (not
    // judged yet) are the context of the first.
    assert!(
        v.note
            .contains("measured with public.t_low_idx, public.t_x_idx in place"),
        "{}",
        v.note
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, VerifyEvent::ContextBuilt { index, .. } if index == "t_x_idx")));

    // (b) An index on a column only used by a whole-table read: never used.
    let v = verification(&p, "t_low_idx");
    assert_eq!(v.status, VerifyStatus::NoGain, "{v:#?}");
    assert!(v.queries.iter().all(|q| !q.uses_index), "{v:#?}");

    // The ORDER BY x LIMIT index: used, and slower for real.
    // Slower than with the context alone (the verified t_c_idx; not the
    // no-gain t_low_idx).
    let v = verification(&p, "t_x_idx");
    assert_eq!(v.status, VerifyStatus::Regression, "{v:#?}");
    assert!(v.note.contains("q_r"), "{}", v.note);
    assert!(
        v.note.contains("measured with public.t_c_idx in place"),
        "{}",
        v.note
    );
    assert!(!v.note.contains("t_low_idx"), "{}", v.note);
    let m = &v.queries[0];
    assert!(
        m.uses_index && m.after.median_ms > m.before.median_ms,
        "{m:#?}"
    );

    // (d) Everything was rolled back on the target.
    assert_eq!(table_state(&client, "t").await, before_state);
    let n: i64 = client
        .query_one("SELECT count(*) FROM t WHERE id = 900001", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0);
    let open: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 't' AND l.pid <> pg_backend_pid() \
               AND l.pid IN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend')",
            &[],
        )
        .await
        .expect("locks")
        .get(0);
    assert_eq!(open, 0, "no lock left on t");

    // (f) On staging: measured there, index dropped, target untouched.
    let staging_before = table_state(&staging, "t").await;
    let mut on_staging = plan(vec![recs[0].clone()], queries.clone());
    verify_plan(
        &spec,
        Some(&staging_spec),
        &mut on_staging,
        &options("2024-01-03T00:00:00Z"),
        &mut |_| {},
    )
    .await
    .expect("verify on staging");
    let v = verification(&on_staging, "t_c_idx");
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    assert!(v.method.contains("staging"), "{}", v.method);
    assert!(v.real_size_bytes > 0);
    assert!(!v.note.contains("measured with"), "{}", v.note);
    assert_eq!(table_state(&staging, "t").await, staging_before);
    assert_eq!(table_state(&client, "t").await, before_state);
}

/// A HOT-updated row still visible to an open snapshot makes PostgreSQL mark a
/// new index `indcheckxmin`: the building transaction itself cannot use it, so
/// verify on the target must say so rather than report "no gain". A writer
/// holding the table makes the build give up after `lock_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_unusable_in_its_own_transaction_is_reported() {
    let cluster = Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster");
    let (spec, client) = connect(&cluster, "postgres").await;
    client
        .batch_execute(
            "CREATE TABLE h (id int PRIMARY KEY, v int NOT NULL, pad text) WITH (fillfactor = 50);
             INSERT INTO h SELECT g, g, repeat('p', 50) FROM generate_series(1, 20000) g;
             ANALYZE h;",
        )
        .await
        .expect("setup");
    let (_, reader) = connect(&cluster, "postgres").await;
    reader
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM h;")
        .await
        .expect("old snapshot");
    client
        .batch_execute("UPDATE h SET pad = 'q' WHERE id = 10")
        .await
        .expect("HOT update");

    let q = query("q_v", "SELECT * FROM h WHERE v = $1", 10.0, &[&["42"]]);
    let mut p = plan(vec![recommendation("h", "v", &[&q])], vec![q]);
    verify_plan(&spec, None, &mut p, &options(""), &mut |_| {})
        .await
        .expect("verify");
    let v = verification(&p, "h_v_idx");
    assert_eq!(v.status, VerifyStatus::Skipped, "{v:#?}");
    assert!(v.note.contains("--staging"), "{}", v.note);

    reader.batch_execute("COMMIT").await.expect("commit");

    // A transaction writing to the table: the build gives up after lock_timeout,
    // and the writer is neither blocked for longer nor disturbed.
    let (_, writer) = connect(&cluster, "postgres").await;
    writer
        .batch_execute("BEGIN; UPDATE h SET pad = 'w' WHERE id = 20")
        .await
        .expect("open writer");
    let short = VerifyOptions {
        lock_timeout: std::time::Duration::from_millis(200),
        ..options("")
    };
    let started = std::time::Instant::now();
    verify_plan(&spec, None, &mut p, &short, &mut |_| {})
        .await
        .expect("verify");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let v = verification(&p, "h_v_idx");
    assert_eq!(v.status, VerifyStatus::Skipped, "{v:#?}");
    assert!(
        v.note.contains("could not take the SHARE lock") && v.note.contains("lock_timeout"),
        "{}",
        v.note
    );
    writer
        .batch_execute("UPDATE h SET pad = 'w2' WHERE id = 21; ROLLBACK")
        .await
        .expect("the writer carries on");

    // With the old snapshot and the writer gone, the same verification succeeds.
    verify_plan(&spec, None, &mut p, &options(""), &mut |_| {})
        .await
        .expect("verify");
    let v = verification(&p, "h_v_idx");
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    let (names, rows, _) = table_state_h(&client).await;
    assert_eq!((names, rows), (vec!["h_pkey".to_string()], 20000));
}

async fn table_state_h(client: &Client) -> (Vec<String>, i64, ()) {
    let names: Vec<String> = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename = 'h' ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_indexes")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM h", &[])
        .await
        .expect("count")
        .get(0);
    (names, rows, ())
}

/// `a` (narrow) and `b` (wide rows, one per `a`): 10 % of `a` was created in the
/// last day, `score` is uncorrelated with it. Without an index on `b(a_id)` the
/// planner hashes the filtered `a` and probes it with a sequential scan of `b`,
/// then sorts: an ordered index on `a` is of no use. With it, it walks the
/// ordered index and probes `b` through its index for 20 rows. `c` is unrelated.
const AB_SETUP: &str = "
    CREATE TABLE a (id int PRIMARY KEY, created timestamptz NOT NULL, score int NOT NULL);
    INSERT INTO a
    SELECT g, now() - (g % 100) * interval '0.1 day' - interval '1 minute',
           (g::bigint * 7919 % 100003)::int
    FROM generate_series(1, 100000) g;
    CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL, payload text);
    INSERT INTO b
    SELECT g, 1 + (g::bigint * 104729 % 100000)::int, repeat(md5(g::text), 10)
    FROM generate_series(1, 100000) g;
    CREATE TABLE c (id int PRIMARY KEY, v int NOT NULL);
    INSERT INTO c SELECT g, g FROM generate_series(1, 50000) g;
";

/// Loads [`AB_SETUP`], then vacuums (outside a transaction block).
async fn load_ab(client: &Client) {
    client.batch_execute(AB_SETUP).await.expect("load a, b, c");
    for t in ["a", "b", "c"] {
        client
            .batch_execute(&format!("VACUUM ANALYZE {t}"))
            .await
            .expect("vacuum");
    }
}

/// Index names on a, b and c.
async fn ab_indexes(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE tablename IN ('a', 'b', 'c') \
             ORDER BY 1",
            &[],
        )
        .await
        .expect("pg_indexes")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn context_builds(events: &[VerifyEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            VerifyEvent::ContextBuilt { index, .. } => Some(index.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_is_measured_with_the_rest_of_the_plan_in_place() {
    let cluster = Cluster::start(ClusterOptions {
        extensions: vec![],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster");
    cluster.create_database("app").expect("create app");
    cluster.create_database("staging").expect("create staging");
    let (spec, client) = connect(&cluster, "app").await;
    let (staging_spec, staging) = connect(&cluster, "staging").await;
    load_ab(&client).await;
    load_ab(&staging).await;

    let q_ab = query(
        "q_ab",
        "SELECT * FROM a LEFT JOIN b ON b.a_id = a.id \
         WHERE a.created > now() - interval '1 day' ORDER BY a.score DESC LIMIT 20",
        100.0,
        &[],
    );
    let q_c = query("q_c", "SELECT * FROM c WHERE v = $1", 100.0, &[&["4242"]]);
    let rec_b = recommendation("b", "a_id", &[&q_ab]);
    let rec_a = recommendation_on(
        "a",
        vec![IndexKey::column_desc("score"), IndexKey::column("created")],
        &[&q_ab],
    );
    let rec_c = recommendation("c", "v", &[&q_c]);
    let (name_a, name_b) = (rec_a.name.clone(), rec_b.name.clone());
    let queries = vec![q_ab, q_c];
    let indexes_before = ab_indexes(&client).await;

    // Alone (what verify used to do), the ordered index on a is not even used.
    let mut alone = plan(vec![rec_a.clone()], queries.clone());
    verify_plan(&spec, None, &mut alone, &options(""), &mut |_| {})
        .await
        .expect("verify");
    let v = verification(&alone, &name_a);
    assert_eq!(v.status, VerifyStatus::NoGain, "{v:#?}");
    assert!(v.note.contains("did not use"), "{}", v.note);

    // In the plan: b(a_id) first, measured with the later a index in place; the
    // a index then measured with the verified b(a_id) in place. Both pay off.
    let recs = vec![rec_b.clone(), rec_a.clone(), rec_c.clone()];
    let mut p = plan(recs.clone(), queries.clone());
    let mut events = Vec::new();
    let summary = verify_plan(&spec, None, &mut p, &options(""), &mut |e| events.push(e))
        .await
        .expect("verify");
    assert_eq!(summary.verified, 3, "{summary:?} {:#?}", p.recommendations);
    let v = verification(&p, &name_b);
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    assert!(
        v.note
            .contains(&format!("measured with public.{name_a} in place")),
        "{}",
        v.note
    );
    let v = verification(&p, &name_a);
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    assert!(v.queries[0].uses_index && v.gain > 0.5, "{v:#?}");
    assert!(
        v.note
            .contains(&format!("measured with public.{name_b} in place")),
        "{}",
        v.note
    );
    // The locks of the context's table are said, in the method and the note.
    assert!(
        v.method.contains("SHARE locks on public.a, public.b"),
        "{}",
        v.method
    );
    assert!(
        v.note.contains("held SHARE locks on public.a, public.b"),
        "{}",
        v.note
    );
    // c's query reads neither a nor b: no context built for it, and its own
    // index is nobody's context.
    let v = verification(&p, "c_v_idx");
    assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
    assert!(!v.note.contains("measured with"), "{}", v.note);
    assert_eq!(context_builds(&events), [name_a.clone(), name_b.clone()]);
    assert_eq!(ab_indexes(&client).await, indexes_before);

    // A context index on a table above the size limit is left out, and said so.
    let limited = VerifyOptions {
        max_table_bytes: 16 * 1024 * 1024,
        ..options("")
    };
    let mut p = plan(vec![rec_a.clone(), rec_b.clone()], queries.clone());
    verify_plan(&spec, None, &mut p, &limited, &mut |_| {})
        .await
        .expect("verify");
    let v = verification(&p, &name_a);
    assert_eq!(v.status, VerifyStatus::NoGain, "{v:#?}");
    assert!(
        v.note.contains(&format!(
            "measured without public.{name_b}: table public.b is"
        )),
        "{}",
        v.note
    );
    assert_eq!(verification(&p, &name_b).status, VerifyStatus::Skipped);

    // On staging: the same verdicts; b(a_id) is kept from its own measurement
    // as the context of the next one (built as context only once: the a index),
    // and everything is dropped at the end.
    let staging_before = ab_indexes(&staging).await;
    let mut p = plan(recs, queries);
    let mut events = Vec::new();
    verify_plan(&spec, Some(&staging_spec), &mut p, &options(""), &mut |e| {
        events.push(e)
    })
    .await
    .expect("verify on staging");
    for name in [&name_b, &name_a] {
        let v = verification(&p, name);
        assert_eq!(v.status, VerifyStatus::Verified, "{v:#?}");
        assert!(v.note.contains("measured with public."), "{}", v.note);
    }
    assert_eq!(context_builds(&events), std::slice::from_ref(&name_a));
    assert_eq!(ab_indexes(&staging).await, staging_before);
    assert_eq!(ab_indexes(&client).await, indexes_before);
}
