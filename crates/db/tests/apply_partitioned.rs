//! `apply` / `rollback` of an index on a partitioned table, on a real cluster:
//! a range-partitioned table with a hash sub-partitioned partition. The index
//! is built `ON ONLY` the parent, concurrently on each leaf and attached;
//! reruns are no-ops, a dry run changes nothing, rollback drops it all, and an
//! interrupted leaf build is finished by the rerun.

mod apply_support;

use apply_support::*;
use pgpilot_advisor::{ChangeStatus, IndexKey, VerifyStatus};
use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{
    apply::RollbackOutcome, apply_plan, rollback, ApplyOptions, ApplyOutcome, RollbackOptions,
    RollbackSelector,
};

/// `public.pt (id, a, b, created)` by range on `created`: `pt_2022`, `pt_2023`,
/// and `pt_2024` itself hash-partitioned on `id` in three; `rows` rows.
async fn make_partitioned(client: &Client, rows: i32) {
    client
        .batch_execute(&format!(
            "CREATE TABLE pt (id int NOT NULL, a int NOT NULL, b text, created date NOT NULL)
               PARTITION BY RANGE (created);
             CREATE TABLE pt_2022 PARTITION OF pt FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
             CREATE TABLE pt_2023 PARTITION OF pt FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
             CREATE TABLE pt_2024 PARTITION OF pt FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
               PARTITION BY HASH (id);
             CREATE TABLE pt_2024_h0 PARTITION OF pt_2024 FOR VALUES WITH (MODULUS 3, REMAINDER 0);
             CREATE TABLE pt_2024_h1 PARTITION OF pt_2024 FOR VALUES WITH (MODULUS 3, REMAINDER 1);
             CREATE TABLE pt_2024_h2 PARTITION OF pt_2024 FOR VALUES WITH (MODULUS 3, REMAINDER 2);
             INSERT INTO pt SELECT g, g % 1000, md5(g::text),
                    date '2022-01-01' + (g % 1096)
               FROM generate_series(1, {rows}) g;
             ANALYZE pt;"
        ))
        .await
        .expect("create partitioned table");
}

