//! Column references read out of the condition texts EXPLAIN prints
//! (`Filter`, `Index Cond`, `Join Filter`, …). Best effort, never fails:
//! `(created_at > (now() - '30 days'::interval))` → `created_at`,
//! `((status)::text = 'pending'::text)` → `status`.

/// One column named in a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRef {
    /// Table alias before the dot (`u` in `u.created_at`), if any.
    pub qualifier: Option<String>,
    /// Column name, unquoted.
    pub name: String,
    /// True when the column is an argument of a function call (`lower(email)`),
    /// which a plain index on the column cannot serve.
    pub in_function: bool,
    /// The comparison operator that follows the column, if any (`=`, `>`, `~~`, …).
    pub operator: Option<String>,
}

impl ColumnRef {
    /// True when the column is compared for equality (`=`, `= ANY (…)`, `IS NULL`).
    pub fn is_equality(&self) -> bool {
        matches!(self.operator.as_deref(), Some("=") | Some("IS"))
    }
}

const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "not",
    "is",
    "null",
    "true",
    "false",
    "any",
    "all",
    "array",
    "in",
    "like",
    "ilike",
    "case",
    "when",
    "then",
    "else",
    "end",
    "between",
    "subplan",
    "initplan",
    "hashed",
    "distinct",
    "from",
    "some",
    "row",
    "collate",
    "default",
    "current_date",
    "current_timestamp",
    "localtimestamp",
    "current_user",
    "session_user",
    "user",
    "similar",
    "escape",
    "unknown",
    "at",
    "time",
    "zone",
    "returns",
];

const TYPE_WORDS: &[&str] = &[
    "with",
    "without",
    "time",
    "zone",
    "varying",
    "precision",
    "character",
    "double",
    "bit",
];

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String, bool),
    Str,
    Num,
    Param,
    Op(String),
    Open,
    Close,
    Comma,
    Dot,
    Cast,
    Bracket,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str);
        } else if c == '"' {
            let mut name = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                name.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Ident(name, true));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect(), false));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Num);
        } else if c == '$' {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Param);
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            i += 2;
            out.push(Tok::Cast);
        } else if c == '(' {
            i += 1;
            out.push(Tok::Open);
        } else if c == ')' {
            i += 1;
            out.push(Tok::Close);
        } else if c == ',' {
            i += 1;
            out.push(Tok::Comma);
        } else if c == '.' {
            i += 1;
            out.push(Tok::Dot);
        } else if c == '[' || c == ']' {
            i += 1;
            out.push(Tok::Bracket);
        } else {
            let start = i;
            while i < chars.len() && "+-*/<>=~!@#%^&|`?".contains(chars[i]) {
                i += 1;
            }
            if i == start {
                i += 1;
            }
            out.push(Tok::Op(chars[start..i].iter().collect()));
        }
    }
    out
}

