//! Judging a human's draft DDL statement by statement: `invalid` (PostgreSQL would
//! reject it), `unused` (no workload query would use it), `inferior` (a query it
//! targets is better served by another index) or `useful`.
//!
//! [`evaluate_draft`] reads the file with PostgreSQL's parser
//! ([`pgpilot_sql::parse_ddl`]), checks each `CREATE INDEX` against the catalog and
//! what PostgreSQL is known to reject (missing columns, non-IMMUTABLE functions in a
//! predicate or expression, options the access method lacks, a clashing name), then
//! asks the server ([`WhatIf::validate`]), and finally plans every workload query
//! on the index's table with real parameter values, without and with the draft
//! index, and with each of the advisor's own recommendations for that table.

use std::collections::{HashMap, HashSet};

use pgpilot_sql::{parse_ddl, DdlKind, IndexStatement, StatementKind, Target};
use serde::{Deserialize, Serialize};

use crate::{
    AdviseError, AdvisorQuery, Catalog, IndexDef, KeyExpr, TableInfo, WhatIf, WhatIfError,
};

#[path = "evaluate_checks.rs"]
mod checks;
#[path = "evaluate_plan.rs"]
mod plan;
#[path = "evaluate_text.rs"]
mod text;

use checks::{duplicates, index_def, same_index, unmodelled};
use text::{fmt_num, pct, quote_query, strip_qualifiers, with_notes};

/// The verdict on one draft statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// PostgreSQL would reject it.
    Invalid,
    /// No workload query would use it.
    Unused,
    /// A query it targets is better served by another index.
    Inferior,
    /// It helps: see the queries.
    Useful,
    /// Not a CREATE INDEX statement.
    NotAnIndex,
}

/// A workload query as seen by a judged statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluatedQuery {
    /// Normalized SQL.
    pub query: String,
    /// Executions in the workload.
    pub calls: f64,
    /// Estimated cost under the existing indexes.
    pub cost_before: f64,
    /// Estimated cost with the draft index.
    pub cost_after: f64,
}

/// A better index for a query the draft statement targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BetterIndex {
    /// Normalized SQL of the query.
    pub query: String,
    /// DDL of the better index.
    pub ddl: String,
    /// The query's estimated cost with the draft index (with the advisor's
    /// indexes on the query's other tables in place, as for `cost_with_better`).
    pub cost_with_draft: f64,
    /// With the better index instead of the draft's.
    pub cost_with_better: f64,
}

/// The judgement of one statement of the draft.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The statement as written (trimmed).
    pub statement: String,
    /// 1-based line where it starts in the file.
    pub line: usize,
    /// Verdict.
    pub verdict: Verdict,
    /// Why, in a sentence a DBA can act on.
    pub reason: String,
    /// Queries it serves (useful / inferior) or targets.
    pub queries: Vec<EvaluatedQuery>,
    /// Better indexes for the queries it targets (inferior).
    pub better: Vec<BetterIndex>,
}

/// Settings of [`evaluate_draft`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluateOptions {
    /// A recommended index whose cost for a query the draft serves is at least this
    /// fraction below the draft's (0.5 = 50 % cheaper) makes the draft `inferior`.
    pub inferior_margin: f64,
    /// Parameter sets planned per query (the first captured samples).
    pub max_param_sets: usize,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        Self {
            inferior_margin: 0.5,
            max_param_sets: 2,
        }
    }
}

