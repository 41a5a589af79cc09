//! What the rest of the crate needs from a parse tree, found by one generic walk.
//!
//! The protobuf tree is serialized to a `serde_json::Value` (the generated types
//! derive `Serialize` only) and walked generically, so no node type is ever missed.
//! This runs once per distinct statement shape, never per call.
//!
//! Collected: relation aliases and alias-qualified column references (for
//! alias-insensitive fingerprints, see [`alias_rewrite`]), `IN (const, …)` lists and
//! prefix-typed literals such as `interval '1 day'` (for the normalized-text rewrite).

use std::collections::HashMap;

use serde_json::Value;

/// `AExprKind::AexprIn` in libpg_query's protobuf.
const AEXPR_IN: i64 = 7;

/// A range-table entry that has an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Range {
    /// A relation: schema, name, alias (`None` when unaliased).
    Relation {
        schema: String,
        name: String,
        alias: Option<String>,
    },
    /// A subquery, function, join or other aliased range: its alias.
    Other(String),
}

/// A column reference whose first field is a name (`a.b`, `a.*`, `a.b.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct QualifiedRef {
    first: String,
    location: usize,
}

/// One top-level statement's aliases and qualified references.
#[derive(Debug, Default)]
struct StmtRefs {
    ranges: Vec<Range>,
    refs: Vec<QualifiedRef>,
}

/// An `x [NOT] IN (const, …)` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InList {
    /// Offset of `IN` (or of `NOT` for `NOT IN`).
    pub(crate) location: usize,
    /// Offset of the closing parenthesis.
    pub(crate) end: usize,
    /// `NOT IN`.
    pub(crate) negated: bool,
    /// Offsets of the constants (all items are constants, `NULL` included).
    pub(crate) items: Vec<usize>,
}

/// A prefix-typed literal `typename 'value'`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypedLiteral {
    /// Offset of the type name.
    pub(crate) type_location: usize,
    /// Offset of the string constant.
    pub(crate) const_location: usize,
}

/// Everything collected from one parse.
#[derive(Debug, Default)]
pub(crate) struct TreeInfo {
    stmts: Vec<StmtRefs>,
    /// `IN` lists of constants that are not a direct operand of another operator
    /// (rewriting those to `= ANY(…)` could change operator precedence).
    pub(crate) in_lists: Vec<InList>,
    /// Prefix-typed literals.
    pub(crate) typed: Vec<TypedLiteral>,
    /// Locations of `IN` expressions that are direct operands of another operator.
    nested_in: Vec<usize>,
}

impl TreeInfo {
    /// Walks every statement of `parsed`; `None` if serialization fails.
    pub(crate) fn of(parsed: &pg_query::protobuf::ParseResult) -> Option<Self> {
        let mut info = TreeInfo::default();
        for raw in &parsed.stmts {
            let v = serde_json::to_value(raw).ok()?;
            let mut refs = StmtRefs::default();
            info.walk(&v, &mut refs);
            info.stmts.push(refs);
        }
        let nested = std::mem::take(&mut info.nested_in);
        info.in_lists.retain(|l| !nested.contains(&l.location));
        Some(info)
    }

    fn walk(&mut self, v: &Value, refs: &mut StmtRefs) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.walk(i, refs)),
            Value::Object(map) => {
                if let (Some(Value::String(name)), Some(Value::String(schema))) =
                    (map.get("relname"), map.get("schemaname"))
                {
                    refs.ranges.push(Range::Relation {
                        schema: schema.clone(),
                        name: name.clone(),
                        alias: alias_name(map.get("alias")),
                    });
                } else if let Some(a) = alias_name(map.get("alias")) {
                    refs.ranges.push(Range::Other(a));
                }
                if let Some(Value::Object(c)) = map.get("ColumnRef") {
                    self.column_ref(c, refs);
                }
                if let Some(Value::Object(e)) = map.get("AExpr") {
                    self.a_expr(e);
                }
                if let Some(Value::Object(t)) = map.get("TypeCast") {
                    self.type_cast(t);
                }
                map.values().for_each(|x| self.walk(x, refs));
            }
            _ => {}
        }
    }

    fn column_ref(&mut self, c: &serde_json::Map<String, Value>, refs: &mut StmtRefs) {
        let Some(Value::Array(fields)) = c.get("fields") else {
            return;
        };
        if fields.len() < 2 {
            return;
        }
        let first = fields.first().and_then(|f| f.pointer("/node/String/sval"));
        if let (Some(Value::String(first)), Some(location)) = (first, offset(c.get("location"))) {
            refs.refs.push(QualifiedRef {
                first: first.clone(),
                location,
            });
        }
    }

    fn a_expr(&mut self, e: &serde_json::Map<String, Value>) {
        // An IN that is a direct operand of another operator is left alone.
        let operand_in = |key: &str| {
            e.get(key)
                .and_then(|x| x.pointer("/node/AExpr"))
                .filter(|x| x.get("kind").and_then(Value::as_i64) == Some(AEXPR_IN))
                .and_then(|x| offset(x.get("location")))
        };
        let nested = ["lexpr", "rexpr"].into_iter().filter_map(operand_in);
        self.nested_in.extend(nested);
        if e.get("kind").and_then(Value::as_i64) != Some(AEXPR_IN) {
            return;
        }
        let op = e.get("name").and_then(|n| n.pointer("/0/node/String/sval"));
        let negated = match op.and_then(Value::as_str) {
            Some("=") => false,
            Some("<>") => true,
            _ => return,
        };
        let Some(Value::Array(items)) = e.get("rexpr").and_then(|r| r.pointer("/node/List/items"))
        else {
            return;
        };
        let consts: Option<Vec<usize>> = items
            .iter()
            .map(|i| offset(i.pointer("/node/AConst/location")))
            .collect();
        if let (Some(items), Some(location), Some(end)) = (
            consts,
            offset(e.get("location")),
            offset(e.get("rexpr_list_end")),
        ) {
            if !items.is_empty() {
                self.in_lists.push(InList {
                    location,
                    end,
                    negated,
                    items,
                });
            }
        }
    }

    fn type_cast(&mut self, t: &serde_json::Map<String, Value>) {
        let c = t.get("arg").and_then(|a| a.pointer("/node/AConst"));
        let is_string = c.and_then(|c| c.pointer("/val/Sval")).is_some();
        let const_location = c.and_then(|c| offset(c.get("location")));
        let type_location = t.get("type_name").and_then(|n| offset(n.get("location")));
        if let (true, Some(const_location), Some(type_location)) =
            (is_string, const_location, type_location)
        {
            if type_location < const_location {
                self.typed.push(TypedLiteral {
                    type_location,
                    const_location,
                });
            }
        }
    }
}

