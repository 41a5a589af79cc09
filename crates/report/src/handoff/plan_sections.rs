//! What the hand-off shows of the plan itself, beyond the changes: what
//! `verify` measured for each recommendation (and so whether to apply it), the
//! indexes to drop with their re-create statements, the tables to ANALYZE and
//! the queries the advice left out — each with where it stands in the apply
//! journal when the journal was read. Plain text (backticks mark code); the
//! `markdown` and `html` renderers lay it out.

use pgpilot_advisor::{
    AdvicePlan, ChangeAction, ChangeStatus, Recommendation, Verification, VerifyStatus,
};

use super::{faster, same_table, ChangeView, Handoff};
use crate::advice::measured_medians;
use crate::format::duration_ms;
use crate::inventory::bytes;
use crate::numbers::{change_pct, cut_pct, thousands};
use crate::top::one_line_sql;

/// Longest query text in the plan tables (normalized SQL, cut).
const QUERY_WIDTH: usize = 100;
/// Longest reason or detail in a table cell.
const NOTE_WIDTH: usize = 160;
/// Longest note of `verify` shown (below its table, so it may be long).
const MAX_NOTE: usize = 600;
/// Most skipped queries listed; the rest are counted.
pub(crate) const MAX_SKIPPED: usize = 20;

/// Said where the journal would tell what was done but was not read.
pub(crate) const JOURNAL_NOT_READ: &str = "The apply journal was not read (no `--db` given), \
     so what was applied or rolled back is not known here: pass `--db <URL>` to include it.";

/// What `verify` concluded about a recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Verified,
    NoGain,
    Regression,
    Skipped,
    NotVerified,
}

impl Verdict {
    fn of(v: Option<&Verification>) -> Self {
        match v.map(|v| v.status) {
            Some(VerifyStatus::Verified) => Verdict::Verified,
            Some(VerifyStatus::NoGain) => Verdict::NoGain,
            Some(VerifyStatus::Regression) => Verdict::Regression,
            Some(VerifyStatus::Skipped) => Verdict::Skipped,
            None => Verdict::NotVerified,
        }
    }

    /// `verified`, `no gain`, `REGRESSION`, `skipped`, `not verified`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Verdict::Verified => "verified",
            Verdict::NoGain => "no gain",
            Verdict::Regression => "REGRESSION",
            Verdict::Skipped => "skipped",
            Verdict::NotVerified => "not verified",
        }
    }

    /// The HTML pill class.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Verdict::Verified => "ok",
            Verdict::NoGain => "warn",
            Verdict::Regression => "bad",
            Verdict::Skipped | Verdict::NotVerified => "na",
        }
    }
}

/// Where a plan item stands in the apply journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// The journal was not read.
    Unknown,
    /// The journal holds no change for it.
    NotApplied,
    /// Its newest journaled change.
    Change(ChangeStatus, i64),
}

impl Standing {
    fn find(h: &Handoff, views: &[ChangeView], is_it: impl Fn(&ChangeView) -> bool) -> Self {
        if h.changes.is_none() {
            return Standing::Unknown;
        }
        views
            .iter()
            .filter(|v| is_it(v))
            .max_by_key(|v| v.change.id)
            .map_or(Standing::NotApplied, |v| {
                Standing::Change(v.change.status, v.change.id)
            })
    }

    fn in_place(self) -> bool {
        matches!(
            self,
            Standing::Change(ChangeStatus::Applied | ChangeStatus::AlreadyPresent, _)
        )
    }

    /// `created (change #11)`, `rolled back (change #11)`, `not applied`, …
    fn text(self, action: ChangeAction) -> String {
        let (done, undone, not_done) = match action {
            ChangeAction::CreateIndex => ("created", "rolled back", "not applied"),
            ChangeAction::DropIndex => ("dropped", "re-created by rollback", "not dropped"),
            ChangeAction::Analyze => ("analyzed", "rolled back", "not analyzed"),
        };
        match self {
            Standing::Unknown => "unknown (journal not read)".into(),
            Standing::NotApplied => not_done.into(),
            Standing::Change(status, id) => {
                let state = match status {
                    ChangeStatus::Applied => done,
                    ChangeStatus::AlreadyPresent => "already in place",
                    ChangeStatus::Failed => "FAILED",
                    ChangeStatus::RolledBack => undone,
                };
                format!("{state} (change #{id})")
            }
        }
    }
}

