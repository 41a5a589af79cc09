//! The pure part of `verify`: timing statistics, the calls-weighted gain and the
//! verdict of one recommendation from its measured queries. No I/O, so every rule
//! is unit-tested on numbers.

use pgpilot_advisor::{MeasuredQuery, TimingStats, VerifyStatus};

/// The rules a verdict is made with (see [`super::VerifyOptions`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictRules {
    /// Least relative, calls-weighted gain for `verified` (0.10 = 10 % less time).
    pub min_gain: f64,
    /// Relative slowdown of a query's median beyond which it is a regression
    /// (0.10 = 10 %) — and only when the slowdown also exceeds the query's
    /// spread (max − min) before the index, and, for a sub-millisecond query,
    /// reaches [`SUB_MS_NOISE_MS`], so noise on a fast query does not count.
    pub regression_tolerance: f64,
}

impl Default for VerdictRules {
    fn default() -> Self {
        VerdictRules {
            min_gain: 0.10,
            regression_tolerance: 0.10,
        }
    }
}

/// The verdict of one recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Status.
    pub status: VerifyStatus,
    /// Calls-weighted relative gain over the measured queries (0.9 = 90 % less time).
    pub gain: f64,
    /// Why, in a sentence (empty when verified without remark).
    pub note: String,
}

/// Median, fastest and slowest of repeated timings (ms). Empty input gives zeros.
pub fn timing_stats(times_ms: &[f64]) -> TimingStats {
    let mut v: Vec<f64> = times_ms.iter().copied().filter(|t| t.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => 0.0,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    TimingStats {
        median_ms: median,
        min_ms: v.first().copied().unwrap_or(0.0),
        max_ms: v.last().copied().unwrap_or(0.0),
        runs: u32::try_from(n).unwrap_or(u32::MAX),
    }
}

/// `1 − Σ w × after.median / Σ w × before.median`, with `w` the calls of each
/// query (equal weights when no query has calls). 0 when nothing took time before.
pub fn weighted_gain(queries: &[MeasuredQuery]) -> f64 {
    let total_calls: f64 = queries
        .iter()
        .map(|q| q.calls.max(0.0))
        .filter(|c| c.is_finite())
        .sum();
    let weight = |q: &MeasuredQuery| {
        if total_calls > 0.0 && q.calls.is_finite() {
            q.calls.max(0.0)
        } else {
            1.0
        }
    };
    let before: f64 = queries.iter().map(|q| weight(q) * q.before.median_ms).sum();
    let after: f64 = queries.iter().map(|q| weight(q) * q.after.median_ms).sum();
    if before > 0.0 && before.is_finite() && after.is_finite() {
        1.0 - after / before
    } else {
        0.0
    }
}

/// Below this median (ms) before the index, a query is sub-millisecond: its
/// slowdown must also reach [`SUB_MS_NOISE_MS`] to count.
pub const SUB_MS_MEDIAN_MS: f64 = 1.0;

/// Least absolute slowdown (ms) of a sub-millisecond query that counts as a
/// regression: below it, a few tenths of a millisecond of noise (a cache miss, a
/// context switch) would flag it.
pub const SUB_MS_NOISE_MS: f64 = 0.5;

/// Whether a query got slower with the index: its median grew by more than
/// `tolerance` (relative) *and* by more than its spread before the index *and*,
/// when its median before was under [`SUB_MS_MEDIAN_MS`], by at least
/// [`SUB_MS_NOISE_MS`].
pub fn regressed(before: &TimingStats, after: &TimingStats, tolerance: f64) -> bool {
    let slower = after.median_ms - before.median_ms;
    let spread = (before.max_ms - before.min_ms).max(0.0);
    let sub_ms_noise = before.median_ms < SUB_MS_MEDIAN_MS && slower < SUB_MS_NOISE_MS;
    slower > before.median_ms * tolerance && slower > spread && !sub_ms_noise
}

/// The verdict over the measured queries of one recommendation:
///
/// - nothing measured → `skipped`;
/// - a query whose plan uses the index and that [`regressed`] → `regression`
///   (a query whose plan does not use the index runs the plan it ran before, so
///   a difference there is noise, not the index's doing);
/// - no measured plan uses the index → `no_gain` (whatever the timings say);
/// - calls-weighted gain ≥ `min_gain` → `verified`, else `no_gain`.
pub fn judge(queries: &[MeasuredQuery], rules: &VerdictRules) -> Judgement {
    if queries.is_empty() {
        return Judgement {
            status: VerifyStatus::Skipped,
            gain: 0.0,
            note: "no served query could be measured".into(),
        };
    }
    let gain = weighted_gain(queries);
    let regressions: Vec<String> = queries
        .iter()
        .filter(|q| q.uses_index && regressed(&q.before, &q.after, rules.regression_tolerance))
        .map(|q| {
            format!(
                "query {} ({}) got slower: median {} → {} ms ({:+.0} %)",
                q.id,
                shorten(&q.query, 80),
                ms(q.before.median_ms),
                ms(q.after.median_ms),
                relative_change(q.before.median_ms, q.after.median_ms) * 100.0
            )
        })
        .collect();
    if !regressions.is_empty() {
        return Judgement {
            status: VerifyStatus::Regression,
            gain,
            note: format!("regression: {}", regressions.join("; ")),
        };
    }
    if !queries.iter().any(|q| q.uses_index) {
        return Judgement {
            status: VerifyStatus::NoGain,
            gain,
            note: "the planner did not use the index for any measured query".into(),
        };
    }
    if gain >= rules.min_gain {
        Judgement {
            status: VerifyStatus::Verified,
            gain,
            note: String::new(),
        }
    } else {
        Judgement {
            status: VerifyStatus::NoGain,
            gain,
            note: format!(
                "measured gain {:.1} % is below the {:.1} % threshold",
                gain * 100.0,
                rules.min_gain * 100.0
            ),
        }
    }
}

/// `after / before − 1`, 0 when `before` is not positive.
fn relative_change(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        after / before - 1.0
    } else {
        0.0
    }
}

