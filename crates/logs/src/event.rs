//! Classification of records into events: statements (with exact execution
//! accounting), errors, auto_explain plans and everything else.

use std::borrow::Cow;

use serde::Serialize;

use crate::record::{LogRecord, Severity};

/// Protocol phase a statement line was logged for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Phase {
    /// Simple query protocol (`statement:`).
    Simple,
    /// Extended protocol Parse (`parse <name>:`).
    Parse,
    /// Extended protocol Bind (`bind <name>[/portal]:`).
    Bind,
    /// Extended protocol Execute (`execute <name>[/portal]:`).
    Execute,
}

/// How the statement reached the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Logged {
    /// `duration: X ms  statement|execute|parse|bind ...: text` (log_min_duration_statement).
    WithDuration,
    /// `statement: text` / `execute name: text` (log_statement), no duration.
    StatementOnly,
    /// A bare `duration: X ms` (log_duration) attributed to the previous
    /// `StatementOnly` line of the same process: time only, not a new execution.
    DurationOnly,
    /// `execute fetch from ...`: more rows from an already counted portal.
    Fetch,
}

/// A statement line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Statement<'a> {
    /// Duration in milliseconds when logged.
    pub duration_ms: Option<f64>,
    /// Protocol phase.
    pub phase: Phase,
    /// How it was logged.
    pub logged: Logged,
    /// Prepared statement name (`<unnamed>` for the unnamed one), with
    /// `/portal` when a named portal was used.
    pub name: Option<&'a str>,
    /// The SQL text.
    pub text: Cow<'a, str>,
    /// Parameter values from `DETAIL:  parameters: $1 = '...', $2 = NULL`
    /// (`None` is SQL NULL), in order.
    pub params: Vec<Option<Cow<'a, str>>>,
}

impl Statement<'_> {
    /// True exactly once per execution: simple statements and Execute
    /// messages, whether logged with a duration or by log_statement. Parse,
    /// Bind, attributed bare durations and fetches never count.
    pub fn counts_as_execution(&self) -> bool {
        matches!(self.phase, Phase::Simple | Phase::Execute)
            && matches!(self.logged, Logged::WithDuration | Logged::StatementOnly)
    }

    /// The duration to add to the statement's total time: Simple/Execute
    /// durations (including attributed bare ones). Parse and Bind time is
    /// returned by [`Statement::duration_ms`] only.
    pub fn execution_time_ms(&self) -> Option<f64> {
        match self.phase {
            Phase::Simple | Phase::Execute => self.duration_ms,
            Phase::Parse | Phase::Bind => None,
        }
    }
}

/// Format of an auto_explain plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PlanFormat {
    /// `auto_explain.log_format = text`.
    Text,
    /// `auto_explain.log_format = json`.
    Json,
}

/// An auto_explain block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan<'a> {
    /// Duration of the statement.
    pub duration_ms: f64,
    /// Text or JSON.
    pub format: PlanFormat,
    /// The plan (for text: without the `Query Text:` lines; for JSON: the
    /// whole JSON document).
    pub plan_text: Cow<'a, str>,
    /// The query (text `Query Text:` line, JSON `"Query Text"` key).
    pub query_text: Option<Cow<'a, str>>,
}

/// Kinds of other entries (counted cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum OtherKind {
    /// checkpoint / restartpoint messages.
    Checkpoint,
    /// connection received / authorized.
    Connection,
    /// disconnection.
    Disconnection,
    /// automatic vacuum.
    Autovacuum,
    /// automatic analyze.
    Autoanalyze,
    /// temporary file.
    TempFile,
    /// lock waits (`still waiting for`, `acquired`).
    LockWait,
    /// A bare `duration: X ms` with no statement to attribute it to.
    UnattributedDuration,
    /// WARNING / NOTICE / INFO.
    Notice,
    /// Anything else.
    Other,
}

impl OtherKind {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            OtherKind::Checkpoint => "checkpoint",
            OtherKind::Connection => "connection",
            OtherKind::Disconnection => "disconnection",
            OtherKind::Autovacuum => "autovacuum",
            OtherKind::Autoanalyze => "autoanalyze",
            OtherKind::TempFile => "temp_file",
            OtherKind::LockWait => "lock_wait",
            OtherKind::UnattributedDuration => "unattributed_duration",
            OtherKind::Notice => "notice",
            OtherKind::Other => "other",
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum EventKind<'a> {
    /// A statement line.
    Statement(Statement<'a>),
    /// ERROR, FATAL or PANIC (sqlstate, message and STATEMENT are in the record).
    Error,
    /// An auto_explain plan.
    Plan(Plan<'a>),
    /// Everything else.
    Other(OtherKind),
}

impl EventKind<'_> {
    /// A short stable name for counters.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Statement(_) => "statement",
            EventKind::Error => "error",
            EventKind::Plan(_) => "plan",
            EventKind::Other(k) => k.name(),
        }
    }
}

/// A classified record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event<'a> {
    /// The record (time, process, user, db, message, detail, ...).
    pub record: LogRecord<'a>,
    /// What it is.
    pub kind: EventKind<'a>,
}

