//! A one-pass literal-stripping scanner: the cheap front of the [`Normalizer`](crate::Normalizer).
//!
//! It follows PostgreSQL's lexical rules closely enough that two statements with the
//! same [`Scan::key`] have the same token stream apart from literal values (it errs on
//! the side of *more* distinct keys, never fewer): standard_conforming_strings is on
//! (`'a\'` ends at the second quote), `E'..'` honours backslash escapes, `''` is an
//! escaped quote, dollar quotes need the same tag to close, quoted identifiers are
//! kept verbatim, unquoted words are ASCII-lowercased (PostgreSQL folds them), `$n`
//! parameters keep their number, comments (nested `/* */` and `--`) become whitespace
//! and runs of whitespace become one space. Literal lists after `IN (` collapse to a
//! single placeholder so lists of any length share a key. Unterminated literals run
//! to the end of the input; nothing here can panic on any input.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Byte written to the key in place of one literal.
const LIT: u8 = 0x01;
/// Byte written to the key in place of a whole collapsed `IN (...)` literal list.
const LIST: u8 = 0x02;

/// What kind of token a [`Literal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiteralKind {
    /// A numeric constant (`5`, `1.5e3`, `.5`, `0x1F`, `1_000`).
    Number,
    /// A standard string `'..'` (also `N'..'`).
    String,
    /// An escape string `E'..'`.
    EscapeString,
    /// A dollar-quoted string `$$..$$` or `$tag$..$tag$`.
    DollarString,
    /// A bit string `B'..'`.
    BitString,
    /// A hexadecimal bit string `X'..'`.
    HexString,
    /// A Unicode-escape string `U&'..'` (its value is returned without unescaping).
    UnicodeString,
    /// An existing positional parameter `$n`.
    Param,
}

/// One literal found by the scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// What kind of literal it is.
    pub kind: LiteralKind,
    /// Byte range of the whole token in the scanned SQL, prefix and quotes included.
    pub span: Range<usize>,
    /// Whether the literal is an element of a collapsed `IN (...)` list.
    pub in_list: bool,
}

impl Literal {
    /// The literal's raw text, quotes and prefix included.
    pub fn raw<'a>(&self, sql: &'a str) -> &'a str {
        sql.get(self.span.clone()).unwrap_or("")
    }

    /// The literal's value as PostgreSQL would see it (quotes removed, `''` and
    /// `E'..'` escapes resolved; `X'1F'` becomes `x1F`, which the bit type accepts).
    pub fn value<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        let raw = self.raw(sql);
        match self.kind {
            LiteralKind::Number | LiteralKind::Param => Cow::Borrowed(raw),
            LiteralKind::String | LiteralKind::BitString | LiteralKind::UnicodeString => {
                quoted_value(strip_prefix(raw), false)
            }
            LiteralKind::HexString => {
                Cow::Owned(format!("x{}", quoted_value(strip_prefix(raw), false)))
            }
            LiteralKind::EscapeString => quoted_value(strip_prefix(raw), true),
            LiteralKind::DollarString => Cow::Borrowed(dollar_body(raw)),
        }
    }
}

/// The result of scanning one statement; reuse it with [`scan_into`] to avoid allocation.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The cache key: the statement with literals replaced by placeholder bytes,
    /// comments dropped, whitespace collapsed and unquoted words lowercased.
    pub key: Vec<u8>,
    /// `xxh3` hash of [`Scan::key`].
    pub hash: u64,
    /// Every literal (and `$n` parameter) in order of appearance.
    pub literals: Vec<Literal>,
    /// Lengths of the collapsed `IN (...)` lists, in order of appearance.
    pub lists: Vec<u32>,
    /// Whether the statement contains `$n` parameters.
    pub has_params: bool,
}

impl Scan {
    /// The values of all literals in order (parameters appear as `$n`).
    pub fn values(&self, sql: &str) -> Vec<String> {
        self.literals
            .iter()
            .map(|l| l.value(sql).into_owned())
            .collect()
    }

    fn clear(&mut self) {
        self.key.clear();
        self.literals.clear();
        self.lists.clear();
        self.has_params = false;
        self.hash = 0;
    }
}

/// Scans `sql` into a fresh [`Scan`].
pub fn scan(sql: &str) -> Scan {
    let mut out = Scan::default();
    scan_into(sql, &mut out);
    out
}

/// Where the `IN (` list detector is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListState {
    /// Not in a candidate list.
    Idle,
    /// The last word was `in`.
    AfterIn,
    /// After `(` or `,`: a literal (optionally signed) must follow.
    ExpectLiteral,
    /// After a sign inside the list.
    AfterSign,
    /// After a literal: `,` or `)` must follow.
    AfterLiteral,
}

