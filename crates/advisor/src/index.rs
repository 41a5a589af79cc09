//! The index model: what an index is made of (keys with direction, INCLUDE
//! columns, a partial predicate, a method), and the DDL that creates it.

use pgpilot_findings::ident::{qualified, quote_ident, truncate_ident};
use serde::{Deserialize, Serialize};

/// What an index key is built on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum KeyExpr {
    /// A plain column (unquoted name).
    Column(String),
    /// An expression, as SQL text (`lower(email)`), written in parentheses in DDL.
    Expression(String),
}

impl KeyExpr {
    /// The key as written inside an index's column list.
    pub fn sql(&self) -> String {
        match self {
            KeyExpr::Column(c) => quote_ident(c),
            KeyExpr::Expression(e) => format!("({e})"),
        }
    }

    /// The column name, for a plain column key.
    pub fn column(&self) -> Option<&str> {
        match self {
            KeyExpr::Column(c) => Some(c),
            KeyExpr::Expression(_) => None,
        }
    }
}

/// One key of an index with its sort order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IndexKey {
    /// Column or expression.
    pub expr: KeyExpr,
    /// DESC.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descending: bool,
    /// NULLS FIRST (`Some(true)`) / LAST (`Some(false)`); `None` = the default for
    /// the direction (LAST for ASC, FIRST for DESC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nulls_first: Option<bool>,
}

impl IndexKey {
    /// An ascending plain-column key.
    pub fn column(name: &str) -> Self {
        Self {
            expr: KeyExpr::Column(name.to_string()),
            descending: false,
            nulls_first: None,
        }
    }

    /// A descending plain-column key.
    pub fn column_desc(name: &str) -> Self {
        Self {
            descending: true,
            ..Self::column(name)
        }
    }

    /// An ascending expression key.
    pub fn expression(sql: &str) -> Self {
        Self {
            expr: KeyExpr::Expression(sql.to_string()),
            descending: false,
            nulls_first: None,
        }
    }

    /// NULLS FIRST in effect (explicit or by default).
    pub fn effective_nulls_first(&self) -> bool {
        self.nulls_first.unwrap_or(self.descending)
    }

    /// The key as written in DDL: `"last_login" DESC`, `(lower(email))`.
    pub fn sql(&self) -> String {
        let mut s = self.expr.sql();
        if self.descending {
            s.push_str(" DESC");
        }
        match (self.nulls_first, self.descending) {
            (Some(true), false) => s.push_str(" NULLS FIRST"),
            (Some(false), true) => s.push_str(" NULLS LAST"),
            _ => {}
        }
        s
    }
}

/// The kind of a recommended index, for reports and the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// A B-tree on plain columns.
    Btree,
    /// With a WHERE predicate.
    Partial,
    /// With at least one expression key.
    Expression,
    /// With INCLUDE columns (for index-only scans).
    Covering,
    /// Another access method (hash, gin, gist, brin, …).
    Other,
}

/// An index definition, existing or hypothetical.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexDef {
    /// Schema of the table.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// Access method (`btree`, `hash`, `gin`, …).
    pub method: String,
    /// Keys in order.
    pub keys: Vec<IndexKey>,
    /// INCLUDE columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Partial-index predicate as SQL (without `WHERE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// UNIQUE.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unique: bool,
}

impl IndexDef {
    /// A B-tree on `keys` of `schema.table`.
    pub fn btree(schema: &str, table: &str, keys: Vec<IndexKey>) -> Self {
        Self {
            schema: schema.to_string(),
            table: table.to_string(),
            method: "btree".to_string(),
            keys,
            include: Vec::new(),
            predicate: None,
            unique: false,
        }
    }

    /// The same index on another table (a partition of this one): keys,
    /// INCLUDE columns, predicate and method unchanged.
    pub fn on_table(&self, schema: &str, table: &str) -> IndexDef {
        IndexDef {
            schema: schema.to_string(),
            table: table.to_string(),
            ..self.clone()
        }
    }

    /// `schema.table`, unquoted (the key the catalog and query shapes use).
    pub fn qualified_table(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The kind, for display.
    pub fn kind(&self) -> IndexKind {
        if self.method != "btree" {
            IndexKind::Other
        } else if self.predicate.is_some() {
            IndexKind::Partial
        } else if self
            .keys
            .iter()
            .any(|k| matches!(k.expr, KeyExpr::Expression(_)))
        {
            IndexKind::Expression
        } else if !self.include.is_empty() {
            IndexKind::Covering
        } else {
            IndexKind::Btree
        }
    }

    /// Key columns for display: `["created_at", "last_login DESC"]`.
    pub fn key_labels(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| {
                let mut s = match &k.expr {
                    KeyExpr::Column(c) => c.clone(),
                    KeyExpr::Expression(e) => e.clone(),
                };
                if k.descending {
                    s.push_str(" DESC");
                }
                s
            })
            .collect()
    }

