//! From `pg_query::normalize`'s text to the normalized text pgpilot shows and
//! prepares: the alignment of the original statement with the normalized text (which
//! literal became which `$k`), then two rewrites that run once per shape:
//!
//! - `x IN ($1, $2, …)` of constants becomes `x = ANY($k)` (`NOT IN` becomes
//!   `<> ALL($k)`), whose sample value is a PostgreSQL array literal of the list, so
//!   every execution of the shape, whatever its list length, has aligned params;
//! - prefix-typed literals `interval $1`, `date $2`, `timestamp with time zone $3`
//!   (which PostgreSQL cannot PREPARE) become `$1::interval`, `$2::date`, ….
//!
//! Constants the grammar only accepts as a keyword or a string literal, never as a
//! parameter (the field of `extract(day FROM …)`, the form of `normalize(x, NFC)`
//! and `x IS NFC NORMALIZED`), are put back as written: `extract($1 FROM …)`,
//! libpg_query's (and pg_stat_statements') text, cannot be PREPAREd.
//!
//! Placeholders are renumbered `$1..$n` keeping libpg_query's relative order. A
//! statement with `$n` parameters of its own (extended protocol with some literals
//! inline) keeps them as they are: libpg_query numbers the replaced literals after
//! the highest of them, and so does the rewrite.

use std::ops::Range;

use crate::scan::{ident_end, Literal, LiteralKind, Scan};
use crate::tree::TreeInfo;

/// Which `$k` a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The scanner literal with this index (negated when the parser folded a `-` into it).
    Literal { index: u32, negated: bool },
    /// A keyword constant the scanner does not treat as a literal (`true`, `false`, `null`).
    Keyword(Box<str>),
    /// An array literal of these elements (an `IN` list of fixed length).
    Array(Box<[Slot]>),
    /// An array literal of all elements of the scanner's collapsed list with this
    /// number (an `IN` list of any length).
    List(u32),
    /// Text that must stay in the statement as written (a keyword or string the
    /// grammar does not accept as a parameter): never a parameter after `rewrite`.
    Verbatim(Box<str>),
}

/// A `$k` placeholder that normalization put in place of a literal or keyword.
#[derive(Debug, Clone)]
struct Token {
    /// Its bytes in the normalized text.
    at: Range<usize>,
    /// `k`.
    k: usize,
    /// Where the replaced text starts in the original.
    orig: usize,
}

/// The alignment of a statement with its normalized text.
#[derive(Debug, Default)]
pub(crate) struct Aligned {
    /// The highest `$n` parameter of the statement itself (0 when it has none): the
    /// replaced literals are `$(offset+1)..`.
    pub(crate) offset: usize,
    /// Source of `$(offset+1)..$n` (empty when they cannot all be matched).
    pub(crate) slots: Box<[Slot]>,
    /// Which literals were replaced.
    pub(crate) replaced: Vec<bool>,
    tokens: Vec<Token>,
    /// `(original offset, normalized offset)` for each requested original offset met.
    marks: Vec<(usize, usize)>,
}

