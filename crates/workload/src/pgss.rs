//! The pure part of `pg_stat_statements` support: the row model, the delta
//! between two snapshots (resets and deallocated entries handled), and the
//! conversion into a [`Workload`] keyed by pgpilot fingerprints, so that log
//! and pgss workloads merge. Fetching the rows is the database crate's job.

use std::collections::HashMap;

use pgpilot_sql::Normalizer;
use serde::{Deserialize, Serialize};

use crate::hist::ms_to_us;
use crate::stats::{opt_max, opt_min, PgssStats, QueryStats};
use crate::workload::{SourceSummary, Workload};

/// One `pg_stat_statements` row (times in ms, as pgss reports them).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PgssEntry {
    /// queryid.
    pub queryid: i64,
    /// Query text (with `$n` placeholders).
    pub query: String,
    /// Database name (resolved from dbid).
    pub database: String,
    /// User name (resolved from userid).
    pub user: String,
    /// Top-level statement (pgss ≥ 1.9).
    pub toplevel: bool,
    /// calls.
    pub calls: u64,
    /// total_exec_time.
    pub total_exec_time: f64,
    /// mean_exec_time.
    pub mean_exec_time: f64,
    /// min_exec_time.
    pub min_exec_time: f64,
    /// max_exec_time.
    pub max_exec_time: f64,
    /// stddev_exec_time.
    pub stddev_exec_time: f64,
    /// rows.
    pub rows: u64,
    /// shared_blks_hit.
    pub shared_blks_hit: u64,
    /// shared_blks_read.
    pub shared_blks_read: u64,
    /// stats_since (pgss ≥ 1.11), µs since the epoch: a change means the entry was reset.
    #[serde(default)]
    pub stats_since_us: Option<i64>,
}

/// Identity of an entry across snapshots.
pub type PgssKey = (String, String, i64, bool);

impl PgssEntry {
    /// (user, database, queryid, toplevel).
    pub fn key(&self) -> PgssKey {
        (
            self.user.clone(),
            self.database.clone(),
            self.queryid,
            self.toplevel,
        )
    }

    fn sum_sq(&self) -> f64 {
        self.calls as f64 * (self.stddev_exec_time.powi(2) + self.mean_exec_time.powi(2))
    }
}

/// A snapshot of the view.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PgssSnapshot {
    /// When it was taken (µs since the epoch).
    pub taken_at_us: Option<i64>,
    /// `pg_stat_statements_info.stats_reset` (µs): a change means a full reset.
    pub stats_reset_us: Option<i64>,
    /// Rows.
    pub entries: Vec<PgssEntry>,
}

/// What happened between two snapshots.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PgssDelta {
    /// Seconds between the snapshots, when both times are known.
    pub interval_s: Option<f64>,
    /// The whole view was reset in between (every entry is taken as is).
    pub full_reset: bool,
    /// Per-entry activity in the interval (entries with no new calls left out).
    pub entries: Vec<PgssEntry>,
    /// Entries whose counters went down or whose stats_since changed: their
    /// after values are used as the delta.
    pub reset_entries: Vec<PgssKey>,
    /// Entries present before and missing after (evicted by pg_stat_statements.max).
    /// Their activity between the snapshots is unknown, never negative.
    pub deallocated: Vec<PgssEntry>,
}

