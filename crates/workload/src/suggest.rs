//! The single query that would replace an N+1 burst, derived from the
//! normalized texts with a small tokenizer (a heuristic until pgpilot-sql's
//! `QueryShape` is available).

use serde::{Deserialize, Serialize};

/// How to replace a parent → repeated child pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// The child rewritten to fetch every row in one round trip
    /// (`WHERE col = ANY($1)` with an array of the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batched: Option<String>,
    /// A join clause that folds the child into the parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<String>,
    /// Plain-language advice.
    pub advice: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Sym(&'a str),
    Param(&'a str),
}

/// Tokens with their byte ranges; quoted identifiers keep their quotes.
fn tokens(s: &str) -> Vec<(Tok<'_>, usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'"' {
            if c == b'"' {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                i = (i + 1).min(b.len());
            } else {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
            }
            out.push((Tok::Word(&s[start..i]), start, i));
        } else if c == b'$' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            out.push((Tok::Param(&s[start..i]), start, i));
        } else {
            i += 1;
            while i < b.len() && !s.is_char_boundary(i) {
                i += 1;
            }
            out.push((Tok::Sym(&s[start..i]), start, i));
        }
    }
    out
}

fn kw(t: &Tok<'_>, k: &str) -> bool {
    matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case(k))
}

fn unquote(w: &str) -> String {
    match w.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        Some(x) => x.to_owned(),
        None => w.to_ascii_lowercase(),
    }
}

/// `users` → `user`, `categories` → `category`, `addresses` → `address`.
fn singular(t: &str) -> String {
    if let Some(x) = t.strip_suffix("ies") {
        format!("{x}y")
    } else if let Some(x) = t.strip_suffix("sses") {
        format!("{x}ss")
    } else if let Some(x) = t.strip_suffix('s').filter(|x| !x.ends_with('s')) {
        x.to_owned()
    } else {
        t.to_owned()
    }
}

/// `SELECT list FROM t [alias] WHERE [q.]col = $n [;]`: (table, column, byte range of `$n`).
fn single_key_lookup(sql: &str) -> Option<(String, String, (usize, usize))> {
    let t = tokens(sql);
    let t: Vec<_> = match t.last() {
        Some((Tok::Sym(";"), ..)) => t[..t.len() - 1].to_vec(),
        _ => t,
    };
    if !kw(&t.first()?.0, "select") {
        return None;
    }
    let from = t.iter().position(|x| kw(&x.0, "from"))?;
    let table = match &t.get(from + 1)?.0 {
        Tok::Word(w) => unquote(w),
        _ => return None,
    };
    let mut i = from + 2;
    if matches!(t.get(i), Some((Tok::Sym("."), ..))) {
        return None; // schema-qualified: keep the heuristic simple
    }
    if t.get(i).is_some_and(|x| kw(&x.0, "as")) {
        i += 1;
    }
    if matches!(t.get(i), Some((Tok::Word(w), ..)) if !w.eq_ignore_ascii_case("where")) {
        i += 1;
    }
    if !kw(&t.get(i)?.0, "where") {
        return None;
    }
    let rest = &t[i + 1..];
    let (col, eq) = match rest {
        [(Tok::Word(c), ..), (Tok::Sym("="), ..), ..] => (unquote(c), 1),
        [(Tok::Word(_), ..), (Tok::Sym("."), ..), (Tok::Word(c), ..), (Tok::Sym("="), ..), ..] => {
            (unquote(c), 3)
        }
        _ => return None,
    };
    match rest.get(eq + 1..)? {
        [(Tok::Param(_), s, e)] => Some((table, col, (*s, *e))),
        _ => None,
    }
}

