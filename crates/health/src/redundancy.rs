//! Duplicate and redundant indexes, PgHero's rule made stricter: an index is
//! covered by another index of the same table with the same access method and the
//! same predicate whose key columns start with all of its key columns (same
//! expression, operator class and direction) and which carries its INCLUDE
//! columns. Unique, primary-key and constraint indexes are never reported (they
//! enforce something); invalid indexes neither cover nor are covered (the invalid
//! check reports them). Only B-trees can serve a prefix of their keys; other
//! methods count only exact duplicates.

use serde::{Deserialize, Serialize};

use crate::facts::{IndexColumn, IndexFacts};

/// How an index is covered by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedundancyKind {
    /// Same key columns as another index.
    Duplicate,
    /// Its key columns are a strict prefix of another index's.
    Redundant,
}

/// `indexes[index]` is covered by `indexes[covered_by]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redundancy {
    /// Position of the index that can go.
    pub index: usize,
    /// Position of the index that covers it.
    pub covered_by: usize,
    /// Duplicate or redundant.
    pub kind: RedundancyKind,
}

fn same_key(a: &IndexColumn, b: &IndexColumn) -> bool {
    a.expr == b.expr && a.opclass == b.opclass && a.descending == b.descending
}

fn droppable(i: &IndexFacts) -> bool {
    i.valid
        && !i.build_in_progress
        && !i.unique
        && !i.primary
        && i.constraint.is_none()
        && !i.partition_of_index
}

/// The kind of coverage of `small` by `big`, if any.
fn covers(big: &IndexFacts, small: &IndexFacts) -> Option<RedundancyKind> {
    if big.schema != small.schema
        || big.table != small.table
        || big.name == small.name
        || !big.valid
        || big.build_in_progress
        || big.method != small.method
        || big.predicate != small.predicate
        || small.columns.is_empty()
        || big.columns.len() < small.columns.len()
    {
        return None;
    }
    if !small
        .columns
        .iter()
        .zip(&big.columns)
        .all(|(s, b)| same_key(s, b))
    {
        return None;
    }
    let carried = small.include.iter().all(|inc| {
        big.columns
            .iter()
            .chain(&big.include)
            .any(|c| c.expr == inc.expr)
    });
    if !carried {
        return None;
    }
    if big.columns.len() == small.columns.len() {
        Some(RedundancyKind::Duplicate)
    } else if big.method == "btree" {
        Some(RedundancyKind::Redundant)
    } else {
        None
    }
}

/// Every index that another index makes unnecessary, at most once each. Of two
/// identical droppable indexes only one is reported, so following the advice
/// never drops both: the one the planner uses less (fewer scans), or, on a tie,
/// the one whose name sorts last.
pub fn redundant_indexes(indexes: &[IndexFacts]) -> Vec<Redundancy> {
    let mut out = Vec::new();
    for (i, small) in indexes.iter().enumerate() {
        if !droppable(small) {
            continue;
        }
        let mut best: Option<Redundancy> = None;
        for (j, big) in indexes.iter().enumerate() {
            let Some(kind) = covers(big, small) else {
                continue;
            };
            if kind == RedundancyKind::Duplicate
                && droppable(big)
                && big.include.len() == small.include.len()
                && (small.scans, &big.name) > (big.scans, &small.name)
            {
                // The mirror pair reports `big` as covered by `small`.
                continue;
            }
            let candidate = Redundancy {
                index: i,
                covered_by: j,
                kind,
            };
            best = match best {
                None => Some(candidate),
                Some(b)
                    if b.kind == RedundancyKind::Redundant && kind == RedundancyKind::Duplicate =>
                {
                    Some(candidate)
                }
                keep => keep,
            };
        }
        out.extend(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::index;

    #[test]
    fn prefix_and_duplicate_are_found_once() {
        let v = vec![
            index("t", "t_a_idx", &["a"]),
            index("t", "t_a_b_idx", &["a", "b"]),
            index("t", "t_b_idx", &["b"]),
            index("t", "t_b_idx2", &["b"]),
        ];
        let r = redundant_indexes(&v);
        assert_eq!(
            r,
            vec![
                Redundancy {
                    index: 0,
                    covered_by: 1,
                    kind: RedundancyKind::Redundant
                },
                Redundancy {
                    index: 3,
                    covered_by: 2,
                    kind: RedundancyKind::Duplicate
                },
            ]
        );
    }

    #[test]
    fn different_method_predicate_order_or_uniqueness_is_not_redundant() {
        let mut hash = index("t", "t_a_hash", &["a"]);
        hash.method = "hash".into();
        let mut partial = index("t", "t_a_part", &["a"]);
        partial.predicate = Some("(a > 0)".into());
        let mut uniq = index("t", "t_a_key", &["a"]);
        uniq.unique = true;
        let mut desc = index("t", "t_b_desc", &["b"]);
        desc.columns[0].descending = true;
        let v = vec![
            hash,
            partial,
            uniq,
            index("t", "t_b_a", &["b", "a"]),
            desc,
            index("u", "u_a", &["a"]),
        ];
        // t_a_key is unique (kept); the hash, partial and DESC ones differ from their peers.
        assert!(redundant_indexes(&v).is_empty());
    }

    #[test]
    fn a_plain_index_equal_to_a_unique_one_is_a_duplicate() {
        let mut uniq = index("t", "t_a_key", &["a"]);
        uniq.unique = true;
        let v = vec![index("t", "t_a_idx", &["a"]), uniq];
        let r = redundant_indexes(&v);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].index, r[0].covered_by), (0, 1));
        assert_eq!(r[0].kind, RedundancyKind::Duplicate);
    }

    #[test]
    fn of_two_duplicates_the_one_in_use_is_kept() {
        let mut used = index("t", "t_b_idx2", &["b"]);
        used.scans = 2464;
        let v = vec![index("t", "t_b_idx", &["b"]), used];
        let r = redundant_indexes(&v);
        assert_eq!(r.len(), 1, "{r:?}");
        // t_b_idx sorts first, but t_b_idx2 is the one the planner uses.
        assert_eq!((r[0].index, r[0].covered_by), (0, 1));
    }
}
