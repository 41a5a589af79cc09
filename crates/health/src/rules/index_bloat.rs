//! `health.index_bloat`: a B-tree much bigger than its rows need. The size it
//! "should" have is **estimated** from statistics (rows, average key width from
//! `pg_stats`, fill factor), in the spirit of the ioguix / PgExperts estimation
//! query, without pgstattuple: treat the numbers as an estimate. B-tree
//! deduplication (PostgreSQL 13+) makes real indexes smaller than the estimate, so
//! the estimate errs towards reporting no bloat.

use pgpilot_findings::{Finding, Severity};
use serde::{Deserialize, Serialize};

use super::{ev, finding, human_bytes, round1, setting_i64};
use crate::facts::{HealthFacts, IndexFacts};
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.index_bloat";
/// PgHero's minimum wasted size.
const MIN_WASTED_BYTES: i64 = 100 * 1024 * 1024;
/// …and the wasted part must be at least this share of the index.
const MIN_WASTED_SHARE: f64 = 0.30;

/// An estimate of how much of an index is wasted space.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BloatEstimate {
    /// Actual size in bytes.
    pub actual_bytes: i64,
    /// Estimated size of a freshly built index with the same rows, bytes.
    pub expected_bytes: i64,
    /// `actual - expected`, never negative.
    pub wasted_bytes: i64,
    /// `wasted ÷ actual`, 0 to 1.
    pub wasted_share: f64,
}

/// Estimates the bloat of a B-tree from statistics; `None` when it is not a B-tree
/// or the statistics are missing (expression keys, never analyzed).
pub fn estimate_btree_bloat(i: &IndexFacts, block_size: i64) -> Option<BloatEstimate> {
    if i.method != "btree" || i.reltuples <= 0.0 || block_size <= 0 {
        return None;
    }
    let width = i.key_avg_width?;
    let block = block_size as f64;
    // Page header (24) and B-tree special space (16).
    let usable = block - 24.0 - 16.0;
    let fill = i.fillfactor.unwrap_or(90).clamp(10, 100) as f64 / 100.0;
    // IndexTupleData (8) + null bitmap (padded away by MAXALIGN) + keys, aligned to
    // 8, plus a 4-byte line pointer.
    let tuple = ((8.0 + width + if i.key_nullable { 1.0 } else { 0.0 }) / 8.0).ceil() * 8.0 + 4.0;
    let per_page = (usable * fill / tuple).floor().max(1.0);
    // Leaf pages, plus about 1 % for inner pages, plus the metapage.
    let leaf = (i.reltuples / per_page).ceil();
    let expected_pages = leaf + (leaf / 100.0).ceil() + 1.0;
    let expected = (expected_pages * block) as i64;
    let wasted = (i.bytes - expected).max(0);
    Some(BloatEstimate {
        actual_bytes: i.bytes,
        expected_bytes: expected,
        wasted_bytes: wasted,
        wasted_share: if i.bytes > 0 {
            wasted as f64 / i.bytes as f64
        } else {
            0.0
        },
    })
}

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let block = setting_i64(facts, "block_size").unwrap_or(8192);
    let reindex_concurrently = facts.server.version_num == 0 || facts.server.version_num >= 120_000;
    let mut out = Vec::new();
    for i in &facts.indexes {
        if !i.valid {
            continue;
        }
        let Some(e) = estimate_btree_bloat(i, block) else {
            continue;
        };
        if e.wasted_bytes < MIN_WASTED_BYTES || e.wasted_share < MIN_WASTED_SHARE {
            continue;
        }
        let mut f = finding(
            ID,
            Severity::Warning,
            format!(
                "Index {}.{} is bloated: about {} of {} wasted (estimate)",
                i.schema,
                i.name,
                human_bytes(e.wasted_bytes),
                human_bytes(e.actual_bytes)
            ),
            format!(
                "Estimated from statistics (row count and average key width, not \
                 pgstattuple): a fresh build of {} would take about {}. The extra pages cost \
                 cache and I/O on every scan. Verify with pgstattuple's pgstatindex() before \
                 acting if in doubt.",
                i.name,
                human_bytes(e.expected_bytes)
            ),
        );
        if reindex_concurrently {
            f.fix_sql = Some(format!(
                "REINDEX INDEX CONCURRENTLY {};",
                qualified(&i.schema, &i.name)
            ));
            f.fix_hint = Some(
                "REINDEX CONCURRENTLY needs about the index's size in free disk space and \
                 cannot run in a transaction block."
                    .into(),
            );
        } else {
            f.fix_hint = Some(
                "Build a copy with CREATE INDEX CONCURRENTLY, then drop the old index \
                 (REINDEX CONCURRENTLY needs PostgreSQL 12)."
                    .into(),
            );
        }
        f.table = Some(i.table_display());
        f.columns = i.columns.iter().map(|c| c.expr.clone()).collect();
        ev(&mut f, "index", i.name.clone());
        ev(&mut f, "index_bytes", e.actual_bytes);
        ev(&mut f, "estimated_expected_bytes", e.expected_bytes);
        ev(&mut f, "estimated_wasted_bytes", e.wasted_bytes);
        ev(
            &mut f,
            "estimated_wasted_percent",
            round1(e.wasted_share * 100.0),
        );
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    fn sized(bytes: i64) -> IndexFacts {
        let mut i = index("t", "t_a_idx", &["a"]);
        i.reltuples = 10_000_000.0;
        i.key_avg_width = Some(8.0);
        i.bytes = bytes;
        i
    }

    #[test]
    fn the_estimate_is_close_for_a_fresh_bigint_index() {
        // 10 M bigint keys: 24-byte tuples (16 + 8 line pointer... 20 → 24 aligned),
        // ~ 300 per page at fillfactor 90 → about 33 000 pages = 260 MB.
        let e = estimate_btree_bloat(&sized(0), 8192);
        let expected = e.map(|e| e.expected_bytes).unwrap_or(0);
        assert!((200 << 20..=320 << 20).contains(&expected), "{expected}");
    }

    #[test]
    fn fires_on_a_mostly_empty_index() {
        let v = check(&facts(vec![], vec![sized(1 << 30)]));
        assert_eq!(v.len(), 1);
        assert!(v[0].title.contains("estimate"));
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("REINDEX INDEX CONCURRENTLY public.t_a_idx;")
        );
    }

    #[test]
    fn quiet_when_size_matches_or_no_statistics() {
        assert!(check(&facts(vec![], vec![sized(280 << 20)])).is_empty());
        let mut expr = sized(1 << 30);
        expr.key_avg_width = None;
        assert!(check(&facts(vec![], vec![expr])).is_empty());
    }
}
