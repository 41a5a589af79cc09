//! Best-effort reader of text-format plans, as `EXPLAIN` prints them by default and
//! as auto_explain logs them (`log_format = text`). Lines it cannot read are kept
//! verbatim in `raw_lines` of the node they belong to (or of the plan).

use serde_json::Value;

use crate::{Jit, Node, Plan, PlanError, PlanSource};

/// Deepest nesting accepted; deeper node lines are kept as raw lines.
const MAX_DEPTH: usize = 400;

struct Slot {
    node: Node,
    parent: Option<usize>,
    /// Column at which the node's description starts.
    col: usize,
}

#[derive(PartialEq)]
enum Section {
    Tree,
    Footer(String),
}

impl Plan {
    /// Reads a text-format plan. Never panics; fails only when no plan node is found.
    pub fn from_text(input: &str) -> Result<Plan, PlanError> {
        if input.trim().is_empty() {
            return Err(PlanError::Empty);
        }
        let all_tabbed = input
            .lines()
            .filter(|l| !l.trim().is_empty())
            .all(|l| l.starts_with('\t'));
        let mut plan = Plan {
            source: PlanSource::Text,
            ..Plan::default()
        };
        let mut slots: Vec<Slot> = Vec::new();
        let mut stack: Vec<usize> = Vec::new();
        let mut base: Option<usize> = None;
        let mut section = Section::Tree;
        let mut in_query_text = false;
        let mut pending_rel: Option<(String, String)> = None;

        for raw in input.lines() {
            let line = if all_tabbed {
                raw.strip_prefix('\t').unwrap_or(raw)
            } else {
                raw
            };
            let line = line.strip_suffix('+').map(str::trim_end).unwrap_or(line);
            let trimmed = line.trim();
            if trimmed.is_empty() || is_psql_decoration(trimmed) {
                continue;
            }
            let indent = line.len() - line.trim_start().len();

            // Header lines before the root node.
            let Some(b) = base else {
                if let Some(rest) = trimmed.strip_prefix("duration:") {
                    plan.duration_ms = first_number(rest);
                    continue;
                }
                if let Some(rest) = trimmed.strip_prefix("Query Text:") {
                    plan.query_text = Some(rest.trim().to_string());
                    in_query_text = true;
                    continue;
                }
                if is_node_line(trimmed) || (!in_query_text && !trimmed.contains(": ")) {
                    base = Some(indent);
                    let node = parse_node_line(trimmed);
                    slots.push(Slot {
                        node,
                        parent: None,
                        col: 0,
                    });
                    stack.push(0);
                    in_query_text = false;
                } else if in_query_text {
                    if let Some(q) = plan.query_text.as_mut() {
                        q.push('\n');
                        q.push_str(line);
                    }
                } else {
                    plan.raw_lines.push(line.to_string());
                }
                continue;
            };
            let indent = indent.saturating_sub(b);

            if indent == 0 && !trimmed.starts_with("->") {
                section = Section::Footer(String::new());
            }
            if let Section::Footer(current) = &mut section {
                footer_line(&mut plan, current, indent, trimmed);
                continue;
            }

            if let Some(desc) = trimmed.strip_prefix("->") {
                let col = indent + 2 + (desc.len() - desc.trim_start().len());
                while let Some(&top) = stack.last() {
                    if slots[top].col >= indent {
                        stack.pop();
                    } else {
                        break;
                    }
                }
                let Some(&parent) = stack.last() else {
                    plan.raw_lines.push(line.to_string());
                    continue;
                };
                if stack.len() >= MAX_DEPTH {
                    slots[parent].node.raw_lines.push(line.to_string());
                    continue;
                }
                let mut node = parse_node_line(desc.trim());
                if let Some((rel, name)) = pending_rel.take() {
                    node.parent_relationship = Some(rel);
                    node.subplan_name = Some(name);
                }
                slots.push(Slot {
                    node,
                    parent: Some(parent),
                    col,
                });
                stack.push(slots.len() - 1);
                continue;
            }

            // A detail line: it belongs to the deepest open node left of it.
            while let Some(&top) = stack.last() {
                if slots[top].col >= indent && stack.len() > 1 {
                    stack.pop();
                } else {
                    break;
                }
            }
            let Some(&owner) = stack.last() else {
                plan.raw_lines.push(line.to_string());
                continue;
            };
            if let Some(rel) = subplan_label(trimmed) {
                pending_rel = Some(rel);
                continue;
            }
            detail_line(&mut slots[owner].node, trimmed);
        }

        if slots.is_empty() {
            return Err(PlanError::NoTextNode);
        }
        plan.root = assemble(slots);
        Ok(plan)
    }
}