/// Parent: (table, select-list column names, has `*`).
fn parent_columns(sql: &str) -> Option<(String, Vec<String>, bool)> {
    let t = tokens(sql);
    if !kw(&t.first()?.0, "select") {
        return None;
    }
    let from = t.iter().position(|x| kw(&x.0, "from"))?;
    let table = match &t.get(from + 1)?.0 {
        Tok::Word(w) => unquote(w),
        _ => return None,
    };
    let (mut cols, mut star, mut depth, mut last) = (Vec::new(), false, 0i32, None::<String>);
    for (tok, ..) in &t[1..from] {
        match tok {
            Tok::Sym("(") => depth += 1,
            Tok::Sym(")") => depth -= 1,
            Tok::Sym("*") if depth == 0 => star = true,
            Tok::Sym(",") if depth == 0 => cols.extend(last.take()),
            Tok::Word(w)
                if depth == 0
                    && !w.eq_ignore_ascii_case("as")
                    && !w.eq_ignore_ascii_case("distinct") =>
            {
                last = Some(unquote(w))
            }
            _ => {}
        }
    }
    cols.extend(last);
    Some((table, cols, star))
}

/// The replacement for `parent → child` repeated, if the child is a single-key lookup.
pub(crate) fn suggest(parent: &str, child: &str) -> Option<Suggestion> {
    let (table, col, (ps, pe)) = single_key_lookup(child)?;
    let param = child.get(ps..pe)?;
    let mut batched = String::with_capacity(child.len() + 8);
    batched.push_str(child.get(..ps)?);
    batched.push_str(&format!("ANY({param})"));
    batched.push_str(child.get(pe..)?);
    let mut advice = format!(
        "fetch all {table} rows in one round trip: pass the {col} values collected from the parent's rows as one array parameter ({col} = ANY({param}))"
    );
    let join = parent_columns(parent).and_then(|(pt, pcols, star)| {
        let s = singular(&table);
        let fk = format!("{s}_{col}");
        let own_fk = format!("{}_id", singular(&pt));
        if pcols.contains(&fk) {
            Some(format!("JOIN {table} ON {table}.{col} = {pt}.{fk}"))
        } else if col == own_fk && (star || pcols.iter().any(|c| c == "id")) {
            Some(format!("JOIN {table} ON {table}.{col} = {pt}.id"))
        } else if pcols.contains(&col) && pt != table {
            Some(format!("JOIN {table} ON {table}.{col} = {pt}.{col}"))
        } else {
            None
        }
    });
    if let Some(j) = &join {
        advice.push_str(&format!(", or join it into the parent query: {j}"));
    }
    Some(Suggestion {
        batched: Some(batched),
        join,
        advice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_single_key_lookups_and_joins_by_plausible_names() {
        let s = suggest(
            "SELECT id, user_id, body FROM posts ORDER BY id DESC LIMIT $1",
            "SELECT id, name FROM users WHERE id = $1",
        );
        let s = s.unwrap_or_else(|| panic!("no suggestion"));
        assert_eq!(
            s.batched.as_deref(),
            Some("SELECT id, name FROM users WHERE id = ANY($1)")
        );
        assert_eq!(
            s.join.as_deref(),
            Some("JOIN users ON users.id = posts.user_id")
        );
        let s = suggest(
            "SELECT * FROM posts WHERE author = $1",
            "select * from comments c where c.post_id = $1;",
        );
        assert_eq!(
            s.as_ref().and_then(|s| s.batched.as_deref()),
            Some("select * from comments c where c.post_id = ANY($1);")
        );
        assert_eq!(
            s.and_then(|s| s.join),
            Some("JOIN comments ON comments.post_id = posts.id".into())
        );
        let s = suggest(
            "UPDATE x SET a = $1",
            "SELECT * FROM categories WHERE id = $1",
        );
        assert!(s.is_some_and(|s| s.join.is_none()));
    }

    #[test]
    fn other_shapes_get_no_suggestion() {
        for c in [
            "SELECT * FROM a WHERE x = $1 AND y = $2",
            "SELECT * FROM a JOIN b ON a.id = b.id WHERE x = $1",
            "UPDATE a SET x = $1 WHERE id = $2",
            "SELECT * FROM s.a WHERE x = $1",
            "SELECT * FROM a WHERE x > $1",
            "",
        ] {
            assert_eq!(suggest("SELECT 1", c), None, "{c}");
        }
        assert_eq!(singular("categories"), "category");
        assert_eq!(singular("addresses"), "address");
        assert_eq!(singular("class"), "class");
    }
}
