//! [`QueryShape`]: the structure of a statement that lints and the index advisor need.
//!
//! A statement becomes a flat list of [`BlockShape`]s, one per SELECT / UPDATE /
//! DELETE / INSERT block (the statement itself first, then CTEs, subqueries in FROM,
//! subqueries in expressions and set-operation operands, in the order met). Column
//! references are resolved to tables through aliases, innermost scope first; an
//! unqualified column belongs to the only table of its block, otherwise it is
//! unresolved (`table: None`).

mod nodes;
mod predicates;
mod walk;

use serde::{Deserialize, Serialize};

use crate::SqlError;

/// What a statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// SELECT (also VALUES and TABLE).
    Select,
    /// INSERT.
    Insert,
    /// UPDATE.
    Update,
    /// DELETE.
    Delete,
    /// Another data-manipulating statement (MERGE).
    Other,
    /// DDL, SET, transaction control, EXPLAIN, …
    Utility,
}

/// The shape of a statement (of the first one when a string holds several; the
/// blocks of all of them are listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryShape {
    /// Kind of the (first) statement.
    pub kind: StatementKind,
    /// Every query block, the top-level one first.
    pub blocks: Vec<BlockShape>,
}

impl QueryShape {
    /// Parses `sql` with PostgreSQL's parser and extracts its shape.
    pub fn parse(sql: &str) -> Result<Self, SqlError> {
        let parsed = pg_query::parse(sql, 0)?;
        Ok(walk::shape_of(&parsed.protobuf))
    }

    /// Every real table (not CTE, subquery or function) referenced anywhere, once each.
    pub fn relations(&self) -> Vec<&TableRef> {
        let mut out: Vec<&TableRef> = Vec::new();
        for t in self.blocks.iter().flat_map(|b| &b.tables) {
            if t.source == TableSource::Relation
                && !out.iter().any(|o| o.qualified_name() == t.qualified_name())
            {
                out.push(t);
            }
        }
        out
    }

    /// Every predicate of every block.
    pub fn predicates(&self) -> impl Iterator<Item = &Predicate> {
        self.blocks.iter().flat_map(|b| &b.predicates)
    }

    /// Every join key of every block.
    pub fn joins(&self) -> impl Iterator<Item = &JoinKey> {
        self.blocks.iter().flat_map(|b| &b.joins)
    }
}

/// Where a block comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum BlockOrigin {
    /// The statement itself.
    Statement,
    /// The body of a CTE.
    Cte {
        /// CTE name.
        name: String,
    },
    /// A subquery in FROM.
    FromSubquery {
        /// Its alias, if any.
        alias: Option<String>,
    },
    /// A subquery in an expression (`IN (SELECT …)`, `EXISTS`, scalar subquery).
    Subquery,
    /// One side of UNION / INTERSECT / EXCEPT, or the SELECT of an INSERT.
    Operand,
}

/// What a FROM item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableSource {
    /// A table, view or other relation.
    Relation,
    /// A reference to a CTE of the statement.
    Cte,
    /// A subquery in FROM (named by its alias).
    Subquery,
    /// A set-returning function in FROM.
    Function,
}

/// A FROM item of a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRef {
    /// Schema, when written.
    pub schema: Option<String>,
    /// Relation name (CTE name, subquery alias or function name for other sources).
    pub name: String,
    /// Alias, when given.
    pub alias: Option<String>,
    /// What the item is.
    pub source: TableSource,
}

impl TableRef {
    /// `schema.name` or `name`.
    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A column, resolved to the qualified name of its table when possible.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnRef {
    /// [`TableRef::qualified_name`] of the table, `None` when unresolved.
    pub table: Option<String>,
    /// Column name.
    pub column: String,
}

/// What a predicate, ORDER BY or GROUP BY item is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Target {
    /// A plain column.
    Column(ColumnRef),
    /// An expression over columns (`lower(email)`, `created_at::date`), deparsed.
    Expression {
        /// Deparsed text, e.g. `lower(email)`.
        text: String,
        /// Columns used in it.
        columns: Vec<ColumnRef>,
    },
}

impl Target {
    /// The column, when the target is a plain column.
    pub fn column(&self) -> Option<&ColumnRef> {
        match self {
            Target::Column(c) => Some(c),
            Target::Expression { .. } => None,
        }
    }
}

/// The other side of a predicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Operand {
    /// A constant, as text (`'active'` → `active`, `-5` → `-5`, `true`).
    Const(String),
    /// A `$n` parameter.
    Param(i32),
    /// NULL.
    Null,
    /// A column of the same table (columns of other tables give join keys instead).
    Column(ColumnRef),
    /// Any other column-free expression, deparsed (`now() - '30 days'::interval`).
    Expr(String),
    /// A subquery.
    Subquery,
}

