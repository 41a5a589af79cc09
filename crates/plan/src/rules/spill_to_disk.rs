//! `plan.spill_to_disk`: a sort, hash or hash aggregate did not fit in `work_mem`
//! and spilled to temporary files (external sort, hash batches > 1, temp blocks
//! written). Says the `work_mem` that would fit.

use crate::rules::{finding, fmt_num, num, work_mem_for, Input};
use crate::{Finding, Node, Severity};

pub(crate) const ID: &str = "plan.spill_to_disk";
const BLOCK_KB: f64 = 8.0;

/// What spilled, and the memory in kB that would have avoided it.
fn spill(n: &Node, own_temp_written: f64) -> Option<(&'static str, f64)> {
    match n.base_type() {
        "Sort" | "Incremental Sort" => {
            let disk = n.sort_space_type.as_deref() == Some("Disk")
                || n.sort_method
                    .as_deref()
                    .is_some_and(|m| m.contains("external"));
            // An in-memory sort needs more than its on-disk size (tuple headers, array).
            disk.then(|| {
                (
                    "sort",
                    n.sort_space_used.unwrap_or(own_temp_written * BLOCK_KB) * 2.0,
                )
            })
        }
        "Hash" => {
            let batches = n
                .hash_batches
                .unwrap_or(1.0)
                .max(n.original_hash_batches.unwrap_or(1.0));
            (batches > 1.0).then(|| ("hash", n.peak_memory_usage.unwrap_or(0.0) * batches))
        }
        "Aggregate" | "SetOp" => {
            let batches = n.hashagg_batches.unwrap_or(1.0);
            let disk = n.disk_usage.unwrap_or(0.0);
            (batches > 1.0 || disk > 0.0).then(|| {
                let by_batches = n.peak_memory_usage.unwrap_or(0.0) * batches;
                ("hash aggregate", by_batches.max(disk * 2.0))
            })
        }
        "Materialize"
        | "CTE Scan"
        | "WindowAgg"
        | "Function Scan"
        | "Recursive Union"
        | "Table Function Scan" => (own_temp_written > 0.0)
            .then_some(("materialization", own_temp_written * BLOCK_KB * 2.0)),
        _ => None,
    }
}

pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let tree = &input.tree;
    let mut out = Vec::new();
    for r in tree.nodes() {
        let n = r.node;
        let children_temp: f64 = tree
            .children(r.index)
            .iter()
            .map(|&c| tree.nodes()[c].node.temp_written_blocks.unwrap_or(0.0))
            .sum();
        let own_temp = (n.temp_written_blocks.unwrap_or(0.0) - children_temp).max(0.0);
        let Some((what, need_kb)) = spill(n, own_temp) else {
            continue;
        };
        let need_kb = need_kb.max(1024.0);
        let work_mem = work_mem_for(need_kb);
        let ms = tree.inclusive_ms(r.index);
        let label = n.label();
        let short = match what {
            "sort" => format!(
                "{}, {} kB on disk",
                n.sort_method.as_deref().unwrap_or("external sort"),
                fmt_num(n.sort_space_used.unwrap_or(own_temp * BLOCK_KB))
            ),
            "hash" => format!("{} batches", fmt_num(n.hash_batches.unwrap_or(0.0))),
            "hash aggregate" => format!("{} batches", fmt_num(n.hashagg_batches.unwrap_or(1.0))),
            _ => format!("{} temp blocks", fmt_num(own_temp)),
        };
        let title = format!("{label} spilled to disk ({short}); work_mem = '{work_mem}' would fit");
        let detail = match what {
            "sort" => format!(
                "{label} used an external sort ({}) with {} kB on disk.",
                n.sort_method.as_deref().unwrap_or("external"),
                fmt_num(n.sort_space_used.unwrap_or(own_temp * BLOCK_KB))
            ),
            "hash" => format!(
                "{label} split its hash table into {} batches (planned {}) of about {} kB each, \
                 writing the batches to temporary files.",
                fmt_num(n.hash_batches.unwrap_or(0.0)),
                fmt_num(n.original_hash_batches.unwrap_or(0.0)),
                fmt_num(n.peak_memory_usage.unwrap_or(0.0))
            ),
            "hash aggregate" => format!(
                "{label} spilled its hash table in {} batches ({} kB on disk).",
                fmt_num(n.hashagg_batches.unwrap_or(1.0)),
                fmt_num(n.disk_usage.unwrap_or(0.0))
            ),
            _ => format!("{label} wrote {} temporary blocks.", fmt_num(own_temp)),
        };
        let current = input.plan.settings.get("work_mem");
        let explanation = format!(
            "{detail} Temporary-file I/O is much slower than memory. About {} kB of memory would \
             keep it in memory{}.",
            fmt_num(need_kb.round()),
            current
                .map(|w| format!(" (work_mem is {w} for this query)"))
                .unwrap_or_default()
        );
        let mut f = finding(
            ID,
            input.by_share(Severity::Warning, ms),
            title,
            explanation,
        );
        f.fix_sql = Some(format!("SET work_mem = '{work_mem}';"));
        f.fix_hint = Some(format!(
            "Raise work_mem for this query, session or role (ALTER ROLE … SET work_mem = \
             '{work_mem}') rather than server-wide: every sort and hash of every connection may \
             use that much.{}",
            if what.starts_with("hash") {
                " Hash nodes may use work_mem × hash_mem_multiplier, so raising hash_mem_multiplier also helps."
            } else {
                ""
            }
        ));
        f.table = tree
            .table_for_alias_unique(r.index)
            .and_then(|s| s.qualified_table());
        f.columns = n
            .sort_key
            .iter()
            .chain(n.group_key.iter())
            .map(|k| {
                k.split(' ')
                    .next()
                    .unwrap_or(k)
                    .rsplit('.')
                    .next()
                    .unwrap_or(k)
                    .to_string()
            })
            .collect();
        f.evidence.insert("spill".into(), what.into());
        f.evidence
            .insert("memory_needed_kb".into(), num(need_kb.round()));
        f.evidence
            .insert("suggested_work_mem".into(), work_mem.as_str().into());
        if let Some(w) = current {
            f.evidence.insert("work_mem".into(), w.as_str().into());
        }
        if own_temp > 0.0 {
            f.evidence
                .insert("temp_written_blocks".into(), num(own_temp));
        }
        for (k, v) in [
            ("sort_space_used_kb", n.sort_space_used),
            ("hash_batches", n.hash_batches),
            ("original_hash_batches", n.original_hash_batches),
            ("peak_memory_kb", n.peak_memory_usage),
            ("hashagg_batches", n.hashagg_batches),
            ("disk_usage_kb", n.disk_usage),
        ] {
            if let Some(v) = v {
                f.evidence.insert(k.into(), num(v));
            }
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
    fn fires_on_external_sort_and_hash_batches() {
        let f = run("sort_spill.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].fix_sql.as_deref(), Some("SET work_mem = '96MB';"));
        let f = run("hash_spill.json", super::ID);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].fix_sql.as_deref(), Some("SET work_mem = '16MB';"));
        // Text plans: auto_explain's sort and EXPLAIN's hash.
        assert_eq!(run("auto_explain_sort_spill.txt", super::ID).len(), 1);
        assert_eq!(run("hash_spill.txt", super::ID).len(), 1);
    }

    #[test]
    fn quiet_when_it_fits_in_memory() {
        assert!(run("sort_in_memory.json", super::ID).is_empty());
        assert!(run("hash_in_memory.json", super::ID).is_empty());
    }
}
