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

/// Longest duration a flag accepts: beyond it a typo, and clocks overflow.
const MAX_FLAG_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// Parses a duration flag (`30s`, `5m`, `1h 30m`), refusing more than a year.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d > MAX_FLAG_DURATION {
        return Err("longer than a year; give a shorter duration such as 30s or 5m".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_past_a_year_are_refused() {
        assert_eq!(
            parse_duration("90s"),
            Ok(std::time::Duration::from_secs(90))
        );
        assert!(parse_duration("500000000000y").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
