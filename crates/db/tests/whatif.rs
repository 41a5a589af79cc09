//! What-if planning against real throwaway clusters: HypoPG and real-index
//! (rolled-back transaction) planners agree on which hypothetical indexes a
//! query would use, with real parameter values (a partial index is matched only
//! for its own constant); hidden indexes, sizes, query failures and index
//! validation; the advisor's catalog reader; and the HypoPG-missing messages.
//!
//! The planners own their runtime and are used from plain (non-async) tests.

use pgpilot_advisor::{Catalog, Config, IndexDef, IndexKey, KeyExpr, WhatIf, WhatIfError};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::{
    advisor_catalog, hypopg_status, ConnSpec, HypoStatus, HypoWhatIf, RealTxWhatIf,
    WhatIfConnectError, WhatIfOptions,
};

const SCHEMA: &str = "
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL,
    status text NOT NULL,
    score int NOT NULL,
    created_at timestamptz NOT NULL,
    last_login timestamptz
);
INSERT INTO users (email, status, score, created_at, last_login)
SELECT 'user' || g || '@Example.com',
       CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'active' END,
       (g * 7919) % 100000,
       timestamptz '2024-06-01 00:00+00' - g * interval '1 minute',
       CASE WHEN g % 10 = 0 THEN NULL
            ELSE timestamptz '2024-06-01 00:00+00' - ((g * 37) % 200000) * interval '1 minute' END
FROM generate_series(1, 200000) g;
CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, total numeric);
INSERT INTO orders SELECT g, g % 1000, g FROM generate_series(1, 1000) g;
CREATE VIEW active_users AS SELECT * FROM users WHERE status = 'active';
";

const BY_SCORE: &str = "SELECT id, email FROM users WHERE score = $1";
const RECENT_LOGINS: &str = "SELECT id, email FROM users ORDER BY last_login DESC LIMIT 20";
const BY_STATUS_SCORE: &str = "SELECT id FROM users WHERE status = $1 AND score < $2";

/// A cluster that commits synchronously: with asynchronous commits, a row's hint
/// bits cannot be set until the WAL of its transaction's clog group is flushed,
/// so a VACUUM right after the load would mark no page all-visible and
/// index-only scans would be costed as plain index scans.
fn cluster() -> Cluster {
    Cluster::start(ClusterOptions {
        settings: vec![("synchronous_commit".into(), "on".into())],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster")
}

fn setup(db: &str) -> (Cluster, ConnSpec) {
    let cluster = cluster();
    cluster.create_database(db).expect("create database");
    cluster.psql(db, SCHEMA).expect("load the schema");
    // Vacuumed too: index-only scans are costed with the visibility map.
    cluster.psql(db, "VACUUM ANALYZE").expect("vacuum analyze");
    let spec = ConnSpec::parse(&cluster.url(db)).expect("cluster URL");
    (cluster, spec)
}

fn users(keys: Vec<IndexKey>) -> IndexDef {
    IndexDef::btree("public", "users", keys)
}

fn score_idx() -> IndexDef {
    users(vec![IndexKey::column("score")])
}

fn login_desc_idx() -> IndexDef {
    users(vec![IndexKey::column_desc("last_login")])
}

fn pending_score_idx() -> IndexDef {
    let mut d = score_idx();
    d.predicate = Some("status = 'pending'".into());
    d
}

fn p(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_string())).collect()
}

fn none() -> Config<'static> {
    Config::default()
}

fn with(h: &[IndexDef]) -> Config<'_> {
    Config {
        hypothetical: h,
        hidden: &[],
    }
}

fn index_count(cluster: &Cluster, db: &str) -> i64 {
    cluster
        .psql(
            db,
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'",
        )
        .expect("count indexes")
        .parse()
        .expect("a number")
}