/// Parses `duration: 1.234 ms` at the start of `m`; returns the value and the rest.
fn duration(m: &str) -> Option<(f64, &str)> {
    let r = m.strip_prefix("duration: ")?;
    let sp = r.find(' ')?;
    let v: f64 = r[..sp].parse().ok()?;
    Some((v, r[sp..].strip_prefix(" ms")?))
}

/// `name: text` → (name, text). Names never contain ": " in practice.
fn named(r: &str) -> Option<(&str, &str)> {
    let p = r.find(": ")?;
    Some((&r[..p], &r[p + 2..]))
}

fn sub<'a>(c: &Cow<'a, str>, s: &str) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(b) => {
            let off = s.as_ptr() as usize - b.as_ptr() as usize;
            Cow::Borrowed(&b[off..off + s.len()])
        }
        Cow::Owned(_) => Cow::Owned(s.to_string()),
    }
}

fn sub_name<'a>(c: &Cow<'a, str>, s: &str) -> Option<&'a str> {
    match c {
        Cow::Borrowed(b) => {
            let off = s.as_ptr() as usize - b.as_ptr() as usize;
            Some(&b[off..off + s.len()])
        }
        // An owned message (multi-line or lossy) cannot lend the name.
        Cow::Owned(_) => None,
    }
}

/// Classifies a statement-ish LOG message. Bare durations return
/// `Logged::DurationOnly` with empty text (the caller attributes them).
pub(crate) fn classify_statement<'a>(
    msg: &Cow<'a, str>,
) -> Option<Result<Statement<'a>, Plan<'a>>> {
    let m: &str = msg;
    let (dur, rest) = match duration(m) {
        Some((d, rest)) => {
            if rest.is_empty() {
                return Some(Ok(Statement {
                    duration_ms: Some(d),
                    phase: Phase::Simple,
                    logged: Logged::DurationOnly,
                    name: None,
                    text: Cow::Borrowed(""),
                    params: Vec::new(),
                }));
            }
            (Some(d), rest.strip_prefix("  ")?)
        }
        None => (None, m),
    };
    if let (Some(d), Some(p)) = (dur, rest.strip_prefix("plan:")) {
        return Some(Err(plan(msg, d, p)));
    }
    let logged = if dur.is_some() {
        Logged::WithDuration
    } else {
        Logged::StatementOnly
    };
    let mk = |phase, logged, name: Option<&str>, text: &str| Statement {
        duration_ms: dur,
        phase,
        logged,
        name: name.and_then(|n| sub_name(msg, n)),
        text: sub(msg, text),
        params: Vec::new(),
    };
    if let Some(t) = rest.strip_prefix("statement: ") {
        return Some(Ok(mk(Phase::Simple, logged, None, t)));
    }
    if let Some(r) = rest.strip_prefix("execute fetch from ") {
        let (n, t) = named(r)?;
        return Some(Ok(mk(Phase::Execute, Logged::Fetch, Some(n), t)));
    }
    for (pfx, phase) in [
        ("execute ", Phase::Execute),
        ("parse ", Phase::Parse),
        ("bind ", Phase::Bind),
    ] {
        if let Some(r) = rest.strip_prefix(pfx) {
            let (n, t) = named(r)?;
            return Some(Ok(mk(phase, logged, Some(n), t)));
        }
    }
    None
}

fn plan<'a>(msg: &Cow<'a, str>, d: f64, p: &str) -> Plan<'a> {
    let body = p.trim_start_matches(['\n', ' ']);
    if body.starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Q<'b> {
            #[serde(rename = "Query Text", borrow)]
            q: Option<Cow<'b, str>>,
        }
        let q = serde_json::from_str::<Q<'_>>(body)
            .ok()
            .and_then(|q| q.q)
            .map(|q| Cow::Owned(q.into_owned()));
        return Plan {
            duration_ms: d,
            format: PlanFormat::Json,
            plan_text: sub(msg, body),
            query_text: q,
        };
    }
    let (query, plan_text) = match body.strip_prefix("Query Text: ") {
        Some(r) => {
            // The query may span lines: it ends before the first plan node line.
            let mut end = r.len();
            let mut pos = 0;
            for line in r.split_inclusive('\n') {
                if pos > 0
                    && (line.contains("(cost=")
                        || line.contains("(actual ")
                        || line.contains("(never executed)"))
                {
                    end = pos;
                    break;
                }
                pos += line.len();
            }
            if end == r.len() {
                end = r.find('\n').unwrap_or(r.len());
            }
            (Some(sub(msg, r[..end].trim_end_matches('\n'))), &r[end..])
        }
        None => (None, body),
    };
    Plan {
        duration_ms: d,
        format: PlanFormat::Text,
        plan_text: sub(msg, plan_text.trim_start_matches('\n')),
        query_text: query,
    }
}