/// One recommendation with what `verify` measured and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VerifyRow {
    /// Index name.
    pub index: String,
    /// The verdict.
    pub verdict: Verdict,
    /// `2.31 s → 0.85 ms (−99.96 %)`: calls-weighted medians and the gain.
    pub medians: String,
    /// `23 MB (est. 22 MB)`.
    pub size: String,
    /// Measured slowdown of representative writes: `+3.1 %`, `not measured`.
    pub writes: String,
    /// Where it stands in the journal.
    pub journal: String,
    /// Whether to apply it and why.
    pub advice: String,
    /// Verify's note (what else was in place, write timings, why it was
    /// skipped or which query regressed), shown below the table; may be empty.
    pub note: String,
}

/// Header of the verification table; the journal column only when it was read.
pub(crate) fn verify_header(journal_read: bool) -> Vec<&'static str> {
    let mut h = vec![
        "index",
        "verdict",
        "served queries: median before → after (change)",
        "size: real (estimated)",
        "writes",
    ];
    if journal_read {
        h.push("journal");
    }
    h.push("what to do");
    h
}

impl VerifyRow {
    /// The cells after the verdict, in [`verify_header`] order.
    pub(crate) fn tail(&self, journal_read: bool) -> Vec<String> {
        let mut cells = vec![self.medians.clone(), self.size.clone(), self.writes.clone()];
        if journal_read {
            cells.push(self.journal.clone());
        }
        cells.push(self.advice.clone());
        cells
    }
}

/// `−99.96 %` less time, `+12.5 %` more.
fn gain_text(gain: f64) -> String {
    if gain >= 0.0 {
        format!("−{}", cut_pct(gain))
    } else {
        format!("+{:.1} %", -gain * 100.0)
    }
}

/// Whether to apply a recommendation, given its verdict and where it stands.
fn advice(verdict: Verdict, standing: Standing) -> String {
    let change = match standing {
        Standing::Change(_, id) => id,
        _ => 0,
    };
    match (verdict, standing.in_place()) {
        (Verdict::Verified, true) => "keep it".to_string(),
        (Verdict::Verified, false) => match standing {
            Standing::Change(ChangeStatus::Failed, _) => {
                "apply it again: the last try failed (see its status above)".to_string()
            }
            Standing::Change(ChangeStatus::RolledBack, _) => {
                "rolled back after it was applied: apply it again only once the reason for \
                 the rollback is gone"
                    .to_string()
            }
            _ => "apply it".to_string(),
        },
        (Verdict::NoGain | Verdict::Regression, true) => format!(
            "in place although verify advised against it: consider undoing it \
             (`pgpilot rollback --change {change}`)"
        ),
        (Verdict::NoGain, false) => "do not apply: the real index did not cut its queries' time \
             enough to pay for its size and write cost (`pgpilot apply` leaves it out)"
            .into(),
        (Verdict::Regression, false) => "do not apply: a served query got slower with the real \
             index (`pgpilot apply` leaves it out)"
            .into(),
        (Verdict::Skipped | Verdict::NotVerified, true) => "in place without a measurement: \
             compare a benchmark before and after it"
            .into(),
        (Verdict::Skipped, false) => "do not apply until measured: verify could not measure it \
             (`pgpilot apply` leaves it out unless `--include-unverified`)"
            .into(),
        (Verdict::NotVerified, false) => "measure it first (`pgpilot verify`); `pgpilot apply` \
             leaves it out unless `--include-unverified`"
            .into(),
    }
}

/// Verify's note, on one line, cut at [`MAX_NOTE`] characters; empty when none.
fn note(v: Option<&Verification>) -> String {
    v.map(|v| one_line_sql(v.note.trim(), MAX_NOTE))
        .unwrap_or_default()
}

