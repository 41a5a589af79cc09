//! A small lexical scanner for SQL text: it finds `$n` placeholders outside string
//! literals, quoted identifiers, comments and dollar-quoted strings, and produces a
//! normalized form of a statement for matching against `pg_stat_statements`.

/// Where a lexical element of SQL text starts and ends, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// A string literal, dollar-quoted string, or number.
    Literal,
    /// A `$n` placeholder with its number.
    Param(u32),
    /// A comment or whitespace.
    Blank,
    /// A quoted identifier.
    Quoted,
    /// A word (keyword or identifier).
    Word,
    /// Any other single character.
    Other,
}

/// Splits SQL text into `(token, start, end)` byte ranges.
fn tokens(sql: &str) -> Vec<(Token, usize, usize)> {
    let b = sql.as_bytes();
    let n = b.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let start = i;
        let c = b[i];
        let tok = if c.is_ascii_whitespace() {
            while i < n && b[i].is_ascii_whitespace() {
                i += 1;
            }
            Token::Blank
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < n && b[i] != b'\n' {
                i += 1;
            }
            Token::Blank
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            // Block comments nest in PostgreSQL.
            let mut depth = 0usize;
            while i < n {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            Token::Blank
        } else if c == b'\'' {
            i = skip_quoted(b, i, b'\'', prefix_is_escape(b, start));
            Token::Literal
        } else if c == b'"' {
            i = skip_quoted(b, i, b'"', false);
            Token::Quoted
        } else if c == b'$' {
            if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                i += 1;
                let mut num: u32 = 0;
                while i < n && b[i].is_ascii_digit() {
                    num = num
                        .saturating_mul(10)
                        .saturating_add(u32::from(b[i] - b'0'));
                    i += 1;
                }
                Token::Param(num)
            } else if let Some(end) = dollar_quote_end(sql, i) {
                i = end;
                Token::Literal
            } else {
                i += 1;
                Token::Other
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_') {
                // exponent sign: 1e-5
                i += 1;
                if i < n && (b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E') {
                    i += 1;
                }
            }
            Token::Literal
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < n
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            // E'...', B'...', X'...', U&'...' prefixes belong to the literal.
            if i < n
                && b[i] == b'\''
                && i - start == 1
                && matches!(c, b'e' | b'E' | b'b' | b'B' | b'x' | b'X')
            {
                i = skip_quoted(b, i, b'\'', matches!(c, b'e' | b'E'));
                Token::Literal
            } else {
                Token::Word
            }
        } else {
            // Step over one whole UTF-8 character.
            i += 1;
            while i < n && (b[i] & 0xC0) == 0x80 {
                i += 1;
            }
            Token::Other
        };
        out.push((tok, start, i));
    }
    out
}

fn prefix_is_escape(b: &[u8], quote: usize) -> bool {
    quote > 0 && matches!(b[quote - 1], b'e' | b'E')
}

/// Index just past a quoted element starting at `i` (doubled quotes escape;
/// backslashes escape in `E''` strings). Unterminated runs to the end.
fn skip_quoted(b: &[u8], mut i: usize, q: u8, backslash: bool) -> usize {
    i += 1;
    while i < b.len() {
        if backslash && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

/// End of a dollar-quoted string `$tag$...$tag$` starting at `i`, if it is one.
fn dollar_quote_end(sql: &str, i: usize) -> Option<usize> {
    let rest = sql.get(i + 1..)?;
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    if !tag.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let delim = &sql[i..i + tag_len + 2];
    let body_start = i + tag_len + 2;
    Some(match sql[body_start..].find(delim) {
        Some(p) => body_start + p + delim.len(),
        None => sql.len(),
    })
}

/// The highest `$n` used in the SQL text (0 when none), ignoring `$n` inside
/// literals, quoted identifiers, comments and dollar-quoted strings.
pub fn max_placeholder(sql: &str) -> u32 {
    tokens(sql)
        .into_iter()
        .filter_map(|(t, _, _)| match t {
            Token::Param(n) => Some(n),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// A normalized form of a statement under which a statement and its
/// `pg_stat_statements` text compare equal: literals, `true`/`false`/`null` and
/// `$n` become `?`, a minus sign before them is dropped, comments vanish,
/// whitespace collapses and unquoted words are lowercased.
pub fn normalize(sql: &str) -> String {
    let toks = tokens(sql.trim().trim_end_matches(';'));
    let mut parts: Vec<String> = Vec::with_capacity(toks.len());
    for (t, s, e) in toks {
        let text = &sql.trim()[s..e];
        let part = match t {
            Token::Blank => continue,
            Token::Literal | Token::Param(_) => "?".to_string(),
            Token::Word => {
                let lower = text.to_lowercase();
                if matches!(lower.as_str(), "true" | "false" | "null") {
                    "?".to_string()
                } else {
                    lower
                }
            }
            Token::Quoted | Token::Other => text.to_string(),
        };
        if part == "?" && parts.last().is_some_and(|p| p == "-") {
            parts.pop();
        }
        parts.push(part);
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_literals_are_counted() {
        assert_eq!(max_placeholder("SELECT 1"), 0);
        assert_eq!(
            max_placeholder("SELECT * FROM t WHERE a = $1 AND b = $2"),
            2
        );
        assert_eq!(
            max_placeholder("SELECT '$3', \"$4\", $$ $5 $$, $tag$ $6 $tag$ -- $7\n, $1"),
            1
        );
        assert_eq!(
            max_placeholder("SELECT /* $9 /* nested $8 */ $7 */ $2::int"),
            2
        );
        assert_eq!(max_placeholder("SELECT E'it\\'s $5', $3"), 3);
        assert_eq!(max_placeholder("SELECT 'it''s $5', $1"), 1);
        assert_eq!(max_placeholder("SELECT 'unterminated $4"), 0);
    }

    #[test]
    fn normalization_matches_pg_stat_statements_texts() {
        let ours = "SELECT id, user_id FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT 20";
        let pgss = "SELECT id, user_id FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT $1";
        assert_eq!(normalize(ours), normalize(pgss));
        assert_eq!(
            normalize("select x from t where a = -1 and b = 'q' -- c\n;"),
            normalize("SELECT x FROM t WHERE a = $1 AND b = $2")
        );
        assert_ne!(normalize("SELECT a FROM t"), normalize("SELECT b FROM t"));
        assert_eq!(normalize("SELECT 1.5e-3, true"), "select ? , ?");
    }
}