/// The answers both planners must give on the test table.
fn common_answers(w: &mut dyn WhatIf) {
    // An unindexed equality: a sequential scan, then the hypothetical index.
    let before = w.plan(BY_SCORE, &p(&["4242"]), none()).expect("plan");
    assert!(before.used_hypothetical.is_empty() && before.used_existing.is_empty());
    let hypo = [score_idx()];
    let after = w.plan(BY_SCORE, &p(&["4242"]), with(&hypo)).expect("plan");
    assert_eq!(after.used_hypothetical, vec![0], "{after:?}");
    assert!(
        after.total_cost * 10.0 < before.total_cost,
        "{before:?} {after:?}"
    );

    // ORDER BY … DESC LIMIT: the top-N sort disappears with a (last_login DESC) index.
    let sorted = w.plan(RECENT_LOGINS, &[], none()).expect("plan");
    assert!(sorted.sorts, "{sorted:?}");
    let hypo = [score_idx(), login_desc_idx()];
    let ordered = w.plan(RECENT_LOGINS, &[], with(&hypo)).expect("plan");
    assert!(!ordered.sorts, "{ordered:?}");
    assert_eq!(ordered.used_hypothetical, vec![1], "{ordered:?}");
    assert!(ordered.total_cost < sorted.total_cost);

    // A partial index is matched with the real value 'pending' (a custom plan),
    // and cannot serve 'active'.
    let hypo = [pending_score_idx()];
    let pending = w
        .plan(BY_STATUS_SCORE, &p(&["pending", "50000"]), with(&hypo))
        .expect("plan");
    assert_eq!(pending.used_hypothetical, vec![0], "{pending:?}");
    let active = w
        .plan(BY_STATUS_SCORE, &p(&["active", "50000"]), with(&hypo))
        .expect("plan");
    assert!(active.used_hypothetical.is_empty(), "{active:?}");

    // Expression and covering (INCLUDE) hypothetical indexes.
    let by_email = "SELECT id FROM users WHERE lower(email) = $1";
    let hypo = [users(vec![IndexKey::expression("lower(email)")])];
    let expr = w
        .plan(by_email, &p(&["user77@example.com"]), with(&hypo))
        .expect("plan");
    assert_eq!(expr.used_hypothetical, vec![0], "{expr:?}");
    let mut covering = score_idx();
    covering.include = vec!["email".into()];
    let hypo = [score_idx(), covering];
    let only = w
        .plan(
            "SELECT email FROM users WHERE score BETWEEN $1 AND $2",
            &p(&["100", "3000"]),
            with(&hypo),
        )
        .expect("plan");
    assert_eq!(only.used_hypothetical, vec![1], "index-only scan: {only:?}");

    // A query that cannot be planned is a per-query error; the next plan works.
    match w.plan(
        "SELECT * FROM no_such_table WHERE a = $1",
        &p(&["1"]),
        with(&hypo),
    ) {
        Err(WhatIfError::Query(m)) => assert!(m.contains("no_such_table"), "{m}"),
        other => panic!("expected a query error, got {other:?}"),
    }
    match w.plan(BY_SCORE, &p(&["not a number"]), none()) {
        Err(WhatIfError::Query(m)) => assert!(m.contains("integer"), "{m}"),
        other => panic!("expected a bad parameter error, got {other:?}"),
    }
    match w.plan(BY_SCORE, &[], none()) {
        Err(WhatIfError::Query(_)) => {}
        other => panic!("expected a parameter count error, got {other:?}"),
    }
    match w.plan("SELEC 1", &[], none()) {
        Err(WhatIfError::Query(m)) => assert!(m.contains("syntax"), "{m}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // Only one statement is ever planned.
    match w.plan("SELECT 1; DROP TABLE users", &[], none()) {
        Err(WhatIfError::Query(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    let again = w
        .plan(BY_SCORE, &p(&["4242"]), with(&[score_idx()]))
        .expect("plan after failures");
    assert_eq!(again.used_hypothetical, vec![0]);

    // Validation: rejected with PostgreSQL's reason, accepted when valid.
    let mut now_partial = users(vec![IndexKey::column("created_at")]);
    now_partial.predicate = Some("created_at > now()".into());
    match w.validate(&now_partial) {
        Err(WhatIfError::InvalidIndex(m)) => assert!(m.contains("IMMUTABLE"), "{m}"),
        other => panic!("expected an invalid index, got {other:?}"),
    }
    match w.validate(&users(vec![IndexKey::column("no_such_column")])) {
        Err(WhatIfError::InvalidIndex(m)) => assert!(m.contains("no_such_column"), "{m}"),
        other => panic!("expected an invalid index, got {other:?}"),
    }
    match w.validate(&IndexDef::btree(
        "public",
        "nope",
        vec![IndexKey::column("a")],
    )) {
        Err(WhatIfError::InvalidIndex(m)) => assert!(m.contains("does not exist"), "{m}"),
        other => panic!("expected an invalid index, got {other:?}"),
    }
    match w.validate(&IndexDef::btree(
        "public",
        "active_users",
        vec![IndexKey::column("id")],
    )) {
        Err(WhatIfError::InvalidIndex(m)) => assert!(m.contains("view"), "{m}"),
        other => panic!("expected an invalid index, got {other:?}"),
    }
    let mut hash_unique = users(vec![IndexKey::column("email")]);
    hash_unique.method = "hash".into();
    hash_unique.unique = true;
    assert!(matches!(
        w.validate(&hash_unique),
        Err(WhatIfError::InvalidIndex(_))
    ));
    let mut valid = users(vec![IndexKey::expression("lower(email)")]);
    valid.include = vec!["status".into()];
    valid.predicate = Some("users.status = 'pending'".into());
    w.validate(&valid).expect("a valid expression index");
    w.validate(&users(vec![IndexKey::expression("lower(email)")]))
        .expect("a valid expression index");

    // And the session is still usable after validations.
    let last = w
        .plan(BY_SCORE, &p(&["4242"]), with(&[score_idx()]))
        .expect("plan");
    assert_eq!(last.used_hypothetical, vec![0]);
}

#[test]
fn planners_can_move_to_a_blocking_thread() {
    fn send<T: Send + 'static>() {}
    send::<HypoWhatIf>();
    send::<RealTxWhatIf>();
}

#[test]
fn hypopg_whatif_plans_with_real_values() {
    let (cluster, spec) = setup("app");
    cluster
        .psql(
            "app",
            "CREATE INDEX users_created_at_idx ON users (created_at)",
        )
        .expect("real index");
    let indexes_before = index_count(&cluster, "app");
    let mut w = HypoWhatIf::connect(&spec, WhatIfOptions::default()).expect("HypoPG what-if");

    common_answers(&mut w);
    assert_eq!(
        index_count(&cluster, "app"),
        indexes_before,
        "nothing built"
    );

    // Diffing: a stable configuration creates nothing new between plans, and the
    // positions follow the configuration's order.
    let hypo = [login_desc_idx(), score_idx()];
    let a = w.plan(BY_SCORE, &p(&["7"]), with(&hypo)).expect("plan");
    assert_eq!(a.used_hypothetical, vec![1]);
    let alive = cluster
        .psql("app", "SELECT 1") // a probe that the cluster is fine
        .expect("probe");
    assert_eq!(alive, "1");

    // An existing index is used, and hiding it falls back.
    let recent = "SELECT id FROM users WHERE created_at > $1";
    let params = p(&["2024-05-31 23:00+00"]);
    let used = w.plan(recent, &params, none()).expect("plan");
    assert_eq!(used.used_existing, vec!["users_created_at_idx"], "{used:?}");
    let hidden = ["users_created_at_idx".to_string()];
    let hide = Config {
        hypothetical: &[],
        hidden: &hidden,
    };
    if w.can_hide() {
        let fallback = w.plan(recent, &params, hide).expect("plan");
        assert!(fallback.used_existing.is_empty(), "{fallback:?}");
    } else {
        match w.plan(recent, &params, hide) {
            Err(WhatIfError::Query(m)) => assert!(m.contains("HypoPG 1.4"), "{m}"),
            other => panic!("expected hiding to be refused, got {other:?}"),
        }
        let mut by_drop = HypoWhatIf::connect(
            &spec,
            WhatIfOptions {
                hide_by_drop: true,
                ..WhatIfOptions::default()
            },
        )
        .expect("HypoPG what-if");
        let fallback = by_drop.plan(recent, &params, hide).expect("plan");
        assert!(fallback.used_existing.is_empty(), "{fallback:?}");
        assert!(
            fallback.total_cost > used.total_cost,
            "{fallback:?} {used:?}"
        );
        // Not hidden again: the drop was rolled back.
        let back = by_drop.plan(recent, &params, none()).expect("plan");
        assert_eq!(back.used_existing, vec!["users_created_at_idx"]);
        let locks = cluster
            .psql(
                "app",
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'pgpilot what-if' AND l.locktype = 'relation' \
                   AND l.relation = 'users'::regclass",
            )
            .expect("locks");
        assert_eq!(locks, "0", "no lock left on users");
        by_drop.close().expect("close");
    }
    match w.plan(
        recent,
        &params,
        Config {
            hypothetical: &[],
            hidden: &["no_such_index".to_string()],
        },
    ) {
        Err(WhatIfError::Query(m)) => assert!(m.contains("no_such_index"), "{m}"),
        other => panic!("expected an unknown index error, got {other:?}"),
    }

    // A hypothetical index HypoPG rejects is an invalid index, not a failed query.
    let mut bad = score_idx();
    bad.predicate = Some("created_at > now()".into());
    match w.plan(BY_SCORE, &p(&["1"]), with(&[score_idx(), bad])) {
        Err(WhatIfError::InvalidIndex(_)) => {}
        other => panic!("expected an invalid index, got {other:?}"),
    }
    let ok = w
        .plan(BY_SCORE, &p(&["1"]), with(&[login_desc_idx(), score_idx()]))
        .expect("plan after a rejected index");
    assert_eq!(ok.used_hypothetical, vec![1]);

    // A stable configuration costs one round trip per plan.
    let stable = [login_desc_idx(), score_idx()];
    let start = std::time::Instant::now();
    for i in 0..200 {
        let v = (i * 37).to_string();
        w.plan(BY_SCORE, &p(&[&v]), with(&stable)).expect("plan");
    }
    let per_plan = start.elapsed() / 200;
    eprintln!("HypoPG what-if: {per_plan:?} per plan with a stable configuration");
    assert!(
        per_plan < std::time::Duration::from_millis(50),
        "{per_plan:?}"
    );

    // Hypothetical size within 2x of the real one.
    let estimated = w.index_size(&score_idx()).expect("size");
    cluster
        .psql("app", "CREATE INDEX users_score_real ON users (score)")
        .expect("real index");
    let real: u64 = cluster
        .psql("app", "SELECT pg_relation_size('users_score_real')")
        .expect("size")
        .parse()
        .expect("a number");
    assert!(
        estimated * 2 >= real && estimated <= real * 2,
        "estimated {estimated}, real {real}"
    );
    assert!(w.plans_made() >= 15, "{}", w.plans_made());
    w.close().expect("close");
}

#[test]
fn real_tx_whatif_agrees_and_leaves_nothing() {
    let (cluster, spec) = setup("app");
    cluster
        .psql(
            "app",
            "CREATE INDEX users_created_at_idx ON users (created_at)",
        )
        .expect("real index");
    let indexes_before = index_count(&cluster, "app");
    let mut w = RealTxWhatIf::connect(&spec, WhatIfOptions::default()).expect("real-tx what-if");

    common_answers(&mut w);

    // While it runs: nothing is visible to others, and an index no longer in the
    // configuration releases its table lock.
    let lock_on_users = || {
        cluster
            .psql(
                "app",
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = 'pgpilot what-if' AND l.locktype = 'relation' \
                   AND l.relation = 'users'::regclass AND l.mode = 'ShareLock'",
            )
            .expect("locks")
    };
    let hypo = [score_idx()];
    w.plan(BY_SCORE, &p(&["1"]), with(&hypo)).expect("plan");
    assert_eq!(lock_on_users(), "1", "the build holds a SHARE lock");
    assert_eq!(index_count(&cluster, "app"), indexes_before, "uncommitted");
    w.plan(BY_SCORE, &p(&["1"]), none()).expect("plan");
    assert_eq!(lock_on_users(), "0", "rolled back to its savepoint");

    // A real build measures the real size.
    let size = w.index_size(&score_idx()).expect("size");
    assert!(size > 1_000_000, "{size}");

    // Hiding: refused without the option.
    let hidden = ["users_created_at_idx".to_string()];
    let hide = Config {
        hypothetical: &[],
        hidden: &hidden,
    };
    assert!(matches!(
        w.plan("SELECT 1", &[], hide),
        Err(WhatIfError::Query(_))
    ));
    // A UNIQUE index on duplicated values cannot be built: invalid.
    let mut dup = users(vec![IndexKey::column("status")]);
    dup.unique = true;
    match w.plan(BY_SCORE, &p(&["1"]), with(&[dup])) {
        Err(WhatIfError::InvalidIndex(m)) => assert!(m.contains("unique"), "{m}"),
        other => panic!("expected an invalid index, got {other:?}"),
    }
    w.plan(BY_SCORE, &p(&["1"]), none())
        .expect("the transaction survives");
    w.close().expect("close");

    let mut by_drop = RealTxWhatIf::connect(
        &spec,
        WhatIfOptions {
            hide_by_drop: true,
            ..WhatIfOptions::default()
        },
    )
    .expect("real-tx what-if");
    let recent = "SELECT id FROM users WHERE created_at > $1";
    let params = p(&["2024-05-31 23:00+00"]);
    let fallback = by_drop.plan(recent, &params, hide).expect("plan");
    assert!(fallback.used_existing.is_empty(), "{fallback:?}");
    let back = by_drop.plan(recent, &params, none()).expect("plan");
    assert_eq!(back.used_existing, vec!["users_created_at_idx"]);
    drop(by_drop);

    // A user who may read but not own the table: HypoPG plans, real builds cannot.
    cluster
        .psql(
            "app",
            "CREATE ROLE reader LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader",
        )
        .expect("role");
    let reader =
        ConnSpec::parse(&cluster.url("app").replace("postgres@", "reader@")).expect("reader URL");
    let mut hypo = HypoWhatIf::connect(&reader, WhatIfOptions::default()).expect("HypoPG");
    let est = hypo
        .plan(BY_SCORE, &p(&["1"]), with(&[score_idx()]))
        .expect("plan as a reader");
    assert_eq!(est.used_hypothetical, vec![0]);
    drop(hypo);
    let mut real = RealTxWhatIf::connect(&reader, WhatIfOptions::default()).expect("real-tx");
    match real.plan(BY_SCORE, &p(&["1"]), with(&[score_idx()])) {
        Err(WhatIfError::Fatal(m)) => assert!(m.contains("ownership"), "{m}"),
        other => panic!("expected a fatal ownership error, got {other:?}"),
    }
    real.close().expect("close");

    // Nothing was committed.
    assert_eq!(index_count(&cluster, "app"), indexes_before);
    let leftovers = cluster
        .psql(
            "app",
            "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgpilot%'",
        )
        .expect("leftovers");
    assert_eq!(leftovers, "0");
}

fn catalog(spec: &ConnSpec, tables: &[String]) -> Catalog {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = spec.connect().await.expect("connect");
        advisor_catalog(&client, tables).await.expect("catalog")
    })
}

fn status(spec: &ConnSpec) -> HypoStatus {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = spec.connect().await.expect("connect");
        hypopg_status(&client).await.expect("status")
    })
}

#[test]
fn advisor_catalog_reads_tables_and_decomposes_indexes() {
    let (cluster, spec) = setup("app");
    cluster
        .psql(
            "app",
            "CREATE INDEX u_login ON users (last_login DESC NULLS LAST); \
             CREATE INDEX u_lower_email ON users (lower(email)); \
             CREATE INDEX u_status_incl ON users (status) INCLUDE (email, score); \
             CREATE INDEX u_pending ON users (created_at) WHERE status = 'pending'; \
             CREATE INDEX u_mixed ON users (status NULLS FIRST, score DESC); \
             ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email); \
             INSERT INTO orders SELECT g, g, g FROM generate_series(1001, 1500) g; \
             SELECT count(*) FROM users WHERE score = 1;",
        )
        .expect("indexes");
    let cat = catalog(&spec, &["users".to_string()]);
    assert_eq!(cat.tables.len(), 1);
    let t = cat.table("public.users").expect("users");
    assert!((190_000.0..=210_000.0).contains(&t.rows), "{}", t.rows);
    assert!(t.row_width > 60.0 && t.row_width < 200.0, "{}", t.row_width);
    assert!(t.heap_bytes > 10_000_000, "{}", t.heap_bytes);
    assert!(t.writes_per_sec > 0.0, "{}", t.writes_per_sec);
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["id", "email", "status", "score", "created_at", "last_login"]
    );
    let status_col = t.column("status").expect("status");
    assert_eq!(status_col.type_name, "text");
    assert!(status_col.not_null);
    assert!(status_col.sample_values.contains(&"pending".to_string()));
    assert!(status_col.sample_values.contains(&"active".to_string()));
    let score = t.column("score").expect("score");
    assert!(score.sample_values.len() >= 3, "{:?}", score.sample_values);
    assert!(score.n_distinct.is_some() && score.avg_width == Some(4.0));
    let login = t.column("last_login").expect("last_login");
    assert!(login.null_frac.unwrap_or(0.0) > 0.05);
    assert_eq!(login.type_name, "timestamp with time zone");

    let idx = |name: &str| {
        cat.indexes
            .iter()
            .find(|i| i.name == name)
            .unwrap_or_else(|| panic!("index {name} in {:?}", cat.indexes))
    };
    let l = idx("u_login");
    assert_eq!(l.def.keys.len(), 1);
    assert!(l.def.keys[0].descending);
    assert_eq!(l.def.keys[0].nulls_first, Some(false));
    assert!(l.create_sql.contains("DESC NULLS LAST"), "{}", l.create_sql);
    let e = idx("u_lower_email");
    assert_eq!(
        e.def.keys[0].expr,
        KeyExpr::Expression("lower(email)".into())
    );
    let inc = idx("u_status_incl");
    assert_eq!(inc.def.keys, vec![IndexKey::column("status")]);
    assert_eq!(inc.def.include, vec!["email", "score"]);
    let part = idx("u_pending");
    assert_eq!(part.def.keys, vec![IndexKey::column("created_at")]);
    assert_eq!(
        part.def.predicate.as_deref(),
        Some("status = 'pending'::text")
    );
    let mixed = idx("u_mixed");
    assert_eq!(mixed.def.keys[0].nulls_first, Some(true));
    assert!(!mixed.def.keys[0].descending);
    assert!(mixed.def.keys[1].descending && mixed.def.keys[1].nulls_first.is_none());
    let uk = idx("users_email_key");
    assert!(uk.def.unique && uk.constraint && !uk.primary && uk.valid);
    let pk = idx("users_pkey");
    assert!(pk.primary && pk.constraint);
    assert!(idx("u_status_incl").size_bytes > 0);
    assert!(cat.indexes.iter().all(|i| i.def.table == "users"));
    assert!(cat.indexes.iter().all(|i| i.def.method == "btree"));
    // The definition rebuilt from the catalog is the server's own.
    assert!(l
        .def
        .create_sql("u_login", false, false)
        .contains("last_login DESC NULLS LAST"));

    // A user without SELECT on the table still gets the catalog, without the
    // statistics it may not read.
    cluster
        .psql("app", "CREATE ROLE reader LOGIN")
        .expect("role");
    let reader =
        ConnSpec::parse(&cluster.url("app").replace("postgres@", "reader@")).expect("reader URL");
    let limited = catalog(&reader, &["users".to_string()]);
    let lt = limited.table("users").expect("users for reader");
    assert!(lt
        .columns
        .iter()
        .all(|c| c.avg_width.is_none() && c.sample_values.is_empty()));
    assert_eq!(lt.columns.len(), 6);
    assert_eq!(limited.indexes.len(), cat.indexes.len());

    // Filters: qualified name, and everything.
    let q = catalog(&spec, &["public.orders".to_string()]);
    assert_eq!(q.tables.len(), 1);
    assert!(q.tables[0].writes_per_sec > 0.0);
    assert_eq!(q.indexes.len(), 1);
    let all = catalog(&spec, &[]);
    assert_eq!(all.tables.len(), 2);
    assert!(catalog(&spec, &["nope".to_string()]).tables.is_empty());
}

