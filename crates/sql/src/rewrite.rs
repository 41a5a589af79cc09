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
//! Placeholders are renumbered `$1..$n` keeping libpg_query's relative order.

use std::ops::Range;

use crate::scan::{Literal, LiteralKind, Scan};
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
    /// Source of `$1..$n` (empty when the statement has `$n` parameters of its own).
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
    let has_params = literals.iter().any(|l| l.kind == LiteralKind::Param);
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
                if k == 0 || k > 65_535 {
                    return None;
                }
                if slots.len() < k {
                    slots.resize(k, None);
                }
                slots[k - 1] = Some(slot);
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
    let slots: Option<Box<[Slot]>> = if has_params {
        Some(Box::new([]))
    } else {
        slots
            .into_iter()
            .collect::<Option<Vec<Slot>>>()
            .map(Vec::into_boxed_slice)
    };
    Some(Aligned {
        slots: slots?,
        replaced,
        tokens,
        marks: mapped,
    })
}

/// What the parser replaced at byte `i` of the original: the literal `literals[next]`
/// (possibly with a folded `-` sign before it, or from inside it after an `N` prefix),
/// or a `true` / `false` / `null` keyword. Returns the slot and the end of the replaced text.
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
    let word_len = o[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = std::str::from_utf8(&o[i..i + word_len])
        .ok()?
        .to_ascii_lowercase();
    let after = o.get(i + word_len).copied();
    if matches!(word.as_str(), "true" | "false" | "null")
        && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return Some((Slot::Keyword(word.into()), i + word_len));
    }
    None
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
        let elems: Option<Vec<Slot>> = toks.iter().map(|t| a.slots.get(t.k - 1).cloned()).collect();
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
    // New numbers follow the old ones' order.
    let mut olds: Vec<usize> = all.iter().map(|e| e.1).collect();
    olds.sort_unstable();
    let new_k = |old: usize| olds.binary_search(&old).map(|i| i + 1).unwrap_or(0);
    let mut slots: Vec<Option<Slot>> = vec![None; olds.len()];
    let mut out = String::with_capacity(normalized.len());
    let mut pos = 0;
    for (range, old, edit) in &all {
        out.push_str(normalized.get(pos..range.start)?);
        let k = new_k(*old);
        let slot = slots.get_mut(k.checked_sub(1)?)?;
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
                *slot = a.slots.get(old - 1).cloned();
            }
            Edit::Param => {
                out.push('$');
                out.push_str(&k.to_string());
                *slot = a.slots.get(old - 1).cloned();
            }
        }
        pos = range.end;
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
