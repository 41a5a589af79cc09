//! The health rules, one per file, each with a stable id and its thresholds as
//! constants beside it. [`evaluate`] runs them all.

use pgpilot_findings::{sort_findings, Finding, Severity};
use serde_json::Value;

use crate::facts::{HealthFacts, TableFacts};
use crate::ident::MAX_IDENT_BYTES;

mod connections;
mod dead_tuples;
mod duplicate_index;
pub(crate) mod fk_without_index;
mod idle_in_transaction;
mod index_bloat;
mod invalid_constraint;
mod invalid_index;
mod long_running_query;
mod low_cache_hit_ratio;
mod low_index_hit_ratio;
mod sequence_exhaustion;
mod stale_statistics;
mod table_needs_index;
mod unused_index;
mod xid_wraparound;

pub use index_bloat::{estimate_btree_bloat, BloatEstimate};

type Rule = fn(&HealthFacts) -> Vec<Finding>;

const RULES: &[(&str, Rule)] = &[
    (fk_without_index::ID, fk_without_index::check),
    (stale_statistics::ID, stale_statistics::check),
    (unused_index::ID, unused_index::check),
    (duplicate_index::ID, duplicate_index::check),
    (invalid_index::ID, invalid_index::check),
    (table_needs_index::ID, table_needs_index::check),
    (low_cache_hit_ratio::ID, low_cache_hit_ratio::check),
    (low_index_hit_ratio::ID, low_index_hit_ratio::check),
    (dead_tuples::ID, dead_tuples::check),
    (index_bloat::ID, index_bloat::check),
    (sequence_exhaustion::ID, sequence_exhaustion::check),
    (xid_wraparound::ID, xid_wraparound::check),
    (long_running_query::ID, long_running_query::check),
    (idle_in_transaction::ID, idle_in_transaction::check),
    (connections::ID, connections::check),
    (invalid_constraint::ID, invalid_constraint::check),
];

/// The ids of every health rule, in evaluation order.
pub const RULE_IDS: [&str; 16] = [
    fk_without_index::ID,
    stale_statistics::ID,
    unused_index::ID,
    duplicate_index::ID,
    invalid_index::ID,
    table_needs_index::ID,
    low_cache_hit_ratio::ID,
    low_index_hit_ratio::ID,
    dead_tuples::ID,
    index_bloat::ID,
    sequence_exhaustion::ID,
    xid_wraparound::ID,
    long_running_query::ID,
    idle_in_transaction::ID,
    connections::ID,
    invalid_constraint::ID,
];

/// Runs every health rule and returns the findings, most important first
/// (severity, then time attributable when known, then id and table).
pub fn evaluate(facts: &HealthFacts) -> Vec<Finding> {
    let mut out: Vec<Finding> = RULES.iter().flat_map(|(_, rule)| rule(facts)).collect();
    sort_findings(&mut out);
    out
}

/// A finding with the fields every rule fills the same way.
pub(crate) fn finding(id: &str, severity: Severity, title: String, explanation: String) -> Finding {
    Finding::new(id, severity, title, explanation)
}

/// Adds one piece of evidence.
pub(crate) fn ev(f: &mut Finding, key: &str, value: impl Into<Value>) {
    f.evidence.insert(key.to_string(), value.into());
}

/// Rounds to one decimal for evidence.
pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The table facts of `schema.name`, when collected.
pub(crate) fn table<'a>(
    facts: &'a HealthFacts,
    schema: &str,
    name: &str,
) -> Option<&'a TableFacts> {
    facts
        .tables
        .iter()
        .find(|t| t.schema == schema && t.name == name)
}

/// `CREATE [UNIQUE] INDEX CONCURRENTLY …` from a `pg_get_indexdef` definition.
pub(crate) fn concurrent_create(definition: &str) -> Option<String> {
    for prefix in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = definition.strip_prefix(prefix) {
            return Some(format!("{prefix}CONCURRENTLY {rest};"));
        }
    }
    None
}

