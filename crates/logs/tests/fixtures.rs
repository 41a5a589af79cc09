//! Exact counts on real PostgreSQL 15 logs (stderr, csvlog, jsonlog of the
//! same run), chunk-edge equivalence, bad inputs and random bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use pgpilot_logs::{
    for_each_event, Event, EventKind, EventSink, Format, Options, Phase, PlanFormat, SkipReason,
    Summary,
};

#[derive(Default)]
struct Collect(Vec<String>, u64, u64, u64, Vec<Vec<Option<String>>>);

impl EventSink for Collect {
    fn event(&mut self, ev: Event<'_>) {
        match &ev.kind {
            EventKind::Statement(s) => {
                if s.counts_as_execution() {
                    self.1 += 1;
                }
                if s.phase == Phase::Execute && !s.params.is_empty() {
                    self.4.push(
                        s.params
                            .iter()
                            .map(|p| p.as_ref().map(|v| v.to_string()))
                            .collect(),
                    );
                }
            }
            EventKind::Error => self.2 += 1,
            EventKind::Plan(p) => {
                self.3 += 1;
                assert!(p.query_text.is_some(), "{p:?}");
                assert!(matches!(p.format, PlanFormat::Text | PlanFormat::Json));
            }
            EventKind::Other(_) => {}
        }
        self.0.push(format!(
            "{}|{:?}|{}|{:?}",
            ev.record.offset,
            ev.record.pid,
            ev.kind.name(),
            ev.record.statement
        ));
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn read(path: &Path, opts: &Options) -> (Collect, Summary) {
    let (sinks, s) = for_each_event(&[path.to_path_buf()], opts, Collect::default);
    let mut all = Collect::default();
    for c in sinks {
        all.0.extend(c.0);
        all.1 += c.1;
        all.2 += c.2;
        all.3 += c.3;
        all.4.extend(c.4);
    }
    (all, s)
}

// 47 = statement/execute lines in pg15.log (grep), see scripts/gen-fixtures.sh.
const EXECUTIONS: u64 = 47;

#[test]
fn stderr_counts_exactly() {
    let (c, s) = read(&data("pg15.log"), &Options::default());
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        s.inputs[0].prefix.as_deref(),
        Some("%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h ")
    );
    assert_eq!(c.1, EXECUTIONS);
    assert_eq!((c.2, c.3), (2, 2));
    assert_eq!(s.totals.skipped_total(), 0, "{:?}", s.totals);
    assert_eq!(s.totals.unattributed_durations, 0);
    assert!(
        c.4.contains(&vec![Some("it's, $2 = 'x'".to_string())]),
        "{:?}",
        c.4
    );
}

#[test]
fn csv_and_json_agree_with_stderr() {
    for f in ["pg15.csv", "pg15.json"] {
        let (c, s) = read(&data(f), &Options::default());
        assert!(s.errors.is_empty(), "{f}: {:?}", s.errors);
        assert_eq!((c.1, c.2, c.3), (EXECUTIONS, 2, 2), "{f}");
        assert_eq!(s.totals.skipped_total(), 0, "{f}: {:?}", s.totals);
    }
}

#[test]
fn tiny_chunks_equal_one_chunk() {
    let one = read(
        &data("pg15.log"),
        &Options {
            threads: 1,
            ..Options::default()
        },
    )
    .0;
    for size in [1, 100, 777, 4096] {
        let (c, s) = read(
            &data("pg15.log"),
            &Options {
                chunk_size: size,
                threads: 2,
                ..Options::default()
            },
        );
        let (mut a, mut b) = (one.0.clone(), c.0.clone());
        a.sort();
        b.sort();
        assert_eq!(a, b, "chunk size {size}");
        assert_eq!(s.totals.lines_read, lines(), "chunk size {size}");
        assert_eq!(s.totals.skipped_total(), 0);
    }
}

fn lines() -> u64 {
    std::fs::read_to_string(data("pg15.log")).map_or(0, |t| t.lines().count() as u64)
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pgpilot-logs-{}-{name}", std::process::id()));
    let _ = std::fs::File::create(&p).and_then(|mut f| f.write_all(bytes));
    p
}

#[test]
fn compressed_and_truncated() {
    let raw = std::fs::read(data("pg15.log")).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&raw);
    let gz = gz.finish().unwrap_or_default();
    let (c, s) = read(&tmp("a.gz", &gz), &Options::default());
    assert_eq!((c.1, s.inputs[0].compression), (EXECUTIONS, "gzip"));
    let (c, s) = read(&tmp("cut.gz", &gz[..gz.len() / 2]), &Options::default());
    assert!(s.inputs[0].truncated && s.totals.truncated_inputs == 1);
    assert!(c.1 > 0 && c.1 < EXECUTIONS);
    let z = zstd::encode_all(&raw[..], 1).unwrap_or_default();
    let (c, s) = read(&tmp("a.zst", &z), &Options::default());
    assert_eq!((c.1, s.inputs[0].compression), (EXECUTIONS, "zstd"));
}

