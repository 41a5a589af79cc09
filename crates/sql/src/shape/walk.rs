//! The parse-tree walk behind [`QueryShape::parse`](super::QueryShape::parse).

use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::{self as pb, a_const::Val, Node};

use super::nodes::{
    b_scope, collect_sublinks, func_name, is_star, names, operand_const, res_val, visit,
};

use super::*;

/// Blocks deeper than this are not walked (the parser itself limits depth; this
/// keeps the walk's own recursion bounded too).
pub(super) const MAX_DEPTH: usize = 200;

/// The shape of a whole parse result.
pub(super) fn shape_of(parsed: &pb::ParseResult) -> QueryShape {
    let mut w = Walker {
        blocks: Vec::new(),
        scopes: Vec::new(),
        ctes: Vec::new(),
        version: parsed.version,
    };
    let mut kind = None;
    for raw in &parsed.stmts {
        let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
            continue;
        };
        let k = w.statement(node);
        kind.get_or_insert(k);
    }
    QueryShape {
        kind: kind.unwrap_or(StatementKind::Utility),
        blocks: w.blocks,
    }
}

/// Context of a predicate.
#[derive(Clone, Copy, Default)]
pub(super) struct Ctx {
    pub(super) in_or: bool,
    pub(super) negated: bool,
}

/// Walk state: blocks found so far, the scope chain, visible CTE names.
pub(super) struct Walker {
    pub(super) blocks: Vec<BlockShape>,
    /// Tables of each enclosing block, innermost last.
    scopes: Vec<Vec<TableRef>>,
    /// CTE names visible, innermost WITH last.
    ctes: Vec<Vec<String>>,
    version: i32,
}

impl Walker {
    fn statement(&mut self, node: &N) -> StatementKind {
        match node {
            N::SelectStmt(s) => {
                self.select(s, BlockOrigin::Statement);
                StatementKind::Select
            }
            N::InsertStmt(s) => {
                self.insert(s);
                StatementKind::Insert
            }
            N::UpdateStmt(s) => {
                self.update(s);
                StatementKind::Update
            }
            N::DeleteStmt(s) => {
                self.delete(s);
                StatementKind::Delete
            }
            N::MergeStmt(_) => StatementKind::Other,
            N::ExplainStmt(e) => {
                if let Some(q) = e.query.as_ref().and_then(|q| q.node.as_ref()) {
                    self.statement(q);
                }
                StatementKind::Utility
            }
            _ => StatementKind::Utility,
        }
    }

    /// Opens a block; returns its index.
    fn open(&mut self, origin: BlockOrigin) -> Option<usize> {
        if self.scopes.len() >= MAX_DEPTH {
            return None;
        }
        self.blocks.push(BlockShape::new(origin));
        self.scopes.push(Vec::new());
        Some(self.blocks.len() - 1)
    }

    fn close(&mut self, b: usize) {
        if let Some(tables) = self.scopes.pop() {
            self.blocks[b].tables = tables;
        }
    }

    fn with(&mut self, with: Option<&pb::WithClause>) -> bool {
        let Some(with) = with else { return false };
        self.ctes.push(Vec::new());
        for cte in &with.ctes {
            let Some(N::CommonTableExpr(c)) = &cte.node else {
                continue;
            };
            if with.recursive {
                self.push_cte(&c.ctename);
            }
            if let Some(q) = c.ctequery.as_ref().and_then(|q| q.node.as_ref()) {
                let origin = BlockOrigin::Cte {
                    name: c.ctename.clone(),
                };
                match q {
                    N::SelectStmt(s) => self.select(s, origin),
                    other => {
                        self.statement(other);
                    }
                }
            }
            if !with.recursive {
                self.push_cte(&c.ctename);
            }
        }
        true
    }

    fn push_cte(&mut self, name: &str) {
        if let Some(top) = self.ctes.last_mut() {
            top.push(name.to_string());
        }
    }

