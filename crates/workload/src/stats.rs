//! [`QueryStats`]: everything known about one statement fingerprint.

use serde::{Deserialize, Serialize};

use crate::hist::LatencyHistogram;
use crate::layout::{placeholders, positional, Pending};
use crate::sets::{CountSet, Reservoir};
use crate::Fingerprint;

/// Count and total time of a protocol phase (parse or bind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PhaseTime {
    /// Logged messages of this phase.
    pub count: u64,
    /// Their total time in microseconds.
    pub total_us: u64,
}

impl PhaseTime {
    /// Adds one message.
    pub fn add(&mut self, us: u64) {
        self.count += 1;
        self.total_us += us;
    }
    fn merge(&mut self, o: &PhaseTime) {
        self.count += o.count;
        self.total_us += o.total_us;
    }
}

/// One auto_explain plan kept as a sample (the slowest few per fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplePlan {
    /// Duration of the explained execution (ms).
    pub duration_ms: f64,
    /// `"text"` or `"json"`.
    pub format: String,
    /// The plan (text or the whole JSON document).
    pub plan: String,
    /// The query text as logged (may contain literal values).
    pub query: Option<String>,
    /// When it was logged (µs since the epoch, UTC).
    pub time_us: Option<i64>,
}

/// What `pg_stat_statements` said about a fingerprint (summed over its entries).
/// pgss keeps no per-call latencies: percentiles derived from this are estimates.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PgssStats {
    /// Calls.
    pub calls: u64,
    /// Total execution time (ms).
    pub total_ms: f64,
    /// Sum of squared execution times (ms²), rebuilt from mean and stddev so
    /// entries combine exactly.
    pub sum_sq_ms2: f64,
    /// Smallest min_exec_time (ms).
    pub min_ms: Option<f64>,
    /// Largest max_exec_time (ms).
    pub max_ms: Option<f64>,
    /// Rows.
    pub rows: u64,
    /// shared_blks_hit.
    pub shared_blks_hit: u64,
    /// shared_blks_read.
    pub shared_blks_read: u64,
    /// queryids seen (at most 16 kept).
    #[serde(default)]
    pub queryids: Vec<i64>,
}

impl PgssStats {
    /// Mean (ms).
    pub fn mean_ms(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.total_ms / self.calls as f64)
    }

    /// Population standard deviation (ms).
    pub fn stddev_ms(&self) -> Option<f64> {
        let m = self.mean_ms()?;
        Some(
            (self.sum_sq_ms2 / self.calls as f64 - m * m)
                .max(0.0)
                .sqrt(),
        )
    }

    /// Quantile `q` from a lognormal with this mean and stddev, clamped to min/max.
    pub fn estimate_ms(&self, q: f64) -> Option<f64> {
        let (m, s) = (self.mean_ms()?, self.stddev_ms()?);
        let z = normal_quantile(q);
        let v = if m <= 0.0 || s <= 0.0 {
            m
        } else {
            let sigma2 = (1.0 + (s * s) / (m * m)).ln();
            (m.ln() - sigma2 / 2.0 + sigma2.sqrt() * z).exp()
        };
        let v = self.min_ms.map_or(v, |lo| v.max(lo));
        Some(self.max_ms.map_or(v, |hi| v.min(hi)))
    }

    pub(crate) fn merge(&mut self, o: &PgssStats) {
        self.calls += o.calls;
        self.total_ms += o.total_ms;
        self.sum_sq_ms2 += o.sum_sq_ms2;
        self.min_ms = opt_min(self.min_ms, o.min_ms);
        self.max_ms = opt_max(self.max_ms, o.max_ms);
        self.rows += o.rows;
        self.shared_blks_hit += o.shared_blks_hit;
        self.shared_blks_read += o.shared_blks_read;
        for q in &o.queryids {
            if !self.queryids.contains(q) && self.queryids.len() < 16 {
                self.queryids.push(*q);
            }
        }
        self.queryids.sort_unstable();
    }
}

/// Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    const A: [f64; 6] = [
        -39.696_830_286_653_76,
        220.946_098_424_520_5,
        -275.928_510_446_968_7,
        138.357_751_867_269,
        -30.664_798_066_147_16,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -54.476_098_798_224_06,
        161.585_836_858_040_9,
        -155.698_979_859_886_6,
        66.801_311_887_719_72,
        -13.280_681_552_885_72,
    ];
    const C: [f64; 6] = [
        -0.007_784_894_002_430_293,
        -0.322_396_458_041_136_4,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        0.007_784_695_709_041_462,
        0.322_467_129_070_039_8,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

pub(crate) fn opt_min<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

pub(crate) fn opt_max<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// A percentile and whether it was measured or estimated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentile {
    /// Milliseconds.
    pub ms: f64,
    /// True when derived from pg_stat_statements mean/stddev, not measured.
    pub estimated: bool,
}

/// Everything known about one statement fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryStats {
    /// pgpilot-sql fingerprint.
    pub fingerprint: Fingerprint,
    /// Normalized text (constants replaced by `$n`).
    pub query: String,
    /// The parser's message when the SQL could not be parsed (still grouped and counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_error: Option<String>,
    /// Executions (from logs: events with `counts_as_execution()`; plus pgss calls).
    pub calls: u64,
    /// Executions with a known duration (histogram count plus pgss calls).
    pub timed_calls: u64,
    /// Total execution time in microseconds (parse, bind and fetch excluded).
    pub total_us: u64,
    /// Fastest timed execution (µs).
    pub min_us: Option<u64>,
    /// Slowest timed execution (µs).
    pub max_us: Option<u64>,
    /// Per-call latencies measured from logs.
    #[serde(default)]
    pub histogram: LatencyHistogram,
    /// Rows, where known (pg_stat_statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Extended-protocol parse messages.
    #[serde(default)]
    pub parse: PhaseTime,
    /// Extended-protocol bind messages.
    #[serde(default)]
    pub bind: PhaseTime,
    /// `execute fetch from` messages (more rows of a counted execution).
    #[serde(default)]
    pub fetch: PhaseTime,
    /// Calls per database.
    #[serde(default)]
    pub databases: CountSet,
    /// Calls per user.
    #[serde(default)]
    pub users: CountSet,
    /// Calls per application_name.
    #[serde(default)]
    pub applications: CountSet,
    /// First execution (µs since the epoch, UTC).
    pub first_seen_us: Option<i64>,
    /// Last execution (µs since the epoch, UTC).
    pub last_seen_us: Option<i64>,
    /// Sampled parameter values of real executions, numbered for `query`.
    #[serde(default)]
    pub samples: Reservoir,
    /// Samples of a workload being built, in text-independent order; numbered
    /// into `samples` by [`QueryStats::finish_samples`].
    #[serde(skip)]
    pub(crate) pending: Pending,
    /// The slowest auto_explain plans, slowest first.
    #[serde(default)]
    pub plans: Vec<SamplePlan>,
    /// What pg_stat_statements reported, if merged from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgss: Option<PgssStats>,
}

impl QueryStats {
    /// An empty entry.
    pub fn new(fingerprint: Fingerprint, query: String, parse_error: Option<String>) -> Self {
        QueryStats {
            fingerprint,
            query,
            parse_error,
            calls: 0,
            timed_calls: 0,
            total_us: 0,
            min_us: None,
            max_us: None,
            histogram: LatencyHistogram::new(),
            rows: None,
            parse: PhaseTime::default(),
            bind: PhaseTime::default(),
            fetch: PhaseTime::default(),
            databases: CountSet::default(),
            users: CountSet::default(),
            applications: CountSet::default(),
            first_seen_us: None,
            last_seen_us: None,
            samples: Reservoir::default(),
            pending: Pending::default(),
            plans: Vec::new(),
            pgss: None,
        }
    }

    /// Records one timed execution of `us` microseconds.
    #[inline]
    pub fn record_time(&mut self, us: u64) {
        self.histogram.record_us(us);
        self.timed_calls += 1;
        self.total_us += us;
        self.min_us = Some(self.min_us.map_or(us, |m| m.min(us)));
        self.max_us = Some(self.max_us.map_or(us, |m| m.max(us)));
    }

