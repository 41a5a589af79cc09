//! `plan.heap_fetches`: an Index Only Scan had to visit the heap for many rows
//! because the visibility map is out of date. VACUUM sets it again.

use crate::rules::{finding, fmt_num, num, qualified, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.heap_fetches";
const MIN_FETCHES: f64 = 100.0;
/// Heap fetches per returned row above which the scan is no longer "index only".
const MIN_RATIO: f64 = 0.1;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in input.tree.nodes() {
        let n = r.node;
        if n.base_type() != "Index Only Scan" {
            continue;
        }
        let fetches = n.heap_fetches.unwrap_or(0.0);
        let rows = n.total_rows().unwrap_or(0.0);
        let ratio = fetches / rows.max(1.0);
        if fetches < MIN_FETCHES || ratio < MIN_RATIO {
            continue;
        }
        let ms = input.tree.inclusive_ms(r.index);
        let label = n.label();
        let base = if ratio >= 0.5 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut f = finding(
            ID,
            input.by_share(base, ms),
            format!(
                "{label} fetched {} heap rows for {} returned",
                fmt_num(fetches),
                fmt_num(rows)
            ),
            format!(
                "{label} is meant to answer from the index alone, but {} rows ({:.0}% of those \
                 returned) needed a visit to the table because their pages are not marked \
                 all-visible. VACUUM updates the visibility map; frequent updates or a lagging \
                 autovacuum cause this.",
                fmt_num(fetches),
                ratio.min(1.0) * 100.0
            ),
        );
        if let Some(t) = n.qualified_table() {
            f.fix_sql = Some(format!("VACUUM (ANALYZE) {};", qualified(&t)));
            f.fix_hint = Some(format!(
                "If it comes back, make autovacuum visit the table more often: ALTER TABLE {} SET \
                 (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);",
                qualified(&t)
            ));
            f.table = Some(t);
        }
        f.evidence.insert("heap_fetches".into(), num(fetches));
        f.evidence.insert("rows".into(), num(rows));
        f.evidence
            .insert("fetch_ratio".into(), num((ratio * 1000.0).round() / 1000.0));
        if let Some(ix) = &n.index_name {
            f.evidence.insert("index".into(), ix.as_str().into());
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
    fn fires_before_vacuum() {
        let f = run("index_only_heap_fetches.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].fix_sql.as_deref(), Some("VACUUM (ANALYZE) sessions;"));
    }

    #[test]
    fn quiet_after_vacuum() {
        assert!(run("index_only_vacuumed.json", super::ID).is_empty());
    }
}