/// Judges each statement of `draft_sql` against the workload, in file order.
///
/// A draft index is `useful` when the planner uses it for some workload query
/// planned with the existing indexes plus that index alone. `better` is the
/// advisor's recommended set: each of its indexes on the same table is planned in
/// the draft's place for the queries the draft serves, both with the advisor's
/// indexes on the other tables those queries read in place (so that a missing
/// index elsewhere in a join does not hide the difference); one at least
/// [`EvaluateOptions::inferior_margin`] cheaper makes the draft `inferior`, and
/// [`BetterIndex`] carries those two costs. Queries that cannot be planned are
/// skipped and counted in the reasons. Fails with [`AdviseError::Draft`] when the file holds no
/// statement (or cannot be read as SQL at all), and with [`AdviseError::WhatIf`]
/// when the what-if backend fails for good.
pub fn evaluate_draft(
    draft_sql: &str,
    queries: &[AdvisorQuery],
    catalog: &Catalog,
    whatif: &mut dyn WhatIf,
    better: &[IndexDef],
    options: &EvaluateOptions,
) -> Result<Vec<Evaluation>, AdviseError> {
    let statements = parse_ddl(draft_sql).map_err(|e| AdviseError::Draft(e.to_string()))?;
    if statements.is_empty() {
        return Err(AdviseError::Draft(
            "the file holds no SQL statement".to_string(),
        ));
    }
    let mut judge = Judge {
        queries,
        catalog,
        whatif,
        better,
        options,
        params: HashMap::new(),
        made_up: HashSet::new(),
        before: HashMap::new(),
        with_better: HashMap::new(),
        created: Vec::new(),
        dropped: Vec::new(),
    };
    let mut out = Vec::with_capacity(statements.len());
    for s in statements {
        let j = match &s.kind {
            DdlKind::ParseError { message } => Judgement::plain(
                Verdict::Invalid,
                format!("PostgreSQL cannot parse it: {message}"),
            ),
            DdlKind::Other { command, objects } => judge.other(command, objects),
            DdlKind::CreateIndex(stmt) => {
                let j = judge.index(stmt)?;
                if let Some(name) = &stmt.name {
                    if j.verdict != Verdict::Invalid {
                        judge.created.push((name.clone(), s.line));
                    }
                }
                j
            }
        };
        out.push(Evaluation {
            statement: s.text.trim().to_string(),
            line: s.line,
            verdict: j.verdict,
            reason: j.reason,
            queries: j.queries,
            better: j.better,
        });
    }
    Ok(out)
}

/// A table name resolved against the catalog: `schema.table` exactly, a bare name
/// when only one schema has it, else the `public` one (the default search_path).
pub(crate) fn resolve<'a>(catalog: &'a Catalog, name: &str) -> Result<&'a TableInfo, String> {
    if let Some(t) = catalog.table(name) {
        return Ok(t);
    }
    if !name.contains('.') {
        if let Some(t) = catalog.table(&format!("public.{name}")) {
            return Ok(t);
        }
        let schemas: Vec<&str> = catalog
            .tables
            .iter()
            .filter(|t| t.table == name)
            .map(|t| t.schema.as_str())
            .collect();
        if schemas.len() > 1 {
            return Err(format!(
                "table name {name} exists in several schemas ({}); which one is meant \
                 depends on search_path: qualify it",
                schemas.join(", ")
            ));
        }
    }
    Err(format!(
        "table {name} does not exist (PostgreSQL: relation \"{name}\" does not exist)"
    ))
}

/// A verdict with its explanation.
struct Judgement {
    verdict: Verdict,
    reason: String,
    queries: Vec<EvaluatedQuery>,
    better: Vec<BetterIndex>,
}

impl Judgement {
    fn plain(verdict: Verdict, reason: String) -> Self {
        Self {
            verdict,
            reason,
            queries: Vec::new(),
            better: Vec::new(),
        }
    }
}

/// A query's estimate under one configuration, averaged over its parameter sets.
#[derive(Debug, Clone, Copy)]
struct Planned {
    cost: f64,
    /// The first hypothetical index is used (for at least one parameter set).
    used: bool,
    /// The plan sorts (for at least one parameter set).
    sorts: bool,
}

/// The outcome of planning one query under one configuration.
enum Outcome {
    Planned(Planned),
    /// The query could not be planned (message of the last failure).
    Failed(String),
    /// The backend refused the hypothetical index itself.
    IndexRejected(String),
}

struct Judge<'a> {
    queries: &'a [AdvisorQuery],
    catalog: &'a Catalog,
    whatif: &'a mut dyn WhatIf,
    better: &'a [IndexDef],
    options: &'a EvaluateOptions,
    params: HashMap<usize, Vec<Vec<Option<String>>>>,
    /// Queries planned with NULL for a parameter nothing was known about.
    made_up: HashSet<usize>,
    /// Query → estimate under the existing indexes.
    before: HashMap<usize, Result<Planned, String>>,
    /// (better index, query) → estimate with that index.
    with_better: HashMap<(usize, usize), Option<Planned>>,
    /// Index names created by earlier statements of the file, with their line.
    created: Vec<(String, usize)>,
    /// Objects dropped by earlier statements of the file.
    dropped: Vec<String>,
}

