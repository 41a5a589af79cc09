use std::borrow::Cow;

use pgpilot_logs::{LogRecord, Plan, Severity, Statement};

use super::*;

fn rec(pid: u32, t_ms: i64, offset: u64) -> LogRecord<'static> {
    LogRecord {
        pid: Some(pid),
        time_us: Some(t_ms * 1000),
        offset,
        db: Some("app"),
        user: Some("web"),
        app: Some("api"),
        severity: Some(Severity::Log),
        ..LogRecord::default()
    }
}

fn st(
    text: &'static str,
    phase: Phase,
    logged: Logged,
    ms: Option<f64>,
    params: &[Option<&'static str>],
) -> EventKind<'static> {
    EventKind::Statement(Statement {
        duration_ms: ms,
        phase,
        logged,
        name: None,
        text: Cow::Borrowed(text),
        params: params.iter().map(|p| p.map(Cow::Borrowed)).collect(),
    })
}

fn feed(b: &mut WorkloadBuilder, evs: Vec<(LogRecord<'static>, EventKind<'static>)>) -> u64 {
    let mut executions = 0;
    for (record, kind) in evs {
        if let EventKind::Statement(s) = &kind {
            executions += u64::from(s.counts_as_execution());
        }
        b.event(Event { record, kind });
    }
    executions
}

#[test]
fn every_execution_counted_once_and_phases_apart() {
    let mut b = WorkloadBuilder::new(BuildOptions::default());
    let mut evs = Vec::new();
    let mut off = 0;
    for i in 0..30u32 {
        off += 100;
        let sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
        evs.push((
            rec(1, i64::from(i), off),
            st(sql, Phase::Parse, Logged::WithDuration, Some(0.1), &[]),
        ));
        evs.push((
            rec(1, i64::from(i), off + 1),
            st(
                sql,
                Phase::Bind,
                Logged::WithDuration,
                Some(0.2),
                &[Some("7")],
            ),
        ));
        evs.push((
            rec(1, i64::from(i), off + 2),
            st(
                sql,
                Phase::Execute,
                Logged::WithDuration,
                Some(1.0 + f64::from(i)),
                &[Some("7")],
            ),
        ));
    }
    evs.push((
        rec(2, 1, 5),
        st("SELECT 1", Phase::Simple, Logged::StatementOnly, None, &[]),
    ));
    evs.push((
        rec(2, 2, 6),
        st(
            "SELECT 1",
            Phase::Simple,
            Logged::DurationOnly,
            Some(3.0),
            &[],
        ),
    ));
    evs.push((
        rec(2, 3, 7),
        st(
            "SELECT 2",
            Phase::Simple,
            Logged::WithDuration,
            Some(4.0),
            &[],
        ),
    ));
    evs.push((
        rec(2, 3, 8),
        st(
            "SELEC broken",
            Phase::Simple,
            Logged::WithDuration,
            Some(4.0),
            &[],
        ),
    ));
    evs.push((
        rec(3, 3, 9),
        st("FETCH", Phase::Execute, Logged::Fetch, Some(4.0), &[]),
    ));
    let n = feed(&mut b, evs);
    let w = WorkloadBuilder::finish_all(vec![b], SourceSummary::default());
    assert_eq!(w.total_calls(), n);
    assert_eq!(n, 33);
    let q = w
        .queries
        .values()
        .find(|q| q.query.contains("pgbench_accounts"))
        .cloned();
    let q = q.unwrap_or_else(|| panic!("missing"));
    assert_eq!(
        (q.calls, q.timed_calls, q.parse.count, q.bind.count),
        (30, 30, 30, 30)
    );
    assert_eq!((q.parse.total_us, q.bind.total_us), (3000, 6000));
    assert_eq!((q.min_us, q.max_us), (Some(1000), Some(30_000)));
    assert_eq!(q.samples.samples.len(), 20);
    assert!(q
        .samples
        .samples
        .iter()
        .all(|s| s.values == vec![Some("7".to_string())]));
    assert_eq!(q.databases.names.get("app"), Some(&30));
    // literal SQL: SELECT 1 and SELECT 2 share a fingerprint; values sampled from the text
    let sel = w
        .queries
        .values()
        .find(|q| q.calls == 2)
        .cloned()
        .unwrap_or_else(|| panic!("select"));
    assert_eq!((sel.timed_calls, sel.total_us), (2, 7000));
    let mut vals: Vec<_> = sel
        .samples
        .samples
        .iter()
        .map(|s| s.values.clone())
        .collect();
    vals.sort();
    assert_eq!(
        vals,
        vec![vec![Some("1".to_string())], vec![Some("2".to_string())]]
    );
    let broken = w
        .queries
        .values()
        .find(|q| q.parse_error.is_some())
        .map(|q| q.calls);
    assert_eq!(broken, Some(1), "unparsable SQL is grouped and counted");
    let fetch = w
        .queries
        .values()
        .find(|q| q.fetch.count == 1)
        .map(|q| q.calls);
    assert_eq!(fetch, Some(0));
}