    /// `USING method (keys) INCLUDE (…) WHERE …` — everything after `ON table`.
    pub fn body_sql(&self) -> String {
        let keys: Vec<String> = self.keys.iter().map(IndexKey::sql).collect();
        let mut s = String::new();
        if self.method != "btree" {
            s.push_str("USING ");
            s.push_str(&self.method);
            s.push(' ');
        }
        s.push('(');
        s.push_str(&keys.join(", "));
        s.push(')');
        if !self.include.is_empty() {
            let inc: Vec<String> = self.include.iter().map(|c| quote_ident(c)).collect();
            s.push_str(" INCLUDE (");
            s.push_str(&inc.join(", "));
            s.push(')');
        }
        if let Some(p) = &self.predicate {
            s.push_str(" WHERE ");
            s.push_str(p);
        }
        s
    }

    /// A descriptive name: `users_created_at_last_login_idx` (63 bytes at most).
    pub fn suggested_name(&self) -> String {
        let mut parts = vec![self.table.clone()];
        for k in &self.keys {
            let part = match &k.expr {
                KeyExpr::Column(c) => c.clone(),
                KeyExpr::Expression(e) => e
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect::<String>()
                    .split('_')
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join("_"),
            };
            parts.push(part);
        }
        if !self.include.is_empty() {
            parts.push("incl".to_string());
        }
        if self.predicate.is_some() {
            parts.push("part".to_string());
        }
        if self.method != "btree" {
            parts.push(self.method.clone());
        }
        parts.push("idx".to_string());
        truncate_ident(&parts.join("_").to_lowercase())
    }

    /// `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON schema.table …`.
    pub fn create_sql(&self, name: &str, concurrently: bool, if_not_exists: bool) -> String {
        let mut s = String::from("CREATE ");
        if self.unique {
            s.push_str("UNIQUE ");
        }
        s.push_str("INDEX ");
        if concurrently {
            s.push_str("CONCURRENTLY ");
        }
        if if_not_exists {
            s.push_str("IF NOT EXISTS ");
        }
        s.push_str(&quote_ident(name));
        s.push_str(" ON ");
        s.push_str(&qualified(&self.schema, &self.table));
        s.push(' ');
        s.push_str(&self.body_sql());
        s
    }

    /// `DROP INDEX CONCURRENTLY IF EXISTS schema.name`.
    pub fn drop_sql(&self, name: &str) -> String {
        format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {}",
            qualified(&self.schema, name)
        )
    }

    /// Plain columns the index stores (keys and INCLUDE), for index-only checks.
    pub fn stored_columns(&self) -> Vec<&str> {
        self.keys
            .iter()
            .filter_map(|k| k.expr.column())
            .chain(self.include.iter().map(String::as_str))
            .collect()
    }

    /// Whether `self`'s keys start with all of `other`'s keys (same expressions,
    /// directions as a whole or all reversed), with the same method and predicate:
    /// then `self` serves every ordered scan `other` serves.
    pub fn covers_prefix(&self, other: &IndexDef) -> bool {
        if self.schema != other.schema
            || self.table != other.table
            || self.method != other.method
            || self.predicate != other.predicate
            || other.keys.len() > self.keys.len()
        {
            return false;
        }
        let same = other.keys.iter().zip(&self.keys).all(|(a, b)| {
            a.expr == b.expr
                && a.descending == b.descending
                && a.effective_nulls_first() == b.effective_nulls_first()
        });
        let reversed = other.keys.iter().zip(&self.keys).all(|(a, b)| {
            a.expr == b.expr
                && a.descending != b.descending
                && a.effective_nulls_first() != b.effective_nulls_first()
        });
        same || reversed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_with_desc_include_and_predicate() {
        let mut d = IndexDef::btree(
            "public",
            "users",
            vec![
                IndexKey::column("status"),
                IndexKey::column_desc("last_login"),
            ],
        );
        d.include = vec!["email".into()];
        d.predicate = Some("status = 'pending'".into());
        assert_eq!(
            d.create_sql(&d.suggested_name(), true, true),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_status_last_login_incl_part_idx \
             ON public.users (status, last_login DESC) INCLUDE (email) WHERE status = 'pending'"
        );
        assert_eq!(d.kind(), IndexKind::Partial);
    }

    #[test]
    fn expression_keys_are_parenthesized_and_named() {
        let d = IndexDef::btree(
            "public",
            "users",
            vec![IndexKey::expression("lower(email)")],
        );
        assert_eq!(d.body_sql(), "((lower(email)))");
        assert_eq!(d.suggested_name(), "users_lower_email_idx");
        assert_eq!(d.kind(), IndexKind::Expression);
    }

    #[test]
    fn prefix_coverage_allows_full_reversal_only() {
        let ab = IndexDef::btree(
            "public",
            "t",
            vec![IndexKey::column("a"), IndexKey::column_desc("b")],
        );
        let a = IndexDef::btree("public", "t", vec![IndexKey::column("a")]);
        let a_desc = IndexDef::btree("public", "t", vec![IndexKey::column_desc("a")]);
        let b = IndexDef::btree("public", "t", vec![IndexKey::column("b")]);
        assert!(ab.covers_prefix(&a));
        assert!(ab.covers_prefix(&a_desc));
        assert!(!ab.covers_prefix(&b));
        assert!(!a.covers_prefix(&ab));
    }
}
