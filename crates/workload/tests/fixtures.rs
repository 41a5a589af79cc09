//! The real PostgreSQL 15 fixtures of pgpilot-logs (the same run logged as
//! stderr, csvlog and jsonlog): every execution is in exactly one fingerprint
//! entry, and the three formats give the same calls per fingerprint.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pgpilot_logs::Options;
use pgpilot_workload::{workload_from_logs, BuildOptions, Fingerprint, TopBy, TopReport, Workload};

// 47 executions, 2 errors, 2 plans: see crates/logs/scripts/gen-fixtures.sh.
const EXECUTIONS: u64 = 47;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../logs/tests/data")
        .join(name)
}

fn load(name: &str, opts: &Options) -> Workload {
    let (w, s) = workload_from_logs(&[data(name)], opts, &BuildOptions::default());
    assert!(s.errors.is_empty(), "{name}: {:?}", s.errors);
    w
}

fn calls(w: &Workload) -> BTreeMap<Fingerprint, u64> {
    w.queries
        .iter()
        .filter(|(_, q)| q.calls > 0)
        .map(|(f, q)| (*f, q.calls))
        .collect()
}

#[test]
fn all_formats_agree_and_count_every_execution_once() {
    let log = load("pg15.log", &Options::default());
    assert_eq!(log.total_calls(), EXECUTIONS);
    assert_eq!(log.errors.iter().map(|e| e.count).sum::<u64>(), 2);
    assert_eq!(
        log.queries.values().map(|q| q.plans.len()).sum::<usize>(),
        2
    );
    assert_eq!(log.source.lines_skipped_total(), 0);
    for f in ["pg15.csv", "pg15.json"] {
        let w = load(f, &Options::default());
        assert_eq!(w.total_calls(), EXECUTIONS, "{f}");
        assert_eq!(calls(&w), calls(&log), "{f}");
        assert_eq!(w.errors.iter().map(|e| e.count).sum::<u64>(), 2, "{f}");
        assert_eq!(
            w.queries.values().map(|q| q.plans.len()).sum::<usize>(),
            2,
            "{f}"
        );
    }
    // pgbench -S in extended and prepared mode: 20 executions, one fingerprint,
    // parse/bind time apart, real parameter values sampled.
    let sel = log
        .queries
        .values()
        .find(|q| q.query.contains("pgbench_accounts"))
        .cloned();
    let sel = sel.unwrap_or_else(|| panic!("pgbench select missing"));
    assert_eq!(sel.calls, 20);
    assert!(sel.parse.count > 0 && sel.bind.count > 0);
    assert!(
        !sel.samples.samples.is_empty()
            && sel
                .samples
                .samples
                .iter()
                .all(|s| s.values.len() == 1 && s.values[0].is_some())
    );
    // the quoted parameter with the separator text inside survives, followed by
    // the statement's own literal (`NULL::int` → `$2::int`) as an SQL NULL
    assert!(log.queries.values().any(|q| q
        .samples
        .samples
        .iter()
        .any(|s| s.values == vec![Some("it's, $2 = 'x'".to_string()), None])));
}

#[test]
fn tiny_chunks_equal_a_sequential_read_and_files_round_trip() {
    let one = load(
        "pg15.log",
        &Options {
            threads: 1,
            ..Options::default()
        },
    );
    for size in [1, 333, 4096] {
        let w = load(
            "pg15.log",
            &Options {
                chunk_size: size,
                threads: 2,
                ..Options::default()
            },
        );
        for (fp, q) in &one.queries {
            let other = w
                .queries
                .get(fp)
                .unwrap_or_else(|| panic!("chunk size {size}: {fp} missing"));
            let brief = |q: &pgpilot_workload::QueryStats| {
                format!(
                    "{} calls={} total={} min={:?} max={:?} hist={} rows={:?} parse={:?} bind={:?} fetch={:?} db={:?} app={:?} first={:?} last={:?} samples={:?} plans={}",
                    q.query, q.calls, q.total_us, q.min_us, q.max_us, q.histogram.len(), q.rows,
                    q.parse, q.bind, q.fetch, q.databases, q.applications, q.first_seen_us,
                    q.last_seen_us, q.samples, q.plans.len()
                )
            };
            assert_eq!(brief(other), brief(q), "chunk size {size}");
        }
        assert_eq!(w.queries, one.queries, "chunk size {size}");
        assert_eq!(w.n_plus_one, one.n_plus_one, "chunk size {size}");
        assert_eq!(w.errors, one.errors, "chunk size {size}");
    }
    let mut buf = Vec::new();
    assert!(one.to_writer(&mut buf).is_ok());
    let back = Workload::from_reader(buf.as_slice()).unwrap_or_default();
    assert_eq!(back, one);
    let mut twice = back.clone();
    twice.merge(&one);
    assert_eq!(twice.total_calls(), 2 * EXECUTIONS);
    let r = TopReport::new(&twice, TopBy::Total, 5, false);
    assert_eq!((r.total_calls, r.queries.len()), (2 * EXECUTIONS, 5));
    assert!(r.queries.iter().all(|q| q.params_samples.is_none()));
}
