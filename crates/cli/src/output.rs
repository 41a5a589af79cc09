//! Output formats and writing to stdout, where a closed pipe is not an error.

use std::io::Write;

use clap::ValueEnum;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// A table for people at a terminal.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// Markdown for issues and wikis.
    Markdown,
}

impl Format {
    /// The report style for people: Markdown for `markdown`, terminal tables
    /// otherwise (JSON is printed with serde, not a style).
    pub fn style(self) -> pgpilot_report::Style {
        if self == Format::Markdown {
            pgpilot_report::Style::Markdown
        } else {
            pgpilot_report::Style::Terminal
        }
    }
}

/// Writes `text` to stdout (with a trailing newline).
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Writes a value as pretty JSON to stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    print(&serde_json::to_string_pretty(value)?)
}

/// True when the error is stdout's reader having gone away (`pgpilot … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