#[test]
fn bad_inputs() {
    let (_, s) = read(&tmp("empty", b""), &Options::default());
    assert!(s.errors.is_empty() && s.totals.lines_read == 0);
    let (_, s) = read(
        &data("pg15.csv"),
        &Options {
            format: Format::Json,
            ..Options::default()
        },
    );
    assert!(matches!(
        s.errors.first(),
        Some(pgpilot_logs::LogError::FormatMismatch { .. })
    ));
    let (_, s) = read(&tmp("garbage", b"hello\nworld\n"), &Options::default());
    assert!(matches!(
        s.errors.first(),
        Some(pgpilot_logs::LogError::PrefixNotDetected { .. })
    ));
    let (_, s) = read(
        &tmp("nomatch", b"hello\nworld\n"),
        &Options {
            prefix: Some("%m [%p] ".into()),
            ..Options::default()
        },
    );
    assert_eq!(
        s.totals.lines_skipped.get(&SkipReason::NoPrefixMatch),
        Some(&2)
    );
    let cut = b"2024-01-01 00:00:00.000 UTC [1] LOG:  duration: 1.0 ms  statement: SELECT 1\n2024-01-01 00:00:00.000 UTC [1] LOG:  duration: 1.0 ms  statement: SEL";
    let (c, s) = read(&tmp("cut", cut), &Options::default());
    assert_eq!((c.1, s.totals.lines_read), (2, 2));
    let bad = b"2024-01-01 00:00:00.000 UTC [1] LOG:  statement: SELECT '\xff'\n";
    let (c, s) = read(&tmp("nonutf8", bad), &Options::default());
    assert_eq!((c.1, s.totals.non_utf8_lines), (1, 1));
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let sample = std::fs::read(data("pg15.log")).unwrap_or_default();
    for round in 0..200 {
        let mut v = Vec::new();
        for _ in 0..(round * 37 % 3000) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(match x % 4 {
                0 => b'\n',
                1 => b'\t',
                _ => sample[(x as usize >> 8) % sample.len().max(1)],
            });
        }
        for fmt in [Format::Auto, Format::Csv, Format::Json, Format::Stderr] {
            let p = tmp(&format!("rand{round}"), &v);
            let opts = Options {
                format: fmt,
                prefix: Some("%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h ".into()),
                chunk_size: 97,
                ..Options::default()
            };
            let (_, s) = read(&p, &opts);
            assert!(!s
                .errors
                .iter()
                .any(|e| matches!(e, pgpilot_logs::LogError::WorkerPanic)));
        }
    }
}

/// Regression: jsonlog name fields were parsed as owned strings and then
/// dropped, so statements had no database, user, application or session.
#[test]
fn every_format_carries_the_session_and_names_of_statements() {
    #[derive(Default)]
    struct Names(u64, u64);
    impl EventSink for Names {
        fn event(&mut self, ev: Event<'_>) {
            if let EventKind::Statement(s) = &ev.kind {
                if s.counts_as_execution() {
                    self.0 += 1;
                    let r = &ev.record;
                    if r.db == Some("postgres")
                        && r.user == Some("postgres")
                        && r.app.is_some()
                        && r.session_id.is_some()
                    {
                        self.1 += 1;
                    }
                }
            }
        }
    }
    for name in ["pg15.log", "pg15.csv", "pg15.json"] {
        let (sinks, _) = for_each_event(&[data(name)], &Options::default(), Names::default);
        let (all, named) = sinks.iter().fold((0, 0), |(a, n), s| (a + s.0, n + s.1));
        assert_eq!(all, 47, "{name}");
        assert_eq!(named, all, "{name}: statements without names or session");
    }
}

/// csvlog and jsonlog are read in bounded blocks: a file several blocks long
/// (the fixture repeated) gives exactly the repeated counts.
#[test]
fn large_csv_and_json_logs_are_streamed_in_blocks_without_losing_records() {
    for (name, copies) in [("pg15.csv", 700), ("pg15.json", 400)] {
        let one = std::fs::read(data(name)).expect("fixture");
        let path =
            std::env::temp_dir().join(format!("pgpilot-blocks-{}-{name}", std::process::id()));
        let mut f = std::fs::File::create(&path).expect("create");
        for _ in 0..copies {
            f.write_all(&one).expect("write");
        }
        drop(f);
        assert!(
            one.len() * copies > 16 << 20,
            "{name}: the test file must span several blocks"
        );
        let (c, s) = read(&path, &Options::default());
        std::fs::remove_file(&path).expect("cleanup");
        assert_eq!(c.1, 47 * copies as u64, "{name}: executions");
        assert_eq!(s.totals.skipped_total(), 0, "{name}: {:?}", s.totals);
    }
}
