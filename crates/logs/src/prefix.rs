//! `log_line_prefix` compiled into a hand-written matcher over the line, and
//! detection of the prefix from the first lines of a file.

use crate::error::LogError;
use crate::record::Severity;
use crate::time::{parse_epoch, parse_pg_time};

/// One `%` escape of `log_line_prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    App,
    User,
    Db,
    RemoteHostPort,
    Host,
    BackendType,
    Pid,
    LeaderPid,
    TimeSec,
    TimeMs,
    Epoch,
    CmdTag,
    SqlState,
    Session,
    LineNum,
    SessionStart,
    Vxid,
    Xid,
    StopIfNoSession,
    QueryId,
    /// Not a PostgreSQL escape: anything up to the severity (heuristic prefixes).
    Skip,
}

#[derive(Debug, Clone)]
enum Tok {
    Lit(String),
    Esc { esc: Esc, padded: bool },
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone)]
pub struct Prefix {
    text: String,
    toks: Vec<Tok>,
}

/// The fields a prefix gave for one line; all borrow the line.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PrefixFields<'a> {
    pub time_us: Option<i64>,
    pub zone_known: bool,
    pub pid: Option<u32>,
    pub session_id: Option<&'a str>,
    pub line_num: Option<u64>,
    pub user: Option<&'a str>,
    pub db: Option<&'a str>,
    pub app: Option<&'a str>,
    pub client: Option<&'a str>,
    pub sqlstate: Option<&'a str>,
    pub query_id: Option<i64>,
    pub backend_type: Option<&'a str>,
}

/// The part of an entry after the prefix: `SEVERITY:  text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Primary(Severity),
    Detail,
    Hint,
    Context,
    Statement,
    Query,
    Location,
}

impl Level {
    pub(crate) fn is_primary(self) -> bool {
        matches!(self, Level::Primary(_))
    }
}

/// Parses `WORD:  ` at the start of `s`; returns the level and the byte length
/// consumed (including the two spaces).
pub(crate) fn parse_level(s: &str) -> Option<(Level, usize)> {
    let b = s.as_bytes();
    let n = b
        .iter()
        .take(10)
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .count();
    if n == 0
        || b.get(n) != Some(&b':')
        || b.get(n + 1) != Some(&b' ')
        || b.get(n + 2) != Some(&b' ')
    {
        return None;
    }
    let w = s.get(..n)?;
    let lvl = match w {
        "DETAIL" => Level::Detail,
        "HINT" => Level::Hint,
        "CONTEXT" => Level::Context,
        "STATEMENT" => Level::Statement,
        "QUERY" => Level::Query,
        "LOCATION" => Level::Location,
        _ => Level::Primary(Severity::parse(w)?),
    };
    Some((lvl, n + 3))
}

