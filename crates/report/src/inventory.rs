//! The index inventory ("document the current index strategy").

use pgpilot_health::{IndexFlag, IndexInventory, Unavailable};

use crate::format::percent;
use crate::table::{render, Style};

/// `1.2 GB`, `34 MB`, `8.0 kB`.
pub fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1024.0 * 1024.0 * 1024.0 => format!("{:.1} GB", n / 1024.0 / 1024.0 / 1024.0),
        n if n >= 1024.0 * 1024.0 => format!("{:.0} MB", n / 1024.0 / 1024.0),
        n if n >= 1024.0 => format!("{:.1} kB", n / 1024.0),
        n => format!("{n:.0} B"),
    }
}

fn flag(f: &IndexFlag) -> &'static str {
    match f {
        IndexFlag::Unused => "unused",
        IndexFlag::Duplicate => "duplicate",
        IndexFlag::Redundant => "redundant",
        IndexFlag::Invalid => "INVALID",
    }
}

/// What could not be read, one line each (empty when everything was readable).
pub fn unavailable_note(u: &[Unavailable]) -> String {
    u.iter()
        .map(|x| {
            format!(
                "not checked: {} ({}{})\n",
                x.source,
                x.reason,
                x.sqlstate
                    .as_deref()
                    .map(|s| format!(", SQLSTATE {s}"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

/// Every index with its size, use and flags; then seq vs index scans per table.
pub fn inventory_report(inv: &IndexInventory, style: Style) -> String {
    let mut out = format!(
        "{} indexes, {} in all · index cache hit ratio {} · index usage ratio {} (tables ≥ 10 000 rows)\n",
        inv.indexes.len(),
        bytes(inv.total_index_bytes),
        percent(inv.index_hit_ratio),
        percent(inv.index_usage_ratio),
    );
    let heading = |out: &mut String, text: &str| match style {
        Style::Markdown => out.push_str(&format!("\n### {text}\n\n")),
        Style::Terminal => out.push_str(&format!("\n{text}\n")),
    };
    heading(&mut out, "Indexes");
    let rows: Vec<Vec<String>> = inv
        .indexes
        .iter()
        .map(|i| {
            let mut flags: Vec<String> = i.flags.iter().map(|f| flag(f).to_string()).collect();
            if let Some(by) = &i.covered_by {
                flags.push(format!("covered by {by}"));
            }
            vec![
                format!("{}.{}", i.schema, i.table),
                i.name.clone(),
                i.definition
                    .split_once(" USING ")
                    .map_or(i.definition.clone(), |(_, rest)| rest.to_string()),
                bytes(i.bytes),
                i.scans.to_string(),
                i.tuples_read.to_string(),
                i.tuples_fetched.to_string(),
                flags.join(", "),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &[
            "table",
            "index",
            "definition",
            "size",
            "scans",
            "tuples read",
            "fetched",
            "flags",
        ],
        &rows,
        &[3, 4, 5, 6],
    ));
    out.push('\n');
    heading(&mut out, "Tables: sequential vs index scans");
    let rows: Vec<Vec<String>> = inv
        .tables
        .iter()
        .map(|t| {
            vec![
                format!("{}.{}", t.schema, t.table),
                t.live_rows.to_string(),
                bytes(t.table_bytes),
                bytes(t.index_bytes),
                t.seq_scan.to_string(),
                t.idx_scan.to_string(),
                percent(t.index_usage_percent),
            ]
        })
        .collect();
    out.push_str(&render(
        style,
        &[
            "table",
            "rows",
            "table size",
            "index size",
            "seq scans",
            "index scans",
            "index use",
        ],
        &rows,
        &[1, 2, 3, 4, 5, 6],
    ));
    out.push('\n');
    out.push_str(&unavailable_note(&inv.unavailable));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(8192), "8.0 kB");
        assert_eq!(bytes(35 * 1024 * 1024), "35 MB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
    }

    #[test]
    fn inventory_renders() {
        let json = r#"{
          "indexes": [
            {"schema": "public", "table": "users", "name": "users_pkey",
             "definition": "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)", "method": "btree",
             "columns": ["id"], "predicate": null, "unique": true, "primary": true, "bytes": 22487040,
             "scans": 6054652, "tuples_read": 6100000, "tuples_fetched": 6054652, "flags": [], "covered_by": null},
            {"schema": "public", "table": "users", "name": "idx_users_created",
             "definition": "CREATE INDEX idx_users_created ON public.users USING btree (created_at)", "method": "btree",
             "columns": ["created_at"], "predicate": null, "unique": false, "primary": false, "bytes": 22487040,
             "scans": 0, "tuples_read": 0, "tuples_fetched": 0, "flags": ["unused", "redundant"],
             "covered_by": "idx_users_created_login"}
          ],
          "tables": [
            {"schema": "public", "table": "users", "live_rows": 1000000, "table_bytes": 250000000,
             "index_bytes": 44974080, "seq_scan": 81, "idx_scan": 6054652, "index_usage_percent": 99.99}
          ],
          "index_hit_ratio": 99.5, "index_usage_ratio": 99.99, "total_index_bytes": 44974080,
          "unavailable": [{"source": "activity", "reason": "permission denied", "sqlstate": "42501"}]
        }"#;
        let inv: IndexInventory = serde_json::from_str(json).expect("fixture");
        insta::assert_snapshot!(inventory_report(&inv, Style::Terminal));
    }
}
