//! Workload-level index advice: candidates from every query, what-if costs
//! with real parameter values, a greedy selection with Extend moves under a
//! storage budget and write penalty, a final pruning of unused indexes, and
//! recommendations with their reasons and the alternatives that lost.
//!
//! See [`crate::select`] for the plan memo and the write penalty constants, and
//! `greedy.rs` for the move choice (highest net benefit; per byte under a
//! budget; near-ties go to the smaller index).

use std::collections::BTreeSet;

use pgpilot_findings::ident::truncate_ident;

use crate::candidates::workload_candidates;
use crate::select::greedy::{Alternative, Limits};
use crate::select::{index_label, Engine};
use crate::{
    AdviseError, AdvisorQuery, Catalog, IndexDef, KeyExpr, Recommendation, ServedQuery,
    SkippedQuery, TableInfo, WhatIf,
};

/// Share of a table's rows changed since the last ANALYZE above which its
/// statistics are called stale.
pub const STALE_FRACTION: f64 = 0.20;

/// Bytes of an index entry beyond its columns (index tuple header and line pointer).
pub const ENTRY_OVERHEAD_BYTES: f64 = 8.0;

/// Settings of one advice run.
#[derive(Debug, Clone, PartialEq)]
pub struct AdviseOptions {
    /// Most bytes the recommended indexes may take together (`None` = no limit).
    pub budget_bytes: Option<u64>,
    /// Most key columns per index.
    pub max_columns: usize,
    /// Least relative cost cut (calls-weighted, over the queries an index can
    /// serve) for an index or an extension to be taken.
    pub min_gain: f64,
    /// Parameter sets each query is planned with.
    pub samples_per_query: usize,
}

impl Default for AdviseOptions {
    fn default() -> Self {
        Self {
            budget_bytes: None,
            max_columns: 3,
            min_gain: 0.10,
            samples_per_query: 2,
        }
    }
}

/// The result of [`advise`].
#[derive(Debug, Clone, PartialEq)]
pub struct Advice {
    /// Indexes to create, highest benefit first.
    pub recommendations: Vec<Recommendation>,
    /// Σ calls × cost under the existing indexes (planned queries only).
    pub workload_cost_before: f64,
    /// Σ calls × cost with every recommendation.
    pub workload_cost_after: f64,
    /// Queries that could not be planned, with the reason.
    pub skipped: Vec<SkippedQuery>,
    /// What-if plans made during this advice.
    pub whatif_plans: u64,
    /// Distinct candidates generated.
    pub candidates_considered: usize,
    /// Things the user should know (stale statistics, budget, made-up parameters).
    pub notes: Vec<String>,
}

