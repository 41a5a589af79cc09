//! The "top N problem queries" report ([`TopReport`]), a serde type shaped for
//! `pgpilot top --format json`.

use serde::{Deserialize, Serialize};

use crate::stats::QueryStats;
use crate::{NPlusOne, Workload};

/// Ranking of [`Workload::top`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TopBy {
    /// Total execution time.
    #[default]
    Total,
    /// Mean execution time.
    Mean,
    /// 95th percentile.
    P95,
    /// Calls.
    Calls,
}

/// One query of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryReport {
    /// Fingerprint (16 hex digits).
    pub fingerprint: String,
    /// Normalized text.
    pub query: String,
    /// Executions.
    pub calls: u64,
    /// Total execution time (ms).
    pub total_ms: f64,
    /// Mean over timed calls (ms).
    pub mean_ms: Option<f64>,
    /// Median (ms).
    pub p50_ms: Option<f64>,
    /// 95th percentile (ms).
    pub p95_ms: Option<f64>,
    /// 99th percentile (ms).
    pub p99_ms: Option<f64>,
    /// Slowest (ms).
    pub max_ms: Option<f64>,
    /// Fastest (ms).
    pub min_ms: Option<f64>,
    /// True when the percentiles are estimated from pg_stat_statements
    /// mean/stddev instead of measured.
    pub percentiles_estimated: bool,
    /// Rows, where known.
    pub rows: Option<u64>,
    /// Total extended-protocol parse time (ms).
    pub parse_ms: f64,
    /// Total extended-protocol bind time (ms).
    pub bind_ms: f64,
    /// Calls per database.
    pub databases: std::collections::BTreeMap<String, u64>,
    /// Calls per user.
    pub users: std::collections::BTreeMap<String, u64>,
    /// Calls per application.
    pub applications: std::collections::BTreeMap<String, u64>,
    /// First seen (RFC 3339, UTC).
    pub first_seen: Option<String>,
    /// Last seen (RFC 3339, UTC).
    pub last_seen: Option<String>,
    /// The parser's message if the SQL could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Sampled parameter values (only with `include_samples`: they are real data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params_samples: Option<Vec<Vec<Option<String>>>>,
    /// Parameter samples dropped because their values could not be lined up
    /// with the placeholders of `query` (executions of the same fingerprint
    /// with another placeholder count).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub samples_dropped: u64,
    /// Sample plans kept.
    pub plans: usize,
}

/// One error group of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// SQLSTATE.
    pub sqlstate: Option<String>,
    /// Severity.
    pub severity: String,
    /// Occurrences.
    pub count: u64,
    /// Normalized failed statement.
    pub query: Option<String>,
    /// Message (only with `include_samples` when it may carry values, i.e.
    /// when grouped by statement; message-keyed groups always show it).
    pub message: Option<String>,
}

/// One N+1 pattern of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NPlusOneReport {
    /// Parent normalized text.
    pub parent: String,
    /// Repeated child normalized text.
    pub child: String,
    /// Bursts.
    pub bursts: u64,
    /// Child round trips in bursts.
    pub round_trips: u64,
    /// Mean burst size.
    pub mean_burst: f64,
    /// Time spent in the children (ms).
    pub child_ms: f64,
    /// Example: session, start and size.
    pub example: crate::BurstExample,
    /// Replacement.
    pub suggestion: Option<crate::Suggestion>,
    /// Executions of the parent statement.
    #[serde(default)]
    pub parent_calls: u64,
    /// Share of the parent's executions followed by a burst (0–1).
    #[serde(default)]
    pub share: f64,
}

