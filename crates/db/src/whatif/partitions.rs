//! Partitioned tables in what-if planning.
//!
//! HypoPG (up to 1.4 at least) accepts a hypothetical index on a partitioned
//! table but the planner never uses it for the partitions: the planner plans
//! each partition with that partition's own indexes. A hypothetical index on a
//! partitioned table is therefore made of one hypothetical index on every
//! **leaf** partition (multi-level partitioning included), which is what a real
//! `CREATE INDEX` on the parent builds too. Real indexes ([`super::RealTxWhatIf`])
//! cascade by themselves; their partition indexes are found in the index's own
//! inheritance tree.

use std::collections::HashMap;

use pgpilot_advisor::{IndexDef, WhatIfError};
use tokio_postgres::Client;

use super::Failure;

/// The leaf partitions of a partitioned table: every table below it in
/// `pg_inherits`, recursively, that is not itself partitioned. Foreign
/// partitions are left out (PostgreSQL does not index them either).
const LEAVES_SQL: &str = "WITH RECURSIVE tree(relid) AS ( \
         SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'p' \
         UNION ALL \
         SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
     SELECT n.nspname::text, c.relname::text \
     FROM tree t JOIN pg_class c ON c.oid = t.relid \
     JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'm') \
     ORDER BY c.oid";

/// Leaf partitions per table, looked up once per session.
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    cache: HashMap<(String, String), Vec<(String, String)>>,
}

impl Partitions {
    /// The definitions to create for `def`: one per leaf partition of its table
    /// (same keys, INCLUDE columns, predicate and method: DDL names columns, so
    /// a partition whose columns are in another order takes them as well), or
    /// `def` itself when its table is not partitioned (or has no leaf yet).
    pub(crate) async fn targets(
        &mut self,
        client: &Client,
        def: &IndexDef,
    ) -> Result<Vec<IndexDef>, WhatIfError> {
        let key = (def.schema.clone(), def.table.clone());
        if !self.cache.contains_key(&key) {
            let rows = client
                .query(LEAVES_SQL, &[&def.schema, &def.table])
                .await
                .map_err(|e| {
                    Failure::of("looking up partitions", e).into_fatal("looking up partitions")
                })?;
            let leaves = rows
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<Vec<(String, String)>, tokio_postgres::Error>>()
                .map_err(|e| WhatIfError::Fatal(format!("reading partitions: {e}")))?;
            self.cache.insert(key.clone(), leaves);
        }
        Ok(match self.cache.get(&key) {
            Some(leaves) if !leaves.is_empty() => leaves
                .iter()
                .map(|(schema, table)| def.on_table(schema, table))
                .collect(),
            _ => vec![def.clone()],
        })
    }
}

/// The names of the indexes in the inheritance tree of the index
/// `schema.name` (itself included): for an index on a partitioned table, the
/// indexes `CREATE INDEX` built on every partition (named by the server), which
/// are the ones EXPLAIN shows.
pub(crate) async fn index_tree(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Vec<String>, WhatIfError> {
    let rows = client
        .query(
            "WITH RECURSIVE tree(relid) AS ( \
                 SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND c.relname = $2 \
                 UNION ALL \
                 SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
             SELECT c.relname::text FROM tree t JOIN pg_class c ON c.oid = t.relid \
             ORDER BY c.oid",
            &[&schema, &name],
        )
        .await
        .map_err(|e| {
            Failure::of("looking up partition indexes", e)
                .into_fatal("looking up partition indexes")
        })?;
    rows.iter()
        .map(|r| r.try_get(0))
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| WhatIfError::Fatal(format!("reading partition indexes: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_advisor::IndexKey;

    #[test]
    fn leaf_definitions_keep_everything_but_the_table() {
        let mut d = IndexDef::btree("public", "pt", vec![IndexKey::column("v")]);
        d.predicate = Some("v > 0".into());
        d.include = vec!["w".into()];
        let leaf = d.on_table("part", "pt_2024");
        assert_eq!(
            (leaf.schema.as_str(), leaf.table.as_str()),
            ("part", "pt_2024")
        );
        assert_eq!(leaf.keys, d.keys);
        assert_eq!(leaf.include, d.include);
        assert_eq!(leaf.predicate, d.predicate);
        assert_eq!(leaf.method, d.method);
    }
}
