//! Convenience accessors on [`Node`] and [`Plan`].

use crate::{Node, Plan};

impl Node {
    /// Number of executions (`Actual Loops`); `None` for a plan without ANALYZE.
    pub fn loops(&self) -> Option<f64> {
        self.actual_loops
    }

    /// True when the plan carries actual (ANALYZE) figures for this node.
    pub fn is_analyzed(&self) -> bool {
        self.actual_loops.is_some()
    }

    /// True when ANALYZE says the node never ran (`never executed`, loops = 0).
    pub fn never_executed(&self) -> bool {
        self.actual_loops == Some(0.0)
    }

    /// Total rows produced over all loops: actual rows × loops.
    pub fn total_rows(&self) -> Option<f64> {
        Some(self.actual_rows? * self.actual_loops?)
    }

    /// Rows read by a scan over all loops: rows kept plus rows removed by its Filter
    /// and by an index recheck.
    pub fn total_rows_read(&self) -> Option<f64> {
        let loops = self.actual_loops?;
        let per_loop = self.actual_rows?
            + self.rows_removed_by_filter.unwrap_or(0.0)
            + self.rows_removed_by_index_recheck.unwrap_or(0.0);
        Some(per_loop * loops)
    }

    /// Rows removed by the Filter over all loops.
    pub fn total_rows_removed_by_filter(&self) -> Option<f64> {
        Some(self.rows_removed_by_filter? * self.actual_loops.unwrap_or(1.0))
    }

    /// The node type as EXPLAIN's text format shows it: `Parallel Seq Scan` for a
    /// parallel-aware `Seq Scan`.
    pub fn display_type(&self) -> String {
        if self.parallel_aware == Some(true) && !self.node_type.starts_with("Parallel ") {
            format!("Parallel {}", self.node_type)
        } else {
            self.node_type.clone()
        }
    }

    /// Node type without a `Parallel ` prefix (text plans spell it into the type).
    pub fn base_type(&self) -> &str {
        self.node_type
            .strip_prefix("Parallel ")
            .unwrap_or(&self.node_type)
    }

    /// True for a sequential scan (parallel or not).
    pub fn is_seq_scan(&self) -> bool {
        self.base_type() == "Seq Scan"
    }

    /// True for a scan that reads a table: seq, index, index-only and bitmap heap scans.
    pub fn is_table_scan(&self) -> bool {
        matches!(
            self.base_type(),
            "Seq Scan"
                | "Index Scan"
                | "Index Only Scan"
                | "Bitmap Heap Scan"
                | "Tid Scan"
                | "Tid Range Scan"
        )
    }

    /// The relation with its schema when known: `public.users` or `users`.
    pub fn qualified_table(&self) -> Option<String> {
        let rel = self.relation_name.as_deref()?;
        Some(match self.schema.as_deref() {
            Some(s) if !s.is_empty() => format!("{s}.{rel}"),
            _ => rel.to_string(),
        })
    }

    /// One-line label like EXPLAIN's text format: `Index Scan using i on users u`.
    pub fn label(&self) -> String {
        let mut s = self.display_type();
        if let Some(ix) = &self.index_name {
            if self.relation_name.is_some() || self.base_type() != "Bitmap Index Scan" {
                s.push_str(" using ");
            } else {
                s.push_str(" on ");
            }
            s.push_str(ix);
        }
        if let Some(rel) = &self.relation_name {
            s.push_str(" on ");
            s.push_str(rel);
            if let Some(a) = &self.alias {
                if a != rel {
                    s.push(' ');
                    s.push_str(a);
                }
            }
        } else if let Some(cte) = &self.cte_name {
            s.push_str(" on ");
            s.push_str(cte);
        }
        s
    }

    /// Children that belong to the node's own row flow (not InitPlans or SubPlans).
    pub fn flow_children(&self) -> impl Iterator<Item = &Node> {
        self.plans.iter().filter(|c| {
            !matches!(
                c.parent_relationship.as_deref(),
                Some("InitPlan") | Some("SubPlan")
            )
        })
    }
}

impl Plan {
    /// Execution time when known, else the root node's actual total time.
    pub fn runtime_ms(&self) -> Option<f64> {
        self.execution_time_ms
            .or_else(|| Some(self.root.actual_total_time? * self.root.actual_loops.unwrap_or(1.0)))
    }

    /// True when the plan carries ANALYZE figures.
    pub fn is_analyzed(&self) -> bool {
        self.root.is_analyzed() || self.execution_time_ms.is_some()
    }
}