/// Position of the first `SEVERITY:  ` at or after `from`.
fn find_level(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut at = from;
    while let Some(rel) = memchr::memmem::find(b.get(at..)?, b":  ") {
        let colon = at + rel;
        let start = b[..colon]
            .iter()
            .rposition(|c| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
            .map_or(0, |p| p + 1);
        if start >= from && parse_level(s.get(start..)?).is_some() {
            return Some(start);
        }
        at = colon + 1;
    }
    None
}

/// Prefixes tried by detection, most specific first.
pub const KNOWN_PREFIXES: &[&str] = &[
    "%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%m [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
    "%t [%p]: [%l-1] user=%u,db=%d ",
    "%m [%p]: [%l-1] user=%u,db=%d ",
    "%t [%p]: [%l-1] ",
    "%m [%p]: [%l-1] ",
    "%t [%p]: ",
    "%m [%p] ",
    "%t [%p] ",
    "%m [%p] %q%u@%d ",
    "%t [%p] %q%u@%d ",
    "%m [%p-%l] %q%u@%d ",
    "%t [%p-%l] %q%u@%d ",
    "%t:%r:%u@%d:[%p]:",
    "%m:%r:%u@%d:[%p]:",
    "%m %c ",
    "%t %c ",
];

impl Prefix {
    /// Compiles a `log_line_prefix` as in postgresql.conf. It must contain a
    /// time escape (`%t`, `%m` or `%n`) and `%p` or `%c`.
    pub fn new(text: &str) -> Result<Prefix, LogError> {
        let bad = |reason| LogError::BadPrefix {
            prefix: text.to_string(),
            reason,
        };
        let mut toks = Vec::new();
        let mut lit = String::new();
        let mut it = text.chars().peekable();
        while let Some(c) = it.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            let mut padded = false;
            while let Some(&p) = it.peek() {
                if p == '-' || p.is_ascii_digit() {
                    padded = true;
                    it.next();
                } else {
                    break;
                }
            }
            let e = match it.next() {
                Some('%') => {
                    lit.push('%');
                    continue;
                }
                Some('a') => Esc::App,
                Some('u') => Esc::User,
                Some('d') => Esc::Db,
                Some('r') => Esc::RemoteHostPort,
                Some('h') => Esc::Host,
                Some('b') => Esc::BackendType,
                Some('p') => Esc::Pid,
                Some('P') => Esc::LeaderPid,
                Some('t') => Esc::TimeSec,
                Some('m') => Esc::TimeMs,
                Some('n') => Esc::Epoch,
                Some('i') => Esc::CmdTag,
                Some('e') => Esc::SqlState,
                Some('c') => Esc::Session,
                Some('l') => Esc::LineNum,
                Some('s') => Esc::SessionStart,
                Some('v') => Esc::Vxid,
                Some('x') => Esc::Xid,
                Some('q') => Esc::StopIfNoSession,
                Some('Q') => Esc::QueryId,
                Some('*') => Esc::Skip,
                // PostgreSQL prints nothing for unknown escapes.
                Some(_) => continue,
                None => return Err(bad("ends with a lone %")),
            };
            if !lit.is_empty() {
                toks.push(Tok::Lit(std::mem::take(&mut lit)));
            }
            toks.push(Tok::Esc { esc: e, padded });
        }
        if !lit.is_empty() {
            toks.push(Tok::Lit(lit));
        }
        let has = |f: &dyn Fn(Esc) -> bool| {
            toks.iter()
                .any(|t| matches!(t, Tok::Esc { esc, .. } if f(*esc)))
        };
        if !has(&|e| matches!(e, Esc::TimeSec | Esc::TimeMs | Esc::Epoch)) {
            return Err(bad("needs a time escape (%t, %m or %n)"));
        }
        if !has(&|e| matches!(e, Esc::Pid | Esc::Session)) {
            return Err(bad("needs %p or %c"));
        }
        Ok(Prefix {
            text: text.to_string(),
            toks,
        })
    }

    /// The prefix as given (`%*` marks "anything up to the severity").
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Matches the prefix at the start of `line`; returns the fields and the
    /// byte offset where `SEVERITY:  ` starts.
    pub(crate) fn parse<'a>(&self, line: &'a str) -> Option<(PrefixFields<'a>, usize)> {
        let b = line.as_bytes();
        let mut f = PrefixFields::default();
        let mut i = 0usize;
        for (k, tok) in self.toks.iter().enumerate() {
            match tok {
                Tok::Lit(l) => {
                    if !b.get(i..)?.starts_with(l.as_bytes()) {
                        return None;
                    }
                    i += l.len();
                }
                Tok::Esc { esc, padded } => {
                    if *esc == Esc::StopIfNoSession {
                        if parse_level(line.get(i..)?).is_some() {
                            return Some((f, i));
                        }
                        continue;
                    }
                    let end = self.value_end(line, i, k, *esc, *padded)?;
                    let raw = line.get(i..end)?;
                    let v = if *padded { raw.trim() } else { raw };
                    self.store(&mut f, *esc, v)?;
                    i = end;
                }
            }
        }
        Some((f, i))
    }

    /// Where the value of escape number `k` (starting at `i`) ends.
    fn value_end(&self, s: &str, i: usize, k: usize, esc: Esc, padded: bool) -> Option<usize> {
        let b = s.as_bytes();
        let rest = b.get(i..)?;
        if !padded {
            let fixed = match esc {
                Esc::Pid | Esc::LineNum | Esc::Xid | Esc::LeaderPid => {
                    Some(rest.iter().take_while(|c| c.is_ascii_digit()).count())
                }
                Esc::QueryId => {
                    let neg = usize::from(rest.first() == Some(&b'-'));
                    Some(
                        neg + rest[neg..]
                            .iter()
                            .take_while(|c| c.is_ascii_digit())
                            .count(),
                    )
                }
                Esc::Epoch => Some(
                    rest.iter()
                        .take_while(|c| c.is_ascii_digit() || **c == b'.')
                        .count(),
                ),
                Esc::Session => Some(
                    rest.iter()
                        .take_while(|c| c.is_ascii_hexdigit() || **c == b'.')
                        .count(),
                ),
                Esc::SqlState => Some(
                    rest.iter()
                        .take(5)
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .count(),
                ),
                Esc::TimeMs | Esc::TimeSec | Esc::SessionStart => {
                    let n = if esc == Esc::TimeMs { 23 } else { 19 };
                    if rest.len() <= n || rest[n] != b' ' {
                        return if esc == Esc::SessionStart {
                            self.free_end(s, i, k)
                        } else {
                            None
                        };
                    }
                    let z = rest[n + 1..]
                        .iter()
                        .take_while(|c| {
                            c.is_ascii_alphanumeric()
                                || matches!(**c, b'+' | b'-' | b':' | b'/' | b'_')
                        })
                        .count();
                    Some(n + 1 + z)
                }
                _ => None,
            };
            if let Some(n) = fixed {
                return Some(i + n);
            }
        }
        self.free_end(s, i, k)
    }

    /// Free text: up to the next literal, or the severity if none follows.
    fn free_end(&self, s: &str, i: usize, k: usize) -> Option<usize> {
        let b = s.as_bytes();
        match self.toks.get(k + 1) {
            Some(Tok::Lit(l)) if k + 2 == self.toks.len() => {
                // The last literal: take the occurrence followed by a severity,
                // so values may contain the literal (an app name with spaces).
                let mut at = i;
                loop {
                    let p = at + memchr::memmem::find(b.get(at..)?, l.as_bytes())?;
                    if parse_level(s.get(p + l.len()..)?).is_some() {
                        return Some(p);
                    }
                    at = p + 1;
                }
            }
            Some(Tok::Lit(l)) => memchr::memmem::find(b.get(i..)?, l.as_bytes()).map(|p| i + p),
            Some(Tok::Esc {
                esc: Esc::StopIfNoSession,
                ..
            })
            | None => find_level(s, i),
            Some(Tok::Esc { .. }) => Some(i + b[i..].iter().take_while(|c| **c != b' ').count()),
        }
    }

    fn store<'a>(&self, f: &mut PrefixFields<'a>, esc: Esc, v: &'a str) -> Option<()> {
        let opt = |v: &'a str| if v.is_empty() { None } else { Some(v) };
        match esc {
            Esc::App => f.app = opt(v),
            Esc::User => f.user = opt(v),
            Esc::Db => f.db = opt(v),
            Esc::Host => f.client = opt(v),
            Esc::RemoteHostPort => {
                let host = match v.rfind('(') {
                    Some(p) if v.ends_with(')') => &v[..p],
                    _ => v,
                };
                f.client = opt(host);
            }
            Esc::BackendType => f.backend_type = opt(v),
            Esc::Pid => f.pid = Some(v.parse().ok()?),
            Esc::LeaderPid
            | Esc::Xid
            | Esc::Vxid
            | Esc::CmdTag
            | Esc::Skip
            | Esc::StopIfNoSession => {}
            Esc::SessionStart => {}
            Esc::TimeMs | Esc::TimeSec => {
                let (t, known) = parse_pg_time(v)?;
                f.time_us = Some(t);
                f.zone_known = known;
            }
            Esc::Epoch => {
                f.time_us = Some(parse_epoch(v)?);
                f.zone_known = true;
            }
            Esc::SqlState => f.sqlstate = opt(v),
            Esc::Session => f.session_id = opt(v),
            Esc::LineNum => f.line_num = v.parse().ok(),
            Esc::QueryId => f.query_id = v.parse().ok(),
        }
        Some(())
    }

    /// Parses a full line: prefix then `SEVERITY:  `. Returns the fields, the
    /// level and the offset of the message text.
    pub(crate) fn parse_line<'a>(&self, line: &'a str) -> Option<(PrefixFields<'a>, Level, usize)> {
        let (f, at) = self.parse(line)?;
        let (lvl, n) = parse_level(line.get(at..)?)?;
        Some((f, lvl, at + n))
    }

    /// Detects the prefix from a sample of the first lines: the known prefix
    /// that matches most lines, else a heuristic built from a line that has a
    /// timestamp, a `[pid]` and a severity.
    pub fn detect(sample: &str) -> Option<Prefix> {
        let lines: Vec<&str> = sample
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('\t'))
            .take(200)
            .collect();
        if lines.is_empty() {
            return None;
        }
        let mut best: Option<(usize, Prefix)> = None;
        for p in KNOWN_PREFIXES {
            let Ok(p) = Prefix::new(p) else { continue };
            let n = lines.iter().filter(|l| p.parse_line(l).is_some()).count();
            if n * 2 >= lines.len() && best.as_ref().map_or(true, |(b, _)| n > *b) {
                best = Some((n, p));
            }
        }
        if let Some((_, p)) = best {
            return Some(p);
        }
        lines.iter().find_map(|l| heuristic(l)).filter(|p| {
            let n = lines.iter().filter(|l| p.parse_line(l).is_some()).count();
            n * 2 >= lines.len()
        })
    }
}

