//! Walking a plan: every node with its depth, parent and path, and the time each
//! node accounts for (inclusive and exclusive), with parallel workers and CTE
//! subplans taken into account.

use crate::{Node, Plan};

/// One node seen during a walk.
#[derive(Debug, Clone)]
pub struct NodeRef<'a> {
    /// The node.
    pub node: &'a Node,
    /// Position in pre-order (the root is 0).
    pub index: usize,
    /// Index of the parent node, `None` for the root.
    pub parent: Option<usize>,
    /// Depth in the tree (the root is 0).
    pub depth: usize,
    /// Child positions from the root down to this node (empty for the root).
    pub path: Vec<usize>,
    /// Number of processes running this node: workers launched + leader under a
    /// Gather / Gather Merge, 1 elsewhere.
    pub processes: f64,
}

/// A node waiting in the walk: (node, parent, depth, path, processes).
type Pending<'a> = (&'a Node, Option<usize>, usize, Vec<usize>, f64);

/// A plan flattened in pre-order, with time attribution per node.
#[derive(Debug, Clone)]
pub struct PlanTree<'a> {
    /// The plan walked.
    pub plan: &'a Plan,
    nodes: Vec<NodeRef<'a>>,
    children: Vec<Vec<usize>>,
    inclusive: Vec<Option<f64>>,
    exclusive: Vec<Option<f64>>,
}

impl Plan {
    /// Every node in pre-order with depth, parent and path.
    pub fn nodes(&self) -> Vec<NodeRef<'_>> {
        PlanTree::new(self).nodes
    }
}

impl<'a> PlanTree<'a> {
    /// Flattens `plan` and computes per-node times.
    pub fn new(plan: &'a Plan) -> PlanTree<'a> {
        let mut nodes: Vec<NodeRef<'a>> = Vec::new();
        let mut children: Vec<Vec<usize>> = Vec::new();
        // Iterative pre-order walk: (node, parent, depth, path, processes).
        let mut stack: Vec<Pending<'a>> = vec![(&plan.root, None, 0, Vec::new(), 1.0)];
        while let Some((node, parent, depth, path, processes)) = stack.pop() {
            let index = nodes.len();
            if let Some(p) = parent {
                if let Some(c) = children.get_mut(p) {
                    c.push(index);
                }
            }
            children.push(Vec::new());
            let child_processes = if matches!(node.base_type(), "Gather" | "Gather Merge") {
                let workers = node
                    .workers_launched
                    .or(node.workers_planned)
                    .unwrap_or(0.0);
                workers.max(0.0) + 1.0
            } else {
                processes
            };
            for (i, child) in node.plans.iter().enumerate().rev() {
                let mut p = path.clone();
                p.push(i);
                stack.push((child, Some(index), depth + 1, p, child_processes));
            }
            nodes.push(NodeRef {
                node,
                index,
                parent,
                depth,
                path,
                processes,
            });
        }
        let inclusive: Vec<Option<f64>> = nodes.iter().map(inclusive_ms).collect();
        let exclusive = (0..nodes.len())
            .map(|i| {
                let own = inclusive[i]?;
                let kids: f64 = children[i]
                    .iter()
                    .filter(|&&c| !is_cte_subplan(nodes[c].node))
                    .filter_map(|&c| inclusive[c])
                    .sum();
                Some((own - kids).max(0.0))
            })
            .collect();
        PlanTree {
            plan,
            nodes,
            children,
            inclusive,
            exclusive,
        }
    }

    /// All nodes in pre-order.
    pub fn nodes(&self) -> &[NodeRef<'a>] {
        &self.nodes
    }

    /// The node at a pre-order index.
    pub fn get(&self, index: usize) -> Option<&NodeRef<'a>> {
        self.nodes.get(index)
    }

    /// Indices of the children of a node.
    pub fn children(&self, index: usize) -> &[usize] {
        self.children.get(index).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The parent of a node.
    pub fn parent(&self, index: usize) -> Option<&NodeRef<'a>> {
        self.nodes
            .get(index)?
            .parent
            .and_then(|p| self.nodes.get(p))
    }

    /// Wall-clock time of the node including its children, in ms (ANALYZE only).
    /// Under a Gather, per-process loops are divided among the processes.
    pub fn inclusive_ms(&self, index: usize) -> Option<f64> {
        self.inclusive.get(index).copied().flatten()
    }

