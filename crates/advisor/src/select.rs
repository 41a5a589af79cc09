//! The what-if engine behind workload-level selection: parameter sets per
//! query, plans memoized by the hypothetical indexes that can matter to each
//! query, index sizes, validation and the write penalty of an index.
//!
//! **Which indexes matter to a query.** An index on table T can only change the
//! plan of a query that reads T and uses the index's leading key column in a
//! predicate, join, ORDER BY, GROUP BY or DISTINCT ON (or any of its key
//! columns when the leading one has few distinct values, for PostgreSQL 18's
//! skip scan), and — for a partial index — filters on every column of its
//! predicate. (Full scans of an index only for its narrowness are ignored.) A query is planned only
//! for configurations that differ in such indexes: the memo key is (query,
//! sorted ids of the configured indexes that matter to it), so a query is never
//! re-planned for a change on tables or columns it does not use, and a
//! candidate is only evaluated on the queries it matters to. The planner is
//! still handed the whole configuration.
//!
//! The greedy search itself lives in [`crate::select::greedy`] (see
//! `greedy.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use pgpilot_sql::StatementKind;

use crate::facts::{query_facts, text_columns, QueryFacts};
use crate::params::parameter_sets;
use crate::{AdviseError, AdvisorQuery, Catalog, Config, IndexDef, KeyExpr, WhatIf, WhatIfError};

#[path = "greedy.rs"]
pub(crate) mod greedy;
#[path = "merge.rs"]
pub(crate) mod merge;

/// A leading key column with at most this many distinct values may be skipped
/// over (PostgreSQL 18 skip scan), so the index can matter to queries that use
/// only its later keys; otherwise only queries using the leading key count.
pub const SKIP_SCAN_MAX_DISTINCT: f64 = 100.0;

/// PostgreSQL's default `random_page_cost`: one index page written per new entry.
pub const RANDOM_PAGE_COST: f64 = 4.0;
/// PostgreSQL's default `cpu_index_tuple_cost`.
pub const CPU_INDEX_TUPLE_COST: f64 = 0.005;
/// PostgreSQL's default `cpu_operator_cost`: one comparison per B-tree level.
pub const CPU_OPERATOR_COST: f64 = 0.0025;

/// Share of a B-tree entry's upkeep a BRIN index costs per written row.
pub const BRIN_WRITE_SHARE: f64 = 0.01;

/// Planner cost units one index entry costs to write on a table of `rows` rows:
/// the descent (`cpu_operator_cost × log2(rows)` comparisons), the entry itself
/// (`cpu_index_tuple_cost`) and one random page write (`random_page_cost`).
pub fn entry_write_cost(rows: f64) -> f64 {
    RANDOM_PAGE_COST + CPU_INDEX_TUPLE_COST + CPU_OPERATOR_COST * rows.max(2.0).log2()
}

/// `public.users (last_login DESC, created_at) INCLUDE (email) WHERE …`.
pub fn index_label(def: &IndexDef) -> String {
    let mut s = format!(
        "{} ({})",
        def.qualified_table(),
        def.key_labels().join(", ")
    );
    if def.method != "btree" {
        s = format!(
            "{} USING {} ({})",
            def.qualified_table(),
            def.method,
            def.key_labels().join(", ")
        );
    }
    if !def.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", def.include.join(", ")));
    }
    if let Some(p) = &def.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

/// One workload query as the engine sees it.
#[derive(Debug, Clone)]
pub(crate) struct QState {
    /// Normalized SQL.
    pub sql: String,
    /// Weight.
    pub calls: f64,
    /// Parameter sets it is planned with.
    pub sets: Vec<Vec<Option<String>>>,
    /// Some `$n` that matters had to be NULL.
    pub made_up: bool,
    /// How it uses the catalog.
    pub facts: QueryFacts,
    /// Cost per parameter set under the existing indexes (after `plan_base`).
    pub base_sets: Vec<f64>,
    /// Mean of `base_sets`.
    pub base: f64,
    /// Why it cannot be planned, when it cannot.
    pub skipped: Option<String>,
}