    /// Records an execution at `t` whose normalized text is `text`: the text
    /// shown for a fingerprint is that of its earliest execution (ties: the
    /// smallest text), so it does not depend on how a log was split or merged.
    /// Samples already numbered are renumbered for the new text.
    #[inline]
    pub fn seen_text(&mut self, t: Option<i64>, text: &str) {
        if let Some(t) = t {
            let earlier = match self.first_seen_us {
                None => true,
                Some(f) => t < f || (t == f && text < self.query.as_str()),
            };
            if earlier && text != self.query {
                self.samples.renumber_text(&self.query, text);
                self.query = text.to_string();
            }
        }
        self.seen(t);
    }

    /// Offers the parameter values of one execution whose normalized text has
    /// the placeholders `order` (in order of appearance; see
    /// [`pgpilot_sql::scan`]): `numbered` gives `$1..$n` of that text and is
    /// only called when the sample is kept. The sample is stored in
    /// text-independent order and numbered for the representative text by
    /// [`QueryStats::finish_samples`], so executions of one fingerprint with
    /// differently numbered texts bind the right values.
    pub(crate) fn offer_sample(
        &mut self,
        priority: u64,
        k: usize,
        numbered: impl FnOnce() -> (Vec<Option<String>>, Vec<usize>),
    ) {
        self.pending.offer(priority, k, || {
            let (values, order) = numbered();
            positional(&values, &order)
        });
    }

    /// Numbers the samples offered while building for the representative text
    /// (`query`, final once every execution was merged) and keeps the `k` with
    /// the lowest priority in `samples`; those whose placeholder count differs
    /// from the text's are dropped and counted in [`Reservoir::mismatched`].
    pub(crate) fn finish_samples(&mut self, k: usize) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.samples
            .add_pending(pending, &placeholders(&self.query), k);
    }

    /// True when this entry's text should replace one first seen at `first`.
    fn text_precedes(&self, first: Option<i64>, text: &str) -> bool {
        match (self.first_seen_us, first) {
            (Some(a), Some(b)) => a < b || (a == b && self.query.as_str() < text),
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// Widens first/last seen to include `t`.
    #[inline]
    pub fn seen(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.first_seen_us = Some(self.first_seen_us.map_or(t, |f| f.min(t)));
            self.last_seen_us = Some(self.last_seen_us.map_or(t, |l| l.max(t)));
        }
    }

    /// Total execution time (ms).
    pub fn total_ms(&self) -> f64 {
        self.total_us as f64 / 1000.0
    }

    /// Mean execution time over timed calls (ms).
    pub fn mean_ms(&self) -> Option<f64> {
        (self.timed_calls > 0).then(|| self.total_ms() / self.timed_calls as f64)
    }

    /// Quantile `q`: measured from the histogram when it has data, else
    /// estimated from pg_stat_statements (flagged), else `None`.
    pub fn percentile(&self, q: f64) -> Option<Percentile> {
        if let Some(ms) = self.histogram.quantile_ms(q) {
            return Some(Percentile {
                ms,
                estimated: false,
            });
        }
        let ms = self.pgss.as_ref()?.estimate_ms(q)?;
        Some(Percentile {
            ms,
            estimated: true,
        })
    }

    /// Whether the percentiles are estimates (no measured latencies).
    pub fn percentiles_estimated(&self) -> bool {
        self.histogram.is_empty() && self.pgss.as_ref().is_some_and(|p| p.calls > 0)
    }

    /// Offers a plan; keeps the `keep` slowest (ties: earlier first).
    pub fn offer_plan(&mut self, plan: SamplePlan, keep: usize) {
        self.plans.push(plan);
        self.plans.sort_by(|a, b| {
            b.duration_ms
                .total_cmp(&a.duration_ms)
                .then_with(|| a.time_us.cmp(&b.time_us))
                .then_with(|| a.plan.cmp(&b.plan))
        });
        self.plans.truncate(keep);
    }

    /// Whether a plan of `duration_ms` would be kept.
    pub fn wants_plan(&self, duration_ms: f64, keep: usize) -> bool {
        keep > 0
            && (self.plans.len() < keep
                || self
                    .plans
                    .last()
                    .is_some_and(|p| duration_ms > p.duration_ms))
    }

    /// Exact merge of another entry for the same fingerprint.
    /// Samples are renumbered for the text kept (see [`Reservoir::mismatched`]).
    pub fn merge(&mut self, o: &QueryStats, caps: &Caps) {
        if (self.query.is_empty() || o.text_precedes(self.first_seen_us, &self.query))
            && self.query != o.query
        {
            self.samples.renumber_text(&self.query, &o.query);
            self.query.clone_from(&o.query);
        }
        if self.parse_error.is_none() {
            self.parse_error.clone_from(&o.parse_error);
        }
        self.calls += o.calls;
        self.timed_calls += o.timed_calls;
        self.total_us += o.total_us;
        self.min_us = opt_min(self.min_us, o.min_us);
        self.max_us = opt_max(self.max_us, o.max_us);
        self.histogram.add(&o.histogram);
        self.rows = match (self.rows, o.rows) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.parse.merge(&o.parse);
        self.bind.merge(&o.bind);
        self.fetch.merge(&o.fetch);
        self.databases.merge(&o.databases, caps.names);
        self.users.merge(&o.users, caps.names);
        self.applications.merge(&o.applications, caps.names);
        self.first_seen_us = opt_min(self.first_seen_us, o.first_seen_us);
        self.last_seen_us = opt_max(self.last_seen_us, o.last_seen_us);
        if o.query == self.query || o.samples.samples.is_empty() {
            self.samples.merge(&o.samples, caps.samples);
        } else {
            let mut theirs = o.samples.clone();
            theirs.renumber_text(&o.query, &self.query);
            self.samples.merge(&theirs, caps.samples);
        }
        self.pending.merge(&o.pending, caps.samples);
        for p in &o.plans {
            self.offer_plan(p.clone(), caps.plans);
        }
        match (&mut self.pgss, &o.pgss) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.pgss = Some(b.clone()),
            _ => {}
        }
    }
}

