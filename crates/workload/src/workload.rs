//! [`Workload`]: the aggregate, its exact merge and its versioned file format.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::nplus1::NPlusOne;
use crate::report::TopBy;
use crate::stats::{opt_max, opt_min, Caps, QueryStats};
use crate::{Fingerprint, WorkloadError};

/// Share of a parent's executions that must be followed by a burst for the
/// pair to be reported as an N+1 (see [`Workload::likely_n_plus_one`]).
pub const N_PLUS_ONE_MIN_SHARE: f64 = 0.25;

/// The `format` field of workload files.
pub const FORMAT_NAME: &str = "pgpilot-workload";
/// The version of the file format this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What the inputs were and what could not be used (the log reader's counters).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceSummary {
    /// Input names (log paths, `pg_stat_statements@…`).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Bytes read (decompressed).
    #[serde(default)]
    pub bytes_read: u64,
    /// Physical lines read.
    #[serde(default)]
    pub lines_read: u64,
    /// Lines not used, by reason.
    #[serde(default)]
    pub lines_skipped: BTreeMap<String, u64>,
    /// Lines with bytes that were not UTF-8 (decoded lossily, not dropped).
    #[serde(default)]
    pub non_utf8_lines: u64,
    /// Compressed inputs that ended early.
    #[serde(default)]
    pub truncated_inputs: u64,
    /// Bare `duration:` lines with no statement to attribute them to.
    #[serde(default)]
    pub unattributed_durations: u64,
    /// Log entries read.
    #[serde(default)]
    pub records: u64,
    /// Events by kind.
    #[serde(default)]
    pub events: BTreeMap<String, u64>,
    /// Inputs that could not be read at all, with the reason.
    #[serde(default)]
    pub input_errors: Vec<String>,
    /// auto_explain plans without a query text (counted, not attached).
    #[serde(default)]
    pub unattributed_plans: u64,
    /// pg_stat_statements entries deallocated between two snapshots.
    #[serde(default)]
    pub pgss_deallocated: u64,
}

impl SourceSummary {
    /// The reader's summary.
    pub fn from_logs(s: &pgpilot_logs::Summary) -> Self {
        let t = &s.totals;
        SourceSummary {
            inputs: s.inputs.iter().map(|i| i.name.clone()).collect(),
            bytes_read: t.bytes_read,
            lines_read: t.lines_read,
            lines_skipped: t
                .lines_skipped
                .iter()
                .map(|(k, v)| (format!("{k:?}"), *v))
                .collect(),
            non_utf8_lines: t.non_utf8_lines,
            truncated_inputs: t.truncated_inputs,
            unattributed_durations: t.unattributed_durations,
            records: t.records,
            events: t
                .events
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
            input_errors: s.errors.iter().map(|e| e.to_string()).collect(),
            unattributed_plans: 0,
            pgss_deallocated: 0,
        }
    }

    /// Total skipped lines.
    pub fn lines_skipped_total(&self) -> u64 {
        self.lines_skipped.values().sum()
    }

    fn merge(&mut self, o: &SourceSummary) {
        self.inputs.extend(o.inputs.iter().cloned());
        self.bytes_read += o.bytes_read;
        self.lines_read += o.lines_read;
        for (k, v) in &o.lines_skipped {
            *self.lines_skipped.entry(k.clone()).or_insert(0) += v;
        }
        self.non_utf8_lines += o.non_utf8_lines;
        self.truncated_inputs += o.truncated_inputs;
        self.unattributed_durations += o.unattributed_durations;
        self.records += o.records;
        for (k, v) in &o.events {
            *self.events.entry(k.clone()).or_insert(0) += v;
        }
        self.input_errors.extend(o.input_errors.iter().cloned());
        self.unattributed_plans += o.unattributed_plans;
        self.pgss_deallocated += o.pgss_deallocated;
    }
}

/// Failed statements of one kind: same SQLSTATE and same statement fingerprint
/// (or, without a statement, the same message). Failed statements are not
/// executions and never appear in `queries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// SQLSTATE when the log has it (`%e`, csvlog, jsonlog).
    pub sqlstate: Option<String>,
    /// `ERROR`, `FATAL` or `PANIC`.
    pub severity: String,
    /// Fingerprint of the failed statement, when logged.
    pub fingerprint: Option<Fingerprint>,
    /// Normalized failed statement.
    pub query: Option<String>,
    /// The first message seen (may contain values).
    pub message: String,
    /// Occurrences.
    pub count: u64,
    /// First occurrence (µs since the epoch).
    pub first_seen_us: Option<i64>,
    /// Last occurrence.
    pub last_seen_us: Option<i64>,
}

