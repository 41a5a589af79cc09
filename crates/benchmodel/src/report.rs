//! The report of one benchmark run, as written to JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::slo::SloCheck;

/// Everything one benchmark run measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    /// How the run was configured.
    pub config: RunConfig,
    /// Totals and percentiles over all measured statements.
    pub summary: Summary,
    /// One entry per query or sequence step, in script order.
    pub queries: Vec<QueryStats>,
    /// The service-level objectives and whether they were met.
    pub slo: Vec<SloCheck>,
    /// Failed statements grouped by query, SQLSTATE and message.
    pub errors: Vec<ErrorCount>,
    /// True when the run ended early (Ctrl-C, or a lost connection).
    pub interrupted: bool,
    /// Why the run was aborted, when it was (e.g. the server went away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_reason: Option<String>,
    /// Cross-check of the measured statement counts against `pg_stat_statements`;
    /// `None` when the extension is not installed in the database.
    #[serde(default)]
    pub pg_stat_statements_check: Option<PgssCheck>,
}

impl BenchReport {
    /// True when every SLO check passed (and there was at least one).
    pub fn slo_passed(&self) -> bool {
        !self.slo.is_empty() && self.slo.iter().all(|c| c.pass)
    }
}

/// The settings of a run, echoed in the report.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    /// The workload script (path or name).
    pub workload: String,
    /// Concurrent client connections.
    pub clients: u32,
    /// Measured duration asked for, in seconds.
    pub duration_s: Option<f64>,
    /// Number of top-level picks (queries or sequences) asked for.
    pub transactions: Option<u64>,
    /// Warm-up before measuring, in seconds.
    pub warmup_s: f64,
    /// Seed of the random parameter generators.
    pub seed: u64,
    /// `application_name` of the benchmark connections.
    pub application_name: String,
    /// Statements slower than this count as slow, in milliseconds.
    pub slow_threshold_ms: f64,
    /// Script variables after command-line overrides.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// The target server (`host:port`, never a password).
    #[serde(default)]
    pub target: String,
}

/// Overall figures of the measured interval. Shares and ratios are percentages
/// (0–100); latencies are milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Statements that completed successfully while measuring.
    pub statements: u64,
    /// Statements per second over the measured interval.
    pub throughput_qps: f64,
    /// Mean latency.
    pub avg_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest statement.
    pub max_ms: f64,
    /// Share of statements slower than the slow threshold, percent.
    pub slow_pct: f64,
    /// Index blocks found in shared buffers over the run, percent.
    pub index_hit_ratio: Option<f64>,
    /// Index scans among all scans of large tables over the run, percent.
    pub index_usage_ratio: Option<f64>,
    /// Heap blocks found in shared buffers over the run, percent.
    #[serde(default)]
    pub table_hit_ratio: Option<f64>,
    /// Length of the measured interval, seconds.
    pub duration_s: f64,
    /// Top-level picks (queries or whole sequences) completed while measuring.
    #[serde(default)]
    pub transactions: u64,
    /// Statements that failed while measuring.
    pub errors: u64,
    /// Most client connections seen on the server during the run.
    #[serde(default)]
    pub peak_connections: Option<i64>,
    /// The server's `max_connections`.
    #[serde(default)]
    pub max_connections: Option<i64>,
    /// Peak connections ÷ `max_connections`, percent.
    #[serde(default)]
    pub connection_use_pct: Option<f64>,
}

/// Figures of one query or sequence step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct QueryStats {
    /// The query's (or step's) name from the script.
    pub name: String,
    /// The sequence this step belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// The SQL text.
    pub sql: String,
    /// Successful executions while measuring.
    pub calls: u64,
    /// Failed executions while measuring.
    pub errors: u64,
    /// Executions slower than the slow threshold.
    pub slow: u64,
    /// Sum of latencies.
    pub total_ms: f64,
    /// Mean latency.
    pub avg_ms: f64,
    /// Median latency.
    pub p50_ms: f64,
    /// 95th percentile latency.
    pub p95_ms: f64,
    /// 99th percentile latency.
    pub p99_ms: f64,
    /// Slowest execution.
    pub max_ms: f64,
    /// Rows returned, summed over executions.
    #[serde(default)]
    pub rows: u64,
}

/// Failed statements of one kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorCount {
    /// The query or step that failed.
    pub query: String,
    /// The SQLSTATE, when the server sent one.
    pub sqlstate: Option<String>,
    /// One sample message.
    pub message: String,
    /// How many times it happened while measuring.
    pub count: u64,
}

/// The measured statement counts compared with `pg_stat_statements` calls over the
/// same interval.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgssCheck {
    /// One entry per distinct normalized statement.
    pub queries: Vec<PgssQueryCheck>,
    /// True when every entry matches.
    pub all_match: bool,
}

/// One statement's counts on both sides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PgssQueryCheck {
    /// Names of the queries/steps sharing this normalized text.
    pub names: Vec<String>,
    /// Executions counted by the benchmark (warm-up included, since the server
    /// counts those too).
    pub measured_calls: u64,
    /// Growth of `calls` in `pg_stat_statements`; `None` when no entry matched.
    pub pgss_calls: Option<i64>,
    /// True when both agree.
    pub matches: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_documented_summary_keys() {
        let v = serde_json::to_value(BenchReport::default()).expect("json");
        let summary = v["summary"].as_object().expect("summary object");
        for key in [
            "statements",
            "throughput_qps",
            "avg_ms",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "max_ms",
            "slow_pct",
            "index_hit_ratio",
            "index_usage_ratio",
        ] {
            assert!(summary.contains_key(key), "missing {key}");
        }
        assert!(summary["index_hit_ratio"].is_null());
        assert!(v["queries"].is_array() && v["slo"].is_array());
        let back: BenchReport = serde_json::from_value(v).expect("round trip");
        assert_eq!(back, BenchReport::default());
    }
}