/// Milliseconds for notes: 3 significant digits or so.
pub(crate) fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A byte count for people: `2.4 GiB`, `512 MiB`, `12 KiB`, `300 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    if v >= 10.0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

/// The first `max` characters of a one-line version of `sql`.
pub(crate) fn shorten(sql: &str, max: usize) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(median: f64, min: f64, max: f64) -> TimingStats {
        TimingStats {
            median_ms: median,
            min_ms: min,
            max_ms: max,
            runs: 5,
        }
    }

    fn q(
        id: &str,
        calls: f64,
        before: TimingStats,
        after: TimingStats,
        uses: bool,
    ) -> MeasuredQuery {
        MeasuredQuery {
            id: id.into(),
            query: format!("SELECT {id}"),
            calls,
            before,
            after,
            uses_index: uses,
        }
    }

    #[test]
    fn stats_take_median_and_spread() {
        let s = timing_stats(&[5.0, 1.0, 3.0]);
        assert_eq!(
            (s.median_ms, s.min_ms, s.max_ms, s.runs),
            (3.0, 1.0, 5.0, 3)
        );
        let s = timing_stats(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median_ms, 2.5);
        let s = timing_stats(&[f64::NAN]);
        assert_eq!((s.median_ms, s.runs), (0.0, 0));
    }

    #[test]
    fn gain_is_weighted_by_calls() {
        // A: 10 ms → 1 ms, 100 calls; B: 1 ms → 2 ms, 1000 calls.
        // before = 1000 + 1000 = 2000; after = 100 + 2000 = 2100 → gain −5 %.
        let qs = [
            q(
                "a",
                100.0,
                stats(10.0, 9.0, 11.0),
                stats(1.0, 1.0, 1.0),
                true,
            ),
            q(
                "b",
                1000.0,
                stats(1.0, 1.0, 1.0),
                stats(2.0, 2.0, 2.0),
                true,
            ),
        ];
        assert!((weighted_gain(&qs) + 0.05).abs() < 1e-9);
        // No calls at all: equal weights → 1 − 3/11.
        let qs = [
            q("a", 0.0, stats(10.0, 9.0, 11.0), stats(1.0, 1.0, 1.0), true),
            q("b", 0.0, stats(1.0, 1.0, 1.0), stats(2.0, 2.0, 2.0), true),
        ];
        assert!((weighted_gain(&qs) - (1.0 - 3.0 / 11.0)).abs() < 1e-9);
        assert_eq!(weighted_gain(&[]), 0.0);
    }

    #[test]
    fn regression_needs_both_the_tolerance_and_the_spread() {
        // +20 % but inside a wide spread: noise.
        assert!(!regressed(
            &stats(0.05, 0.03, 0.09),
            &stats(0.06, 0.05, 0.07),
            0.10
        ));
        // +20 % beyond a tight spread: regression.
        assert!(regressed(
            &stats(10.0, 9.9, 10.1),
            &stats(12.0, 11.9, 12.1),
            0.10
        ));
        // +5 %: under the tolerance even with no spread.
        assert!(!regressed(
            &stats(10.0, 10.0, 10.0),
            &stats(10.5, 10.5, 10.5),
            0.10
        ));
        // Faster is never a regression.
        assert!(!regressed(
            &stats(10.0, 5.0, 20.0),
            &stats(1.0, 1.0, 1.0),
            0.10
        ));
    }

    #[test]
    fn sub_millisecond_noise_is_not_a_regression() {
        // 0.20 → 0.45 ms: +125 % beyond a tight spread, but only 0.25 ms.
        assert!(!regressed(
            &stats(0.20, 0.19, 0.21),
            &stats(0.45, 0.44, 0.46),
            0.10
        ));
        // 0.9 → 1.3 ms: +0.4 ms, still noise.
        assert!(!regressed(
            &stats(0.9, 0.89, 0.91),
            &stats(1.3, 1.29, 1.31),
            0.10
        ));
        // 0.3 → 0.9 ms: +0.6 ms beyond the spread, a real regression.
        assert!(regressed(
            &stats(0.3, 0.29, 0.31),
            &stats(0.9, 0.89, 0.91),
            0.10
        ));
        // Not sub-ms before: the absolute floor does not apply (+0.3 ms on 1.5 ms).
        assert!(regressed(
            &stats(1.5, 1.49, 1.51),
            &stats(1.8, 1.79, 1.81),
            0.10
        ));
        // The verdict follows: a sub-ms blip with a big gain elsewhere is verified.
        let blip = q(
            "blip",
            1.0,
            stats(0.1, 0.1, 0.1),
            stats(0.3, 0.3, 0.3),
            true,
        );
        let big = q(
            "big",
            1.0,
            stats(50.0, 49.0, 51.0),
            stats(1.0, 1.0, 1.0),
            true,
        );
        let j = judge(&[blip, big], &VerdictRules::default());
        assert_eq!(j.status, VerifyStatus::Verified, "{}", j.note);
    }

    #[test]
    fn verdicts() {
        let rules = VerdictRules::default();
        let fast = q(
            "a",
            10.0,
            stats(20.0, 19.0, 21.0),
            stats(0.1, 0.1, 0.2),
            true,
        );
        let j = judge(std::slice::from_ref(&fast), &rules);
        assert_eq!(j.status, VerifyStatus::Verified);
        assert!(j.gain > 0.99);

        // A big gain elsewhere does not hide a regression; the note names it.
        let slower = q("b", 1.0, stats(5.0, 4.9, 5.1), stats(9.0, 8.9, 9.1), true);
        let j = judge(&[fast.clone(), slower.clone()], &rules);
        assert_eq!(j.status, VerifyStatus::Regression);
        assert!(j.note.contains("query b"), "{}", j.note);
        assert!(j.gain > 0.5);

        // The same slowdown without the index in the plan is noise.
        let unchanged_plan = MeasuredQuery {
            uses_index: false,
            ..slower
        };
        let j = judge(&[fast, unchanged_plan.clone()], &rules);
        assert_eq!(j.status, VerifyStatus::Verified);

        // No plan uses the index: no gain, even if timings moved.
        let lucky = q(
            "c",
            1.0,
            stats(10.0, 9.0, 11.0),
            stats(5.0, 5.0, 5.0),
            false,
        );
        let j = judge(&[lucky, unchanged_plan], &rules);
        assert_eq!(j.status, VerifyStatus::NoGain);
        assert!(j.note.contains("did not use"), "{}", j.note);

        // Used but too small a gain.
        let small = q("d", 1.0, stats(10.0, 9.0, 11.0), stats(9.5, 9.4, 9.6), true);
        let j = judge(&[small], &rules);
        assert_eq!(j.status, VerifyStatus::NoGain);
        assert!(j.note.contains("below"), "{}", j.note);

        let j = judge(&[], &rules);
        assert_eq!(j.status, VerifyStatus::Skipped);
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(human_bytes(300), "300 B");
        assert_eq!(human_bytes(2 * 1024 * 1024 * 1024), "2.0 GiB");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20 MiB");
        assert_eq!(shorten("SELECT  *\n FROM t", 80), "SELECT * FROM t");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(ms(0.0421), "0.042");
        assert_eq!(ms(12.345), "12.35");
    }
}