/// The report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopReport {
    /// Lines read from logs.
    pub lines_read: u64,
    /// Lines that could not be used.
    pub lines_skipped: u64,
    /// Σ calls over every fingerprint (not only the listed ones).
    pub total_calls: u64,
    /// Distinct fingerprints.
    pub fingerprints: usize,
    /// Ranking used.
    pub by: TopBy,
    /// Top queries.
    pub queries: Vec<QueryReport>,
    /// N+1 patterns.
    pub n_plus_one: Vec<NPlusOneReport>,
    /// Error groups.
    pub errors: Vec<ErrorReport>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl QueryReport {
    /// The report line of one entry.
    pub fn new(q: &QueryStats, include_samples: bool) -> Self {
        let pct = |p: f64| q.percentile(p).map(|x| x.ms);
        let (min_ms, max_ms) = match (&q.pgss, q.histogram.is_empty()) {
            (Some(p), true) if q.min_us.is_none() => (p.min_ms, p.max_ms),
            _ => (q.min_us.map(ms), q.max_us.map(ms)),
        };
        QueryReport {
            fingerprint: q.fingerprint.to_string(),
            query: q.query.clone(),
            calls: q.calls,
            total_ms: q.total_ms(),
            mean_ms: q.mean_ms(),
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            max_ms,
            min_ms,
            percentiles_estimated: q.percentiles_estimated(),
            rows: q.rows,
            parse_ms: ms(q.parse.total_us),
            bind_ms: ms(q.bind.total_us),
            databases: with_other(&q.databases),
            users: with_other(&q.users),
            applications: with_other(&q.applications),
            first_seen: q.first_seen_us.map(format_time_us),
            last_seen: q.last_seen_us.map(format_time_us),
            parse_error: q.parse_error.clone(),
            params_samples: include_samples
                .then(|| q.samples.samples.iter().map(|s| s.values.clone()).collect()),
            samples_dropped: q.samples.mismatched,
            plans: q.plans.len(),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn with_other(s: &crate::CountSet) -> std::collections::BTreeMap<String, u64> {
    let mut m = s.names.clone();
    if s.other > 0 {
        m.insert("(other)".into(), s.other);
    }
    m
}

impl TopReport {
    /// The top `limit` queries by `by`, all N+1 patterns (up to `limit`) and
    /// error groups (up to `limit`). Literal values are left out unless
    /// `include_samples`.
    pub fn new(w: &Workload, by: TopBy, limit: usize, include_samples: bool) -> Self {
        TopReport {
            lines_read: w.source.lines_read,
            lines_skipped: w.source.lines_skipped_total(),
            total_calls: w.total_calls(),
            fingerprints: w.queries.len(),
            by,
            queries: w
                .top(by, limit)
                .into_iter()
                .map(|q| QueryReport::new(q, include_samples))
                .collect(),
            n_plus_one: w
                .likely_n_plus_one()
                .into_iter()
                .take(limit)
                .map(|(p, calls)| n1(p, calls))
                .collect(),
            errors: w
                .errors
                .iter()
                .take(limit)
                .map(|e| ErrorReport {
                    sqlstate: e.sqlstate.clone(),
                    severity: e.severity.clone(),
                    count: e.count,
                    query: e.query.clone(),
                    message: (include_samples || e.fingerprint.is_none())
                        .then(|| e.message.clone()),
                })
                .collect(),
        }
    }
}

fn n1(p: &NPlusOne, parent_calls: u64) -> NPlusOneReport {
    NPlusOneReport {
        parent_calls,
        share: p.bursts as f64 / parent_calls.max(1) as f64,
        parent: p.parent_query.clone(),
        child: p.child_query.clone(),
        bursts: p.bursts,
        round_trips: p.round_trips,
        mean_burst: p.mean_burst(),
        child_ms: ms(p.child_time_us),
        example: p.example.clone(),
        suggestion: p.suggestion.clone(),
    }
}

/// µs since the Unix epoch → `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_time_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fingerprint, QueryStats};

    #[test]
    fn formats_times() {
        assert_eq!(format_time_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_time_us(1_795_756_432_784_000),
            "2026-11-27T05:13:52.784000Z"
        );
        assert_eq!(format_time_us(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn samples_only_when_asked() {
        let mut w = Workload::default();
        let mut q = QueryStats::new(Fingerprint(1), "SELECT $1".into(), None);
        q.calls = 1;
        q.record_time(1500);
        q.samples.offer(1, 20, || vec![Some("secret".into())]);
        w.queries.insert(Fingerprint(1), q);
        let r = TopReport::new(&w, TopBy::Total, 10, false);
        let j = serde_json::to_string(&r).unwrap_or_default();
        assert!(!j.contains("secret") && j.contains("\"p95_ms\":1.5"), "{j}");
        for k in [
            "lines_read",
            "lines_skipped",
            "queries",
            "n_plus_one",
            "errors",
            "fingerprint",
            "total_ms",
            "mean_ms",
            "p50_ms",
            "p99_ms",
            "max_ms",
        ] {
            assert!(j.contains(&format!("\"{k}\"")), "{k}");
        }
        let j =
            serde_json::to_string(&TopReport::new(&w, TopBy::Total, 10, true)).unwrap_or_default();
        assert!(j.contains("secret"));
    }
}