/// Scans `sql` into `out`, reusing its buffers.
pub fn scan_into(sql: &str, out: &mut Scan) {
    out.clear();
    let b = sql.as_bytes();
    let n = b.len();
    let mut i = 0;
    let mut pending_space = false;
    let mut list = ListState::Idle;
    let mut list_key_start = 0usize;
    let mut list_lit_start = 0usize;

    while i < n {
        let c = b[i];
        // Whitespace and comments.
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            pending_space = true;
            i += 1;
            continue;
        }
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            while i < n && b[i] != b'\n' {
                i += 1;
            }
            pending_space = true;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i = skip_block_comment(b, i);
            pending_space = true;
            continue;
        }
        if pending_space && !out.key.is_empty() {
            out.key.push(b' ');
        }
        pending_space = false;

        let start = i;
        let lit_kind = literal_start(b, i);
        if let Some((kind, end)) = lit_kind {
            if kind == LiteralKind::Param {
                out.has_params = true;
                out.key.extend_from_slice(&b[start..end]);
                list = ListState::Idle;
            } else {
                // Keep a prefix letter so `N'x'` (a bpchar cast) never shares a key with `'x'`.
                match kind {
                    LiteralKind::EscapeString => out.key.push(b'e'),
                    LiteralKind::BitString => out.key.push(b'b'),
                    LiteralKind::HexString => out.key.push(b'x'),
                    LiteralKind::UnicodeString => out.key.push(b'u'),
                    LiteralKind::String if matches!(b[start], b'n' | b'N') => out.key.push(b'n'),
                    _ => {}
                }
                out.key.push(LIT);
                list = match list {
                    ListState::ExpectLiteral | ListState::AfterSign => ListState::AfterLiteral,
                    _ => ListState::Idle,
                };
            }
            out.literals.push(Literal {
                kind,
                span: start..end,
                in_list: false,
            });
            i = end;
            continue;
        }
        if c == b'"' {
            i = skip_quoted_ident(b, i);
            out.key.extend_from_slice(&b[start..i]);
            list = ListState::Idle;
            continue;
        }
        if is_ident_start(c) {
            i += 1;
            while i < n && is_ident_cont(b[i]) {
                i += 1;
            }
            let word = &b[start..i];
            out.key.extend(word.iter().map(u8::to_ascii_lowercase));
            list = if word.eq_ignore_ascii_case(b"in") {
                ListState::AfterIn
            } else {
                ListState::Idle
            };
            continue;
        }
        // Punctuation and operators, one byte at a time.
        out.key.push(c);
        i += 1;
        list = match (list, c) {
            (ListState::AfterIn, b'(') => {
                list_key_start = out.key.len();
                list_lit_start = out.literals.len();
                ListState::ExpectLiteral
            }
            (ListState::ExpectLiteral, b'-' | b'+') => ListState::AfterSign,
            (ListState::AfterLiteral, b',') => ListState::ExpectLiteral,
            (ListState::AfterLiteral, b')') => {
                out.key.truncate(list_key_start);
                out.key.push(LIST);
                out.key.push(b')');
                let count = out.literals.len() - list_lit_start;
                for lit in &mut out.literals[list_lit_start..] {
                    lit.in_list = true;
                }
                out.lists.push(u32::try_from(count).unwrap_or(u32::MAX));
                ListState::Idle
            }
            _ => ListState::Idle,
        };
    }
    out.hash = xxhash_rust::xxh3::xxh3_64(&out.key);
}

/// Whether `c` can start an unquoted identifier or keyword.
fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

/// Whether `c` can continue an unquoted identifier (PostgreSQL allows `$` after the first byte).
fn is_ident_cont(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// End of the identifier (unquoted, or a quoted `"…"` one) starting at `i`.
pub(crate) fn ident_end(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => Some(skip_quoted_ident(b, i)),
        c if is_ident_start(c) => {
            Some(i + 1 + b[i + 1..].iter().take_while(|&&c| is_ident_cont(c)).count())
        }
        _ => None,
    }
}

