//! Greedy workload-level selection with Extend-style moves and final pruning.
//!
//! Each round considers two kinds of moves: *add* a candidate, or *replace* a
//! chosen index by itself extended with one more key column or INCLUDE column
//! taken from the candidates of its table (the Extend algorithm of Schlosser,
//! Kossmann and Boissier). A move's gain is Σ calls × (cost now − cost after)
//! over the queries it can matter to; its net benefit subtracts the change in
//! write penalty. A move is eligible when its gain is at least `min_gain` of the
//! current cost of those queries, its net benefit is positive and it fits the
//! budget.
//!
//! **Choice.** Without a budget the move with the highest net benefit wins;
//! with a budget, the highest net benefit per added byte (as Extend does), with
//! added bytes counted as at least one page. Moves within [`CLOSE`] of the best
//! score are treated as equal and the one adding fewer bytes wins — so an
//! extension that does what a new index would do beats the new index.
//!
//! **Laziness.** A move's last evaluation stays exact while none of the queries
//! it matters to changed; a stale one is an upper bound (gains shrink as the
//! chosen set grows, apart from rare index interactions), so moves are
//! re-evaluated best bound first and the scan stops once bounds fall below the
//! best fresh score.

use std::collections::{BTreeMap, BTreeSet};

use super::{CostError, Engine};
use crate::{AdviseError, IndexDef, IndexKey, KeyExpr};

/// Scores within this fraction of the best are treated as ties (fewer bytes wins).
pub const CLOSE: f64 = 0.02;
/// Most INCLUDE columns an extension builds up to.
pub const MAX_EXTEND_INCLUDE: usize = 4;
/// Least added bytes counted for a move when dividing by size (one page).
pub const MIN_MOVE_BYTES: f64 = 8192.0;
/// Safety stop for the rounds.
const MAX_ROUNDS: usize = 500;

/// What the greedy search may do.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub budget_bytes: Option<u64>,
    pub max_columns: usize,
    pub min_gain: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Add(usize),
    Replace { old: usize, new: usize },
}

impl Move {
    fn new_id(self) -> usize {
        match self {
            Move::Add(n) | Move::Replace { new: n, .. } => n,
        }
    }
    fn old_id(self) -> Option<usize> {
        match self {
            Move::Add(_) => None,
            Move::Replace { old, .. } => Some(old),
        }
    }
}

/// A move's evaluation.
#[derive(Debug, Clone)]
struct Scored {
    gain: f64,
    net: f64,
    rel: f64,
    /// Bytes added (negative when the replacement is smaller); `None` when the
    /// size was not needed (not useful).
    dsize: Option<i64>,
    after: Vec<(usize, f64)>,
}

#[derive(Debug, Clone)]
struct MoveState {
    mv: Move,
    affected: Vec<usize>,
    last: Option<Scored>,
    stamp: Vec<u64>,
    active: bool,
}

/// An alternative that lost to a chosen index.
#[derive(Debug, Clone)]
pub(crate) struct Alternative {
    pub def: IndexDef,
    /// Calls-weighted cost per call of the winner's queries with the alternative.
    pub alt_cost: f64,
    /// … and with the winner.
    pub win_cost: f64,
    pub size: Option<u64>,
}

/// What the greedy search chose and learned.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub chosen: Vec<usize>,
    /// Losing alternatives of each chosen id, best first.
    pub alternatives: BTreeMap<usize, Vec<Alternative>>,
    /// Which index a chosen id extends.
    pub extended_from: BTreeMap<usize, usize>,
    /// Useful candidates larger than the whole budget, with their size.
    pub too_big: Vec<(usize, u64)>,
}

fn score(s: &Scored, budget: bool) -> f64 {
    if budget {
        s.net / (s.dsize.unwrap_or(0) as f64).max(MIN_MOVE_BYTES)
    } else {
        s.net
    }
}

