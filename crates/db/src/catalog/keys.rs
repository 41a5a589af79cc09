//! Foreign keys, NOT VALID constraints and sequences.

use pgpilot_health::{ConstraintFacts, ForeignKeyFacts, SequenceFacts, SequenceOwner};
use tokio_postgres::Client;

use super::{get, query, USER_SCHEMAS};
use crate::error::DbError;

const FKS: &str = "foreign keys (pg_constraint)";
const INVALID: &str = "NOT VALID constraints (pg_constraint)";
const SEQUENCES: &str = "sequences (pg_sequences)";

/// Foreign keys declared on user tables (not their per-partition clones).
pub(crate) async fn foreign_keys(client: &Client) -> Result<Vec<ForeignKeyFacts>, DbError> {
    let sql = format!(
        "SELECT c.conname::text, n.nspname::text, t.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) \
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
                      ORDER BY k.ord), \
                rn.nspname::text, rt.relname::text, \
                ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord) \
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum \
                      ORDER BY k.ord), \
                CASE c.confdeltype WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' \
                     WHEN 'n' THEN 'SET NULL' WHEN 'd' THEN 'SET DEFAULT' ELSE 'NO ACTION' END \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_class rt ON rt.oid = c.confrelid \
         JOIN pg_namespace rn ON rn.oid = rt.relnamespace \
         WHERE c.contype = 'f' AND c.conparentid = 0 AND {USER_SCHEMAS} \
         ORDER BY 2, 3, 1"
    );
    let rows = query(client, FKS, &sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(ForeignKeyFacts {
            name: get(r, 0, FKS)?,
            schema: get(r, 1, FKS)?,
            table: get(r, 2, FKS)?,
            columns: get(r, 3, FKS)?,
            referenced_schema: get(r, 4, FKS)?,
            referenced_table: get(r, 5, FKS)?,
            referenced_columns: get(r, 6, FKS)?,
            on_delete: get(r, 7, FKS)?,
        });
    }
    Ok(out)
}

/// Constraints added NOT VALID and never validated.
pub(crate) async fn invalid_constraints(client: &Client) -> Result<Vec<ConstraintFacts>, DbError> {
    let sql = format!(
        "SELECT n.nspname::text, t.relname::text, c.conname::text, \
                CASE c.contype WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check' \
                     ELSE c.contype::text END, \
                pg_get_constraintdef(c.oid) \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE NOT c.convalidated AND {USER_SCHEMAS} \
         ORDER BY 1, 2, 3"
    );
    let rows = query(client, INVALID, &sql).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(ConstraintFacts {
            schema: get(r, 0, INVALID)?,
            table: get(r, 1, INVALID)?,
            name: get(r, 2, INVALID)?,
            kind: get(r, 3, INVALID)?,
            definition: get(r, 4, INVALID)?,
        });
    }
    Ok(out)
}

/// Sequences with their position and the column they feed.
pub(crate) async fn sequences(client: &Client) -> Result<Vec<SequenceFacts>, DbError> {
    let rows = query(
        client,
        SEQUENCES,
        "SELECT s.schemaname::text, s.sequencename::text, s.data_type::text, \
                s.last_value::int8, s.min_value::int8, s.max_value::int8, s.increment_by::int8, \
                s.cycle, o.nspname, o.relname, o.attname, o.coltype \
         FROM pg_sequences s \
         JOIN pg_namespace sn ON sn.nspname = s.schemaname \
         JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = s.sequencename \
         LEFT JOIN LATERAL ( \
             SELECT tn.nspname::text, tc.relname::text, a.attname::text, \
                    format_type(a.atttypid, NULL) AS coltype \
             FROM pg_depend d \
             JOIN pg_class tc ON tc.oid = d.refobjid \
             JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE d.classid = 'pg_class'::regclass AND d.objid = sc.oid \
               AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
               AND d.refobjsubid > 0 \
             LIMIT 1 \
         ) o ON true \
         WHERE s.schemaname NOT IN ('pg_catalog', 'information_schema') \
         ORDER BY 1, 2",
    )
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let owner_schema: Option<String> = get(r, 8, SEQUENCES)?;
        let owned_by = match owner_schema {
            Some(schema) => Some(SequenceOwner {
                schema,
                table: get::<Option<String>>(r, 9, SEQUENCES)?.unwrap_or_default(),
                column: get::<Option<String>>(r, 10, SEQUENCES)?.unwrap_or_default(),
                data_type: get::<Option<String>>(r, 11, SEQUENCES)?.unwrap_or_default(),
            }),
            None => None,
        };
        out.push(SequenceFacts {
            schema: get(r, 0, SEQUENCES)?,
            name: get(r, 1, SEQUENCES)?,
            data_type: get(r, 2, SEQUENCES)?,
            last_value: get(r, 3, SEQUENCES)?,
            min_value: get(r, 4, SEQUENCES)?,
            max_value: get(r, 5, SEQUENCES)?,
            increment: get(r, 6, SEQUENCES)?,
            cycle: get(r, 7, SEQUENCES)?,
            owned_by,
        });
    }
    Ok(out)
}
