//! Parameter samples of one fingerprint whose executions had differently
//! numbered normalized texts (extended protocol: own `$1` kept, literals
//! numbered after it; simple protocol: literals numbered in order) must bind
//! the right value to the right `$n` of the representative text, however the
//! executions are split over sinks, merged, or ordered in time.

use std::borrow::Cow;
use std::collections::BTreeSet;

use pgpilot_logs::{Event, EventKind, EventSink, LogRecord, Logged, Phase, Severity, Statement};
use pgpilot_sql::{scan, LiteralKind};
use pgpilot_workload::{
    BuildOptions, Fingerprint, QueryStats, SourceSummary, TopBy, TopReport, Workload,
    WorkloadBuilder,
};

type Values = Vec<Option<String>>;

/// One logged execution: its time (ms), SQL and bound parameters, and the
/// values of its placeholders in order of appearance once normalized.
#[derive(Clone)]
struct Exec {
    t_ms: i64,
    offset: u64,
    sql: String,
    bound: Vec<Option<String>>,
    by_position: Values,
}

fn event(e: &Exec) -> Event<'static> {
    let record = LogRecord {
        pid: Some(4242),
        time_us: Some(e.t_ms * 1000),
        offset: e.offset,
        db: Some("shop"),
        user: Some("app"),
        severity: Some(Severity::Log),
        ..LogRecord::default()
    };
    let phase = if e.bound.is_empty() {
        Phase::Simple
    } else {
        Phase::Execute
    };
    Event {
        record,
        kind: EventKind::Statement(Statement {
            duration_ms: Some(1.0),
            phase,
            logged: Logged::WithDuration,
            name: None,
            text: Cow::Owned(e.sql.clone()),
            params: e.bound.iter().map(|p| p.clone().map(Cow::Owned)).collect(),
        }),
    }
}

fn build(execs: &[Exec]) -> WorkloadBuilder {
    let mut b = WorkloadBuilder::new(BuildOptions::default());
    for e in execs {
        b.event(event(e));
    }
    b
}

