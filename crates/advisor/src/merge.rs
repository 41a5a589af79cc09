//! Merging chosen indexes that share their keys.
//!
//! The greedy search can choose `orders (created_at) INCLUDE (id)` for one
//! query and `orders (created_at) INCLUDE (customer_id, total)` for another:
//! each move paid on its own. A DBA writes one index with both INCLUDE lists —
//! one index to maintain on every write and to keep in cache, not two. Each
//! pair with the same method, keys (with directions) and predicate is replaced
//! by their union when the workload then costs at most [`MERGE_TOLERANCE`]
//! more (queries plus write upkeep), the union stays within
//! [`MAX_EXTEND_INCLUDE`] INCLUDE columns, and it is no larger than the two.

use std::collections::BTreeSet;

use super::greedy::MAX_EXTEND_INCLUDE;
use super::{CostError, Engine};
use crate::AdviseError;

/// How much costlier (relative) the workload may get for one index fewer.
pub const MERGE_TOLERANCE: f64 = 0.02;

impl Engine<'_> {
    /// Calls-weighted cost of every plannable query under `config`, plus the
    /// write upkeep of its indexes.
    fn workload_cost(&mut self, config: &[usize]) -> Result<Option<f64>, AdviseError> {
        let mut total = 0.0;
        for q in 0..self.queries.len() {
            if self.queries[q].skipped.is_some() {
                continue;
            }
            match self.cost(q, config) {
                Ok(e) => total += self.queries[q].calls * e.cost,
                Err(CostError::Fatal(e)) => return Err(e),
                Err(CostError::Invalid(_)) => return Ok(None),
            }
        }
        total += config.iter().map(|&id| self.defs[id].penalty).sum::<f64>();
        Ok(Some(total))
    }

    /// Replaces pairs of `chosen` that share their keys by their union, as long
    /// as it pays (see the module docs); returns the new set and how many
    /// merges were made.
    pub(crate) fn merge_same_keys(
        &mut self,
        mut chosen: Vec<usize>,
    ) -> Result<(Vec<usize>, usize), AdviseError> {
        let mut tried: BTreeSet<(usize, usize)> = BTreeSet::new();
        let mut merges = 0;
        'search: loop {
            for i in 0..chosen.len() {
                for j in i + 1..chosen.len() {
                    let (a, b) = (chosen[i], chosen[j]);
                    if !tried.insert((a.min(b), a.max(b))) {
                        continue;
                    }
                    let Some(m) = self.union_of(a, b) else {
                        continue;
                    };
                    let sizes = (self.size(a)?, self.size(b)?, self.size(m)?);
                    let (Some(sa), Some(sb), Some(sm)) = sizes else {
                        continue;
                    };
                    if sm > sa.saturating_add(sb) {
                        continue;
                    }
                    let Some(now) = self.workload_cost(&chosen)? else {
                        continue;
                    };
                    let mut merged: Vec<usize> = chosen
                        .iter()
                        .copied()
                        .filter(|&id| id != a && id != b)
                        .collect();
                    merged.push(m);
                    let Some(then) = self.workload_cost(&merged)? else {
                        continue;
                    };
                    if then <= now * (1.0 + MERGE_TOLERANCE) {
                        chosen = merged;
                        merges += 1;
                        continue 'search;
                    }
                }
            }
            return Ok((chosen, merges));
        }
    }

    /// Removes, one at a time (least useful first), chosen indexes the rest of
    /// the set makes marginal: without it, the queries that use it would cost
    /// less than `min_gain` more (relative to their cost without it), or the
    /// workload would not cost more at all once its write upkeep is saved. The
    /// greedy search judged each index against the set of its time; a later
    /// choice (a plain `(b)` after a partial `(b) WHERE status = …`) can leave
    /// an earlier one paying for little. Returns the set and how many went.
    pub(crate) fn drop_marginal(
        &mut self,
        mut chosen: Vec<usize>,
        min_gain: f64,
    ) -> Result<(Vec<usize>, usize), AdviseError> {
        let mut dropped = 0;
        loop {
            // Each query under the whole set, once per round (not once per
            // index looked at); a set that cannot be planned is left as it is.
            let mut with_all = Vec::with_capacity(self.queries.len());
            for q in 0..self.queries.len() {
                if self.queries[q].skipped.is_some() {
                    with_all.push(None);
                    continue;
                }
                match self.cost(q, &chosen) {
                    Ok(e) => with_all.push(Some(e)),
                    Err(CostError::Fatal(e)) => return Err(e),
                    Err(CostError::Invalid(_)) => return Ok((chosen, dropped)),
                }
            }
            let mut weakest: Option<(f64, usize)> = None;
            for &x in &chosen {
                let without: Vec<usize> = chosen.iter().copied().filter(|&c| c != x).collect();
                let (mut gain, mut base) = (0.0, 0.0);
                let mut usable = true;
                for (q, with) in with_all.iter().enumerate() {
                    let Some(with) = with.as_ref().filter(|w| w.uses.contains(&x)) else {
                        continue;
                    };
                    let alone = match self.cost(q, &without) {
                        Ok(e) => e.cost,
                        Err(CostError::Fatal(e)) => return Err(e),
                        Err(CostError::Invalid(_)) => {
                            usable = false;
                            break;
                        }
                    };
                    let calls = self.queries[q].calls;
                    gain += calls * (alone - with.cost);
                    base += calls * alone;
                }
                if !usable {
                    continue;
                }
                let rel = if base > 0.0 { gain / base } else { 0.0 };
                let marginal = rel < min_gain || gain <= self.defs[x].penalty;
                if marginal && weakest.map_or(true, |(r, _)| rel < r) {
                    weakest = Some((rel, x));
                }
            }
            match weakest {
                Some((_, x)) => {
                    chosen.retain(|&c| c != x);
                    dropped += 1;
                }
                None => return Ok((chosen, dropped)),
            }
        }
    }

    /// The index with `a`'s keys and both INCLUDE lists, when `a` and `b` share
    /// method, keys and predicate and the union is not too wide.
    fn union_of(&mut self, a: usize, b: usize) -> Option<usize> {
        let (da, db) = (&self.defs[a].def, &self.defs[b].def);
        if da.qualified_table() != db.qualified_table()
            || da.method != db.method
            || da.keys != db.keys
            || da.predicate != db.predicate
            || da.unique
            || db.unique
        {
            return None;
        }
        let keys: BTreeSet<&str> = da.keys.iter().filter_map(|k| k.expr.column()).collect();
        let mut include: Vec<String> = Vec::new();
        for c in da.include.iter().chain(&db.include) {
            if !keys.contains(c.as_str()) && !include.contains(c) {
                include.push(c.clone());
            }
        }
        if include.len() > MAX_EXTEND_INCLUDE {
            return None;
        }
        let mut def = da.clone();
        def.include = include;
        let origin = format!(
            "{} and {} (same keys, merged)",
            self.defs[a].origin, self.defs[b].origin
        );
        Some(self.intern(def, origin.trim(), false))
    }
}