/// An index the engine knows (a candidate or an extension of a chosen one).
#[derive(Debug, Clone)]
pub(crate) struct DefInfo {
    pub def: IndexDef,
    /// Catalog qualified table name.
    pub table: String,
    /// Every column whose change makes an UPDATE write a new entry.
    pub all_cols: BTreeSet<String>,
    /// Queries (positions) this index can matter to.
    pub relevant: Vec<usize>,
    /// Write penalty in planner cost units over the workload.
    pub penalty: f64,
    /// Why it exists.
    pub origin: String,
    /// Generated from query shapes (not an extension).
    pub from_candidate: bool,
}

/// A memoized evaluation of one query under one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Eval {
    /// Mean total cost over the parameter sets.
    pub cost: f64,
    /// Ids of the configured hypothetical indexes some plan used.
    pub uses: Vec<usize>,
}

/// Why a what-if evaluation failed.
#[derive(Debug)]
pub(crate) enum CostError {
    /// An index of the configuration is not buildable.
    Invalid(String),
    /// Advice must stop.
    Fatal(AdviseError),
}

/// A write statement on a table.
#[derive(Debug, Clone)]
struct WriteStmt {
    calls: f64,
    kind: StatementKind,
    written: Vec<String>,
}

/// The engine.
pub(crate) struct Engine<'w> {
    whatif: &'w mut dyn WhatIf,
    pub queries: Vec<QState>,
    pub defs: Vec<DefInfo>,
    ids: HashMap<IndexDef, usize>,
    cache: HashMap<(usize, Vec<usize>), Eval>,
    sizes: HashMap<usize, u64>,
    /// Ids PostgreSQL would reject, with the reason.
    pub invalid: BTreeMap<usize, String>,
    validated: HashSet<usize>,
    writes: BTreeMap<String, Vec<WriteStmt>>,
    existing_cols: BTreeMap<String, BTreeSet<String>>,
    catalog: &'w Catalog,
}

