//! Test helpers: hand-built catalogs and workload queries.

use pgpilot_sql::QueryShape;

use crate::{AdvisorQuery, Catalog, ColumnInfo, ExistingIndex, IndexDef, IndexKey, TableInfo};

/// A column: name, type, `n_distinct` (negative = fraction of rows).
pub(crate) fn col(name: &str, type_name: &str, n_distinct: Option<f64>) -> ColumnInfo {
    let width = match type_name {
        "integer" => 4.0,
        "bigint" | "timestamp with time zone" | "double precision" => 8.0,
        "boolean" => 1.0,
        "uuid" => 16.0,
        _ => 20.0,
    };
    ColumnInfo {
        name: name.to_string(),
        type_name: type_name.to_string(),
        not_null: false,
        avg_width: Some(width),
        n_distinct,
        null_frac: Some(0.0),
        sample_values: Vec::new(),
        correlation: None,
    }
}

/// A `public` table.
pub(crate) fn table(name: &str, rows: f64, columns: Vec<ColumnInfo>) -> TableInfo {
    let row_width = columns.iter().filter_map(|c| c.avg_width).sum::<f64>() + 24.0;
    TableInfo {
        schema: "public".to_string(),
        table: name.to_string(),
        rows,
        row_width,
        heap_bytes: (rows * row_width) as u64,
        writes_per_sec: 0.0,
        mod_since_analyze: 0.0,
        columns,
    }
}

/// A valid existing B-tree on plain columns.
pub(crate) fn existing(name: &str, table: &str, keys: &[&str], primary: bool) -> ExistingIndex {
    let def = IndexDef::btree(
        "public",
        table,
        keys.iter().map(|k| IndexKey::column(k)).collect(),
    );
    ExistingIndex {
        name: name.to_string(),
        create_sql: def.create_sql(name, false, false),
        def,
        size_bytes: 8192,
        valid: true,
        primary,
        constraint: primary,
        scans: 0,
    }
}

/// The ADX demo-like catalog: users, profiles, roles, sessions, audit_logs, orders.
pub(crate) fn adx_catalog() -> Catalog {
    let users = table(
        "users",
        200_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("email", "text", Some(-1.0)),
            col("status", "text", Some(4.0)),
            col("role_id", "integer", Some(5.0)),
            col("org_id", "integer", Some(500.0)),
            col("created_at", "timestamp with time zone", Some(-0.9)),
            col("last_login", "timestamp with time zone", Some(-0.8)),
            col("name", "text", Some(-0.7)),
            col("meta", "json", Some(-1.0)),
        ],
    );
    let profiles = table(
        "profiles",
        200_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("user_id", "bigint", Some(-1.0)),
            col("bio", "text", Some(-0.5)),
        ],
    );
    let roles = table(
        "roles",
        5.0,
        vec![
            col("id", "integer", Some(-1.0)),
            col("role_name", "text", Some(-1.0)),
        ],
    );
    let sessions = table(
        "sessions",
        1_000_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("user_id", "bigint", Some(100_000.0)),
            col("expires_at", "timestamp with time zone", Some(-0.9)),
            col("token", "text", Some(-1.0)),
        ],
    );
    let audit = table(
        "audit_logs",
        5_000_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("user_id", "bigint", Some(100_000.0)),
            col("action", "text", Some(30.0)),
            col("created_at", "timestamp with time zone", Some(-0.95)),
        ],
    );
    let orders = table(
        "orders",
        2_000_000.0,
        vec![
            col("id", "bigint", Some(-1.0)),
            col("user_id", "bigint", Some(150_000.0)),
            col("status", "text", Some(5.0)),
            col("total", "numeric", Some(-0.3)),
            col("created_at", "timestamp with time zone", Some(-0.95)),
        ],
    );
    Catalog {
        tables: vec![users, profiles, roles, sessions, audit, orders],
        indexes: vec![
            existing("users_pkey", "users", &["id"], true),
            existing("profiles_pkey", "profiles", &["id"], true),
            existing("roles_pkey", "roles", &["id"], true),
            existing("sessions_pkey", "sessions", &["id"], true),
            existing("audit_logs_pkey", "audit_logs", &["id"], true),
            existing("orders_pkey", "orders", &["id"], true),
        ],
    }
}

/// A workload query parsed from `sql`.
pub(crate) fn query(sql: &str, calls: f64) -> AdvisorQuery {
    AdvisorQuery {
        id: {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            sql.hash(&mut h);
            format!("{:016x}", h.finish())
        },
        sql: sql.to_string(),
        calls,
        mean_ms: None,
        samples: Vec::new(),
        shape: QueryShape::parse(sql).expect("test SQL parses"),
    }
}
