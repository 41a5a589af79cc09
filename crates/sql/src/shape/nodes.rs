//! Small helpers over parse-tree nodes.

use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::{self as pb, a_const::Val, Node};

use super::walk::MAX_DEPTH;
use super::*;

/// The value of a select-list entry.
pub(super) fn res_val(t: &Node) -> Option<&Node> {
    match &t.node {
        Some(N::ResTarget(r)) => r.val.as_deref(),
        _ => None,
    }
}

/// Index of the innermost scope (callers only run inside an open block).
pub(super) fn b_scope(scopes: &[Vec<TableRef>]) -> usize {
    scopes.len().saturating_sub(1)
}

/// The name parts of a column reference (without a trailing `*`).
pub(super) fn names(c: &pb::ColumnRef) -> Vec<String> {
    c.fields
        .iter()
        .filter_map(|f| match &f.node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn is_star(c: &pb::ColumnRef) -> bool {
    c.fields
        .last()
        .is_some_and(|f| matches!(f.node, Some(N::AStar(_))))
}

pub(super) fn func_name(fc: &pb::FuncCall) -> String {
    fc.funcname
        .iter()
        .filter_map(|n| match &n.node {
            Some(N::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// `a op b` seen as `b op' a`.
pub(super) fn flip(op: &str) -> String {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        other => other,
    }
    .to_string()
}

/// A constant, NULL or `$n` (also through a type cast: `'2024-01-01'::date`).
pub(super) fn operand_const(node: &Node) -> Option<Operand> {
    match &node.node {
        Some(N::AConst(c)) => Some(match &c.val {
            _ if c.isnull => Operand::Null,
            Some(Val::Ival(i)) => Operand::Const(i.ival.to_string()),
            Some(Val::Fval(f)) => Operand::Const(f.fval.clone()),
            Some(Val::Boolval(b)) => Operand::Const(b.boolval.to_string()),
            Some(Val::Sval(s)) => Operand::Const(s.sval.clone()),
            Some(Val::Bsval(s)) => Operand::Const(s.bsval.clone()),
            None => Operand::Null,
        }),
        Some(N::ParamRef(p)) => Some(Operand::Param(p.number)),
        Some(N::TypeCast(tc)) => tc.arg.as_deref().and_then(operand_const),
        _ => None,
    }
}

/// Calls `f` on every expression node under `node`, not descending into subqueries.
pub(super) fn visit(node: &Node, depth: usize, f: &mut dyn FnMut(&N)) {
    let Some(n) = &node.node else { return };
    if depth > MAX_DEPTH {
        return;
    }
    f(n);
    let mut go = |c: &Node| visit(c, depth + 1, f);
    match n {
        N::AExpr(e) => {
            e.lexpr
                .as_deref()
                .into_iter()
                .chain(e.rexpr.as_deref())
                .for_each(&mut go);
        }
        N::BoolExpr(e) => e.args.iter().for_each(&mut go),
        N::FuncCall(fc) => {
            fc.args.iter().for_each(&mut go);
            fc.agg_filter.as_deref().into_iter().for_each(&mut go);
        }
        N::TypeCast(tc) => tc.arg.as_deref().into_iter().for_each(&mut go),
        N::NullTest(t) => t.arg.as_deref().into_iter().for_each(&mut go),
        N::BooleanTest(t) => t.arg.as_deref().into_iter().for_each(&mut go),
        N::CaseExpr(c) => {
            c.arg
                .as_deref()
                .into_iter()
                .chain(c.defresult.as_deref())
                .for_each(&mut go);
            c.args.iter().for_each(&mut go);
        }
        N::CaseWhen(w) => {
            w.expr
                .as_deref()
                .into_iter()
                .chain(w.result.as_deref())
                .for_each(&mut go);
        }
        N::CoalesceExpr(c) => c.args.iter().for_each(&mut go),
        N::MinMaxExpr(m) => m.args.iter().for_each(&mut go),
        N::NullIfExpr(m) => m.args.iter().for_each(&mut go),
        N::AArrayExpr(a) => a.elements.iter().for_each(&mut go),
        N::RowExpr(r) => r.args.iter().for_each(&mut go),
        N::List(l) => l.items.iter().for_each(&mut go),
        N::AIndirection(i) => i.arg.as_deref().into_iter().for_each(&mut go),
        N::CollateClause(c) => c.arg.as_deref().into_iter().for_each(&mut go),
        N::NamedArgExpr(a) => a.arg.as_deref().into_iter().for_each(&mut go),
        N::ResTarget(r) => r.val.as_deref().into_iter().for_each(&mut go),
        N::SortBy(s) => s.node.as_deref().into_iter().for_each(&mut go),
        N::GroupingSet(g) => g.content.iter().for_each(&mut go),
        N::SubLink(s) => s.testexpr.as_deref().into_iter().for_each(&mut go),
        _ => {}
    }
}

/// Subqueries directly inside an expression (not inside other subqueries).
pub(super) fn collect_sublinks<'a>(node: &'a Node, depth: usize, out: &mut Vec<&'a pb::SubLink>) {
    // `visit` cannot hand out borrows of the tree, so walk the few carrier nodes here.
    let Some(n) = &node.node else { return };
    if depth > MAX_DEPTH {
        return;
    }
    let mut go = |c: &'a Node| collect_sublinks(c, depth + 1, out);
    match n {
        N::SubLink(s) => {
            if let Some(t) = s.testexpr.as_deref() {
                go(t);
            }
            out.push(s);
        }
        N::AExpr(e) => {
            e.lexpr
                .as_deref()
                .into_iter()
                .chain(e.rexpr.as_deref())
                .for_each(go);
        }
        N::BoolExpr(e) => e.args.iter().for_each(go),
        N::FuncCall(fc) => fc.args.iter().chain(fc.agg_filter.as_deref()).for_each(go),
        N::TypeCast(tc) => tc.arg.as_deref().into_iter().for_each(go),
        N::NullTest(t) => t.arg.as_deref().into_iter().for_each(go),
        N::BooleanTest(t) => t.arg.as_deref().into_iter().for_each(go),
        N::CaseExpr(c) => {
            c.arg
                .as_deref()
                .into_iter()
                .chain(c.defresult.as_deref())
                .chain(c.args.iter())
                .for_each(go);
        }
        N::CaseWhen(w) => w
            .expr
            .as_deref()
            .into_iter()
            .chain(w.result.as_deref())
            .for_each(go),
        N::CoalesceExpr(c) => c.args.iter().for_each(go),
        N::MinMaxExpr(m) => m.args.iter().for_each(go),
        N::AArrayExpr(a) => a.elements.iter().for_each(go),
        N::RowExpr(r) => r.args.iter().for_each(go),
        N::List(l) => l.items.iter().for_each(go),
        N::ResTarget(r) => r.val.as_deref().into_iter().for_each(go),
        _ => {}
    }
}
