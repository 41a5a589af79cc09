//! `apply` and `rollback` against real clusters: index builds applied and
//! journaled, a second apply a no-op, selection by verification, dry runs that
//! touch nothing, drops and ANALYZE, rollback (dry, by hand-dropped index,
//! twice, `--last`, by change), two applies at once, and plans refused for being
//! corrupt, for another database or stale.

mod apply_support;

use std::time::Duration;

use apply_support::*;
use pgpilot_advisor::{ChangeAction, ChangeStatus, IndexKey, VerifyStatus};
use pgpilot_db::apply::{RollbackOutcome, APPLY_LOCK_KEY};
use pgpilot_db::{
    apply_plan, journal, load_plan, rollback, ApplyError, ApplyEvent, ApplyOptions, ApplyOutcome,
    JournalFilter, PlanMismatch, RollbackOptions, RollbackSelector,
};

fn fast_rollback(dry_run: bool) -> RollbackOptions {
    RollbackOptions {
        dry_run,
        lock_timeout: Some(Duration::from_secs(1)),
        max_retries: 2,
        backoff: Duration::from_millis(100),
        ..RollbackOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_journals_noops_and_rolls_back() {
    let (_cluster, spec, client) = start().await;
    make_table(&client, "items", 100_000).await;
    client
        .batch_execute("CREATE INDEX items_b_idx ON items (b)")
        .await
        .expect("index to drop");
    let verified = rec(
        "items",
        vec![IndexKey::column("a")],
        Some(VerifyStatus::Verified),
    );
    let unverified = rec(
        "items",
        vec![IndexKey::column("b"), IndexKey::column("a")],
        None,
    );
    let no_gain = rec(
        "items",
        vec![IndexKey::column("b"), IndexKey::column("id")],
        Some(VerifyStatus::NoGain),
    );
    let regression = rec(
        "items",
        vec![IndexKey::column("a"), IndexKey::column("id")],
        Some(VerifyStatus::Regression),
    );
    let p = plan(
        &client,
        "plan-1",
        vec![
            verified.clone(),
            unverified.clone(),
            no_gain.clone(),
            regression.clone(),
        ],
        vec![drop_rec(
            "items_b_idx",
            "items",
            "CREATE INDEX items_b_idx ON public.items USING btree (b)",
        )],
        vec!["public.items".into()],
    )
    .await;
    let before = indexes(&client, "items").await;

    // Dry run (the default): describes, touches nothing — not even the journal.
    let (_, mut sink) = recorder();
    let dry = apply_plan(&spec, &p, &ApplyOptions::default(), &mut sink)
        .await
        .expect("dry run");
    assert!(dry.dry_run);
    assert_eq!(
        dry.items[0].outcome,
        ApplyOutcome::WouldApply,
        "{:#?}",
        dry.items
    );
    assert!(dry.items[0]
        .message
        .starts_with("would run: CREATE INDEX CONCURRENTLY"));
    assert_eq!(dry.count(ApplyOutcome::Skipped), 5, "{:#?}", dry.items);
    assert!(
        !has_pgpilot_schema(&client).await,
        "a dry run created the journal"
    );
    assert_eq!(indexes(&client, "items").await, before);

    // Approved: only the verified index; no-gain and regression never, the
    // unverified one not by default, drops and ANALYZE only on request.
    let report = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply");
    let outcomes: Vec<ApplyOutcome> = report.items.iter().map(|i| i.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ApplyOutcome::Applied,
            ApplyOutcome::Skipped,
            ApplyOutcome::Skipped,
            ApplyOutcome::Skipped,
            ApplyOutcome::Skipped,
            ApplyOutcome::Skipped
        ],
        "{:#?}",
        report.items
    );
    assert!(
        report.items[2].message.contains("no real gain"),
        "{}",
        report.items[2].message
    );
    assert!(
        report.items[3].message.contains("regression"),
        "{}",
        report.items[3].message
    );
    assert!(
        report.items[1].message.contains("not verified"),
        "{}",
        report.items[1].message
    );
    let now = indexes(&client, "items").await;
    assert!(now.contains(&(verified.name.clone(), true)), "{now:?}");
    assert_eq!(now.len(), before.len() + 1);
    // The health audit learns from the journal how young the new index is.
    let facts = pgpilot_db::collect_health_facts(&client)
        .await
        .expect("facts");
    let age = |name: &str| {
        facts
            .indexes
            .iter()
            .find(|i| i.name == name)
            .map(|i| i.created_age_s)
    };
    assert!(
        age(&verified.name).flatten().is_some_and(|a| a < 600.0),
        "{:?}",
        age(&verified.name)
    );
    assert_eq!(age("items_pkey"), Some(None));
    let rows = journal(&client, &JournalFilter::default())
        .await
        .expect("journal");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(
        (row.action, row.status),
        (ChangeAction::CreateIndex, ChangeStatus::Applied)
    );
    assert_eq!(row.plan_id, "plan-1");
    assert_eq!(row.applied_by, "postgres");
    assert!(
        row.ddl
            .starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
        "{}",
        row.ddl
    );
    assert!(
        row.rollback_ddl
            .starts_with("DROP INDEX CONCURRENTLY IF EXISTS"),
        "{}",
        row.rollback_ddl
    );
    // Calls-weighted: (300 × 12 + 100 × 4) / 400 = 10 ms before, 0.5 ms after.
    assert_eq!((row.before_ms, row.after_ms), (Some(10.0), Some(0.5)));

    // Again: nothing to do, said so, no duplicate.
    let again = apply_plan(&spec, &p, &fast(), &mut sink)
        .await
        .expect("apply again");
    assert_eq!(again.items[0].outcome, ApplyOutcome::AlreadyPresent);
    assert!(
        again.items[0].message.starts_with(&format!(
            "nothing to do: index public.{} already exists",
            verified.name
        )),
        "{}",
        again.items[0].message
    );
    assert_eq!(indexes(&client, "items").await, now);

    // Unverified allowed, drops and ANALYZE requested (no-gain and regression still not).
    let wider = ApplyOptions {
        only_verified: false,
        include_drops: true,
        analyze: true,
        ..fast()
    };
    let third = apply_plan(&spec, &p, &wider, &mut sink)
        .await
        .expect("apply wider");
    let outcomes: Vec<ApplyOutcome> = third.items.iter().map(|i| i.outcome).collect();
    assert_eq!(
        outcomes,
        [
            ApplyOutcome::AlreadyPresent,
            ApplyOutcome::Applied,
            ApplyOutcome::Skipped,
            ApplyOutcome::Skipped,
            ApplyOutcome::Applied,
            ApplyOutcome::Applied
        ],
        "{:#?}",
        third.items
    );
    let after_third = indexes(&client, "items").await;
    assert!(after_third.contains(&(unverified.name.clone(), true)));
    assert!(
        !after_third.iter().any(|(n, _)| n == "items_b_idx"),
        "{after_third:?}"
    );
    let drop_row = journal(&client, &JournalFilter::default())
        .await
        .expect("journal")
        .into_iter()
        .find(|r| r.action == ChangeAction::DropIndex)
        .expect("drop journaled");
    assert_eq!(
        drop_row.rollback_ddl,
        "CREATE INDEX CONCURRENTLY items_b_idx ON public.items USING btree (b)"
    );

    // Rollback dry run: says what, changes nothing.
    let dry_rb = rollback(
        &spec,
        &RollbackSelector::Last,
        &fast_rollback(true),
        &mut sink,
    )
    .await
    .expect("dry rollback");
    assert!(dry_rb
        .items
        .iter()
        .any(|i| i.outcome == RollbackOutcome::WouldRollBack));
    assert_eq!(indexes(&client, "items").await, after_third);

    // The verified index is dropped by hand; rollback --last reports it and goes on.
    client
        .batch_execute(&format!("DROP INDEX {}", verified.name))
        .await
        .expect("drop by hand");
    let rb = rollback(
        &spec,
        &RollbackSelector::Last,
        &fast_rollback(false),
        &mut sink,
    )
    .await
    .expect("rollback");
    assert_eq!(rb.plan_id.as_deref(), Some("plan-1"));
    let by_name = |n: &str| {
        rb.items
            .iter()
            .find(|i| {
                i.name.ends_with(n)
                    && i.action == ChangeAction::CreateIndex
                    && i.outcome != RollbackOutcome::NothingToUndo
            })
            .unwrap_or_else(|| panic!("{n} in {:#?}", rb.items))
    };
    let gone = by_name(&verified.name);
    assert_eq!(gone.outcome, RollbackOutcome::AlreadyUndone, "{gone:#?}");
    assert!(
        gone.message.contains("was already gone"),
        "{}",
        gone.message
    );
    assert_eq!(
        by_name(&unverified.name).outcome,
        RollbackOutcome::RolledBack
    );
    let analyzed = rb
        .items
        .iter()
        .find(|i| i.action == ChangeAction::Analyze)
        .expect("analyze item");
    assert!(
        analyzed.message.contains("cannot be rolled back"),
        "{}",
        analyzed.message
    );
    assert!(rb.succeeded(), "{:#?}", rb.items);
    // The dropped index is back (re-created concurrently), the created ones gone.
    let restored = indexes(&client, "items").await;
    assert_eq!(restored, before, "{rb:#?}");
    assert!(invalid_indexes(&client).await.is_empty());
    let rows = journal(&client, &JournalFilter::default())
        .await
        .expect("journal");
    for r in rows.iter().filter(|r| r.action != ChangeAction::Analyze) {
        if r.rolled_back_at.is_some() {
            assert_eq!(r.status, ChangeStatus::RolledBack);
        }
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.status == ChangeStatus::RolledBack)
            .count(),
        3,
        "{rows:#?}"
    );

    // Twice: a no-op that says so.
    let rb2 = rollback(
        &spec,
        &RollbackSelector::Plan("plan-1".into()),
        &fast_rollback(false),
        &mut sink,
    )
    .await
    .expect("rollback twice");
    assert_eq!(
        rb2.items
            .iter()
            .filter(|i| i.outcome == RollbackOutcome::AlreadyRolledBack)
            .count(),
        3,
        "{:#?}",
        rb2.items
    );
    assert!(rb2
        .items
        .iter()
        .all(|i| i.outcome != RollbackOutcome::RolledBack));
    assert_eq!(indexes(&client, "items").await, before);

    // By change id: an `already_present` row has nothing to undo; unknown ids are refused.
    let present = rows
        .iter()
        .find(|r| r.status == ChangeStatus::AlreadyPresent)
        .expect("already-present row");
    let rb3 = rollback(
        &spec,
        &RollbackSelector::Change(present.id),
        &fast_rollback(false),
        &mut sink,
    )
    .await
    .expect("rollback one");
    assert_eq!(rb3.items[0].outcome, RollbackOutcome::NothingToUndo);
    let err = rollback(
        &spec,
        &RollbackSelector::Change(9999),
        &fast_rollback(false),
        &mut sink,
    )
    .await
    .expect_err("unknown change");
    assert!(err.to_string().contains("no change 9999"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applies_never_race() {
    let (_cluster, spec, client) = start().await;
    make_slow_table(&client, "slow", 800).await;
    let r = rec(
        "slow",
        vec![IndexKey::expression("slow_key(id)")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(&client, "plan-race", vec![r.clone()], vec![], vec![]).await;

    let (events_a, mut sink_a) = recorder();
    let (events_b, mut sink_b) = recorder();
    let opts = fast();
    let (a, b) = tokio::join!(
        apply_plan(&spec, &p, &opts, &mut sink_a),
        apply_plan(&spec, &p, &opts, &mut sink_b)
    );
    let (a, b) = (a.expect("first apply"), b.expect("second apply"));
    let mut outcomes = [a.items[0].outcome, b.items[0].outcome];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [ApplyOutcome::AlreadyPresent, ApplyOutcome::Applied],
        "{a:#?}\n{b:#?}"
    );
    let waited = |ev: &std::sync::Arc<std::sync::Mutex<Vec<ApplyEvent>>>| {
        ev.lock().expect("events").iter().any(|e| {
            matches!(
                e,
                ApplyEvent::WaitingForLock {
                    holder_pid: Some(_),
                    ..
                }
            )
        })
    };
    assert!(
        waited(&events_a) || waited(&events_b),
        "neither run waited for the other"
    );
    let idx = indexes(&client, "slow").await;
    assert_eq!(
        idx.iter().filter(|(n, _)| n == &r.name).count(),
        1,
        "{idx:?}"
    );
    assert_eq!(idx.len(), 2, "{idx:?}");
    assert!(invalid_indexes(&client).await.is_empty());
    let rows = journal(&client, &JournalFilter::default())
        .await
        .expect("journal");
    let statuses: Vec<ChangeStatus> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [ChangeStatus::Applied, ChangeStatus::AlreadyPresent]
    );

    // A run that cannot wait long enough refuses and names the holder.
    let holder = connect(&spec).await;
    holder
        .query_one("SELECT pg_advisory_lock($1)", &[&APPLY_LOCK_KEY])
        .await
        .expect("hold the lock");
    let holder_pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    let impatient = ApplyOptions {
        wait_for_lock: Duration::from_millis(300),
        ..fast()
    };
    let (_, mut sink) = recorder();
    let err = apply_plan(&spec, &p, &impatient, &mut sink)
        .await
        .expect_err("busy");
    assert!(
        matches!(err, ApplyError::Busy { pid: Some(pid), .. } if pid == holder_pid),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&format!(
            "another pgpilot apply is running (pid {holder_pid})"
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_foreign_and_stale_plans_are_refused() {
    let (cluster, spec, client) = start().await;
    make_table(&client, "items", 1000).await;
    make_table(&client, "other", 10).await;
    let good = plan(
        &client,
        "plan-ok",
        vec![rec(
            "items",
            vec![IndexKey::column("a")],
            Some(VerifyStatus::Verified),
        )],
        vec![],
        vec![],
    )
    .await;
    let (_, mut sink) = recorder();

    // Corrupt file.
    let dir = cluster.dir().join("plans");
    std::fs::create_dir_all(&dir).expect("plan dir");
    let path = dir.join("plan.json");
    let json = serde_json::to_string_pretty(&good).expect("serialize");
    std::fs::write(&path, &json[..json.len() / 2]).expect("write");
    let err = load_plan(&path).expect_err("corrupt");
    let msg = err.to_string();
    assert!(msg.contains("plan.json is not a pgpilot plan: "), "{msg}");
    assert!(msg.contains("line "), "{msg}");
    std::fs::write(&path, &json).expect("write");
    assert_eq!(load_plan(&path).expect("a good file loads"), good);

    // Another database (by name, then by system identifier).
    let mut foreign = good.clone();
    foreign.database.name = "prod".into();
    let err = apply_plan(&spec, &foreign, &fast(), &mut sink)
        .await
        .expect_err("other database");
    let msg = err.to_string();
    assert!(
        matches!(err, ApplyError::Plan(PlanMismatch::OtherDatabase { .. })),
        "{err:?}"
    );
    assert!(msg.contains("\"prod\"") && msg.contains("\"app\""), "{msg}");
    let mut cloned = good.clone();
    cloned.database.system_identifier = "12345".into();
    let err = apply_plan(&spec, &cloned, &fast(), &mut sink)
        .await
        .expect_err("other cluster");
    assert!(err.to_string().contains("system identifier 12345"), "{err}");

    // Another format.
    let mut future = good.clone();
    future.version = 99;
    let err = apply_plan(&spec, &future, &fast(), &mut sink)
        .await
        .expect_err("future format");
    assert!(err.to_string().contains("format version 99"), "{err}");

    // Stale: a column added, then dropped, then a table gone.
    client
        .batch_execute("ALTER TABLE items ADD COLUMN c date")
        .await
        .expect("alter");
    let err = apply_plan(&spec, &good, &fast(), &mut sink)
        .await
        .expect_err("stale");
    assert_eq!(
        err.to_string(),
        "refusing the plan: table public.items changed since the plan was made: column \"c date\" \
         was added (the plan is stale: run advise again)"
    );
    client
        .batch_execute("ALTER TABLE items DROP COLUMN c, DROP COLUMN b")
        .await
        .expect("alter");
    let err = apply_plan(&spec, &good, &fast(), &mut sink)
        .await
        .expect_err("stale");
    assert!(
        err.to_string().contains("column \"b text\" was dropped"),
        "{err}"
    );
    let mut gone = good.clone();
    gone.recommendations[0].table = "public.nope".into();
    let err = apply_plan(&spec, &gone, &fast(), &mut sink)
        .await
        .expect_err("missing table");
    assert!(
        err.to_string()
            .contains("table public.nope no longer exists"),
        "{err}"
    );

    // Nothing was touched by any of them.
    assert!(!has_pgpilot_schema(&client).await);
    assert_eq!(
        indexes(&client, "items").await,
        [("items_pkey".to_string(), true)]
    );

    // A hand-edited plan: a blocking CREATE INDEX is not run, and a second
    // statement smuggled after the index never runs.
    let mut edited = plan(
        &client,
        "plan-edited",
        vec![
            rec(
                "other",
                vec![IndexKey::column("a")],
                Some(VerifyStatus::Verified),
            ),
            rec(
                "other",
                vec![IndexKey::column("b")],
                Some(VerifyStatus::Verified),
            ),
        ],
        vec![],
        vec![],
    )
    .await;
    edited.recommendations[0].ddl = "CREATE INDEX other_a_idx ON public.other (a)".into();
    edited.recommendations[1].ddl =
        "CREATE INDEX CONCURRENTLY other_b_idx ON public.other (b); DROP TABLE public.items".into();
    let report = apply_plan(&spec, &edited, &fast(), &mut sink)
        .await
        .expect("apply");
    assert_eq!(report.items[0].outcome, ApplyOutcome::Skipped);
    assert!(
        report.items[0].message.contains("without CONCURRENTLY"),
        "{}",
        report.items[0].message
    );
    assert_eq!(report.items[1].outcome, ApplyOutcome::Failed, "{report:#?}");
    assert_eq!(report.items[1].tries.len(), 1, "not retried: {report:#?}");
    assert!(
        report.items[1].message.contains("multiple commands"),
        "{}",
        report.items[1].message
    );
    assert_eq!(
        indexes(&client, "other").await,
        [("other_pkey".to_string(), true)]
    );
    assert_eq!(
        indexes(&client, "items").await.len(),
        1,
        "items still exists"
    );
}