impl ErrorGroup {
    /// Grouping key.
    pub(crate) fn key(&self) -> (Option<String>, Option<Fingerprint>, Option<String>) {
        let msg = self.fingerprint.is_none().then(|| self.message.clone());
        (self.sqlstate.clone(), self.fingerprint, msg)
    }

    pub(crate) fn merge(&mut self, o: &ErrorGroup) {
        self.count += o.count;
        if o.first_seen_us.is_some()
            && (self.first_seen_us.is_none() || o.first_seen_us < self.first_seen_us)
        {
            self.message.clone_from(&o.message);
        }
        self.first_seen_us = opt_min(self.first_seen_us, o.first_seen_us);
        self.last_seen_us = opt_max(self.last_seen_us, o.last_seen_us);
    }
}

/// A fingerprinted workload: see the crate documentation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Workload {
    /// Inputs and reader counters.
    #[serde(default)]
    pub source: SourceSummary,
    /// Caps used for sets, samples and plans.
    #[serde(default)]
    pub caps: Caps,
    /// Per fingerprint statistics.
    #[serde(default)]
    pub queries: BTreeMap<Fingerprint, QueryStats>,
    /// Error groups, most frequent first.
    #[serde(default)]
    pub errors: Vec<ErrorGroup>,
    /// N+1 patterns (parent → repeated child), most round trips first.
    #[serde(default)]
    pub n_plus_one: Vec<NPlusOne>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    format: &'static str,
    version: u32,
    #[serde(flatten)]
    workload: &'a Workload,
}

impl Workload {
    /// The N+1 pairs that are not coincidence: a burst follows at least
    /// [`N_PLUS_ONE_MIN_SHARE`] of the parent's executions. A frequent statement
    /// also repeats by chance after all kinds of statements (a benchmark's
    /// random mix, a busy pooled connection); a real N+1 follows its parent
    /// consistently. Each with the parent's executions.
    pub fn likely_n_plus_one(&self) -> Vec<(&NPlusOne, u64)> {
        self.n_plus_one
            .iter()
            .filter_map(|p| {
                let calls = self
                    .queries
                    .get(&p.parent)
                    .map_or(0, |q| q.calls)
                    .max(p.bursts);
                (p.bursts as f64 >= N_PLUS_ONE_MIN_SHARE * calls as f64).then_some((p, calls))
            })
            .collect()
    }

    /// Σ calls over all fingerprints.
    pub fn total_calls(&self) -> u64 {
        self.queries.values().map(|q| q.calls).sum()
    }

    /// Exact merge: calls, times and histograms add; min/max and first/last
    /// widen; sets union; samples are re-sampled by the same bottom-k rule;
    /// errors and N+1 pairs add by key.
    pub fn merge(&mut self, other: &Workload) {
        let caps = self.caps;
        self.source.merge(&other.source);
        for (fp, q) in &other.queries {
            match self.queries.get_mut(fp) {
                Some(mine) => mine.merge(q, &caps),
                None => {
                    let mut fresh = QueryStats::new(*fp, String::new(), None);
                    fresh.merge(q, &caps);
                    self.queries.insert(*fp, fresh);
                }
            }
        }
        let mut errors: HashMap<_, ErrorGroup> =
            self.errors.drain(..).map(|e| (e.key(), e)).collect();
        for e in &other.errors {
            match errors.get_mut(&e.key()) {
                Some(m) => m.merge(e),
                None => {
                    errors.insert(e.key(), e.clone());
                }
            }
        }
        self.errors = errors.into_values().collect();
        self.sort_errors();
        let mut pairs: HashMap<(Fingerprint, Fingerprint), NPlusOne> = self
            .n_plus_one
            .drain(..)
            .map(|p| ((p.parent, p.child), p))
            .collect();
        for p in &other.n_plus_one {
            match pairs.get_mut(&(p.parent, p.child)) {
                Some(m) => m.merge(p),
                None => {
                    pairs.insert((p.parent, p.child), p.clone());
                }
            }
        }
        self.n_plus_one = pairs.into_values().collect();
        crate::nplus1::sort_pairs(&mut self.n_plus_one);
    }