fn verify_row(h: &Handoff, views: &[ChangeView], r: &Recommendation) -> VerifyRow {
    let v = r.verification.as_ref();
    let verdict = Verdict::of(v);
    let standing = Standing::find(h, views, |c| c.rec.is_some_and(|x| x.name == r.name));
    let measured = v
        .filter(|v| v.status != VerifyStatus::Skipped)
        .and_then(|v| measured_medians(v).map(|m| (m, v.gain)));
    let medians = match measured {
        Some(((b, a), gain)) => format!(
            "{} → {} ({})",
            duration_ms(b),
            duration_ms(a),
            gain_text(gain)
        ),
        None => "not measured".into(),
    };
    let real = v
        .map(|v| v.real_size_bytes)
        .filter(|&s| s > 0)
        .map_or_else(|| "not built".to_string(), |s| bytes(s as i64));
    VerifyRow {
        index: r.name.clone(),
        verdict,
        medians,
        size: format!("{real} (est. {})", bytes(r.size_bytes as i64)),
        writes: v
            .and_then(|v| v.write_slowdown)
            .map_or_else(|| "not measured".into(), |w| format!("{:+.1} %", w * 100.0)),
        journal: standing.text(ChangeAction::CreateIndex),
        advice: advice(verdict, standing),
        note: note(v),
    }
}

/// One row per recommendation, in plan order, when `verify` measured at least
/// one of them (else the plan carries no measurement to show).
pub(crate) fn verify_rows(h: &Handoff, views: &[ChangeView]) -> Vec<VerifyRow> {
    let Some(plan) = h.plan else {
        return Vec::new();
    };
    if plan
        .recommendations
        .iter()
        .all(|r| r.verification.is_none())
    {
        return Vec::new();
    }
    plan.recommendations
        .iter()
        .map(|r| verify_row(h, views, r))
        .collect()
}

/// `1 verified, 1 no gain, 1 regression, 2 skipped, 1 not verified`, or
/// `None` when nothing was verified.
pub(crate) fn verify_counts(plan: &AdvicePlan) -> Option<String> {
    let recs = &plan.recommendations;
    if recs.iter().all(|r| r.verification.is_none()) {
        return None;
    }
    let count = |d: Verdict| {
        recs.iter()
            .filter(|r| Verdict::of(r.verification.as_ref()) == d)
            .count()
    };
    let parts: Vec<String> = [
        (Verdict::Verified, "verified", "verified"),
        (Verdict::NoGain, "no gain", "no gain"),
        (Verdict::Regression, "regression", "regressions"),
        (Verdict::Skipped, "skipped", "skipped"),
        (Verdict::NotVerified, "not verified", "not verified"),
    ]
    .iter()
    .filter_map(|(d, one, many)| {
        let n = count(*d);
        (n > 0).then(|| format!("{n} {}", if n == 1 { one } else { many }))
    })
    .collect();
    Some(parts.join(", "))
}

/// The paragraph above the verification table.
pub(crate) fn verify_intro(plan: &AdvicePlan) -> String {
    format!(
        "`pgpilot verify` builds each index for real and times the queries it serves without \
         and with it (EXPLAIN ANALYZE, median of repeated runs; for an index serving several \
         queries, their calls-weighted medians): {}. Only verified indexes are to be applied: \
         `pgpilot apply` leaves the others out, for the reason given.",
        verify_counts(plan).unwrap_or_default()
    )
}

/// One measured query of a recommendation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MeasuredRow {
    /// Index name.
    pub index: String,
    /// The normalized query, one line, cut.
    pub query: String,
    /// Executions in the workload.
    pub calls: String,
    /// `2.31 s → 0.85 ms`.
    pub median: String,
    /// `2718× faster`, `1.25× slower`.
    pub change: String,
    /// Whether the plan used the new index.
    pub used: String,
}

/// Header of the measured-queries table.
pub(crate) const MEASURED_HEADER: [&str; 6] = [
    "index",
    "query",
    "calls",
    "median before → after",
    "change",
    "index used",
];

impl MeasuredRow {
    /// The cells, in [`MEASURED_HEADER`] order.
    pub(crate) fn cells(&self) -> Vec<String> {
        vec![
            self.index.clone(),
            self.query.clone(),
            self.calls.clone(),
            self.median.clone(),
            self.change.clone(),
            self.used.clone(),
        ]
    }
}

/// `2718× faster`, `2.58× slower`, or within 10 % the relative change
/// (`−2.6 %`), which a ratio would round to `1.0×`.
fn time_change(before: f64, after: f64) -> String {
    let close = before > 0.0 && after > 0.0 && (1.0 / 1.1..1.1).contains(&(before / after));
    if close {
        change_pct(before, after)
    } else {
        faster(before, after)
    }
}

