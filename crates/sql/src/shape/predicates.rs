//! Predicates: WHERE / ON / HAVING conditions become predicates and join keys.

use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::{self as pb, AExprKind, BoolExprType, Node, SubLinkType};

use super::nodes::{flip, is_star, operand_const};
use super::walk::{Ctx, Walker, MAX_DEPTH};
use super::*;

impl Walker {
    /// Walks a boolean condition, recording predicates and join keys in block `b`.
    pub(super) fn qual(&mut self, b: usize, node: &Node, ctx: Ctx, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        match &node.node {
            Some(N::BoolExpr(be)) => {
                let inner = match be.boolop {
                    x if x == BoolExprType::OrExpr as i32 => Ctx { in_or: true, ..ctx },
                    x if x == BoolExprType::NotExpr as i32 => Ctx {
                        negated: !ctx.negated,
                        ..ctx
                    },
                    _ => ctx,
                };
                for a in &be.args {
                    self.qual(b, a, inner, depth + 1);
                }
            }
            Some(N::AExpr(e)) => self.a_expr(b, e, ctx),
            Some(N::NullTest(nt)) => {
                if let Some(arg) = nt.arg.as_deref() {
                    let kind = if nt.nulltesttype == pb::NullTestType::IsNull as i32 {
                        PredicateKind::IsNull
                    } else {
                        PredicateKind::IsNotNull
                    };
                    let op = if kind == PredicateKind::IsNull {
                        "is null"
                    } else {
                        "is not null"
                    };
                    self.push_pred(b, arg, kind, op, Vec::new(), ctx);
                }
            }
            Some(N::SubLink(sl)) => {
                let any = sl.sub_link_type == SubLinkType::AnySublink as i32;
                if let (true, Some(test)) = (any, sl.testexpr.as_deref()) {
                    let kind = if ctx.negated {
                        PredicateKind::NotInSubquery
                    } else {
                        PredicateKind::InSubquery
                    };
                    let ctx = Ctx {
                        negated: false,
                        ..ctx
                    };
                    self.push_pred(b, test, kind, "in", vec![Operand::Subquery], ctx);
                }
                self.sublinks(node, depth + 1);
            }
            Some(N::ColumnRef(c)) if !is_star(c) => {
                // A bare boolean column: `WHERE active` / `WHERE NOT active`.
                let value = if ctx.negated { "false" } else { "true" };
                let pred = Predicate {
                    target: Target::Column(self.column(c)),
                    kind: PredicateKind::Eq,
                    op: "=".into(),
                    values: vec![Operand::Const(value.into())],
                    leading_wildcard: None,
                    case_insensitive: false,
                    in_or: ctx.in_or,
                    negated: false,
                };
                self.blocks[b].predicates.push(pred);
            }
            _ => self.sublinks(node, depth + 1),
        }
    }