fn finish(builders: Vec<WorkloadBuilder>) -> Workload {
    WorkloadBuilder::finish_all(builders, SourceSummary::default())
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

/// The sample's values read in the representative text's order of appearance:
/// what a consumer binding `values[n-1]` to `$n` puts at each placeholder.
fn as_bound(text: &str, values: &[Option<String>]) -> Values {
    scan(text)
        .literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .map(|l| {
            let n: usize = l.raw(text)[1..].parse().unwrap_or(usize::MAX);
            values
                .get(n.wrapping_sub(1))
                .cloned()
                .unwrap_or_else(|| s("<unbound>"))
        })
        .collect()
}

fn only_query(w: &Workload) -> &QueryStats {
    assert_eq!(w.queries.len(), 1, "one fingerprint expected");
    w.queries.values().next().unwrap_or_else(|| unreachable!())
}

/// Every sample binds exactly the values of one real execution; samples of
/// both numberings are present; nothing was dropped.
fn check(w: &Workload, execs: &[Exec], rep_text: &str, label: &str) {
    let q = only_query(w);
    assert_eq!(q.query, rep_text, "{label}: representative text");
    assert_eq!(q.samples.offered, execs.len() as u64, "{label}");
    assert_eq!(q.samples.mismatched, 0, "{label}");
    assert_eq!(q.samples.samples.len(), 20, "{label}: capped at 20");
    let real: BTreeSet<Values> = execs.iter().map(|e| e.by_position.clone()).collect();
    let mut kinds = BTreeSet::new();
    for sample in &q.samples.samples {
        let got = as_bound(&q.query, &sample.values);
        assert!(
            real.contains(&got),
            "{label}: sample {:?} binds {got:?} to {}",
            sample.values,
            q.query
        );
        let e = execs.iter().find(|e| e.by_position == got);
        kinds.insert(e.is_some_and(|e| e.bound.is_empty()));
    }
    assert_eq!(kinds.len(), 2, "{label}: samples of both protocols kept");
}

/// `n` executions through each protocol, extended ones at `ext_t0 + i` ms and
/// simple ones at `simple_t0 + i` ms; extended ones come first in the input.
fn mixed(
    n: usize,
    ext_t0: i64,
    simple_t0: i64,
    ext_sql: &str,
    simple: impl Fn(u64) -> String,
    by_position: impl Fn(u64) -> Values,
) -> (Vec<Exec>, Vec<Exec>) {
    let ext = (0..n as u64)
        .map(|i| {
            let v = 40_000 + i;
            Exec {
                t_ms: ext_t0 + i as i64,
                offset: 100 * i,
                sql: ext_sql.to_owned(),
                bound: vec![Some(v.to_string())],
                by_position: by_position(v),
            }
        })
        .collect();
    let simple = (0..n as u64)
        .map(|i| {
            let v = 6_000 + i;
            Exec {
                t_ms: simple_t0 + i as i64,
                offset: 100_000 + 100 * i,
                sql: simple(v),
                bound: Vec::new(),
                by_position: by_position(v),
            }
        })
        .collect();
    (ext, simple)
}

fn every_way(ext: &[Exec], simple: &[Exec], rep_text: &str, label: &str) {
    let all: Vec<Exec> = ext.iter().chain(simple).cloned().collect();
    // One sink: the representative text changes after samples were taken
    // when the earlier-timestamped executions come later in the input.
    let one = finish(vec![build(&all)]);
    check(&one, &all, rep_text, &format!("{label}, one sink"));
    // Two sinks (parallel chunks), merged in either order.
    for (a, b) in [(ext, simple), (simple, ext)] {
        let w = finish(vec![build(a), build(b)]);
        check(&w, &all, rep_text, &format!("{label}, two sinks"));
        assert_eq!(w.queries, one.queries, "{label}: same as one sink");
    }
    // Finished workloads (each with its own representative text), merged in
    // either order, also after a round trip through the file format.
    let we = finish(vec![build(ext)]);
    let ws = finish(vec![build(simple)]);
    for (a, b) in [(&we, &ws), (&ws, &we)] {
        let mut m = a.clone();
        m.merge(b);
        check(&m, &all, rep_text, &format!("{label}, merged workloads"));
        assert_eq!(m.queries, one.queries, "{label}: merge equals one sink");
        let mut buf = Vec::new();
        assert!(a.to_writer(&mut buf).is_ok());
        let mut back = Workload::from_reader(buf.as_slice()).unwrap_or_default();
        back.merge(b);
        assert_eq!(back.queries, one.queries, "{label}: through a file");
    }
}

#[test]
fn samples_bind_the_right_values_whatever_the_numbering() {
    let email = |v: u64| vec![s("user"), Some(v.to_string()), s("@example.com")];
    let ext_sql =
        "SELECT * FROM customers WHERE lower(email) = lower('user' || $1 || '@example.com')";
    let simple_sql = |v: u64| {
        format!(
            "SELECT * FROM customers WHERE lower(email) = lower('user' || {v} || '@example.com')"
        )
    };
    let ext_text = "SELECT * FROM customers WHERE lower(email) = lower($2 || $1 || $3)";
    let simple_text = "SELECT * FROM customers WHERE lower(email) = lower($1 || $2 || $3)";
    // Simple-protocol executions are earlier but read last: the text changes.
    let (ext, simple) = mixed(30, 5_000, 1_000, ext_sql, simple_sql, email);
    every_way(&ext, &simple, simple_text, "email, simple earlier");
    // Extended executions are earlier: their numbering is the representative one.
    let (ext, simple) = mixed(30, 1_000, 5_000, ext_sql, simple_sql, email);
    every_way(&ext, &simple, ext_text, "email, extended earlier");

    let status = |v: u64| vec![s("shipped"), Some(v.to_string())];
    let ext_sql = "UPDATE orders SET status = 'shipped' WHERE id = $1";
    let simple_sql = |v: u64| format!("UPDATE orders SET status = 'shipped' WHERE id = {v}");
    let (ext, simple) = mixed(25, 5_000, 1_000, ext_sql, simple_sql, status);
    every_way(
        &ext,
        &simple,
        "UPDATE orders SET status = $1 WHERE id = $2",
        "update, simple earlier",
    );
    let (ext, simple) = mixed(25, 1_000, 5_000, ext_sql, simple_sql, status);
    every_way(
        &ext,
        &simple,
        "UPDATE orders SET status = $2 WHERE id = $1",
        "update, extended earlier",
    );
}

#[test]
fn null_literals_are_sampled_as_sql_null() {
    let execs = [
        Exec {
            t_ms: 1,
            offset: 1,
            sql: "SELECT * FROM t WHERE a = 3 AND b = NULL::int".into(),
            bound: Vec::new(),
            by_position: vec![s("3"), None],
        },
        Exec {
            t_ms: 2,
            offset: 2,
            sql: "SELECT * FROM t WHERE a = $1 AND b = NULL::int".into(),
            bound: vec![s("4")],
            by_position: vec![s("4"), None],
        },
    ];
    let w = finish(vec![build(&execs)]);
    let q = only_query(&w);
    let got: BTreeSet<Values> = q
        .samples
        .samples
        .iter()
        .map(|x| as_bound(&q.query, &x.values))
        .collect();
    let want: BTreeSet<Values> = execs.iter().map(|e| e.by_position.clone()).collect();
    assert_eq!(got, want);
}

#[test]
fn samples_with_another_placeholder_count_are_dropped_and_counted() {
    let in2 = Exec {
        t_ms: 10,
        offset: 500,
        sql: "SELECT * FROM items WHERE id IN ($1, $2)".into(),
        bound: vec![s("1"), s("2")],
        by_position: vec![s("1"), s("2")],
    };
    let in3 = Exec {
        t_ms: 20,
        offset: 10,
        sql: "SELECT * FROM items WHERE id IN ($1, $2, $3)".into(),
        bound: vec![s("3"), s("4"), s("5")],
        by_position: vec![s("3"), s("4"), s("5")],
    };
    let fp = |sql: &str| pgpilot_sql::fingerprint(sql).unwrap_or(Fingerprint(0));
    assert_eq!(fp(&in2.sql), fp(&in3.sql), "one fingerprint");
    let expect = |w: &Workload, label: &str| {
        let q = only_query(w);
        assert_eq!(
            q.query, "SELECT * FROM items WHERE id IN ($1, $2)",
            "{label}"
        );
        assert_eq!(q.samples.offered, 2, "{label}");
        assert_eq!(q.samples.mismatched, 1, "{label}");
        let kept: Vec<&Values> = q.samples.samples.iter().map(|x| &x.values).collect();
        assert_eq!(kept, vec![&vec![s("1"), s("2")]], "{label}");
    };
    // The later execution is read first: the text changes to the earlier one.
    let one = finish(vec![build(&[in3.clone(), in2.clone()])]);
    expect(&one, "one sink");
    let two = finish(vec![
        build(std::slice::from_ref(&in3)),
        build(std::slice::from_ref(&in2)),
    ]);
    expect(&two, "two sinks");
    assert_eq!(two.queries, one.queries);
    let (w2, w3) = (finish(vec![build(&[in2])]), finish(vec![build(&[in3])]));
    for (a, b) in [(&w2, &w3), (&w3, &w2)] {
        let mut m = a.clone();
        m.merge(b);
        expect(&m, "merged workloads");
        assert_eq!(m.queries, one.queries);
    }
    // Visible in the file and in the report, and kept through a round trip.
    let mut buf = Vec::new();
    assert!(one.to_writer(&mut buf).is_ok());
    assert!(String::from_utf8_lossy(&buf).contains("\"mismatched\":1"));
    let back = Workload::from_reader(buf.as_slice()).unwrap_or_default();
    assert_eq!(back, one);
    let report = TopReport::new(&one, TopBy::Total, 5, false);
    assert_eq!(report.queries[0].samples_dropped, 1);
}