#[test]
fn hypopg_not_created_is_reported_clearly() {
    let cluster = Cluster::start(ClusterOptions::default()).expect("start a PostgreSQL cluster");
    cluster.create_database("plain").expect("create database");
    cluster
        .psql("plain", "DROP EXTENSION hypopg")
        .expect("drop hypopg");
    let spec = ConnSpec::parse(&cluster.url("plain")).expect("URL");
    match status(&spec) {
        HypoStatus::AvailableNotCreated { database, .. } => assert_eq!(database, "plain"),
        other => panic!("expected not created, got {other:?}"),
    }
    let err = match HypoWhatIf::connect(&spec, WhatIfOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("connected without HypoPG"),
    };
    assert!(
        matches!(err, WhatIfConnectError::HypoPgNotCreated { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("CREATE EXTENSION hypopg") && msg.contains("--whatif real-tx"));
    assert!(!msg.contains('\n'));
    // Still not created: nothing was changed without the option.
    assert!(matches!(
        status(&spec),
        HypoStatus::AvailableNotCreated { .. }
    ));

    let w = HypoWhatIf::connect(
        &spec,
        WhatIfOptions {
            create_extension: true,
            ..WhatIfOptions::default()
        },
    )
    .expect("created on request");
    // Dropping a planner inside an async context does not panic (it never blocks).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move { drop(w) });
    assert!(matches!(status(&spec), HypoStatus::Installed { .. }));
}

/// Parameters whose type PostgreSQL cannot infer: normalization replaced string
/// literals the application passed to `jsonb_build_object` (VARIADIC "any"), and
/// `EXPLAIN` of the normalized statement fails with 42P18 ("could not determine
/// data type of parameter $6"). Both planners declare such parameters `text` and
/// plan again, then remember it for the statement; the other parameters keep the
/// types the server infers (`$5` is a bigint added to an inet).
#[test]
fn parameters_of_undeterminable_type_are_planned_as_text() {
    let cluster = cluster();
    cluster.create_database("audit").expect("create database");
    cluster
        .psql(
            "audit",
            "CREATE TABLE audit_logs (
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 user_id bigint NOT NULL, action text NOT NULL, entity text NOT NULL,
                 entity_id bigint NOT NULL, details jsonb, ip inet);
             INSERT INTO audit_logs (user_id, action, entity, entity_id)
             SELECT g % 5000, 'login', 'user', g FROM generate_series(1, 50000) g;",
        )
        .expect("load the schema");
    cluster
        .psql("audit", "VACUUM ANALYZE audit_logs")
        .expect("vacuum analyze");
    let spec = ConnSpec::parse(&cluster.url("audit")).expect("cluster URL");
    let insert = "INSERT INTO audit_logs (user_id, action, entity, entity_id, details, ip) \
                  VALUES ($1, $2, $3, $4, jsonb_build_object($6, $7, $8, $9), $10::inet + $5)";
    let insert_params = p(&[
        "7", "update", "order", "42", "3", "status", "shipped", "items", "2", "10.0.0.1",
    ]);
    let select = "SELECT id, jsonb_build_object($2, action) FROM audit_logs WHERE user_id = $1";
    let select_params = p(&["4242", "what"]);
    let by_user = [IndexDef::btree(
        "public",
        "audit_logs",
        vec![IndexKey::column("user_id")],
    )];

    let check = |w: &mut dyn WhatIf| {
        let before = w.plans_made();
        let planned = w
            .plan(insert, &insert_params, none())
            .expect("planned with $6..$9 declared text");
        assert!(planned.total_cost > 0.0, "{planned:?}");
        let attempts = w.plans_made() - before;
        assert!(attempts > 1, "the first plan is retried: {attempts}");
        // Learned: the same statement is planned in one go from now on.
        let before = w.plans_made();
        w.plan(insert, &insert_params, none()).expect("plan again");
        assert_eq!(w.plans_made() - before, 1);

        // A bad value for an inferred parameter is still the server's error.
        let mut bad = insert_params.clone();
        bad[4] = Some("not a number".into());
        match w.plan(insert, &bad, none()) {
            Err(WhatIfError::Query(m)) => assert!(m.contains("bigint"), "{m}"),
            other => panic!("expected a bad value to fail, got {other:?}"),
        }

        // Real values, hypothetical index: used, with the retry in between.
        let seq = w.plan(select, &select_params, none()).expect("plan");
        assert!(seq.used_hypothetical.is_empty(), "{seq:?}");
        let indexed = w
            .plan(select, &select_params, with(&by_user))
            .expect("plan with the index");
        assert_eq!(indexed.used_hypothetical, vec![0], "{indexed:?}");
        assert!(indexed.total_cost < seq.total_cost, "{seq:?} {indexed:?}");
    };

    let mut hypo = HypoWhatIf::connect(&spec, WhatIfOptions::default()).expect("HypoPG what-if");
    check(&mut hypo);
    let mut real = RealTxWhatIf::connect(&spec, WhatIfOptions::default()).expect("real-tx what-if");
    check(&mut real);
    // The real-tx transaction survived the failed attempts: nothing was left behind.
    real.close().expect("rolled back");
    assert_eq!(
        cluster
            .psql(
                "audit",
                "SELECT count(*) FROM audit_logs WHERE details IS NOT NULL"
            )
            .expect("count"),
        "0"
    );
}

/// An append-only log (rows inserted in timestamp order): the catalog reader
/// finds its timestamp physically ordered, HypoPG plans range aggregates with a
/// hypothetical BRIN index (sized like the real one), and the advisor picks it.
#[test]
fn brin_for_an_append_only_log() {
    let cluster = cluster();
    cluster.create_database("logs").expect("create database");
    cluster
        .psql(
            "logs",
            "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 kind text NOT NULL, at timestamptz NOT NULL, amount int NOT NULL); \
             INSERT INTO events (kind, at, amount) \
             SELECT 'k' || g % 20, timestamptz '2024-01-01 00:00+00' + g * interval '10 s', \
                    (g::int8 * 7919) % 1000 FROM generate_series(1, 300000) g;",
        )
        .expect("load the log");
    cluster
        .psql("logs", "VACUUM ANALYZE events")
        .expect("vacuum analyze");
    let spec = ConnSpec::parse(&cluster.url("logs")).expect("cluster URL");
    let cat = catalog(&spec, &["events".to_string()]);
    let t = cat.table("events").expect("events");
    let corr = |c: &str| t.column(c).and_then(|c| c.correlation);
    assert!(corr("at").is_some_and(|c| c > 0.9), "{:?}", corr("at"));
    let scattered = corr("amount").unwrap_or(1.0);
    assert!(scattered.abs() < 0.5, "{scattered}");

    let mut brin = IndexDef::btree("public", "events", vec![IndexKey::column("at")]);
    brin.method = "brin".into();
    let mut w = HypoWhatIf::connect(&spec, WhatIfOptions::default()).expect("HypoPG what-if");
    w.validate(&brin).expect("a valid BRIN index");
    // 40 % of the rows, then 5 %: a bitmap scan of the BRIN beats the
    // sequential scan; at 40 % the planner even prefers it to a B-tree.
    let sum = "SELECT kind, sum(amount) FROM events WHERE at >= $1 AND at < $2 GROUP BY kind";
    let btree = IndexDef::btree("public", "events", vec![IndexKey::column("at")]);
    let both = [btree.clone(), brin.clone()];
    for (from, to) in [
        ("2024-01-11 10:00+00", "2024-01-25 07:20+00"),
        ("2024-01-18 08:40+00", "2024-01-20 02:20+00"),
    ] {
        let seq = w.plan(sum, &p(&[from, to]), none()).expect("plan");
        let hypo = w
            .plan(sum, &p(&[from, to]), with(&both[1..]))
            .expect("plan");
        assert_eq!(hypo.used_hypothetical, vec![0], "{from}: {seq:?} {hypo:?}");
        assert!(hypo.total_cost < seq.total_cost, "{from}: {seq:?} {hypo:?}");
    }
    let wide = p(&["2024-01-11 10:00+00", "2024-01-25 07:20+00"]);
    let chosen = w.plan(sum, &wide, with(&both)).expect("plan");
    assert_eq!(chosen.used_hypothetical, vec![1], "{chosen:?}");
    // The advisor, given the wide query, picks the BRIN over the B-trees.
    let wide_sql = sum
        .replace("$1", "'2024-01-11 10:00+00'")
        .replace("$2", "'2024-01-25 07:20+00'");
    let q = pgpilot_advisor::AdvisorQuery {
        id: "wide".into(),
        shape: pgpilot_sql::QueryShape::parse(&wide_sql).expect("parse"),
        sql: wide_sql,
        calls: 100.0,
        mean_ms: None,
        samples: Vec::new(),
    };
    let opts = pgpilot_advisor::advise::AdviseOptions::default();
    let advice =
        pgpilot_advisor::advise::advise(&[q], &cat, &mut w, &opts, &mut |_| {}).expect("advice");
    let chosen: Vec<&IndexDef> = advice.recommendations.iter().map(|r| &r.index).collect();
    assert_eq!(chosen, [&brin], "{:#?}", advice.recommendations);
    // Sized like the real one, a few hundred times smaller than the B-tree.
    let estimated = w.index_size(&brin).expect("size");
    let bigger = w.index_size(&btree).expect("size");
    assert!(estimated * 100 < bigger, "{estimated} vs {bigger}");
    let real_sql = "CREATE INDEX b ON events USING brin (at); SELECT pg_relation_size('b')";
    let real: u64 = cluster
        .psql("logs", real_sql)
        .expect("real BRIN")
        .parse()
        .expect("size");
    assert!(
        estimated * 2 >= real && estimated <= real * 2,
        "{estimated} vs {real}"
    );
    w.close().expect("close");
}