fn is_psql_decoration(t: &str) -> bool {
    t == "QUERY PLAN"
        || t.chars().all(|c| c == '-' || c == '+')
        || (t.starts_with('(') && (t.ends_with(" rows)") || t.ends_with(" row)")))
}

fn is_node_line(t: &str) -> bool {
    t.contains("(cost=") || t.contains("(actual ") || t.contains("(never executed)")
}

fn first_number(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .unwrap_or(s.len());
    s.get(..end)?.parse().ok().filter(|f: &f64| f.is_finite())
}

fn subplan_label(t: &str) -> Option<(String, String)> {
    if t.starts_with("InitPlan ") || t.starts_with("CTE ") {
        Some(("InitPlan".to_string(), t.to_string()))
    } else if t.starts_with("SubPlan ") {
        Some(("SubPlan".to_string(), t.to_string()))
    } else {
        None
    }
}

/// Builds the tree from the pre-order slots, giving text children the parent
/// relationship JSON would give them.
fn assemble(slots: Vec<Slot>) -> Node {
    let parents: Vec<Option<usize>> = slots.iter().map(|s| s.parent).collect();
    let mut nodes: Vec<Option<Node>> = slots.into_iter().map(|s| Some(s.node)).collect();
    for i in (1..nodes.len()).rev() {
        let Some(p) = parents[i] else { continue };
        let Some(child) = nodes[i].take() else {
            continue;
        };
        if let Some(Some(parent)) = nodes.get_mut(p) {
            parent.plans.insert(0, child);
        }
    }
    let mut root = nodes.into_iter().next().flatten().unwrap_or_default();
    set_relationships(&mut root);
    root
}

fn set_relationships(root: &mut Node) {
    let mut stack: Vec<&mut Node> = vec![root];
    while let Some(n) = stack.pop() {
        let member = matches!(n.base_type(), "Append" | "Merge Append");
        let subquery = n.base_type() == "Subquery Scan";
        let mut flow = 0;
        for c in n.plans.iter_mut() {
            if c.parent_relationship.is_none() {
                c.parent_relationship = Some(
                    if member {
                        "Member"
                    } else if subquery {
                        "Subquery"
                    } else if flow == 0 {
                        "Outer"
                    } else {
                        "Inner"
                    }
                    .to_string(),
                );
                flow += 1;
            }
        }
        stack.extend(n.plans.iter_mut());
    }
}

/// Parses `Seq Scan on t a  (cost=… rows=… width=…) (actual time=… rows=… loops=…)`.
fn parse_node_line(line: &str) -> Node {
    let mut node = Node::default();
    let paren = ["  (cost=", " (cost=", " (actual ", " (never executed)"]
        .iter()
        .filter_map(|p| line.find(p))
        .min()
        .unwrap_or(line.len());
    let (desc, figures) = line.split_at(paren);
    describe(&mut node, desc.trim());
    for group in figures.split('(').skip(1) {
        let group = group.trim_end().trim_end_matches(')');
        if group.starts_with("never executed") {
            node.actual_loops = Some(0.0);
            continue;
        }
        let actual = group.starts_with("actual");
        for kv in group.split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let range = v.split_once("..");
            match (k, actual) {
                ("cost", false) => {
                    if let Some((a, b)) = range {
                        node.startup_cost = a.parse().ok();
                        node.total_cost = b.parse().ok();
                    }
                }
                ("rows", false) => node.plan_rows = v.parse().ok(),
                ("width", false) => node.plan_width = v.parse().ok(),
                ("time", true) => {
                    if let Some((a, b)) = range {
                        node.actual_startup_time = a.parse().ok();
                        node.actual_total_time = b.parse().ok();
                    }
                }
                ("rows", true) => node.actual_rows = v.parse().ok(),
                ("loops", true) => node.actual_loops = v.parse().ok(),
                _ => {}
            }
        }
    }
    node
}

