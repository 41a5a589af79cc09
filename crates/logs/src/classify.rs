//! Turns records into events, with the per-process state needed to attribute
//! bare `duration: X ms` lines (log_duration) to the statement before them.

use std::borrow::Cow;

use crate::event::{
    classify_statement, other_kind, parse_params, Event, EventKind, Logged, OtherKind, Phase,
};
use crate::record::{Counters, LogRecord, Severity};
use crate::stderr::{FastMap, DURATION_WINDOW};
use crate::EventSink;

/// Finds the previous primary entry of a process before the current chunk.
pub(crate) trait PrevLookup<'a> {
    /// (position, message) of the last primary entry of `key` before the
    /// chunk, at most `window` bytes before `at`.
    fn previous_entry(&self, key: u64, at: usize, window: usize) -> Option<(usize, Cow<'a, str>)>;
}

/// No lookup (sequential readers see everything).
pub(crate) struct NoLookup;
impl<'a> PrevLookup<'a> for NoLookup {
    fn previous_entry(&self, _: u64, _: usize, _: usize) -> Option<(usize, Cow<'a, str>)> {
        None
    }
}

#[derive(Clone)]
struct Prev<'a> {
    at: usize,
    phase: Phase,
    name: Option<&'a str>,
    text: Cow<'a, str>,
}

pub(crate) struct Classifier<'a> {
    pub input: u32,
    pub base: u64,
    prev: FastMap<Option<Prev<'a>>>,
}

fn awaiting<'a>(at: usize, msg: &Cow<'a, str>) -> Option<Prev<'a>> {
    match classify_statement(msg) {
        Some(Ok(s))
            if s.logged == Logged::StatementOnly
                && matches!(s.phase, Phase::Simple | Phase::Execute) =>
        {
            Some(Prev {
                at,
                phase: s.phase,
                name: s.name,
                text: s.text,
            })
        }
        _ => None,
    }
}

impl<'a> Classifier<'a> {
    pub(crate) fn new(input: u32, base: u64) -> Self {
        Classifier {
            input,
            base,
            prev: FastMap::default(),
        }
    }

    /// Classifies one record at position `at` (bytes) and hands it to the sink.
    pub(crate) fn classify<S: EventSink>(
        &mut self,
        rec: LogRecord<'a>,
        at: usize,
        lookup: &dyn PrevLookup<'a>,
        sink: &mut S,
        counters: &mut Counters,
    ) {
        counters.records += 1;
        let key = rec.process_key();
        let kind = match rec.severity {
            Some(s) if s.is_error() => {
                self.prev.insert(key, None);
                EventKind::Error
            }
            Some(Severity::Log) => match classify_statement(&rec.message) {
                Some(Ok(mut st)) if st.logged == Logged::DurationOnly => {
                    let prev = match self.prev.insert(key, None) {
                        Some(p) => p,
                        None => lookup
                            .previous_entry(key, at, DURATION_WINDOW)
                            .and_then(|(pat, msg)| awaiting(pat, &msg)),
                    };
                    match prev.filter(|p| at.saturating_sub(p.at) <= DURATION_WINDOW) {
                        Some(p) => {
                            st.phase = p.phase;
                            st.name = p.name;
                            st.text = p.text;
                            EventKind::Statement(st)
                        }
                        None => {
                            counters.unattributed_durations += 1;
                            EventKind::Other(OtherKind::UnattributedDuration)
                        }
                    }
                }
                Some(Ok(mut st)) => {
                    let p = (st.logged == Logged::StatementOnly
                        && matches!(st.phase, Phase::Simple | Phase::Execute))
                    .then(|| Prev {
                        at,
                        phase: st.phase,
                        name: st.name,
                        text: st.text.clone(),
                    });
                    self.prev.insert(key, p);
                    if let Some(d) = rec.detail.as_ref() {
                        if d.starts_with("parameters: ") {
                            st.params = parse_params(d)
                                .map(|v| {
                                    v.into_iter()
                                        .map(|o| o.map(|c| Cow::Owned(c.into_owned())))
                                        .collect()
                                })
                                .unwrap_or_default();
                        }
                    }
                    EventKind::Statement(st)
                }
                Some(Err(plan)) => {
                    self.prev.insert(key, None);
                    EventKind::Plan(plan)
                }
                None => {
                    self.prev.insert(key, None);
                    EventKind::Other(other_kind(rec.severity, &rec.message))
                }
            },
            sev => {
                self.prev.insert(key, None);
                EventKind::Other(other_kind(sev, &rec.message))
            }
        };
        *counters.events.entry(kind.name()).or_insert(0) += 1;
        sink.event(Event { record: rec, kind });
    }
}
