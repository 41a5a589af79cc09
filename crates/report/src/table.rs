//! A small table abstraction rendered either for a terminal or as Markdown.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};

/// Where a rendered table will be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Box-drawn table for a terminal.
    Terminal,
    /// GitHub-flavoured Markdown.
    Markdown,
}

/// Renders `rows` under `header`; columns listed in `right` are right-aligned.
pub(crate) fn render(
    style: Style,
    header: &[&str],
    rows: &[Vec<String>],
    right: &[usize],
) -> String {
    match style {
        Style::Terminal => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Disabled)
                .set_header(header.to_vec());
            for r in rows {
                t.add_row(r.clone());
            }
            for &c in right {
                if let Some(col) = t.column_mut(c) {
                    col.set_cell_alignment(CellAlignment::Right);
                }
            }
            t.to_string()
        }
        Style::Markdown => {
            let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
            let mut out = format!(
                "| {} |\n",
                header
                    .iter()
                    .map(|h| esc(h))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            out.push('|');
            for i in 0..header.len() {
                out.push_str(if right.contains(&i) {
                    " ---: |"
                } else {
                    " --- |"
                });
            }
            out.push('\n');
            for r in rows {
                out.push_str(&format!(
                    "| {} |\n",
                    r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
                ));
            }
            out
        }
    }
}