/// How a predicate compares its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredicateKind {
    /// `=` (and `IS NOT DISTINCT FROM`).
    Eq,
    /// `<>`, `!=`, `IS DISTINCT FROM`.
    NotEq,
    /// `IN (…)` or `= ANY (…)`; one operand per list element (or the array).
    In,
    /// `NOT IN (…)` or `<> ALL (…)`.
    NotIn,
    /// `<`, `<=`, `>`, `>=`, `BETWEEN` (two operands).
    Range,
    /// `LIKE` / `ILIKE` and their negations.
    Like,
    /// `IS NULL`.
    IsNull,
    /// `IS NOT NULL`.
    IsNotNull,
    /// `IN (SELECT …)` or `= ANY (SELECT …)`.
    InSubquery,
    /// `NOT IN (SELECT …)`: a lint target (NULL semantics, no anti-join).
    NotInSubquery,
    /// Any other operator (`@>`, `&&`, `~`, …); see [`Predicate::op`].
    Other,
}

/// A comparison of a column (or expression over columns) in WHERE, ON or HAVING.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predicate {
    /// What is compared.
    pub target: Target,
    /// How.
    pub kind: PredicateKind,
    /// The operator as written after normalization (`=`, `<`, `between`, `~~*`, …).
    pub op: String,
    /// What it is compared with, in order.
    pub values: Vec<Operand>,
    /// For LIKE: whether the pattern constant starts with `%` or `_` (`None` if not a constant).
    pub leading_wildcard: Option<bool>,
    /// ILIKE rather than LIKE.
    pub case_insensitive: bool,
    /// Under an OR (so not usable on its own by an index).
    pub in_or: bool,
    /// Under a NOT.
    pub negated: bool,
}

impl Predicate {
    /// Equality-like: `=`, `IS NULL`, `IN`.
    pub fn is_equality(&self) -> bool {
        matches!(
            self.kind,
            PredicateKind::Eq | PredicateKind::IsNull | PredicateKind::In
        ) && !self.negated
    }

    /// The constants it compares with (for partial-index candidates).
    pub fn constants(&self) -> impl Iterator<Item = &str> {
        self.values.iter().filter_map(|v| match v {
            Operand::Const(c) => Some(c.as_str()),
            _ => None,
        })
    }
}

/// An equality between columns of two different tables (`a.x = b.y`, `USING (x)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinKey {
    /// Left column.
    pub left: ColumnRef,
    /// Right column.
    pub right: ColumnRef,
}

/// NULLS FIRST / LAST as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NullsOrder {
    /// Not written (PostgreSQL: LAST for ASC, FIRST for DESC).
    Default,
    /// NULLS FIRST.
    First,
    /// NULLS LAST.
    Last,
}

/// One ORDER BY item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// What is sorted on (select-list positions and output names are resolved).
    pub target: Target,
    /// DESC.
    pub descending: bool,
    /// NULLS FIRST / LAST.
    pub nulls: NullsOrder,
}

/// DISTINCT of a SELECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "on")]
pub enum Distinct {
    /// No DISTINCT.
    None,
    /// Plain DISTINCT.
    All,
    /// DISTINCT ON (…).
    On(Vec<Target>),
}

/// A LIMIT or OFFSET value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum LimitValue {
    /// A constant.
    Const(String),
    /// A `$n` parameter.
    Param(i32),
    /// Another expression, deparsed.
    Expr(String),
}

/// One item of a select list (or RETURNING list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum SelectItem {
    /// `*` or `t.*` (`table` resolved like a column's).
    Star {
        /// The table for `t.*`, `None` for a bare `*`.
        table: Option<String>,
    },
    /// A plain column.
    Column(ColumnRef),
    /// Any other expression.
    Expression {
        /// Deparsed text.
        text: String,
        /// Columns used in it.
        columns: Vec<ColumnRef>,
    },
}

/// One query block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockShape {
    /// Where the block comes from.
    pub origin: BlockOrigin,
    /// FROM items (for UPDATE / DELETE / INSERT the target table first).
    pub tables: Vec<TableRef>,
    /// Predicates of WHERE, JOIN … ON and HAVING.
    pub predicates: Vec<Predicate>,
    /// Join keys from ON, USING and WHERE.
    pub joins: Vec<JoinKey>,
    /// ORDER BY items.
    pub order_by: Vec<OrderItem>,
    /// GROUP BY items.
    pub group_by: Vec<Target>,
    /// DISTINCT.
    pub distinct: Distinct,
    /// LIMIT (`None` when absent or `LIMIT ALL`).
    pub limit: Option<LimitValue>,
    /// OFFSET.
    pub offset: Option<LimitValue>,
    /// Select list (RETURNING list for writes).
    pub select_list: Vec<SelectItem>,
    /// Columns written by UPDATE SET, INSERT (…) or ON CONFLICT DO UPDATE SET.
    pub written_columns: Vec<String>,
}

impl BlockShape {
    /// An empty block.
    pub fn new(origin: BlockOrigin) -> Self {
        Self {
            origin,
            tables: Vec::new(),
            predicates: Vec::new(),
            joins: Vec::new(),
            order_by: Vec::new(),
            group_by: Vec::new(),
            distinct: Distinct::None,
            limit: None,
            offset: None,
            select_list: Vec::new(),
            written_columns: Vec::new(),
        }
    }

    /// Predicates whose target is a plain column of `table` (a qualified name).
    pub fn predicates_on<'a>(&'a self, table: &'a str) -> impl Iterator<Item = &'a Predicate> + 'a {
        self.predicates.iter().filter(move |p| {
            p.target
                .column()
                .is_some_and(|c| c.table.as_deref() == Some(table))
        })
    }
}

#[cfg(test)]
mod tests;
