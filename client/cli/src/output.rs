//! What a command prints: text for people or JSON for scripts on stdout, progress on stderr.

use std::io::{IsTerminal, Write};

use serde_json::Value;

use crate::error::{Rendered, redact_urls};

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
        Self { json, progress: !json && std::io::stderr().is_terminal() }
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

    /// Prints an error on stderr; with `--json`, with the config file and market the command was
    /// sending to (`target`), if it got that far. Any URL in it is redacted (hosted nodes' URLs
    /// carry API keys, and transport errors repeat them).
    pub(crate) fn error(&self, error: &Rendered, target: Option<Value>) {
        let message = redact_urls(&error.message);
        let hint = error.hint.as_deref().map(redact_urls);
        let mut stderr = std::io::stderr().lock();
        let _ = if self.json {
            let mut json = serde_json::json!({ "error": message, "hint": hint });
            if let Some(target) = target {
                json["using"] = target;
            }
            writeln!(stderr, "{json}")
        } else {
            match hint {
                Some(hint) => writeln!(stderr, "error: {message}\n  hint: {hint}"),
                None => writeln!(stderr, "error: {message}"),
            }
        };
    }

    /// A warning on stderr: the command goes on, but something is likely not what was meant.
    pub(crate) fn warn(&self, warning: &str) {
        eprintln!("warning: {}", redact_urls(warning));
    }

    /// A line of progress on a terminal (never with `--json`).
    pub(crate) fn progress(&self, line: impl AsRef<str>) {
        if self.progress {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Starts step `n` of `total` of a multi-transaction command (`[1/2] approving 100 USDC…`).
    pub(crate) fn step(&self, n: usize, total: usize, what: impl AsRef<str>) {
        if self.progress {
            eprintln!("[{n}/{total}] {}…", what.as_ref());
        }
    }
}