/// Advises indexes for `queries` (see the module docs).
pub fn advise(
    queries: &[AdvisorQuery],
    catalog: &Catalog,
    whatif: &mut dyn WhatIf,
    options: &AdviseOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Advice, AdviseError> {
    if queries.is_empty() {
        return Err(AdviseError::Empty(
            "the workload has no statement to advise on".into(),
        ));
    }
    let plans_at_start = whatif.plans_made();
    let max_columns = options.max_columns.max(1);
    let candidates = workload_candidates(queries, catalog, max_columns);
    progress(&format!(
        "{} candidate indexes from {} statements",
        candidates.len(),
        queries.len()
    ));
    let mut engine = Engine::new(
        queries,
        catalog,
        &mut *whatif,
        options.samples_per_query.max(1),
    );
    progress("planning every statement under the existing indexes");
    engine.plan_base()?;
    let ids: Vec<usize> = candidates
        .iter()
        .map(|c| engine.intern(c.index.clone(), &c.origin, true))
        .collect();
    let limits = Limits {
        budget_bytes: options.budget_bytes,
        max_columns,
        min_gain: options.min_gain.max(0.0),
    };
    let selection = engine.greedy(&ids, &limits, progress)?;
    let (merged, merges) = engine.merge_same_keys(selection.chosen.clone())?;
    if merges > 0 {
        progress(&format!(
            "merged {merges} pair(s) of indexes with the same keys into one"
        ));
    }
    let (merged, marginal) = engine.drop_marginal(merged, limits.min_gain)?;
    if marginal > 0 {
        progress(&format!(
            "dropped {marginal} index(es) the rest of the set made marginal"
        ));
    }
    let before_prune = merged.len();
    let (chosen, finals) = engine.prune(merged)?;
    if chosen.len() < before_prune {
        progress(&format!(
            "pruned {} index(es) no final plan uses",
            before_prune - chosen.len()
        ));
    }

    let mut notes = Vec::new();
    let mut skipped = Vec::new();
    let (mut before, mut after) = (0.0, 0.0);
    for (qi, q) in engine.queries.iter().enumerate() {
        match &q.skipped {
            Some(reason) => skipped.push(SkippedQuery {
                query: q.sql.clone(),
                reason: reason.clone(),
            }),
            None => {
                before += q.calls * q.base;
                after += q.calls * finals[qi].as_ref().map_or(q.base, |e| e.cost);
            }
        }
    }

    let mut taken: BTreeSet<String> = catalog.indexes.iter().map(|i| i.name.clone()).collect();
    let mut recommendations = Vec::new();
    for &id in &chosen {
        let size = engine.size(id)?.unwrap_or(0);
        let def = engine.defs[id].def.clone();
        let served: Vec<ServedQuery> = (0..engine.queries.len())
            .filter_map(|qi| {
                let e = finals[qi].as_ref()?;
                let q = &engine.queries[qi];
                e.uses.contains(&id).then(|| ServedQuery {
                    query: q.sql.clone(),
                    id: queries[qi].id.clone(),
                    calls: q.calls,
                    cost_before: q.base,
                    cost_after: e.cost,
                })
            })
            .collect();
        let benefit: f64 = served
            .iter()
            .map(|s| s.calls * (s.cost_before - s.cost_after))
            .sum();
        let table = catalog.table(&def.qualified_table());
        let (write_overhead, width_note) = write_overhead(&def, table);
        let name = unique_name(&def, &mut taken);
        let mut reason = reason(
            &served,
            size,
            write_overhead,
            &width_note,
            engine.defs[id].penalty,
        );
        if let Some(origin) = Some(&engine.defs[id].origin).filter(|o| !o.is_empty()) {
            reason.pop();
            reason.push_str(&format!("; proposed for {origin}."));
        }
        let mut alternatives: Vec<String> = selection
            .alternatives
            .get(&id)
            .map(|alts| alts.iter().map(alternative_text).collect())
            .unwrap_or_default();
        if let Some(&from) = selection.extended_from.get(&id) {
            if engine.defs[from].def != def {
                alternatives.insert(
                    0,
                    format!(
                        "extended from {} by the Extend step",
                        index_label(&engine.defs[from].def)
                    ),
                );
                alternatives.truncate(3);
            }
        }
        recommendations.push(Recommendation {
            ddl: def.create_sql(&name, true, true),
            rollback_ddl: def.drop_sql(&name),
            name,
            table: def.qualified_table(),
            columns: def.key_labels(),
            kind: def.kind(),
            index: def,
            size_bytes: size,
            queries: served,
            benefit,
            write_overhead,
            reason,
            alternatives,
            verification: None,
        });
    }
    recommendations.sort_by(|a, b| b.benefit.total_cmp(&a.benefit).then(a.name.cmp(&b.name)));

    budget_notes(&selection.too_big, &chosen, &engine, &mut notes);
    stale_notes(&engine, catalog, &mut notes);
    let made_up: Vec<&str> = engine
        .queries
        .iter()
        .filter(|q| q.made_up && q.skipped.is_none())
        .map(|q| q.sql.as_str())
        .collect();
    if !made_up.is_empty() {
        notes.push(format!(
            "{} statement(s) have parameters with no captured sample and no column statistics; \
             they were planned with NULL (or a guessed interval) there, which can hide \
             selectivity (first: {})",
            made_up.len(),
            one_line(made_up[0], 80)
        ));
    }
    if !engine.invalid.is_empty() {
        let first = engine.invalid.iter().next().map(|(&id, why)| {
            format!(
                "{}: {}",
                index_label(&engine.defs[id].def),
                one_line(why, 120)
            )
        });
        notes.push(format!(
            "{} candidate(s) PostgreSQL would reject were dropped (e.g. {})",
            engine.invalid.len(),
            first.unwrap_or_default()
        ));
    }
    drop(engine);
    Ok(Advice {
        recommendations,
        workload_cost_before: before,
        workload_cost_after: after,
        skipped,
        whatif_plans: whatif.plans_made().saturating_sub(plans_at_start),
        candidates_considered: candidates.len(),
        notes,
    })
}

/// Bytes per second of index entries the table's write rate adds, and the
/// entry-width-to-row-width sentence part.
fn write_overhead(def: &IndexDef, table: Option<&TableInfo>) -> (f64, String) {
    let Some(t) = table else {
        return (0.0, String::new());
    };
    let width_of = |c: &str| -> f64 {
        t.column(c)
            .map(|ci| ci.avg_width.unwrap_or_else(|| type_width(&ci.type_name)))
            .unwrap_or(8.0)
    };
    let mut width = ENTRY_OVERHEAD_BYTES;
    for k in &def.keys {
        width += match &k.expr {
            KeyExpr::Column(c) => width_of(c),
            KeyExpr::Expression(x) => {
                let cols = crate::facts::text_columns(x, t);
                if cols.is_empty() {
                    8.0
                } else {
                    cols.iter().map(|c| width_of(c)).sum()
                }
            }
        };
    }
    width += def.include.iter().map(|c| width_of(c)).sum::<f64>();
    if def.method == "brin" {
        // One summary tuple per block range, updated only when a write widens it.
        return (
            0.0,
            "BRIN: a summary per block range, next to no write overhead".to_string(),
        );
    }
    let overhead = t.writes_per_sec.max(0.0) * width;
    let ratio = if t.row_width > 0.0 {
        format!(
            "entry {:.0} B, {:.0} % of a {:.0} B row",
            width,
            100.0 * width / t.row_width,
            t.row_width
        )
    } else {
        format!("entry {width:.0} B")
    };
    (overhead, ratio)
}

/// A width guess for a type without statistics.
fn type_width(type_name: &str) -> f64 {
    match type_name {
        "smallint" => 2.0,
        "integer" | "real" | "date" => 4.0,
        "bigint"
        | "double precision"
        | "timestamp with time zone"
        | "timestamp without time zone"
        | "time without time zone" => 8.0,
        "boolean" => 1.0,
        "uuid" => 16.0,
        _ => 32.0,
    }
}

/// `base`, or `base_2`, `base_3`… (63 bytes at most) not in `taken`; records it.
fn unique_name(def: &IndexDef, taken: &mut BTreeSet<String>) -> String {
    let base = def.suggested_name();
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let room = pgpilot_findings::ident::MAX_IDENT_BYTES.saturating_sub(suffix.len());
        let mut end = base.len().min(room);
        while !base.is_char_boundary(end) {
            end -= 1;
        }
        name = truncate_ident(&format!("{}{suffix}", &base[..end]));
        n += 1;
    }
    taken.insert(name.clone());
    name
}

