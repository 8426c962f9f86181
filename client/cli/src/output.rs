//! What a command prints: text for people or JSON for scripts on stdout, progress on stderr.

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;

/// A command's result, in both forms.
#[derive(Debug)]
pub(crate) struct Report {
    /// For `--json`.
    pub(crate) json: Value,
    /// For people.
    pub(crate) text: String,
}

impl Report {
    /// A report of `text` and `json`.
    pub(crate) fn new(text: impl Into<String>, json: Value) -> Self {
        Self { json, text: text.into() }
    }
}

/// Where and how things are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    /// JSON on stdout, errors as JSON on stderr.
    pub(crate) json: bool,
    /// Progress lines on stderr.
    progress: bool,
}

impl Output {
    /// Output in JSON or text; progress only to a terminal, never with JSON.
    pub(crate) fn new(json: bool) -> Self {
        Self { json, progress: crate::config::show_progress(json) }
    }

    /// Prints a command's result on stdout.
    pub(crate) fn report(&self, report: &Report) {
        let mut stdout = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(stdout, "{}", serde_json::to_string_pretty(&report.json).expect("JSON values serialize"))
        } else {
            writeln!(stdout, "{}", report.text.trim_end())
        };
    }

    /// Prints an error on stderr.
    pub(crate) fn error(&self, error: &CliError) {
        let mut stderr = std::io::stderr().lock();
        let _ = if self.json {
            let json = serde_json::json!({ "error": error.message, "hint": error.hint });
            writeln!(stderr, "{json}")
        } else {
            writeln!(stderr, "error: {error}")
        };
    }

    /// Starts step `n` of `total` of a multi-transaction command (`[1/2] approving 100 USDC…`).
    pub(crate) fn step(&self, n: usize, total: usize, what: impl AsRef<str>) {
        if self.progress {
            eprintln!("[{n}/{total}] {}…", what.as_ref());
        }
    }
}