#[cfg(test)]
mod tests {
    use crate::advise::{advise, AdviseOptions};
    use crate::synthetic::Synthetic;
    use crate::testkit::{col, query, table};
    use crate::Catalog;

    fn catalog() -> Catalog {
        Catalog {
            tables: vec![table(
                "t",
                1_000_000.0,
                vec![
                    col("id", "bigint", Some(-1.0)),
                    col("a", "bigint", Some(10_000.0)),
                    col("x", "bigint", Some(-0.5)),
                    col("y", "bigint", Some(-0.5)),
                    col("z", "bigint", Some(-0.5)),
                    col("b", "bigint", Some(-0.9)),
                    col("c", "bigint", Some(2.0)),
                ],
            )],
            indexes: Vec::new(),
        }
    }

    fn labels(sqls: &[&str]) -> Vec<String> {
        weighted(&sqls.iter().map(|s| (*s, 1000.0)).collect::<Vec<_>>())
    }

    fn weighted(sqls: &[(&str, f64)]) -> Vec<String> {
        let cat = catalog();
        let qs: Vec<_> = sqls.iter().map(|(s, calls)| query(s, *calls)).collect();
        let mut w = Synthetic::new(cat.clone());
        let advice =
            advise(&qs, &cat, &mut w, &AdviseOptions::default(), &mut |_| {}).expect("advice");
        advice
            .recommendations
            .iter()
            .map(|r| r.index.create_sql("i", false, false))
            .collect()
    }

    #[test]
    fn two_covering_indexes_on_the_same_keys_become_one() {
        // Neither INCLUDE list grows into the other one column at a time (the
        // second query needs two more columns to be index-only), so the greedy
        // search alone keeps both.
        let got = labels(&[
            "SELECT x FROM t WHERE a = $1",
            "SELECT y, z FROM t WHERE a = $1",
        ]);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(
            got[0].contains("(a) INCLUDE (") && ["x", "y", "z"].iter().all(|c| got[0].contains(c)),
            "{got:#?}"
        );
    }

    #[test]
    fn indexes_with_different_keys_are_left_alone() {
        let got = labels(&[
            "SELECT x FROM t WHERE a = $1",
            "SELECT y FROM t WHERE x = $1",
        ]);
        assert_eq!(got.len(), 2, "{got:#?}");
    }

    #[test]
    fn an_index_the_rest_of_the_set_makes_marginal_is_dropped() {
        // The partial (b) WHERE c = 5 is chosen for the first query; the plain
        // (b) the second query needs serves the first one almost as well.
        // The heavy first query makes the half-size partial index the best
        // first move; the plain one comes next for the others.
        let got = weighted(&[
            ("SELECT * FROM t WHERE b = $1 AND c = 5", 100_000.0),
            ("SELECT sum(x) FROM t WHERE b = $1", 1000.0),
        ]);
        assert!(!got.iter().any(|s| s.contains("WHERE c")), "{got:#?}");
        assert!(got.iter().any(|s| s.contains("(b")), "{got:#?}");
    }
}