    fn a_expr(&mut self, b: usize, e: &pb::AExpr, ctx: Ctx) {
        let op = e
            .name
            .iter()
            .rev()
            .find_map(|n| match &n.node {
                Some(N::String(s)) => Some(s.sval.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let (Some(l), r) = (e.lexpr.as_deref(), e.rexpr.as_deref()) else {
            if let Some(r) = e.rexpr.as_deref() {
                self.sublinks(r, 0);
            }
            return;
        };
        if let Some(r) = r {
            self.sublinks(r, 0);
        }
        self.sublinks(l, 0);
        let list = |r: Option<&Node>| -> Vec<Node> {
            match r.and_then(|r| r.node.as_ref()) {
                Some(N::List(l)) => l.items.clone(),
                Some(_) => r.into_iter().cloned().collect(),
                None => Vec::new(),
            }
        };
        let kind = AExprKind::try_from(e.kind).unwrap_or(AExprKind::Undefined);
        match kind {
            AExprKind::AexprOp | AExprKind::AexprDistinct | AExprKind::AexprNotDistinct => {
                let Some(r) = r else { return };
                let op = match kind {
                    AExprKind::AexprDistinct => "is distinct from".to_string(),
                    AExprKind::AexprNotDistinct => "is not distinct from".to_string(),
                    _ => op,
                };
                self.binary(b, l, &op, r, ctx);
            }
            AExprKind::AexprOpAny | AExprKind::AexprOpAll | AExprKind::AexprIn => {
                let positive = matches!(
                    (kind, op.as_str()),
                    (AExprKind::AexprOpAny | AExprKind::AexprIn, "=")
                );
                let negative = matches!(
                    (kind, op.as_str()),
                    (AExprKind::AexprOpAll | AExprKind::AexprIn, "<>")
                );
                let pk = match (positive, negative) {
                    (true, _) => PredicateKind::In,
                    (_, true) => PredicateKind::NotIn,
                    _ => PredicateKind::Other,
                };
                let values = list(r).iter().map(|v| self.operand(v)).collect();
                let op = match pk {
                    PredicateKind::In => "in".to_string(),
                    PredicateKind::NotIn => "not in".to_string(),
                    _ => format!(
                        "{op} {}",
                        if kind == AExprKind::AexprOpAll {
                            "all"
                        } else {
                            "any"
                        }
                    ),
                };
                self.push_pred(b, l, pk, &op, values, ctx);
            }
            AExprKind::AexprLike | AExprKind::AexprIlike => {
                let value = r.map(|r| self.operand(r));
                let leading_wildcard = match &value {
                    Some(Operand::Const(p)) => Some(p.starts_with('%') || p.starts_with('_')),
                    _ => None,
                };
                let negated = op.starts_with('!');
                let ctx = Ctx {
                    negated: ctx.negated ^ negated,
                    ..ctx
                };
                self.push_pred(
                    b,
                    l,
                    PredicateKind::Like,
                    &op,
                    value.into_iter().collect(),
                    ctx,
                );
                if let Some(p) = self.blocks[b].predicates.last_mut() {
                    p.leading_wildcard = leading_wildcard;
                    p.case_insensitive = kind == AExprKind::AexprIlike;
                }
            }
            AExprKind::AexprBetween
            | AExprKind::AexprNotBetween
            | AExprKind::AexprBetweenSym
            | AExprKind::AexprNotBetweenSym => {
                let values = list(r).iter().map(|v| self.operand(v)).collect();
                let not = matches!(
                    kind,
                    AExprKind::AexprNotBetween | AExprKind::AexprNotBetweenSym
                );
                let ctx = Ctx {
                    negated: ctx.negated ^ not,
                    ..ctx
                };
                self.push_pred(b, l, PredicateKind::Range, "between", values, ctx);
            }
            _ => {}
        }
    }

    /// `l op r`: a join key, or a predicate with the column side as target.
    fn binary(&mut self, b: usize, l: &Node, op: &str, r: &Node, ctx: Ctx) {
        let lcols = self.columns_in(l);
        let rcols = self.columns_in(r);
        if let (Some(N::ColumnRef(lc)), Some(N::ColumnRef(rc))) = (&l.node, &r.node) {
            let (lc, rc) = (self.column(lc), self.column(rc));
            if op == "="
                && !ctx.negated
                && lc.table != rc.table
                && lc.table.is_some()
                && rc.table.is_some()
            {
                self.blocks[b].joins.push(JoinKey {
                    left: lc,
                    right: rc,
                });
                return;
            }
        }
        let (target, flipped, other) = match (lcols.is_empty(), rcols.is_empty()) {
            (false, _) => (l, false, r),
            (true, false) => (r, true, l),
            (true, true) => return,
        };
        let op = if flipped { flip(op) } else { op.to_string() };
        let kind = match op.as_str() {
            "=" | "is not distinct from" => PredicateKind::Eq,
            "<>" | "!=" | "is distinct from" => PredicateKind::NotEq,
            "<" | "<=" | ">" | ">=" => PredicateKind::Range,
            "~~" | "~~*" | "!~~" | "!~~*" => PredicateKind::Like,
            _ => PredicateKind::Other,
        };
        let value = self.operand(other);
        self.push_pred(b, target, kind, &op, vec![value], ctx);
    }

    fn push_pred(
        &mut self,
        b: usize,
        target: &Node,
        kind: PredicateKind,
        op: &str,
        values: Vec<Operand>,
        ctx: Ctx,
    ) {
        let Some(target) = self.target(target) else {
            return;
        };
        let (kind, negated) = match (kind, ctx.negated) {
            (PredicateKind::In, true) => (PredicateKind::NotIn, false),
            (PredicateKind::IsNull, true) => (PredicateKind::IsNotNull, false),
            (PredicateKind::IsNotNull, true) => (PredicateKind::IsNull, false),
            (k, n) => (k, n),
        };
        let pred = Predicate {
            target,
            kind,
            op: op.to_string(),
            values,
            leading_wildcard: None,
            case_insensitive: false,
            in_or: ctx.in_or,
            negated,
        };
        self.blocks[b].predicates.push(pred);
    }

    /// A column or an expression over columns; `None` when `node` uses no column.
    pub(super) fn target(&mut self, node: &Node) -> Option<Target> {
        match &node.node {
            Some(N::ColumnRef(c)) if !is_star(c) => Some(Target::Column(self.column(c))),
            _ => {
                let columns = self.columns_in(node);
                (!columns.is_empty()).then(|| Target::Expression {
                    text: self.deparse(node),
                    columns,
                })
            }
        }
    }

    /// The value side of a predicate.
    pub(super) fn operand(&mut self, node: &Node) -> Operand {
        if let Some(c) = operand_const(node) {
            return c;
        }
        match &node.node {
            Some(N::ColumnRef(c)) => Operand::Column(self.column(c)),
            Some(N::SubLink(_)) => Operand::Subquery,
            _ => Operand::Expr(self.deparse(node)),
        }
    }
}