    fn select(&mut self, s: &pb::SelectStmt, origin: BlockOrigin) {
        let pushed = self.with(s.with_clause.as_ref());
        if let (Some(l), Some(r)) = (&s.larg, &s.rarg) {
            // UNION / INTERSECT / EXCEPT: the operands are blocks; ORDER BY / LIMIT go on this one.
            if let Some(b) = self.open(origin) {
                self.select(l, BlockOrigin::Operand);
                self.select(r, BlockOrigin::Operand);
                self.tail(b, s);
                self.close(b);
            }
        } else if !s.values_lists.is_empty() && s.from_clause.is_empty() {
            for v in &s.values_lists {
                self.sublinks(v, 0);
            }
        } else if let Some(b) = self.open(origin) {
            let mut quals = Vec::new();
            for f in &s.from_clause {
                self.add_from_item(b, f, &mut quals);
            }
            for q in quals {
                self.qual(b, q, Ctx::default(), 0);
            }
            if let Some(w) = &s.where_clause {
                self.qual(b, w, Ctx::default(), 0);
            }
            if let Some(h) = &s.having_clause {
                self.qual(b, h, Ctx::default(), 0);
            }
            self.select_list(b, &s.target_list);
            self.blocks[b].group_by = s
                .group_clause
                .iter()
                .filter_map(|g| self.order_target(&s.target_list, g))
                .collect();
            self.blocks[b].distinct = match s.distinct_clause.as_slice() {
                [] => Distinct::None,
                [only] if only.node.is_none() => Distinct::All,
                list => Distinct::On(list.iter().filter_map(|d| self.target(d)).collect()),
            };
            self.tail(b, s);
            self.close(b);
        }
        if pushed {
            self.ctes.pop();
        }
    }

    /// ORDER BY, LIMIT, OFFSET.
    fn tail(&mut self, b: usize, s: &pb::SelectStmt) {
        for item in &s.sort_clause {
            let Some(N::SortBy(sb)) = &item.node else {
                continue;
            };
            let Some(node) = sb.node.as_deref() else {
                continue;
            };
            let Some(target) = self.order_target(&s.target_list, node) else {
                continue;
            };
            let descending = sb.sortby_dir == pb::SortByDir::SortbyDesc as i32;
            let nulls = match sb.sortby_nulls {
                x if x == pb::SortByNulls::SortbyNullsFirst as i32 => NullsOrder::First,
                x if x == pb::SortByNulls::SortbyNullsLast as i32 => NullsOrder::Last,
                _ => NullsOrder::Default,
            };
            self.blocks[b].order_by.push(OrderItem {
                target,
                descending,
                nulls,
            });
        }
        self.blocks[b].limit = s.limit_count.as_deref().and_then(|n| self.limit_value(n));
        self.blocks[b].offset = s.limit_offset.as_deref().and_then(|n| self.limit_value(n));
    }

    /// An ORDER BY or GROUP BY item, resolving `ORDER BY 2` and output-column names through the select list.
    fn order_target(&mut self, targets: &[Node], node: &Node) -> Option<Target> {
        if let Some(N::AConst(c)) = &node.node {
            if let Some(Val::Ival(i)) = &c.val {
                let pos = usize::try_from(i.ival).ok()?.checked_sub(1)?;
                return targets
                    .get(pos)
                    .and_then(res_val)
                    .and_then(|v| self.target(v));
            }
        }
        if let Some(N::ColumnRef(c)) = &node.node {
            if let [only] = names(c).as_slice() {
                let named = targets
                    .iter()
                    .find(|t| matches!(&t.node, Some(N::ResTarget(r)) if r.name == *only));
                if let Some(v) = named.and_then(res_val) {
                    return self.target(v);
                }
            }
        }
        self.target(node)
    }