/// A name for a new index in `schema` that no collected index, table or sequence
/// uses yet (PostgreSQL's own naming: `table_col1_col2_idx`).
pub(crate) fn new_index_name(
    facts: &HealthFacts,
    schema: &str,
    table: &str,
    cols: &[String],
) -> String {
    let taken = |n: &str| {
        facts
            .indexes
            .iter()
            .any(|i| i.schema == schema && i.name == n)
            || facts
                .tables
                .iter()
                .any(|t| t.schema == schema && t.name == n)
            || facts
                .sequences
                .iter()
                .any(|s| s.schema == schema && s.name == n)
    };
    let base = format!("{table}_{}", cols.join("_"));
    for n in 0..1000 {
        let suffix = if n == 0 {
            "_idx".to_string()
        } else {
            format!("_idx{n}")
        };
        let mut cut = base.len().min(MAX_IDENT_BYTES.saturating_sub(suffix.len()));
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        let name = format!("{}{suffix}", &base[..cut]);
        if !taken(&name) {
            return name;
        }
    }
    truncate_ident_fallback(table)
}

fn truncate_ident_fallback(table: &str) -> String {
    crate::ident::truncate_ident(&format!("{table}_pgpilot_idx"))
}

/// Human-readable bytes (`12.3 MB`).
pub(crate) fn human_bytes(bytes: i64) -> String {
    let b = bytes as f64;
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Human-readable duration from seconds (`90 s`, `12 min`, `3.5 h`, `4.0 days`).
pub(crate) fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86_400.0)
    }
}

/// Fewer block accesses than this (8 GB of page traffic) are too few to judge a hit
/// ratio: loading a database, building its indexes and vacuuming it reads through
/// small ring buffers and counts misses that say nothing about the working set (the
/// ADX Core demo at scale 0.01 shows 97.5 % after its load, from 93 000 accesses).
const MIN_BLOCK_ACCESSES: i64 = 1_000_000;
/// The workload must have touched the relations' blocks this many times on
/// average: loading, indexing and vacuuming a fresh database read every block only a
/// few times, mostly from the kernel, which says nothing about the working set.
const MIN_ACCESSES_PER_BLOCK: i64 = 10;

/// The hit percentage when there is enough data to judge it.
pub(crate) fn hit_ratio_judgeable(
    hit: i64,
    read: i64,
    relation_bytes: i64,
    facts: &HealthFacts,
) -> Option<f64> {
    let total = hit.saturating_add(read);
    let block = setting_i64(facts, "block_size")
        .filter(|b| *b > 0)
        .unwrap_or(8192);
    let blocks = relation_bytes.max(0) / block;
    if total < MIN_BLOCK_ACCESSES || total < blocks.saturating_mul(MIN_ACCESSES_PER_BLOCK) {
        return None;
    }
    crate::inventory::percent(hit, total)
}

/// A setting parsed as an integer (in the setting's own unit).
pub(crate) fn setting_i64(facts: &HealthFacts, name: &str) -> Option<i64> {
    facts.settings.get(name).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    #[test]
    fn rule_ids_match_the_rules() {
        let ids: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, RULE_IDS);
        assert!(RULE_IDS.iter().all(|id| id.starts_with("health.")));
    }

    #[test]
    fn empty_facts_give_no_finding() {
        assert!(evaluate(&HealthFacts::default()).is_empty());
    }

    #[test]
    fn new_index_names_avoid_existing_ones() {
        let f = facts(vec![], vec![index("t", "t_a_idx", &["a"])]);
        assert_eq!(new_index_name(&f, "public", "t", &["a".into()]), "t_a_idx1");
        assert_eq!(new_index_name(&f, "other", "t", &["a".into()]), "t_a_idx");
        let long = "x".repeat(80);
        let n = new_index_name(&f, "public", &long, &["a".into()]);
        assert!(n.len() <= 63 && n.ends_with("_idx"), "{n}");
    }

    #[test]
    fn definitions_become_concurrent() {
        assert_eq!(
            concurrent_create("CREATE UNIQUE INDEX i ON public.t USING btree (a)").as_deref(),
            Some("CREATE UNIQUE INDEX CONCURRENTLY i ON public.t USING btree (a);")
        );
        assert_eq!(concurrent_create("garbage"), None);
    }
}
