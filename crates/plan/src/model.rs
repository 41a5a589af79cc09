//! The typed plan model: [`Plan`] (the top level of one EXPLAIN or auto_explain
//! output) and [`Node`] (one plan node). Every field is optional and read leniently;
//! unknown fields are kept in `extra` and ignored by the rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lenient;

/// Where a [`Plan`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// `EXPLAIN (FORMAT JSON)` or auto_explain with `log_format = json`.
    #[default]
    Json,
    /// A text-format plan (EXPLAIN's default, auto_explain's default).
    Text,
}

/// One whole plan: the root node and the top-level facts around it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The root plan node.
    #[serde(rename = "Plan")]
    pub root: Node,
    /// Query text (auto_explain output, or `VERBOSE` in recent versions).
    #[serde(
        rename = "Query Text",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub query_text: Option<String>,
    /// Planning time in ms (ANALYZE, or `SUMMARY`).
    #[serde(
        rename = "Planning Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub planning_time_ms: Option<f64>,
    /// Execution time in ms (ANALYZE).
    #[serde(
        rename = "Execution Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub execution_time_ms: Option<f64>,
    /// JIT compilation facts, when JIT was used.
    #[serde(
        rename = "JIT",
        default,
        deserialize_with = "lenient_jit",
        skip_serializing_if = "Option::is_none"
    )]
    pub jit: Option<Jit>,
    /// Settings that differ from their defaults (`SETTINGS`).
    #[serde(
        rename = "Settings",
        default,
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub settings: BTreeMap<String, String>,
    /// Trigger executions (ANALYZE of a data-modifying statement).
    #[serde(
        rename = "Triggers",
        default,
        deserialize_with = "lenient_triggers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub triggers: Vec<Trigger>,
    /// auto_explain's `duration: … ms` header, when a text block carried one.
    #[serde(skip)]
    pub duration_ms: Option<f64>,
    /// The format this plan was read from.
    #[serde(skip)]
    pub source: PlanSource,
    /// Lines of a text plan that could not be read into the model, kept verbatim.
    #[serde(skip)]
    pub raw_lines: Vec<String>,
    /// Top-level fields this model does not know (e.g. `Planning`, `Query Identifier`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// JIT compilation facts of a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Jit {
    /// Number of functions compiled.
    #[serde(
        rename = "Functions",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub functions: Option<f64>,
    /// JIT options (Inlining, Optimization, Expressions, Deforming).
    #[serde(rename = "Options", default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
    /// Time spent on JIT, per phase.
    #[serde(rename = "Timing", default, deserialize_with = "lenient_timing")]
    pub timing: JitTiming,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Time spent by JIT compilation, per phase, in ms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JitTiming {
    /// Code generation (PostgreSQL 17 reports an object; its `Total` is used).
    #[serde(
        rename = "Generation",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub generation: Option<f64>,
    /// Inlining.
    #[serde(
        rename = "Inlining",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub inlining: Option<f64>,
    /// Optimization.
    #[serde(
        rename = "Optimization",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub optimization: Option<f64>,
    /// Emission.
    #[serde(
        rename = "Emission",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub emission: Option<f64>,
    /// Total JIT time.
    #[serde(
        rename = "Total",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<f64>,
}

/// One trigger's execution statistics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    /// Trigger name.
    #[serde(
        rename = "Trigger Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// Constraint name, for constraint triggers (foreign keys).
    #[serde(
        rename = "Constraint Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub constraint_name: Option<String>,
    /// Table the trigger is on.
    #[serde(
        rename = "Relation",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub relation: Option<String>,
    /// Total time in the trigger, ms.
    #[serde(
        rename = "Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_ms: Option<f64>,
    /// Number of calls.
    #[serde(
        rename = "Calls",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub calls: Option<f64>,
    /// Fields this model does not know.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn lenient_jit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Jit>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

fn lenient_timing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<JitTiming, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

fn lenient_triggers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Trigger>, D::Error> {
    let v = lenient::values(d)?;
    Ok(v.into_iter()
        .filter_map(|t| serde_json::from_value(t).ok())
        .collect())
}

