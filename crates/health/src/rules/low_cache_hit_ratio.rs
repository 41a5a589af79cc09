//! `health.low_cache_hit_ratio`: PgHero's table cache hit rate — heap blocks found
//! in shared buffers ÷ all heap blocks read — below 99 %. Judged only once the
//! workload has touched enough blocks (see [`super::hit_ratio_judgeable`]).

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, hit_ratio_judgeable, round1, setting_i64};
use crate::facts::HealthFacts;

/// Rule id.
pub(crate) const ID: &str = "health.low_cache_hit_ratio";
/// PgHero's threshold, percent.
pub(crate) const MIN_HIT_PERCENT: f64 = 99.0;
/// Below this it is critical, percent.
pub(crate) const CRITICAL_HIT_PERCENT: f64 = 90.0;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let (hit, read) = facts.tables.iter().fold((0i64, 0i64), |(h, r), t| {
        (h + t.heap_blks_hit, r + t.heap_blks_read)
    });
    let bytes: i64 = facts.tables.iter().map(|t| t.table_bytes).sum();
    let Some(pct) = hit_ratio_judgeable(hit, read, bytes, facts) else {
        return vec![];
    };
    if pct >= MIN_HIT_PERCENT {
        return vec![];
    }
    let severity = if pct < CRITICAL_HIT_PERCENT {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let mut f = finding(
        ID,
        severity,
        format!("Table cache hit ratio is {pct:.1} % (below {MIN_HIT_PERCENT} %)"),
        format!(
            "{read} of {} table block reads missed shared_buffers and went to the kernel (and \
             maybe the disk). The working set does not fit in shared_buffers, or queries read \
             far more rows than they need.",
            hit + read
        ),
    );
    f.fix_hint = Some(
        "Look for sequential scans of big tables (health.table_needs_index, pgpilot explain) \
         first; then consider a larger shared_buffers (about 25 % of RAM) or more memory."
            .into(),
    );
    ev(&mut f, "hit_percent", round1(pct));
    ev(&mut f, "blocks_hit", hit);
    ev(&mut f, "blocks_read", read);
    if let Some(sb) = setting_i64(facts, "shared_buffers") {
        ev(&mut f, "shared_buffers_blocks", sb);
    }
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, table};

    #[test]
    fn fires_when_many_reads_miss() {
        let mut t = table("t", 10_000); // 1 MB = 122 blocks
        t.heap_blks_hit = 900_000;
        t.heap_blks_read = 100_000;
        let v = check(&facts(vec![t], vec![]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
    }

    #[test]
    fn quiet_on_too_little_data_or_good_ratio() {
        let mut fresh = table("t", 100_000); // 10 MB: a load reads each block a few times
        fresh.heap_blks_hit = 90_000;
        fresh.heap_blks_read = 3_000;
        assert!(check(&facts(vec![fresh], vec![])).is_empty());
        let mut big = table("t", 100_000_000); // 10 GB, touched about twice per block
        big.heap_blks_hit = 2_000_000;
        big.heap_blks_read = 1_000_000;
        assert!(check(&facts(vec![big], vec![])).is_empty());
        let mut good = table("t", 10_000);
        good.heap_blks_hit = 999_500;
        good.heap_blks_read = 500;
        assert!(check(&facts(vec![good], vec![])).is_empty());
    }
}