impl Judge<'_> {
    fn other(&mut self, command: &str, objects: &[String]) -> Judgement {
        let mut reason =
            format!("{command} is not a CREATE INDEX statement, so it is not judged here");
        if command == "DROP INDEX" {
            for o in objects {
                let bare = o.rsplit('.').next().unwrap_or(o);
                let found = self.catalog.indexes.iter().find(|i| {
                    i.name == bare && (!o.contains('.') || *o == format!("{}.{bare}", i.def.schema))
                });
                match found {
                    Some(i) if i.constraint => reason.push_str(&format!(
                        "; note that {bare} backs a constraint of {} and PostgreSQL refuses \
                         to drop it with DROP INDEX (drop the constraint instead)",
                        i.def.qualified_table()
                    )),
                    Some(i) => reason.push_str(&format!(
                        "; it drops {bare} on {} ({} scans since the statistics reset; \
                         re-create with: {})",
                        i.def.qualified_table(),
                        i.scans,
                        i.create_sql
                    )),
                    None => reason.push_str(&format!("; there is no index named {o}")),
                }
            }
            reason.push_str(
                " (the advisor's drop recommendations cover unused and duplicate indexes)",
            );
        }
        if command.starts_with("DROP") {
            self.dropped.extend(objects.iter().cloned());
        }
        Judgement::plain(Verdict::NotAnIndex, reason)
    }

    fn index(&mut self, stmt: &IndexStatement) -> Result<Judgement, AdviseError> {
        let table = match resolve(self.catalog, &stmt.qualified_table()) {
            Ok(t) => t,
            Err(why) => return Ok(Judgement::plain(Verdict::Invalid, why)),
        };
        let def = index_def(stmt, table);
        if let Some(why) = checks::pure_check(stmt, table) {
            return Ok(Judgement::plain(Verdict::Invalid, why));
        }
        if let Some(j) = self.name_clash(stmt, table) {
            return Ok(j);
        }
        let mut notes = Vec::new();
        let unmodelled = unmodelled(stmt);
        // Whether the server accepted exactly this index (then a what-if backend
        // refusing it later is the backend's limitation, not PostgreSQL's).
        let mut accepted = false;
        match self.whatif.validate(&def) {
            Ok(()) => accepted = unmodelled.is_empty(),
            Err(WhatIfError::InvalidIndex(msg))
                if unmodelled.is_empty() || !msg.contains("operator class") =>
            {
                let hint = if msg.contains("IMMUTABLE") {
                    "; every function and cast in an index expression or predicate must be \
                     IMMUTABLE: casts of timestamp with time zone to date, time or text depend \
                     on the TimeZone setting (write e.g. `(created_at AT TIME ZONE 'UTC')::date`)"
                } else {
                    ""
                };
                return Ok(Judgement::plain(
                    Verdict::Invalid,
                    format!("PostgreSQL rejects it: {msg}{hint}"),
                ));
            }
            Err(WhatIfError::InvalidIndex(msg) | WhatIfError::Query(msg)) => {
                notes.push(format!("the server could not check it ({msg})"));
            }
            Err(WhatIfError::Fatal(msg)) => return Err(AdviseError::WhatIf(msg)),
        }
        if !unmodelled.is_empty() {
            notes.push(format!(
                "the what-if model plans it without {unmodelled}, so the verdict is for the \
                 default operator class and collation"
            ));
        }
        let tname = table.qualified_name();
        // An operator class or collation makes it a different index from one
        // that merely has the same keys.
        let duplicate = self
            .catalog
            .indexes_on(&tname)
            .find(|ex| unmodelled.is_empty() && duplicates(&ex.def, &def));
        if let Some(ex) = duplicate {
            return Ok(Judgement::plain(
                Verdict::Unused,
                with_notes(
                    format!(
                        "already served by existing index {} ({}): it has the same leading \
                         keys, method and predicate, so the planner has no reason to prefer \
                         the new one, which would only add write overhead and {} of storage",
                        ex.name,
                        ex.create_sql,
                        self.size_text(&def)?
                    ),
                    &notes,
                ),
            ));
        }
        let rejection_is_final = !accepted && unmodelled.is_empty();
        self.judge_plans(stmt, table, &def, notes, rejection_is_final)
    }

    /// An index or table of the same name already exists in the schema (or an
    /// earlier statement of the file creates it).
    fn name_clash(&self, stmt: &IndexStatement, table: &TableInfo) -> Option<Judgement> {
        let name = stmt.name.as_deref()?;
        let qualified = format!("{}.{name}", table.schema);
        if self.dropped.iter().any(|d| d == name || *d == qualified) {
            return None;
        }
        let what = if let Some(ex) = self
            .catalog
            .indexes
            .iter()
            .find(|i| i.name == name && i.def.schema == table.schema)
        {
            if stmt.if_not_exists && same_index(&ex.def, &index_def(stmt, table)) {
                return Some(Judgement::plain(
                    Verdict::Unused,
                    format!(
                        "index {qualified} already exists with this definition ({}): with IF \
                         NOT EXISTS the statement does nothing",
                        ex.create_sql
                    ),
                ));
            }
            format!("existing index {qualified} ({})", ex.create_sql)
        } else if let Some(l) = self.created.iter().find(|(n, _)| n == name).map(|(_, l)| l) {
            format!("the index created at line {l} of this file")
        } else if self
            .catalog
            .tables
            .iter()
            .any(|t| t.table == name && t.schema == table.schema)
        {
            format!("table {qualified}")
        } else {
            return None;
        };
        Some(if stmt.if_not_exists {
            Judgement::plain(
                Verdict::Unused,
                format!(
                    "the name {name} is already taken by {what}: with IF NOT EXISTS \
                     PostgreSQL only emits a notice and builds nothing, so this index would \
                     never exist; give it another name"
                ),
            )
        } else {
            Judgement::plain(
                Verdict::Invalid,
                format!(
                    "relation \"{name}\" already exists ({what}): index names share the \
                     namespace of tables in schema {}; give it another name",
                    table.schema
                ),
            )
        })
    }

    fn judge_plans(
        &mut self,
        stmt: &IndexStatement,
        table: &TableInfo,
        def: &IndexDef,
        mut notes: Vec<String>,
        rejection_is_final: bool,
    ) -> Result<Judgement, AdviseError> {
        let tname = table.qualified_name();
        let relevant: Vec<usize> = (0..self.queries.len())
            .filter(|&i| self.reads_table(i, &tname))
            .collect();
        if relevant.is_empty() {
            return Ok(Judgement::plain(
                Verdict::Unused,
                with_notes(format!("no workload query reads {tname}"), &notes),
            ));
        }
        let hypo = std::slice::from_ref(def);
        let mut failed = 0usize;
        let mut example: Option<String> = None;
        let mut rejected: Option<String> = None;
        let mut rows: Vec<(usize, Planned, Planned)> = Vec::new();
        for &qi in &relevant {
            let before = match self.before(qi)? {
                Ok(p) => p,
                Err(m) => {
                    failed += 1;
                    example.get_or_insert(m);
                    continue;
                }
            };
            match self.plan(qi, hypo, 0)? {
                Outcome::Planned(after) => rows.push((qi, before, after)),
                Outcome::IndexRejected(m) => {
                    rejected = Some(m);
                    failed += 1;
                }
                Outcome::Failed(m) => {
                    failed += 1;
                    example.get_or_insert(m);
                }
            }
        }
        if let (true, Some(m)) = (rows.is_empty(), rejected) {
            let j = if rejection_is_final {
                Judgement::plain(
                    Verdict::Invalid,
                    with_notes(format!("PostgreSQL rejects it: {m}"), &notes),
                )
            } else {
                Judgement::plain(
                    Verdict::Unused,
                    with_notes(
                        format!(
                            "not evaluated: the what-if planner cannot simulate this index \
                             ({m}), so no query could be planned with it; build it on a copy \
                             of the database (or use --whatif real-tx) to measure it"
                        ),
                        &notes,
                    ),
                )
            };
            return Ok(j);
        }
        let guessed = rows
            .iter()
            .filter(|(qi, _, _)| self.made_up.contains(qi))
            .count();
        if guessed > 0 {
            notes.push(format!(
                "{guessed} quer{} had to be planned with NULL for a parameter nothing is \
                 known about, which can hide its selectivity",
                if guessed == 1 { "y" } else { "ies" }
            ));
        }
        if failed > 0 {
            notes.push(format!(
                "{failed} of the {} queries on {tname} could not be planned and were left \
                 out{}",
                relevant.len(),
                example
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(", e.g. {m}"))
                    .unwrap_or_default()
            ));
        }
        let served: Vec<&(usize, Planned, Planned)> =
            rows.iter().filter(|(_, _, after)| after.used).collect();
        if served.is_empty() {
            return Ok(self.unused(stmt, table, def, &rows, notes));
        }
        // Inferior: a recommended index serves one of these queries much better.
        let mut better = Vec::new();
        let mut lines = Vec::new();
        for &&(qi, _, plain) in &served {
            let Some((bi, with_b, after)) = self.find_better(def, &tname, qi, plain)? else {
                continue;
            };
            let b = &self.better[bi];
            let q = &self.queries[qi];
            let (how, serves) = if after.sorts && !with_b.sorts {
                (
                    "would use it only to filter and would still sort the rows",
                    "returns them in order",
                )
            } else {
                ("would use it", "serves it")
            };
            let context: Vec<String> = self
                .context(qi, &tname)
                .iter()
                .map(|c| c.table.clone())
                .collect();
            let context = if context.is_empty() {
                String::new()
            } else {
                format!(
                    ", both with the recommended indexes on {} in place",
                    context.join(", ")
                )
            };
            lines.push(format!(
                "for {} ({} calls) the planner {how} (cost {}); {} ({}) {serves} at cost {} \
                 ({} lower{context})",
                quote_query(&q.sql),
                fmt_num(q.calls),
                fmt_num(after.cost),
                b.table,
                b.key_labels().join(", "),
                fmt_num(with_b.cost),
                pct(1.0 - with_b.cost / after.cost.max(f64::MIN_POSITIVE)),
            ));
            better.push(BetterIndex {
                query: q.sql.clone(),
                ddl: b.create_sql(&b.suggested_name(), true, true),
                cost_with_draft: after.cost,
                cost_with_better: with_b.cost,
            });
        }
        let queries: Vec<EvaluatedQuery> = served
            .iter()
            .map(|&&(qi, before, after)| self.evaluated(qi, before, after))
            .collect();
        let cut: f64 = queries
            .iter()
            .map(|q| q.calls * (q.cost_before - q.cost_after))
            .sum();
        let total: f64 = queries.iter().map(|q| q.calls * q.cost_before).sum();
        if !better.is_empty() {
            let mut reason = lines.join("; ");
            if better.len() < served.len() {
                reason.push_str(&format!(
                    "; it does help {} other quer{} (calls-weighted cost cut {})",
                    served.len() - better.len(),
                    if served.len() - better.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    },
                    fmt_num(
                        queries
                            .iter()
                            .filter(|q| !better.iter().any(|b| b.query == q.query))
                            .map(|q| q.calls * (q.cost_before - q.cost_after))
                            .sum::<f64>()
                    )
                ));
            }
            return Ok(Judgement {
                verdict: Verdict::Inferior,
                reason: with_notes(reason, &notes),
                queries,
                better,
            });
        }
        let per_query: Vec<String> = queries
            .iter()
            .take(5)
            .map(|q| {
                format!(
                    "{} cost {} → {} ({} lower, {} calls)",
                    quote_query(&q.query),
                    fmt_num(q.cost_before),
                    fmt_num(q.cost_after),
                    pct(1.0 - q.cost_after / q.cost_before.max(f64::MIN_POSITIVE)),
                    fmt_num(q.calls)
                )
            })
            .collect();
        let share = if total > 0.0 { cut / total } else { 0.0 };
        let mut reason = format!(
            "the planner uses it for {} of the {} planned queries on {tname}: {}{}; \
             calls-weighted cost cut {} ({} of these queries' cost){}; estimated size {}",
            queries.len(),
            rows.len(),
            per_query.join("; "),
            if queries.len() > 5 { "; …" } else { "" },
            fmt_num(cut),
            pct(share),
            if share < 0.01 {
                ", a marginal gain"
            } else {
                ""
            },
            self.size_text(def)?
        );
        if !stmt.concurrently && table.rows >= 100_000.0 {
            reason.push_str(&format!(
                "; add CONCURRENTLY: a plain CREATE INDEX blocks writes to {tname} ({} rows) \
                 for the whole build",
                fmt_num(table.rows)
            ));
        }
        Ok(Judgement {
            verdict: Verdict::Useful,
            reason: with_notes(reason, &notes),
            queries,
            better: Vec::new(),
        })
    }

    /// No query uses the index: say which queries it seems meant for and what the
    /// planner does instead.
    fn unused(
        &self,
        stmt: &IndexStatement,
        table: &TableInfo,
        def: &IndexDef,
        rows: &[(usize, Planned, Planned)],
        notes: Vec<String>,
    ) -> Judgement {
        let tname = table.qualified_name();
        let leading = def.key_labels().into_iter().next().unwrap_or_default();
        let targeted: Vec<&(usize, Planned, Planned)> = rows
            .iter()
            .filter(|(qi, _, _)| self.targets(*qi, table, def))
            .collect();
        let mut reason = if targeted.is_empty() {
            format!(
                "no workload query filters, joins, groups or sorts on {leading} of {tname}, \
                 and the planner uses it for none of the {} planned queries on the table",
                rows.len()
            )
        } else {
            let list: Vec<String> = targeted
                .iter()
                .take(5)
                .map(|(qi, before, after)| {
                    format!(
                        "{} (cost {} now, {} with it available)",
                        quote_query(&self.queries[*qi].sql),
                        fmt_num(before.cost),
                        fmt_num(after.cost)
                    )
                })
                .collect();
            format!(
                "the planner would not use it: for the {} quer{} that filter or sort on \
                 {leading} it still prefers the current plan — {}",
                targeted.len(),
                if targeted.len() == 1 { "y" } else { "ies" },
                list.join("; ")
            )
        };
        if let Some(p) = &stmt.predicate {
            reason.push_str(&format!(
                "; as a partial index it is only considered for queries whose WHERE clause \
                 implies `{}`",
                p.text
            ));
        }
        let queries = targeted
            .iter()
            .map(|&&(qi, before, after)| self.evaluated(qi, before, after))
            .collect();
        Judgement {
            verdict: Verdict::Unused,
            reason: with_notes(reason, &notes),
            queries,
            better: Vec::new(),
        }
    }

    fn evaluated(&self, qi: usize, before: Planned, after: Planned) -> EvaluatedQuery {
        let q = &self.queries[qi];
        EvaluatedQuery {
            query: q.sql.clone(),
            calls: q.calls,
            cost_before: before.cost,
            cost_after: after.cost,
        }
    }

    /// The query reads `table` (a qualified name).
    fn reads_table(&self, qi: usize, table: &str) -> bool {
        let q = &self.queries[qi];
        !matches!(q.shape.kind, StatementKind::Utility)
            && q.shape.relations().iter().any(|r| {
                resolve(self.catalog, &r.qualified_name())
                    .is_ok_and(|t| t.qualified_name() == table)
            })
    }

    /// The query filters, joins, groups or sorts on the index's leading key.
    fn targets(&self, qi: usize, table: &TableInfo, def: &IndexDef) -> bool {
        let Some(lead) = def.keys.first() else {
            return false;
        };
        let q = &self.queries[qi];
        let tname = table.qualified_name();
        let on_table = |t: Option<&str>, column: &str| match t {
            Some(t) => resolve(self.catalog, t).is_ok_and(|t| t.qualified_name() == tname),
            None => table.column(column).is_some(),
        };
        let matches = |target: &Target| match (&lead.expr, target) {
            (KeyExpr::Column(c), Target::Column(r)) => {
                r.column == *c && on_table(r.table.as_deref(), &r.column)
            }
            (KeyExpr::Expression(e), Target::Expression { text, columns }) => {
                text == e
                    || text.ends_with(&format!(".{e}"))
                    || (!columns.is_empty()
                        && columns
                            .iter()
                            .all(|c| on_table(c.table.as_deref(), &c.column))
                        && strip_qualifiers(text) == *e)
            }
            _ => false,
        };
        q.shape.blocks.iter().any(|b| {
            b.predicates.iter().any(|p| matches(&p.target))
                || b.order_by.iter().any(|o| matches(&o.target))
                || b.group_by.iter().any(&matches)
                || b.joins.iter().any(|j| {
                    [&j.left, &j.right]
                        .iter()
                        .any(|c| matches(&Target::Column((*c).clone())))
                })
        })
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