/// One plan node. Per-loop figures (`actual_*`, `rows_removed_*`) are as EXPLAIN
/// prints them: averages per loop; buffer counts include the node's children.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Node type, e.g. `Seq Scan`, `Hash Join`, `Limit`.
    #[serde(rename = "Node Type", default, deserialize_with = "lenient::string")]
    pub node_type: String,
    /// How this node feeds its parent: `Outer`, `Inner`, `InitPlan`, `SubPlan`, `Member`, …
    #[serde(
        rename = "Parent Relationship",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_relationship: Option<String>,
    /// Name of an InitPlan / SubPlan / CTE (`CTE x`, `InitPlan 1 (returns $0)`).
    #[serde(
        rename = "Subplan Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub subplan_name: Option<String>,
    /// Whether the node is parallel aware (`Parallel Seq Scan` in text).
    #[serde(
        rename = "Parallel Aware",
        default,
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub parallel_aware: Option<bool>,
    /// Table the node scans or modifies.
    #[serde(
        rename = "Relation Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub relation_name: Option<String>,
    /// Schema of the relation (VERBOSE only).
    #[serde(
        rename = "Schema",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub schema: Option<String>,
    /// Alias of the relation in the query.
    #[serde(
        rename = "Alias",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub alias: Option<String>,
    /// Index used by an index scan.
    #[serde(
        rename = "Index Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub index_name: Option<String>,
    /// CTE read by a CTE Scan.
    #[serde(
        rename = "CTE Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub cte_name: Option<String>,
    /// Function read by a Function Scan.
    #[serde(
        rename = "Function Name",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub function_name: Option<String>,
    /// Join type: `Inner`, `Left`, `Semi`, `Anti`, …
    #[serde(
        rename = "Join Type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub join_type: Option<String>,
    /// Aggregate / SetOp strategy: `Plain`, `Sorted`, `Hashed`, `Mixed`.
    #[serde(
        rename = "Strategy",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub strategy: Option<String>,
    /// Partial aggregation mode: `Simple`, `Partial`, `Finalize`.
    #[serde(
        rename = "Partial Mode",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub partial_mode: Option<String>,
    /// Index scan direction: `Forward` or `Backward`.
    #[serde(
        rename = "Scan Direction",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub scan_direction: Option<String>,
    /// Estimated startup cost.
    #[serde(
        rename = "Startup Cost",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub startup_cost: Option<f64>,
    /// Estimated total cost.
    #[serde(
        rename = "Total Cost",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_cost: Option<f64>,
    /// Estimated rows per loop.
    #[serde(
        rename = "Plan Rows",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub plan_rows: Option<f64>,
    /// Estimated row width in bytes.
    #[serde(
        rename = "Plan Width",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub plan_width: Option<f64>,
    /// Actual startup time per loop, in ms (ANALYZE).
    #[serde(
        rename = "Actual Startup Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_startup_time: Option<f64>,
    /// Actual total time per loop, in ms (ANALYZE).
    #[serde(
        rename = "Actual Total Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_total_time: Option<f64>,
    /// Actual rows per loop (ANALYZE).
    #[serde(
        rename = "Actual Rows",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_rows: Option<f64>,
    /// Number of times the node was executed (ANALYZE; 0 = never executed).
    #[serde(
        rename = "Actual Loops",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub actual_loops: Option<f64>,
    /// Output columns (VERBOSE).
    #[serde(
        rename = "Output",
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub output: Vec<String>,
    /// Filter condition text.
    #[serde(
        rename = "Filter",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub filter: Option<String>,
    /// Rows removed by the Filter, per loop.
    #[serde(
        rename = "Rows Removed by Filter",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_filter: Option<f64>,
    /// Index condition text.
    #[serde(
        rename = "Index Cond",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub index_cond: Option<String>,
    /// Bitmap heap scan recheck condition text.
    #[serde(
        rename = "Recheck Cond",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub recheck_cond: Option<String>,
    /// Rows removed by the index recheck, per loop.
    #[serde(
        rename = "Rows Removed by Index Recheck",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_index_recheck: Option<f64>,
    /// Hash join condition text.
    #[serde(
        rename = "Hash Cond",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_cond: Option<String>,
    /// Merge join condition text.
    #[serde(
        rename = "Merge Cond",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub merge_cond: Option<String>,
    /// Join filter text.
    #[serde(
        rename = "Join Filter",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub join_filter: Option<String>,
    /// Rows removed by the Join Filter, per loop.
    #[serde(
        rename = "Rows Removed by Join Filter",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub rows_removed_by_join_filter: Option<f64>,
    /// Sort keys, with direction (`u.last_login DESC`).
    #[serde(
        rename = "Sort Key",
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sort_key: Vec<String>,
    /// Presorted keys of an Incremental Sort.
    #[serde(
        rename = "Presorted Key",
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub presorted_key: Vec<String>,
    /// Group keys of an aggregate.
    #[serde(
        rename = "Group Key",
        default,
        deserialize_with = "lenient::string_list",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_key: Vec<String>,
    /// Sort method: `quicksort`, `top-N heapsort`, `external merge`, …
    #[serde(
        rename = "Sort Method",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_method: Option<String>,
    /// Sort space used, in kB.
    #[serde(
        rename = "Sort Space Used",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_used: Option<f64>,
    /// Sort space type: `Memory` or `Disk`.
    #[serde(
        rename = "Sort Space Type",
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort_space_type: Option<String>,
    /// Hash buckets used.
    #[serde(
        rename = "Hash Buckets",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_buckets: Option<f64>,
    /// Hash buckets originally planned.
    #[serde(
        rename = "Original Hash Buckets",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_hash_buckets: Option<f64>,
    /// Hash batches used (> 1 means the hash spilled to disk).
    #[serde(
        rename = "Hash Batches",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hash_batches: Option<f64>,
    /// Hash batches originally planned.
    #[serde(
        rename = "Original Hash Batches",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_hash_batches: Option<f64>,
    /// Peak memory of a Hash / HashAggregate, in kB.
    #[serde(
        rename = "Peak Memory Usage",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub peak_memory_usage: Option<f64>,
    /// Batches of a HashAggregate (> 1 means it spilled).
    #[serde(
        rename = "HashAgg Batches",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub hashagg_batches: Option<f64>,
    /// Disk used by a HashAggregate, in kB.
    #[serde(
        rename = "Disk Usage",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_usage: Option<f64>,
    /// Heap fetches of an Index Only Scan (total over all loops).
    #[serde(
        rename = "Heap Fetches",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub heap_fetches: Option<f64>,
    /// Exact heap blocks of a Bitmap Heap Scan.
    #[serde(
        rename = "Exact Heap Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub exact_heap_blocks: Option<f64>,
    /// Lossy heap blocks of a Bitmap Heap Scan.
    #[serde(
        rename = "Lossy Heap Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub lossy_heap_blocks: Option<f64>,
    /// Parallel workers planned (Gather / Gather Merge).
    #[serde(
        rename = "Workers Planned",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_planned: Option<f64>,
    /// Parallel workers launched (ANALYZE).
    #[serde(
        rename = "Workers Launched",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub workers_launched: Option<f64>,
    /// Shared buffer hits, including children (BUFFERS).
    #[serde(
        rename = "Shared Hit Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_hit_blocks: Option<f64>,
    /// Shared blocks read, including children.
    #[serde(
        rename = "Shared Read Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_read_blocks: Option<f64>,
    /// Shared blocks dirtied, including children.
    #[serde(
        rename = "Shared Dirtied Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_dirtied_blocks: Option<f64>,
    /// Shared blocks written, including children.
    #[serde(
        rename = "Shared Written Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_written_blocks: Option<f64>,
    /// Local buffer hits, including children.
    #[serde(
        rename = "Local Hit Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_hit_blocks: Option<f64>,
    /// Local blocks read, including children.
    #[serde(
        rename = "Local Read Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_read_blocks: Option<f64>,
    /// Local blocks dirtied, including children.
    #[serde(
        rename = "Local Dirtied Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_dirtied_blocks: Option<f64>,
    /// Local blocks written, including children.
    #[serde(
        rename = "Local Written Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub local_written_blocks: Option<f64>,
    /// Temporary blocks read, including children.
    #[serde(
        rename = "Temp Read Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub temp_read_blocks: Option<f64>,
    /// Temporary blocks written, including children.
    #[serde(
        rename = "Temp Written Blocks",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub temp_written_blocks: Option<f64>,
    /// Time spent reading blocks, in ms (track_io_timing; PostgreSQL ≤ 15).
    #[serde(
        rename = "I/O Read Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub io_read_time: Option<f64>,
    /// Time spent writing blocks, in ms (track_io_timing; PostgreSQL ≤ 15).
    #[serde(
        rename = "I/O Write Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub io_write_time: Option<f64>,
    /// Shared block read time, in ms (PostgreSQL ≥ 16).
    #[serde(
        rename = "Shared I/O Read Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_io_read_time: Option<f64>,
    /// Shared block write time, in ms (PostgreSQL ≥ 16).
    #[serde(
        rename = "Shared I/O Write Time",
        default,
        deserialize_with = "lenient::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub shared_io_write_time: Option<f64>,
    /// Per-worker details, kept as JSON.
    #[serde(
        rename = "Workers",
        default,
        deserialize_with = "lenient::values",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub workers: Vec<serde_json::Value>,
    /// Child nodes, in plan order.
    #[serde(
        rename = "Plans",
        default,
        deserialize_with = "lenient::nodes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub plans: Vec<Node>,
    /// Text-plan detail lines that were not read into a field, kept verbatim.
    #[serde(skip)]
    pub raw_lines: Vec<String>,
    /// Fields this model does not know, kept as JSON.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}