#[test]
fn errors_are_grouped_and_plans_attached() {
    let mut b = WorkloadBuilder::new(BuildOptions::default());
    for i in 0..3 {
        let mut r = rec(1, i, i as u64);
        r.severity = Some(Severity::Error);
        r.sqlstate = Some("22012");
        r.message = Cow::Borrowed("division by zero");
        r.statement = Some(Cow::Borrowed(if i == 0 {
            "SELECT 1/0"
        } else {
            "SELECT 5/0"
        }));
        b.event(Event {
            record: r,
            kind: EventKind::Error,
        });
    }
    let mut r = rec(1, 9, 9);
    r.severity = Some(Severity::Fatal);
    r.message = Cow::Borrowed("terminating connection");
    b.event(Event {
        record: r,
        kind: EventKind::Error,
    });
    for (i, d) in [5.0, 9.0, 1.0, 7.0].into_iter().enumerate() {
        let p = Plan {
            duration_ms: d,
            format: PlanFormat::Text,
            plan_text: Cow::Borrowed("Seq Scan on t"),
            query_text: Some(Cow::Borrowed("SELECT * FROM t WHERE a = 1")),
        };
        b.event(Event {
            record: rec(1, 10 + i as i64, 10 + i as u64),
            kind: EventKind::Plan(p),
        });
    }
    let p = Plan {
        duration_ms: 1.0,
        format: PlanFormat::Json,
        plan_text: Cow::Borrowed("{}"),
        query_text: None,
    };
    b.event(Event {
        record: rec(1, 20, 20),
        kind: EventKind::Plan(p),
    });
    let w = WorkloadBuilder::finish_all(vec![b], SourceSummary::default());
    assert_eq!(
        w.total_calls(),
        0,
        "failed statements and plans are not executions"
    );
    assert_eq!(w.errors.len(), 2);
    assert_eq!(
        (w.errors[0].count, w.errors[0].sqlstate.as_deref()),
        (3, Some("22012"))
    );
    assert_eq!(w.errors[1].severity, "FATAL");
    let q = w
        .queries
        .values()
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("plan entry"));
    assert_eq!(
        q.plans.iter().map(|p| p.duration_ms).collect::<Vec<_>>(),
        vec![9.0, 7.0, 5.0]
    );
    assert_eq!(w.source.unattributed_plans, 1);
}

#[test]
fn n_plus_one_through_the_builder_with_split_sinks() {
    let parent = "SELECT id, user_id FROM posts ORDER BY id DESC LIMIT 10";
    let child = "SELECT name FROM users WHERE id = 5";
    let mut evs = Vec::new();
    for rep in 0..4i64 {
        let base = 5000 + rep * 3000;
        evs.push((
            rec(10, base, 0),
            st(parent, Phase::Simple, Logged::WithDuration, Some(2.0), &[]),
        ));
        for i in 0..8 {
            evs.push((
                rec(10, base + 1 + i, 0),
                st(child, Phase::Simple, Logged::WithDuration, Some(0.5), &[]),
            ));
        }
    }
    let run = |cuts: &[usize]| {
        let mut builders = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&evs.len())) {
            let mut b = WorkloadBuilder::new(BuildOptions::default());
            feed(&mut b, evs[start..end].to_vec());
            builders.push(b);
            start = end;
        }
        WorkloadBuilder::finish_all(builders, SourceSummary::default())
    };
    let one = run(&[]);
    assert_eq!(one.n_plus_one.len(), 1);
    let p = &one.n_plus_one[0];
    assert_eq!((p.bursts, p.round_trips, p.child_time_us), (4, 32, 16_000));
    let s = p.suggestion.clone().unwrap_or_else(|| panic!("suggestion"));
    assert_eq!(
        s.batched.as_deref(),
        Some("SELECT name FROM users WHERE id = ANY($1)")
    );
    assert_eq!(
        s.join.as_deref(),
        Some("JOIN users ON users.id = posts.user_id")
    );
    for cuts in [
        vec![4],
        vec![9, 10, 13],
        (1..evs.len()).step_by(3).collect(),
    ] {
        let w = run(&cuts);
        assert_eq!(w.n_plus_one, one.n_plus_one, "{cuts:?}");
        assert_eq!(w.queries, one.queries);
    }
}

/// Regression: in the ADX demo's random benchmark mix, the most frequent
/// statement repeats five times in a row by chance after every kind of
/// statement; only the activity feed, followed by a burst every time, is an N+1.
#[test]
fn coincidental_repeats_are_not_reported_as_n_plus_one() {
    use crate::{Fingerprint, NPlusOne, QueryStats, Workload};
    let fp = |n| Fingerprint(n);
    let mut w = Workload::default();
    for (n, calls) in [(1, 100), (2, 1000), (3, 5000)] {
        let mut q = QueryStats::new(fp(n), format!("q{n}"), None);
        q.calls = calls;
        w.queries.insert(fp(n), q);
    }
    let pair = |parent, bursts| NPlusOne {
        parent: fp(parent),
        child: fp(3),
        parent_query: String::new(),
        child_query: String::new(),
        bursts,
        round_trips: bursts * 6,
        child_time_us: 0,
        max_burst: 6,
        example: crate::BurstExample {
            session: "s".into(),
            start_us: 0,
            size: 6,
            span_ms: 1.0,
        },
        suggestion: None,
    };
    // q1 is followed by a burst 90 times out of 100; q2 only 30 out of 1000.
    w.n_plus_one = vec![pair(1, 90), pair(2, 30)];
    let likely = w.likely_n_plus_one();
    assert_eq!(likely.len(), 1);
    assert_eq!((likely[0].0.parent, likely[0].1), (fp(1), 100));
}