/// Every query `verify` timed, by recommendation in plan order.
pub(crate) fn measured_rows(plan: &AdvicePlan) -> Vec<MeasuredRow> {
    plan.recommendations
        .iter()
        .filter_map(|r| r.verification.as_ref().map(|v| (r, v)))
        .flat_map(|(r, v)| {
            v.queries.iter().map(|q| MeasuredRow {
                index: r.name.clone(),
                query: one_line_sql(&q.query, QUERY_WIDTH),
                calls: thousands(q.calls),
                median: format!(
                    "{} → {}",
                    duration_ms(q.before.median_ms),
                    duration_ms(q.after.median_ms)
                ),
                change: time_change(q.before.median_ms, q.after.median_ms),
                used: if q.uses_index { "yes" } else { "no" }.into(),
            })
        })
        .collect()
}

/// The recommendations no change put in place, with why, one line each, and
/// the drops not done — for a plan `verify` did not measure (the verification
/// table says it otherwise).
pub(crate) fn not_applied(h: &Handoff, views: &[ChangeView]) -> Vec<String> {
    let Some(plan) = h.plan else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in &plan.recommendations {
        let standing = Standing::find(h, views, |v| v.rec.is_some_and(|x| x.name == r.name));
        if standing.in_place() {
            continue;
        }
        let why = match Verdict::of(r.verification.as_ref()) {
            Verdict::Verified => "verified, not applied yet".to_string(),
            Verdict::NotVerified => "not verified yet (`pgpilot verify`)".to_string(),
            d => {
                let note = note(r.verification.as_ref());
                let advice = advice(d, standing);
                if note.is_empty() {
                    advice
                } else {
                    format!("{advice}; {note}")
                }
            }
        };
        out.push(format!(
            "index {} ({}): {why}",
            r.name,
            r.columns.join(", ")
        ));
    }
    for d in &plan.drops {
        let standing = Standing::find(h, views, |v| v.drop.is_some_and(|x| x.name == d.name));
        if !standing.in_place() {
            out.push(format!(
                "drop of {} ({}, {}): not applied",
                d.name,
                d.reason,
                bytes(d.size_bytes as i64)
            ));
        }
    }
    out
}

/// One index the plan proposes to drop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DropRow {
    /// Index name.
    pub name: String,
    /// `schema.table`.
    pub table: String,
    /// `unused`, `duplicate`, `redundant`, `invalid`.
    pub reason: String,
    /// Size reclaimed.
    pub size: String,
    /// Why, in detail.
    pub detail: String,
    /// Where it stands in the journal.
    pub journal: String,
}

/// Header of the drops table; the journal column only when it was read.
pub(crate) fn drop_header(journal_read: bool) -> Vec<&'static str> {
    let mut h = vec!["index", "table", "reason", "size reclaimed", "detail"];
    if journal_read {
        h.push("journal");
    }
    h
}

impl DropRow {
    /// The cells, in [`drop_header`] order.
    pub(crate) fn cells(&self, journal_read: bool) -> Vec<String> {
        let mut c = vec![
            self.name.clone(),
            self.table.clone(),
            self.reason.clone(),
            self.size.clone(),
            self.detail.clone(),
        ];
        if journal_read {
            c.push(self.journal.clone());
        }
        c
    }
}

/// The plan's drops, in plan order.
pub(crate) fn drop_rows(h: &Handoff, views: &[ChangeView]) -> Vec<DropRow> {
    let Some(plan) = h.plan else {
        return Vec::new();
    };
    plan.drops
        .iter()
        .map(|d| DropRow {
            name: d.name.clone(),
            table: d.table.clone(),
            reason: d.reason.clone(),
            size: bytes(d.size_bytes as i64),
            detail: one_line_sql(&d.detail, NOTE_WIDTH),
            journal: Standing::find(h, views, |v| v.drop.is_some_and(|x| x.name == d.name))
                .text(ChangeAction::DropIndex),
        })
        .collect()
}

/// The paragraph above the drops table.
pub(crate) fn drops_intro(plan: &AdvicePlan) -> String {
    let n = plan.drops.len();
    let freed: u64 = plan.drops.iter().map(|d| d.size_bytes).sum();
    format!(
        "The plan proposes dropping {n} index{}, {} reclaimed in all (`pgpilot apply \
         --include-drops`). Each drop is journaled and `pgpilot rollback` re-creates the \
         index; below the table, each drop statement is followed by the one that re-creates \
         the index by hand.",
        if n == 1 { "" } else { "es" },
        bytes(freed as i64)
    )
}

