//! Reading a DDL file (e.g. a DBA's draft of `CREATE INDEX` statements) statement by
//! statement with PostgreSQL's own scanner and parser.
//!
//! [`parse_ddl`] splits the file on top-level `;` tokens (comments, quoted strings,
//! dollar quotes and `BEGIN ATOMIC … END` bodies are respected), keeps each
//! statement's 1-based starting line and text, and parses each one on its own, so
//! one statement with a syntax error does not hide the others. A `CREATE INDEX`
//! becomes an [`IndexStatement`] (keys with direction, NULLS order, operator class
//! and collation, INCLUDE columns, the partial-index predicate, …); expressions are
//! deparsed back to SQL text by PostgreSQL's deparser, together with the columns and
//! functions they use. Any other statement is named by its command (`DROP INDEX`,
//! `CREATE TABLE`, …). psql meta-commands (`\set`, `\c`, …) are skipped like
//! comments; `\g` ends a statement like `;`.

use pg_query::protobuf::node::Node as N;
use pg_query::protobuf::{self as pb, Node, Token};
use serde::{Deserialize, Serialize};

use crate::SqlError;

/// How many candidate cut points are tried after a scanner error (unterminated
/// quote or comment) before the rest of the file is given up as one statement.
const MAX_RESCAN_ATTEMPTS: usize = 1000;

/// One statement of a DDL file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdlStatement {
    /// 1-based line of the statement's first token.
    pub line: usize,
    /// The statement as written, from its first token to its last (no `;`).
    pub text: String,
    /// What it is.
    pub kind: DdlKind,
}

/// What a DDL statement is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum DdlKind {
    /// `CREATE [UNIQUE] INDEX …`.
    CreateIndex(Box<IndexStatement>),
    /// Any other statement.
    Other {
        /// The command, upper case: `DROP INDEX`, `CREATE TABLE`, `ALTER TABLE`,
        /// `VACUUM`, `SELECT`, …
        command: String,
        /// For `DROP …`: the objects removed, as written (`name` or `schema.name`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        objects: Vec<String>,
    },
    /// PostgreSQL's parser (or scanner) rejected the statement.
    ParseError {
        /// The parser's message, e.g. `syntax error at or near "INDX"`.
        message: String,
    },
}

/// An expression of a DDL statement, deparsed, with what it uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlExpr {
    /// SQL text as PostgreSQL's deparser writes it (`lower(email)`,
    /// `expires_at > now()`).
    pub text: String,
    /// Columns referenced (last name part, e.g. `email` for `t.email`), once each.
    pub columns: Vec<String>,
    /// Functions called, lower case and schema-qualified as written (`lower`,
    /// `pg_catalog.now`), once each. SQL value functions written as keywords appear
    /// under their keyword: `current_timestamp`, `current_date`, `localtimestamp`,
    /// `current_user`, …
    pub functions: Vec<String>,
    /// Contains a subquery (`EXISTS (…)`, `IN (SELECT …)`, scalar subquery).
    pub has_subquery: bool,
}

/// What an index key is built on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum KeyTarget {
    /// A plain column (also `(column)` in parentheses, which PostgreSQL treats as a
    /// column).
    Column(String),
    /// An expression.
    Expression(SqlExpr),
}