/// Aligns `sql` with its normalized text: which literal became which `$k`, and which
/// literals were replaced at all. `None` when the two cannot be matched exactly.
/// `marks` lists (sorted) original offsets outside literals to map to the normalized text.
pub(crate) fn align(
    sql: &str,
    normalized: &str,
    literals: &[Literal],
    marks: &[usize],
) -> Option<Aligned> {
    let (o, m) = (sql.as_bytes(), normalized.as_bytes());
    let (mut i, mut j, mut next) = (0usize, 0usize, 0usize);
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut replaced = vec![false; literals.len()];
    let offset = own_params(sql, literals);
    let mut tokens = Vec::new();
    let mut mapped = Vec::new();
    let mut want = marks.iter().copied().peekable();
    loop {
        while want.next_if(|&w| w < i).is_some() {}
        if want.next_if(|&w| w == i).is_some() {
            mapped.push((i, j));
        }
        while next < literals.len() && literals[next].span.end <= i {
            next += 1;
        }
        if j >= m.len() {
            if i < o.len() {
                return None;
            }
            break;
        }
        if i >= o.len() {
            return None;
        }
        if m[j] == b'$' && m.get(j + 1).is_some_and(u8::is_ascii_digit) {
            let end = j + 1 + m[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let tok = &m[j..end];
            let same =
                o[i..].starts_with(tok) && !o.get(i + tok.len()).is_some_and(u8::is_ascii_digit);
            if !same {
                let k: usize = normalized.get(j + 1..end)?.parse().ok()?;
                let (slot, new_i) = replaced_at(o, i, literals, next)?;
                if let Slot::Literal { index, .. } = slot {
                    replaced[index as usize] = true;
                }
                if k <= offset || k > 65_535 {
                    return None;
                }
                let at = k - offset - 1;
                if slots.len() <= at {
                    slots.resize(at + 1, None);
                }
                slots[at] = Some(slot);
                tokens.push(Token {
                    at: j..end,
                    k,
                    orig: i,
                });
                i = new_i;
                j = end;
                continue;
            }
        }
        if o[i] != m[j] {
            return None;
        }
        i += 1;
        j += 1;
    }
    let slots: Option<Box<[Slot]>> = slots
        .into_iter()
        .collect::<Option<Vec<Slot>>>()
        .map(Vec::into_boxed_slice);
    let slots = match slots {
        Some(s) => s,
        // A gap among the numbers after the statement's own parameters: the text
        // is still usable, the values are not.
        None if offset > 0 => Box::new([]),
        None => return None,
    };
    Some(Aligned {
        offset,
        slots,
        replaced,
        tokens,
        marks: mapped,
    })
}

/// The highest `$n` among the statement's own parameters (0 when it has none).
pub(crate) fn own_params(sql: &str, literals: &[Literal]) -> usize {
    literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .filter_map(|l| sql.get(l.span.start + 1..l.span.end)?.parse::<usize>().ok())
        .max()
        .unwrap_or(0)
}

/// What the parser replaced at byte `i` of the original: the literal `literals[next]`
/// (possibly with a folded `-` sign before it, or from inside it after an `N` prefix),
/// a `true` / `false` / `null` keyword, or another word the grammar made a constant
/// of (`day` in `extract(day FROM ts)`, kept [`Slot::Verbatim`]). Returns the slot
/// and the end of the replaced text.
fn replaced_at(o: &[u8], i: usize, literals: &[Literal], next: usize) -> Option<(Slot, usize)> {
    if let Some(lit) = literals.get(next).filter(|l| l.kind != LiteralKind::Param) {
        if lit.span.start <= i {
            return Some((
                Slot::Literal {
                    index: u32::try_from(next).ok()?,
                    negated: false,
                },
                lit.span.end,
            ));
        }
        let gap = o.get(i..lit.span.start)?;
        if gap
            .iter()
            .all(|c| matches!(c, b'-' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        {
            let minus = gap.iter().filter(|&&c| c == b'-').count();
            if gap.first() == Some(&b'-') {
                let index = u32::try_from(next).ok()?;
                return Some((
                    Slot::Literal {
                        index,
                        negated: minus % 2 == 1,
                    },
                    lit.span.end,
                ));
            }
        }
    }
    let end = ident_end(o, i)?;
    let word = std::str::from_utf8(o.get(i..end)?).ok()?;
    let lower = word.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false" | "null") {
        return Some((Slot::Keyword(lower.into()), end));
    }
    Some((Slot::Verbatim(word.into()), end))
}

/// `CoercionForm::CoerceSqlSyntax` in libpg_query's protobuf: a function call
/// written with SQL-standard syntax (`extract(day FROM ts)`).
const COERCE_SQL_SYNTAX: i64 = 4;

/// Whether the scanner key may hold a call that [`verbatim_consts`] looks for.
pub(crate) fn may_have_verbatim(key: &[u8]) -> bool {
    key.windows(7).any(|w| w == b"extract" || w == b"normali")
}

/// Offsets of the constants PostgreSQL's grammar only accepts as a keyword or a
/// string literal, never as a `$n` parameter: the field of SQL-syntax `extract`
/// and the form of `normalize(x, NFC)` / `x IS NFC NORMALIZED`. The tree is walked
/// generically (as JSON), so no node type is missed.
pub(crate) fn verbatim_consts(parsed: &pg_query::protobuf::ParseResult) -> Vec<usize> {
    fn walk(v: &serde_json::Value, out: &mut Vec<usize>) {
        use serde_json::Value;
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => {
                if let Some(Value::Object(f)) = map.get("FuncCall") {
                    func_call(f, out);
                }
                map.values().for_each(|x| walk(x, out));
            }
            _ => {}
        }
    }
    fn func_call(f: &serde_json::Map<String, serde_json::Value>, out: &mut Vec<usize>) {
        use serde_json::Value;
        if f.get("funcformat").and_then(Value::as_i64) != Some(COERCE_SQL_SYNTAX) {
            return;
        }
        let name = f
            .get("funcname")
            .and_then(Value::as_array)
            .and_then(|n| n.last())
            .and_then(|n| n.pointer("/node/String/sval"))
            .and_then(Value::as_str);
        let arg = match name {
            Some("extract") => 0,
            Some("normalize" | "is_normalized") => 1,
            _ => return,
        };
        let location = f
            .get("args")
            .and_then(|a| a.get(arg))
            .and_then(|a| a.pointer("/node/AConst/location"))
            .and_then(Value::as_i64)
            .and_then(|l| usize::try_from(l).ok());
        out.extend(location);
    }
    let mut out = Vec::new();
    for raw in &parsed.stmts {
        if let Ok(v) = serde_json::to_value(raw) {
            walk(&v, &mut out);
        }
    }
    out.sort_unstable();
    out
}

/// Turns the string constants at `locations` (from [`verbatim_consts`], e.g.
/// `extract('day' FROM ts)`) into [`Slot::Verbatim`] and counts them as not
/// replaced, so their value becomes part of the cache key.
pub(crate) fn keep_verbatim(a: &mut Aligned, locations: &[usize], sql: &str, literals: &[Literal]) {
    for &location in locations {
        let Ok(t) = a.tokens.binary_search_by_key(&location, |t| t.orig) else {
            continue;
        };
        let k = a.tokens[t].k;
        let Some(slot) = k.checked_sub(a.offset + 1).and_then(|j| a.slots.get_mut(j)) else {
            continue;
        };
        if let Slot::Literal {
            index,
            negated: false,
        } = *slot
        {
            if let Some(lit) = literals.get(index as usize) {
                *slot = Slot::Verbatim(lit.raw(sql).into());
                if let Some(r) = a.replaced.get_mut(index as usize) {
                    *r = false;
                }
            }
        }
    }
}

/// Original offsets `rewrite` needs mapped to the normalized text, sorted.
pub(crate) fn marks_wanted(info: &TreeInfo) -> Vec<usize> {
    let mut v: Vec<usize> = info
        .in_lists
        .iter()
        .flat_map(|l| [l.location, l.end])
        .chain(info.typed.iter().map(|t| t.type_location))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// One replacement in the normalized text.
#[derive(Debug)]
enum Edit {
    /// A whole `[NOT] IN (…)` list → `= ANY($k)` / `<> ALL($k)`.
    List { negated: bool, slot: Slot },
    /// `type $k` → `$k::type`.
    Cast { ty: String },
    /// `$k` put back as the original text.
    Verbatim(Box<str>),
    /// `$k` renumbered.
    Param,
}

/// The rewritten normalized text, its slots, and which scanner lists may now have
/// any length; `None` when there is nothing to rewrite or the alignment is unusable.
pub(crate) fn rewrite(
    normalized: &str,
    a: &Aligned,
    info: &TreeInfo,
    scan: &Scan,
) -> Option<(String, Box<[Slot]>, Vec<bool>)> {
    if a.tokens.is_empty() || a.slots.len() < a.tokens.len() {
        return None;
    }
    let slot_of = |k: usize| k.checked_sub(a.offset + 1).and_then(|i| a.slots.get(i));
    let tok = |orig: usize| {
        a.tokens
            .binary_search_by_key(&orig, |t| t.orig)
            .ok()
            .and_then(|i| a.tokens.get(i))
    };
    let mark = |orig: usize| {
        a.marks
            .binary_search_by_key(&orig, |m| m.0)
            .ok()
            .and_then(|i| a.marks.get(i))
            .map(|m| m.1)
    };
    let list_of = list_ids(scan);
    let mut any_len = vec![false; scan.lists.len()];
    // (range in normalized, representative old k, edit)
    let mut edits: Vec<(Range<usize>, usize, Edit)> = Vec::new();
    for l in &info.in_lists {
        let (Some(start), Some(end)) = (mark(l.location), mark(l.end)) else {
            continue;
        };
        let toks: Option<Vec<&Token>> = l.items.iter().map(|&o| tok(o)).collect();
        let Some(toks) = toks else { continue };
        if toks.iter().any(|t| t.at.start < start || t.at.end > end) {
            continue;
        }
        let elems: Option<Vec<Slot>> = toks.iter().map(|t| slot_of(t.k).cloned()).collect();
        let Some(elems) = elems else { continue };
        let Some(rep) = toks.iter().map(|t| t.k).min() else {
            continue;
        };
        let slot = match whole_list(&elems, &list_of, scan) {
            Some(m) => {
                if let Some(f) = any_len.get_mut(m as usize) {
                    *f = true;
                }
                Slot::List(m)
            }
            None => Slot::Array(elems.into()),
        };
        let negated = l.negated;
        edits.push((start..end + 1, rep, Edit::List { negated, slot }));
    }
    for t in &info.typed {
        let (Some(start), Some(c)) = (mark(t.type_location), tok(t.const_location)) else {
            continue;
        };
        let ty = strip_comments(normalized.get(start..c.at.start)?);
        if ty.is_empty() {
            continue;
        }
        edits.push((start..c.at.end, c.k, Edit::Cast { ty }));
    }
    for t in &a.tokens {
        if let Some(Slot::Verbatim(text)) = slot_of(t.k) {
            edits.push((t.at.clone(), t.k, Edit::Verbatim(text.clone())));
        }
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|e| e.0.start);
    let mut kept: Vec<(Range<usize>, usize, Edit)> = Vec::with_capacity(edits.len());
    for e in edits {
        if kept.last().map_or(0, |p| p.0.end) <= e.0.start {
            kept.push(e);
        }
    }
    // Every placeholder outside a rewritten span is renumbered as it is.
    let mut all = kept;
    for t in &a.tokens {
        let inside = all
            .iter()
            .any(|e| !matches!(e.2, Edit::Param) && e.0.start <= t.at.start && t.at.end <= e.0.end);
        if !inside {
            all.push((t.at.clone(), t.k, Edit::Param));
        }
    }
    all.sort_by_key(|e| e.0.start);
    // New numbers follow the old ones' order, after the statement's own parameters.
    let mut olds: Vec<usize> = all
        .iter()
        .filter(|e| !matches!(e.2, Edit::Verbatim(_)))
        .map(|e| e.1)
        .collect();
    olds.sort_unstable();
    let rank = |old: usize| olds.binary_search(&old).map(|i| i + 1).unwrap_or(0);
    let mut slots: Vec<Option<Slot>> = vec![None; olds.len()];
    let mut out = String::with_capacity(normalized.len());
    let mut pos = 0;
    for (range, old, edit) in &all {
        out.push_str(normalized.get(pos..range.start)?);
        pos = range.end;
        if let Edit::Verbatim(text) = edit {
            out.push_str(text);
            continue;
        }
        let r = rank(*old);
        let slot = slots.get_mut(r.checked_sub(1)?)?;
        let k = r + a.offset;
        match edit {
            Edit::List { negated, slot: s } => {
                out.push_str(if *negated { "<> ALL($" } else { "= ANY($" });
                out.push_str(&k.to_string());
                out.push(')');
                *slot = Some(s.clone());
            }
            Edit::Cast { ty } => {
                out.push('$');
                out.push_str(&k.to_string());
                out.push_str("::");
                out.push_str(ty);
                *slot = slot_of(*old).cloned();
            }
            Edit::Param => {
                out.push('$');
                out.push_str(&k.to_string());
                *slot = slot_of(*old).cloned();
            }
            Edit::Verbatim(_) => {}
        }
    }
    out.push_str(normalized.get(pos..)?);
    let slots: Option<Vec<Slot>> = slots.into_iter().collect();
    Some((out, slots?.into(), any_len))
}

/// For each literal, the number of the collapsed scanner list it belongs to.
pub(crate) fn list_ids(scan: &Scan) -> Vec<Option<u32>> {
    let mut out = vec![None; scan.literals.len()];
    let (mut i, mut list) = (0usize, 0u32);
    while i < scan.literals.len() {
        if scan.literals[i].in_list {
            let len = scan.lists.get(list as usize).copied().unwrap_or(1).max(1) as usize;
            for o in out.iter_mut().skip(i).take(len) {
                *o = Some(list);
            }
            i += len;
            list += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Index of the first literal of scanner list `m`.
pub(crate) fn list_start(scan: &Scan, m: u32) -> Option<usize> {
    let (mut i, mut list) = (0usize, 0u32);
    while i < scan.literals.len() {
        if scan.literals[i].in_list {
            if list == m {
                return Some(i);
            }
            i += scan.lists.get(list as usize).copied().unwrap_or(1).max(1) as usize;
            list += 1;
        } else {
            i += 1;
        }
    }
    None
}

/// The scanner list whose literals are exactly `elems`, in order.
fn whole_list(elems: &[Slot], list_of: &[Option<u32>], scan: &Scan) -> Option<u32> {
    let Some(Slot::Literal { index, .. }) = elems.first() else {
        return None;
    };
    let m = (*list_of.get(*index as usize)?)?;
    let start = list_start(scan, m)?;
    let len = *scan.lists.get(m as usize)? as usize;
    let exact = elems.len() == len
        && elems
            .iter()
            .enumerate()
            .all(|(i, e)| matches!(e, Slot::Literal { index, .. } if *index as usize == start + i));
    exact.then_some(m)
}

/// Appends one array element (`None` is SQL NULL) to a PostgreSQL array literal.
pub(crate) fn push_array_elem(out: &mut String, v: Option<&str>) {
    if out.len() > 1 {
        out.push(',');
    }
    let Some(v) = v else {
        out.push_str("NULL");
        return;
    };
    let plain = !v.is_empty()
        && !v.eq_ignore_ascii_case("null")
        && !v.bytes().any(|c| {
            matches!(
                c,
                b'{' | b'}' | b',' | b'"' | b'\\' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c
            )
        });
    if plain {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Whether the list element `lit` has a `-` sign before it (after `(`, `,` and blanks).
pub(crate) fn has_minus(lit: &Literal, sql: &str) -> bool {
    let before = sql.get(..lit.span.start).unwrap_or("");
    let trimmed = before.trim_end_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    trimmed.ends_with('-')
}

/// A type name's text with comments removed and whitespace runs collapsed.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.find('\n').map_or("", |p| &after[p..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |p| &after[p + 2..]);
            out.push(' ');
        } else if let Some(c) = rest.chars().next() {
            out.push(if c.is_whitespace() { ' ' } else { c });
            rest = &rest[c.len_utf8()..];
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}