/// If a literal or `$n` parameter starts at `i`, its kind and end offset.
fn literal_start(b: &[u8], i: usize) -> Option<(LiteralKind, usize)> {
    let c = b[i];
    let next = b.get(i + 1).copied();
    match c {
        b'\'' => Some((LiteralKind::String, skip_string(b, i, false))),
        b'0'..=b'9' => Some((LiteralKind::Number, skip_number(b, i))),
        b'.' if next.is_some_and(|d| d.is_ascii_digit()) => {
            Some((LiteralKind::Number, skip_number(b, i)))
        }
        b'$' => {
            if next.is_some_and(|d| d.is_ascii_digit()) {
                let mut j = i + 1;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                Some((LiteralKind::Param, j))
            } else {
                dollar_tag_len(b, i).map(|tag| (LiteralKind::DollarString, skip_dollar(b, i, tag)))
            }
        }
        b'e' | b'E' if next == Some(b'\'') => {
            Some((LiteralKind::EscapeString, skip_string(b, i + 1, true)))
        }
        b'b' | b'B' if next == Some(b'\'') => {
            Some((LiteralKind::BitString, skip_string(b, i + 1, false)))
        }
        b'x' | b'X' if next == Some(b'\'') => {
            Some((LiteralKind::HexString, skip_string(b, i + 1, false)))
        }
        b'n' | b'N' if next == Some(b'\'') => {
            Some((LiteralKind::String, skip_string(b, i + 1, false)))
        }
        b'u' | b'U' if next == Some(b'&') && b.get(i + 2) == Some(&b'\'') => {
            Some((LiteralKind::UnicodeString, skip_string(b, i + 2, false)))
        }
        _ => None,
    }
}

/// End of a `/* */` comment starting at `i` (comments nest); the input end if unterminated.
fn skip_block_comment(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth = depth.saturating_sub(1);
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// End of a `'..'` string whose opening quote is at `i`, including continuation
/// segments (`'a'` newline `'b'` is one literal in PostgreSQL).
fn skip_string(b: &[u8], i: usize, backslash: bool) -> usize {
    let mut end = skip_one_quoted(b, i, b'\'', backslash);
    loop {
        // A continuation needs whitespace containing a newline, then a quote.
        let mut j = end;
        let mut newline = false;
        while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            newline |= b[j] == b'\n' || b[j] == b'\r';
            j += 1;
        }
        if newline && b.get(j) == Some(&b'\'') {
            end = skip_one_quoted(b, j, b'\'', backslash);
        } else {
            return end;
        }
    }
}

