//! `plan.low_cache_hit`: a node read most of its blocks from outside shared
//! buffers (hit ratio < 90 % over ≥ 1000 blocks): its working set is not cached.

use crate::rules::{finding, fmt_num, num, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.low_cache_hit";
const MAX_HIT_RATIO: f64 = 0.9;
const MIN_BLOCKS: f64 = 1000.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let tree = &input.tree;
    let mut out = Vec::new();
    for r in tree.nodes() {
        let Some((hit, read)) = tree.exclusive_shared(r.index) else {
            continue;
        };
        let total = hit + read;
        if total < MIN_BLOCKS {
            continue;
        }
        let ratio = hit / total;
        if ratio >= MAX_HIT_RATIO {
            continue;
        }
        let n = r.node;
        let label = n.label();
        let io_ms = n.io_read_time.or(n.shared_io_read_time);
        let ms = io_ms.or_else(|| tree.exclusive_ms(r.index));
        // Reading from the OS cache is often cheap: never more than a warning.
        let severity = input.by_share(Severity::Info, ms).min(Severity::Warning);
        let mut f = finding(
            ID,
            severity,
            format!(
                "{label} found {:.0}% of {} blocks in shared buffers",
                ratio * 100.0,
                fmt_num(total)
            ),
            format!(
                "{label} read {} blocks ({} MB) from outside shared buffers and found only {} in \
                 cache (hit ratio {:.1}%). The data it needs is not in PostgreSQL's cache; each \
                 read goes to the OS cache or the disk.{} If this is a sequential scan of a large \
                 table, reading less (an index) helps more than a bigger cache.",
                fmt_num(read),
                fmt_num((read * 8.0 / 1024.0).round()),
                fmt_num(hit),
                ratio * 100.0,
                io_ms
                    .map(|t| format!(" Reads took {t:.1} ms."))
                    .unwrap_or_default()
            ),
        );
        f.fix_hint = Some(
            "Reduce the blocks read (index, narrower scan), or make the working set fit: raise \
             shared_buffers, or warm it with pg_prewarm."
                .to_string(),
        );
        f.table = n.qualified_table();
        f.evidence.insert("shared_hit_blocks".into(), num(hit));
        f.evidence.insert("shared_read_blocks".into(), num(read));
        f.evidence
            .insert("hit_ratio".into(), num((ratio * 1000.0).round() / 1000.0));
        if let Some(t) = io_ms {
            f.evidence.insert("io_read_time_ms".into(), num(t));
        }
        f.impact_ms = ms;
        f.node = input.location(r.index);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::rules::test_support::run;

    #[test]
    fn fires_on_uncached_scan() {
        let f = run("low_cache_hit.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("audit_logs"));
    }

    #[test]
    fn quiet_when_cached() {
        // 49 531 hits and 413 reads.
        assert!(run("index_only_heap_fetches.json", super::ID).is_empty());
        assert!(run("cached_lookup.json", super::ID).is_empty());
    }
}
