//! What-if planning on a partitioned table (range on a date, one partition
//! sub-partitioned by hash, one attached with its columns in another order):
//! HypoPG plans with a hypothetical index on every leaf partition, real-tx
//! recognises the partition indexes its build cascaded to, validation works on a
//! partitioned parent, the catalog reader sums the leaves, and the advisor
//! recommends an index on the parent.
//!
//! The planners own their runtime and are used from plain (non-async) tests.

use pgpilot_advisor::{Catalog, Config, IndexDef, IndexKey, KeyExpr, WhatIf, WhatIfError};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::{advisor_catalog, ConnSpec, HypoWhatIf, RealTxWhatIf, WhatIfOptions};

const DB: &str = "parts";

const SCHEMA: &str = "
CREATE TABLE pt (id bigint NOT NULL, d date NOT NULL, v int NOT NULL, note text)
    PARTITION BY RANGE (d);
CREATE TABLE pt_2023 PARTITION OF pt FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE pt_2024 PARTITION OF pt FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
    PARTITION BY HASH (id);
CREATE TABLE pt_2024_h0 PARTITION OF pt_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE pt_2024_h1 PARTITION OF pt_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE pt_2025 (note text, v int NOT NULL, id bigint NOT NULL, d date NOT NULL);
ALTER TABLE pt ATTACH PARTITION pt_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO pt (id, d, v, note)
SELECT g, date '2023-01-01' + (g % 1095), (g::int8 * 7919) % 100000, 'note ' || g
FROM generate_series(1, 300000) g;
CREATE INDEX pt_d_idx ON pt (d);
";

const LEAVES: [&str; 4] = ["pt_2023", "pt_2024_h0", "pt_2024_h1", "pt_2025"];

const BY_V: &str = "SELECT * FROM pt WHERE v = $1";
const BY_V_IN_2024: &str = "SELECT * FROM pt WHERE v = $1 AND d >= $2 AND d < $3";

fn setup() -> (Cluster, ConnSpec) {
    let cluster = Cluster::start(ClusterOptions {
        settings: vec![("synchronous_commit".into(), "on".into())],
        ..ClusterOptions::default()
    })
    .expect("start a PostgreSQL cluster");
    cluster.create_database(DB).expect("create database");
    cluster.psql(DB, SCHEMA).expect("load the schema");
    // VACUUM ANALYZE without a table list analyzes the partitioned tables too.
    cluster.psql(DB, "VACUUM ANALYZE").expect("vacuum analyze");
    let spec = ConnSpec::parse(&cluster.url(DB)).expect("cluster URL");
    (cluster, spec)
}

