//! csvlog and jsonlog readers (sequential per input; each row is one entry).

use std::borrow::Cow;

use crate::classify::{Classifier, NoLookup};
use crate::record::{Counters, LogRecord, Severity, SkipReason};
use crate::time::parse_pg_time;
use crate::EventSink;

/// Splits one CSV record starting at `pos`; fills `fields` with (start, end,
/// has_escaped_quotes). Returns the position after the record.
fn csv_record(b: &[u8], mut pos: usize, fields: &mut Vec<(usize, usize, bool)>) -> Option<usize> {
    fields.clear();
    loop {
        if b.get(pos) == Some(&b'"') {
            let start = pos + 1;
            let mut i = start;
            let mut esc = false;
            loop {
                let q = i + memchr::memchr(b'"', b.get(i..)?)?;
                if b.get(q + 1) == Some(&b'"') {
                    esc = true;
                    i = q + 2;
                } else {
                    fields.push((start, q, esc));
                    pos = q + 1;
                    break;
                }
            }
        } else {
            let end = pos + memchr::memchr2(b',', b'\n', &b[pos..]).unwrap_or(b.len() - pos);
            fields.push((pos, end, false));
            pos = end;
        }
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'\n') => return Some(pos + 1),
            Some(b'\r') if b.get(pos + 1) == Some(&b'\n') => return Some(pos + 2),
            None => return Some(pos),
            Some(_) => return None,
        }
    }
}

pub(crate) fn parse_csv<S: EventSink>(
    text: &str,
    base: u64,
    input: u32,
    sink: &mut S,
    c: &mut Counters,
) {
    let b = text.as_bytes();
    let mut cl = Classifier::new(input, base);
    let mut fields = Vec::with_capacity(26);
    let mut pos = 0;
    while pos < b.len() {
        let lines_in = |s: usize, e: usize| {
            1 + memchr::memchr_iter(b'\n', &b[s..e.saturating_sub(1).max(s)]).count() as u64
        };
        match csv_record(b, pos, &mut fields) {
            Some(next) if fields.len() >= 23 => {
                c.lines_read += lines_in(pos, next);
                let get = |i: usize| -> Option<Cow<'_, str>> {
                    let &(s, e, esc) = fields.get(i)?;
                    let v = text.get(s..e)?;
                    if v.is_empty() {
                        None
                    } else if esc {
                        Some(Cow::Owned(v.replace("\"\"", "\"")))
                    } else {
                        Some(Cow::Borrowed(v))
                    }
                };
                let borrowed = |i: usize| match get(i) {
                    Some(Cow::Borrowed(s)) => Some(s),
                    _ => None,
                };
                let time = get(0).and_then(|t| parse_pg_time(&t));
                if time.is_some_and(|t| !t.1) {
                    c.unknown_timezones += 1;
                }
                let rec = LogRecord {
                    input,
                    offset: base + pos as u64,
                    time_us: time.map(|t| t.0),
                    pid: get(3).and_then(|p| p.parse().ok()),
                    session_id: borrowed(5),
                    line_num: get(6).and_then(|p| p.parse().ok()),
                    user: borrowed(1),
                    db: borrowed(2),
                    app: borrowed(22),
                    client: borrowed(4).map(|h| h.rsplit_once(':').map_or(h, |x| x.0)),
                    severity: get(11).and_then(|s| Severity::parse(&s)),
                    sqlstate: borrowed(12),
                    query_id: get(25).and_then(|p| p.parse().ok()),
                    backend_type: borrowed(23),
                    message: get(13).unwrap_or(Cow::Borrowed("")),
                    detail: get(14),
                    hint: get(15),
                    context: get(18),
                    statement: get(19),
                    internal_query: get(16),
                };
                cl.classify(rec, pos, &NoLookup, sink, c);
                pos = next;
            }
            _ => {
                // Skip one physical line and try again from the next.
                let next = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |p| pos + p + 1);
                c.lines_read += 1;
                c.skip(SkipReason::BadCsvRow);
                pos = next;
            }
        }
    }
}

