//! Which database a plan belongs to, and whether it still fits: the identity
//! (`current_database()`, the cluster's system identifier, the server version)
//! and the column signature of every table a plan touches are recorded when the
//! plan is made, and [`check_plan`] refuses a plan made for another database, a
//! plan whose tables are gone or changed since, or a plan file of another format.
//! [`load_plan`] reads `plan.json` with a one-line reason when it is not a plan.

use std::path::Path;

use pgpilot_advisor::{AdvicePlan, DatabaseIdentity, TableSignature, PLAN_FORMAT_VERSION};
use tokio_postgres::Client;

use crate::error::DbError;

/// Why a plan cannot be applied to this database.
#[derive(Debug, thiserror::Error)]
pub enum PlanMismatch {
    /// The plan file has a format this build does not read.
    #[error(
        "refusing the plan: it has format version {found}, this pgpilot reads version {supported}"
    )]
    UnsupportedVersion {
        /// The plan's `version`.
        found: u32,
        /// [`PLAN_FORMAT_VERSION`].
        supported: u32,
    },
    /// The plan was made for another database.
    #[error("refusing the plan: it was made for database {plan_name:?} (system identifier {}), but this is {db_name:?} (system identifier {})", show_id(.plan_system_id), show_id(.db_system_id))]
    OtherDatabase {
        /// Database name recorded in the plan.
        plan_name: String,
        /// System identifier recorded in the plan.
        plan_system_id: String,
        /// This database's name.
        db_name: String,
        /// This cluster's system identifier (empty when unreadable).
        db_system_id: String,
    },
    /// A table the plan touches no longer exists.
    #[error(
        "refusing the plan: table {table} no longer exists (the plan is stale: run advise again)"
    )]
    TableMissing {
        /// `schema.table`.
        table: String,
    },
    /// A table's columns changed since the plan was made.
    #[error("refusing the plan: table {table} changed since the plan was made: {difference} (the plan is stale: run advise again)")]
    TableChanged {
        /// `schema.table`.
        table: String,
        /// The first difference found, in words.
        difference: String,
    },
    /// The database could not be read to check the plan.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn show_id(id: &str) -> &str {
    if id.is_empty() {
        "unknown"
    } else {
        id
    }
}

/// Why a plan file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// The file could not be read at all.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path as given.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is not JSON, or not shaped like a plan.
    #[error("{path} is not a pgpilot plan: {reason}")]
    NotAPlan {
        /// The path as given.
        path: String,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// The file is a plan of a format this build does not read.
    #[error("{path} is a pgpilot plan of format version {found}; this pgpilot reads version {supported}")]
    UnsupportedVersion {
        /// The path as given.
        path: String,
        /// The file's `version`.
        found: u64,
        /// [`PLAN_FORMAT_VERSION`].
        supported: u32,
    },
}

/// Reads and parses a plan file (`pgpilot advise` output, possibly updated by
/// `pgpilot verify`).
pub fn load_plan(path: &Path) -> Result<AdvicePlan, PlanFileError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    parse_plan(&text, &shown)
}

/// Parses plan JSON; `name` is used in messages (usually the file's path).
pub fn parse_plan(text: &str, name: &str) -> Result<AdvicePlan, PlanFileError> {
    let not_a_plan = |reason: String| PlanFileError::NotAPlan {
        path: name.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
    let Some(obj) = value.as_object() else {
        return Err(not_a_plan("expected a JSON object at the top level".into()));
    };
    match obj.get("version").and_then(serde_json::Value::as_u64) {
        None => return Err(not_a_plan("no \"version\" field".into())),
        Some(v) if v != u64::from(PLAN_FORMAT_VERSION) => {
            return Err(PlanFileError::UnsupportedVersion {
                path: name.to_string(),
                found: v,
                supported: PLAN_FORMAT_VERSION,
            })
        }
        Some(_) => {}
    }
    // Parse the text again (not the value) so errors carry a line and column.
    serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))
}

/// Reads the identity of the connected database. The system identifier needs
/// the right to call `pg_control_system()`; without it the field is empty.
pub async fn database_identity(client: &Client) -> Result<DatabaseIdentity, DbError> {
    let row = client
        .query_one(
            "SELECT current_database()::text, current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(|e| DbError::query("reading the database identity", e))?;
    let system_identifier = match client
        .query_one(
            "SELECT system_identifier::text FROM pg_control_system()",
            &[],
        )
        .await
    {
        Ok(r) => r.get::<_, Option<String>>(0).unwrap_or_default(),
        Err(e) => {
            let err = DbError::query("reading the system identifier", e);
            if err.is_connection_lost() {
                return Err(err);
            }
            tracing::debug!("{err}");
            String::new()
        }
    };
    Ok(DatabaseIdentity {
        name: row.get(0),
        system_identifier,
        server_version_num: row.get(1),
    })
}

/// The column signature (`name type`, in column order, dropped columns left
/// out) of each named table (`schema.table`), in the order asked; tables that do
/// not exist (or are not tables or materialized views) are left out.
pub async fn table_signatures(
    client: &Client,
    tables: &[String],
) -> Result<Vec<TableSignature>, DbError> {
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT n.nspname || '.' || c.relname, \
                    a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 \
                  AND NOT a.attisdropped \
             WHERE n.nspname || '.' || c.relname = ANY($1) \
               AND c.relkind IN ('r', 'p', 'm', 'f') \
             ORDER BY 1, a.attnum",
            &[&tables],
        )
        .await
        .map_err(|e| DbError::query("reading table signatures", e))?;
    let mut found: Vec<TableSignature> = Vec::new();
    for row in rows {
        let table: String = row.get(0);
        let column: Option<String> = row.get(1);
        if found.last().map(|s| s.table != table).unwrap_or(true) {
            found.push(TableSignature {
                table,
                columns: Vec::new(),
            });
        }
        if let (Some(col), Some(sig)) = (column, found.last_mut()) {
            sig.columns.push(col);
        }
    }
    let mut out = Vec::new();
    for t in tables {
        if out.iter().any(|s: &TableSignature| &s.table == t) {
            continue;
        }
        if let Some(i) = found.iter().position(|s| &s.table == t) {
            out.push(found.swap_remove(i));
        }
    }
    Ok(out)
}

