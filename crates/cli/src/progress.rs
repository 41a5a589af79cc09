//! Progress display on stderr: bars and spinners on a terminal, plain step lines
//! otherwise (so logs of CI runs still say what happened).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether stderr is a terminal (bars) or not (plain lines).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// One step of a multi-step command: "[2/5] loading data … done (41.2 s)".
pub struct Step {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
}

impl Step {
    /// Starts step `n` of `total`.
    pub fn start(n: usize, total: usize, label: &str) -> Self {
        let label = format!("[{n}/{total}] {label}");
        let bar = if interactive() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        } else {
            eprintln!("{label} …");
            None
        };
        Step {
            bar,
            label,
            started: Instant::now(),
        }
    }

    /// Updates the detail text (terminal only).
    pub fn message(&self, msg: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
        }
    }

    /// Ends the step with a closing note.
    pub fn finish(self, note: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{} {note} ({secs:.1} s)", self.label);
    }
}