/// Builds `TIME<lit>[%p]%*` from one line.
fn heuristic(line: &str) -> Option<Prefix> {
    let b = line.as_bytes();
    let time = if b.len() > 24 && b[19] == b'.' {
        "%m"
    } else {
        "%t"
    };
    let tlen = if time == "%m" { 23 } else { 19 };
    crate::time::parse_local_us(line.get(..tlen)?)?;
    let zone_end = tlen
        + 1
        + b.get(tlen + 1..)?
            .iter()
            .take_while(|c| **c != b' ')
            .count();
    let lb = zone_end + memchr::memchr(b'[', b.get(zone_end..)?)?;
    let rb = lb + memchr::memchr(b']', &b[lb..])?;
    line.get(lb + 1..rb)?.parse::<u32>().ok()?;
    find_level(line, rb)?;
    let lit = line.get(zone_end..lb)?.replace('%', "%%");
    Prefix::new(&format!("{time}{lit}[%p]%*")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = "%m [%p]: [%l-1] session=%c,db=%d,user=%u,app=%a,client=%h ";

    #[test]
    fn parses_our_prefix() {
        let p = Prefix::new(OURS).expect("prefix");
        let line = "2026-11-27 05:13:53.352 UTC [19125]: [11-1] session=6b091191.4ab5,db=postgres,user=bob,app=psql,client=[local] LOG:  duration: 0.033 ms  statement: SELECT 1";
        let (f, lvl, at) = p.parse_line(line).expect("match");
        assert_eq!(f.pid, Some(19125));
        assert_eq!(f.line_num, Some(11));
        assert_eq!(f.user, Some("bob"));
        assert_eq!(f.db, Some("postgres"));
        assert_eq!(f.app, Some("psql"));
        assert_eq!(f.client, Some("[local]"));
        assert_eq!(f.session_id, Some("6b091191.4ab5"));
        assert_eq!(lvl, Level::Primary(Severity::Log));
        assert!(line[at..].starts_with("duration"));
        assert!(f.time_us.is_some());
    }

    #[test]
    fn q_escape_stops_for_background_processes() {
        let p = Prefix::new("%m [%p] %q%u@%d ").expect("prefix");
        let (f, lvl, _) = p
            .parse_line("2024-01-01 00:00:00.000 UTC [7] LOG:  checkpoint starting: time")
            .expect("m");
        assert_eq!(
            (f.pid, f.user, lvl),
            (Some(7), None, Level::Primary(Severity::Log))
        );
        let (f, _, _) = p
            .parse_line("2024-01-01 00:00:00.000 UTC [7] al@db1 ERROR:  x")
            .expect("m");
        assert_eq!((f.user, f.db), (Some("al"), Some("db1")));
    }

    #[test]
    fn all_escapes_and_padding() {
        let p = Prefix::new("%n|%-6p|%e|%Q|%x|%v|%b|%r|%i|%s|%% %a ").expect("prefix");
        let line = "1700000000.500|42    |22012|-77|0|3/4|client backend|10.0.0.1(5432)|SELECT|2024-01-01 00:00:00 UTC|% my app ERROR:  boom";
        let (f, lvl, at) = p.parse_line(line).expect("match");
        assert_eq!(f.pid, Some(42));
        assert_eq!(f.sqlstate, Some("22012"));
        assert_eq!(f.query_id, Some(-77));
        assert_eq!(f.client, Some("10.0.0.1"));
        assert_eq!(f.app, Some("my app"));
        assert_eq!(f.backend_type, Some("client backend"));
        assert_eq!(f.time_us, Some(1_700_000_000_500_000));
        assert_eq!(lvl, Level::Primary(Severity::Error));
        assert_eq!(&line[at..], "boom");
    }

    #[test]
    fn rejects_prefix_without_time_or_pid() {
        assert!(Prefix::new("%u@%d ").is_err());
        assert!(Prefix::new("%m ").is_err());
    }

    #[test]
    fn detects_default_and_heuristic() {
        let s =
            "2024-01-01 00:00:00.000 UTC [7] LOG:  a\n2024-01-01 00:00:00.000 UTC [8] LOG:  b\n";
        assert_eq!(
            Prefix::detect(s).map(|p| p.as_str().to_string()).as_deref(),
            Some("%m [%p] ")
        );
        let s = "2024-01-01 00:00:00 UTC <x> [7] {y} LOG:  a\n";
        let p = Prefix::detect(s).expect("heuristic");
        assert_eq!(p.as_str(), "%t <x> [%p]%*");
        assert!(Prefix::detect("hello\nworld\n").is_none());
    }
}
