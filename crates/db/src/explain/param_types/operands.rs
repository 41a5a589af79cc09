//! Which `$n` an error position points at: the operands of the operator there,
//! or the arguments of the function call there ([`operand_params`]). A light
//! lexer, enough to skip strings, quoted identifiers, comments and dollar
//! quotes, and to tell operators, parentheses and parameters apart; anything it
//! does not understand yields no parameter (the caller then falls back).

/// One lexical token of the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// `$n`.
    Param(usize),
    /// An unquoted identifier or keyword.
    Word(&'a str),
    /// A quoted identifier.
    Quoted,
    /// A string or number constant.
    Constant,
    /// An operator (`+`, `>=`, `||`, …).
    Op(&'a str),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
    /// `::`.
    Cast,
    Dot,
    /// Anything else (`;`, a lone `:`, …).
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    tok: Tok<'a>,
    start: usize,
    end: usize,
}

const OP_CHARS: &[u8] = b"+-*/<>=~!@#%^&|`?";

fn ident_byte(c: u8, first: bool) -> bool {
    c.is_ascii_alphabetic()
        || c == b'_'
        || c >= 0x80
        || (!first && (c.is_ascii_digit() || c == b'$'))
}

/// End of a `'…'` string starting at `i` (`''` doubles a quote; with `escapes`,
/// a backslash escapes the next byte, as in `E'…'`).
fn string_end(b: &[u8], i: usize, escapes: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if escapes => j += 2,
            b'\'' if b.get(j + 1) == Some(&b'\'') => j += 2,
            b'\'' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// End of a dollar-quoted string starting at `i`, when there is one.
fn dollar_quote_end(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut j = i + 1;
    if b.get(j).is_some_and(|c| ident_byte(*c, true)) {
        while b
            .get(j)
            .is_some_and(|c| ident_byte(*c, false) && *c != b'$')
        {
            j += 1;
        }
    }
    if b.get(j) != Some(&b'$') {
        return None;
    }
    let tag = &text[i..=j];
    Some(
        text[j + 1..]
            .find(tag)
            .map_or(text.len(), |at| j + 1 + at + tag.len()),
    )
}

/// An operator as PostgreSQL's lexer cuts it: a run of operator characters,
/// stopped by a comment start, and not ending in `+` / `-` unless it contains
/// one of `~!@#%^&|`?` (so `>-5` is `>` then `-`).
fn operator_end(b: &[u8], i: usize) -> usize {
    let mut j = i;
    while j < b.len() && OP_CHARS.contains(&b[j]) {
        if j > i && ((b[j] == b'-' && b[j - 1] == b'-') || (b[j] == b'*' && b[j - 1] == b'/')) {
            j -= 1;
            break;
        }
        j += 1;
    }
    let op = &b[i..j];
    if op.len() > 1 && !op.iter().any(|c| b"~!@#%^&|`?".contains(c)) {
        while j > i + 1 && matches!(b[j - 1], b'+' | b'-') {
            j -= 1;
        }
    }
    j.max(i + 1)
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let c = b[i];
        let next = b.get(i + 1).copied();
        let tok = match c {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if next == Some(b'-') => {
                i = text[i..].find('\n').map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if next == Some(b'*') => {
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if b[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            b'\'' => {
                i = string_end(b, i, false);
                Tok::Constant
            }
            b'"' => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'"' && b.get(i + 1) != Some(&b'"') {
                        break;
                    }
                    i += if b[i] == b'"' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                Tok::Quoted
            }
            b'$' if next.is_some_and(|d| d.is_ascii_digit()) => {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                text[start + 1..i].parse().map_or(Tok::Other, Tok::Param)
            }
            b'$' => match dollar_quote_end(text, i) {
                Some(end) => {
                    i = end;
                    Tok::Constant
                }
                None => {
                    i += 1;
                    Tok::Other
                }
            },
            c if c.is_ascii_digit() || (c == b'.' && next.is_some_and(|d| d.is_ascii_digit())) => {
                i += 1;
                while i < b.len() {
                    let exponent_sign =
                        matches!(b[i], b'+' | b'-') && matches!(b[i - 1], b'e' | b'E');
                    if b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_' || exponent_sign
                    {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Constant
            }
            c if ident_byte(c, true) => {
                while i < b.len() && ident_byte(b[i], false) {
                    i += 1;
                }
                let word = &text[start..i];
                // E'…', B'…', X'…', N'…': a string with a prefix.
                if b.get(i) == Some(&b'\'') && word.len() == 1 && "eEbBxXnN".contains(word) {
                    i = string_end(b, i, word.eq_ignore_ascii_case("e"));
                    Tok::Constant
                } else {
                    Tok::Word(word)
                }
            }
            b'(' | b')' | b'[' | b']' | b',' | b'.' => {
                i += 1;
                match c {
                    b'(' => Tok::Open,
                    b')' => Tok::Close,
                    b'[' => Tok::OpenBracket,
                    b']' => Tok::CloseBracket,
                    b',' => Tok::Comma,
                    _ => Tok::Dot,
                }
            }
            b':' if next == Some(b':') => {
                i += 2;
                Tok::Cast
            }
            c if OP_CHARS.contains(&c) => {
                i = operator_end(b, i);
                Tok::Op(&text[start..i])
            }
            _ => {
                i += 1;
                Tok::Other
            }
        };
        out.push(Token { tok, start, end: i });
    }
    out
}

/// Keywords after which `(` opens a group or a list, not a function call's
/// arguments, and before which an expression is complete.
const KEYWORDS: &[&str] = &[
    "all",
    "and",
    "any",
    "as",
    "between",
    "by",
    "case",
    "distinct",
    "else",
    "end",
    "exists",
    "from",
    "having",
    "ilike",
    "in",
    "is",
    "isnull",
    "like",
    "limit",
    "not",
    "notnull",
    "offset",
    "on",
    "or",
    "overlaps",
    "returning",
    "select",
    "set",
    "similar",
    "some",
    "then",
    "using",
    "values",
    "when",
    "where",
    "with",
];

fn keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Binding strength of an operator (higher binds tighter), after PostgreSQL's
/// precedence table; words that are no operator rank lowest.
fn rank(t: Tok<'_>) -> u8 {
    match t {
        Tok::Op("=" | "<" | ">" | "<=" | ">=" | "<>" | "!=") => 2,
        Tok::Op("+" | "-") => 5,
        Tok::Op("*" | "/" | "%") => 6,
        Tok::Op("^") => 7,
        Tok::Op(_) => 4,
        Tok::Word(w)
            if ["is", "isnull", "notnull"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(w)) =>
        {
            1
        }
        Tok::Word(w)
            if ["between", "in", "like", "ilike", "similar"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(w)) =>
        {
            3
        }
        Tok::Word(w) if ["at", "collate"].iter().any(|k| k.eq_ignore_ascii_case(w)) => 8,
        Tok::Cast | Tok::OpenBracket | Tok::Dot => 10,
        _ => 0,
    }
}

/// Whether a token can end an operand (then an operator after it is binary).
fn ends_operand(t: Tok<'_>) -> bool {
    match t {
        Tok::Param(_) | Tok::Quoted | Tok::Constant | Tok::Close | Tok::CloseBracket => true,
        Tok::Word(w) => !keyword(w),
        _ => false,
    }
}

/// Whether `(` at `open` starts a function call's arguments.
fn is_call(toks: &[Token<'_>], open: usize) -> bool {
    match open.checked_sub(1).map(|p| toks[p].tok) {
        Some(Tok::Quoted) => true,
        Some(Tok::Word(w)) => !keyword(w),
        _ => false,
    }
}

/// The parameters that are a whole argument of the call whose `(` is at `open`
/// (grouping parentheses allowed; not inside a nested call; not cast).
fn call_args(toks: &[Token<'_>], open: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut nested: Vec<bool> = Vec::new();
    for k in open + 1..toks.len() {
        match toks[k].tok {
            Tok::Open => nested.push(is_call(toks, k)),
            Tok::Close => match nested.pop() {
                Some(_) => {}
                None => break,
            },
            Tok::Param(n) => {
                let in_nested_call = nested.contains(&true);
                let typed = matches!(
                    toks.get(k + 1).map(|t| t.tok),
                    Some(Tok::Cast | Tok::OpenBracket | Tok::Dot)
                );
                if !in_nested_call && !typed {
                    out.push(n);
                }
            }
            _ => {}
        }
    }
    out
}

/// The parameters that are a whole operand of the operator at `at`.
fn operator_operands(toks: &[Token<'_>], at: usize) -> Vec<usize> {
    let op = toks[at].tok;
    let strength = rank(op);
    let prefix = at == 0 || !ends_operand(toks[at - 1].tok);
    let mut out = Vec::new();
    if !prefix {
        // `… ((($n))) op`: the parameter, in as many parentheses, not the end of
        // a call's arguments, and not the right operand of a tighter operator.
        let mut j = at;
        let mut k = 0;
        while j > 0 && toks[j - 1].tok == Tok::Close {
            k += 1;
            j -= 1;
        }
        if let Some(p) = j.checked_sub(1) {
            if let Tok::Param(n) = toks[p].tok {
                let opened = p >= k && toks[p - k..p].iter().all(|t| t.tok == Tok::Open);
                let before = (p - k.min(p)).checked_sub(1).map(|b| toks[b].tok);
                let complete = match before {
                    None => true,
                    Some(t) => !(k > 0 && is_call(toks, p - k)) && rank(t) < strength,
                };
                if opened && complete {
                    out.push(n);
                }
            }
        }
    }
    // `op ((($n))) …`: the parameter, in as many parentheses, not the left
    // operand of a tighter operator (a prefix minus binds tighter than them all).
    let mut j = at + 1;
    let mut k = 0;
    while toks.get(j).is_some_and(|t| t.tok == Tok::Open) {
        k += 1;
        j += 1;
    }
    if let Some(Tok::Param(n)) = toks.get(j).map(|t| t.tok) {
        let closed = toks
            .get(j + 1..j + 1 + k)
            .is_some_and(|c| c.iter().all(|t| t.tok == Tok::Close));
        let after = toks.get(j + 1 + k).map(|t| t.tok);
        let looser = match after {
            None => true,
            Some(t) if prefix && matches!(op, Tok::Op("-" | "+")) => rank(t) < 10,
            Some(t) => rank(t) <= strength,
        };
        if closed && looser {
            out.push(n);
        }
    }
    out
}

/// The parameters (`n` of each `$n`) the error at 1-based character `position`
/// of `text` is about: at a function call (`generate_series($1, $2)`, the
/// position is the function's name), the parameters that are whole arguments
/// of it; at an operator (`$1 + $2`), the parameters that are its whole
/// operands, after operator precedence. Empty when the position is elsewhere.
pub(crate) fn operand_params(text: &str, position: usize) -> Vec<usize> {
    let Some(byte) = position
        .checked_sub(1)
        .and_then(|p| text.char_indices().nth(p))
        .map(|(b, _)| b)
    else {
        return Vec::new();
    };
    let toks = tokens(text);
    let Some(at) = toks.iter().position(|t| t.end > byte) else {
        return Vec::new();
    };
    if toks[at].start > byte {
        return Vec::new();
    }
    match toks[at].tok {
        Tok::Word(_) | Tok::Quoted => {
            // A function name, maybe schema-qualified.
            let mut j = at;
            while toks.get(j + 1).is_some_and(|t| t.tok == Tok::Dot)
                && toks
                    .get(j + 2)
                    .is_some_and(|t| matches!(t.tok, Tok::Word(_) | Tok::Quoted))
            {
                j += 2;
            }
            if toks.get(j + 1).is_some_and(|t| t.tok == Tok::Open) {
                call_args(&toks, j + 1)
            } else if rank(toks[at].tok) > 0 {
                // A keyword operator: `$1 BETWEEN …`, `LIKE`.
                operator_operands(&toks, at)
            } else {
                Vec::new()
            }
        }
        Tok::Op(_) => operator_operands(&toks, at),
        _ => Vec::new(),
    }
}