    pub(crate) fn sort_errors(&mut self) {
        self.errors
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key().cmp(&b.key())));
    }

    /// The `limit` first entries by `by` (ties: by fingerprint).
    pub fn top(&self, by: TopBy, limit: usize) -> Vec<&QueryStats> {
        let key = |q: &QueryStats| -> f64 {
            match by {
                TopBy::Total => q.total_us as f64,
                TopBy::Mean => q.mean_ms().unwrap_or(0.0),
                TopBy::P95 => q.percentile(0.95).map_or(0.0, |p| p.ms),
                TopBy::Calls => q.calls as f64,
            }
        };
        let mut v: Vec<(f64, &QueryStats)> = self.queries.values().map(|q| (key(q), q)).collect();
        v.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| a.1.fingerprint.cmp(&b.1.fingerprint))
        });
        v.into_iter().take(limit).map(|(_, q)| q).collect()
    }

    /// Writes the versioned JSON file.
    pub fn to_writer<W: Write>(&self, w: W) -> Result<(), WorkloadError> {
        serde_json::to_writer(
            w,
            &FileOut {
                format: FORMAT_NAME,
                version: FORMAT_VERSION,
                workload: self,
            },
        )?;
        Ok(())
    }

    /// Reads a workload file; another format or version is a clear error;
    /// unknown fields are ignored.
    pub fn from_reader<R: Read>(r: R) -> Result<Workload, WorkloadError> {
        let v: serde_json::Value = serde_json::from_reader(r)?;
        let format = v.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT_NAME) {
            return Err(WorkloadError::NotAWorkload {
                found: format.map(str::to_owned),
            });
        }
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(n) if n == u64::from(FORMAT_VERSION) => {}
            Some(n) => {
                return Err(WorkloadError::UnsupportedVersion {
                    found: n,
                    expected: FORMAT_VERSION,
                })
            }
            None => {
                return Err(WorkloadError::UnsupportedVersion {
                    found: 0,
                    expected: FORMAT_VERSION,
                })
            }
        }
        Ok(serde_json::from_value(v)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Workload {
        let mut w = Workload::default();
        for f in 1..4u64 {
            let mut q = QueryStats::new(Fingerprint(f), format!("SELECT {f}"), None);
            for i in 0..(100 * f) {
                q.calls += 1;
                q.record_time(f * 1000 + i * 37 % 5000);
                q.seen(Some(i as i64));
                q.samples.offer(crate::sets::priority(f, 0, i, 0), 20, || {
                    vec![Some(i.to_string()), None]
                });
            }
            q.databases.add("db", q.calls, 16);
            w.queries.insert(Fingerprint(f), q);
        }
        w.errors.push(ErrorGroup {
            sqlstate: Some("22012".into()),
            severity: "ERROR".into(),
            fingerprint: Some(Fingerprint(9)),
            query: Some("SELECT $1/$2".into()),
            message: "division by zero".into(),
            count: 2,
            first_seen_us: Some(1),
            last_seen_us: Some(5),
        });
        w
    }

    #[test]
    fn file_round_trip_keeps_percentiles() {
        let w = sample();
        let mut buf = Vec::new();
        assert!(w.to_writer(&mut buf).is_ok());
        let text = String::from_utf8_lossy(&buf).to_string();
        assert!(
            text.starts_with("{\"format\":\"pgpilot-workload\",\"version\":1,"),
            "{}",
            &text[..80]
        );
        let back = Workload::from_reader(buf.as_slice());
        let back = match back {
            Ok(b) => b,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(back, w);
        for (fp, q) in &w.queries {
            for p in [0.5, 0.95, 0.99] {
                assert_eq!(back.queries[fp].percentile(p), q.percentile(p));
            }
        }
    }

    #[test]
    fn other_versions_and_formats_are_clear_errors_and_unknown_fields_ignored() {
        let e = Workload::from_reader(&br#"{"format":"pgpilot-workload","version":2}"#[..]);
        assert!(matches!(
            e,
            Err(WorkloadError::UnsupportedVersion {
                found: 2,
                expected: 1
            })
        ));
        assert!(e
            .map_err(|e| e.to_string())
            .err()
            .is_some_and(|m| m.contains("version 2")));
        let e = Workload::from_reader(&br#"{"format":"pgbadger","version":1}"#[..]);
        assert!(matches!(e, Err(WorkloadError::NotAWorkload { .. })));
        assert!(matches!(
            Workload::from_reader(&b"not json"[..]),
            Err(WorkloadError::Json(_))
        ));
        let ok = Workload::from_reader(
            &br#"{"format":"pgpilot-workload","version":1,"future":[1,2],"queries":{}}"#[..],
        );
        assert!(ok.is_ok_and(|w| w.queries.is_empty()));
    }

    #[test]
    fn merge_is_exact_and_order_independent() {
        let a = sample();
        let mut b = sample();
        b.queries.remove(&Fingerprint(1));
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab.total_calls(), a.total_calls() + b.total_calls());
        assert_eq!(ab.queries, ba.queries);
        assert_eq!(ab.errors, ba.errors);
        assert_eq!(ab.errors[0].count, 4);
        let q = &ab.queries[&Fingerprint(3)];
        assert_eq!(q.histogram.len(), 600);
        assert_eq!(q.samples.samples.len(), 20);
        assert_eq!(q.samples.offered, 600);
        assert_eq!(q.databases.total(), 600);
        assert_eq!(ab.top(TopBy::Calls, 1)[0].fingerprint, Fingerprint(3));
    }
}