/// One key of a `CREATE INDEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexKeySpec {
    /// Column or expression.
    pub target: KeyTarget,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST` (`Some(true)`) / `NULLS LAST` (`Some(false)`), `None` when not
    /// written.
    pub nulls_first: Option<bool>,
    /// Operator class, when written (`text_pattern_ops`, `gin_trgm_ops`).
    pub opclass: Option<String>,
    /// Collation, when written (`"C"` is given as `C`).
    pub collation: Option<String>,
}

/// A parsed `CREATE INDEX` statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStatement {
    /// Index name, when given.
    pub name: Option<String>,
    /// Schema of the table, when written.
    pub schema: Option<String>,
    /// Table name.
    pub table: String,
    /// `ON ONLY table` (partitioned tables).
    pub only: bool,
    /// Access method, lower case (`btree` when not written).
    pub method: String,
    /// `UNIQUE`.
    pub unique: bool,
    /// `NULLS NOT DISTINCT`.
    pub nulls_not_distinct: bool,
    /// `CONCURRENTLY`.
    pub concurrently: bool,
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// Keys in order.
    pub keys: Vec<IndexKeySpec>,
    /// `INCLUDE` columns.
    pub include: Vec<String>,
    /// The `WHERE` predicate of a partial index.
    pub predicate: Option<SqlExpr>,
    /// `WITH (…)` storage parameters as `name=value`.
    pub storage_params: Vec<String>,
    /// `TABLESPACE`, when written.
    pub tablespace: Option<String>,
}

impl IndexStatement {
    /// `schema.table` or `table`, as written.
    pub fn qualified_table(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// Splits `sql` into statements and parses each one. Comments and blank lines
/// between statements are skipped; a statement PostgreSQL cannot parse comes out
/// as [`DdlKind::ParseError`] and the following ones are still read. Fails only
/// when the text contains a NUL byte (or libpg_query fails internally).
pub fn parse_ddl(sql: &str) -> Result<Vec<DdlStatement>, SqlError> {
    if sql.contains('\0') {
        return Err(SqlError::NulByte);
    }
    let pieces = split(sql)?;
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let Some(text) = sql.get(piece.start..piece.end) else {
            continue;
        };
        let line = 1 + sql
            .get(..piece.start)
            .map_or(0, |p| p.bytes().filter(|&b| b == b'\n').count());
        let kind = match piece.scan_error {
            Some(message) => DdlKind::ParseError { message },
            None => classify(text, &piece.words)?,
        };
        out.push(DdlStatement {
            line,
            text: text.to_string(),
            kind,
        });
    }
    Ok(out)
}

/// A statement's byte range in the file, its leading keyword tokens (upper case,
/// for naming the command) and the scanner's error when it could not be tokenized.
struct Piece {
    start: usize,
    end: usize,
    words: Vec<String>,
    scan_error: Option<String>,
}

/// Splits the whole file, re-scanning after a scanner error so that the statements
/// before an unterminated quote or comment still come out.
fn split(sql: &str) -> Result<Vec<Piece>, SqlError> {
    let mut out = Vec::new();
    let mut pos = 0;
    'outer: while pos < sql.len() {
        let Some(rest) = sql.get(pos..) else { break };
        match pg_query::scan(rest) {
            Ok(res) => {
                split_tokens(rest, pos, &res.tokens, &mut out);
                break;
            }
            Err(pg_query::Error::Scan(message)) => {
                // Cut at the first `;` after which the prefix scans cleanly and ends
                // with that `;` token: the statements before the bad one.
                let cuts = rest.match_indices(';').map(|(i, _)| i);
                for (attempt, cut) in cuts.enumerate() {
                    if attempt >= MAX_RESCAN_ATTEMPTS {
                        break;
                    }
                    let Some(prefix) = rest.get(..=cut) else {
                        continue;
                    };
                    let Ok(res) = pg_query::scan(prefix) else {
                        continue;
                    };
                    let ends_with_semicolon = res
                        .tokens
                        .iter()
                        .rev()
                        .find(|t| !is_comment(t.token))
                        .is_some_and(|t| {
                            t.token == Token::Ascii59 as i32 && t.start as usize == cut
                        });
                    if ends_with_semicolon {
                        split_tokens(prefix, pos, &res.tokens, &mut out);
                        pos += cut + 1;
                        continue 'outer;
                    }
                }
                // No clean cut: the rest is one statement the scanner rejects.
                let trimmed = rest.trim();
                if !trimmed.is_empty() {
                    let start = pos + (rest.len() - rest.trim_start().len());
                    out.push(Piece {
                        start,
                        end: start + trimmed.len(),
                        words: Vec::new(),
                        scan_error: Some(message),
                    });
                }
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn is_comment(token: i32) -> bool {
    token == Token::SqlComment as i32 || token == Token::CComment as i32
}

/// Splits the tokens of `text` (which starts at byte `base` of the file) on
/// top-level `;`.
fn split_tokens(text: &str, base: usize, tokens: &[pb::ScanToken], out: &mut Vec<Piece>) {
    let mut current: Option<Piece> = None;
    // Depth inside `BEGIN ATOMIC … END` bodies (CASE … END nests inside them).
    let mut atomic_depth = 0usize;
    let mut prev: Option<i32> = None;
    let mut words_done = false;
    // A psql meta-command (`\set …`, `\c db`, `\g`) runs to the end of its line.
    let mut skip_until = 0usize;
    for t in tokens {
        let (start, end) = (t.start.max(0) as usize, t.end.max(0) as usize);
        if is_comment(t.token) || start < skip_until {
            continue;
        }
        if t.token == Token::Ascii92 as i32 {
            let rest = text.get(end..).unwrap_or("");
            skip_until = end + rest.find('\n').unwrap_or(rest.len());
            let command = rest.split(|c: char| !c.is_ascii_alphanumeric()).next();
            // `\g` and its variants send the statement, like a `;`.
            if command.is_some_and(|c| c.starts_with('g')) && atomic_depth == 0 {
                if let Some(p) = current.take() {
                    out.push(p);
                }
                prev = None;
                words_done = false;
            }
            continue;
        }
        if t.token == Token::Ascii59 as i32 && atomic_depth == 0 {
            if let Some(p) = current.take() {
                out.push(p);
            }
            prev = None;
            words_done = false;
            continue;
        }
        if t.token == Token::Atomic as i32 && prev == Some(Token::BeginP as i32) {
            atomic_depth = 1;
        } else if atomic_depth > 0 {
            if t.token == Token::Case as i32 {
                atomic_depth += 1;
            } else if t.token == Token::EndP as i32 {
                atomic_depth -= 1;
            }
        }
        prev = Some(t.token);
        let piece = current.get_or_insert_with(|| Piece {
            start: base + start,
            end: base + end,
            words: Vec::new(),
            scan_error: None,
        });
        piece.end = base + end;
        if !words_done {
            let is_keyword = t.keyword_kind != pb::KeywordKind::NoKeyword as i32;
            match text.get(start..end) {
                Some(w) if is_keyword && piece.words.len() < 6 => {
                    piece.words.push(w.to_ascii_uppercase());
                }
                _ => words_done = true,
            }
        }
    }
    if let Some(p) = current {
        out.push(p);
    }
}

/// Parses one statement and tells what it is.
fn classify(text: &str, words: &[String]) -> Result<DdlKind, SqlError> {
    let parsed = match pg_query::parse(text, 0) {
        Ok(p) => p,
        Err(pg_query::Error::Parse(message) | pg_query::Error::Scan(message)) => {
            return Ok(DdlKind::ParseError { message });
        }
        Err(e) => return Err(e.into()),
    };
    let version = parsed.protobuf.version;
    let node = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|raw| raw.stmt.as_ref())
        .and_then(|s| s.node.as_ref());
    Ok(match node {
        Some(N::IndexStmt(stmt)) => match index_statement(stmt, version) {
            Ok(s) => DdlKind::CreateIndex(Box::new(s)),
            Err(message) => DdlKind::ParseError { message },
        },
        Some(N::DropStmt(d)) => DdlKind::Other {
            command: command_name(words),
            objects: d.objects.iter().filter_map(object_name).collect(),
        },
        _ => DdlKind::Other {
            command: command_name(words),
            objects: Vec::new(),
        },
    })
}

/// The command tag from the statement's leading keywords: the verb, plus the
/// object type for CREATE / DROP / ALTER / REINDEX.
fn command_name(words: &[String]) -> String {
    const MODIFIERS: &[&str] = &[
        "OR",
        "REPLACE",
        "TEMP",
        "TEMPORARY",
        "UNLOGGED",
        "UNIQUE",
        "GLOBAL",
        "LOCAL",
        "RECURSIVE",
        "TRUSTED",
        "PROCEDURAL",
    ];
    const STOPS: &[&str] = &["IF", "CONCURRENTLY", "ONLY", "VERBOSE", "(", "ALL"];
    const TWO_WORD: &[&str] = &[
        "MATERIALIZED",
        "FOREIGN",
        "EVENT",
        "ACCESS",
        "TEXT",
        "OPERATOR",
        "DEFAULT",
        "USER",
    ];
    let Some(verb) = words.first() else {
        return "UNKNOWN".to_string();
    };
    let mut out = verb.clone();
    if !matches!(verb.as_str(), "CREATE" | "DROP" | "ALTER" | "REINDEX") {
        return out;
    }
    let mut taken = 0;
    for w in words.iter().skip(1) {
        if taken == 0 && MODIFIERS.contains(&w.as_str()) {
            continue;
        }
        if STOPS.contains(&w.as_str()) {
            break;
        }
        out.push(' ');
        out.push_str(w);
        taken += 1;
        if taken >= 2 || !TWO_WORD.contains(&w.as_str()) {
            break;
        }
    }
    out
}

/// `schema.name` of a DROP object given as a list of names.
fn object_name(node: &Node) -> Option<String> {
    match &node.node {
        Some(N::List(l)) => {
            let parts: Vec<&str> = l
                .items
                .iter()
                .filter_map(|i| match &i.node {
                    Some(N::String(s)) => Some(s.sval.as_str()),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join("."))
        }
        Some(N::String(s)) => Some(s.sval.clone()),
        _ => None,
    }
}

fn index_statement(stmt: &pb::IndexStmt, version: i32) -> Result<IndexStatement, String> {
    let relation = stmt
        .relation
        .as_ref()
        .ok_or_else(|| "CREATE INDEX without a table".to_string())?;
    let mut keys = Vec::with_capacity(stmt.index_params.len());
    for p in &stmt.index_params {
        let Some(N::IndexElem(e)) = &p.node else {
            continue;
        };
        keys.push(key_spec(e, version)?);
    }
    let include = stmt
        .index_including_params
        .iter()
        .filter_map(|p| match &p.node {
            Some(N::IndexElem(e)) if !e.name.is_empty() => Some(e.name.clone()),
            _ => None,
        })
        .collect();
    let predicate = match stmt.where_clause.as_deref() {
        Some(w) => Some(sql_expr(w, version)?),
        None => None,
    };
    let storage_params = stmt
        .options
        .iter()
        .filter_map(|o| match &o.node {
            Some(N::DefElem(d)) => Some(match d.arg.as_deref() {
                Some(arg) => format!("{}={}", d.defname, def_arg(arg, version)),
                None => d.defname.clone(),
            }),
            _ => None,
        })
        .collect();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(IndexStatement {
        name: non_empty(&stmt.idxname),
        schema: non_empty(&relation.schemaname),
        table: relation.relname.clone(),
        only: !relation.inh,
        method: if stmt.access_method.is_empty() {
            "btree".to_string()
        } else {
            stmt.access_method.to_lowercase()
        },
        unique: stmt.unique,
        nulls_not_distinct: stmt.nulls_not_distinct,
        concurrently: stmt.concurrent,
        if_not_exists: stmt.if_not_exists,
        keys,
        include,
        predicate,
        storage_params,
        tablespace: non_empty(&stmt.table_space),
    })
}

fn key_spec(e: &pb::IndexElem, version: i32) -> Result<IndexKeySpec, String> {
    let target = if !e.name.is_empty() {
        KeyTarget::Column(e.name.clone())
    } else {
        let expr = e
            .expr
            .as_deref()
            .ok_or_else(|| "index key without column or expression".to_string())?;
        match single_column(expr) {
            // `(col)` is a plain column for PostgreSQL too.
            Some(c) => KeyTarget::Column(c),
            None => KeyTarget::Expression(sql_expr(expr, version)?),
        }
    };
    let names = |list: &[Node]| -> Option<String> {
        let parts: Vec<&str> = list
            .iter()
            .filter_map(|n| match &n.node {
                Some(N::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("."))
    };
    Ok(IndexKeySpec {
        target,
        descending: e.ordering == pb::SortByDir::SortbyDesc as i32,
        nulls_first: match e.nulls_ordering {
            x if x == pb::SortByNulls::SortbyNullsFirst as i32 => Some(true),
            x if x == pb::SortByNulls::SortbyNullsLast as i32 => Some(false),
            _ => None,
        },
        opclass: names(&e.opclass),
        collation: names(&e.collation),
    })
}

/// The column of an unqualified one-part column reference.
fn single_column(node: &Node) -> Option<String> {
    match &node.node {
        Some(N::ColumnRef(c)) if c.fields.len() == 1 => match &c.fields[0].node {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The value of a storage parameter as text.
fn def_arg(node: &Node, version: i32) -> String {
    match &node.node {
        Some(N::String(s)) => s.sval.clone(),
        Some(N::Integer(i)) => i.ival.to_string(),
        Some(N::Float(f)) => f.fval.clone(),
        Some(N::Boolean(b)) => b.boolval.to_string(),
        // A bare word (`off`, `on`) is parsed as a type name.
        Some(N::TypeName(t)) => t
            .names
            .iter()
            .filter_map(|n| match &n.node {
                Some(N::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("."),
        _ => deparse_expr(node, version).unwrap_or_else(|_| "?".to_string()),
    }
}

/// Deparses `node` and lists the columns and functions it uses.
fn sql_expr(node: &Node, version: i32) -> Result<SqlExpr, String> {
    let text = deparse_expr(node, version)?;
    let mut expr = SqlExpr {
        text,
        columns: Vec::new(),
        functions: Vec::new(),
        has_subquery: false,
    };
    // Walk the tree through its serde form: this reaches every node type the
    // parser can produce without a hand-written visitor per node.
    if let Ok(value) = serde_json::to_value(node) {
        collect(&value, &mut expr, 0);
    }
    Ok(expr)
}

fn push_once(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Names of the string nodes of a serialized name list (`fields`, `funcname`).
fn string_parts(list: Option<&serde_json::Value>) -> Vec<String> {
    list.and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.pointer("/node/String/sval")?.as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn collect(value: &serde_json::Value, expr: &mut SqlExpr, depth: usize) {
    use serde_json::Value;
    if depth > 400 {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match key.as_str() {
                    "ColumnRef" => {
                        if let Some(c) = string_parts(v.get("fields")).pop() {
                            push_once(&mut expr.columns, c);
                        }
                    }
                    "FuncCall" => {
                        let name = string_parts(v.get("funcname")).join(".");
                        if !name.is_empty() {
                            push_once(&mut expr.functions, name.to_lowercase());
                        }
                    }
                    "SqlvalueFunction" => {
                        if let Some(name) = v
                            .get("op")
                            .and_then(Value::as_i64)
                            .and_then(sql_value_function)
                        {
                            push_once(&mut expr.functions, name.to_string());
                        }
                    }
                    "SubLink" => expr.has_subquery = true,
                    _ => {}
                }
                collect(v, expr, depth + 1);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, expr, depth + 1)),
        _ => {}
    }
}

/// The keyword of a SQL value function (`SQLValueFunctionOp`).
fn sql_value_function(op: i64) -> Option<&'static str> {
    use pb::SqlValueFunctionOp as Op;
    let op = i32::try_from(op).ok()?;
    Some(match Op::try_from(op).ok()? {
        Op::SvfopCurrentDate => "current_date",
        Op::SvfopCurrentTime | Op::SvfopCurrentTimeN => "current_time",
        Op::SvfopCurrentTimestamp | Op::SvfopCurrentTimestampN => "current_timestamp",
        Op::SvfopLocaltime | Op::SvfopLocaltimeN => "localtime",
        Op::SvfopLocaltimestamp | Op::SvfopLocaltimestampN => "localtimestamp",
        Op::SvfopCurrentRole => "current_role",
        Op::SvfopCurrentUser => "current_user",
        Op::SvfopUser => "user",
        Op::SvfopSessionUser => "session_user",
        Op::SvfopCurrentCatalog => "current_catalog",
        Op::SvfopCurrentSchema => "current_schema",
        Op::SqlvalueFunctionOpUndefined => return None,
    })
}

/// Deparses an expression by wrapping it in `SELECT <expr>` and stripping the
/// prefix.
pub(crate) fn deparse_expr(node: &Node, version: i32) -> Result<String, String> {
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
    let parsed = pb::ParseResult {
        version,
        stmts: vec![pb::RawStmt {
            stmt: Some(Box::new(Node {
                node: Some(N::SelectStmt(Box::new(stmt))),
            })),
            stmt_location: 0,
            stmt_len: 0,
        }],
    };
    match pg_query::deparse(&parsed, pg_query::DeparseOptions::default()) {
        Ok(s) => Ok(s.strip_prefix("SELECT ").map(str::to_string).unwrap_or(s)),
        Err(e) => Err(format!("cannot deparse expression: {e}")),
    }
}

#[cfg(test)]
#[path = "ddl_tests.rs"]
mod tests;