fn describe(node: &mut Node, desc: &str) {
    let (head, target) = match desc.split_once(" on ") {
        Some((h, t)) => (h.trim(), Some(t.trim())),
        None => (desc, None),
    };
    let (head, index) = match head.split_once(" using ") {
        Some((h, i)) => (h.trim(), Some(i.trim().to_string())),
        None => (head, None),
    };
    let mut t = head;
    if let Some(rest) = t.strip_prefix("Parallel ") {
        node.parallel_aware = Some(true);
        t = rest;
    }
    for mode in ["Partial ", "Finalize "] {
        if let Some(rest) = t.strip_prefix(mode) {
            node.partial_mode = Some(mode.trim().to_string());
            t = rest;
        }
    }
    let mut node_type = t.to_string();
    let agg = [
        ("HashAggregate", "Hashed"),
        ("GroupAggregate", "Sorted"),
        ("MixedAggregate", "Mixed"),
        ("Aggregate", "Plain"),
    ];
    if let Some((_, strategy)) = agg.iter().find(|(name, _)| t == *name) {
        node_type = "Aggregate".to_string();
        node.strategy = Some((*strategy).to_string());
    } else if let Some(rest) = t.strip_prefix("Index Scan Backward") {
        node_type = format!("Index Scan{rest}");
        node.scan_direction = Some("Backward".to_string());
    } else if let Some(rest) = t.strip_prefix("Index Only Scan Backward") {
        node_type = format!("Index Only Scan{rest}");
        node.scan_direction = Some("Backward".to_string());
    } else if t.starts_with("Nested Loop") {
        node_type = "Nested Loop".to_string();
        node.join_type = Some(join_kind(t.trim_start_matches("Nested Loop")));
    } else if let Some(rest) = t.strip_prefix("Hash ").filter(|r| r.ends_with("Join")) {
        node_type = "Hash Join".to_string();
        node.join_type = Some(join_kind(rest));
    } else if let Some(rest) = t.strip_prefix("Merge ").filter(|r| r.ends_with("Join")) {
        node_type = "Merge Join".to_string();
        node.join_type = Some(join_kind(rest));
    } else if let Some(op) = ["Insert", "Update", "Delete", "Merge"]
        .iter()
        .find(|op| t == **op)
    {
        node_type = "ModifyTable".to_string();
        node.extra
            .insert("Operation".to_string(), Value::String((*op).to_string()));
    }
    node.node_type = node_type;
    if node.base_type() == "Bitmap Index Scan" {
        node.index_name = target.map(str::to_string);
        return;
    }
    node.index_name = index;
    if let Some(target) = target {
        let mut parts = target.split_whitespace();
        let name = parts.next().unwrap_or_default();
        let alias = parts.next();
        let (schema, rel) = split_qualified(name);
        match node.base_type() {
            "CTE Scan" | "WorkTable Scan" => node.cte_name = Some(rel.clone()),
            "Function Scan" => node.function_name = Some(rel.clone()),
            _ => {
                node.relation_name = Some(rel.clone());
                node.schema = schema;
            }
        }
        node.alias = Some(alias.map(unquote).unwrap_or(rel));
    }
}