/// Parses `parameters: $1 = 'a''b', $2 = NULL`. Values may contain `, $2 = `.
pub fn parse_params(detail: &str) -> Option<Vec<Option<Cow<'_, str>>>> {
    let mut r = detail.strip_prefix("parameters: ")?;
    let mut out = Vec::new();
    loop {
        let d = r.strip_prefix('$')?;
        let digits = d.bytes().take_while(u8::is_ascii_digit).count();
        r = d[digits..].strip_prefix(" = ")?;
        if let Some(rest) = r.strip_prefix("NULL") {
            out.push(None);
            r = rest;
        } else {
            let body = r.strip_prefix('\'')?;
            let b = body.as_bytes();
            let mut i = 0;
            let mut escaped = false;
            loop {
                let q = i + memchr::memchr(b'\'', &b[i..])?;
                if b.get(q + 1) == Some(&b'\'') {
                    escaped = true;
                    i = q + 2;
                } else {
                    i = q;
                    break;
                }
            }
            let raw = &body[..i];
            out.push(Some(if escaped {
                Cow::Owned(raw.replace("''", "'"))
            } else {
                Cow::Borrowed(raw)
            }));
            r = &body[i + 1..];
        }
        if r.is_empty() {
            return Some(out);
        }
        r = r.strip_prefix(", ")?;
    }
}

/// Kind of a record that is neither a statement, a plan nor an error.
pub(crate) fn other_kind(sev: Option<Severity>, m: &str) -> OtherKind {
    if m.starts_with("checkpoint") || m.starts_with("restartpoint") {
        OtherKind::Checkpoint
    } else if m.starts_with("connection ") {
        OtherKind::Connection
    } else if m.starts_with("disconnection") {
        OtherKind::Disconnection
    } else if m.starts_with("automatic vacuum") || m.starts_with("automatic aggressive vacuum") {
        OtherKind::Autovacuum
    } else if m.starts_with("automatic analyze") {
        OtherKind::Autoanalyze
    } else if m.starts_with("temporary file") {
        OtherKind::TempFile
    } else if m.starts_with("process ")
        && (m.contains(" still waiting for ") || m.contains(" acquired "))
    {
        OtherKind::LockWait
    } else if matches!(
        sev,
        Some(Severity::Warning | Severity::Notice | Severity::Info)
    ) {
        OtherKind::Notice
    } else {
        OtherKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(m: &str) -> Statement<'_> {
        match classify_statement(&Cow::Borrowed(m)) {
            Some(Ok(s)) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statement_forms() {
        let s = st("duration: 0.5 ms  statement: SELECT 1");
        assert_eq!(
            (s.phase, s.duration_ms, &*s.text),
            (Phase::Simple, Some(0.5), "SELECT 1")
        );
        assert!(s.counts_as_execution());
        let s = st("duration: 1.000 ms  execute S_1/C_2: SELECT $1");
        assert_eq!((s.phase, s.name), (Phase::Execute, Some("S_1/C_2")));
        assert!(s.counts_as_execution());
        let s = st("duration: 1.000 ms  parse <unnamed>: SELECT $1");
        assert_eq!(
            (s.phase, s.name, s.counts_as_execution()),
            (Phase::Parse, Some("<unnamed>"), false)
        );
        let s = st("duration: 1.000 ms  bind <unnamed>: SELECT $1");
        assert!(!s.counts_as_execution());
        let s = st("execute P_0: SELECT 1");
        assert_eq!(
            (s.logged, s.counts_as_execution()),
            (Logged::StatementOnly, true)
        );
        let s = st("execute fetch from S_1/C_1: SELECT 1");
        assert!(!s.counts_as_execution());
        let s = st("duration: 2.5 ms");
        assert_eq!(
            (s.logged, s.counts_as_execution()),
            (Logged::DurationOnly, false)
        );
        assert!(classify_statement(&Cow::Borrowed("checkpoint starting: time")).is_none());
    }

    #[test]
    fn params_with_quotes_and_separators() {
        let p = parse_params("parameters: $1 = 'it''s, $2 = ''x''', $2 = NULL, $3 = '5'")
            .expect("params");
        assert_eq!(
            p,
            vec![
                Some(Cow::Borrowed("it's, $2 = 'x'")),
                None,
                Some(Cow::Borrowed("5"))
            ]
        );
        assert!(parse_params("parameters: $1 = 'unterminated").is_none());
        assert!(parse_params("no").is_none());
    }

    #[test]
    fn plans() {
        let m = Cow::Borrowed("duration: 1.5 ms  plan:\nQuery Text: SELECT 1\n  , 2\nResult  (cost=0.00..0.01 rows=1 width=4)");
        let Some(Err(p)) = classify_statement(&m) else {
            panic!("no plan")
        };
        assert_eq!(p.query_text.as_deref(), Some("SELECT 1\n  , 2"));
        assert!(p.plan_text.starts_with("Result"));
        let m = Cow::Borrowed(
            "duration: 1.5 ms  plan:\n{\n \"Query Text\": \"SELECT \\\"a\\\"\", \"Plan\": {}}",
        );
        let Some(Err(p)) = classify_statement(&m) else {
            panic!("no plan")
        };
        assert_eq!(
            (p.format, p.query_text.as_deref()),
            (PlanFormat::Json, Some("SELECT \"a\""))
        );
    }
}