/// Caps applied when merging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    /// Names kept per set.
    pub names: usize,
    /// Parameter samples kept.
    pub samples: usize,
    /// Plans kept.
    pub plans: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            names: CountSet::DEFAULT_CAP,
            samples: 20,
            plans: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.95) - 1.644_853_6).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.326_347_9).abs() < 1e-6);
    }

    #[test]
    fn pgss_estimates_are_flagged_and_clamped() {
        let mut q = QueryStats::new(Fingerprint(1), "SELECT $1".into(), None);
        q.pgss = Some(PgssStats {
            calls: 100,
            total_ms: 200.0,
            sum_sq_ms2: 100.0 * (4.0 + 1.0),
            min_ms: Some(0.5),
            max_ms: Some(2.5),
            ..PgssStats::default()
        });
        let p = q.percentile(0.99).unwrap_or(Percentile {
            ms: 0.0,
            estimated: false,
        });
        assert!(p.estimated && p.ms <= 2.5 && p.ms > 2.0, "{p:?}");
        assert!(q.percentiles_estimated());
        q.record_time(1000);
        assert_eq!(q.percentile(0.5).map(|p| p.estimated), Some(false));
        assert_eq!(q.pgss.as_ref().and_then(PgssStats::stddev_ms), Some(1.0));
    }

    #[test]
    fn merge_is_exact() {
        let caps = Caps::default();
        let mut a = QueryStats::new(Fingerprint(1), "q".into(), None);
        let mut b = a.clone();
        let mut all = a.clone();
        for us in 1..1000u64 {
            let t = Some(us as i64);
            if us % 2 == 0 {
                a.record_time(us);
                a.calls += 1;
                a.seen(t)
            } else {
                b.record_time(us);
                b.calls += 1;
                b.seen(t)
            }
            all.record_time(us);
            all.calls += 1;
            all.seen(t);
        }
        a.merge(&b, &caps);
        assert_eq!(
            (a.calls, a.total_us, a.min_us, a.max_us),
            (all.calls, all.total_us, all.min_us, all.max_us)
        );
        assert_eq!((a.first_seen_us, a.last_seen_us), (Some(1), Some(999)));
        assert_eq!(a.histogram, all.histogram);
    }
}
