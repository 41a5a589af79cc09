//! [`CatalogFacts`]: what the lints need to know about the database's tables —
//! unique keys, indexes and column counts — as read from the catalog by
//! `pgpilot-db` (or written by hand in tests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Catalog facts of the tables a statement (or a workload) uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogFacts {
    /// Facts per table, keyed by `schema.table` (bare `table` is accepted too).
    #[serde(default)]
    pub tables: BTreeMap<String, TableCatalog>,
}

/// Catalog facts of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCatalog {
    /// Number of (non-dropped) columns.
    pub column_count: usize,
    /// Column names in table order (may be empty when only the count is known).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Primary key and unique constraints / unique indexes (non-partial ones only
    /// guarantee uniqueness over the whole table).
    #[serde(default)]
    pub unique_keys: Vec<UniqueKey>,
    /// Every valid index, including the ones behind the unique keys.
    #[serde(default)]
    pub indexes: Vec<IndexFacts>,
}

/// A set of columns whose values identify at most one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueKey {
    /// Constraint or index name.
    pub name: String,
    /// Key columns (plain columns only; expression unique indexes are not keys here).
    pub columns: Vec<String>,
    /// The primary key.
    #[serde(default)]
    pub primary: bool,
    /// Every key column is NOT NULL (always true for a primary key). A unique key
    /// with nullable columns admits many rows with NULLs.
    #[serde(default)]
    pub not_null: bool,
}

impl UniqueKey {
    /// True when the key identifies at most one row, NULLs included.
    pub fn identifies_rows(&self) -> bool {
        !self.columns.is_empty() && (self.primary || self.not_null)
    }
}

/// One key position of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum IndexKey {
    /// A plain column.
    Column(String),
    /// An expression, as `pg_get_indexdef` shows it (`lower(email)`).
    Expression(String),
}

/// One index of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexFacts {
    /// Index name.
    pub name: String,
    /// Access method (`btree`, `hash`, `gin`, `gist`, `brin`, …).
    pub method: String,
    /// Key positions in order (INCLUDE columns are not keys).
    pub keys: Vec<IndexKey>,
    /// Operator classes of the keys, when not the default (`gin_trgm_ops`).
    #[serde(default)]
    pub opclasses: Vec<String>,
    /// A UNIQUE index.
    #[serde(default)]
    pub unique: bool,
    /// Has a WHERE predicate.
    #[serde(default)]
    pub partial: bool,
}

impl IndexFacts {
    /// The leading key, which decides what a B-tree can search on.
    pub fn leading(&self) -> Option<&IndexKey> {
        self.keys.first()
    }

    /// True for methods that serve `=`, `<`, `>` on their leading column.
    pub fn is_ordered_lookup(&self) -> bool {
        matches!(self.method.as_str(), "btree" | "hash")
    }

    /// True when this index can serve `LIKE '%x%'` on `column` (a pg_trgm GIN or
    /// GiST index on it).
    pub fn serves_infix_like(&self, column: &str) -> bool {
        matches!(self.method.as_str(), "gin" | "gist")
            && self.keys.iter().enumerate().any(|(i, k)| {
                matches!(k, IndexKey::Column(c) if c == column)
                    && self.opclasses.get(i).is_some_and(|o| o.contains("trgm"))
            })
    }
}

impl TableCatalog {
    /// True when `column` is the leading key of a B-tree or hash index.
    pub fn has_index_leading_on(&self, column: &str) -> bool {
        self.indexes.iter().any(|i| {
            i.is_ordered_lookup()
                && !i.partial
                && matches!(i.leading(), Some(IndexKey::Column(c)) if c == column)
        })
    }

    /// The index whose leading key is the expression `text` (compared after
    /// [`normalize_expr`]), if any.
    pub fn expression_index(&self, text: &str) -> Option<&IndexFacts> {
        let want = normalize_expr(text);
        self.indexes.iter().find(
            |i| matches!(i.leading(), Some(IndexKey::Expression(e)) if normalize_expr(e) == want),
        )
    }

    /// Unique keys that identify rows (NULLs included).
    pub fn row_keys(&self) -> impl Iterator<Item = &UniqueKey> {
        self.unique_keys.iter().filter(|k| k.identifies_rows())
    }
}

impl CatalogFacts {
    /// Facts for a table named as in a query (`users`, `public.users`): tried as
    /// given, as `public.name`, then as the only table of that name in any schema.
    pub fn table(&self, name: &str) -> Option<&TableCatalog> {
        if let Some(t) = self.tables.get(name) {
            return Some(t);
        }
        if !name.contains('.') {
            if let Some(t) = self.tables.get(&format!("public.{name}")) {
                return Some(t);
            }
            let mut found = self
                .tables
                .iter()
                .filter(|(k, _)| k.rsplit_once('.').is_some_and(|(_, t)| t == name));
            if let (Some((_, t)), None) = (found.next(), found.next()) {
                return Some(t);
            }
        } else if let Some((schema, bare)) = name.split_once('.') {
            if schema == "public" {
                return self.tables.get(bare);
            }
        }
        None
    }

    /// Adds a table (builder style).
    pub fn with_table(mut self, name: impl Into<String>, table: TableCatalog) -> Self {
        self.tables.insert(name.into(), table);
        self
    }
}

/// An expression reduced for comparison: lowercase, no whitespace, no double
/// quotes, no redundant outer parentheses.
pub fn normalize_expr(text: &str) -> String {
    let mut s: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .flat_map(char::to_lowercase)
        .collect();
    while s.starts_with('(') && s.ends_with(')') && balanced(&s[1..s.len() - 1]) {
        s = s[1..s.len() - 1].to_string();
    }
    s
}

fn balanced(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_bare_or_qualified_name() {
        let c = CatalogFacts::default().with_table(
            "public.users",
            TableCatalog {
                column_count: 3,
                ..TableCatalog::default()
            },
        );
        assert!(c.table("users").is_some());
        assert!(c.table("public.users").is_some());
        assert!(c.table("other.users").is_none());
        let c = CatalogFacts::default().with_table("users", TableCatalog::default());
        assert!(c.table("public.users").is_some());
    }

    #[test]
    fn expressions_compare_loosely() {
        assert_eq!(normalize_expr("(lower(\"email\"))"), "lower(email)");
        assert_eq!(normalize_expr("(a) + (b)"), "(a)+(b)");
    }

    #[test]
    fn facts_round_trip_through_json() {
        let t = TableCatalog {
            column_count: 2,
            columns: vec!["id".into(), "email".into()],
            unique_keys: vec![UniqueKey {
                name: "t_pkey".into(),
                columns: vec!["id".into()],
                primary: true,
                not_null: true,
            }],
            indexes: vec![IndexFacts {
                name: "t_lower".into(),
                method: "btree".into(),
                keys: vec![IndexKey::Expression("lower(email)".into())],
                opclasses: vec![],
                unique: false,
                partial: false,
            }],
        };
        let c = CatalogFacts::default().with_table("public.t", t);
        let json = serde_json::to_string(&c).expect("serializes");
        let back: CatalogFacts = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, c);
        assert!(back
            .table("t")
            .and_then(|t| t.expression_index("LOWER(email)"))
            .is_some());
    }
}