/// A JSON string borrowed from the line when it has no escapes. serde only
/// borrows a `Cow` that is a field's whole type, not one inside an `Option`, so
/// the `Cow` is wrapped.
#[derive(serde::Deserialize)]
struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(serde::Deserialize)]
struct JsonRow<'a> {
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<Borrowed<'a>>,
    #[serde(borrow)]
    dbname: Option<Borrowed<'a>>,
    pid: Option<u32>,
    #[serde(borrow)]
    remote_host: Option<Borrowed<'a>>,
    #[serde(borrow)]
    session_id: Option<Borrowed<'a>>,
    line_num: Option<u64>,
    #[serde(borrow)]
    error_severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    state_code: Option<Borrowed<'a>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    detail: Option<Cow<'a, str>>,
    #[serde(borrow)]
    hint: Option<Cow<'a, str>>,
    #[serde(borrow)]
    internal_query: Option<Cow<'a, str>>,
    #[serde(borrow)]
    context: Option<Cow<'a, str>>,
    #[serde(borrow)]
    statement: Option<Cow<'a, str>>,
    #[serde(borrow)]
    application_name: Option<Borrowed<'a>>,
    #[serde(borrow)]
    backend_type: Option<Borrowed<'a>>,
    query_id: Option<i64>,
}

/// The borrowed text of a name field; a name written with JSON escapes (rare:
/// quotes or control characters in it) cannot be lent and is left out.
fn lend(c: Option<Borrowed<'_>>) -> Option<&str> {
    match c.map(|b| b.0) {
        Some(Cow::Borrowed(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

pub(crate) fn parse_json<S: EventSink>(
    text: &str,
    base: u64,
    input: u32,
    sink: &mut S,
    c: &mut Counters,
) {
    let mut cl = Classifier::new(input, base);
    let mut pos = 0;
    while pos < text.len() {
        let (line, next) = crate::stderr::next_line(text, pos);
        c.lines_read += 1;
        if line.trim().is_empty() {
            c.skip(SkipReason::Empty);
        } else {
            match serde_json::from_str::<JsonRow<'_>>(line) {
                Ok(r) if r.message.is_some() && r.timestamp.is_some() => {
                    let time = r.timestamp.as_deref().and_then(parse_pg_time);
                    if time.is_some_and(|t| !t.1) {
                        c.unknown_timezones += 1;
                    }
                    let rec = LogRecord {
                        input,
                        offset: base + pos as u64,
                        time_us: time.map(|t| t.0),
                        pid: r.pid,
                        session_id: lend(r.session_id),
                        line_num: r.line_num,
                        user: lend(r.user),
                        db: lend(r.dbname),
                        app: lend(r.application_name),
                        client: lend(r.remote_host),
                        severity: r.error_severity.as_deref().and_then(Severity::parse),
                        sqlstate: lend(r.state_code),
                        query_id: r.query_id,
                        backend_type: lend(r.backend_type),
                        message: r.message.unwrap_or(Cow::Borrowed("")),
                        detail: r.detail,
                        hint: r.hint,
                        context: r.context,
                        statement: r.statement,
                        internal_query: r.internal_query,
                    };
                    cl.classify(rec, pos, &NoLookup, sink, c);
                }
                _ => c.skip(SkipReason::BadJson),
            }
        }
        pos = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_and_newlines() {
        let mut f = Vec::new();
        let s = b"a,\"b \"\"q\"\"\nc\",,d\nnext";
        let next = csv_record(s, 0, &mut f).expect("record");
        assert_eq!(f.len(), 4);
        assert!(f[1].2);
        assert_eq!(&s[next..], b"next");
        assert!(csv_record(b"\"open", 0, &mut f).is_none());
    }
}
