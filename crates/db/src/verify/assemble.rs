//! Turning both phases' measurements into a [`Verification`]: per-query timing
//! statistics, the verdict, and the notes (queries not measured, timeouts, the
//! write overhead).

use pgpilot_advisor::{MeasuredQuery, Verification};

use super::flow::{After, Before, Job};
use super::measure::{self, QueryPhase};
use super::verdict::{judge, ms, timing_stats};
use super::VerifyOptions;

/// Appends `more` to a `; `-separated note.
pub(super) fn push_note(note: &mut String, more: String) {
    if more.is_empty() {
        return;
    }
    if !note.is_empty() {
        note.push_str("; ");
    }
    note.push_str(&more);
}

/// The verification from both phases; `context_note` (what was in place, see
/// [`super::context`]) follows the verdict's own note.
pub(super) fn assemble(
    job: &Job<'_>,
    opts: &VerifyOptions,
    before: &Before,
    after: &After,
    build_ms: f64,
    context_note: &str,
) -> Verification {
    let mut measured = Vec::new();
    let mut notes = Vec::new();
    let timeout_s = opts.statement_timeout.as_secs_f64();
    for ((q, b), a) in job.served.iter().zip(&before.queries).zip(&after.queries) {
        match (b, a) {
            (
                QueryPhase::Timed {
                    times: bt,
                    timed_out: b_out,
                    ..
                },
                QueryPhase::Timed {
                    times: at,
                    uses_index,
                    timed_out: a_out,
                },
            ) => {
                if *b_out {
                    notes.push(format!(
                        "query {} timed out without the index (> {timeout_s} s, counted as {timeout_s} s)",
                        q.id
                    ));
                }
                if *a_out {
                    notes.push(format!(
                        "query {} timed out with the index (> {timeout_s} s)",
                        q.id
                    ));
                }
                measured.push(MeasuredQuery {
                    id: q.id.clone(),
                    query: q.sql.clone(),
                    calls: q.calls,
                    before: timing_stats(bt),
                    after: timing_stats(at),
                    uses_index: *uses_index,
                });
            }
            (QueryPhase::NoSamples { expected }, _) => notes.push(format!(
                "query {} not measured: it has {expected} parameter(s) and no sample",
                q.id
            )),
            (QueryPhase::Failed(f), _) => notes.push(format!("query {} not measured: {f}", q.id)),
            (_, QueryPhase::Failed(f)) => notes.push(format!(
                "query {} not measured: it failed with the index: {f}",
                q.id
            )),
            (_, QueryPhase::NoSamples { .. }) => {}
        }
    }
    let j = judge(&measured, &opts.rules());
    let (write_slowdown, write_note) = write_overhead(job, opts, before, after);
    let mut note = j.note;
    push_note(&mut note, context_note.to_string());
    for n in notes {
        push_note(&mut note, n);
    }
    push_note(&mut note, write_note);
    Verification {
        status: j.status,
        method: job.method.clone(),
        real_size_bytes: after.built.size_bytes,
        build_ms,
        queries: measured,
        gain: j.gain,
        write_slowdown,
        verified_at: opts.now.clone(),
        note,
    }
}

/// The relative write slowdown with the index (see
/// [`measure::WriteComparison`]), and a note.
fn write_overhead(
    job: &Job<'_>,
    opts: &VerifyOptions,
    before: &Before,
    after: &After,
) -> (Option<f64>, String) {
    let table = &job.rec.table;
    if job.writes.is_empty() {
        return (
            None,
            format!("the workload has no write on {table}: write overhead not measured"),
        );
    }
    let mut note = String::new();
    if !before.writes.left_out.is_empty() {
        note = format!(
            "writes left out of the batch: {}",
            before.writes.left_out.join(", ")
        );
    }
    let (Some(b), Some(a)) = (&before.write_times, &after.write_times) else {
        let why = if opts.write_batch == 0 {
            "write batch size is 0".to_string()
        } else {
            format!("no write on {table} could run")
        };
        push_note(&mut note, format!("{why}: write overhead not measured"));
        return (None, note);
    };
    let c = measure::compare_writes(&before.writes, b, a);
    let failure = b
        .first_failure
        .as_ref()
        .or(a.first_failure.as_ref())
        .map(|f| format!(" (first: {f})"))
        .unwrap_or_default();
    let Some(slowdown) = c.slowdown() else {
        push_note(
            &mut note,
            format!(
                "all {} writes of the batch on {table} failed{failure}: write overhead not measured",
                b.times.len()
            ),
        );
        return (None, note);
    };
    push_note(
        &mut note,
        format!(
            "write overhead: {} executions of {} write statement(s) on {table}, {} ms without \
             the index, {} ms with it ({:+.1} %, per-statement medians)",
            c.compared,
            before.writes.statement_count(),
            ms(c.before_ms),
            ms(c.after_ms),
            slowdown * 100.0
        ),
    );
    if c.failed > 0 {
        push_note(
            &mut note,
            format!("{} write(s) failed and were not counted{failure}", c.failed),
        );
    }
    (Some(slowdown), note)
}