fn pt_v() -> IndexDef {
    IndexDef::btree("public", "pt", vec![IndexKey::column("v")])
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

fn number(cluster: &Cluster, sql: &str) -> i64 {
    cluster
        .psql(DB, sql)
        .expect("query")
        .parse()
        .expect("a number")
}

/// Indexes anywhere in the partition tree, and pgpilot's own relations.
fn indexes_on_tree(cluster: &Cluster) -> i64 {
    number(
        cluster,
        "SELECT count(*) FROM pg_index i JOIN pg_partition_tree('pt') t ON t.relid = i.indrelid",
    )
}

/// What both planners must answer on the partitioned table. HypoPG (1.3.1 at
/// least) matches partial and expression hypothetical indexes of a partition
/// only when the partition is queried directly (their predicate and expressions
/// are not translated to the partition's range-table entry under its parent):
/// `through_parent` says whether the planner sees them through `pt` too.
fn common_answers(w: &mut dyn WhatIf, through_parent: bool) {
    let before = w.plan(BY_V, &p(&["4242"]), none()).expect("plan");
    assert!(before.used_hypothetical.is_empty(), "{before:?}");
    let hypo = [pt_v()];
    let after = w.plan(BY_V, &p(&["4242"]), with(&hypo)).expect("plan");
    assert_eq!(after.used_hypothetical, vec![0], "{after:?}");
    assert!(
        after.total_cost * 10.0 < before.total_cost,
        "{before:?} {after:?}"
    );
    assert!(after.used_existing.is_empty(), "{after:?}");

    // Pruned to the hash sub-partitions (the second level): still used.
    let in_2024 = p(&["4242", "2024-03-01", "2024-04-01"]);
    let seq = w.plan(BY_V_IN_2024, &in_2024, none()).expect("plan");
    let idx = w.plan(BY_V_IN_2024, &in_2024, with(&hypo)).expect("plan");
    assert_eq!(idx.used_hypothetical, vec![0], "{seq:?} {idx:?}");
    assert!(idx.total_cost < seq.total_cost, "{seq:?} {idx:?}");

    // A partial index and an expression key carry over to the leaves.
    let mut partial = pt_v();
    partial.predicate = Some("v < 50000".into());
    let mut expr = IndexDef::btree(
        "public",
        "pt",
        vec![IndexKey {
            expr: KeyExpr::Expression("(v % 1000)".into()),
            descending: false,
            nulls_first: None,
        }],
    );
    expr.predicate = None;
    let both = [partial, expr];
    let tables: &[&str] = if through_parent {
        &["pt", "pt_2024_h1"]
    } else {
        &["pt_2024_h1"]
    };
    for table in tables {
        let by_v = format!("SELECT * FROM {table} WHERE v = $1");
        let low = w.plan(&by_v, &p(&["4242"]), with(&both)).expect("plan");
        assert_eq!(low.used_hypothetical, vec![0], "{table}: {low:?}");
        let high = w.plan(&by_v, &p(&["94242"]), with(&both)).expect("plan");
        assert!(!high.used_hypothetical.contains(&0), "{table}: {high:?}");
        let by_mod = format!("SELECT id FROM {table} WHERE v % 1000 = $1");
        let modulo = w.plan(&by_mod, &p(&["42"]), with(&both)).expect("plan");
        assert_eq!(modulo.used_hypothetical, vec![1], "{table}: {modulo:?}");
    }

    // The existing partitioned index is reported by its own name (the one the
    // catalog knows) besides its partitions' indexes the plan shows.
    let by_d = w
        .plan("SELECT * FROM pt WHERE d = $1", &p(&["2024-03-05"]), none())
        .expect("plan");
    assert!(
        by_d.used_existing.iter().any(|n| n == "pt_d_idx")
            && by_d
                .used_existing
                .iter()
                .any(|n| n.starts_with("pt_2024_h")),
        "{by_d:?}"
    );
    assert!(by_d.used_hypothetical.is_empty(), "{by_d:?}");

    // Back to no hypothetical index: none is left on any leaf.
    for leaf in LEAVES {
        let q = format!("SELECT * FROM {leaf} WHERE v = $1");
        let plain = w.plan(&q, &p(&["4242"]), none()).expect("plan");
        assert!(
            plain.used_hypothetical.is_empty() && plain.used_existing.is_empty(),
            "{leaf}: {plain:?}"
        );
    }

    // Validation on the partitioned parent (an empty plain copy).
    w.validate(&pt_v()).expect("a valid index on pt");
    let mut wrong = pt_v();
    wrong.keys = vec![IndexKey::column("no_such_column")];
    assert!(
        matches!(w.validate(&wrong), Err(WhatIfError::InvalidIndex(_))),
        "a missing column is refused"
    );
}

/// The real size of an index on `pt (v)`: the sum over its partition tree.
fn real_size(cluster: &Cluster) -> u64 {
    let size = number(
        cluster,
        "CREATE INDEX pt_v_real ON pt (v); \
         SELECT sum(pg_relation_size(relid))::int8 FROM pg_partition_tree('pt_v_real'); ",
    );
    cluster
        .psql(DB, "DROP INDEX pt_v_real")
        .expect("drop the real index");
    u64::try_from(size).expect("a size")
}

#[test]
fn hypopg_indexes_every_leaf_of_a_partitioned_table() {
    let (cluster, spec) = setup();
    let indexes_before = indexes_on_tree(&cluster);
    let mut w = HypoWhatIf::connect(&spec, WhatIfOptions::default()).expect("HypoPG what-if");
    common_answers(&mut w, false);

    // Sized like the real index: the sum of its leaves.
    let estimated = w.index_size(&pt_v()).expect("size");
    let real = real_size(&cluster);
    assert!(
        estimated * 2 >= real && estimated <= real * 2,
        "{estimated} vs {real}"
    );
    // A hypothetical index on one leaf only is a fraction of it.
    let one_leaf = IndexDef::btree("public", "pt_2023", vec![IndexKey::column("v")]);
    let leaf = w.index_size(&one_leaf).expect("size");
    assert!(leaf > 0 && leaf * 2 < estimated, "{leaf} vs {estimated}");

    // The advisor, on the catalog and a two-query workload, recommends pt (v).
    let cat = catalog(&spec);
    let queries = [
        query("by_v", BY_V, 500.0, vec![p(&["4242"]), p(&["77"])]),
        query(
            "by_v_2024",
            BY_V_IN_2024,
            100.0,
            vec![p(&["4242", "2024-03-01", "2024-04-01"])],
        ),
    ];
    let opts = pgpilot_advisor::advise::AdviseOptions::default();
    let advice = pgpilot_advisor::advise::advise(&queries, &cat, &mut w, &opts, &mut |_| {})
        .expect("advice");
    let on_v = advice.recommendations.iter().any(|r| {
        r.index.table == "pt"
            && r.index.keys.first().map(|k| &k.expr) == Some(&KeyExpr::Column("v".into()))
    });
    assert!(on_v, "{:#?}", advice.recommendations);
    assert!(
        advice.recommendations.iter().all(|r| r.index.table == "pt"),
        "the advice names the parent: {:#?}",
        advice.recommendations
    );

    w.close().expect("close");
    assert_eq!(indexes_on_tree(&cluster), indexes_before);
}

#[test]
fn real_tx_recognises_the_partition_indexes_and_leaves_nothing() {
    let (cluster, spec) = setup();
    let indexes_before = indexes_on_tree(&cluster);
    let mut w = RealTxWhatIf::connect(&spec, WhatIfOptions::default()).expect("real-tx what-if");
    common_answers(&mut w, true);

    let measured = w.index_size(&pt_v()).expect("size");
    assert!(measured > 1_000_000, "{measured}");
    // Uncommitted: invisible to other sessions while the planner runs.
    assert_eq!(indexes_on_tree(&cluster), indexes_before);
    w.close().expect("close");
    let real = real_size(&cluster);
    assert!(
        measured * 10 >= real * 9 && measured * 9 <= real * 10,
        "{measured} vs {real}"
    );
    assert_eq!(indexes_on_tree(&cluster), indexes_before);
    let leftovers = number(
        &cluster,
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgpilot%'",
    );
    assert_eq!(leftovers, 0);
}

fn catalog(spec: &ConnSpec) -> Catalog {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = spec.connect().await.expect("connect");
        advisor_catalog(&client, &[]).await.expect("catalog")
    })
}

