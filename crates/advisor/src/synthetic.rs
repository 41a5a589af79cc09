//! A synthetic [`WhatIf`] for tests: a small, deterministic cost model over a
//! hand-built catalog (no database).
//!
//! Per table of each block: a sequential scan costs `rows` plus a sort of the
//! filtered rows when the block orders by this table; an index is usable when
//! its leading keys match equalities (then at most one range), or when its keys
//! give the ORDER BY; it costs `log2(rows)` plus `1.2` per fetched row (`0.2`
//! for an index-only scan), `+0.01` per stored column (a wider index is a bit
//! dearer), and with an ORDER BY it provides and a LIMIT it stops after
//! `limit / residual selectivity` rows. Join columns count as equalities,
//! repeated [`LOOPS`] times (the inner side of a nested loop). Partial indexes
//! are usable when the block has the same equality / IS NULL; index sizes are
//! rows × (Σ widths + 8). Validation rejects `now(` and `::date` (a
//! timestamptz cast, not immutable) in expressions.

use std::collections::{BTreeMap, HashMap};

use pgpilot_sql::{Operand, PredicateKind, QueryShape, StatementKind, TableSource, Target};

use crate::facts::{query_facts, unqualify};
use crate::{Catalog, Config, IndexDef, KeyExpr, PlanEstimate, TableInfo, WhatIf, WhatIfError};

/// Selectivity of a range predicate.
pub(crate) const RANGE_SEL: f64 = 0.1;
/// Outer rows of a nested loop.
pub(crate) const LOOPS: f64 = 10.0;

/// The synthetic planner.
pub(crate) struct Synthetic {
    pub catalog: Catalog,
    pub plans: u64,
    /// Every plan call: (sql, params, labels of the hypothetical indexes on the
    /// query's tables, sorted).
    pub calls: Vec<(String, Vec<Option<String>>, Vec<String>)>,
    /// SQL substrings that make `plan` fail with `Fatal`.
    pub fatal: Vec<String>,
    /// Like HypoPG before 1.4: asking to hide an index is a `Query` error.
    pub cannot_hide: bool,
    shapes: HashMap<String, QueryShape>,
}

impl Synthetic {
    pub(crate) fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            plans: 0,
            calls: Vec::new(),
            fatal: Vec::new(),
            cannot_hide: false,
            shapes: HashMap::new(),
        }
    }

    /// Plans made for statements containing `needle`.
    pub(crate) fn plans_of(&self, needle: &str) -> usize {
        self.calls.iter().filter(|c| c.0.contains(needle)).count()
    }
}

fn n_distinct(t: &TableInfo, col: &str) -> f64 {
    match t.column(col).and_then(|c| c.n_distinct) {
        Some(d) if d > 0.0 => d,
        Some(d) if d < 0.0 => -d * t.rows,
        _ => 100.0,
    }
}

/// What a block asks of one table.
#[derive(Debug, Default)]
struct Ask {
    /// Equality selectivity per key text (column name or expression text).
    eq: BTreeMap<String, f64>,
    range: BTreeMap<String, f64>,
    /// `col = 'v'` / `col IS NULL` texts, for partial indexes.
    fixed: Vec<String>,
    join: BTreeMap<String, f64>,
    /// (key text, descending) of the ORDER BY, when all on this table.
    order: Vec<(String, bool)>,
}

fn width(t: &TableInfo, c: &str) -> f64 {
    t.column(c).and_then(|c| c.avg_width).unwrap_or(8.0)
}

fn stored_width(t: &TableInfo, d: &IndexDef) -> f64 {
    let keys: f64 = d
        .keys
        .iter()
        .map(|k| match &k.expr {
            KeyExpr::Column(c) => width(t, c),
            KeyExpr::Expression(_) => 8.0,
        })
        .sum();
    keys + d.include.iter().map(|c| width(t, c)).sum::<f64>() + 8.0
}

/// Share of rows a partial predicate keeps, or `None` when `ask` does not imply it.
fn partial_share(t: &TableInfo, d: &IndexDef, ask: Option<&Ask>) -> Option<f64> {
    let Some(p) = &d.predicate else {
        return Some(1.0);
    };
    let mut share = 1.0;
    for part in p.split(" AND ") {
        if let Some(ask) = ask {
            if !ask.fixed.iter().any(|f| f == part) {
                return None;
            }
        }
        let col = part
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches('"');
        share *= if part.ends_with("IS NULL") {
            0.01
        } else {
            1.0 / n_distinct(t, col)
        };
    }
    Some(share)
}