/// The `aliasname` of an `Alias` value.
fn alias_name(v: Option<&Value>) -> Option<String> {
    match v?.get("aliasname")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// A non-negative location.
fn offset(v: Option<&Value>) -> Option<usize> {
    usize::try_from(v?.as_i64()?).ok()
}

/// The canonical name of every alias of one statement.
///
/// The rule (statement-wide, not per scope): an alias of a relation becomes the
/// relation's name, or `name_2`, `name_3`, … when that name is already used by an
/// unaliased reference or an earlier alias (in tree-walk order, so the same statement
/// shape always gets the same names; self-joins stay distinct). An alias of a
/// subquery, function or join becomes `sub_1`, `sub_2`, …. An alias name defined more
/// than once for different ranges (possible in separate scopes) is ambiguous without
/// scope analysis and is kept as written, so such statements stay alias-sensitive
/// rather than risk grouping different queries.
fn canonical_names<'a>(ranges: &'a [Range]) -> HashMap<&'a str, String> {
    let mut used: Vec<String> = ranges
        .iter()
        .filter_map(|r| match r {
            Range::Relation {
                name, alias: None, ..
            } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let defs = |a: &'a str| {
        ranges.iter().filter(move |r| match r {
            Range::Relation { alias, .. } => alias.as_deref() == Some(a),
            Range::Other(o) => o == a,
        })
    };
    let mut out: HashMap<&str, String> = HashMap::new();
    let mut kept: Vec<&str> = Vec::new();
    for r in ranges {
        let alias = match r {
            Range::Relation { alias: Some(a), .. } | Range::Other(a) => a.as_str(),
            Range::Relation { alias: None, .. } => continue,
        };
        if out.contains_key(alias) || kept.contains(&alias) {
            continue;
        }
        let unique = match r {
            Range::Relation { schema, name, .. } => defs(alias).all(|d| {
                matches!(d, Range::Relation { schema: s, name: n, .. } if s == schema && n == name)
            }),
            Range::Other(_) => defs(alias).count() == 1,
        };
        if !unique {
            kept.push(alias);
            used.push(alias.to_owned());
            continue;
        }
        let candidate = |n: usize| match r {
            Range::Relation { name, .. } if n == 1 => name.clone(),
            Range::Relation { name, .. } => format!("{name}_{n}"),
            Range::Other(_) => format!("sub_{n}"),
        };
        let mut n = 1;
        while used.contains(&candidate(n)) || kept.contains(&candidate(n).as_str()) {
            n += 1;
        }
        let name = candidate(n);
        used.push(name.clone());
        out.insert(alias, name);
    }
    out
}

/// `sql` with every alias-qualified column reference rewritten to its canonical
/// alias (see `canonical_names`), or `None` when nothing needs rewriting. Alias
/// definitions themselves are left as they are: the fingerprint ignores them.
pub(crate) fn alias_rewrite(sql: &str, info: &TreeInfo) -> Option<String> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for stmt in &info.stmts {
        if stmt.refs.is_empty() {
            continue;
        }
        let names = canonical_names(&stmt.ranges);
        for r in &stmt.refs {
            let Some(canon) = names.get(r.first.as_str()) else {
                continue;
            };
            let Some(end) = ident_end(sql, r.location, &r.first) else {
                continue;
            };
            if *canon != r.first {
                edits.push((r.location, end, quote_ident(canon)));
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_unstable_by_key(|e| e.0);
    let mut out = String::with_capacity(sql.len() + 16 * edits.len());
    let mut pos = 0;
    for (start, end, text) in edits {
        if start < pos {
            return None;
        }
        out.push_str(sql.get(pos..start)?);
        out.push_str(&text);
        pos = end;
    }
    out.push_str(sql.get(pos..)?);
    Some(out)
}

/// End of the identifier at `at` if it spells `name` (quoted, or unquoted and folded).
fn ident_end(sql: &str, at: usize, name: &str) -> Option<usize> {
    let b = sql.as_bytes();
    if *b.get(at)? == b'"' {
        let mut j = at + 1;
        let mut value = Vec::new();
        while j < b.len() {
            if b[j] == b'"' {
                if b.get(j + 1) == Some(&b'"') {
                    value.push(b'"');
                    j += 2;
                    continue;
                }
                return (value == name.as_bytes()).then_some(j + 1);
            }
            value.push(b[j]);
            j += 1;
        }
        return None;
    }
    let len = b[at..]
        .iter()
        .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80)
        .count();
    let word = sql.get(at..at + len)?;
    (len > 0 && word.to_ascii_lowercase() == name).then_some(at + len)
}

/// `name` as a quoted identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
