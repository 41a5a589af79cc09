//! Helpers shared by the lints: the finding skeleton, identifier quoting and
//! index statements.

use std::collections::BTreeMap;

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{BlockShape, TableRef, TableSource};

use crate::LintInput;

/// A finding with the fields every lint fills the same way.
pub(crate) fn finding(
    id: &str,
    severity: Severity,
    title: String,
    explanation: String,
    input: Option<&LintInput<'_>>,
) -> Finding {
    let mut evidence = BTreeMap::new();
    if let Some(calls) = input.and_then(|i| i.calls) {
        evidence.insert("calls".to_string(), serde_json::Value::from(calls));
    }
    let mut f = Finding::new(id, severity, title, explanation);
    f.query = input.map(|i| i.query.trim().to_string());
    f.evidence = evidence;
    f
}

/// Quotes an identifier when PostgreSQL would need it.
pub(crate) fn ident(name: &str) -> String {
    pgpilot_findings::ident::quote_ident(name)
}

/// `schema.table` quoted part by part.
pub(crate) fn qualified(table: &str) -> String {
    match table.split_once('.') {
        Some((s, t)) => format!("{}.{}", ident(s), ident(t)),
        None => ident(table),
    }
}

/// An index name from a table and some words, at most 63 characters.
pub(crate) fn index_name(table: &str, parts: &[&str]) -> String {
    let bare = table.rsplit('.').next().unwrap_or(table);
    let mut name = format!("idx_{bare}");
    for p in parts {
        name.push('_');
        name.push_str(p);
    }
    let mut out = String::new();
    let mut last_us = false;
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c == '_' && last_us {
            continue;
        }
        last_us = c == '_';
        out.push(c);
    }
    out.trim_end_matches('_').chars().take(63).collect()
}

/// The FROM items of a block that are real tables.
pub(crate) fn relations(block: &BlockShape) -> impl Iterator<Item = &TableRef> {
    block
        .tables
        .iter()
        .filter(|t| t.source == TableSource::Relation)
}

/// Removes `alias.` and `table.` qualifiers of `table` from a deparsed expression,
/// so it can be used in an index definition.
pub(crate) fn unqualify(expr: &str, table: &TableRef) -> String {
    let mut names: Vec<String> = vec![table.name.clone(), table.qualified_name()];
    if let Some(a) = &table.alias {
        names.push(a.clone());
    }
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = expr.to_string();
    for n in names {
        for pat in [format!("{n}."), format!("\"{n}\".")] {
            let mut result = String::with_capacity(out.len());
            let mut rest = out.as_str();
            while let Some(i) = rest.find(&pat) {
                let before = rest[..i].chars().last();
                let boundary = match before {
                    Some(c) => !(c.is_ascii_alphanumeric() || c == '_' || c == '"'),
                    None => true,
                };
                result.push_str(&rest[..i]);
                if !boundary {
                    result.push_str(&pat);
                }
                rest = &rest[i + pat.len()..];
            }
            result.push_str(rest);
            out = result;
        }
    }
    out
}

/// The block's FROM item whose qualified name is `table`.
pub(crate) fn table_ref<'a>(block: &'a BlockShape, table: &str) -> Option<&'a TableRef> {
    block.tables.iter().find(|t| t.qualified_name() == table)
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::catalog::{CatalogFacts, IndexFacts, IndexKey, TableCatalog, UniqueKey};

    /// A B-tree index on plain columns.
    pub fn btree(name: &str, cols: &[&str]) -> IndexFacts {
        IndexFacts {
            name: name.into(),
            method: "btree".into(),
            keys: cols.iter().map(|c| IndexKey::Column((*c).into())).collect(),
            opclasses: vec![],
            unique: false,
            partial: false,
        }
    }

    fn table(cols: &[&str], pk: &str, uniques: &[&str], extra: Vec<IndexFacts>) -> TableCatalog {
        let mut unique_keys = vec![UniqueKey {
            name: format!("{pk}_pkey"),
            columns: vec!["id".into()],
            primary: true,
            not_null: true,
        }];
        let mut indexes = vec![btree(&format!("{pk}_pkey"), &["id"])];
        for u in uniques {
            unique_keys.push(UniqueKey {
                name: format!("{pk}_{u}_key"),
                columns: vec![(*u).into()],
                primary: false,
                not_null: true,
            });
            indexes.push(btree(&format!("{pk}_{u}_key"), &[u]));
        }
        indexes.extend(extra);
        TableCatalog {
            column_count: cols.len(),
            columns: cols.iter().map(|c| (*c).into()).collect(),
            unique_keys,
            indexes,
        }
    }

    /// The ADX Core demo's catalog at its baseline (keys only).
    pub fn adx() -> CatalogFacts {
        CatalogFacts::default()
            .with_table(
                "public.users",
                table(
                    &[
                        "id",
                        "email",
                        "name",
                        "status",
                        "role_id",
                        "created_at",
                        "last_login",
                        "updated_at",
                        "phone",
                        "locale",
                        "timezone",
                        "email_verified",
                        "failed_logins",
                        "password_hash",
                    ],
                    "users",
                    &["email"],
                    vec![],
                ),
            )
            .with_table(
                "public.roles",
                table(
                    &[
                        "id",
                        "role_name",
                        "description",
                        "permissions",
                        "created_at",
                    ],
                    "roles",
                    &["role_name"],
                    vec![],
                ),
            )
            .with_table(
                "public.profiles",
                table(
                    &[
                        "id",
                        "user_id",
                        "bio",
                        "avatar_url",
                        "settings",
                        "updated_at",
                    ],
                    "profiles",
                    &[],
                    vec![],
                ),
            )
            .with_table(
                "public.audit_logs",
                table(
                    &[
                        "id",
                        "user_id",
                        "action",
                        "entity",
                        "entity_id",
                        "timestamp",
                        "details",
                        "ip",
                    ],
                    "audit_logs",
                    &[],
                    vec![],
                ),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_qualifiers() {
        assert_eq!(
            index_name("public.users", &["lower(email)"]),
            "idx_users_lower_email"
        );
        assert_eq!(ident("timestamp"), "\"timestamp\"");
        let t = TableRef {
            schema: None,
            name: "users".into(),
            alias: Some("u".into()),
            source: TableSource::Relation,
        };
        assert_eq!(unqualify("lower(u.email)", &t), "lower(email)");
        assert_eq!(
            unqualify("lower(users.email) || mu.x", &t),
            "lower(email) || mu.x"
        );
    }
}
