//! `health.table_needs_index`: PgHero's rule — a table of at least 10 000 rows
//! whose scans use an index less than 95 % of the time. Needs a minimum number of
//! scans so a freshly loaded table (a few scans from the load itself) is not judged.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, round1};
use crate::facts::HealthFacts;
use crate::inventory::percent;

/// Rule id.
pub(crate) const ID: &str = "health.table_needs_index";
/// PgHero's minimum table size.
const MIN_ROWS: i64 = 10_000;
/// PgHero's threshold: index used in fewer than this percentage of scans.
const MAX_INDEX_PERCENT: f64 = 95.0;
/// Too few scans to judge below this.
const MIN_SCANS: i64 = 100;

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for t in &facts.tables {
        let idx = t.idx_scan.unwrap_or(0);
        let total = idx + t.seq_scan;
        if t.live_tuples < MIN_ROWS || total < MIN_SCANS {
            continue;
        }
        let Some(pct) = percent(idx, total) else {
            continue;
        };
        if pct >= MAX_INDEX_PERCENT {
            continue;
        }
        let name = t.display_name();
        let mut f = finding(
            ID,
            Severity::Warning,
            format!(
                "{name} is read by sequential scans {:.0} % of the time ({} rows)",
                100.0 - pct,
                t.live_tuples
            ),
            format!(
                "Of {total} scans of {name}, {} read the whole table ({} rows each). Queries \
                 filtering this table probably lack an index.",
                t.seq_scan, t.live_tuples
            ),
        );
        f.fix_hint = Some(format!(
            "Find the queries that scan {name} (pgpilot explain --workload) and index the \
             columns they filter on; pgpilot advise proposes and verifies the indexes."
        ));
        f.table = Some(name);
        ev(&mut f, "seq_scans", t.seq_scan);
        ev(&mut f, "index_scans", idx);
        ev(&mut f, "index_used_percent", round1(pct));
        ev(&mut f, "live_rows", t.live_tuples);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, table};

    #[test]
    fn fires_on_a_big_mostly_seq_scanned_table() {
        let mut t = table("audit_logs", 50_000);
        t.seq_scan = 500;
        t.idx_scan = Some(100);
        let v = check(&facts(vec![t], vec![]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].evidence["index_used_percent"], 16.7);
    }

    #[test]
    fn quiet_on_small_tables_few_scans_or_good_usage() {
        let mut small = table("roles", 12);
        small.seq_scan = 10_000;
        let mut fresh = table("accounts", 100_000);
        fresh.seq_scan = 2;
        let mut good = table("users", 100_000);
        good.seq_scan = 10;
        good.idx_scan = Some(10_000);
        assert!(check(&facts(vec![small, fresh, good], vec![])).is_empty());
    }
}