impl WhatIf for Synthetic {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.plans += 1;
        if self.fatal.iter().any(|f| sql.contains(f.as_str())) {
            return Err(WhatIfError::Fatal("connection lost".into()));
        }
        if self.cannot_hide && !config.hidden.is_empty() {
            return Err(WhatIfError::Query("hiding needs HypoPG 1.4".into()));
        }
        if !self.shapes.contains_key(sql) {
            let s = QueryShape::parse(sql).map_err(|e| WhatIfError::Query(e.to_string()))?;
            self.shapes.insert(sql.to_string(), s);
        }
        let shape = self
            .shapes
            .get(sql)
            .cloned()
            .ok_or_else(|| WhatIfError::Query("gone".into()))?;
        let facts = query_facts(&shape, &self.catalog);
        let mut on_tables: Vec<String> = config
            .hypothetical
            .iter()
            .filter(|d| facts.tables.contains_key(&d.qualified_table()))
            .map(crate::select::index_label)
            .collect();
        on_tables.sort();
        self.calls
            .push((sql.to_string(), params.to_vec(), on_tables));
        let mut total = 1.0;
        let mut used = Vec::new();
        let mut used_existing = Vec::new();
        let mut sorts = false;
        if shape.kind == StatementKind::Insert {
            return Ok(PlanEstimate {
                total_cost: total,
                used_hypothetical: used,
                used_existing,
                sorts,
            });
        }
        for block in &shape.blocks {
            let limit: Option<f64> = match &block.limit {
                Some(pgpilot_sql::LimitValue::Const(c)) => c.parse().ok(),
                Some(_) => Some(20.0),
                None => None,
            };
            for r in block
                .tables
                .iter()
                .filter(|r| r.source == TableSource::Relation)
            {
                let Some(t) = self.catalog.table(&r.qualified_name()).cloned() else {
                    return Err(WhatIfError::Query(format!(
                        "relation \"{}\" does not exist",
                        r.qualified_name()
                    )));
                };
                let tq = t.qualified_name();
                let mine = |c: &pgpilot_sql::ColumnRef| {
                    crate::facts::resolve(&shape, block, c, &self.catalog)
                        .is_some_and(|x| x.qualified_name() == tq)
                };
                let mut ask = Ask::default();
                for p in &block.predicates {
                    if p.in_or || p.negated {
                        continue;
                    }
                    let key = match &p.target {
                        Target::Column(c) if mine(c) => c.column.clone(),
                        Target::Expression { text, columns } if columns.iter().all(mine) => {
                            unqualify(text, columns)
                        }
                        _ => continue,
                    };
                    let nd = n_distinct(&t, &key);
                    match p.kind {
                        PredicateKind::Eq => {
                            ask.eq.insert(
                                key.clone(),
                                if key.contains('(') { 0.001 } else { 1.0 / nd },
                            );
                            if let [Operand::Const(v)] = &p.values[..] {
                                ask.fixed.push(format!(
                                    "{} = {}",
                                    pgpilot_findings::ident::quote_ident(&key),
                                    pgpilot_findings::ident::quote_literal(v)
                                ));
                            }
                        }
                        PredicateKind::In => {
                            ask.eq
                                .insert(key, (p.values.len().max(2) as f64 / nd).min(1.0));
                        }
                        PredicateKind::IsNull => {
                            ask.fixed.push(format!(
                                "{} IS NULL",
                                pgpilot_findings::ident::quote_ident(&key)
                            ));
                            ask.eq.insert(key, 0.01);
                        }
                        PredicateKind::Range => {
                            ask.range.insert(key, RANGE_SEL);
                        }
                        PredicateKind::Like if p.leading_wildcard == Some(false) => {
                            ask.range.insert(key, 0.05);
                        }
                        _ => {}
                    }
                }
                // The first FROM item drives the joins; the others are inner sides.
                let driver = block.tables.first().is_some_and(|f| f == r);
                for j in &block.joins {
                    for (a, b) in [(&j.left, &j.right), (&j.right, &j.left)] {
                        if mine(a) && !mine(b) && !driver {
                            ask.join
                                .insert(a.column.clone(), 1.0 / n_distinct(&t, &a.column));
                        }
                    }
                }
                let all_mine = !block.order_by.is_empty()
                    && block
                        .order_by
                        .iter()
                        .all(|o| matches!(&o.target, Target::Column(c) if mine(c)));
                if all_mine {
                    ask.order = block
                        .order_by
                        .iter()
                        .filter_map(|o| o.target.column().map(|c| (c.column.clone(), o.descending)))
                        .collect();
                }
                let use_ = facts.tables.get(&tq).cloned().unwrap_or_default();
                let filter_sel: f64 = ask.eq.values().chain(ask.range.values()).product();
                let out_rows = (t.rows * filter_sel).max(1.0);
                let sort_cost = |n: f64| n * (n + 2.0).log2() * 0.05;
                let seq = t.rows
                    + if ask.order.is_empty() {
                        0.0
                    } else {
                        sort_cost(out_rows)
                    };
                let mut best = (seq, None::<(bool, usize)>, !ask.order.is_empty());
                let existing: Vec<(String, IndexDef)> = self
                    .catalog
                    .indexes_on(&tq)
                    .filter(|e| !config.hidden.contains(&e.name))
                    .map(|e| (e.name.clone(), e.def.clone()))
                    .collect();
                let candidates = existing
                    .iter()
                    .enumerate()
                    .map(|(i, (_, d))| (false, i, d))
                    .chain(
                        config
                            .hypothetical
                            .iter()
                            .enumerate()
                            .filter(|(_, d)| d.qualified_table() == tq)
                            .map(|(i, d)| (true, i, d)),
                    );
                for (hypo, pos, d) in candidates {
                    let Some(share) = partial_share(&t, d, Some(&ask)) else {
                        continue;
                    };
                    let rows_in = (t.rows * share).max(1.0);
                    let mut sel = 1.0;
                    let mut consumed: Vec<String> = Vec::new();
                    let mut n_eq = 0;
                    let mut join = false;
                    for k in &d.keys {
                        let text = match &k.expr {
                            KeyExpr::Column(c) => c.clone(),
                            KeyExpr::Expression(x) => x.clone(),
                        };
                        if let Some(s) = ask.eq.get(&text) {
                            sel *= s;
                            n_eq += 1;
                            consumed.push(text);
                        } else if let Some(s) = ask.join.get(&text) {
                            sel *= s;
                            n_eq += 1;
                            join = true;
                            consumed.push(text);
                        } else {
                            if let Some(s) = ask.range.get(&text) {
                                sel *= s;
                                consumed.push(text);
                            }
                            break;
                        }
                    }
                    let rest: Vec<(String, bool)> = d.keys[n_eq..]
                        .iter()
                        .filter_map(|k| k.expr.column().map(|c| (c.to_string(), k.descending)))
                        .collect();
                    let gives_order = !ask.order.is_empty()
                        && rest.len() >= ask.order.len()
                        && (ask.order.iter().zip(&rest).all(|(a, b)| a == b)
                            || ask
                                .order
                                .iter()
                                .zip(&rest)
                                .all(|(a, b)| a.0 == b.0 && a.1 != b.1));
                    if consumed.is_empty() && !gives_order {
                        continue;
                    }
                    let stored = d.stored_columns();
                    let index_only =
                        !use_.star && use_.read.iter().all(|c| stored.contains(&c.as_str()));
                    let per_row = if index_only { 0.2 } else { 1.2 };
                    let matched = rows_in * sel;
                    let residual: f64 = ask
                        .eq
                        .iter()
                        .chain(ask.range.iter())
                        .filter(|(k, _)| !consumed.contains(k))
                        .map(|(_, s)| *s)
                        .product();
                    let fetched = match (gives_order, limit) {
                        (true, Some(l)) => matched.min(l / residual.max(1e-9)),
                        _ => matched,
                    };
                    let mut cost = rows_in.log2().max(1.0)
                        + fetched * per_row
                        + 0.01 * (d.keys.len() + d.include.len()) as f64;
                    if !ask.order.is_empty() && !gives_order {
                        cost += sort_cost((matched * residual).max(1.0));
                    }
                    if join {
                        cost *= LOOPS;
                    }
                    if cost < best.0 {
                        best = (
                            cost,
                            Some((hypo, pos)),
                            !ask.order.is_empty() && !gives_order,
                        );
                    }
                }
                total += best.0;
                sorts |= best.2;
                match best.1 {
                    Some((true, pos)) => used.push(pos),
                    Some((false, i)) => used_existing.push(existing[i].0.clone()),
                    None => {}
                }
            }
        }
        Ok(PlanEstimate {
            total_cost: total,
            used_hypothetical: used,
            used_existing,
            sorts,
        })
    }

    fn index_size(&mut self, index: &IndexDef) -> Result<u64, WhatIfError> {
        let t = self
            .catalog
            .table(&index.qualified_table())
            .cloned()
            .ok_or_else(|| WhatIfError::InvalidIndex("no such table".into()))?;
        let share = partial_share(&t, index, None).unwrap_or(1.0);
        Ok((t.rows * share * stored_width(&t, index)) as u64 + 8192)
    }

    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError> {
        let bad = index
            .keys
            .iter()
            .any(|k| matches!(&k.expr, KeyExpr::Expression(x) if x.contains("now(") || x.contains("::date")))
            || index.predicate.as_deref().is_some_and(|p| p.contains("now("));
        if bad {
            return Err(WhatIfError::InvalidIndex(
                "functions in index expression must be marked IMMUTABLE".into(),
            ));
        }
        Ok(())
    }

    fn plans_made(&self) -> u64 {
        self.plans
    }
}