fn query(
    id: &str,
    sql: &str,
    calls: f64,
    samples: Vec<Vec<Option<String>>>,
) -> pgpilot_advisor::AdvisorQuery {
    pgpilot_advisor::AdvisorQuery {
        id: id.into(),
        shape: pgpilot_sql::QueryShape::parse(sql).expect("parse"),
        sql: sql.into(),
        calls,
        mean_ms: None,
        samples,
    }
}

#[test]
fn catalog_reasons_on_the_partitioned_parent() {
    let (cluster, spec) = setup();
    let cat = catalog(&spec);
    let t = cat.table("public.pt").expect("the partitioned parent");
    assert!((290_000.0..=310_000.0).contains(&t.rows), "{}", t.rows);
    let heap = number(
        &cluster,
        "SELECT sum(pg_relation_size(relid))::int8 FROM pg_partition_tree('pt')",
    );
    assert_eq!(t.heap_bytes, u64::try_from(heap).expect("size"));
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "d", "v", "note"]);
    // Statistics of the whole tree, kept on the parent.
    let v = t.column("v").expect("v");
    assert!(v.n_distinct.is_some() && v.avg_width == Some(4.0), "{v:?}");
    assert!(v.sample_values.len() >= 3, "{:?}", v.sample_values);
    let d = t.column("d").expect("d");
    let years: Vec<&str> = d.sample_values.iter().map(|s| &s[..4]).collect();
    assert!(
        years.contains(&"2023") && years.contains(&"2025"),
        "the whole range: {:?}",
        d.sample_values
    );
    // The sub-partitioned middle level sums its own leaves.
    let mid = cat.table("public.pt_2024").expect("pt_2024");
    assert!((90_000.0..=110_000.0).contains(&mid.rows), "{}", mid.rows);
    // Without activity statistics, from `reltuples`: ANALYZE sets it on the
    // partitioned tables too (PostgreSQL 14+), which must not be counted twice.
    cluster
        .psql(DB, "SELECT pg_stat_reset()")
        .expect("reset statistics");
    let reset = catalog(&spec);
    let rows = |name: &str| reset.table(name).map(|t| t.rows);
    let total = rows("public.pt").expect("pt");
    assert!((290_000.0..=310_000.0).contains(&total), "{total}");
    let mid = rows("public.pt_2024").expect("pt_2024");
    assert!((90_000.0..=110_000.0).contains(&mid), "{mid}");

    // The partitioned index, decomposed, sized as its partition indexes.
    let idx = cat
        .indexes
        .iter()
        .find(|i| i.name == "pt_d_idx")
        .unwrap_or_else(|| panic!("pt_d_idx in {:?}", cat.indexes));
    assert_eq!(
        (idx.def.schema.as_str(), idx.def.table.as_str()),
        ("public", "pt")
    );
    assert_eq!(idx.def.keys, vec![IndexKey::column("d")]);
    let tree = number(
        &cluster,
        "SELECT sum(pg_relation_size(relid))::int8 FROM pg_partition_tree('pt_d_idx')",
    );
    assert!(tree > 0);
    assert_eq!(idx.size_bytes, u64::try_from(tree).expect("size"));
    assert!(idx.valid);
}