/// Checks that `plan` can be applied to the connected database: a supported
/// format, the same database (name, and system identifier when both are known),
/// every table it touches present, and each recorded table signature unchanged.
pub async fn check_plan(client: &Client, plan: &AdvicePlan) -> Result<(), PlanMismatch> {
    if plan.version != PLAN_FORMAT_VERSION {
        return Err(PlanMismatch::UnsupportedVersion {
            found: plan.version,
            supported: PLAN_FORMAT_VERSION,
        });
    }
    let here = database_identity(client).await?;
    let sysid_differs = !plan.database.system_identifier.is_empty()
        && !here.system_identifier.is_empty()
        && plan.database.system_identifier != here.system_identifier;
    if plan.database.name != here.name || sysid_differs {
        return Err(PlanMismatch::OtherDatabase {
            plan_name: plan.database.name.clone(),
            plan_system_id: plan.database.system_identifier.clone(),
            db_name: here.name,
            db_system_id: here.system_identifier,
        });
    }
    let mut wanted: Vec<String> = Vec::new();
    let mut add = |t: &str| {
        if !wanted.iter().any(|w| w == t) {
            wanted.push(t.to_string());
        }
    };
    plan.tables.iter().for_each(|t| add(&t.table));
    plan.recommendations.iter().for_each(|r| add(&r.table));
    plan.drops.iter().for_each(|d| add(&d.table));
    plan.analyze.iter().for_each(|t| add(t));
    let now = table_signatures(client, &wanted).await?;
    for table in &wanted {
        if !now.iter().any(|s| &s.table == table) {
            return Err(PlanMismatch::TableMissing {
                table: table.clone(),
            });
        }
    }
    for planned in &plan.tables {
        let Some(current) = now.iter().find(|s| s.table == planned.table) else {
            continue;
        };
        if let Some(difference) = first_difference(&planned.columns, &current.columns) {
            return Err(PlanMismatch::TableChanged {
                table: planned.table.clone(),
                difference,
            });
        }
    }
    Ok(())
}

/// The column name of a `name type` signature entry.
fn column_name(entry: &str) -> &str {
    entry.split(' ').next().unwrap_or(entry)
}

/// The first difference between two column lists, in words; `None` when equal.
pub(crate) fn first_difference(planned: &[String], now: &[String]) -> Option<String> {
    if planned == now {
        return None;
    }
    for p in planned {
        if now.contains(p) {
            continue;
        }
        let name = column_name(p);
        return Some(
            match now
                .iter()
                .find(|n| column_name(n) == name && !planned.contains(n))
            {
                Some(n) => format!("column {name} changed from \"{p}\" to \"{n}\""),
                None => format!("column \"{p}\" was dropped"),
            },
        );
    }
    if let Some(n) = now.iter().find(|n| !planned.contains(n)) {
        return Some(format!("column \"{n}\" was added"));
    }
    Some(format!(
        "columns were reordered (was: {}; now: {})",
        planned.join(", "),
        now.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn differences_are_named() {
        let planned = cols(&["id bigint", "email text", "age integer"]);
        assert_eq!(first_difference(&planned, &planned.clone()), None);
        assert_eq!(
            first_difference(&planned, &cols(&["id bigint", "age integer"])).as_deref(),
            Some("column \"email text\" was dropped")
        );
        assert_eq!(
            first_difference(
                &planned,
                &cols(&["id bigint", "email text", "age integer", "x date"])
            )
            .as_deref(),
            Some("column \"x date\" was added")
        );
        assert_eq!(
            first_difference(
                &planned,
                &cols(&["id bigint", "email character varying(200)", "age integer"])
            )
            .as_deref(),
            Some("column email changed from \"email text\" to \"email character varying(200)\"")
        );
        assert!(
            first_difference(&planned, &cols(&["email text", "id bigint", "age integer"]))
                .is_some_and(|d| d.starts_with("columns were reordered"))
        );
    }

    #[test]
    fn corrupt_and_foreign_files_are_refused_with_a_reason() {
        let err = parse_plan("{\"version\": 1, \"id\": ", "plan.json").expect_err("corrupt");
        let msg = err.to_string();
        assert!(
            msg.starts_with("plan.json is not a pgpilot plan: ") && msg.contains("line 1"),
            "{msg}"
        );
        let err = parse_plan("[1, 2]", "plan.json").expect_err("not an object");
        assert!(err.to_string().contains("not a pgpilot plan"), "{err}");
        let err = parse_plan("{\"version\": 99}", "p.json").expect_err("future");
        assert!(err.to_string().contains("format version 99"), "{err}");
        let err = parse_plan("{\"version\": 1, \"id\": \"x\"}", "p.json").expect_err("fields");
        assert!(err.to_string().contains("missing field"), "{err}");
    }
}
