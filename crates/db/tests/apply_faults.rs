//! `apply` under faults, on real clusters: a concurrent build cancelled or its
//! backend terminated mid-build, a table locked by a long transaction, a long
//! open writer. In every case no INVALID index is left, the journal matches the
//! database, and the report explains what happened.

mod apply_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use apply_support::*;
use pgpilot_advisor::{ChangeStatus, IndexKey, VerifyStatus};
use pgpilot_db::{apply_plan, ApplyEvent, ApplyOptions, ApplyOutcome, ConnSpec};

/// Cancels (or terminates) `count` index builds of `pgpilot apply` as they
/// happen, each once it is scanning the table.
async fn interrupt_builds(spec: ConnSpec, count: usize, terminate: bool) -> Vec<i32> {
    let client = connect(&spec).await;
    let mut pids = Vec::new();
    for _ in 0..count {
        let pid = building_pid(&client, Duration::from_secs(30))
            .await
            .expect("an index build to interrupt");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let f = if terminate {
            "pg_terminate_backend"
        } else {
            "pg_cancel_backend"
        };
        let ok: bool = client
            .query_one(&format!("SELECT {f}($1)"), &[&pid])
            .await
            .expect("interrupt")
            .get(0);
        assert!(ok, "{f}({pid})");
        pids.push(pid);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_builds_leave_no_invalid_index() {
    let (_cluster, spec, client) = start().await;
    make_slow_table(&client, "slow", 1200).await;

    // 1. Cancelled once: the INVALID index it left is dropped, the retry succeeds.
    let r = rec(
        "slow",
        vec![IndexKey::expression("slow_key(id)")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-cancel", vec![r.clone()], vec![], vec![]).await;
    let (events, mut sink) = recorder();
    let canceller = tokio::spawn(interrupt_builds(spec.clone(), 1, false));
    let report = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply");
    canceller.await.expect("canceller");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Applied, "{item:#?}");
    assert_eq!(item.tries.len(), 2, "{item:#?}");
    assert_eq!(item.tries[0].failure.as_deref(), Some("cancelled"));
    assert!(
        item.tries[0]
            .cleanup
            .as_deref()
            .is_some_and(|c| c.starts_with("dropped the INVALID index public.slow_slow_key_id_idx")),
        "{item:#?}"
    );
    assert!(
        item.message.contains("(try 2 of 3, after cancelled)"),
        "{}",
        item.message
    );
    assert!(events
        .lock()
        .expect("events")
        .iter()
        .any(|e| matches!(e, ApplyEvent::Cleanup { .. })));
    assert!(invalid_indexes(&client).await.is_empty());
    assert!(indexes(&client, "slow")
        .await
        .contains(&(r.name.clone(), true)));
    let rows = journal_of(&client, "plan-cancel").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Applied);
    assert!(
        rows[0]
            .detail
            .contains("try 1: canceling statement due to user request"),
        "{}",
        rows[0].detail
    );

    // 2. Cancelled on every try: gives up, leaves nothing, journals the failure.
    let r2 = rec(
        "slow",
        vec![IndexKey::expression("slow_key(a)")],
        Some(VerifyStatus::Verified),
    );
    let p2 = plan(&client, "plan-cancel-all", vec![r2.clone()], vec![], vec![]).await;
    let canceller = tokio::spawn(interrupt_builds(spec.clone(), 2, false));
    let opts = ApplyOptions {
        max_retries: 1,
        ..fast()
    };
    let report = apply_plan(&spec, &p2, &opts, &mut sink)
        .await
        .expect("apply");
    canceller.await.expect("canceller");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Failed, "{item:#?}");
    assert_eq!(item.tries.len(), 2);
    assert!(item
        .tries
        .iter()
        .all(|t| t.failure.as_deref() == Some("cancelled")));
    assert!(
        item.message
            .starts_with("gave up on public.slow_slow_key_a_idx after 2 tries"),
        "{}",
        item.message
    );
    assert!(
        item.message.ends_with("nothing was left behind"),
        "{}",
        item.message
    );
    assert!(!report.succeeded());
    assert!(invalid_indexes(&client).await.is_empty());
    assert!(!indexes(&client, "slow")
        .await
        .iter()
        .any(|(n, _)| n == &r2.name));
    let rows = journal_of(&client, "plan-cancel-all").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Failed);
    assert!(rows[0].rollback_ddl.is_empty());

    // 3. Backend terminated mid-build: reconnects (taking the lock again),
    //    cleans up, retries.
    let r3 = rec(
        "slow",
        vec![IndexKey::expression("slow_key(id + 1)")],
        Some(VerifyStatus::Verified),
    );
    let p3 = plan(&client, "plan-terminate", vec![r3.clone()], vec![], vec![]).await;
    let (events, mut sink) = recorder();
    let terminator = tokio::spawn(interrupt_builds(spec.clone(), 1, true));
    let report = apply_plan(&spec, &p3, &fast(), &mut sink)
        .await
        .expect("apply");
    terminator.await.expect("terminator");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Applied, "{item:#?}");
    assert_eq!(
        item.tries[0].failure.as_deref(),
        Some("connection lost"),
        "{item:#?}"
    );
    assert!(events
        .lock()
        .expect("events")
        .iter()
        .any(|e| matches!(e, ApplyEvent::Reconnected)));
    assert!(invalid_indexes(&client).await.is_empty());
    assert!(indexes(&client, "slow")
        .await
        .contains(&(r3.name.clone(), true)));
    let rows = journal_of(&client, "plan-terminate").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Applied);
    // The lock was given back: nobody holds it now.
    let held: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted",
            &[],
        )
        .await
        .expect("locks")
        .get(0);
    assert_eq!(held, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_table_gives_up_per_lock_timeout_without_blocking_queries() {
    let (_cluster, spec, client) = start().await;
    make_table(&client, "t", 20_000).await;
    let r = rec(
        "t",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-locked", vec![r.clone()], vec![], vec![]).await;

    // A long transaction holding a lock that CREATE INDEX CONCURRENTLY must wait for.
    let blocker = connect(&spec).await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    let blocker_pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    // The application keeps querying the table meanwhile.
    let app = connect(&spec).await;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_app = Arc::clone(&stop);
    let app_task = tokio::spawn(async move {
        let (mut worst, mut n) = (Duration::ZERO, 0);
        while !stop_app.load(Ordering::Relaxed) {
            let t = Instant::now();
            app.query_one("SELECT count(*) FROM t WHERE a = 7", &[])
                .await
                .expect("application query");
            worst = worst.max(t.elapsed());
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (worst, n)
    });

    // 2 s, not less: the blocker must still be younger than lock_timeout
    // when apply starts, or its preflight (rightly) refuses to even try.
    let opts = ApplyOptions {
        lock_timeout: Some(Duration::from_secs(2)),
        max_retries: 1,
        backoff: Duration::from_millis(200),
        ..fast()
    };
    let (_, mut sink) = recorder();
    let started = Instant::now();
    let report = apply_plan(&spec, &p, &opts, &mut sink)
        .await
        .expect("apply");
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (worst, queries) = app_task.await.expect("app task");

    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Failed, "{item:#?}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(item.tries.len(), 2, "{item:#?}");
    for t in &item.tries {
        assert_eq!(t.failure.as_deref(), Some("lock timeout"), "{t:#?}");
        assert!(t.elapsed_ms < 5000.0, "a try took {} ms", t.elapsed_ms);
    }
    assert!(
        item.tries[0].error.as_deref().is_some_and(
            |e| e.contains("lock timeout") && e.contains(&format!("pid {blocker_pid}"))
        ),
        "{item:#?}"
    );
    assert!(
        item.message.contains(&format!("pid {blocker_pid}")),
        "{}",
        item.message
    );
    assert!(
        item.message.ends_with("nothing was left behind"),
        "{}",
        item.message
    );
    assert!(queries >= 10, "only {queries} application queries ran");
    assert!(
        worst < Duration::from_secs(1),
        "an application query waited {worst:?}"
    );
    assert_eq!(indexes(&client, "t").await, [("t_pkey".to_string(), true)]);
    assert!(invalid_indexes(&client).await.is_empty());
    let rows = journal_of(&client, "plan-locked").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Failed);
    assert!(
        rows[0].detail.contains("lock timeout"),
        "{}",
        rows[0].detail
    );

    // Once the transaction ends, the same plan applies.
    blocker.batch_execute("COMMIT").await.expect("commit");
    let report = apply_plan(&spec, &p, &opts, &mut sink)
        .await
        .expect("apply");
    assert_eq!(
        report.items[0].outcome,
        ApplyOutcome::Applied,
        "{report:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_writer_is_waited_out_and_its_invalid_index_dropped() {
    let (_cluster, spec, client) = start().await;
    make_table(&client, "w", 20_000).await;
    let r = rec(
        "w",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-writer", vec![r.clone()], vec![], vec![]).await;

    // An open writing transaction: the build gets its table lock, creates the
    // index entry, then waits for the writer and times out, leaving an INVALID
    // index that cannot be dropped before the writer ends.
    let writer = connect(&spec).await;
    writer
        .batch_execute("BEGIN; UPDATE w SET a = a WHERE id = 1")
        .await
        .expect("open writer");
    let ender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5000)).await;
        writer.batch_execute("COMMIT").await.expect("commit");
    });
    // The writer must still be younger than lock_timeout when the first try
    // starts (else preflight refuses it), hence 2 s on a loaded machine.
    let opts = ApplyOptions {
        lock_timeout: Some(Duration::from_secs(2)),
        max_retries: 4,
        backoff: Duration::from_millis(1000),
        ..fast()
    };
    let (_, mut sink) = recorder();
    let report = apply_plan(&spec, &p, &opts, &mut sink)
        .await
        .expect("apply");
    ender.await.expect("ender");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Applied, "{item:#?}");
    assert!(item.tries.len() >= 2, "{item:#?}");
    assert_eq!(
        item.tries[0].failure.as_deref(),
        Some("lock timeout"),
        "{item:#?}"
    );
    assert!(
        item.tries[0].cleanup.is_some(),
        "the first try left an INVALID index: {item:#?}"
    );
    assert!(invalid_indexes(&client).await.is_empty());
    assert!(indexes(&client, "w")
        .await
        .contains(&(r.name.clone(), true)));
    let rows = journal_of(&client, "plan-writer").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ChangeStatus::Applied);
    assert!(
        rows[0]
            .detail
            .contains("try 1: canceling statement due to lock timeout"),
        "{}",
        rows[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeouts_are_retried_and_unique_violations_are_not() {
    let (_cluster, spec, client) = start().await;
    make_slow_table(&client, "slow", 1500).await;
    let (_, mut sink) = recorder();

    // Every try runs into statement_timeout: retried, then given up, nothing left.
    let r = rec(
        "slow",
        vec![IndexKey::expression("slow_key(id)")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-timeout", vec![r.clone()], vec![], vec![]).await;
    let opts = ApplyOptions {
        statement_timeout: Some(Duration::from_millis(300)),
        max_retries: 2,
        ..fast()
    };
    let report = apply_plan(&spec, &p, &opts, &mut sink)
        .await
        .expect("apply");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Failed, "{item:#?}");
    assert_eq!(item.tries.len(), 3, "{item:#?}");
    assert!(item
        .tries
        .iter()
        .all(|t| t.failure.as_deref() == Some("statement timeout")));
    assert!(
        item.message.ends_with("nothing was left behind"),
        "{}",
        item.message
    );
    assert!(invalid_indexes(&client).await.is_empty());

    // A unique index over duplicates fails once and is not retried.
    let mut u = rec(
        "slow",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    u.index.unique = true;
    u.ddl = u.index.create_sql(&u.name, true, true);
    let p = plan(&client, "plan-unique", vec![u.clone()], vec![], vec![]).await;
    let report = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply");
    let item = &report.items[0];
    assert_eq!(item.outcome, ApplyOutcome::Failed, "{item:#?}");
    assert_eq!(item.tries.len(), 1, "{item:#?}");
    assert_eq!(item.tries[0].failure.as_deref(), Some("unique violation"));
    assert!(
        item.tries[0]
            .cleanup
            .as_deref()
            .is_some_and(|c| c.starts_with("dropped the INVALID index")),
        "{item:#?}"
    );
    assert!(invalid_indexes(&client).await.is_empty());
    assert_eq!(
        indexes(&client, "slow").await,
        [("slow_pkey".to_string(), true)]
    );
    let rows = journal_of(&client, "plan-unique").await;
    assert_eq!(rows[0].status, ChangeStatus::Failed);
}
