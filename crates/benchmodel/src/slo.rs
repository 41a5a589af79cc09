//! Service-level objectives: defaults from the ADX Core brief, a TOML file format to
//! override them, and their evaluation against a [`Summary`].

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::Summary;

/// How an actual value must compare with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Comparison {
    /// The actual value must be strictly below the target.
    #[serde(rename = "<")]
    Below,
    /// The actual value must be strictly above the target.
    #[serde(rename = ">")]
    Above,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Comparison::Below => "<",
            Comparison::Above => ">",
        })
    }
}

/// One objective and whether the run met it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloCheck {
    /// The summary field it is about, e.g. `p95_ms`.
    pub metric: String,
    /// How `actual` must compare with `target`.
    pub comparison: Comparison,
    /// The objective.
    pub target: f64,
    /// The measured value; `None` when it could not be measured.
    pub actual: Option<f64>,
    /// True when measured and within the objective.
    pub pass: bool,
}

/// The objectives of a run. `None` disables an objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloTargets {
    /// Mean latency must be below this many milliseconds.
    pub avg_ms: Option<f64>,
    /// p95 latency must be below this many milliseconds.
    pub p95_ms: Option<f64>,
    /// p99 latency must be below this many milliseconds.
    pub p99_ms: Option<f64>,
    /// The share of slow statements must be below this percentage.
    pub slow_pct: Option<f64>,
    /// A statement slower than this many milliseconds is slow.
    pub slow_threshold_ms: f64,
    /// The index hit ratio must be above this percentage.
    pub index_hit_ratio: Option<f64>,
    /// The index usage ratio must be above this percentage (off by default).
    pub index_usage_ratio: Option<f64>,
    /// Throughput must be above this many statements per second (off by default).
    pub throughput_qps: Option<f64>,
    /// The share of failed statements must be below this percentage (off by default).
    pub error_pct: Option<f64>,
}

impl Default for SloTargets {
    /// The targets of the ADX Core brief: avg < 100 ms, p95 < 500 ms, p99 < 1 s,
    /// under 5 % of statements slower than 1 s, index hit ratio > 98 %.
    fn default() -> Self {
        SloTargets {
            avg_ms: Some(100.0),
            p95_ms: Some(500.0),
            p99_ms: Some(1000.0),
            slow_pct: Some(5.0),
            slow_threshold_ms: 1000.0,
            index_hit_ratio: Some(98.0),
            index_usage_ratio: None,
            throughput_qps: None,
            error_pct: None,
        }
    }
}

/// A problem with an SLO file.
#[derive(Debug, thiserror::Error)]
pub enum SloError {
    /// The file could not be read.
    #[error("{path}: cannot read SLO file: {reason}")]
    Read {
        /// The file.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The file is not valid.
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
        /// What is wrong.
        message: String,
    },
}

/// One target in the TOML file: a number, or `false` to disable it.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
enum FileTarget {
    Number(f64),
    Enabled(bool),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    avg_ms: Option<FileTarget>,
    p95_ms: Option<FileTarget>,
    p99_ms: Option<FileTarget>,
    slow_pct: Option<FileTarget>,
    slow_threshold_ms: Option<f64>,
    index_hit_ratio: Option<FileTarget>,
    index_usage_ratio: Option<FileTarget>,
    throughput_qps: Option<FileTarget>,
    error_pct: Option<FileTarget>,
}