impl Engine<'_> {
    /// Evaluates `mv` against the chosen set; `None` when its new index is invalid.
    fn evaluate(
        &mut self,
        mv: Move,
        affected: &[usize],
        chosen: &[usize],
        cur: &[f64],
        limits: &Limits,
    ) -> Result<Option<Scored>, AdviseError> {
        let new = mv.new_id();
        if !self.check_valid(new)? {
            return Ok(None);
        }
        let mut config: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|&c| Some(c) != mv.old_id())
            .collect();
        config.push(new);
        let mut after = Vec::with_capacity(affected.len());
        let (mut gain, mut before) = (0.0, 0.0);
        for &q in affected {
            let e = match self.cost(q, &config) {
                Ok(e) => e,
                Err(CostError::Invalid(m)) => {
                    self.invalid.insert(new, m);
                    return Ok(None);
                }
                Err(CostError::Fatal(e)) => return Err(e),
            };
            let calls = self.queries[q].calls;
            gain += calls * (cur[q] - e.cost);
            before += calls * cur[q];
            after.push((q, e.cost));
        }
        let penalty = self.defs[new].penalty - mv.old_id().map_or(0.0, |o| self.defs[o].penalty);
        let net = gain - penalty;
        let rel = if before > 0.0 { gain / before } else { 0.0 };
        let mut dsize = None;
        if net > 0.0 && rel >= limits.min_gain && gain > 0.0 {
            let Some(s) = self.size(new)? else {
                return Ok(None);
            };
            let old = match mv.old_id() {
                Some(o) => self.size(o)?.unwrap_or(0),
                None => 0,
            };
            dsize = Some(s as i64 - old as i64);
        }
        Ok(Some(Scored {
            gain,
            net,
            rel,
            dsize,
            after,
        }))
    }

    /// Extensions of chosen index `x` by one column of its table's candidates.
    fn extensions(&mut self, x: usize, max_columns: usize) -> Vec<usize> {
        let table = self.defs[x].table.clone();
        let base = self.defs[x].def.clone();
        // Columns (with a direction) the candidates of this table use.
        let mut pool: BTreeMap<String, bool> = BTreeMap::new();
        for d in self
            .defs
            .iter()
            .filter(|d| d.from_candidate && d.table == table)
        {
            for k in &d.def.keys {
                if let KeyExpr::Column(c) = &k.expr {
                    let desc = pool.entry(c.clone()).or_insert(k.descending);
                    *desc = *desc && k.descending;
                }
            }
            for c in &d.def.include {
                pool.entry(c.clone()).or_insert(false);
            }
        }
        let stored: BTreeSet<String> = self.defs[x].all_cols.clone();
        // Only columns the queries this index matters to would use: a key they
        // filter, join, sort or group on; an INCLUDE that completes an
        // index-only scan for one of them.
        let mut as_key: BTreeSet<String> = BTreeSet::new();
        let mut as_include: BTreeSet<String> = BTreeSet::new();
        for &q in &self.defs[x].relevant {
            let Some(u) = self.queries[q].facts.tables.get(&table) else {
                continue;
            };
            as_key.extend(u.usable.iter().cloned());
            let missing: Vec<&String> = u.read.iter().filter(|c| !stored.contains(*c)).collect();
            if let (false, [only]) = (u.star, &missing[..]) {
                as_include.insert((*only).clone());
            }
        }
        let mut out = Vec::new();
        for (col, desc) in pool {
            if stored.contains(&col) {
                continue;
            }
            let btree_key = self
                .catalog()
                .table(&table)
                .and_then(|t| t.column(&col))
                .is_some_and(|c| crate::facts::btree_type(&c.type_name));
            if base.keys.len() < max_columns
                && btree_key
                && base.method == "btree"
                && as_key.contains(&col)
            {
                let mut d = base.clone();
                d.keys.push(IndexKey {
                    descending: desc,
                    ..IndexKey::column(&col)
                });
                let label = format!("{} extended by key {col}", super::index_label(&base));
                out.push(self.intern(d, &label, false));
            }
            if base.include.len() < MAX_EXTEND_INCLUDE
                && base.method == "btree"
                && as_include.contains(&col)
            {
                let mut d = base.clone();
                d.include.push(col.clone());
                let label = format!("{} extended by INCLUDE {col}", super::index_label(&base));
                out.push(self.intern(d, &label, false));
            }
        }
        out
    }

    fn affected_of(&self, mv: Move) -> Vec<usize> {
        let mut a: BTreeSet<usize> = self.defs[mv.new_id()].relevant.iter().copied().collect();
        if let Some(o) = mv.old_id() {
            a.extend(self.defs[o].relevant.iter().copied());
        }
        a.into_iter()
            .filter(|&q| self.queries[q].skipped.is_none())
            .collect()
    }

    fn new_move(&self, mv: Move) -> Option<MoveState> {
        let affected = self.affected_of(mv);
        (!affected.is_empty()).then(|| MoveState {
            mv,
            affected,
            last: None,
            stamp: Vec::new(),
            active: true,
        })
    }

    /// Greedy selection over `candidates` (ids).
    pub(crate) fn greedy(
        &mut self,
        candidates: &[usize],
        limits: &Limits,
        progress: &mut dyn FnMut(&str),
    ) -> Result<Selection, AdviseError> {
        let budgeted = limits.budget_bytes.is_some();
        let mut sel = Selection::default();
        let mut cur: Vec<f64> = self.queries.iter().map(|q| q.base).collect();
        let mut epoch: Vec<u64> = vec![0; self.queries.len()];
        let mut used_bytes: u64 = 0;
        let mut moves: Vec<MoveState> = candidates
            .iter()
            .filter_map(|&c| self.new_move(Move::Add(c)))
            .collect();
        let mut too_big: BTreeSet<usize> = BTreeSet::new();
        for round in 1..=MAX_ROUNDS {
            let fresh = |m: &MoveState, epoch: &[u64]| {
                m.last.is_some()
                    && m.affected
                        .iter()
                        .zip(&m.stamp)
                        .all(|(&q, &s)| epoch[q] == s)
            };
            let eligible = |s: &Scored, used: u64| -> bool {
                s.net > 0.0
                    && s.gain > 0.0
                    && s.rel >= limits.min_gain
                    && s.dsize.is_some_and(|d| {
                        limits
                            .budget_bytes
                            .map_or(true, |b| used as i64 + d.max(0) <= b as i64)
                    })
            };
            // No move can gain more than the whole current cost of its queries:
            // an upper bound for moves never evaluated, and a cap on stale scores.
            let penalties: Vec<f64> = moves
                .iter()
                .map(|m| {
                    self.defs[m.mv.new_id()].penalty
                        - m.mv.old_id().map_or(0.0, |o| self.defs[o].penalty)
                })
                .collect();
            let queries = &self.queries;
            let bounds: Vec<f64> = moves
                .iter()
                .zip(&penalties)
                .map(|(m, pen)| {
                    let all: f64 = m.affected.iter().map(|&q| queries[q].calls * cur[q]).sum();
                    let cap = if budgeted {
                        (all - pen) / MIN_MOVE_BYTES
                    } else {
                        all - pen
                    };
                    match &m.last {
                        None => cap,
                        // Its gain only shrank since: if it already fell short of
                        // min_gain of what its queries cost now, it cannot qualify.
                        Some(s) if s.gain < limits.min_gain * all || s.gain <= *pen => {
                            f64::NEG_INFINITY
                        }
                        Some(s) => score(s, budgeted).min(cap),
                    }
                })
                .collect();
            let mut order: Vec<usize> = (0..moves.len()).filter(|&i| moves[i].active).collect();
            order.sort_by(|&a, &b| bounds[b].total_cmp(&bounds[a]).then(a.cmp(&b)));
            let mut best: Option<f64> = None;
            for &i in &order {
                if bounds[i] <= 0.0 {
                    break;
                }
                if let Some(b) = best {
                    if bounds[i] < b * (1.0 - CLOSE) {
                        break;
                    }
                }
                if !fresh(&moves[i], &epoch) {
                    let (mv, affected) = (moves[i].mv, moves[i].affected.clone());
                    match self.evaluate(mv, &affected, &sel.chosen, &cur, limits)? {
                        None => {
                            moves[i].active = false;
                            continue;
                        }
                        Some(s) => {
                            moves[i].stamp = affected.iter().map(|&q| epoch[q]).collect();
                            moves[i].last = Some(s);
                        }
                    }
                }
                let Some(s) = moves[i].last.clone() else {
                    continue;
                };
                // A useful candidate bigger than the whole budget can never fit.
                if let (Some(b), Some(d), Move::Add(c)) =
                    (limits.budget_bytes, s.dsize, moves[i].mv)
                {
                    if d > b as i64 && s.net > 0.0 && s.rel >= limits.min_gain {
                        moves[i].active = false;
                        if too_big.insert(c) {
                            sel.too_big.push((c, d as u64));
                        }
                        continue;
                    }
                }
                if eligible(&s, used_bytes) {
                    let sc = score(&s, budgeted);
                    best = Some(best.map_or(sc, |b: f64| b.max(sc)));
                }
            }
            let Some(best) = best else { break };
            // Among the near-best, the one adding the fewest bytes.
            let pick = order
                .iter()
                .copied()
                .filter(|&i| moves[i].active && fresh(&moves[i], &epoch))
                .filter_map(|i| moves[i].last.as_ref().map(|s| (i, s)))
                .filter(|(_, s)| {
                    eligible(s, used_bytes) && score(s, budgeted) >= best * (1.0 - CLOSE)
                })
                .min_by(|(a, x), (b, y)| {
                    x.dsize
                        .cmp(&y.dsize)
                        .then(y.net.total_cmp(&x.net))
                        .then(a.cmp(b))
                })
                .map(|(i, _)| i);
            let Some(pick) = pick else { break };
            let mv = moves[pick].mv;
            let Some(won) = moves[pick].last.clone() else {
                break;
            };
            let alts = self.alternatives(pick, &moves, &epoch, &cur, &won);
            let new = mv.new_id();
            if let Some(old) = mv.old_id() {
                sel.chosen.retain(|&c| c != old);
                let from = sel.extended_from.remove(&old).unwrap_or(old);
                sel.extended_from.insert(new, from);
                let mut prior = sel.alternatives.remove(&old).unwrap_or_default();
                let old_alt = Alternative {
                    def: self.defs[old].def.clone(),
                    alt_cost: weighted(&won.after, &cur, &self.queries, None),
                    win_cost: weighted(&won.after, &cur, &self.queries, Some(&won.after)),
                    size: self.known_size(old),
                };
                prior.retain(|a| a.def != self.defs[new].def);
                let mut list = vec![old_alt];
                list.extend(alts);
                list.extend(prior);
                list.truncate(3);
                sel.alternatives.insert(new, list);
            } else {
                sel.alternatives.insert(new, alts);
            }
            sel.chosen.push(new);
            used_bytes = (used_bytes as i64 + won.dsize.unwrap_or(0)).max(0) as u64;
            for &(q, c) in &won.after {
                cur[q] = c;
                epoch[q] += 1;
            }
            progress(&format!(
                "round {round}: {} {} (−{:.0} % on {} quer{})",
                if mv.old_id().is_some() {
                    "extended to"
                } else {
                    "chose"
                },
                super::index_label(&self.defs[new].def),
                won.rel * 100.0,
                won.after.len(),
                if won.after.len() == 1 { "y" } else { "ies" }
            ));
            let new_def = self.defs[new].def.clone();
            for m in moves.iter_mut() {
                // An index the new one already provides (same leading keys, the
                // INCLUDE columns stored) has nothing left to add.
                let subsumed = match m.mv {
                    Move::Add(c) => {
                        let d = &self.defs[c].def;
                        new_def.covers_prefix(d)
                            && d.include
                                .iter()
                                .all(|i| new_def.stored_columns().contains(&i.as_str()))
                    }
                    Move::Replace { .. } => false,
                };
                let gone = subsumed
                    || m.mv.new_id() == new
                    || mv.old_id().is_some_and(|o| m.mv.old_id() == Some(o));
                if gone {
                    m.active = false;
                }
            }
            for e in self.extensions(new, limits.max_columns) {
                if sel.chosen.contains(&e) {
                    continue;
                }
                if let Some(m) = self.new_move(Move::Replace { old: new, new: e }) {
                    moves.push(m);
                }
            }
        }
        Ok(sel)
    }

    /// The best (up to 3) other fresh moves touching the winner's queries.
    fn alternatives(
        &self,
        pick: usize,
        moves: &[MoveState],
        epoch: &[u64],
        cur: &[f64],
        won: &Scored,
    ) -> Vec<Alternative> {
        let win_q: BTreeSet<usize> = won.after.iter().map(|&(q, _)| q).collect();
        let mut alts: Vec<(f64, Alternative)> = Vec::new();
        for (i, m) in moves.iter().enumerate() {
            if i == pick || !m.active {
                continue;
            }
            let Some(s) = &m.last else { continue };
            let fresh = m
                .affected
                .iter()
                .zip(&m.stamp)
                .all(|(&q, &st)| epoch[q] == st);
            if !fresh || s.gain <= 0.0 || !s.after.iter().any(|(q, _)| win_q.contains(q)) {
                continue;
            }
            if m.mv.old_id().is_some() {
                continue;
            }
            let def = self.defs[m.mv.new_id()].def.clone();
            if alts.iter().any(|(_, a)| a.def == def) {
                continue;
            }
            let alt_cost = weighted(&won.after, cur, &self.queries, Some(&s.after));
            let win_cost = weighted(&won.after, cur, &self.queries, Some(&won.after));
            alts.push((
                s.gain,
                Alternative {
                    def,
                    alt_cost,
                    win_cost,
                    size: self.known_size(m.mv.new_id()),
                },
            ));
        }
        alts.sort_by(|a, b| b.0.total_cmp(&a.0));
        alts.into_iter().take(3).map(|(_, a)| a).collect()
    }

    /// Removes chosen indexes no plan uses under the chosen set, until stable;
    /// returns the final set and each query's evaluation under it.
    pub(crate) fn prune(
        &mut self,
        mut chosen: Vec<usize>,
    ) -> Result<(Vec<usize>, Vec<Option<super::Eval>>), AdviseError> {
        loop {
            let mut evals: Vec<Option<super::Eval>> = vec![None; self.queries.len()];
            let mut used: BTreeSet<usize> = BTreeSet::new();
            for (q, slot) in evals.iter_mut().enumerate() {
                if self.queries[q].skipped.is_some() {
                    continue;
                }
                let e = match self.cost(q, &chosen) {
                    Ok(e) => e,
                    Err(CostError::Fatal(e)) => return Err(e),
                    Err(CostError::Invalid(m)) => {
                        return Err(AdviseError::WhatIf(format!(
                            "an index chosen earlier was rejected when re-planned: {m}"
                        )))
                    }
                };
                used.extend(e.uses.iter().copied());
                *slot = Some(e);
            }
            let before = chosen.len();
            chosen.retain(|id| used.contains(id));
            if chosen.len() == before {
                return Ok((chosen, evals));
            }
        }
    }
}

/// Calls-weighted mean cost per call over the queries of `winner_after`, each
/// taken from `with` when it has it, else its current cost.
fn weighted(
    winner_after: &[(usize, f64)],
    cur: &[f64],
    queries: &[super::QState],
    with: Option<&[(usize, f64)]>,
) -> f64 {
    let (mut total, mut calls) = (0.0, 0.0);
    for &(q, _) in winner_after {
        let c = with
            .and_then(|w| w.iter().find(|(x, _)| *x == q).map(|&(_, c)| c))
            .unwrap_or(cur[q]);
        total += queries[q].calls * c;
        calls += queries[q].calls;
    }
    if calls > 0.0 {
        total / calls
    } else {
        0.0
    }
}