/// Reads the column references of a condition text, in order of appearance,
/// without duplicates.
pub fn columns_in(expr: &str) -> Vec<ColumnRef> {
    let toks = tokenize(expr);
    let mut out: Vec<ColumnRef> = Vec::new();
    // Stack of "is this parenthesis a function call" flags.
    let mut parens: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Open => parens.push(false),
            Tok::Close => {
                parens.pop();
            }
            Tok::Cast => {
                // Skip the type name, which may be several words and an array suffix.
                i += 1;
                let mut first = true;
                while let Some(Tok::Ident(w, _)) = toks.get(i) {
                    if !first && !TYPE_WORDS.contains(&w.to_ascii_lowercase().as_str()) {
                        break;
                    }
                    first = false;
                    i += 1;
                    if matches!(toks.get(i), Some(Tok::Dot)) {
                        i += 1;
                        first = true;
                    }
                }
                if matches!(toks.get(i), Some(Tok::Open)) {
                    // e.g. character varying(20)
                    while i < toks.len() && toks[i] != Tok::Close {
                        i += 1;
                    }
                    i += 1;
                }
                while matches!(toks.get(i), Some(Tok::Bracket)) {
                    i += 1;
                }
                continue;
            }
            Tok::Ident(word, quoted) => {
                if matches!(toks.get(i + 1), Some(Tok::Open)) {
                    parens.push(true);
                    i += 2;
                    continue;
                }
                if !quoted && KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    i += 1;
                    continue;
                }
                let (qualifier, name, next) = match (toks.get(i + 1), toks.get(i + 2)) {
                    (Some(Tok::Dot), Some(Tok::Ident(col, _))) => {
                        (Some(word.clone()), col.clone(), i + 3)
                    }
                    _ => (None, word.clone(), i + 1),
                };
                let operator = operator_after(&toks, next);
                let in_function = parens.iter().any(|f| *f);
                if let Some(existing) = out
                    .iter_mut()
                    .find(|c| c.name == name && c.qualifier == qualifier)
                {
                    existing.in_function &= in_function;
                    if existing.operator.is_none() {
                        existing.operator = operator;
                    }
                } else {
                    out.push(ColumnRef {
                        qualifier,
                        name,
                        in_function,
                        operator,
                    });
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// The operator that follows a column, skipping closing parentheses and casts.
fn operator_after(toks: &[Tok], mut i: usize) -> Option<String> {
    loop {
        match toks.get(i)? {
            Tok::Close | Tok::Bracket => i += 1,
            Tok::Cast => {
                i += 1;
                while matches!(toks.get(i), Some(Tok::Ident(..)) | Some(Tok::Dot)) {
                    i += 1;
                }
            }
            Tok::Op(op) => return Some(op.clone()),
            Tok::Ident(w, false) if w.eq_ignore_ascii_case("is") => return Some("IS".into()),
            Tok::Ident(w, false) if w.eq_ignore_ascii_case("between") => {
                return Some("BETWEEN".into())
            }
            _ => return None,
        }
    }
}

/// Columns of `expr` that belong to the table known by `alias` (or `table`):
/// qualified with that alias, or unqualified.
pub fn columns_of(expr: &str, alias: Option<&str>, table: Option<&str>) -> Vec<ColumnRef> {
    columns_in(expr)
        .into_iter()
        .filter(|c| match c.qualifier.as_deref() {
            None => true,
            Some(q) => Some(q) == alias || Some(q) == table,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        columns_in(expr).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn reads_columns_out_of_conditions() {
        assert_eq!(
            names("(created_at > (now() - '30 days'::interval))"),
            ["created_at"]
        );
        assert_eq!(names("((status)::text = 'pending'::text)"), ["status"]);
        assert_eq!(names("(s.user_id = p.user_id)"), ["user_id", "user_id"]);
        assert_eq!(
            names("((a = 1) AND (b IS NULL) AND (\"timestamp\" >= '2024-01-01 00:00:00+00'::timestamp with time zone))"),
            ["a", "b", "timestamp"]
        );
        assert_eq!(names("(lower((email)::text) = 'x'::text)"), ["email"]);
        assert!(columns_in("(lower((email)::text) = 'x'::text)")[0].in_function);
        assert_eq!(names("(id = ANY ('{1,2}'::integer[]))"), ["id"]);
        assert_eq!(names("(x = $1)"), ["x"]);
        assert_eq!(names("(v)::character varying(20)"), ["v"]);
        assert_eq!(names("(NOT (hashed SubPlan 1))"), Vec::<String>::new());
    }

    #[test]
    fn operators_and_qualifiers() {
        let c = columns_in("((status)::text = 'pending'::text)");
        assert_eq!(c[0].operator.as_deref(), Some("="));
        assert!(c[0].is_equality());
        let c = columns_of("(s.user_id = p.user_id)", Some("p"), Some("profiles"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].qualifier.as_deref(), Some("p"));
    }

    #[test]
    fn never_panics_on_odd_text() {
        for s in [
            "",
            "(",
            ")",
            "::",
            "'unterminated",
            "\"unterminated",
            "a.",
            "f(",
            "$",
            "x::",
        ] {
            let _ = columns_in(s);
        }
    }
}