impl<'w> Engine<'w> {
    /// Prepares the queries (facts, parameter sets) without planning anything.
    pub fn new(
        queries: &[AdvisorQuery],
        catalog: &'w Catalog,
        whatif: &'w mut dyn WhatIf,
        samples_per_query: usize,
    ) -> Self {
        let mut states = Vec::with_capacity(queries.len());
        let mut writes: BTreeMap<String, Vec<WriteStmt>> = BTreeMap::new();
        for q in queries {
            let facts = query_facts(&q.shape, catalog);
            if let Some(w) = &facts.write {
                writes.entry(w.table.clone()).or_default().push(WriteStmt {
                    calls: q.calls.max(0.0),
                    kind: w.kind,
                    written: w.written.clone(),
                });
            }
            let p = parameter_sets(q, catalog, samples_per_query);
            states.push(QState {
                sql: q.sql.clone(),
                calls: q.calls.max(0.0),
                made_up: p.made_up(),
                sets: p.sets,
                facts,
                base_sets: Vec::new(),
                base: 0.0,
                skipped: None,
            });
        }
        let mut existing_cols: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in catalog.indexes.iter().filter(|e| e.valid) {
            let t = e.def.qualified_table();
            let cols = existing_cols.entry(t.clone()).or_default();
            cols.extend(e.def.stored_columns().into_iter().map(str::to_string));
            if let Some(ti) = catalog.table(&t) {
                for k in &e.def.keys {
                    if let KeyExpr::Expression(x) = &k.expr {
                        cols.extend(text_columns(x, ti));
                    }
                }
                if let Some(p) = &e.def.predicate {
                    cols.extend(text_columns(p, ti));
                }
            }
        }
        Self {
            whatif,
            queries: states,
            defs: Vec::new(),
            ids: HashMap::new(),
            cache: HashMap::new(),
            sizes: HashMap::new(),
            invalid: BTreeMap::new(),
            validated: HashSet::new(),
            writes,
            existing_cols,
            catalog,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &'w Catalog {
        self.catalog
    }

    /// Plans every query under the existing indexes; a query none of whose
    /// parameter sets can be planned is marked skipped, a set that fails is dropped.
    pub fn plan_base(&mut self) -> Result<(), AdviseError> {
        for qi in 0..self.queries.len() {
            let sets = std::mem::take(&mut self.queries[qi].sets);
            let mut kept = Vec::new();
            let mut costs = Vec::new();
            let mut first_error: Option<String> = None;
            for set in sets {
                match self
                    .whatif
                    .plan(&self.queries[qi].sql, &set, Config::default())
                {
                    Ok(e) => {
                        costs.push(e.total_cost);
                        kept.push(set);
                    }
                    Err(WhatIfError::Fatal(m)) => return Err(AdviseError::WhatIf(m)),
                    Err(WhatIfError::Query(m)) | Err(WhatIfError::InvalidIndex(m)) => {
                        first_error.get_or_insert(m);
                    }
                }
            }
            let q = &mut self.queries[qi];
            if costs.is_empty() {
                q.skipped = Some(first_error.unwrap_or_else(|| "no parameter set".into()));
            } else {
                q.base = costs.iter().sum::<f64>() / costs.len() as f64;
            }
            q.sets = kept;
            q.base_sets = costs;
        }
        Ok(())
    }

    /// Registers `def` (once) and returns its id.
    pub fn intern(&mut self, def: IndexDef, origin: &str, from_candidate: bool) -> usize {
        if let Some(&id) = self.ids.get(&def) {
            if from_candidate {
                self.defs[id].from_candidate = true;
            }
            return id;
        }
        let table = self
            .catalog
            .table(&def.qualified_table())
            .map(|t| t.qualified_name())
            .unwrap_or_else(|| def.qualified_table());
        let info = self.catalog.table(&table);
        let key_columns = |k: &crate::IndexKey| -> Vec<String> {
            match &k.expr {
                KeyExpr::Column(c) => vec![c.clone()],
                KeyExpr::Expression(x) => info.map(|t| text_columns(x, t)).unwrap_or_default(),
            }
        };
        let key_cols: Vec<String> = def.keys.iter().flat_map(key_columns).collect();
        let leading: Vec<String> = def.keys.first().map(key_columns).unwrap_or_default();
        // A skip scan can use later keys when the leading column has few values.
        let skippable = match (def.keys.first().and_then(|k| k.expr.column()), info) {
            (Some(c), Some(t)) => t
                .column(c)
                .and_then(|ci| ci.n_distinct)
                .map(|d| if d < 0.0 { -d * t.rows } else { d })
                .is_some_and(|d| d > 0.0 && d <= SKIP_SCAN_MAX_DISTINCT),
            _ => false,
        };
        let pred_cols = match (&def.predicate, info) {
            (Some(p), Some(t)) => text_columns(p, t),
            _ => Vec::new(),
        };
        let mut all_cols: BTreeSet<String> = key_cols.iter().cloned().collect();
        all_cols.extend(def.include.iter().cloned());
        all_cols.extend(pred_cols.iter().cloned());
        let relevant: Vec<usize> = (0..self.queries.len())
            .filter(|&q| {
                let Some(u) = self.queries[q].facts.tables.get(&table) else {
                    return false;
                };
                let keys = if skippable { &key_cols } else { &leading };
                keys.iter().any(|c| u.usable.contains(c))
                    && pred_cols.iter().all(|c| u.filtered.contains(c))
            })
            .collect();
        let rows = info.map_or(0.0, |t| t.rows);
        let existing = self.existing_cols.get(&table);
        let penalty = self
            .writes
            .get(&table)
            .map(|ws| {
                ws.iter()
                    .filter(|w| match w.kind {
                        StatementKind::Update => w.written.iter().any(|c| {
                            all_cols.contains(c) || existing.is_some_and(|e| e.contains(c))
                        }),
                        _ => true,
                    })
                    .map(|w| w.calls)
                    .sum::<f64>()
                    * entry_write_cost(rows)
            })
            .unwrap_or(0.0)
            // A BRIN summarizes a range of pages: a write rarely changes it (an
            // append only widens the last range's bounds).
            * if def.method == "brin" { BRIN_WRITE_SHARE } else { 1.0 };
        let id = self.defs.len();
        self.ids.insert(def.clone(), id);
        self.defs.push(DefInfo {
            def,
            table,
            all_cols,
            relevant,
            penalty,
            origin: origin.to_string(),
            from_candidate,
        });
        id
    }

    /// Whether PostgreSQL would accept index `id` (checked once; plain-column
    /// B-trees on B-tree-able types are accepted without asking).
    pub fn check_valid(&mut self, id: usize) -> Result<bool, AdviseError> {
        if self.invalid.contains_key(&id) {
            return Ok(false);
        }
        let d = &self.defs[id].def;
        let simple = d.method == "btree"
            && d.predicate.is_none()
            && d.keys.iter().all(|k| matches!(k.expr, KeyExpr::Column(_)));
        if simple || self.validated.contains(&id) {
            return Ok(true);
        }
        match self.whatif.validate(&self.defs[id].def) {
            Ok(()) => {
                self.validated.insert(id);
                Ok(true)
            }
            Err(WhatIfError::Fatal(m)) => Err(AdviseError::WhatIf(m)),
            Err(WhatIfError::InvalidIndex(m)) | Err(WhatIfError::Query(m)) => {
                self.invalid.insert(id, m);
                Ok(false)
            }
        }
    }

    /// Estimated size of index `id` (memoized); `None` when it cannot be built.
    pub fn size(&mut self, id: usize) -> Result<Option<u64>, AdviseError> {
        if let Some(&s) = self.sizes.get(&id) {
            return Ok(Some(s));
        }
        if self.invalid.contains_key(&id) {
            return Ok(None);
        }
        let def = &self.defs[id].def;
        match self.whatif.index_size(def) {
            Ok(s) => {
                let whatif = &mut self.whatif;
                let s = crate::size_model::corrected_size(def, self.catalog, s, |full| {
                    whatif.index_size(full).ok()
                });
                self.sizes.insert(id, s);
                Ok(Some(s))
            }
            Err(WhatIfError::Fatal(m)) => Err(AdviseError::WhatIf(m)),
            Err(WhatIfError::InvalidIndex(m)) | Err(WhatIfError::Query(m)) => {
                self.invalid.insert(id, m);
                Ok(None)
            }
        }
    }

    /// A size already known.
    pub fn known_size(&self, id: usize) -> Option<u64> {
        self.sizes.get(&id).copied()
    }

    fn matters(&self, id: usize, q: usize) -> bool {
        self.defs[id].relevant.binary_search(&q).is_ok()
    }

    /// Query `q`'s cost under `config` (ids), memoized on the ids that matter to it.
    pub fn cost(&mut self, q: usize, config: &[usize]) -> Result<Eval, CostError> {
        let mut key: Vec<usize> = config
            .iter()
            .copied()
            .filter(|&id| self.matters(id, q))
            .collect();
        key.sort_unstable();
        key.dedup();
        if key.is_empty() {
            return Ok(Eval {
                cost: self.queries[q].base,
                uses: Vec::new(),
            });
        }
        if let Some(e) = self.cache.get(&(q, key.clone())) {
            return Ok(e.clone());
        }
        let defs: Vec<IndexDef> = config.iter().map(|&id| self.defs[id].def.clone()).collect();
        let state = &self.queries[q];
        let mut total = 0.0;
        let mut uses: BTreeSet<usize> = BTreeSet::new();
        for (si, set) in state.sets.iter().enumerate() {
            let c = Config {
                hypothetical: &defs,
                hidden: &[],
            };
            match self.whatif.plan(&state.sql, set, c) {
                Ok(e) => {
                    total += e.total_cost;
                    for p in e.used_hypothetical {
                        if let Some(&id) = config.get(p) {
                            if key.binary_search(&id).is_ok() {
                                uses.insert(id);
                            }
                        }
                    }
                }
                Err(WhatIfError::Fatal(m)) => return Err(CostError::Fatal(AdviseError::WhatIf(m))),
                Err(WhatIfError::InvalidIndex(m)) => return Err(CostError::Invalid(m)),
                // Plannable without these indexes: count it at its base cost.
                Err(WhatIfError::Query(_)) => {
                    total += state.base_sets.get(si).copied().unwrap_or(state.base)
                }
            }
        }
        let n = state.sets.len().max(1) as f64;
        let e = Eval {
            cost: total / n,
            uses: uses.into_iter().collect(),
        };
        self.cache.insert((q, key), e.clone());
        Ok(e)
    }
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