/// Every index in the tree of `public.<index>`: (table, index, valid, level).
async fn index_tree(client: &Client, index: &str) -> Vec<(String, String, bool, i32)> {
    client
        .query(
            "SELECT i.indrelid::regclass::text, t.relid::regclass::text, i.indisvalid, t.level \
             FROM pg_partition_tree($1::text::regclass) t \
             JOIN pg_index i ON i.indexrelid = t.relid ORDER BY 1",
            &[&format!("public.{index}")],
        )
        .await
        .expect("index tree")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// Indexes on any table of the `pt` tree.
async fn tree_indexes(client: &Client) -> Vec<String> {
    client
        .query(
            "SELECT c.relname::text FROM pg_partition_tree('public.pt') t \
             JOIN pg_index i ON i.indrelid = t.relid \
             JOIN pg_class c ON c.oid = i.indexrelid ORDER BY 1",
            &[],
        )
        .await
        .expect("tree indexes")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

const LEAVES: [&str; 5] = [
    "pt_2022",
    "pt_2023",
    "pt_2024_h0",
    "pt_2024_h1",
    "pt_2024_h2",
];

/// The index is valid and every table of the tree has a valid attached index.
async fn assert_complete(client: &Client, index: &str) {
    let tree = index_tree(client, index).await;
    let tables: Vec<&str> = tree.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(
        tables,
        [
            "pt",
            "pt_2022",
            "pt_2023",
            "pt_2024",
            "pt_2024_h0",
            "pt_2024_h1",
            "pt_2024_h2"
        ],
        "{tree:#?}"
    );
    assert!(tree.iter().all(|t| t.2), "{tree:#?}");
    for leaf in LEAVES {
        assert!(
            tree.iter()
                .any(|t| t.0 == leaf && t.1 == format!("{leaf}_a_idx")),
            "{leaf}: {tree:#?}"
        );
    }
    assert!(invalid_indexes(client).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_index_is_built_online_and_rolled_back() {
    let (_cluster, spec, client) = start().await;
    make_partitioned(&client, 100_000).await;
    let r = rec(
        "pt",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    assert_eq!(r.name, "pt_a_idx");
    let p = plan(&client, "plan-pt", vec![r.clone()], vec![], vec![]).await;

    // Dry run: described, nothing changed.
    let (_events, mut sink) = recorder();
    let dry = apply_plan(&spec, &p, &ApplyOptions::default(), &mut sink)
        .await
        .expect("dry run");
    let item = &dry.items[0];
    assert_eq!(item.outcome, ApplyOutcome::WouldApply, "{item:#?}");
    assert!(
        item.message.contains("ON ONLY public.pt"),
        "{}",
        item.message
    );
    assert!(
        item.message.contains("5 leaf partitions"),
        "{}",
        item.message
    );
    assert!(
        item.message.contains("public.pt_2024_h1"),
        "{}",
        item.message
    );
    assert!(tree_indexes(&client).await.is_empty());
    assert!(!has_pgpilot_schema(&client).await);

    // Apply.
    let prewarm_available = client
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .await
        .is_ok();
    let opts = ApplyOptions {
        prewarm: true,
        ..fast()
    };
    let report = apply_plan(&spec, &p, &opts, &mut sink)
        .await
        .expect("apply");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Applied, "{item:#?}");
    assert!(item.ddl.contains("ON ONLY public.pt"), "{}", item.ddl);
    assert_eq!(item.rollback_ddl, "DROP INDEX IF EXISTS public.pt_a_idx");
    assert!(item.message.contains("on 5 partitions"), "{}", item.message);
    if prewarm_available {
        assert!(
            item.message
                .contains("of 5 partition indexes into shared_buffers"),
            "{}",
            item.message
        );
    } else {
        assert!(item.message.contains("not prewarmed"), "{}", item.message);
    }
    assert_complete(&client, "pt_a_idx").await;
    let rows = journal_of(&client, "plan-pt").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].status, ChangeStatus::Applied);
    assert!(
        rows[0].detail.contains("public.pt_2024_h2"),
        "{}",
        rows[0].detail
    );

    // Again: already present, nothing journaled as applied.
    let again = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply again");
    assert_eq!(
        again.items[0].outcome,
        ApplyOutcome::AlreadyPresent,
        "{again:#?}"
    );
    let rows = journal_of(&client, "plan-pt").await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == ChangeStatus::Applied)
            .count(),
        1
    );
    let dry = apply_plan(&spec, &p, &ApplyOptions::default(), &mut sink)
        .await
        .expect("dry run");
    assert_eq!(dry.items[0].outcome, ApplyOutcome::AlreadyPresent);

    // Rollback drops the whole tree of indexes; twice is harmless.
    let ropts = RollbackOptions {
        dry_run: false,
        ..RollbackOptions::default()
    };
    let rb = rollback(&spec, &RollbackSelector::Last, &ropts, &mut sink)
        .await
        .expect("rollback");
    let rolled = rb
        .items
        .iter()
        .find(|i| i.outcome != RollbackOutcome::NothingToUndo)
        .expect("an undone item");
    assert_eq!(rolled.outcome, RollbackOutcome::RolledBack, "{rb:#?}");
    assert_eq!(rolled.ddl, "DROP INDEX IF EXISTS public.pt_a_idx");
    assert!(tree_indexes(&client).await.is_empty());
    let rb2 = rollback(
        &spec,
        &RollbackSelector::Plan("plan-pt".into()),
        &ropts,
        &mut sink,
    )
    .await
    .expect("rollback again");
    assert!(rb2.succeeded(), "{rb2:#?}");
    assert!(rb2
        .items
        .iter()
        .all(|i| i.outcome != RollbackOutcome::RolledBack));
    assert!(tree_indexes(&client).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_partitioned_build_is_resumed() {
    let (_cluster, spec, client) = start().await;
    make_partitioned(&client, 30_000).await;
    let r = rec(
        "pt",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-resume", vec![r.clone()], vec![], vec![]).await;

    // An earlier run that stopped half-way: the INVALID parent index, one leaf
    // built and attached, one leaf with an INVALID index (a failed concurrent
    // build), the sub-partitioned partition's index created but not attached.
    client
        .batch_execute(
            "CREATE INDEX pt_a_idx ON ONLY pt (a);
             CREATE INDEX pt_2022_a_idx ON pt_2022 (a);
             ALTER INDEX pt_a_idx ATTACH PARTITION pt_2022_a_idx;
             CREATE INDEX pt_2024_a_idx ON ONLY pt_2024 (a);
             CREATE INDEX pt_2023_a_idx ON pt_2023 (a);
             UPDATE pg_index SET indisvalid = false
               WHERE indexrelid = 'public.pt_2023_a_idx'::regclass;",
        )
        .await
        .expect("half-built state");
    assert_eq!(invalid_indexes(&client).await.len(), 3);

    let (_events, mut sink) = recorder();
    let dry = apply_plan(&spec, &p, &ApplyOptions::default(), &mut sink)
        .await
        .expect("dry run");
    assert!(
        dry.items[0].message.contains("would resume"),
        "{}",
        dry.items[0].message
    );

    let report = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Applied, "{item:#?}");
    assert!(item.message.contains("resumed"), "{}", item.message);
    assert!(
        item.message.contains(
            "dropped the INVALID index public.pt_2023_a_idx left by an earlier failed build"
        ) && item
            .message
            .contains("(4 built now, 1 already built by an earlier run)"),
        "{}",
        item.message
    );
    assert_complete(&client, "pt_a_idx").await;
    let rows = journal_of(&client, "plan-resume").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Applied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_of_the_parent_never_fail_while_it_is_indexed() {
    let (_cluster, spec, client) = start().await;
    make_partitioned(&client, 100_000).await;
    let r = rec(
        "pt",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-pt-load", vec![r.clone()], vec![], vec![]).await;
    // The application reads through the parent the whole time: each query
    // locks the parent, then the partitions it scans.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for k in 0..3 {
        let app = connect(&spec).await;
        let stop = std::sync::Arc::clone(&stop);
        readers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match app
                    .query_one("SELECT count(*) FROM pt WHERE a = $1", &[&(k * 7 + 1)])
                    .await
                {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(e.to_string()),
                }
            }
            (ok, failed)
        }));
    }
    let (_events, mut sink) = recorder();
    let report = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        let (ok, failed) = reader.await.expect("reader");
        assert!(failed.is_empty(), "application queries failed: {failed:?}");
        assert!(ok > 0, "a reader never ran");
    }
    assert_eq!(
        report.items[0].outcome,
        ApplyOutcome::Applied,
        "{:#?}",
        report.items[0]
    );
    assert!(
        report.items[0].tries.iter().all(|t| t.failure.is_none()),
        "a try failed (deadlock?): {:#?}",
        report.items[0].tries
    );
    assert_complete(&client, "pt_a_idx").await;

    // The audit sees the partitioned index whole: its partitions' sizes and
    // scans, never "unused"; the partitions' own indexes cannot be dropped
    // alone, so they are never flagged.
    let facts = pgpilot_db::collect_health_facts(&client)
        .await
        .expect("facts");
    let parent = facts
        .indexes
        .iter()
        .find(|i| i.name == "pt_a_idx")
        .expect("parent index");
    assert!(parent.bytes > 0 && parent.scans > 0, "{parent:#?}");
    assert!(!parent.partition_of_index);
    let leaf = facts
        .indexes
        .iter()
        .find(|i| i.name == "pt_2022_a_idx")
        .expect("leaf index");
    assert!(leaf.partition_of_index, "{leaf:#?}");
    let inventory = pgpilot_db::index_inventory(&client)
        .await
        .expect("inventory");
    assert!(
        inventory
            .indexes
            .iter()
            .filter(|i| i.name.ends_with("_a_idx"))
            .all(|i| i.flags.is_empty()),
        "{:#?}",
        inventory.indexes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_script_builds_the_same_index_by_hand() {
    let (_cluster, _spec, client) = start().await;
    make_partitioned(&client, 20_000).await;
    let r = rec(
        "pt",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let (up, down) = pgpilot_db::partitioned_index_script(&client, &r.index, &r.name)
        .await
        .expect("script")
        .expect("pt is partitioned");
    assert!(up[0].contains("ON ONLY"), "{up:#?}");
    assert!(
        !up.iter()
            .any(|s| s.contains("CONCURRENTLY") && s.contains("ON public.pt ")),
        "no concurrent build on the parent: {up:#?}"
    );
    // Run as psql would run the file: one statement at a time, no transaction.
    for s in &up {
        client
            .batch_execute(s)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    assert_complete(&client, "pt_a_idx").await;
    client.batch_execute(&down).await.expect("down");
    assert!(tree_indexes(&client).await.is_empty());
    // Not partitioned: no script.
    client
        .batch_execute("CREATE TABLE plain_t (a int)")
        .await
        .expect("plain table");
    let plain = rec("plain_t", vec![IndexKey::column("a")], None);
    assert!(
        pgpilot_db::partitioned_index_script(&client, &plain.index, &plain.name)
            .await
            .expect("script")
            .is_none()
    );
}
