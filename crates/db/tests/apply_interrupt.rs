//! Ctrl-C during `apply`, on a real cluster: the concurrent build running is
//! cancelled (not left to finish unjournaled after the client has gone), its
//! INVALID index dropped, the change journaled as failed, and the changes after
//! it not started.

mod apply_support;

use std::time::Duration;

use apply_support::*;
use pgpilot_advisor::{ChangeStatus, IndexKey, VerifyStatus};
use pgpilot_db::{apply_plan_until, ApplyOutcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_build_and_starts_nothing_else() {
    let (_cluster, spec, client) = start().await;
    make_slow_table(&client, "slow", 1500).await;
    let first = rec(
        "slow",
        vec![IndexKey::expression("slow_key(id)")],
        Some(VerifyStatus::Verified),
    );
    let second = rec(
        "slow",
        vec![IndexKey::expression("slow_key(a)")],
        Some(VerifyStatus::Verified),
    );
    let p = plan(
        &client,
        "plan-ctrl-c",
        vec![first.clone(), second.clone()],
        vec![],
        vec![],
    )
    .await;
    // Ctrl-C once the first build is scanning the table.
    let watcher = connect(&spec).await;
    let ctrl_c = async {
        building_pid(&watcher, Duration::from_secs(30))
            .await
            .expect("a build to interrupt");
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    let (_, mut sink) = recorder();
    let report = apply_plan_until(&spec, &p, &fast(), &mut sink, ctrl_c)
        .await
        .expect("an interrupted apply still reports");

    assert!(report.interrupted, "{report:#?}");
    let built = report
        .items
        .iter()
        .find(|i| i.ddl == first.ddl)
        .expect("first item");
    assert_eq!(built.outcome, ApplyOutcome::Failed, "{built:#?}");
    assert_eq!(built.tries.len(), 1, "no retry after Ctrl-C: {built:#?}");
    assert_eq!(built.tries[0].failure.as_deref(), Some("cancelled"));
    assert!(
        built.tries[0]
            .cleanup
            .as_deref()
            .is_some_and(|c| c.starts_with("dropped the INVALID index")),
        "{built:#?}"
    );
    assert!(
        built.message.starts_with("interrupted"),
        "{}",
        built.message
    );
    let next = report
        .items
        .iter()
        .find(|i| i.ddl == second.ddl)
        .expect("second item");
    assert_eq!(next.outcome, ApplyOutcome::Skipped, "{next:#?}");
    assert!(next.message.contains("not started"), "{}", next.message);

    // Nothing built, nothing INVALID, and the journal says what happened.
    assert!(invalid_indexes(&client).await.is_empty());
    assert_eq!(
        indexes(&client, "slow").await,
        [("slow_pkey".to_string(), true)]
    );
    let rows = journal_of(&client, "plan-ctrl-c").await;
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].status, ChangeStatus::Failed);
    // The session is gone, not still building in the background.
    let building = building_pid(&client, Duration::from_millis(500)).await;
    assert_eq!(building, None);
}