fn join_kind(rest: &str) -> String {
    let kind = rest.trim().trim_end_matches("Join").trim();
    if kind.is_empty() {
        "Inner".to_string()
    } else {
        kind.to_string()
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').replace("\"\"", "\"")
}

fn split_qualified(name: &str) -> (Option<String>, String) {
    // A dot outside quotes separates schema and relation.
    let mut in_quote = false;
    for (i, c) in name.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            '.' if !in_quote => {
                return (Some(unquote(&name[..i])), unquote(&name[i + 1..]));
            }
            _ => {}
        }
    }
    (None, unquote(name))
}

/// Splits `a, b, (c, d)` on top-level commas.
pub(crate) fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '\'' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => depth -= 1,
            ',' if !in_str && depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// `Key: 12  Other: 3kB` → pairs of (key, value).
fn double_space_pairs(s: &str) -> Vec<(String, String)> {
    s.split("  ")
        .filter_map(|part| {
            let (k, v) = part.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

fn kb(v: &str) -> Option<f64> {
    first_number(v)
}

fn detail_line(node: &mut Node, t: &str) {
    let Some((key, value)) = t.split_once(": ") else {
        node.raw_lines.push(t.to_string());
        return;
    };
    if key.starts_with("Worker ") {
        node.raw_lines.push(t.to_string());
        return;
    }
    let value = value.trim();
    let text = || Some(value.to_string());
    match key {
        "Filter" => node.filter = text(),
        "Index Cond" => node.index_cond = text(),
        "Recheck Cond" => node.recheck_cond = text(),
        "Hash Cond" => node.hash_cond = text(),
        "Merge Cond" => node.merge_cond = text(),
        "Join Filter" => node.join_filter = text(),
        "Rows Removed by Filter" => node.rows_removed_by_filter = first_number(value),
        "Rows Removed by Join Filter" => node.rows_removed_by_join_filter = first_number(value),
        "Rows Removed by Index Recheck" => node.rows_removed_by_index_recheck = first_number(value),
        "Sort Key" => node.sort_key = split_list(value),
        "Presorted Key" => node.presorted_key = split_list(value),
        "Group Key" => node.group_key = split_list(value),
        "Output" => node.output = split_list(value),
        "Heap Fetches" => node.heap_fetches = first_number(value),
        "Workers Planned" => node.workers_planned = first_number(value),
        "Workers Launched" => node.workers_launched = first_number(value),
        "Sort Method" => {
            let mut parts = value.split("  ");
            node.sort_method = parts.next().map(|s| s.trim().to_string());
            for (k, v) in double_space_pairs(parts.collect::<Vec<_>>().join("  ").as_str()) {
                node.sort_space_type = Some(k);
                node.sort_space_used = kb(&v);
            }
        }
        "Heap Blocks" => {
            for kv in value.split_whitespace() {
                match kv.split_once('=') {
                    Some(("exact", v)) => node.exact_heap_blocks = first_number(v),
                    Some(("lossy", v)) => node.lossy_heap_blocks = first_number(v),
                    _ => {}
                }
            }
        }
        "Buffers" => buffers(node, value),
        "I/O Timings" => {
            for kv in value.split([' ', ',']) {
                match kv.split_once('=') {
                    Some(("read", v)) => node.io_read_time = first_number(v),
                    Some(("write", v)) => node.io_write_time = first_number(v),
                    _ => {}
                }
            }
        }
        "Buckets" | "Batches" | "Planned Partitions" => hash_line(node, t),
        _ => {
            node.extra
                .insert(key.to_string(), Value::String(value.to_string()));
        }
    }
}

fn hash_line(node: &mut Node, t: &str) {
    let is_hash = node.base_type() == "Hash";
    for (k, v) in double_space_pairs(t) {
        let n = first_number(&v);
        let original = v
            .split_once("(originally ")
            .and_then(|(_, o)| first_number(o));
        match k.as_str() {
            "Buckets" => {
                node.hash_buckets = n;
                node.original_hash_buckets = original.or(n);
            }
            "Batches" if is_hash => {
                node.hash_batches = n;
                node.original_hash_batches = original.or(n);
            }
            "Batches" => node.hashagg_batches = n,
            "Memory Usage" => node.peak_memory_usage = kb(&v),
            "Disk Usage" => node.disk_usage = kb(&v),
            other => {
                node.extra.insert(other.to_string(), Value::String(v));
            }
        }
    }
}

fn buffers(node: &mut Node, value: &str) {
    for group in value.split(", ") {
        let mut words = group.split_whitespace();
        let Some(kind) = words.next() else { continue };
        for kv in words {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let n = first_number(v);
            let field = match (kind, k) {
                ("shared", "hit") => &mut node.shared_hit_blocks,
                ("shared", "read") => &mut node.shared_read_blocks,
                ("shared", "dirtied") => &mut node.shared_dirtied_blocks,
                ("shared", "written") => &mut node.shared_written_blocks,
                ("local", "hit") => &mut node.local_hit_blocks,
                ("local", "read") => &mut node.local_read_blocks,
                ("local", "dirtied") => &mut node.local_dirtied_blocks,
                ("local", "written") => &mut node.local_written_blocks,
                ("temp", "read") => &mut node.temp_read_blocks,
                ("temp", "written") => &mut node.temp_written_blocks,
                _ => continue,
            };
            *field = n;
        }
    }
    // EXPLAIN's text omits zero counters; JSON reports them as 0.
    for f in [
        &mut node.shared_hit_blocks,
        &mut node.shared_read_blocks,
        &mut node.temp_read_blocks,
        &mut node.temp_written_blocks,
    ] {
        if f.is_none() {
            *f = Some(0.0);
        }
    }
}

fn footer_line(plan: &mut Plan, section: &mut String, indent: usize, t: &str) {
    let (key, value) = match t.split_once(':') {
        Some((k, v)) => (k.trim(), v.trim()),
        None => (t, ""),
    };
    if indent == 0 {
        *section = key.to_string();
        match key {
            "Planning Time" => plan.planning_time_ms = first_number(value),
            "Execution Time" => plan.execution_time_ms = first_number(value),
            "Settings" => {
                for item in split_list(value) {
                    if let Some((k, v)) = item.split_once(" = ") {
                        plan.settings.insert(
                            k.trim().to_string(),
                            v.trim().trim_matches('\'').to_string(),
                        );
                    }
                }
            }
            "JIT" => plan.jit = Some(Jit::default()),
            "Planning" => {}
            k if k.starts_with("Trigger ") => {
                let mut trig = crate::Trigger {
                    name: Some(k.trim_start_matches("Trigger ").to_string()),
                    ..Default::default()
                };
                for kv in value.split_whitespace() {
                    match kv.split_once('=') {
                        Some(("time", v)) => trig.time_ms = first_number(v),
                        Some(("calls", v)) => trig.calls = first_number(v),
                        _ => {}
                    }
                }
                plan.triggers.push(trig);
            }
            _ => plan.raw_lines.push(t.to_string()),
        }
        return;
    }
    if section == "JIT" {
        if let Some(jit) = plan.jit.as_mut() {
            match key {
                "Functions" => jit.functions = first_number(value),
                "Timing" => {
                    for item in value.split(", ") {
                        let mut w = item.split_whitespace();
                        let name = w.next().unwrap_or_default();
                        let ms = w.next().and_then(first_number);
                        match name {
                            "Generation" => jit.timing.generation = ms,
                            "Inlining" => jit.timing.inlining = ms,
                            "Optimization" => jit.timing.optimization = ms,
                            "Emission" => jit.timing.emission = ms,
                            "Total" => jit.timing.total = ms,
                            _ => {}
                        }
                    }
                }
                _ => {
                    jit.extra
                        .insert(key.to_string(), Value::String(value.to_string()));
                }
            }
        }
        return;
    }
    if section == "Planning" {
        plan.extra
            .entry("Planning".to_string())
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(Value::Object(m)) = plan.extra.get_mut("Planning") {
            m.insert(key.to_string(), Value::String(value.to_string()));
        }
        return;
    }
    plan.raw_lines.push(t.to_string());
}