/// End of one quoted segment (`q` doubled is an escaped quote); input end if unterminated.
fn skip_one_quoted(b: &[u8], i: usize, q: u8, backslash: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        let c = b[j];
        if backslash && c == b'\\' {
            j += 2;
        } else if c == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// End of a quoted identifier starting at `i`.
fn skip_quoted_ident(b: &[u8], i: usize) -> usize {
    skip_one_quoted(b, i, b'"', false)
}

/// End of a numeric literal starting at `i` (decimal, exponent, `0x`/`0o`/`0b`, `_` separators).
fn skip_number(b: &[u8], i: usize) -> usize {
    let n = b.len();
    let mut j = i;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
        j = i + 2;
        while j < n && (b[j].is_ascii_hexdigit() || b[j] == b'_') {
            j += 1;
        }
        return j;
    }
    while j < n && (b[j].is_ascii_digit() || b[j] == b'_') {
        j += 1;
    }
    // A `..` is not a decimal point (never valid SQL, but keep the scan faithful).
    if j < n && b[j] == b'.' && b.get(j + 1) != Some(&b'.') {
        j += 1;
        while j < n && (b[j].is_ascii_digit() || b[j] == b'_') {
            j += 1;
        }
    }
    if j < n && matches!(b[j], b'e' | b'E') {
        let mut k = j + 1;
        if k < n && matches!(b[k], b'+' | b'-') {
            k += 1;
        }
        if k < n && b[k].is_ascii_digit() {
            while k < n && b[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    j
}

/// Length of a dollar-quote opening tag (`$$` or `$tag$`) at `i`, if one starts there.
fn dollar_tag_len(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if b.get(j) == Some(&b'$') {
        return Some(2);
    }
    if !b
        .get(j)
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80)
    {
        return None;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1 - i)
}

/// End of a dollar-quoted string whose `tag_len`-byte tag starts at `i`.
fn skip_dollar(b: &[u8], i: usize, tag_len: usize) -> usize {
    let tag = &b[i..i + tag_len];
    let body = i + tag_len;
    b[body..]
        .windows(tag_len)
        .position(|w| w == tag)
        .map_or(b.len(), |p| body + p + tag_len)
}

/// `raw` without its `E`/`B`/`X`/`N`/`U&` prefix.
fn strip_prefix(raw: &str) -> &str {
    raw.find('\'').and_then(|p| raw.get(p..)).unwrap_or(raw)
}

/// The body of a dollar-quoted string.
fn dollar_body(raw: &str) -> &str {
    let b = raw.as_bytes();
    let Some(tag) = dollar_tag_len(b, 0) else {
        return raw;
    };
    let end = if raw.len() >= 2 * tag && raw.get(raw.len() - tag..) == raw.get(..tag) {
        raw.len() - tag
    } else {
        raw.len() // unterminated: the rest is the body
    };
    raw.get(tag..end).unwrap_or("")
}

/// The value of a run of `'..'` segments (continuations joined); `backslash` resolves
/// `E'..'` escapes. Unterminated input yields everything after the opening quote.
fn quoted_value(raw: &str, backslash: bool) -> Cow<'_, str> {
    let simple = !(raw.contains("''") || (backslash && raw.contains('\\')));
    if simple && raw.len() >= 2 && raw.ends_with('\'') && raw[1..raw.len() - 1].find('\'').is_none()
    {
        return Cow::Borrowed(&raw[1..raw.len() - 1]);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    let mut inside = false;
    while let Some(c) = chars.next() {
        if !inside {
            if c == '\'' {
                inside = true;
            }
            continue;
        }
        match c {
            '\'' if chars.peek() == Some(&'\'') => {
                chars.next();
                out.push('\'');
            }
            '\'' => inside = false,
            '\\' if backslash => unescape_one(&mut chars, &mut out),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Resolves one backslash escape of an `E'..'` string (the backslash is consumed).
fn unescape_one(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    let Some(c) = chars.next() else { return };
    let radix_digits = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                        radix: u32,
                        max: usize,
                        first: Option<char>| {
        let mut v = first.and_then(|f| f.to_digit(radix)).unwrap_or(0);
        let mut count = usize::from(first.is_some());
        while count < max {
            match chars.peek().and_then(|d| d.to_digit(radix)) {
                Some(d) => {
                    v = v.saturating_mul(radix).saturating_add(d);
                    chars.next();
                    count += 1;
                }
                None => break,
            }
        }
        v
    };
    match c {
        'n' => out.push('\n'),
        't' => out.push('\t'),
        'r' => out.push('\r'),
        'b' => out.push('\u{8}'),
        'f' => out.push('\u{c}'),
        '0'..='7' => {
            let v = radix_digits(chars, 8, 3, Some(c));
            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        }
        'x' => {
            let v = radix_digits(chars, 16, 2, None);
            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        }
        'u' => {
            let v = radix_digits(chars, 16, 4, None);
            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        }
        'U' => {
            let v = radix_digits(chars, 16, 8, None);
            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        }
        other => out.push(other),
    }
}

/// A readable normalized form from the scanner alone (used when PostgreSQL's parser
/// rejects the statement): literals become `$1`, `$2`, … in order, comments are
/// dropped, whitespace collapsed; case is kept. Existing `$n` stay as they are.
pub fn scanner_normalize(sql: &str) -> String {
    let scan = scan(sql);
    let mut out = String::with_capacity(sql.len());
    let mut next = scan
        .literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .count()
        + 1;
    let mut pos = 0;
    for lit in &scan.literals {
        push_collapsed(&mut out, sql.get(pos..lit.span.start).unwrap_or(""));
        if lit.kind == LiteralKind::Param {
            out.push_str(lit.raw(sql));
        } else {
            out.push('$');
            out.push_str(&next.to_string());
            next += 1;
        }
        pos = lit.span.end;
    }
    push_collapsed(&mut out, sql.get(pos..).unwrap_or(""));
    out.trim().to_string()
}

/// Appends `text` (never containing literals) with comments dropped and whitespace collapsed.
fn push_collapsed(out: &mut String, text: &str) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut seg = 0;
    let mut space = false;
    let flush = |out: &mut String, from: usize, to: usize, space: &mut bool| {
        if from < to {
            if *space && !out.is_empty() && !out.ends_with(' ') {
                out.push(' ');
            }
            *space = false;
            out.push_str(text.get(from..to).unwrap_or(""));
        }
    };
    while i < b.len() {
        let c = b[i];
        let skip_to = if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            Some(i + 1)
        } else if c == b'-' && b.get(i + 1) == Some(&b'-') {
            Some(
                b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p),
            )
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            Some(skip_block_comment(b, i))
        } else if c == b'"' {
            i = skip_quoted_ident(b, i);
            continue;
        } else {
            None
        };
        match skip_to {
            Some(to) => {
                flush(out, seg, i, &mut space);
                space = true;
                i = to;
                seg = to;
            }
            None => i += 1,
        }
    }
    flush(out, seg, b.len(), &mut space);
    if space && !out.is_empty() && !out.ends_with(' ') {
        out.push(' ');
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
