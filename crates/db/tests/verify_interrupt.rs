//! Ctrl-C during `verify`: the statement running is cancelled, nothing stays
//! built on staging, no transaction or lock stays open on the target, and the
//! run ends with `DbError::Interrupted`.

use std::sync::Arc;

use pgpilot_db::tokio_postgres::Client;
use pgpilot_db::{verify_plan_until, DbError, VerifyEvent};
use tokio::sync::Notify;

mod verify_support;
use verify_support::{app_and_staging, options, plan, query, recommendation, table_state};

/// Sessions of `pgpilot verify` still open (in any state but idle), and the
/// locks client backends hold on `t`.
async fn leftovers(client: &Client) -> (i64, i64) {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM pg_stat_activity \
                     WHERE application_name = 'pgpilot verify' AND state <> 'idle'), \
                    (SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                     WHERE c.relname = 't' AND l.pid <> pg_backend_pid() \
                       AND l.pid IN (SELECT pid FROM pg_stat_activity \
                                     WHERE backend_type = 'client backend'))",
            &[],
        )
        .await
        .expect("activity");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_verify_cancels_and_leaves_nothing_behind() {
    let (_cluster, (spec, client), (staging_spec, staging)) = app_and_staging().await;

    let q_c = query(
        "q_c",
        "SELECT * FROM t WHERE c = $1",
        1000.0,
        &[&["17"], &["4242"]],
    );
    let q_x = query(
        "q_x",
        "SELECT * FROM t WHERE x = $1",
        1000.0,
        &[&["5"], &["777"]],
    );
    let recs = vec![
        recommendation("t", "c", &[&q_c]),
        recommendation("t", "x", &[&q_x]),
    ];
    let opts = options("2024-01-01T00:00:00Z");

    for on_staging in [true, false] {
        let watched = if on_staging { &staging } else { &client };
        let before = table_state(watched, "t").await;
        let mut p = plan(recs.clone(), vec![q_c.clone(), q_x.clone()]);
        // Ctrl-C once the first index is built: on staging it is committed and
        // must be dropped; on the target the transaction holding it is open.
        let built = Arc::new(Notify::new());
        let signal = Arc::clone(&built);
        let mut progress = move |e: VerifyEvent| {
            if matches!(e, VerifyEvent::Built { .. }) {
                signal.notify_one();
            }
        };
        let stop = async move { built.notified().await };
        let result = verify_plan_until(
            &spec,
            on_staging.then_some(&staging_spec),
            &mut p,
            &opts,
            &mut progress,
            stop,
        )
        .await;
        assert!(
            matches!(result, Err(DbError::Interrupted)),
            "staging {on_staging}: {result:?}"
        );
        assert_eq!(
            table_state(watched, "t").await,
            before,
            "staging {on_staging}: an index or row was left behind"
        );
        assert!(
            p.recommendations[1].verification.is_none(),
            "the second index was never reached"
        );
        // The session ends when verify returns; its backend may take a moment.
        let mut left = (1, 1);
        for _ in 0..100 {
            left = leftovers(watched).await;
            if left == (0, 0) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(left, (0, 0), "staging {on_staging}: (sessions, locks) left");
    }
}