    fn add_table(&mut self, t: TableRef) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.push(t);
        }
    }

    fn limit_value(&self, n: &Node) -> Option<LimitValue> {
        match operand_const(n) {
            Some(Operand::Null) => None,
            Some(Operand::Const(c)) => Some(LimitValue::Const(c)),
            Some(Operand::Param(p)) => Some(LimitValue::Param(p)),
            _ => Some(LimitValue::Expr(self.deparse(n))),
        }
    }

    fn select_list(&mut self, b: usize, targets: &[Node]) {
        for t in targets {
            let Some(N::ResTarget(r)) = &t.node else {
                continue;
            };
            let Some(v) = r.val.as_deref() else { continue };
            self.sublinks(v, 0);
            let item = match &v.node {
                Some(N::ColumnRef(c)) if is_star(c) => {
                    let n = names(c);
                    let table = (!n.is_empty())
                        .then(|| self.resolve_table(&n).unwrap_or_else(|| n.join(".")));
                    SelectItem::Star { table }
                }
                Some(N::ColumnRef(c)) => SelectItem::Column(self.column(c)),
                _ => SelectItem::Expression {
                    text: self.deparse(v),
                    columns: self.columns_in(v),
                },
            };
            self.blocks[b].select_list.push(item);
        }
    }

    fn insert(&mut self, s: &pb::InsertStmt) {
        let pushed = self.with(s.with_clause.as_ref());
        if let Some(b) = self.open(BlockOrigin::Statement) {
            if let Some(rel) = &s.relation {
                let t = self.range_var(rel);
                self.add_table(t);
            }
            for c in &s.cols {
                if let Some(N::ResTarget(r)) = &c.node {
                    self.blocks[b].written_columns.push(r.name.clone());
                }
            }
            if let Some(N::SelectStmt(sel)) = s.select_stmt.as_ref().and_then(|n| n.node.as_ref()) {
                self.select(sel, BlockOrigin::Operand);
            }
            if let Some(oc) = &s.on_conflict_clause {
                for t in &oc.target_list {
                    if let Some(N::ResTarget(r)) = &t.node {
                        self.blocks[b].written_columns.push(r.name.clone());
                    }
                }
                if let Some(w) = &oc.where_clause {
                    self.qual(b, w, Ctx::default(), 0);
                }
            }
            if let Some(ret) = &s.returning_clause {
                self.select_list(b, &ret.exprs);
            }
            self.close(b);
        }
        if pushed {
            self.ctes.pop();
        }
    }

    fn update(&mut self, s: &pb::UpdateStmt) {
        let pushed = self.with(s.with_clause.as_ref());
        if let Some(b) = self.open(BlockOrigin::Statement) {
            if let Some(rel) = &s.relation {
                let t = self.range_var(rel);
                self.add_table(t);
            }
            let mut quals = Vec::new();
            for f in &s.from_clause {
                self.add_from_item(b, f, &mut quals);
            }
            for t in &s.target_list {
                if let Some(N::ResTarget(r)) = &t.node {
                    self.blocks[b].written_columns.push(r.name.clone());
                    if let Some(v) = &r.val {
                        self.sublinks(v, 0);
                    }
                }
            }
            for q in quals {
                self.qual(b, q, Ctx::default(), 0);
            }
            if let Some(w) = &s.where_clause {
                self.qual(b, w, Ctx::default(), 0);
            }
            if let Some(ret) = &s.returning_clause {
                self.select_list(b, &ret.exprs);
            }
            self.close(b);
        }
        if pushed {
            self.ctes.pop();
        }
    }

    fn delete(&mut self, s: &pb::DeleteStmt) {
        let pushed = self.with(s.with_clause.as_ref());
        if let Some(b) = self.open(BlockOrigin::Statement) {
            if let Some(rel) = &s.relation {
                let t = self.range_var(rel);
                self.add_table(t);
            }
            let mut quals = Vec::new();
            for f in &s.using_clause {
                self.add_from_item(b, f, &mut quals);
            }
            for q in quals {
                self.qual(b, q, Ctx::default(), 0);
            }
            if let Some(w) = &s.where_clause {
                self.qual(b, w, Ctx::default(), 0);
            }
            if let Some(ret) = &s.returning_clause {
                self.select_list(b, &ret.exprs);
            }
            self.close(b);
        }
        if pushed {
            self.ctes.pop();
        }
    }

    fn range_var(&self, rv: &pb::RangeVar) -> TableRef {
        let is_cte =
            rv.schemaname.is_empty() && self.ctes.iter().flatten().any(|c| *c == rv.relname);
        TableRef {
            schema: (!rv.schemaname.is_empty()).then(|| rv.schemaname.clone()),
            name: rv.relname.clone(),
            alias: rv.alias.as_ref().map(|a| a.aliasname.clone()),
            source: if is_cte {
                TableSource::Cte
            } else {
                TableSource::Relation
            },
        }
    }

    /// Adds a FROM item's tables to the current scope; join conditions go to `quals`.
    fn add_from_item<'a>(&mut self, b: usize, node: &'a Node, quals: &mut Vec<&'a Node>) {
        let scope = b_scope(&self.scopes);
        match &node.node {
            Some(N::RangeVar(rv)) => {
                let t = self.range_var(rv);
                self.scopes[scope].push(t);
            }
            Some(N::JoinExpr(j)) => {
                let before = self.scopes[scope].len();
                if let Some(l) = &j.larg {
                    self.add_from_item(b, l, quals);
                }
                let mid = self.scopes[scope].len();
                if let Some(r) = &j.rarg {
                    self.add_from_item(b, r, quals);
                }
                if let Some(q) = &j.quals {
                    quals.push(q);
                }
                // USING (x): the last table on the left joins the first on the right.
                let left = self.scopes[scope]
                    .get(before..mid)
                    .and_then(<[TableRef]>::last)
                    .map(TableRef::qualified_name);
                let right = self.scopes[scope].get(mid).map(TableRef::qualified_name);
                for u in &j.using_clause {
                    if let (Some(N::String(col)), Some(l), Some(r)) = (&u.node, &left, &right) {
                        let key = JoinKey {
                            left: ColumnRef {
                                table: Some(l.clone()),
                                column: col.sval.clone(),
                            },
                            right: ColumnRef {
                                table: Some(r.clone()),
                                column: col.sval.clone(),
                            },
                        };
                        self.blocks[b].joins.push(key);
                    }
                }
            }
            Some(N::RangeSubselect(rs)) => {
                let alias = rs.alias.as_ref().map(|a| a.aliasname.clone());
                if let Some(N::SelectStmt(s)) = rs.subquery.as_ref().and_then(|q| q.node.as_ref()) {
                    self.select(
                        s,
                        BlockOrigin::FromSubquery {
                            alias: alias.clone(),
                        },
                    );
                }
                let name = alias.clone().unwrap_or_default();
                self.scopes[scope].push(TableRef {
                    schema: None,
                    name,
                    alias,
                    source: TableSource::Subquery,
                });
            }
            Some(N::RangeFunction(rf)) => {
                let alias = rf.alias.as_ref().map(|a| a.aliasname.clone());
                let fname = rf
                    .functions
                    .iter()
                    .filter_map(|f| match &f.node {
                        Some(N::List(l)) => l.items.first(),
                        _ => None,
                    })
                    .find_map(|f| match &f.node {
                        Some(N::FuncCall(fc)) => Some(func_name(fc)),
                        _ => None,
                    })
                    .unwrap_or_default();
                for f in &rf.functions {
                    self.sublinks(f, 0);
                }
                self.scopes[scope].push(TableRef {
                    schema: None,
                    name: fname,
                    alias,
                    source: TableSource::Function,
                });
            }
            _ => {}
        }
    }

    /// Resolves a column reference through the scope chain.
    pub(super) fn column(&self, c: &pb::ColumnRef) -> ColumnRef {
        let n = names(c);
        match n.as_slice() {
            [] => ColumnRef {
                table: None,
                column: String::new(),
            },
            [col] => {
                let table = self
                    .scopes
                    .last()
                    .filter(|s| s.len() == 1)
                    .and_then(|s| s.first())
                    .map(TableRef::qualified_name);
                ColumnRef {
                    table,
                    column: col.clone(),
                }
            }
            [qual @ .., col] => ColumnRef {
                table: self.resolve_table(qual),
                column: col.clone(),
            },
        }
    }

    /// The table a qualifier (`alias`, `table`, `schema.table`) names, innermost scope first.
    pub(super) fn resolve_table(&self, qual: &[String]) -> Option<String> {
        let (schema, name) = match qual {
            [name] => (None, name),
            [.., schema, name] => (Some(schema), name),
            [] => return None,
        };
        self.scopes.iter().rev().flatten().find_map(|t| {
            let hit = match (&t.alias, schema) {
                (Some(a), None) => a == name,
                (None, None) => t.name == *name,
                (_, Some(s)) => {
                    t.alias.is_none()
                        && t.name == *name
                        && t.schema.as_deref().map_or(true, |ts| ts == s)
                }
            };
            hit.then(|| t.qualified_name())
        })
    }

    /// Columns referenced in an expression (not inside subqueries).
    pub(super) fn columns_in(&self, node: &Node) -> Vec<ColumnRef> {
        let mut out = Vec::new();
        visit(node, 0, &mut |n| {
            if let N::ColumnRef(c) = n {
                if !is_star(c) {
                    let col = self.column(c);
                    if !out.contains(&col) {
                        out.push(col);
                    }
                }
            }
        });
        out
    }

    /// Walks the subqueries found inside an expression as blocks of their own.
    pub(super) fn sublinks(&mut self, node: &Node, depth: usize) {
        let mut subs: Vec<&pb::SubLink> = Vec::new();
        collect_sublinks(node, depth, &mut subs);
        for sl in subs {
            if let Some(N::SelectStmt(s)) = sl.subselect.as_ref().and_then(|n| n.node.as_ref()) {
                self.select(s, BlockOrigin::Subquery);
            }
        }
    }

    /// Deparses an expression by wrapping it in `SELECT <expr>`.
    pub(super) fn deparse(&self, node: &Node) -> String {
        let target = pb::ResTarget {
            name: String::new(),
            indirection: Vec::new(),
            val: Some(Box::new(node.clone())),
            location: 0,
        };
        let stmt = pb::SelectStmt {
            target_list: vec![Node {
                node: Some(N::ResTarget(Box::new(target))),
            }],
            limit_option: pb::LimitOption::Default as i32,
            op: pb::SetOperation::SetopNone as i32,
            ..Default::default()
        };
        let raw = pb::RawStmt {
            stmt: Some(Box::new(Node {
                node: Some(N::SelectStmt(Box::new(stmt))),
            })),
            stmt_location: 0,
            stmt_len: 0,
        };
        let parsed = pb::ParseResult {
            version: self.version,
            stmts: vec![raw],
        };
        match pg_query::deparse(&parsed, pg_query::DeparseOptions::default()) {
            Ok(s) => s.strip_prefix("SELECT ").map(str::to_string).unwrap_or(s),
            Err(_) => "?".to_string(),
        }
    }
}
