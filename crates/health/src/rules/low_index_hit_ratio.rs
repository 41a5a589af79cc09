//! `health.low_index_hit_ratio`: PgHero's index cache hit rate — index blocks found
//! in shared buffers ÷ all index blocks read — below 99 %, judged only with enough
//! data (see [`super::hit_ratio_judgeable`]).

use pgpilot_findings::{Finding, Severity};

use super::low_cache_hit_ratio::{CRITICAL_HIT_PERCENT, MIN_HIT_PERCENT};
use super::{ev, finding, hit_ratio_judgeable, round1};
use crate::facts::HealthFacts;

/// Rule id.
pub(crate) const ID: &str = "health.low_index_hit_ratio";

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let (hit, read) = facts
        .indexes
        .iter()
        .fold((0i64, 0i64), |(h, r), i| (h + i.blks_hit, r + i.blks_read));
    let bytes: i64 = facts.indexes.iter().map(|i| i.bytes).sum();
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
        format!("Index cache hit ratio is {pct:.1} % (below {MIN_HIT_PERCENT} %)"),
        format!(
            "{read} of {} index block reads missed shared_buffers. Hot indexes should stay in \
             memory; when they do not, every index lookup can wait on I/O.",
            hit + read
        ),
    );
    f.fix_hint = Some(
        "Drop unused and duplicate indexes (health.unused_index, health.duplicate_index) so \
         the useful ones fit, rebuild bloated ones, or give shared_buffers more memory."
            .into(),
    );
    ev(&mut f, "hit_percent", round1(pct));
    ev(&mut f, "blocks_hit", hit);
    ev(&mut f, "blocks_read", read);
    vec![f]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    #[test]
    fn fires_when_index_reads_miss() {
        let mut i = index("t", "i", &["a"]);
        i.blks_hit = 500_000;
        i.blks_read = 500_000;
        let v = check(&facts(vec![], vec![i]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Critical);
    }

    #[test]
    fn quiet_with_few_reads() {
        let mut i = index("t", "i", &["a"]);
        i.blks_hit = 10_000;
        i.blks_read = 30_000;
        assert!(check(&facts(vec![], vec![i])).is_empty());
    }
}