/// `after − before`, see [`PgssDelta`]. min/max of an entry are those of the
/// after snapshot (pgss keeps no per-interval extremes); mean and stddev of
/// the interval are exact (from sums and sums of squares).
pub fn delta(before: &PgssSnapshot, after: &PgssSnapshot) -> PgssDelta {
    let full_reset = before.stats_reset_us != after.stats_reset_us;
    let prev: HashMap<PgssKey, &PgssEntry> = before.entries.iter().map(|e| (e.key(), e)).collect();
    let mut out = PgssDelta {
        interval_s: match (before.taken_at_us, after.taken_at_us) {
            (Some(a), Some(b)) => Some((b - a) as f64 / 1e6),
            _ => None,
        },
        full_reset,
        ..PgssDelta::default()
    };
    let mut seen = std::collections::HashSet::new();
    for a in &after.entries {
        let k = a.key();
        seen.insert(k.clone());
        let d = match prev.get(&k) {
            None => a.clone(),
            Some(_) if full_reset => a.clone(),
            Some(b)
                if a.calls < b.calls
                    || a.stats_since_us != b.stats_since_us
                    || a.total_exec_time < b.total_exec_time =>
            {
                out.reset_entries.push(k);
                a.clone()
            }
            Some(b) => {
                let calls = a.calls - b.calls;
                let total = a.total_exec_time - b.total_exec_time;
                let mean = if calls > 0 { total / calls as f64 } else { 0.0 };
                let var = if calls > 0 {
                    ((a.sum_sq() - b.sum_sq()) / calls as f64 - mean * mean).max(0.0)
                } else {
                    0.0
                };
                PgssEntry {
                    calls,
                    total_exec_time: total,
                    mean_exec_time: mean,
                    stddev_exec_time: var.sqrt(),
                    rows: a.rows.saturating_sub(b.rows),
                    shared_blks_hit: a.shared_blks_hit.saturating_sub(b.shared_blks_hit),
                    shared_blks_read: a.shared_blks_read.saturating_sub(b.shared_blks_read),
                    ..a.clone()
                }
            }
        };
        if d.calls > 0 {
            out.entries.push(d);
        }
    }
    if !full_reset {
        out.deallocated = before
            .entries
            .iter()
            .filter(|b| !seen.contains(&b.key()))
            .cloned()
            .collect();
    }
    out
}

/// Converts rows (a snapshot's or a delta's entries) into a workload keyed by
/// the pgpilot fingerprint of each query text. Percentiles of such entries are
/// estimates and flagged as such; nothing is presented as measured.
pub fn workload_from_pgss(
    entries: &[PgssEntry],
    source_name: &str,
    normalizer: &mut Normalizer,
) -> Workload {
    let mut w = Workload {
        source: SourceSummary {
            inputs: vec![source_name.to_owned()],
            ..SourceSummary::default()
        },
        ..Workload::default()
    };
    let cap = w.caps.names;
    for e in entries {
        let a = normalizer.analyze(&e.query);
        let fp = a.fingerprint;
        let q = w.queries.entry(fp).or_insert_with(|| {
            QueryStats::new(fp, a.normalized.to_string(), a.parse_error.clone())
        });
        q.calls += e.calls;
        q.timed_calls += e.calls;
        q.total_us += ms_to_us(e.total_exec_time);
        if e.calls > 0 {
            q.min_us = opt_min(q.min_us, Some(ms_to_us(e.min_exec_time)));
            q.max_us = opt_max(q.max_us, Some(ms_to_us(e.max_exec_time)));
        }
        q.rows = Some(q.rows.unwrap_or(0) + e.rows);
        q.databases.add(&e.database, e.calls, cap);
        q.users.add(&e.user, e.calls, cap);
        let p = PgssStats {
            calls: e.calls,
            total_ms: e.total_exec_time,
            sum_sq_ms2: e.sum_sq(),
            min_ms: (e.calls > 0).then_some(e.min_exec_time),
            max_ms: (e.calls > 0).then_some(e.max_exec_time),
            rows: e.rows,
            shared_blks_hit: e.shared_blks_hit,
            shared_blks_read: e.shared_blks_read,
            queryids: vec![e.queryid],
        };
        match q.pgss.as_mut() {
            Some(x) => x.merge(&p),
            None => q.pgss = Some(p),
        }
    }
    w
}