fn reason(
    served: &[ServedQuery],
    size: u64,
    overhead: f64,
    width_note: &str,
    penalty: f64,
) -> String {
    let calls: f64 = served.iter().map(|s| s.calls).sum();
    let before: f64 = served.iter().map(|s| s.calls * s.cost_before).sum();
    let after: f64 = served.iter().map(|s| s.calls * s.cost_after).sum();
    let cut = if before > 0.0 {
        100.0 * (before - after) / before
    } else {
        0.0
    };
    let per_call = |x: f64| if calls > 0.0 { x / calls } else { 0.0 };
    let mut s =
        format!(
        "Serves {} statement{} ({} calls): estimated cost per call {} → {} (−{:.0} %); about {}",
        served.len(),
        if served.len() == 1 { "" } else { "s" },
        if calls.fract() == 0.0 && calls < 1e4 { format!("{calls:.0}") } else { human(calls) },
        human(per_call(before)),
        human(per_call(after)),
        cut,
        bytes(size as f64),
    );
    if overhead > 0.0 {
        s.push_str(&format!(
            "; adds ~{}/s of index writes ({width_note})",
            bytes(overhead)
        ));
    } else if !width_note.is_empty() {
        s.push_str(&format!("; {width_note}, no measured write rate"));
    }
    if penalty > 0.0 {
        s.push_str(&format!(
            "; its upkeep for the workload's writes ({} cost units) is already subtracted",
            human(penalty)
        ));
    }
    s.push('.');
    s
}

fn alternative_text(a: &Alternative) -> String {
    let size = a
        .size
        .map(|s| format!(", {}", bytes(s as f64)))
        .unwrap_or_default();
    format!(
        "{}: cost {} vs {} per call on the same statements{size}",
        index_label(&a.def),
        human(a.alt_cost),
        human(a.win_cost)
    )
}

fn budget_notes(
    too_big: &[(usize, u64)],
    chosen: &[usize],
    engine: &Engine<'_>,
    notes: &mut Vec<String>,
) {
    if too_big.is_empty() {
        return;
    }
    if chosen.is_empty() {
        if let Some(&(id, size)) = too_big.iter().min_by_key(|(_, s)| *s) {
            notes.push(format!(
                "budget too small for any index: smallest useful candidate is {} ({})",
                index_label(&engine.defs[id].def),
                bytes(size as f64)
            ));
        }
    } else {
        let list: Vec<String> = too_big
            .iter()
            .take(3)
            .map(|&(id, s)| {
                format!(
                    "{} ({})",
                    index_label(&engine.defs[id].def),
                    bytes(s as f64)
                )
            })
            .collect();
        notes.push(format!(
            "{} useful candidate(s) alone exceed the budget and were dropped: {}",
            too_big.len(),
            list.join("; ")
        ));
    }
}

fn stale_notes(engine: &Engine<'_>, catalog: &Catalog, notes: &mut Vec<String>) {
    let used: BTreeSet<&String> = engine
        .queries
        .iter()
        .flat_map(|q| q.facts.tables.keys())
        .collect();
    for t in &catalog.tables {
        let name = t.qualified_name();
        if used.contains(&name) && t.rows > 0.0 && t.mod_since_analyze > STALE_FRACTION * t.rows {
            notes.push(format!(
                "what-if estimates for {name} rely on stale statistics ({} rows changed since the \
                 last ANALYZE, {:.0} % of the table); ANALYZE {name} first",
                human(t.mod_since_analyze),
                100.0 * t.mod_since_analyze / t.rows
            ));
        }
    }
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

/// A planner cost or count in a few characters: `812`, `12.3k`, `4.5M`.
pub fn human(x: f64) -> String {
    let a = x.abs();
    if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A size in bytes for people: `8.0 kB`, `2.3 MB`.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
