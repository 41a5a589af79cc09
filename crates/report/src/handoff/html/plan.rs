//! The plan's own parts of the HTML hand-off: the verification tables and the
//! sections of the indexes to drop, the tables to ANALYZE and the queries left
//! out of the advice. Every inserted text is escaped.

use pgpilot_advisor::AdvicePlan;

use super::{code, escape_html, para, pill, pre, rich, section, table, Cell};
use crate::handoff::plan_sections::{
    analyze_header, analyze_rows, drop_header, drop_rows, drop_statements, drops_intro,
    measured_rows, plan_section_titles, skipped_rows, verify_header, verify_intro, VerifyRow,
    ANALYZE_INTRO, MEASURED_HEADER, SKIPPED_INTRO,
};
use crate::handoff::{ChangeView, Handoff};

/// What `verify` measured: one row per recommendation, then every timed query.
pub(super) fn verification(
    out: &mut String,
    plan: &AdvicePlan,
    rows: &[VerifyRow],
    journal_read: bool,
) {
    out.push_str("<h3>Verification: measured with a real index</h3>\n");
    out.push_str(&para(&verify_intro(plan)));
    let last = verify_header(journal_read).len() - 1;
    let cells = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                Cell::Html(code(&r.index)),
                Cell::Html(pill(r.verdict.class(), r.verdict.label())),
            ];
            for (i, c) in r.tail(journal_read).into_iter().enumerate() {
                row.push(match i + 2 {
                    2..=4 => Cell::Num(c),
                    i if i == last => Cell::Html(rich(&c)),
                    _ => Cell::Text(c),
                });
            }
            row
        })
        .collect();
    out.push_str(&table(&verify_header(journal_read), &[2, 3, 4], cells));
    let notes: Vec<String> = rows
        .iter()
        .filter(|r| !r.note.is_empty())
        .map(|r| {
            format!(
                "<li>{} ({}): {}</li>\n",
                code(&r.index),
                escape_html(r.verdict.label()),
                escape_html(&r.note)
            )
        })
        .collect();
    if !notes.is_empty() {
        out.push_str(&para("Notes from verify:"));
        out.push_str(&format!("<ul>\n{}</ul>\n", notes.concat()));
    }
    let measured = measured_rows(plan);
    if measured.is_empty() {
        return;
    }
    out.push_str(&para("Each query timed:"));
    let cells = measured
        .iter()
        .map(|m| {
            let c = m.cells();
            vec![
                Cell::Html(code(&c[0])),
                Cell::Html(code(&c[1])),
                Cell::Num(c[2].clone()),
                Cell::Num(c[3].clone()),
                Cell::Num(c[4].clone()),
                Cell::Text(c[5].clone()),
            ]
        })
        .collect();
    out.push_str(&table(&MEASURED_HEADER, &[2, 3, 4], cells));
}

/// The drops, tables to ANALYZE and skipped queries, each a numbered section
/// when the plan has any; returns the next section number.
pub(super) fn plan_sections(
    out: &mut String,
    h: &Handoff,
    views: &[ChangeView],
    mut n: usize,
) -> usize {
    let Some(plan) = h.plan else {
        return n;
    };
    let journal_read = h.changes.is_some();
    for (id, title) in plan_section_titles(h) {
        section(out, id, &format!("{n}. {title}"));
        n += 1;
        match id {
            "drops" => {
                out.push_str(&para(&drops_intro(plan)));
                let rows = drop_rows(h, views)
                    .iter()
                    .map(|d| {
                        d.cells(journal_read)
                            .into_iter()
                            .enumerate()
                            .map(|(i, c)| match i {
                                0 => Cell::Html(code(&c)),
                                3 => Cell::Num(c),
                                _ => Cell::Text(c),
                            })
                            .collect()
                    })
                    .collect();
                out.push_str(&table(&drop_header(journal_read), &[3], rows));
                out.push_str(&pre(&drop_statements(plan)));
            }
            "analyze" => {
                out.push_str(&para(ANALYZE_INTRO));
                let rows = analyze_rows(h, views)
                    .into_iter()
                    .map(|r| {
                        r.into_iter()
                            .enumerate()
                            .map(|(i, c)| match i {
                                1 => Cell::Html(code(&c)),
                                _ => Cell::Text(c),
                            })
                            .collect()
                    })
                    .collect();
                out.push_str(&table(&analyze_header(journal_read), &[], rows));
            }
            _ => {
                out.push_str(&para(SKIPPED_INTRO));
                let (rows, more) = skipped_rows(plan);
                let rows = rows
                    .into_iter()
                    .map(|r| vec![Cell::Html(code(&r[0])), Cell::Text(r[1].clone())])
                    .collect();
                out.push_str(&table(&["query", "reason"], &[], rows));
                if more > 0 {
                    out.push_str(&para(&format!("… and {more} more (see the plan file).")));
                }
            }
        }
    }
    n
}