/// [`workload_from_pgss`] of a delta, with the deallocated count carried in the source summary.
pub fn workload_from_delta(
    d: &PgssDelta,
    source_name: &str,
    normalizer: &mut Normalizer,
) -> Workload {
    let mut w = workload_from_pgss(&d.entries, source_name, normalizer);
    w.source.pgss_deallocated = d.deallocated.len() as u64;
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(qid: i64, query: &str, calls: u64, total: f64, stddev: f64) -> PgssEntry {
        PgssEntry {
            queryid: qid,
            query: query.into(),
            database: "app".into(),
            user: "web".into(),
            toplevel: true,
            calls,
            total_exec_time: total,
            mean_exec_time: if calls > 0 { total / calls as f64 } else { 0.0 },
            min_exec_time: 0.1,
            max_exec_time: 50.0,
            stddev_exec_time: stddev,
            rows: calls,
            ..PgssEntry::default()
        }
    }

    fn snap(entries: Vec<PgssEntry>, reset: i64) -> PgssSnapshot {
        PgssSnapshot {
            taken_at_us: Some(0),
            stats_reset_us: Some(reset),
            entries,
        }
    }

    #[test]
    fn delta_subtracts_and_handles_resets_and_deallocation() {
        let before = snap(
            vec![
                e(1, "SELECT $1", 100, 100.0, 0.0),
                e(2, "SELECT 2", 50, 10.0, 0.0),
                e(3, "SELECT 3", 5, 5.0, 0.0),
                e(4, "SELECT 4", 7, 7.0, 0.0),
            ],
            1,
        );
        let after = snap(
            vec![
                e(1, "SELECT $1", 150, 200.0, 1.0),
                e(2, "SELECT 2", 20, 4.0, 0.0),
                e(4, "SELECT 4", 7, 7.0, 0.0),
                e(5, "SELECT 5", 3, 3.0, 0.0),
            ],
            1,
        );
        let d = delta(&before, &after);
        let by: HashMap<i64, &PgssEntry> = d.entries.iter().map(|x| (x.queryid, x)).collect();
        assert_eq!(
            (by[&1].calls, by[&1].total_exec_time, by[&1].mean_exec_time),
            (50, 100.0, 2.0)
        );
        assert_eq!(
            by[&2].calls, 20,
            "calls went down: a reset, after values used"
        );
        assert_eq!(d.reset_entries.len(), 1);
        assert_eq!(by[&5].calls, 3, "new entry");
        assert!(!by.contains_key(&4), "no activity");
        assert_eq!(
            d.deallocated.iter().map(|x| x.queryid).collect::<Vec<_>>(),
            vec![3]
        );
        // stddev of the interval: before 100 calls of exactly 1 ms; after adds
        // 50 calls making the whole 150 have mean 4/3 and stddev 1.
        let ss_after = 150.0 * (1.0 + (200.0f64 / 150.0).powi(2));
        let var = (ss_after - 100.0) / 50.0 - 4.0;
        assert!((by[&1].stddev_exec_time - var.sqrt()).abs() < 1e-9);
        let full = delta(&before, &snap(after.entries.clone(), 2));
        assert!(full.full_reset && full.deallocated.is_empty());
        assert_eq!(
            full.entries
                .iter()
                .find(|x| x.queryid == 1)
                .map(|x| x.calls),
            Some(150)
        );
    }

    #[test]
    fn converts_to_fingerprinted_workload_with_flagged_estimates() {
        let mut n = Normalizer::new();
        let rows = vec![
            e(1, "SELECT * FROM t WHERE id = $1", 100, 200.0, 1.0),
            e(2, "select * from t where id = $1", 100, 200.0, 1.0),
        ];
        let w = workload_from_pgss(&rows, "pgss", &mut n);
        assert_eq!(
            w.queries.len(),
            1,
            "same fingerprint as the log text would get"
        );
        let fp = pgpilot_sql::fingerprint("SELECT * FROM t WHERE id = 42").unwrap_or_default();
        let q = &w.queries[&fp];
        assert_eq!((q.calls, q.total_us), (200, 400_000));
        assert!(q.percentiles_estimated());
        assert!(q
            .percentile(0.95)
            .is_some_and(|p| p.estimated && p.ms > 2.0));
        assert_eq!(
            q.pgss
                .as_ref()
                .and_then(|p| p.stddev_ms())
                .map(|s| (s * 1e9).round() / 1e9),
            Some(1.0)
        );
        assert_eq!(q.databases.names.get("app"), Some(&200));
    }
}