/// Each drop statement with its re-create statement, as one SQL script.
pub(crate) fn drop_statements(plan: &AdvicePlan) -> String {
    plan.drops
        .iter()
        .map(|d| {
            format!(
                "-- {} ({}, {})\n{};\n-- rollback: re-create it\n{};",
                d.name,
                d.reason,
                bytes(d.size_bytes as i64),
                d.ddl.trim().trim_end_matches(';'),
                d.recreate_ddl.trim().trim_end_matches(';')
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paragraph above the ANALYZE list.
pub(crate) const ANALYZE_INTRO: &str = "Statistics were stale on these tables when the plan \
     was made: the planner misjudges their row counts, and so its plans and every what-if \
     estimate, until they are refreshed (`pgpilot apply --analyze`; an ANALYZE needs no \
     rollback).";

/// Header of the ANALYZE table; the journal column only when it was read.
pub(crate) fn analyze_header(journal_read: bool) -> Vec<&'static str> {
    let mut h = vec!["table", "statement"];
    if journal_read {
        h.push("journal");
    }
    h
}

/// One row per table to ANALYZE: the table, the statement and (when the journal
/// was read) where it stands.
pub(crate) fn analyze_rows(h: &Handoff, views: &[ChangeView]) -> Vec<Vec<String>> {
    let Some(plan) = h.plan else {
        return Vec::new();
    };
    plan.analyze
        .iter()
        .map(|t| {
            let mut row = vec![t.clone(), format!("ANALYZE {t};")];
            if h.changes.is_some() {
                let standing = Standing::find(h, views, |v| {
                    v.change.action == ChangeAction::Analyze
                        && v.analyzed.as_deref().is_some_and(|a| same_table(a, t))
                });
                row.push(standing.text(ChangeAction::Analyze));
            }
            row
        })
        .collect()
}

/// The paragraph above the skipped queries.
pub(crate) const SKIPPED_INTRO: &str = "The advisor could not plan these workload queries, \
     so no recommendation takes them into account. Where the reason can be fixed (a missing \
     object, a statement that fails), fix it and advise again to cover them.";

/// The skipped queries (normalized SQL cut to one line, and the reason), at
/// most [`MAX_SKIPPED`], and how many more there are.
pub(crate) fn skipped_rows(plan: &AdvicePlan) -> (Vec<Vec<String>>, usize) {
    let rows = plan
        .skipped
        .iter()
        .take(MAX_SKIPPED)
        .map(|s| {
            vec![
                one_line_sql(&s.query, QUERY_WIDTH),
                one_line_sql(&s.reason, NOTE_WIDTH),
            ]
        })
        .collect();
    (rows, plan.skipped.len().saturating_sub(MAX_SKIPPED))
}

/// The rollback section when the journal was not read: the command that reads
/// it, since which changes are in place is not known here.
pub(crate) fn rollback_unknown(h: &Handoff) -> String {
    let command = match h.plan {
        Some(p) => format!(
            "`pgpilot rollback --db <URL> --plan plan.json --approve` (plan.json: the plan file \
             with id {}) undoes whatever of this plan is in place",
            p.id
        ),
        None => "`pgpilot rollback --db <URL> --last --approve` undoes the most recently \
                 applied plan"
            .to_string(),
    };
    let drops = if h.plan.is_some_and(|p| !p.drops.is_empty()) {
        " The re-create statement of each index to drop is in its section."
    } else {
        ""
    };
    format!(
        "The apply journal was not read (no `--db` given), so which changes are in place is \
         not known here. {command}, newest change first: it reads the journal, and repeating \
         it is harmless. Pass `--db <URL>` to this report to list the statements.{drops}"
    )
}

/// The optional plan sections present, as (HTML id, title), in report order.
pub(crate) fn plan_section_titles(h: &Handoff) -> Vec<(&'static str, &'static str)> {
    let Some(plan) = h.plan else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if !plan.drops.is_empty() {
        out.push(("drops", "Indexes to drop"));
    }
    if !plan.analyze.is_empty() {
        out.push(("analyze", "Tables to ANALYZE"));
    }
    if !plan.skipped.is_empty() {
        out.push(("skipped", "Queries left out of the advice"));
    }
    out
}