    /// Time of the node itself, without its children, in ms. CTE subplans are not
    /// subtracted from their parent: their time is already inside the CTE Scans.
    pub fn exclusive_ms(&self, index: usize) -> Option<f64> {
        self.exclusive.get(index).copied().flatten()
    }

    /// Fraction of the plan's runtime that `ms` represents, when the runtime is known.
    pub fn share(&self, ms: f64) -> Option<f64> {
        let total = self.plan.runtime_ms()?;
        (total > 0.0).then(|| (ms / total).clamp(0.0, 1.0))
    }

    /// Exclusive buffer counts of a node: its own counts minus its children's
    /// (`(hit, read)` of shared buffers).
    pub fn exclusive_shared(&self, index: usize) -> Option<(f64, f64)> {
        let n = self.nodes.get(index)?.node;
        let mut hit = n.shared_hit_blocks?;
        let mut read = n.shared_read_blocks.unwrap_or(0.0);
        for &c in self.children(index) {
            let child = self.nodes[c].node;
            if is_cte_subplan(child) {
                continue;
            }
            hit -= child.shared_hit_blocks.unwrap_or(0.0);
            read -= child.shared_read_blocks.unwrap_or(0.0);
        }
        Some((hit.max(0.0), read.max(0.0)))
    }

    /// Path from the root to the node as node labels: `Limit > Sort > Seq Scan on users u`.
    pub fn label_path(&self, index: usize) -> String {
        let mut labels = Vec::new();
        let mut cur = self.nodes.get(index);
        while let Some(n) = cur {
            labels.push(n.node.label());
            cur = n.parent.and_then(|p| self.nodes.get(p));
        }
        labels.reverse();
        labels.join(" > ")
    }

    /// True when the node's output was cut short by a LIMIT above it (or by a semi /
    /// anti join probing it): its actual row count is not comparable with the
    /// estimate.
    pub fn cut_short(&self, index: usize) -> bool {
        let mut cur = index;
        while let Some(p) = self.nodes.get(cur).and_then(|n| n.parent) {
            let parent = self.nodes[p].node;
            let child = self.nodes[cur].node;
            match parent.base_type() {
                "Limit" => return true,
                "Nested Loop" | "Hash Join" | "Merge Join"
                    if matches!(parent.join_type.as_deref(), Some("Semi") | Some("Anti"))
                        && child.parent_relationship.as_deref() == Some("Inner") =>
                {
                    return true
                }
                "Gather" | "Gather Merge" | "Result" | "Subquery Scan" | "Append"
                | "Merge Append" | "Unique" | "Incremental Sort" | "Memoize" => {}
                "Nested Loop" | "Merge Join" | "Hash Join"
                    if child.parent_relationship.as_deref() == Some("Outer") => {}
                _ => return false,
            }
            if matches!(
                child.parent_relationship.as_deref(),
                Some("InitPlan") | Some("SubPlan")
            ) {
                return false;
            }
            cur = p;
        }
        false
    }

    /// Table name for an alias used in expressions (`u` → `users`), searching the
    /// subtree of `within` (or the whole plan).
    pub fn table_for_alias(&self, alias: &str, within: Option<usize>) -> Option<&'a Node> {
        let range: Vec<usize> = match within {
            Some(i) => self.subtree(i),
            None => (0..self.nodes.len()).collect(),
        };
        range.into_iter().map(|i| self.nodes[i].node).find(|n| {
            n.relation_name.is_some()
                && (n.alias.as_deref() == Some(alias) || n.relation_name.as_deref() == Some(alias))
        })
    }

    /// Indices of a node and all its descendants.
    pub fn subtree(&self, index: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![index];
        while let Some(i) = stack.pop() {
            if i >= self.nodes.len() {
                continue;
            }
            out.push(i);
            stack.extend(self.children(i).iter().rev());
        }
        out
    }
}

fn is_cte_subplan(n: &Node) -> bool {
    n.parent_relationship.as_deref() == Some("InitPlan")
        && n.subplan_name
            .as_deref()
            .is_some_and(|s| s.starts_with("CTE "))
}

fn inclusive_ms(r: &NodeRef<'_>) -> Option<f64> {
    let total = r.node.actual_total_time?;
    let loops = r.node.actual_loops?;
    if loops <= 0.0 {
        return Some(0.0);
    }
    let processes = r.processes.max(1.0);
    Some(total * (loops / processes).max(1.0))
}