/// Applies a file target over a default: a number replaces it, `false` disables
/// it, `true` keeps the default, absence keeps the default.
fn apply(default: Option<f64>, file: Option<FileTarget>) -> Option<f64> {
    match file {
        None | Some(FileTarget::Enabled(true)) => default,
        Some(FileTarget::Enabled(false)) => None,
        Some(FileTarget::Number(n)) => Some(n),
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl SloTargets {
    /// Reads targets from a TOML file (see [`SloTargets::from_toml_str`]).
    pub fn load(path: &Path) -> Result<Self, SloError> {
        let text = std::fs::read_to_string(path).map_err(|e| SloError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses targets from TOML text; `path` only names the source in errors.
    ///
    /// Keys: `avg_ms`, `p95_ms`, `p99_ms`, `slow_pct`, `index_hit_ratio`,
    /// `index_usage_ratio`, `throughput_qps`, `error_pct` (a number, or `false` to
    /// disable; omitted keys keep the defaults) and `slow_threshold_ms`.
    pub fn from_toml_str(text: &str, path: &str) -> Result<Self, SloError> {
        let file: SloFile = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            SloError::Invalid {
                path: path.to_string(),
                line,
                col,
                message: e
                    .message()
                    .trim()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })?;
        let d = SloTargets::default();
        let t = SloTargets {
            avg_ms: apply(d.avg_ms, file.avg_ms),
            p95_ms: apply(d.p95_ms, file.p95_ms),
            p99_ms: apply(d.p99_ms, file.p99_ms),
            slow_pct: apply(d.slow_pct, file.slow_pct),
            slow_threshold_ms: file.slow_threshold_ms.unwrap_or(d.slow_threshold_ms),
            index_hit_ratio: apply(d.index_hit_ratio, file.index_hit_ratio),
            index_usage_ratio: apply(d.index_usage_ratio, file.index_usage_ratio),
            throughput_qps: apply(d.throughput_qps, file.throughput_qps),
            error_pct: apply(d.error_pct, file.error_pct),
        };
        if !(t.slow_threshold_ms.is_finite() && t.slow_threshold_ms > 0.0) {
            let offset = text.find("slow_threshold_ms").unwrap_or(0);
            let (line, col) = line_col(text, offset);
            return Err(SloError::Invalid {
                path: path.to_string(),
                line,
                col,
                message: "slow_threshold_ms must be a positive number of milliseconds".into(),
            });
        }
        Ok(t)
    }

    /// Checks a summary against every enabled target, in a fixed order. A metric
    /// that was not measured fails with `actual: None`; latency metrics count as not
    /// measured when no statement completed.
    pub fn evaluate(&self, summary: &Summary) -> Vec<SloCheck> {
        let ran = summary.statements > 0;
        let latency = |v: f64| ran.then_some(v);
        let attempted = summary.statements + summary.errors;
        let error_pct = (attempted > 0).then(|| summary.errors as f64 * 100.0 / attempted as f64);
        let rows: [(&str, Option<f64>, Comparison, Option<f64>); 8] = [
            (
                "avg_ms",
                self.avg_ms,
                Comparison::Below,
                latency(summary.avg_ms),
            ),
            (
                "p95_ms",
                self.p95_ms,
                Comparison::Below,
                latency(summary.p95_ms),
            ),
            (
                "p99_ms",
                self.p99_ms,
                Comparison::Below,
                latency(summary.p99_ms),
            ),
            (
                "slow_pct",
                self.slow_pct,
                Comparison::Below,
                latency(summary.slow_pct),
            ),
            (
                "index_hit_ratio",
                self.index_hit_ratio,
                Comparison::Above,
                summary.index_hit_ratio,
            ),
            (
                "index_usage_ratio",
                self.index_usage_ratio,
                Comparison::Above,
                summary.index_usage_ratio,
            ),
            (
                "throughput_qps",
                self.throughput_qps,
                Comparison::Above,
                summary
                    .duration_s
                    .gt(&0.0)
                    .then_some(summary.throughput_qps),
            ),
            ("error_pct", self.error_pct, Comparison::Below, error_pct),
        ];
        rows.into_iter()
            .filter_map(|(metric, target, comparison, actual)| {
                let target = target?;
                let pass = match (actual, comparison) {
                    (Some(a), Comparison::Below) => a < target,
                    (Some(a), Comparison::Above) => a > target,
                    (None, _) => false,
                };
                Some(SloCheck {
                    metric: metric.to_string(),
                    comparison,
                    target,
                    actual,
                    pass,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Summary {
        Summary {
            statements: 1000,
            throughput_qps: 500.0,
            avg_ms: 20.0,
            p50_ms: 10.0,
            p95_ms: 200.0,
            p99_ms: 900.0,
            max_ms: 1500.0,
            slow_pct: 1.0,
            index_hit_ratio: Some(99.5),
            index_usage_ratio: Some(97.0),
            duration_s: 2.0,
            ..Summary::default()
        }
    }

    #[test]
    fn defaults_follow_the_brief_and_pass_a_good_run() {
        let checks = SloTargets::default().evaluate(&good());
        let metrics: Vec<_> = checks.iter().map(|c| c.metric.as_str()).collect();
        assert_eq!(
            metrics,
            ["avg_ms", "p95_ms", "p99_ms", "slow_pct", "index_hit_ratio"]
        );
        assert!(checks.iter().all(|c| c.pass), "{checks:?}");
    }

    #[test]
    fn limits_are_strict() {
        let mut s = good();
        s.avg_ms = 100.0;
        s.index_hit_ratio = Some(98.0);
        let checks = SloTargets::default().evaluate(&s);
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| c.metric.as_str())
            .collect();
        assert_eq!(failed, ["avg_ms", "index_hit_ratio"]);
    }

    #[test]
    fn unmeasured_metrics_fail_with_null_actual() {
        let mut s = good();
        s.index_hit_ratio = None;
        let checks = SloTargets::default().evaluate(&s);
        let hit = checks
            .iter()
            .find(|c| c.metric == "index_hit_ratio")
            .expect("present");
        assert_eq!(hit.actual, None);
        assert!(!hit.pass);

        let empty = Summary::default();
        let checks = SloTargets::default().evaluate(&empty);
        assert!(
            checks.iter().all(|c| !c.pass && c.actual.is_none()),
            "{checks:?}"
        );
        let json = serde_json::to_value(&checks[0]).expect("json");
        assert!(json["actual"].is_null(), "{json}");
        assert_eq!(json["comparison"], "<");
    }

    #[test]
    fn toml_overrides_disables_and_keeps_defaults() {
        let t = SloTargets::from_toml_str(
            "p95_ms = 250\nindex_hit_ratio = false\nslow_threshold_ms = 500\nthroughput_qps = 1000\n",
            "slo.toml",
        )
        .expect("valid");
        assert_eq!(t.avg_ms, Some(100.0));
        assert_eq!(t.p95_ms, Some(250.0));
        assert_eq!(t.index_hit_ratio, None);
        assert_eq!(t.slow_threshold_ms, 500.0);
        assert_eq!(t.throughput_qps, Some(1000.0));
        let checks = t.evaluate(&good());
        assert!(checks.iter().all(|c| c.metric != "index_hit_ratio"));
        let p95 = checks.iter().find(|c| c.metric == "p95_ms").expect("p95");
        assert!(p95.pass);
        let qps = checks
            .iter()
            .find(|c| c.metric == "throughput_qps")
            .expect("qps");
        assert!(!qps.pass);
    }

    #[test]
    fn empty_file_means_defaults() {
        let t = SloTargets::from_toml_str("", "slo.toml").expect("valid");
        assert_eq!(t, SloTargets::default());
    }

    #[test]
    fn unknown_keys_are_reported_with_file_line_and_column() {
        let err = SloTargets::from_toml_str("avg_ms = 50\n  p59_ms = 10\n", "conf/slo.toml")
            .expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.starts_with("conf/slo.toml:2:3: "), "{msg}");
        assert!(msg.contains("p59_ms"), "{msg}");
    }

    #[test]
    fn bad_values_are_reported_with_position() {
        let err = SloTargets::from_toml_str("avg_ms = \"fast\"\n", "s.toml").expect_err("bad");
        assert!(err.to_string().starts_with("s.toml:1:10: "), "{err}");
        let err =
            SloTargets::from_toml_str("\nslow_threshold_ms = 0\n", "s.toml").expect_err("bad");
        assert!(err.to_string().starts_with("s.toml:2:1: "), "{err}");
        let err = SloTargets::from_toml_str("avg_ms = [", "s.toml").expect_err("syntax");
        assert!(err.to_string().starts_with("s.toml:1:"), "{err}");
    }
}
