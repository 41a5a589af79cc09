//! `plan.lossy_bitmap`: a Bitmap Heap Scan's bitmap did not fit in `work_mem` and
//! became lossy: whole pages must be rechecked row by row.

use crate::rules::{finding, fmt_num, num, work_mem_for, Input};
use crate::{Finding, Severity};

pub(crate) const ID: &str = "plan.lossy_bitmap";
/// Approximate bitmap memory per heap page, in bytes.
const BYTES_PER_PAGE: f64 = 128.0;

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in input.tree.nodes() {
        let n = r.node;
        let lossy = n.lossy_heap_blocks.unwrap_or(0.0);
        if n.base_type() != "Bitmap Heap Scan" || lossy <= 0.0 {
            continue;
        }
        let exact = n.exact_heap_blocks.unwrap_or(0.0);
        let pages = exact + lossy;
        let need_kb = pages * BYTES_PER_PAGE / 1024.0 * 1.5;
        let work_mem = work_mem_for(need_kb);
        let lossy_share = lossy / pages.max(1.0);
        let base = if lossy_share >= 0.1 {
            Severity::Warning
        } else {
            Severity::Info
        };
        let ms = input.tree.inclusive_ms(r.index);
        let label = n.label();
        let rechecked =
            n.rows_removed_by_index_recheck.unwrap_or(0.0) * n.actual_loops.unwrap_or(1.0);
        let mut f = finding(
            ID,
            input.by_share(base, ms),
            format!("lossy bitmap in {label}: {} of {} heap blocks lossy", fmt_num(lossy), fmt_num(pages)),
            format!(
                "The bitmap of {label} outgrew work_mem, so {} of {} heap blocks were tracked per page \
                 instead of per row ({:.0}%). Every row of a lossy page is re-checked against the \
                 condition{}. About work_mem = '{work_mem}' keeps the bitmap exact.",
                fmt_num(lossy),
                fmt_num(pages),
                lossy_share * 100.0,
                if rechecked > 0.0 {
                    format!("; the recheck discarded {} rows", fmt_num(rechecked))
                } else {
                    String::new()
                }
            ),
        );
        f.fix_sql = Some(format!("SET work_mem = '{work_mem}';"));
        f.fix_hint = Some(
            "Raise work_mem for this query or role; a more selective index condition also shrinks the bitmap."
                .to_string(),
        );
        f.table = n.qualified_table();
        f.evidence.insert("lossy_heap_blocks".into(), num(lossy));
        f.evidence.insert("exact_heap_blocks".into(), num(exact));
        f.evidence
            .insert("rows_removed_by_index_recheck".into(), num(rechecked));
        f.evidence
            .insert("suggested_work_mem".into(), work_mem.as_str().into());
        if let Some(w) = input.plan.settings.get("work_mem") {
            f.evidence.insert("work_mem".into(), w.as_str().into());
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
    fn fires_on_lossy_blocks() {
        let f = run("bitmap_lossy.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].table.as_deref(), Some("audit_logs"));
        assert!(f[0]
            .fix_sql
            .as_deref()
            .is_some_and(|s| s.starts_with("SET work_mem")));
    }

    #[test]
    fn quiet_when_the_bitmap_is_exact() {
        assert!(run("bitmap_exact.json", super::ID).is_empty());
        assert!(run("users_recent_indexed.json", super::ID).is_empty());
    }
}
