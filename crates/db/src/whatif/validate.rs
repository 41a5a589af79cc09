//! Would PostgreSQL accept this index? Checked without building anything on the
//! real table: inside a transaction (or savepoint) that is always rolled back,
//! an empty temporary copy of the table is created with
//! `CREATE TEMP TABLE t (LIKE schema.t INCLUDING DEFAULTS INCLUDING GENERATED)` —
//! same column names, types, typmods, collations and NOT NULLs, generated columns
//! kept generated — and the index is created on it. Everything PostgreSQL checks
//! when it creates an index is checked: columns and expressions exist and type,
//! functions in expressions and predicates are IMMUTABLE, the predicate has no
//! subquery or aggregate, the access method exists and supports UNIQUE, INCLUDE,
//! ordering and the column types (operator classes).
//!
//! **Not checked** (they depend on the data or on the real table only): UNIQUE
//! against existing duplicates, expression evaluation errors on existing rows
//! (a failing cast), B-tree entries over the size limit, ownership of the real
//! table, and the partition key rule of UNIQUE indexes on partitioned tables.

use pgpilot_advisor::{IndexDef, WhatIfError};
use tokio_postgres::Client;

use super::{quote, Failure};

/// Where the validation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Not in a transaction: `BEGIN` … `ROLLBACK`.
    TopLevel,
    /// Inside pgpilot's own open transaction: a savepoint rolled back.
    Savepoint,
}

const SAVEPOINT: &str = "pgpilot_validate";

/// `Ok(())` when PostgreSQL would create `def`; `InvalidIndex(server message)`
/// when it would refuse it (including a missing table or a relation that cannot
/// be indexed); `Fatal` when the check itself cannot run (connection lost, no
/// right to create temporary tables, read-only server).
pub(crate) async fn validate(
    client: &Client,
    def: &IndexDef,
    scope: Scope,
    server_version: i32,
) -> Result<(), WhatIfError> {
    let row = client
        .query_opt(
            "SELECT c.relkind::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&def.schema, &def.table],
        )
        .await
        .map_err(|e| Failure::of("looking up the table", e).into_fatal("looking up the table"))?;
    let relkind: String = match row {
        None => {
            return Err(WhatIfError::InvalidIndex(format!(
                "relation \"{}.{}\" does not exist",
                def.schema, def.table
            )))
        }
        Some(r) => r
            .try_get(0)
            .map_err(|e| WhatIfError::Fatal(format!("reading relkind: {e}")))?,
    };
    if !matches!(relkind.as_str(), "r" | "p" | "m") {
        let what = match relkind.as_str() {
            "v" => "a view",
            "f" => "a foreign table",
            "S" => "a sequence",
            "i" | "I" => "an index",
            "c" => "a composite type",
            _ => "not a table",
        };
        return Err(WhatIfError::InvalidIndex(format!(
            "cannot create index on relation \"{}.{}\": it is {what}",
            def.schema, def.table
        )));
    }
    let (begin, end) = match scope {
        Scope::TopLevel => ("BEGIN READ WRITE".to_string(), "ROLLBACK".to_string()),
        Scope::Savepoint => (
            format!("SAVEPOINT {SAVEPOINT}"),
            format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"),
        ),
    };
    client
        .batch_execute(&begin)
        .await
        .map_err(|e| Failure::of("starting validation", e).into_fatal("starting validation"))?;
    let result = inside(client, def, server_version).await;
    let rollback = client
        .batch_execute(&end)
        .await
        .map_err(|e| Failure::of("ending validation", e).into_fatal("rolling back validation"));
    match (result, rollback) {
        (Err(e @ WhatIfError::Fatal(_)), _) => Err(e),
        (_, Err(e)) => Err(e),
        (r, Ok(())) => r,
    }
}

async fn inside(client: &Client, def: &IndexDef, server_version: i32) -> Result<(), WhatIfError> {
    // The copy has the real table's name (in pg_temp), so that a predicate or
    // expression written with `table.column` resolves as on the real table.
    let copy = quote(&def.table);
    let generated = if server_version >= 120_000 {
        " INCLUDING GENERATED"
    } else {
        ""
    };
    let create_table = format!(
        "CREATE TEMP TABLE {copy} (LIKE {}.{} INCLUDING DEFAULTS{generated}) ON COMMIT DROP",
        quote(&def.schema),
        copy
    );
    // The extended protocol runs exactly one statement, whatever the text holds.
    if let Err(e) = client.query_typed(&create_table, &[]).await {
        return Err(match Failure::of("copying the table", e) {
            Failure::Fatal(m) => WhatIfError::Fatal(m),
            Failure::Server { code, message } => match code.as_str() {
                "42P01" | "3F000" | "42704" => WhatIfError::InvalidIndex(message),
                _ => WhatIfError::Fatal(format!(
                    "cannot validate indexes on {}.{}: {message}",
                    def.schema, def.table
                )),
            },
        });
    }
    let unique = if def.unique { "UNIQUE " } else { "" };
    let create_index = format!("CREATE {unique}INDEX ON pg_temp.{copy} {}", def.body_sql());
    client
        .query_typed(&create_index, &[])
        .await
        .map(|_| ())
        .map_err(|e| Failure::of("creating the index on the copy", e).into_index_error())
}
